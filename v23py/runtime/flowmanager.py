"""Twisted adapter for the sans-IO ``Conn``: FlowManager, ManagedConn and Flow.

See the docstring of ``v23py.flow`` for the API contract.
"""
from __future__ import annotations

import collections
import logging

from twisted.internet import defer, error as terror, protocol
from twisted.python import failure

from v23py.naming.endpoint import Endpoint, RoutingId

from v23py.flow import conn as fconn, errors
from v23py.flow.auth import Identity, SecurityAuth

from .links import FlowLink, ProxyListener, blessing_names as _blessing_names
from .websocket import WS_PROTOCOLS, WSH_PROTOCOLS, WSLink

log = logging.getLogger(__name__)

_TCP_PROTOCOLS = ("tcp", "tcp4", "tcp6", "")
_PROTOCOLS = _TCP_PROTOCOLS + WS_PROTOCOLS + WSH_PROTOCOLS


def _kind(protocol, dialer):
    """How a conn of ``protocol`` travels: "tcp" (framed bytes), "ws" (a WebSocket) or, for a
    listener, "wsh" (both on one port).  Go dials ``wsh`` endpoints with plain TCP."""
    if protocol in WS_PROTOCOLS:
        return "ws"
    if protocol in WSH_PROTOCOLS and not dialer:
        return "wsh"
    return "tcp"


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
    if not _batch[0]:
        _flush_dirty()


# Output pieces (a frame is one or two) a conn may hold back inside a batch.  Writing
# a burst's first replies while later ones are still being made lets the peer work on
# them meanwhile: with 16 callers on one conn both processes then run at once instead
# of taking turns (twice the calls/s), for one more send() per few messages.
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


def _write(tr, data):
    """transport.write, but straight to the socket when nothing is queued in Twisted.

    Twisted's write only queues: it registers the socket for writability (two epoll_ctl calls)
    and sends on the next reactor iteration.  When its buffer is empty we may send at once
    (same bytes, same order); whatever the kernel does not take goes through Twisted as usual.
    """
    sock = getattr(tr, "socket", None)
    if (sock is not None and tr.connected and not tr.disconnecting and not tr._tempDataBuffer
            and tr.offset == len(tr.dataBuffer) and getattr(tr, "TLS", False) is False
            and not tr._writeDisconnected):
        try:
            n = sock.send(data)
        except (BlockingIOError, InterruptedError):
            n = 0
        except OSError:
            n = 0   # Twisted's own write path will see and report the error
        if n >= len(data):
            return
        if n:
            data = data[n:]
    tr.write(data)


# ------------------------------------------------------------------------------------------ Flow

class Flow:
    """One multiplexed flow (see the package docstring)."""

    def __init__(self, mconn: "ManagedConn", state: fconn.FlowState):
        self.conn = mconn
        self._state = state
        state.user = self
        state.want_drained = False   # until someone waits in write()/close()
        self._closed_d = None   # the `closed` Deferred, made when asked for
        self._closed_result = None
        self._is_closed = False
        self._on_data = None
        self._on_close = None
        self._buf = collections.deque()
        self._readers = collections.deque()
        self._eof = False
        self._error = None
        self._drain_waiters = []

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
    def set_receiver(self, on_data, on_close=None):
        """Push mode: ``on_data(bytes)`` per chunk; ``on_close(reason)`` once."""
        self._on_data = on_data
        self._on_close = on_close
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
        if type(data) is not bytes:
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
            self._buf.append(data)

    def _closed_event(self, error, remote):
        if self._is_closed:
            return
        self._is_closed = True
        self._eof = True
        self._error = error
        # Pending write() Deferreds complete quietly (often nobody waits on them); the error is
        # reported by `closed`, read() and the next write().
        waiters, self._drain_waiters = self._drain_waiters, []
        for d in waiters:
            d.callback(None)
        readers, self._readers = self._readers, collections.deque()
        for d in readers:
            if error is not None:
                d.errback(error)
            else:
                d.callback(b"")
        if self._on_close is not None and not self._buf:
            self._call_on_close()
        if self._closed_d is not None:
            self._closed_d.callback(error)

    def _call_on_close(self):
        cb, self._on_close = self._on_close, None
        try:
            cb(self._error)
        except Exception:
            log.exception("flow %d: close callback failed", self.id)

    def _drained_event(self):
        self._state.want_drained = False
        waiters, self._drain_waiters = self._drain_waiters, []
        for d in waiters:
            d.callback(None)


# ------------------------------------------------------------------------------------------ conn

class ManagedConn:
    """A connection owned by a FlowManager (see the package docstring)."""

    def __init__(self, manager, proto, conn: fconn.Conn):
        self.manager = manager
        self._proto = proto
        self._conn = conn
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
            t = type(ev)
            if t is fconn.DataReceived:
                u = ev.flow.user
                if u is not None:
                    u._data(ev.data)
            elif t is fconn.FlowAccepted:
                f = Flow(self, ev.flow)
                if self.proxy_listener is not None:
                    self.manager._accept_proxied(self, f)
                else:
                    self.manager._accepted_flow(f)
            elif t is fconn.FlowClosed:
                u = ev.flow.user
                if u is not None:
                    u._closed_event(ev.error, ev.remote)
            elif t is fconn.FlowDrained:
                u = ev.flow.user
                if u is not None:
                    u._drained_event()
            elif t is fconn.HandshakeComplete:
                self._handshake_result(None)
            elif t is fconn.ConnectionClosed:
                self.close_reason = ev.error
                self.manager._conn_closed(self)
                self._handshake_result(ev.error)
                self._fire_lame_duck()
                if not self.closed.called:
                    self.closed.callback(ev.error)
            elif t is fconn.LameDuckAcknowledged:
                self._fire_lame_duck()
            elif t is fconn.RemoteLameDuck:
                self.manager._conn_lame_duck(self)

    def _receive_message(self, message):
        """Message mode: one whole message from the transport (see links.MessageLink)."""
        _batch[0] += 1
        try:
            events = self._conn.receive_message(message, self.manager.reactor.seconds())
            if events:
                self._dispatch(events)
            self._flush()
        finally:
            _end_batch()

    def _flush(self):
        if _batch[0]:
            if len(self._conn._out) >= _EARLY_FLUSH:
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
        if not proto.is_stream:
            proto.flush(c)
            if c.closed:
                self._cancel_timer()
                return
            self._schedule()
            return
        out = c.data_to_send() if c._out else None
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
        when = self._conn.next_timeout()
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


class _ConnProtocol(protocol.Protocol):
    is_stream = True

    def __init__(self, manager, dialer, remote_endpoint=None, authorize=None):
        self.manager = manager
        self.dialer = dialer
        self.remote_ep = remote_endpoint
        self.authorize = authorize
        self.mconn = None
        self.lost = False

    def connectionMade(self):
        m = self.manager
        try:
            self.transport.setTcpNoDelay(True)   # as Go's net package does by default
        except Exception:
            pass
        host = self.transport.getHost()
        addr = "%s:%d" % (host.host, host.port) if ":" not in host.host else "[%s]:%d" % (host.host, host.port)
        if self.dialer:
            local = Endpoint("tcp", addr, m.routing_id)
            blessings = (m.identity.default_blessings() if m._listeners or m._proxy_listeners
                         else m.identity.nameless())
        else:
            local = self.listen_endpoint
            blessings = m.identity.default_blessings()
        # an acceptor sends the discharges of its blessings with its Auth
        discharges = m.local_discharges if not self.dialer else None
        authorize = None
        if self.authorize is not None:
            user = self.authorize

            def authorize(c, _u=user):
                return _u(self.mconn)
        c = fconn.Conn(dialer=self.dialer, auth=m._auth, local_blessings=blessings,
                       local_endpoint=local, remote_endpoint=self.remote_ep,
                       accepts_flows=(m._flow_handler is not None) or not self.dialer,
                       authorize=authorize, handshake_timeout=m.handshake_timeout,
                       channel_timeout=m.channel_timeout, now=m.reactor.seconds(),
                       mtu=m.mtu, bytes_buffered=m.bytes_buffered, local_discharges=discharges)
        self.mconn = ManagedConn(m, self, c)
        m._conn_made(self.mconn)
        self.mconn._call(c.start)

    def dataReceived(self, data):
        mc = self.mconn
        _batch[0] += 1
        try:
            events = mc._conn.receive_data(data, mc.manager.reactor.seconds())
            if events:
                mc._dispatch(events)
            mc._flush()
        finally:
            _end_batch()

    def connectionLost(self, reason=protocol.connectionDone):
        self.lost = True
        mc = self.mconn
        if mc is None:
            return
        err = None
        if not reason.check(terror.ConnectionDone):
            err = errors.err(errors.ConnectionClosed, "connection closed: %s", reason.getErrorMessage())
        mc._call(mc._conn.connection_lost, err)


class _ConnFactory(protocol.ClientFactory):
    def __init__(self, manager, dialer, endpoint=None, authorize=None, listen_endpoint=None,
                 kind="tcp"):
        self.manager = manager
        self.dialer = dialer
        self.kind = kind
        self.endpoint = endpoint
        self.authorize = authorize
        self.listen_endpoint = listen_endpoint
        self.connect_failed = defer.Deferred()
        self.on_made = None

    def buildProtocol(self, addr):
        if self.kind == "tcp":
            return self.stream_protocol()
        if self.dialer:
            p = WSLink(self.manager, "client", self.endpoint, self.authorize)
        else:
            p = WSLink(self.manager, "server" if self.kind == "ws" else "hybrid")
        p.factory = self
        return p

    def stream_protocol(self):
        """A framed TCP conn (also what a ``wsh`` listener makes of a non-HTTP client)."""
        p = _ConnProtocol(self.manager, self.dialer, self.endpoint, self.authorize)
        p.listen_endpoint = self.listen_endpoint
        p.factory = self
        return p

    def clientConnectionFailed(self, connector, reason):
        if not self.connect_failed.called:
            self.connect_failed.callback([reason])  # wrapped: a bare Failure would take the errback path


class ListeningPort:
    def __init__(self, manager, port, endpoint):
        self.manager = manager
        self.port = port
        self.endpoint = endpoint

    def stop(self):
        if self in self.manager._listeners:
            self.manager._listeners.remove(self)
        return defer.maybeDeferred(self.port.stopListening)


# ------------------------------------------------------------------------------------------ manager

def _publishable_host(host):
    """An address peers can dial for a wildcard listen address (Go publishes interface addresses)."""
    if host not in ("0.0.0.0", "::", ""):
        return host
    import socket
    fam, probe, fallback = ((socket.AF_INET6, "2001:4860:4860::8888", "::1") if host == "::"
                            else (socket.AF_INET, "192.0.2.1", "127.0.0.1"))
    try:
        with socket.socket(fam, socket.SOCK_DGRAM) as s:
            s.connect((probe, 9))      # no packet is sent: this only picks the outgoing interface
            return s.getsockname()[0]
    except OSError:
        return fallback


def _split_host_port(address):
    host, _, port = address.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host or "0.0.0.0", int(port or 0)


class FlowManager:
    """Dials and accepts flow connections for one identity (see the package docstring)."""

    def __init__(self, identity, reactor=None, routing_id=None, handshake_timeout=fconn.DEFAULT_HANDSHAKE_TIMEOUT,
                 channel_timeout=fconn.DEFAULT_CHANNEL_TIMEOUT, mtu=fconn.DEFAULT_MTU,
                 bytes_buffered=fconn.DEFAULT_BYTES_BUFFERED):
        if reactor is None:
            from twisted.internet import reactor as _r
            reactor = _r
        if not isinstance(identity, Identity):
            identity = Identity(identity)
        self.identity = identity
        self._auth = SecurityAuth(identity)
        self.reactor = reactor
        if routing_id is None:
            routing_id = RoutingId.random()
        elif not isinstance(routing_id, RoutingId):
            routing_id = RoutingId(routing_id)
        self.routing_id = routing_id
        self.handshake_timeout = handshake_timeout
        self.channel_timeout = channel_timeout
        self.mtu = mtu
        self.bytes_buffered = bytes_buffered
        self._flow_handler = None
        self._listeners = []
        self._conns = set()
        self.local_discharges = None   # for the default blessings, sent by accepted conns
        self._cache = {}       # key -> ManagedConn (handshaking or up)
        self._pending = {}     # key -> [Deferred] of dials waiting for a dial in progress
        self._proxy_listeners = []
        self._stopped = False
        self._export_stats()

    def _export_stats(self):
        """Go's rpc/flow/<rid>/conn-cache/{cache,reserved} texts, and ours: num-conns.
        (Weakly held: a manager nobody stopped does not live on in the stats tree.)"""
        import weakref
        from v23py import stats
        ref = weakref.ref(self)
        self._stats_prefix = p = f"rpc/flow/{self.routing_id}"

        def cache():
            m = ref()
            if m is None or m._stopped:
                return "conncache closed"
            lines = ["Cached:"] + [f"{k}: {c!r}" for k, c in list(m._cache.items())]
            return "\n".join(lines) + "\n"

        def reserved():
            m = ref()
            lines = ["Reserved:"] + ([f"{k}: {len(w)} waiting" for k, w in
                                      list(m._pending.items())] if m is not None else [])
            return "\n".join(lines) + "\n"
        stats.new_string_func(p + "/conn-cache/cache", cache)
        stats.new_string_func(p + "/conn-cache/reserved", reserved)
        stats.new_integer_func(p + "/num-conns",
                               lambda: len(ref()._conns) if ref() is not None else 0)

    # --- configuration
    def set_flow_handler(self, handler):
        self._flow_handler = handler

    def endpoints(self):
        return [lp.endpoint for lp in self._listeners]

    def set_local_discharges(self, discharges):
        """The discharges of our default blessings changed: accepted conns send them
        (Go's blessings loop); new ones send them with their Auth."""
        self.local_discharges = list(discharges) if discharges else None
        for mc in list(self._conns):
            if not mc._conn.dialer and mc.is_usable:
                mc.refresh_blessings(mc._conn.local_blessings, self.local_discharges)

    @property
    def conns(self):
        return set(self._conns)

    # --- listening
    def listen(self, address="127.0.0.1:0", protocol="tcp", blessing_names=None, serves_mount_table=False):
        """Listen for connections; Deferred[ListeningPort] (``.endpoint`` carries rid + blessing names)."""
        try:
            if self._stopped:
                raise errors.err(errors.ManagerClosed, "manager is already closed")
            if protocol not in _PROTOCOLS:
                raise errors.err(errors.UnknownProtocol, "unknown protocol: %s", protocol)
            host, port = _split_host_port(address)
            if blessing_names is None:
                b = self.identity.default_blessings()
                blessing_names = _blessing_names(b)
            factory = _ConnFactory(self, False, kind=_kind(protocol, False))
            lport = self.reactor.listenTCP(port, factory, interface=host)
            h = lport.getHost()
            shown = _publishable_host(h.host)
            shown = shown if ":" not in shown else "[%s]" % shown
            ep = Endpoint(protocol or "tcp", "%s:%d" % (shown, h.port), self.routing_id,
                          blessing_names=tuple(blessing_names), serves_mount_table=serves_mount_table)
            factory.listen_endpoint = ep
            lp = ListeningPort(self, lport, ep)
            self._listeners.append(lp)
            return defer.succeed(lp)
        except Exception as e:
            return defer.fail(_verror(e, errors.std("BadArg")))

    # --- dialing
    def dial(self, endpoint, authorize=None, timeout=60.0):
        """Deferred[ManagedConn]: a cached usable conn to ``endpoint`` or a new one."""
        try:
            if self._stopped:
                raise errors.err(errors.ManagerClosed, "manager is already closed")
            if isinstance(endpoint, str):
                endpoint = Endpoint.parse(endpoint[1:] if endpoint.startswith("/") else endpoint)
            if endpoint.protocol not in _PROTOCOLS:
                raise errors.err(errors.UnknownProtocol, "unknown protocol: %s", endpoint.protocol)
            host, port = _split_host_port(endpoint.address)
        except Exception as e:
            return defer.fail(_verror(e, errors.std("BadArg")))
        key = (host, port, endpoint.routing_id)
        mc = self._cache.get(key)
        if mc is None and endpoint.routing_id.is_null():
            # a dial without a routing id may reuse any conn to that address
            for k, c in self._cache.items():
                if k[0] == host and k[1] == port and not c.is_closed and not c.remote_lame_duck:
                    mc = c
                    break
        elif mc is None and endpoint.routing_id != self.routing_id:
            # any conn with that peer, also one the peer dialed (Go finds conns by the
            # peer's routing id): a server can call back a client that has no
            # listening address over the client's own conn
            mc = self._conn_to(endpoint.routing_id)
            if mc is None and key not in self._pending:
                px = self._conn_at(host, port)
                if px is not None:
                    # a peer with another routing id answers at that address: a proxy
                    # (Go's rule); reach the server through it
                    return self._dial_via(px, endpoint, key, authorize, timeout)
        def check(c):
            # a shared conn is re-checked with this dial's authorizer (as Go's conn cache does)
            try:
                authorize(c)
            except errors.VError:
                raise
            except Exception as e:
                raise errors.std("NotTrusted").new("peer not trusted: %s" % (e,))
            return c

        if mc is not None and not mc.is_closed and not mc.remote_lame_duck:
            d = mc.when_ready()
            if authorize is not None:
                d.addCallback(check)
            return d
        waiters = self._pending.get(key)
        if waiters is not None:
            # the same peer is being dialed already: share that conn
            d = defer.Deferred()
            waiters.append(d)
            if authorize is not None:
                d.addCallback(check)
            return d
        self._pending[key] = []
        factory = _ConnFactory(self, True, endpoint, authorize, kind=_kind(endpoint.protocol, True))
        result = defer.Deferred()

        def fire_pending(r):
            for w in self._pending.pop(key, ()):
                if isinstance(r, failure.Failure):
                    w.errback(r.value)
                else:
                    w.callback(r)
            return r
        result.addBoth(fire_pending)
        state = {"mconn": None}

        def made(mconn):
            state["mconn"] = mconn
            mconn.cache_key = key
            mconn.cache_keys.append(key)
            self._cache[key] = mconn
            mconn.when_ready().addCallbacks(ok, bad)

        def ok(mconn):
            rep = mconn.remote_endpoint
            if rep is not None and not rep.routing_id.is_null():
                alias = (host, port, rep.routing_id)
                if alias != key and alias not in self._cache:
                    self._cache[alias] = mconn
                    mconn.cache_keys.append(alias)
                if not endpoint.routing_id.is_null() and rep.routing_id != endpoint.routing_id:
                    # not the server we asked for: a proxy in front of it
                    if self._cache.get(key) is mconn:
                        del self._cache[key]
                    mconn.cache_keys.remove(key)
                    if not result.called:
                        cancel_timer()
                        self._proxied(mconn, endpoint, key, authorize).chainDeferred(result)
                    return mconn
            if not result.called:
                cancel_timer()
                result.callback(mconn)
            return mconn

        def bad(f):
            if not result.called:
                cancel_timer()
                result.errback(_verror(f, errors.DialFailed))
            return None

        def connect_failed(wrapped):
            reason = wrapped[0]
            if not result.called:
                cancel_timer()
                result.errback(errors.err(errors.DialFailed, "dial %s failed: %s", endpoint.address,
                                          reason.getErrorMessage()))

        def on_timeout():
            if result.called:
                return
            mconn = state["mconn"]
            err = errors.std("Timeout").new("timeout dialing %s after %gs" % (endpoint, timeout))
            if mconn is not None:
                mconn.close(err)
            else:
                connector.disconnect()
            if not result.called:
                result.errback(err)

        timer = self.reactor.callLater(timeout, on_timeout) if timeout else None

        def cancel_timer():
            if timer is not None and timer.active():
                timer.cancel()

        factory.on_made = made
        factory.connect_failed.addCallback(connect_failed)
        connector = self.reactor.connectTCP(host, port, factory, timeout=timeout or 30)
        return result

    def _conn_at(self, host, port):
        """A usable conn (handshake done) dialed to host:port, whatever its routing id."""
        for k, c in self._cache.items():
            if (k[0] == host and k[1] == port and c._hs_done and not c.is_closed
                    and not c.remote_lame_duck and c.proxy_listener is None):
                return c
        return None

    # --- through a proxy
    def _dial_via(self, proxy_conn, endpoint, key, authorize, timeout):
        """dial() through the proxy at the other end of ``proxy_conn`` (shared by dials of
        the same endpoint meanwhile)."""
        self._pending[key] = []
        result = defer.Deferred()

        def fire_pending(r):
            for w in self._pending.pop(key, ()):
                if isinstance(r, failure.Failure):
                    w.errback(r.value)
                else:
                    w.callback(r)
            return r
        result.addBoth(fire_pending)
        d = self._proxied(proxy_conn, endpoint, key, authorize)
        timer = self.reactor.callLater(timeout, d.cancel) if timeout else None

        def done(r):
            if timer is not None and timer.active():
                timer.cancel()
            if isinstance(r, failure.Failure) and r.check(defer.CancelledError):
                r = failure.Failure(errors.std("Timeout").new(
                    "timeout dialing %s after %gs" % (endpoint, timeout)))
            return r
        d.addBoth(done).chainDeferred(result)
        return result

    def _proxied(self, proxy_conn, endpoint, key, authorize):
        """A conn to ``endpoint`` inside a new flow of ``proxy_conn`` (Go's dialProxyConn):
        the proxy reads our Setup from the flow and forwards the flow to the server."""
        try:
            outer = proxy_conn.open_flow(blessings=self.identity.nameless())
        except errors.VError as e:
            return defer.fail(errors.err(errors.DialFailed, "dial %s through %s failed: %s",
                                         endpoint, proxy_conn.remote_endpoint, e))
        link = FlowLink(outer)
        mc = self._message_conn(link, dialer=True, local=proxy_conn.local_endpoint,
                                remote=endpoint, authorize=authorize, encapsulated=True)
        mc.cache_key = key
        mc.cache_keys.append(key)
        self._cache[key] = mc
        d = mc.when_ready()

        def failed(f):
            mc.close(f.value if isinstance(f.value, errors.VError) else None)
            if f.check(defer.CancelledError):
                return f
            return failure.Failure(_verror(f, errors.DialFailed))
        d.addErrback(failed)
        return d

    def _message_conn(self, link, dialer, local, remote=None, authorize=None, encapsulated=False,
                      blessings=None):
        """A ManagedConn over a message link (its Setup is queued at once)."""
        user_auth = None
        if authorize is not None:
            def user_auth(c, _u=authorize):
                return _u(mc)
        if blessings is None:
            blessings = (self.identity.default_blessings()
                         if not dialer or self._listeners or self._proxy_listeners
                         else self.identity.nameless())
        c = fconn.Conn(dialer=dialer, auth=self._auth, local_blessings=blessings,
                       local_endpoint=local, remote_endpoint=remote,
                       accepts_flows=(self._flow_handler is not None) or not dialer,
                       authorize=user_auth, handshake_timeout=self.handshake_timeout,
                       channel_timeout=self.channel_timeout, now=self.reactor.seconds(),
                       mtu=self.mtu, bytes_buffered=self.bytes_buffered, framed=False,
                       encapsulated=encapsulated,
                       local_discharges=self.local_discharges if not dialer else None)
        mc = ManagedConn(self, link, c)
        self._conns.add(mc)
        link.mconn = mc
        mc._call(c.start)     # our Setup first: input may already be waiting in the link
        link.start(mc)
        return mc

    def _accept_proxied(self, proxy_conn, flow):
        """A flow the proxy opened on our conn to it: a client's conn inside (Go's
        proxyFlowHandler)."""
        if self._stopped or proxy_conn.proxy_listener is None or proxy_conn.proxy_listener.stopped:
            flow.close()
            return
        self._message_conn(FlowLink(flow), dialer=False, local=proxy_conn.local_endpoint,
                           encapsulated=True)

    def proxy_listen(self, endpoint, on_update=None, timeout=60.0):
        """Listen through the proxy at ``endpoint`` (Go's ProxyListen).

        Deferred[ProxyListener] once the proxy answered with the endpoints it gives us (a
        VError when it refused or could not be reached).  ``on_update(endpoints)`` is called
        whenever they change afterwards, with [] when the proxy went away; then
        ``listener.done`` fires and the caller may try again."""
        if self._stopped:
            return defer.fail(errors.err(errors.ManagerClosed, "manager is already closed"))
        pl = ProxyListener(self, endpoint, on_update)
        self._proxy_listeners.append(pl)
        d = defer.ensureDeferred(pl._start(timeout))

        def failed(f):
            pl._finish(f.value)
            return f
        return d.addErrback(failed)

    def _conn_to(self, rid):
        for c in self._conns:
            rep = c.remote_endpoint
            if (rep is not None and rep.routing_id == rid and not c.is_closed
                    and not c.remote_lame_duck):
                return c
        return None

    # --- shutdown
    def _listen_names(self):
        try:
            return _blessing_names(self.identity.default_blessings())
        except Exception:
            return ()

    def stop(self, lame_duck_timeout=1.0):
        """Stop listening; put active conns in lame duck (wait for the peers' acks, at most
        ``lame_duck_timeout`` seconds), then TearDown every conn.  Deferred fires when all are closed."""
        self._stopped = True
        try:
            from v23py import stats
            stats.delete(self._stats_prefix)
        except Exception:
            pass
        for pl in list(self._proxy_listeners):
            pl.stop()
        ds = [lp.stop() for lp in list(self._listeners)]
        conns = list(self._conns)
        lame = [mc.enter_lame_duck() for mc in conns if mc._conn.is_active and lame_duck_timeout]
        done = defer.Deferred()
        state = {"timer": None}

        def close_all(_=None):
            t = state["timer"]
            if t is not None and t.active():
                t.cancel()
            for mc in conns:
                mc.close(None)
            closing = [mc.closed for mc in conns] + ds
            defer.DeferredList(closing, consumeErrors=True).addBoth(lambda _: done.callback(None))

        if lame:
            acks = defer.DeferredList(lame, consumeErrors=True)
            state["timer"] = self.reactor.callLater(
                lame_duck_timeout, lambda: acks.cancel() if not acks.called else None)
            acks.addBoth(close_all)
        else:
            close_all()
        return done

    # --- callbacks from conns
    def _conn_made(self, mconn):
        self._conns.add(mconn)
        proto = mconn._proto
        factory_cb = getattr(getattr(proto, "factory", None), "on_made", None)
        if factory_cb is not None:
            factory_cb(mconn)

    def _uncache(self, mconn):
        for k in mconn.cache_keys:
            if self._cache.get(k) is mconn:
                del self._cache[k]

    def _conn_closed(self, mconn):
        self._conns.discard(mconn)
        self._uncache(mconn)
        if mconn.close_reason is not None and not errors.ConnectionClosed.is_(mconn.close_reason):
            log.debug("flow conn %r closed: %s", mconn, mconn.close_reason)

    def _conn_lame_duck(self, mconn):
        self._uncache(mconn)

    def _accepted_flow(self, flow):
        h = self._flow_handler
        if h is None:
            flow.close()
            return
        try:
            r = h(flow)
            if isinstance(r, defer.Deferred) or hasattr(r, "__await__"):
                d = defer.ensureDeferred(r) if not isinstance(r, defer.Deferred) else r
                d.addErrback(lambda f: log.error("flow handler failed: %s", f.getTraceback()))
        except Exception:
            log.exception("flow handler failed")
