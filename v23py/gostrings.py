"""Go strings in Python.  A Go string is any bytes, UTF-8 or not (a DER key, an object id
with 0xfe separators); a ``str`` holds one as its UTF-8 text with each byte that is not
UTF-8 kept as a lone surrogate (Python's ``surrogateescape``), so that encoding the
``str`` gives back exactly the bytes it was decoded from::

    s = b.decode(UTF8, KEEP_BYTES)    # the Go string of bytes b
    b = s.encode(UTF8, KEEP_BYTES)    # its bytes

Hot paths spell it so, with the two constants (a plain method call); elsewhere
:func:`go_string` and :func:`go_bytes` say the same.
"""
from __future__ import annotations

__all__ = ["UTF8", "KEEP_BYTES", "go_string", "go_bytes"]

UTF8 = "utf-8"
KEEP_BYTES = "surrogateescape"   # (the error handler: bytes that are not UTF-8 kept as they are)


def go_string(b: bytes | bytearray | memoryview) -> str:
    """The Go string of bytes ``b`` (any bytes)."""
    return str(b, UTF8, KEEP_BYTES)


def go_bytes(s: str) -> bytes:
    """The bytes of Go string ``s`` (raises UnicodeEncodeError for a lone surrogate that
    no byte was kept as)."""
    return s.encode(UTF8, KEEP_BYTES)
