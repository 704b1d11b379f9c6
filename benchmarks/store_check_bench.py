"""What the store integrity check (issue 12, B7) costs syncbased's start-up.

    python benchmarks/store_check_bench.py [--rows 53677,1000000] [--runs 5]

For a database holding N rows of ~100 bytes, prints the median of --runs runs of:
  open      opening the store (SqliteEngine) in-process, with and without the check
            (the check runs in a background thread: opening must not wait for it)
  verdict   time from opening until the background PRAGMA quick_check has its verdict
            (the first use of the store after start-up waits at most this long)
  start     syncbased spawned -> ENDPOINT= line, wall and daemon CPU, with the check
            and with it switched off (a wrapper patches the engine's default), so the
            difference is the check's share of start-up

The rows are written straight into the database's SQLite file after the daemon's own
Service created the database, so the file is what a daemon holding N rows has on disk.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

ALICE = "idp:o:fortune:alice"
NO_CHECK = ("import runpy, syncbased.store.engine as e;"
            "e.SqliteEngine.__init__.__defaults__ = ('FULL', False);"
            "runpy.run_module('syncbased.main', run_name='__main__', alter_sys=True)")


def make_root(rows: int) -> tuple[str, str]:
    """A syncbased root with one database of ``rows`` rows; returns (root, store path)."""
    from v23py.syncbase.util import Id
    from syncbased import access
    from syncbased.common import row_key
    from syncbased.service import Service
    root = tempfile.mkdtemp(prefix="sbcheck-")
    svc = Service(root, "sqlite", default_patterns=[ALICE])
    names = [ALICE]
    db_id, cx_id = Id("idp:o:fortune", "db"), Id(ALICE, "c")
    svc.database(db_id).create(names, None,
                               access.perms_add({}, ALICE, *access.ALL_DATABASE_TAGS))
    cx = svc.database(db_id).collection(cx_id)
    cx.create(names, "", access.perms_add({}, ALICE, *access.ALL_COLLECTION_TAGS))
    cx.row("first").put(names, "", b"\x81" + b"x" * 100)
    svc.flush()
    path = svc.database(db_id).st.engine.path
    svc.close()
    db = sqlite3.connect(path)
    value = b"\x81" + b"x" * 100
    with db:
        db.executemany("INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)",
                       ((row_key(cx_id, f"r{i:09d}"), value) for i in range(rows)))
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return root, path


def open_times(path: str, runs: int):
    from syncbased.store.engine import SqliteEngine
    res = {"open (check)": [], "open (no check)": [], "verdict": []}
    for _ in range(runs):
        for check in (True, False):
            t0 = time.perf_counter()
            eng = SqliteEngine(os.path.dirname(path), check=check)
            t1 = time.perf_counter()
            if check:
                eng.wait_checked()
                res["verdict"].append(time.perf_counter() - t0)
                res["open (check)"].append(t1 - t0)
            else:
                res["open (no check)"].append(t1 - t0)
            eng.close()
    return {k: statistics.median(v) for k, v in res.items()}


def start_times(root: str, creds: str, runs: int):
    from v23py.testing.syncbase import Daemon
    runs_of = {"check": ([], []), "no check": ([], [])}
    for _ in range(runs):
        for label, (walls, cpus) in runs_of.items():      # (alternating: load drifts)
            d = Daemon(creds, root_dir=root)
            if label == "no check":
                d.args[1:3] = ["-c", NO_CHECK]
            t0 = time.perf_counter()
            d.start_blocking(timeout=120)
            walls.append(time.perf_counter() - t0)
            # CPU to ENDPOINT=: the child's own clock, read before it is stopped
            with open(f"/proc/{d.proc.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            tick = os.sysconf("SC_CLK_TCK")
            cpus.append((int(fields[11]) + int(fields[12])) / tick)
            d.proc.terminate()
            d.proc.wait()
    return {k: (statistics.median(w), statistics.median(c)) for k, (w, c) in runs_of.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", default="53677,1000000",
                    help="comma-separated row counts (default: %(default)s)")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    from v23py.testing.syncbase import make_creds
    tmp = tempfile.mkdtemp(prefix="sbcheck-creds-")
    creds = make_creds(os.path.join(tmp, "alice"), ALICE)
    print(f"load average {os.getloadavg()[0]:.1f}; medians of {args.runs} runs")
    try:
        for rows in (int(r) for r in args.rows.split(",")):
            root, path = make_root(rows)
            try:
                size = os.path.getsize(path) / 1e6
                o = open_times(path, args.runs)
                s = start_times(root, creds, args.runs)
                print(f"{rows:>9,} rows ({size:6.1f} MB): "
                      f"open {o['open (check)'] * 1e3:6.2f} ms with the check, "
                      f"{o['open (no check)'] * 1e3:6.2f} ms without; "
                      f"verdict after {o['verdict'] * 1e3:7.1f} ms")
                print(f"{'':>30} start to ENDPOINT= {s['check'][0] * 1e3:6.0f} ms "
                      f"(CPU {s['check'][1] * 1e3:4.0f} ms) with the check, "
                      f"{s['no check'][0] * 1e3:6.0f} ms (CPU {s['no check'][1] * 1e3:4.0f} ms)"
                      f" without: the check's share {(s['check'][0] - s['no check'][0]) * 1e3:+.0f}"
                      f" ms wall, {(s['check'][1] - s['no check'][1]) * 1e3:+.0f} ms CPU")
            finally:
                shutil.rmtree(root, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
