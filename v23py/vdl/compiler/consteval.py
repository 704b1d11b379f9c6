"""The constant evaluator of the VDL checker: names, literals, composites, conversions
and operators, with Go's rules (a mixin of the package checker)."""
from __future__ import annotations

import math
from fractions import Fraction

from v23py import vdl, verror
from v23py.gostrings import go_bytes, go_string
from v23py.vdl import Kind

from . import ast as A
from .lexer import Pos, error
from v23py.vdl.compiler.model import (
    Const, MAX_EVAL_DEPTH, NIL, _INT_KINDS, _NUM_KINDS, _exported, _float32)



class _ConvError(Exception):
    pass

def _tname(t) -> str:
    if t is None:
        return "untyped"
    return t.name or str(t)

def _show(v) -> str:
    if v is NIL:
        return "nil"
    if isinstance(v, Fraction):
        return str(float(v)) if v.denominator != 1 else str(v.numerator)
    if isinstance(v, vdl.Enum):
        return v.label
    s = repr(v)
    return s if len(s) < 60 else s[:57] + "..."

def _default_type(v):
    if isinstance(v, bool):
        return vdl.BoolType
    if isinstance(v, int):
        return vdl.Int64Type
    if isinstance(v, (Fraction, float)):
        return vdl.Float64Type
    if isinstance(v, str):
        return vdl.StringType
    raise _ConvError("untyped value has no default type")

def _is_num(t, v):
    if t is None:
        return isinstance(v, (int, Fraction, float)) and not isinstance(v, bool)
    return t.kind in _NUM_KINDS

def _is_int(t, v):
    if t is None:
        return isinstance(v, int) and not isinstance(v, bool)
    return t.kind in _INT_KINDS

def _num(v):
    if isinstance(v, float):
        return Fraction(v)
    if isinstance(v, Fraction):
        return v
    return int(v)

def _is_zero(t, v):
    try:
        return v == vdl.zero(t) or (v is None)
    except Exception:
        return False

def _mk(t, raw):
    """The contract representation of ``raw`` as a value of ``t``."""
    if t is None:
        return raw
    k = t.kind
    if k == Kind.ARRAY and not isinstance(raw, (bytes, bytearray)):
        raw = tuple(raw)
    if not t.name:
        return raw
    cls = vdl.class_for(t)
    if k == Kind.BOOL:
        return cls(bool(raw))
    return cls(raw)

def _wire_error(e):
    cls = vdl.class_for(vdl.WireErrorType)
    return cls(Id=e.id, RetryCode=vdl.class_for(vdl.WireRetryCodeType)(int(e.retry_code)),
               Msg=e.msg, ParamList=list(e.params))

def _carry(t, v):
    """A value for an ``any`` slot that keeps its exact type ``t``."""
    if getattr(type(v), "_vdl_type", None) == t:
        return v
    return vdl.value(t, v)


class ConstEvaluator:
    """Evaluating constant expressions: the checker's part that gives VDL values."""

    # -- constants -----------------------------------------------------------
    def const(self, name: str, pos: Pos) -> Const:
        st = self.const_state.get(name)
        if st == "busy":
            raise error(pos, f"constant {name} is defined in terms of itself")
        if st is not None:
            return st
        kind, item, f = self.defs[name]
        self.const_state[name] = "busy"
        c = self.eval(item.expr, f, None)
        if c.untyped and c.value is NIL:
            raise error(item.pos, f"const {name}: nil must be typed, e.g. ?T(nil) or any(nil)")
        self.const_state[name] = c
        return c

    def resolve_value(self, name: str, f: A.File, pos: Pos, implicit) -> Const:
        pkg, first, sel = self.split_ref(name, f, pos)
        if pkg is None:
            if first == "true" and not sel:
                return Const(vdl.BoolType, True)
            if first == "false" and not sel:
                return Const(vdl.BoolType, False)
            if first == "nil" and not sel:
                return Const(None, NIL)
            if implicit is not None and not sel:
                lab = self._label(implicit, first)
                if lab is not None:
                    return lab
            raise error(pos, f"const {name} undefined")
        if pkg is self.pkg:
            kind = self.defs[first][0]
            if kind == "const":
                c = self.const(first, pos)
            elif kind == "type":
                c = None
                t = pkg.types[first].type
            else:
                raise error(pos, f"{name} is not a constant")
        else:
            if not _exported(first):
                raise error(pos, f"{name} is not exported")
            if first in pkg.consts:
                c = pkg.consts[first].const
            elif first in pkg.types:
                c = None
                t = pkg.types[first].type
            else:
                raise error(pos, f"const {name} undefined")
        if c is None:
            # A type: only a selector naming an enum label makes a value.
            if len(sel) == 1:
                lab = self._label(t, sel[0])
                if lab is not None:
                    return lab
            raise error(pos, f"{name} is not a constant")
        for s in sel:
            if c.type is not None and c.type.kind == Kind.STRUCT and c.type.field_index(s) >= 0:
                ft = c.type.fields[c.type.field_index(s)].type
                c = Const(ft, getattr(c.value, s))
            else:
                raise error(pos, f"invalid selector {s} on {name}")
        return c

    def _label(self, t, label):
        if t is not None and t.kind == Kind.OPTIONAL:
            t = t.elem
        if t is not None and t.kind == Kind.ENUM and label in t.labels:
            return Const(t, vdl.class_for(t)(label))
        return None

    def eval(self, e: A.Expr, f: A.File, implicit) -> Const:
        self.eval_depth = getattr(self, "eval_depth", 0) + 1
        try:
            if self.eval_depth > MAX_EVAL_DEPTH:
                raise error(e.pos, f"expression nested deeper than {MAX_EVAL_DEPTH} levels")
            return self._eval(e, f, implicit)
        finally:
            self.eval_depth -= 1

    def _eval(self, e: A.Expr, f: A.File, implicit) -> Const:
        if isinstance(e, A.ELit):
            return Const(None, e.value)
        if isinstance(e, A.ENamed):
            return self.resolve_value(e.name, f, e.pos, implicit)
        if isinstance(e, A.EComposite):
            t = implicit
            if e.type is not None:
                t = self.type(e.type, f)
            if t is None:
                raise error(e.pos, "missing type for composite literal")
            return self.composite(t, e, f)
        if isinstance(e, A.ETypeObject):
            return Const(vdl.TypeObjectType, self.type(e.type, f))
        if isinstance(e, A.EConvert):
            t = self.type(e.type, f)
            inner = self.eval(e.expr, f, t)
            return self.convert(inner, t, e.pos, explicit=True)
        if isinstance(e, A.EIndex):
            base = self.eval(e.base, f, None)
            idx = self.eval(e.index, f, None)
            bt = base.type
            if bt is None or bt.kind not in (Kind.LIST, Kind.ARRAY, Kind.MAP):
                raise error(e.pos, "index operator needs a list, array or map constant")
            if bt.kind == Kind.MAP:
                k = self.convert(idx, bt.key, e.index.pos).value
                if k not in base.value:
                    raise error(e.index.pos, f"map key {_show(k)} not found in map")
                return Const(bt.elem, base.value[k])
            i = self.convert(idx, vdl.Uint64Type, e.index.pos).value
            if i >= len(base.value):
                raise error(e.index.pos, f"index {i} out of range")
            v = base.value[i]
            if isinstance(v, int) and bt.elem.kind == Kind.BYTE and not isinstance(v, vdl.Enum):
                v = self.convert(Const(None, v), bt.elem, e.pos).value
            return Const(bt.elem, v)
        if isinstance(e, A.EUnary):
            return self.unary(e, f)
        if isinstance(e, A.EBinary):
            return self.binary(e, f)
        raise error(e.pos, "bad expression")

    # composite literals
    def composite(self, t, e: A.EComposite, f) -> Const:
        opt = t.kind == Kind.OPTIONAL
        base = t.elem if opt else t
        k = base.kind
        desc = f"{_tname(base)} {k} literal"
        if k in (Kind.LIST, Kind.ARRAY):
            items = {}
            nxt = 0
            for kv in e.kvs:
                if kv.key is not None:
                    ic = self.eval(kv.key, f, None)
                    i = self.convert(ic, vdl.Uint64Type, kv.key.pos).value
                else:
                    i = nxt
                if i in items:
                    raise error(kv.value.pos, f"duplicate index {i} in {desc}")
                if k == Kind.ARRAY and i >= base.len:
                    raise error(kv.value.pos, f"index {i} out of range in {desc}")
                items[i] = self.assign(kv.value, base.elem, f, desc)
                nxt = i + 1
            n = base.len if k == Kind.ARRAY else (max(items) + 1 if items else 0)
            vals = [items[i] if i in items else vdl.zero(base.elem) for i in range(n)]
            raw = bytes(int(v) for v in vals) if base.elem.kind == Kind.BYTE else vals
            v = _mk(base, raw)
        elif k == Kind.SET:
            out = set()
            for kv in e.kvs:
                if kv.key is not None:
                    raise error(kv.key.pos, f"invalid key in {desc}")
                key = self.assign(kv.value, base.key, f, desc)
                if key in out:
                    raise error(kv.value.pos, f"duplicate key {_show(key)} in {desc}")
                out.add(key)
            v = _mk(base, out)
        elif k == Kind.MAP:
            out = {}
            for kv in e.kvs:
                if kv.key is None:
                    raise error(kv.value.pos, f"missing key in {desc}")
                key = self.assign(kv.key, base.key, f, desc)
                if key in out:
                    raise error(kv.key.pos, f"duplicate key {_show(key)} in {desc}")
                out[key] = self.assign(kv.value, base.elem, f, desc)
            v = _mk(base, out)
        elif k == Kind.STRUCT:
            vals = {}
            keyed = None
            for i, kv in enumerate(e.kvs):
                if keyed is None:
                    keyed = kv.key is not None
                elif keyed != (kv.key is not None):
                    raise error(kv.value.pos, f"mixed key:value and value in {desc}")
                if keyed:
                    if not isinstance(kv.key, A.ENamed) or "." in kv.key.name:
                        raise error(kv.key.pos, f"invalid field name in {desc}")
                    fi = base.field_index(kv.key.name)
                    if fi < 0:
                        raise error(kv.key.pos, f"unknown field {kv.key.name!r} in {desc}")
                else:
                    fi = i
                    if fi >= len(base.fields):
                        raise error(kv.value.pos, f"too many fields in {desc}")
                fl = base.fields[fi]
                if fl.name in vals:
                    raise error(kv.value.pos, f"duplicate field {fl.name!r} in {desc}")
                vals[fl.name] = self.assign(kv.value, fl.type, f, desc)
            if keyed is False and len(vals) != len(base.fields):
                raise error(e.pos, f"too few fields in {desc}")
            v = vdl.class_for(base)(**vals)
        elif k == Kind.UNION:
            if len(e.kvs) != 1:
                raise error(e.pos, f"invalid {desc} (must have a single entry)")
            kv = e.kvs[0]
            if kv.key is None:
                raise error(e.pos, f"invalid {desc} (must have explicit key and value)")
            if not isinstance(kv.key, A.ENamed) or "." in kv.key.name:
                raise error(kv.key.pos, f"invalid field name in {desc}")
            fi = base.field_index(kv.key.name)
            if fi < 0:
                raise error(kv.key.pos, f"unknown field {kv.key.name!r} in {desc}")
            v = vdl.class_for(base)(fi, self.assign(kv.value, base.fields[fi].type, f, desc))
        else:
            raise error(e.pos, f"{_tname(t)} invalid type for composite literal")
        if t == vdl.ErrorType:
            v = verror.VError(str(v.Id), int(v.RetryCode.index), str(v.Msg), list(v.ParamList))
        return Const(t, v)

    def assign(self, e: A.Expr, t, f, desc):
        """Evaluate ``e`` with implicit type ``t`` and convert it (the value only)."""
        c = self.eval(e, f, t)
        return self.convert(c, t, e.pos, what=desc).value

    # conversions
    def convert(self, c: Const, t, pos: Pos, explicit=False, what="") -> Const:
        try:
            return Const(t, self._conv(c.type, c.value, t))
        except _ConvError as ex:
            src = "untyped const" if c.type is None else _tname(c.type)
            where = f" in {what}" if what else ""
            raise error(pos, f"can't convert {_show(c.value)} ({src}) to {_tname(t)}{where}: {ex}") from None

    def _conv(self, st, v, t):
        k = t.kind
        if k == Kind.ANY:
            if st is None:
                if v is NIL:
                    return None
                st = _default_type(v)
                v = self._conv(None, v, st)
            elif st.kind == Kind.ANY:
                return v
            return _carry(st, v)
        if v is NIL or (st is not None and st.kind in (Kind.ANY, Kind.OPTIONAL) and v is None):
            if k == Kind.OPTIONAL:
                return None
            raise _ConvError("nil is only valid for any, optional and error types")
        if st == vdl.ErrorType and isinstance(v, verror.VError):
            st, v = vdl.WireErrorType, _wire_error(v)
        if k == Kind.OPTIONAL:
            if st is not None and st.kind == Kind.OPTIONAL:
                st = st.elem
            w = self._conv(st, v, t.elem)
            if t == vdl.ErrorType:  # errors are verror.VError values
                return verror.VError(str(w.Id), int(w.RetryCode.index), str(w.Msg), list(w.ParamList))
            return w
        if st is not None and st.kind == Kind.ANY:
            it, iv = vdl.unwrap(v)
            return self._conv(it, iv, t)
        if st is not None and st.kind == Kind.OPTIONAL:
            st = st.elem
        if k == Kind.BOOL:
            if isinstance(v, (bool, int)) and (st is None and isinstance(v, bool)
                                                or st is not None and st.kind == Kind.BOOL):
                return _mk(t, bool(v))
            raise _ConvError("not a bool")
        if k in _NUM_KINDS:
            if st is not None and st.kind not in _NUM_KINDS:
                raise _ConvError("not a number")
            if isinstance(v, (bool, str)) or isinstance(v, vdl.Enum) or v is None:
                raise _ConvError("not a number")
            if k in _INT_KINDS:
                if isinstance(v, float):
                    if not v.is_integer():
                        raise _ConvError("not an integer")
                    v = int(v)
                elif isinstance(v, Fraction):
                    if v.denominator != 1:
                        raise _ConvError("not an integer")
                    v = int(v)
                v = int(v)
                lo, hi = vdl.INT_RANGES[k]
                if not lo <= v <= hi:
                    raise _ConvError(f"overflows {k}")
                return _mk(t, v)
            fv = float(Fraction(v)) if not isinstance(v, float) else float(v)
            if math.isinf(fv):
                raise _ConvError("overflows float")
            if k == Kind.FLOAT32:
                if abs(fv) > 3.4028234663852886e38:
                    raise _ConvError("overflows float32")
                fv = _float32(fv)
            return _mk(t, fv)
        if k == Kind.STRING:
            if isinstance(v, vdl.Enum):
                return _mk(t, v.label)
            if isinstance(v, str) and (st is None or st.kind == Kind.STRING):
                return _mk(t, str(v))
            if isinstance(v, (bytes, bytearray)):
                return _mk(t, go_string(v))
            raise _ConvError("not a string")
        if k == Kind.ENUM:
            label = v.label if isinstance(v, vdl.Enum) else v
            if isinstance(label, str) and not isinstance(v, (bytes,)) and \
                    (st is None or st.kind in (Kind.STRING, Kind.ENUM)):
                if label not in t.labels:
                    raise _ConvError(f"unknown label {label!r}")
                return vdl.class_for(t)(str(label))
            raise _ConvError("not an enum label")
        if k == Kind.TYPEOBJECT:
            if isinstance(v, vdl.Type):
                return v
            raise _ConvError("not a typeobject")
        if k in (Kind.LIST, Kind.ARRAY):
            if t.elem.kind == Kind.BYTE and isinstance(v, str) and (st is None or st.kind == Kind.STRING):
                b = go_bytes(v)
            elif isinstance(v, (bytes, bytearray)):
                b = bytes(v)
            elif isinstance(v, (list, tuple)) and st is not None and st.kind in (Kind.LIST, Kind.ARRAY):
                b = [self._conv(st.elem, x, t.elem) for x in v]
                if t.elem.kind == Kind.BYTE:
                    b = bytes(int(x) for x in b)
            else:
                raise _ConvError("not a list")
            if isinstance(b, bytes) and t.elem.kind != Kind.BYTE:
                b = [self._conv(vdl.ByteType, x, t.elem) for x in b]
            if k == Kind.ARRAY:
                if len(b) > t.len:
                    raise _ConvError(f"too many elements for {t.len}-element array")
                if isinstance(b, bytes):
                    b = b + bytes(t.len - len(b))
                else:
                    b = list(b) + [vdl.zero(t.elem) for _ in range(t.len - len(b))]
            return _mk(t, b)
        if k == Kind.SET:
            if st is not None and st.kind == Kind.SET:
                return _mk(t, {self._conv(st.key, x, t.key) for x in v})
            if st is not None and st.kind == Kind.MAP and st.elem.kind == Kind.BOOL:
                return _mk(t, {self._conv(st.key, x, t.key) for x, y in v.items() if y})
            if st is not None and st.kind == Kind.STRUCT and t.key.kind == Kind.STRING:
                return _mk(t, {self._conv(vdl.StringType, fl.name, t.key)
                               for fl in st.fields if getattr(v, fl.name)})
            raise _ConvError("not a set")
        if k == Kind.MAP:
            if st is not None and st.kind == Kind.MAP:
                return _mk(t, {self._conv(st.key, a, t.key): self._conv(st.elem, b, t.elem)
                               for a, b in v.items()})
            if st is not None and st.kind == Kind.SET and t.elem.kind == Kind.BOOL:
                return _mk(t, {self._conv(st.key, a, t.key): self._conv(vdl.BoolType, True, t.elem)
                               for a in v})
            if st is not None and st.kind == Kind.STRUCT and t.key.kind == Kind.STRING:
                return _mk(t, {self._conv(vdl.StringType, fl.name, t.key):
                               self._conv(fl.type, getattr(v, fl.name), t.elem) for fl in st.fields})
            raise _ConvError("not a map")
        if k == Kind.STRUCT:
            cls = vdl.class_for(t)
            if st is not None and st.kind == Kind.STRUCT:
                if st == t:
                    return v
                vals = {}
                for fl in st.fields:
                    i = t.field_index(fl.name)
                    fv = getattr(v, fl.name)
                    if i < 0:
                        if not _is_zero(fl.type, fv):
                            raise _ConvError(f"no field {fl.name}")
                        continue
                    vals[fl.name] = self._conv(fl.type, fv, t.fields[i].type)
                return cls(**vals)
            if st is not None and st.kind in (Kind.MAP, Kind.SET) and st.key.kind == Kind.STRING:
                vals = {}
                items = v.items() if st.kind == Kind.MAP else ((x, True) for x in v)
                et = st.elem if st.kind == Kind.MAP else vdl.BoolType
                for a, b in items:
                    i = t.field_index(str(a))
                    if i < 0:
                        raise _ConvError(f"no field {a}")
                    vals[str(a)] = self._conv(et, b, t.fields[i].type)
                return cls(**vals)
            raise _ConvError("not a struct")
        if k == Kind.UNION:
            if st is not None and st.kind == Kind.UNION:
                if st == t:
                    return v
                i = t.field_index(v.name)
                if i < 0:
                    raise _ConvError(f"no field {v.name}")
                return vdl.class_for(t)(i, self._conv(st.fields[v.index].type, v.value,
                                                      t.fields[i].type))
            raise _ConvError("not a union")
        raise _ConvError("unsupported conversion")

    # operators
    def unary(self, e: A.EUnary, f) -> Const:
        c = self.eval(e.expr, f, None)
        t, v = c.type, c.value
        k = t.kind if t is not None else None
        if e.op == "!":
            if (t is None and isinstance(v, bool)) or k == Kind.BOOL:
                return Const(t, _mk(t, not v) if t else (not v))
        elif e.op in ("+", "-"):
            if _is_num(t, v):
                r = v if e.op == "+" else -_num(v)
                return self._num_result(t, r, e.pos)
        elif e.op == "^":
            if t is None and isinstance(v, int) and not isinstance(v, bool):
                return Const(None, ~v)
            if k in _INT_KINDS:
                lo, hi = vdl.INT_RANGES[k]
                r = (~int(v)) & hi if lo == 0 else ~int(v)
                return self._num_result(t, r, e.pos)
        raise error(e.pos, f"unary {e.op} undefined for {_show(v)}")

    def _num_result(self, t, r, pos):
        if t is None:
            if isinstance(r, Fraction) and r.denominator == 1 and False:
                r = int(r)
            return Const(None, r)
        return self.convert(Const(None, Fraction(r) if isinstance(r, float) else r), t, pos)

    def binary(self, e: A.EBinary, f) -> Const:
        op = e.op
        if op in ("||", "&&"):
            a = self.eval(e.left, f, None)
            b = self.eval(e.right, f, None)
            t = self._common(a, b, e.pos)
            if not ((t is None and isinstance(a.value, bool)) or (t is not None and t.kind == Kind.BOOL)):
                raise error(e.pos, f"binary {op} needs bool operands")
            r = (bool(a.value) or bool(b.value)) if op == "||" else (bool(a.value) and bool(b.value))
            return Const(t, _mk(t, r) if t else r)
        a = self.eval(e.left, f, None)
        b = self.eval(e.right, f, None)
        if op in ("<<", ">>"):
            if not _is_int(a.type, a.value):
                raise error(e.pos, f"binary {op} needs an integer left operand")
            sh = self.convert(b, vdl.Uint16Type, e.right.pos).value if b.type is None or b.type.kind in _INT_KINDS else None
            if sh is None:
                raise error(e.pos, f"binary {op} needs an unsigned shift count")
            r = int(a.value) << sh if op == "<<" else int(a.value) >> sh
            if a.type is None:
                return Const(None, r)
            return self.convert(Const(None, r), a.type, e.pos)
        t = self._common(a, b, e.pos)
        av, bv = self._in_type(a, t, e.pos), self._in_type(b, t, e.pos)
        k = t.kind if t is not None else None
        if op in ("==", "!=", "<", ">", "<=", ">="):
            if op in ("==", "!="):
                r = av == bv if op == "==" else av != bv
            else:
                if not (_is_num(t, av) or isinstance(av, str)):
                    raise error(e.pos, f"binary {op} undefined for these operands")
                x, y = (_num(av), _num(bv)) if not isinstance(av, str) else (str(av), str(bv))
                r = {"<": x < y, ">": x > y, "<=": x <= y, ">=": x >= y}[op]
            return Const(vdl.BoolType, r)
        if op == "+" and (isinstance(av, str) and not isinstance(av, vdl.Enum)):
            r = str(av) + str(bv)
            return Const(t, _mk(t, r) if t else r)
        if not (_is_num(t, av) and _is_num(t, bv)):
            raise error(e.pos, f"binary {op} undefined for {_show(av)} and {_show(bv)}")
        is_int = (t is None and isinstance(av, int) and isinstance(bv, int)) or k in _INT_KINDS
        x, y = _num(av), _num(bv)
        if op in ("|", "&", "^", "%"):
            if not is_int:
                raise error(e.pos, f"binary {op} needs integer operands")
            x, y = int(x), int(y)
            if op == "%":
                if y == 0:
                    raise error(e.pos, "divide by zero")
                r = abs(x) % abs(y) * (1 if x >= 0 else -1)
            else:
                r = {"|": x | y, "&": x & y, "^": x ^ y}[op]
        elif op == "/":
            if y == 0:
                raise error(e.pos, "divide by zero")
            if is_int:
                q = abs(int(x)) // abs(int(y))
                r = q if (x >= 0) == (y >= 0) else -q
            else:
                r = Fraction(x) / Fraction(y)
        else:
            r = {"+": x + y, "-": x - y, "*": x * y}[op]
        if t is None:
            return Const(None, r)
        return self.convert(Const(None, r), t, e.pos)

    def _common(self, a: Const, b: Const, pos):
        if a.type is None and b.type is None:
            return None
        if a.type is None:
            return b.type
        if b.type is None or a.type == b.type:
            return a.type
        raise error(pos, f"mismatched types {_tname(a.type)} and {_tname(b.type)}")

    def _in_type(self, c: Const, t, pos):
        if t is None:
            return c.value
        if c.type is None:
            return self.convert(c, t, pos).value
        return c.value
