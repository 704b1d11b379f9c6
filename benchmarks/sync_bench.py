"""Sync benchmarks with real syncbased daemons on this machine.

    python benchmarks/sync_bench.py [--puts 200] [--bulk 100000] [--peers 10]

Prints:
  propagation   median and p99 latency from a Put on A until a Get on B sees it
  bulk          rows/s for --bulk rows written on A (in batches) until all are on B
  bulk sync     rows/s for --bulk rows written on A while B is paused, from ResumeSync
                on B until all are on B (sync alone, without the writes' RPC cost)
  convergence   seconds from the last write (one per peer) until --peers peers agree

Targets (issue 7): median propagation <= 100 ms, bulk >= 5,000 rows/s,
10 peers converged within 5 s of the last write.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

ALICE = "idp:o:fortune:alice"


async def setup(ctx, d, admin=None, dbname="db"):
    from v23py import syncbase
    db = syncbase.NewService(d.endpoint).Database(ctx, dbname, None)
    await db.Create(ctx, None)
    c = db.Collection(ctx, "c")
    await c.Create(ctx, None)
    sg = db.Syncgroup(ctx, "sg")
    info = syncbase.SyncgroupMemberInfo(SyncPriority=10)
    if admin is None:
        spec = syncbase.SyncgroupSpec(Perms=syncbase.perms_for(ALICE, ["Admin", "Read"]),
                                      Collections=[c.Id()])
        await sg.Create(ctx, spec, info)
    else:
        await sg.Join(ctx, admin.endpoint, None, info)
    return db, c


def _cpu(d):
    """User+system CPU seconds of a daemon process so far."""
    with open(f"/proc/{d.proc.pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


def _us(c0, c1, n):
    return f"{1e6 * (c1 - c0) / n:.0f} us"


async def write_rows(ctx, db, cx, prefix, total, batch, writers):
    """``total`` rows ``<prefix><i>`` written by ``writers`` concurrent clients, each
    committing batches of ``batch`` puts (pipelined 8 deep within a batch)."""
    from twisted.internet import defer
    from v23py import verror
    from v23py.v23.services import syncbase as sbwire
    starts = list(range(0, total, batch))

    async def writer():
        while starts:
            start = starts.pop(0)
            for attempt in range(3):      # as Go's RunInBatch: retry a ConcurrentBatch
                bt = await db.BeginBatch(ctx)
                c = bt.CollectionForId(cx.Id())
                sem = defer.DeferredSemaphore(8)
                await defer.gatherResults([sem.run(c.Put, ctx, "%s%07d" % (prefix, i), "x" * 50)
                                           for i in range(start, min(total, start + batch))])
                try:
                    await bt.Commit(ctx)
                    break
                except verror.VError as e:
                    if e.id != sbwire.ErrConcurrentBatch.id or attempt == 2:
                        raise
    await defer.gatherResults([defer.ensureDeferred(writer()) for _ in range(writers)])


async def wait_row(cx, ctx, key, sleep):
    from v23py import verror
    while True:
        try:
            await cx.Get(ctx, key)
            return
        except verror.VError:
            await sleep(0.02)


async def run(reactor, args):
    import v23py
    from twisted.internet import defer
    from v23py import syncbase, verror
    from v23py.testing.syncbase import make_creds, Daemon

    def sleep(s):
        d = defer.Deferred()
        reactor.callLater(s, d.callback, None)
        return d

    tmp = tempfile.mkdtemp(prefix="syncbench-")
    creds = make_creds(os.path.join(tmp, "alice"), ALICE)
    ctx, shutdown = v23py.init([f"--v23.credentials={creds}"], reactor=reactor)
    daemons = []
    try:
        a, b = await Daemon(creds).start(), await Daemon(creds).start()
        daemons += [a, b]
        dba, ca = await setup(ctx, a)
        dbb, cb = await setup(ctx, b, a)
        lat = []
        for i in range(args.puts):
            t = time.perf_counter()
            await ca.Put(ctx, f"p{i}", i)
            while True:
                try:
                    await cb.Get(ctx, f"p{i}")
                    break
                except verror.VError:
                    await sleep(0.002)
            lat.append(time.perf_counter() - t)
        lat.sort()
        if lat:
            print(f"propagation  median {lat[len(lat) // 2] * 1000:8.1f} ms   "
                  f"p99 {lat[max(0, int(len(lat) * 0.99) - 1)] * 1000:8.1f} ms   "
                  f"({len(lat)} puts)", flush=True)

        if args.bulk:
            # End to end: 16 concurrent writers (an app's clients), each committing
            # batches of --batch puts on A, until every row is readable on B.
            c0 = (_cpu(a), _cpu(b))
            t = time.perf_counter()
            await write_rows(ctx, dba, ca, "b", args.bulk, args.batch, args.writers)
            written = time.perf_counter()
            await wait_row(cb, ctx, "b%07d" % (args.bulk - 1), sleep)
            el = time.perf_counter() - t
            c1 = (_cpu(a), _cpu(b))
            n = sum([1 async for _ in cb.Scan(ctx, syncbase.Prefix("b"))])
            print(f"bulk         {args.bulk / el:10,.0f} rows/s   ({n} rows on B; writes "
                  f"{args.bulk / (written - t):,.0f} rows/s in {written - t:.1f}s, all on B "
                  f"after {el:.1f}s; CPU/row A {_us(c0[0], c1[0], args.bulk)}, "
                  f"B {_us(c0[1], c1[1], args.bulk)})", flush=True)

            # Sync alone: B's database is paused while the rows are written on A, then
            # resumed; rows/s from the resume until the last row is readable on B.
            await dbb.PauseSync(ctx)
            t = time.perf_counter()
            await write_rows(ctx, dba, ca, "s", args.bulk, args.batch, args.writers)
            written = time.perf_counter()
            c0 = (_cpu(a), _cpu(b))
            await dbb.ResumeSync(ctx)
            await wait_row(cb, ctx, "s%07d" % (args.bulk - 1), sleep)
            el = time.perf_counter() - written
            c1 = (_cpu(a), _cpu(b))
            n = sum([1 async for _ in cb.Scan(ctx, syncbase.Prefix("s"))])
            print(f"bulk sync    {args.bulk / el:10,.0f} rows/s   ({n} rows on B, written on A "
                  f"beforehand in {written - t:.1f}s while B was paused; sync {el:.1f}s; "
                  f"CPU/row A {_us(c0[0], c1[0], args.bulk)}, B {_us(c0[1], c1[1], args.bulk)})",
                  flush=True)

        if args.peers < 2:
            return
        peers = [a] + [await Daemon(creds).start() for _ in range(args.peers - 1)]
        daemons += peers[1:]
        cols = [(await setup(ctx, a, None, "conv"))[1]]
        for d in peers[1:]:
            cols.append((await setup(ctx, d, a, "conv"))[1])
        await defer.gatherResults([c.Put(ctx, f"conv{i}", i) for i, c in enumerate(cols)])
        t = time.perf_counter()
        while True:
            ok = True
            for c in cols:
                got = [k async for k, _ in c.Scan(ctx, syncbase.Prefix("conv"))]
                if len(got) != len(cols):
                    ok = False
                    break
            if ok:
                break
            await sleep(0.05)
        print(f"convergence  {time.perf_counter() - t:8.2f} s for {len(cols)} peers", flush=True)
    finally:
        for d in daemons:
            d.stop()
        await shutdown()


def main():
    from twisted.internet import task, defer
    ap = argparse.ArgumentParser()
    ap.add_argument("--puts", type=int, default=200)
    ap.add_argument("--bulk", type=int, default=100000)
    ap.add_argument("--peers", type=int, default=10)
    ap.add_argument("--batch", type=int, default=500, help="puts per batch (bulk writers)")
    ap.add_argument("--writers", type=int, default=16, help="concurrent writing clients")
    args = ap.parse_args()
    task.react(lambda r: defer.ensureDeferred(run(r, args)))


if __name__ == "__main__":
    main()
