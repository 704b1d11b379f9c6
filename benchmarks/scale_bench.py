"""Scale figures for syncbased: how time and memory grow with peers and rows.

    python benchmarks/scale_bench.py [--peers 10,50] [--rows 100000,1000000]
                                     [--go .gopeers/go-syncbase/bin --go-rows 20000,50000]
                                     [--only peers,initial,start] [--poll MS]

Prints, each with the load average beside it:
  peers     N v23py daemons in one syncgroup, one write on each: seconds from the last
            write until every daemon holds all N rows (seen by a Watch on each daemon,
            opened before the writes: its N-th row's arrival at the bench, resolution
            the bench's receipt; with --poll MS by scans of one daemon at a time, MS
            apart: late by up to MS and the scans after it), the daemons' CPU meanwhile, and
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


def stop_all(daemons):
    """Stop ``daemons``: ours all told first (signal_stop), so they stop side by side."""
    for d in daemons:
        if hasattr(d, "signal_stop"):
            d.signal_stop()
    for d in daemons:
        d.stop()


async def open_watches(reactor, ctx, dbs, cols, n, prefix="conv"):
    """A Watch of the rows ``<prefix>...`` on each daemon, opened now: [(rows seen,
    Deferred firing with the time its n-th row arrived), ...] and the function that
    ends them."""
    from twisted.internet import defer
    from sync_bench import open_watch
    out, cancels = [], []

    async def seen(it, keys):
        while len(keys) < n:
            keys.add((await it.__anext__()).row)
        return time.perf_counter()
    for db, c in zip(dbs, cols):
        it, cancel = await open_watch(ctx, db, c, prefix)
        cancels.append(cancel)
        keys = set()
        d = defer.ensureDeferred(seen(it, keys))
        d.addErrback(lambda f: None)       # (a watch cancelled before its n rows)
        out.append((keys, d))
    # (every stream under way, idle, before the writes: none is slowed by its start)
    await sleep(reactor, 0.5)
    return out, lambda: [c() for c in cancels]


async def watched(reactor, watches, n, t, max_wait):
    """Convergence seen by the watches: (seconds from ``t`` until the last daemon's n-th
    row arrived, None, (the first daemon's, the median's)); or, after ``max_wait``,
    (seconds waited, the rows each daemon holds, None)."""
    from twisted.internet import defer
    timeout = defer.Deferred()
    call = reactor.callLater(max_wait, timeout.callback, None)
    all_in = defer.gatherResults([d for _, d in watches])
    await defer.DeferredList([all_in, timeout], fireOnOneCallback=True)
    if not all_in.called or None in all_in.result:
        return time.perf_counter() - t, [len(keys) for keys, _ in watches], None
    call.cancel()
    times = sorted(x - t for x in all_in.result)
    return times[-1], None, (times[0], times[len(times) // 2])


async def polled(reactor, ctx, cols, n, t, max_wait, step):
    """Convergence seen by scans of one daemon at a time, each scanned again ``step``
    seconds later until it holds all n rows (the bench's method before the watches)."""
    from v23py import syncbase
    pending = list(cols)
    while pending and time.perf_counter() - t < max_wait:
        c = pending[0]
        got = [k async for k, _ in c.scan(ctx, syncbase.Prefix("conv"))]
        if len(got) == n:
            pending.pop(0)
        else:
            await sleep(reactor, step)
    el = time.perf_counter() - t
    if pending:
        return el, [len([k async for k, _ in c.scan(ctx, syncbase.Prefix("conv"))])
                    for c in cols], None
    return el, None, None


async def peers_bench(reactor, ctx, kind, start_all, sizes, mount_tables=(), max_wait=300.0,
                      poll=None):
    """``start_all(n, daemons)`` appends n daemons (``.proc``, ``.endpoint``,
    ``.stop()``) to ``daemons`` as it makes them, before each start, and returns once all
    are started: whatever happens, every one made is stopped here.  A size that has not
    converged ``max_wait`` seconds after the last write is reported with the rows each
    daemon holds, and the next size runs.  Convergence is seen by a Watch on each daemon
    opened before the writes (each row reported as the daemon commits it), or with
    ``poll`` by scanning one daemon at a time every ``poll`` seconds until it holds all
    rows (the bench's method before session 17: its figure is late by up to ``poll``
    plus the scans of the daemons after the last to converge)."""
    from twisted.internet import defer
    from sync_bench import setup
    points, cpu_points = [], []
    for n in sizes:
        daemons = []
        end_watches = None
        try:
            t0 = time.perf_counter()
            await start_all(n, daemons)
            started = time.perf_counter() - t0
            a = daemons[0]
            dbs_cols = [await setup(ctx, a, None, "conv", mount_tables=mount_tables)]
            for d in daemons[1:]:
                dbs_cols.append(await setup(ctx, d, a, "conv", mount_tables=mount_tables))
            cols = [c for _, c in dbs_cols]
            joined = time.perf_counter() - t0 - started
            # the idle cost of the syncgroup: every daemon's pull loop, nothing to sync
            await sleep(reactor, 2.0)
            cpu0, t = sum(cpu_s(d.proc.pid) for d in daemons), time.perf_counter()
            await sleep(reactor, 3.0)
            cpu1, el = sum(cpu_s(d.proc.pid) for d in daemons), time.perf_counter() - t
            idle = (cpu1 - cpu0) / el
            watches = end_watches = None
            if poll is None:
                watches, end_watches = await open_watches(
                    reactor, ctx, [db for db, _ in dbs_cols], cols, n)
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
            if watches is not None:
                el, held, spread = await watched(reactor, watches, n, t, max_wait)
            else:
                el, held, spread = await polled(reactor, ctx, cols, n, t, max_wait, poll)
            if held is not None:
                print(f"peers    {n:4d} {kind:5s} daemons NOT converged {el:.0f} s after the "
                      f"last write: rows held by each daemon {held} (of {n}); started in "
                      f"{started:.0f} s, joined in {joined:.0f} s; {load()})", flush=True)
                continue
            cpus = [cpu_s(d.proc.pid) - c0 for d, c0 in zip(daemons, cpus0)]
            cpu = sum(cpus)
            if counted is not None:
                after = await sync_counters(ctx, daemons)
                counted = ", ".join(f"{k} {after[k] - counted[k]}" for k in SYNC_COUNTERS)
                counted = f" ({counted} meanwhile, all daemons)"
            seen = (f"seen by a Watch on each daemon: first {spread[0]:.3f} s, median "
                    f"{spread[1]:.3f} s"
                    if spread else f"polled every {poll * 1e3:.0f} ms, one daemon at a time")
            print(f"peers    {n:4d} {kind:5s} daemons converged {el:7.3f} s after the last write "
                  f"({seen}; daemons' CPU meanwhile {cpu:.2f} s, the busiest's {max(cpus):.2f} s; "
                  f"idle, all daemons: {idle:.2f} "
                  f"CPU s/s; started in {started:.0f} s, joined in {joined:.0f} s; {load()})"
                  f"{counted or ''}", flush=True)
            points.append((n, el))
            cpu_points.append((n, cpu))
        finally:
            if end_watches is not None:
                end_watches()
            stop_all(daemons)
    growth(f"{kind} convergence time with peers", points)
    growth(f"{kind} daemons' CPU meanwhile with peers", cpu_points)


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
        poll = None if args.poll is None else args.poll / 1e3
        if "peers" in only:
            from twisted.internet import defer

            def ours_all(n, daemons):
                sem = defer.DeferredSemaphore(2)
                daemons.extend(Daemon(creds) for _ in range(n))
                return defer.gatherResults([sem.run(d.start) for d in daemons],
                                           consumeErrors=True)
            await peers_bench(reactor, ctx, "v23py", ours_all, peer_sizes,
                              max_wait=args.max_wait, poll=poll)
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
                              max_wait=args.max_wait, poll=poll)
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
    ap.add_argument("--poll", type=float, metavar="MS", default=None,
                    help="peers: see convergence by scanning one daemon at a time every MS "
                         "ms until it holds all rows (the method before session 17, with 50), "
                         "instead of by a Watch on every daemon")
    args = ap.parse_args()
    task.react(lambda r: defer.ensureDeferred(run(r, args)))


if __name__ == "__main__":
    main()
