"""Encryption of a flow connection after Setup (RPC versions 11-14).

NaCl box: X25519 key agreement + ``crypto_box_beforenm`` (HSalsa20 of the shared point) gives a
32-byte key; each message is ``crypto_secretbox`` = 16-byte Poly1305 tag followed by the
XSalsa20 ciphertext.  There is one 24-byte nonce per direction: bytes 0..7 hold a little-endian
message counter starting at 0, and byte 8 is 1 in the *sending* nonce of the side whose public key
is bytewise smaller (and in the *receiving* nonce of the other side).
"""
from __future__ import annotations

import os
import struct
import weakref

from nacl import exceptions as _nexc
from nacl.exceptions import CryptoError

OVERHEAD = 16
# The *_easy variants produce/consume exactly tag||ciphertext without the zero-padding copies.
# libsodium is called through PyNaCl's cffi handle directly: its Python wrappers re-check
# argument types on every call (~25% of the per-message cost), and importing them
# (nacl.bindings loads every binding PyNaCl has) costs a short-lived tool ~40 M instructions,
# more than a connection's whole handshake.  Other PyNaCl layouts: its public bindings.
try:
    from nacl._sodium import ffi as _ffi, lib as _lib

    if _lib.sodium_init() == -1:   # (what nacl.bindings does when imported)
        raise _nexc.RuntimeError("Could not initialize sodium")
    _new = _ffi.new
    _new_raw = _ffi.new_allocator(should_clear_after_alloc=False)
    _buffer = _ffi.buffer
    _from_buffer = _ffi.from_buffer
    _lib_seal = _lib.crypto_secretbox_easy
    _lib_open = _lib.crypto_secretbox_open_easy
    # Small messages (RPC headers, stream items) go through a reused scratch buffer instead
    # of a fresh zeroed cffi allocation each time; the result is copied out.  Each cipher
    # has its own (a cipher is used by one thread at a time, as its nonce counters require):
    # a thread-local one cost an attribute look-up per message.  It is a char array, so
    # that ffi.unpack copies the result out as bytes in one step.
    _SCRATCH = 4096
    _unpack = _ffi.unpack

    _UCHARS = "unsigned char[]"   # (from_buffer's view of a bytearray that libsodium writes)

    def _scratch():
        return _new_raw("char[]", _SCRATCH)

    _DIRECT = True

    def _seal(msg, nonce, key):
        n = len(msg) + OVERHEAD
        out = _new_raw("unsigned char[]", n)
        if _lib_seal(out, msg, len(msg), nonce, key) != 0:  # pragma: no cover
            raise CryptoError("encryption failed")
        return _buffer(out, n)[:]

    def _open(ct, nonce, key):
        n = len(ct) - OVERHEAD
        out = _new_raw("unsigned char[]", n if n > 0 else 1)
        if _lib_open(out, ct, len(ct), nonce, key) != 0:
            raise CryptoError("decryption failed")
        return _buffer(out, n)[:]

    def _public_of(secret):
        """X25519 public key of a 32-byte secret (as nacl.public.PrivateKey makes it)."""
        q = _new("unsigned char[]", 32)
        if _lib.crypto_scalarmult_base(q, secret) != 0:  # pragma: no cover
            raise _nexc.RuntimeError("Unexpected library error")
        return _buffer(q, 32)[:]

    def _beforenm(pk, sk):
        """crypto_box_beforenm, with nacl.bindings' checks and errors."""
        if len(pk) != 32:
            raise _nexc.ValueError("Invalid public key")
        if len(sk) != 32:
            raise _nexc.ValueError("Invalid secret key")
        k = _new("unsigned char[]", 32)
        if _lib.crypto_box_beforenm(k, pk, sk) != 0:
            raise _nexc.RuntimeError("Unexpected library error")
        return _buffer(k, 32)[:]
except Exception:  # pragma: no cover - older/newer PyNaCl layouts
    from nacl import bindings as _nb
    _DIRECT = False
    _SCRATCH = 0
    _seal = getattr(_nb, "crypto_secretbox_easy", None) or _nb.crypto_secretbox
    _open = getattr(_nb, "crypto_secretbox_open_easy", None) or _nb.crypto_secretbox_open
    _public_of = _nb.crypto_scalarmult_base
    _beforenm = _nb.crypto_box_beforenm
_PACK_LE = struct.Struct("<Q").pack
# the largest plaintext / ciphertext that goes through a cipher's scratch buffer (-1: none,
# without direct access to libsodium)
_SEAL_SCRATCH_MAX = _SCRATCH - OVERHEAD if _DIRECT else -1
_OPEN_SCRATCH_MAX = _SCRATCH + OVERHEAD if _DIRECT else -1
_TAG_ROOM = bytes(OVERHEAD)   # where seal's in-place output puts the tag

# Messages sealed and opened by the ciphers that are gone; the live ones count their own
# (their nonce counters), so the totals cost nothing per message: see box_counts().
_retired = [0, 0]
_live = weakref.WeakSet()


def box_counts():
    """(messages sealed, messages opened) by every connection of this process so far."""
    # The live ciphers first: the list holds them, so none of them can retire while the
    # sum is made, and any that retired before (a collection may run inside list())
    # already added its counts to _retired, read after.  (Read before, a cipher collected
    # meanwhile counted nowhere and the totals went backwards.)
    live = list(_live)
    seals, opens = _retired
    for c in live:
        seals += c._seal_counter
        opens += c._open_counter
    return seals, opens


class KeyPair:
    """A fresh X25519 key pair (one per connection)."""

    __slots__ = ("public", "secret")

    def __init__(self, secret: bytes | None = None):
        if secret is None:
            secret = os.urandom(32)   # (as nacl.public.PrivateKey.generate)
        elif not isinstance(secret, bytes) or len(secret) != 32:
            raise _nexc.TypeError("PrivateKey must be created from a 32 bytes long raw "
                                  "secret key")
        self.secret = secret
        self.public = _public_of(secret)


class BoxCipher:
    """Seal/open messages of one connection, with Go's nonce scheme."""

    __slots__ = ("key", "channel_binding", "_seal_counter", "_open_counter", "_seal_tail",
                 "_open_tail", "_buf", "__weakref__")

    def __init__(self, my_public: bytes, my_secret: bytes, their_public: bytes):
        if len(their_public) != 32:
            raise ValueError("bad X25519 public key length")
        self.key = _beforenm(their_public, my_secret)
        smaller = my_public < their_public
        # Byte 8 is the first byte of the 16-byte nonce tail; the rest stays zero.
        one = b"\x01" + bytes(15)
        zero = bytes(16)
        self._seal_tail = one if smaller else zero
        self._open_tail = zero if smaller else one
        self.channel_binding = (my_public + their_public) if smaller else (their_public + my_public)
        self._buf = _scratch() if _DIRECT else None   # (small messages: see _scratch)
        self._seal_counter = 0
        self._open_counter = 0
        _live.add(self)

    def __del__(self):
        try:
            _retired[0] += self._seal_counter
            _retired[1] += self._open_counter
        except AttributeError:   # __init__ refused its arguments
            pass

    def seal(self, plaintext, prefix=b"", rest=b""):
        """``prefix``, then ``plaintext`` + ``rest`` sealed (tag, then ciphertext).

        A long message is joined once, after the prefix and room for its tag, into a new
        bytearray, and sealed there in place (libsodium writes each ciphertext byte over its
        plaintext byte): no concatenated plaintext, no sealed copy to copy out.  A short
        message gives bytes."""
        nonce = _PACK_LE(self._seal_counter) + self._seal_tail
        n = len(plaintext) + len(rest)
        if n <= _SEAL_SCRATCH_MAX:
            if rest:
                plaintext = plaintext + rest
            if type(plaintext) is bytes:
                # (the usual small message: libsodium straight into this cipher's scratch buffer)
                out = self._buf
                if _lib_seal(out, plaintext, n, nonce, self.key) != 0:  # pragma: no cover
                    raise CryptoError("encryption failed")
                self._seal_counter += 1
                sealed = _unpack(out, n + OVERHEAD)
                return prefix + sealed if prefix else sealed
        if _DIRECT:
            k = len(prefix)
            out = bytearray().join((prefix, _TAG_ROOM, plaintext, rest))
            p = _from_buffer(_UCHARS, out)
            ok = _lib_seal(p + k, p + k + OVERHEAD, n, nonce, self.key) == 0
            del p   # (its export of the buffer ends here)
            if not ok:  # pragma: no cover
                raise CryptoError("encryption failed")
        else:  # pragma: no cover
            out = prefix + _seal(bytes(plaintext) + bytes(rest), nonce, self.key)
        self._seal_counter += 1
        return out

    def open(self, ciphertext):
        """Decrypt; returns None (and does not advance) when authentication fails.

        A long message's plaintext is a bytearray: a bytearray ``ciphertext`` is opened in
        place (libsodium writes each plaintext byte over its ciphertext byte; the tag
        before it is cut off without moving the rest), anything else into a new one.
        A short bytes message gives bytes."""
        n = len(ciphertext)
        nonce = _PACK_LE(self._open_counter) + self._open_tail
        tc = type(ciphertext)
        if n <= _OPEN_SCRATCH_MAX and tc is bytes:
            out = self._buf
            if _lib_open(out, ciphertext, n, nonce, self.key) != 0:   # (also if n < OVERHEAD)
                return None
            self._open_counter += 1
            return _unpack(out, n - OVERHEAD)
        if n < OVERHEAD:
            return None
        if not _DIRECT:  # pragma: no cover
            try:
                out = _open(bytes(ciphertext), nonce, self.key)
            except CryptoError:
                return None
            self._open_counter += 1
            return out
        if tc is bytearray:
            p = _from_buffer(_UCHARS, ciphertext)
            ok = _lib_open(p + OVERHEAD, p, n, nonce, self.key) == 0
            del p   # (its export of the buffer ends here: the bytearray may change size again)
            if not ok:
                return None
            self._open_counter += 1
            del ciphertext[:OVERHEAD]   # (O(1): a bytearray drops a prefix by moving its start)
            return ciphertext
        out = bytearray(n - OVERHEAD)
        if _lib_open(_from_buffer(_UCHARS, out), ciphertext if tc is bytes else _from_buffer(ciphertext),
                     n, nonce, self.key) != 0:
            return None
        self._open_counter += 1
        return out
