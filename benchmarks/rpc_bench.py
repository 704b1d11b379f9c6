"""RPC benchmarks: echo latency, throughput, connection setup, streaming; Go and gRPC alongside.

    python benchmarks/rpc_bench.py [--quick] [--go-bin DIR]

The v23py server runs in a child process (the Benchmark interface of
benchmark.vdl, the service of Go's benchmark pair), the client in this one,
over an encrypted, authenticated loopback connection.  A grpcio echo server
(if grpcio is installed) runs the same way.

Go's benchmark pair (``benchmarkd``, ``benchmark``) lives in its own Go module
(v.io/x/ref/runtime/internal/rpc/benchmark, not part of v.io v0.2.0, not served by
the module proxy); ``.ci/go-peers.sh`` builds it from a git mirror of vanadium/core
into .gopeers/bin when the mirror is on the machine.  When both binaries are there
(or in the directory given by ``--go-bin DIR`` or V23PY_GO_BENCHMARK_BIN), the same
run also measures Go client -> Go server, our client -> Go server and Go client ->
our server, and prints them beside ours with the ratios.

The rows of CPU per call (client and server) come from runs with the server and the client
pinned to separate cores when this process may use two or more (the same for every pair:
unpinned, a client's threads preempt the server on its core and the server's figure counts
the scheduling); latency, 16 callers and streaming run unpinned.
"""
import contextlib
import os
import re
import select
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

GO_BIN_ENV = "V23PY_GO_BENCHMARK_BIN"
GOPEERS_BIN = os.path.join(os.environ.get("V23PY_GOPEERS", os.path.join(ROOT, ".gopeers")), "bin")
GO_NOTE = ("Go columns: not measured.  They need Go's benchmark pair (benchmarkd, benchmark "
           "from v.io/x/ref/runtime/internal/rpc/benchmark), a separate Go module absent from "
           "v.io v0.2.0: `bash .ci/go-peers.sh` builds it into .gopeers/bin from a git mirror "
           f"of vanadium/core, or pass --go-bin DIR (or {GO_BIN_ENV}=DIR).")
STREAM_CHUNK = 65536


class BenchImpl:
    """Our Benchmark server: what Go's benchmarkd does, in Python."""

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
    from benchmarks.benchmark_vdl import BenchmarkServer

    async def main(reactor):
        p = security.load_principal(creds)
        ctx, shutdown = runtime.init(["--v23.tcp.address=127.0.0.1:0", "--v23.tcp.protocol=tcp"],
                                     flags=runtime.FlagSet("bench"), principal=p)
        server = await runtime.with_new_server(ctx, "", BenchmarkServer(BenchImpl()),
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
# Go's benchmark pair (binaries built outside this project)
# ---------------------------------------------------------------------------

def go_bin_dir(argv=None):
    """The directory given by --go-bin DIR / --go-bin=DIR or $V23PY_GO_BENCHMARK_BIN, else
    .gopeers/bin when .ci/go-peers.sh built the pair there, else None."""
    argv = sys.argv[1:] if argv is None else argv
    for i, a in enumerate(argv):
        if a == "--go-bin" and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith("--go-bin="):
            return a.split("=", 1)[1]
    d = os.environ.get(GO_BIN_ENV)
    if d:
        return d
    return GOPEERS_BIN if not isinstance(go_binaries(GOPEERS_BIN), str) else None


def go_binaries(d):
    """(benchmarkd, benchmark) paths in d, or a reason string when one is missing."""
    paths = tuple(os.path.join(d, n) for n in ("benchmarkd", "benchmark"))
    missing = [p for p in paths if not os.access(p, os.X_OK)]
    if missing:
        return f"not executable or missing: {', '.join(missing)}"
    return paths


def go_flags(creds, logdir):
    """Flags every Go process gets: our credentials, logs kept out of /tmp, and a namespace
    root on loopback (the Go default is a public mount table; names here are endpoints)."""
    return [f"--v23.credentials={creds}", f"--log_dir={logdir}",
            "--v23.namespace.root=/127.0.0.1:1"]


def go_env():
    return {k: v for k, v in os.environ.items() if not k.startswith("V23_")}


def start_go_server(benchmarkd, creds, logdir, timeout=30.0):
    """Start Go's benchmarkd on loopback; (Popen, '/endpoint') from its 'Listening on' log."""
    errpath = os.path.join(logdir, "benchmarkd.stderr")
    with open(errpath, "wb") as err:
        p = subprocess.Popen([benchmarkd, *go_flags(creds, logdir),
                              "--v23.tcp.protocol=tcp", "--v23.tcp.address=127.0.0.1:0"],
                             stdout=subprocess.DEVNULL, stderr=err, env=go_env())
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(errpath, "rb") as f:
            m = re.search(rb"Listening on (/@\S+)", f.read())
        if m:
            return p, m.group(1).decode()
        if p.poll() is not None:
            break
        time.sleep(0.02)
    p.kill()
    p.wait()
    with open(errpath, "rb") as f:
        tail = f.read().decode(errors="replace").strip().splitlines()[-3:]
    raise RuntimeError(f"Go benchmarkd did not start: {' | '.join(tail)}")


_UNITS = {"ns": 1e-9, "µs": 1e-6, "us": 1e-6, "ms": 1e-3, "s": 1.0}
_DUR_PART = re.compile(r"([0-9.]+)(h|m(?!s)|s|ms|µs|us|ns)")


def parse_go_duration(s):
    """Seconds in a Go time.Duration string such as '553.02ms' or '1m2.5s'."""
    scale = {"h": 3600.0, "m": 60.0, **_UNITS}
    parts = _DUR_PART.findall(s.strip())
    if not parts or "".join(a + b for a, b in parts) != s.strip():
        raise ValueError(f"not a Go duration: {s!r}")
    return sum(float(a) * scale[b] for a, b in parts)


def parse_go_report(text):
    """What Go's benchmark client printed: {'iterations', 'chunk_count', 'payload_size',
    'elapsed', 'count', 'min', 'max', 'avg', 'buckets': [(low, high|None, count)]}, times in
    seconds.  Raises ValueError when the text is not such a report."""
    out = {}
    m = re.search(r"iterations: (\d+)\s+chunk_count: (\d+)\s+payload_size: (\d+)", text)
    if not m:
        raise ValueError("no 'iterations:' line in Go benchmark output")
    out["iterations"], out["chunk_count"], out["payload_size"] = map(int, m.groups())
    m = re.search(r"elapsed time: (\S+)", text)
    if not m:
        raise ValueError("no 'elapsed time:' line in Go benchmark output")
    out["elapsed"] = parse_go_duration(m.group(1))
    m = re.search(r"Histogram \(unit: (\S+)\)", text)
    if not m or m.group(1) not in _UNITS:
        raise ValueError("no histogram in Go benchmark output")
    unit = _UNITS[m.group(1)]
    m = re.search(r"Count: (\d+)\s+Min: (-?\d+)\s+Max: (-?\d+)\s+Avg: ([0-9.]+)", text)
    if not m:
        raise ValueError("no 'Count:' line in Go benchmark output")
    out["count"] = int(m.group(1))
    out["min"], out["max"], out["avg"] = (float(x) * unit for x in m.groups()[1:])
    out["buckets"] = [(int(lo) * unit, None if hi == "inf" else int(hi) * unit, int(c))
                      for lo, hi, c in re.findall(r"\[\s*(\d+),\s*(\d+|inf)\)\s+(\d+)", text)]
    return out


def histogram_percentile(report, p):
    """The p-quantile of a Go report's histogram, linearly interpolated inside its bucket
    (Go's client prints 16 buckets, not the samples); clamped to the reported min and max."""
    target = p * report["count"]
    acc = 0
    for lo, hi, c in report["buckets"]:
        if c and acc + c >= target:
            hi = report["max"] if hi is None else min(hi, report["max"])
            lo = max(lo, report["min"])
            return lo + (hi - lo) * max(0.0, target - acc) / c
        acc += c
    return report["max"]


def run_go_client(benchmark, creds, logdir, server, iterations, payload_size, chunk_count=0,
                  core=None):
    """Run Go's benchmark client once (only on CPU core ``core`` when given); (report, cpu
    seconds of the client process)."""
    pin = None if core is None else (lambda: os.sched_setaffinity(0, {core}))
    p = subprocess.Popen([benchmark, *go_flags(creds, logdir), f"--server={server}",
                          f"--iterations={iterations}", f"--payload_size={payload_size}",
                          f"--chunk_count={chunk_count}"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=go_env(),
                         preexec_fn=pin)
    out, err = _read_all(p)
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise RuntimeError(f"Go benchmark exited {p.returncode}: "
                           f"{err.decode(errors='replace').strip()[-300:]}")
    return parse_go_report(out.decode()), ru.ru_utime + ru.ru_stime


def _read_all(p):
    """stdout and stderr of p until both close (no deadlock on either pipe)."""
    bufs = {p.stdout: [], p.stderr: []}
    open_ = [p.stdout, p.stderr]
    while open_:
        ready, _, _ = select.select(open_, [], [])
        for f in ready:
            chunk = os.read(f.fileno(), 65536)
            if chunk:
                bufs[f].append(chunk)
            else:
                open_.remove(f)
    return b"".join(bufs[p.stdout]), b"".join(bufs[p.stderr])


def go_client_bench(benchmark, creds, logdir, server, server_pid, n, seconds, stream_total,
                    pin=None):
    """Go's benchmark client against server: the measures v23_bench takes, where Go's
    client offers them (it has no connection-setup figure).  The CPU runs have the server
    and the client on the cores ``pin`` gives (server, client), as v23_bench's."""
    res = {}
    server_core, client_core = pin or (None, None)
    for size in (1, 1024):
        rep, _ = run_go_client(benchmark, creds, logdir, server, n, size)
        res[f"echo_{size}B"] = (histogram_percentile(rep, 0.5), histogram_percentile(rep, 0.99))
        res[f"mean_{size}B"] = rep["avg"]
    # Each run of Go's client is a new process and a new conn: what a 1-call run costs
    # each side (start, dial, the server's accept and handshake, the first call's types)
    # is taken off, so both CPU figures are per call in steady state, as ours are.
    with pinned(server_pid, server_core):
        base = []
        for _ in range(3):
            s0 = child_cpu(server_pid)
            _, c = run_go_client(benchmark, creds, logdir, server, 1, 1, core=client_core)
            base.append((c, child_cpu(server_pid) - s0))
        cpu_base, srv_base = min(b[0] for b in base), min(b[1] for b in base)
        for size in (1, 1024):
            s0 = child_cpu(server_pid)
            _, cpu = run_go_client(benchmark, creds, logdir, server, n, size, core=client_core)
            res[f"cpu_{size}B"] = (max(0.0, cpu - cpu_base) / (n - 1),
                                   max(0.0, child_cpu(server_pid) - s0 - srv_base) / (n - 1))
    res["setup_cpu_server"] = srv_base
    # Go's client makes one call at a time: 16 of its processes run at once instead.  The
    # rate counts every call over the window from the first process's first call to the
    # last process's exit (edges with fewer than 16 callers make it an underestimate).
    rate1 = 1.0 / max(res["mean_1B"], 1e-6)
    per = max(100, int(seconds * 2 * rate1 / 16))
    procs = [subprocess.Popen([benchmark, *go_flags(creds, logdir), f"--server={server}",
                               f"--iterations={per}", "--payload_size=1"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=go_env())
             for _ in range(16)]
    outs = {p.stdout: [] for p in procs}
    ends = {}
    while len(ends) < len(procs):
        ready, _, _ = select.select([f for f in outs if f not in ends], [], [])
        for f in ready:
            chunk = os.read(f.fileno(), 65536)
            if chunk:
                outs[f].append(chunk)
            else:
                ends[f] = time.perf_counter()
    starts, total = [], 0
    for p in procs:
        p.wait()
        if p.returncode != 0:
            raise RuntimeError(f"Go benchmark (16 at once) exited {p.returncode}")
        rep = parse_go_report(b"".join(outs[p.stdout]).decode())
        starts.append(ends[p.stdout] - rep["elapsed"])
        total += rep["count"]
    res["throughput_16"] = total / (max(ends.values()) - min(starts))
    # streaming: 64 KiB chunks echoed, a few calls of many chunks each
    calls = 4
    chunks = max(1, stream_total // (calls * STREAM_CHUNK))
    rep, _ = run_go_client(benchmark, creds, logdir, server, calls, STREAM_CHUNK, chunks)
    res["stream_MBps"] = calls * chunks * STREAM_CHUNK / rep["elapsed"] / 1e6
    return res


# ---------------------------------------------------------------------------
# measurements with our client
# ---------------------------------------------------------------------------

def child_cpu(pid):
    """CPU seconds (user+system) used so far by process pid (Linux /proc): the scheduler's
    nanosecond run time of each of its threads, else the clock ticks of /proc/pid/stat
    (10 ms steps: too coarse for a 1-call run)."""
    try:
        total = 0
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        return total / 1e9
    except (OSError, IndexError, ValueError):
        pass
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def cpu_pin_cores(available=None):
    """(server core, client core) for the CPU-per-call runs: the two lowest-numbered cores of
    ``available`` (default: those this process may run on), or None with fewer than two."""
    cores = sorted(os.sched_getaffinity(0) if available is None else available)
    return (cores[0], cores[1]) if len(cores) >= 2 else None


def _threads(pid):
    return [int(t) for t in os.listdir(f"/proc/{pid}/task")]


@contextlib.contextmanager
def pinned(pid, core):
    """Inside the block every thread of process pid (0: this process) runs only on CPU core
    ``core``; after it, where each could run before (threads started inside the block: where
    the process's first thread could).  Nothing when core is None."""
    if core is None:
        yield
        return
    pid = pid or os.getpid()
    before = {tid: os.sched_getaffinity(tid) for tid in _threads(pid)}
    for tid in before:
        os.sched_setaffinity(tid, {core})
    try:
        yield
    finally:
        for tid in _threads(pid):
            with contextlib.suppress(ProcessLookupError):
                os.sched_setaffinity(tid, before.get(tid, before[pid]))


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))]


async def echo_stream(call, total):
    """Stream ``total`` bytes in STREAM_CHUNK items on an EchoStream ``call`` and read them
    back, as Go's benchmark client does: a sender that waits only on flow control (each
    send's Deferred), the receiver beside it.  Returns the bytes echoed."""
    from twisted.internet import defer
    chunk = b"s" * STREAM_CHUNK

    async def send_all():
        for _ in range(0, total, len(chunk)):
            await call.send(chunk)
        call.close_send()

    sending = defer.ensureDeferred(send_all())
    got = 0
    while got < total:
        got += len(await call.recv())
    await sending
    await call.finish()
    return got


async def v23_bench(creds, name, server_pid, n, seconds, stream_total, pin=None):
    """Our client against server: latency, CPU per call (server and client on the cores
    ``pin`` gives, (server, client)), 16 callers, connection setup, streaming."""
    from twisted.internet import defer
    from v23py import naming, rpc, runtime, security
    from v23py.flow.auth import Identity
    from v23py.runtime.flowmanager import FlowManager
    from benchmarks.benchmark_vdl import BenchmarkClient
    p = security.load_principal(creds)
    ctx, shutdown = runtime.init([], flags=runtime.FlagSet("bench-client"), principal=p)
    stub = BenchmarkClient(name, runtime.get_runtime(ctx).client)
    opts = (rpc.options.ServerAuthorizer(security.allow_everyone()),)
    res = {}

    def call(payload):
        return stub.Echo(ctx, payload, *opts)

    for _ in range(max(50, n // 10)):   # connect and warm up
        await call(b"x")
    server_core, client_core = pin or (None, None)
    for size in (1, 1024):
        payload = b"x" * size
        lat = []
        for _ in range(n):
            t = time.perf_counter()
            await call(payload)
            lat.append(time.perf_counter() - t)
        res[f"echo_{size}B"] = (statistics.median(lat), pct(lat, 0.99))
        res[f"mean_{size}B"] = statistics.fmean(lat)
        with pinned(server_pid, server_core), pinned(0, client_core):
            c0, s0 = time.process_time(), child_cpu(server_pid)
            for _ in range(n):
                await call(payload)
            res[f"cpu_{size}B"] = ((time.process_time() - c0) / n,
                                   (child_cpu(server_pid) - s0) / n)
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
    ep = naming.parse_endpoint(naming.split_address_name(name)[0])
    setup = []
    s0 = child_cpu(server_pid)
    for _ in range(max(5, n // 100)):
        mgr = FlowManager(Identity(p, blessings=security.nameless_blessing(p.public_key)))
        t = time.perf_counter()
        await mgr.dial(ep, timeout=10)
        setup.append(time.perf_counter() - t)
        await mgr.stop(lame_duck_timeout=0) if _accepts(mgr.stop, "lame_duck_timeout") \
            else await mgr.stop()
    res["conn_setup"] = statistics.median(setup)
    res["setup_cpu_server"] = (child_cpu(server_pid) - s0) / len(setup)
    call_ = await stub.EchoStream(ctx, *opts)
    t = time.perf_counter()
    got = await echo_stream(call_, stream_total)
    res["stream_MBps"] = got / (time.perf_counter() - t) / 1e6
    await shutdown()
    return res


async def mt_bench(creds, mt_name, n):
    """Median latency of ResolveStep on a mount table (our client), in seconds."""
    from v23py import rpc, runtime, security, vdl
    from v23py.rpc import wire
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
        await client.call(ctx, mt_name + "/x", "ResolveStep", [], [], [wire.MountEntryType],
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


# ---------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------

PAIRS = (("go-go", "Go -> Go"), ("us-us", "v23py -> v23py"), ("us-go", "v23py -> Go"),
         ("go-us", "Go -> v23py"))


def print_go_table(cols, n, seconds, pin=None):
    """The four client/server pairs side by side; each v23py pair also as a ratio to Go -> Go
    (latency and CPU: >1 is slower; calls/s and MB/s: <1 is slower)."""
    us = 1e6
    rows = (
        ("1 B echo median, us", lambda r: r["echo_1B"][0] * us),
        ("1 B echo p99, us", lambda r: r["echo_1B"][1] * us),
        ("1 KB echo median, us", lambda r: r["echo_1024B"][0] * us),
        ("1 KB echo p99, us", lambda r: r["echo_1024B"][1] * us),
        ("1 B echo mean, us", lambda r: r["mean_1B"] * us),
        ("CPU/1 B call client, us", lambda r: r["cpu_1B"][0] * us),
        ("CPU/1 B call server, us", lambda r: r["cpu_1B"][1] * us),
        ("server CPU/conn setup, ms", lambda r: r["setup_cpu_server"] * 1e3
         if "setup_cpu_server" in r else None),
        ("16 callers, calls/s", lambda r: r["throughput_16"]),
        ("conn setup, ms", lambda r: r["conn_setup"] * 1e3 if "conn_setup" in r else None),
        ("streaming, MB/s", lambda r: r["stream_MBps"]),
    )
    print(f"\nGo's benchmark pair side by side (same run; client -> server; n={n}, "
          f"{seconds}s windows; (x) = ratio to Go -> Go)")
    print(f"  {'':<24}" + "".join(f"{label:>20}" for _, label in PAIRS))
    for label, get in rows:
        base = cols.get("go-go")
        base_v = get(base) if base else None
        cells = []
        for key, _ in PAIRS:
            r = cols.get(key)
            v = get(r) if r else None
            if v is None:
                cells.append(f"{'-':>20}")
            elif key == "go-go" or not base_v:
                cells.append(f"{v:>20.0f}" if v >= 10 else f"{v:>20.2f}")
            else:
                num = f"{v:.0f}" if v >= 10 else f"{v:.2f}"
                cells.append(f"{num + f' ({v / base_v:.2f}x)':>20}")
        print(f"  {label:<24}" + "".join(cells))
    gu, uu = cols.get("go-us"), cols.get("us-us")
    if gu and uu:
        for k, label in (("cpu_1B", "1 B"), ("cpu_1024B", "1 KB")):
            a, b = gu[k][1], uu[k][1]
            if b:
                print(f"  our server's CPU per {label} call, Go's client over ours: "
                      f"{a * 1e6:.0f} / {b * 1e6:.0f} us = {a / b:.2f}x")
    print("""\
  Go client columns: median/p99 interpolated from the 16-bucket histogram Go's client
  prints; its CPU/call (both processes) is a run's CPU minus that of a 1-call run (start,
  dial, handshake: 'server CPU/conn setup'); its '16 callers' is 16 client processes at
  once (Go's client makes one call at a time), counted from the first call to the last
  exit; its streaming is 4 EchoStream calls of 64 KiB chunks, ours one call; both send as
  flow control allows; MB/s counts echoed bytes once.  Go's client has no connection-setup time.
  Go's client's server CPU/conn setup comes from its 1-call runs, pinned as the CPU runs.""")
    print(f"  {pin_note(pin)}")


def make_creds(path):
    from v23py import security
    p = security.create_principal(path)
    b = p.bless_self("bench")
    p.blessing_store.set_default(b)
    p.blessing_store.set(b, "...")
    p.add_to_roots(b)


def main():
    import tempfile
    quick = "--quick" in sys.argv
    n, seconds = (300, 1.0) if quick else (2000, 3.0)
    stream_total = 8 << 20 if quick else 32 << 20
    gobin = go_bin_dir()
    go = None
    if gobin:
        go = go_binaries(gobin)
        if isinstance(go, str):
            sys.exit(f"--go-bin {gobin}: {go}")
    tmp = tempfile.mkdtemp(prefix="rpc-bench-")
    creds = os.path.join(tmp, "creds")
    make_creds(creds)
    procs = []
    try:
        run_all(creds, tmp, n, seconds, stream_total, go, procs)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        shutil.rmtree(tmp, ignore_errors=True)


def pin_note(pin):
    """The line saying how the CPU-per-call rows were measured."""
    if pin is None:
        return "CPU per call: unpinned (this process may use fewer than two cores)"
    return (f"CPU per call (every pair): server pinned to core {pin[0]}, client to core "
            f"{pin[1]}; latency, 16 callers and streaming unpinned")


def run_all(creds, tmp, n, seconds, stream_total, go, procs):
    pin = cpu_pin_cores()
    server, name = start_child(["--serve-v23", creds])
    procs.append(server)
    gosrv = goname = None
    if go:
        gosrv, goname = start_go_server(go[0], creds, tmp)
        procs.append(gosrv)
    gomt = os.path.join(GOPEERS_BIN, "mounttabled")
    tables = []
    for label, args in (("Go mounttabled", [gomt]),
                        ("v23py mounttabled", [sys.executable, "-m", "v23py.cmd.mounttabled"])):
        if os.path.exists(args[0]):
            try:
                proc, mtname = start_mounttable(args, creds)
                procs.append(proc)
                tables.append((label, proc, mtname))
            except RuntimeError as e:
                print(f"  ({e})")
    cols, mt = {}, {}
    from twisted.internet import defer, task

    async def everything(reactor):
        cols["us-us"] = await v23_bench(creds, name, server.pid, n, seconds, stream_total, pin)
        if go:
            cols["us-go"] = await v23_bench(creds, goname, gosrv.pid, n, seconds, stream_total,
                                            pin)
        for label, _, mtname in tables:
            mt[label] = await mt_bench(creds, mtname, n)
    try:
        task.react(lambda reactor: defer.ensureDeferred(everything(reactor)))
    except SystemExit as e:
        if e.code:
            raise
    for _, proc, _ in tables:
        proc.kill()
    if go:
        cols["go-go"] = go_client_bench(go[1], creds, tmp, goname, gosrv.pid, n, seconds,
                                        stream_total, pin)
        cols["go-us"] = go_client_bench(go[1], creds, tmp, name, server.pid, n, seconds,
                                        stream_total, pin)
    server.kill()
    if gosrv:
        gosrv.kill()
    theirs = None
    try:
        import grpc  # noqa: F401
        gsrv, target = start_child(["--serve-grpc"])
        procs.append(gsrv)
        theirs = grpc_bench(target, n, seconds)
        gsrv.kill()
    except ImportError:
        pass

    ours = cols["us-us"]
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
    print(f"  {pin_note(pin)}")
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
    if go:
        print_go_table(cols, n, seconds, pin)
    else:
        print("  " + GO_NOTE)


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--serve-v23":
        serve_v23(sys.argv[2])
    elif len(sys.argv) > 1 and sys.argv[1] == "--serve-grpc":
        serve_grpc()
    else:
        main()
