"""Sync benchmarks with real syncbased daemons on this machine.

    python benchmarks/sync_bench.py [--puts 200] [--bulk 100000] [--peers 10]
                                    [--go .gopeers/go-syncbase/bin]

For a pair of daemons A and B in one syncgroup (ours, and with --go Go's own 2017
syncbased in the same run, same client and workload), prints:
  propagation   median and p90 latency from a Put on A until a Get on B sees it (B
                polled every 2 ms), and apart until a Watch opened on B before the Put
                reports it (nothing polls B then: the polled figure includes serving the
                polls, which on 2 cores competes with the sync itself)
  bulk          rows/s for --bulk rows written on A by --writers clients (each row batch
                one PutRows: one call on ours, BeginBatch + Puts + Commit on Go's) until
                all are on B: written by clients while syncing, end to end
  bulk sync     rows/s for --bulk rows written on A while B is paused, from ResumeSync
                on B until all are on B (sync alone, without the writes' RPC cost)
then, ours only, convergence: seconds from the last write (one per peer) until --peers
peers agree.  Ours pull every 50 ms and between each other also on a write's hint
(syncbased/vsync/hints.py); Go's pull on their own schedule.  Go's daemons find each
other through a Go mounttabled named in the syncgroup spec.

Targets (issue 19): propagation <= 10 ms median between v23py peers, bulk sync >= 20,000
rows/s, written-while-syncing >= 10,000 rows/s, 10 peers converged within 5 s.
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


async def setup(ctx, d, admin=None, dbname="db", mount_tables=()):
    from v23py import syncbase
    db = syncbase.new_service(d.endpoint).database(ctx, dbname, None)
    await db.create(ctx, None)
    c = db.collection(ctx, "c")
    await c.create(ctx, None)
    sg = db.Syncgroup(ctx, "sg")
    info = syncbase.SyncgroupMemberInfo(SyncPriority=10)
    if admin is None:
        spec = syncbase.SyncgroupSpec(Perms=syncbase.perms_for(ALICE, ["Admin", "Read"]),
                                      Collections=[c.id()], MountTables=list(mount_tables))
        await sg.create(ctx, spec, info)
    else:
        await sg.join(ctx, admin.endpoint, None, info)
    return db, c


def _cpu(d):
    """User+system CPU seconds of a daemon process so far."""
    with open(f"/proc/{d.proc.pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


def _switches(d):
    """Context switches of all a daemon's threads so far (each thread hand-off and each
    wait for input is one)."""
    import glob
    n = 0
    for path in glob.glob(f"/proc/{d.proc.pid}/task/*/status"):
        try:
            with open(path) as f:
                n += sum(int(line.split()[1]) for line in f
                         if line.startswith(("voluntary_ctxt", "nonvoluntary_ctxt")))
        except OSError:
            pass
    return n


def _us(c0, c1, n):
    return f"{1e6 * (c1 - c0) / n:.0f} us"


async def write_rows(ctx, db, cx, prefix, total, batch, writers):
    """``total`` rows ``<prefix><i>`` written by ``writers`` concurrent clients, each row
    batch of ``batch`` one ``PutRows`` (one call on ours; Go's daemon has no such call,
    so there a batch of pipelined Puts, retried on ConcurrentBatch as Go's RunInBatch)."""
    from twisted.internet import defer
    from v23py import verror
    from v23py.v23.services import syncbase as sbwire
    starts = list(range(0, total, batch))

    async def writer():
        while starts:
            start = starts.pop(0)
            rows = [("%s%07d" % (prefix, i), "x" * 50)
                    for i in range(start, min(total, start + batch))]
            for attempt in range(5):
                try:
                    await cx.put_rows(ctx, rows)
                    break
                except verror.VError as e:
                    if e.id != sbwire.ErrConcurrentBatch.id or attempt == 4:
                        raise
    await defer.gatherResults([defer.ensureDeferred(writer()) for _ in range(writers)])


async def wait_row(cx, ctx, key, sleep):
    from v23py import verror
    while True:
        try:
            await cx.get(ctx, key)
            return
        except verror.VError:
            await sleep(0.02)


def sleep_(reactor, s):
    from twisted.internet import defer
    d = defer.Deferred()
    reactor.callLater(s, d.callback, None)
    return d


async def open_watch(ctx, dbb, cb, prefix):
    """B's changes to the rows ``<prefix>...`` of ``cb`` from now on, as an async iterator,
    and the function that ends the watch."""
    from v23py import syncbase
    cid = cb.id()
    rm = await dbb.get_resume_marker(ctx)
    wctx, cancel = ctx.with_cancel()
    it = dbb.watch(wctx, rm, [syncbase.CollectionRowPattern(cid.Blessing, cid.Name,
                                                            prefix + "%")]).__aiter__()
    return it, cancel


async def put_watched(ctx, ca, it, key, value):
    """One propagation A -> B: a Put on A, until B's watch ``it`` reports its row."""
    await ca.put(ctx, key, value)
    while (await it.__anext__()).row != key:
        pass


async def watched_propagation(ctx, args, kind, a, b, dbb, ca, cb, out):
    """Propagation A -> B seen by a Watch on B opened before the Puts: from a Put's call
    on A to its change arriving on B's stream, one Put at a time."""
    it, cancel = await open_watch(ctx, dbb, cb, "w")   # (ended with this measure)
    lat = []
    p0 = (_cpu(a), _cpu(b))
    for i in range(args.puts):
        t = time.perf_counter()
        await put_watched(ctx, ca, it, f"w{i}", i)
        lat.append(time.perf_counter() - t)
    p1 = (_cpu(a), _cpu(b))
    cancel()
    lat.sort()
    n = len(lat)
    if n:
        med, p90 = lat[n // 2] * 1000, lat[int(n * 0.9)] * 1000
        out["propagation A -> B, watched on B, median ms"] = med
        out["propagation A -> B, watched on B, p90 ms"] = p90
        print(f"{kind:6s} propagation, watched on B: median {med:6.1f} ms   p90 {p90:8.1f} ms"
              f"   ({n} puts; CPU per propagation A {_us(p0[0], p1[0], n)}, "
              f"B {_us(p0[1], p1[1], n)})", flush=True)


async def pair_bench(reactor, ctx, args, kind, make, mount_tables=()):
    """Propagation and bulk figures for a pair of ``make()`` daemons: {measure: value}."""
    from v23py import syncbase, verror

    def sleep(s):
        return sleep_(reactor, s)

    out = {}
    a = b = None
    try:
        a, b = make(), make()
        dba, ca = await setup(ctx, a, mount_tables=mount_tables)
        dbb, cb = await setup(ctx, b, a, mount_tables=mount_tables)
        await ca.put(ctx, "ready", 0)       # the pair syncs before anything is timed
        await wait_row(cb, ctx, "ready", sleep)
        lat, put_lat = [], []
        p0 = (_cpu(a), _cpu(b), _switches(a), _switches(b))
        for i in range(args.puts):
            t = time.perf_counter()
            await ca.put(ctx, f"p{i}", i)
            put_lat.append(time.perf_counter() - t)
            while True:
                try:
                    await cb.get(ctx, f"p{i}")
                    break
                except verror.VError:
                    await sleep(0.002)
            lat.append(time.perf_counter() - t)
        p1 = (_cpu(a), _cpu(b), _switches(a), _switches(b))
        lat.sort()
        if lat:
            out["propagation A -> B, median ms"] = lat[len(lat) // 2] * 1000
            out["propagation A -> B, p90 ms"] = lat[int(len(lat) * 0.9)] * 1000
            put_lat.sort()
            out["  (of which the Put on A, median ms)"] = put_lat[len(put_lat) // 2] * 1000
            print(f"{kind:6s} propagation  median {lat[len(lat) // 2] * 1000:8.1f} ms   "
                  f"p90 {lat[int(len(lat) * 0.9)] * 1000:8.1f} ms   ({len(lat)} puts; the Put "
                  f"on A alone, median {put_lat[len(put_lat) // 2] * 1000:.1f} ms)",
                  flush=True)
            n = len(lat)
            print(f"{kind:6s}   per propagation (with B's polling): CPU A "
                  f"{_us(p0[0], p1[0], n)}, B {_us(p0[1], p1[1], n)}; context switches "
                  f"A {(p1[2] - p0[2]) / n:.1f}, B {(p1[3] - p0[3]) / n:.1f}", flush=True)
            await watched_propagation(ctx, args, kind, a, b, dbb, ca, cb, out)

        if args.bulk:
            # End to end: --writers clients writing row batches on A until every row is
            # readable on B.
            c0 = (_cpu(a), _cpu(b))
            t = time.perf_counter()
            await write_rows(ctx, dba, ca, "b", args.bulk, args.batch, args.writers)
            written = time.perf_counter()
            await wait_row(cb, ctx, "b%07d" % (args.bulk - 1), sleep)
            el = time.perf_counter() - t
            c1 = (_cpu(a), _cpu(b))
            n = sum([1 async for _ in cb.scan(ctx, syncbase.Prefix("b"))])
            out["written by clients while syncing, rows/s"] = args.bulk / el
            out["  (the writes alone, rows/s)"] = args.bulk / (written - t)
            print(f"{kind:6s} bulk         {args.bulk / el:10,.0f} rows/s   ({n} rows on B; "
                  f"writes {args.bulk / (written - t):,.0f} rows/s in {written - t:.1f}s, all "
                  f"on B after {el:.1f}s; CPU/row A {_us(c0[0], c1[0], args.bulk)}, "
                  f"B {_us(c0[1], c1[1], args.bulk)})", flush=True)

            # Sync alone: B's database is paused while the rows are written on A, then
            # resumed; rows/s from the resume until the last row is readable on B.
            await dbb.pause_sync(ctx)
            t = time.perf_counter()
            await write_rows(ctx, dba, ca, "s", args.bulk, args.batch, args.writers)
            written = time.perf_counter()
            c0 = (_cpu(a), _cpu(b))
            await dbb.resume_sync(ctx)
            await wait_row(cb, ctx, "s%07d" % (args.bulk - 1), sleep)
            el = time.perf_counter() - written
            c1 = (_cpu(a), _cpu(b))
            n = sum([1 async for _ in cb.scan(ctx, syncbase.Prefix("s"))])
            out[f"bulk sync of {args.bulk:,} rows, rows/s"] = args.bulk / el
            print(f"{kind:6s} bulk sync    {args.bulk / el:10,.0f} rows/s   ({n} rows on B, "
                  f"written on A beforehand in {written - t:.1f}s while B was paused; sync "
                  f"{el:.1f}s; CPU/row A {_us(c0[0], c1[0], args.bulk)}, "
                  f"B {_us(c0[1], c1[1], args.bulk)})", flush=True)
    finally:
        for d in (a, b):
            if d is not None:
                d.stop()
    return out


async def converge_bench(reactor, ctx, args, creds):
    from twisted.internet import defer
    from v23py import syncbase
    from v23py.testing.syncbase import Daemon
    peers = []
    try:
        sem = defer.DeferredSemaphore(2)
        peers = await defer.gatherResults([sem.run(Daemon(creds).start)
                                           for _ in range(args.peers)])
        a = peers[0]
        cols = [(await setup(ctx, a, None, "conv"))[1]]
        for d in peers[1:]:
            cols.append((await setup(ctx, d, a, "conv"))[1])
        await defer.gatherResults([c.put(ctx, f"conv{i}", i) for i, c in enumerate(cols)])
        t = time.perf_counter()
        while True:
            ok = True
            for c in cols:
                got = [k async for k, _ in c.scan(ctx, syncbase.Prefix("conv"))]
                if len(got) != len(cols):
                    ok = False
                    break
            if ok:
                break
            await sleep_(reactor, 0.05)
        el = time.perf_counter() - t
        print(f"v23py  convergence  {el:8.2f} s for {len(cols)} peers", flush=True)
        return el
    finally:
        for d in peers:
            d.stop()


async def run(reactor, args):
    import v23py
    from v23py.testing.syncbase import make_creds, Daemon

    tmp = tempfile.mkdtemp(prefix="syncbench-")
    creds = make_creds(os.path.join(tmp, "alice"), ALICE)
    ctx, shutdown = v23py.init([f"--v23.credentials={creds}"], reactor=reactor)
    go_mt = None
    print(f"load average at start: {os.getloadavg()[0]:.1f}", flush=True)
    try:
        ours_bulk = args.bulk
        table = {"v23py": await pair_bench(reactor, ctx, args, "v23py",
                                           lambda: Daemon(creds).start_blocking())
                 if not args.go_only else {}}
        if args.go:
            from syncbase_bench import go_syncbased
            from v23py.testing.syncbase import GoMountTable
            go_mt = GoMountTable(creds).start_blocking()
            mt = go_mt.name
            # (Go's daemon drops a connection flooded with Puts: --go-writers batches
            # of --go-pipeline Puts in flight)
            args.writers = args.go_writers
            from v23py.syncbase import collection as clientcx
            clientcx.PIPELINE = args.go_pipeline
            if args.go_bulk is not None:
                # (Go's daemon takes rows as Puts only, ~1,000/s here: a smaller count)
                args.bulk = args.go_bulk
            table["Go"] = await pair_bench(
                reactor, ctx, args, "Go",
                lambda: go_syncbased(args.go, creds, mount_table=mt).start_blocking(),
                mount_tables=[mt])
            print(f"\nSame client (ours), same workload, each pair in turn "
                  f"(load average now {os.getloadavg()[0]:.1f})")
            print(f"  {'measure':<46}{'v23py':>12}{'Go':>12}")
            for m in table["v23py"] or table["Go"]:
                v = table["v23py"].get(m)
                g = table["Go"].get(m, table["Go"].get(m.replace(f"{ours_bulk:,}", f"{args.bulk:,}")))
                fmt = (lambda x: f"{x:12,.0f}" if x >= 100 else f"{x:12.1f}")
                print(f"  {m:<46}{fmt(v) if v is not None else '-':>12}"
                      f"{fmt(g) if g is not None else '-':>12}")
        if args.peers >= 2 and not args.go_only:
            await converge_bench(reactor, ctx, args, creds)
    finally:
        if go_mt is not None:
            go_mt.stop()
        await shutdown()


def main():
    from twisted.internet import task, defer
    ap = argparse.ArgumentParser()
    ap.add_argument("--puts", type=int, default=200)
    ap.add_argument("--bulk", type=int, default=100000)
    ap.add_argument("--peers", type=int, default=10)
    ap.add_argument("--batch", type=int, default=500, help="puts per batch (bulk writers)")
    ap.add_argument("--writers", type=int, default=4, help="concurrent writing clients")
    ap.add_argument("--go-writers", type=int, default=1,
                    help="--writers for Go's pair (each keeps 100 Puts in flight)")
    ap.add_argument("--go-only", action="store_true", help="only Go's pair")
    ap.add_argument("--go-pipeline", type=int, default=20,
                    help="Puts in flight per writer on Go's daemon (more made it drop the "
                         "connection as unresponsive under load)")
    ap.add_argument("--go-bulk", type=int, default=None,
                    help="--bulk for Go's pair (default: the same)")
    ap.add_argument("--go", metavar="DIR", default=None,
                    help="also run the pair figures with Go's syncbased in DIR "
                         "(.gopeers/go-syncbase/bin), printed beside ours")
    args = ap.parse_args()
    task.react(lambda r: defer.ensureDeferred(run(r, args)))


if __name__ == "__main__":
    main()
