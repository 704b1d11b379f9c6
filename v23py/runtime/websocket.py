"""The ``ws`` and ``wsh`` transports, as Go's (``x/ref/runtime/protocols/lib/websocket``).

``ws``: a conn over a WebSocket; every flow message is one binary WebSocket message (no
length header), text messages are refused, the HTTP request may name any path.  ``wsh``
listens on one port for both: a connection whose first byte is ``G`` (an HTTP GET) becomes a
WebSocket, any other is a plain framed TCP conn; dialing ``wsh`` is plain TCP, as in Go.

The WebSocket protocol itself is ``wsproto`` (sans-IO, like our flow conn): this module only
moves bytes between it, Twisted and the conn.
"""
from __future__ import annotations

import logging

import types

from twisted.internet import error as terror, protocol
from twisted.python import failure

from v23py.naming.endpoint import Endpoint

from v23py.flow import errors

from .links import MessageLink

log = logging.getLogger(__name__)

_ws = types.SimpleNamespace()


def _wsproto():
    """wsproto, imported on first use: it costs a command-line client that never meets a
    WebSocket (dialing wsh is TCP) a fifth of its start-up time."""
    if not _ws.__dict__:
        import wsproto
        from wsproto import events, utilities
        _ws.__dict__.update(
            WSConnection=wsproto.WSConnection, ConnectionType=wsproto.ConnectionType,
            **{n: getattr(events, n) for n in (
                "AcceptConnection", "BytesMessage", "CloseConnection", "Ping",
                "RejectConnection", "RejectData", "Request", "TextMessage")},
            LocalProtocolError=utilities.LocalProtocolError,
            RemoteProtocolError=utilities.RemoteProtocolError)
    return _ws

WS_PROTOCOLS = ("ws", "ws4", "ws6")
WSH_PROTOCOLS = ("wsh", "wsh4", "wsh6")
CLOSE_GOING_AWAY = 1001     # what Go sends when it closes (with the reason "EOF")
CLOSE_UNSUPPORTED = 1003
CLASSIFY_TIMEOUT = 10.0     # a listener waits this long for the first bytes / the upgrade (Go's)


class WSLink(MessageLink, protocol.Protocol):
    """One WebSocket (or, in hybrid mode, a plain TCP conn) of a FlowManager.

    ``role``: "client" (dialing ``ws``), "server" (a ``ws`` listener) or "hybrid" (a ``wsh``
    listener, which hands connections that do not start with an HTTP GET to
    ``factory.stream_protocol()``)."""

    def __init__(self, manager, role, endpoint=None, authorize=None, max_message=None):
        self.manager = manager
        self.role = role
        self.endpoint = endpoint           # the dialed endpoint (client)
        self.authorize = authorize
        self.max_message = max_message or manager.bytes_buffered + 4096
        self._ws = None
        self._raw = None                   # hybrid mode: the plain TCP conn protocol
        self._parts = []
        self._size = 0
        self._open = False
        self._timer = None

    # -- Twisted ---------------------------------------------------------------------------
    def connectionMade(self):
        w = _wsproto() if self.role != "hybrid" else None   # (hybrid: only once it sees a GET)
        try:
            self.transport.setTcpNoDelay(True)
        except Exception:
            pass
        if self.role == "client":
            self._ws = w.WSConnection(w.ConnectionType.CLIENT)
            self._write(self._ws.send(w.Request(host=self.endpoint.address, target="/")))
        elif self.role == "server":
            self._ws = w.WSConnection(w.ConnectionType.SERVER)
        if self.role != "client":
            # a peer that never says what it is must not hold the socket
            self._timer = self.manager.reactor.callLater(CLASSIFY_TIMEOUT, self._too_slow)

    def _too_slow(self):
        self._timer = None
        if self.mconn is None and self._raw is None and not self.lost:
            self.lost = True
            self.transport.loseConnection()

    def _stop_timer(self):
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None

    def dataReceived(self, data):
        if self._raw is not None:
            self._raw.dataReceived(data)
            return
        if self._ws is None:    # hybrid, first bytes: an HTTP GET or a flow conn?
            if data[:1] != b"G":
                self._stop_timer()
                self._raw = self.factory.stream_protocol()
                self._raw.makeConnection(self.transport)
                self._raw.dataReceived(data)
                return
        w = _wsproto()
        if self._ws is None:
            self._ws = w.WSConnection(w.ConnectionType.SERVER)
        try:
            self._ws.receive_data(data)
            for ev in self._ws.events():
                self._event(ev)
                if self.lost:
                    return
        except (w.RemoteProtocolError, w.LocalProtocolError) as e:
            self._fail(errors.err(errors.ConnectionClosed, "websocket: %s", e),
                       getattr(e, "event_hint", None))

    def connectionLost(self, reason=protocol.connectionDone):
        self._stop_timer()
        if self._raw is not None:
            self._raw.connectionLost(reason)
            return
        err = None
        if not reason.check(terror.ConnectionDone):
            err = errors.err(errors.ConnectionClosed, "connection closed: %s",
                             reason.getErrorMessage())
        if self.mconn is None:
            self.lost = True
            self._dial_failed(err or errors.err(errors.ConnectionClosed,
                                                "websocket closed before its handshake"))
            return
        self.gone(err)

    # -- WebSocket events ------------------------------------------------------------------
    def _event(self, ev):
        w = _wsproto()
        if isinstance(ev, w.Request):
            if ev.extensions or ev.subprotocols:
                pass   # none are offered back: a plain binary WebSocket, as Go's
            self._write(self._ws.send(w.AcceptConnection()))
            self._start(dialer=False)
        elif isinstance(ev, w.AcceptConnection):
            self._start(dialer=True)
        elif isinstance(ev, (w.RejectConnection, w.RejectData)):
            self._fail(errors.err(errors.DialFailed, "websocket handshake refused: %s",
                                  getattr(ev, "status_code", "")))
        elif isinstance(ev, w.BytesMessage):
            self._size += len(ev.data)
            if self._size > self.max_message:
                self._close_ws(errors.err(errors.ConnectionClosed, "websocket message of more "
                                          "than %d bytes", self.max_message), 1009)
                return
            self._parts.append(ev.data)
            if ev.message_finished:
                msg = b"".join(self._parts) if len(self._parts) > 1 else bytes(self._parts[0])
                self._parts = []
                self._size = 0
                if self.mconn is not None:
                    self.feed(msg)
        elif isinstance(ev, w.TextMessage):
            self._close_ws(errors.err(errors.ConnectionClosed,
                                      "unexpected websocket text message"), CLOSE_UNSUPPORTED)
        elif isinstance(ev, w.Ping):
            self._write(self._ws.send(ev.response()))
        elif isinstance(ev, w.CloseConnection):
            try:
                self._write(self._ws.send(ev.response()))
            except w.LocalProtocolError:
                pass
            self.transport.loseConnection()
            if self.mconn is not None:
                self.gone(None)

    def _start(self, dialer):
        self._stop_timer()
        m = self.manager
        host = self.transport.getHost()
        addr = "%s:%d" % (host.host, host.port) if ":" not in host.host else \
            "[%s]:%d" % (host.host, host.port)
        if dialer:
            local = Endpoint("tcp", addr, m.routing_id)
            mc = m._message_conn(self, dialer=True, local=local, remote=self.endpoint,
                                 authorize=self.authorize)
        else:
            mc = m._message_conn(self, dialer=False, local=self.factory.listen_endpoint)
        m._conn_made(mc)

    def start(self, mconn):   # called by FlowManager._message_conn
        self.mconn = mconn
        self._open = True

    # -- output ----------------------------------------------------------------------------
    def _write(self, data):
        if data and not self.lost and self.transport is not None:
            self.transport.write(data)

    def flush(self, conn):
        w = _wsproto()
        if conn._out and not self.lost:
            msgs, _ = conn.messages_to_send()
            ws = self._ws
            try:
                self._write(b"".join(ws.send(w.BytesMessage(data=msg)) for msg in msgs))
            except w.LocalProtocolError:
                pass
        if conn.closed and not self.lost:
            self._close_ws(None, CLOSE_GOING_AWAY)

    def _close_ws(self, err, code):
        w = _wsproto()
        if self.lost:
            return
        try:
            self._write(self._ws.send(w.CloseConnection(code=code, reason="EOF" if err is None
                                                      else str(err)[:100])))
        except w.LocalProtocolError:
            pass
        self.transport.loseConnection()
        if self.mconn is not None:
            self.gone(err)
        else:
            self.lost = True
            self._dial_failed(err)

    def _fail(self, err, hint=None):
        w = _wsproto()
        if self.lost:
            return
        if self.mconn is None and self.role != "client" and isinstance(hint, w.RejectConnection):
            # not a WebSocket handshake: answer as Go's listener does
            self._write(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n"
                        b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
                        b"Not a websocket handshake\n")
        self.transport.loseConnection()
        if self.mconn is not None:
            self.gone(err)
        else:
            self.lost = True
            self._dial_failed(err)

    def _dial_failed(self, err):
        f = getattr(self, "factory", None)
        cf = getattr(f, "connect_failed", None)
        if self.role == "client" and cf is not None and not cf.called:
            cf.callback([failure.Failure(err)])
