"""PEM bodies are decoded with binascii's strict mode (base64.b64decode(validate=True) from
Python 3.11 on) and encoded with binascii, so that reading a key does not load the base64
module: the same bytes and the same refusals as base64's, and PEM blocks round-trip."""
import base64
import binascii
import os

from twisted.trial import unittest

from v23py.security import pem

CASES = ["", "QQ==", "QUI=", "QUJD", "QUJDRA==", "QUJD RA==", "QUJD\nRA==", "QUJDRA=",
         "QUJDRA", "QUJDRA===", "QU=JD", "Q", "QUJD!A==", "QUJDRA==QQ==", "QUJD\u00e9A==",
         "=QUJD", "QUJDRA==\n", "+/+/", "-_-_", "AAAA" * 100]


def _outcome(f, text):
    try:
        return f(text)
    except (binascii.Error, ValueError):
        return "refused"


class PemBase64(unittest.TestCase):
    def test_same_as_base64_validate(self):
        for text in CASES:
            self.assertEqual(_outcome(pem._b64decode_strict, text),
                             _outcome(lambda t: base64.b64decode(t, validate=True), text),
                             repr(text))

    def test_encode_and_round_trip(self):
        for n in (0, 1, 2, 3, 47, 48, 49, 200):
            data = os.urandom(n)
            block = pem.encode_block("TEST KEY", data)
            body = b"".join(block.split(b"\n")[1:-2])
            self.assertEqual(body, base64.b64encode(data))
            got = pem.decode_blocks(block)
            self.assertEqual([(b.type, b.data) for b in got], [("TEST KEY", data)])
