"""Instructions the receiving daemon of a bulk sync executes per row, counted by callgrind.

    python benchmarks/sync_recv_instr.py [--rows 5000] [--daemon-tree DIR ...]

A pair of syncbased daemons in one syncgroup: A as usual, B under ``valgrind
--tool=callgrind --instr-atstart=no``.  With B's sync paused, --rows rows are written on A
(PutRows of 500); then B's counts are zeroed, instrumentation switched on, sync resumed,
and the window closed once the last row is readable on B (polled every 0.5 s).  An idle
window of 10 s afterwards gives B's idle rate (its pull loop, timers), which times the
busy window's length is subtracted; the rest divided by the rows is the figure: the
whole receiving daemon (RPC stream, VOM decode, apply, SQLite, watch log), unlike
``sync_apply_bench.py`` which times only the decode and the apply in one process.
Rounds are --round-records records (both daemons), smaller than the daemon's 5,000 so
that a round's GetDeltas, slowed by valgrind, stays well inside its 30 s deadline.
Both daemons pull every --tick seconds (default an hour: a write on A after ResumeSync
hints B, whose rounds then go on back to back while full), and run without mDNS (other
daemons' multicast traffic on the host would land in the counts).
Counts are repeatable whatever the machine's load: they compare commits
(``--daemon-tree DIR``: B runs from that checkout, each tree its own line).
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

from syncbased_instr import Instrumented, idle_rates, revision, run_as_alice  # noqa: E402



async def measure(ctx, a, b, rows, keep=None):
    from twisted.internet import reactor
    from v23py import syncbase
    from sync_bench import setup, wait_row, write_rows, sleep_
    dba, ca = await setup(ctx, a)
    dbb, cb = await setup(ctx, b, a)
    await ca.put(ctx, "ready", 0)
    await wait_row(cb, ctx, "ready", lambda s: sleep_(reactor, s))
    await dbb.pause_sync(ctx)
    await write_rows(ctx, dba, ca, "s", rows, 500, 2)
    w = b.open_window()
    t0 = time.monotonic()
    await dbb.resume_sync(ctx)
    # (the pull loop is slowed to --tick: this write's hint starts B's rounds, which
    # go on back to back while full)
    await ca.put(ctx, "go", 1)
    await wait_row(cb, ctx, "s%07d" % (rows - 1), lambda s: sleep_(reactor, max(s, 0.5)))
    wall = time.monotonic() - t0
    busy = b.close_window(w, keep)
    n = sum([1 async for _ in cb.scan(ctx, syncbase.Prefix("s"))])
    assert n == rows, (n, rows)
    (rate,) = await idle_rates([b])
    return busy, rate * wall, wall


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=5000)
    ap.add_argument("--round-records", type=int, default=1000)
    ap.add_argument("--tick", type=float, default=3600.0,
                    help="both daemons' pull period, s (V23PY_SYNC_TICK; the daemon's is "
                         "0.05: under valgrind B's idle pull loop would swamp the figure)")
    ap.add_argument("--keep", metavar="FILE", help="copy the busy window's callgrind dump "
                    "here (for callgrind_annotate)")
    ap.add_argument("--daemon-tree", action="append", default=[],
                    help="run B from this checkout (default: this one)")
    args = ap.parse_args()
    trees = args.daemon_tree or [ROOT]
    from v23py.testing.syncbase import Daemon
    env = {"V23PY_SYNC_ROUND_RECORDS": str(args.round_records), "V23PY_MDNS": "0",
           "V23PY_SYNC_TICK": str(args.tick)}
    results = []

    async def run(ctx, creds, tmp):
        for tree in trees:
            a = Daemon(creds, root_dir=tempfile.mkdtemp(dir=tmp), env=env).start_blocking()
            b = None
            try:
                b = Instrumented(os.path.abspath(tree), creds, tmp,
                                 program=("-m", "syncbased.main"), env=env)
                results.append((tree, await measure(ctx, a, b, args.rows, args.keep)))
            finally:
                a.stop()
                if b is not None:
                    b.stop()

    run_as_alice("syncrecvinstr-", run)
    print(f"callgrind instructions per row received by syncbased B ({args.rows} rows, "
          f"rounds of {args.round_records}; B's idle rate times the window subtracted)")
    for tree, (busy, idle, wall) in results:
        print(f"{revision(tree):>10}  {(busy - idle) / args.rows:>9,.0f} per row (window "
              f"{busy / args.rows:,.0f} - idle {idle / args.rows:,.0f}, {wall:.1f} s)")


if __name__ == "__main__":
    main()
