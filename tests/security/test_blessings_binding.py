"""B1: blessings are usable only once bound to the key that authenticated the connection.

A read-only principal (bob, alice:friend:bob) captures the public blessings of a family
member (carol, alice:family:sister) from one call carol makes to bob's own server, then
dials alice's fortune server (a real ``fortune-server --perms`` process), sends carol's
blessings down the blessings flow *before* its Auth, authenticates with its own key and
names carol's blessings on its flows.  Go v0.2.0 lets that through; we refuse the
connection.  The same peer sending them after Auth, and every honest client, are checked
too.  The mirror case (a hostile server wearing someone else's blessings) is refused by
our client.
"""
import os
import sys

from twisted.internet import defer
from twisted.trial import unittest

from v23py import rpc, security, verror
from v23py.flow import Identity
from v23py.runtime.flowmanager import FlowManager
from v23py.flow import errors as ferrors
from v23py.testing import hostile as H, tempdir
from v23py.testing.procs import make_creds, spawn

PERMS = '{"R": {"In": ["alice:family", "alice:friend"]}, "W": {"In": ["alice:family"]}}'


class _Capture:
    """bob's own server: remembers the blessings of whoever calls it."""

    def __init__(self):
        self.seen = []

    def Get(self, ctx, call):
        self.seen.append(call.remote_blessings)
        return "hello"

    def Add(self, ctx, call, wisdom):
        pass


class WornBlessingsFortuneTest(unittest.TestCase):
    timeout = 60

    @defer.inlineCallbacks
    def setUp(self):
        self.dir = tempdir(self, prefix="sec-b1-")
        alice_dir = os.path.join(self.dir, "alice")
        alice = make_creds(alice_dir, "alice")
        alice_b = alice.blessing_store.default()
        self.bob, _ = H.blessed(alice, alice_b, "friend:bob")
        self.carol, _ = H.blessed(alice, alice_b, "family:sister")
        epfile = os.path.join(self.dir, "ep")
        self.server, _ = spawn(self, [sys.executable, "-m", "fortune.server",
                                      "--v23.credentials", alice_dir,
                                      "--endpoint-file-name", epfile,
                                      "--v23.tcp.address", "127.0.0.1:0", "--perms", PERMS],
                               "Listening at:")
        yield self.server.ready
        with open(epfile) as f:
            self.name = f.read().strip()
        self.carol_b = yield self.capture_carol()

    @defer.inlineCallbacks
    def capture_carol(self):
        """carol calls a server bob runs; bob keeps the blessings she presented."""
        import v23py
        from fortune.ifc import FortuneClient, FortuneServer
        bctx, bstop = H.runtime(self.bob)
        self.addCleanup(bstop)
        cap = _Capture()
        srv = yield v23py.with_new_server(bctx, "", FortuneServer(cap), security.allow_everyone())
        cctx, cstop = H.runtime(self.carol)
        self.addCleanup(cstop)
        yield FortuneClient("/" + str(srv.endpoints[0])).Get(cctx, *rpc.options.insecure())
        (b,) = cap.seen
        self.assertEqual(b.public_key, self.carol.public_key)
        return b

    def fortune(self, ctx):
        from fortune.tagged import FortuneClient
        return FortuneClient(self.name)

    @defer.inlineCallbacks
    def test_honest_roles(self):
        # the baseline the attack would break: bob reads only, carol writes
        ctx, stop = H.runtime(self.bob)
        self.addCleanup(stop)
        yield self.fortune(ctx).Get(ctx)
        with self.assertRaises(verror.VError) as cm:
            yield self.fortune(ctx).Add(ctx, "bob was here")
        self.assertEqual(cm.exception.id, verror.NoAccess.id)
        cctx, cstop = H.runtime(self.carol)
        self.addCleanup(cstop)
        yield self.fortune(cctx).Add(cctx, "carol was here")

    @defer.inlineCallbacks
    def test_blessings_sent_before_auth_are_refused(self):
        ctx, stop = H.wearing_runtime(self.bob, self.carol_b, preauth=True)
        self.addCleanup(stop)
        with self.assertRaises(verror.VError) as cm:
            yield self.fortune(ctx).Add(ctx, "bob wore carol's blessings")
        # (the server tears the conn down; we see its reason)
        self.assertIn("blessings not bound to connection remote public key", str(cm.exception))
        # and nothing was written: carol (honest) reads only what was there
        cctx, cstop = H.runtime(self.carol)
        self.addCleanup(cstop)
        for _ in range(10):
            got = yield self.fortune(cctx).Get(cctx)
            self.assertNotIn("wore", got)

    @defer.inlineCallbacks
    def test_blessings_sent_after_auth_are_refused(self):
        ctx, stop = H.wearing_runtime(self.bob, self.carol_b, preauth=False)
        self.addCleanup(stop)
        with self.assertRaises(verror.VError) as cm:
            yield self.fortune(ctx).Add(ctx, "bob wore carol's blessings")
        self.assertNotEqual(cm.exception.id, verror.NoAccess.id, "should fail before authorization")


class WornBlessingsServerSideTest(unittest.TestCase):
    """A hostile server sends another principal's blessings before its own Auth: our
    client refuses the connection (the check runs on both sides)."""
    timeout = 30

    @defer.inlineCallbacks
    def test_client_refuses_server_with_preauth_foreign_blessings(self):
        victim, victim_b = H.principal("victim")
        mal = security.random_principal()
        server = FlowManager(Identity(mal, blessings=security.nameless_blessing(mal.public_key)))
        server.conn_class = H.preauth_conn([victim_b])
        server.set_flow_handler(lambda flow: flow.close())
        self.addCleanup(server.stop)
        port = yield server.listen("127.0.0.1:0")
        client = FlowManager(Identity(security.random_principal()))
        self.addCleanup(client.stop)
        with self.assertRaises(verror.VError) as cm:
            yield client.dial(port.endpoint)
        self.assertEqual(cm.exception.id, ferrors.BlessingsNotBound.id)

    @defer.inlineCallbacks
    def test_client_refuses_server_refreshing_to_foreign_blessings(self):
        # after the handshake, the hostile server presents the victim's blessings as its
        # new conn blessings (an Auth without signature, as a blessings refresh is sent)
        from v23py.flow import conn as fconn
        victim, victim_b = H.principal("victim")

        class RefreshToWorn(fconn.Conn):
            def _handle_remote_auth(self, a, events):
                super()._handle_remote_auth(a, events)
                if not self.dialer:
                    self.refresh_blessings(victim_b)

        mal = security.random_principal()
        server = FlowManager(Identity(mal, blessings=security.nameless_blessing(mal.public_key)))
        server.conn_class = RefreshToWorn
        server.set_flow_handler(lambda flow: flow.close())
        self.addCleanup(server.stop)
        port = yield server.listen("127.0.0.1:0")
        client = FlowManager(Identity(security.random_principal()))
        self.addCleanup(client.stop)
        mconn = yield client.dial(port.endpoint)
        yield mconn.closed
        self.assertIsNotNone(mconn.close_reason)
        self.assertEqual(mconn.close_reason.id, ferrors.BlessingsNotBound.id)
        self.assertNotEqual(mconn.remote_public_key, victim.public_key)
        self.assertNotEqual(mconn.remote_blessings.public_key, victim.public_key)
