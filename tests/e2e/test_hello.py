"""The hello-world tutorial's programs: hello-server and hello-client.

In process (the Hello interface, the server's default authorizer, the
client's trust in a server named by address only) and as processes the way
the tutorial runs them (a fixed port, ``--server /localhost:PORT``).
"""
import os
import signal
import socket
import sys
import time

from twisted.internet import defer, reactor, task, utils
from twisted.trial import unittest

from v23py import rpc, verror
from v23py.testing import ROOT, tempdir
from v23py.testing.procs import ENV, make_creds, spawn
from v23py.testing.procs import tutorial_vdl
from v23py.testing.rpc import make_principal, new_runtime


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@defer.inlineCallbacks
def wait_for_port(port, daemon, limit=30.0):
    """Until something accepts on 127.0.0.1:port (hello-server prints nothing)."""
    deadline = time.monotonic() + limit
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if daemon.ended.called or time.monotonic() > deadline:
                raise AssertionError(f"hello-server is not listening on {port}: "
                                     f"{daemon.out!r} {daemon.err!r}")
        yield task.deferLater(reactor, 0.05, lambda: None)


class HelloInterfaceTests(unittest.TestCase):
    def test_vdl_is_the_tutorials(self):
        with open(os.path.join(ROOT, "v23py", "examples", "hello", "ifc", "hello.vdl")) as f:
            self.assertEqual(f.read(), tutorial_vdl("hello-world.md", "hello/ifc/hello.vdl"))

    def test_generated_module_is_up_to_date(self):
        from v23py.vdl.compiler.build import Builder
        b = Builder(vdlpath=[], vdlroot="")
        (src,) = b.resolve_arg(os.path.join(ROOT, "v23py", "examples", "hello", "ifc"))
        self.assertEqual(src.path, "hello/ifc")
        with open(src.out_file) as f:
            self.assertEqual(f.read(), b.generate(src),
                             "run `vdl generate --lang python ./v23py/examples/hello/ifc`")

    def test_interface(self):
        from v23py.examples.hello import ifc
        (get,) = ifc.HelloDesc.methods
        self.assertEqual((ifc.HelloDesc.pkg_path, ifc.HelloDesc.name), ("hello/ifc", "Hello"))
        self.assertEqual((get.name, [a.name for a in get.out_args], list(get.in_args)),
                         ("Get", ["greeting"], []))


class HelloInProcessTests(unittest.TestCase):
    timeout = 60

    @defer.inlineCallbacks
    def setUp(self):
        import v23py
        from v23py import security
        from v23py.examples.hello import service
        from v23py.examples.hello.ifc import HelloServer
        self.tutorial, self.tutorial_b = make_principal("tutorial")
        ctx, shutdown = new_runtime(self.tutorial)
        self.addCleanup(shutdown)
        server = yield v23py.with_new_server(ctx, "", HelloServer(service.make()),
                                             security.default_authorizer())
        ep = str(server.endpoints[0])
        # The tutorial names the server by its address alone: no blessings, no routing id.
        self.address_name = "/" + ep.split("@")[3]
        self.endpoint_name = "/" + ep

    def client(self, principal):
        from v23py.examples.hello.ifc import HelloClient
        ctx, shutdown = new_runtime(principal)
        self.addCleanup(shutdown)
        return ctx, HelloClient(self.address_name)

    @defer.inlineCallbacks
    def test_greeting_by_address(self):
        from v23py.examples.hello.client import trust_opts
        self.assertRegex(self.address_name, r"^/127\.0\.0\.1:\d+$")
        ctx, hello = self.client(self.tutorial)
        self.assertEqual((yield hello.Get(ctx, *trust_opts())), "Hello World!")

    @defer.inlineCallbacks
    def test_client_blessed_by_the_server(self):
        # A client blessed by the server's principal (tutorial:friend) is related to it.
        from v23py import security
        from v23py.examples.hello.client import trust_opts
        friend, _ = make_principal("friend")
        b = self.tutorial.bless(friend.public_key, self.tutorial_b, "friend",
                                security.unconstrained_use())
        friend.blessing_store.set(b, "tutorial")
        friend.add_to_roots(b)
        ctx, hello = self.client(friend)
        self.assertEqual((yield hello.Get(ctx, *trust_opts())), "Hello World!")

    @defer.inlineCallbacks
    def test_client_refuses_an_unrelated_server(self):
        from v23py.examples.hello.client import trust_opts
        stranger, _ = make_principal("stranger")
        ctx, hello = self.client(stranger)
        try:
            yield hello.Get(ctx, *trust_opts())
        except verror.VError as e:
            self.assertIn(e.id, (verror.NotTrusted.id, verror.NoServers.id), e)
            self.assertIn("does not trust server", str(e))
        else:
            self.fail("the client trusted a server with unrelated blessings")

    @defer.inlineCallbacks
    def test_server_refuses_an_unrelated_client(self):
        stranger, _ = make_principal("stranger")
        ctx, hello = self.client(stranger)
        try:
            yield hello.Get(ctx, *rpc.options.insecure())
        except verror.VError as e:
            self.assertEqual(e.id, "v.io/v23/verror.NoAccess", e)
            self.assertIn("access denied", str(e))
        else:
            self.fail("the server let a stranger in")


class HelloProcessTests(unittest.TestCase):
    """hello-server and hello-client as the tutorial runs them."""
    timeout = 90

    def setUp(self):
        self.dir = tempdir(self, "hello-test-")
        self.creds = os.path.join(self.dir, "basics")
        make_creds(self.creds, "tutorial")

    def client(self, *args, creds=None):
        return utils.getProcessOutputAndValue(
            sys.executable, ["-m", "v23py.examples.hello.client", "--v23.credentials", creds or self.creds, *args],
            env=ENV, path=ROOT)

    @defer.inlineCallbacks
    def test_tutorial_run(self):
        port = free_port()
        daemon, proc = spawn(self, [sys.executable, "-m", "v23py.examples.hello.server",
                                    "--v23.credentials", self.creds,
                                    "--v23.tcp.address", f":{port}"], "never printed")
        daemon.ready.addErrback(lambda _: None)
        yield wait_for_port(port, daemon)
        out, err, code = yield self.client("--server", f"/localhost:{port}")
        self.assertEqual((out, code), (b"Hello World!\n", 0), err)
        # A client with other credentials is refused, with the reason on stderr.
        other = os.path.join(self.dir, "stranger")
        make_creds(other, "stranger")
        out, err, code = yield self.client("--server", f"/localhost:{port}", creds=other)
        self.assertEqual((out, code), (b"", 1))
        self.assertIn(b"error getting greeting", err)
        # SIGTERM stops the server cleanly; like Go's, it printed nothing.
        proc.signalProcess(signal.SIGTERM)
        code = yield daemon.ended
        self.assertEqual(code, 0, daemon.err)
        self.assertEqual(daemon.out, b"")

    @defer.inlineCallbacks
    def test_client_errors(self):
        out, err, code = yield self.client()
        self.assertEqual((out, code), (b"", 1))
        self.assertIn(b"--server must be specified", err)
        out, err, code = yield self.client("--server", f"/127.0.0.1:{free_port()}")
        self.assertEqual((out, code), (b"", 1))
        self.assertIn(b"error getting greeting", err)
