"""The Twisted side of one connection and its flows: ``ManagedConn`` drives a sans-IO
``Conn``, ``Flow`` is what the RPC layer reads and writes; and the output batching that
writes everything a reactor turn produced on a conn in one send."""
from __future__ import annotations

import collections
import logging
import socket

from twisted.internet import defer
from twisted.python import failure

from v23py.flow import conn as fconn, errors, events as fevents
from v23py.flow.events import CLOSED as _CLOSED

log = logging.getLogger(__name__)


def _verror(exc, default=None, msg=""):
    if isinstance(exc, failure.Failure):
        exc = exc.value
    if isinstance(exc, errors.VError):
        return exc
    eid = default or errors.ConnectionClosed
    return errors.err(eid, "%s%s", msg, exc)


# ------------------------------------------------------------------------------------------ output

# Output produced while handling received data (a reply, the next call of a caller woken by a
# reply, credits...) is collected per connection and written once when the outermost
# dataReceived returns: one send per connection per reactor turn instead of one per message.
_batch = [0]      # depth of dataReceived calls on the stack
_dirty = []       # ManagedConns with output (or timer changes) waiting for the end of the batch
_wakeups = []     # after_input callbacks waiting for the end of the batch


def after_input(fn):
    """Call ``fn()`` once the received bytes being handled now have all been dispatched
    (at once when nothing is being handled).

    A consumer woken there finds everything that arrived in the same read, instead of being
    woken once per message (e.g. a stream reader decodes a whole batch of items in one go).
    """
    if _batch[0]:
        _wakeups.append(fn)
    else:
        fn()


def _run_wakeups():
    while _wakeups:
        fns = _wakeups[:]
        del _wakeups[:]
        for fn in fns:
            try:
                fn()
            except Exception:  # pragma: no cover - never let one consumer break the others
                log.exception("after_input callback failed")


def _end_batch():
    if _batch[0] == 1 and _wakeups:
        try:
            _run_wakeups()   # still inside the batch: what they write is batched too
        finally:
            _batch[0] -= 1
    else:
        _batch[0] -= 1
    if not _batch[0] and _dirty:
        _flush_dirty()


# Output pieces (a sealed frame is one, a clear one two) a conn may hold back inside a
# batch.  Writing a burst's first replies while later ones are still being made lets the
# peer work on them meanwhile: with 16 callers on one conn both processes then run at once
# instead of taking turns (twice the calls/s), for one more send() per few messages.  8
# rather than 4 keeps that overlap with half the sends and wake-ups (16 callers: ~8% less
# CPU per call on each side, 5 interleaved rpc_bench pairs +8% calls/s on average).
_EARLY_FLUSH = 8


def _flush_dirty():
    while _dirty:
        conns = _dirty[:]
        del _dirty[:]
        for mc in conns:
            try:
                mc._flush_now()
            except Exception:  # pragma: no cover - never let one conn break the others
                log.exception("flow conn %r: flushing output failed", mc)


class output_batch:
    """Context manager: flow output produced inside is written once per conn at the end.

    dataReceived already batches; use this around other bursts of work done in one reactor
    turn (e.g. delivering many results that a worker thread handed back at once)::

        with output_batch():
            for d, result in done:
                d.callback(result)
    """

    __slots__ = ()

    def __enter__(self):
        _batch[0] += 1
        return self

    def __exit__(self, *exc):
        _end_batch()
        return False


_GATHER_MAX = 256   # buffers per sendmsg (well under any IOV_MAX); more are joined first


def _write(tr, parts):
    """transport.writeSequence(parts), but straight to the socket when nothing is queued in
    Twisted, the buffers gathered by one sendmsg (no join: a long message is written from
    the bytearray it was sealed in).

    Twisted's write only queues: it registers the socket for writability (two epoll_ctl calls)
    and sends on the next reactor iteration.  When its buffer is empty we may send at once
    (same bytes, same order); whatever the kernel does not take goes through Twisted as usual.
    """
    sock = getattr(tr, "socket", None)
    if (sock is not None and tr.connected and not tr.disconnecting and not tr._tempDataBuffer
            and tr.offset == len(tr.dataBuffer) and getattr(tr, "TLS", False) is False
            and not tr._writeDisconnected):
        if len(parts) > _GATHER_MAX or (len(parts) > 1 and _no_sendmsg):
            parts = [b"".join(parts)]
        try:
            n = sock.send(parts[0]) if len(parts) == 1 else sock.sendmsg(parts)
        except (BlockingIOError, InterruptedError):
            n = 0
        except OSError:
            n = 0   # Twisted's own write path will see and report the error
        if n:
            if n == sum(map(len, parts)):
                return   # (the usual case: all of it, found without a loop over the parts)
            for i, p in enumerate(parts):
                if n < len(p):
                    parts = parts[i:]
                    parts[0] = memoryview(p)[n:]
                    break
                n -= len(p)
            else:
                return
    tr.writeSequence(parts)


_no_sendmsg = not hasattr(socket.socket, "sendmsg")

# the kinds of the conn's per-call events (see v23py.flow.events), looked up once
_DATA_RECEIVED, _FLOW_ACCEPTED = fevents.DataReceived, fevents.FlowAccepted
_FLOW_CLOSED, _FLOW_DRAINED = fevents.FlowClosed, fevents.FlowDrained


# ------------------------------------------------------------------------------------------ Flow

class Flow:
    """One multiplexed flow (see the package docstring)."""

    def __init__(self, mconn: "ManagedConn", state: fconn.FlowState):
        self.conn = mconn
        self._state = state
        state.user = self
        state.want_drained = False   # until someone waits in write()/close()
        self._closed_d = None   # the `closed` Deferred, made when asked for
        self._is_closed = False
        self._on_data = None
        self._on_close = None
        self._bytearrays = False    # on_data takes a bytearray payload as its own (set_receiver)
        # (made when first needed: most flows are pushed to a receiver and never wait)
        self._buf = None            # deque of chunks read before a receiver or reader
        self._readers = None        # deque of read() Deferreds
        self._eof = False
        self._error = None
        self._drain_waiters = None  # list of write()/close() Deferreds

    # identity
    @property
    def id(self):
        return self._state.id

    @property
    def dialed(self):
        return self._state.dialed

    @property
    def side_channel(self):
        return self._state.side_channel

    @property
    def remote_blessings(self):
        return self._state.remote_blessings

    @property
    def remote_discharges(self):
        return self._state.remote_discharges

    @property
    def local_blessings(self):
        return self._state.local_blessings

    @property
    def local_discharges(self):
        return self._state.local_discharges

    @property
    def remote_endpoint(self):
        return self.conn.remote_endpoint

    @property
    def local_endpoint(self):
        return self.conn.local_endpoint

    @property
    def is_closed(self):
        return self._is_closed

    @property
    def closed(self) -> defer.Deferred:
        """Fires (with None or the VError) when the flow is closed either way."""
        d = self._closed_d
        if d is None:
            d = self._closed_d = defer.Deferred()
            if self._is_closed:
                d.callback(self._error)
        return d

    def __repr__(self):
        return "<Flow %d on %r>" % (self.id, self.conn)

    # sending
    def write(self, data) -> defer.Deferred:
        """Queue ``data``; the Deferred fires once it was handed to the transport."""
        self.post(data)
        return self._drained()

    def post(self, data) -> None:
        """``write`` without the Deferred (for callers that do not wait)."""
        if self._is_closed or self._state.close_pending:
            raise self._error or errors.err(errors.std("Aborted"), "write on closed flow %d", self.id)
        self.conn._call(self.conn._conn.write, self._state, data)

    def close(self, data=b"") -> defer.Deferred:
        """Send ``data`` (optional) and the close flag.  Idempotent."""
        if self._is_closed or self._state.close_pending:
            return defer.succeed(None)
        if data:
            self.conn._call(self.conn._conn.write, self._state, data, True)
        else:
            self.conn._call(self.conn._conn.close_flow, self._state)
        return self._drained()

    write_and_close = close

    def _drained(self):
        if self._state.out_len == 0 or self._is_closed:
            return defer.succeed(None)
        d = defer.Deferred()
        if self._drain_waiters is None:
            self._drain_waiters = []
        self._drain_waiters.append(d)
        self._state.want_drained = True
        return d

    def shut(self, data=b"") -> None:
        """``close`` without the Deferred (for callers that do not wait)."""
        if self._is_closed or self._state.close_pending:
            return
        if data:
            self.conn._call(self.conn._conn.write, self._state, data, True)
        else:
            self.conn._call(self.conn._conn.close_flow, self._state)

    # receiving
    def set_receiver(self, on_data, on_close=None, bytearrays=False):
        """Push mode: ``on_data(bytes)`` per chunk; ``on_close(reason)`` once.

        ``bytearrays``: on_data may get a long message's payload as the bytearray it was
        decrypted in, then its own to keep and change (no copy into bytes)."""
        self._on_data = on_data
        self._on_close = on_close
        self._bytearrays = bytearrays
        while self._buf:
            chunk = self._buf.popleft()
            self._consume(chunk)
            on_data(chunk)
        if self._eof and on_close is not None:
            self._call_on_close()

    def read(self) -> defer.Deferred:
        """Pull mode: Deferred[bytes]; b"" at EOF; VError if the conn broke."""
        if self._buf:
            chunk = self._buf.popleft()
            self._consume(chunk)
            return defer.succeed(chunk)
        if self._eof:
            if self._error is not None:
                return defer.fail(self._error)
            return defer.succeed(b"")
        d = defer.Deferred()
        if self._readers is None:
            self._readers = collections.deque()
        self._readers.append(d)
        return d

    def _consume(self, chunk):
        mc = self.conn
        c = mc._conn
        c.consumed(self._state, len(chunk))   # (returns no events)
        if c._out:
            mc._flush()   # a Release message

    # events from the conn
    def _data(self, data):
        if type(data) is not bytes and not (self._bytearrays and type(data) is bytearray):
            data = bytes(data)
        if self._on_data is not None:
            self._consume(data)
            try:
                self._on_data(data)
            except Exception:
                log.exception("flow %d: data callback failed", self.id)
        elif self._readers:
            self._consume(data)
            self._readers.popleft().callback(data)
        else:
            if self._buf is None:
                self._buf = collections.deque()
            self._buf.append(data)

    def _closed_event(self, error, remote):
        if self._is_closed:
            return
        self._is_closed = True
        self._eof = True
        self._error = error
        # Pending write() Deferreds complete quietly (often nobody waits on them); the error is
        # reported by `closed`, read() and the next write().
        waiters = self._drain_waiters
        if waiters is not None:
            self._drain_waiters = None
            for d in waiters:
                d.callback(None)
        readers = self._readers
        if readers is not None:
            self._readers = None
            for d in readers:
                if error is not None:
                    d.errback(error)
                else:
                    d.callback(b"")
        if self._on_close is not None and not self._buf:
            self._call_on_close()
        if self._closed_d is not None:
            self._closed_d.callback(error)
        if not self._buf:
            # nothing more can arrive: drop the links back to this Flow (the conn's flow
            # state, the receiver's bound method) so that refcounting frees a finished
            # flow and its call at once, not the cyclic GC (one cycle per call otherwise)
            self._on_data = None
            self._state.user = None

    def _call_on_close(self):
        cb, self._on_close = self._on_close, None
        try:
            cb(self._error)
        except Exception:
            log.exception("flow %d: close callback failed", self.id)

    def _drained_event(self):
        self._state.want_drained = False
        waiters, self._drain_waiters = self._drain_waiters, None
        if waiters:
            for d in waiters:
                d.callback(None)


# ------------------------------------------------------------------------------------------ conn

class ManagedConn:
    """A connection owned by a FlowManager (see the package docstring)."""

    def __init__(self, manager, proto, conn: fconn.Conn):
        self.manager = manager
        self._proto = proto
        # (read on every flush: a class attribute of the protocol is looked up the slow way)
        self._is_stream = proto.is_stream
        self._conn = conn
        self._receive_input = conn.receive_data   # (bytes of a stream, or one whole message)
        self._hs_waiters = []
        self._hs_done = False
        self._hs_error = None
        self.closed = defer.Deferred()
        self.close_reason = None
        self._timer = None
        self._sched_when = None
        self._dirty = False
        self.cache_key = None
        self.cache_keys = []
        # set on a conn this manager dialed to listen through a proxy: the flows the proxy
        # opens on it each carry a client's conn (see FlowManager.proxy_listen)
        self.proxy_listener = None

    def __repr__(self):
        return "<ManagedConn %s %s>" % ("dialed" if self._conn.dialer else "accepted", self.remote_endpoint)

    # attributes
    @property
    def remote_blessings(self):
        return self._conn.remote_blessings

    @property
    def remote_discharges(self):
        return self._conn.remote_discharges

    @property
    def local_blessings(self):
        return self._conn.local_blessings

    @property
    def remote_public_key(self):
        return self._conn.remote_public_key

    @property
    def remote_endpoint(self):
        return self._conn.remote_endpoint

    @property
    def local_endpoint(self):
        return self._conn.local_endpoint

    @property
    def version(self):
        return self._conn.version

    @property
    def mtu(self):
        return self._conn.mtu

    @property
    def rtt(self):
        return self._conn.rtt

    @property
    def is_closed(self):
        return self._conn.closed

    @property
    def is_usable(self):
        return self._conn.is_active and not self._conn.remote_lame_duck

    @property
    def remote_lame_duck(self):
        return self._conn.remote_lame_duck

    def when_ready(self) -> defer.Deferred:
        """Deferred[ManagedConn] that fires when the handshake is complete (or fails)."""
        if self._hs_done:
            return defer.succeed(self)
        if self._hs_error is not None:
            return defer.fail(self._hs_error)
        d = defer.Deferred()
        self._hs_waiters.append(d)
        return d

    def _handshake_result(self, error):
        if self._hs_done or self._hs_error is not None:
            return
        if error is None:
            self._hs_done = True
        else:
            self._hs_error = error
        waiters, self._hs_waiters = self._hs_waiters, []
        for d in waiters:
            if error is None:
                d.callback(self)
            else:
                d.errback(error)

    # operations
    def open_flow(self, side_channel=False, blessings=None, discharges=None) -> Flow:
        fs = self._conn.open_flow(blessings=blessings, side_channel=side_channel,
                                  discharges=discharges)
        return Flow(self, fs)

    def refresh_blessings(self, blessings, discharges=None):
        """Present new conn-level blessings / discharges to the peer."""
        if self._conn.is_active:
            self._call(self._conn.refresh_blessings, blessings, discharges)

    def close(self, error=None):
        """Send TearDown and drop the connection; returns ``closed``."""
        if not self._conn.closed:
            self._call(self._conn.close, error)
        return self.closed

    def enter_lame_duck(self) -> defer.Deferred:
        """Send EnterLameDuck; fires when the peer acknowledged it (or the conn closed)."""
        d = defer.Deferred()
        self._lame_duck_waiters = getattr(self, "_lame_duck_waiters", []) + [d]
        self._call(self._conn.enter_lame_duck)
        if self._conn.closed or self._conn.lame_duck_acked:
            self._fire_lame_duck()
        return d

    def _fire_lame_duck(self):
        for d in getattr(self, "_lame_duck_waiters", []):
            if not d.called:
                d.callback(None)
        self._lame_duck_waiters = []

    # plumbing
    def _call(self, fn, *args):
        """Run a Conn operation, then dispatch its events and flush output."""
        events = fn(*args)
        if events:
            self._dispatch(events)
        self._flush()

    def _now(self):
        return self.manager.reactor.seconds()

    def _dispatch(self, events):
        for ev in events:
            t = ev[0]
            if t is _DATA_RECEIVED:
                u = ev[1].user
                if u is not None:
                    u._data(ev[2])
            elif t is _FLOW_ACCEPTED:
                f = Flow(self, ev[1])
                if self.proxy_listener is not None:
                    self.manager._accept_proxied(self, f)
                else:
                    self.manager._accepted_flow(f)
            elif t is _FLOW_CLOSED:
                _, fs, error, remote = ev
                u = fs.user
                if u is not None:
                    u._closed_event(error, remote)
            elif t is _FLOW_DRAINED:
                u = ev[1].user
                if u is not None:
                    u._drained_event()
            elif t is fevents.HandshakeComplete:
                self._handshake_result(None)
            elif t is fevents.ConnectionClosed:
                self.close_reason = error = ev[1]
                self.manager._conn_closed(self)
                self._handshake_result(error)
                self._fire_lame_duck()
                if not self.closed.called:
                    self.closed.callback(error)
            elif t is fevents.LameDuckAcknowledged:
                self._fire_lame_duck()
            elif t is fevents.RemoteLameDuck:
                self.manager._conn_lame_duck(self)

    def _receive(self, data):
        """Input from the transport: the bytes of one read of a stream (the protocol's
        dataReceived), or one whole message of a message link (see links.MessageLink).
        What it makes is written once, when the outermost input has been handled."""
        _batch[0] += 1
        try:
            events = self._receive_input(data, self.manager.reactor.seconds())
            if events:
                self._dispatch(events)
            self._flush()
        finally:
            _end_batch()

    def _flush(self):
        if _batch[0]:
            c = self._conn
            if not c._out and c.state != _CLOSED and self._is_stream:
                # nothing to write (e.g. a Go client's end of arguments for a call already
                # answered): all _flush_now would do is follow the conn's timers
                self._schedule()
                return
            if len(c._out) >= _EARLY_FLUSH:
                self._flush_now()   # a burst: let the peer start on it (see _EARLY_FLUSH)
                return
            # inside a dataReceived: write once when the outermost one returns
            if not self._dirty:
                self._dirty = True
                _dirty.append(self)
            return
        self._flush_now()

    def _flush_now(self):
        self._dirty = False
        proto = self._proto
        c = self._conn
        if not self._is_stream:
            proto.flush(c)
            if c.closed:
                self._cancel_timer()
                return
            self._schedule()
            return
        out = c.take_output() if c._out else None
        tr = proto.transport
        if out and tr is not None and not proto.lost:
            _write(tr, out)
        if c.closed:
            if tr is not None and not proto.lost:
                tr.loseConnection()
            self._cancel_timer()
            return
        self._schedule()

    def _cancel_timer(self):
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        self._sched_when = None

    def _schedule(self):
        when = self._conn.next_deadline
        if when == self._sched_when and (when is None or self._timer is not None):
            return   # unchanged deadline: the common case on every message
        self._sched_when = when
        if when is None:
            self._cancel_timer()
            return
        delay = max(0.0, when - self._now())
        if self._timer is not None and self._timer.active():
            self._timer.reset(delay)
            return
        self._timer = self.manager.reactor.callLater(delay, self._on_timer)

    def _on_timer(self):
        self._timer = None
        self._sched_when = None
        self._call(self._conn.handle_timeout, self._now())
