"""RPC benchmarks: echo latency, throughput, connection setup, streaming; gRPC alongside.

    python benchmarks/rpc_bench.py [--quick]

The v23py server runs in a child process (the Benchmark interface of
benchmark.vdl, Go's benchmark service), the client in this one, over an
encrypted, authenticated loopback connection.  A grpcio echo server (if grpcio
is installed) runs the same way.  Go's benchmarkd/benchmark pair is used when
found on PATH or in .gopeers/bin (it is not installable offline).
"""
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

PKG = "v.io/x/ref/runtime/internal/rpc/benchmark"


def bench_desc():
    from v23py import vdl
    from v23py.security import access
    from v23py.vdl.compiler import runtime as rt
    return rt.InterfaceDesc(name="Benchmark", pkg_path=PKG, doc="", methods=(
        rt.MethodDesc(name="Echo", doc="// Echo returns the payload that it receives.",
                      in_args=(rt.ArgDesc("Payload", vdl.ByteListType),),
                      out_args=(rt.ArgDesc("", vdl.ByteListType),), tags=(access.Read,)),
        rt.MethodDesc(name="EchoStream",
                      doc="// EchoStream returns the payload that it receives via the stream.",
                      in_stream=vdl.ByteListType, out_stream=vdl.ByteListType,
                      tags=(access.Read,)),
    ))


class BenchImpl:
    def Echo(self, ctx, call, payload):
        return payload

    async def EchoStream(self, ctx, call):
        async for chunk in call:
            call.send(chunk)


# ---------------------------------------------------------------------------
# child processes
# ---------------------------------------------------------------------------

def serve_v23(creds):
    from twisted.internet import defer, task
    from v23py import runtime, security
    from v23py.vdl.compiler import runtime as rt

    class Stub(rt.ServerStub):
        _vdl_describe = (bench_desc(),)

    async def main(reactor):
        p = security.load_principal(creds)
        ctx, shutdown = runtime.init(["--v23.tcp.address=127.0.0.1:0", "--v23.tcp.protocol=tcp"],
                                     flags=runtime.FlagSet("bench"), principal=p)
        server = await runtime.with_new_server(ctx, "", Stub(BenchImpl()),
                                               security.allow_everyone())
        print("/" + str(server.endpoints[0]), flush=True)
        await defer.Deferred()   # until killed
    task.react(lambda r: defer.ensureDeferred(main(r)))


def serve_grpc():
    import grpc
    from concurrent import futures
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    ident = lambda b: b  # noqa: E731
    handler = grpc.method_handlers_generic_handler("bench.Bench", {
        "Echo": grpc.unary_unary_rpc_method_handler(lambda req, ctx: req, ident, ident)})
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(f"127.0.0.1:{port}", flush=True)
    server.wait_for_termination()


def start_child(args):
    p = subprocess.Popen([sys.executable, __file__, *args], stdout=subprocess.PIPE,
                         env=dict(os.environ, PYTHONPATH=ROOT))
    line = p.stdout.readline().decode().strip()
    if not line:
        p.kill()
        raise RuntimeError(f"child {args} did not start")
    return p, line


# ---------------------------------------------------------------------------
# measurements
# ---------------------------------------------------------------------------

SERVER_PID = [0]


def child_cpu(pid):
    """CPU seconds (user+system) used so far by process pid (Linux /proc)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))]


async def v23_bench(creds, name, n, seconds):
    from twisted.internet import defer
    from v23py import rpc, runtime, security, vdl
    p = security.load_principal(creds)
    ctx, shutdown = runtime.init([], flags=runtime.FlagSet("bench-client"), principal=p)
    client = runtime.get_runtime(ctx).client
    desc = bench_desc()
    echo = desc.method("Echo")
    opts = (rpc.options.ServerAuthorizer(security.allow_everyone()),)
    res = {}

    async def call(payload):
        r = await client.call(ctx, name, "Echo", [payload], [vdl.ByteListType],
                              [vdl.ByteListType], desc=echo, opts=opts)
        return r[0]

    await call(b"x")   # connect
    for size in (1, 1024):
        payload = b"x" * size
        lat = []
        c0, s0 = time.process_time(), child_cpu(SERVER_PID[0])
        for _ in range(n):
            t = time.perf_counter()
            await call(payload)
            lat.append(time.perf_counter() - t)
        res[f"echo_{size}B"] = (statistics.median(lat), pct(lat, 0.99))
        res[f"cpu_{size}B"] = ((time.process_time() - c0) / n,
                               (child_cpu(SERVER_PID[0]) - s0) / n)
    # throughput: 16 concurrent callers
    stop = time.perf_counter() + seconds
    count = [0]

    async def caller():
        while time.perf_counter() < stop:
            await call(b"x")
            count[0] += 1
    t0 = time.perf_counter()
    await defer.gatherResults([defer.ensureDeferred(caller()) for _ in range(16)])
    res["throughput_16"] = count[0] / (time.perf_counter() - t0)
    # connection setup: a fresh flow manager (new conn: Setup + encryption + auth) each time
    from v23py.flow.manager import FlowManager
    from v23py.flow.auth import Identity
    from v23py import naming
    ep = naming.parse_endpoint(naming.split_address_name(name)[0])
    setup = []
    for _ in range(max(5, n // 100)):
        mgr = FlowManager(Identity(p, blessings=security.nameless_blessing(p.public_key)))
        t = time.perf_counter()
        await mgr.dial(ep, timeout=10)
        setup.append(time.perf_counter() - t)
        await mgr.stop(lame_duck_timeout=0) if _accepts(mgr.stop, "lame_duck_timeout") \
            else await mgr.stop()
    res["conn_setup"] = statistics.median(setup)
    # streaming: 64 KiB chunks echoed back
    chunk = b"s" * 65536
    total = 8 << 20 if n < 1000 else 32 << 20
    call_ = await client.start_call(ctx, name, "EchoStream", [], [], [],
                                    desc=desc.method("EchoStream"), opts=opts)
    t = time.perf_counter()
    sent = got = 0
    window = 8
    inflight = 0
    while got < total:
        while sent < total and inflight < window:
            call_.send(chunk)
            sent += len(chunk)
            inflight += 1
        item = await call_.recv()
        got += len(item)
        inflight -= 1
    call_.close_send()
    await call_.finish()
    res["stream_MBps"] = got / (time.perf_counter() - t) / 1e6
    await shutdown()
    return res


async def mt_bench(creds, mt_name, n):
    """Median latency of ResolveStep on a mount table (our client), in seconds."""
    from v23py import rpc, runtime, security, vdl
    from v23py.rpc import _wiretypes as wt
    p = security.load_principal(creds)
    ctx, shutdown = runtime.init([], flags=runtime.FlagSet("bench-mt"), principal=p)
    client = runtime.get_runtime(ctx).client
    opts = (rpc.options.NoResolve(),)
    flag_t = vdl.named("v.io/v23/naming.MountFlag", vdl.Uint32Type)
    await client.call(ctx, mt_name + "/x", "Mount", ["/127.0.0.1:9", 3600, 0],
                      [vdl.StringType, vdl.Uint32Type, flag_t], [], opts=opts)
    lat = []
    for i in range(n + 50):
        t = time.perf_counter()
        await client.call(ctx, mt_name + "/x", "ResolveStep", [], [], [wt.MountEntry],
                          opts=opts)
        if i >= 50:
            lat.append(time.perf_counter() - t)
    await shutdown()
    return statistics.median(lat)


def start_mounttable(args, creds):
    p = subprocess.Popen(args + ["--v23.credentials", creds, "--v23.tcp.address",
                                 "127.0.0.1:0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         env=dict(os.environ, PYTHONPATH=ROOT))
    for _ in range(50):
        line = p.stdout.readline().decode()
        if line.startswith("NAME="):
            return p, line.strip().split("=", 1)[1]
        if not line:
            break
    p.kill()
    raise RuntimeError(f"{args[0]} did not start")


def _accepts(fn, name):
    import inspect
    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def grpc_bench(target, n, seconds):
    import grpc
    import threading
    ch = grpc.insecure_channel(target)
    ident = lambda b: b  # noqa: E731
    echo = ch.unary_unary("/bench.Bench/Echo", request_serializer=ident,
                          response_deserializer=ident)
    echo(b"x")
    res = {}
    for size in (1, 1024):
        payload = b"x" * size
        lat = []
        for _ in range(n):
            t = time.perf_counter()
            echo(payload)
            lat.append(time.perf_counter() - t)
        res[f"echo_{size}B"] = (statistics.median(lat), pct(lat, 0.99))
    stop = time.perf_counter() + seconds
    counts = [0] * 16

    def caller(i):
        while time.perf_counter() < stop:
            echo(b"x")
            counts[i] += 1
    t0 = time.perf_counter()
    ts = [threading.Thread(target=caller, args=(i,)) for i in range(16)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    res["throughput_16"] = sum(counts) / (time.perf_counter() - t0)
    ch.close()
    return res


def main():
    quick = "--quick" in sys.argv
    n, seconds = (300, 1.0) if quick else (2000, 3.0)
    import tempfile
    from v23py import security
    creds = os.path.join(tempfile.mkdtemp(prefix="rpc-bench-"), "creds")
    p = security.create_principal(creds)
    b = p.bless_self("bench")
    p.blessing_store.set_default(b)
    p.blessing_store.set(b, "...")
    p.add_to_roots(b)

    server, name = start_child(["--serve-v23", creds])
    SERVER_PID[0] = server.pid
    gomt = os.path.join(ROOT, ".gopeers", "bin", "mounttabled")
    tables = []
    for label, args in (("Go mounttabled", [gomt]),
                        ("v23py mounttabled", [sys.executable, "-m", "v23py.cmd.mounttabled"])):
        if os.path.exists(args[0]):
            try:
                proc, mtname = start_mounttable(args, creds)
                tables.append((label, proc, mtname))
            except RuntimeError as e:
                print(f"  ({e})")
    ours, mt = {}, {}
    from twisted.internet import defer, task

    async def everything(reactor):
        ours.update(await v23_bench(creds, name, n, seconds))
        for label, _, mtname in tables:
            mt[label] = await mt_bench(creds, mtname, n)
    try:
        task.react(lambda reactor: defer.ensureDeferred(everything(reactor)))
    except SystemExit:
        pass
    finally:
        server.kill()
        for _, proc, _ in tables:
            proc.kill()
    theirs = None
    try:
        import grpc  # noqa: F401
        gsrv, target = start_child(["--serve-grpc"])
        try:
            theirs = grpc_bench(target, n, seconds)
        finally:
            gsrv.kill()
    except ImportError:
        pass

    us = 1e6
    print(f"v23py RPC over encrypted+authenticated loopback (n={n}, {seconds}s windows)")
    for k in ("echo_1B", "echo_1024B"):
        med, p99 = ours[k]
        line = f"  {k:<12} median {med * us:8.0f} us   p99 {p99 * us:8.0f} us"
        if theirs:
            gm, gp = theirs[k]
            line += f"   | grpcio median {gm * us:6.0f} us p99 {gp * us:6.0f} us" \
                    f"   ratio v23py/grpc {med / gm:5.2f}"
        print(line)
    for k in ("1B", "1024B"):
        c, sv = ours["cpu_" + k]
        print(f"  cpu/call {k:<5} client {c * us:6.0f} us + server {sv * us:6.0f} us "
              f"(load-independent cost)")
    line = f"  {'16 callers':<12} {ours['throughput_16']:8.0f} calls/s"
    if theirs:
        line += f"   | grpcio {theirs['throughput_16']:8.0f} calls/s   ratio " \
                f"{ours['throughput_16'] / theirs['throughput_16']:5.2f}"
    print(line)
    print(f"  {'conn setup':<12} median {ours['conn_setup'] * 1e3:8.2f} ms")
    print(f"  {'streaming':<12} {ours['stream_MBps']:8.1f} MB/s (64 KiB chunks, echoed)")
    print("  targets: median <= 250 us (1 B), >= 8000 calls/s (16 callers), setup <= 5 ms, "
          "streaming >= 100 MB/s")
    for label, v in mt.items():
        if v is not None:
            print(f"  our client -> {label:<18} ResolveStep median {v * us:6.0f} us")
    if len(mt) == 2 and all(mt.values()):
        print(f"  ratio v23py server / Go server (same call, same client): "
              f"{mt['v23py mounttabled'] / mt['Go mounttabled']:5.2f}")
    print("  Go benchmarkd/benchmark: not available (v.io/x/ref/runtime/internal/rpc/benchmark "
          "cannot be fetched offline)")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--serve-v23":
        serve_v23(sys.argv[2])
    elif len(sys.argv) > 1 and sys.argv[1] == "--serve-grpc":
        serve_grpc()
    else:
        main()
