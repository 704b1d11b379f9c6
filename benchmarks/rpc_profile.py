"""Profile the RPC hot path: 16 concurrent callers of Echo(1 byte), CPU per call on each side.

    python benchmarks/rpc_profile.py [--calls N] [--callers K] [--payload BYTES]
                                     [--profile-client FILE] [--profile-server FILE]
                                     [--spy PREFIX]

The server (the Benchmark service of rpc_bench.py) runs in a child process, the client in
this one, over an encrypted, authenticated loopback connection.  Prints calls/s and the CPU
time (user+system, from /proc and process_time) per call of each process, which depends much
less on the other load of the machine than the rate does.  With --profile-* a cProfile of that
process is written to FILE (read it with ``python -m pstats FILE``).
"""
import argparse
import os
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

import rpc_bench  # noqa: E402


def proc_cpu(pid):
    """(user, system) CPU seconds used so far by process pid."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tck = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tck, int(fields[12]) / tck


def serve(creds, profile):
    if profile:
        # profiled between SIGUSR1 and SIGUSR2 (the client's measured window)
        import cProfile
        import signal
        prof = cProfile.Profile(time.process_time)   # CPU, not the wall time of blocking calls

        def start(*_):
            prof.enable()

        def dump(*_):
            prof.disable()
            prof.dump_stats(profile)
        signal.signal(signal.SIGUSR1, start)
        signal.signal(signal.SIGUSR2, dump)
    rpc_bench.serve_v23(creds)


async def run(creds, name, args, server_pid):
    from twisted.internet import defer
    from v23py import rpc, runtime, security, vdl
    p = security.load_principal(creds)
    ctx, shutdown = runtime.init([], flags=runtime.FlagSet("profile-client"), principal=p)
    client = runtime.get_runtime(ctx).client
    from benchmarks.benchmark_vdl import BenchmarkClient, BenchmarkDesc
    desc = BenchmarkDesc
    stub = BenchmarkClient(name, client)
    echo = desc.method("Echo")
    opts = (rpc.options.ServerAuthorizer(security.allow_everyone()),)
    payload = b"x" * args.payload

    async def call():
        if args.direct:
            r = await client.call(ctx, name, "Echo", [payload], [vdl.ByteListType],
                                  [vdl.ByteListType], desc=echo, opts=opts)
            return r[0]
        return await stub.Echo(ctx, payload, *opts)

    for _ in range(200):   # warm up: connect, types, caches
        await call()
    if args.stream:
        return await stream(ctx, client, name, desc, opts, args, server_pid, shutdown)
    per = args.calls // args.callers
    prof = None
    if args.profile_client:
        import cProfile
        prof = cProfile.Profile()

    async def caller():
        for _ in range(per):
            await call()
    spies = []
    if args.spy:
        for pid, what in ((server_pid, "server"), (os.getpid(), "client")):
            spies.append(subprocess.Popen(
                ["py-spy", "record", "--pid", str(pid), "--rate", "2000", "--format", "raw",
                 "--output", f"{args.spy}-{what}.txt", "--nonblocking"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        time.sleep(1.0)
    if args.profile_server:
        os.kill(server_pid, signal.SIGUSR1)
    c0, s0, t0 = proc_cpu(os.getpid()), proc_cpu(server_pid), time.perf_counter()
    if prof is not None:
        prof.enable()
    await defer.gatherResults([defer.ensureDeferred(caller()) for _ in range(args.callers)])
    if prof is not None:
        prof.disable()
    t1, c1, s1 = time.perf_counter(), proc_cpu(os.getpid()), proc_cpu(server_pid)
    if args.profile_server:
        os.kill(server_pid, signal.SIGUSR2)
        time.sleep(1.0)   # (the server writes its profile)
    for s in spies:
        s.send_signal(signal.SIGINT)
        s.wait()
    n = per * args.callers
    if prof is not None:
        prof.dump_stats(args.profile_client)
    await shutdown()
    return n, t1 - t0, (c1[0] - c0[0], c1[1] - c0[1]), (s1[0] - s0[0], s1[1] - s0[1])


def inproc(creds, args):
    """Server and client in this process (one reactor): CPU per call = client + server."""
    from twisted.internet import defer, task
    from v23py import rpc, runtime, security, vdl
    from v23py.rpc import stubs as rt

    from benchmarks.benchmark_vdl import BenchmarkClient, BenchmarkDesc, BenchmarkServer
    out = {}

    async def go(reactor):
        p = security.load_principal(creds)
        sctx, sshutdown = runtime.init(["--v23.tcp.address=127.0.0.1:0",
                                        "--v23.tcp.protocol=tcp"],
                                       flags=runtime.FlagSet("bench"), principal=p)
        server = await runtime.with_new_server(
            sctx, "", BenchmarkServer(rpc_bench.BenchImpl()),
            security.default_authorizer() if args.default_auth else security.allow_everyone())
        name = "/" + str(server.endpoints[0])
        ctx, shutdown = runtime.init([], flags=runtime.FlagSet("profile-client"), principal=p)
        client = runtime.get_runtime(ctx).client
        echo = BenchmarkDesc.method("Echo")
        stub = BenchmarkClient(name, client)
        opts = (rpc.options.ServerAuthorizer(security.allow_everyone()),)
        payload = b"x" * args.payload

        async def call():
            if args.direct:
                r = await client.call(ctx, name, "Echo", [payload], [vdl.ByteListType],
                                      [vdl.ByteListType], desc=echo, opts=opts)
                return r[0]
            return await stub.Echo(ctx, payload, *opts)
        for _ in range(200):
            await call()
        if args.stream:
            # (callgrind: the difference of two sizes is the cost of the extra megabytes)
            await stream_echo(ctx, client, name, BenchmarkDesc, opts, 1 << 20)   # warm up
            c0, t0 = time.process_time(), time.perf_counter()
            await stream_echo(ctx, client, name, BenchmarkDesc, opts, args.stream << 20)
            out["s"] = (args.stream, time.perf_counter() - t0, time.process_time() - c0)
            await shutdown()
            await sshutdown()
            return
        per = args.calls // args.callers

        async def caller():
            for _ in range(per):
                await call()
        prof = None
        if args.profile_client:
            import cProfile
            prof = cProfile.Profile()
            prof.enable()
        c0, t0 = time.process_time(), time.perf_counter()
        await defer.gatherResults([defer.ensureDeferred(caller()) for _ in range(args.callers)])
        c1, t1 = time.process_time(), time.perf_counter()
        if prof is not None:
            prof.disable()
            prof.dump_stats(args.profile_client)
        n = per * args.callers
        out["r"] = (n, t1 - t0, c1 - c0)
        await shutdown()
        await sshutdown()
    try:
        task.react(lambda r: defer.ensureDeferred(go(r)))
    except SystemExit:
        pass
    if "s" in out:
        mb, wall, cpu = out["s"]
        print(f"in-process streaming {mb} MiB: {mb / wall:6.1f} MiB/s   "
              f"CPU per MiB client+server {cpu / mb * 1e3:5.1f} ms")
        return
    n, wall, cpu = out["r"]
    print(f"in-process: {n} calls, {args.callers} callers, {args.payload} B: "
          f"{n / wall:7.0f} calls/s   CPU/call client+server {cpu / n * 1e6:6.1f} us")


async def stream_echo(ctx, client, name, desc, opts, total):
    """EchoStream of total bytes, as rpc_bench streams them (rpc_bench.echo_stream)."""
    call = await client.start_call(ctx, name, "EchoStream", [], [], [],
                                   desc=desc.method("EchoStream"), opts=opts)
    await rpc_bench.echo_stream(call, total)


async def stream(ctx, client, name, desc, opts, args, server_pid, shutdown):
    """EchoStream of args.stream MB: CPU per MB of each process."""
    total = args.stream << 20
    c0, s0, t0 = proc_cpu(os.getpid()), proc_cpu(server_pid), time.perf_counter()
    await stream_echo(ctx, client, name, desc, opts, total)
    t1, c1, s1 = time.perf_counter(), proc_cpu(os.getpid()), proc_cpu(server_pid)
    await shutdown()
    return total, t1 - t0, (c1[0] - c0[0], c1[1] - c0[1]), (s1[0] - s0[0], s1[1] - s0[1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=20000)
    ap.add_argument("--callers", type=int, default=16)
    ap.add_argument("--payload", type=int, default=1)
    ap.add_argument("--profile-client")
    ap.add_argument("--profile-server")
    ap.add_argument("--stream", type=int, default=0, metavar="MB",
                    help="measure EchoStream of MB megabytes instead of unary calls")
    ap.add_argument("--spy", help="py-spy both processes: raw samples to SPY-{client,server}.txt")
    ap.add_argument("--direct", action="store_true",
                    help="call Client.call directly instead of the generated stub")
    ap.add_argument("--default-auth", action="store_true",
                    help="(with --inproc) the server uses the default authorizer")
    ap.add_argument("--inproc", action="store_true",
                    help="client and server in this process (for callgrind / cProfile of both; "
                         "with --stream, one EchoStream of MB megabytes)")
    ap.add_argument("--serve", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(args.serve[0], args.serve[1] if args.serve[1] != "-" else None)
        return
    import tempfile
    from v23py import security
    creds = os.path.join(tempfile.mkdtemp(prefix="rpc-profile-"), "creds")
    p = security.create_principal(creds)
    b = p.bless_self("bench")
    p.blessing_store.set_default(b)
    p.blessing_store.set(b, "...")
    p.add_to_roots(b)
    if args.inproc:
        inproc(creds, args)
        return
    server = subprocess.Popen([sys.executable, __file__, "--serve", creds,
                               os.path.abspath(args.profile_server) if args.profile_server
                               else "-"],
                              stdout=subprocess.PIPE, env=dict(os.environ, PYTHONPATH=ROOT))
    name = server.stdout.readline().decode().strip()
    if not name:
        server.kill()
        raise SystemExit("server did not start")
    out = {}
    from twisted.internet import defer, task

    async def go(reactor):
        out["r"] = await run(creds, name, args, server.pid)
    try:
        task.react(lambda r: defer.ensureDeferred(go(r)))
    except SystemExit:
        pass
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    n, wall, ccpu, scpu = out["r"]
    if args.stream:
        mb = n / 1e6
        print(f"streaming {mb:.0f} MB: {mb / wall:6.1f} MB/s   CPU per MB client "
              f"{sum(ccpu) / mb * 1e3:5.1f} ms  server {sum(scpu) / mb * 1e3:5.1f} ms")
        return
    us = 1e6 / n
    print(f"{n} calls, {args.callers} callers, {args.payload} B: {n / wall:7.0f} calls/s   "
          f"CPU/call client {sum(ccpu) * us:6.1f} us ({ccpu[0] * us:.0f} user + "
          f"{ccpu[1] * us:.0f} sys)  server {sum(scpu) * us:6.1f} us ({scpu[0] * us:.0f} user + "
          f"{scpu[1] * us:.0f} sys)")


if __name__ == "__main__":
    main()
