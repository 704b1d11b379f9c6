"""Requests still arriving on a server's flows: bounded per connection, dropped when idle.

A flow whose request (header and positional arguments) has not fully arrived costs the
server memory and waits on nothing but the peer.  Go bounds neither (issue 12, B5); we
admit at most ``limit`` of them per connection and drop one that makes no progress for
``idle_timeout`` seconds.  The server tells this tracker when a flow starts, receives
bytes, and is done with its request; a timer sweeps the idle ones.
"""
import logging
import time

from v23py import verror
from v23py.rpc import wire
from v23py.runtime._stream import ValueWriter

log = logging.getLogger(__name__)

MAX_INCOMPLETE_REQUESTS = 1024
REQUEST_IDLE_TIMEOUT = 60.0


class PendingRequests:
    """The flows of one server whose request is incomplete, with their deadlines."""

    def __init__(self, reactor_of):
        self._reactor_of = reactor_of   # () -> the reactor, or None (no timer then)
        self._seconds = None            # the reactor's clock, once known
        self.limit = MAX_INCOMPLETE_REQUESTS
        self.idle_timeout = REQUEST_IDLE_TIMEOUT
        self.flows = {}     # flow -> its state (anything with .deadline and .expire(err))
        self.per_conn = {}  # conn -> how many of flows are on it
        self._sweeper = None
        self._stopped = False

    def now(self):
        c = self._seconds
        if c is None:
            r = self._reactor_of()
            if r is None:
                return time.monotonic()
            # (a server's reactor does not change: from now on its clock is called directly)
            c = self._seconds = self.now = r.seconds
        return c()

    def admit(self, flow, state):
        """Track ``flow``; returns an error (and tracks nothing) when its conn is full."""
        conn = flow.conn
        n = self.per_conn.get(conn, 0)
        if n >= self.limit:
            return verror.Aborted.new(
                "aborted: too many requests still arriving on this connection (%d)" % n)
        self.per_conn[conn] = n + 1
        state.deadline = self.now() + self.idle_timeout
        self.flows[flow] = state
        if self._sweeper is None:
            self._schedule()
        return None

    def progress(self, state):
        state.deadline = self.now() + self.idle_timeout

    def done(self, flow):
        """``flow``'s request has fully arrived, or the flow is gone: it no longer counts."""
        state = self.flows.pop(flow, None)
        if state is None:
            return
        state.pending = False
        conn = flow.conn
        n = self.per_conn.get(conn, 1) - 1
        if n > 0:
            self.per_conn[conn] = n
        else:
            self.per_conn.pop(conn, None)

    def stop(self):
        self._stopped = True
        if self._sweeper is not None and self._sweeper.active():
            self._sweeper.cancel()
        self._sweeper = None

    def _schedule(self):
        r = self._reactor_of()
        if r is None or self._stopped:
            return
        self._sweeper = r.callLater(max(0.05, self.idle_timeout / 4), self._sweep)

    def _sweep(self):
        self._sweeper = None
        now = self.now()
        late = [(f, st) for f, st in self.flows.items() if st.deadline <= now]
        for f, st in late:
            self.done(f)
            st.expire(verror.Timeout.new("timeout: the request did not arrive within %gs"
                                         % self.idle_timeout))
        if self.flows:
            self._schedule()


def refuse(flow, types, err):
    """Answer ``flow`` with ``err`` (when ``types`` is given) without reading it; close it."""
    try:
        data = b""
        if types is not None:
            data = ValueWriter(types).encode(wire.response(err, True, 0), wire.ResponseType)
            types.flush()
        flow.set_receiver(lambda data: None, None)
        shut = getattr(flow, "shut", None)
        if shut is not None:
            shut(data)
        else:
            flow.close()
    except Exception:
        log.debug("refusing a flow", exc_info=True)
