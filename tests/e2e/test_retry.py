"""The client's retries end to end, with real processes (see v23py.rpc.retry for the rules).

* a server that starts 2 s after the client's call: the call waits for it;
* a server that restarts while the client holds a connection to it: the next call
  reaches the new process;
* a name whose mount moves from a dead server to a new one: the client's cached
  resolution is dropped and the name resolved again;
* calls that may have run are made again only when their error says so
  (RetryBackoff), never after other errors or a connection lost mid-call;
* and the same against Go (tests.interop.test_retry_go); the scenarios they share are
  in v23py.testing.retry.
"""
import sys
import time

from twisted.internet import defer, utils
from twisted.trial import unittest

from v23py import verror
from v23py.testing import ROOT
from v23py.testing.procs import ENV
from v23py.testing.retry import ProcsMixin, free_port, later


class _Procs(ProcsMixin, unittest.TestCase):
    timeout = 120

    def setUp(self):
        self.make_world()


class LateServerTests(_Procs):
    @defer.inlineCallbacks
    def test_server_starts_two_seconds_after_the_call(self):
        port = free_port()
        t0 = time.monotonic()
        client = utils.getProcessOutputAndValue(
            sys.executable, ["-m", "fortune.client", "--v23.credentials", self.creds,
                             "--server", f"/127.0.0.1:{port}"], env=ENV, path=ROOT)
        yield later(2.0)
        self.fortune_server(port)
        out, err, code = yield client
        self.assertEqual(code, 0, err)
        self.assertTrue(out.strip(), err)
        self.assertGreater(time.monotonic() - t0, 2.0)

    @defer.inlineCallbacks
    def test_no_retry_option_fails_at_once(self):
        from fortune.ifc import FortuneClient
        from v23py.naming.endpoint import Endpoint, RoutingId
        from v23py.runtime.trust import trust_opts
        from v23py.rpc import options
        ctx = self.runtime()
        ctx, cancel = ctx.with_timeout(20)
        self.addCleanup(cancel)
        t0 = time.monotonic()
        # (a name of a server, not a mount table: nothing to resolve, only to dial)
        ep = Endpoint("tcp", f"127.0.0.1:{free_port()}", RoutingId.random())
        e = yield self.assertFailure(
            FortuneClient(f"/{ep}").Get(ctx, *trust_opts(), options.NoRetry()), verror.VError)
        self.assertLess(time.monotonic() - t0, 10)
        self.assertEqual(e.id, verror.NoServers.id)

    @defer.inlineCallbacks
    def test_cached_connections_only(self):
        from fortune.ifc import FortuneClient
        from v23py.runtime.trust import trust_opts
        from v23py.rpc import options
        port = free_port()
        d, _ = self.fortune_server(port)
        yield d.ready
        ctx = self.runtime()
        # (the server's name, not a mount table's: nothing to resolve, whose call would
        # make a connection)
        stub = FortuneClient(f"/@6@tcp@127.0.0.1:{port}@@{'0' * 32}@s@@@")
        # ConnectionTimeout(0): no connection yet, so no call (and no retry)
        e = yield self.assertFailure(
            stub.Get(ctx, *trust_opts(), options.ConnectionTimeout(0)), verror.VError)
        self.assertEqual(e.id, verror.NoServers.id)
        yield stub.Get(ctx, *trust_opts())
        got = yield stub.Get(ctx, *trust_opts(), options.ConnectionTimeout(0))
        self.assertTrue(got)

    @defer.inlineCallbacks
    def test_gives_up_at_the_deadline(self):
        from fortune.ifc import FortuneClient
        from v23py.runtime.trust import trust_opts
        ctx = self.runtime()
        ctx, cancel = ctx.with_timeout(2.5)
        self.addCleanup(cancel)
        t0 = time.monotonic()
        e = yield self.assertFailure(
            FortuneClient(f"/127.0.0.1:{free_port()}").Get(ctx, *trust_opts()), verror.VError)
        took = time.monotonic() - t0
        self.assertGreater(took, 1.5)    # it kept trying...
        self.assertLess(took, 10)        # ...until the deadline
        # the error of the last real attempt, not a bare timeout (Go's preferNonTimeout)
        self.assertEqual(e.id, verror.NoServers.id, e)


class RestartTests(_Procs):
    @defer.inlineCallbacks
    def test_server_restarts_while_the_client_holds_a_connection(self):
        from fortune.ifc import FortuneClient
        from v23py.runtime.trust import trust_opts
        port = free_port()
        d, p = self.fortune_server(port)
        yield d.ready
        ctx = self.runtime()
        stub = FortuneClient(f"/127.0.0.1:{port}")
        yield stub.Add(ctx, "from the first process", *trust_opts())
        got = yield stub.Get(ctx, *trust_opts())
        self.assertEqual(got, "from the first process")
        from v23py import rpc
        client = rpc.get_client(ctx)
        conns = set(client._conn_cache.values())
        p.signalProcess("KILL")
        yield d.ended
        t0 = time.monotonic()
        later(1.5, self.fortune_server, port)
        got = yield stub.Get(ctx, *trust_opts())
        self.assertGreater(time.monotonic() - t0, 1.0)
        # a fortune of the new process: it never heard of the one added above
        self.assertNotEqual(got, "from the first process")
        self.assertTrue(set(client._conn_cache.values()) - conns, "no new connection")


class MountMovesTests(_Procs):
    def test_name_whose_mount_moves(self):
        return self.mount_moves([sys.executable, "-m", "v23py.cmd.mounttabled"])


class _Counter:
    """Go's rpc errors with a chosen retry action, counting the calls that ran."""

    def __init__(self):
        self.runs = {}

    def _ran(self, name):
        self.runs[name] = self.runs.get(name, 0) + 1
        return self.runs[name]

    def Flaky(self, ctx, call):
        if self._ran("Flaky") == 1:
            raise verror.VError("v23py/tests.busy", verror.RetryBackoff, "busy, try again")
        return "done"

    def Refused(self, ctx, call):
        self._ran("Refused")
        raise verror.VError("v23py/tests.refused", verror.NoRetry, "no")

    def Reconnect(self, ctx, call):
        self._ran("Reconnect")
        raise verror.VError("v23py/tests.reconnect", verror.RetryConnection, "go elsewhere")

    def Crash(self, ctx, call):
        self._ran("Crash")
        call.flow.conn.close()   # the connection is lost while the call runs
        return defer.Deferred()  # never answers


class MayHaveRunTests(unittest.TestCase):
    timeout = 60

    @defer.inlineCallbacks
    def setUp(self):
        import v23py
        from v23py.testing.rpc import make_principal, new_runtime
        self.p, _ = make_principal("alice")
        self.ctx, shutdown = new_runtime(self.p)
        self.addCleanup(shutdown)
        self.obj = _Counter()
        server = yield v23py.with_new_server(self.ctx, "", self.obj, None)
        self.name = "/" + str(server.endpoints[0])

    def call(self, method):
        from v23py import rpc
        ctx, cancel = self.ctx.with_timeout(20)
        self.addCleanup(cancel)
        return rpc.client_call(ctx, self.name, method, [], [], None)

    @defer.inlineCallbacks
    def test_retry_backoff_is_made_again(self):
        got = yield self.call("Flaky")
        self.assertEqual(list(got), ["done"])
        self.assertEqual(self.obj.runs["Flaky"], 2)

    @defer.inlineCallbacks
    def test_other_errors_are_final(self):
        for method, eid in (("Refused", "v23py/tests.refused"),
                            ("Reconnect", "v23py/tests.reconnect")):
            e = yield self.assertFailure(self.call(method), verror.VError)
            self.assertEqual(e.id, eid)
            self.assertEqual(self.obj.runs[method], 1, method)

    @defer.inlineCallbacks
    def test_a_call_cut_off_is_not_made_again(self):
        yield self.assertFailure(self.call("Crash"), verror.VError)
        yield later(0.5)
        self.assertEqual(self.obj.runs["Crash"], 1)
