"""Values as the query engine sees them.

* A VDL value is carried with its static type as a pair ``(type, value)``:
  decoded values only know their own type at the top level and inside
  ``any``, so navigation keeps the field/element types alongside.
* Operands resolved from values follow Go's ConvertValueToAnOperand: bool ->
  bool; enum -> its label (string); every integer kind -> int64 (a uint64
  above 2^63 wraps, as Go's int64 conversion); floats -> float64; string;
  ``time.Time`` -> :class:`GoTime`; anything else -> an object ``(type, value)``.
"""
from __future__ import annotations

import datetime as _dt

from v23py import vdl
from v23py.v23.vdlroot.time import native as vtime
from v23py.vdl import Kind, Typed

_NS = 1_000_000_000
_INT_KINDS = frozenset((Kind.INT8, Kind.INT16, Kind.INT32, Kind.INT64, Kind.BYTE,
                        Kind.UINT16, Kind.UINT32, Kind.UINT64))
_FLOAT_KINDS = frozenset((Kind.FLOAT32, Kind.FLOAT64))
NIL = (vdl.AnyType, None)


class GoTime:
    """A Go time.Time: an instant (ns since the Unix epoch) shown in a zone."""
    __slots__ = ("ns", "offset", "zone")

    def __init__(self, ns: int, offset: int = 0, zone: str = "UTC"):
        self.ns, self.offset, self.zone = int(ns), int(offset), zone

    def __eq__(self, other):
        return isinstance(other, GoTime) and self.ns == other.ns

    def __hash__(self):
        return hash(self.ns)

    def __lt__(self, other):
        return self.ns < other.ns

    def __le__(self, other):
        return self.ns <= other.ns

    def __gt__(self, other):
        return self.ns > other.ns

    def __ge__(self, other):
        return self.ns >= other.ns

    def __repr__(self):
        return f"GoTime({self.format()})"

    def fields(self):
        """(datetime of the wall clock in the zone, nanosecond within the second)."""
        s, n = divmod(self.ns + self.offset * _NS, _NS)
        return _dt.datetime(1970, 1, 1) + _dt.timedelta(seconds=s), n

    def in_zone(self, tz: _dt.tzinfo, name: str | None = None) -> "GoTime":
        s = self.ns // _NS
        try:
            utc = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc) + _dt.timedelta(seconds=s)
            local = utc.astimezone(tz)
            off = int(local.utcoffset().total_seconds())
            zname = local.tzname() or name or ""
        except (OverflowError, ValueError):
            off, zname = 0, "UTC"
        return GoTime(self.ns, off, zname)

    def format(self) -> str:
        """Go's ``Mon Jan 2 15:04:05 -0700 MST 2006`` layout."""
        from v23py.query import gotime
        return gotime.format_time(self, gotime.DEFAULT_LAYOUT)

    def to_wire(self):
        return vtime.time_from_unix_ns(self.ns)

    @classmethod
    def from_wire(cls, t) -> "GoTime":
        return cls((t.Seconds - vtime.UNIX_EPOCH_SECONDS) * _NS + t.Nanos, 0, "UTC")


def of(v):
    """(type, value) of a self-typed value (a decoded row value, a parameter)."""
    if isinstance(v, Typed):
        return v.type, v.value
    if v is None:
        return NIL
    return vdl.type_of(v), v


def deref(t, v):
    """Go's autoDereference: look through any and optional (nil stays nil any)."""
    while t.kind == Kind.ANY or t.kind == Kind.OPTIONAL:
        if v is None:
            return NIL
        if isinstance(v, Typed):
            t, v = v.type, v.value
            continue
        if t.kind == Kind.ANY:
            t = vdl.type_of(v)
        else:
            t = t.elem
    return t, v


def is_nil(t, v) -> bool:
    return v is None and (t.kind == Kind.ANY or t.kind == Kind.OPTIONAL)


def wrap(t, v):
    """A self-typed value for an ``any`` slot."""
    if v is None:
        return None if t.kind == Kind.ANY else Typed(t, None)
    if getattr(type(v), "_vdl_type", None) == t:
        return v
    if t is vdl.StringType and type(v) is str:
        return v
    if t is vdl.Int64Type and type(v) is int:
        return v
    if t is vdl.BoolType and type(v) is bool:
        return v
    if t is vdl.Float64Type and type(v) is float:
        return v
    return Typed(t, v)
