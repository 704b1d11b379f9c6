"""Syncbase benchmarks: the store directly, and syncbased through RPC.

    python benchmarks/syncbase_bench.py [--seconds 3] [--scan-rows 100000] [--engine sqlite]
                                        [--procs 1] [--only store|rpc] [--rounds 1]
                                        [--ops start,put,get,scan]

Prints one line per measurement:
  store  put/s (durable, one flush per put), put/s (16 writers, group commit through the
         store thread), get/s, scan rows/s
  start  seconds from spawning syncbased to its ENDPOINT= line (op startrows: on a root
         holding --start-rows rows, e.g. 0,100000,1000000; the bytecode caches are
         written first, as an installed package has them, unless --no-warm)
  rpc    put/s and get/s with 1 and 16 concurrent clients, Scan rows/s, each with the
         CPU time per operation of the daemon and of the client processes

Concurrent clients are coroutines of one client process (``--procs N`` runs N
such processes, each with the given concurrency, and sums their rates).
Targets (issue 6): >= 2,000 puts/s and >= 4,000 gets/s through RPC with 16
clients; Scan >= 50,000 rows/s.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

ALICE = "idp:o:fortune:alice"


def store_bench(args):
    from v23py.syncbase.util import Id
    from syncbased import access
    from syncbased.service import Service
    root = tempfile.mkdtemp(prefix="sbbench-")
    svc = Service(root, args.engine, default_patterns=[ALICE])
    names = [ALICE]
    db_id, cx_id = Id("idp:o:fortune", "db"), Id(ALICE, "c")
    svc.database(db_id).create(names, None, access.perms_add({}, ALICE, *access.ALL_DATABASE_TAGS))
    cx = svc.database(db_id).collection(cx_id)
    cx.create(names, "", access.perms_add({}, ALICE, *access.ALL_COLLECTION_TAGS))
    svc.flush()
    value = b"\x81" + b"x" * 100

    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < args.seconds:
        cx.row("p%d" % n).put(names, "", value)
        svc.flush()
        n += 1
    report("store", "put/s (flush per put)", n / (time.perf_counter() - t0))

    # Group commit through the store thread: 16 outstanding puts.
    from twisted.internet import reactor, defer
    from syncbased.worker import StoreWorker
    w = StoreWorker(svc.flush, svc.rollback, reactor)
    done = {"n": 0}
    t_end = [0.0]

    def writer(i):
        k = [0]

        def one(_=None):
            if time.perf_counter() >= t_end[0]:
                return None
            k[0] += 1
            done["n"] += 1
            return w.call(cx.row("g%d-%d" % (i, k[0])).put, names, "", value).addCallback(one)
        return one()

    def run_group():
        t_end[0] = time.perf_counter() + args.seconds
        t = time.perf_counter()
        d = defer.gatherResults([defer.maybeDeferred(writer, i) for i in range(16)])
        d.addCallback(lambda _: report("store", "put/s (16 writers, group commit)",
                                       done["n"] / (time.perf_counter() - t)))
        d.addBoth(lambda _: reactor.stop())
    reactor.callWhenRunning(run_group)
    reactor.run(installSignalHandlers=False)
    w.stop()

    keys = ["p%d" % i for i in range(min(n, 1000))]
    m, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < args.seconds:
        cx.row(keys[m % len(keys)]).get(names, "")
        m += 1
    report("store", "get/s", m / (time.perf_counter() - t0))

    fill(cx, names, args.scan_rows, value)
    svc.flush()
    t0 = time.perf_counter()
    cnt = sum(1 for _ in cx.scan(names, "", b"s", b"t"))
    report("store", f"scan rows/s ({cnt} rows)", cnt / (time.perf_counter() - t0))
    svc.close()


def fill(cx, names, rows, value):
    d = cx.d
    batch = 5000
    for start in range(0, rows, batch):
        def fn(tx, start=start):
            from syncbased.common import row_key
            for i in range(start, min(rows, start + batch)):
                tx.put(row_key(cx.id, "s%07d" % i), value)
        d.st.run_in_transaction(fn)
        d.st.flush()


def report(where, what, rate, cpu=None):
    """One line: rate, and (RPC) CPU µs per op of the daemon and of the clients."""
    line = f"{where:6s} {what:44s} {rate:12,.0f}"
    if cpu:
        line += "   cpu/op: " + "  ".join(
            f"{k} {v:6.1f} us" if isinstance(v, float) else f"{k} {v[0] + v[1]:6.1f} us "
            f"(sys {v[1]:5.1f})" for k, v in cpu.items())
    print(line, flush=True)


def proc_cpu(pid):
    """(user, system) CPU seconds used so far by process ``pid`` (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tck = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tck, int(fields[12]) / tck


# --- RPC --------------------------------------------------------------------

def rpc_client(args):
    """Child process: run one RPC measurement, print a JSON result."""
    from twisted.internet import task, defer

    async def run(reactor):
        import v23py
        from v23py import syncbase
        ctx, shutdown = v23py.init([f"--v23.credentials={args.creds}"], reactor=reactor)
        sb = syncbase.new_service(args.endpoint)
        db = sb.database_for_id(("idp:o:fortune", "db"))
        cx = db.collection_for_id((ALICE, "c"))
        value = "x" * 100
        out = {}
        cpu0 = time.process_time()
        if args.op == "put":
            n = [0]
            end = time.perf_counter() + args.seconds

            async def w(i):
                k = 0
                while time.perf_counter() < end:
                    await cx.put(ctx, f"{args.tag}-{i}-{k}", value)
                    k += 1
                    n[0] += 1
            t = time.perf_counter()
            await defer.gatherResults([defer.ensureDeferred(w(i)) for i in range(args.conc)])
            out["rate"] = n[0] / (time.perf_counter() - t)
            out["ops"] = n[0]
        elif args.op == "get":
            n = [0]
            end = time.perf_counter() + args.seconds

            async def r(i):
                k = 0
                while time.perf_counter() < end:
                    await cx.get(ctx, f"seed-{(i * 7 + k) % 100}")
                    k += 1
                    n[0] += 1
            t = time.perf_counter()
            await defer.gatherResults([defer.ensureDeferred(r(i)) for i in range(args.conc)])
            out["rate"] = n[0] / (time.perf_counter() - t)
            out["ops"] = n[0]
        elif args.op == "scan":
            t = time.perf_counter()
            cnt = 0
            async for _ in cx.scan(ctx, syncbase.Prefix("s")):
                cnt += 1
            out["rate"] = cnt / (time.perf_counter() - t)
            out["rows"] = out["ops"] = cnt
        elif args.op == "batch":
            # BeginBatch, args.batch Puts in flight at once, Commit: rows/s over the window
            n = [0]
            end = time.perf_counter() + args.seconds

            async def b(i):
                k = 0
                while time.perf_counter() < end:
                    bd = await db.begin_batch(ctx)
                    bc = bd.collection_for_id((ALICE, "c"))
                    await defer.gatherResults([
                        defer.ensureDeferred(bc.put(ctx, f"{args.tag}-{i}-{k}-{j}", value))
                        for j in range(args.batch)])
                    await bd.commit(ctx)
                    k += 1
                    n[0] += args.batch
            t = time.perf_counter()
            await defer.gatherResults([defer.ensureDeferred(b(i)) for i in range(args.conc)])
            out["rate"] = n[0] / (time.perf_counter() - t)
            out["ops"] = n[0]
        elif args.op == "putrows":
            # one PutRows per args.batch rows (one RPC against v23py's daemon; Go's
            # has no such object, so there it is BeginBatch, pipelined Puts, Commit)
            n = [0]
            end = time.perf_counter() + args.seconds

            async def pr(i):
                k = 0
                while time.perf_counter() < end:
                    await cx.put_rows(ctx, [(f"{args.tag}-{i}-{k}-{j}", value)
                                           for j in range(args.batch)])
                    k += 1
                    n[0] += args.batch
            t = time.perf_counter()
            await defer.gatherResults([defer.ensureDeferred(pr(i)) for i in range(args.conc)])
            out["rate"] = n[0] / (time.perf_counter() - t)
            out["ops"] = n[0]
        elif args.op == "watch":
            # from a Put's call to the change arriving on a Watch opened before it
            # (and, apart, from the Put's reply to the change)
            lat, after = [], []
            rm = await db.get_resume_marker(ctx)
            stream = db.watch(ctx, rm, [syncbase.CollectionRowPattern(ALICE, "c", "w-%")])
            it = stream.__aiter__()
            end = time.perf_counter() + args.seconds
            k = 0
            while time.perf_counter() < end or k < 20:
                t = time.perf_counter()
                await cx.put(ctx, f"w-{args.tag}-{k}", value)
                t_reply = time.perf_counter()
                while True:
                    ch = await it.__anext__()
                    if ch.row == f"w-{args.tag}-{k}":
                        break
                lat.append(time.perf_counter() - t)
                after.append(time.perf_counter() - t_reply)
                k += 1
            lat.sort()
            out["rate"] = lat[len(lat) // 2] * 1e3
            out["p90"] = lat[int(len(lat) * 0.9)] * 1e3
            after.sort()
            out["after_reply"] = after[len(after) // 2] * 1e3
            out["after_reply_p90"] = after[int(len(after) * 0.9)] * 1e3
            out["ops"] = len(lat)
        elif args.op == "setup":
            await db.create(ctx, None)
            await cx.create(ctx, None)
            for i in range(100):
                await cx.put(ctx, f"seed-{i}", value)
        out["cpu"] = time.process_time() - cpu0
        print(json.dumps(out), flush=True)
        await shutdown()
    task.react(lambda reactor: defer.ensureDeferred(run(reactor)))


def run_clients(args, endpoint, creds, op, conc, procs=1, tag="t", daemon_pid=None):
    """Run ``procs`` client processes; (summed rate, extra), extra["cpu"] = µs/op by process."""
    cmd = [sys.executable, os.path.abspath(__file__), "--client", "--op", op,
           "--endpoint", endpoint, "--creds", creds, "--conc", str(conc),
           "--seconds", str(args.seconds), "--tag", tag, "--batch", str(args.batch)]
    ps = [subprocess.Popen(cmd + ["--tag", f"{tag}{i}"], stdout=subprocess.PIPE, cwd=ROOT)
          for i in range(procs)]
    d0 = proc_cpu(daemon_pid) if daemon_pid else None
    total, extra, ops, ccpu = 0.0, {}, 0, 0.0
    for p in ps:
        outp, _ = p.communicate(timeout=600)
        res = json.loads(outp.decode().strip().splitlines()[-1])
        total += res.get("rate", 0)
        ops += res.get("ops", 0)
        ccpu += res.get("cpu", 0.0)
        extra.update({k: v for k, v in res.items() if k not in ("rate", "ops", "cpu")})
    if d0 is not None and ops:
        # the daemon's CPU over the whole client run (includes client connect/setup)
        d1 = proc_cpu(daemon_pid)
        extra["cpu"] = {"daemon": ((d1[0] - d0[0]) / ops * 1e6, (d1[1] - d0[1]) / ops * 1e6),
                        "clients": ccpu / ops * 1e6}
    return total, extra


def go_syncbased(bindir, creds, **kw):
    """Go's own 2017 syncbased from ``bindir`` (--go DIR; .ci/go-peers.sh builds it into
    .gopeers/go-syncbase/bin), flagged as the interop tests flag it (kw: GoDaemon's)."""
    from v23py.testing.syncbase import GoDaemon
    return GoDaemon(creds, binary=os.path.join(bindir, "syncbased"), **kw)


def rpc_bench(args):
    from v23py.testing.syncbase import make_creds, Daemon
    tmp = tempfile.mkdtemp(prefix="sbbench-")
    creds = make_creds(os.path.join(tmp, "alice"), ALICE)
    kinds = [("v23py", Daemon)]
    if args.go:
        gobin = args.go

        def go_daemon(creds, root_dir=None, engine=None):
            return go_syncbased(gobin, creds, root_dir=root_dir)
        kinds.append(("Go", go_daemon))
    table = {}   # measure -> {kind: [(value, daemon cpu us/op or None), ...] by round}
    if not args.no_warm:
        warm_bytecode()
    for r in range(args.rounds):
        # (each round in the other order: a load that drifts during a round then
        # weighs on each daemon's medians alike)
        for kind, make in (kinds if r % 2 == 0 else kinds[::-1]):
            print(f"(round {r + 1}: {kind}, load average {os.getloadavg()[0]:.1f})", flush=True)
            rpc_bench_one(args, creds, kind, make, table)
    print(f"(load average {os.getloadavg()[0]:.1f})", flush=True)
    if args.go:
        print_side_by_side(table, [k for k, _ in kinds], args.rounds)


def _put(table, measure, kind, value, extra=None):
    cpu = (extra or {}).get("cpu", {}).get("daemon") if extra else None
    table.setdefault(measure, {}).setdefault(kind, []).append(
        (value, sum(cpu) if cpu else None))


def _median(xs):
    xs = sorted(x for x in xs if x is not None)
    return xs[len(xs) // 2] if xs else None


def rpc_bench_one(args, creds, kind, make, table):
    ops = set(args.ops.split(","))
    tag = f"{kind:6s}"
    if "startrows" in ops:
        start_rows_bench(args, creds, kind, make, table)
        if ops == {"startrows"}:
            return
    if "start" in ops:
        for label, med, cpu in startup_bench(args, creds, make, tag=tag):
            _put(table, f"start to ENDPOINT= ({label}), ms", kind, med * 1e3)
            _put(table, f"daemon CPU to ENDPOINT= ({label}), ms", kind, cpu * 1e3)
    d = make(creds, engine=args.engine).start_blocking()
    try:
        pid = d.proc.pid
        run_clients(args, d.endpoint, creds, "setup", 1)
        for conc in (1, 16) if "put" in ops or "get" in ops else ():
            if "put" in ops:
                rate, x = run_clients(args, d.endpoint, creds, "put", conc, args.procs,
                                      f"c{conc}", daemon_pid=pid)
                report(tag, f"put/s ({conc} concurrent x {args.procs} procs)", rate,
                       x.get("cpu"))
                _put(table, f"put/s, {conc} client(s)", kind, rate, x)
            if "get" in ops:
                rate, x = run_clients(args, d.endpoint, creds, "get", conc, args.procs,
                                      daemon_pid=pid)
                report(tag, f"get/s ({conc} concurrent x {args.procs} procs)", rate,
                       x.get("cpu"))
                _put(table, f"get/s, {conc} client(s)", kind, rate, x)
        if "batch" in ops:
            rate, x = run_clients(args, d.endpoint, creds, "batch", 1, tag="b",
                                  daemon_pid=pid)
            what = f"batched puts, rows/s ({args.batch} per batch)"
            report(tag, what, rate, x.get("cpu"))
            _put(table, what, kind, rate, x)
        if "putrows" in ops:
            for conc in (1, 2):
                rate, x = run_clients(args, d.endpoint, creds, "putrows", conc, tag=f"r{conc}",
                                      daemon_pid=pid)
                what = f"PutRows, rows/s ({args.batch} per call, {conc} client(s))"
                report(tag, what, rate, x.get("cpu"))
                _put(table, what, kind, rate, x)
        if "watch" in ops:
            ms, x = run_clients(args, d.endpoint, creds, "watch", 1, tag="w")
            report(tag, "watch latency, Put to change, median ms", ms)
            _put(table, "watch: Put to change, median ms", kind, ms)
            _put(table, "watch: Put to change, p90 ms", kind, x.get("p90"))
            _put(table, "watch: Put's reply to change, median ms", kind, x.get("after_reply"))
            _put(table, "watch: Put's reply to change, p90 ms", kind, x.get("after_reply_p90"))
        if "scan" not in ops:
            return
        fill_rpc(d.endpoint, creds, args.scan_rows)
        rate, extra = run_clients(args, d.endpoint, creds, "scan", 1, daemon_pid=pid)
        report(tag, f"Scan rows/s ({extra.get('rows')} rows)", rate, extra.get("cpu"))
        _put(table, f"Scan rows/s ({extra.get('rows')} rows)", kind, rate, extra)
        if "start" in ops:
            d.stop()
            times = []
            for _ in range(3):
                t = time.perf_counter()
                d = make(creds, root_dir=d.root_dir, engine=args.engine).start_blocking()
                times.append(time.perf_counter() - t)
                d.stop()
            times.sort()
            print(f"{tag} {f'to ENDPOINT= (root with {args.scan_rows} rows), med/min/max s':44s} "
                  f"{times[1]:8.3f} {times[0]:6.3f} {times[-1]:6.3f}", flush=True)
            _put(table, f"start to ENDPOINT= ({args.scan_rows} rows), ms", kind, times[1] * 1e3)
    finally:
        d.stop()


def print_side_by_side(table, kinds, rounds=1):
    """Every measure with each daemon's figure (and its CPU per op) and ours over Go's;
    with several rounds, the median of each (value and CPU apart)."""
    print(f"\nSame client (ours), same workload, each daemon in turn (ratio: v23py / Go; "
          f"for rates > 1 is better, for times < 1 is better)"
          + (f"; medians of {rounds} rounds" if rounds > 1 else ""))
    print(f"  {'measure':<44}" + "".join(f"{k:>22}" for k in kinds) + f"{'ratio':>8}")
    for measure, by_rounds in table.items():
        by = {k: (_median(v for v, _ in runs), _median(c for _, c in runs))
              for k, runs in by_rounds.items()}
        cells = []
        for k in kinds:
            v = by.get(k)
            if v is None or v[0] is None:
                cells.append(f"{'-':>22}")
                continue
            txt = f"{v[0]:,.0f}" if v[0] >= 100 else f"{v[0]:.1f}"
            if v[1] is not None:
                txt += f" ({v[1]:.0f} us cpu)"
            cells.append(f"{txt:>22}")
        a, b = by.get(kinds[0]), by.get(kinds[-1])
        ratio = f"{a[0] / b[0]:8.2f}" if a and b and a[0] and b[0] else f"{'-':>8}"
        print(f"  {measure:<44}" + "".join(cells) + ratio)
    print("  (N us cpu) = the daemon's CPU per operation over the window, from /proc.")


def startup_bench(args, creds, make, runs=5, tag="start"):
    """Seconds from spawning syncbased to its ENDPOINT= line (fresh and reused root dir);
    [(label, median)]."""
    root = None
    out = []
    for label in ("fresh root", "existing root"):
        times, cpus = [], []
        for _ in range(runs):
            t = time.perf_counter()
            d = make(creds, root_dir=root if label == "existing root" else None,
                     engine=args.engine).start_blocking()
            times.append(time.perf_counter() - t)
            cpus.append(sum(proc_cpu(d.proc.pid)))
            d.stop()
            root = root or d.root_dir   # (a root a fresh start made: reused below)
        times.sort()
        cpus.sort()
        print(f"{tag} {'start to ENDPOINT= (' + label + '), median/min/max s':44s} "
              f"{times[len(times) // 2]:8.3f} {times[0]:6.3f} {times[-1]:6.3f}   "
              f"daemon CPU to ENDPOINT= {cpus[len(cpus) // 2]:.3f} s", flush=True)
        out.append((label, times[len(times) // 2], cpus[len(cpus) // 2]))
    return out


def warm_bytecode():
    """Write the project's bytecode caches, as ``pip install`` does for an installed
    package.  This environment sets PYTHONDONTWRITEBYTECODE=1, and without caches every
    daemon start compiles our ~160 modules from source (~0.8 s of CPU), which no
    installed daemon does (see also cli_bench.py)."""
    import compileall
    for d in ("v23py", "syncbased"):
        compileall.compile_dir(os.path.join(ROOT, d), quiet=1)
    print(f"(bytecode caches of v23py/ and syncbased/ written; "
          f"PYTHONDONTWRITEBYTECODE={os.environ.get('PYTHONDONTWRITEBYTECODE', '')!r})",
          flush=True)


def start_rows_bench(args, creds, kind, make, table):
    """Start to ENDPOINT= (median of 5, and the daemon's CPU) on one root as it grows
    through ``--start-rows`` (e.g. 0,100000,1000000 rows in one collection)."""
    counts = sorted(int(x) for x in args.start_rows.split(","))
    d = make(creds, engine=args.engine).start_blocking()
    root = d.root_dir
    have = 0
    try:
        run_clients(args, d.endpoint, creds, "setup", 1)   # (db, collection, 100 rows)
        for n in counts:
            if n > have:
                t = time.perf_counter()
                fill_rpc(d.endpoint, creds, n, first=have)
                print(f"{kind:6s} (filled {have:,} -> {n:,} rows in "
                      f"{time.perf_counter() - t:.0f} s)", flush=True)
                have = n
            d.stop()
            times, cpus = [], []
            for _ in range(5):
                t = time.perf_counter()
                d = make(creds, root_dir=root, engine=args.engine).start_blocking()
                times.append(time.perf_counter() - t)
                cpus.append(sum(proc_cpu(d.proc.pid)))
                d.stop()
            d = make(creds, root_dir=root, engine=args.engine).start_blocking()
            times.sort()
            cpus.sort()
            print(f"{kind:6s} {f'start to ENDPOINT= ({n:,} rows), median/min/max s':44s} "
                  f"{times[2]:8.3f} {times[0]:6.3f} {times[-1]:6.3f}   "
                  f"daemon CPU to ENDPOINT= {cpus[2]:.3f} s", flush=True)
            _put(table, f"start to ENDPOINT= ({n:,} rows), ms", kind, times[2] * 1e3)
            _put(table, f"daemon CPU to ENDPOINT= ({n:,} rows), ms", kind, cpus[2] * 1e3)
    finally:
        d.stop()


def fill_rpc(endpoint, creds, rows, first=0):
    """Rows s<first>..s<rows-1> (100-byte values) through PutRows (Go: batches of Puts)."""
    code = f"""
import sys; sys.path.insert(0, {ROOT!r})
from twisted.internet import task, defer
async def run(reactor):
    import v23py
    from v23py import syncbase
    ctx, shutdown = v23py.init(["--v23.credentials={creds}"], reactor=reactor)
    db = syncbase.new_service({endpoint!r}).database_for_id(("idp:o:fortune", "db"))
    value = "x" * 100
    step = 2000
    c = db.collection_for_id(({ALICE!r}, "c"))
    for start in range({first}, {rows}, step):
        # one call per step on ours; a batch of Puts, 100 in flight, on Go's
        await c.put_rows(ctx, [("s%07d" % i, value) for i in range(start, min({rows}, start + step))])
    await shutdown()
task.react(lambda r: defer.ensureDeferred(run(r)))
"""
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=1200)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--scan-rows", type=int, default=100000)
    ap.add_argument("--engine", default="sqlite")
    ap.add_argument("--procs", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=1,
                    help="RPC: run each daemon's measurements this many times, the daemons "
                         "taking turns (the other one first every other round); the "
                         "side-by-side table gives the medians")
    ap.add_argument("--only", choices=["store", "rpc"], default=None)
    ap.add_argument("--ops", default="start,put,get,batch,putrows,watch,scan",
                    help="RPC measurements to run (comma-separated: "
                         "start,put,get,batch,putrows,watch,scan,startrows)")
    ap.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--op", help=argparse.SUPPRESS)
    ap.add_argument("--endpoint", help=argparse.SUPPRESS)
    ap.add_argument("--creds", help=argparse.SUPPRESS)
    ap.add_argument("--conc", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--tag", default="t", help=argparse.SUPPRESS)
    ap.add_argument("--batch", type=int, default=500, help="rows per batch (op batch)")
    ap.add_argument("--start-rows", default="0,100000,1000000",
                    help="row counts for op startrows (start to ENDPOINT= as one root grows)")
    ap.add_argument("--no-warm", action="store_true",
                    help="do not write the bytecode caches first (measure a cold compile)")
    ap.add_argument("--go", metavar="DIR", default=None,
                    help="also run the RPC measurements against Go's syncbased in DIR "
                         "(.gopeers/go-syncbase/bin), printed beside ours")
    args = ap.parse_args()
    if args.client:
        return rpc_client(args)
    if args.only in (None, "store"):
        store_bench(args)
    if args.only in (None, "rpc"):
        rpc_bench(args)


if __name__ == "__main__":
    main()
