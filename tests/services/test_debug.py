"""__debug on an in-process v23py server, read with our own client: the stats tree
(per-method latency histograms and error counts), the logs service over --log_dir,
vtrace collection across a call, pprof's profiles, the Debug tag, and the Prometheus
exposition of --metrics-address."""
import gzip
import os
import re

from twisted.internet import defer
from twisted.trial import unittest

from v23py.testing.rpc import make_principal
from v23py import security, verror, vtrace
from v23py.testing import tempdir


class Echo:
    def __init__(self):
        self.waiting = []

    def Echo(self, ctx, call, x):
        return x

    def Slow(self, ctx, call):
        d = defer.Deferred()
        self.waiting.append(d)
        return d

    def Fail(self, ctx, call):
        raise verror.BadArg.new("no")


def new_runtime(principal, *extra):
    from v23py import runtime
    return runtime.init(["--v23.tcp.address=127.0.0.1:0", "--v23.tcp.protocol=tcp",
                         "--v23.namespace.root=/127.0.0.1:1", *extra],
                        flags=runtime.FlagSet("test"), principal=principal,
                        exit_on_error=False)


class DebugInProcessTests(unittest.TestCase):
    timeout = 60

    @defer.inlineCallbacks
    def setUp(self):
        import v23py
        self.dir = tempdir(self, prefix="debug-inproc-")
        self.p, self.b = make_principal("alice")
        self.ctx, shutdown = new_runtime(self.p, f"--log_dir={self.dir}",
                                         "--metrics-address=127.0.0.1:0",
                                         "--alsologtostderr=false")
        self.addCleanup(shutdown)
        self.impl = Echo()
        self.server = yield v23py.with_new_server(self.ctx, "", self.impl,
                                                  security.allow_everyone())
        self.name = "/" + str(self.server.endpoints[0])
        self.rid = str(self.server.flow_manager.routing_id)

    def call(self, name, method, args=(), ctx=None):
        from v23py import rpc
        return rpc.client_call(ctx or self.ctx, name, method, list(args), None, None)

    @defer.inlineCallbacks
    def test_stats_latency_and_errors(self):
        for i in range(3):
            self.assertEqual((yield self.call(self.name, "Echo", [i])), [i])
        yield self.assertFailure(self.call(self.name, "Fail"), verror.VError)
        base = f"{self.name}/__debug/stats/rpc/server/routing-id/{self.rid}/methods"
        (h,) = yield self.call(base + "/Echo/latency-ms", "Value")
        self.assertEqual(h.Count, 3)
        self.assertEqual(h.Buckets[1].LowBound, 1)
        (n,) = yield self.call(base + "/Fail/errors", "Value")
        self.assertEqual(n, 1)
        (pid,) = yield self.call(self.name + "/__debug/stats/system/pid", "Value")
        self.assertEqual(pid, os.getpid())
        e = yield self.assertFailure(self.call(self.name + "/__debug/stats/no/such", "Value"),
                                     verror.VError)
        self.assertEqual(e.id, verror.NoExist.id)

    @defer.inlineCallbacks
    def test_glob_and_logs(self):
        import logging
        from v23py.cmd._nscli import namespace_for
        from v23py.runtime.namespace import GlobEntry
        logging.getLogger("tests.debug").warning("a line for the logs service")
        names = []
        async def glob(p):
            async for r in namespace_for(self.ctx).glob_iter(self.ctx, p):
                if isinstance(r, GlobEntry):
                    names.append(r.entry.name)
        yield defer.ensureDeferred(glob(self.name + "/__debug/*"))
        self.assertEqual(sorted(n.rsplit("/", 1)[1] for n in names),
                         ["logs", "pprof", "stats", "vtrace"])
        del names[:]
        yield defer.ensureDeferred(glob(self.name + "/__debug/logs/*"))
        from v23py import vlog
        wfile = vlog.handler().program + ".WARNING"
        self.assertIn(wfile, [n.rsplit("/", 1)[1] for n in names])
        from v23py.v23.services import logreader
        call = yield logreader.LogFileClient(self.name + "/__debug/logs/" + wfile).ReadLog(
            self.ctx, 0, -1, False)
        lines = []
        while True:
            try:
                e = yield call.recv()
            except verror.VError:
                break
            lines.append(e.Line)
        offset = yield call.finish()
        self.assertTrue(lines[0].startswith("Log file created at: "))
        self.assertTrue(lines[-1].endswith("] a line for the logs service"))
        (size,) = yield self.call(self.name + "/__debug/logs/" + wfile, "Size")
        self.assertEqual(offset, size)   # finish() is shaped as a unary call's result
        e = yield self.assertFailure(logreader.LogFileClient(
            self.name + "/__debug/logs/../../etc/passwd").Size(self.ctx), verror.VError)

    @defer.inlineCallbacks
    def test_vtrace_collects_a_call(self):
        from v23py.v23.services import vtrace as svc
        store = vtrace.get_store(self.ctx)
        ctx, span = vtrace.with_new_trace(self.ctx, "test-root")
        store.force_collect(span.trace)
        yield self.call(self.name, "Echo", ["x"], ctx=ctx)
        span.finish()
        rec = yield svc.StoreClient(self.name + "/__debug/vtrace").Trace(self.ctx, span.trace)
        names = sorted(s.Name for s in rec.Spans)
        self.assertIn(".Echo", names)
        self.assertIn(f'<rpc.Client>"{self.name}".Echo', names)
        import io
        out = io.StringIO()
        vtrace.format_trace(out, rec)
        self.assertIn(f"Trace - {vtrace.id_hex(span.trace)} (", out.getvalue())
        self.assertIn("    Span - ", out.getvalue())
        e = yield self.assertFailure(svc.StoreClient(self.name + "/__debug/vtrace").Trace(
            self.ctx, bytes(16)), verror.VError)
        self.assertEqual(e.id, verror.NoExist.id)

    @defer.inlineCallbacks
    def test_pprof(self):
        from v23py.v23.services import pprof
        c = pprof.PProfClient(self.name + "/__debug/pprof")
        self.assertIn("goroutine", (yield c.Profiles(self.ctx)))
        call = yield c.Profile(self.ctx, "goroutine", 1)
        chunks = []
        while True:
            try:
                chunks.append((yield call.recv()))
            except verror.VError:
                break
        yield call.finish()
        self.assertIn(b"thread profile: total", b"".join(chunks))
        from twisted.internet import reactor

        def busy_for_the_profiler():
            import time
            end = time.process_time() + 0.4
            while time.process_time() < end:
                pass
        reactor.callLater(0.2, busy_for_the_profiler)
        call = yield c.CpuProfile(self.ctx, 1)
        chunks = []
        while True:
            try:
                chunks.append((yield call.recv()))
            except verror.VError:
                break
        yield call.finish()
        raw = gzip.decompress(b"".join(chunks))
        self.assertIn(b"samples", raw)
        self.assertIn(b"nanoseconds", raw)
        self.assertIn(b"busy_for_the_profiler", raw)
        yield self.assertFailure(c.Symbol(self.ctx, [1]), verror.VError)

    @defer.inlineCallbacks
    def test_debug_tag_needs_a_related_caller(self):
        other, ob = make_principal("mallory")
        other.add_to_roots(self.b)
        ctx, shutdown = new_runtime(other)
        self.addCleanup(shutdown)
        e = yield self.assertFailure(self.call(self.name + "/__debug/stats/system/pid", "Value",
                                               ctx=ctx), verror.VError)
        self.assertEqual(e.id, verror.NoAccess.id)

    @defer.inlineCallbacks
    def test_prometheus(self):
        from twisted.internet import reactor
        from twisted.web.client import Agent, readBody
        import v23py
        yield self.call(self.name, "Echo", [1])
        port = v23py.get_runtime(self.ctx).metrics_port.getHost().port
        resp = yield Agent(reactor).request(b"GET", b"http://127.0.0.1:%d/metrics" % port)
        body = (yield readBody(resp)).decode()
        self.assertIn('v23_rpc_server_latency_ms_count{method="Echo",routing_id="%s"} 1.0'
                      % self.rid, body)
        self.assertIn('v23_rpc_server_latency_ms_bucket{le="0",method="Echo"', body)
        self.assertIn('v23_stat{name="system/pid"} %s' % float(os.getpid()), body)


    @defer.inlineCallbacks
    def test_library_counters(self):
        """v23py/{vom,crypto,security}/...: what the calls encoded, sealed and signed, read
        over __debug like any statistic and exported to Prometheus as counters."""
        from twisted.internet import reactor
        from twisted.web.client import Agent, readBody
        import v23py
        yield self.call(self.name, "Echo", [0])   # connection up, types sent

        def read(*names):
            return defer.gatherResults([self.call(f"{self.name}/__debug/stats/v23py/{n}",
                                                  "Value") for n in names])
        names = ["vom/values-encoded", "vom/values-decoded", "vom/bytes-encoded",
                 "vom/bytes-decoded", "crypto/box-seals", "crypto/box-opens",
                 "security/signatures-made", "vom/type-messages-encoded"]
        before = [v for (v,) in (yield read(*names))]
        for i in range(10):
            yield self.call(self.name, "Echo", [i])
        after = [v for (v,) in (yield read(*names))]
        d = dict(zip(names, (a - b for a, b in zip(after, before))))
        # each call: the client writes request, arg and end-of-args; the server reads them,
        # writes response and result, the client reads them (the stats reads add more)
        self.assertGreaterEqual(d["vom/values-encoded"], 50)
        self.assertGreaterEqual(d["vom/values-decoded"], 50)
        self.assertGreater(d["vom/bytes-encoded"], 5 * 10)
        self.assertGreater(d["vom/bytes-decoded"], 5 * 10)
        # client and server seal (and open) at least one message each per call
        self.assertGreaterEqual(d["crypto/box-seals"], 20)
        self.assertGreaterEqual(d["crypto/box-opens"], 20)
        self.assertEqual(d["security/signatures-made"], 0)   # no new connection: no signing
        self.assertEqual(d["vom/type-messages-encoded"], 0)  # no new type
        self.assertGreater(before[names.index("security/signatures-made")], 0)
        port = v23py.get_runtime(self.ctx).metrics_port.getHost().port
        resp = yield Agent(reactor).request(b"GET", b"http://127.0.0.1:%d/metrics" % port)
        body = (yield readBody(resp)).decode()
        for n in ("vom_values_encoded", "crypto_box_seals", "security_signatures_verified"):
            m = re.search(r"^# TYPE v23py_%s_total counter\nv23py_%s_total (\S+)$" % (n, n),
                          body, re.M)
            self.assertIsNotNone(m, n)
            self.assertGreater(float(m.group(1)), 0)

    @defer.inlineCallbacks
    def test_client_outstanding_calls(self):
        """rpc/client/outstanding/<id>: the calls a runtime's client has in progress, in Go's
        form, beside the server's view of the same call."""
        import v23py
        call = self.call(self.name, "Slow")
        while not self.impl.waiting:
            yield _sleep(0.01)
        from v23py import stats
        mine = [n for n, _ in stats.glob("rpc/client/outstanding", "*")]
        rt = v23py.get_runtime(self.ctx)
        self.assertIn("0x%x" % id(rt), mine)
        (text,) = yield self.call(
            f"{self.name}/__debug/stats/rpc/client/outstanding/0x{id(rt):x}", "Value")
        self.assertRegex(text, r"^Slow age:[\d.]+(ns|µs|ms|s) from:@\S+@127\.0\.0\.1:\d+@")
        (stext,) = yield self.call(
            f"{self.name}/__debug/stats/rpc/server/outstanding/{self.rid}", "Value")
        self.assertRegex(stext, r"(^|\n)Slow age:[\d.]+(ns|µs|ms|s) from:")
        self.impl.waiting.pop().callback(None)
        yield call
        (text,) = yield self.call(
            f"{self.name}/__debug/stats/rpc/client/outstanding/0x{id(rt):x}", "Value")
        # (the read itself is outstanding while it runs)
        self.assertNotIn("Slow", text)


def _sleep(secs):
    from twisted.internet import reactor, task
    return task.deferLater(reactor, secs, lambda: None)


class GoDurations(unittest.TestCase):
    def test_format(self):
        from v23py.runtime._stats import go_duration
        for secs, want in ((0, "0s"), (5e-9, "5ns"), (1.5e-6, "1.5µs"), (0.0012345, "1.2345ms"),
                           (2.0, "2s"), (61.25, "1m1.25s"), (3600.0, "1h0m0s"),
                           (3723.5, "1h2m3.5s"), (-0.5, "-500ms")):
            self.assertEqual(go_duration(secs), want, secs)


class RuntimePermissionsGuardDebug(unittest.TestCase):
    """--v23.permissions.literal (the "runtime" permissions) decides who may call the
    Debug-tagged methods, as in Go: here only mallory, not even the owner."""
    timeout = 60

    @defer.inlineCallbacks
    def test_literal_permissions(self):
        import v23py
        p, b = make_principal("alice")
        ctx, shutdown = new_runtime(p, '--v23.permissions.literal={"Debug":{"In":["mallory"]}}',
                                    "--alsologtostderr=false")
        self.addCleanup(shutdown)
        server = yield v23py.with_new_server(ctx, "", Echo(), security.allow_everyone())
        name = "/" + str(server.endpoints[0]) + "/__debug/stats/system/pid"
        from v23py import rpc
        e = yield self.assertFailure(rpc.client_call(ctx, name, "Value", [], None, None),
                                     verror.VError)
        self.assertEqual(e.id, verror.NoAccess.id)
        m, mb = make_principal("mallory")
        m.add_to_roots(b)
        p.add_to_roots(mb)
        mctx, mshutdown = new_runtime(m)
        self.addCleanup(mshutdown)
        self.assertEqual((yield rpc.client_call(mctx, name, "Value", [], None, None)),
                         [os.getpid()])
