"""Semantic checks (Go's querychecker) and the key ranges a where clause allows.

``check`` validates a parsed statement against a datasource, compiles LIKE
patterns (a pattern without wildcards becomes ``=``/``<>``), runs functions
whose arguments are literals, and binds the table.  ``key_ranges`` computes,
from the ``k`` comparisons of the where clause, the sorted, disjoint
``[start, limit)`` string ranges a scan must cover (``limit == ""`` means
unbounded), so ``k like "abc%"`` or ``k >= "x" and k < "y"`` scans only that part
of the collection.
"""
from __future__ import annotations

from v23py.gostrings import KEEP_BYTES, UTF8, go_bytes, go_string
from v23py.query import errors as E, functions as F, pattern as P
from v23py.query.parser import (
    spine, AND, EQUAL, GE, GT, IS, ISNOT, LE, LIKE, LT, NE, NOTLIKE, OR, T_BOOL, T_EXPR, T_FIELD,
    T_FUNC, T_NIL, T_STR, LITERAL_TYPES)

MAX_LIMIT = ""   # an empty limit: to the end of the key space
ALL = ("", MAX_LIMIT)


def check(db, st):
    if st.kind == "select":
        _check_select_clause(st.selectors)
        st.table_obj = _check_from(db, st, False)
    else:
        st.table_obj = _check_from(db, st, True)
    _check_escape(st.escape)
    if st.where is not None:
        _check_expression(st.where, st.escape)
    if st.limit is not None and st.limit[0] < 1:
        raise E.qerr(E.LimitMustBeGt0, st.limit[1], "limit must be > 0.")
    if st.offset is not None and st.offset[0] < 0:
        raise E.qerr(E.OffsetMustBeGe0, st.offset[1], "offset must be > 0.")


def _field_name_check(field, in_where):
    segs = field.segments
    first = segs[0].value
    if first == "k":
        if len(segs) > 1:
            dot = "." if not in_where else ""
            raise E.qerr(E.DotNotationDisallowedForKey, segs[1].off,
                         "dot notation may not be used on a key field" + dot)
    elif first == "v":
        return
    elif first == "K":
        raise E.qerr(E.DidYouMeanLowercaseK, segs[0].off, "did you mean: 'k'?")
    elif first == "V":
        raise E.qerr(E.DidYouMeanLowercaseV, segs[0].off, "did you mean: 'v'?")
    elif in_where:
        raise E.qerr(E.BadFieldInWhere, segs[0].off,
                     "Where field must be 'k' or 'v[{.<ident>}...]'")
    else:
        raise E.qerr(E.InvalidSelectField, segs[0].off,
                     "select field must be 'k' or 'v[{.<ident>}...]'")


def _check_select_clause(selectors):
    for s in selectors:
        if s.field is not None:
            _field_name_check(s.field, False)
        else:
            F.check_function(s.function)


def _check_from(db, st, write):
    try:
        return db.get_table(st.table, write)
    except Exception as e:   # the datasource's own error, wrapped as Go's
        raise E.qerr(E.TableCantAccess, st.table_off,
                     f"table {st.table} does not exist (or cannot be accessed): {e}",
                     st.table, E.as_error_param(e)) from None


def _check_escape(esc):
    if esc is None:
        return
    ch, off = esc
    if ch in ("\x00", "_", "%", " ", "\\"):
        raise E.qerr(E.InvalidEscapeChar, off, f"'{ch}' is not a valid escape character", ch)


def _check_operand(o, esc):
    t = o.type
    if t == T_EXPR:
        _check_expression(o.expr, esc)
    elif t == T_FIELD:
        _field_name_check(o.column, True)
    elif t == T_FUNC:
        for a in o.function.args:
            _check_operand(a, esc)
        F.check_function(o.function)
        if o.function.computed:
            rv = o.function.ret_value
            o.type, o.value, o.off = rv.type, rv.value, rv.off
            o.function = None


def _is_key(o):
    return o.type == T_FIELD and o.column.segments[0].value == "k"


def _check_expression(e, esc):
    if e.operator == AND or e.operator == OR:
        leaf, chain = spine(e)
        _check_expression(leaf, esc)
        for _, right in chain:
            _check_expression(right, esc)
        return
    _check_operand(e.op1, esc)
    _check_operand(e.op2, esc)
    if e.operator in (LIKE, NOTLIKE):
        o2 = e.op2
        if o2.type != T_STR:
            raise E.qerr(E.LikeExpressionsRequireRhsString, o2.off,
                         "like expressions require right operand of type <string-literal>.")
        try:
            p = P.parse(o2.value, esc[0] if esc is not None else "\x00")
        except Exception as ex:
            raise E.qerr(E.InvalidLikePattern, o2.off, f"invalid like pattern: {ex}",
                         E.as_error_param(ex)) from None
        o2.prefix = p.fixed_prefix
        if p.no_wildcards:
            e.operator = EQUAL if e.operator == LIKE else NE
            o2.value = p.fixed_prefix
        o2.pattern = p
    if e.operator in (IS, ISNOT):
        if e.op1.type not in (T_FIELD, T_FUNC):
            raise E.qerr(E.IsIsNotRequireLhsValue, e.op1.off,
                         "'is/is not' expressions require left operand to be a value operand")
        if e.op2.type != T_NIL:
            raise E.qerr(E.IsIsNotRequireRhsNil, e.op2.off,
                         "'is/is not' expressions require right operand to be nil")
    if (_is_key(e.op1) or _is_key(e.op2)) and (
            (e.op1.type in LITERAL_TYPES and e.op1.type != T_STR)
            or (e.op2.type in LITERAL_TYPES and e.op2.type != T_STR)):
        off = e.op2.off if e.op2.type in LITERAL_TYPES else e.op1.off
        raise E.qerr(E.KeyExpressionLiteral, off,
                     "key (i.e., 'k') compares against literals must be string literal")
    if (e.op1.type == T_BOOL or e.op2.type == T_BOOL) and e.operator not in (EQUAL, NE):
        raise E.qerr(E.BoolInvalidExpression, e.op_off,
                     "boolean operands may only be used in equals and not equals expressions")


# --- key ranges ------------------------------------------------------------------
# Ranges compare as Python strings (code points), which orders UTF-8 byte strings
# the same way; the datasource encodes them to bytes.

def after_prefix(prefix: str) -> str:
    """The smallest string greater than every string with this prefix ("" = none)."""
    b = bytearray(go_bytes(prefix))
    while b:
        if b[-1] == 0xFF:
            b.pop()
        else:
            b[-1] += 1
            break
    return go_string(b)


def _cmp_limits(a, b):
    if a == b:
        return 0
    if a == MAX_LIMIT:
        return 1
    if b == MAX_LIMIT:
        return -1
    return -1 if _lt(a, b) else 1


def _lt(a, b):
    return _key_bytes(a) < _key_bytes(b)


def _key_bytes(s):
    return s.encode(UTF8, KEEP_BYTES)


def _start_before_limit(start, limit):
    """compareStartToLimit(start, limit) < 0."""
    return limit == MAX_LIMIT or _lt(start, limit)


def _intersect(l, r):
    ls, ll = l
    rs, rl = r
    if ((not _lt(ls, rs) and _start_before_limit(ls, rl))
            or (not _lt(rs, ls) and _start_before_limit(rs, ll))):
        start = rs if _lt(ls, rs) else ls
        limit = ll if _cmp_limits(ll, rl) < 0 else rl
        return (start, limit)
    return None


def _append_merged(out, rng):
    """Append a range that starts at or after every range in ``out``, merging it with the
    last one when they overlap or touch (what Go's addStringFieldRange does here)."""
    if out:
        s, l = out[-1]
        if l == MAX_LIMIT or not _lt(l, rng[0]):
            out[-1] = (s, l if _cmp_limits(l, rng[1]) >= 0 else rng[1])
            return
    out.append(rng)


def _union(lhs, rhs):
    out = []
    for rng in sorted(lhs + rhs, key=lambda r: _key_bytes(r[0])):
        _append_merged(out, rng)
    return out


def _intersection(lhs, rhs):
    out = []
    i = j = 0
    while i < len(lhs) and j < len(rhs):
        x = _intersect(lhs[i], rhs[j])
        if x is not None:
            _append_merged(out, x)
        c = _cmp_limits(lhs[i][1], rhs[j][1])
        if c < 0:
            i += 1
        elif c > 0:
            j += 1
        else:
            i += 1
            j += 1
    return out


def _single(s):
    return (s, s + "\x00")


def _collect(e):
    if e.operator == AND or e.operator == OR:
        leaf, chain = spine(e)
        acc = _collect(leaf)
        for op, right in chain:
            rhs = _collect(right)
            acc = _intersection(acc, rhs) if op == AND else _union(acc, rhs)
        return acc
    k1, k2 = _is_key(e.op1), _is_key(e.op2)
    if not (k1 or k2):
        return [ALL]
    op = e.operator
    if e.op1.type == T_FIELD and e.op2.type == T_FIELD:
        return [ALL] if op in (EQUAL, GE, LE) else []
    if op == IS:
        return []
    if op == ISNOT:
        return [ALL]
    if e.op2.type == T_STR:
        s = e.op2.value
        if op == EQUAL:
            return [_single(s)]
        if op == GT:
            return [(s + "\x00", MAX_LIMIT)]
        if op == GE:
            return [(s, MAX_LIMIT)]
        if op == LIKE:
            p = e.op2.prefix
            return [ALL] if p == "" else [(p, after_prefix(p))]
        if op == NOTLIKE:
            p = e.op2.prefix
            if p == "":
                return [ALL]
            return [("", p), (after_prefix(p), MAX_LIMIT)]
        if op == LT:
            return [("", s)]
        if op == LE:
            return [("", s + "\x00")]
        return [("", s), (s + "\x00", MAX_LIMIT)]
    if e.op1.type == T_STR:
        s = e.op1.value
        if op == EQUAL:
            return [_single(s)]
        if op == GT:
            return [("", s)]
        if op == GE:
            return [("", s + "\x00")]
        if op == LT:
            return [(s + "\x00", MAX_LIMIT)]
        if op == LE:
            return [(s, MAX_LIMIT)]
        return [("", s), (s + "\x00", MAX_LIMIT)]
    return [ALL]


def key_ranges(where):
    """The key ranges a statement's where clause (an Expression or None) can match."""
    if where is None:
        return [ALL]
    return _collect(where)
