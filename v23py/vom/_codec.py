"""Value encoding and decoding, compiled once per type into closures.

Encoders have the shape ``enc(buf, value, msg)`` and decoders
``dec(data, pos, msg) -> (value, pos)``, where ``msg`` holds the per-message
type-id table and any-length table.
"""
from __future__ import annotations

import struct as _struct

from v23py import verror
from v23py.gostrings import KEEP_BYTES, UTF8
from v23py import vdl as T
from v23py.vdl import INT_RANGES, Kind, Type
from v23py.vdl import (
    Enum, NamedBool, Struct, Typed, Union, class_for, convert, optional_value, type_of)
from v23py.vom import _structgen
from v23py.vom._binary import (
    CONTROL_END, CONTROL_NIL, VERSION_81, Truncated, dec_len, dec_uint, enc_int, enc_uint,
    error, uint_bytes)
from v23py.vom._typeenc import BOOTSTRAP_IDS

_pack_d = _struct.Struct("<d").pack
_unpack_d = _struct.Struct("<d").unpack
_FLOAT32_MAX = 3.4028234663852886e38

ENC = "vom.enc"
DEC = "vom.dec"
ZERO = "vom.zero"


class EncodeState:
    """Per value-message state on the encoding side."""

    __slots__ = ("te", "tids", "tid_index", "anylens")

    def __init__(self, te):
        self.te = te
        self.tids: list[int] = []
        self.tid_index: dict[int, int] = {}
        self.anylens: list[int] = []

    def type_index(self, t: Type) -> int:
        tid = self.te.encode_type(t)
        i = self.tid_index.get(tid)
        if i is None:
            i = self.tid_index[tid] = len(self.tids)
            self.tids.append(tid)
        return i


class DecodeState:
    """Per value-message state on the decoding side (``raw_any``: an ``any`` decodes to
    a RawBytes, see Decoder.keep_any_raw)."""

    __slots__ = ("td", "tids", "anylens", "raw_any", "types")

    def __init__(self, td, tids, anylens, raw_any=False):
        self.td = td
        self.tids = tids
        self.anylens = anylens
        self.raw_any = raw_any
        # index -> Type, as type_at found them (a state serves every message with the
        # same tables, and a type id once known keeps its meaning: ``types.get(i) or
        # type_at(i)`` is type_at(i))
        self.types: dict[int, Type] = {}

    def type_at(self, i: int) -> Type:
        if i >= len(self.tids):
            raise error(f"type index {i} outside the message's type table")
        tid = self.tids[i]
        t = self.td.lookup(tid)
        if t is None:
            raise error(f"unknown type id {tid}")
        self.types[i] = t
        return t


def has_chunk_len(t: Type) -> bool:
    k = t.kind
    if k in (Kind.ARRAY, Kind.LIST):
        return t.elem.kind != Kind.BYTE
    return k in (Kind.SET, Kind.MAP, Kind.STRUCT, Kind.UNION, Kind.OPTIONAL, Kind.ANY)


# ---------------------------------------------------------------------------
# zero tests
def _compile(t: Type, key: str, make, trampoline, bad):
    """t's compiled function for ``key``, made once and cached on the type.

    While it is being made, recursive references get ``trampoline``, which calls the
    finished function (key + "!").  A failed build leaves no trace in the cache, so the
    next use fails the same clear way instead of finding a half-made entry.
    """
    c = t._cache
    c[key] = trampoline
    try:
        f = make(t)
    except verror.VError:
        c.pop(key, None)
        raise
    except RecursionError:
        c.pop(key, None)
        raise bad("type nested too deeply") from None
    except Exception as e:   # e.g. a peer's type name Python cannot use
        c.pop(key, None)
        raise bad(f"cannot handle type {str(t)[:100]!r}: {e}") from None
    except BaseException:
        c.pop(key, None)
        raise
    c[key] = c[key + "!"] = f
    return f


def zero_test(t: Type):
    f = t._cache.get(ZERO)
    if f is None:
        # (the trampoline rebuilds if the entry is gone: a failed build elsewhere)
        f = _compile(t, ZERO, _make_zero_test,
                     lambda v: (t._cache.get(ZERO + "!") or zero_test(t))(v), verror.BadArg.new)
    return f


def _make_zero_test(t: Type):
    k = t.kind
    if k in (Kind.ANY, Kind.OPTIONAL):
        return lambda v: v is None or (type(v) is Typed and v.type.kind == Kind.ANY and v.value is None)
    if k == Kind.BOOL or k in T.INT_KINDS or k in T.FLOAT_KINDS:
        return lambda v: v == 0
    if k == Kind.STRING:
        return lambda v: v == ""
    if k == Kind.ENUM:
        return lambda v: (v.index == 0) if isinstance(v, Enum) else (v == t.labels[0] or v == 0)
    if k == Kind.TYPEOBJECT:
        return lambda v: v is None or v == T.AnyType
    if k in (Kind.LIST, Kind.SET, Kind.MAP):
        return lambda v: len(v) == 0
    if k == Kind.ARRAY:
        if t.elem.kind == Kind.BYTE:
            return lambda v: v.count(0) == len(v)
        ez = zero_test(t.elem)
        return lambda v: all(ez(x) for x in v)
    if k == Kind.STRUCT:
        if t == T.WireErrorType:
            return lambda v: False
        fields = [(f.name, zero_test(f.type)) for f in t.fields]

        def sz(v):
            if isinstance(v, dict):
                return all(fz(v[n]) for n, fz in fields if n in v)
            for n, fz in fields:
                if not fz(getattr(v, n)):
                    return False
            return True
        return sz
    if k == Kind.UNION:
        z0 = zero_test(t.fields[0].type)

        def uz(v):
            if isinstance(v, tuple):
                return (v[0] == 0 or v[0] == t.fields[0].name) and z0(v[1])
            return v.index == 0 and z0(v.value)
        return uz
    raise verror.BadArg.new(f"vom: no zero test for {t}")


# ---------------------------------------------------------------------------
# encoders
def encoder(t: Type):
    f = t._cache.get(ENC)
    if f is None:
        f = _compile(t, ENC, _make_encoder,
                     lambda buf, v, st: (t._cache.get(ENC + "!") or encoder(t))(buf, v, st),
                     verror.BadArg.new)
    return f


def _bad_value(t, v, why=""):
    return verror.BadArg.new(f"vom: cannot encode {type(v).__name__} {v!r:.60} as {str(t)[:100]}"
                             + (f": {why}" if why else ""))


def _make_encoder(t: Type):  # noqa: C901 - one branch per kind
    k = t.kind
    if k == Kind.BOOL:
        def enc_bool(buf, v, st):
            if v is True or v is False or (isinstance(v, int) and v in (0, 1)):
                buf.append(1 if v else 0)
            else:
                raise _bad_value(t, v)
        return enc_bool
    if k in T.INT_KINDS:
        lo, hi = INT_RANGES[k]
        signed = lo < 0

        if signed:
            def enc_i(buf, v, st):
                if type(v) is not int and (not isinstance(v, int) or isinstance(v, bool)):
                    raise _bad_value(t, v)
                if v < lo or v > hi:
                    raise _bad_value(t, v, "out of range")
                u = (v << 1) if v >= 0 else (((~v) << 1) | 1)
                if u < 0x80:
                    buf.append(u)
                else:
                    enc_uint(buf, u)
            return enc_i

        def enc_u(buf, v, st):
            if type(v) is not int and (not isinstance(v, int) or isinstance(v, bool)):
                raise _bad_value(t, v)
            if 0 <= v < 0x80:
                buf.append(v)
            elif v < lo or v > hi:
                raise _bad_value(t, v, "out of range")
            else:
                enc_uint(buf, v)
        return enc_u
    if k in T.FLOAT_KINDS:
        is32 = k == Kind.FLOAT32

        def enc_f(buf, v, st):
            if not isinstance(v, (int, float)) or isinstance(v, bool):
                raise _bad_value(t, v)
            f = float(v)
            if is32 and abs(f) > _FLOAT32_MAX and f == f and f not in (float("inf"), float("-inf")):
                raise _bad_value(t, v, "out of float32 range")
            if is32:
                f = _struct.unpack("<f", _struct.pack("<f", f))[0]
            enc_uint(buf, int.from_bytes(_pack_d(f), "big"))
        return enc_f
    if k == Kind.STRING:
        utf8, keep = UTF8, KEEP_BYTES   # (closure cells: ~30 instructions a call less than globals)

        def enc_s(buf, v, st):
            if not isinstance(v, str):
                raise _bad_value(t, v)
            try:  # Go strings may hold any bytes (e.g. DER keys as map keys)
                b = v.encode(utf8, keep)
            except UnicodeEncodeError:
                raise _bad_value(t, v, "not encodable as UTF-8") from None
            n = len(b)
            if n < 0x80:
                buf.append(n)
            else:
                enc_uint(buf, n)
            buf += b
        return enc_s
    if k == Kind.ENUM:
        labels = {label: i for i, label in enumerate(t.labels)}

        def enc_e(buf, v, st):
            if isinstance(v, Enum):
                i = v.index if v._vdl_type == t else labels.get(v.label)
            elif isinstance(v, str):
                i = labels.get(v)
            else:
                i = None
            if i is None:
                raise _bad_value(t, v, "not a label of this enum")
            enc_uint(buf, i)
        return enc_e
    if k == Kind.TYPEOBJECT:
        def enc_to(buf, v, st):
            if v is None:
                v = T.AnyType
            if not isinstance(v, Type):
                raise _bad_value(t, v)
            enc_uint(buf, st.type_index(v))
        return enc_to
    if k in (Kind.LIST, Kind.ARRAY) and t.elem.kind == Kind.BYTE:
        is_array = k == Kind.ARRAY
        n_arr = t.len

        def enc_bytes(buf, v, st):
            tv = type(v)
            if (tv is bytes or tv is bytearray) and not is_array and len(v) < 0x80:
                buf.append(len(v))   # the usual short []byte: its one-byte length, its bytes
                buf += v
                return
            if isinstance(v, str) or not isinstance(v, (bytes, bytearray, memoryview, list, tuple)):
                raise _bad_value(t, v)
            if not isinstance(v, (bytes, bytearray)):
                try:
                    v = bytes(v)
                except (ValueError, TypeError):
                    raise _bad_value(t, v) from None
            if is_array:
                if len(v) != n_arr:
                    raise _bad_value(t, v, f"need {n_arr} bytes")
                buf.append(0)
            else:
                enc_uint(buf, len(v))
            buf += v
        return enc_bytes
    if k == Kind.LIST and t.elem.kind == Kind.STRING and not t.elem.name:
        es = encoder(t.elem)

        def enc_strings(buf, v, st):
            if isinstance(v, (str, bytes, dict)) or not hasattr(v, "__len__"):
                raise _bad_value(t, v)
            n = len(v)
            if n < 0x80:
                buf.append(n)
            else:
                enc_uint(buf, n)
            if n >= 8 and type(v) is list:
                # ASCII strings shorter than 128 bytes (names, keys, ids: the usual case) are
                # their own UTF-8 and take a one-byte length each, so a list of them encodes
                # with no Python-level step per element.  All of one length L (ids, keys,
                # hashes of one format): joined with the character L between them, that is
                # the encoding, once the joints are shown to be the only such characters
                # and to fall every L + 1.
                length = len(v[0]) if type(v[0]) is str else 0x80
                if (length < 0x80 and type(v[-1]) is str and len(v[-1]) == length
                        and type(v[n >> 1]) is str and len(v[n >> 1]) == length):
                    sep = _CHR[length]
                    try:
                        text = sep.join(v)
                    except TypeError:
                        text = None   # not all strings: the loop says which
                    step = length + 1
                    if (text is not None and len(text) == n * step - 1 and text.isascii()
                            and text.count(sep) == n - 1
                            and text[length::step] == sep * (n - 1)):
                        buf.append(length)
                        buf += text.encode("ascii")
                        return
                # Else lengths and strings are interleaved into one str, checked and
                # encoded at once.  Anything else takes the loop below.
                try:
                    lens = bytes(map(len, v))
                except (TypeError, ValueError):
                    lens = None   # not all strings (the loop says which), or one is long
                if lens is not None:
                    parts = [None] * (2 * n)
                    parts[::2] = lens.decode("latin-1")
                    parts[1::2] = v
                    try:
                        joined = "".join(parts)
                    except TypeError:
                        joined = None   # not all strings: the loop says which
                    if joined is not None and joined.isascii():
                        buf += joined.encode("ascii")
                        return
            for x in v:
                es(buf, x, st)
        return enc_strings
    if k in (Kind.LIST, Kind.ARRAY):
        ee = encoder(t.elem)
        is_array = k == Kind.ARRAY
        n_arr = t.len

        def enc_l(buf, v, st):
            if isinstance(v, (str, bytes, dict)) or not hasattr(v, "__len__"):
                raise _bad_value(t, v)
            if is_array:
                if len(v) != n_arr:
                    raise _bad_value(t, v, f"need {n_arr} elements")
                buf.append(0)
            else:
                enc_uint(buf, len(v))
            for x in v:
                ee(buf, x, st)
        return enc_l
    if k == Kind.SET:
        ke = encoder(t.key)

        def enc_set(buf, v, st):
            if isinstance(v, (str, bytes)) or not hasattr(v, "__len__"):
                raise _bad_value(t, v)
            enc_uint(buf, len(v))
            for x in v:
                ke(buf, x, st)
        return enc_set
    if k == Kind.MAP:
        ke = encoder(t.key)
        ve = encoder(t.elem)

        def enc_map(buf, v, st):
            if not isinstance(v, dict):
                raise _bad_value(t, v)
            enc_uint(buf, len(v))
            for a, b in v.items():
                ke(buf, a, st)
                ve(buf, b, st)
        return enc_map
    if k == Kind.STRUCT:
        if t == T.WireErrorType:
            return _make_error_encoder(t)
        # Primitive fields are zero exactly when falsy; others need their own test.
        fencs = [encoder(f.type) for f in t.fields]
        fzeros = [None if f.type.kind in T.PRIMITIVE_KINDS else zero_test(f.type)
                  for f in t.fields]

        def check(v):
            if isinstance(v, Struct):
                vt = v._vdl_type
                if vt is not t and vt != t:
                    v = convert(t, v)
            elif isinstance(v, dict):
                v = convert(t, v)
            else:
                raise _bad_value(t, v)
            return v
        enc_struct, ns = _structgen.make_encoder(t, fencs, fzeros, check)
        ns["_cls"] = class_for(t)
        return enc_struct
    if k == Kind.UNION:
        fencs = [encoder(f.type) for f in t.fields]

        def enc_union(buf, v, st):
            if isinstance(v, Union):
                if v._vdl_type is not t and v._vdl_type != t:   # (no Type.__eq__ call)
                    v = convert(t, v)
                i, x = v.index, v.value
            elif isinstance(v, tuple) and len(v) == 2:
                v = convert(t, v)
                i, x = v.index, v.value
            else:
                raise _bad_value(t, v)
            if i < 0x80:
                buf.append(i)
            else:
                enc_uint(buf, i)
            fencs[i](buf, x, st)
        return enc_union
    if k == Kind.OPTIONAL:
        ee = encoder(t.elem)

        def enc_opt(buf, v, st):
            if type(v) is Typed:
                v = v.value
            if v is None:
                buf.append(CONTROL_NIL)
            else:
                ee(buf, v, st)
        return enc_opt
    if k == Kind.ANY:
        return _enc_any
    raise verror.BadArg.new(f"vom: cannot encode kind {k}")


def _enc_any(buf, v, st):
    if v is None:
        buf.append(CONTROL_NIL)
        return
    if v.__class__ is RawBytes:
        v = v.value()
    if type(v) is Typed:
        dt, v = v.type, v.value
        if dt.kind == Kind.ANY:
            if v is None:
                buf.append(CONTROL_NIL)
                return
            dt = type_of(v)
    else:
        dt = type_of(v)
    if dt.kind == Kind.ANY:
        raise _bad_value(T.AnyType, v, "an any cannot hold an any")
    ti = st.type_index(dt)
    if ti < 0x80:
        buf.append(ti)
    else:
        enc_uint(buf, ti)
    anylens = st.anylens
    slot = len(anylens)
    anylens.append(0)
    if slot < 0x80:
        buf.append(slot)
    else:
        enc_uint(buf, slot)
    start = len(buf)
    (dt._cache.get(ENC) or encoder(dt))(buf, v, st)
    anylens[slot] = len(buf) - start


def _make_error_encoder(t: Type):
    # vdl.WireError written from a VError (or any exception), zero fields left out.
    retry_enc = encoder(T.WireRetryCodeType)
    params_enc = encoder(T.AnyListType)

    def enc_err(buf, v, st):
        if isinstance(v, Struct):
            e = verror.VError(v.Id, int(getattr(v.RetryCode, "index", 0)), v.Msg, list(v.ParamList))
        elif isinstance(v, verror.VError):
            e = v
        elif isinstance(v, BaseException):
            e = verror.from_exception(v)
        else:
            raise _bad_value(t, v)
        if e.id:
            buf.append(0)
            b = e.id.encode(UTF8, KEEP_BYTES)
            enc_uint(buf, len(b))
            buf += b
        if e.retry_code:
            buf.append(1)
            retry_enc(buf, T.WireRetryCodeType.labels[int(e.retry_code)], st)
        if e.msg:
            buf.append(2)
            b = e.msg.encode(UTF8, KEEP_BYTES)
            enc_uint(buf, len(b))
            buf += b
        if e.params:
            buf.append(3)
            params_enc(buf, e.params, st)
        buf.append(CONTROL_END)
    return enc_err


# ---------------------------------------------------------------------------
# decoders
def decoder(t: Type):
    f = t._cache.get(DEC)
    if f is None:
        f = _compile(t, DEC, _make_decoder,
                     lambda data, pos, st: (t._cache.get(DEC + "!") or decoder(t))(data, pos, st),
                     error)
    return f


# unnamed types whose decoded Python class type_of maps back to exactly that type
_PLAIN_CLASS = {T.StringType: str, T.BoolType: bool, T.Int64Type: int, T.Float64Type: float,
                T.ByteListType: bytes}
# (by identity: a lookup that does not hash a Type; an equal copy takes the longer way)
_PLAIN_CLASS_BY_ID = {id(t): c for t, c in _PLAIN_CLASS.items()}


def exact(t: Type, v):
    """``v`` (decoded as type t) in a form that carries t exactly: for the top
    level of a message and for the contents of an ``any``."""
    k = t.kind
    if k == Kind.OPTIONAL:
        if v is not None and t == T.ErrorType:
            return v
        return optional_value(t, v)
    if t.name or k in (Kind.ENUM, Kind.STRUCT, Kind.UNION) or k == Kind.TYPEOBJECT:
        return v
    if v is None:
        return None
    if t is T.StringListType and v.__class__ is list and v:
        return v   # decoded strings are plain str: what type_of would find, without the walk
    if _PLAIN_CLASS_BY_ID.get(id(t)) is v.__class__:
        return v   # (a str as string, a bytes as []byte, ...: type_of's answer, directly)
    try:
        if type_of(v) == t:
            return v
    except verror.VError:
        pass
    cls = class_for(t)
    return cls(v) if cls is not None else v


def _make_decoder(t: Type):  # noqa: C901 - one branch per kind
    k = t.kind
    cls = class_for(t) if (t.name and k not in (Kind.OPTIONAL,)) else None
    if k == Kind.BOOL:
        def dec_bool(data, pos, st):
            b = data[pos]
            if b > 1:
                raise error(f"invalid bool byte 0x{b:02x}")
            return (cls(b == 1) if cls else b == 1), pos + 1
        return dec_bool
    if k in T.INT_KINDS:
        lo, hi = INT_RANGES[k]
        signed = lo < 0

        def dec_i(data, pos, st):
            b = data[pos]
            if b < 0x80:
                u, pos = b, pos + 1
            else:
                u, pos = dec_uint(data, pos)
            if signed:
                u = ~(u >> 1) if u & 1 else u >> 1
            if u < lo or u > hi:
                raise error(f"value {u} out of range for {k}")
            return (cls(u) if cls else u), pos
        return dec_i
    if k in T.FLOAT_KINDS:
        is32 = k == Kind.FLOAT32

        def dec_f(data, pos, st):
            u, pos = dec_uint(data, pos)
            f = _unpack_d(u.to_bytes(8, "big"))[0]
            if is32:
                if abs(f) > _FLOAT32_MAX and f == f and abs(f) != float("inf"):
                    raise error(f"float {f} out of float32 range")
                # a float32 holds what Go's float32(x) would: the encoder rounds the same
                f = _struct.unpack("<f", _struct.pack("<f", f))[0]
            return (cls(f) if cls else f), pos
        return dec_f
    if k == Kind.STRING:
        utf8, keep = UTF8, KEEP_BYTES   # (closure cells: ~30 instructions a call less than globals)

        def dec_s(data, pos, st):
            b = data[pos]
            if b < 0x80:
                n, pos = b, pos + 1
            else:
                n, pos = dec_uint(data, pos)
            end = pos + n
            if end > len(data):
                raise Truncated()
            # Go does not require UTF-8: keep arbitrary bytes losslessly.
            s = data[pos:end].decode(utf8, keep)
            return (cls(s) if cls else s), end
        return dec_s
    if k == Kind.ENUM:
        ecls = class_for(t)
        n_labels = len(t.labels)

        def dec_e(data, pos, st):
            i, pos = dec_uint(data, pos)
            if i >= n_labels:
                raise error(f"enum index {i} out of range for {t.name or 'enum'}")
            return ecls._members[i], pos
        return dec_e
    if k == Kind.TYPEOBJECT:
        def dec_to(data, pos, st):
            i, pos = dec_uint(data, pos)
            return st.type_at(i), pos
        return dec_to
    if k in (Kind.LIST, Kind.ARRAY) and t.elem.kind == Kind.BYTE:
        is_array = k == Kind.ARRAY
        n_arr = t.len

        def dec_bytes(data, pos, st):
            n = data[pos]
            if n < 0x80 and not is_array:
                end = pos + 1 + n
                if end > len(data):
                    raise Truncated()
                b = bytes(data[pos + 1:end])
                return (cls(b) if cls else b), end
            if is_array:
                n, pos = dec_uint(data, pos)
                if n != 0:
                    raise error("array length prefix must be 0")
                n = n_arr
            else:
                n, pos = dec_uint(data, pos)
            end = pos + n
            if end > len(data):
                raise Truncated()
            b = bytes(memoryview(data)[pos:end])   # (one copy: a bytearray's slice is another)
            return (cls(b) if cls else b), end
        return dec_bytes
    if k == Kind.LIST and t.elem.kind == Kind.STRING and not t.elem.name:
        def dec_strings(data, pos, st):
            # Inlined element loop: lists of strings are common (names, patterns).
            n, pos = dec_len(data, pos)
            if n >= 8:
                got = _ascii_strings(data, pos, n)
                if got is not None:
                    out, pos = got
                    return (cls(out) if cls else out), pos
            out = []
            append = out.append
            size = len(data)
            utf8, keep = UTF8, KEEP_BYTES
            for _ in range(n):
                b = data[pos]
                if b < 0x80:
                    m = b
                    pos += 1
                else:
                    m, pos = dec_uint(data, pos)
                end = pos + m
                if end > size:
                    raise Truncated()
                append(data[pos:end].decode(utf8, keep))
                pos = end
            return (cls(out) if cls else out), pos
        return dec_strings
    if k in (Kind.LIST, Kind.ARRAY):
        ed = decoder(t.elem)
        is_array = k == Kind.ARRAY
        n_arr = t.len

        def dec_l(data, pos, st):
            if is_array:
                n, pos = dec_uint(data, pos)
                if n != 0:
                    raise error("array length prefix must be 0")
                n = n_arr
                if n > len(data) - pos:
                    raise Truncated()
            else:
                n, pos = dec_len(data, pos)
            out = []
            append = out.append
            for _ in range(n):
                x, pos = ed(data, pos, st)
                append(x)
            if is_array:
                out = tuple(out)
            return (cls(out) if cls else out), pos
        return dec_l
    if k == Kind.SET:
        kd = decoder(t.key)

        def dec_set(data, pos, st):
            n, pos = dec_len(data, pos)
            out = set()
            for _ in range(n):
                x, pos = kd(data, pos, st)
                out.add(x)
            return (cls(out) if cls else out), pos
        return dec_set
    if k == Kind.MAP:
        kd = decoder(t.key)
        vd = decoder(t.elem)

        def dec_map(data, pos, st):
            n, pos = dec_len(data, pos, 2)
            out = {}
            for _ in range(n):
                a, pos = kd(data, pos, st)
                b, pos = vd(data, pos, st)
                out[a] = b
            return (cls(out) if cls else out), pos
        return dec_map
    if k == Kind.STRUCT:
        if t == T.WireErrorType:
            return _make_error_decoder(t)
        scls = class_for(t)
        from v23py.vdl import zero
        ftypes = [f.type for f in t.fields]
        fdecs = [decoder(ft) for ft in ftypes]
        zeros = [zero(ft) if _immutable_zero(ft) else _UNSET for ft in ftypes]
        makers = [None if _immutable_zero(ft) else _lazy_zero_maker(ft) for ft in ftypes]
        return _structgen.make_decoder(t, scls, fdecs, zeros, makers, _UNSET)
    if k == Kind.UNION:
        ucls = class_for(t)
        fdecs = [decoder(f.type) for f in t.fields]
        nf = len(fdecs)
        if (ucls.__init__ is T.Union.__init__ and ucls.__new__ is object.__new__
                and ucls.__setattr__ is object.__setattr__):
            # (what Union.__init__ does with an index in range and a value, without its
            # checks of the arguments: one per streamed sync record)
            new = object.__new__

            def dec_union(data, pos, st):
                i = data[pos]
                if i < 0x80:
                    pos += 1
                else:
                    i, pos = dec_uint(data, pos)
                if i >= nf:
                    raise error(f"union field index {i} out of range for {t.name or 'union'}")
                u = new(ucls)
                u.value, pos = fdecs[i](data, pos, st)
                u.index = i
                return u, pos
            return dec_union

        def dec_union(data, pos, st):
            i, pos = dec_uint(data, pos)
            if i >= nf:
                raise error(f"union field index {i} out of range for {t.name or 'union'}")
            v, pos = fdecs[i](data, pos, st)
            return ucls(i, v), pos
        return dec_union
    if k == Kind.OPTIONAL:
        ed = decoder(t.elem)

        def dec_opt(data, pos, st):
            if data[pos] == CONTROL_NIL:
                return None, pos + 1
            return ed(data, pos, st)
        return dec_opt
    if k == Kind.ANY:
        return _dec_any
    raise error(f"cannot decode kind {k}")


_CHR = [chr(i) for i in range(0x80)]
_LEN_BYTE = [bytes((i,)) for i in range(0x80)]
_MARKS = {0: bytes(4096), 0xFF: b"\xff" * 4096}


def _ascii_strings(data, pos, n, sep=0):
    """n strings at data[pos:] when all are ASCII with one-byte lengths: (list, end), else
    None (the caller's loop then decodes, or says what is wrong).

    Each length byte is overwritten with ``sep`` and the strings come out of one split:
    with NUL when no string holds one (an ASCII text splits into ASCII strings at the
    least cost), else with 0xFF, which no ASCII string holds.  Finding the length bytes
    is sequential; a run of equal lengths (ids, keys, hashes of one format) is found and
    marked with strided slices, whose cost is in C, and elsewhere a two-statement loop
    steps from one length to the next, trying for a run again every 32 elements.
    ASCII is checked on the bytes actually used, after.
    """
    d = data[pos:pos + n * 0x80]   # no element here takes more bytes
    marks = bytearray(d)
    fill = _MARKS[sep]
    p = 0
    left = n
    window = 16
    try:
        while left:
            length = d[p]
            step = length + 1
            w = window if window < left else left
            seg = d[p:p + step * w:step]
            k = len(seg) - len(seg.lstrip(_LEN_BYTE[length]))
            if k >= 4:
                end = p + step * k
                marks[p:end:step] = fill[:k] if k <= 4096 else fill[:1] * k
                p = end
                left -= k
                window = window * 2 if k == w else 16
                continue
            window = 16
            k = 32 if left > 32 else left
            left -= k
            for _ in range(k):
                marks[p] = sep
                p += d[p] + 1
    except IndexError:   # a length >= 0x80 (not one byte), or past the end
        return None
    if p > len(d) or not (d if p == len(d) else d[:p]).isascii():
        return None
    if sep == 0:
        out = marks[1:p].decode("ascii").split("\x00")
        if len(out) != n:   # a string holds a NUL
            return _ascii_strings(data, pos, n, 0xFF)
        return out, pos + p
    return marks[1:p].decode("latin-1").split("\xff"), pos + p


def _lazy_zero_maker(t: Type):
    """A zero maker for t compiled on first use (a struct's field may be the struct
    itself, whose maker cannot be built while its decoder is being built)."""
    if not t.name and t.kind in _EMPTY_OF:
        return _EMPTY_OF[t.kind]     # (an unnamed list, set or map: what zero_maker gives)
    box = []

    def mk():
        if not box:
            from v23py.vdl import zero_maker
            box.append(zero_maker(t))
        return box[0]()
    return mk


_EMPTY_OF = {Kind.LIST: list, Kind.SET: set, Kind.MAP: dict}


def _immutable_zero(t: Type) -> bool:
    k = t.kind
    return (k in T.PRIMITIVE_KINDS or k in (Kind.ENUM, Kind.TYPEOBJECT, Kind.ANY, Kind.OPTIONAL)
            or t.is_bytes())


class _Unset:
    __slots__ = ()


_UNSET = _Unset()


def _dec_any(data, pos, st):
    if data[pos] == CONTROL_NIL:
        return None, pos + 1
    ti = data[pos]      # (the type and length indexes: mostly one byte each)
    if ti < 0x80:
        pos += 1
    else:
        ti, pos = dec_uint(data, pos)
    dt = st.types.get(ti) or st.type_at(ti)
    li = data[pos]
    if li < 0x80:
        pos += 1
    else:
        li, pos = dec_uint(data, pos)
    if li >= len(st.anylens):
        raise error(f"any-length index {li} outside the message's table")
    if dt.kind == Kind.ANY:
        raise error("an any cannot hold an any")
    if st.raw_any:
        return _dec_raw(dt, data, pos, st)
    v, pos = (dt._cache.get(DEC) or decoder(dt))(data, pos, st)
    return exact(dt, v), pos


class RawBytes:
    """The contents of an ``any`` kept as VOM bytes (what Go's ``*vom.RawBytes`` is for):
    ``type``, the contents' type, and ``encoded``, the value's single-shot encoding --
    the bytes ``vom.encode(value)`` gives -- for a reader that stores or forwards the
    value rather than looking at it.  ``value()`` decodes it."""

    __slots__ = ("type", "encoded")

    def __init__(self, type: Type, encoded: bytes):
        self.type = type
        self.encoded = encoded

    def value(self):
        from v23py.vom import decode
        return decode(self.encoded)

    def __eq__(self, other):
        return (other.__class__ is RawBytes and self.encoded == other.encoded
                and self.type == other.type)

    __hash__ = None

    def __repr__(self):
        return f"RawBytes({self.type}, {self.encoded!r})"


_new_raw = object.__new__
RAW_HEAD = "vom.rawhead"


def _raw_head(dt: Type):
    """(The single-shot encoding's bytes before a value of type dt, whether a length
    comes between them and the value) when dt needs no type messages and its values no
    tables (a value read out of a message is then the same bytes in its own), else
    (None, False)."""
    h = dt._cache.get(RAW_HEAD)
    if h is None:
        tid = BOOTSTRAP_IDS.get(dt)
        if tid is None or dt.has_any or dt.has_typeobject or dt.kind == Kind.TYPEOBJECT:
            h = (None, False)
        else:
            head = bytearray((VERSION_81,))
            enc_int(head, tid)
            h = (bytes(head), has_chunk_len(dt))
        dt._cache[RAW_HEAD] = h
    return h


def _dec_raw(dt, data, pos, st):
    """A RawBytes of the value of type dt at data[pos] (an any's contents)."""
    head, with_len = dt._cache.get(RAW_HEAD) or _raw_head(dt)
    start = pos
    if dt is T.StringType:
        # (the common contents: a string is any bytes, so its length is all to check)
        n = data[pos]
        if n < 0x80:
            pos += 1 + n
        else:
            n, pos = dec_uint(data, pos)
            pos += n
        if pos > len(data):
            raise Truncated()
    else:
        v, pos = (dt._cache.get(DEC) or decoder(dt))(data, pos, st)
        if head is None:
            from v23py.vom import encode
            r = _new_raw(RawBytes)
            r.type = dt
            r.encoded = encode(exact(dt, v))
            return r, pos
    r = _new_raw(RawBytes)
    r.type = dt
    r.encoded = (head + data[start:pos] if not with_len
                 else head + uint_bytes(pos - start) + data[start:pos])
    return r, pos


def _make_error_decoder(t: Type):
    sdec = None

    def dec_err(data, pos, st):
        nonlocal sdec
        if sdec is None:
            fdecs = [decoder(f.type) for f in t.fields]
            sdec = fdecs
        vals = [None, None, "", []]
        vals[0] = ""
        while True:
            b = data[pos]
            if b == CONTROL_END:
                pos += 1
                break
            i, pos = dec_uint(data, pos)
            if i >= 4:
                raise error(f"field index {i} out of range for vdl.WireError")
            vals[i], pos = sdec[i](data, pos, st)
        retry = vals[1].index if vals[1] is not None else 0
        return verror.VError(vals[0], retry, vals[2], list(vals[3])), pos
    return dec_err
