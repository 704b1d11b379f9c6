"""The ws and wsh transports of the FlowManager, over loopback, with real keys; and what a
plain WebSocket client (a browser) sees of a ``ws`` listener."""
from twisted.internet import defer, protocol, reactor
from wsproto import ConnectionType, WSConnection
from wsproto.events import (AcceptConnection, BytesMessage, CloseConnection, Request,
                            TextMessage)

from v23py import verror
from v23py.flow import message as m
from v23py.runtime.flowmanager import FlowManager
from tests.runtime.test_flowmanager import TwoManagers, ident


class _Raw(protocol.Protocol):
    """A TCP client that records what it gets."""

    def __init__(self):
        self.data = b""
        self.got = defer.Deferred()
        self.lost = defer.Deferred()

    def dataReceived(self, data):
        self.data += data
        if not self.got.called:
            self.got.callback(None)

    def connectionLost(self, reason=None):
        if not self.got.called:
            self.got.callback(None)
        self.lost.callback(None)


class WebSocketTest(TwoManagers):

    def setUp(self):
        super().setUp()

        def echo(flow):
            flow.set_receiver(lambda data: flow.write(data.upper()), lambda r: flow.close())
        self.server.set_flow_handler(echo)

    @defer.inlineCallbacks
    def roundtrip(self, ep, size=200000):
        conn = yield self.client.dial(ep)
        f = conn.open_flow()
        f.write(b"w" * size)
        got = []
        while sum(map(len, got)) < size:
            got.append((yield f.read()))
        self.assertEqual(b"".join(got), b"W" * size)
        f.close()
        return conn

    @defer.inlineCallbacks
    def test_ws_listen_and_dial(self):
        port = yield self.server.listen("127.0.0.1:0", protocol="ws")
        self.assertEqual(port.endpoint.protocol, "ws")
        conn = yield self.roundtrip(port.endpoint)
        self.assertEqual(conn.remote_endpoint.routing_id, self.server.routing_id)
        self.assertFalse(conn._conn.framed)

    @defer.inlineCallbacks
    def test_wsh_takes_tcp_and_websockets_on_one_port(self):
        port = yield self.server.listen("127.0.0.1:0", protocol="wsh")
        ep = port.endpoint
        self.assertEqual(ep.protocol, "wsh")
        tcp = yield self.roundtrip(ep)             # dialing wsh is plain TCP, as Go's
        self.assertTrue(tcp._conn.framed)
        other = FlowManager(ident())
        self.addCleanup(other.stop)
        self.client, first = other, self.client
        ws = yield self.roundtrip(ep.replace(protocol="ws"))
        self.assertFalse(ws._conn.framed)
        self.client = first

    @defer.inlineCallbacks
    def ws_raw(self, request=None):
        """A WebSocket client of our own (a browser): handshake, then the first message."""
        port = yield self.server.listen("127.0.0.1:0", protocol="ws")
        raw = _Raw()
        cc = protocol.ClientCreator(reactor, lambda: raw)
        yield cc.connectTCP("127.0.0.1", int(port.endpoint.address.rsplit(":", 1)[1]))
        self.addCleanup(lambda: raw.transport.loseConnection())
        return raw

    @defer.inlineCallbacks
    def test_a_browser_gets_binary_websocket_frames(self):
        raw = yield self.ws_raw()
        ws = WSConnection(ConnectionType.CLIENT)
        raw.transport.write(ws.send(Request(host="localhost", target="/any/path")))
        events = []
        while not any(isinstance(e, BytesMessage) and e.message_finished for e in events):
            raw.got = defer.Deferred()
            yield raw.got
            ws.receive_data(raw.data)
            raw.data = b""
            events.extend(ws.events())
        self.assertIsInstance(events[0], AcceptConnection)
        msg = [e for e in events if isinstance(e, BytesMessage)][0]
        self.assertEqual(msg.data[0], m.SETUP)    # the Setup, alone, without a frame header
        self.assertIsInstance(m.decode(msg.data), m.Setup)
        # a text message is refused: the listener closes the WebSocket
        raw.transport.write(ws.send(TextMessage(data="hello")))
        yield raw.lost
        ws.receive_data(raw.data)
        closes = [e for e in ws.events() if isinstance(e, CloseConnection)]
        self.assertEqual(closes[0].code, 1003)

    @defer.inlineCallbacks
    def test_a_plain_http_get_is_refused(self):
        raw = yield self.ws_raw()
        raw.transport.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        yield raw.lost
        self.assertTrue(raw.data.startswith(b"HTTP/1.1 400 "), raw.data)

    @defer.inlineCallbacks
    def test_dialing_ws_to_a_plain_tcp_listener_fails(self):
        port = yield self.server.listen("127.0.0.1:0", protocol="tcp")
        with self.assertRaises(verror.VError):
            yield self.client.dial(port.endpoint.replace(protocol="ws"), timeout=5)

    @defer.inlineCallbacks
    def test_a_silent_client_is_dropped(self):
        from v23py.runtime import websocket
        self.patch(websocket, "CLASSIFY_TIMEOUT", 0.2)
        port = yield self.server.listen("127.0.0.1:0", protocol="wsh")
        raw = _Raw()
        cc = protocol.ClientCreator(reactor, lambda: raw)
        yield cc.connectTCP("127.0.0.1", int(port.endpoint.address.rsplit(":", 1)[1]))
        yield raw.lost
