"""FlowManager / ManagedConn / Flow over real loopback TCP, with real keys and VOM blessings."""
from twisted.internet import defer, reactor, protocol
from twisted.trial import unittest

from v23py import security, verror
from v23py.runtime.flowmanager import FlowManager
from v23py.testing.flow import send_and_read_all
from v23py.flow import Identity
from v23py.naming.endpoint import RoutingId


def ident():
    return Identity(signer=security.new_ecdsa_signer())


class TwoManagers(unittest.TestCase):
    """A server and a client FlowManager, each with its own identity."""
    timeout = 20

    def setUp(self):
        self.server = FlowManager(ident())
        self.client = FlowManager(ident())
        self.addCleanup(self.client.stop)
        self.addCleanup(self.server.stop)


class ManagerTest(TwoManagers):

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
        # ... also when dialed by address only (null routing id)
        conn3 = yield self.client.dial(ep.address)
        self.assertIs(conn3, conn)

    @defer.inlineCallbacks
    def test_dial_by_routing_id_reuses_the_conn_the_peer_opened(self):
        # the client is a server too (it accepts flows) but its endpoint as seen by the
        # server names no listening address: the server reaches it over the client's conn
        port = yield self.listen_echo()
        got = []

        def client_handler(flow):
            flow.set_receiver(lambda data: (got.append(data), flow.write(b"back:" + data)),
                              lambda reason: flow.close())
        self.client.set_flow_handler(client_handler)
        conn = yield self.client.dial(port.endpoint)
        f = conn.open_flow()
        yield f.write(b"x")
        yield f.read()
        accepted = [c for c in self.server.conns]
        self.assertEqual(len(accepted), 1)
        rep = accepted[0].remote_endpoint
        self.assertEqual(rep.routing_id, self.client.routing_id)
        from v23py.naming.endpoint import Endpoint
        # an address nobody listens on: only the routing id can find the peer
        back = yield self.server.dial(Endpoint("tcp", "127.0.0.1:1", self.client.routing_id))
        self.assertIs(back, accepted[0])
        g = back.open_flow()
        yield g.write(b"hi")
        data = yield g.read()
        self.assertEqual((data, got), (b"back:hi", [b"hi"]))
        self.assertEqual(len(self.server.conns), 1)
        # another routing id at that address is still dialed (and fails here)
        try:
            yield self.server.dial(Endpoint("tcp", "127.0.0.1:1", RoutingId.random()),
                                   timeout=5)
            self.fail("dialed a peer that does not exist")
        except Exception as e:
            self.assertIn("DialFailed", getattr(e, "id", "") or repr(e))
        # once that conn is closed, the routing id alone finds nothing
        back.close(None)
        yield back.closed
        try:
            yield self.server.dial(Endpoint("tcp", "127.0.0.1:1", self.client.routing_id),
                                   timeout=5)
            self.fail("dialed through a closed conn")
        except Exception as e:
            self.assertIn("DialFailed", getattr(e, "id", "") or repr(e))

    @defer.inlineCallbacks
    def test_concurrent_dials_share_one_conn(self):
        port = yield self.listen_echo()
        conns = yield defer.gatherResults([self.client.dial(port.endpoint) for _ in range(5)])
        self.assertEqual(len(set(map(id, conns))), 1)
        self.assertEqual(len(self.client.conns), 1)

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
    def test_concurrent_dials_share_a_failure(self):
        # dials of an address being dialed wait for that dial (the manager's "reserved"
        # stats name them) and fail with it
        from v23py import stats
        p = reactor.listenTCP(0, protocol.Factory(), interface="127.0.0.1")
        port = p.getHost().port
        yield p.stopListening()
        dials = [self.client.dial("127.0.0.1:%d" % port, timeout=5) for _ in range(3)]
        reserved = stats.value(self.client._stats_prefix + "/conn-cache/reserved")
        self.assertIn(": 2 waiting", reserved)
        results = yield defer.DeferredList(dials, consumeErrors=True)
        self.assertEqual([(ok, r.value.id) for ok, r in results],
                         [(False, "v.io/v23/flow.DialFailed")] * 3)
        self.assertEqual(self.client._pending, {})

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


class PrincipalAndFaultTest(unittest.TestCase):
    timeout = 20

    @defer.inlineCallbacks
    def test_principal_blessings_on_endpoint_and_conn(self):
        sp = security.random_principal()
        sp.blessing_store.set_default(sp.bless_self("alice"))
        cp = security.random_principal()
        cp.blessing_store.set_default(cp.bless_self("bob"))
        server = FlowManager(sp)          # a bare principal is accepted
        client = FlowManager(cp)
        self.addCleanup(client.stop)
        self.addCleanup(server.stop)
        seen = []
        server.set_flow_handler(lambda f: (seen.append(f), f.set_receiver(lambda d: None)))
        port = yield server.listen("127.0.0.1:0")
        self.assertEqual(port.endpoint.blessing_names, ("alice",))
        self.assertIn("@s@alice@@", str(port.endpoint))

        checked = []

        def authorize(conn):
            checked.append(conn.remote_blessings.names())
        conn = yield client.dial(port.endpoint, authorize=authorize)
        self.assertEqual(checked, [["alice"]])
        again = yield client.dial(port.endpoint, authorize=authorize)   # cached, but re-checked
        self.assertIs(again, conn)
        self.assertEqual(checked, [["alice"], ["alice"]])
        self.assertEqual(conn.remote_blessings.names(), ["alice"])
        f = conn.open_flow(blessings=cp.blessing_store.default())
        yield f.write(b"hi")
        while not seen:
            yield deferLater(0.01)
        # a pure client presents a nameless blessing at the conn level...
        sconn = list(server.conns)[0]
        self.assertEqual(sconn.remote_blessings.names(), [""])
        self.assertEqual(sconn.remote_public_key, cp.public_key.der)
        # ...and its real blessings per flow
        self.assertEqual(seen[0].remote_blessings.names(), ["bob"])

    @defer.inlineCallbacks
    def test_authorizer_refusal_is_not_trusted(self):
        from v23py import verror
        server = FlowManager(ident())
        client = FlowManager(ident())
        self.addCleanup(client.stop)
        self.addCleanup(server.stop)
        port = yield server.listen("127.0.0.1:0")

        def refuse(conn):
            raise verror.NotTrusted.new("client does not trust server")
        try:
            yield client.dial(port.endpoint, authorize=refuse)
        except verror.VError as e:
            self.assertEqual(e.id, "v.io/v23/verror.NotTrusted")
        else:
            self.fail("dial succeeded")

    @defer.inlineCallbacks
    def test_raw_faults_against_listener(self):
        from twisted.internet import threads
        from v23py.flow import message as fm
        server = FlowManager(ident())
        self.addCleanup(server.stop)
        port = yield server.listen("127.0.0.1:0")
        addr = ("127.0.0.1", port.port.getHost().port)

        def raw(payload):
            return send_and_read_all(addr, payload)
        # oversized frame header (16 MiB announced): dropped at once, nothing allocated
        yield threads.deferToThread(raw, b"\x00\x00\x00")
        # wrong version: we still send our Setup first, then drop the conn
        got = yield threads.deferToThread(raw, fm.frame(fm.Setup(20, 21, b"\x01" * 32).encode()))
        r = fm.FrameReader()
        r.feed(got)
        s = fm.decode(r.next_frame())
        self.assertEqual((s.min_version, s.max_version), (10, 14))
        self.assertTrue(s.local_endpoint.endswith("@@"))
        # a non-Setup first message
        yield threads.deferToThread(raw, fm.frame(fm.HealthCheckRequest().encode()))
        self.assertEqual(server.conns, set())


def deferLater(t):
    from twisted.internet import task
    return task.deferLater(reactor, t, lambda: None)


class StalledClientTest(unittest.TestCase):
    timeout = 20

    @defer.inlineCallbacks
    def test_acceptor_drops_stalled_handshake(self):
        from twisted.internet import threads
        from v23py.flow import message as fm
        server = FlowManager(ident(), handshake_timeout=0.3)
        self.addCleanup(server.stop)
        port = yield server.listen("127.0.0.1:0")

        def stall(payload):
            return send_and_read_all(("127.0.0.1", port.port.getHost().port), payload)
        # says nothing at all
        got = yield threads.deferToThread(stall, b"")
        self.assertTrue(got.startswith(b"\xff"))        # our Setup frame, then the close
        # sends half a frame and stalls
        half = fm.frame(fm.Setup(10, 14, b"\x01" * 32).encode())[:10]
        yield threads.deferToThread(stall, half)
        self.assertEqual(server.conns, set())


class LameDuckTest(unittest.TestCase):
    timeout = 20

    @defer.inlineCallbacks
    def test_server_stop_lame_duck_then_teardown(self):
        server = FlowManager(ident())
        client = FlowManager(ident())
        self.addCleanup(client.stop)
        got = defer.Deferred()
        server.set_flow_handler(lambda f: f.set_receiver(lambda d: got.called or got.callback(d)))
        port = yield server.listen("127.0.0.1:0")
        conn = yield client.dial(port.endpoint)
        yield conn.open_flow().write(b"x")
        yield got   # the server's side of the conn is fully up
        yield server.stop()
        reason = yield conn.closed
        self.assertTrue(conn.remote_lame_duck)
        self.assertTrue(reason.id.endswith("ConnectionClosed"), reason)
        e = self.assertRaises(verror.VError, conn.open_flow)
        self.assertEqual(e.id, "v.io/x/ref/runtime/internal/flow/conn.ConnectionClosed")
        # a stopped manager refuses to dial or listen
        try:
            yield server.dial(port.endpoint)
        except Exception as e:
            self.assertTrue(e.id.endswith("ManagerClosed"))
        else:
            self.fail("dial after stop succeeded")


class OutputBatchingTest(TwoManagers):

    @defer.inlineCallbacks
    def test_nodelay_on_both_sides_and_replies_batched(self):
        import socket
        accepted = []

        def handler(flow):
            accepted.append(flow)

            def on_data(data, flow=flow):
                flow.write(data.upper())
            flow.set_receiver(on_data)
        self.server.set_flow_handler(handler)
        port = yield self.server.listen("127.0.0.1:0")
        conn = yield self.client.dial(port.endpoint)
        flows = [conn.open_flow() for _ in range(8)]
        got = []
        all_in = defer.Deferred()

        def on_reply(data):
            got.append(data)
            if len(got) == len(flows) and not all_in.called:
                all_in.callback(None)
        for f in flows:
            f.set_receiver(on_reply)
        yield defer.gatherResults([f.write(b"x%d" % i) for i, f in enumerate(flows)])
        yield all_in
        self.assertEqual(sorted(got), sorted(b"X%d" % i for i in range(len(flows))))
        (sconn,) = [mc for mc in self.server.conns]
        for mc in (conn, sconn):
            sock = mc._proto.transport.getHandle()
            self.assertEqual(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY), 1)
        # Replies produced while one chunk of requests is handled are coalesced: a few per
        # write (a burst is written in parts so that the peer can start on it early).
        tr = sconn._proto.transport
        writes = []
        real_send = tr.socket.send
        orig = tr.write
        self.patch(tr, "write", lambda data: (writes.append(len(data)), orig(data)))
        orig_seq = tr.writeSequence
        self.patch(tr, "writeSequence", lambda parts: (writes.append(sum(map(len, parts))), orig_seq(parts)))

        class Sock:
            def __getattr__(self, name):
                return getattr(real_send.__self__, name)

            def send(self, data):
                writes.append(len(data))
                return real_send(data)

            def sendmsg(self, buffers):
                writes.append(sum(map(len, buffers)))
                return real_send.__self__.sendmsg(buffers)
        self.patch(tr, "socket", Sock())
        got.clear()
        all_in = defer.Deferred()
        more = []
        for i, f in enumerate(flows):
            conn._conn.write(f._state, b"y%d" % i)
        conn._flush()   # all requests in one send: the server handles them in one turn
        yield all_in
        more.extend(writes)
        self.assertEqual(sorted(got), sorted(b"Y%d" % i for i in range(len(flows))))
        from v23py.runtime import _conns as fm
        pieces_per_reply = 1     # sealed after its length prefix, in one buffer
        per_write = max(1, fm._EARLY_FLUSH // pieces_per_reply)
        self.assertEqual(len(more), -(-len(flows) // per_write), more)

    @defer.inlineCallbacks
    def test_a_read_with_nothing_to_send_still_moves_the_timer(self):
        # A health-check response writes nothing back but moves the conn's timers: the
        # reactor timer must follow them (the no-output shortcut of ManagedConn._flush).
        from twisted.internet import task
        self.server.set_flow_handler(lambda flow: None)
        port = yield self.server.listen("127.0.0.1:0")
        mc = yield self.client.dial(port.endpoint)
        c = mc._conn
        yield task.deferLater(reactor, 0.01, lambda: None)   # (the end of the handshake's read)
        self.assertIsNotNone(c.hc_request_at)
        before = mc._sched_when
        self.assertEqual(before, c.next_timeout())
        answered = defer.Deferred()
        real = c._handle_health_response

        def handle():
            real()
            answered.callback(None)
        self.patch(c, "_handle_health_response", handle)
        mc._call(c.send_health_check)
        yield answered
        yield task.deferLater(reactor, 0, lambda: None)   # the rest of that dataReceived
        self.assertFalse(c._out)
        self.assertGreater(c.next_timeout(), before)
        self.assertEqual(mc._sched_when, c.next_timeout())
        self.assertLess(abs(mc._timer.getTime() - c.next_timeout()), 1.0)

    def test_after_input_runs_at_the_end_of_the_batch(self):
        from v23py.runtime.flowmanager import after_input, output_batch
        seen = []
        after_input(lambda: seen.append("now"))
        self.assertEqual(seen, ["now"])
        with output_batch():
            after_input(lambda: seen.append("later"))
            with output_batch():
                after_input(lambda: after_input(lambda: seen.append("nested")))
            self.assertEqual(seen, ["now"])
        self.assertEqual(seen, ["now", "later", "nested"])


class LongPayloadTest(TwoManagers):
    """A long message's payload reaches a push receiver as the bytearray it was decrypted
    in only when the receiver said it takes them; every other receiver gets bytes."""

    @defer.inlineCallbacks
    def test_bytearrays_only_for_receivers_that_take_them(self):
        got = {}
        done = defer.Deferred()
        size = 1 + 256 * 781

        def handler(flow):
            chunks = got.setdefault(len(got), [])
            takes = len(got) == 2   # the second flow's receiver takes bytearrays

            def on_data(data):
                chunks.append(data)
                if sum(map(len, chunks)) >= size and len(got) == 2 and all(
                        sum(map(len, c)) >= size for c in got.values()) and not done.called:
                    done.callback(None)
            flow.set_receiver(on_data, bytearrays=takes)
        self.server.set_flow_handler(handler)
        port = yield self.server.listen("127.0.0.1:0")
        conn = yield self.client.dial(port.endpoint)
        payload = b"!" + bytes(range(256)) * 781
        for _ in range(2):
            f = conn.open_flow()
            yield f.write(b"!")
            f.write(payload[1:])
        yield done
        plain, taking = got[0], got[1]
        self.assertEqual(b"".join(plain), payload)
        self.assertEqual(b"".join(taking), payload)
        self.assertEqual({type(c) for c in plain}, {bytes})
        self.assertIn(bytearray, {type(c) for c in taking})


class GatheredWriteTest(unittest.TestCase):
    """_write sends a conn's output buffers in one gathered sendmsg; what the kernel did not
    take goes to Twisted, in order."""

    def test_partial_send_leaves_the_rest_in_order(self):
        from v23py.runtime import _conns

        class Sock:
            def __init__(self, take):
                self.take, self.sent = take, []

            def sendmsg(self, bufs):
                data = b"".join(bytes(b) for b in bufs)[:self.take]
                self.sent.append(data)
                return len(data)

            def send(self, buf):
                return self.sendmsg([buf])

        class Transport:
            connected, disconnecting, _writeDisconnected = True, False, False
            _tempDataBuffer, offset, dataBuffer = [], 0, b""

            def __init__(self, take):
                self.socket = Sock(take)
                self.queued = []

            def writeSequence(self, parts):
                self.queued.extend(bytes(p) for p in parts)
        parts = [b"abc", bytearray(b"defgh"), b"ij"]
        whole = b"abcdefghij"
        for take in range(len(whole) + 1):
            tr = Transport(take)
            _conns._write(tr, list(parts))
            self.assertEqual(b"".join(tr.socket.sent) + b"".join(tr.queued), whole)
            self.assertEqual(tr.queued == [], take == len(whole))
