"""Sans-IO codecs for Vanadium flow messages (Go ``v.io/v23/flow/message`` layout, RPC version 14).

The layouts are declared once, with ``construct``, in :mod:`v23py.flow.layout`: the rare
messages (TearDown, lame duck, health checks, proxy messages) are built from there; the
messages of every connection and every call (Setup, Auth, OpenFlow, Data, Release, the
frame) keep hand-written fast paths, tested byte for byte against the declarations.

Framing: every message travels as ``3-byte big-endian (0xFFFFFF - len(body))`` + body.
Integers in control messages are "varuints": ``v <= 0x7F`` is one byte, otherwise a byte
``0xFF - (n-1)`` followed by ``n`` big-endian bytes (n = minimal length, 1..8).

Everything here works on ``bytes``/``memoryview`` with ``int.from_bytes``/``int.to_bytes``
(no per-byte Python loops).  Decoders never allocate more than the input size and raise
``VError`` (ids ``v.io/v23/flow/message.*``) on malformed input.
"""
from __future__ import annotations

import struct

from v23py.gostrings import KEEP_BYTES, UTF8

from . import errors

# Message type bytes (counting down from 0x7F).
INVALID = 0x7F
SETUP = 0x7E
TEAR_DOWN = 0x7D
ENTER_LAME_DUCK = 0x7C
ACK_LAME_DUCK = 0x7B
AUTH = 0x7A
OPEN_FLOW = 0x79
RELEASE = 0x78
DATA = 0x77
MULTI_PROXY = 0x76
PROXY_SERVER = 0x75
PROXY_RESPONSE = 0x74
HEALTH_CHECK_REQUEST = 0x73
HEALTH_CHECK_RESPONSE = 0x72
PROXY_ERROR_RESPONSE = 0x71
AUTH_ED25519 = 0x70
AUTH_RSA = 0x6F

# Setup option ids.
OPT_NACL_PUBLIC_KEY = 1
OPT_REMOTE_ENDPOINT = 2
OPT_LOCAL_ENDPOINT = 3
OPT_MTU = 4
OPT_SHARED_TOKENS = 5

# Flags of Data / OpenFlow.
CLOSE_FLAG = 0x1
DISABLE_ENCRYPTION_FLAG = 0x2
SIDE_CHANNEL_FLAG = 0x4

MAX_FRAME = 0xFFFFFF
FRAME_HEADER = 3

_PACK_Q = struct.Struct(">Q").pack
_BYTE = [bytes((i,)) for i in range(256)]
_VU2 = [bytes((0xFF, i)) for i in range(256)]   # varuint of 0x80..0xFF (by value)


# --------------------------------------------------------------------------- varuint

def varuint(v: int) -> bytes:
    """Encode ``v`` (0 <= v < 2**64) as a Vanadium varuint."""
    if v <= 0x7F:
        if v < 0:
            raise ValueError("varuint of a negative number")
        return _BYTE[v]
    if v <= 0xFF:
        return _VU2[v]
    if v <= 0xFFFF:
        return bytes((0xFE, v >> 8, v & 0xFF))   # (flow ids and counters of a busy conn)
    n = (v.bit_length() + 7) >> 3
    if n > 8:
        raise ValueError("varuint out of range")
    return _BYTE[0x100 - n] + _PACK_Q(v)[8 - n:]


def varuint_size(v: int) -> int:
    if v <= 0x7F:
        return 1
    return 1 + ((v.bit_length() + 7) >> 3)


def read_varuint(data, pos: int):
    """Decode a varuint from ``data[pos:]``; returns ``(value, new_pos)`` or ``None`` if invalid/short."""
    if pos >= len(data):
        return None
    b = data[pos]
    if b <= 0x7F:
        return b, pos + 1
    n = 0x100 - b
    if n > 8:
        return None
    end = pos + 1 + n
    if end > len(data):
        return None
    return int.from_bytes(data[pos + 1:end], "big"), end


def _lenbytes(b) -> bytes:
    return varuint(len(b)) + bytes(b)


def _read_lenbytes(data, pos):
    r = read_varuint(data, pos)
    if r is None:
        return None
    n, pos = r
    end = pos + n
    if end > len(data):
        return None
    return bytes(data[pos:end]), end


def _varuint_field(data, pos, typ, size, field):
    """read_varuint(data, pos) of field ``field`` of a message of type ``typ`` and ``size``
    bytes: ``(value, new_pos)``, or the message's decoding error when it is not there."""
    r = read_varuint(data, pos)
    if r is None:
        raise _invalid(typ, size, field)
    return r


def _invalid(typ, size, field, err=None):
    if err is not None:
        return errors.err(errors.InvalidMsg, "message of type %#x and size %d failed decoding at field %d: %s",
                          typ, size, field, err)
    return errors.err(errors.InvalidMsg, "message of type %#x and size %d failed decoding at field %d",
                      typ, size, field)


# --------------------------------------------------------------------------- framing

def _utf8(text: str) -> bytes:
    """A string's bytes for the wire; texts made from a peer's bytes may carry
    surrogate escapes (they go back as the bytes they came from), anything else that
    UTF-8 cannot hold is replaced (an error text must never stop a TearDown)."""
    try:
        return text.encode(UTF8, KEEP_BYTES)
    except UnicodeEncodeError:
        return text.encode(UTF8, "replace")


def _text(text: str) -> str:
    """A text the layouts' UTF-8 strings can hold: what a peer's bad bytes left in it
    (surrogate escapes) becomes replacement marks, so an error text never stops a
    TearDown."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return _utf8(text).decode("utf-8", "replace")


def frame_header(n: int) -> bytes:
    if n > MAX_FRAME:
        raise errors.err(errors.LargerThan3ByteUInt, "integer %d too large to represent in 3 bytes", n)
    return (MAX_FRAME - n).to_bytes(3, "big")


def frame_size(buf, pos: int) -> int:
    """The body size a frame header at ``pos`` announces (frame_header's inverse; the
    per-read loop of FrameReader.push reads it in line)."""
    return MAX_FRAME - ((buf[pos] << 16) | (buf[pos + 1] << 8) | buf[pos + 2])


def frame(body) -> bytes:
    """Prefix ``body`` with the 3-byte inverted length header."""
    return frame_header(len(body)) + bytes(body)


# Room left at the end of a body joined from several reads.  Whoever keeps the body (the
# VOM decoder of a stream) may append the next message's first bytes to it: in that room a
# bytearray grows in place; without it, it moved all its bytes to a bigger buffer.
_SPARE = bytes(256)


class MessageReader:
    """FrameReader's ``push`` for a transport that carries whole messages, without length
    headers (a flow of another conn, a WebSocket): each message is one frame body, of at
    most ``max_frame`` bytes."""

    __slots__ = ("max_frame",)

    def __init__(self, max_frame: int = MAX_FRAME):
        self.max_frame = max_frame

    def push(self, body):
        if len(body) > self.max_frame:
            raise errors.err(errors.InvalidMsg, "message of %d bytes exceeds the limit of %d",
                             len(body), self.max_frame)
        return (bytes(body),)


class FrameReader:
    """Incremental de-framer: ``feed(bytes)`` then iterate ``frames()``.

    ``max_frame`` bounds the accepted body size (default: the protocol maximum, 16 MiB - 1);
    a larger announced size raises ``VError`` before anything is allocated.
    """

    __slots__ = ("_buf", "_pos", "max_frame", "_parts", "_have", "_missing")

    def __init__(self, max_frame: int = MAX_FRAME):
        self._buf = bytearray()
        self._pos = 0
        self.max_frame = max_frame
        # push() of a frame body that spans reads: its pieces so far (views of the reads,
        # joined once when the last piece arrives), their length, and the bytes still missing
        self._parts = None
        self._have = 0
        self._missing = 0

    def feed(self, data) -> None:
        if self._pos and self._pos >= (len(self._buf) >> 1):
            del self._buf[:self._pos]
            self._pos = 0
        self._buf += data

    @property
    def buffered(self) -> int:
        pending = 3 + self._have if self._parts is not None else 0
        return len(self._buf) - self._pos + pending

    def pending_frame_size(self):
        """Size announced by a partially received frame, or None."""
        if self._parts is not None:
            return self._have + self._missing
        if len(self._buf) - self._pos < 3:
            return None
        return frame_size(self._buf, self._pos)

    def next_frame(self):
        """Return the next complete frame body as ``bytes``, or None if more data is needed."""
        buf = self._buf
        pos = self._pos
        if len(buf) - pos < 3:
            return None
        n = frame_size(buf, pos)
        if n > self.max_frame:
            raise errors.err(errors.InvalidMsg, "frame of %d bytes exceeds the limit of %d", n, self.max_frame)
        end = pos + 3 + n
        if end > len(buf):
            return None
        body = bytes(memoryview(buf)[pos + 3:end])   # (one copy; a bytearray slice is another)
        if end == len(buf):
            buf.clear()
            self._pos = 0
        else:
            self._pos = end
        return body

    def frames(self):
        while True:
            f = self.next_frame()
            if f is None:
                return
            yield f

    def push(self, data) -> list:
        """Feed ``data`` and return the complete frame bodies: ``bytes``, or a ``bytearray``
        (the caller's to keep and change) for a body joined from several reads.

        A frame body that spans reads (a 64 KiB stream item spans two) is kept as views of
        the reads and joined once when complete: collecting it in the buffer copied it
        about four times (append, growth, slice, bytes).  It is joined into a bytearray,
        which the conn decrypts in place."""
        parts = self._parts
        start = 0
        if parts is not None:
            n = len(data)
            missing = self._missing
            if n < missing:
                parts.append(data)
                self._have += n
                self._missing = missing - n
                return []
            parts.append(data if n == missing else memoryview(data)[:missing])
            parts.append(_SPARE)
            self._parts = None
            self._have = self._missing = 0
            body = bytearray().join(parts)
            del body[len(body) - len(_SPARE):]   # (the room stays allocated: see _SPARE)
            out = [body]
            if n == missing:
                return out
            start = missing
        elif len(self._buf) != self._pos:
            # (a frame header split across reads: the buffer's way, then back to views)
            self.feed(data)
            out = list(self.frames())
            buf = self._buf
            pos = self._pos
            if len(buf) - pos >= 3:
                size = frame_size(buf, pos)
                have = len(buf) - pos - 3
                self._parts = [bytes(memoryview(buf)[pos + 3:])]
                self._have = have
                self._missing = size - have
                buf.clear()
                self._pos = 0
            return out
        else:
            out = []
            if self._pos:
                self._buf.clear()
                self._pos = 0
        pos = start
        n = len(data)
        limit = self.max_frame
        while n - pos >= 3:
            size = MAX_FRAME - ((data[pos] << 16) | (data[pos + 1] << 8) | data[pos + 2])   # (frame_size)
            if size > limit:
                raise errors.err(errors.InvalidMsg, "frame of %d bytes exceeds the limit of %d", size, limit)
            end = pos + 3 + size
            if end > n:
                have = n - pos - 3
                self._parts = [memoryview(data)[pos + 3:]] if have else []
                self._have = have
                self._missing = size - have
                return out
            out.append(data[pos + 3:end])
            pos = end
        if pos < n:
            self._buf += data[pos:]
        return out


# --------------------------------------------------------------------------- messages

def _layout():
    """The construct declarations (loaded when a rare message is first built or parsed,
    so that starting a program does not pay for construct)."""
    from v23py.flow import layout
    return layout


class Message:
    __slots__ = ()
    TYPE = INVALID

    def __eq__(self, other):
        return type(self) is type(other) and all(
            getattr(self, s) == getattr(other, s) for s in self.__slots__)

    def __repr__(self):
        return "%s(%s)" % (type(self).__name__, ", ".join(
            "%s=%r" % (s, getattr(self, s)) for s in self.__slots__))

    def encode(self) -> bytes:  # pragma: no cover - overridden
        raise NotImplementedError


class Setup(Message):
    """Setup: versions, X25519 key, endpoints, MTU and shared tokens.

    ``remote_endpoint``/``local_endpoint`` are endpoint *strings* (Go's canonical String() form);
    the conn layer converts to/from endpoint objects.  Empty string = absent.
    ``uninterpreted`` is a list of ``(option_id, payload)`` kept in arrival order.
    """
    __slots__ = ("min_version", "max_version", "nacl_public_key", "remote_endpoint",
                 "local_endpoint", "mtu", "shared_tokens", "uninterpreted")
    TYPE = SETUP

    def __init__(self, min_version=10, max_version=14, nacl_public_key=b"", remote_endpoint="",
                 local_endpoint="", mtu=0, shared_tokens=0, uninterpreted=None):
        self.min_version = min_version
        self.max_version = max_version
        self.nacl_public_key = nacl_public_key
        self.remote_endpoint = remote_endpoint
        self.local_endpoint = local_endpoint
        self.mtu = mtu
        self.shared_tokens = shared_tokens
        self.uninterpreted = list(uninterpreted or ())

    def encode(self) -> bytes:
        parts = [b"\x7e", varuint(self.min_version), varuint(self.max_version)]
        key = self.nacl_public_key
        if key and key.strip(b"\x00"):
            key = bytes(key[:32]).ljust(32, b"\x00")
            parts += (b"\x01\x20", key)
        if self.remote_endpoint:
            e = _utf8(self.remote_endpoint)
            parts += (b"\x02", _lenbytes(e))
        if self.local_endpoint:
            e = _utf8(self.local_endpoint)
            parts += (b"\x03", _lenbytes(e))
        if self.mtu:
            parts += (b"\x04", _lenbytes(varuint(self.mtu)))
        if self.shared_tokens:
            parts += (b"\x05", _lenbytes(varuint(self.shared_tokens)))
        for opt, payload in self.uninterpreted:
            parts += (varuint(opt), _lenbytes(payload))
        return b"".join(parts)

    @classmethod
    def decode_body(cls, data, pos=1):
        size = len(data) - pos
        vmin, pos = _varuint_field(data, pos, SETUP, size, 0)
        vmax, pos = _varuint_field(data, pos, SETUP, size, 1)
        m = cls(vmin, vmax)
        field = 2
        end = len(data)
        while pos < end:
            r = read_varuint(data, pos)
            if r is None:
                raise _invalid(SETUP, size, field, "setup option failed decoding")
            opt, pos = r
            r = _read_lenbytes(data, pos)
            if r is None:
                raise _invalid(SETUP, size, field, "setup option %d failed decoding" % opt)
            payload, pos = r
            if opt == OPT_NACL_PUBLIC_KEY:
                m.nacl_public_key = payload[:32].ljust(32, b"\x00")
            elif opt == OPT_REMOTE_ENDPOINT:
                m.remote_endpoint = _decode_str(payload, SETUP, size, field)
            elif opt == OPT_LOCAL_ENDPOINT:
                m.local_endpoint = _decode_str(payload, SETUP, size, field)
            elif opt == OPT_MTU or opt == OPT_SHARED_TOKENS:
                r = read_varuint(payload, 0)
                if r is None:
                    raise errors.err(errors.InvalidSetupOption, "setup option: %d failed decoding at field: %d", opt, field)
                if opt == OPT_MTU:
                    m.mtu = r[0]
                else:
                    m.shared_tokens = r[0]
            else:
                m.uninterpreted.append((opt, payload))
            field += 1
        return m


def _decode_str(payload, typ, size, field):
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        raise _invalid(typ, size, field, "invalid utf-8")


class TearDown(Message):
    __slots__ = ("message",)
    TYPE = TEAR_DOWN

    def __init__(self, message=""):
        self.message = message

    def encode(self):
        # by hand (checked against the declaration by tests/flow/test_layout.py): every
        # program sends one when it closes a conn, and construct costs a start-up ~20 ms
        return b"\x7d" + _text(self.message).encode("utf-8")

    @classmethod
    def decode_body(cls, data, pos=1):
        return cls(bytes(data[pos:]).decode("utf-8", "replace"))


class _Empty(Message):
    """A message that is its type byte alone (``TYPE``, given as the class keyword
    ``type``), built from its declaration in v23py.flow.layout, which bears its class's name."""
    __slots__ = ()

    def __init_subclass__(cls, type, **kw):
        super().__init_subclass__(**kw)
        cls.TYPE = type

    def encode(self):
        return getattr(_layout(), type(self).__name__).build(None)

    @classmethod
    def decode_body(cls, data, pos=1):
        return cls()

    def __eq__(self, other):
        return type(self) is type(other)

    def __hash__(self):
        return self.TYPE


class EnterLameDuck(_Empty, type=ENTER_LAME_DUCK):
    """The sender is going away: the peer opens no new flows on the conn and answers with
    AckLameDuck."""


class AckLameDuck(_Empty, type=ACK_LAME_DUCK):
    """The answer to EnterLameDuck."""


class HealthCheckRequest(_Empty, type=HEALTH_CHECK_REQUEST):
    """Is the peer still there?  It answers with HealthCheckResponse."""


class HealthCheckResponse(_Empty, type=HEALTH_CHECK_RESPONSE):
    """The answer to HealthCheckRequest."""


class MultiProxyRequest(_Empty, type=MULTI_PROXY):
    """A proxy asks another to be reachable through it (see v23py.flow.proxy)."""


class ProxyServerRequest(_Empty, type=PROXY_SERVER):
    """A server asks a proxy to be reachable through it (see v23py.flow.proxy)."""


class Auth(Message):
    """Auth: blessings/discharge keys plus the channel-binding signature.

    The signature fields are kept flat (``purpose, hash, r, s, ed25519, rsa``); the message type byte
    follows the signature kind (0x70 Ed25519, 0x6F RSA, else 0x7A with R and S).
    """
    __slots__ = ("blessings_key", "discharge_key", "purpose", "hash", "r", "s", "ed25519", "rsa")

    def __init__(self, blessings_key=0, discharge_key=0, purpose=b"", hash="", r=b"", s=b"",
                 ed25519=b"", rsa=b""):
        self.blessings_key = blessings_key
        self.discharge_key = discharge_key
        self.purpose = purpose
        self.hash = hash
        self.r = r
        self.s = s
        self.ed25519 = ed25519
        self.rsa = rsa

    @property
    def TYPE(self):  # noqa: N802
        if self.ed25519:
            return AUTH_ED25519
        if self.rsa:
            return AUTH_RSA
        return AUTH

    def encode(self):
        common = [varuint(self.blessings_key), varuint(self.discharge_key),
                  _lenbytes(self.purpose), _lenbytes(_utf8(self.hash))]
        if self.ed25519:
            return b"".join([b"\x70"] + common + [_lenbytes(self.ed25519)])
        if self.rsa:
            return b"".join([b"\x6f"] + common + [_lenbytes(self.rsa)])
        return b"".join([b"\x7a"] + common + [_lenbytes(self.r), _lenbytes(self.s)])

    @classmethod
    def decode_body(cls, data, pos=1):
        typ = data[0]
        size = len(data) - pos
        m = cls()
        m.blessings_key, pos = _varuint_field(data, pos, OPEN_FLOW, size, 0)
        if m.blessings_key == 0:
            raise errors.err(errors.MissingBlessings, "%02x: message received with no blessings", OPEN_FLOW)
        m.discharge_key, pos = _varuint_field(data, pos, OPEN_FLOW, size, 1)
        r = _read_lenbytes(data, pos)
        if r is None:
            raise _invalid(OPEN_FLOW, size, 2)
        m.purpose, pos = r
        r = _read_lenbytes(data, pos)
        if r is None:
            raise _invalid(OPEN_FLOW, size, 3)
        m.hash = _decode_str(r[0], typ, size, 3)
        pos = r[1]
        # Go tolerates a missing trailing field here (it ignores the validity of the last read);
        # we do the same: an absent/short field decodes as empty.
        if typ == AUTH:
            r = _read_lenbytes(data, pos)
            if r is None:
                raise _invalid(OPEN_FLOW, size, 4)
            m.r, pos = r
            r = _read_lenbytes(data, pos)
            m.s = r[0] if r is not None else b""
        elif typ == AUTH_ED25519:
            r = _read_lenbytes(data, pos)
            m.ed25519 = r[0] if r is not None else b""
        else:
            r = _read_lenbytes(data, pos)
            m.rsa = r[0] if r is not None else b""
        return m


class OpenFlow(Message):
    __slots__ = ("id", "initial_counters", "blessings_key", "discharge_key", "flags", "payload")
    TYPE = OPEN_FLOW

    def __init__(self, id=0, initial_counters=0, blessings_key=0, discharge_key=0, flags=0, payload=b""):
        self.id = id
        self.initial_counters = initial_counters
        self.blessings_key = blessings_key
        self.discharge_key = discharge_key
        self.flags = flags
        self.payload = payload

    def encode(self):
        head = b"".join((b"\x79", varuint(self.id), varuint(self.initial_counters),
                         varuint(self.blessings_key), varuint(self.discharge_key), varuint(self.flags)))
        if self.payload and not self.flags & DISABLE_ENCRYPTION_FLAG:
            return head + bytes(self.payload)
        return head

    @classmethod
    def decode_body(cls, data, pos=1):
        size = len(data) - pos
        vals = []
        for field in range(5):
            v, pos = _varuint_field(data, pos, OPEN_FLOW, size, field)
            vals.append(v)
            if field == 2 and v == 0:
                raise errors.err(errors.MissingBlessings, "%02x: message received with no blessings", OPEN_FLOW)
        payload = b""
        if not vals[4] & DISABLE_ENCRYPTION_FLAG and pos < len(data):
            payload = bytes(data[pos:])
        return cls(vals[0], vals[1], vals[2], vals[3], vals[4], payload)


class Release(Message):
    """Release: ``counters`` is a list of ``(flow_id, tokens)``."""
    __slots__ = ("counters",)
    TYPE = RELEASE

    def __init__(self, counters=None):
        self.counters = list(counters or ())

    def encode(self):
        parts = [b"\x78"]
        for fid, tokens in self.counters:
            parts.append(varuint(fid))
            parts.append(varuint(tokens))
        return b"".join(parts)

    @classmethod
    def decode_body(cls, data, pos=1):
        counters = []
        end = len(data)
        n = 0
        while pos < end:
            r = read_varuint(data, pos)
            if r is None:
                raise _invalid(RELEASE, end - pos, n * 2)
            fid, pos = r
            r = read_varuint(data, pos)
            if r is None:
                raise _invalid(RELEASE, end - pos, n * 2 + 1)
            counters.append((fid, r[0]))
            pos = r[1]
            n += 1
        return cls(counters)


class Data(Message):
    __slots__ = ("id", "flags", "payload")
    TYPE = DATA

    def __init__(self, id=0, flags=0, payload=b""):
        self.id = id
        self.flags = flags
        self.payload = payload

    def encode(self):
        head = b"\x77" + varuint(self.id) + varuint(self.flags)
        if self.payload and not self.flags & DISABLE_ENCRYPTION_FLAG:
            return head + bytes(self.payload)
        return head

    @classmethod
    def decode_body(cls, data, pos=1):
        size = len(data) - pos
        fid, pos = _varuint_field(data, pos, DATA, size, 0)
        flags, pos = _varuint_field(data, pos, DATA, size, 1)
        payload = b""
        if not flags & DISABLE_ENCRYPTION_FLAG and pos < len(data):
            payload = bytes(data[pos:])
        return cls(fid, flags, payload)


def encode_data_header(fid: int, flags: int) -> bytes:
    """Fast path: the header of a Data message (payload is appended by the caller)."""
    if flags <= 0x7F:
        if fid <= 0x7F:
            return bytes((DATA, fid, flags))
        if fid <= 0xFF:
            return bytes((DATA, 0xFF, fid, flags))
        if fid <= 0xFFFF:
            return bytes((DATA, 0xFE, fid >> 8, fid & 0xFF, flags))
    return b"\x77" + varuint(fid) + varuint(flags)


class ProxyResponse(Message):
    """ProxyResponse: ``endpoints`` is a list of endpoint strings."""
    __slots__ = ("endpoints",)
    TYPE = PROXY_RESPONSE

    def __init__(self, endpoints=None):
        self.endpoints = list(endpoints or ())

    def encode(self):
        return _layout().ProxyResponse.build({"endpoints": self.endpoints})

    @classmethod
    def decode_body(cls, data, pos=1):
        import construct
        try:
            return cls(list(_layout().ProxyResponse.parse(bytes(data[pos - 1:])).endpoints))
        except (construct.ConstructError, UnicodeDecodeError) as e:
            raise _invalid(PROXY_RESPONSE, len(data) - 1, 0, str(e).split("\n")[0]) from None


class ProxyErrorResponse(Message):
    __slots__ = ("error",)
    TYPE = PROXY_ERROR_RESPONSE

    def __init__(self, error=""):
        self.error = error

    def encode(self):
        return _layout().ProxyErrorResponse.build({"error": _text(self.error)})

    @classmethod
    def decode_body(cls, data, pos=1):
        return cls(bytes(data[pos:]).decode("utf-8", "replace"))


_DECODERS = {
    SETUP: Setup.decode_body,
    TEAR_DOWN: TearDown.decode_body,
    ENTER_LAME_DUCK: EnterLameDuck.decode_body,
    ACK_LAME_DUCK: AckLameDuck.decode_body,
    AUTH: Auth.decode_body,
    AUTH_ED25519: Auth.decode_body,
    AUTH_RSA: Auth.decode_body,
    OPEN_FLOW: OpenFlow.decode_body,
    RELEASE: Release.decode_body,
    DATA: Data.decode_body,
    MULTI_PROXY: MultiProxyRequest.decode_body,
    PROXY_SERVER: ProxyServerRequest.decode_body,
    PROXY_RESPONSE: ProxyResponse.decode_body,
    HEALTH_CHECK_REQUEST: HealthCheckRequest.decode_body,
    HEALTH_CHECK_RESPONSE: HealthCheckResponse.decode_body,
    PROXY_ERROR_RESPONSE: ProxyErrorResponse.decode_body,
}


def decode(data) -> Message:
    """Decode one (decrypted, unframed) message body."""
    if not data:
        raise _invalid(INVALID, 0, 0)
    dec = _DECODERS.get(data[0])
    if dec is None:
        raise errors.err(errors.UnknownMsg, "unknown message type: %02x", data[0])
    return dec(data, 1)


def encode(msg: Message) -> bytes:
    return msg.encode()
