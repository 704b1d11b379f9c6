"""Distributed tracing with Go's vtrace model and wire types.

A trace is a tree of spans, each with a name, start and end times and timed
annotations.  Every context carries a span; an RPC client call opens a child
span and sends its ids in the request (``vtrace.Request``), the server
continues the trace under a span of its own, and a server that collected the
trace returns its spans in the response (``vtrace.Response``) for the caller
to merge.  What is collected lives in the process's :class:`Store` (bounded,
least recently used out), read through ``__debug/vtrace``.

A trace is collected when a root trace is sampled (``--v23.vtrace.sample-rate``),
when a span name or annotation matches ``--v23.vtrace.collect-regexp``, or when
the caller's request says so (its Flags carry CollectInMemory).  Uncollected
spans cost a few attribute stores: the store ignores them.
"""
import os
import random
import re
import struct
import threading
import time as _time
from collections import OrderedDict

from v23py.vdl import INT_RANGES, Kind
from v23py.vom import dec_int, dec_uint, enc_int, enc_uint, uint_bytes

__all__ = [
    "Store", "Span", "new_id", "id_hex", "id_from_hex", "EMPTY_ID", "COLLECT_IN_MEMORY",
    "AWS_XRAY", "with_store", "get_store", "get_span", "with_span", "with_new_trace",
    "with_continued_trace", "with_new_span", "get_request", "get_response", "format_trace",
    "format_traces", "init",
]

EMPTY_ID = bytes(16)
EMPTY_FLAGS = 0
COLLECT_IN_MEMORY = 1
AWS_XRAY = 2

STORE_KEY = "v23py.vtrace.store"
SPAN_KEY = "v23py.vtrace.span"

clock = _time.time


class _IdGen:
    """Go's uniqueid.RandomGenerator: 14 random bytes renewed every 32768 ids, then a
    counter with its top bit set (cheap enough to run for every call)."""

    def __init__(self):
        import itertools
        self._count = itertools.count()
        self._gen = -1
        self._prefix = b""

    def new(self):
        gen, c = divmod(next(self._count), 0x8000)   # (next() on a count is atomic)
        if gen != self._gen:
            self._gen, self._prefix = gen, os.urandom(14)
        return self._prefix + (c | 0x8000).to_bytes(2, "big")


new_id = _IdGen().new


def id_hex(i):
    """Go's uniqueid.Id.String(): ``0x`` and 32 hex digits."""
    return "0x" + bytes(i).hex()


def id_from_hex(s):
    """Go's uniqueid.FromHexString (an optional ``0x``, then 32 hex digits)."""
    from v23py import verror
    t = s[2:] if s.startswith("0x") else s
    try:
        b = bytes.fromhex(t)
    except ValueError:
        raise verror.BadArg.new(f"bad trace id {s!r}: not hexadecimal")
    if len(b) != 16:
        raise verror.BadArg.new(f"bad trace id {s!r}: want 16 bytes, got {len(b)}")
    return b


# ---------------------------------------------------------------------------
# records (plain objects, turned into the wire types when sent)
# ---------------------------------------------------------------------------

class _SpanRec:
    __slots__ = ("id", "parent", "name", "start", "end", "annotations", "metadata")

    def __init__(self, id, parent, name, start, end=0.0, annotations=None, metadata=b""):
        self.id, self.parent, self.name = id, parent, name
        self.start, self.end = start, end
        self.annotations = annotations if annotations is not None else []   # [(when, msg)]
        self.metadata = metadata


class _TraceRec:
    __slots__ = ("id", "level", "spans")

    def __init__(self, id, level):
        self.id, self.level, self.spans = id, level, {}

    def span(self, s):
        r = self.spans.get(s.id)
        if r is None:
            r = self.spans[s.id] = _SpanRec(s.id, s.parent, s.name, s.start)
        return r


def _wt():
    from v23py.v23 import vtrace as w
    return w


def _to_wire_time(t):
    from v23py.v23.vdlroot.time import native as vtime
    if not t:
        from v23py.v23.vdlroot.time import Time
        return Time(Seconds=0, Nanos=0)
    return vtime.time_from_unix_ns(int(round(t * 1e9)))


def _from_wire_time(t):
    from v23py.v23.vdlroot.time import native as vtime
    if t is None or (t.Seconds == 0 and t.Nanos == 0):
        return 0.0
    return vtime.time_to_unix_ns(t) / 1e9


def _record_to_wire(tr):
    w = _wt()
    spans = []
    for s in tr.spans.values():
        spans.append(w.SpanRecord(
            Id=s.id, Parent=s.parent, Name=s.name, Start=_to_wire_time(s.start),
            End=_to_wire_time(s.end),
            Annotations=[w.Annotation(When=_to_wire_time(t), Message=m) for t, m in s.annotations],
            RequestMetadata=bytes(s.metadata)))
    return w.TraceRecord(Id=tr.id, Spans=spans)


# ---------------------------------------------------------------------------
# the store
# ---------------------------------------------------------------------------

class Store:
    """The traces this process collects (Go's x/ref/lib/vtrace Store)."""

    def __init__(self, sample_rate=0.0, collect_regexp="", cache_size=1024, log_level=0,
                 aws_xray=False):
        self.sample_rate = float(sample_rate)
        self.collect_re = re.compile(collect_regexp) if collect_regexp else None
        self.cache_size = int(cache_size) if cache_size else 1024
        self.log_level = int(log_level)
        self.aws_xray = bool(aws_xray)
        self._traces = OrderedDict()   # id -> _TraceRec, most recently used last
        self._lock = threading.Lock()
        # whether a new span may be kept: something is collected, or could start to be
        self.busy = self.collect_re is not None or self.sample_rate > 0.0

    # -- collection decisions ------------------------------------------------
    def _force(self, tid, level):
        tr = self._traces.get(tid)
        if tr is not None:
            return tr
        tr = self._traces[tid] = _TraceRec(tid, level)
        self.busy = True
        while len(self._traces) > self.cache_size:
            self._traces.popitem(last=False)
        return tr

    def force_collect(self, tid, level=0):
        with self._lock:
            self._force(tid, level)

    def _by_regexp(self, tid, text):
        tr = self._traces.get(tid)
        if tr is not None:
            return tr
        if self.collect_re is not None and self.collect_re.search(text):
            return self._force(tid, self.log_level)
        return None

    def _for_start(self, tid, parent, name):
        tr = self._traces.get(tid)
        if tr is not None:
            return tr
        sr = self.sample_rate
        if tid == parent and sr > 0.0 and (sr >= 1.0 or random.random() < sr):
            return self._force(tid, self.log_level)
        return self._by_regexp(tid, name)

    # -- span events ---------------------------------------------------------
    def start(self, span):
        with self._lock:
            tr = self._for_start(span.trace, span.parent, span.name)
            if tr is None:
                return
            tr.span(span)
            self._traces.move_to_end(tr.id)

    def finish(self, span, when):
        if not self._traces:
            return
        with self._lock:
            tr = self._traces.get(span.trace)
            if tr is not None:
                tr.span(span).end = when
                self._traces.move_to_end(tr.id)

    def annotate(self, span, when, msg):
        if not self._traces and self.collect_re is None:
            return
        with self._lock:
            tr = self._by_regexp(span.trace, msg)
            if tr is not None:
                tr.span(span).annotations.append((when, msg))
                self._traces.move_to_end(tr.id)

    def set_metadata(self, span, md):
        with self._lock:
            tr = self._traces.get(span.trace)
            if tr is not None:
                tr.span(span).metadata = md

    def merge(self, response):
        """Take in the spans of a vtrace.Response a server sent back."""
        flags = getattr(response, "Flags", 0) or 0
        trace = getattr(response, "Trace", None)
        if trace is None:
            return
        tid = bytes(trace.Id)
        if not flags & COLLECT_IN_MEMORY and tid not in self._traces:
            return
        with self._lock:
            tr = self._force(tid, self.log_level) if flags & COLLECT_IN_MEMORY \
                else self._traces.get(tid)
            if tr is None:
                return
            for s in trace.Spans or ():
                sid = bytes(s.Id)
                if sid in tr.spans:
                    continue
                tr.spans[sid] = _SpanRec(
                    sid, bytes(s.Parent), s.Name, _from_wire_time(s.Start),
                    _from_wire_time(s.End),
                    [(_from_wire_time(a.When), a.Message) for a in s.Annotations or ()],
                    bytes(s.RequestMetadata or b""))

    # -- queries -------------------------------------------------------------
    def flags(self, tid):
        mask = COLLECT_IN_MEMORY if tid in self._traces else EMPTY_FLAGS
        if self.aws_xray:
            mask |= AWS_XRAY
        return mask

    def level(self, tid):
        tr = self._traces.get(tid)
        return tr.level if tr is not None else 0

    def trace_record(self, tid):
        """The wire TraceRecord of trace ``tid`` (empty, zero id, when unknown)."""
        with self._lock:
            tr = self._traces.get(bytes(tid))
            if tr is None:
                return _wt().TraceRecord(Id=EMPTY_ID, Spans=[])
            return _record_to_wire(tr)

    def has(self, tid):
        return bytes(tid) in self._traces

    def trace_records(self):
        with self._lock:
            return [_record_to_wire(tr) for tr in self._traces.values()]


# ---------------------------------------------------------------------------
# spans
# ---------------------------------------------------------------------------

class Span:
    """One span; ``store`` decides whether anything about it is kept.  (Its id is made
    when first needed: most server spans of uncollected traces never need one.)"""

    __slots__ = ("_id", "parent", "trace", "name", "start", "store", "metadata")

    def __init__(self, trace, parent, name, store):
        self._id = None
        self.parent = parent
        self.trace = trace
        self.name = name
        self.start = clock()
        self.store = store
        self.metadata = b""
        if store is not None and store.busy:
            store.start(self)

    @property
    def id(self):
        i = self._id
        if i is None:
            i = self._id = new_id()
        return i

    def annotate(self, msg):
        if self.store is not None:
            self.store.annotate(self, clock(), msg)

    def annotatef(self, fmt, *args):
        self.annotate(fmt % args if args else fmt)

    def set_request_metadata(self, md):
        self.metadata = bytes(md)
        if self.store is not None:
            self.store.set_metadata(self, self.metadata)

    def finish(self, err=None):
        st = self.store
        if st is not None and st._traces:
            st.finish(self, clock())

    def request(self):
        """The vtrace.Request that carries this span to a server."""
        st = self.store
        return _wt().Request(SpanId=self.id, TraceId=self.trace, RequestMetadata=self.metadata,
                             Flags=st.flags(self.trace) if st is not None else 0,
                             LogLevel=st.level(self.trace) if st is not None else 0)

    def collected(self):
        st = self.store
        return st is not None and self.trace in st._traces


class _EmptySpan:
    """The span of a context without tracing (Go's emptySpan)."""

    __slots__ = ()
    id = _id = parent = trace = EMPTY_ID
    name = ""
    store = None

    def annotate(self, msg):
        pass

    def annotatef(self, fmt, *args):
        pass

    def set_request_metadata(self, md):
        pass

    def finish(self, err=None):
        pass

    def request(self):
        return None

    def collected(self):
        return False


EMPTY_SPAN = _EmptySpan()


# ---------------------------------------------------------------------------
# contexts
# ---------------------------------------------------------------------------

def with_store(ctx, store):
    return ctx.with_value(STORE_KEY, store)


def get_store(ctx):
    return ctx.value(STORE_KEY) if ctx is not None else None


def get_span(ctx):
    s = ctx.value(SPAN_KEY) if ctx is not None else None
    return s if s is not None else EMPTY_SPAN


def with_span(ctx, span):
    return ctx.with_value(SPAN_KEY, span)


def with_new_trace(ctx, name=""):
    """A context whose span is the root of a new trace (sampled per the store)."""
    store = get_store(ctx)
    tid = new_id()
    span = Span(tid, tid, name, store)
    return with_span(ctx, span), span


def with_continued_trace(ctx, name, req):
    """A context continuing the caller's trace from its vtrace.Request."""
    store = get_store(ctx)
    tid = bytes(req.TraceId) if req is not None else EMPTY_ID
    if store is not None and req is not None and req.Flags & COLLECT_IN_MEMORY:
        store.force_collect(tid, req.LogLevel)
    span = Span(tid, bytes(req.SpanId) if req is not None else EMPTY_ID, name, store)
    return with_span(ctx, span), span


def with_new_span(ctx, name):
    """A context with a child of the context's span (a new trace when it has none)."""
    cur = get_span(ctx)
    if cur is EMPTY_SPAN:
        return with_new_trace(ctx, name)
    span = Span(cur.trace, cur.id, name, cur.store)
    return with_span(ctx, span), span


def continue_span(ctx, store, req, name_fn, suffix, method):
    """A server's span for a call (Go's WithContinuedTrace), attached to ``ctx``, which
    must be a context of the call's own, just derived and not yet shared.  The span's
    name, ``name_fn(suffix, method)``, is made only when the store may keep it."""
    if req is None:
        tid = parent = EMPTY_ID
        flags = level = 0
    elif type(req) is tuple:   # (span id, trace id, flags, level, metadata): see rpc._stream
        parent, tid, flags, level, _ = req
    else:
        tid, parent, flags, level = bytes(req.TraceId), bytes(req.SpanId), req.Flags, req.LogLevel
    if flags & COLLECT_IN_MEMORY:
        store.force_collect(tid, level)
    span = Span(tid, parent, name_fn(suffix, method) if store.busy else "", store)
    values = ctx._values.copy()
    values[SPAN_KEY] = span
    ctx._values = values
    return span


def client_span(parent, name, method):
    """The span of an RPC client call (Go's ``<rpc.Client>"name".Method``), a child of
    ``parent``; named only when the store may keep it."""
    store = parent.store
    return Span(parent.trace, parent._id or parent.id,
                f'<rpc.Client>"{name if name is not None else ""}".{method}' if store.busy
                else "", store)


# The Request's TraceRequest field as VOM writes it (field index 6, then the struct's
# fields in order): 06 00 00 <span id> 01 00 <trace id> [02 metadata] [03 flags]
# [04 level] E1.  This module is its one home: built by _trace_field and splice_request,
# read by read_trace_field and plain_trace_ids (the latter two are on every traced call's
# path, so each reads the ids itself rather than through a shared step).
TRACE_FIELD_HEAD = b"\x06\x00\x00"
_ID_SEP = b"\x01\x00"
_ENDS = b"\xe1\xe1"   # the field's end marker and the Request's
_IDS_END = 37        # bytes of the field up to the end of the trace id
_INT32 = INT_RANGES[Kind.INT32]   # (the field's Flags and LogLevel)
PLAIN_TRACE_TAIL = 39     # a field with only the ids, its end marker and the Request's
PLAIN_AFTER_HEAD = PLAIN_TRACE_TAIL - len(TRACE_FIELD_HEAD)


def plain_trace_ids(buf, i):
    """(span id, trace id, 0, 0, b"") -- read_trace_field's answer -- when buf[i - 3:] is
    a TraceRequest field with only its ids and then the Request's end marker (what a
    repeated call sends; the caller has matched the bytes before ``i``, which end with
    TRACE_FIELD_HEAD), else None."""
    if buf.startswith(_ID_SEP, i + 16) and buf.startswith(_ENDS, i + 34):
        return bytes(buf[i:i + 16]), bytes(buf[i + 18:i + 34]), 0, 0, b""
    return None


def read_trace_field(buf, i, end):
    """(span id, trace id, flags, level, metadata) from buf[i:end], the Request's
    TraceRequest field and the Request's end marker; None for any other layout (the
    general decoder then takes the message)."""
    if end - i < PLAIN_TRACE_TAIL:
        return None
    if not (buf.startswith(TRACE_FIELD_HEAD, i) and buf.startswith(_ID_SEP, i + 19)):
        return None
    j = i + _IDS_END
    md, flags, level = b"", 0, 0
    if buf[j] == 2:
        n = buf[j + 1]
        if n >= 0x80:
            return None
        md = bytes(buf[j + 2:j + 2 + n])
        j += 2 + n
    try:
        if buf[j] == 3:
            flags, j = dec_int(buf, j + 1)
        if buf[j] == 4:
            level, j = dec_int(buf, j + 1)
    except Exception:      # (cut short: the general decoder says what is wrong)
        return None
    if j + 2 != end or buf[j] != 0xE1 or buf[j + 1] != 0xE1:
        return None
    lo, hi = _INT32
    if not (lo <= flags <= hi and lo <= level <= hi):
        return None        # (both are int32: the general decoder refuses the message)
    return bytes(buf[i + 3:i + 19]), bytes(buf[i + 21:i + _IDS_END]), flags, level, md


def _trace_field(span):
    """VOM bytes of the Request's TraceRequest field (index 6) for ``span``."""
    st = span.store
    md = span.metadata
    collected = st is not None and span.trace in st._traces
    if not md and not collected and (st is None or not st.aws_xray):
        return b"".join((TRACE_FIELD_HEAD, span.id, _ID_SEP, span.trace, b"\xe1"))
    b = bytearray(TRACE_FIELD_HEAD)
    b += span.id
    b += _ID_SEP
    b += span.trace
    if md:
        b.append(2)
        enc_uint(b, len(md))
        b += md
    flags = st.flags(span.trace) if st is not None else 0
    if flags:
        b.append(3)
        enc_int(b, flags)
    level = st.level(span.trace) if st is not None else 0
    if level:
        b.append(4)
        enc_int(b, level)
    b.append(0xE1)
    return bytes(b)


_SPLIT = {}   # encoded request message -> (head, body without its end marker, lead)


def splice_request(msg, span):
    """An encoded rpc.Request value message (without trace data) with ``span``'s
    TraceRequest put in, or None when ``msg`` is not laid out as expected.  (The request
    header of a repeated call is kept encoded; this keeps that saving with tracing on.)"""
    if type(msg) is not bytes:
        msg = bytes(msg)
    split = _SPLIT.get(msg)
    if split is None:
        try:
            _, p = dec_uint(msg, 0)
            n, q = dec_uint(msg, p)
        except Exception:
            return None
        if q + n != len(msg) or n == 0 or msg[-1] != 0xE1:
            return None
        head, core = bytes(msg[:p]), bytes(msg[q:-1])
        split = (head, core, traced_request_lead(head, core))
        if len(_SPLIT) > 1024:
            _SPLIT.clear()
        _SPLIT[msg] = split
    head, core, lead = split
    st = span.store
    if span.metadata or (st is not None and (st.aws_xray or span.trace in st._traces)):
        tf = _trace_field(span)
    else:
        i = span._id
        if i is None:
            i = span._id = new_id()
        if lead is not None:   # (the usual call: lead ends with the field's head)
            return b"".join((lead, i, _ID_SEP, span.trace, _ENDS))
        tf = _trace_field(span)
    n = len(core) + len(tf) + 1
    if n < 0x80:
        return head + bytes((n,)) + core + tf + b"\xe1"
    return head + uint_bytes(n) + core + tf + b"\xe1"


def traced_request_lead(head, core):
    """The bytes before the span id of a Request value message made of ``head`` (its type
    id) and ``core`` (its fields before TraceRequest) whose TraceRequest has only its ids
    (no flags, level or metadata), when its length then fits one byte; else None."""
    n = len(core) + PLAIN_TRACE_TAIL
    if n >= 0x80:
        return None
    return head + bytes((n,)) + core + TRACE_FIELD_HEAD


def get_request(ctx):
    return get_span(ctx).request()


def get_response(span):
    """The vtrace.Response a server returns for ``span`` (its collected trace, if any)."""
    st = span.store
    if st is None or span.trace not in st._traces:
        return None
    return _wt().Response(Flags=st.flags(span.trace), Trace=st.trace_record(span.trace))


def init(ctx, sample_rate=0.0, collect_regexp="", cache_size=1024, log_level=0,
         root_span_name="", aws_xray=False):
    """The runtime's tracing: a store on ``ctx`` and the root trace every call descends from."""
    store = Store(sample_rate, collect_regexp, cache_size, log_level, aws_xray)
    ctx = with_store(ctx, store)
    ctx, _ = with_new_trace(ctx, root_span_name)
    return ctx, store


# ---------------------------------------------------------------------------
# text output, as Go's vtrace.FormatTrace
# ---------------------------------------------------------------------------

def _go_duration(seconds):
    """Go's time.Duration.String() for a duration in seconds (nanosecond precision)."""
    ns = int(round(seconds * 1e9))
    if ns == 0:
        return "0s"
    neg = ns < 0
    u = -ns if neg else ns
    if u < 1000000000:
        if u < 1000:
            s = f"{u}ns"
        elif u < 1000000:
            s = _frac(u, 1000) + "µs"
        else:
            s = _frac(u, 1000000) + "ms"
    else:
        h, rem = divmod(u, 3600 * 10**9)
        m, rem = divmod(rem, 60 * 10**9)
        sec = _frac(rem, 10**9) + "s"
        s = (f"{h}h" if h else "") + (f"{m}m" if h or m else "") + sec
    return "-" + s if neg else s


def _frac(v, unit):
    whole, part = divmod(v, unit)
    if not part:
        return str(whole)
    digits = len(str(unit)) - 1
    return f"{whole}." + f"{part:0{digits}d}".rstrip("0")


class _Node:
    __slots__ = ("span", "children")

    def __init__(self, span=None):
        self.span = span
        self.children = []


def _build_tree(rec):
    nodes = {}
    root = None
    earliest = None
    for s in rec.Spans or ():
        start = _from_wire_time(s.Start)
        if start and (earliest is None or start < earliest):
            earliest = start
        n = nodes.get(bytes(s.Id))
        if n is None:
            n = nodes[bytes(s.Id)] = _Node()
        n.span = s
        if bytes(s.Parent) == bytes(rec.Id):
            root = n
        else:
            p = nodes.get(bytes(s.Parent))
            if p is None:
                p = nodes[bytes(s.Parent)] = _Node()
            p.children.append(n)
    for n in nodes.values():
        n.children.sort(key=lambda c: _from_wire_time(c.span.Start) if c.span is not None else 0)
        if n.span is not None:
            n.span.Annotations = sorted(n.span.Annotations or (),
                                        key=lambda a: _from_wire_time(a.When))
    w = _wt()
    zero_id = EMPTY_ID
    if root is None:
        root = _Node(w.SpanRecord(Id=zero_id, Parent=zero_id, Name="Missing Root Span",
                                  Start=_to_wire_time(earliest or 0.0), End=_to_wire_time(0.0),
                                  Annotations=[], RequestMetadata=b""))
    missing = []
    for n in nodes.values():
        if n.span is None:
            n.span = w.SpanRecord(Id=zero_id, Parent=zero_id, Name="Missing Data",
                                  Start=_to_wire_time(0.0), End=_to_wire_time(0.0),
                                  Annotations=[], RequestMetadata=b"")
            missing.append(n)
    root.children.extend(missing)
    return root


def _delta(when, start):
    if not when or not start:
        return "??"
    return _go_duration(when - start)


def _format_node(out, n, trace_start, indent):
    s = n.span
    start, end = _from_wire_time(s.Start), _from_wire_time(s.End)
    out.write(f"{indent}Span - {s.Name} [id: {bytes(s.Id)[12:].hex()} parent "
              f"{bytes(s.Parent)[12:].hex()}] ({_delta(start, trace_start)}, "
              f"{_delta(end, trace_start)}: {_delta(end, start)})\n")
    indent += "    "
    for a in s.Annotations or ():
        out.write(f"{indent}@{_delta(_from_wire_time(a.When), trace_start)} {a.Message}\n")
    if s.RequestMetadata:
        out.write(f"{indent}[0x{bytes(s.RequestMetadata)[:10].hex()}]\n")
    for c in n.children:
        _format_node(out, c, trace_start, indent)


def _format_time(t, utc=False):
    if not t:
        return "??"
    lt = _time.gmtime(t) if utc else _time.localtime(t)
    us = int(round((t - int(t)) * 1e6))
    if us == 1000000:
        us = 999999
    zone = "UTC" if utc else _time.strftime("%Z", lt)
    return _time.strftime("%Y-%m-%d %H:%M:%S", lt) + f".{us:06d} " + zone


def format_trace(out, rec, utc=False):
    """Write a wire TraceRecord as Go's vtrace.FormatTrace does."""
    root = _build_tree(rec)
    rstart, rend = _from_wire_time(root.span.Start), _from_wire_time(root.span.End)
    out.write(f"Trace - {id_hex(rec.Id)} ({_format_time(rstart, utc)}, "
              f"{_format_time(rend, utc)})\n")
    for c in root.children:
        _format_node(out, c, rstart, "    ")


def format_traces(out, records, utc=False):
    if records:
        out.write("Vtrace traces:\n")
        for r in records:
            format_trace(out, r, utc)
