#!/usr/bin/env python3
"""The mutation check: plants known bugs one at a time and fails unless tests catch each.

Every entry of MUTANTS replaces one exact piece of source (it must occur exactly once:
when the code moves on, the entry is updated with it) in a copy of the tree, then runs
only the tests named for it (trial --exitfirst, CI=1 so that a skip is a failure).  A
mutant whose tests all pass has survived: the tests let that bug through, and the check
fails.  Two copies of the tree work side by side (this machine has 2 cores).

    python .ci/mutants.py [--list] [--jobs N] [NAME ...]
"""
import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclass
class Mutant:
    name: str
    path: str            # file, relative to the repository root
    old: str             # exact text, found exactly once
    new: str
    tests: list          # trial names (modules, classes or methods)
    why: str
    env: dict = field(default_factory=dict)
    timeout: float = 240.0
    more: list = field(default_factory=list)   # further (path, old, new) edits

    def edits(self):
        return ([(self.path, self.old, self.new)] if self.path else []) + list(self.more)


MUTANTS = [
    # --- the six of issue 20 ---------------------------------------------------------
    Mutant("credentials-chunk-hash", "v23py/security/_credentials.py",
           '''    if len(pieces) != len(hashes) or any(sha256(p).digest() != hc
                                         for p, hc in zip(pieces, hashes)):
        raise _err("%s: data has been modified since being written" % what)''',
           '''    pass''',
           ["tests.security.test_credentials.GoLayoutTests"],
           "signed credential files: the data's chunk hashes are not checked"),
    Mutant("blessings-one-key", "v23py/security/_blessings.py",
           '''        if i > 0 and bytes(chain[-1].PublicKey) != key_der:''',
           '''        if False:''',
           ["tests.security.test_blessings.BlessingsTests"],
           "blessings whose chains bind to different public keys are accepted"),
    Mutant("mdns-ad-decoding", "v23py/discovery/neighborhood.py",
           '''                    if interface_name and info.ad.interface_name != interface_name:''',
           '''                    if interface_name and info.ad.interface_name == interface_name:''',
           ["tests.discovery.test_discovery.MdnsTest"],
           "mDNS scanning drops the advertisements it was asked for"),
    Mutant("mdns-not-used-by-sync", "syncbased/vsync/_nhdir.py",
           '''        if self._mdns is not None:
            out.update(self._mdns.peers())''',
           '''        pass''',
           ["tests.e2e.test_syncbase_neighborhood.NeighborhoodSyncTest."
            "test_admin_finds_joiner_through_mdns"],
           "sync ignores the peers found through mDNS"),
    Mutant("fortune-server-start", "fortune/server.py",
           '''def main(argv=None):''',
           '''def main(argv=None):
    raise SystemExit("fortune-server: planted start-up failure")


def _unused_main(argv=None):''',
           ["tests.interop.test_principal_interop.GoValidatesOurBlessingsTests."
            "test_go_client_checks_our_server"],
           "fortune-server crashes at start (a skip once hid it)"),
    Mutant("reopened-store-not-durable", "syncbased/store/engine.py",
           '''        self.path = os.path.join(path, "store.sqlite")
''',
           '''        self.path = os.path.join(path, "store.sqlite")
        self._reopened = os.path.exists(self.path)
''',
           ["tests.e2e.test_syncbase_durability"],
           "on a reopened root, acknowledged puts stay uncommitted (a fresh root is fine): "
           "only kill -9 rounds with new keys see it",
           more=[("syncbased/store/engine.py",
                  '''    def flush(self) -> None:
        lone = self._lone''',
                  '''    def flush(self) -> None:
        if self._reopened:      # (a lone write stays unsent; the next joins an open tx)
            return
        lone = self._lone''')]),
    Mutant("syncbased-never-ready", "syncbased/main.py",
           '''sys.stdout.write(f"ENDPOINT=''', '''sys.stdout.write(f"ENDPOINT_=''',
           ["tests.e2e.test_syncbase.DaemonTest.test_second_daemon_on_same_root_fails"],
           "syncbased never prints its ENDPOINT= line: start-up reads must time out",
           env={"V23PY_TEST_START_TIMEOUT": "8"}, timeout=90),
    Mutant("data81-non-minimal-ints", "v23py/vom/_codec.py",
           '''                if u < 0x80:
                    buf.append(u)''',
           '''                if u < 0x40:
                    buf.append(u)
                elif u < 0x80:
                    buf += bytes([0xFF, u])     # decodes equal, not Go's bytes''',
           ["tests.vdl.test_compiler.LiteralVectorsTest"],
           "small signed ints in a longer form: decodes equal, other bytes (the README "
           "claims exact bytes; the data81 test once accepted decoding equal)"),
    Mutant("float32-not-rounded", "v23py/vom/_codec.py",
           '''                f = _struct.unpack("<f", _struct.pack("<f", f))[0]
            return (cls(f) if cls else f), pos''',
           '''            return (cls(f) if cls else f), pos''',
           ["tests.vom.test_robust"],
           "a decoded float32 keeps float64 precision (re-encoding changes the value)"),
    Mutant("server-gone-is-eof", "v23py/runtime/_client_call.py",
           '''        if e.id not in (verror.Timeout.id, verror.Canceled.id):''',
           '''        if e.id not in (verror.Timeout.id, verror.Canceled.id, verror.EOF.id,
                        "v.io/x/ref/runtime/internal/flow/conn.ConnectionClosed"):''',
           ["tests.runtime.test_rpc.FaultTest"],
           "a response cut short by the server going away is not Go's BadProtocol"),
    Mutant("value-in-fastpath", "syncbased/common.py",
           '''        return _VERSION + bytes(vom.encode_value_message(_BOOT_TE, t, value))''',
           '''        return _VERSION + bytes(vom.encode_value_message(vom.TypeEncoder(), t, value))[:-1] + b"\\x00"''',
           ["tests.syncbased.test_fastpath.ValueInTest"],
           "stored Put values differ from VOM's bytes"),
    # --- what CI must not let pass as skips: no Go peers, no ../shared ------------------
    Mutant("go-peers-not-built", None, "", "",
           ["tests.interop.test_naming_endpoint_go"],
           "the Go peers failed to build (.ci/go-peers.sh wrote FAILED): Go tests must fail",
           env={"V23PY_GOPEERS": "{base}/failed-gopeers"}),
    Mutant("shared-missing", None, "", "",
           ["tests.vom.test_golden"],
           "../shared is absent: the golden tests must fail",
           env={"V23PY_SHARED": "{base}/no-shared"}),
    Mutant("ci-skips-pass", "tools/run_tests.py",
           '''    if ci:
        failed += len(bad)''', '''    if False:
        failed += len(bad)''',
           ["tests.e2e.test_run_tests.RunnerTest.test_in_ci_a_skip_off_the_list_fails"],
           "the test runner lets a skip off the allow-list pass in CI"),
    # --- our own: flow, security, vsync, syncQL ----------------------------------------
    Mutant("flow-release-credits", "v23py/flow/_flowcontrol.py",
           '''            f.to_release += n
''', '''            f.to_release += n // 2
''',
           ["tests.flow.test_conn", "tests.flow.test_control_props"],
           "flow control returns half the credits the reader consumed"),
    Mutant("security-expiry-ignored", "v23py/security/_caveats.py",
           '''    if current > expiry:''', '''    if current > expiry and False:''',
           ["tests.security.test_blessings.CaveatTests"],
           "expiry caveats never expire"),
    Mutant("security-pattern-prefix", "v23py/security/_pattern.py",
           '''        plan = (core, core + CHAIN_SEPARATOR if glob else None) if core else False''',
           '''        plan = (core, core if glob else None) if core else False''',
           ["tests.security.test_blessings.PatternTests"],
           "pattern alice matches alicebob (no ':' boundary)"),
    Mutant("vsync-lww-earliest", "syncbased/vsync/dag.py",
           '''            winner = max(heads, key=lambda v: (self._node(writes, g, oid, v).t, v))''',
           '''            winner = min(heads, key=lambda v: (self._node(writes, g, oid, v).t, v))''',
           ["tests.syncbased.test_vsync",
            "tests.e2e.test_syncbase_sync.SyncTest.test_five_peers_concurrent_writes_converge_lww"],
           "conflicts resolve to the earliest write instead of the last"),
    Mutant("syncql-le-range", "v23py/query/checker.py",
           '''        if op == LE:
            return [("", s + "\\x00")]''', '''        if op == LE:
            return [("", s)]''',
           ["tests.query.test_engine"],
           "k <= \"x\" scans a range that leaves out the key x itself"),
]


def tree_files():
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         cwd=ROOT, stdout=subprocess.PIPE, check=True).stdout
    return [p for p in out.decode().split("\0") if p and os.path.isfile(os.path.join(ROOT, p))]


def copy_tree(dest):
    for rel in tree_files():
        target = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(os.path.join(ROOT, rel), target)


def check_applies(m):
    for path, old, _ in m.edits():
        with open(os.path.join(ROOT, path), encoding="utf-8") as f:
            n = f.read().count(old)
        if n != 1:
            return (f"{m.name}: the text to replace occurs {n} times in {path} (want 1): "
                    "update .ci/mutants.py")
    return None


def first_failure(output):
    """The first test trial reported as failed or in error, or skipped against the list."""
    lines = output.splitlines()
    for i, line in enumerate(lines):
        if line.strip() in ("[FAIL]", "[ERROR]"):
            for later in lines[i + 1:]:
                # a test method (Class.test_x), not a module that failed to import
                if re.match(r"^tests\.\S+\.[A-Z]\w*\.test\w*$", later.strip()):
                    return f"{line.strip()} {later.strip()}"
        m = re.match(r"^\s*\[NOT ALLOWED\] (\S+)", line)
        if m:
            return f"[SKIP, not allowed in CI] {m.group(1)}"
    return None


def run_mutant(m, tree, shared, gopeers, base):
    originals = {}
    for path, old, new in m.edits():
        full = os.path.join(tree, path)
        if full not in originals:
            with open(full, encoding="utf-8") as f:
                originals[full] = f.read()
        with open(full, encoding="utf-8") as f:
            text = f.read()
        with open(full, "w", encoding="utf-8") as f:
            f.write(text.replace(old, new, 1))
    env = dict(os.environ, CI="1", PYTHONPATH=tree, V23PY_SHARED=shared,
               V23PY_GOPEERS=gopeers, PYTHONDONTWRITEBYTECODE="1")
    env.update({k: v.format(base=base) for k, v in m.env.items()})
    t0 = time.monotonic()
    try:
        # through the test runner: in CI mode a skip not on the allow-list is a failure
        proc = subprocess.Popen(
            [sys.executable, os.path.join(tree, "tools", "run_tests.py"), "--exitfirst",
             f"--temp-directory={os.path.join(tree, '_trial_temp_' + m.name)}", *m.tests],
            cwd=tree, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True)
        try:
            out, _ = proc.communicate(timeout=m.timeout)
            caught = proc.returncode != 0
            how = first_failure(out) if caught else "all passed"
            if caught and how is None:
                # a run that failed without naming a failing test (an import error, a
                # broken environment) shows nothing about the mutant: not a catch
                tail = " / ".join(out.splitlines()[-3:])
                caught, how = None, f"the run failed without a failing test: {tail}"
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            caught, how = True, f"its tests did not finish within {m.timeout:g}s"
    finally:
        for full, text in originals.items():
            with open(full, "w", encoding="utf-8") as f:
                f.write(text)
    return caught, how, time.monotonic() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", help="run only these mutants")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--list", action="store_true")
    args = ap.parse_args()
    mutants = [m for m in MUTANTS if not args.names or m.name in args.names]
    if args.list:
        for m in mutants:
            print(f"{m.name:26s} {m.path or '(environment)'}: {m.why}\n"
                  f"{'':26s} caught by: {' '.join(m.tests)}")
        return 0
    problems = [p for p in map(check_applies, mutants) if p]
    if problems:
        print("\n".join(problems))
        return 2
    shared = os.environ.get("V23PY_SHARED", os.path.join(os.path.dirname(ROOT), "shared"))
    gopeers = os.environ.get("V23PY_GOPEERS", os.path.join(ROOT, ".gopeers"))
    base = tempfile.mkdtemp(prefix="v23py-mutants-")
    os.makedirs(os.path.join(base, "failed-gopeers"))
    with open(os.path.join(base, "failed-gopeers", "FAILED"), "w") as f:
        f.write("go build failed (planted by .ci/mutants.py)\n")
    t0 = time.monotonic()
    results = {}
    todo = list(mutants)
    lock = threading.Lock()

    def worker(i):
        tree = os.path.join(base, f"tree{i}")
        copy_tree(tree)
        while True:
            with lock:
                if not todo:
                    return
                m = todo.pop(0)
            caught, how, secs = run_mutant(m, tree, shared, gopeers, base)
            with lock:
                results[m.name] = (caught, how, secs)
                mark = {True: "caught  ", False: "SURVIVED", None: "BROKEN  "}[caught]
                print(f"{mark} {m.name:26s} {secs:6.1f}s  {how}", flush=True)

    try:
        threads = [threading.Thread(target=worker, args=(i,)) for i in range(max(1, args.jobs))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        shutil.rmtree(base, ignore_errors=True)
    survivors = [m for m in mutants if results[m.name][0] is False]
    broken = [m for m in mutants if results[m.name][0] is None]
    caught = len(mutants) - len(survivors) - len(broken)
    print(f"mutants: {caught} of {len(mutants)} caught in {time.monotonic() - t0:.0f}s")
    for m in survivors:
        print(f"!!! SURVIVED {m.name}: {m.why} ({m.path or 'environment'}); "
              f"its tests {' '.join(m.tests)} all pass")
    for m in broken:
        print(f"!!! BROKEN {m.name}: {results[m.name][1]}")
    return 1 if survivors or broken else 0


if __name__ == "__main__":
    sys.exit(main())
