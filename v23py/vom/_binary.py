"""VOM's primitive encodings: unsigned/signed varints, floats, control bytes."""
from __future__ import annotations

import struct

from v23py import verror

VERSION_81 = 0x81
CONTROL_NIL = 0xE0
CONTROL_END = 0xE1
CONTROL_INCOMPLETE = 0xE2
MAX_MESSAGE_LEN = 1 << 30  # Go's bound on any length read from a stream

_pack_d = struct.Struct("<d").pack
_unpack_d = struct.Struct("<d").unpack


class Truncated(Exception):
    """More bytes are needed (internal; turned into NeedData or a verror)."""


def error(msg: str) -> verror.VError:
    return verror.BadProtocol.new("vom: " + msg)


def enc_uint(buf: bytearray, v: int) -> None:
    if v < 0x80:
        if v < 0:
            raise verror.BadArg.new(f"vom: negative unsigned value {v}")
        buf.append(v)
        return
    if v < 0x100:   # (one byte after the count: the common two-byte form, no to_bytes)
        buf.append(0xFF)
        buf.append(v)
        return
    n = (v.bit_length() + 7) >> 3
    if n > 8:
        raise verror.BadArg.new(f"vom: value {v} does not fit in 64 bits")
    buf.append(256 - n)
    buf += v.to_bytes(n, "big")


def enc_uints(buf: bytearray, vs: list) -> None:
    """enc_uint of each of ``vs`` in turn: in one step when each takes one byte (the
    tables of a value message, nearly always).  (bytes() refuses any value outside
    0..255 and isascii() any from 0x80: two C calls, where max() and min() cost ~1k
    instructions each.)"""
    try:
        one = bytes(vs)
    except (ValueError, TypeError):
        one = None
    if one is not None and one.isascii():
        buf += one
        return
    for v in vs:
        enc_uint(buf, v)


def enc_int(buf: bytearray, v: int) -> None:
    enc_uint(buf, (v << 1) if v >= 0 else (((~v) << 1) | 1))


def uint_bytes(v: int) -> bytes:
    """The VOM encoding of an unsigned integer, as bytes."""
    b = bytearray()
    enc_uint(b, v)
    return bytes(b)


def dec_uint(data, pos: int):
    """(value, new_pos); raises Truncated or a verror."""
    try:
        b = data[pos]
    except IndexError:
        raise Truncated() from None
    if b < 0x80:
        return b, pos + 1
    if b == 0xFF and pos + 1 < len(data):   # (one byte follows: no slice, no from_bytes)
        return data[pos + 1], pos + 2
    if b < 0xF8:
        raise error(f"invalid length or control byte 0x{b:02x} at offset {pos}")
    n = 256 - b
    end = pos + 1 + n
    if end > len(data):
        raise Truncated()
    return int.from_bytes(data[pos + 1:end], "big"), end


def dec_int(data, pos: int):
    u, pos = dec_uint(data, pos)
    return (~(u >> 1) if u & 1 else u >> 1), pos


def dec_len(data, pos: int, per_item: int = 1):
    """A count that must fit in the bytes left (each item takes >= per_item bytes)."""
    n, pos = dec_uint(data, pos)
    if n * per_item > len(data) - pos:
        if n > MAX_MESSAGE_LEN:
            raise error(f"length {n} too large")
        raise Truncated()
    return n, pos


class Counts:
    """How much this process encoded and decoded, for the stats tree (``v23py/vom/...``).
    Plain attributes on one object: an update is a few bytecodes, cheap enough for
    every value message of every call."""

    __slots__ = ("values_encoded", "bytes_encoded", "values_decoded", "bytes_decoded",
                 "types_encoded", "types_decoded")

    def __init__(self):
        for k in self.__slots__:
            setattr(self, k, 0)

    def snapshot(self) -> dict:
        return {k: getattr(self, k) for k in self.__slots__}


COUNTS = Counts()
