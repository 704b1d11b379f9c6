"""Syncbase benchmarks: the store directly, and syncbased through RPC.

    python benchmarks/syncbase_bench.py [--seconds 3] [--scan-rows 100000] [--engine sqlite]
                                        [--procs 1]

Prints one line per measurement:
  store  put/s (durable, one flush per put), put/s (16 writers, group commit through the
         store thread), get/s, scan rows/s
  rpc    put/s and get/s with 1 and 16 concurrent clients, Scan rows/s

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
            from syncbased.service import row_key
            for i in range(start, min(rows, start + batch)):
                tx.put(row_key(cx.id, "s%07d" % i), value)
        d.st.run_in_transaction(fn)
        d.st.flush()


def report(where, what, rate):
    print(f"{where:6s} {what:44s} {rate:12,.0f}", flush=True)


# --- RPC --------------------------------------------------------------------

def rpc_client(args):
    """Child process: run one RPC measurement, print a JSON result."""
    from twisted.internet import task, defer

    async def run(reactor):
        import v23py
        from v23py import syncbase
        ctx, shutdown = v23py.init([f"--v23.credentials={args.creds}"], reactor=reactor)
        sb = syncbase.NewService(args.endpoint)
        db = sb.DatabaseForId(("idp:o:fortune", "db"))
        cx = db.CollectionForId((ALICE, "c"))
        value = "x" * 100
        out = {}
        if args.op == "put":
            n = [0]
            end = time.perf_counter() + args.seconds

            async def w(i):
                k = 0
                while time.perf_counter() < end:
                    await cx.Put(ctx, f"{args.tag}-{i}-{k}", value)
                    k += 1
                    n[0] += 1
            t = time.perf_counter()
            await defer.gatherResults([defer.ensureDeferred(w(i)) for i in range(args.conc)])
            out["rate"] = n[0] / (time.perf_counter() - t)
        elif args.op == "get":
            n = [0]
            end = time.perf_counter() + args.seconds

            async def r(i):
                k = 0
                while time.perf_counter() < end:
                    await cx.Get(ctx, f"seed-{(i * 7 + k) % 100}")
                    k += 1
                    n[0] += 1
            t = time.perf_counter()
            await defer.gatherResults([defer.ensureDeferred(r(i)) for i in range(args.conc)])
            out["rate"] = n[0] / (time.perf_counter() - t)
        elif args.op == "scan":
            t = time.perf_counter()
            cnt = 0
            async for _ in cx.Scan(ctx, syncbase.Prefix("s")):
                cnt += 1
            out["rate"] = cnt / (time.perf_counter() - t)
            out["rows"] = cnt
        elif args.op == "setup":
            await db.Create(ctx, None)
            await cx.Create(ctx, None)
            for i in range(100):
                await cx.Put(ctx, f"seed-{i}", value)
        print(json.dumps(out), flush=True)
        await shutdown()
    task.react(lambda reactor: defer.ensureDeferred(run(reactor)))


def run_clients(args, endpoint, creds, op, conc, procs=1, tag="t"):
    cmd = [sys.executable, os.path.abspath(__file__), "--client", "--op", op,
           "--endpoint", endpoint, "--creds", creds, "--conc", str(conc),
           "--seconds", str(args.seconds), "--tag", tag]
    ps = [subprocess.Popen(cmd + ["--tag", f"{tag}{i}"], stdout=subprocess.PIPE, cwd=ROOT)
          for i in range(procs)]
    total, extra = 0.0, {}
    for p in ps:
        outp, _ = p.communicate(timeout=600)
        res = json.loads(outp.decode().strip().splitlines()[-1])
        total += res.get("rate", 0)
        extra.update({k: v for k, v in res.items() if k != "rate"})
    return total, extra


def rpc_bench(args):
    from tests._syncbase_support import make_creds, Daemon
    tmp = tempfile.mkdtemp(prefix="sbbench-")
    creds = make_creds(os.path.join(tmp, "alice"), ALICE)
    d = Daemon(creds, engine=args.engine).start()
    try:
        run_clients(args, d.endpoint, creds, "setup", 1)
        for conc in (1, 16):
            rate, _ = run_clients(args, d.endpoint, creds, "put", conc, args.procs, f"c{conc}")
            report("rpc", f"put/s ({conc} concurrent x {args.procs} procs)", rate)
            rate, _ = run_clients(args, d.endpoint, creds, "get", conc, args.procs)
            report("rpc", f"get/s ({conc} concurrent x {args.procs} procs)", rate)
        # Fill rows for the scan directly through a second daemon-less path is not
        # possible while the daemon holds the root; fill through RPC batches instead.
        fill_rpc(d.endpoint, creds, args.scan_rows)
        rate, extra = run_clients(args, d.endpoint, creds, "scan", 1)
        report("rpc", f"Scan rows/s ({extra.get('rows')} rows)", rate)
    finally:
        d.stop()


def fill_rpc(endpoint, creds, rows):
    code = f"""
import sys; sys.path.insert(0, {ROOT!r})
from twisted.internet import task, defer
async def run(reactor):
    import v23py
    from v23py import syncbase
    ctx, shutdown = v23py.init(["--v23.credentials={creds}"], reactor=reactor)
    db = syncbase.NewService({endpoint!r}).DatabaseForId(("idp:o:fortune", "db"))
    value = "x" * 100
    step = 2000
    for start in range(0, {rows}, step):
        b = await db.BeginBatch(ctx)
        c = b.CollectionForId(({ALICE!r}, "c"))
        await defer.gatherResults([defer.ensureDeferred(c.Put(ctx, "s%07d" % i, value))
                                   for i in range(start, min({rows}, start + step))])
        await b.Commit(ctx)
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
    ap.add_argument("--only", choices=["store", "rpc"], default=None)
    ap.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--op", help=argparse.SUPPRESS)
    ap.add_argument("--endpoint", help=argparse.SUPPRESS)
    ap.add_argument("--creds", help=argparse.SUPPRESS)
    ap.add_argument("--conc", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--tag", default="t", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.client:
        return rpc_client(args)
    if args.only in (None, "store"):
        store_bench(args)
    if args.only in (None, "rpc"):
        rpc_bench(args)


if __name__ == "__main__":
    main()
