"""How `sb` prints values: the texts of Go's sb (its table, CSV and JSON writers),
Go's ``vdl.Value.String()``, and the few Go ``fmt`` renderings `sb` uses for
Ids, syncgroup specs and permissions.  Pure functions of (VDL type, value).

Go's sb prints maps it iterates itself (``acl dump``, ``acl get``) in Go's
random map order; here they come sorted.  Maps printed through ``fmt``
(``%v``) are sorted by Go too, and so they are here.
"""
from __future__ import annotations

import math

from v23py import vdl
from v23py.rpc.signature import format_float, go_quote
from v23py.security import access

K = vdl.Kind
_TIME = "time.Time"
_DURATION = "time.Duration"
_UNIX_EPOCH = 62135596800           # seconds from 0001-01-01 to 1970-01-01 (VDL's time zero)
_NUMERIC = frozenset([K.BOOL, K.BYTE, K.UINT16, K.UINT32, K.UINT64, K.INT8, K.INT16, K.INT32,
                      K.INT64, K.FLOAT32, K.FLOAT64])


def unwrap(v):
    """(type, value) of a value decoded from an ``any`` (None: the nil any)."""
    if v is None:
        return vdl.AnyType, None
    return vdl.unwrap(v)


def _plain(v):
    return v.value if isinstance(v, vdl.Typed) else v


def _is_time(t):
    return t.name == _TIME and t.kind == K.STRUCT


def _is_duration(t):
    return t.name == _DURATION and t.kind == K.STRUCT


def _elem(t, v):
    """Type and value inside an ``any`` or optional (None when nil)."""
    if t.kind == K.ANY:
        return (None, None) if v is None else vdl.unwrap(v)
    return (None, None) if v is None else (t.elem, v)


# --- Go's time.Time.String() and time.Duration.String(), in UTC --------------------

def _civil(days):
    """(year, month, day) of a day count from 1970-01-01 (proleptic Gregorian)."""
    z = days + 719468
    era = (z if z >= 0 else z - 146096) // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    return (y + 1 if m <= 2 else y), m, d


def go_time(seconds: int, nanos: int) -> str:
    """Go's ``time.Time.String()`` of a VDL time (seconds since year 1), in UTC."""
    unix = int(seconds) - _UNIX_EPOCH + int(nanos) // 1_000_000_000
    ns = int(nanos) % 1_000_000_000
    days, secs = divmod(unix, 86400)
    y, mo, d = _civil(days)
    hh, rem = divmod(secs, 3600)
    mm, ss = divmod(rem, 60)
    year = ("-%04d" % -y) if y < 0 else ("%04d" % y)
    frac = ("." + ("%09d" % ns).rstrip("0")) if ns else ""
    return f"{year}-{mo:02d}-{d:02d} {hh:02d}:{mm:02d}:{ss:02d}{frac} +0000 UTC"


def _frac(u, prec):
    digits = ""
    printed = False
    for _ in range(prec):
        digit = u % 10
        printed = printed or digit != 0
        if printed:
            digits = str(digit) + digits
        u //= 10
    if printed:
        digits = "." + digits
    return digits, u


def go_duration(ns: int) -> str:
    """Go's ``time.Duration.String()``."""
    neg = ns < 0
    u = -ns if neg else ns
    if u < 1_000_000_000:
        if u == 0:
            return "0s"
        if u < 1000:
            prec, unit = 0, "ns"
        elif u < 1_000_000:
            prec, unit = 3, "µs"
        else:
            prec, unit = 6, "ms"
        f, u = _frac(u, prec)
        s = str(u) + f + unit
    else:
        f, u = _frac(u, 9)
        s = str(u % 60) + f + "s"
        u //= 60
        if u > 0:
            s = str(u % 60) + "m" + s
            u //= 60
            if u > 0:
                s = str(u) + "h" + s
    return ("-" if neg else "") + s


def _native_time_string(t, v):
    if _is_time(t):
        return go_time(v.Seconds, v.Nanos)
    return go_duration(int(v.Seconds) * 1_000_000_000 + int(v.Nanos))


# --- Go's vdl.Value.String() ---------------------------------------------------------

def value_string(t, v) -> str:
    """Go's ``vdl.Value.String()``: the type, then the value."""
    v = _plain(v)
    if t == vdl.BoolType or t == vdl.StringType:
        return _rep(t, v)
    if t.kind in (K.ARRAY, K.LIST, K.SET, K.MAP, K.STRUCT, K.UNION) and not t.is_bytes():
        return t.unique() + _rep(t, v)
    return t.unique() + "(" + _rep(t, v) + ")"


def _rep(t, v):
    v = _plain(v)
    k = t.kind
    if k == K.BOOL:
        return "true" if v else "false"
    if k in (K.BYTE, K.UINT16, K.UINT32, K.UINT64, K.INT8, K.INT16, K.INT32, K.INT64):
        return str(int(v))
    if k in (K.FLOAT32, K.FLOAT64):
        return format_float(float(v), 64)
    if t.is_bytes():
        return go_quote(bytes(v or b""))
    if k == K.STRING:
        return go_quote(str(v))
    if k == K.ENUM:
        return v.label if hasattr(v, "label") else str(v)
    if k == K.TYPEOBJECT:
        return v.unique() if v is not None else "any"
    if k == K.ANY:
        if v is None:
            return "nil"
        it, iv = vdl.unwrap(v)
        return value_string(it, iv)
    if k == K.OPTIONAL:
        return "nil" if v is None else _rep(t.elem, v)
    if k in (K.ARRAY, K.LIST):
        return "{" + ", ".join(_rep(t.elem, x) for x in (v or ())) + "}"
    if k == K.STRUCT:
        return "{" + ", ".join(f.name + ": " + _rep(f.type, getattr(v, f.name, None))
                               for f in t.fields) + "}"
    if k == K.UNION:
        f = t.fields[v.index]
        return "{" + f.name + ": " + _rep(f.type, v.value) + "}"
    if k in (K.SET, K.MAP):
        keys = _sorted_keys(t.key, v)
        if k == K.SET:
            return "{" + ", ".join(_rep(t.key, x) for x in keys) + "}"
        return "{" + ", ".join(_rep(t.key, x) + ": " + _rep(t.elem, v[x]) for x in keys) + "}"
    raise ValueError(f"cannot print a value of kind {k}")


def _sorted_keys(kt, v):
    """Go's vdl.SortValuesAsString of the keys of a set or map."""
    return sorted(v or (), key=lambda x: value_string(kt, x))


# --- Go sb's writer: toString, toJson ---------------------------------------------------

def to_string(t, v, nested=False) -> str:
    """Go sb's ``toString``: readable, parseable; strings outside composites unquoted."""
    v = _plain(v)
    if _is_time(t) or _is_duration(t):
        s = _native_time_string(t, v)
        return go_quote(s) if nested else s
    k = t.kind
    if k == K.BOOL:
        return "true" if v else "false"
    if k in (K.BYTE, K.UINT16, K.UINT32, K.UINT64, K.INT8, K.INT16, K.INT32, K.INT64):
        return str(int(v))
    if k in (K.FLOAT32, K.FLOAT64):
        return format_float(float(v), 64)
    if k == K.STRING:
        return go_quote(str(v)) if nested else str(v)
    if k == K.ENUM:
        return v.label if hasattr(v, "label") else str(v)
    if k in (K.ARRAY, K.LIST):
        items = list(bytes(v or b"")) if t.is_bytes() else list(v or ())
        et = vdl.ByteType if t.is_bytes() else t.elem
        return "[" + ", ".join(to_string(et, x, True) for x in items) + "]"
    if k in (K.ANY, K.OPTIONAL):
        et, ev = _elem(t, v)
        if et is None:
            return "nil" if nested else ""
        return to_string(et, ev, nested)
    if k == K.STRUCT:
        return "{" + ", ".join(f"{f.name}: {to_string(f.type, getattr(v, f.name, None), True)}"
                               for f in t.fields) + "}"
    if k == K.UNION:
        f = t.fields[v.index]
        return f"{f.name}: {to_string(f.type, v.value, True)}"
    if k == K.SET:
        return "{" + ", ".join(to_string(t.key, x, True) for x in _sorted_keys(t.key, v)) + "}"
    if k == K.MAP:
        return "{" + ", ".join(f"{to_string(t.key, x, True)}: {to_string(t.elem, v[x], True)}"
                               for x in _sorted_keys(t.key, v)) + "}"
    if k == K.TYPEOBJECT:
        return value_string(t, v)
    raise ValueError(f"unknown Kind {k}")


def right_justified(t) -> bool:
    """Go sb's getJustification: numbers and bools to the right."""
    return t.kind in _NUMERIC


class _Obj(list):
    """A JSON object whose keys keep their order (Go sb's orderedMap)."""


def _json_friendly(t, v):
    v = _plain(v)
    if _is_time(t) or _is_duration(t):
        return _native_time_string(t, v)
    k = t.kind
    if k == K.BOOL:
        return bool(v)
    if k in (K.BYTE, K.UINT16, K.UINT32, K.UINT64, K.INT8, K.INT16, K.INT32, K.INT64):
        return int(v)
    if k in (K.FLOAT32, K.FLOAT64):
        return float(v)
    if k == K.STRING:
        return str(v)
    if k == K.ENUM:
        return v.label if hasattr(v, "label") else str(v)
    if k in (K.ARRAY, K.LIST):
        if t.is_bytes():
            return [int(x) for x in bytes(v or b"")]
        return [_json_friendly(t.elem, x) for x in (v or ())]
    if k in (K.ANY, K.OPTIONAL):
        et, ev = _elem(t, v)
        return None if et is None else _json_friendly(et, ev)
    if k == K.STRUCT:
        return _Obj((f.name, _json_friendly(f.type, getattr(v, f.name, None)))
                    for f in t.fields)
    if k == K.UNION:
        f = t.fields[v.index]
        return _Obj([(f.name, _json_friendly(f.type, v.value))])
    if k == K.SET:
        return _Obj((to_string(t.key, x), True) for x in _sorted_keys(t.key, v))
    if k == K.MAP:
        return _Obj((to_string(t.key, x), _json_friendly(t.elem, v[x]))
                    for x in _sorted_keys(t.key, v))
    if k == K.TYPEOBJECT:
        return value_string(t, v)
    raise ValueError(f"unknown Kind {k}")


def to_json(t, v) -> str:
    return go_json(_json_friendly(t, v))


_JSON_ESC = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b",
             "\f": "\\f", "<": "\\u003c", ">": "\\u003e", "&": "\\u0026",
             "\u2028": "\\u2028", "\u2029": "\\u2029"}


def json_string(s: str) -> str:
    """encoding/json's string encoding (HTML-safe)."""
    out = ['"']
    for ch in s:
        e = _JSON_ESC.get(ch)
        if e is not None:
            out.append(e)
        elif ch < " ":
            out.append("\\u%04x" % ord(ch))
        elif 0xD800 <= ord(ch) <= 0xDFFF:
            out.append("\ufffd")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def json_float(f: float) -> str:
    """encoding/json's float64 text."""
    if math.isnan(f) or math.isinf(f):
        raise ValueError(f"json: unsupported value: {format_float(f)}")
    a = abs(f)
    if a != 0 and (a < 1e-6 or a >= 1e21):
        s = format_float(f, 64)
        if "e" not in s:            # format_float chose plain digits: force Go's %e layout
            s = "%e" % f
        mant, exp = s.split("e")
        sign, digits = exp[0], exp[1:].lstrip("0") or "0"
        if sign == "+" and len(digits) < 2:
            digits = digits.rjust(2, "0")
        return mant + "e" + sign + digits
    r = repr(float(f))
    if "e" in r or "E" in r:
        mant, exp = r.lower().split("e")
        neg = mant.startswith("-")
        mant = mant.lstrip("-")
        ip, _, fp = mant.partition(".")
        digits = (ip + fp).lstrip("0") or "0"
        point = len(ip) + int(exp)
        if point <= 0:
            r = "0." + "0" * (-point) + digits.rstrip("0")
        elif point >= len(digits):
            r = digits + "0" * (point - len(digits))
        else:
            r = digits[:point] + "." + digits[point:]
        r = ("-" if neg else "") + r
    if r.endswith(".0"):
        r = r[:-2]
    return r


def go_json(x) -> str:
    if x is None:
        return "null"
    if x is True:
        return "true"
    if x is False:
        return "false"
    if isinstance(x, int):
        return str(x)
    if isinstance(x, float):
        return json_float(x)
    if isinstance(x, str):
        return json_string(x)
    if isinstance(x, _Obj):
        return "{" + ",".join(json_string(k) + ":" + go_json(val) for k, val in x) + "}"
    if isinstance(x, list):
        return "[" + ",".join(go_json(e) for e in x) + "]"
    raise ValueError(f"json: unsupported value {x!r}")


# --- Go fmt renderings of a few wire types ---------------------------------------------

def id_string(i) -> str:
    """wire.Id's String(): ``blessing,name``."""
    return f"{i.Blessing},{i.Name}"


def acl_v(acl) -> str:
    """``%v`` of an access.AccessList: ``{[in ...] [notin ...]}``."""
    ins, notins = access.acl_parts(acl)
    return "{[" + " ".join(map(str, ins)) + "] [" + " ".join(map(str, notins)) + "]}"


def acl_plus_v(acl) -> str:
    ins, notins = access.acl_parts(acl)
    return "{In:[" + " ".join(map(str, ins)) + "] NotIn:[" + " ".join(map(str, notins)) + "]}"


def perms_v(perms, plus=False) -> str:
    """``%v`` (or ``%+v``) of access.Permissions: a map, keys sorted as fmt does."""
    f = acl_plus_v if plus else acl_v
    items = sorted(dict(perms or {}).items())
    return "map[" + " ".join(f"{tag}:{f(acl)}" for tag, acl in items) + "]"


def ids_v(ids) -> str:
    return "[" + " ".join(id_string(i) for i in (ids or ())) + "]"


def strings_v(ss) -> str:
    return "[" + " ".join(map(str, ss or ())) + "]"


def spec_plus_v(spec) -> str:
    """``%+v`` of a wire.SyncgroupSpec."""
    return ("{Description:%s PublishSyncbaseName:%s Perms:%s Collections:%s MountTables:%s "
            "IsPrivate:%s}" % (spec.Description, spec.PublishSyncbaseName,
                               perms_v(spec.Perms, plus=True), ids_v(spec.Collections),
                               strings_v(spec.MountTables),
                               "true" if spec.IsPrivate else "false"))


def collection_info_v(info) -> str:
    """``%v`` of a *wire.StoreChangeCollectionInfo: ``&{map[Tag:{} ...] map[...]}``."""
    info = _plain(info)             # Go's daemon sends it as an optional (*T) in the any
    allowed = sorted(str(t) for t in (getattr(info, "Allowed", None) or ()))
    return ("&{map[" + " ".join(f"{t}:{{}}" for t in allowed) + "] "
            + perms_v(getattr(info, "Perms", None)) + "}")
