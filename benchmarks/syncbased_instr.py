"""Instructions syncbased executes per Put, Get and Scan row (and per Put seen by a watcher),
counted by callgrind, with the daemon's idle cost subtracted.

    python benchmarks/syncbased_instr.py [--ops 300] [--measures put,get,scan,watch]
        [--ops2 N2] [--keep DIR] [--daemon-tree DIR ...]

The daemon runs under ``valgrind --tool=callgrind --instr-atstart=no``; this process is the
client (one caller, calls one after another).  For each measure, instrumentation is switched
on for the window of N operations only, then for an idle window of the same wall time: the
idle cost (measured over a longer idle window, as instructions per second) times the
window's length is subtracted, and the rest divided by N is the figure.  (Under valgrind an
idle syncbased still runs its timers, which would otherwise land in every figure in
proportion to the window's length; the sync scheduler's 50 ms tick, the biggest of them, is
slowed to once an hour, see QUIET_TICK.)  Counts are repeatable whatever else the machine does,
so they compare commits: ``--daemon-tree DIR`` runs the daemon from another checkout (e.g. a
``git worktree`` of an older commit), several trees in one run, each its own line.

``--ops2 N2`` also runs each Put/Get measure over N2 operations and reports the difference
(N2 window - N window, each less its idle cost) over N2 - N: a window's fixed cost (the
callgrind_control round trips, the first call's warm-up) drops out.  ``--keep DIR`` copies
each window's callgrind dump there (for ``callgrind_annotate --inclusive=yes``).
"""
from __future__ import annotations

import argparse
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

from callgrind_dumps import new_dumps_total  # noqa: E402

ALICE = "idp:o:fortune:alice"
# The sync scheduler wakes every 50 ms even with no syncgroup (work on the store thread):
# under valgrind that is most of an idle daemon's cost, and it varies with the machine's
# load.  The measured daemon has no syncgroup, so its tick is slowed to once an hour.
QUIET_TICK = ("import runpy, syncbased.vsync.limits as L; L.TICK = 3600.0;"
              "runpy.run_module('syncbased.main', run_name='__main__', alter_sys=True)")


def control(pid: int, *args: str) -> str:
    return subprocess.run(["callgrind_control", *args, str(pid)], check=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120,
                          text=True).stdout


class Instrumented:
    """A syncbased under callgrind, instrumentation off until a window opens."""

    def __init__(self, tree: str, creds: str, tmp: str, program=("-c", QUIET_TICK),
                 env=None):
        """``program``: python's arguments that run the daemon; ``env``: extra variables."""
        self.outdir = tempfile.mkdtemp(prefix="cg-", dir=tmp)
        root = tempfile.mkdtemp(prefix="root-", dir=tmp)
        args = ["valgrind", "--tool=callgrind", "--instr-atstart=no",
                f"--callgrind-out-file={self.outdir}/callgrind.out.%p",
                sys.executable, *program, "--v23.tcp.address=127.0.0.1:0",
                f"--v23.credentials={creds}", f"--root-dir={root}"]
        env = dict(os.environ, PYTHONPATH=tree, **(env or {}))
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     cwd=tree, env=env)
        line = self.proc.stdout.readline().decode()
        if not line.startswith("ENDPOINT="):
            self.proc.kill()
            raise RuntimeError(f"syncbased under callgrind printed {line!r}")
        self.endpoint = line.strip().split("=", 1)[1]

    def open_window(self):
        """Zero the counts and switch instrumentation on; close_window() gives the count."""
        before = set(glob.glob(os.path.join(self.outdir, "callgrind.out*")))
        control(self.proc.pid, "--zero")
        control(self.proc.pid, "--instr=on")
        return before

    def close_window(self, before, keep=None) -> int:
        """``keep``: a file to copy the window's dump to."""
        control(self.proc.pid, "--instr=off")
        control(self.proc.pid, "--dump")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if keep:
                time.sleep(1.0)     # (the dump written in full)
                for path in set(glob.glob(os.path.join(self.outdir, "callgrind.out*"))) - before:
                    shutil.copy(path, keep)
            total = new_dumps_total(os.path.join(self.outdir, "callgrind.out*"), before)
            if total is not None:
                return total
            time.sleep(0.2)
        raise RuntimeError("callgrind wrote no dump")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


async def idle_rates(daemons, seconds=10.0):
    """Each daemon's instructions per second with nothing asked of it, over one window of
    ``seconds`` for all of them (what an instruction figure subtracts: its timers run
    under valgrind too)."""
    from twisted.internet import reactor, task
    windows = [d.open_window() for d in daemons]
    t0 = time.monotonic()
    await task.deferLater(reactor, seconds, lambda: None)
    counts = [d.close_window(w) for d, w in zip(daemons, windows)]
    wall = time.monotonic() - t0
    return [c / wall for c in counts]


async def measure(d: Instrumented, ctx, n: int, measures=("put", "get", "scan row"),
                  n2: int = 0, keep: str = "") -> dict:
    from v23py import syncbase
    db = syncbase.new_service(d.endpoint).database(ctx, "instrdb", None)
    await db.create(ctx, None)
    cx = db.collection(ctx, "c")
    await cx.create(ctx, None)
    value = "v" * 100
    for i in range(20):                     # warm: connection, types, code paths
        await cx.put(ctx, f"w{i}", value)
        await cx.get(ctx, f"w{i}")
    out = {}

    async def put(count=n, tag="k"):
        for i in range(count):
            await cx.put(ctx, f"{tag}{i:06d}", value)

    async def get(count=n):
        for i in range(count):
            await cx.get(ctx, f"k{i:06d}")

    async def scan():
        rows = 0
        async for _ in cx.scan(ctx, syncbase.Prefix("k")):
            rows += 1
        assert rows == n, rows

    changes = []

    async def open_watch():
        # (of the rows watch() puts; opened before its window, after the other measures':
        # a watcher reads the log after every commit)
        marker = await db.get_resume_marker(ctx)
        changes.append(db.watch(ctx, marker, [syncbase.CollectionRowPattern(ALICE, "c", "x%")]
                                ).__aiter__())

    async def watch():
        # a Put and its change reaching the watcher (on the same connection, as
        # syncbase_bench's watch latency measures it)
        for i in range(n):
            await cx.put(ctx, f"x{i:06d}", value)
            while (await changes[0].__anext__()).row != f"x{i:06d}":
                pass

    if "put" not in measures:
        await put()                         # (the rows the other measures read)
    bodies = [("put", put), ("get", get), ("scan row", scan)]
    if n2:
        bodies += [("put x2", lambda: put(n2, "m")), ("get x2", lambda: get(min(n2, n)))]
    bodies.append(("watch", watch))
    busy = {}
    for name, body in bodies:
        if name.split(" x")[0] not in measures:
            continue
        if name == "watch":
            await open_watch()
        w = d.open_window()
        t0 = time.monotonic()
        await body()
        dump = os.path.join(keep, f"callgrind.{name.replace(' ', '_')}.out") if keep else None
        busy[name] = (d.close_window(w, dump), time.monotonic() - t0)
    # the idle rate, over a window longer than any of the busy ones
    (rate,) = await idle_rates([d], max(10.0, 2 * max(wall for _, wall in busy.values())))
    for name, (instr, wall) in busy.items():
        if name.endswith(" x2"):
            continue
        out[name] = ((instr - rate * wall) / n, instr / n, rate * wall / n, wall)
        if name + " x2" in busy:
            instr2, wall2 = busy[name + " x2"]
            m = min(n2, n) if name == "get" else n2
            if m != n:
                net = ((instr2 - rate * wall2) - (instr - rate * wall)) / (m - n)
                out[f"{name} ({m} - {n})"] = (net, (instr2 - instr) / (m - n),
                                              rate * (wall2 - wall) / (m - n), wall2)
    return out


def run_as_alice(prefix, body):
    """Run ``await body(ctx, creds, tmp)`` in a v23py client runtime on the reactor, as Alice
    (credentials made in a temporary directory ``tmp``, removed afterwards); a failure's
    traceback is printed. The instruction scripts share it."""
    import v23py
    from twisted.internet import defer, reactor
    from v23py.testing.syncbase import make_creds
    tmp = tempfile.mkdtemp(prefix=prefix)
    creds = make_creds(os.path.join(tmp, "alice"), ALICE)
    ctx, shutdown = v23py.init([f"--v23.credentials={creds}"], reactor=reactor)

    async def run():
        try:
            await body(ctx, creds, tmp)
        finally:
            reactor.stop()

    reactor.callWhenRunning(lambda: defer.ensureDeferred(run()).addErrback(
        lambda f: (f.printTraceback(), None)[1]))
    reactor.run()
    shutdown()
    shutil.rmtree(tmp, ignore_errors=True)


def revision(tree):
    """The short commit a daemon tree is at (its path if that is not a git checkout)."""
    rev = subprocess.run(["git", "-C", tree, "rev-parse", "--short", "HEAD"],
                         stdout=subprocess.PIPE, text=True).stdout.strip()
    return rev or tree


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ops", type=int, default=300, help="operations per window")
    ap.add_argument("--ops2", type=int, default=0,
                    help="also measure Put and Get over this many, report the difference")
    ap.add_argument("--measures", default="put,get,scan",
                    help="which of put,get,scan,watch to measure (watch: a Put and its "
                         "change reaching a watcher)")
    ap.add_argument("--keep", default="", help="copy each window's callgrind dump here")
    ap.add_argument("--daemon-tree", action="append", default=[],
                    help="run the daemon from this checkout (default: this one)")
    args = ap.parse_args()
    trees = args.daemon_tree or [ROOT]
    measures = tuple("scan row" if m == "scan" else m for m in args.measures.split(","))
    if args.keep:
        os.makedirs(args.keep, exist_ok=True)
    results = []

    async def run(ctx, creds, tmp):
        for tree in trees:
            d = Instrumented(os.path.abspath(tree), creds, tmp)
            try:
                results.append((tree, await measure(
                    d, ctx, args.ops, measures, args.ops2, args.keep)))
            finally:
                d.stop()

    run_as_alice("sbinstr-", run)
    print(f"callgrind instructions per operation in syncbased ({args.ops} per window, "
          "idle cost for the window's length subtracted)")
    for tree, res in results:
        cells = "  ".join(f"{k}: {net:>9,.0f} (window {busy:,.0f} - idle {idle:,.0f}, "
                          f"{wall:.1f} s)" for k, (net, busy, idle, wall) in res.items())
        print(f"{revision(tree):>10}  {cells}")


if __name__ == "__main__":
    main()
