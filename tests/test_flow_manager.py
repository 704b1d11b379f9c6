"""FlowManager / ManagedConn / Flow over real loopback TCP, with real keys and VOM blessings."""
from twisted.internet import defer, reactor, protocol
from twisted.trial import unittest

from v23py import security
from v23py.flow import FlowManager, Identity
from v23py.flow import conn as fconn


def ident():
    return Identity(signer=security.new_ecdsa_signer())


class ManagerTest(unittest.TestCase):
    timeout = 20

    def setUp(self):
        self.server = FlowManager(ident())
        self.client = FlowManager(ident())
        self.addCleanup(self.client.stop)
        self.addCleanup(self.server.stop)

    @defer.inlineCallbacks
    def listen_echo(self):
        def handler(flow):
            def on_data(data):
                flow.write(data.upper())

            def on_close(reason):
                flow.close()
            flow.set_receiver(on_data, on_close)
        self.server.set_flow_handler(handler)
        port = yield self.server.listen("127.0.0.1:0")
        defer.returnValue(port)

    @defer.inlineCallbacks
    def test_dial_open_flow_echo(self):
        port = yield self.listen_echo()
        ep = port.endpoint
        self.assertEqual(ep.protocol, "tcp")
        self.assertFalse(ep.routing_id.is_null())
        conn = yield self.client.dial(ep)
        self.assertEqual(conn.version, 14)
        self.assertEqual(conn.remote_endpoint.routing_id, ep.routing_id)
        self.assertEqual(conn.remote_public_key, self.server.identity.public_key.der)
        f = conn.open_flow()
        yield f.write(b"hello")
        data = yield f.read()
        self.assertEqual(data, b"HELLO")
        f.close()
        eof = yield f.read()
        self.assertEqual(eof, b"")
        # the conn is reused for the next dial
        conn2 = yield self.client.dial(str(ep))
        self.assertIs(conn2, conn)

    @defer.inlineCallbacks
    def test_many_concurrent_flows_and_big_transfer(self):
        port = yield self.listen_echo()
        conn = yield self.client.dial(port.endpoint)
        big = b"abcdefgh" * (300 * 1024)  # 2.4 MB, > 1 MiB flow buffer
        flows = [conn.open_flow() for _ in range(20)]
        results = []
        for i, f in enumerate(flows):
            got = []
            done = defer.Deferred()
            payload = big if i == 0 else b"flow %d" % i

            def on_data(data, got=got, done=done, n=len(payload)):
                got.append(data)
                if sum(map(len, got)) >= n and not done.called:
                    done.callback(None)
            f.set_receiver(on_data)
            f.write(payload)
            results.append((f, payload, got, done))
        for f, payload, got, done in results:
            yield done
            self.assertEqual(b"".join(got), payload.upper())
            yield f.close()
        self.assertEqual(conn._conn.shared, conn._conn.max_shared - 0 or conn._conn.shared)

    @defer.inlineCallbacks
    def test_dial_refused(self):
        # grab a free port, then close it
        p = reactor.listenTCP(0, protocol.Factory(), interface="127.0.0.1")
        addr = p.getHost().port
        yield p.stopListening()
        try:
            yield self.client.dial("127.0.0.1:%d" % addr, timeout=5)
        except Exception as e:
            self.assertEqual(e.id, "v.io/v23/flow.DialFailed")
        else:
            self.fail("dial succeeded")

    @defer.inlineCallbacks
    def test_stalled_peer_times_out(self):
        # a TCP server that accepts and never answers
        p = reactor.listenTCP(0, protocol.Factory.forProtocol(protocol.Protocol), interface="127.0.0.1")
        self.addCleanup(p.stopListening)
        try:
            yield self.client.dial("127.0.0.1:%d" % p.getHost().port, timeout=0.5)
        except Exception as e:
            self.assertEqual(e.id, "v.io/v23/verror.Timeout")
        else:
            self.fail("dial succeeded")

    @defer.inlineCallbacks
    def test_peer_disappears(self):
        port = yield self.listen_echo()
        conn = yield self.client.dial(port.endpoint)
        f = conn.open_flow()
        yield f.write(b"x")
        yield f.read()
        d = f.read()
        for mc in list(self.server.conns):
            mc._proto.transport.abortConnection()
        try:
            yield d
        except Exception as e:
            self.assertTrue(e.id.endswith("ConnectionClosed"), e.id)
        else:
            self.fail("read succeeded")
        reason = yield conn.closed
        self.assertIsNotNone(reason)
        # a new dial makes a new conn
        conn2 = yield self.client.dial(port.endpoint)
        self.assertIsNot(conn2, conn)

    @defer.inlineCallbacks
    def test_server_close_teardown_reaches_client(self):
        port = yield self.listen_echo()
        conn = yield self.client.dial(port.endpoint)
        for mc in list(self.server.conns):
            mc.close(Exception("bye now"))
        reason = yield conn.closed
        self.assertTrue(reason.id.endswith("RemoteError"))
        self.assertIn("bye now", str(reason))

    @defer.inlineCallbacks
    def test_garbage_client_does_not_hurt_server(self):
        port = yield self.listen_echo()
        lost = defer.Deferred()

        class Junk(protocol.Protocol):
            def connectionMade(self):
                self.transport.write(b"\x00\x00\x01" + b"\x99" * 64)

            def connectionLost(self, reason):
                lost.callback(None)
        cc = protocol.ClientCreator(reactor, Junk)
        yield cc.connectTCP("127.0.0.1", port.port.getHost().port)
        yield lost   # the server dropped us
        conn = yield self.client.dial(port.endpoint)
        f = conn.open_flow()
        f.write(b"still alive")
        self.assertEqual((yield f.read()), b"STILL ALIVE")
