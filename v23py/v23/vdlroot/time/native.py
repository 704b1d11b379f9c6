"""Conversions between VDL's ``time.Time``/``time.Duration`` wire forms and Python
(hand-written beside the generated package, as Go keeps its native conversions in
vdlroot/time).

The wire keeps nanoseconds; ``datetime``/``timedelta`` keep microseconds, so use the
``*_ns`` functions where exactness matters.  ``time.Time`` counts from
0001-01-01T00:00:00Z, which is ``UNIX_EPOCH_SECONDS`` before the Unix epoch.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from v23py import verror
from v23py.v23.vdlroot.time import Duration, Time

if TYPE_CHECKING:
    import datetime as _dt

UNIX_EPOCH_SECONDS = 62135596800  # seconds from 0001-01-01 to 1970-01-01 (UTC)
_NS = 1_000_000_000


def _epoch() -> _dt.datetime:
    # datetime is imported on first use: a short-lived tool that never converts a time
    # (principal get ...) does not pay for loading it.
    import datetime
    return datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def _split(ns: int) -> tuple[int, int]:
    """(seconds, nanos) with Go's normal form: nanos carries the sign of seconds."""
    s, n = divmod(abs(ns), _NS)
    return (-s, -n) if ns < 0 else (s, n)


def duration_from_ns(ns: int) -> Duration:
    """The wire Duration of ``ns`` nanoseconds."""
    s, n = _split(int(ns))
    return Duration(Seconds=s, Nanos=n)


def duration_to_ns(d: Duration) -> int:
    """Nanoseconds of a wire Duration."""
    if abs(d.Nanos) >= _NS:
        raise verror.BadArg.new(f"time.Duration nanos {d.Nanos} out of range")
    return int(d.Seconds) * _NS + int(d.Nanos)


def duration_from_timedelta(td: _dt.timedelta) -> Duration:
    """The wire Duration of a timedelta."""
    return duration_from_ns((td.days * 86400 + td.seconds) * _NS + td.microseconds * 1000)


def duration_to_timedelta(d: Duration) -> _dt.timedelta:
    """A timedelta (microseconds) of a wire Duration."""
    import datetime
    return datetime.timedelta(microseconds=duration_to_ns(d) // 1000)


def time_from_unix_ns(ns: int) -> Time:
    """The wire Time of ``ns`` nanoseconds since the Unix epoch."""
    s, n = divmod(int(ns), _NS)  # Time keeps 0 <= Nanos < 1e9
    return Time(Seconds=s + UNIX_EPOCH_SECONDS, Nanos=n)


def time_to_unix_ns(t: Time) -> int:
    """Nanoseconds since the Unix epoch of a wire Time."""
    if not -_NS < t.Nanos < _NS:
        raise verror.BadArg.new(f"time.Time nanos {t.Nanos} out of range")
    return (int(t.Seconds) - UNIX_EPOCH_SECONDS) * _NS + int(t.Nanos)


def time_from_datetime(d: _dt.datetime) -> Time:
    """The wire Time of an aware datetime."""
    if d.tzinfo is None:
        raise verror.BadArg.new("a naive datetime has no instant; give it a tzinfo")
    delta = d - _epoch()
    return time_from_unix_ns((delta.days * 86400 + delta.seconds) * _NS + delta.microseconds * 1000)


def time_to_datetime(t: Time) -> _dt.datetime:
    """The instant in UTC (nanoseconds below a microsecond are dropped)."""
    import datetime
    return _epoch() + datetime.timedelta(microseconds=time_to_unix_ns(t) // 1000)


def is_zero_time(t: Time) -> bool:
    """Go's zero time.Time{} (0001-01-01T00:00:00Z) is {0, 0} on the wire."""
    return bool(t.Seconds == 0 and t.Nanos == 0)
