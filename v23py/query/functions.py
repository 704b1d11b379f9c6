"""syncQL's built-in functions (Go's queryfunctions) and operand conversions.

A function whose arguments are all literals (or already computed functions)
runs at check time and its result replaces the call in the AST; otherwise it
runs per row, where any error makes its value nil.  Argument types of literal
arguments are checked at check time with Go's error ids and messages.

All of Go v0.2.0's functions are here.  Where Go leans on its standard library
the port covers the common ground: ``Sprintf`` knows the verbs %v %s %d %f %g %e
%x %X %o %b %c %q %t with flags/width/precision; ``Time`` parses Go reference
layouts (see ``gotime``); ``Str`` of a composite value is Go's vdl.Value String
with map and set entries sorted (Go's order is random); the "Local" zone is UTC.
"""
from __future__ import annotations

import html
import math

from v23py import verror, vdl
from v23py.vdl import Kind
from v23py.query import errors as E, gotime
from v23py.query.parser import (
    Operand, T_BIGINT, T_BIGRAT, T_BOOL, T_FIELD, T_FLOAT, T_FUNC, T_INT, T_NIL, T_OBJECT, T_STR,
    T_TIME, T_UINT, LITERAL_TYPES)
from v23py.query.values import GoTime


class ConvError(Exception):
    """A conversion failure (Go's plain errors.New values)."""


def _err(msg):
    return ConvError(msg)


# --- conversions (Go's conversions package) -----------------------------------

def to_str(o):
    if o.type == T_STR:
        return o
    raise _err("cannot convert operand to string")


def to_time(o):
    if o.type == T_TIME:
        return o
    raise _err("cannot convert operand to time")


def to_float(o):
    t = o.type
    if t == T_FLOAT:
        return o
    if t in (T_INT, T_UINT):
        return Operand(T_FLOAT, o.off, float(o.value))
    if t == T_BOOL:
        raise _err("cannot convert bool to float64")
    if t == T_OBJECT:
        raise _err("cannot convert object to float64")
    raise _err("cannot convert operand to float64")


def to_int(o):
    t = o.type
    if t == T_INT:
        return o
    if t == T_BOOL:
        raise _err("cannot convert bool to int64")
    if t == T_OBJECT:
        raise _err("cannot convert object to int64")
    raise _err("cannot convert operand to int64")


def to_bool(o):
    if o.type == T_BOOL:
        return o
    if o.type == T_STR:
        low = o.value.lower()
        if low in ("true", "false"):
            return Operand(T_BOOL, o.off, low == "true")
        raise _err("cannot convert object to bool")
    raise _err("cannot convert operand to bool")


def to_uint(o):
    if o.type == T_UINT:
        return o
    if o.type == T_BOOL:
        raise _err("cannot convert bool to int64")
    if o.type == T_OBJECT:
        raise _err("cannot convert object to int64")
    raise _err("cannot convert operand to int64")


_CHECKS = {
    T_BIGINT: (to_int, "BigIntConversionError", "Can't convert to BigInt"),
    T_BIGRAT: (to_float, "BigRatConversionError", "can't convert to BigRat"),
    T_BOOL: (to_bool, "BoolConversionError", "can't convert to Bool"),
    T_FLOAT: (to_float, "FloatConversionError", "can't convert to float"),
    T_INT: (to_int, "IntConversionError", "can't convert to int"),
    T_STR: (to_str, "StringConversionError", "can't convert to string"),
    T_TIME: (to_time, "TimeConversionError", "can't convert to time"),
    T_UINT: (to_uint, "UintConversionError", "can't convert to Uint"),
}


def _err_param(e):
    return verror.VError(verror.Unknown.id, verror.NoRetry, str(e), ["", "", str(e)])


def str_op(off, s):
    return Operand(T_STR, off, s)


def int_op(off, i):
    i = int(i)
    if not -(1 << 63) <= i < (1 << 63):
        i = (i + (1 << 63)) % (1 << 64) - (1 << 63)
    return Operand(T_INT, off, i)


def float_op(off, f):
    return Operand(T_FLOAT, off, float(f))


def bool_op(off, b):
    return Operand(T_BOOL, off, bool(b))


def time_op(off, t):
    return Operand(T_TIME, off, t)


# --- time ---------------------------------------------------------------------

def _time(off, args):
    layout, value = to_str(args[0]).value, to_str(args[1]).value
    try:
        return time_op(off, gotime.parse_time(layout, value))
    except ValueError as e:
        raise ConvError(str(e)) from None


def _now(off, args):
    import time
    return time_op(off, GoTime(time.time_ns(), 0, "UTC"))


def _in_location(args):
    t = to_time(args[0]).value
    name = to_str(args[1]).value
    try:
        tz, zname = gotime.load_location(name)
    except ValueError as e:
        raise ConvError(str(e)) from None
    return t.in_zone(tz, zname)


def _part(fn):
    def impl(off, args):
        t = _in_location(args)
        dt, ns = t.fields()
        return int_op(off, fn(dt, ns))
    return impl


# --- strings --------------------------------------------------------------------

def _go_lower(s):
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in s)


def _go_upper(s):
    return "".join(c.upper() if len(c.upper()) == 1 else c for c in s)


_GO_SPACE = "".join(map(chr, (  # Go's unicode.IsSpace
    0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x20, 0x85, 0xa0, 0x1680, *range(0x2000, 0x200b),
    0x2028, 0x2029, 0x202f, 0x205f, 0x3000)))


def _str(off, args):
    o = args[0]
    t = o.type
    if t == T_STR:
        return o
    if t == T_BOOL:
        s = "true" if o.value else "false"
    elif t == T_FLOAT:
        s = format_go_float(o.value)
    elif t in (T_INT, T_UINT, T_BIGINT):
        s = str(o.value)
    elif t == T_TIME:
        s = o.value.format()
    elif t == T_OBJECT:
        ty, v = o.value
        s = v.name if ty.kind == Kind.TYPEOBJECT and isinstance(v, vdl.Type) else \
            value_string(ty, v)
    else:
        s = ""
    return Operand(T_STR, o.off, s)


def format_go_float(f: float) -> str:
    """strconv.FormatFloat(f, 'f', -1, 64)."""
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    r = repr(f)
    if "e" in r or "E" in r:
        from decimal import Decimal
        d = Decimal(r)
        s = format(d, "f")
    else:
        s = r
    if s.endswith(".0"):
        s = s[:-2]
    if s == "-0":
        s = "-0"
    return s


_COMPOSITE = frozenset((Kind.ARRAY, Kind.LIST, Kind.SET, Kind.MAP, Kind.STRUCT, Kind.UNION))


def value_string(t, v) -> str:
    """Go's vdl.Value.String(): the type, then the value (maps/sets in sorted order)."""
    if t == vdl.BoolType or t == vdl.StringType:
        return format_value(t, v)
    if t.kind in _COMPOSITE and not t.is_bytes():
        return str(t) + format_value(t, v)
    return f"{t}({format_value(t, v)})"


def format_value(t, v) -> str:
    """The value part of Go's vdl.Value.String()."""
    from v23py.query.values import deref
    k = t.kind
    if k in (Kind.ANY, Kind.OPTIONAL):
        if v is None:
            return "nil"
        t2, v2 = deref(t, v)
        return value_string(t2, v2)
    if k == Kind.STRING:
        return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'
    if k == Kind.BOOL:
        return "true" if v else "false"
    if k in (Kind.FLOAT32, Kind.FLOAT64):
        return format_go_float(float(v))
    if k == Kind.ENUM:
        return v.label if hasattr(v, "label") else str(v)
    if k == Kind.TYPEOBJECT:
        return str(v)
    if t.is_bytes():
        return '"' + bytes(v).decode("latin-1") + '"'
    if k in (Kind.LIST, Kind.ARRAY):
        return "{" + ", ".join(format_value(t.elem, x) for x in v) + "}"
    if k == Kind.SET:
        return "{" + ", ".join(sorted(format_value(t.key, x) for x in v)) + "}"
    if k == Kind.MAP:
        return "{" + ", ".join(sorted(f"{format_value(t.key, a)}: {format_value(t.elem, b)}"
                                      for a, b in v.items())) + "}"
    if k == Kind.STRUCT:
        if t.name == "time.Time":
            return GoTime.from_wire(v).format()
        return "{" + ", ".join(f"{f.name}: {format_value(f.type, getattr(v, f.name))}"
                               for f in t.fields) + "}"
    if k == Kind.UNION:
        f = t.fields[v.index]
        return "{" + f"{f.name}: {format_value(f.type, v.value)}" + "}"
    return str(int(v)) if k in (Kind.INT8, Kind.INT16, Kind.INT32, Kind.INT64, Kind.BYTE,
                                Kind.UINT16, Kind.UINT32, Kind.UINT64) else str(v)


def _atoi(off, args):
    o = args[0]
    if o.type != T_STR:
        raise _err("cannot convert operand to int")
    s = o.value
    body = s[1:] if s[:1] in ("+", "-") else s
    if not body or not body.isascii() or not body.isdigit():
        raise ConvError(f'strconv.ParseInt: parsing "{s}": invalid syntax')
    v = int(s)
    if not -(1 << 63) <= v < (1 << 63):
        raise ConvError(f'strconv.ParseInt: parsing "{s}": value out of range')
    return int_op(off, v)


def _atof(off, args):
    o = args[0]
    if o.type != T_STR:
        raise _err("cannot convert operand to float")
    s = o.value
    low = s.lower().lstrip("+-")
    if (not s or s != s.strip() or "_" in s
            or (low not in ("inf", "infinity", "nan") and not all(
                c in "0123456789.eExXpPabcdefABCDEF+-" for c in s))):
        raise ConvError(f'strconv.ParseFloat: parsing "{s}": invalid syntax')
    try:
        if low.startswith("0x"):
            v = float.fromhex(s)
        else:
            v = float(s)
    except (ValueError, OverflowError):
        raise ConvError(f'strconv.ParseFloat: parsing "{s}": invalid syntax') from None
    if math.isinf(v) and low not in ("inf", "infinity"):
        raise ConvError(f'strconv.ParseFloat: parsing "{s}": value out of range')
    return float_op(off, v)


def _html_escape(off, args):
    s = to_str(args[0]).value
    s = s.replace("&", "&amp;").replace("'", "&#39;").replace("<", "&lt;") \
        .replace(">", "&gt;").replace('"', "&#34;")
    return str_op(off, s)


def _html_unescape(off, args):
    return str_op(off, html.unescape(to_str(args[0]).value))


def _type(off, args):
    a = args[0]
    if a.type != T_OBJECT:
        raise E.qerr(E.FunctionTypeInvalidArg, a.off,
                     "function 'Type()' cannot get type of argument -- expecting object")
    t, v = a.value
    if t.kind == Kind.TYPEOBJECT:
        return str_op(off, "typeobject")
    return str_op(off, t.name)


def _type_check(off, args):
    a = args[0]
    if a.type != T_FIELD or not a.column.segments or a.column.segments[0].value != "v":
        raise E.qerr(E.ArgMustBeField, a.off,
                     "argument must be a value field (i.e., must begin with 'v')")


def _split(off, args):
    s, sep = to_str(args[0]).value, to_str(args[1]).value
    if sep == "":
        parts = list(s)
    else:
        parts = s.split(sep)
    return Operand(T_OBJECT, args[0].off, (vdl.StringListType, parts))


_FMT_CONV = set("vdsfgeEGxXqtcboU")


def _sprintf(off, args):
    fmt = args[0].value if args[0].type == T_STR else ""
    vals = []
    for a in args[1:]:
        if a.type == T_OBJECT:
            vals.append(format_value(*a.value))
        elif a.type == T_TIME:
            vals.append(a.value.format())
        else:
            vals.append(a.value)
    return str_op(off, go_sprintf(fmt, vals))


_MAX_WIDTH = 1_000_000     # Go's fmt: the largest width or precision


def go_sprintf(fmt: str, vals) -> str:
    """A subset of Go's fmt.Sprintf: %v %s %d %f %g %e %x %X %q %t %c %b %o %% with flags."""
    out, i, ai = [], 0, 0
    while i < len(fmt):
        c = fmt[i]
        if c != "%":
            out.append(c)
            i += 1
            continue
        j = i + 1
        while j < len(fmt) and fmt[j] in "+-# 0":
            j += 1
        k = j
        while j < len(fmt) and fmt[j] in "0123456789.":
            j += 1
        if any(len(n) > 7 or int(n or 0) > _MAX_WIDTH for n in fmt[k:j].split(".")):
            # Go's fmt: a width or precision over 1e6 takes the rest of the format
            out.append("%!(NOVERB)")
            break
        if j >= len(fmt):
            out.append("%!(NOVERB)")
            break
        verb, flags = fmt[j], fmt[i + 1:j]
        i = j + 1
        if verb == "%":
            out.append("%")
            continue
        if ai >= len(vals):
            out.append(f"%!{verb}(MISSING)")
            continue
        v = vals[ai]
        ai += 1
        out.append(_fmt_one(verb, flags, v))
    if ai < len(vals):
        out.append("%!(EXTRA " + ", ".join(_go_v(v) for v in vals[ai:]) + ")")
    return "".join(out)


def go_g(f: float, threshold: int = 6) -> str:
    """Go's shortest %g (threshold 6) / %v (threshold 21) rendering of a float64."""
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    if f == 0:
        return "-0" if math.copysign(1, f) < 0 else "0"
    from decimal import Decimal
    sign, digits, exp = Decimal(repr(f)).normalize().as_tuple()
    ds = "".join(map(str, digits))
    e10 = len(ds) - 1 + exp          # exponent of the first digit
    neg = "-" if sign else ""
    if e10 < -4 or e10 >= threshold:
        mant = ds[0] + ("." + ds[1:] if len(ds) > 1 else "")
        return f"{neg}{mant}e{'+' if e10 >= 0 else '-'}{abs(e10):02d}"
    if e10 < 0:
        return f"{neg}0.{'0' * (-e10 - 1)}{ds}"
    if len(ds) <= e10 + 1:
        return neg + ds + "0" * (e10 + 1 - len(ds))
    return f"{neg}{ds[:e10 + 1]}.{ds[e10 + 1:]}"


def _go_v(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return go_g(v, 21)
    return str(v)


def _fmt_one(verb, flags, v):
    try:
        if verb in ("v", "s"):
            return ("%" + flags + "s") % _go_v(v)
        if verb == "t":
            return ("%" + flags + "s") % ("true" if v else "false") if isinstance(v, bool) \
                else f"%!t({_go_v(v)})"
        if verb == "q":
            s = str(v)
            return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if verb in "dxXobc":
            if isinstance(v, bool) or not isinstance(v, int):
                return f"%!{verb}({_go_v(v)})"
            if verb == "b":
                return format(v, "b")
            if verb == "c":
                return chr(v)
            return ("%" + flags + verb) % v
        if verb in "feEgG":
            if isinstance(v, bool) or not isinstance(v, float):
                return f"%!{verb}({_go_v(v)})"
            if verb in "gG" and not flags:
                r = go_g(v)
                return r.upper() if verb == "G" else r
            return ("%" + flags + verb) % v
    except (TypeError, ValueError, OverflowError):
        pass
    return f"%!{verb}({_go_v(v)})"


def _strcat(off, args):
    return str_op(off, "".join(to_str(a).value for a in args))


def _byte_index(s, sub, last=False):
    b, sb = s.encode("utf-8", "surrogatepass"), sub.encode("utf-8", "surrogatepass")
    return b.rfind(sb) if last else b.find(sb)


def _strindex(off, args):
    return int_op(off, _byte_index(to_str(args[0]).value, to_str(args[1]).value))


def _strlastindex(off, args):
    return int_op(off, _byte_index(to_str(args[0]).value, to_str(args[1]).value, True))


def _strrepeat(off, args):
    s, n = to_str(args[0]).value, to_int(args[1]).value
    if n <= 0:
        return str_op(off, "")
    if len(s) * n > 10_000_000:
        raise ConvError("strings: Repeat output length overflow")
    return str_op(off, s * n)


def _strreplace(off, args):
    s, old, new = (to_str(a).value for a in args[:3])
    return str_op(off, s.replace(old, new, 1))


def _len(off, args):
    a = args[0]
    if a.type == T_NIL:
        return int_op(a.off, 0)
    if a.type == T_OBJECT:
        t, v = a.value
        if t.kind in (Kind.ARRAY, Kind.LIST, Kind.MAP, Kind.SET):
            return int_op(a.off, len(v))
    elif a.type == T_STR:
        return int_op(a.off, len(a.value.encode("utf-8", "surrogatepass")))
    raise E.qerr(E.FunctionLenInvalidArg, a.off,
                 "function 'Len()' expects array, list, set, map, string or nil")


# --- math ------------------------------------------------------------------------

def _f1(fn):
    def impl(off, args):
        return float_op(off, fn(to_float(args[0]).value))
    return impl


def _f2(fn):
    def impl(off, args):
        return float_op(off, fn(to_float(args[0]).value, to_float(args[1]).value))
    return impl


def _log(x):
    if math.isnan(x) or x < 0:
        return math.nan
    if x == 0:
        return -math.inf
    return math.log(x)


def _log10(x):
    if math.isnan(x) or x < 0:
        return math.nan
    if x == 0:
        return -math.inf
    return math.log10(x)


def _pow(x, y):
    try:
        return math.pow(x, y)
    except OverflowError:
        return math.inf if x > 0 or float(y).is_integer() and int(y) % 2 == 0 else -math.inf
    except ValueError:
        if x == 0:
            if y < 0:
                return math.copysign(math.inf, x) if float(y).is_integer() and int(y) % 2 \
                    else math.inf
        return math.nan


def _mod(x, y):
    if y == 0 or math.isinf(x) or math.isnan(x) or math.isnan(y):
        return math.nan
    return math.fmod(x, y)


def _remainder(x, y):
    if y == 0 or math.isinf(x) or math.isnan(x) or math.isnan(y):
        return math.nan
    return math.remainder(x, y)


def _trunc(x):
    if math.isinf(x) or math.isnan(x):
        return x
    return float(math.trunc(x))


def _ceil(x):
    return x if math.isinf(x) or math.isnan(x) else float(math.ceil(x))


def _floor(x):
    return x if math.isinf(x) or math.isnan(x) else float(math.floor(x))


def _sign(i):
    return -1 if i < 0 else (0 if i == 0 else 1)


def _inf(off, args):
    s = _sign(to_int(args[0]).value)
    return float_op(off, math.inf if s >= 0 else -math.inf)


def _isinf(off, args):
    f, s = to_float(args[0]).value, _sign(to_int(args[1]).value)
    return bool_op(off, (s >= 0 and f == math.inf) or (s <= 0 and f == -math.inf))


def _isnan(off, args):
    return bool_op(off, math.isnan(to_float(args[0]).value))


def _nan(off, args):
    return float_op(off, math.nan)


def _pow10(off, args):
    n = to_int(args[0]).value
    if n < -323:
        return float_op(off, 0.0)
    if n > 308:
        return float_op(off, math.inf)
    return float_op(off, float(10.0 ** n) if n >= 0 else float(f"1e{n}"))


# --- location check at check time ------------------------------------------------

def _location_check(off, args):
    a = args[1]
    if a.type in LITERAL_TYPES:
        loc = a
    elif a.type == T_FUNC and a.function.computed:
        loc = a.function.ret_value
    else:
        return
    try:
        name = to_str(loc).value
        gotime.load_location(name)
    except (ConvError, ValueError) as e:
        raise E.qerr(E.LocationConversionError, a.off, f"can't convert to location: {e}",
                     _err_param(e)) from None


class _F:
    __slots__ = ("arg_types", "varargs", "vararg_type", "ret", "fn", "check")

    def __init__(self, arg_types, varargs, vararg_type, ret, fn, check=None):
        self.arg_types, self.varargs, self.vararg_type = arg_types, varargs, vararg_type
        self.ret, self.fn, self.check = ret, fn, check


_TL = [T_TIME, T_STR]
FUNCTIONS = {
    "Time": _F([T_STR, T_STR], False, T_NIL, T_TIME, _time),
    "Now": _F([], False, T_NIL, T_TIME, _now),
    "Year": _F(_TL, False, T_NIL, T_INT, _part(lambda d, n: d.year), _location_check),
    "Month": _F(_TL, False, T_NIL, T_INT, _part(lambda d, n: d.month), _location_check),
    "Day": _F(_TL, False, T_NIL, T_INT, _part(lambda d, n: d.day), _location_check),
    "Hour": _F(_TL, False, T_NIL, T_INT, _part(lambda d, n: d.hour), _location_check),
    "Minute": _F(_TL, False, T_NIL, T_INT, _part(lambda d, n: d.minute), _location_check),
    "Second": _F(_TL, False, T_NIL, T_INT, _part(lambda d, n: d.second), _location_check),
    "Nanosecond": _F(_TL, False, T_NIL, T_INT, _part(lambda d, n: n), _location_check),
    "Weekday": _F(_TL, False, T_NIL, T_INT, _part(lambda d, n: (d.weekday() + 1) % 7),
                  _location_check),
    "YearDay": _F(_TL, False, T_NIL, T_INT, _part(lambda d, n: d.timetuple().tm_yday),
                  _location_check),
    "Atoi": _F([T_STR], False, T_NIL, T_INT, _atoi),
    "Atof": _F([T_STR], False, T_NIL, T_FLOAT, _atof),
    "HtmlEscape": _F([T_STR], False, T_NIL, T_STR, _html_escape),
    "HtmlUnescape": _F([T_STR], False, T_NIL, T_STR, _html_unescape),
    "Lowercase": _F([T_STR], False, T_NIL, T_STR,
                    lambda off, a: str_op(off, _go_lower(to_str(a[0]).value))),
    "Split": _F([T_STR, T_STR], False, T_NIL, T_OBJECT, _split),
    "Type": _F([T_OBJECT], False, T_NIL, T_STR, _type, _type_check),
    "Uppercase": _F([T_STR], False, T_NIL, T_STR,
                    lambda off, a: str_op(off, _go_upper(to_str(a[0]).value))),
    "RuneCount": _F([T_STR], False, T_NIL, T_INT,
                    lambda off, a: int_op(off, len(to_str(a[0]).value))),
    "Sprintf": _F([T_STR], True, T_NIL, T_STR, _sprintf),
    "Str": _F([T_NIL], False, T_NIL, T_STR, _str),
    "StrCat": _F([T_STR, T_STR], True, T_STR, T_STR, _strcat),
    "StrIndex": _F([T_STR, T_STR], False, T_NIL, T_INT, _strindex),
    "StrRepeat": _F([T_STR, T_INT], False, T_NIL, T_STR, _strrepeat),
    "StrReplace": _F([T_STR, T_STR, T_STR], False, T_NIL, T_STR, _strreplace),
    "StrLastIndex": _F([T_STR, T_STR], False, T_NIL, T_INT, _strlastindex),
    "Trim": _F([T_STR], False, T_NIL, T_STR,
               lambda off, a: str_op(off, to_str(a[0]).value.strip(_GO_SPACE))),
    "TrimLeft": _F([T_STR], False, T_NIL, T_STR,
                   lambda off, a: str_op(off, to_str(a[0]).value.lstrip(_GO_SPACE))),
    "TrimRight": _F([T_STR], False, T_NIL, T_STR,
                    lambda off, a: str_op(off, to_str(a[0]).value.rstrip(_GO_SPACE))),
    "Ceiling": _F([T_FLOAT], False, T_NIL, T_FLOAT, _f1(_ceil)),
    "Floor": _F([T_FLOAT], False, T_NIL, T_FLOAT, _f1(_floor)),
    "Inf": _F([T_INT], False, T_NIL, T_FLOAT, _inf),
    "IsInf": _F([T_FLOAT, T_INT], False, T_NIL, T_BOOL, _isinf),
    "IsNaN": _F([T_FLOAT], False, T_NIL, T_BOOL, _isnan),
    "Log": _F([T_FLOAT], False, T_NIL, T_FLOAT, _f1(_log)),
    "Log10": _F([T_FLOAT], False, T_NIL, T_FLOAT, _f1(_log10)),
    "NaN": _F([], False, T_NIL, T_FLOAT, _nan),
    "Pow": _F([T_FLOAT, T_FLOAT], False, T_NIL, T_FLOAT, _f2(_pow)),
    "Pow10": _F([T_INT], False, T_NIL, T_FLOAT, _pow10),
    "Mod": _F([T_FLOAT, T_FLOAT], False, T_NIL, T_FLOAT, _f2(_mod)),
    "Truncate": _F([T_FLOAT], False, T_NIL, T_FLOAT, _f1(_trunc)),
    "Remainder": _F([T_FLOAT, T_FLOAT], False, T_NIL, T_FLOAT, _f2(_remainder)),
    "Len": _F([T_OBJECT], False, T_NIL, T_INT, _len),
}
_LOWER = {k.lower(): k for k in FUNCTIONS}


def lookup(f):
    entry = FUNCTIONS.get(f.name)
    if entry is None:
        correct = _LOWER.get(f.name.lower())
        if correct is None:
            raise E.qerr(E.FunctionNotFound, f.off, f"function '{f.name}' not found", f.name)
        raise E.qerr(E.DidYouMeanFunction, f.off, f"did you mean: '{correct}'?", correct)
    return entry


def exec_function(f, args):
    """Run ``f`` on resolved operands; raises QueryError/ConvError on failure."""
    return lookup(f).fn(f.off, args)


def _check_arg(arg_type, arg):
    if arg.type in LITERAL_TYPES:
        o = arg
    elif arg.type == T_FUNC and arg.function.computed:
        o = arg.function.ret_value
    else:
        return
    spec = _CHECKS.get(arg_type)
    if spec is None:
        return
    conv, name, text = spec
    try:
        conv(o)
    except ConvError as e:
        raise E.qerr(E.IDS[name], arg.off, f"{text}: {e}", _err_param(e)) from None


def check_function(f):
    """Go's CheckFunction: arity, literal argument types, and early execution."""
    entry = lookup(f)
    f.arg_types, f.ret_type = entry.arg_types, entry.ret
    n, want = len(f.args), len(entry.arg_types)
    if not entry.varargs and n != want:
        raise E.qerr(E.FunctionArgCount, f.off,
                     f"function '{f.name}' expects {want}args, found: {n}", f.name, want, n)
    if entry.varargs and n < want:
        raise E.qerr(E.FunctionAtLeastArgCount, f.off,
                     f"function '{f.name}' expects at least {want}args, found: {n}",
                     f.name, want, n)
    for i in range(want):
        _check_arg(entry.arg_types[i], f.args[i])
    if entry.varargs and entry.vararg_type != T_NIL:
        for a in f.args[want:]:
            _check_arg(entry.vararg_type, a)
    if all(a.type in LITERAL_TYPES or (a.type == T_FUNC and a.function.computed)
           for a in f.args):
        args = [a.function.ret_value if a.type == T_FUNC else a for a in f.args]
        try:
            f.ret_value = entry.fn(f.off, args)
        except ConvError as e:
            raise verror.VError(verror.Unknown.id, verror.NoRetry, str(e),
                                ["", "", str(e)]) from None
        f.computed = True
        return
    if entry.check is not None:
        entry.check(f.off, f.args)
