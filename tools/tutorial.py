#!/usr/bin/env python3
"""Run the Vanadium website's shell tutorials against v23py.

The tutorials are markdown files whose shell blocks carry mdrip labels::

    <!-- @startSb1 @test @completer @sleep -->
    ```
    syncbased ... &
    ```

This runner does what the website's CI did with mdrip in test mode: it takes
the blocks with the requested label (``@test``) from a chain of files, joins
them into one script, runs it under ``bash -e`` with stdin closed, and fails
when the shell exits early or a block does not finish within its timeout.
Unlike mdrip it also tears down every process the script started (its process
group, plus any process carrying this run's token in its environment) and says
which block failed, with that block's text and output; when the runner itself is
killed (SIGTERM, e.g. from `timeout`, SIGINT or SIGHUP) or exits, it tears the
script's processes down first. Before mdrip's 2 s sleep
in a @sleep block it waits (bounded by --ready-timeout, 30 s) for the endpoint
files that block's servers write and the fixed ports they listen on, so a
loaded machine does not fail a tutorial on timing; --ready-timeout 0 runs the
plain mdrip sleeps.

The Python port's transcriptions of the tutorials live in ``tutorials/`` (the
shell lines verbatim; the Go build steps replaced by installing our programs
under the same paths). Blocks labelled ``@v23pyCheck`` are extra assertions of
this project (for instance: the synced fortunes really come back); they run
unless ``--no-checks`` is given.

Usage::

    python tools/tutorial.py sync             # the Syncbase sync tutorial, end to end
    python tools/tutorial.py --list           # the tutorials and what they need
    python tools/tutorial.py --check basics   # only report missing programs
    python tools/tutorial.py --print sync     # print the assembled script
    python tools/tutorial.py some.md other.md # any mdrip-labelled markdown chain
"""

import argparse
import atexit
import fcntl
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TUTORIAL_DIR = os.path.join(ROOT, "tutorials")
GOPEERS_BIN = os.path.join(os.environ.get("V23PY_GOPEERS", os.path.join(ROOT, ".gopeers")), "bin")

COMMON = ["setup.md", "checkup.md", "wipe-slate.md"]
BASICS = COMMON + ["basics.md"]
PERMS = BASICS + ["security/principals-and-blessings.md", "security/permissions-authorizer.md"]

# Tutorial chains, as the website's Makefile assembles them (deps first); every
# chain ends with cleanup.md (rm -rf $V_TUT), which --keep leaves out.
CLEANUP = "cleanup.md"
TUTORIALS = {
    "hello-world": COMMON + ["hello-world.md"],
    "basics": BASICS,
    "localPersist": BASICS + ["syncbase/localPersist.md"],
    "sync": BASICS + ["syncbase/localPersist.md", "syncbase/sync.md"],
    "principals": BASICS + ["security/principals-and-blessings.md"],
    "permissions": PERMS,
    "first-party-caveats": PERMS + ["security/first-party-caveats.md"],
    "third-party-caveats": PERMS + ["security/third-party-caveats.md"],
    "custom-authorizer": PERMS + ["security/custom-authorizer.md"],
    "mount-table": BASICS + ["naming/mount-table.md"],
    "namespace": BASICS + ["naming/namespace.md"],
    "suffix-part1": BASICS + ["naming/suffix-part1.md"],
    "suffix-part2": PERMS + ["naming/suffix-part1.md", "naming/suffix-part2.md"],
    "globber": PERMS + ["naming/suffix-part1.md", "naming/globber.md"],
    # Longer runs over shared prefixes, as the website's "one big" test ordered them (one
    # setup for several tutorials). third-party-caveats runs in its own chain: after
    # custom-authorizer, $V_TUT/bin/server is the friend-window build (which refuses the
    # caveated blessing), and before it, it re-creates alice (whose old blessing of bob
    # custom-authorizer needs). The website ran it after, unchecked: its Go client exits 0
    # when a call fails.
    "security": PERMS + ["security/first-party-caveats.md", "security/custom-authorizer.md"],
    "naming": PERMS + ["naming/suffix-part1.md", "naming/suffix-part2.md",
                       "naming/globber.md"],
}
TUTORIALS = {name: files + [CLEANUP] for name, files in TUTORIALS.items()}

# Vanadium tools the scripts call as $V_BIN/<tool> (or bare, through PATH).
V23_TOOLS = ["principal", "vrpc", "vdl", "namespace", "mounttable", "mounttabled", "syncbased"]

MARKER = "V23PY_TUTORIAL_BLOCK_DONE"
TOKEN_VAR = "V23PY_TUTORIAL_RUN"
DEFAULT_BLOCK_TIMEOUT = 60.0
# Machine-wide (not under $TMPDIR, which a test run points elsewhere): fixed-port runs of
# every worktree take turns on it.
TUTORIAL_LOCK = "/tmp/v23py-tutorial.lock"


# ---------------------------------------------------------------------------
# Extraction (mdrip-equivalent)

@dataclass
class Block:
    name: str            # the first label, e.g. "startSb1"
    labels: list         # all labels without "@"
    text: str            # the shell text (with mdrip's sleep appended for @sleep)
    path: str            # the markdown file
    line: int            # 1-based line of the label comment

    @property
    def where(self):
        return f"{os.path.relpath(self.path, ROOT) if self.path.startswith(ROOT) else self.path}:{self.line}"

    def timeout(self, default):
        """A block may carry @timeout<N>s to override the per-block timeout."""
        for label in self.labels:
            m = re.fullmatch(r"timeout(\d+)s?", label)
            if m:
                return float(m.group(1))
        return default


_LABEL_COMMENT = re.compile(r"<!--[ \t]*(@[^\n]*?)[ \t]*-->[ \t]*\n```[^\n]*\n", re.S)


def extract_blocks(text, path="<string>"):
    """All labelled shell blocks of a markdown text, in order.

    A block is a fenced code block right after an HTML comment whose first
    non-blank character is "@"; the comment holds the block's labels. Unlabelled
    fences are ignored. mustache markup around blocks is irrelevant (hidden
    blocks are extracted too). A block labelled @sleep gets mdrip's two-second
    sleep appended.
    """
    blocks = []
    pos = 0
    while True:
        m = _LABEL_COMMENT.search(text, pos)
        if m is None:
            break
        start = m.end()
        end = text.find("```", start)
        if end < 0:
            break
        body = text[start:end]
        labels = [w[1:] for w in m.group(1).split() if w.startswith("@") and len(w) > 1]
        if labels:
            if "sleep" in labels:
                if body and not body.endswith("\n"):
                    body += "\n"
                body += MDRIP_SLEEP
            line = text.count("\n", 0, m.start()) + 1
            blocks.append(Block(labels[0], labels, body, path, line))
        pos = end + 3
    return blocks


def read_needs(text):
    """Programs a tutorial file declares with <!-- v23py-needs: a b c -->."""
    needs = []
    for m in re.finditer(r"<!--\s*v23py-needs:([^>]*)-->", text):
        needs.extend(m.group(1).split())
    return needs


def resolve_files(names):
    """Map tutorial names and/or markdown paths to a list of files."""
    files = []
    for name in names:
        if name in TUTORIALS:
            files.extend(os.path.join(TUTORIAL_DIR, f) for f in TUTORIALS[name])
        elif os.path.exists(name):
            files.append(os.path.abspath(name))
        else:
            raise SystemExit(f"tutorial.py: unknown tutorial or file {name!r}; "
                             f"known: {', '.join(TUTORIALS)}")
    return files


def select_blocks(files, labels):
    """The blocks carrying any of `labels`, in file order. Like mdrip, every
    file must contain at least one block with the first label."""
    selected = []
    for path in files:
        with open(path, encoding="utf-8") as f:
            blocks = extract_blocks(f.read(), path)
        if not any(labels[0] in b.labels for b in blocks):
            raise SystemExit(f'tutorial.py: no block labelled "{labels[0]}" in file "{path}"')
        selected.extend(b for b in blocks if any(lab in b.labels for lab in labels))
    return selected


MDRIP_SLEEP = "sleep 2s # Added by mdrip\n"
DEFAULT_READY_TIMEOUT = 30.0

# Runner helpers (not tutorial text): bounded waits used before mdrip's sleep.
_PROLOGUE = """\
__v23py_sig() { stat -c '%y %s %i' "$1" 2>/dev/null || true; }
__v23py_wait_file() { local n=0; while { [ ! -s "$1" ] || [ "$(__v23py_sig "$1")" = "$3" ]; } && [ $n -lt $2 ]; do sleep 0.1; n=$((n+1)); done; return 0; }
__v23py_wait_port() { local n=0; while ! (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && [ $n -lt $2 ]; do sleep 0.1; n=$((n+1)); done; return 0; }
"""

_ENDPOINT_FILE = re.compile(r"--endpoint-file-name(?:=|[ \t]+)(\S+)")
_TCP_ADDRESS = re.compile(r"--v23\.tcp\.address(?:=|[ \t]+)(\S+)")


def readiness_waits(block, timeout=DEFAULT_READY_TIMEOUT):
    """Shell lines that wait (bounded) until what a @sleep block started is ready:
    the endpoint files it names were (re)written since the block began and the
    fixed ports it listens on accept connections. mdrip only slept 2 s; a loaded
    machine needs longer. The waits never fail a block themselves."""
    if "sleep" not in block.labels or "&" not in block.text:
        return ""
    ticks = max(1, int(timeout * 10))
    lines = []
    for i, path in enumerate(_ENDPOINT_FILE.findall(block.text)):
        # an endpoint file left by an earlier server does not count (see readiness_marks)
        lines.append(f'__v23py_wait_file {path} {ticks} "$__v23py_old{i}"\n')
    for addr in _TCP_ADDRESS.findall(block.text):
        port = addr.rpartition(":")[2]
        if port and port != "0":
            lines.append(f'__v23py_wait_port {port} {ticks}\n')
    return "".join(lines)


def readiness_marks(block):
    """Shell lines run before a @sleep block: the state of the endpoint files it names,
    so that the wait after it takes only a file the new server wrote (tutorials reuse
    one file name for successive servers)."""
    if "sleep" not in block.labels or "&" not in block.text:
        return ""
    return "".join(f'__v23py_old{i}=$(__v23py_sig {path})\n'
                   for i, path in enumerate(_ENDPOINT_FILE.findall(block.text)))


def uses_fixed_ports(blocks):
    """Whether any block starts a server on a fixed port (not :0)."""
    return any(addr.rpartition(":")[2] not in ("", "0")
               for b in blocks for addr in _TCP_ADDRESS.findall(b.text))


def assemble_script(blocks, ready_timeout=DEFAULT_READY_TIMEOUT):
    """One bash script: each block followed by a marker echo naming it. With a
    ready_timeout (seconds; 0 = mdrip's plain 2 s sleeps), @sleep blocks first
    wait until their servers are ready."""
    parts = [_PROLOGUE] if ready_timeout else []
    for i, b in enumerate(blocks):
        parts.append(f"# ---- block {i + 1}: @{b.name} ({b.where})\n")
        text = b.text if b.text.endswith("\n") or not b.text else b.text + "\n"
        waits = readiness_waits(b, ready_timeout) if ready_timeout else ""
        if waits and text.endswith(MDRIP_SLEEP):
            text = (readiness_marks(b) + text[: -len(MDRIP_SLEEP)] + waits + MDRIP_SLEEP)
        parts.append(text)
        parts.append(f"echo {MARKER} {i + 1}\n")
    return "".join(parts)


# ---------------------------------------------------------------------------
# Programs: where ours are, and whether they work

def _is_python_script(path):
    try:
        with open(path, "rb") as f:
            head = f.read(256)
    except OSError:
        return False
    return head.startswith(b"#!") and b"python" in head.split(b"\n", 1)[0]


def find_program(name):
    """Our (Python) console script `name`, or None. Go binaries of the same name
    elsewhere on PATH are never taken."""
    dirs = [sysconfig.get_path("scripts"), os.path.dirname(sys.executable)]
    dirs += os.environ.get("PATH", "").split(os.pathsep)
    seen = set()
    for d in dirs:
        if not d or d in seen:
            continue
        seen.add(d)
        path = os.path.join(d, name)
        if os.path.isfile(path) and os.access(path, os.X_OK) and _is_python_script(path):
            return path
    return None


def go_program(name):
    path = os.path.join(GOPEERS_BIN, name)
    return path if os.path.isfile(path) and os.access(path, os.X_OK) else None


def probe_program(name, path, timeout=30.0):
    """None when `path --help` works, else a one-line reason.  A --help still running
    after ``timeout`` seconds is no reason: on a loaded machine starting Python is slow,
    and a program that truly hangs fails the tutorial's own (timed) blocks instead."""
    if path is None:
        return (f"{name}: not installed (no console script {name!r} next to "
                f"{sys.executable}; run `pip install -e {ROOT}`)")
    try:
        proc = subprocess.run([path, "--help"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=timeout, start_new_session=True,
                              env=clean_environ())
    except subprocess.TimeoutExpired:
        sys.stderr.write(f"tutorial: note: `{name} --help` did not finish within "
                         f"{timeout:.0f}s; running the tutorial anyway\n")
        return None
    except OSError as e:
        return f"{name}: cannot run {path}: {e}"
    text = (proc.stderr + proc.stdout).decode("utf-8", "replace")
    broken = any(s in text for s in ("Traceback (most recent call last)", "ModuleNotFoundError",
                                     "ImportError", "No module named"))
    if proc.returncode in (0, 1, 2) and not broken:
        return None   # it runs (Go-style tools may exit 1 or 2 after printing their usage)
    lines = [ln for ln in (proc.stderr or proc.stdout).decode("utf-8", "replace").splitlines()
             if ln.strip()]
    last = lines[-1].strip() if lines else "(no output)"
    return f"{name}: `{name} --help` exits {proc.returncode}: {last[:200]}"


def programs_for(files):
    needs = []
    for path in files:
        with open(path, encoding="utf-8") as f:
            for n in read_needs(f.read()):
                if n not in needs:
                    needs.append(n)
    return needs


def locate(needs, go_tools=False):
    """{name: path or None}: Go peers for the V23 tools when go_tools is set."""
    found = {}
    for n in needs:
        path = go_program(n) if (go_tools and n in V23_TOOLS) else None
        found[n] = path or find_program(n)
    return found


def check_programs(needs, go_tools=False):
    """(paths, problems): problems is a list of one-line reasons (empty = all good)."""
    paths = locate(needs, go_tools)
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda n: probe_program(n, paths[n]), needs))
    return paths, [r for r in results if r]


def missing_for(tutorial, go_tools=False):
    """Reasons why `tutorial` cannot run now (empty list: it can)."""
    files = resolve_files([tutorial])
    return check_programs(programs_for(files), go_tools)[1]


# ---------------------------------------------------------------------------
# Running

def clean_environ():
    """The caller's environment without Vanadium settings that would leak in."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("V23_", "VANADIUM_", "JIRI_", "V_TUT", "V_BIN", TOKEN_VAR))}
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


@dataclass
class BlockResult:
    block: Block
    seconds: float
    output: list = field(default_factory=list)


@dataclass
class RunResult:
    ok: bool
    results: list
    failed: Block = None
    reason: str = ""
    output: list = field(default_factory=list)   # the failing block's output
    leftovers: list = field(default_factory=list)  # processes killed at the end


def _processes_with_token(token):
    """PIDs of live processes whose environment carries our run token."""
    pids = []
    needle = f"{TOKEN_VAR}={token}".encode()
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                if needle in f.read().split(b"\0"):
                    pids.append(int(entry))
        except OSError:
            continue
    return pids


def _describe(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
        return f"{pid} {' '.join(a.decode('utf-8', 'replace') for a in argv if a)[:120]}"
    except OSError:
        return str(pid)


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def kill_everything(pgid, token, grace=3.0):
    """Terminate the script's process group and every process with our token.
    Returns descriptions of the processes that were still alive."""
    victims = set(_processes_with_token(token))
    described = [_describe(p) for p in sorted(victims) if _alive(p)]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            if pgid is not None:
                os.killpg(pgid, sig)
        except (ProcessLookupError, PermissionError):
            pass
        for pid in victims:
            try:
                os.kill(pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            victims = {p for p in victims if _alive(p)} | set(_processes_with_token(token))
            victims = {p for p in victims if _alive(p)}
            if not victims:
                break
            time.sleep(0.05)
        if not victims:
            break
    return described


# The scripts now running: {token: process group}. A runner killed by SIGTERM (`timeout`),
# SIGINT or SIGHUP, or exiting any other way, takes their servers with it (see main).
_ACTIVE = {}
_ACTIVE_LOCK = threading.Lock()


def kill_active():
    """Tear down every script this process is running (its group and token holders)."""
    with _ACTIVE_LOCK:
        runs = list(_ACTIVE.items())
    for token, pgid in runs:
        kill_everything(pgid, token)


class Killed(SystemExit):
    """The runner got a terminating signal; its scripts are already torn down."""


def _on_signal(signum, frame):
    # A second signal while tearing down must not interrupt the teardown.
    for s in _KILL_SIGNALS:
        signal.signal(s, signal.SIG_IGN)
    kill_active()
    raise Killed(128 + signum)


_KILL_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def install_cleanup():
    """Kill the running scripts' process groups on SIGTERM/SIGINT/SIGHUP and at exit
    (the scripts run in their own session, so a signal to the runner's group does not
    reach their background servers). Main thread only (signal handlers)."""
    for s in _KILL_SIGNALS:
        signal.signal(s, _on_signal)
    atexit.register(kill_active)


def run_blocks(blocks, env, block_timeout=DEFAULT_BLOCK_TIMEOUT, workdir=None, echo=None,
               ready_timeout=DEFAULT_READY_TIMEOUT):
    """Run the blocks as one `bash -e` script; see the module docstring."""
    token = uuid.uuid4().hex
    env = dict(env)
    env[TOKEN_VAR] = token
    script = assemble_script(blocks, ready_timeout)
    fd, script_path = tempfile.mkstemp(prefix="tutorial-", suffix=".sh", dir=workdir)
    with os.fdopen(fd, "w") as f:
        f.write(script)
    lines = queue.Queue()
    with _ACTIVE_LOCK:   # known before it starts: a signal now still finds it by its token
        _ACTIVE[token] = None
    proc = subprocess.Popen(["bash", "-e", script_path], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env=env, cwd=workdir, start_new_session=True)
    with _ACTIVE_LOCK:
        _ACTIVE[token] = proc.pid

    def pump():
        # Background servers inherit this pipe, so EOF may come long after bash exits.
        for raw in proc.stdout:
            lines.put(raw.decode("utf-8", "replace").rstrip("\n"))
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    results = []
    current = []
    index = 0
    started = time.monotonic()
    outcome = None
    try:
        while index < len(blocks):
            block = blocks[index]
            deadline = started + block.timeout(block_timeout)
            line = ""
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    outcome = RunResult(False, results, block,
                                        f"timed out after {block.timeout(block_timeout):.0f}s", current)
                    break
                try:
                    line = lines.get(timeout=min(left, 0.2))
                except queue.Empty:
                    if proc.poll() is not None:
                        # bash is gone; drain what is already there, then judge.
                        try:
                            line = lines.get(timeout=0.5)
                        except queue.Empty:
                            outcome = RunResult(False, results, block,
                                                f"the shell exited with status {proc.returncode}", current)
                            break
                    else:
                        continue
                if line is None:
                    rc = proc.wait()
                    outcome = RunResult(False, results, block, f"the shell exited with status {rc}", current)
                    break
                marker = f"{MARKER} {index + 1}"
                if line.endswith(marker):
                    if line != marker:  # a background process wrote a partial line
                        current.append(line[: -len(marker)])
                    now = time.monotonic()
                    results.append(BlockResult(block, now - started, current))
                    if echo:
                        echo(index, block, now - started, current)
                    current = []
                    started = now
                    index += 1
                    break
                current.append(line)
            if outcome is not None:
                break
        if outcome is None:
            try:
                rc = proc.wait(timeout=block_timeout)
            except subprocess.TimeoutExpired:
                rc = None
            if rc not in (0,):
                outcome = RunResult(False, results, None,
                                    f"the shell did not exit cleanly after the last block (status {rc})", [])
            else:
                outcome = RunResult(True, results)
    finally:
        outcome_leftovers = kill_everything(proc.pid, token)
        with _ACTIVE_LOCK:
            _ACTIVE.pop(token, None)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.unlink(script_path)
        except OSError:
            pass
    outcome.leftovers = outcome_leftovers
    return outcome


def make_release(workdir, paths):
    """$VANADIUM_RELEASE/bin with our tools; a bin dir for the tutorial programs."""
    release = os.path.join(workdir, "release")
    bindir = os.path.join(release, "bin")
    progdir = os.path.join(workdir, "programs")
    os.makedirs(bindir, exist_ok=True)
    os.makedirs(progdir, exist_ok=True)
    for name, path in paths.items():
        if path is None:
            continue
        target = bindir if name in V23_TOOLS else progdir
        link = os.path.join(target, name)
        if os.path.lexists(link):
            os.unlink(link)
        os.symlink(path, link)
    return release, bindir, progdir


def tutorial_env(workdir, v_tut, release, progdir):
    env = clean_environ()
    env["VANADIUM_RELEASE"] = release
    env["JIRI_ROOT"] = os.path.join(workdir, "jiri-root-unused")
    env["V23_GOPATH"] = "unused"          # setup.md would otherwise call jiri
    env["V_TUT"] = v_tut
    # A login shell has $USER (third-party-caveats names a principal after it).
    if not env.get("USER"):
        import getpass
        env["USER"] = getpass.getuser()
    env["PATH"] = os.pathsep.join([progdir, os.path.dirname(sys.executable), env.get("PATH", "")])
    return env


def _print_block_line(index, total, block, seconds, status):
    print(f"[{index + 1:>2}/{total}] {status:<7} @{block.name:<28} {block.where}  ({seconds:.1f}s)",
          flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(
        prog="tutorial.py", description="Run the Vanadium shell tutorials (mdrip-labelled "
        "markdown) under bash -e against v23py.", allow_abbrev=False)
    ap.add_argument("names", nargs="*", help=f"tutorial names ({', '.join(TUTORIALS)}) or markdown files")
    ap.add_argument("--label", default="test", help="block label to run (default: test)")
    ap.add_argument("--no-checks", action="store_true", help="skip this project's @v23pyCheck blocks")
    ap.add_argument("--block-timeout", type=float, default=DEFAULT_BLOCK_TIMEOUT,
                    help="seconds each block may take (default: %(default)s)")
    ap.add_argument("--v-tut", help="the tutorial workspace ($V_TUT); default: a fresh temp dir")
    ap.add_argument("--keep", action="store_true", help="keep the workspace after the run")
    ap.add_argument("--ready-timeout", type=float, default=DEFAULT_READY_TIMEOUT,
                    help="before mdrip's 2 s sleep in a @sleep block, wait up to this many "
                    "seconds for the endpoint files / fixed ports it names (0: plain mdrip)")
    ap.add_argument("--go-tools", action="store_true",
                    help="use Go's principal/vrpc/namespace/mounttable/mounttabled from .gopeers")
    ap.add_argument("--list", action="store_true", help="list the tutorials and their programs")
    ap.add_argument("--check", action="store_true", help="only check the programs the tutorials need")
    ap.add_argument("--print", dest="print_script", action="store_true", help="print the script, do not run")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every block's output")
    args = ap.parse_args(argv)

    if args.list:
        for name, files in TUTORIALS.items():
            needs = programs_for([os.path.join(TUTORIAL_DIR, f) for f in files])
            print(f"{name:<13} {' -> '.join(f[:-3] for f in files)}\n{'':<13} needs: {' '.join(needs)}")
        return 0
    if not args.names:
        ap.error("name a tutorial (e.g. sync) or markdown files; --list shows the tutorials")

    files = resolve_files(args.names)
    if args.keep:   # keep the workspace: leave out the chains' final rm -rf $V_TUT
        files = [f for f in files if os.path.basename(f) != CLEANUP]
    labels = [args.label] + ([] if args.no_checks else ["v23pyCheck"])
    blocks = select_blocks(files, labels)
    if args.print_script:
        sys.stdout.write(assemble_script(blocks, args.ready_timeout))
        return 0

    needs = programs_for(files)
    paths, problems = check_programs(needs, args.go_tools)
    if args.check or problems:
        for p in problems:
            print(f"missing: {p}", flush=True)
        if not problems:
            print("all programs present: " + " ".join(needs))
        if problems:
            print(f"tutorial.py: cannot run {' '.join(args.names)}: {len(problems)} program(s) "
                  "missing or broken", file=sys.stderr)
            return 2 if not args.check else 1
        return 0

    install_cleanup()
    workdir = tempfile.mkdtemp(prefix="v23py-tutorial-")
    v_tut = args.v_tut or os.path.join(workdir, "v23_tutorial")
    os.makedirs(v_tut, exist_ok=True)
    release, _, progdir = make_release(workdir, paths)
    env = tutorial_env(workdir, os.path.abspath(v_tut), release, progdir)
    total = len(blocks)
    print(f"tutorial.py: {' '.join(args.names)}: {total} blocks from {len(files)} files; "
          f"V_TUT={v_tut}", flush=True)

    def echo(index, block, seconds, output):
        _print_block_line(index, total, block, seconds, "ok")
        if args.verbose:
            for line in output:
                print(f"        | {line}")

    # Tutorials that listen on fixed ports (23000, ...) would take each other's ports if
    # two ran on one machine at once, so those runs take turns.
    with open(TUTORIAL_LOCK, "w") as lock:
        if uses_fixed_ports(blocks):
            fcntl.flock(lock, fcntl.LOCK_EX)
        t0 = time.monotonic()
        try:
            result = run_blocks(blocks, env, args.block_timeout, workdir=workdir, echo=echo,
                                ready_timeout=args.ready_timeout)
        except Killed:
            print(f"tutorial.py: killed; the script's processes were terminated", flush=True)
            if not args.keep:
                shutil.rmtree(workdir, ignore_errors=True)
            raise
        elapsed = time.monotonic() - t0
    if result.leftovers:
        print("tutorial.py: terminated processes the script left running:", flush=True)
        for d in result.leftovers:
            print(f"    {d}")
    if result.ok:
        print(f"PASS {' '.join(args.names)}: {total} blocks in {elapsed:.1f}s", flush=True)
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        return 0
    b = result.failed
    if b is not None:
        idx = blocks.index(b)
        _print_block_line(idx, total, b, 0, "FAILED")
        print(f"\nFAIL {' '.join(args.names)}: block @{b.name} ({b.where}, labels "
              f"{' '.join('@' + x for x in b.labels)}): {result.reason}")
        print("---- block text ----")
        sys.stdout.write(b.text if b.text.endswith("\n") else b.text + "\n")
        print("---- block output ----")
        for line in result.output:
            print(line)
        print("----")
    else:
        print(f"\nFAIL {' '.join(args.names)}: {result.reason}")
    print(f"workspace kept: {workdir}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
