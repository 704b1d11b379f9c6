"""syncQL benchmarks: the engine alone, the engine over the store, and Exec through RPC.

    python benchmarks/syncql_bench.py [--rows 100000] [--engine sqlite] [--only engine|store|rpc]

Rows are ``Person{Name string, Age int64, City string}`` values under keys
``p%07d``.  Prints, per query, rows scanned per second (wall clock), rows
returned, and CPU time per scanned row (this process; for RPC also the daemon).
Queries:
  filtered  select k, v.Name from People where v.Age >= 90        (~10% returned)
  all       select k, v from People                                (every row returned)
  keyonly   select k from People where k < "p0050000"              (key range, no decode)
  prefix    select k, v.Name from People where k like "p00123%"    (100 rows: a key range)
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

ALICE = "idp:o:app:alice"
QUERIES = [
    ("filtered", "select k, v.Name from People where v.Age >= 90"),
    ("all", "select k, v from People"),
    ("keyonly", 'select k from People where k < "p0050000"'),
    ("prefix", 'select k, v.Name from People where k like "p00123%"'),
]


def person_type():
    from v23py import vdl
    return vdl.struct("v23py/bench.Person", [("Name", vdl.StringType), ("Age", vdl.Int64Type),
                                             ("City", vdl.StringType)])


def rows(n):
    from v23py import vdl, vom
    P = vdl.class_for(person_type())
    cities = ["Palo Alto", "Collins", "New London", "Zurich"]
    for i in range(n):
        yield "p%07d" % i, vom.encode(P(Name="name%d" % i, Age=i % 100, City=cities[i % 4]))


def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def proc_cpu(pid):
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


def report(where, name, scanned, returned, wall, cpu_s, extra=""):
    print(f"{where:6s} {name:9s} {scanned / wall:10,.0f} rows/s scanned  {returned:7d} returned"
          f"  {wall * 1e3:8.1f} ms  {cpu_s / max(scanned, 1) * 1e6:6.2f} us CPU/row{extra}",
          flush=True)


def engine_bench(args):
    from v23py.query import exec_query

    class Table:
        def __init__(self, data):
            self.keys = sorted(data)
            self.data = data

        def scan(self, ranges):
            import bisect
            for a, b in ranges:
                i = bisect.bisect_left(self.keys, a)
                while i < len(self.keys) and (not b or self.keys[i] < b):
                    k = self.keys[i]
                    yield k, self.data[k]
                    i += 1

    class DB:
        def __init__(self, t):
            self.t = t

        def get_table(self, name, write):
            return self.t
    db = DB(Table(dict(rows(args.rows))))
    for name, q in QUERIES:
        c0, t0 = cpu(), time.perf_counter()
        h, it = exec_query(db, q)
        n = sum(1 for _ in it)
        wall, c = time.perf_counter() - t0, cpu() - c0
        scanned = args.rows if name in ("filtered", "all") else \
            (50000 if name == "keyonly" else 100)
        report("engine", name, min(scanned, args.rows), n, wall, c)


def fill_store(root, engine, n):
    from v23py.syncbase.util import Id
    from syncbased import access
    from syncbased.service import Service
    from syncbased.common import row_key
    svc = Service(root, engine, default_patterns=[ALICE])
    names = [ALICE]
    db_id, cx_id = Id("idp:o:app", "db"), Id(ALICE, "People")
    svc.database(db_id).create(names, None,
                               access.perms_add({}, ALICE, *access.ALL_DATABASE_TAGS))
    cx = svc.database(db_id).collection(cx_id)
    cx.create(names, "", access.perms_add({}, ALICE, *access.ALL_COLLECTION_TAGS))
    st = svc.database(db_id).st
    batch = []
    for k, v in rows(n):
        batch.append((k, v))
        if len(batch) == 5000:
            st.run_in_transaction(lambda tx, b=batch: [tx.put(row_key(cx_id, k), v)
                                                       for k, v in b])
            st.flush()
            batch = []
    if batch:
        st.run_in_transaction(lambda tx, b=batch: [tx.put(row_key(cx_id, k), v) for k, v in b])
    svc.flush()
    return svc, db_id


def store_bench(args, root):
    from syncbased.query_exec import start_exec
    svc, db_id = fill_store(root, args.engine, args.rows)
    d = svc.database(db_id)
    for name, q in QUERIES:
        c0, t0 = cpu(), time.perf_counter()
        h, it, finish = start_exec(d, [ALICE], "", q, [])
        n = sum(1 for r in it if r is not None)
        finish(True)
        wall, c = time.perf_counter() - t0, cpu() - c0
        scanned = args.rows if name in ("filtered", "all") else \
            (50000 if name == "keyonly" else 100)
        report("store", name, min(scanned, args.rows), n, wall, c)
    svc.close()


def rpc_bench(args, root):
    from twisted.internet import defer, task
    from v23py.testing.syncbase import Daemon, make_creds
    person_type()
    creds = make_creds(os.path.join(root, "creds"), ALICE)
    d = Daemon(creds, root_dir=root, engine=args.engine).start_blocking()

    async def run(reactor):
        import v23py
        from v23py import syncbase
        ctx, shutdown = v23py.init([f"--v23.credentials={creds}"], reactor=reactor)
        db = syncbase.new_service(d.endpoint).database_for_id(("idp:o:app", "db"))
        h, rs = await db.exec(ctx, "select k from People limit 1")   # warm up the connection
        [r async for r in rs]
        for name, q in QUERIES:
            c0, s0, t0 = cpu(), proc_cpu(d.proc.pid), time.perf_counter()
            h, rs = await db.exec(ctx, q)
            n = 0
            async for _ in rs:
                n += 1
            wall = time.perf_counter() - t0
            c, sc = cpu() - c0, proc_cpu(d.proc.pid) - s0
            scanned = args.rows if name in ("filtered", "all") else \
                (50000 if name == "keyonly" else 100)
            scanned = min(scanned, args.rows)
            report("rpc", name, scanned, n, wall, c + sc,
                   f"  (client {c / max(scanned, 1) * 1e6:.2f} + daemon "
                   f"{sc / max(scanned, 1) * 1e6:.2f})")
        await shutdown()
    try:
        task.react(lambda r: defer.ensureDeferred(run(r)))
    except SystemExit:
        pass
    finally:
        d.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100000)
    ap.add_argument("--engine", default="sqlite")
    ap.add_argument("--only", choices=["engine", "store", "rpc"], default=None)
    args = ap.parse_args()
    if args.only in (None, "engine"):
        engine_bench(args)
    if args.only in (None, "store"):
        store_bench(args, tempfile.mkdtemp(prefix="sqlbench-"))
    if args.only in (None, "rpc"):
        root = tempfile.mkdtemp(prefix="sqlbench-")
        fill_store(root, args.engine, args.rows)[0].close()
        rpc_bench(args, root)


if __name__ == "__main__":
    main()
