"""Instructions both daemons of a syncing pair execute per propagation, counted by callgrind.

    python benchmarks/sync_prop_instr.py [--props 100] [--warm 60] [--pull-tick 1.0]
        [--keep DIR] [--daemon-tree DIR ...]

A pair of syncbased daemons A and B in one syncgroup, both under ``valgrind
--tool=callgrind --instr-atstart=no``; this process is the client.  A Watch is opened on
B, then --warm propagations and --props more run one at a time, each a Put on A until B's
watch reports the row (sync_bench.py's watched propagation: nothing polls B).
Instrumentation is on for the --props on both daemons, then for an idle window of 10 s,
whose rate times the busy window's length is subtracted.  The rest over --props is the
figure: on A the Put, the hint to B and serving B's GetDeltas; on B the hint, the round,
the apply and the watch.  Both daemons' pull period is an hour (V23PY_SYNC_TICK), so only
hints start rounds, and they run without mDNS: the counts compare commits whatever the
machine's load (``--daemon-tree DIR``: both daemons from that checkout, each tree its own
line).  They repeat to a few per cent (the idle share subtracted is an estimate).

Periodic pulls are measured apart (--pull-tick T, 0 to skip): a second pair pulling every
T s with no writes; instructions on A and B per round B started (its stats'
rounds-started), idle cost included.  (A daemon all of whose peers hint it pulls about
once a second, see scheduler.py, so these rounds are a small share of a real run.)
"""
from __future__ import annotations

import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from syncbased_instr import Instrumented, idle_rates, revision, run_as_alice  # noqa: E402

IDLE_WALL = 10.0


def open_windows(daemons):
    return [d.open_window() for d in daemons]


def close_windows(daemons, windows, keep=None, tag=""):
    return [d.close_window(w, os.path.join(keep, f"callgrind.{tag}.{name}.out")
                           if keep else None)
            for d, w, name in zip(daemons, windows, "AB")]


async def rounds_started(ctx, d):
    from v23py import rpc
    (v,) = await rpc.client_call(
        ctx, f"{d.endpoint}/__debug/stats/syncbase/sync/rounds-started", "Value", [])
    return int(v)


async def start_pair(ctx, tree, creds, tmp, tick):
    from sync_bench import setup, wait_row, sleep_
    from twisted.internet import reactor
    env = {"V23PY_MDNS": "0", "V23PY_SYNC_TICK": str(tick)}
    pair = []
    try:
        for _ in "AB":
            pair.append(Instrumented(tree, creds, tmp, program=("-m", "syncbased.main"),
                                     env=env))
    except BaseException:
        for d in pair:
            d.stop()
        raise
    a, b = pair
    dba, ca = await setup(ctx, a)
    dbb, cb = await setup(ctx, b, a)
    await ca.put(ctx, "ready", 0)
    await wait_row(cb, ctx, "ready", lambda s: sleep_(reactor, max(s, 0.2)))
    return pair, (dba, ca), (dbb, cb)


async def measure_props(ctx, tree, creds, tmp, props, warm, keep):
    from sync_bench import open_watch, put_watched
    pair, (dba, ca), (dbb, cb) = await start_pair(ctx, tree, creds, tmp, 3600.0)
    try:
        it, cancel = await open_watch(ctx, dbb, cb, "w")
        # warm: code paths, caches, and each struct type's codec compiled (after
        # vom's COMPILE_AFTER uses), which would otherwise land in the window once
        for i in range(warm):
            await put_watched(ctx, ca, it, f"warm{i}", i)
        ws = open_windows(pair)
        t0 = time.monotonic()
        for i in range(props):
            await put_watched(ctx, ca, it, f"w{i:06d}", i)
        wall = time.monotonic() - t0
        busy = close_windows(pair, ws, keep, "props")
        cancel()
        rates = await idle_rates(pair)
        return [((n - r * wall) / props, r * wall / props) for n, r in zip(busy, rates)], wall
    finally:
        for d in pair:
            d.stop()


async def measure_pulls(ctx, tree, creds, tmp, tick):
    from twisted.internet import reactor, task
    pair, _, _ = await start_pair(ctx, tree, creds, tmp, tick)
    try:
        await task.deferLater(reactor, 2 * tick, lambda: None)
        r0 = await rounds_started(ctx, pair[1])
        ws = open_windows(pair)
        await task.deferLater(reactor, IDLE_WALL, lambda: None)
        counts = close_windows(pair, ws)
        rounds = await rounds_started(ctx, pair[1]) - r0
        return [c / max(rounds, 1) for c in counts], rounds
    finally:
        for d in pair:
            d.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--props", type=int, default=100, help="propagations in the window")
    ap.add_argument("--warm", type=int, default=60,
                    help="propagations before the window")
    ap.add_argument("--pull-tick", type=float, default=1.0,
                    help="measure a periodic pull round with this period, s (0: skip)")
    ap.add_argument("--keep", default="", help="copy the propagation window's dumps here "
                    "(callgrind.props.A.out, callgrind.props.B.out)")
    ap.add_argument("--daemon-tree", action="append", default=[],
                    help="run both daemons from this checkout (default: this one)")
    args = ap.parse_args()
    trees = [os.path.abspath(t) for t in args.daemon_tree or [ROOT]]
    if args.keep:
        os.makedirs(args.keep, exist_ok=True)
    results = []

    async def run(ctx, creds, tmp):
        for tree in trees:
            props = await measure_props(ctx, tree, creds, tmp, args.props, args.warm, args.keep)
            pulls = (await measure_pulls(ctx, tree, creds, tmp, args.pull_tick)
                     if args.pull_tick > 0 else None)
            results.append((tree, props, pulls))

    run_as_alice("syncpropinstr-", run)
    print(f"callgrind instructions per watched propagation A -> B ({args.props} "
          "propagations, pull period an hour; each daemon's idle rate times the window "
          "subtracted)")
    for tree, (per, wall), pulls in results:
        cells = "  ".join(f"{name} {net:>9,.0f} (idle {idle:,.0f})"
                          for name, (net, idle) in zip("AB", per))
        line = f"{revision(tree):>10}  per propagation: {cells}  ({wall:.1f} s)"
        if pulls:
            (pa, pb), rounds = pulls
            line += (f"  per periodic pull round: A {pa:,.0f}  B {pb:,.0f} "
                     f"({rounds} rounds, idle rate included)")
        print(line, flush=True)


if __name__ == "__main__":
    main()
