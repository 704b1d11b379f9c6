"""Executing syncQL statements over a datasource (Go's query engine), sans-IO.

A *datasource* is any object with ``get_table(name, write_access) -> table``
(raising an exception when the table cannot be used); a table has
``scan(ranges)`` yielding ``(key, value)`` pairs in ascending key order over
the sorted, disjoint ``[start, limit)`` key ranges given (``limit == ""`` is
unbounded), ``delete(key) -> bool`` (for delete statements), and optionally
``decode(value)`` turning what ``scan`` yields into a self-typed VDL value
(default: VOM-decode bytes).  Values are decoded only when the where clause or
the projection needs them.

    headers, rows = exec_query(db, 'select k, v.Name from Customer where v.Age > ?', [30])
    for row in rows: ...          # each row: a list of self-typed VDL values
"""
from __future__ import annotations

from v23py import vdl, vom
from v23py.vdl import Kind, Typed
from v23py.query import checker, errors as E, functions as F
from v23py.query.parser import (
    AND, EQUAL, GE, GT, IS, ISNOT, LE, LIKE, LT, NE, NOTLIKE, OR, Operand, parse,
    T_BOOL, T_EXPR, T_FIELD, T_FLOAT, T_FUNC, T_INT, T_NIL, T_OBJECT, T_PARAM, T_STR,
    T_TIME, T_UINT, T_BIGINT, T_BIGRAT)
from v23py.query.values import GoTime, NIL, deref, is_nil, of, wrap

INCLUDE, EXCLUDE, FETCH = 0, 1, 2
_INT_KINDS = frozenset((Kind.INT8, Kind.INT16, Kind.INT32, Kind.INT64, Kind.BYTE,
                        Kind.UINT16, Kind.UINT32, Kind.UINT64))
_FLOAT_KINDS = frozenset((Kind.FLOAT32, Kind.FLOAT64))


# --- values -> operands -------------------------------------------------------------

def value_to_operand(t, v, off):
    """Go's ConvertValueToAnOperand for a (type, value) pair."""
    k = t.kind
    if k == Kind.STRING:
        return Operand(T_STR, off, v if type(v) is str else str(v))
    if k in _INT_KINDS:
        i = int(v)
        if i >= 1 << 63:
            i -= 1 << 64
        return Operand(T_INT, off, i)
    if k == Kind.BOOL:
        return Operand(T_BOOL, off, bool(v))
    if k in _FLOAT_KINDS:
        return Operand(T_FLOAT, off, float(v))
    if k == Kind.ENUM:
        return Operand(T_STR, off, v.label if hasattr(v, "label") else str(v))
    if k == Kind.STRUCT and t.name == "time.Time" and v is not None:
        return Operand(T_TIME, off, GoTime.from_wire(v))
    return Operand(T_OBJECT, off, (t, v))


def operand_to_value(o):
    """A self-typed value for a function result or literal (Go's RawBytesOf)."""
    if o is None:
        return None
    t = o.type
    if t in (T_BOOL, T_INT, T_STR):
        return o.value
    if t == T_FLOAT:
        return float(o.value)
    if t == T_TIME:
        return o.value.to_wire()
    if t == T_OBJECT:
        return wrap(*o.value)
    if t == T_UINT:
        return Typed(vdl.Uint64Type, o.value)
    return None


# --- parameters ---------------------------------------------------------------------

def substitute(st, params):
    """Replace each ``?`` of the where clause, in order, by a parameter value."""
    params = list(params)
    if st.where is None:
        if params:
            raise E.qerr(E.TooManyParamValuesSpecified, st.off,
                         "too many parameter values specified")
        return
    cursor = [0]

    def op(o):
        if o.type == T_EXPR:
            expr(o.expr)
        elif o.type == T_FUNC:
            for a in o.function.args:
                op(a)
        elif o.type == T_PARAM:
            if cursor[0] >= len(params):
                raise E.qerr(E.NotEnoughParamValuesSpecified, o.off,
                             "not enough parameter values specified")
            t, v = of(params[cursor[0]])
            cursor[0] += 1
            n = value_to_operand(t, v, o.off)
            o.type, o.value = n.type, n.value

    def expr(e):
        op(e.op1)
        op(e.op2)
    expr(st.where)
    if cursor[0] < len(params):
        raise E.qerr(E.TooManyParamValuesSpecified, st.where_off,
                     "too many parameter values specified")


# --- field resolution --------------------------------------------------------------

def _convert_key(key_type, o):
    """vdl.Convert of a resolved operand into a map/set key type; None if impossible."""
    kt = key_type
    k = kt.kind
    t = o.type
    v = o.value
    if k == Kind.ANY:
        return operand_to_value(o)
    if k in _INT_KINDS:
        if t == T_INT or t == T_UINT:
            i = v
        elif t == T_FLOAT and float(v).is_integer():
            i = int(v)
        else:
            return None
        lo, hi = vdl.INT_RANGES[k]
        return i if lo <= i <= hi else None
    if k in _FLOAT_KINDS:
        if t in (T_FLOAT, T_INT, T_UINT):
            return float(v)
        return None
    if k == Kind.STRING:
        return v if t == T_STR else None
    if k == Kind.BOOL:
        return v if t == T_BOOL else None
    if k == Kind.ENUM:
        if t == T_STR and v in kt.labels:
            return vdl.class_for(kt)(v)
        return None
    if k == Kind.STRUCT and kt.name == "time.Time" and t == T_TIME:
        return vdl.class_for(kt)(**{f.name: getattr(v.to_wire(), f.name) for f in kt.fields})
    if t == T_OBJECT and v[0] == kt:
        return v[1]
    return None


def _with_keys(k, row, obj, seg):
    for key in seg.keys:
        o = resolve_operand(k, row, key)
        if o is None or o.type == T_NIL:
            return NIL
        t, val = obj
        kind = t.kind
        if kind in (Kind.ARRAY, Kind.LIST):
            if o.type in (T_INT, T_UINT):
                i = o.value
            elif o.type == T_FLOAT and float(o.value).is_integer():
                i = int(o.value)
            else:
                return NIL
            if not -(1 << 31) <= i < (1 << 31) or i < 0 or i >= len(val):
                return NIL
            obj = (t.elem, val[i])
        elif kind in (Kind.MAP, Kind.SET):
            kv = _convert_key(t.key, o)
            if kv is None:
                return NIL
            try:
                if kind == Kind.MAP:
                    if kv not in val:
                        return NIL
                    obj = (t.elem, val[kv])
                else:
                    obj = (vdl.BoolType, kv in val)
            except TypeError:
                return NIL
        else:
            return NIL
    return obj


def resolve_field(k, row, field):
    """Go's ResolveField: ``k``, or ``v`` navigated by the field's segments; NIL if absent."""
    segs = field.segments
    if segs[0].value == "k":
        return (vdl.StringType, k)
    obj = deref(*row.value())
    if segs[0].keys:
        obj = _with_keys(k, row, obj, segs[0])
    for seg in segs[1:]:
        t, val = deref(*obj)
        kind = t.kind
        if kind == Kind.STRUCT:
            i = t.field_index(seg.value)
            if i < 0:
                return NIL
            obj = (t.fields[i].type, getattr(val, seg.value))
        elif kind == Kind.UNION:
            f = t.fields[val.index]
            if f.name != seg.value:
                return NIL
            obj = (f.type, val.value)
        else:
            return NIL
        if seg.keys:
            obj = _with_keys(k, row, obj, seg)
    return obj


def exec_function_on_row(k, row, f):
    args = []
    for a in f.args:
        r = resolve_operand(k, row, a)
        if r is None:
            raise E.qerr(E.FunctionArgBad, a.off,
                         f"Function '{f.name}' arg could not be resolved.", f.name, "")
        args.append(r)
    return F.exec_function(f, args)


def resolve_operand(k, row, o):
    t = o.type
    if t == T_FUNC:
        try:
            return exec_function_on_row(k, row, o.function)
        except Exception:   # a failing function is nil, as Go's
            return None
    if t != T_FIELD:
        return o
    ft, fv = resolve_field(k, row, o.column)
    if is_nil(ft, fv):
        return None
    return value_to_operand(ft, fv, o.off)


# --- comparisons -----------------------------------------------------------------------

def _coerce(a, b):
    ta, tb = a.type, b.type
    if ta == tb:
        return a.value, b.value, ta
    if ta == T_STR or tb == T_STR:
        return None
    if ta == T_FLOAT or tb == T_FLOAT:
        try:
            return F.to_float(a).value, F.to_float(b).value, T_FLOAT
        except F.ConvError:
            return None
    if (ta == T_INT and tb == T_UINT) or (ta == T_UINT and tb == T_INT):
        return a.value, b.value, T_INT
    return None


def _compare(op, a, b, rhs):
    c = _coerce(a, b)
    if c is None:
        return False
    x, y, t = c
    if t == T_STR:
        if op == LIKE:
            return rhs.pattern.match(x)
        if op == NOTLIKE:
            return not rhs.pattern.match(x)
    elif op in (LIKE, NOTLIKE):
        return False
    if t in (T_BOOL, T_OBJECT):
        if op == EQUAL:
            return _obj_eq(x, y) if t == T_OBJECT else x == y
        if op == NE:
            return not _obj_eq(x, y) if t == T_OBJECT else x != y
        return False
    if op == EQUAL:
        return x == y
    if op == NE:
        return x != y
    if op == LT:
        return x < y
    if op == LE:
        return x <= y
    if op == GT:
        return x > y
    if op == GE:
        return x >= y
    return False


def _obj_eq(a, b):
    return a[0] == b[0] and a[1] == b[1]


def eval_expr(k, row, e):
    op = e.operator
    if op == AND:
        return eval_expr(k, row, e.op1.expr) and eval_expr(k, row, e.op2.expr)
    if op == OR:
        return eval_expr(k, row, e.op1.expr) or eval_expr(k, row, e.op2.expr)
    lhs = resolve_operand(k, row, e.op1)
    if op == IS and e.op2.type == T_NIL:
        return lhs is None
    if op == ISNOT and e.op2.type == T_NIL:
        return lhs is not None
    if lhs is None:
        return False
    rhs = resolve_operand(k, row, e.op2)
    if rhs is None:
        return False
    return _compare(op, lhs, rhs, rhs)


def _is_key(o):
    return o.type == T_FIELD and o.column.segments[0].value == "k"


def _needs_value(o):
    return o.type == T_FUNC or (o.type == T_FIELD and o.column.segments[0].value == "v")


def eval_key_only(e, k):
    """INCLUDE, EXCLUDE or FETCH (the value is needed) from the key comparisons alone."""
    if e is None:
        return INCLUDE
    op = e.operator
    if op == AND:
        a, b = eval_key_only(e.op1.expr, k), eval_key_only(e.op2.expr, k)
        if a == INCLUDE and b == INCLUDE:
            return INCLUDE
        if a == EXCLUDE or b == EXCLUDE:
            return EXCLUDE
        return FETCH
    if op == OR:
        a, b = eval_key_only(e.op1.expr, k), eval_key_only(e.op2.expr, k)
        if a == INCLUDE or b == INCLUDE:
            return INCLUDE
        if a == EXCLUDE and b == EXCLUDE:
            return EXCLUDE
        return FETCH
    if not (_is_key(e.op1) or _is_key(e.op2)):
        return FETCH
    if _needs_value(e.op1) or _needs_value(e.op2):
        return FETCH
    return INCLUDE if eval_expr(k, _NO_ROW, e) else EXCLUDE


# --- rows ----------------------------------------------------------------------------------

class _Row:
    """A row's value, decoded on first use."""
    __slots__ = ("raw", "decode", "_v")

    def __init__(self, raw, decode):
        self.raw, self.decode, self._v = raw, decode, None

    def value(self):
        if self._v is None:
            self._v = of(self.decode(self.raw))
        return self._v


class _NoRow:
    def value(self):
        return NIL


_NO_ROW = _NoRow()


def headers_of(st):
    out = []
    for s in st.selectors:
        if s.as_name is not None:
            out.append(s.as_name)
        elif s.function is not None:
            out.append(s.function.name)
        else:
            out.append(".".join(seg.value + "".join(_key_heading(kk) for kk in seg.keys)
                                for seg in s.field.segments))
    return out


def _key_heading(o):
    t = o.type
    if t == T_FIELD:
        inner = ".".join(seg.value + "".join(_key_heading(kk) for kk in seg.keys)
                         for seg in o.column.segments)
    elif t == T_BOOL:
        inner = "true" if o.value else "false"
    elif t in (T_INT, T_BIGINT, T_UINT):
        inner = str(o.value)
    elif t in (T_FLOAT, T_BIGRAT):
        inner = F.format_go_float(o.value)
    elif t == T_FUNC:
        inner = o.function.name
    elif t == T_STR:
        inner = o.value
    elif t == T_TIME:
        inner = o.value.format()
    elif t == T_NIL:
        inner = "<nil>"
    elif t == T_OBJECT:
        inner = "<object>"
    else:
        inner = "<?>"
    return "[" + inner + "]"


def project(k, row, selectors):
    out = []
    for s in selectors:
        if s.field is not None:
            out.append(wrap(*resolve_field(k, row, s.field)))
        else:
            f = s.function
            if f.computed:
                out.append(operand_to_value(f.ret_value))
            else:
                try:
                    out.append(operand_to_value(exec_function_on_row(k, row, f)))
                except Exception:
                    out.append(None)
    return out


def _matches(where, k, raw, decode):
    row = _Row(raw, decode)
    if where is None:
        return row
    r = eval_key_only(where, k)
    if r == INCLUDE:
        return row
    if r == EXCLUDE:
        return None
    return row if eval_expr(k, row, where) else None


def _select_rows(st, table):
    decode = getattr(table, "decode", None) or vom.decode
    where = st.where
    limit = st.limit[0] if st.limit is not None else None
    skip = st.offset[0] if st.offset is not None else 0
    selectors = st.selectors
    n = 0
    stream = table.scan(checker.key_ranges(where))
    try:
        if limit is not None and n >= limit:
            return
        for k, raw in stream:
            row = _matches(where, k, raw, decode)
            if row is None:
                continue
            if skip:
                skip -= 1
                continue
            yield project(k, row, selectors)
            n += 1
            if limit is not None and n >= limit:
                return
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()


def _delete(st, table):
    decode = getattr(table, "decode", None) or vom.decode
    where = st.where
    limit = st.limit[0] if st.limit is not None else None
    count = 0
    stream = table.scan(checker.key_ranges(where))
    try:
        for k, raw in stream:
            if limit is not None and count >= limit:
                break
            if _matches(where, k, raw, decode) is None:
                continue
            try:
                if table.delete(k):
                    count += 1
            except Exception:   # e.g. no permission for this row: not counted, as Go
                continue
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()
    return count


def prepare(db, query: str, params=()):
    """Parse, substitute parameters and check: the statement, ready to run."""
    st = parse(query)
    substitute(st, params)
    checker.check(db, st)
    return st


def run(st):
    """(headers, iterator of rows) for a prepared statement; deletes happen now."""
    if st.kind == "select":
        return headers_of(st), _select_rows(st, st.table_obj)
    count = _delete(st, st.table_obj)
    return ["Count"], iter([[count]])


def exec_query(db, query: str, params=()):
    """Go's Exec on a prepared statement: (headers, iterator of rows)."""
    return run(prepare(db, query, params))
