"""The Benchmark service of benchmarks/ (the interface of Go's benchmark pair): its generated
module is current and carries Go's wire facts, our client and server run it end to end, and
benchmarks/rpc_bench.py reads the reports Go's benchmark client prints."""
import os
import subprocess
import sys

from twisted.internet import defer
from twisted.trial import unittest

from v23py import security, vdl
from v23py.security import access
from v23py.vdl.compiler.build import Builder
from v23py.testing import ROOT

from benchmarks import rpc_bench
from benchmarks.benchmark_vdl import BenchmarkClient, BenchmarkDesc, BenchmarkServer
from v23py.testing.rpc import make_principal, new_runtime

# What Go's client printed for one run (v.io/x/ref/test/benchmark's Stats.Print layout).
GO_REPORT = """iterations: 200  chunk_count: 0  payload_size: 1
elapsed time: 53.024733ms
Histogram (unit: µs)
Count: 200  Min: 101  Max: 5152  Avg: 209.78
------------------------------------------------------------
[  101,   102)     1    0.5%    0.5%
[  102,   120)    19    9.5%   10.0%  #
[  120,   137)    80   40.0%   50.0%  ####
[  137,   167)    80   40.0%   90.0%  ####
[  167,   220)    18    9.0%   99.0%  #
[  220,   314)     1    0.5%   99.5%
[  314,   inf)     1    0.5%  100.0%
"""


class GeneratedModuleTest(unittest.TestCase):
    def test_generated_module_is_current(self):
        b = Builder(vdlpath=[], vdlroot="")
        (src,) = b.resolve_arg(os.path.join(ROOT, "benchmarks"))
        self.assertEqual(src.path, "v.io/x/ref/runtime/internal/rpc/benchmark")
        with open(src.out_file, encoding="utf-8") as f:
            self.assertEqual(f.read(), b.generate(src),
                             "stale: run `vdl generate --lang python ./benchmarks`")

    def test_go_wire_facts(self):
        """Package path, method names, argument names and types, streams and tags as Go's."""
        self.assertEqual(BenchmarkDesc.pkg_path, "v.io/x/ref/runtime/internal/rpc/benchmark")
        self.assertEqual(BenchmarkDesc.name, "Benchmark")
        echo, stream = BenchmarkDesc.methods
        self.assertEqual(echo.name, "Echo")
        self.assertEqual([(a.name, a.type) for a in echo.in_args],
                         [("Payload", vdl.ByteListType)])
        self.assertEqual([a.type for a in echo.out_args], [vdl.ByteListType])
        self.assertIsNone(echo.in_stream)
        self.assertEqual(stream.name, "EchoStream")
        self.assertEqual((stream.in_args, stream.out_args), ((), ()))
        self.assertEqual((stream.in_stream, stream.out_stream),
                         (vdl.ByteListType, vdl.ByteListType))
        for m in (echo, stream):
            self.assertEqual(list(m.tags), [access.Read])


class GoReportTest(unittest.TestCase):
    def test_parse(self):
        r = rpc_bench.parse_go_report(GO_REPORT)
        self.assertEqual((r["iterations"], r["chunk_count"], r["payload_size"], r["count"]),
                         (200, 0, 1, 200))
        self.assertAlmostEqual(r["elapsed"], 0.053024733)
        self.assertAlmostEqual(r["min"], 101e-6)
        self.assertAlmostEqual(r["max"], 5152e-6)
        self.assertEqual(len(r["buckets"]), 7)
        self.assertEqual(r["buckets"][-1], (314e-6, None, 1))

    def test_percentiles(self):
        r = rpc_bench.parse_go_report(GO_REPORT)
        # 100 samples up to the end of [120, 137): the median is that bucket's top.
        self.assertAlmostEqual(rpc_bench.histogram_percentile(r, 0.5), 137e-6)
        # 198 samples by the end of [167, 220): p99 is its top.
        self.assertAlmostEqual(rpc_bench.histogram_percentile(r, 0.99), 220e-6)
        # Inside a bucket: linear.  Past the last finite bound: up to the reported max.
        self.assertAlmostEqual(rpc_bench.histogram_percentile(r, 0.3), 128.5e-6)
        self.assertAlmostEqual(rpc_bench.histogram_percentile(r, 1.0), 5152e-6)

    def test_durations(self):
        for s, v in (("553.024733ms", 0.553024733), ("7.1s", 7.1), ("1m2.5s", 62.5),
                     ("850µs", 850e-6), ("12ns", 12e-9), ("1h0m0s", 3600.0)):
            self.assertAlmostEqual(rpc_bench.parse_go_duration(s), v)
        for bad in ("", "12", "ms", "3x"):
            self.assertRaises(ValueError, rpc_bench.parse_go_duration, bad)

    def test_not_a_report(self):
        self.assertRaises(ValueError, rpc_bench.parse_go_report, "")
        self.assertRaises(ValueError, rpc_bench.parse_go_report,
                          GO_REPORT.replace("elapsed time", "elapsed"))

    def test_go_bin_option(self):
        self.assertEqual(rpc_bench.go_bin_dir(["--quick", "--go-bin", "/x"]), "/x")
        self.assertEqual(rpc_bench.go_bin_dir(["--go-bin=/y"]), "/y")
        self.patch(os, "environ", {rpc_bench.GO_BIN_ENV: "/z"})
        self.assertEqual(rpc_bench.go_bin_dir([]), "/z")
        self.patch(os, "environ", {})
        empty = self.mktemp()
        self.patch(rpc_bench, "GOPEERS_BIN", empty)
        self.assertIsNone(rpc_bench.go_bin_dir([]))
        self.assertIn("missing", rpc_bench.go_binaries(empty))
        # what .ci/go-peers.sh builds into .gopeers/bin is found with no option
        os.makedirs(empty)
        for n in ("benchmarkd", "benchmark"):
            with open(os.path.join(empty, n), "w"):
                pass
            os.chmod(os.path.join(empty, n), 0o755)
        self.assertEqual(rpc_bench.go_bin_dir([]), empty)


class PinningTest(unittest.TestCase):
    """rpc_bench's CPU-per-call runs put the server and the client on separate cores."""

    def test_two_lowest_cores(self):
        self.assertEqual(rpc_bench.cpu_pin_cores({0, 1}), (0, 1))
        self.assertEqual(rpc_bench.cpu_pin_cores({7, 3, 1}), (1, 3))
        self.assertIsNone(rpc_bench.cpu_pin_cores({2}))
        self.assertIsNone(rpc_bench.cpu_pin_cores(set()))

    def test_pinned_then_restored(self):
        pin = rpc_bench.cpu_pin_cores()
        if pin is None:
            raise unittest.SkipTest("fewer than two cores available")
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        self.addCleanup(child.wait)
        self.addCleanup(child.kill)
        mine, theirs = os.sched_getaffinity(0), os.sched_getaffinity(child.pid)
        with rpc_bench.pinned(child.pid, pin[0]), rpc_bench.pinned(0, pin[1]):
            self.assertEqual(os.sched_getaffinity(child.pid), {pin[0]})
            self.assertEqual(os.sched_getaffinity(0), {pin[1]})
        self.assertEqual(os.sched_getaffinity(child.pid), theirs)
        self.assertEqual(os.sched_getaffinity(0), mine)
        with rpc_bench.pinned(child.pid, None):
            self.assertEqual(os.sched_getaffinity(child.pid), theirs)


class OurPairTest(unittest.TestCase):
    """Our client and server on the Benchmark interface over a real loopback connection."""
    timeout = 30

    @defer.inlineCallbacks
    def setUp(self):
        from v23py import runtime
        p, _ = make_principal("bench")
        self.ctx, shutdown = new_runtime(p)
        self.addCleanup(shutdown)
        server = yield defer.ensureDeferred(runtime.with_new_server(
            self.ctx, "", BenchmarkServer(rpc_bench.BenchImpl()), security.allow_everyone()))
        self.stub = BenchmarkClient("/" + str(server.endpoints[0]))

    @defer.inlineCallbacks
    def test_echo(self):
        for payload in (b"", b"x", bytes(range(256)) * 4, os.urandom(300_000)):
            got = yield self.stub.Echo(self.ctx, payload)
            self.assertEqual(got, payload)

    @defer.inlineCallbacks
    def test_echo_stream(self):
        chunks = [os.urandom(n) for n in (1, 1024, 65536, 0, 200_000)]
        call = yield self.stub.EchoStream(self.ctx)
        for c in chunks:
            call.send(c)
        call.close_send()
        got = []
        for _ in chunks:
            got.append((yield defer.ensureDeferred(call.recv())))
        yield defer.ensureDeferred(call.finish())
        self.assertEqual(got, chunks)
