"""Scan queries: which advertisements a scan reports (Go's discovery matcher).

A query is the where clause of ``select v from d where <query>`` over one row per
advertisement: ``k`` is the advertisement id (hex) and ``v`` the
``v.io/v23/discovery.Advertisement`` (``v.Id``, ``v.InterfaceName``, ``v.Addresses``,
``v.Attributes["name"]``).  The empty query matches everything.  ``v.Attachments`` may
not be queried.  ``target_interface_names`` tells a scanner which interfaces the query
can match at all, so it asks the network for just those (None: any interface).

    m = Matcher('v.InterfaceName = "v.io/i" AND v.Attributes["a"] = "v"')
    m.target_interface_names      # -> {"v.io/i"}
    m.match(ad)                   # -> True / False
"""
from __future__ import annotations

from v23py import verror
from v23py.query import engine
from v23py.query.parser import AND, EQUAL, OR, T_EXPR, T_FIELD, T_STR
from v23py.v23 import discovery as wire
from v23py.xref.lib import discovery as errs


class _Table:
    """The one-row table a query runs over."""

    def __init__(self):
        self.row = None

    def scan(self, ranges):
        if self.row is not None:
            yield self.row

    def decode(self, value):
        return value

    def delete(self, key):
        return False


class _Source:
    def __init__(self):
        self.table = _Table()

    def get_table(self, name, write_access):
        return self.table


def to_wire(ad) -> wire.Advertisement:
    """A ``v23py.discovery.Advertisement`` as Go's Advertisement value."""
    return wire.Advertisement(
        Id=bytes(ad.id or bytes(16)), InterfaceName=ad.interface_name,
        Addresses=list(ad.addresses), Attributes=dict(ad.attributes),
        Attachments={k: bytes(v) for k, v in ad.attachments.items()})


class Matcher:
    def __init__(self, query: str = ""):
        self.query = query
        self._src = _Source()
        self._st = None
        self.target_interface_names = None
        if not query.strip():
            return
        try:
            st = engine.prepare(self._src, "SELECT v FROM d WHERE " + query)
        except verror.VError as e:
            raise errs.ErrBadQuery.new(f"invalid query: {e.msg}", e) from None
        if _mentions(st.where, ("v", "Attachments")):
            raise errs.ErrBadQuery.new("invalid query: v.Attachments cannot be queried")
        self._st = st
        self.target_interface_names = _interfaces(st.where)

    def match(self, ad) -> bool:
        """Whether the advertisement (ours or Go's Advertisement value) matches."""
        if self._st is None:
            return True
        w = ad if isinstance(ad, wire.Advertisement) else to_wire(ad)
        self._src.table.row = (bytes(w.Id).hex(), w)
        try:
            _, rows = engine.run(self._st)
            return next(iter(rows), None) is not None
        except verror.VError:
            return False   # e.g. a value of another type than the query compares with
        finally:
            self._src.table.row = None


def _field(o, path):
    if o.type != T_FIELD:
        return False
    segs = o.column.segments
    return tuple(s.value for s in segs[:len(path)]) == path and len(segs) == len(path)


def _mentions(e, path):
    if e is None:
        return False
    for o in (e.op1, e.op2):
        if o is None:
            continue
        if o.type == T_EXPR and _mentions(o.expr, path):
            return True
        if o.type == T_FIELD and tuple(s.value for s in o.column.segments[:2]) == path:
            return True
    return False


def _interfaces(e):
    """The interface names a where clause can match (a set), or None for any."""
    if e.operator == AND:
        a, b = _interfaces(e.op1.expr), _interfaces(e.op2.expr)
        if a is None:
            return b
        return a if b is None else a & b
    if e.operator == OR:
        a, b = _interfaces(e.op1.expr), _interfaces(e.op2.expr)
        return None if a is None or b is None else a | b
    if e.operator == EQUAL:
        for f, lit in ((e.op1, e.op2), (e.op2, e.op1)):
            if _field(f, ("v", "InterfaceName")) and lit.type == T_STR:
                return {lit.value}
    return None
