"""Sans-IO Conn: handshake, flows, flow control, health checks, lame duck, faults."""
from twisted.trial import unittest

from v23py import verror
from v23py.testing.flow import FakeAuth, connected_pair, kinds, make_pair, of_kind, pump
from v23py.flow import conn as fconn, message as m


def data_of(events, flow=None):
    return b"".join(bytes(data) for f, data in of_kind(events, fconn.DataReceived)
                    if flow is None or f.id == flow.id)


class HandshakeTest(unittest.TestCase):
    def test_handshake(self):
        d, a = make_pair()
        d.start()
        a.start()
        ed, ea = pump(d, a)
        self.assertIn("HandshakeComplete", kinds(ed))
        self.assertIn("HandshakeComplete", kinds(ea))
        self.assertEqual(d.version, 14)
        self.assertEqual(d.remote_blessings.name, "server")
        self.assertEqual(a.remote_blessings.name, "client")
        self.assertEqual(str(d.remote_endpoint.routing_id), "01" * 16)
        self.assertEqual(d.binding, a.binding)
        self.assertTrue(d.binding.startswith(b"\x7e"))
        self.assertEqual(d.mtu, 65536)
        self.assertEqual(d.shared, 1 << 20)

    def test_bad_signature(self):
        d, a = make_pair()
        a.auth = FakeAuth("sk", forge=True)
        d.start()
        a.start()
        ed, ea = pump(d, a)
        closed = of_kind(ed, fconn.ConnectionClosed)
        self.assertEqual(len(closed), 1)
        self.assertTrue(closed[0][0].id.endswith("InvalidChannelBinding"))
        self.assertTrue(d.closed)
        # the acceptor got the TearDown
        self.assertTrue(a.closed)

    def test_authorizer_refuses(self):
        from v23py import verror

        def refuse(conn):
            raise verror.NotTrusted.new("no thanks")
        d, a = make_pair(dialer_kw={"authorize": refuse})
        d.start()
        a.start()
        ed, ea = pump(d, a)
        self.assertTrue(d.closed)
        self.assertEqual(d.close_error.id, "v.io/v23/verror.NotTrusted")
        self.assertTrue(a.closed)

    def test_version_mismatch(self):
        d, a = make_pair(dialer_kw={"versions": (15, 16)})
        d.start()
        a.start()
        ed, ea = pump(d, a)
        self.assertEqual(d.close_error.id, "v.io/v23/rpc/version.NoCompatibleVersion")
        self.assertEqual(a.close_error.id, "v.io/v23/rpc/version.NoCompatibleVersion")

    def test_garbage_and_oversize(self):
        for junk in (b"GET / HTTP/1.1\r\n\r\n", b"\xff\xff\xfe\x01", b"\x00\x00\x00" + b"x" * 100):
            d, a = make_pair()
            a.start()
            ev = a.receive_data(junk)
            self.assertTrue(a.closed, junk)
            self.assertIsNotNone(a.close_error)
            self.assertEqual(kinds(ev), ["ConnectionClosed"])

    def test_handshake_timeout(self):
        d, a = make_pair()
        a.start()
        self.assertEqual(a.next_timeout(), 60.0)
        self.assertEqual(a.handle_timeout(30.0), [])
        ev = a.handle_timeout(61.0)
        self.assertEqual(kinds(ev), ["ConnectionClosed"])
        self.assertEqual(a.close_error.id, "v.io/v23/verror.Timeout")

    def test_corrupted_ciphertext(self):
        d, a = connected_pair()
        f = d.open_flow()
        d.write(f, b"hello")
        out = bytearray(d.data_to_send())
        out[-1] ^= 0xFF
        ev = a.receive_data(bytes(out))
        self.assertTrue(a.closed)
        self.assertIn("ConnectionClosed", kinds(ev))


class FlowTest(unittest.TestCase):
    def setUp(self):
        self.d, self.a = connected_pair()

    def test_open_write_close(self):
        d, a = self.d, self.a
        f = d.open_flow()
        self.assertEqual(f.id, 10)
        self.assertEqual(d.data_to_send(), b"")  # nothing until the first write
        d.write(f, b"hello ")
        d.write(f, b"world", close=True)
        ed, ea = pump(d, a)
        acc = [f for (f,) in of_kind(ea, fconn.FlowAccepted)]
        self.assertEqual(len(acc), 1)
        self.assertEqual(acc[0].id, 10)
        self.assertEqual(acc[0].remote_blessings.name, "client")
        self.assertEqual(data_of(ea), b"hello world")
        self.assertIn("FlowClosed", kinds(ea))
        # the reverse direction on an acceptor-opened flow uses odd ids
        g = a.open_flow()
        self.assertEqual(g.id, 11)
        a.write(g, b"x", close=True)
        ed, ea = pump(d, a)
        self.assertEqual(data_of(ed), b"x")

    def test_many_flows_multiplexed(self):
        d, a = self.d, self.a
        flows = [d.open_flow() for _ in range(50)]
        for i, f in enumerate(flows):
            d.write(f, b"%d-" % i)
        for i, f in enumerate(flows):
            d.write(f, b"end", close=True)
        ed, ea = pump(d, a)
        for i, f in enumerate(flows):
            self.assertEqual(data_of(ea, f), b"%d-end" % i)

    def test_flow_ids_of_every_length(self):
        # a flow id takes 1 to 5 bytes (below 0x80 one, else a length byte and 1 to 4):
        # the OpenFlow and the Data messages of each find their flow, both ways
        d, a = self.d, self.a
        for fid in (0x7E, 0xFE, 0x1234, 0x123456, 0x12345678):
            d.next_fid = fid
            f = d.open_flow()
            d.write(f, b"open %x" % fid)
            ed, ea = pump(d, a)
            [(g,)] = of_kind(ea, fconn.FlowAccepted)
            self.assertEqual((g.id, data_of(ea, g)), (fid, b"open %x" % fid))
            d.write(f, b"data %x" % fid)
            ed, ea = pump(d, a)
            self.assertEqual(data_of(ea, g), b"data %x" % fid)
            a.write(g, b"back %x" % fid, close=True)
            ed, ea = pump(d, a)
            self.assertEqual(data_of(ed, f), b"back %x" % fid)
            self.assertIn("FlowClosed", kinds(ed))

    def test_long_payload_is_the_buffer_it_was_opened_in(self):
        # A long Data message whose frame spans reads is joined once into a bytearray,
        # opened in place there, and its payload leaves as that same buffer, the
        # receiver's to keep: the conn never touches it again.
        d, a = self.d, self.a
        f = d.open_flow()
        d.write(f, b"open")
        pump(d, a)
        payloads = []
        for fill in (b"a", b"b", b"c"):
            d.write(f, fill * 60000)
            wire = d.data_to_send()
            evs = []
            for i in range(0, len(wire), 7000):   # a frame over several reads
                evs += a.receive_data(wire[i:i + 7000])
            (got,) = [data for _, data in of_kind(evs, fconn.DataReceived)]
            self.assertEqual((type(got), got), (bytearray, fill * 60000))
            payloads.append(got)
        self.assertEqual(payloads, [b"a" * 60000, b"b" * 60000, b"c" * 60000])
        payloads[0][:] = b"changed"   # the receiver's own: the conn goes on unharmed
        d.write(f, b"z" * 60000)
        ea, eb = pump(d, a)
        self.assertEqual(data_of(eb), b"z" * 60000)
        # a long message in one read is opened into a new bytearray
        d.write(f, b"y" * 60000)
        (got,) = [data for _, data in of_kind(a.receive_data(d.data_to_send()), fconn.DataReceived)]
        self.assertEqual((type(got), got), (bytearray, b"y" * 60000))

    def test_large_write_respects_mtu_and_flow_control(self):
        d, a = self.d, self.a
        f = d.open_flow()
        big = bytes(range(256)) * (3 * 4096 * 4)  # 3 MiB > 1 MiB buffer
        d.write(f, big, close=True)
        received = []
        sizes = []
        # deliver without consuming: the sender must stop at the receiver's buffer size
        for _ in range(100):
            out = d.data_to_send()
            if not out:
                break
            for e in a.receive_data(out):
                if e[0] is fconn.DataReceived:
                    _, e_flow, e_data = e
                    received.append(bytes(e_data))
                    sizes.append(len(e_data))
        self.assertFalse(a.closed)
        self.assertLessEqual(sum(sizes), 1 << 20)
        self.assertLessEqual(max(sizes), 65536)
        # now consume everything as it arrives; transfer completes and all credits return
        for _ in range(1000):
            af = [e for e in []]
            acc = a.flows.get(f.id)
            if acc is not None and acc.unread:
                a.consumed(acc, acc.unread)
            ea, eb = pump(d, a, 1)
            for e in eb:
                if e[0] is fconn.DataReceived:
                    _, e_flow, e_data = e
                    received.append(bytes(e_data))
                    a.consumed(e_flow, len(e_data))
            if f.closed and not d.has_output and not a.has_output:
                break
        self.assertEqual(b"".join(received), big)
        self.assertTrue(f.closed)
        pump(d, a)
        self.assertEqual(d.shared, d.max_shared)

    def test_overflow_closes_conn(self):
        d, a = self.d, self.a
        f = d.open_flow()
        d.write(f, b"x")
        pump(d, a)
        # forge a peer that ignores flow control
        f.released = 10 << 20
        f.borrowing = False
        d.write(f, b"y" * (2 << 20))
        ed, ea = pump(d, a)
        self.assertTrue(a.closed)
        self.assertTrue(a.close_error.id.endswith("CounterOverflow"))

    def test_invalid_peer_flow_id(self):
        d, a = self.d, self.a
        # acceptor receiving an OpenFlow with its own (odd) parity
        d.next_fid = 11
        f = d.open_flow()
        d.write(f, b"x")
        pump(d, a)
        self.assertTrue(a.closed)
        self.assertTrue(a.close_error.id.endswith("InvalidPeerFlow"))

    def test_openflow_flood_bounded(self):
        d, a = connected_pair(acceptor_kw={"max_flows": 100})
        for _ in range(150):
            d.write(d.open_flow(), b"x")
        pump(d, a)
        self.assertTrue(a.closed)
        self.assertLessEqual(len(a.flows), 100)

    def test_release_batching_and_shared_tokens(self):
        d, a = self.d, self.a
        flows = [d.open_flow() for _ in range(3)]
        for f in flows:
            d.write(f, b"z" * 300000)
        ed, ea = pump(d, a)
        self.assertEqual(d.shared, (1 << 20) - 900000)
        for e in ea:
            if e[0] is fconn.DataReceived:
                _, e_flow, e_data = e
                a.consumed(e_flow, len(e_data))
        pump(d, a)
        # > B/2 consumed from borrowing flows: one Release returned every borrowed token
        self.assertEqual(d.shared, 1 << 20)
        for f in flows:
            self.assertFalse(f.borrowing)
            self.assertEqual(f.borrowed, 0)
            # Go's accounting: credits the receiver still holds back are below B/2
            self.assertGreater(f.released, (1 << 20) // 2)

    def test_remote_close_returns_borrowed(self):
        d, a = self.d, self.a
        f = d.open_flow()
        d.write(f, b"q" * 1000)
        ed, ea = pump(d, a)
        acc = [f for (f,) in of_kind(ea, fconn.FlowAccepted)][0]
        self.assertEqual(d.shared, (1 << 20) - 1000)
        a.close_flow(acc)
        ed, ea = pump(d, a)
        self.assertTrue(f.closed)
        self.assertEqual(d.shared, 1 << 20)

    def test_local_close_outstanding_borrowed(self):
        d, a = self.d, self.a
        f = d.open_flow()
        d.write(f, b"q" * 1000, close=True)
        self.assertEqual(d.outstanding_borrowed, {10: 1000})
        ed, ea = pump(d, a)
        acc = [f for (f,) in of_kind(ea, fconn.FlowAccepted)][0]
        # the acceptor reads; once it releases (>B/2 overall) the outstanding tokens come back
        a.consumed(acc, 1000)
        g = d.open_flow()
        d.write(g, b"r" * 600000)
        ed, ea = pump(d, a)
        for e in ea:
            if e[0] is fconn.DataReceived:
                _, e_flow, e_data = e
                a.consumed(e_flow, len(e_data))
        pump(d, a)
        self.assertEqual(d.outstanding_borrowed, {})
        self.assertEqual(d.shared, 1 << 20)

    def test_health_check(self):
        d, a = self.d, self.a
        self.assertEqual(d.next_timeout(), 900.0)
        d.handle_timeout(900.0)
        self.assertEqual(d.next_timeout(), 1800.0)   # the request is out: only the close left
        out = d.data_to_send()
        self.assertTrue(out)
        a.receive_data(out)
        d.receive_data(a.data_to_send(), now=901.0)
        self.assertEqual(d.hc_close_at, 901.0 + 1800)
        self.assertEqual(d.next_timeout(), 901.0 + 900)
        # a peer that never answers: closed with ChannelTimeout
        d.handle_timeout(901.0 + 900)
        self.assertEqual(d.next_timeout(), 901.0 + 1800)
        d.data_to_send()
        ev = d.handle_timeout(901.0 + 1800)
        self.assertTrue(d.closed)
        self.assertTrue(d.close_error.id.endswith("ChannelTimeout"))
        self.assertIsNone(d.next_timeout())

    def test_lame_duck(self):
        d, a = self.d, self.a
        a.enter_lame_duck()
        ed, ea = pump(d, a)
        self.assertIn("RemoteLameDuck", kinds(ed))
        self.assertIn("LameDuckAcknowledged", kinds(ea))
        e = self.assertRaises(verror.VError, d.open_flow)
        self.assertEqual(e.id, "v.io/x/ref/runtime/internal/flow/conn.ConnectionClosed")

    def test_teardown(self):
        d, a = self.d, self.a
        f = d.open_flow()
        d.write(f, b"x")
        pump(d, a)
        ev = a.close(Exception("going away"))
        ed, ea = pump(d, a)
        closed = of_kind(ed, fconn.ConnectionClosed)
        self.assertEqual(len(closed), 1)
        self.assertTrue(closed[0][0].id.endswith("RemoteError"))
        self.assertIn("going away", str(closed[0][0]))
        self.assertTrue(f.closed)

    def test_connection_lost(self):
        f = self.d.open_flow()
        self.d.write(f, b"x")
        ev = self.d.connection_lost()
        self.assertEqual(sorted(kinds(ev)), ["ConnectionClosed", "FlowClosed"])
        self.assertTrue(self.d.closed)
        e = self.assertRaises(verror.VError, self.d.write, f, b"y")
        self.assertEqual(e.id, "v.io/x/ref/runtime/internal/flow/conn.ConnectionClosed")


class DisableEncryptionTest(unittest.TestCase):
    def test_clear_payload_follows_flagged_message(self):
        d, a = connected_pair()
        f = d.open_flow()
        d.write(f, b"")
        ed, ea = pump(d, a)
        # hand-craft what a proxy would send: Data{flags: DisableEncryption} then the payload in clear
        d._send(m.Data(f.id, m.DISABLE_ENCRYPTION_FLAG, b"").encode())
        d._out.append(m.frame(b"clear payload"))
        ev = a.receive_data(d.data_to_send())
        self.assertFalse(a.closed)
        self.assertEqual(data_of(ev), b"clear payload")


class SetupBindingTest(unittest.TestCase):
    """The v14 channel binding re-encodes the peer's Setup the way Go does."""

    def test_peer_setup_is_canonicalized_and_mtu_fixed_up(self):
        d, a = make_pair()
        a.start()
        ours = a.data_to_send()
        from v23py.flow.crypto import KeyPair
        kp = KeyPair()
        # a peer Setup with no Mtu, options out of order, a sloppy endpoint and an unknown option
        raw = (b"\x7e\x0a\x0e" + b"\x09\x02hi" + b"\x05\x04\xfd\x08\x00\x00"
               + b"\x03" + m.varuint(len(b"@6@@@@@@@@")) + b"@6@@@@@@@@"
               + b"\x01\x20" + kp.public)
        a.receive_data(m.frame(raw))
        self.assertFalse(a.closed, a.close_error)
        self.assertEqual(a.mtu, 65536)            # our own MTU was adopted for the peer
        self.assertEqual(a.shared, 0x80000)      # the smaller shared-token offer wins
        canon = (b"\x7e\x0a\x0e\x01\x20" + kp.public
                 + b"\x03" + m.varuint(45) + b"@6@@:0@@00000000000000000000000000000000@m@@@"
                 + b"\x04\x04\xfd\x01\x00\x00" + b"\x05\x04\xfd\x08\x00\x00" + b"\x09\x02hi")
        r = m.FrameReader()
        r.feed(ours)
        self.assertEqual(a.binding, canon + r.next_frame())

    def test_missing_nacl_key(self):
        d, a = make_pair()
        a.start()
        a.receive_data(m.frame(m.Setup(10, 14, mtu=65536).encode()))
        self.assertTrue(a.closed)
        self.assertTrue(a.close_error.id.endswith("MissingSetupOption"))

    def test_version_11_uses_key_binding(self):
        d, a = connected_pair(dialer_kw={"versions": (11, 11)})
        self.assertEqual(d.version, 11)
        self.assertTrue(d.is_active and a.is_active)
        self.assertEqual(len(d.binding), 64)

    def test_version_10_refused(self):
        d, a = connected_pair(dialer_kw={"versions": (10, 10)})
        self.assertTrue(d.closed)
        self.assertTrue(d.close_error.id.endswith("RPCVersionMismatch"))


class BlessingsRefreshTest(unittest.TestCase):
    def setUp(self):
        from v23py.testing.flow import FakeBlessings
        self.FB = FakeBlessings
        self.d, self.a = connected_pair()

    def test_refresh_same_key(self):
        a, d = self.a, self.d
        k = a._send_blessings(self.FB("server:renewed", "sk"))
        a._send(m.Auth(k, 0, b"", "", b"", b"").encode())   # refresh: empty signature, not checked
        ev = d.receive_data(a.data_to_send())
        self.assertEqual(kinds(ev), ["BlessingsRefreshed"])
        self.assertEqual(d.remote_blessings.name, "server:renewed")

    def test_refresh_with_other_key_is_refused(self):
        a, d = self.a, self.d
        k = a._send_blessings(self.FB("mallory", "other-key"))
        a._send(m.Auth(k, 0, b"", "", b"", b"").encode())
        d.receive_data(a.data_to_send())
        self.assertTrue(d.closed)
        self.assertTrue(d.close_error.id.endswith("BlessingsNotBound"))

    def test_openflow_with_unknown_blessings_key(self):
        a, d = self.a, self.d
        d._send(m.OpenFlow(10, 1 << 20, 99, 0, 0, b"x").encode())
        a.receive_data(d.data_to_send())
        self.assertTrue(a.closed)
        self.assertTrue(a.close_error.id.endswith("BlessingsFlowClosed"))


class FuzzTest(unittest.TestCase):
    from hypothesis import given, settings, strategies as st

    @settings(max_examples=200, deadline=None)
    @given(st.binary(max_size=200), st.integers(0, 120), st.binary(max_size=8))
    def test_mutated_setup_never_crashes(self, tail, cut, junk):
        from v23py.flow.crypto import KeyPair
        good = m.Setup(10, 14, KeyPair().public, "@6@tcp@1.2.3.4:5@@00000000000000000000000000000009@m@x@@",
                       "@6@tcp@1.2.3.4:6@@00000000000000000000000000000008@s@@@", 65536, 1 << 20).encode()
        body = good[:cut] + junk + tail
        d, a = make_pair()
        a.start()
        ev = a.receive_data(m.frame(body) + tail)
        for e in ev:
            if e[0] is fconn.ConnectionClosed:
                _, e_error, _ = e
                self.assertTrue(hasattr(e_error, "id"))
        # whatever happened, the conn is either closed with a verror or waiting for Auth
        self.assertTrue(a.closed or a.state == fconn.AUTH or a.state == fconn.SETUP)
        if a.closed:
            self.assertNotEqual(a.close_error.id, "v.io/v23/verror.Internal", a.close_error)


def _real_pair(si, sb, sd, ci):
    """An acceptor of identity ``si`` (blessings ``sb``, discharges ``sd``) and a dialer of
    ``ci`` with the real SecurityAuth, started and pumped through their handshake."""
    from v23py.flow import auth
    from v23py.naming.endpoint import Endpoint, RoutingId
    a = fconn.Conn(dialer=False, auth=auth.SecurityAuth(si), local_blessings=sb,
                   local_discharges=sd,
                   local_endpoint=Endpoint("tcp", "127.0.0.1:1", RoutingId(b"\x01" * 16),
                                           blessing_names=tuple(sb.names())))
    d = fconn.Conn(dialer=True, auth=auth.SecurityAuth(ci), local_blessings=ci.nameless(),
                   local_endpoint=Endpoint("tcp", "127.0.0.1:2", RoutingId(b"\x02" * 16)),
                   remote_endpoint=Endpoint("tcp", "127.0.0.1:1"))
    d.start()
    a.start()
    pump(d, a)
    return d, a


class RealSecurityTest(unittest.TestCase):
    """Conns with the real SecurityAuth (keys, VOM blessings flow), incl. the first-message caches."""

    def test_repeated_handshakes_and_per_flow_blessings(self):
        from v23py import security
        from v23py.flow import auth
        sp = security.random_principal()
        sp.blessing_store.set_default(sp.bless_self("srv"))
        cp = security.random_principal()
        names = ["c0", "c1", "c2"]
        per_flow = [cp.bless_self(n) for n in names]
        si, ci = auth.Identity(sp), auth.Identity(cp)
        for round_ in range(3):
            d, a = _real_pair(si, si.default_blessings(), None, ci)
            self.assertTrue(d.is_active and a.is_active, (d.close_error, a.close_error))
            self.assertEqual(d.remote_blessings.names(), ["srv"])
            self.assertEqual(a.remote_blessings.names(), [""])
            accepted = []
            for i in range(round_ + 1):
                f = d.open_flow(blessings=per_flow[i])
                d.write(f, b"x")
                ed, ea = pump(d, a)
                accepted += [f for (f,) in of_kind(ea, fconn.FlowAccepted)]
            self.assertEqual([g.remote_blessings.names() for g in accepted], [[n] for n in names[:round_ + 1]])
        self.assertTrue(auth._FIRST_DECODED.d)
        self.assertTrue(auth._FIRST_ENCODED.d)


class DischargesOnTheWireTest(unittest.TestCase):
    """Discharges travel as Go sends them: the acceptor's with its Auth, a dialed flow's with
    its OpenFlow (sent once per set of blessings, re-sent when they change), and any conn's
    in a later Auth that refreshes its blessings."""

    def _world(self):
        import datetime
        from v23py import security
        idp = security.random_principal()
        idp.set_default_blessings(idp.bless_self("idp"))
        cav = security.new_public_key_caveat(idp.public_key, "/d", None,
                                             security.unconstrained_use())

        def blessed(p, ext):
            return idp.bless(p.public_key, idp.blessing_store.default(), ext, cav)

        def discharge(minutes):
            return idp.mint_discharge(cav, security.new_expiry_caveat(
                datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=minutes)))
        return idp, cav, blessed, discharge

    def _pair(self, sp, sb, sd, cp):
        from v23py.flow import auth
        d, a = _real_pair(auth.Identity(sp), sb, sd, auth.Identity(cp))
        self.assertTrue(d.is_active and a.is_active, (d.close_error, a.close_error))
        return d, a

    def test_acceptor_flow_and_refresh(self):
        from v23py import security
        idp, cav, blessed, discharge = self._world()
        sp, cp = security.random_principal(), security.random_principal()
        sb, d1 = blessed(sp, "srv"), discharge(10)
        d, a = self._pair(sp, sb, [d1], cp)
        # the server's discharge came with its Auth
        self.assertEqual([security.Discharge(w).id() for w in d.remote_discharges], [d1.id()])
        # a flow's blessings and discharges come with its OpenFlow
        cb, d2 = blessed(cp, "alice"), discharge(10)
        f = d.open_flow(blessings=cb, discharges=[d2])
        d.write(f, b"x")
        _, ea = pump(d, a)
        [g] = [f for (f,) in of_kind(ea, fconn.FlowAccepted)]
        self.assertEqual([security.Discharge(w).id() for w in g.remote_discharges], [d2.id()])
        call = security.Call(local_principal=idp, remote_blessings=g.remote_blessings,
                             remote_discharges=g.remote_discharges)
        self.assertEqual(security.remote_blessing_names(call)[0], ["idp:alice"])
        # the same blessings and discharges again: nothing re-sent on flow 1
        f2 = d.open_flow(blessings=cb, discharges=[d2])
        d.write(f2, b"y")
        out = d.data_to_send()
        self.assertLess(len(out), 200)
        ea = a.receive_data(out)
        [g2] = [f for (f,) in of_kind(ea, fconn.FlowAccepted)]
        self.assertEqual([security.Discharge(w).id() for w in g2.remote_discharges], [d2.id()])
        # a fresher discharge: sent again, under a new key
        d3 = discharge(20)
        f3 = d.open_flow(blessings=cb, discharges=[d3])
        d.write(f3, b"z")
        _, ea = pump(d, a)
        [g3] = [f for (f,) in of_kind(ea, fconn.FlowAccepted)]
        self.assertEqual(security.Discharge(g3.remote_discharges[0]), d3)
        # the server refreshes its own discharge: the client sees it
        d4 = discharge(30)
        a.refresh_blessings(sb, [d4])
        ed, _ = pump(d, a)
        self.assertTrue(of_kind(ed, fconn.BlessingsRefreshed))
        self.assertEqual(security.Discharge(d.remote_discharges[0]), d4)
        self.assertTrue(d.is_active and a.is_active)
