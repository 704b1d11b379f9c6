"""Scenarios of the client's retries with real processes, shared by the all-v23py
end-to-end tests and the Go interop tests (tests.e2e.test_retry,
tests.interop.test_retry_go)."""
import os
import socket
import sys
import tempfile

from twisted.internet import defer, reactor, task

from v23py import rpc, runtime, security, vdl, verror
from v23py.testing.procs import make_creds, spawn


def free_port():
    """A TCP port on 127.0.0.1 nobody listens on (now)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def later(seconds, fn=lambda: None, *args):
    """A Deferred firing with fn(*args) after `seconds`."""
    return task.deferLater(reactor, seconds, fn, *args)


class _Fortune:
    """The two fortune methods these scenarios call (the library imports no program, so
    not fortune.ifc's generated stub)."""

    def __init__(self, name):
        self.name = name

    def Get(self, ctx):
        d = defer.ensureDeferred(rpc.get_client(ctx).call(ctx, self.name, "Get", [], [],
                                                          [vdl.StringType]))
        return d.addCallback(lambda r: r[0])

    def Add(self, ctx, fortune):
        return defer.ensureDeferred(rpc.get_client(ctx).call(
            ctx, self.name, "Add", [fortune], [vdl.StringType], []))


class ProcsMixin:
    """For a trial TestCase: a credentials dir (`self.creds`, principal "basics"), fortune
    servers on chosen ports, an in-process client runtime over those credentials."""

    def make_world(self):
        self.dir = tempfile.mkdtemp(prefix="retry-")
        self.creds = os.path.join(self.dir, "creds")
        self.principal = make_creds(self.creds, "basics")

    def fortune_server(self, port, *extra):
        """Start a fortune server on 127.0.0.1:port; (Daemon, process)."""
        return spawn(self, [sys.executable, "-m", "fortune.server", "--v23.credentials",
                            self.creds, "--v23.tcp.address", f"127.0.0.1:{port}", *extra],
                     "Listening at:")

    def runtime(self, *flags):
        p = security.load_principal(self.creds, read_only=True)
        ctx, shutdown = runtime.init(["--v23.tcp.protocol=tcp", *flags],
                                     flags=runtime.FlagSet("test"), principal=p,
                                     exit_on_error=False)
        self.addCleanup(shutdown)
        return ctx

    @defer.inlineCallbacks
    def mount_moves(self, mounttabled):
        """A name mounted in the mount table `mounttabled` (argv) by server A, resolved
        and cached by our client; A dies without unmounting and B mounts the same name:
        the client's next call must reach B."""
        mt_port = free_port()
        root = f"/127.0.0.1:{mt_port}"
        md, _ = spawn(self, [*mounttabled, "--v23.credentials", self.creds,
                             "--v23.tcp.address", f"127.0.0.1:{mt_port}"], "NAME=")
        yield md.ready
        a, ap = self.fortune_server(0, "--service-name", "fortune", f"--v23.namespace.root={root}")
        yield a.ready
        ctx = self.runtime(f"--v23.namespace.root={root}")
        ctx, cancel = ctx.with_timeout(60)
        self.addCleanup(cancel)
        stub = _Fortune("fortune")
        # the server mounts itself in the background: the first call retries until it has
        for _ in range(3):
            try:
                yield stub.Get(ctx)
                break
            except verror.VError:
                yield later(1.0)
        yield stub.Add(ctx, "only A knows this")
        self.assertEqual((yield stub.Get(ctx)), "only A knows this")
        ap.signalProcess("KILL")
        yield a.ended
        b, _ = self.fortune_server(0, "--service-name", "fortune", f"--v23.namespace.root={root}")
        yield b.ready
        got = yield stub.Get(ctx)
        self.assertNotEqual(got, "only A knows this")
