"""Fuzz the targets of fuzz/targets.py for a fixed time each.

    python fuzz/run.py [--seconds 25] [--jobs 2] [--budget 100]
                       [--engine auto|atheris|hypothesis] [--crashes DIR] [--keep] [target ...]

With atheris (coverage guided, libFuzzer) each target runs in its own process, seeded
with the committed corpus fuzz/corpus/<target>/ (read only; new inputs go to a scratch
directory).  Where atheris does not install, hypothesis mutates the same corpus instead.
An input that fails a target is written to ``--crashes``/<target>/ (default .fuzz/crashes)
where tests/security/test_fuzz_corpus.py replays it, so a CI run that finds a bug fails
the test suite with the input named.  ``--keep`` merges the inputs that add coverage into
the committed corpus.  Prints one line per target: executions, time, corpus size, crashes.
"""
from __future__ import annotations

import argparse
import glob
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TARGETS = ("vom", "flow_message", "handshake", "syncql")
# the code each target reaches (what atheris instruments for coverage)
_MODULES = {
    "vom": ("v23py.vdl", "v23py.vom", "v23py.security", "v23py.vtrace", "v23py.runtime._stream"),
    "flow_message": ("v23py.flow.message",),
    "handshake": ("v23py.flow", "v23py.security", "v23py.vom", "v23py.runtime._stream"),
    "syncql": ("v23py.query",),
}


def corpus_dir(target):
    return os.path.join(HERE, "corpus", target)


def have_atheris():
    try:
        import atheris  # noqa: F401
        return True
    except Exception:
        return False


# ----------------------------------------------------------------------------- children

def _save_crash(crashes, target, data):
    d = os.path.join(crashes, target)
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "crash-" + hashlib.sha1(data).hexdigest())
    with open(path, "wb") as f:
        f.write(data)
    return path


def child_atheris(target, seconds, scratch, crashes, merge):
    import atheris
    sys.path.insert(0, ROOT)
    with atheris.instrument_imports(include=list(_MODULES[target])):
        import importlib
        for mod in _MODULES[target]:
            importlib.import_module(mod)
    from fuzz import targets as T
    if target == "handshake":
        T._fixed()
    fn = T.TARGETS[target]

    def one(data):
        try:
            fn(data)
        except KeyboardInterrupt:
            raise   # (the run is being stopped, not a find)
        except BaseException:
            _save_crash(crashes, target, bytes(data))
            raise
    os.makedirs(scratch, exist_ok=True)
    args = [sys.argv[0]]
    if merge:
        args += ["-merge=1", corpus_dir(target), scratch]
    else:
        args += [scratch, corpus_dir(target), "-max_total_time=%d" % seconds,
                 "-timeout=20", "-rss_limit_mb=3072", "-max_len=%d" % T.MAX_INPUT,
                 "-print_final_stats=1", "-artifact_prefix=%s/" % scratch]
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 3000))
    atheris.Setup(args, one)
    atheris.Fuzz()


def child_hypothesis(target, seconds, crashes):
    """No coverage guidance: random bytes and seeds with a random span rewritten."""
    sys.path.insert(0, ROOT)
    from hypothesis import HealthCheck, Phase, given, settings, strategies as st
    from fuzz import targets as T
    fn = T.TARGETS[target]
    seeds = [open(p, "rb").read() for p in sorted(glob.glob(os.path.join(corpus_dir(target), "*")))]
    seeds = [s for s in seeds if len(s) <= T.MAX_INPUT] or [b""]
    runs = [0]

    def splice(args):
        seed, at, cut, new = args
        at = at % (len(seed) + 1)
        return seed[:at] + new + seed[at + cut:]
    inputs = st.one_of(
        st.binary(max_size=2048),
        st.tuples(st.sampled_from(seeds), st.integers(0, 1 << 16), st.integers(0, 64),
                  st.binary(max_size=64)).map(splice))

    @settings(max_examples=200, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(inputs)
    def test(data):
        runs[0] += 1
        try:
            fn(data)
        except KeyboardInterrupt:
            raise   # (the run is being stopped, not a find)
        except BaseException:
            path = _save_crash(crashes, target, data)
            sys.stderr.write("fuzz: %s failed on %s\n" % (target, path))
            raise
    end = time.monotonic() + seconds
    t0 = time.monotonic()
    failed = False
    while time.monotonic() < end:
        try:
            test()
        except Exception:
            failed = True
            break
    print("Done %d runs in %d second(s)" % (runs[0], time.monotonic() - t0))
    sys.exit(1 if failed else 0)


# ----------------------------------------------------------------------------- parent

class _Run:
    """One target's child process, started at once; ``finish`` collects and reports it."""

    def __init__(self, target, seconds, engine, crashes, keep):
        self.target, self.engine, self.crashes, self.keep = target, engine, crashes, keep
        self.scratch = tempfile.mkdtemp(prefix="fuzz-%s-" % target)
        self.env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
        self.cmd = [sys.executable, os.path.abspath(__file__), "--child", target,
                    "--seconds", str(seconds), "--engine", engine, "--scratch", self.scratch,
                    "--crashes", crashes]
        self.out = tempfile.TemporaryFile(mode="w+", errors="replace")
        self.t0 = time.monotonic()
        self.p = subprocess.Popen(self.cmd, cwd=ROOT, env=self.env, stdout=self.out,
                                  stderr=subprocess.STDOUT, text=True)
        self.stopped = False   # stopped at the step's time budget (not a failure)

    def stop(self):
        """The budget is spent: interrupt (libFuzzer prints its stats and exits), then kill."""
        if self.p.poll() is not None:
            return
        self.stopped = True
        self.p.send_signal(signal.SIGINT)
        try:
            self.p.wait(10)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()

    def finish(self):
        target, engine, crashes, scratch = self.target, self.engine, self.crashes, self.scratch
        rc = self.p.wait()
        took = time.monotonic() - self.t0
        self.out.seek(0)
        out = self.out.read()
        self.out.close()
        m = re.findall(r"(?:Done (\d+) runs in|number_of_executed_units: *(\d+)|#(\d+)\s+(?:DONE|INITED|NEW|REDUCE|pulse))", out)
        runs = max([int(a or b or c) for a, b, c in m] or [0])
        new = len(os.listdir(scratch))
        committed = len(os.listdir(corpus_dir(target)))
        found = sorted(glob.glob(os.path.join(crashes, target, "crash-*")))
        failed = rc != 0 and not (self.stopped and not found)
        if failed and not found:
            # (a libFuzzer artifact the child could not save itself: a timeout or OOM)
            for art in glob.glob(os.path.join(scratch, "*-*")):
                if os.path.basename(art).split("-")[0] in ("crash", "timeout", "oom", "leak"):
                    with open(art, "rb") as f:
                        found.append(_save_crash(crashes, target, f.read()))
        if failed:
            sys.stdout.write(out[-6000:] + "\n")
        if self.keep and engine == "atheris" and not failed:
            subprocess.run(self.cmd[:4] + ["--merge", "--scratch", scratch, "--engine", engine,
                                           "--crashes", crashes, "--seconds", "1"],
                           cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            committed = len(os.listdir(corpus_dir(target)))
        shutil.rmtree(scratch, True)
        print("fuzz %-12s %s: %d executions in %.0f s%s, corpus %d committed + %d new, %d crash(es)%s"
              % (target, engine, runs, took, " (stopped at the budget)" if self.stopped else "",
                 committed, new, len(found), "".join("\n    " + f for f in found)))
        sys.stdout.flush()
        return not failed


def run_all(targets, seconds, engine, crashes, keep, jobs, budget):
    """Fuzz ``targets``, ``jobs`` at a time, each for ``seconds``; every child still running
    when ``budget`` seconds have passed since the start is stopped (CI's step stays bounded
    however slow the machine: instrumenting and replaying the corpus come out of the same
    budget)."""
    deadline = time.monotonic() + budget
    share = budget / -(-len(targets) // jobs)   # each wave of ``jobs`` targets gets its part
    todo, running, ok = list(targets), [], True
    while todo or running:
        while todo and len(running) < jobs and time.monotonic() < deadline:
            r = _Run(todo.pop(0), seconds, engine, crashes, keep)
            r.deadline = min(deadline, r.t0 + share)
            running.append(r)
        if not running:
            for t in todo:
                print("fuzz %-12s skipped: the %d s budget was spent" % (t, budget))
            break
        time.sleep(0.2)
        now = time.monotonic()
        for r in list(running):
            if now >= r.deadline:
                r.stop()
            if r.p.poll() is not None:
                running.remove(r)
                ok = r.finish() and ok
    return ok


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("targets", nargs="*")
    ap.add_argument("--seconds", type=int, default=25)
    ap.add_argument("--jobs", type=int, default=2, help="targets fuzzed at once")
    ap.add_argument("--budget", type=int, default=100,
                    help="wall-clock seconds for all targets together (children still "
                         "running then are stopped)")
    ap.add_argument("--engine", default="auto", choices=("auto", "atheris", "hypothesis"))
    ap.add_argument("--crashes", default=os.path.join(ROOT, ".fuzz", "crashes"))
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--child")
    ap.add_argument("--scratch")
    ap.add_argument("--merge", action="store_true")
    a = ap.parse_args(argv)
    engine = a.engine
    if engine == "auto":
        engine = "atheris" if have_atheris() else "hypothesis"
    if a.child:
        if engine == "atheris":
            child_atheris(a.child, a.seconds, a.scratch, a.crashes, a.merge)
        else:
            child_hypothesis(a.child, a.seconds, a.crashes)
        return 0
    for t in a.targets:
        if t not in TARGETS:
            ap.error("unknown target %r (have %s)" % (t, ", ".join(TARGETS)))
    ok = run_all(a.targets or TARGETS, a.seconds, engine, os.path.abspath(a.crashes), a.keep,
                 max(1, a.jobs), a.budget)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
