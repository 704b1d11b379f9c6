"""``__debug/pprof``: Go's PProf service with the profiles Python can truthfully give.

- ``CpuProfile(seconds)``: the main thread's Python stacks, sampled every 10 ms of
  process CPU time (``SIGPROF``, as Go's profiler), as a gzipped pprof protocol
  buffer that ``go tool pprof`` reads.  The reactor runs in the main thread;
  work in other threads is counted against whatever the main thread was doing.
- ``Profile("goroutine", debug)``: every thread's current stack; ``debug=0`` gives
  the pprof format, ``debug>=1`` text (thread, then frames, innermost first).
- ``Profile("heap", ...)``: only while ``tracemalloc`` traces (start the program
  with ``PYTHONTRACEMALLOC=1``): live allocations by stack.
- ``Symbol``: Python has no program counters; the profiles carry function names,
  so Symbol answers NotImplemented.
"""
import gzip
import signal
import sys
import threading
import time
import traceback

from v23py import verror
from v23py.v23.services import pprof as _svc

from ._util import sleep

SAMPLE_PERIOD = 0.01
_CHUNK = 32 * 1024


# ---------------------------------------------------------------------------
# the pprof protocol buffer (github.com/google/pprof/proto/profile.proto)
# ---------------------------------------------------------------------------

def _varint(n):
    out = bytearray()
    n &= (1 << 64) - 1
    while True:
        b = n & 0x7f
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _field_varint(num, v):
    return _varint(num << 3) + _varint(v)


def _field_bytes(num, b):
    return _varint(num << 3 | 2) + _varint(len(b)) + b


def _packed(num, values):
    return _field_bytes(num, b"".join(_varint(v) for v in values))


class ProfileBuilder:
    """Stacks (outermost frame last, as pprof wants: leaf first) with values."""

    def __init__(self, sample_types, period_type=None, period=0):
        self.strings = {"": 0}
        self.functions = {}   # (name, file) -> id
        self.locations = {}   # (function id, line) -> id
        self.samples = {}     # tuple of location ids -> [values]
        self.sample_types = [(self._s(t), self._s(u)) for t, u in sample_types]
        self.period_type = (self._s(period_type[0]), self._s(period_type[1])) \
            if period_type else None
        self.period = period
        self.start = time.time()
        self.duration = 0

    def _s(self, s):
        i = self.strings.get(s)
        if i is None:
            i = self.strings[s] = len(self.strings)
        return i

    def _loc(self, name, filename, line, firstline):
        fk = (name, filename)
        fid = self.functions.get(fk)
        if fid is None:
            fid = self.functions[fk] = (len(self.functions) + 1, firstline)
        lk = (fid[0], line)
        lid = self.locations.get(lk)
        if lid is None:
            lid = self.locations[lk] = len(self.locations) + 1
        return lid

    def add_frame_stack(self, frame, values):
        """Add the stack that ends in ``frame`` (a Python frame object)."""
        locs = []
        f = frame
        while f is not None and len(locs) < 512:
            co = f.f_code
            locs.append(self._loc(getattr(co, "co_qualname", co.co_name), co.co_filename,
                                  f.f_lineno or 0, co.co_firstlineno))
            f = f.f_back
        self.add(tuple(locs), values)

    def add(self, locs, values):
        cur = self.samples.get(locs)
        if cur is None:
            self.samples[locs] = list(values)
        else:
            for i, v in enumerate(values):
                cur[i] += v

    def encode(self):
        out = bytearray()
        for t, u in self.sample_types:
            out += _field_bytes(1, _field_varint(1, t) + _field_varint(2, u))
        for locs, values in self.samples.items():
            out += _field_bytes(2, _packed(1, locs) + _packed(2, values))
        # one mapping that says the functions are already symbolized
        out += _field_bytes(3, _field_varint(1, 1) + _field_varint(7, 1) +
                            _field_varint(8, 1) + _field_varint(9, 1))
        for (fid, line), lid in self.locations.items():
            out += _field_bytes(4, _field_varint(1, lid) + _field_varint(2, 1) +
                                _field_varint(3, lid) +
                                _field_bytes(4, _field_varint(1, fid) + _field_varint(2, line)))
        for (name, filename), (fid, first) in self.functions.items():
            out += _field_bytes(5, _field_varint(1, fid) + _field_varint(2, self._s(name)) +
                                _field_varint(3, self._s(name)) +
                                _field_varint(4, self._s(filename)) + _field_varint(5, first))
        for s in self.strings:   # insertion order is index order
            out += _field_bytes(6, s.encode("utf-8"))
        out += _field_varint(9, int(self.start * 1e9))
        out += _field_varint(10, int(self.duration * 1e9))
        if self.period_type is not None:
            out += _field_bytes(11, _field_varint(1, self.period_type[0]) +
                                _field_varint(2, self.period_type[1]))
            out += _field_varint(12, self.period)
        return gzip.compress(bytes(out))


# ---------------------------------------------------------------------------
# the service
# ---------------------------------------------------------------------------

_cpu_busy = threading.Lock()


def _thread_names():
    return {t.ident: t.name for t in threading.enumerate()}


def goroutine_text():
    names = _thread_names()
    frames = sys._current_frames()
    out = [f"thread profile: total {len(frames)}\n"]
    for ident, frame in frames.items():
        out.append(f"\nthread {ident} [{names.get(ident, '?')}]:\n")
        for fs in reversed(traceback.extract_stack(frame)):
            out.append(f"{fs.name}\n\t{fs.filename}:{fs.lineno}\n")
    return "".join(out)


def goroutine_proto():
    b = ProfileBuilder([("goroutine", "count")], ("goroutine", "count"), 1)
    for frame in sys._current_frames().values():
        b.add_frame_stack(frame, [1])
    return b.encode()


def heap_proto():
    import tracemalloc
    b = ProfileBuilder([("inuse_objects", "count"), ("inuse_space", "bytes")],
                       ("space", "bytes"), 0)
    snap = tracemalloc.take_snapshot()
    for st in snap.statistics("traceback"):
        locs = tuple(b._loc("?", fr.filename, fr.lineno, 0) for fr in reversed(st.traceback))
        b.add(locs, [st.count, st.size])
    return b.encode()


class _PProf(_svc.PProfServerMethods):
    def CmdLine(self, ctx, call):
        return list(sys.argv)

    def Profiles(self, ctx, call):
        out = ["goroutine"]
        try:
            import tracemalloc
            if tracemalloc.is_tracing():
                out.append("heap")
        except ImportError:
            pass
        return out

    async def Profile(self, ctx, call, name, debug):
        if name == "goroutine":
            data = goroutine_text().encode() if debug > 0 else goroutine_proto()
        elif name == "heap" and "heap" in self.Profiles(ctx, call):
            data = heap_proto()
        else:
            raise verror.Unknown.new(f"profile does not exist: {name}")
        await _send(call, data)

    async def CpuProfile(self, ctx, call, seconds):
        if seconds <= 0 or seconds > 3600:
            raise verror.Unknown.new(
                f"invalid number of seconds: {seconds}, not in range 0...3600")
        if threading.current_thread() is not threading.main_thread() or \
                not hasattr(signal, "setitimer"):
            raise verror.NotImplemented.new("CPU profiling needs SIGPROF in the main thread")
        if not _cpu_busy.acquire(blocking=False):
            raise verror.Unknown.new("cpu profiling already in use")
        period_ns = int(SAMPLE_PERIOD * 1e9)
        b = ProfileBuilder([("samples", "count"), ("cpu", "nanoseconds")],
                           ("cpu", "nanoseconds"), period_ns)

        def on_prof(signum, frame):
            if frame is not None:
                b.add_frame_stack(frame, [1, period_ns])
        old = signal.signal(signal.SIGPROF, on_prof)
        t0 = time.time()
        try:
            signal.setitimer(signal.ITIMER_PROF, SAMPLE_PERIOD, SAMPLE_PERIOD)
            await sleep(ctx, seconds)
        finally:
            signal.setitimer(signal.ITIMER_PROF, 0, 0)
            signal.signal(signal.SIGPROF, old if old is not None else signal.SIG_DFL)
            _cpu_busy.release()
        b.duration = time.time() - t0
        await _send(call, b.encode())

    def Symbol(self, ctx, call, programCounters):
        raise verror.NotImplemented.new(
            "Python has no program counters: the profiles carry function names")


async def _send(call, data):
    chunks = [data[i:i + _CHUNK] for i in range(0, len(data), _CHUNK)] or [b""]
    await call.send_many(chunks)


def PProfServer():
    return _svc.PProfServer(_PProf())

