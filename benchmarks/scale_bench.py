"""Scale figures for syncbased: how time and memory grow with peers and rows.

    python benchmarks/scale_bench.py [--peers 10,50] [--rows 100000,1000000]
                                     [--go .gopeers/go-syncbase/bin --go-rows 20000,50000]
                                     [--only peers,initial,start]

Prints, each with the load average beside it:
  peers     N v23py daemons in one syncgroup, one write on each: seconds from the last
            write until every daemon holds all N rows, the daemons' CPU meanwhile, and
            the CPU the idle syncgroup costs (all daemons' pull loops, per second) -- and
            the same for N of Go's daemons with --go (same client, same syncgroup spec)
  initial   a daemon joins a syncgroup whose admin holds R rows: seconds until it has
            them all (rows/s), and the joiner's peak RSS (VmHWM) -- ours, and Go's with
            --go (Go's daemon takes rows as Puts, ~1,000/s here, hence its own --go-rows)
  start     syncbased spawned on a root holding R rows: seconds to its ENDPOINT= line
            (median of 3) and the daemon's CPU to that line
and for each, how it grows from the smallest size to the largest (time ratio against
size ratio: linear growth prints equal ratios).

Targets (issue 19): 50 peers converge <= 5 s after the last write; initial sync of
1,000,000 rows with peak RSS <= 300 MB; start to ENDPOINT= <= 300 ms with 1,000,000 rows.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

ALICE = "idp:o:fortune:alice"


def load():
    return f"load {os.getloadavg()[0]:.1f}"


def rss_peak_mb(pid):
    """Peak resident set (VmHWM) of a live process, MB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


SYNC_COUNTERS = ("rounds-started", "hints-in", "hints-known")


async def sync_counters(ctx, daemons):
    """Each of SYNC_COUNTERS summed over ``daemons`` (our daemons' stats; None for a
    daemon without them, as Go's)."""
    from v23py import rpc, verror
    sums = dict.fromkeys(SYNC_COUNTERS, 0)
    for d in daemons:
        for name in SYNC_COUNTERS:
            try:
                (v,) = await rpc.client_call(
                    ctx, f"{d.endpoint}/__debug/stats/syncbase/sync/{name}", "Value", [])
            except verror.VError:
                return None
            sums[name] += int(v)
    return sums


def growth(label, points):
    """points [(size, value)]: one line comparing the largest to the smallest."""
    if len(points) < 2 or not points[0][1]:
        return
    (s0, v0), (s1, v1) = points[0], points[-1]
    print(f"  growth of {label}: size x{s1 / s0:.1f} -> x{v1 / v0:.2f}"
          f" ({'linear or better' if v1 / v0 <= s1 / s0 * 1.1 else 'worse than linear'})",
          flush=True)


def sleep(reactor, s):
    from twisted.internet import defer
    d = defer.Deferred()
    reactor.callLater(s, d.callback, None)
    return d


async def fill(ctx, cx, rows, writers=4, batch=500, prefix="r"):
    """``rows`` rows written with PutRows (one call per row batch on ours)."""
    from twisted.internet import defer
    from v23py import verror
    from v23py.v23.services import syncbase as sbwire
    starts = list(range(0, rows, batch))

    async def writer():
        while starts:
            s = starts.pop(0)
            items = [("%s%08d" % (prefix, i), "x" * 50) for i in range(s, min(rows, s + batch))]
            for attempt in range(5):
                try:
                    await cx.put_rows(ctx, items)
                    break
                except verror.VError as e:
                    if e.id != sbwire.ErrConcurrentBatch.id or attempt == 4:
                        raise
    await defer.gatherResults([defer.ensureDeferred(writer()) for _ in range(writers)])


async def peers_bench(reactor, ctx, kind, start_all, sizes, mount_tables=(), max_wait=300.0):
    """``start_all(n, daemons)`` appends n daemons (``.proc``, ``.endpoint``,
    ``.stop()``) to ``daemons`` as it makes them, before each start, and returns once all
    are started: whatever happens, every one made is stopped here.  A size that has not
    converged ``max_wait`` seconds after the last write is reported with the rows each
    daemon holds, and the next size runs."""
    from twisted.internet import defer
    from v23py import syncbase
    from sync_bench import setup
    points = []
    for n in sizes:
        daemons = []
        try:
            t0 = time.perf_counter()
            await start_all(n, daemons)
            started = time.perf_counter() - t0
            a = daemons[0]
            cols = [(await setup(ctx, a, None, "conv", mount_tables=mount_tables))[1]]
            for d in daemons[1:]:
                cols.append((await setup(ctx, d, a, "conv", mount_tables=mount_tables))[1])
            joined = time.perf_counter() - t0 - started
            # the idle cost of the syncgroup: every daemon's pull loop, nothing to sync
            await sleep(reactor, 2.0)
            cpu0, t = sum(cpu_s(d.proc.pid) for d in daemons), time.perf_counter()
            await sleep(reactor, 3.0)
            cpu1, el = sum(cpu_s(d.proc.pid) for d in daemons), time.perf_counter() - t
            idle = (cpu1 - cpu0) / el
            counted = await sync_counters(ctx, daemons)
            try:
                await defer.gatherResults([c.put(ctx, f"conv{i:03d}", i)
                                           for i, c in enumerate(cols)], consumeErrors=True)
            except defer.FirstError as e:
                # (Go's daemons at 50 on 2 cores: a Put's conn found "unresponsive")
                print(f"peers    {n:4d} {kind:5s} daemons: the write on daemon {e.index} failed "
                      f"({e.subFailure.value}); idle, all daemons: {idle:.2f} CPU s/s; started "
                      f"in {started:.0f} s, joined in {joined:.0f} s; {load()})", flush=True)
                continue
            t = time.perf_counter()
            cpus0 = [cpu_s(d.proc.pid) for d in daemons]
            cpu0 = sum(cpus0)
            pending = list(cols)
            while pending and time.perf_counter() - t < max_wait:
                c = pending[0]
                got = [k async for k, _ in c.scan(ctx, syncbase.Prefix("conv"))]
                if len(got) == n:
                    pending.pop(0)
                else:
                    await sleep(reactor, 0.05)
            el = time.perf_counter() - t
            if pending:
                held = [len([k async for k, _ in c.scan(ctx, syncbase.Prefix("conv"))])
                        for c in cols]
                print(f"peers    {n:4d} {kind:5s} daemons NOT converged {el:.0f} s after the "
                      f"last write: rows held by each daemon {held} (of {n}); started in "
                      f"{started:.0f} s, joined in {joined:.0f} s; {load()})", flush=True)
                continue
            cpus = [cpu_s(d.proc.pid) - c0 for d, c0 in zip(daemons, cpus0)]
            cpu = sum(cpus) + cpu0
            if counted is not None:
                after = await sync_counters(ctx, daemons)
                counted = ", ".join(f"{k} {after[k] - counted[k]}" for k in SYNC_COUNTERS)
                counted = f" ({counted} meanwhile, all daemons)"
            print(f"peers    {n:4d} {kind:5s} daemons converged {el:7.2f} s after the last write "
                  f"(daemons' CPU meanwhile {cpu - cpu0:.1f} s, the busiest's {max(cpus):.2f} s; "
                  f"idle, all daemons: {idle:.2f} "
                  f"CPU s/s; started in {started:.0f} s, joined in {joined:.0f} s; {load()})"
                  f"{counted or ''}", flush=True)
            points.append((n, el))
        finally:
            for d in daemons:
                if hasattr(d, "signal_stop"):
                    d.signal_stop()     # ours: all told first, so they stop side by side
            for d in daemons:
                d.stop()
    growth(f"{kind} convergence time with peers", points)


async def initial_bench(reactor, ctx, kind, make, sizes, mount_tables=()):
    """Initial sync of R rows into a joiner; returns [(rows, seconds, joiner RSS MB)]."""
    from sync_bench import setup, wait_row
    out = []
    for rows in sizes:
        a = b = None
        try:
            a = make()
            dba, ca = await setup(ctx, a, mount_tables=mount_tables)
            t = time.perf_counter()
            await fill(ctx, ca, rows)
            filled = time.perf_counter() - t
            b = make()
            rss0 = rss_peak_mb(b.proc.pid)
            t = time.perf_counter()
            dbb, cb = await setup(ctx, b, a, mount_tables=mount_tables)
            await wait_row(cb, ctx, "r%08d" % (rows - 1), lambda s: sleep(reactor, s))
            el = time.perf_counter() - t
            rss = rss_peak_mb(b.proc.pid)
            print(f"initial  {kind:6s} {rows:9,d} rows: joiner has them all after {el:7.1f} s "
                  f"({rows / el:8,.0f} rows/s), joiner peak RSS {rss:6.0f} MB (at start "
                  f"{rss0:.0f} MB), admin peak RSS {rss_peak_mb(a.proc.pid):.0f} MB "
                  f"(fill {rows / filled:,.0f} rows/s; {load()})", flush=True)
            out.append((rows, el, rss, a.root_dir))
        finally:
            for d in (b,):
                if d is not None:
                    d.stop()
            if a is not None:
                a.stop()
    growth(f"{kind} initial sync time with rows", [(r, e) for r, e, _, _ in out])
    growth(f"{kind} joiner peak RSS with rows", [(r, m) for r, _, m, _ in out])
    return out


def start_bench(kind, make_on, roots):
    """Seconds from spawn to ENDPOINT= on roots holding R rows (median of 3)."""
    points = []
    for rows, root in roots:
        times, cpus = [], []
        for _ in range(3):
            t = time.perf_counter()
            d = make_on(root)
            times.append(time.perf_counter() - t)
            cpus.append(cpu_s(d.proc.pid))
            d.stop()
        times.sort()
        cpus.sort()
        print(f"start    {kind:6s} {rows:9,d} rows on disk: ENDPOINT= after {times[1] * 1e3:7.0f} ms "
              f"(min {times[0] * 1e3:.0f}, max {times[2] * 1e3:.0f}; daemon CPU "
              f"{cpus[1] * 1e3:.0f} ms; {load()})", flush=True)
        points.append((rows, times[1]))
    growth(f"{kind} start time with rows", points)


async def run(reactor, args):
    import v23py
    from v23py.testing.syncbase import make_creds, Daemon
    tmp = tempfile.mkdtemp(prefix="scalebench-")
    creds = make_creds(os.path.join(tmp, "alice"), ALICE)
    ctx, shutdown = v23py.init([f"--v23.credentials={creds}"], reactor=reactor)
    only = set(args.only.split(","))
    go_mt = None
    try:
        peer_sizes = [int(x) for x in args.peers.split(",")]
        if "peers" in only:
            from twisted.internet import defer

            def ours_all(n, daemons):
                sem = defer.DeferredSemaphore(2)
                daemons.extend(Daemon(creds) for _ in range(n))
                return defer.gatherResults([sem.run(d.start) for d in daemons],
                                           consumeErrors=True)
            await peers_bench(reactor, ctx, "v23py", ours_all, peer_sizes,
                              max_wait=args.max_wait)
        if args.go and "peers" in only:
            from syncbase_bench import go_syncbased
            from v23py.testing.syncbase import GoMountTable
            go_mt = GoMountTable(creds).start_blocking()
            mt = go_mt.name

            async def go_all(n, daemons):
                # Go's daemon starts in ~0.2 s: one after another, each to its ENDPOINT=
                for _ in range(n):
                    d = go_syncbased(args.go, creds, mount_table=mt)
                    daemons.append(d)
                    d.start_blocking()
            await peers_bench(reactor, ctx, "Go", go_all, peer_sizes, mount_tables=[mt],
                              max_wait=args.max_wait)
        rows = [int(x) for x in args.rows.split(",")]
        if "initial" in only or "start" in only:
            ours = await initial_bench(reactor, ctx, "v23py",
                                       lambda: Daemon(creds).start_blocking(), rows)
            if "start" in only:
                start_bench("v23py", lambda root: Daemon(creds, root_dir=root).start_blocking(),
                            [(r, root) for r, _, _, root in ours])
        if args.go and ("initial" in only or "start" in only):
            from syncbase_bench import go_syncbased
            from v23py.testing.syncbase import GoMountTable
            if go_mt is None:
                go_mt = GoMountTable(creds).start_blocking()
                mt = go_mt.name
            go_rows = [int(x) for x in args.go_rows.split(",")]
            gos = await initial_bench(
                reactor, ctx, "Go", lambda: go_syncbased(args.go, creds, mount_table=mt).start_blocking(),
                go_rows, mount_tables=[mt])
            if "start" in only:
                start_bench("Go", lambda root: go_syncbased(args.go, creds, root_dir=root,
                                                           mount_table=mt).start_blocking(),
                            [(r, root) for r, _, _, root in gos])
    finally:
        if go_mt is not None:
            go_mt.stop()
        await shutdown()


def main():
    from twisted.internet import task, defer
    ap = argparse.ArgumentParser()
    ap.add_argument("--peers", default="10,50")
    ap.add_argument("--rows", default="100000,1000000")
    ap.add_argument("--go", metavar="DIR", default=None)
    ap.add_argument("--go-rows", default="20000,50000")
    ap.add_argument("--only", default="peers,initial,start")
    ap.add_argument("--max-wait", type=float, default=300.0,
                    help="seconds after the last write before a peers size that has not "
                         "converged is reported as such (with the rows each daemon holds)")
    args = ap.parse_args()
    task.react(lambda r: defer.ensureDeferred(run(r, args)))


if __name__ == "__main__":
    main()
