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


async def run(reactor, args):
    import v23py
    from twisted.internet import defer
    from v23py import syncbase, verror
    from tests._syncbase_support import make_creds, Daemon

    def sleep(s):
        d = defer.Deferred()
        reactor.callLater(s, d.callback, None)
        return d

    tmp = tempfile.mkdtemp(prefix="syncbench-")
    creds = make_creds(os.path.join(tmp, "alice"), ALICE)
    ctx, shutdown = v23py.init([f"--v23.credentials={creds}"], reactor=reactor)
    daemons = []
    try:
        a, b = Daemon(creds).start(), Daemon(creds).start()
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
        print(f"propagation  median {lat[len(lat) // 2] * 1000:8.1f} ms   "
              f"p99 {lat[int(len(lat) * 0.99) - 1] * 1000:8.1f} ms   ({len(lat)} puts)",
              flush=True)

        t = time.perf_counter()
        step = 2000
        for start in range(0, args.bulk, step):
            bt = await dba.BeginBatch(ctx)
            c = bt.CollectionForId(ca.Id())
            sem = defer.DeferredSemaphore(32)
            await defer.gatherResults([sem.run(c.Put, ctx, "b%07d" % i, "x" * 50)
                                       for i in range(start, min(args.bulk, start + step))])
            await bt.Commit(ctx)
        written = time.perf_counter()
        last = "b%07d" % (args.bulk - 1)
        while True:
            try:
                await cb.Get(ctx, last)
                break
            except verror.VError:
                await sleep(0.05)
        n = sum([1 async for _ in cb.Scan(ctx, syncbase.Prefix("b"))])
        el = time.perf_counter() - t
        print(f"bulk         {args.bulk / el:10,.0f} rows/s   ({n} rows on B, "
              f"write {written - t:.1f}s, total {el:.1f}s; after the writes "
              f"{args.bulk / max(el - (written - t), 1e-9):,.0f} rows/s)", flush=True)

        # Sync alone: B's database is paused while the rows are written on A, then
        # resumed; rows/s from the resume until the last row is readable on B.
        await dbb.PauseSync(ctx)
        t = time.perf_counter()
        for start in range(0, args.bulk, step):
            bt = await dba.BeginBatch(ctx)
            c = bt.CollectionForId(ca.Id())
            sem = defer.DeferredSemaphore(32)
            await defer.gatherResults([sem.run(c.Put, ctx, "s%07d" % i, "x" * 50)
                                       for i in range(start, min(args.bulk, start + step))])
            await bt.Commit(ctx)
        written = time.perf_counter()
        await dbb.ResumeSync(ctx)
        last = "s%07d" % (args.bulk - 1)
        while True:
            try:
                await cb.Get(ctx, last)
                break
            except verror.VError:
                await sleep(0.05)
        el = time.perf_counter() - written
        n = sum([1 async for _ in cb.Scan(ctx, syncbase.Prefix("s"))])
        print(f"bulk sync    {args.bulk / el:10,.0f} rows/s   ({n} rows on B, written on A "
              f"beforehand in {written - t:.1f}s while B was paused; sync {el:.1f}s)",
              flush=True)

        peers = [a] + [Daemon(creds).start() for _ in range(args.peers - 1)]
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
    args = ap.parse_args()
    task.react(lambda r: defer.ensureDeferred(run(r, args)))


if __name__ == "__main__":
    main()
