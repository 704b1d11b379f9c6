"""Interop with Go's RPC benchmark pair on the Benchmark interface of benchmarks/benchmark.vdl.

* Go's ``benchmark`` client against our server: Echo and EchoStream (Go's client stops
  with an error on any payload that does not come back unchanged).
* Our client against Go's ``benchmarkd``: Echo and EchoStream with varied payloads.
* Go's ``vrpc signature`` prints the same interface for both servers (the doc comments
  aside, which are in our own words).

Go's pair is a separate Go module (not in v.io v0.2.0, refused by the module proxy);
.ci/go-peers.sh builds it into .gopeers/bin from a git mirror of vanadium/core
($V23PY_GO_BENCHMARK_BIN may name another directory holding ``benchmarkd`` and ``benchmark``).
"""
import os
import re

from twisted.internet import defer
from twisted.trial import unittest

from v23py import rpc, runtime, security
from v23py.testing import child_env, go_binary, procs, tempdir, unavailable

from benchmarks import rpc_bench
from benchmarks.benchmark_vdl import BenchmarkClient, BenchmarkServer


def go_pair():
    """(benchmarkd, benchmark): from $V23PY_GO_BENCHMARK_BIN when set, else the pair
    .ci/go-peers.sh builds into .gopeers/bin; missing is a failure in CI, a skip elsewhere."""
    d = os.environ.get(rpc_bench.GO_BIN_ENV)
    if not d:
        return go_binary("benchmarkd", "benchmark"), go_binary("benchmark", "benchmark")
    found = rpc_bench.go_binaries(d)
    if isinstance(found, str):
        unavailable(f"{rpc_bench.GO_BIN_ENV}={d}: {found}")
    return found


def spawn(test, args, marker=None):
    """Go's processes without our V23_ settings; ``marker`` is looked for on stderr."""
    env = child_env(v23_vars=False)
    return procs.spawn(test, args, marker, stream="err", env=env)[0]


class BenchmarkInteropTest(unittest.TestCase):
    timeout = 120

    @defer.inlineCallbacks
    def setUp(self):
        self.benchmarkd, self.benchmark = go_pair()
        self.dir = tempdir(self, prefix="bench-interop-")
        self.creds = os.path.join(self.dir, "creds")
        rpc_bench.make_creds(self.creds)
        self.go_flags = rpc_bench.go_flags(self.creds, self.dir)
        p = security.load_principal(self.creds)
        self.ctx, shutdown = runtime.init(["--v23.tcp.address=127.0.0.1:0",
                                           "--v23.tcp.protocol=tcp",
                                           "--v23.namespace.root=/127.0.0.1:1"],
                                          flags=runtime.FlagSet("test"), principal=p,
                                          exit_on_error=False)
        self.addCleanup(shutdown)
        server = yield defer.ensureDeferred(runtime.with_new_server(
            self.ctx, "", BenchmarkServer(rpc_bench.BenchImpl()), security.allow_everyone()))
        self.ours = "/" + str(server.endpoints[0])
        gosrv = spawn(self, [self.benchmarkd, *self.go_flags, "--v23.tcp.protocol=tcp",
                             "--v23.tcp.address=127.0.0.1:0"],
                      re.compile(rb"Listening on (/@\S+)"))
        self.goname = yield gosrv.ready

    @defer.inlineCallbacks
    def go_client(self, server, *args):
        pp = spawn(self, [self.benchmark, *self.go_flags, f"--server={server}", *args])
        code = yield pp.ended
        out, err = pp.out.decode(), pp.err.decode(errors="replace")
        self.assertEqual(code, 0, err)
        return rpc_bench.parse_go_report(out)

    # -- Go's client, our server -------------------------------------------------------

    @defer.inlineCallbacks
    def test_go_client_echo_to_our_server(self):
        for size in (0, 1, 1024, 100_000):
            r = yield self.go_client(self.ours, "--iterations=20", f"--payload_size={size}")
            self.assertEqual((r["count"], r["payload_size"]), (20, size))

    @defer.inlineCallbacks
    def test_go_client_stream_to_our_server(self):
        # 3 calls of 40 chunks of 64 KiB: more than a flow's 1 MiB window each way.
        r = yield self.go_client(self.ours, "--iterations=3", "--chunk_count=40",
                                 "--payload_size=65536")
        self.assertEqual((r["count"], r["chunk_count"]), (3, 40))

    @defer.inlineCallbacks
    def test_go_client_with_background_stream(self):
        """Echo calls while a stream runs on the same connection (Go's mux options)."""
        r = yield self.go_client(self.ours, "--iterations=50", "--payload_size=10",
                                 "--mux_chunk_count=20", "--mux_payload_size=65536")
        self.assertEqual(r["count"], 50)

    # -- our client, Go's server -------------------------------------------------------

    def stub(self):
        return BenchmarkClient(self.goname), (rpc.options.ServerAuthorizer(
            security.allow_everyone()),)

    @defer.inlineCallbacks
    def test_our_client_echo_to_go_server(self):
        stub, opts = self.stub()
        for payload in (b"", b"x", bytes(range(256)) * 4, os.urandom(2_000_000)):
            got = yield stub.Echo(self.ctx, payload, *opts)
            self.assertEqual(got, payload)

    @defer.inlineCallbacks
    def test_our_client_stream_to_go_server(self):
        stub, opts = self.stub()
        chunks = [os.urandom(n) for n in (1, 0, 1024, 65536, 300_000)] * 4
        call = yield stub.EchoStream(self.ctx, *opts)
        got = []
        for c in chunks:   # one in flight at a time, then the rest in a burst
            call.send(c)
            if len(got) < 5:
                got.append((yield defer.ensureDeferred(call.recv())))
        call.close_send()
        while len(got) < len(chunks):
            got.append((yield defer.ensureDeferred(call.recv())))
        yield defer.ensureDeferred(call.finish())
        self.assertEqual(got, chunks)

    # -- the same interface on both -------------------------------------------------------

    @defer.inlineCallbacks
    def test_go_vrpc_signature_equal(self):
        vrpc = go_binary("vrpc")
        sigs = []
        for name in (self.goname, self.ours):
            pp = spawn(self, [vrpc, "--v23.credentials", self.creds, f"--log_dir={self.dir}",
                              "signature", name])
            code = yield pp.ended
            self.assertEqual(code, 0, pp.err.decode(errors="replace"))
            text = pp.out.decode()
            sigs.append([ln for ln in text.splitlines() if not ln.strip().startswith("//")])
        self.assertEqual(sigs[0], sigs[1])
        self.assertEqual(sigs[1], [
            'type "v.io/x/ref/runtime/internal/rpc/benchmark".Benchmark interface {',
            '\tEcho(Payload []byte) ([]byte | error) {"v.io/v23/security/access".Tag("Read")}',
            '\tEchoStream() stream<[]byte, []byte> error {"v.io/v23/security/access".Tag("Read")}',
            '}',
            '',
            'type "v.io/v23/security/access".Tag string'])

    @defer.inlineCallbacks
    def test_our_vrpc_signature_of_go_server_both_paths(self):
        """Our ``vrpc signature /<endpoint>`` of Go's server: the runtime-free call
        (v23py.cmd._fastcall) prints what the runtime's path prints, and Go's vrpc."""
        import subprocess
        import sys
        from twisted.internet import threads
        from v23py.testing.procs import ENV
        here = os.path.join(os.path.dirname(sys.executable), "vrpc")
        argv = ([here] if os.path.exists(here) else [sys.executable, "-m", "v23py.cmd.vrpc"]) \
            + ["signature", self.goname]

        def run(fast):
            env = dict(ENV, V23_CREDENTIALS=self.creds, PYTHONPROFILEIMPORTTIME="1")
            env.pop("V23PY_NO_FAST_CALL", None)
            if not fast:
                env["V23PY_NO_FAST_CALL"] = "1"
            p = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                               text=True, timeout=120)
            return p.returncode, p.stdout, "twisted.internet.reactor" in p.stderr
        fast, slow = yield defer.gatherResults([threads.deferToThread(run, True),
                                                threads.deferToThread(run, False)])
        self.assertEqual(fast[:2], slow[:2])
        self.assertEqual(fast[0], 0)
        self.assertEqual((fast[2], slow[2]), (False, True))   # (no reactor on the fast path)
        self.assertIn('\tEcho(Payload []byte) ([]byte | error) {"v.io/v23/security/access".'
                      'Tag("Read")}\n', fast[1])
