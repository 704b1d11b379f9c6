"""Third-party caveats end to end over RPC, all v23py (Go: tests.interop.test_discharges_go).

A discharger (v23py.discharger) runs as `idp`. A client blessed under
a third-party caveat of idp's gets a discharge from it before calling, caches
it, and sends it with the call; the server (which never talks to the
discharger) accepts the blessing only with it. A server blessed that way
fetches its own discharges before it serves and presents them on every
connection, so clients that check its blessings accept it.  The same holds on conns a
proxy forwards and over WebSockets (ProxiedAndWebSocketTests).
"""
import datetime

from twisted.internet import defer
from twisted.trial import unittest

from v23py import security, verror
from v23py import discharger as dis


def _principal(name):
    p = security.random_principal()
    p.set_default_blessings(p.bless_self(name))
    return p


def _runtime(principal, *flags):
    from v23py import runtime
    return runtime.init(["--v23.tcp.address=127.0.0.1:0", "--v23.tcp.protocol=tcp",
                         "--v23.namespace.root=/127.0.0.1:1", *flags],
                        flags=runtime.FlagSet("test"), principal=principal,
                        exit_on_error=False)


class CountingDischarger(dis.Discharger):
    def __init__(self, **kw):
        super().__init__(**kw)
        self.asked = 0

    def Discharge(self, ctx, call, Caveat, Impetus):
        self.asked += 1
        return super().Discharge(ctx, call, Caveat, Impetus)


class Echo:
    def Echo(self, ctx, call, x):
        return x

    def WhoAmI(self, ctx, call):
        names, _ = security.remote_blessing_names(call.security)
        return names


class _World(unittest.TestCase):
    """A discharger (idp) running; principals blessed under its caveats; servers, calls."""
    timeout = 60

    @defer.inlineCallbacks
    def setUp(self):
        import v23py
        self.rl = dis.RevocationList(":memory:")
        dis.use_revocation_list(self.rl)
        self.addCleanup(dis.use_revocation_list, None)
        self.idp = _principal("idp")
        ictx, shutdown = _runtime(self.idp)
        self.addCleanup(shutdown)
        self.discharger = CountingDischarger(expiry=datetime.timedelta(minutes=10))
        server = yield v23py.with_new_server(ictx, "", dis.DischargerServer(self.discharger),
                                             security.allow_everyone())
        self.location = "/" + str(server.endpoints[0])

    def blessed(self, name, extension, caveat=None):
        """A principal blessed by idp as idp:<extension> under a revocation caveat."""
        p = _principal(name)
        cav = caveat or self.rl.new_caveat(self.idp.public_key, self.location,
                                           name="idp:" + extension)
        b = self.idp.bless(p.public_key, self.idp.blessing_store.default(), extension, cav)
        p.add_to_roots(b)
        p.blessing_store.set_default(b)
        p.blessing_store.set(b, "...")
        return p

    @defer.inlineCallbacks
    def serve(self, principal, obj, authorizer, *flags):
        import v23py
        ctx, shutdown = _runtime(principal, *flags)
        self.addCleanup(shutdown)
        server = yield v23py.with_new_server(ctx, "", obj, authorizer)
        self.server = server
        return ctx, "/" + str(server.endpoints[0])

    def client_call(self, principal, name, method, args=(), opts=()):
        from v23py import rpc
        ctx, shutdown = _runtime(principal)
        self.addCleanup(shutdown)
        ctx, cancel = ctx.with_timeout(20)
        self.addCleanup(cancel)
        return rpc.client_call(ctx, name, method, list(args), None, None, opts=opts), ctx


class DischargesTests(_World):
    @defer.inlineCallbacks
    def test_client_fetches_caches_and_sends_discharges(self):
        from v23py import rpc
        srv = _principal("srv")
        srv.add_to_roots(self.idp.blessing_store.default())
        _, name = yield self.serve(srv, Echo(), security.allow_everyone())
        alice = self.blessed("alice", "u:alice")
        alice.add_to_roots(srv.blessing_store.default())
        d, ctx = self.client_call(alice, name, "WhoAmI")
        got = yield d
        self.assertEqual(list(got), [["idp:u:alice"]])
        self.assertEqual(self.discharger.asked, 1)
        # cached: further calls (new flows, same conn) do not ask again
        for _ in range(3):
            got = yield rpc.client_call(ctx, name, "WhoAmI", [], None, None)
            self.assertEqual(list(got), [["idp:u:alice"]])
        self.assertEqual(self.discharger.asked, 1)
        # revoked: the cached discharge still works until it must be refreshed...
        self.rl.revoke("idp:u:alice")
        got = yield rpc.client_call(ctx, name, "WhoAmI", [], None, None)
        self.assertEqual(list(got), [["idp:u:alice"]])
        # ...and once it is gone (a new process has none), alice is not idp:u:alice any more
        [cav] = alice.blessing_store.default().third_party_caveats()
        alice.blessing_store.clear_discharges(
            self.idp.mint_discharge(cav, security.unconstrained_use()))
        d, _ = self.client_call(alice, name, "WhoAmI")
        got = yield d
        self.assertEqual(list(got), [[]])
        self.assertEqual(self.discharger.asked, 2)

    @defer.inlineCallbacks
    def test_server_refuses_without_discharge(self):
        srv = _principal("srv")
        srv.add_to_roots(self.idp.blessing_store.default())
        from v23py.security import access
        perms = access.Permissions({"Read": access.AccessList(In=["idp:u:alice"])})

        class Reader(Echo):
            pass
        from v23py import vdl
        auth = access.permissions_authorizer(perms, vdl.type_of(access.Read))
        _, name = yield self.serve(srv, Reader(), _TagRead(auth))
        alice = self.blessed("alice", "u:alice")
        alice.add_to_roots(srv.blessing_store.default())
        d, _ = self.client_call(alice, name, "Echo", ["hi"])
        self.assertEqual(list((yield d)), ["hi"])
        # a principal whose caveat names something that is no discharger gets no discharge
        bob = self.blessed("bob", "u:bob", caveat=security.new_public_key_caveat(
            self.idp.public_key, name, None, security.unconstrained_use()))
        bob.add_to_roots(srv.blessing_store.default())
        d, _ = self.client_call(bob, name, "Echo", ["hi"])
        e = yield self.assertFailure(d, verror.VError)
        self.assertEqual(e.id, verror.NoAccess.id)
        self.assertIn("missing discharge", e.msg)

    @defer.inlineCallbacks
    def test_server_presents_its_own_discharges(self):
        # the server's blessing is the caveated one: clients checking it need its discharge
        srv = self.blessed("srv", "srv")
        _, name = yield self.serve(srv, Echo(), security.allow_everyone())
        self.assertEqual(self.discharger.asked, 1)
        carol = _principal("carol")
        carol.add_to_roots(self.idp.blessing_store.default())
        d, _ = self.client_call(carol, name, "Echo", ["x"])
        self.assertEqual(list((yield d)), ["x"])
        # a server that could not get its discharge is not trusted
        mallory = self.blessed("mallory", "mallory", caveat=security.new_public_key_caveat(
            self.idp.public_key, name, None, security.unconstrained_use()))
        _, name2 = yield self.serve(mallory, Echo(), security.allow_everyone())
        d, _ = self.client_call(carol, name2, "Echo", ["x"])
        e = yield self.assertFailure(d, verror.VError)
        self.assertEqual(e.id, verror.NotTrusted.id)


class ProxiedAndWebSocketTests(_World):
    """The same discharges on conns through a proxy (ours, in process) and over ws: the
    client's ride the OpenFlow of the flow the proxy forwards, the server's its Auth."""

    @defer.inlineCallbacks
    def setUp(self):
        from v23py.flow import Identity
        from v23py.runtime.flowmanager import FlowManager
        from v23py.xproxy import Proxy
        yield super().setUp()
        pp = _principal("proxy")
        pmgr = FlowManager(Identity(pp))
        self.addCleanup(pmgr.stop)
        proxy = Proxy(pmgr, pp, authorizer=security.allow_everyone())
        self.addCleanup(proxy.stop)
        port = yield pmgr.listen("127.0.0.1:0")
        self.proxy_ep = port.endpoint

    @defer.inlineCallbacks
    def proxied_name(self):
        """The server's endpoint through the proxy, once the proxy has given it."""
        from twisted.internet import reactor, task
        for _ in range(200):
            for ep in self.server.endpoints:
                if ep.address == self.proxy_ep.address:
                    return "/" + str(ep)
            yield task.deferLater(reactor, 0.05, lambda: None)
        self.fail("the proxy gave the server no endpoint")

    def serve_proxied(self, principal, obj, authorizer):
        return self.serve(principal, obj, authorizer, "--v23.proxy=/" + str(self.proxy_ep))

    @defer.inlineCallbacks
    def test_client_discharge_through_the_proxy(self):
        from v23py import vdl
        from v23py.security import access
        srv = _principal("srv")
        srv.add_to_roots(self.idp.blessing_store.default())
        perms = access.Permissions({"Read": access.AccessList(In=["idp:u:alice"])})
        auth = _TagRead(access.permissions_authorizer(perms, vdl.type_of(access.Read)))
        yield self.serve_proxied(srv, Echo(), auth)
        name = yield self.proxied_name()
        alice = self.blessed("alice", "u:alice")
        alice.add_to_roots(srv.blessing_store.default())
        d, _ = self.client_call(alice, name, "WhoAmI")
        self.assertEqual(list((yield d)), [["idp:u:alice"]])
        self.assertEqual(self.discharger.asked, 1)

    @defer.inlineCallbacks
    def test_server_discharge_through_the_proxy(self):
        srv = self.blessed("srv", "srv")
        yield self.serve_proxied(srv, Echo(), security.allow_everyone())
        name = yield self.proxied_name()
        carol = _principal("carol")
        carol.add_to_roots(self.idp.blessing_store.default())
        d, ctx = self.client_call(carol, name, "Echo", ["x"])
        self.assertEqual(list((yield d)), ["x"])
        # carol's conn is the one forwarded by the proxy, and it had the server's discharge
        from v23py import rpc
        conn = rpc.get_client(ctx)._conn_cache[name]
        self.assertEqual(conn.remote_endpoint.address, self.proxy_ep.address)
        self.assertTrue(conn.remote_discharges)

    @defer.inlineCallbacks
    def test_both_discharges_over_ws(self):
        from v23py import vdl
        from v23py.security import access
        srv = self.blessed("srv", "srv")
        perms = access.Permissions({"Read": access.AccessList(In=["idp:u:alice"])})
        auth = _TagRead(access.permissions_authorizer(perms, vdl.type_of(access.Read)))
        _, name = yield self.serve(srv, Echo(), auth, "--v23.tcp.protocol=ws")
        self.assertIn("@ws@", name)
        alice = self.blessed("alice", "u:alice")
        d, ctx = self.client_call(alice, name, "WhoAmI")
        self.assertEqual(list((yield d)), [["idp:u:alice"]])
        self.assertEqual(self.discharger.asked, 2)     # the server's, then alice's


class _TagRead(security.Authorizer):
    """Authorize every method as if tagged Read."""

    def __init__(self, inner):
        self.inner = inner

    def authorize(self, call):
        from v23py.security import access
        call.method_tags = [access.Read]
        return self.inner.authorize(call)
