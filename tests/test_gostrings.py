"""A Go string is any bytes (v23py.gostrings): a str keeps the bytes that are not UTF-8, and
gives back exactly the bytes it was made from."""
from twisted.trial import unittest

from v23py import vdl, vom
from v23py.gostrings import KEEP_BYTES, UTF8, go_bytes, go_string

# not UTF-8: a lone continuation byte, 0xfe/0xff, a truncated sequence, an encoded surrogate
_ODD = [b"\x80", b"r\xfecol\xferow", b"\xff\xfe", b"\xe6\x97", b"\xed\xa0\x80", b"ok \xc3"]


class GoStringTest(unittest.TestCase):
    def test_any_bytes_round_trip(self):
        for b in _ODD + [b"", b"plain", "日本語 é".encode()]:
            s = go_string(b)
            self.assertIsInstance(s, str)
            self.assertEqual(go_bytes(s), b)
            self.assertEqual(s.encode(UTF8, KEEP_BYTES), b)
            self.assertEqual(b.decode(UTF8, KEEP_BYTES), s)
            self.assertEqual(go_string(bytearray(b)), s)
            self.assertEqual(go_string(memoryview(b)), s)

    def test_utf8_is_the_text_itself(self):
        self.assertEqual(go_string("日本語 é".encode()), "日本語 é")
        self.assertEqual(go_bytes("日本語 é"), "日本語 é".encode())

    def test_bytes_order_is_kept(self):
        # keys compare as Go compares them, by bytes
        a, b = go_string(b"a\x7f"), go_string(b"a\xfe")
        self.assertLess(go_bytes(a), go_bytes(b))

    def test_vom_strings_carry_any_bytes(self):
        for b in _ODD:
            s = go_string(b)
            self.assertEqual(vom.decode(vom.encode(s)), s)
            got = vom.decode(vom.encode([s, s], vdl.StringListType))
            self.assertEqual([go_bytes(x) for x in got], [b, b])
            # on the wire: the bytes themselves, after the length
            self.assertTrue(vom.encode(s).endswith(bytes([len(b)]) + b))
