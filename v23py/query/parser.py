"""syncQL parser: statement text -> AST (Go's queryparser, error for error).

Grammar (case-insensitive keywords)::

    select <selector> {, <selector>} from <table> [where <expr>] {escape 'c' | limit N | offset N}
    delete from <table> [where <expr>] {escape 'c' | limit N}
    selector := k | v{.field}{[operand]} | Func(operand, ...)  [as <ident>]
    expr     := (expr) | operand <op> operand  {and|or ...}, evaluated left to right
    op       := = | equal | <> | not equal | < | <= | > | >= | like | not like | is [not]
    operand  := k | v{.field}{[...]} | literal | Func(...) | ? | true | false | nil

``and`` and ``or`` have equal precedence and group to the left, as in Go.
"""
from __future__ import annotations

from v23py.query import errors as E
from v23py.query import scanner as S

MAX_STATEMENT_LEN = 10000

# operator types (Go's BinaryOperatorType)
AND, EQUAL, GT, GE, IS, ISNOT, LT, LE, LIKE, NE, NOTLIKE, OR = range(1, 13)
OP_TEXT = {AND: "AND", EQUAL: "=", GT: ">", GE: ">=", IS: "IS", ISNOT: "IS NOT", LT: "<",
           LE: "<=", LIKE: "LIKE", NE: "<>", NOTLIKE: "NOT LIKE", OR: "OR"}

# operand types (Go's OperandType)
T_BIGINT, T_BIGRAT, T_BOOL, T_EXPR, T_FIELD, T_FLOAT, T_FUNC, T_INT, T_NIL, T_PARAM, \
    T_STR, T_TIME, T_OBJECT, T_UINT = range(1, 15)
LITERAL_TYPES = frozenset((T_BIGINT, T_BIGRAT, T_BOOL, T_FLOAT, T_INT, T_STR, T_TIME, T_UINT))


class Segment:
    __slots__ = ("value", "keys", "off")

    def __init__(self, value, off, keys=None):
        self.value, self.off, self.keys = value, off, keys or []


class Field:
    __slots__ = ("segments", "off")

    def __init__(self, segments, off):
        self.segments, self.off = segments, off

    def is_key(self):
        return self.segments[0].value == "k"

    def is_value(self):
        return self.segments[0].value == "v"


class Operand:
    """A literal, a field, a function call, a nested expression or a parameter.

    ``value`` holds the literal (bool, int, float, str, GoTime, VDL value for
    objects); ``column``, ``function`` or ``expr`` the other kinds."""
    __slots__ = ("type", "value", "column", "function", "expr", "off", "prefix", "pattern")

    def __init__(self, type, off, value=None, column=None, function=None, expr=None):
        self.type, self.off, self.value = type, off, value
        self.column, self.function, self.expr = column, function, expr
        self.prefix = None
        self.pattern = None

    def copy(self):
        o = Operand(self.type, self.off, self.value, self.column, self.function, self.expr)
        o.prefix, o.pattern = self.prefix, self.pattern
        return o


class Function:
    __slots__ = ("name", "args", "off", "arg_types", "ret_type", "computed", "ret_value")

    def __init__(self, name, off, args):
        self.name, self.off, self.args = name, off, args
        self.arg_types = self.ret_type = None
        self.computed = False
        self.ret_value = None


class Expression:
    __slots__ = ("op1", "operator", "op_off", "op2", "off")

    def __init__(self, op1, operator, op_off, op2, off):
        self.op1, self.operator, self.op_off, self.op2, self.off = op1, operator, op_off, op2, off


def spine(e):
    """A left-deep and/or chain without recursion: (first comparison, [(AND|OR, right
    expression), ...] in evaluation order).  ``a and b or c`` is ((a and b) or c)."""
    chain = []
    while e.operator == AND or e.operator == OR:
        chain.append((e.operator, e.op2.expr))
        e = e.op1.expr
    chain.reverse()
    return e, chain


class Selector:
    __slots__ = ("field", "function", "as_name", "off")

    def __init__(self, field, function, as_name, off):
        self.field, self.function, self.as_name, self.off = field, function, as_name, off


class Statement:
    """select (``selectors`` not None) or delete; clauses hold (value, offset) pairs."""
    __slots__ = ("kind", "off", "selectors", "table", "table_off", "table_obj", "where", "where_off",
                 "escape", "escape_off", "limit", "limit_off", "offset", "offset_off")

    def __init__(self, kind, off):
        self.kind, self.off = kind, off
        self.selectors = None
        self.table, self.table_off, self.table_obj = "", 0, None
        self.where, self.where_off = None, 0
        self.escape = self.limit = self.offset = None
        self.escape_off = self.limit_off = self.offset_off = 0


class _P:
    def __init__(self, src):
        self.s = S.Scanner(src)
        self.tok = self.s.next()

    def adv(self):
        self.tok = self.s.next()
        return self.tok


def _low(t):
    return t.value.lower()


def _end(t):
    return E.qerr(E.UnexpectedEndOfStatement, t.off, "unexpected end of statement")


def _expected(t, what):
    return E.qerr(E.Expected, t.off, f"expected '{what}'", what)


def _unexpected(t):
    return E.qerr(E.Unexpected, t.off, f"unexpected: {t.value}", t.value)


def _exp_ident(t):
    return E.qerr(E.ExpectedIdentifier, t.off, f"expected identifier, found {t.value}", t.value)


def _exp_operand(t):
    return E.qerr(E.ExpectedOperand, t.off, f"expected operand, found {t.value}", t.value)


def _exp_operator(t):
    return E.qerr(E.ExpectedOperator, t.off, f"expected operator, found {t.value}", t.value)


def _could_not_convert(off, text, to):
    return E.qerr(E.CouldNotConvert, off, f"could not convert {text} to {to}", text, to)


def parse(src: str) -> Statement:
    """Parse one statement or raise a QueryError with Go's id and offset."""
    n = len(src.encode("utf-8", "surrogatepass")) if not src.isascii() else len(src)
    if n > MAX_STATEMENT_LEN:
        raise E.qerr(E.MaxStatementLenExceeded, 0,
                     f"maximum length of statements is {MAX_STATEMENT_LEN}; found {n}",
                     MAX_STATEMENT_LEN, n)
    p = _P(src)
    t = p.tok
    if t.tok == S.EOF:
        raise E.qerr(E.NoStatementFound, t.off, "no statement found")
    if t.tok != S.IDENT:
        raise _exp_ident(t)
    kw = _low(t)
    if kw == "select":
        st = Statement("select", t.off)
        _select_clause(p, st)
        _from_clause(p, st)
        _where_clause(p, st)
        _trailing_clauses(p, st, allow_offset=True)
    elif kw == "delete":
        st = Statement("delete", t.off)
        if p.adv().tok == S.EOF:
            raise _end(p.tok)
        _from_clause(p, st)
        _where_clause(p, st)
        _trailing_clauses(p, st, allow_offset=False)
    else:
        raise E.qerr(E.UnknownIdentifier, t.off, f"unknown identifier: {t.value}", t.value)
    if p.tok.tok != S.EOF:
        raise _unexpected(p.tok)
    return st


def _select_clause(p, st):
    if p.adv().tok == S.EOF:
        raise _end(p.tok)
    st.selectors = [_selector(p)]
    while p.tok.tok == S.COMMA:
        p.adv()
        st.selectors.append(_selector(p))


def _selector(p):
    t = p.tok
    if t.tok != S.IDENT:
        raise _exp_ident(t)
    off = t.off
    seg = _segment(p)
    field = function = None
    if p.tok.tok == S.LEFTPAREN:
        if seg.keys:
            raise _unexpected(p.tok)
        function = _function(p, seg.value, seg.off)
    else:
        segs = [seg]
        while p.tok.tok == S.PERIOD:
            if p.adv().tok != S.IDENT:
                raise _exp_ident(p.tok)
            segs.append(_segment(p))
        field = Field(segs, off)
    as_name = None
    if p.tok.tok == S.IDENT and _low(p.tok) == "as":
        if p.adv().tok != S.IDENT:
            raise _exp_ident(p.tok)
        as_name = p.tok.value
        p.adv()
    return Selector(field, function, as_name, off)


def _segment(p):
    t = p.tok
    seg = Segment(t.value, t.off)
    p.adv()
    while p.tok.tok == S.LEFTBRACKET:
        p.adv()
        seg.keys.append(_operand(p))
        if p.tok.tok != S.RIGHTBRACKET:
            raise _expected(p.tok, "]")
        p.adv()
    return seg


def _from_clause(p, st):
    t = p.tok
    if _low(t) != "from":
        raise E.qerr(E.ExpectedFrom, t.off, f"expected 'from', found {t.value}", t.value)
    t = p.adv()
    if t.tok == S.EOF:
        raise _end(t)
    if t.tok != S.IDENT:
        raise _exp_ident(t)
    st.table, st.table_off = t.value, t.off
    p.adv()


def _where_clause(p, st):
    t = p.tok
    if t.tok == S.EOF or _low(t) != "where":
        return
    st.where_off = t.off
    p.adv()
    st.where = _expression(p)


def _paren_expression(p):
    p.adv()
    e = _expression(p)
    if p.tok.tok == S.EOF:
        raise _end(p.tok)
    if p.tok.tok != S.RIGHTPAREN:
        raise _expected(p.tok, ")")
    p.adv()
    return e


def _expression(p):
    if p.tok.tok == S.EOF:
        raise _end(p.tok)
    e = _paren_expression(p) if p.tok.tok == S.LEFTPAREN else _binary_expression(p)
    while p.tok.tok not in (S.EOF, S.RIGHTPAREN):
        word = _low(p.tok)
        if word not in ("and", "or"):
            return e
        op = AND if word == "and" else OR
        op_off = p.tok.off
        p.adv()
        left = Operand(T_EXPR, e.off, expr=e)
        right = _paren_expression(p) if p.tok.tok == S.LEFTPAREN else _binary_expression(p)
        e = Expression(left, op, op_off, Operand(T_EXPR, right.off, expr=right), e.off)
    return e


def _binary_expression(p):
    off = p.tok.off
    op1 = _operand(p)
    op, op_off = _binary_operator(p)
    if p.tok.tok == S.EOF:
        raise _end(p.tok)
    op2 = _operand(p)
    return Expression(op1, op, op_off, op2, off)


def _function(p, name, off):
    args = []
    t = p.adv()
    while t.tok != S.RIGHTPAREN:
        if t.tok == S.EOF:
            raise _expected(t, ")")
        args.append(_operand(p))
        t = p.tok
        if t.tok == S.COMMA:
            t = p.adv()
            if t.tok == S.RIGHTPAREN:
                raise _exp_operand(t)
        elif t.tok != S.RIGHTPAREN:
            raise _unexpected(t)
    p.adv()
    return Function(name, off, args)


def _operand(p):
    t = p.tok
    if t.tok == S.EOF:
        raise _end(t)
    off = t.off
    if t.tok == S.IDENT:
        seg = _segment(p)
        low = seg.value.lower()
        nt = p.tok
        if nt.tok != S.PERIOD and low in ("true", "false"):
            return Operand(T_BOOL, off, low == "true")
        if nt.tok != S.PERIOD and low == "nil":
            return Operand(T_NIL, off)
        if nt.tok == S.LEFTPAREN:
            if seg.keys:
                raise _unexpected(nt)
            return Operand(T_FUNC, off, function=_function(p, seg.value, seg.off))
        segs = [seg]
        while p.tok.tok == S.PERIOD:
            if p.adv().tok != S.IDENT:
                raise _exp_ident(p.tok)
            segs.append(_segment(p))
        return Operand(T_FIELD, off, column=Field(segs, off))
    if t.tok == S.INT:
        try:
            v = S.parse_go_int(t.value)
        except ValueError:
            raise _could_not_convert(t.off, t.value, "int64") from None
        p.adv()
        return Operand(T_INT, off, v)
    if t.tok == S.FLOAT:
        try:
            v = S.parse_go_float(t.value)
        except ValueError:
            raise _could_not_convert(t.off, t.value, "float64") from None
        p.adv()
        return Operand(T_FLOAT, off, v)
    if t.tok == S.CHAR:
        p.adv()
        return Operand(T_INT, off, ord(t.value[0]) if t.value else 0xFFFD)
    if t.tok == S.STRING:
        p.adv()
        return Operand(T_STR, off, t.value)
    if t.tok == S.MINUS:
        t = p.adv()
        if t.tok == S.INT:
            try:
                v = S.parse_go_int("-" + t.value)
            except ValueError:
                raise _could_not_convert(off, "-" + t.value, "int64") from None
            o = Operand(T_INT, off, v)
        elif t.tok == S.FLOAT:
            try:
                v = S.parse_go_float("-" + t.value)
            except ValueError:
                raise _could_not_convert(off, "-" + t.value, "float64") from None
            o = Operand(T_FLOAT, off, v)
        else:
            raise _expected(t, "int or float")
        p.adv()
        return o
    if t.tok == S.PARAM:
        p.adv()
        return Operand(T_PARAM, off)
    raise _exp_operand(t)


def _binary_operator(p):
    t = p.tok
    if t.tok == S.EOF:
        raise _end(t)
    off = t.off
    if t.tok == S.IDENT:
        w = _low(t)
        if w == "equal":
            p.adv()
            return EQUAL, off
        if w == "is":
            t = p.adv()
            if t.tok != S.EOF and _low(t) == "not":
                p.adv()
                return ISNOT, off
            return IS, off
        if w == "like":
            p.adv()
            return LIKE, off
        if w == "not":
            t = p.adv()
            w2 = _low(t)
            if t.tok == S.EOF or w2 not in ("equal", "like"):
                raise _expected(t, "'equal' or 'like'")
            p.adv()
            return (NE if w2 == "equal" else NOTLIKE), off
        raise _exp_operator(t)
    if t.tok == S.EQUAL:
        p.adv()
        return EQUAL, off
    if t.tok == S.LEFTANGLE:
        t = p.adv()
        if t.tok == S.RIGHTANGLE:
            p.adv()
            return NE, off
        if t.tok == S.EQUAL:
            p.adv()
            return LE, off
        return LT, off
    if t.tok == S.RIGHTANGLE:
        t = p.adv()
        if t.tok == S.EQUAL:
            p.adv()
            return GE, off
        return GT, off
    raise _exp_operator(t)


def _trailing_clauses(p, st, allow_offset):
    while p.tok.tok != S.EOF:
        t = p.tok
        w = _low(t) if t.tok == S.IDENT else ""
        if w == "escape":
            st.escape_off = t.off
            t = p.adv()
            if t.tok == S.EOF:
                raise _end(t)
            if t.tok != S.CHAR:
                raise _expected(t, "char literal")
            st.escape = (t.value[0] if t.value else "\ufffd", t.off)
            p.adv()
        elif w == "limit":
            st.limit_off = t.off
            st.limit = _non_neg_int(p)
        elif w == "offset" and allow_offset:
            st.offset_off = t.off
            st.offset = _non_neg_int(p)
        else:
            return


def _non_neg_int(p):
    t = p.adv()
    if t.tok == S.EOF:
        raise _end(t)
    if t.tok != S.INT:
        raise _expected(t, "positive integer literal")
    try:
        v = S.parse_go_int(t.value)
    except ValueError:
        raise _could_not_convert(t.off, t.value, "int64") from None
    p.adv()
    return (v, t.off)
