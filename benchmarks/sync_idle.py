"""What an idle syncgroup of N v23py daemons costs each daemon per second, and how that
grows with N: CPU, the RPCs each serves by method, the sync counters, and (``--instr``)
one daemon's instructions counted by callgrind.

    python benchmarks/sync_idle.py [--peers 10,20] [--settle 10] [--window 10]
        [--mdns 1] [--instr] [--keep DIR] [--daemon-tree DIR]

N daemons (scale_bench.py's peers: one syncgroup, all Admin, joined at the first) start,
join, and are left alone --settle seconds; then every figure is read at the start and the
end of a --window of seconds in which nothing is written, and printed per daemon per
second (the mean over the daemons, and the largest).  ``--mdns 0`` runs the daemons
without multicast DNS (V23PY_MDNS=0), ``--mdns 0,1`` both ways.  ``--instr``: the
last daemon runs under ``valgrind --tool=callgrind --instr-atstart=no``, counted over the
window (its CPU is left out of the CPU figures); ``--keep DIR`` keeps that window's dump
(callgrind.idle.<N>.out, for ``callgrind_annotate --inclusive=yes``).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from scale_bench import cpu_s, load, sleep, stop_all  # noqa: E402
from syncbased_instr import Instrumented, revision, run_as_alice  # noqa: E402

SYNC_STATS = ("ticks", "rounds-started", "rounds-failed", "hints-in", "hints-known",
              "hint-streams", "hint-streams-ended")
# the calls this script's own readings make (not printed)
MEASURING = ("served Value", "served __Glob")


async def served_calls(ctx, d):
    """method -> calls the daemon ``d`` served so far (its servers' latency histograms)."""
    import v23py
    from v23py.runtime.namespace import GlobEntry
    from v23py.v23.services import stats as svc
    ns = v23py.get_runtime(ctx).namespace
    out = {}
    pattern = f"{d.endpoint}/__debug/stats/rpc/server/routing-id/*/methods/*/latency-ms"
    names = [r.entry.name async for r in ns.glob_iter(ctx, pattern)
             if isinstance(r, GlobEntry)]
    for name in names:
        method = name.rsplit("/", 2)[-2]
        v = await svc.StatsClient(name).Value(ctx)
        out[method] = out.get(method, 0) + int(v.Count)
    return out


async def sync_stats(ctx, d):
    """SYNC_STATS of the daemon ``d`` (0 for those an older daemon does not have)."""
    from v23py import rpc, verror
    out = {}
    for name in SYNC_STATS:
        try:
            (v,) = await rpc.client_call(
                ctx, f"{d.endpoint}/__debug/stats/syncbase/sync/{name}", "Value", [])
        except verror.VError:
            v = 0
        out[name] = int(v)
    return out


async def snapshot(ctx, daemons):
    return [(cpu_s(d.proc.pid), await served_calls(ctx, d), await sync_stats(ctx, d))
            for d in daemons]


def per_second(before, after, wall, counted):
    """{figure: (mean per daemon per second, largest)} from two snapshots; CPU only over
    the daemons in ``counted`` (indexes)."""
    rows = {}

    def add(key, values):
        rows[key] = (sum(values) / len(values) / wall, max(values) / wall)
    if counted:
        add("CPU ms", [1e3 * (after[i][0] - before[i][0]) for i in counted])
    methods = sorted({m for _, calls, _ in after for m in calls})
    for m in methods:
        add(f"served {m}", [a[1].get(m, 0) - b[1].get(m, 0) for b, a in zip(before, after)])
    for s in SYNC_STATS:
        add(s, [a[2][s] - b[2][s] for b, a in zip(before, after)])
    return rows


async def one_size(reactor, ctx, creds, tmp, tree, n, mdns, settle, window, windows, instr,
                   keep):
    from twisted.internet import defer
    from v23py.testing.syncbase import Daemon
    from sync_bench import setup
    env = {"V23PY_MDNS": "1" if mdns else "0"}
    daemons = []
    try:
        plain = [Daemon(creds, env=env) for _ in range(n - 1 if instr else n)]
        daemons.extend(plain)
        sem = defer.DeferredSemaphore(2)
        await defer.gatherResults([sem.run(d.start) for d in plain], consumeErrors=True)
        if instr:
            daemons.append(Instrumented(tree, creds, tmp, program=("-m", "syncbased.main"),
                                        env=env))
        t0 = time.perf_counter()
        await setup(ctx, daemons[0], None, "conv")
        for d in daemons[1:]:
            await setup(ctx, d, daemons[0], "conv")
        joined = time.perf_counter() - t0
        await sleep(reactor, settle)
        out = []
        after = await snapshot(ctx, daemons)
        zero = [(0.0, {}, dict.fromkeys(SYNC_STATS, 0)) for _ in daemons]
        # (counts since each daemon started: its start and all the joins, per daemon)
        out.append((per_second(zero, after, 1.0, ()), None, None))
        for i in range(windows):
            before = after
            win = daemons[-1].open_window() if instr else None
            t0 = time.perf_counter()
            await sleep(reactor, window)
            wall = time.perf_counter() - t0
            instructions = None
            if instr:
                instructions = daemons[-1].close_window(
                    win, os.path.join(keep, f"callgrind.idle.{n}.{i}.out") if keep else None
                ) / wall
            after = await snapshot(ctx, daemons)
            counted = range(n - 1 if instr else n)
            out.append((per_second(before, after, wall, counted), instructions, wall))
        return out, joined
    finally:
        stop_all(daemons)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--peers", default="10,20")
    ap.add_argument("--settle", type=float, default=10.0,
                    help="seconds after the last join before the window opens")
    ap.add_argument("--window", type=float, default=10.0, help="seconds counted")
    ap.add_argument("--windows", type=int, default=1, help="windows one after another")
    ap.add_argument("--mdns", default="1", help="0, 1 or 0,1: daemons with multicast DNS")
    ap.add_argument("--instr", action="store_true",
                    help="count one daemon's instructions with callgrind")
    ap.add_argument("--keep", default="", help="keep the counted daemon's dump here")
    ap.add_argument("--daemon-tree", default=ROOT,
                    help="the checkout the callgrind daemon runs from")
    args = ap.parse_args()
    if args.keep:
        os.makedirs(args.keep, exist_ok=True)
    tree = os.path.abspath(args.daemon_tree)

    async def run(ctx, creds, tmp):
        from twisted.internet import reactor
        for mdns in [int(x) for x in args.mdns.split(",")]:
            for n in [int(x) for x in args.peers.split(",")]:
                windows, joined = await one_size(
                    reactor, ctx, creds, tmp, tree, n, mdns, args.settle, args.window,
                    args.windows, args.instr, args.keep)
                for i, (rows, instructions, wall) in enumerate(windows):
                    if wall is None:
                        print(f"{n} peers, mDNS {'on' if mdns else 'off'}: from each daemon's "
                              f"start to {args.settle:g} s after the last join (all joined in "
                              f"{joined:.1f} s; {load()}; rev {revision(ROOT)}), per daemon, "
                              "mean (largest):", flush=True)
                        for k, (mean, top) in rows.items():
                            if top and k not in MEASURING:
                                print(f"  {k:32s} {mean:9.2f} ({top:.2f})", flush=True)
                        continue
                    i -= 1
                    print(f"{n} peers, mDNS {'on' if mdns else 'off'}, idle window {wall:.1f} s "
                          f"from {args.settle + i * args.window:g} s after the last join "
                          f"(all joined in {joined:.1f} s) "
                          f"({load()}; rev {revision(ROOT)}), per daemon per second, mean "
                          "(largest):", flush=True)
                    if instructions is not None:
                        print(f"  instructions (callgrind, one daemon): {instructions:,.0f}",
                              flush=True)
                    for k, (mean, top) in rows.items():
                        if top and k not in MEASURING:
                            print(f"  {k:32s} {mean:9.2f} ({top:.2f})", flush=True)

    run_as_alice("syncidle-", run)


if __name__ == "__main__":
    main()
