"""Conversion of Python values to the representation of a VDL type."""
from __future__ import annotations

import math

from v23py import verror
from v23py.vdl._types import FLOAT_KINDS, INT_KINDS, INT_RANGES, ErrorType, Kind, Type
from v23py.vdl._values import Enum, Struct, Typed, Union, class_for, type_of

_FLOAT32_MAX = 3.4028234663852886e38


def _bad(t: Type, v, why: str = ""):
    return verror.BadArg.new(f"cannot convert {type(v).__name__} {v!r:.80} to {str(t)[:120]}"
                             + (f": {why}" if why else ""))


def convert(t: Type, v):
    if isinstance(v, Typed):
        if t.kind == Kind.ANY:
            return v
        v = v.value
    k = t.kind
    if t == ErrorType:
        if v is None or isinstance(v, verror.VError):
            return v
        if isinstance(v, BaseException):
            return verror.from_exception(v)
        raise _bad(t, v)
    if k == Kind.ANY:
        if v is not None:
            type_of(v)  # must be typeable
        return v
    if k == Kind.OPTIONAL:
        return None if v is None else convert(t.elem, v)
    if k == Kind.TYPEOBJECT:
        if isinstance(v, Type):
            return v
        raise _bad(t, v)
    cls = class_for(t) if t.name else None
    if k == Kind.BOOL:
        if not isinstance(v, (bool, int)) or v not in (0, 1):
            raise _bad(t, v)
        return cls(bool(v)) if cls else bool(v)
    if k in INT_KINDS:
        if isinstance(v, bool) or not isinstance(v, int):
            if isinstance(v, float) and v.is_integer():
                v = int(v)
            else:
                raise _bad(t, v)
        lo, hi = INT_RANGES[k]
        if not lo <= v <= hi:
            raise _bad(t, v, "out of range")
        if cls:
            return v if type(v) is cls else cls(v)
        return int(v)
    if k in FLOAT_KINDS:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise _bad(t, v)
        f = float(v)
        if k == Kind.FLOAT32 and math.isfinite(f) and abs(f) > _FLOAT32_MAX:
            raise _bad(t, v, "out of float32 range")
        return cls(f) if cls else f
    if k == Kind.STRING:
        if not isinstance(v, str):
            raise _bad(t, v)
        return cls(v) if cls else str(v)
    if k == Kind.ENUM:
        ecls = class_for(t)
        if isinstance(v, Enum):
            v = v.label
        if not isinstance(v, (str, int)) or isinstance(v, bool):
            raise _bad(t, v)
        return ecls(v)
    if k in (Kind.LIST, Kind.ARRAY) and t.elem.kind == Kind.BYTE:
        if isinstance(v, str):
            raise _bad(t, v, "use bytes")
        try:
            b = bytes(v)
        except (TypeError, ValueError):
            raise _bad(t, v) from None
        if k == Kind.ARRAY and len(b) != t.len:
            raise _bad(t, v, f"need {t.len} bytes")
        return cls(b) if cls else b
    if k == Kind.LIST:
        if isinstance(v, (str, bytes, dict, set)) or not hasattr(v, "__iter__"):
            raise _bad(t, v)
        out = [convert(t.elem, x) for x in v]
        return cls(out) if cls else out
    if k == Kind.ARRAY:
        if isinstance(v, (str, bytes, dict, set)) or not hasattr(v, "__iter__"):
            raise _bad(t, v)
        out = tuple(convert(t.elem, x) for x in v)
        if len(out) != t.len:
            raise _bad(t, v, f"need {t.len} elements")
        return cls(out) if cls else out
    if k == Kind.SET:
        if isinstance(v, (str, bytes, dict)) or not hasattr(v, "__iter__"):
            raise _bad(t, v)
        out = {convert(t.key, x) for x in v}
        return cls(out) if cls else out
    if k == Kind.MAP:
        if not isinstance(v, dict):
            raise _bad(t, v)
        out = {convert(t.key, a): convert(t.elem, b) for a, b in v.items()}
        return cls(out) if cls else out
    if k == Kind.STRUCT:
        scls = class_for(t)
        if isinstance(v, Struct) and v._vdl_type == t:
            return v
        if isinstance(v, dict):
            get = v.get
            unknown = set(v) - {f.name for f in t.fields}
            if unknown:
                raise _bad(t, v, f"unknown fields {sorted(unknown)}")
            has = v.__contains__
        elif isinstance(v, Struct):
            def get(n, d=None, _v=v):
                return getattr(_v, n, d)

            def has(n, _v=v):
                return hasattr(_v, n)
        else:
            raise _bad(t, v)
        fields = {f.name: convert(f.type, get(f.name)) for f in t.fields if has(f.name)}
        return scls(**fields)
    if k == Kind.UNION:
        ucls = class_for(t)
        if isinstance(v, Union):
            if v._vdl_type == t:
                return v
            name, val = v.name, v.value
        elif isinstance(v, tuple) and len(v) == 2 and isinstance(v[0], (str, int)):
            name, val = v
        else:
            raise _bad(t, v)
        i = t.field_index(name) if isinstance(name, str) else name
        if not isinstance(i, int) or not 0 <= i < len(t.fields):
            raise _bad(t, v, f"no field {name!r}")
        return ucls(i, convert(t.fields[i].type, val))
    raise _bad(t, v)
