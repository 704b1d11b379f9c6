"""NaCl box cipher with Go's nonce scheme."""
from nacl import bindings as nb
from twisted.trial import unittest

from v23py.flow.crypto import BoxCipher, KeyPair, OVERHEAD


class BoxCipherTest(unittest.TestCase):
    def pair(self):
        a, b = KeyPair(), KeyPair()
        return BoxCipher(a.public, a.secret, b.public), BoxCipher(b.public, b.secret, a.public), a, b

    def test_roundtrip_both_directions(self):
        ca, cb, a, b = self.pair()
        for i in range(5):
            m = b"hello %d" % i
            ct = ca.seal(m)
            self.assertEqual(len(ct), len(m) + OVERHEAD)
            self.assertEqual(cb.open(ct), m)
            self.assertEqual(ca.open(cb.seal(m * 3)), m * 3)
        self.assertEqual(ca.channel_binding, cb.channel_binding)
        self.assertEqual(ca.channel_binding, min(a.public, b.public) + max(a.public, b.public))

    def test_nonce_layout(self):
        # Deterministic keys: check the exact nonce bytes against raw secretbox.
        a, b = KeyPair(bytes(range(32))), KeyPair(bytes(range(1, 33)))
        ca = BoxCipher(a.public, a.secret, b.public)
        k = nb.crypto_box_beforenm(b.public, a.secret)
        first_sends_flag = a.public < b.public
        nonce0 = bytes(8) + (b"\x01" if first_sends_flag else b"\x00") + bytes(15)
        nonce1 = (1).to_bytes(8, "little") + nonce0[8:]
        self.assertEqual(ca.seal(b"x"), nb.crypto_secretbox(b"x", nonce0, k))
        self.assertEqual(ca.seal(b"y"), nb.crypto_secretbox(b"y", nonce1, k))

    def test_tamper_and_replay(self):
        ca, cb, _, _ = self.pair()
        ct = ca.seal(b"abc")
        bad = bytes([ct[0] ^ 1]) + ct[1:]
        self.assertIsNone(cb.open(bad))
        self.assertIsNone(cb.open(b"short"))
        self.assertEqual(cb.open(ct), b"abc")   # counter not advanced by the failures
        self.assertIsNone(cb.open(ct))          # replay fails

    def test_keys_as_pynacl_makes_them(self):
        # KeyPair and the box key call libsodium directly: the same bytes and errors as
        # PyNaCl's public API
        from nacl import exceptions
        from nacl.public import PrivateKey
        for secret in (bytes(range(32)), bytes(32), b"\xff" * 32):
            self.assertEqual(KeyPair(secret).public, bytes(PrivateKey(secret).public_key))
        a, b = KeyPair(), KeyPair()
        self.assertEqual(len(a.secret), 32)
        self.assertNotEqual(a.secret, b.secret)
        self.assertEqual(a.public, bytes(PrivateKey(a.secret).public_key))
        self.assertEqual(BoxCipher(a.public, a.secret, b.public).key,
                         nb.crypto_box_beforenm(b.public, a.secret))
        with self.assertRaises(exceptions.TypeError):
            KeyPair(b"short")
        with self.assertRaises(ValueError):
            BoxCipher(a.public, a.secret, b"short")
        # a peer key of low order makes no shared key: refused, as by PyNaCl
        with self.assertRaises(exceptions.RuntimeError):
            nb.crypto_box_beforenm(bytes(32), a.secret)
        with self.assertRaises(exceptions.RuntimeError):
            BoxCipher(a.public, a.secret, bytes(32))

    def test_long_messages_sealed_after_a_prefix_and_opened_in_place(self):
        # A long message is sealed straight after a prefix (the frame header) and opened
        # in place when it comes as a bytearray: the same bytes as raw secretbox.
        a, b = KeyPair(bytes(range(32))), KeyPair(bytes(range(1, 33)))
        ca, cb = BoxCipher(a.public, a.secret, b.public), BoxCipher(b.public, b.secret, a.public)
        k = nb.crypto_box_beforenm(b.public, a.secret)
        nonce = bytes(8) + (b"\x01" if a.public < b.public else b"\x00") + bytes(15)
        msg = bytes(range(256)) * 300
        for form in (bytes, bytearray, memoryview):
            sealed = ca.seal(form(msg), b"HDR")
            self.assertEqual(bytes(sealed), b"HDR" + nb.crypto_secretbox(msg, nonce, k))
            nonce = (int.from_bytes(nonce[:8], "little") + 1).to_bytes(8, "little") + nonce[8:]
            body = bytearray(sealed[3:])
            plain = cb.open(body)
            self.assertEqual(plain, msg)
            self.assertIs(plain, body)   # opened where it lay: no new buffer
        # bytes and views of a long message open into a new bytearray
        for form in (bytes, memoryview):
            plain = cb.open(form(bytes(ca.seal(msg))))
            self.assertEqual((type(plain), plain), (bytearray, msg))
        # a failed in-place open changes neither the buffer nor the counter
        ct = bytearray(ca.seal(msg))
        bad = bytearray(ct)
        bad[-1] ^= 1
        self.assertIsNone(cb.open(bad))
        self.assertEqual(bad[:-1], ct[:-1])
        self.assertEqual(cb.open(ct), msg)
        # short messages keep their bytes path, and a prefix goes before them too
        self.assertEqual(cb.open(ca.seal(b"abc", b"P")[1:]), b"abc")
