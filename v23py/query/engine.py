"""Executing syncQL statements over a datasource (Go's query engine), sans-IO.

A *datasource* is any object with ``get_table(name, write_access) -> table``
(raising an exception when the table cannot be used); a table has
``scan(ranges)`` yielding ``(key, value)`` pairs in ascending key order over
the sorted, disjoint ``[start, limit)`` key ranges given (``limit == ""`` is
unbounded), ``delete(key) -> bool`` (for delete statements), and optionally
``decode(value)`` turning what ``scan`` yields into a self-typed VDL value
(default: VOM-decode bytes) and ``scan_keys(ranges)`` yielding ``(key, None)``,
used when the statement reads no value.  Values are decoded only when the where
clause or the projection needs them.

    headers, rows = exec_query(db, 'select k, v.Name from Customer where v.Age > ?', [30])
    for row in rows: ...          # each row: a list of self-typed VDL values
"""
from __future__ import annotations

from v23py import vdl, vom
from v23py.vdl import Kind, Typed
from v23py.query import checker, errors as E, functions as F
from v23py.query.parser import (
    spine, AND, EQUAL, GE, GT, IS, ISNOT, LE, LIKE, LT, NE, NOTLIKE, OR, Operand, parse,
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
        if e.operator == AND or e.operator == OR:
            leaf, chain = spine(e)
            expr(leaf)
            for _, right in chain:
                expr(right)
            return
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
    like = t == T_STR and (op == LIKE or op == NOTLIKE)
    return _compare_same_type(op, x, y, t, rhs.pattern if like else None)


def _compare_same_type(op, x, y, t, pattern):
    """``x op y`` for two values already brought to one operand type ``t``
    (``pattern``: the compiled LIKE pattern when ``t`` is a string)."""
    if t == T_STR:
        if op == LIKE:
            return pattern.match(x)
        if op == NOTLIKE:
            return not pattern.match(x)
    elif op == LIKE or op == NOTLIKE:
        return False
    if t == T_BOOL or t == T_OBJECT:
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
    if op == AND or op == OR:
        leaf, chain = spine(e)
        r = eval_expr(k, row, leaf)
        for op, right in chain:
            if op == AND:
                r = r and eval_expr(k, row, right)
            else:
                r = r or eval_expr(k, row, right)
        return r
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
    if op == AND or op == OR:
        leaf, chain = spine(e)
        a = eval_key_only(leaf, k)
        for op, right in chain:
            b = eval_key_only(right, k)
            if op == AND:
                a = INCLUDE if a == INCLUDE and b == INCLUDE else \
                    EXCLUDE if a == EXCLUDE or b == EXCLUDE else FETCH
            else:
                a = INCLUDE if a == INCLUDE or b == INCLUDE else \
                    EXCLUDE if a == EXCLUDE and b == EXCLUDE else FETCH
        return a
    if not (_is_key(e.op1) or _is_key(e.op2)):
        return FETCH
    if _needs_value(e.op1) or _needs_value(e.op2):
        return FETCH
    return INCLUDE if eval_expr(k, _NO_ROW, e) else EXCLUDE


# --- rows ----------------------------------------------------------------------------------

class _Row:
    """A row's value as (type, value), decoded on first use."""
    __slots__ = ("raw", "decode", "_v")

    def __init__(self, raw, decode):
        self.raw, self.decode, self._v = raw, decode, None

    def value(self):
        if self._v is None:
            self._v = self.decode(self.raw)
        return self._v


def _typed_decoder(table):
    """(raw) -> (type, value) for a table's scanned values."""
    dec = getattr(table, "decode", None)
    if dec is None:
        return vom.decode_typed
    return lambda raw: of(dec(raw))


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


def _has_key_compare(e):
    if e.operator in (AND, OR):
        leaf, chain = spine(e)
        return _has_key_compare(leaf) or any(_has_key_compare(r) for _, r in chain)
    return _is_key(e.op1) or _is_key(e.op2)


def _matcher(where, decode):
    """(k, raw) -> row or None: Go's key-only pre-evaluation, then the full where."""
    if where is None:
        return lambda k, raw: _Row(raw, decode)
    full = compile_expr(where)
    if not _has_key_compare(where):
        def match(k, raw):
            row = _Row(raw, decode)
            return row if full(k, row) else None
        return match

    def match_keys(k, raw):
        r = eval_key_only(where, k)
        if r == EXCLUDE:
            return None
        row = _Row(raw, decode)
        if r == INCLUDE:
            return row
        return row if full(k, row) else None
    return match_keys


def _where_needs_value(e):
    if e is None:
        return False
    if e.operator == AND or e.operator == OR:
        leaf, chain = spine(e)
        return _where_needs_value(leaf) or any(_where_needs_value(r) for _, r in chain)
    return _needs_value(e.op1) or _needs_value(e.op2)


def _needs_values(st):
    """Whether any row value must be read (else a keys-only scan will do)."""
    if _where_needs_value(st.where):
        return True
    if st.selectors is None:
        return False
    for s in st.selectors:
        if s.function is not None:
            if not s.function.computed:
                return True
        elif not (s.field.segments[0].value == "k" and len(s.field.segments) == 1):
            return True
    return False


def _scan(st, table):
    """The table's scan of the where clause's key ranges (keys only when that is enough)."""
    ranges = checker.key_ranges(st.where)
    scan_keys = getattr(table, "scan_keys", None)
    if scan_keys is not None and not _needs_values(st):
        return scan_keys(ranges)
    return table.scan(ranges)


def _select_rows(st, table, heartbeat=0):
    decode = _typed_decoder(table)
    where = st.where
    limit = st.limit[0] if st.limit is not None else None
    skip = st.offset[0] if st.offset is not None else 0
    match = _matcher(where, decode)
    proj = compile_projection(st.selectors)
    n = 0
    stream = _scan(st, table)
    try:
        if limit is not None and n >= limit:
            return
        scanned = 0
        for k, raw in stream:
            if heartbeat:
                scanned += 1
                if scanned >= heartbeat:
                    scanned = 0
                    yield None
            row = match(k, raw)
            if row is None:
                continue
            if skip:
                skip -= 1
                continue
            yield proj(k, row)
            n += 1
            if limit is not None and n >= limit:
                return
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()


def _delete(st, table):
    decode = _typed_decoder(table)
    where = st.where
    limit = st.limit[0] if st.limit is not None else None
    count = 0
    match = _matcher(where, decode)
    stream = _scan(st, table)
    try:
        for k, raw in stream:
            if limit is not None and count >= limit:
                break
            if match(k, raw) is None:
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
    try:
        st = parse(query)
        substitute(st, params)
        checker.check(db, st)
        _compiled_check(st)
    except RecursionError:
        raise E.qerr(E.Unexpected, 0, "unexpected: statement nested too deeply",
                     "statement nested too deeply") from None
    return st


def _compiled_check(st):
    """Compile the where clause and key ranges now, so nesting errors surface here."""
    if st.where is not None:
        compile_expr(st.where)
        checker.key_ranges(st.where)


def run(st, heartbeat: int = 0):
    """(headers, iterator of rows) for a prepared statement; deletes happen now.

    With ``heartbeat`` > 0 a select's iterator also yields ``None`` after every
    ``heartbeat`` scanned rows, so a caller can bound the work it does per step."""
    if st.kind == "select":
        return headers_of(st), _select_rows(st, st.table_obj, heartbeat)
    count = _delete(st, st.table_obj)
    return ["Count"], iter([[count]])


def exec_query(db, query: str, params=()):
    """Go's Exec on a prepared statement: (headers, iterator of rows)."""
    return run(prepare(db, query, params))


# --- compiled evaluation (the per-row fast path; same semantics as eval_expr) ---------------
# A resolved operand is a light pair (operand type, value); None is nil.

_LIGHT = {}
for _k in _INT_KINDS:
    _LIGHT[_k] = lambda t, v: (T_INT, int(v) - (1 << 64) if v >= 1 << 63 else int(v))
_LIGHT[Kind.STRING] = lambda t, v: (T_STR, v)
_LIGHT[Kind.BOOL] = lambda t, v: (T_BOOL, bool(v))
_LIGHT[Kind.FLOAT32] = _LIGHT[Kind.FLOAT64] = lambda t, v: (T_FLOAT, float(v))
_LIGHT[Kind.ENUM] = lambda t, v: (T_STR, v.label if hasattr(v, "label") else str(v))


def _light(t, v):
    f = _LIGHT.get(t.kind)
    if f is not None:
        return f(t, v)
    if t.kind == Kind.ANY or t.kind == Kind.OPTIONAL:
        if v is None:
            return None
        return (T_OBJECT, (t, v))
    if t.kind == Kind.STRUCT and t.name == "time.Time":
        return (T_TIME, GoTime.from_wire(v))
    return (T_OBJECT, (t, v))


_FIELD_CACHE = {}


def _struct_field(t, name):
    key = (t, name)
    r = _FIELD_CACHE.get(key)
    if r is None:
        i = t.field_index(name)
        r = _FIELD_CACHE[key] = (t.fields[i].type if i >= 0 else None)
        if len(_FIELD_CACHE) > 4096:
            _FIELD_CACHE.clear()
    return r


_DEREF_KINDS = (Kind.ANY, Kind.OPTIONAL)


def _simple_field_getter(names):
    """(k, row) -> (type, value) for v.A.B... without [keys] (Go's ResolveField)."""
    def get(k, row):
        t, v = row.value()
        if t.kind in _DEREF_KINDS:
            t, v = deref(t, v)
        for name in names:
            kind = t.kind
            if kind in _DEREF_KINDS:
                t, v = deref(t, v)
                kind = t.kind
            if kind == Kind.STRUCT:
                ft = _struct_field(t, name)
                if ft is None:
                    return NIL
                t, v = ft, getattr(v, name)
            elif kind == Kind.UNION:
                f = t.fields[v.index]
                if f.name != name:
                    return NIL
                t, v = f.type, v.value
            else:
                return NIL
        return t, v
    return get


def _field_getter(field):
    segs = field.segments
    if segs[0].value == "k":
        return lambda k, row: (vdl.StringType, k)
    if any(seg.keys for seg in segs):
        return lambda k, row: resolve_field(k, row, field)
    return _simple_field_getter([seg.value for seg in segs[1:]])


def _operand_getter(o):
    """(k, row) -> light pair or None (nil / unresolvable)."""
    t = o.type
    if t == T_FIELD:
        if o.column.segments[0].value == "k" and len(o.column.segments) == 1:
            return lambda k, row: (T_STR, k)
        get = _field_getter(o.column)

        def field(k, row):
            ft, fv = get(k, row)
            if fv is None and ft.kind in _DEREF_KINDS:
                return None
            return _light(ft, fv)
        return field
    if t == T_FUNC or t == T_PARAM:
        def func(k, row):
            r = resolve_operand(k, row, o)
            return None if r is None else (r.type, r.value)
        return func
    const = (t, o.value)
    return lambda k, row: const


def _light_compare(op, a, b, pat):
    ta, tb = a[0], b[0]
    x, y = a[1], b[1]
    if ta != tb:
        if ta == T_STR or tb == T_STR:
            return False
        if ta == T_FLOAT or tb == T_FLOAT:
            if ta not in (T_FLOAT, T_INT, T_UINT) or tb not in (T_FLOAT, T_INT, T_UINT):
                return False
            x, y, ta = float(x), float(y), T_FLOAT
        elif {ta, tb} == {T_INT, T_UINT}:
            ta = T_INT
        else:
            return False
    return _compare_same_type(op, x, y, ta, pat)


def compile_expr(e):
    """(k, row) -> bool for a checked where expression."""
    op = e.operator
    if op == AND or op == OR:
        leaf, chain = spine(e)
        first = compile_expr(leaf)
        rest = [(o == AND, compile_expr(r)) for o, r in chain]
        if len(rest) == 1:
            is_and, second = rest[0]
            if is_and:
                return lambda k, row: first(k, row) and second(k, row)
            return lambda k, row: first(k, row) or second(k, row)

        def chained(k, row):
            r = first(k, row)
            for is_and, f in rest:
                if is_and:
                    r = r and f(k, row)
                else:
                    r = r or f(k, row)
            return r
        return chained
    g1 = _operand_getter(e.op1)
    if (op == IS or op == ISNOT) and e.op2.type == T_NIL:
        if op == IS:
            return lambda k, row: g1(k, row) is None
        return lambda k, row: g1(k, row) is not None
    g2 = _operand_getter(e.op2)
    pat = e.op2.pattern
    if op in (GT, GE, LT, LE, EQUAL, NE) and e.op2.type in (T_INT, T_FLOAT, T_STR) \
            and e.op1.type == T_FIELD:
        # the common shape: field <op> literal, with a direct comparison when types agree
        lit_t, lit = e.op2.type, e.op2.value
        import operator as _o
        pyop = {GT: _o.gt, GE: _o.ge, LT: _o.lt, LE: _o.le, EQUAL: _o.eq, NE: _o.ne}[op]

        def cmp_lit(k, row):
            a = g1(k, row)
            if a is None:
                return False
            if a[0] == lit_t:
                return pyop(a[1], lit)
            return _light_compare(op, a, (lit_t, lit), pat)
        return cmp_lit

    def cmp(k, row):
        a = g1(k, row)
        if a is None:
            return False
        b = g2(k, row)
        if b is None:
            return False
        return _light_compare(op, a, b, pat)
    return cmp


def compile_projection(selectors):
    """(k, row) -> list of self-typed values (Go's ComposeProjection)."""
    parts = []
    for s in selectors:
        if s.field is not None:
            segs = s.field.segments
            if segs[0].value == "k" and len(segs) == 1:
                parts.append(lambda k, row: k)
            else:
                get = _field_getter(s.field)
                parts.append(lambda k, row, get=get: wrap(*get(k, row)))
        elif s.function.computed:
            const = operand_to_value(s.function.ret_value)
            parts.append(lambda k, row, c=const: c)
        else:
            def fn(k, row, f=s.function):
                try:
                    return operand_to_value(exec_function_on_row(k, row, f))
                except Exception:
                    return None
            parts.append(fn)
    if len(parts) == 1:
        p0 = parts[0]
        return lambda k, row: [p0(k, row)]
    if len(parts) == 2:
        p0, p1 = parts
        return lambda k, row: [p0(k, row), p1(k, row)]
    return lambda k, row: [p(k, row) for p in parts]
