"""What a ManagedConn in message mode runs over, and a manager listening through a proxy.

A conn in message mode (``v23py.flow.conn.Conn(framed=False)``) sends each message alone,
without a length header, over a transport that keeps message boundaries: a flow of another
conn (a conn through a proxy: ``FlowLink``) or a WebSocket (``v23py.flow.websocket``).
"""
from __future__ import annotations

import logging

from twisted.internet import defer

from v23py.flow import errors, proxy as fproxy

log = logging.getLogger(__name__)


def blessing_names(b):
    try:
        names = b.names()
    except Exception:
        return ()
    return tuple(n for n in names if n)


class MessageLink:
    """What a ManagedConn in message mode writes to and is fed by (Go's
    flow.MsgReadWriteCloser): a flow of another conn, or a WebSocket."""

    is_stream = False
    lost = False
    mconn = None

    def feed(self, message):
        """One whole message from the transport."""
        self.mconn._receive(message)

    def gone(self, err=None):
        """The transport went away (err: None for a clean close)."""
        if self.lost:
            return
        self.lost = True
        mc = self.mconn
        if mc is not None:
            mc._call(mc._conn.connection_lost, err)

    def flush(self, conn):  # pragma: no cover - overridden
        raise NotImplementedError


class FlowLink(MessageLink):
    """A conn inside a flow of another conn (through a proxy).

    Each message of the inner conn is one whole message on the flow.  Once the inner conn
    encrypts (its Setup exchange is over) the flow stops encrypting the payloads again, as
    Go does."""

    def __init__(self, flow):
        self.flow = flow
        flow._state.whole = True

    def start(self, mconn):
        self.mconn = mconn
        self.flow.set_receiver(self.feed, self._flow_closed)

    def _flow_closed(self, reason):
        self.gone(reason if isinstance(reason, errors.VError) else None)

    def flush(self, conn):
        f = self.flow
        if conn._out and not self.lost and not f.is_closed:
            msgs, clear = conn.messages_to_send()
            fs = f._state
            try:
                for i, msg in enumerate(msgs):
                    if i >= clear and conn.cipher is not None:
                        fs.no_encrypt = True
                    f.post(msg)
            except errors.VError:
                pass   # the flow died under us: its close event tells the inner conn
        if conn.cipher is not None:
            f._state.no_encrypt = True
        if conn.closed and not self.lost:
            self.lost = True
            f.shut()


class ProxyListener:
    """This manager listening through one proxy (see FlowManager.proxy_listen)."""

    def __init__(self, manager, endpoint, on_update):
        self.manager = manager
        self.proxy = endpoint
        self.endpoints = []
        self.on_update = on_update
        self.error = None
        self.stopped = False
        self.done = defer.Deferred()
        self.conn = None
        self._flow = None
        self._first = None
        self._finished = False

    async def _start(self, timeout):
        m = self.manager
        conn = await m.dial(self.proxy, timeout=timeout)   # a proxy is not authorized (as Go)
        self.conn = conn
        conn.proxy_listener = self
        names = ()
        try:
            names = blessing_names(conn.remote_blessings)
        except Exception:
            pass
        self._flow = f = conn.open_flow(blessings=m.identity.blessings_for_peer(*names))
        self._first = defer.Deferred()
        f.set_receiver(self._message, self._closed)
        f.post(fproxy.SERVER_REQUEST)
        await self._first
        return self

    def _message(self, data):
        try:
            eps = fproxy.read_response(data)
        except errors.VError as e:
            self._finish(e)
            return
        names = self.manager._listen_names()
        eps = [ep.with_blessing_names(names) for ep in eps]
        if self._first is not None:
            first, self._first = self._first, None
            self.endpoints = eps
            first.callback(self)
            return
        if [str(e) for e in eps] != [str(e) for e in self.endpoints]:
            self.endpoints = eps
            self._notify()

    def _closed(self, reason):
        self._finish(reason if isinstance(reason, errors.VError) else errors.err(
            errors.ConnectionClosed, "the proxy %s closed the flow", self.proxy))

    def _notify(self):
        if self.on_update is not None:
            try:
                self.on_update(list(self.endpoints))
            except Exception:
                log.exception("proxy endpoint update failed")

    def _finish(self, error):
        if self._finished:
            return
        self._finished = True
        self.error = error
        f = self._flow
        if f is not None and not f.is_closed:
            f.shut()
        if self in self.manager._proxy_listeners:
            self.manager._proxy_listeners.remove(self)
        if self._first is not None:
            first, self._first = self._first, None
            first.errback(error)
        elif self.endpoints:
            self.endpoints = []
            self._notify()
        self.done.callback(error)

    def stop(self):
        """Stop listening through the proxy (its conn stays for other uses)."""
        self.stopped = True
        self._finish(None)
        return defer.succeed(None)
