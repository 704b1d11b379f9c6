"""The process-wide tree of named statistics, as Go's ``x/ref/lib/stats``.

Every statistic has a "/"-separated name (``rpc/server/routing-id/<rid>/...``,
``system/pid``) and a value: an int, a float, a string, a
``HistogramValue`` or a ``TimeSeries`` (``v23py.xref.services.stats``).  The
``__debug/stats`` service reads and watches this tree; the Prometheus
exporter (``v23py.stats.prometheus``) reads it too.

    c = stats.new_counter("myservice/requests")
    c.incr(1)
    stats.value("myservice/requests")            # -> 1
    stats.value("myservice/requests/delta1m")    # -> change over the last minute

Updates are cheap (a few attribute operations; the history behind the
``delta*``, ``rate*`` and ``timeseries*`` children moves at most once a
second, on the next update or read), so counters stay on by default as in Go.
Values are plain Python numbers: the registry is used from the reactor
thread, and the registry's own structure is guarded by a lock.
"""
import threading
import time as _time
from bisect import bisect_right

from v23py import verror

__all__ = [
    "Counter", "Histogram", "Integer", "Float", "String", "Map", "FuncStat",
    "new_counter", "new_histogram", "new_integer", "new_float", "new_string", "new_map",
    "new_integer_func", "new_float_func", "new_string_func", "value", "get", "delete",
    "glob", "NoValue", "add_refresh_hook", "remove_refresh_hook",
]

clock = _time.time   # seconds since the epoch; tests replace it

# Go's periods for counters and histograms: (name, period, resolution) in seconds.
_HOUR, _TENMIN, _MIN = 0, 1, 2
_SERIES = ((3600, 60), (600, 10), (60, 1))


def NoValue(name):
    from v23py.v23.services import stats as _svc
    return _svc.ErrNoValue.new(f"object has no value, suffix: {name}")


class _Node:
    __slots__ = ("obj", "children")

    def __init__(self):
        self.obj = None
        self.children = {}


_lock = threading.RLock()
_root = _Node()
_refresh_hooks = []


def add_refresh_hook(fn):
    """``fn()`` runs before the tree is read (globbed or valued), for statistics
    that are refreshed only when someone looks (system figures)."""
    _refresh_hooks.append(fn)


def remove_refresh_hook(fn):
    try:
        _refresh_hooks.remove(fn)
    except ValueError:
        pass


def _refresh():
    for fn in list(_refresh_hooks):
        try:
            fn()
        except Exception:   # a failing probe must not break reads of the others
            import logging
            logging.getLogger(__name__).debug("stats refresh hook failed", exc_info=True)


def _elems(name):
    return [e for e in name.split("/") if e]


def _find(name, create=False):
    node = _root
    for e in _elems(name):
        nxt = node.children.get(e)
        if nxt is None:
            if not create:
                return None
            nxt = node.children[e] = _Node()
        node = nxt
    return node


def _register(name, obj):
    with _lock:
        _find(name, True).obj = obj
    return obj


def get(name):
    """The statistic object at ``name``; NoExist when there is none."""
    with _lock:
        node = _find(name)
    if node is None or node.obj is None:
        raise verror.NoExist.new(f"does not exist: {name}")
    return node.obj


def value(name):
    """The current value of the statistic at ``name``."""
    _refresh()
    with _lock:
        node = _find(name)
    if node is None or node.obj is None:
        raise verror.NoExist.new(f"does not exist: {name}")
    v = node.obj.value()
    return v


def delete(name):
    """Remove the statistic at ``name`` and everything below it."""
    elems = _elems(name)
    if not elems:
        raise verror.NoExist.new(f"does not exist: {name}")
    with _lock:
        parent = _find("/".join(elems[:-1]))
        if parent is None:
            raise verror.NoExist.new(f"does not exist: {name}")
        parent.children.pop(elems[-1], None)


def glob(root, pattern, updated_since=0.0, include_values=False):
    """Sorted ``[(name relative to root, value or None)]`` of the statistics under
    ``root`` matching the glob ``pattern`` and updated at or after ``updated_since``
    (seconds since the epoch; 0 for all).  NoExist when ``root`` does not exist."""
    from v23py.naming.glob import Glob
    g = Glob.parse(pattern) if not isinstance(pattern, Glob) else pattern
    _refresh()
    with _lock:
        node = _find(root)
        if node is None:
            raise verror.NoExist.new(f"does not exist: {root}")
        out = []
        _glob_step("", g, node, updated_since, include_values, out)
    out.sort(key=lambda kv: kv[0])
    return out


def _glob_step(prefix, g, node, since, include_values, out):
    if len(g) == 0:
        obj = node.obj
        if not since or (obj is not None and obj.last_update() >= since):
            out.append((prefix, obj.value() if include_values and obj is not None else None))
    if g.empty():
        return
    head, tail = g.head(), g.tail()
    for name, child in list(node.children.items()):
        if head.match(name):
            _glob_step(prefix + "/" + name if prefix else name, tail, child, since,
                       include_values, out)


# ---------------------------------------------------------------------------
# time series: Go's counter history, moved lazily
# ---------------------------------------------------------------------------

class _Series:
    """The values of a cumulative quantity at the end of each ``resolution`` slot over
    ``period`` (Go's timeseries).  The newest slot is the live value, held by the owner;
    ``slots`` keeps the closed ones."""

    __slots__ = ("size", "resolution", "steps", "time", "slots")

    def __init__(self, now, period, resolution):
        self.size = period // resolution + 1
        self.resolution = resolution
        self.steps = 1                       # slots seen since creation
        self.time = now - now % resolution   # start of the newest slot
        self.slots = []                      # closed slots' values, oldest first

    def advance(self, now, head):
        """Close slots up to ``now``; the skipped ones hold ``head`` (the value they ended with)."""
        to = now - now % self.resolution
        if to <= self.time:
            return
        steps = int(round((to - self.time) / self.resolution))
        self.steps += steps
        keep = self.size - 1
        n = min(steps, keep)
        self.slots.extend([head] * n)
        if len(self.slots) > keep:
            del self.slots[:len(self.slots) - keep]
        self.time = to

    def tail(self, head, empty=0):
        """The oldest value held (Go's tailValue; ``empty`` while the series is not full)."""
        if self.steps < self.size:
            return empty
        return self.slots[0] if self.slots else head

    def tail_time(self):
        n = min(self.size, self.steps)
        return self.time - (n - 1) * self.resolution

    def values(self, head):
        return list(self.slots) + [head]

    def rate(self, head):
        dt = self.time - self.tail_time()
        if dt == 0:
            return 0.0
        return float(head - self.tail(head)) / dt


class Counter:
    """A number that is incremented or set, with its recent history (Go's counter)."""

    __slots__ = ("_value", "_last", "_next", "_series")

    def __init__(self):
        now = clock()
        self._value = 0
        self._last = 0.0
        self._series = tuple(_Series(now, p, r) for p, r in _SERIES)
        self._next = now - now % 1 + 1     # the one-second series closes its slot then

    def _advance(self, now):
        v = self._value
        for s in self._series:
            s.advance(now, v)
        self._next = now - now % 1 + 1

    def incr(self, delta=1):
        now = clock()
        if now >= self._next:
            self._advance(now)
        self._value += delta
        self._last = now

    def set(self, value):
        now = clock()
        if now >= self._next:
            self._advance(now)
        self._value = value
        self._last = now

    def value(self):
        return self._value

    def last_update(self):
        return self._last

    def _current(self):
        now = clock()
        if now >= self._next:
            self._advance(now)
        return self._value

    def delta(self, which):
        v = self._current()
        return v - self._series[which].tail(v)

    def rate(self, which):
        v = self._current()
        return self._series[which].rate(v)

    def timeseries(self, which):
        from v23py.xref.services import stats as _vdl
        from v23py.v23.vdlroot.time import native as vtime
        v = self._current()
        s = self._series[which]
        return _vdl.TimeSeries(Values=s.values(v),
                               Resolution=vtime.duration_from_ns(s.resolution * 1_000_000_000),
                               StartTime=vtime.time_from_unix_ns(int(s.tail_time() * 1e9)))


class _Child:
    """A derived statistic of a counter or histogram (``delta1m`` and the like)."""

    __slots__ = ("parent", "period", "fn")

    def __init__(self, parent, period, fn):
        self.parent, self.period, self.fn = parent, period, fn

    def last_update(self):
        # changes while the period after the parent's last update runs
        return min(self.parent.last_update() + self.period, clock())

    def value(self):
        return self.fn()


_COUNTER_CHILDREN = (("1h", _HOUR, 3600), ("10m", _TENMIN, 600), ("1m", _MIN, 60))


def new_counter(name):
    """A Counter at ``name`` with Go's children: delta/rate/timeseries for 1h, 10m, 1m."""
    c = Counter()
    with _lock:
        _register(name, c)
        for kind, fn in (("delta", c.delta), ("rate", c.rate), ("timeseries", c.timeseries)):
            for suffix, which, period in _COUNTER_CHILDREN:
                _register(f"{name}/{kind}{suffix}", _Child(c, period,
                                                           lambda fn=fn, w=which: fn(w)))
    return c


class Histogram:
    """Counts of int values in buckets whose sizes grow geometrically (Go's histogram).

    Buckets: ``num_buckets``; the first starts at ``min_value`` and is
    ``smallest_bucket_size`` wide, each next one ``1 + growth_factor`` times wider
    (widths rounded down).  Values below ``min_value`` are not counted."""

    __slots__ = ("bounds", "_counts", "_count", "_sum", "_min", "_max", "_last", "_next",
                 "_series", "_snaps", "_slotmin", "_slotmax")

    def __init__(self, num_buckets=32, growth_factor=0.0, smallest_bucket_size=1.0,
                 min_value=0):
        num_buckets = num_buckets or 32
        smallest_bucket_size = smallest_bucket_size or 1.0
        bounds, low, delta = [], min_value, smallest_bucket_size
        for _ in range(num_buckets):
            bounds.append(low)
            low += int(delta)
            delta *= 1.0 + growth_factor
        self.bounds = bounds
        self._counts = [0] * num_buckets
        self._count = self._sum = 0
        self._min, self._max = _INT64_MAX, _INT64_MIN
        self._last = 0.0
        now = clock()
        self._series = tuple(_Series(now, p, r) for p, r in _SERIES)
        # per series: snapshots (count, sum, counts) of closed slots, and min/max per slot
        self._snaps = tuple([] for _ in _SERIES)
        self._slotmin = [_INT64_MAX] * 3
        self._slotmax = [_INT64_MIN] * 3
        self._next = now - now % 1 + 1

    def add(self, v):
        i = bisect_right(self.bounds, v) - 1
        if i < 0:
            raise ValueError(f"no bucket for value: {v}")
        now = clock()
        if now >= self._next:
            self._advance(now)
        self._counts[i] += 1
        self._count += 1
        self._sum += v
        # (the overall and the longer slots' extremes can only move when the shortest
        # slot's does: each covers at least what it covers)
        smin = self._slotmin
        if v < smin[2]:
            smin[0] = min(smin[0], v)
            smin[1] = min(smin[1], v)
            smin[2] = v
            if v < self._min:
                self._min = v
        smax = self._slotmax
        if v > smax[2]:
            smax[0] = max(smax[0], v)
            smax[1] = max(smax[1], v)
            smax[2] = v
            if v > self._max:
                self._max = v
        self._last = now

    def _advance(self, now):
        snap = (self._count, self._sum, tuple(self._counts))
        for k, s in enumerate(self._series):
            before = s.time
            s.advance(now, None)
            if s.time == before:
                continue
            # s.advance appended placeholders: keep one snapshot per closed slot
            snaps = self._snaps[k]
            n = len(s.slots)
            closed = min(int(round((s.time - before) / s.resolution)), s.size - 1)
            # the slot that just closed ends with the live totals and its own min/max;
            # the empty slots skipped after it hold the same totals and no values
            entries = [(snap, self._slotmin[k], self._slotmax[k])]
            entries += [(snap, _INT64_MAX, _INT64_MIN)] * (closed - 1)
            snaps.extend(entries)
            if len(snaps) > n:
                del snaps[:len(snaps) - n]
            self._slotmin[k], self._slotmax[k] = _INT64_MAX, _INT64_MIN
        self._next = now - now % 1 + 1

    def last_update(self):
        return self._last

    def value(self):
        from v23py.xref.services import stats as _vdl
        return _vdl.HistogramValue(
            Count=self._count, Sum=self._sum, Min=self._min, Max=self._max,
            Buckets=[_vdl.HistogramBucket(LowBound=b, Count=c)
                     for b, c in zip(self.bounds, self._counts)])

    def delta(self, which):
        """The histogram of the values added in the series' period (Go's Delta1h etc.)."""
        from v23py.xref.services import stats as _vdl
        now = clock()
        if now >= self._next:
            self._advance(now)
        s, snaps = self._series[which], self._snaps[which]
        full = s.steps >= s.size
        if full and snaps:
            (c0, s0, b0), _, _ = snaps[0]
            rest = snaps[1:]
        else:
            c0, s0, b0 = 0, 0, (0,) * len(self._counts)
            rest = snaps if not full else []
        lo = min([m for _, m, _ in rest] + [self._slotmin[which]])
        hi = max([m for _, _, m in rest] + [self._slotmax[which]])
        return _vdl.HistogramValue(
            Count=self._count - c0, Sum=self._sum - s0, Min=lo, Max=hi,
            Buckets=[_vdl.HistogramBucket(LowBound=b, Count=c - p)
                     for b, c, p in zip(self.bounds, self._counts, b0)])


_INT64_MAX = (1 << 63) - 1
_INT64_MIN = -(1 << 63)


def new_histogram(name, num_buckets=32, growth_factor=0.0, smallest_bucket_size=1.0,
                  min_value=0):
    """A Histogram at ``name`` with Go's children delta1h, delta10m, delta1m."""
    h = Histogram(num_buckets, growth_factor, smallest_bucket_size, min_value)
    with _lock:
        _register(name, h)
        for suffix, which, period in _COUNTER_CHILDREN:
            _register(f"{name}/delta{suffix}", _Child(h, period, lambda w=which: h.delta(w)))
    return h


class _Scalar:
    __slots__ = ("_value", "_last")

    def __init__(self, v):
        self._value = v
        self._last = 0.0

    def set(self, v):
        self._value = v
        self._last = clock()

    def value(self):
        return self._value

    def last_update(self):
        return self._last


class Integer(_Scalar):
    __slots__ = ()

    def __init__(self):
        super().__init__(0)

    def incr(self, delta=1):
        self._value += delta
        self._last = clock()


class Float(_Scalar):
    __slots__ = ()

    def __init__(self):
        super().__init__(0.0)

    def incr(self, delta=1.0):
        self._value += delta
        self._last = clock()


class String(_Scalar):
    __slots__ = ()

    def __init__(self):
        super().__init__("")


def new_integer(name):
    return _register(name, Integer())


def new_float(name):
    return _register(name, Float())


def new_string(name):
    return _register(name, String())


class FuncStat:
    """A statistic whose value a function computes when read (always fresh)."""

    __slots__ = ("fn", "kind")

    def __init__(self, fn, kind):
        self.fn, self.kind = fn, kind

    def last_update(self):
        return clock()

    def value(self):
        return self.kind(self.fn())


def new_integer_func(name, fn):
    return _register(name, FuncStat(fn, int))


def new_float_func(name, fn):
    return _register(name, FuncStat(fn, float))


def new_string_func(name, fn):
    return _register(name, FuncStat(fn, str))


class _MapEntry:
    __slots__ = ("map", "key")

    def __init__(self, m, key):
        self.map, self.key = m, key

    def last_update(self):
        e = self.map._values.get(self.key)
        return e[0] if e else 0.0

    def value(self):
        e = self.map._values.get(self.key)
        return e[1] if e else None


class Map:
    """A directory of named values (Go's stats.Map): each key is a child statistic.
    The map itself has no value."""

    def __init__(self, name):
        self.name = name
        self._values = {}

    def set(self, pairs):
        now = clock()
        for k, v in (pairs.items() if isinstance(pairs, dict) else pairs):
            if isinstance(v, bool) or not isinstance(v, (int, float, str)):
                v = str(v) if not isinstance(v, bool) else v
            self._values[k] = (now, v)
            self._ensure(k)

    def incr(self, key, delta=1):
        now = clock()
        old = self._values.get(key)
        if old is None:
            self._values[key] = (now, 0)
            self._ensure(key)
            old = (now, 0)
        if not isinstance(old[1], (int, float)) or isinstance(old[1], bool):
            return None
        v = old[1] + delta
        self._values[key] = (now, v)
        return v

    def delete(self, keys):
        with _lock:
            node = _find(self.name)
            for k in keys:
                self._values.pop(k, None)
                if node is not None:
                    node.children.pop(k, None)

    def keys(self):
        return sorted(self._values)

    def get(self, key):
        """The value at ``key`` (None when there is none)."""
        e = self._values.get(key)
        return e[1] if e is not None else None

    def _ensure(self, key):
        with _lock:
            node = _find(self.name + "/" + key, True)
            if node.obj is None:
                node.obj = _MapEntry(self, key)

    def last_update(self):
        return 0.0

    def value(self):
        return None


def new_map(name):
    return _register(name, Map(name))
