"""Where N v23py daemons' CPU goes, idle and per convergence (one write on each daemon,
scale_bench.py's peers), by function: cProfile in every daemon, summed over them.

    python benchmarks/peers_profile.py [--peers 10,30] [--reps 3] [--settle 3] [--top 30]

N daemons start, each under cProfile (a profile per thread, of that thread's CPU time:
the daemons run a few times slower than unprofiled), join one syncgroup at the first as
scale_bench.py's, and are left alone --settle seconds.  Then their profiles are read at
the start and end of an idle window of 10 s, and of --reps convergences (after one not
counted: first-use imports and compiles), each seen by a Watch on every daemon as
scale_bench.py's.  Printed: the functions' CPU and calls, summed over all daemons, per
daemon per second idle and per daemon per convergence, the top --top by own time and by
cumulative time.  Comparing two sizes shows which costs per operation grow with N.
(Profiled, 50 daemons idle take about two cores of this host.)
"""
from __future__ import annotations

import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from scale_bench import load, open_watches, sleep, stop_all, watched  # noqa: E402
from syncbased_instr import revision, run_as_alice  # noqa: E402


# Runs syncbased with a cProfile per thread (CPU time of that thread); SIGUSR2 writes the
# counts so far of all of them, added up, to $V23PY_PROFILE_OUT.<pid>.<k> (marshal)
PROFILED = """
import cProfile, gc, marshal, os, runpy, signal, threading, time
out, profs, n, asked = os.environ["V23PY_PROFILE_OUT"], [], [0], threading.Event()
run = threading.Thread.run
def traced(self):
    p = cProfile.Profile(time.thread_time)
    profs.append(p)
    p.enable()
    try:
        run(self)
    finally:
        p.disable()
def snap():
    # (a thread of its own, not profiled: the snapshots cost the profiles nothing)
    while asked.wait():
        asked.clear()
        total = {}
        for p in list(profs):
            # (no collection while the entries are read: a finalizer's Python code could
            # hand the GIL to the profiled thread, whose calls reorder them meanwhile)
            gc.disable()
            try:
                p.snapshot_stats()
            finally:
                gc.enable()
            for k, (cc, nc, tt, ct, _) in p.stats.items():
                a = total.get(k, (0, 0, 0.0, 0.0))
                total[k] = (a[0] + cc, a[1] + nc, a[2] + tt, a[3] + ct)
        with open(f"{out}.{os.getpid()}.{n[0]}.tmp", "wb") as f:
            marshal.dump(total, f)
        os.rename(f"{out}.{os.getpid()}.{n[0]}.tmp", f"{out}.{os.getpid()}.{n[0]}")
        n[0] += 1
threading.Thread(target=snap, daemon=True).start()
threading.Thread.run = traced
signal.signal(signal.SIGUSR2, lambda *_: asked.set())
main = cProfile.Profile(time.thread_time)
profs.append(main)
main.enable()
runpy.run_module("syncbased.main", run_name="__main__", alter_sys=True)
"""


class Profiles:
    """The daemons' profile snapshots: ``take()`` one of each, ``since(a, b)`` the counts
    of all daemons between two of them, added up."""

    def __init__(self, daemons, out):
        self.daemons, self.out, self.k = daemons, out, 0

    async def take(self, reactor):
        import marshal
        import signal
        k = self.k
        self.k += 1
        for d in self.daemons:
            os.kill(d.proc.pid, signal.SIGUSR2)
        paths = [f"{self.out}.{d.proc.pid}.{k}" for d in self.daemons]
        for _ in range(200):
            if all(os.path.exists(p) for p in paths):
                break
            await sleep(reactor, 0.05)
        snaps = []
        for p in paths:
            with open(p, "rb") as f:
                snaps.append(marshal.load(f))
        return snaps

    @staticmethod
    def since(before, after):
        total = {}
        for b, a in zip(before, after):
            if any(k not in a for k in b):
                print("  (a daemon's profile snapshot was read short: its counts are off)",
                      flush=True)
            for k, (cc, nc, tt, ct) in a.items():
                cc0, nc0, tt0, ct0 = b.get(k, (0, 0, 0.0, 0.0))
                t = total.get(k, (0, 0.0, 0.0))
                total[k] = (t[0] + nc - nc0, t[1] + tt - tt0, t[2] + ct - ct0)
        return total


def print_profile(title, total, per, top):
    """The ``top`` functions of ``total`` by own and by cumulative time, divided by
    ``per``."""
    def name(k):
        f, line, fn = k
        f = f.replace(ROOT + "/", "").replace(os.path.dirname(os.__file__) + "/", "")
        f = f.split("site-packages/")[-1]
        return f"{fn} ({f}:{line})"
    print(title, f"(all threads: {sum(v[1] for v in total.values()) / per * 1e3:.2f} ms)",
          flush=True)
    for label, i in (("own", 1), ("cumulative", 2)):
        print(f"  by {label} time: ms, calls", flush=True)
        for k, v in sorted(total.items(), key=lambda kv: -kv[1][i])[:top]:
            print(f"    {v[i] / per * 1e3:8.3f} {v[0] / per:9.1f}  {name(k)}", flush=True)


async def profile_size(reactor, ctx, creds, tmp, n, reps, settle, top):
    from twisted.internet import defer
    from v23py.testing.syncbase import Daemon
    from sync_bench import setup
    out = os.path.join(tmp, "prof")
    daemons = []
    try:
        for _ in range(n):
            d = Daemon(creds, env={"V23PY_PROFILE_OUT": out})
            d.args = [d.args[0], "-c", PROFILED, *d.args[3:]]
            daemons.append(d)
        sem = defer.DeferredSemaphore(2)
        await defer.gatherResults([sem.run(d.start) for d in daemons], consumeErrors=True)
        dbs_cols = [await setup(ctx, daemons[0], None, "conv")]
        for d in daemons[1:]:
            dbs_cols.append(await setup(ctx, d, daemons[0], "conv"))
        await sleep(reactor, settle)
        prof = Profiles(daemons, out)
        s0, t0 = await prof.take(reactor), time.perf_counter()
        await sleep(reactor, 10.0)
        s1, wall = await prof.take(reactor), time.perf_counter() - t0
        idle = Profiles.since(s0, s1)
        busy, conv = {}, []
        for rep in range(-1, reps):      # (-1: a first one, not counted: imports, ...)
            watches, end = await open_watches(reactor, ctx, [db for db, _ in dbs_cols],
                                              [c for _, c in dbs_cols], n, f"conv{rep}-")
            try:
                a = await prof.take(reactor)
                await defer.gatherResults([c.put(ctx, f"conv{rep}-{i:03d}", i)
                                           for i, (_, c) in enumerate(dbs_cols)])
                t = time.perf_counter()
                el, held, _ = await watched(reactor, watches, n, t, 120.0)
                if held is not None:
                    raise RuntimeError(f"not converged in 120 s: rows held {held}")
                b = await prof.take(reactor)
                conv.append(el)
            finally:
                end()
            if rep < 0:
                continue
            for k, v in Profiles.since(a, b).items():
                t = busy.get(k, (0, 0.0, 0.0))
                busy[k] = (t[0] + v[0], t[1] + v[1], t[2] + v[2])
            await sleep(reactor, 1.0)
        print_profile(f"{n} peers, idle, per daemon per second ({load()}; rev "
                      f"{revision(ROOT)})", idle, n * wall, top)
        print_profile(f"{n} peers, per daemon per convergence (converged in "
                      f"{', '.join(f'{c:.2f}' for c in conv)} s; {load()})",
                      busy, n * reps, top)
    finally:
        stop_all(daemons)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--peers", default="10,30")
    ap.add_argument("--reps", type=int, default=3, help="convergences counted per size")
    ap.add_argument("--settle", type=float, default=3.0,
                    help="seconds left alone after the last join")
    ap.add_argument("--top", type=int, default=30, help="functions printed")
    args = ap.parse_args()

    async def run(ctx, creds, tmp):
        from twisted.internet import reactor
        for n in [int(x) for x in args.peers.split(",")]:
            await profile_size(reactor, ctx, creds, tmp, n, args.reps, args.settle, args.top)

    run_as_alice("peersprofile-", run)


if __name__ == "__main__":
    main()
