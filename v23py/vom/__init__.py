"""VOM 0x81, Vanadium's self-describing binary encoding.

Single shot::

    data = vom.encode(value)            # 0x81 + type messages + one value message
    value = vom.decode(data)            # the value, carrying its exact VDL type

Streams (types sent once per stream)::

    enc = vom.Encoder(); out = enc.encode(v1) + enc.encode(v2)
    dec = vom.Decoder(); dec.feed(out); dec.decode(); dec.decode()

Split, as RPC does it: one TypeEncoder/TypeDecoder per connection carries the
type messages on the type flow; each data flow has an Encoder/Decoder that
writes/reads value messages only::

    te = vom.TypeEncoder()
    enc = vom.Encoder(type_encoder=te)
    data = enc.encode(request)          # value bytes for the data flow
    types = te.take_bytes()             # send these on the type flow first
    td = vom.TypeDecoder(); td.feed(types_from_peer)
    dec = vom.Decoder(type_decoder=td); dec.feed(data_from_peer)
    dec.decode()   # raises NeedData or NeedType(id) until it can finish; sans-IO

Malformed input raises a ``v23py.verror.VError`` (BadProtocol), never another
exception, and lengths are checked against the bytes present before allocating.
"""
from __future__ import annotations

from v23py import verror
from v23py.gostrings import KEEP_BYTES as _KEEP_BYTES, UTF8 as _UTF8
from v23py.vdl import Kind, Type
from v23py.vdl import Typed, convert, type_of
from v23py.vom._binary import (  # noqa: F401
    CONTROL_END, CONTROL_INCOMPLETE, CONTROL_NIL, MAX_MESSAGE_LEN, VERSION_81, Truncated,
    dec_int, dec_uint, enc_int, enc_uint, enc_uints, error, uint_bytes, COUNTS)
from v23py.vom._codec import (
    DecodeState, EncodeState, RawBytes, decoder, encoder, exact, has_chunk_len)
from v23py.vom._typeenc import (  # noqa: F401
    BOOTSTRAP_IDS, BOOTSTRAP_TYPES, FIRST_USER_ID, TypeDecoder, TypeEncoder)

__all__ = ["encode", "decode", "Encoder", "Decoder", "TypeEncoder", "TypeDecoder",
           "NeedData", "NeedType", "VERSION_81", "COUNTS", "RawBytes"]


class NeedData(Exception):
    """The decoder needs more bytes before it can produce the next value."""


class NeedType(Exception):
    """The next value uses a type id that has not arrived on the type stream."""

    def __init__(self, type_id: int):
        super().__init__(f"waiting for type id {type_id}")
        self.type_id = type_id


def _resolve(value, type):
    if type is None:
        if isinstance(value, Typed):
            return value.type, value.value
        return type_of(value), value
    if isinstance(value, Typed) and type.kind != Kind.ANY:
        value = value.value
    return type, value


def encode_value_message(te: TypeEncoder, t: Type, v) -> bytes:
    """One value message (no version byte); type messages go to ``te``."""
    plan = te.value_plans_by_id.get(id(t))
    if plan is None and id(t) not in te.table_plans_by_id:
        plan = te.value_plans.get(t)
        if plan is not None:
            te.value_plans_by_id[id(t)] = plan + (t,)   # (keeps t, so its id stays unique)
    if plan is not None:
        head, enc, hl = plan[0], plan[1], plan[2]
        out = bytearray(head)
        enc(out, v, None)
        if hl:   # the length goes in the byte kept for it after the id
            n = len(out) - hl
            if n < 0x80:
                out[hl - 1] = n
            else:
                out[hl - 1:hl] = uint_bytes(n)
        return out
    tables = te.table_plans_by_id.get(id(t))
    if tables is None:
        tid = te.encode_type(t)
        if not (t.has_any or t.has_typeobject):
            te.value_plans[t] = _plan(tid, t)
            if not has_chunk_len(t):
                # No header tables, no length: write the value right after the id.
                out = bytearray()
                enc_int(out, tid)
                encoder(t)(out, v, None)
                return out
            return encode_value_message(te, t, v)
        # A type with tables: its id, encoder and which tables follow, kept by id(t) as
        # the plans above (+ (t,) likewise)
        head = bytearray()
        enc_int(head, tid)
        tables = (bytes(head), encoder(t), t.has_any, has_chunk_len(t), t)
        if len(te.table_plans_by_id) < 4096:
            te.table_plans_by_id[id(t)] = tables
    head, enc, with_anylens, with_len = tables[0], tables[1], tables[2], tables[3]
    st = EncodeState(te)
    body = bytearray()
    enc(body, v, st)
    # the type-id table, then (with an any) the any-length table, each count first
    nums = [len(st.tids)]
    nums += st.tids
    if with_anylens:
        nums.append(len(st.anylens))
        nums += st.anylens
    hdr = bytearray(head)
    enc_uints(hdr, nums)
    if with_len:
        enc_uint(hdr, len(body))
    hdr += body
    return hdr


_JOIN_MIN = 1024   # a []byte value this long is joined in by encode_value_bytes


def encode_value_bytes(te: TypeEncoder, t: Type, v, prefix: bytes = b"") -> bytes:
    """``prefix`` + encode_value_message(te, t, v), as bytes.

    A long []byte value (a streamed chunk) is copied once, joined in after its message's
    head; appended to the bytearray message, then copied out to bytes, it was copied twice."""
    if type(v) is bytes and len(v) >= _JOIN_MIN and t.kind == Kind.LIST and t.elem.kind == Kind.BYTE:
        # the message of an empty []byte is that head, then its length 0
        head = encode_value_message(te, t, b"")
        return b"".join((prefix, memoryview(head)[:-1], uint_bytes(len(v)), v))
    return prefix + encode_value_message(te, t, v)


def first_string_template(te: TypeEncoder, t: Type, make):
    """A template for ``with_first_string``: the value message of ``make("")``, a struct
    of type ``t`` whose field 0 is a string, cut around where that field goes; None
    when the message is not laid out so (no length, or field 0 not left out when
    empty), which a probe string checks against the encoder once."""
    msg = bytes(encode_value_message(te, t, make("")))
    try:
        _, p = dec_uint(msg, 0)
        n, q = dec_uint(msg, p)
    except Exception:
        return None
    if q + n != len(msg) or n == 0 or msg[q] == 0:
        return None
    template = (msg[:p], msg[q:])
    probe = "probe/\u00e9%2F" * 12     # (non-ASCII, and long enough for 2-byte lengths)
    want = bytes(encode_value_message(te, t, make(probe)))
    return template if with_first_string(template, probe) == want else None


def with_first_string(template, s: str) -> bytes:
    """The value message of ``first_string_template``'s struct with ``s`` as its field 0:
    the bytes encode_value_message makes, without encoding the rest again."""
    head, rest = template
    b = s.encode(_UTF8, _KEEP_BYTES)
    n = len(b)
    body = (b"\x00" + bytes((n,)) if n < 0x80 else b"\x00" + uint_bytes(n)) + b + rest
    n = len(body)
    return head + (bytes((n,)) if n < 0x80 else uint_bytes(n)) + body


def _plan(tid: int, t: Type) -> tuple:
    """How a value message of type t (no type or any-length tables) is written: (head,
    encoder, head length if a message length follows else 0).  The head is the type id
    and, when a length follows, one byte kept for it."""
    head = bytearray()
    enc_int(head, tid)
    if not has_chunk_len(t):
        return bytes(head), encoder(t), 0
    head.append(0)
    return bytes(head), encoder(t), len(head)


class Encoder:
    """Encodes values onto one stream.  Without ``type_encoder`` the type messages
    are written inline (single stream); with one they are left in it for the
    caller to send on the type flow (``type_encoder.take_bytes()``)."""

    def __init__(self, type_encoder: TypeEncoder | None = None):
        self._split = type_encoder is not None
        self._te = type_encoder if type_encoder is not None else TypeEncoder(write_version=False)
        self._version_sent = False
        # Steady-state plans of types whose values need no type or any-length tables:
        # id(type) -> _plan(...) + (type,) (by id: no Python-level Type.__hash__ per
        # value; the plan keeps the type, so no other type takes its id)
        self._plans: dict = {}
        # The same plans by the class of values that carry their type in the class
        # (``_vdl_type``): one dict lookup finds the plan of a generated struct's value.
        self._class_plans: dict = {}

    @property
    def type_encoder(self) -> TypeEncoder:
        return self._te

    def encode(self, value, type: Type | None = None) -> bytes:
        if type is None:
            plan = self._class_plans.get(value.__class__)
            if plan is None:
                t = getattr(value.__class__, "_vdl_type", None)
                if t is None:
                    t, value = _resolve(value, None)
                plan = self._plans.get(id(t))
                if plan is None:
                    return self._encode_general(t, value)
                if t is getattr(value.__class__, "_vdl_type", None) \
                        and len(self._class_plans) < 4096:
                    self._class_plans[value.__class__] = plan
        else:
            if value.__class__ is Typed and type.kind != Kind.ANY:
                value = value.value
            plan = self._plans.get(id(type))
            if plan is None:
                return self._encode_general(type, value)
        # Steady state for a type without any/typeobject: the header is fixed, and the
        # message length (when there is one) is written into its place afterwards.
        head, enc, hl, _ = plan
        out = bytearray(head)
        enc(out, value, None)
        if hl:
            n = len(out) - hl
            if n < 0x80:
                out[hl - 1] = n
            else:
                out[hl - 1:hl] = uint_bytes(n)
        c = COUNTS
        c.values_encoded += 1
        c.bytes_encoded += len(out)
        return bytes(out)

    def _encode_general(self, t: Type, value) -> bytes:
        msg = encode_value_message(self._te, t, value)
        COUNTS.values_encoded += 1
        COUNTS.bytes_encoded += len(msg)
        if self._version_sent and self._split and id(t) in self._te.table_plans_by_id:
            # (the steady state of a type with tables, a stream of records with an any:
            # the message alone, copied once)
            return bytes(msg)
        out = bytearray()
        if not self._version_sent:
            out.append(VERSION_81)
        self._version_sent = True
        if not self._split:
            out += self._te.take_bytes()
        out += msg
        if not (t.has_any or t.has_typeobject):
            self._plans[id(t)] = _plan(self._te.lookup(t), t) + (t,)
        return bytes(out)


class Decoder:
    """Decodes values from one stream, fed bytes as they arrive.  Without
    ``type_decoder`` the stream carries its own type messages."""

    def __init__(self, type_decoder: TypeDecoder | None = None):
        self._split = type_decoder is not None
        self._td = type_decoder if type_decoder is not None else TypeDecoder()
        self._buf = b""   # (feed replaces an empty buffer by what it is given)
        self._pos = 0
        self._version_read = False
        self._plans: dict = self._td.value_plans
        self._last_tables = None    # (their bytes, tables, DecodeState), see _tables
        self._raw_type = None

    def keep_any_raw(self, type: Type) -> None:
        """From now on an ``any`` in a value message of ``type`` (a stream's items, say)
        decodes to a RawBytes (its contents' type and single-shot encoding), not to its
        value: for a reader that stores what it receives.  Other messages (an RPC
        header, an error's parameters) decode as before."""
        self._raw_type = type

    @property
    def type_decoder(self) -> TypeDecoder:
        return self._td

    def feed(self, data: bytes, owned: bool = False) -> int:
        """Add bytes of the stream; returns how many are buffered now (``buffered()``).
        ``owned``: a bytearray ``data`` is given to the decoder, which may keep and change
        it (the caller never touches it again)."""
        buf = self._buf
        if self._pos >= len(buf):
            # Everything before was read: start over from the new bytes, in place when
            # they are immutable or given (no copy; the usual case of one message at a time).
            t = type(data)
            self._buf = data if t is bytes or (owned and t is bytearray) else bytearray(data)
            self._pos = 0
            return len(data)
        if type(buf) is not bytearray:
            # (one copy of both: a copy of the rest, then an append, copied it again to grow)
            self._buf = buf = bytearray().join((memoryview(buf)[self._pos:], data))
            self._pos = 0
            return len(buf)
        if self._pos > 65536 and self._pos > len(buf) // 2:
            del buf[:self._pos]
            self._pos = 0
        buf += data
        return len(buf) - self._pos

    def buffered(self) -> int:
        return len(self._buf) - self._pos

    def decode(self, type: Type | None = None):
        """The next value; raises NeedData / NeedType (state unchanged) or a VError."""
        buf = self._buf
        pos = self._pos
        if not self._version_read and self._split and pos + 1 < len(buf) \
                and buf[pos] == VERSION_81:
            # the version byte that starts each RPC data flow: skip it here so the first
            # message takes the fast path below too
            pos += 1
            self._pos = pos
            self._version_read = True
        if self._version_read and pos < len(buf):
            # The one fast path (in line: it is per value): a message id below 128 of a
            # type seen before on this type stream; decode_typed has every other case.
            b = buf[pos]
            if b < 0x80:
                plan = self._plans.get(b)
                p = pos + 1
            elif b == 0xFF and pos + 1 < len(buf):
                plan = self._plans.get(0x100 | buf[pos + 1])
                p = pos + 2
            else:
                plan = None
            if plan is not None:
                t, dec, chunk, tables, plain = plan
                try:
                    st = None
                    if tables:
                        if not buf[p] and (tables == 1 or not buf[p + 1]):
                            st = _EMPTY_STATE   # the usual case for RPC headers
                            p += tables
                        else:
                            st, p = self._tables(buf, p, tables, t)
                    if chunk:
                        n = buf[p]
                        if n < 0x80:
                            p += 1
                        elif n == 0xFF:
                            n = buf[p + 1]
                            p += 2
                        else:
                            n, p = dec_uint(buf, p)
                            if n > MAX_MESSAGE_LEN:
                                raise error(f"message length {n} too large")
                        end = p + n
                        if end > len(buf):
                            raise NeedData()
                        v, p = dec(buf, p, st)
                        if p != end:
                            raise error(f"{end - p} leftover bytes in a value message")
                    else:
                        v, p = dec(buf, p, st)
                except Exception as e:
                    raise _failure(e) from None
                self._pos = p
                c = COUNTS
                c.values_decoded += 1
                c.bytes_decoded += p - pos
                if type is not None and type is not t and type != t:
                    return convert(type, v)
                return v if plain else exact(t, v)
        t, v = self.decode_typed()
        if type is not None and type is not t and type != t:
            return convert(type, v)
        if (t.name and t.kind != Kind.OPTIONAL) or id(t) in _PLAIN_IDS:
            return v   # what exact() would return
        return exact(t, v)

    def _tables(self, buf, p, tables, t):
        """(DecodeState, position after) of a value message's type-id and any-length
        tables at ``p`` (``tables``: 1 for type ids only, 2 for both) for a value of t."""
        rt = self._raw_type
        raw_any = rt is not None and (t is rt or t == rt)
        last = self._last_tables
        if last is not None:
            # a stream of one type (sync records, say) mostly repeats the last message's
            # tables byte for byte: they read the same, so its state serves (a state is
            # never changed while decoding, and a type once known stays known)
            raw, kind, st = last
            if kind == tables and st.raw_any is raw_any and buf.startswith(raw, p):
                return st, p + len(raw)
        st, end = self._read_tables(buf, p, tables)
        st.raw_any = raw_any
        self._last_tables = (bytes(buf[p:end]), tables, st)
        return st, end

    def _read_tables(self, buf, p, tables):
        n, p = dec_uint(buf, p)
        if n > len(buf) - p:
            raise Truncated()
        tids = []
        for _ in range(n):
            x, p = dec_uint(buf, p)
            tids.append(x)
        anylens = []
        if tables == 2:
            n, p = dec_uint(buf, p)
            if n > len(buf) - p:
                raise Truncated()
            for _ in range(n):
                x, p = dec_uint(buf, p)
                anylens.append(x)
        td = self._td
        if self._split:
            for x in tids:
                if td.lookup(x) is None:
                    raise NeedType(x)
        return DecodeState(td, tids, anylens), p

    def decode_typed(self):
        """(wire type, value) of the next value message (every case; decode has the
        steady state's fast path)."""
        buf = self._buf
        pos = self._pos
        try:
            if not self._version_read:
                if pos >= len(buf):
                    raise NeedData()
                if buf[pos] != VERSION_81:
                    raise error(f"bad version byte 0x{buf[pos]:02x} (only 0x81 is supported)")
                pos += 1
                self._version_read = True
                self._pos = pos
            while True:
                if pos >= len(buf):
                    raise NeedData()
                b = buf[pos]
                if b == CONTROL_INCOMPLETE:
                    if self._split:
                        raise error("type message on a value stream")
                    pos = self._td.read_type_message(buf, pos)
                    self._pos = pos
                    continue
                mid, p2 = dec_int(buf, pos)
                if mid == 0:
                    raise error("zero message id")
                if mid < 0:
                    if self._split:
                        raise error("type message on a value stream")
                    pos = self._td.read_type_message(buf, pos)
                    self._pos = pos
                    continue
                t = self._td.lookup(mid)
                if t is None:
                    if self._split:
                        raise NeedType(mid)
                    raise error(f"unknown type id {mid}")
                pos = p2
                tables = 2 if t.has_any else 1 if t.has_typeobject else 0
                if tables:
                    st, pos = self._tables(buf, pos, tables, t)
                else:
                    st = DecodeState(self._td, [], [])
                if has_chunk_len(t):
                    n, pos = dec_uint(buf, pos)
                    if n > MAX_MESSAGE_LEN:
                        raise error(f"message length {n} too large")
                    end = pos + n
                    if end > len(buf):
                        raise Truncated()
                    v, p = decoder(t)(buf, pos, st)
                    if p != end:
                        raise error(f"{end - p} leftover bytes in a value message")
                    pos = end
                else:
                    v, pos = decoder(t)(buf, pos, st)
                COUNTS.values_decoded += 1
                COUNTS.bytes_decoded += pos - self._pos
                self._pos = pos
                if 0 < mid < 128:
                    u = mid << 1
                    self._plans[u if u < 0x80 else 0x100 | u] = (
                        t, decoder(t), has_chunk_len(t), tables,
                        # (values decode() returns as they are, see exact())
                        bool((t.name and t.kind != Kind.OPTIONAL) or id(t) in _PLAIN_IDS))
                return t, v
        except Exception as e:
            raise _failure(e) from None


def _failure(e: Exception) -> Exception:
    """What a decoder raises for the exception ``e`` met while decoding a message."""
    if isinstance(e, (Truncated, IndexError)):
        return NeedData()
    if isinstance(e, (verror.VError, NeedData, NeedType)):
        return e
    if isinstance(e, RecursionError):
        return error("value nested too deeply")
    if isinstance(e, (ValueError, TypeError, OverflowError, MemoryError)):
        return error(f"malformed data: {e}")
    return e


# unnamed types whose decoded values (str, bool, int, float, bytes) carry them exactly
_PLAIN_IDS = frozenset(id(type_of(v)) for v in ("", False, 0, 0.0, b""))

_EMPTY_STATE = DecodeState(None, (), ())   # a message with empty type/any-length tables


def encode(value, type: Type | None = None) -> bytes:
    """0x81 + every type message + one value message."""
    return Encoder().encode(value, type)


_prefix_cache: dict = {}
_PREFIX_CACHE_MAX = 512
_PREFIX_CACHE_MAX_KEY = 16 << 10   # (so the cache holds at most 8 MB of a peer's type messages)
# ... and what they make: a prefix whose types are more, or spell out longer, is decoded
# anew each time (16 KB of messages may make 4 MB of unique strings or thousands of types;
# blessings make a dozen types, of ~4 KB of strings)
_PREFIX_CACHE_MAX_TYPES = 128
_PREFIX_CACHE_MAX_UNIQUE = 64 << 10


def _type_prefix_len(data) -> int:
    """Length of the version byte + type messages at the start of ``data`` (0 if odd)."""
    try:
        if not data or data[0] != VERSION_81:
            return 0
        pos = 1
        while pos < len(data):
            p = pos + 1 if data[pos] == CONTROL_INCOMPLETE else pos
            mid, p = dec_int(data, p)
            if mid >= 0:
                return pos
            n, p = dec_uint(data, p)
            pos = p + n
        return 0
    except (Truncated, verror.VError):
        return 0


def _small(td: TypeDecoder) -> bool:
    """Whether the types ``td`` made may be kept in the prefix cache."""
    built = td._built
    if len(built) > _PREFIX_CACHE_MAX_TYPES:
        return False
    return sum(len(t.unique()) for t in built.values()) <= _PREFIX_CACHE_MAX_UNIQUE


def _single_shot_decoder(data) -> "Decoder":
    # Go caches the types of single-shot streams by their type-message prefix;
    # blessings and other blobs repeat the same types again and again.
    n = _type_prefix_len(data)
    if 1 <= n <= _PREFIX_CACHE_MAX_KEY:
        # (n == 1: no type messages at all; the cached decoder then knows only the
        # bootstrap types, and a single value never adds any)
        key = bytes(data[:n])
        td = _prefix_cache.get(key)
        if td is None:
            td = TypeDecoder()
            td.feed(key)
            if _small(td):
                if len(_prefix_cache) >= _PREFIX_CACHE_MAX:
                    _prefix_cache.clear()
                _prefix_cache[key] = td
        dec = Decoder(type_decoder=td)
        dec._split = False
        dec._buf = data if type(data) is bytes else bytes(data)   # read only: no copy
        dec._pos = n
        dec._version_read = True
        return dec
    dec = Decoder()
    dec.feed(data)
    return dec


def decode(data: bytes, type: Type | None = None):
    """The one value of a complete single-shot stream."""
    dec = _single_shot_decoder(data)
    try:
        v = dec.decode(type)
    except NeedData:
        raise error("truncated data") from None
    if dec.buffered():
        raise error(f"{dec.buffered()} bytes left after the value")
    return v


def decode_typed(data: bytes):
    """(type, value) of a complete single-shot stream."""
    dec = _single_shot_decoder(data)
    try:
        t, v = dec.decode_typed()
    except NeedData:
        raise error("truncated data") from None
    if dec.buffered():
        raise error(f"{dec.buffered()} bytes left after the value")
    return t, v
