"""Conns inside flows and Go's proxy protocol, without Go: the sans-IO pieces (message-mode
conns, whole unencrypted flows, an encapsulated conn through a hand-driven proxy hop, the
proxy messages) and then FlowManagers with real keys around our in-process Proxy."""
from twisted.internet import defer
from twisted.trial import unittest

from v23py import security, verror
from v23py.flow import Identity, conn as fconn, message as m, proxy as fproxy
from v23py.naming.endpoint import Endpoint, RoutingId
from v23py.runtime import proxymgr
from v23py.runtime.flowmanager import FlowManager
from v23py.testing.flow import connected_pair, kinds, make_pair, of_kind, pump
from v23py.xproxy import Proxy, access_list_authorizer


def pump_messages(a, b, max_rounds=1000):
    """pump() for message-mode conns: every message travels alone."""
    ea, eb = [], []
    for _ in range(max_rounds):
        x, _ = a.messages_to_send()
        y, _ = b.messages_to_send()
        if not x and not y:
            break
        for msg in x:
            eb.extend(b.receive_message(msg))
        for msg in y:
            ea.extend(a.receive_message(msg))
    return ea, eb


class MessageModeTest(unittest.TestCase):
    def test_handshake_data_close_without_frame_headers(self):
        d, a = make_pair(framed=False)
        d.start()
        a.start()
        msgs, clear = d.messages_to_send()
        self.assertEqual((len(msgs), clear), (1, 1))
        self.assertEqual(msgs[0][0], m.SETUP)            # no 3-byte header in front
        self.assertIsInstance(m.decode(msgs[0]), m.Setup)
        ea = a.receive_message(msgs[0])
        ed, ea2 = pump_messages(d, a)
        self.assertIn("HandshakeComplete", kinds(ed))
        self.assertIn("HandshakeComplete", kinds(ea + ea2))
        f = d.open_flow()
        d.write(f, b"x" * 200000)
        ed, ea = pump_messages(d, a)
        got = b"".join(data for _, data in of_kind(ea, fconn.DataReceived))
        self.assertEqual(len(got), 200000)

    def test_oversized_message_closes_the_conn(self):
        d, a = make_pair(framed=False, bytes_buffered=1 << 16, mtu=1 << 12)
        d.start()
        a.start()
        pump_messages(d, a)
        ev = a.receive_message(b"\x77" * ((1 << 16) + 5000))
        self.assertIn("ConnectionClosed", kinds(ev))
        self.assertIn("message of 70536 bytes exceeds the limit of 69632", str(a.close_error))


class WholeFlowTest(unittest.TestCase):
    def setUp(self):
        self.d, self.a = connected_pair()

    def test_whole_writes_keep_their_boundaries_and_wait_for_tokens(self):
        d, a = self.d, self.a
        f = d.open_flow()
        f.whole = True
        sizes = [10, 70000, 3, 900000, 200000]   # more than an MTU; more than the tokens
        for n in sizes:
            d.write(f, bytes([n % 251]) * n)
        got = []
        for _ in range(50):
            ed, ea = pump(d, a)
            for e in ea:
                if e[0] is fconn.DataReceived:
                    _, e_flow, e_data = e
                    got.append(len(e_data))
                    a.consumed(e_flow, len(e_data))
            if len(got) == len(sizes):
                break
        self.assertEqual(got, sizes)

    def test_no_encrypt_sends_the_payload_in_the_clear_after_its_header(self):
        d, a = self.d, self.a
        f = d.open_flow()
        f.whole = True
        d.write(f, b"first")          # OpenFlow, encrypted as usual
        pump(d, a)
        f.no_encrypt = True
        d.write(f, b"sealed-elsewhere")
        wire = d.data_to_send()
        self.assertIn(b"sealed-elsewhere", wire)   # clear text on the wire
        ev = a.receive_data(wire)
        self.assertEqual([data for _, data in of_kind(ev, fconn.DataReceived)],
                         [b"sealed-elsewhere"])


class EncapsulatedConnTest(unittest.TestCase):
    """A client conn inside a flow, carried by a proxy hop we drive by hand."""

    def test_inner_conn_through_a_flow(self):
        outer_d, outer_a = make_pair()        # client <-> proxy
        outer_d.start()
        outer_a.start()
        pump(outer_d, outer_a)
        carrier = outer_d.open_flow()
        carrier.whole = True
        inner_d, inner_a = make_pair(framed=False, encapsulated=True)
        inner_d.start()
        inner_a.start()
        seen_flags = []
        accepted = {}

        def client_out():
            msgs, clear = inner_d.messages_to_send()
            for i, msg in enumerate(msgs):
                if i >= clear and inner_d.cipher is not None:
                    carrier.no_encrypt = True
                outer_d.write(carrier, msg)
            if inner_d.cipher is not None:
                carrier.no_encrypt = True

        def proxy_in():
            events = outer_a.receive_data(outer_d.data_to_send())
            out = []
            for e in events:
                if e[0] is fconn.FlowAccepted:
                    _, e_flow = e
                    accepted["f"] = e_flow
                if e[0] is fconn.DataReceived:
                    _, e_flow, e_data = e
                    outer_a.consumed(e_flow, len(e_data))
                    out.extend(inner_a.receive_message(e_data))
            outer_d.receive_data(outer_a.data_to_send())
            return out

        def server_out():
            msgs, _ = inner_a.messages_to_send()
            ev = []
            for msg in msgs:
                ev.extend(inner_d.receive_message(msg))
            return ev
        events_d, events_a = [], []
        for _ in range(20):
            client_out()
            wire = outer_d.data_to_send()
            seen_flags.append(wire)
            events_a.extend(outer_a.receive_data(wire))
            for e in events_a:
                if e[0] is fconn.DataReceived:
                    _, e_flow, e_data = e
                    outer_a.consumed(e_flow, len(e_data))
                    events_a_inner = inner_a.receive_message(e_data)
                    events_d.extend(events_a_inner)
            events_a = []
            outer_d.receive_data(outer_a.data_to_send())
            events_d.extend(server_out())
            if inner_d.is_active and inner_a.is_active:
                break
        self.assertTrue(inner_d.is_active and inner_a.is_active)
        # after the Setup exchange the carrier stopped encrypting (the inner conn does)
        self.assertTrue(carrier.no_encrypt)
        # inner flows never send more than mtu - 32 per message
        f = inner_d.open_flow()
        inner_d.write(f, b"y" * 100000)
        msgs, _ = inner_d.messages_to_send()
        self.assertTrue(msgs)
        self.assertLessEqual(max(len(x) for x in msgs),
                             inner_d.mtu - fconn.PROXY_OVERHEAD + 32)


class ProxyMessagesTest(unittest.TestCase):
    def test_next_hop_uses_the_first_route(self):
        rid = RoutingId.random()
        hop = RoutingId.random()
        ep = Endpoint("tcp", "1.2.3.4:5", rid, routes=(str(hop),), blessing_names=("a",))
        setup = m.Setup(10, 14, b"k" * 32, str(ep), "", 1 << 16, 1 << 20)
        nxt, fwd = fproxy.next_hop(setup)
        self.assertEqual(nxt, hop)
        self.assertEqual(Endpoint.parse(fwd.remote_endpoint).routes, ())
        nxt, fwd2 = fproxy.next_hop(fwd)
        self.assertEqual(nxt, rid)
        self.assertEqual(fwd2.encode(), fwd.encode())

    def test_next_hop_refuses_setups_without_a_server(self):
        for remote in ("", "@6@tcp@1.2.3.4:5@@@s@@@", "not an endpoint"):
            with self.assertRaises(verror.VError):
                fproxy.next_hop(m.Setup(10, 14, b"k" * 32, remote))

    def test_responses(self):
        own = [Endpoint("wsh", "1.2.3.4:5", RoutingId.random(), blessing_names=("p",))]
        rid = RoutingId.random()
        eps = fproxy.read_response(fproxy.response(fproxy.server_endpoints(own, rid)))
        self.assertEqual([(e.address, e.routing_id) for e in eps], [("1.2.3.4:5", rid)])
        eps = fproxy.read_response(fproxy.response(fproxy.proxy_endpoints(own, str(rid))))
        self.assertEqual(eps[0].routes, (str(rid),))
        with self.assertRaises(verror.VError) as cm:
            fproxy.read_response(fproxy.error_response("go away"))
        self.assertIn("go away", str(cm.exception))
        with self.assertRaises(verror.VError):
            fproxy.read_response(b"\x7c")
        with self.assertRaises(verror.VError):
            fproxy.server_endpoints([], rid)
        self.assertEqual(fproxy.first_message(fproxy.SERVER_REQUEST), ("server", None))
        self.assertEqual(fproxy.first_message(fproxy.MULTI_PROXY_REQUEST), ("proxy", None))


def principal(name, blesser=None, blesser_b=None):
    p = security.random_principal()
    if blesser is None:
        b = p.bless_self(name)
    else:
        b = blesser.bless(p.public_key, blesser_b, name, security.unconstrained_use())
        p.add_to_roots(b)
    p.blessing_store.set_default(b)
    p.blessing_store.set(b, "...")
    p.add_to_roots(b)
    return p, b


class ProxyEndToEndTest(unittest.TestCase):
    """A server listening through our Proxy, a client dialing it through the proxy."""
    timeout = 20

    @defer.inlineCallbacks
    def setUp(self):
        self.root, root_b = principal("root")
        self.pp, _ = principal("proxy", self.root, root_b)
        self.sp, _ = principal("server", self.root, root_b)
        self.cp, _ = principal("client", self.root, root_b)
        self.pmgr = FlowManager(Identity(self.pp))
        self.smgr = FlowManager(Identity(self.sp))
        self.cmgr = FlowManager(Identity(self.cp))
        for mgr in (self.cmgr, self.smgr, self.pmgr):
            self.addCleanup(mgr.stop)
        self.proxy = Proxy(self.pmgr, self.pp,
                           authorizer=access_list_authorizer('{"In": ["root:server"]}', self.pp))
        self.addCleanup(self.proxy.stop)
        port = yield self.pmgr.listen("127.0.0.1:0")
        self.proxy_ep = port.endpoint

        def echo(flow):
            flow.set_receiver(lambda data: flow.write(data.upper()),
                              lambda reason: flow.close())
        self.smgr.set_flow_handler(echo)

    @defer.inlineCallbacks
    def test_server_listens_and_client_dials_through(self):
        updates = []
        pl = yield self.smgr.proxy_listen(self.proxy_ep, on_update=updates.append)
        [ep] = pl.endpoints
        self.assertEqual(ep.address, self.proxy_ep.address)
        self.assertEqual(ep.routing_id, self.smgr.routing_id)
        self.assertEqual(ep.blessing_names, ("root:server",))
        conn = yield self.cmgr.dial(ep)
        self.assertEqual(conn.remote_endpoint.routing_id, self.smgr.routing_id)
        self.assertEqual(list(conn.remote_blessings.names()), ["root:server"])
        f = conn.open_flow()
        f.write(b"a" * 300000)    # several MTUs, more than the initial tokens
        got = []
        while sum(len(x) for x in got) < 300000:
            got.append((yield f.read()))
        self.assertEqual(b"".join(got), b"A" * 300000)
        # a second dial of the same endpoint shares the conn; a dial of the proxy's own
        # endpoint gets the conn to the proxy
        again = yield self.cmgr.dial(str(ep))
        self.assertIs(again, conn)
        direct = yield self.cmgr.dial(self.proxy_ep)
        self.assertIsNot(direct, conn)
        self.assertEqual(self.proxy.stats[str(self.smgr.routing_id)].requests, 1)
        f.close()
        # the server leaves: the proxy drops it and a new dial fails
        yield pl.stop()
        yield self.smgr.stop()
        err = yield pl.done
        self.assertIsNone(err)
        with self.assertRaises(verror.VError):
            yield self.cmgr.dial(ep, timeout=5)

    @defer.inlineCallbacks
    def test_chain_of_two_proxies(self):
        """A second proxy listens through the first (--v23.proxy on xproxyd): its servers
        also get the first proxy's address, with a route through the second, as Go forms
        them. A conn over both proxies does not come up: at RPC version 14 the channel
        binding covers both Setup messages, and the first proxy rewrites the client's Setup
        (it drops the route it used) -- Go v0.2.0's proxy does the same (dialNextHop), so
        chains fail there too; one proxy rewrites nothing."""
        from twisted.internet import reactor, task
        self.proxy.authorizer = access_list_authorizer('{"In": ["root"]}', self.pp)
        p2p, _ = principal("proxy2", self.root, self.root.blessing_store.default())
        p2mgr = FlowManager(Identity(p2p))
        self.addCleanup(p2mgr.stop)
        proxy2 = Proxy(p2mgr, p2p, authorizer=access_list_authorizer('{"In": ["root"]}', p2p),
                       resolve=lambda name: defer.succeed([self.proxy_ep]))
        self.addCleanup(proxy2.stop)
        port2 = yield p2mgr.listen("127.0.0.1:0")
        proxy2.listen_through("first")
        for _ in range(100):
            if proxy2.upstream:
                break
            yield task.deferLater(reactor, 0.05, lambda: None)
        [up] = proxy2.upstream["first"]
        self.assertEqual((up.address, up.routes), (self.proxy_ep.address,
                                                    (str(p2mgr.routing_id),)))
        pl = yield self.smgr.proxy_listen(port2.endpoint)
        eps = {ep.address: ep for ep in pl.endpoints}
        self.assertEqual(set(eps), {port2.endpoint.address, self.proxy_ep.address})
        chained = eps[self.proxy_ep.address]
        self.assertEqual(chained.routing_id, self.smgr.routing_id)
        self.assertEqual(chained.routes, (str(p2mgr.routing_id),))
        with self.assertRaises(verror.VError) as cm:
            yield self.cmgr.dial(chained, timeout=10)
        self.assertIn("channel binding", str(cm.exception))
        # the first proxy did route the client's conn (to the second: the server never
        # listened through the first, whose counters for it come from the routing alone)
        self.assertIn(str(self.smgr.routing_id), self.proxy.stats)
        # through the second proxy alone, the same server is reached
        conn = yield self.cmgr.dial(eps[port2.endpoint.address])
        f = conn.open_flow()
        f.write(b"through one proxy")
        self.assertEqual((yield f.read()), b"THROUGH ONE PROXY")
        f.close()
        yield pl.stop()

    @defer.inlineCallbacks
    def test_proxy_refuses_servers_outside_its_access_list(self):
        self.proxy.authorizer = access_list_authorizer('{"In": ["root:other"]}', self.pp)
        with self.assertRaises(verror.VError) as cm:
            yield self.smgr.proxy_listen(self.proxy_ep)
        self.assertIn("ProxyResponse", cm.exception.id)
        self.assertIn("access list", str(cm.exception))

    def test_access_list_flag(self):
        self.assertIsNone(access_list_authorizer("", self.pp))
        acl = access_list_authorizer('{"In": ["root:server"], "NotIn": ["root:server:bad"]}',
                                     self.pp)
        self.assertEqual([str(p) for p in acl.In], ["root:server", "root:proxy"])
        for bad in ("{", "[]", '{"In": "x"}'):
            with self.assertRaises(verror.VError):
                access_list_authorizer(bad, self.pp)


class ProxyPolicyTest(unittest.TestCase):
    """Which of the proxies mounted under one name a server uses (--v23.proxy.policy)."""

    def pm(self, policy, limit=0):
        pm = proxymgr.ProxyManager(None, None, "proxy", policy, limit, None)
        pm.available = [Endpoint("tcp", "10.0.0.%d:1" % i, RoutingId.random()) for i in range(5)]
        return pm

    def test_policies(self):
        pm = self.pm("first")
        self.assertEqual(pm._wanted(), pm.available[:1])
        pm.active[str(pm.available[0])] = None
        self.assertEqual(pm._wanted(), [])
        pm = self.pm("random")
        self.assertEqual(len(pm._wanted()), 1)
        pm = self.pm("all")
        self.assertEqual(pm._wanted(), pm.available)
        pm = self.pm("all", limit=2)
        self.assertEqual(len(pm._wanted()), 2)
        pm.active[str(pm.available[0])] = None
        self.assertEqual(len(pm._wanted()), 1)
        self.assertEqual(self.pm("").policy, "first")
        with self.assertRaises(verror.VError):
            proxymgr.check_policy("some")

    def test_policy_flag_is_checked_as_go_does(self):
        from v23py import runtime
        with self.assertRaises(runtime.FlagError) as cm:
            runtime.init(["--v23.proxy.policy=some"], flags=runtime.FlagSet("t"),
                         exit_on_error=False)
        self.assertIn("must be one of 'first', 'random' or 'all'", str(cm.exception))
