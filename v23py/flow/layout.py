"""The byte layouts of the flow messages, declared once with ``construct``.

This is the source of truth for how every message of Go's ``v.io/v23/flow/message``
(RPC version 14) is laid out.  The messages exchanged once per connection (Setup,
Auth, TearDown, the lame-duck and health-check messages, the proxy messages) are
built and parsed from these declarations by :mod:`v23py.flow.message`; the ones on
the hot path (OpenFlow, Data, Release, the frame header and varuints) keep
hand-written ``struct``/``int.from_bytes`` fast paths there, and the tests check
those byte for byte against the declarations (tests/flow/test_layout.py).

A message is its type byte and its fields.  A *varuint* is one byte for values up to
0x7F, else a byte ``0x100 - n`` and the value in ``n`` big-endian bytes (n minimal).
Byte strings and strings are a varuint length and the bytes.  A frame is a 3-byte
big-endian ``0xFFFFFF - len(body)`` and the body.
"""
import construct as c

MAX_FRAME = 0xFFFFFF


class _VarUint(c.Construct):
    """Vanadium's varuint (not one of construct's own encodings)."""

    def _parse(self, stream, context, path):
        b = c.stream_read(stream, 1, path)[0]
        if b <= 0x7F:
            return b
        n = 0x100 - b
        if n > 8:
            raise c.ExplicitError(f"varuint with {n} bytes", path=path)
        return int.from_bytes(c.stream_read(stream, n, path), "big")

    def _build(self, obj, stream, context, path):
        if not isinstance(obj, int) or obj < 0 or obj >= 1 << 64:
            raise c.ExplicitError(f"varuint out of range: {obj!r}", path=path)
        if obj <= 0x7F:
            c.stream_write(stream, bytes((obj,)), 1, path)
        else:
            n = (obj.bit_length() + 7) >> 3
            c.stream_write(stream, bytes((0x100 - n,)) + obj.to_bytes(n, "big"), n + 1, path)
        return obj

    def _sizeof(self, context, path):
        raise c.SizeofError(path=path)

    # construct's compiler (compiled layouts are several times faster)
    def _emitparse(self, code):
        code.append("""
            def parse_varuint(io):
                first = io.read(1)
                if not first:
                    raise StreamError("stream read less than specified amount")
                b = first[0]
                if b <= 0x7F:
                    return b
                n = 0x100 - b
                if n > 8:
                    raise ExplicitError("varuint with %d bytes" % n)
                rest = io.read(n)
                if len(rest) != n:
                    raise StreamError("stream read less than specified amount")
                return int.from_bytes(rest, "big")
        """)
        return "parse_varuint(io)"

    def _emitbuild(self, code):
        code.append("""
            def build_varuint(obj, io):
                if not isinstance(obj, int) or obj < 0 or obj >= 1 << 64:
                    raise ExplicitError("varuint out of range: %r" % (obj,))
                if obj <= 0x7F:
                    io.write(bytes((obj,)))
                else:
                    n = (obj.bit_length() + 7) >> 3
                    io.write(bytes((0x100 - n,)) + obj.to_bytes(n, "big"))
                return obj
        """)
        return "build_varuint(obj, io)"


VarUint = _VarUint()
LenBytes = c.Prefixed(VarUint, c.GreedyBytes)
LenString = c.PascalString(VarUint, "utf8")

# The frame around every (encrypted) message body.
FrameHeader = c.ExprAdapter(c.BytesInteger(3), lambda obj, ctx: MAX_FRAME - obj,
                            lambda obj, ctx: MAX_FRAME - obj)
Frame = c.Struct("body" / c.Prefixed(FrameHeader, c.GreedyBytes))

# Setup options: an option id and its payload (what a known id holds: below).
SetupOption = c.Struct("id" / VarUint, "payload" / LenBytes)
Setup = c.Struct(
    c.Const(b"\x7e"),
    "min_version" / VarUint,
    "max_version" / VarUint,
    "options" / c.GreedyRange(SetupOption),
    c.Terminated,
)
NaclPublicKey = c.Bytes(32)      # option 1
MtuOption = VarUint              # options 4 (MTU) and 5 (shared tokens)

TearDown = c.Struct(c.Const(b"\x7d"), "message" / c.GreedyString("utf8"))
EnterLameDuck = c.Const(b"\x7c")
AckLameDuck = c.Const(b"\x7b")
HealthCheckRequest = c.Const(b"\x73")
HealthCheckResponse = c.Const(b"\x72")
MultiProxyRequest = c.Const(b"\x76")
ProxyServerRequest = c.Const(b"\x75")

# Auth: the keys of the blessings and discharges sent on the blessings flow, and the
# channel-binding signature; the type byte says which signature fields follow.
_AUTH_HEAD = ("blessings_key" / VarUint, "discharge_key" / VarUint,
              "purpose" / LenBytes, "hash" / LenString)
AuthEcdsa = c.Struct(c.Const(b"\x7a"), *_AUTH_HEAD, "r" / LenBytes, "s" / LenBytes)
AuthEd25519 = c.Struct(c.Const(b"\x70"), *_AUTH_HEAD, "ed25519" / LenBytes)
AuthRsa = c.Struct(c.Const(b"\x6f"), *_AUTH_HEAD, "rsa" / LenBytes)

# The hot messages (hand-coded fast paths in message.py follow these).
OpenFlow = c.Struct(
    c.Const(b"\x79"),
    "id" / VarUint,
    "initial_counters" / VarUint,
    "blessings_key" / VarUint,
    "discharge_key" / VarUint,
    "flags" / VarUint,
    "payload" / c.GreedyBytes,
)
Release = c.Struct(
    c.Const(b"\x78"),
    "counters" / c.GreedyRange(c.Struct("id" / VarUint, "tokens" / VarUint)),
    c.Terminated,
)
Data = c.Struct(
    c.Const(b"\x77"),
    "id" / VarUint,
    "flags" / VarUint,
    "payload" / c.GreedyBytes,
)

ProxyResponse = c.Struct(c.Const(b"\x74"), "endpoints" / c.GreedyRange(LenString), c.Terminated)
ProxyErrorResponse = c.Struct(c.Const(b"\x71"), "error" / c.GreedyString("utf8"))
