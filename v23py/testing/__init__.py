"""Helpers shared by the tests and the benchmarks: where ../shared and the Go peers are,
what a missing prerequisite means (a skip outside CI, a failure in CI), and starting a
daemon without blocking the reactor.

Submodules: ``procs`` (child processes, credentials, the tutorials' texts), ``rpc``
(principals, a loopback runtime, a test interface), ``flow`` (two sans-IO conns wired
together), ``syncbase`` (syncbased subprocesses), ``mdns`` (multicast probing),
``querydata`` (syncQL fixtures).
"""
import io
import os
import shutil
import subprocess
import sys
import tempfile
import threading

from twisted.trial.unittest import FailTest, SkipTest

# the repository (tests read ../shared beside it and the Go peers in .gopeers)
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.environ.get("V23PY_SHARED", os.path.join(os.path.dirname(ROOT), "shared"))
GOPEERS = os.environ.get("V23PY_GOPEERS", os.path.join(ROOT, ".gopeers"))

# The Go peer groups .ci/go-peers.sh builds: (binary dir, file holding why the group
# was not built, what builds it).  The tools come from the module proxy; the other two
# need git mirrors under .mirror/ (see the README).
GO_GROUPS = {
    "tools": ("bin", "FAILED", "bash .ci/go-peers.sh"),
    "benchmark": ("bin", "FAILED-go-benchmark",
                  "bash .ci/go-peers.sh (needs the vanadium/core mirror)"),
    "syncbase": (os.path.join("go-syncbase", "bin"), "FAILED-go-syncbase",
                 "bash .ci/go-peers.sh (needs the go.ref and go.v23 mirrors)"),
    # our own Go programs over v0.2.0 (tests/interop/go/*), e.g. godischargerd
    "programs": ("bin", os.path.join("programs", "FAILED"), "bash .ci/go-programs.sh"),
}


def tempdir(case, prefix="v23py-test-"):
    """A new directory, removed with all it holds when the test ``case`` ends (after the
    cleanups registered later, such as stopping the daemons that write into it)."""
    d = tempfile.mkdtemp(prefix=prefix)
    case.addCleanup(shutil.rmtree, d, True)
    return d


def in_ci():
    """True when the CI variable is set (`.ci/run` exports CI=1)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def unavailable(reason):
    """A prerequisite of the test is missing: in CI that is a failure with `reason`;
    elsewhere the test skips, and says so on stderr as well as in trial's summary."""
    if in_ci():
        raise FailTest(f"required in CI but unavailable: {reason}")
    sys.stderr.write(f"\n!!! SKIP (not allowed in CI): {reason}\n")
    raise SkipTest(reason)


def shared_path(*parts):
    """Path under ../shared; when that folder is absent, `unavailable`."""
    path = os.path.join(SHARED, *parts)
    if not os.path.exists(path):
        unavailable(f"golden data not found: {path} (../shared is absent)")
    return path


def child_env(v23_vars=True):
    """The environment for a child process: this one's, with this tree first on
    PYTHONPATH (a child of ours imports it); without our V23_ variables when
    ``v23_vars`` is False (credentials or namespace roots meant for this process must not
    reach a Go peer or a child given its own)."""
    env = {k: v for k, v in os.environ.items() if v23_vars or not k.startswith("V23_")}
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    return env


def go_binary(name, group="tools"):
    """Path of a Go peer built by .ci/go-peers.sh (group: tools, benchmark or syncbase)
    or .ci/go-programs.sh (programs); when it is missing, `unavailable` with the
    build's reason."""
    sub, failed, how = GO_GROUPS[group]
    path = os.path.join(GOPEERS, sub, name)
    if os.access(path, os.X_OK):
        return path
    failed = os.path.join(GOPEERS, failed)
    if os.path.exists(failed):
        with open(failed) as f:
            unavailable(f"Go peer {name} was not built: {f.read().strip()}")
    unavailable(f"Go peer {name} not built: run `{how}` ({path} missing)")


class StartError(RuntimeError):
    """A daemon exited, or printed nothing usable, before it was ready."""


def wait_for_line(proc, prefix, timeout, what, reactor=None, stderr=None):
    """A Deferred firing with the first line of ``proc.stdout`` that starts with
    ``prefix`` (str, stripped of its newline); lines before it are skipped.

    The pipe is read in a thread of its own, so the reactor keeps running while the
    daemon starts (it may need servers in this process).  After ``timeout`` seconds,
    or when stdout ends first, the process is killed and the Deferred fails with a
    StartError naming ``what`` and quoting what it printed, and its stderr: the file
    ``stderr`` it writes to, or its stderr pipe."""
    from twisted.internet import defer
    if reactor is None:
        from twisted.internet import reactor
    d = defer.Deferred()
    seen = []

    def fail(why):
        if d.called:
            return
        _kill(proc)
        err = _stderr_tail(proc, stderr)
        d.errback(StartError(f"{what} did not start: {why}; stdout: {''.join(seen)[-1000:]!r}"
                             + (f"; stderr: {err}" if err else "")))

    def stop_timer():
        # (trial cancels a timed-out test's delayed calls itself; the line may come later)
        if timer.active():
            timer.cancel()

    def found(line):
        if not d.called:
            stop_timer()
            d.callback(line)

    def gone():
        if not d.called:
            stop_timer()
            proc.wait()
            fail(f"it exited with status {proc.returncode} before printing {prefix!r}")

    def read():
        try:
            for raw in proc.stdout:
                line = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
                if line.startswith(prefix):
                    reactor.callFromThread(found, line.rstrip("\r\n"))
                    return
                seen.append(line)
        except (OSError, ValueError):
            pass
        reactor.callFromThread(gone)

    timer = reactor.callLater(timeout, fail, f"no {prefix!r} line within {timeout:g}s")
    threading.Thread(target=read, name=f"wait-{what}", daemon=True).start()
    return d


def read_line(proc, timeout, what, prefix=None):
    """The next line of ``proc.stdout`` (with ``prefix``: the first one starting with
    it), for tests that read a child synchronously (the child serves itself; nothing in
    this process must run meanwhile).  Within ``timeout`` seconds, or the child is
    killed and a StartError names ``what`` and quotes its stderr pipe.  An empty line
    means stdout ended (with ``prefix``: a StartError)."""
    got = []

    def read():
        for line in iter(proc.stdout.readline, line_end):
            if prefix is None or line.startswith(prefix):
                got.append(line)
                return
        got.append(line_end)
    line_end = "" if isinstance(proc.stdout, io.TextIOBase) else b""
    t = threading.Thread(target=read, name=f"read-{what}", daemon=True)
    t.start()
    t.join(timeout)
    if not got or (prefix is not None and not got[0]):
        why = (f"printed no {prefix!r} line" if prefix else "printed no line") + (
            f" within {timeout:g}s" if not got else " before its stdout ended")
        _kill(proc)
        t.join(10)
        err = _stderr_tail(proc) if proc.stderr is not None else ""
        raise StartError(f"{what} {why}" + (f"; stderr: {err}" if err else ""))
    return got[0]


def _kill(proc):
    import signal
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError, OSError):
            pass
        try:
            proc.kill()
        except OSError:
            pass
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        pass


def _stderr_tail(proc, f=None):
    f = f if f is not None else proc.stderr
    if f is None:
        return ""
    try:
        if f.seekable():      # a file it wrote to; a pipe is read to its end
            f.seek(0)
        data = f.read()
    except (OSError, ValueError):
        return ""
    if isinstance(data, bytes):
        data = data.decode("utf-8", "replace")
    return data[-2000:]


def stop_process(proc, timeout=15):
    """SIGTERM the process (its whole session when it leads one), SIGKILL after
    ``timeout`` seconds; close its pipes."""
    import signal
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError, OSError):
            proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            _kill(proc)
    for f in (proc.stdout, proc.stderr):
        if f is not None:
            f.close()


async def start_process(test, argv, prefix, what=None, timeout=30.0, **popen_kw):
    """Run ``argv`` in a session of its own, stopped at ``test``'s cleanup, and wait
    (without blocking the reactor) for its stdout line starting with ``prefix``.
    Returns (process, the rest of that line, stripped).  Stderr goes to a temporary
    file unless given, and is quoted when the process does not start."""
    import tempfile
    popen_kw.setdefault("stdin", subprocess.DEVNULL)
    if "stderr" not in popen_kw:
        popen_kw["stderr"] = tempfile.TemporaryFile()
    err = popen_kw["stderr"] if hasattr(popen_kw["stderr"], "seekable") else None
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, start_new_session=True, **popen_kw)
    test.addCleanup(stop_process, proc)
    if err is not None:
        test.addCleanup(err.close)
    line = await wait_for_line(proc, prefix, timeout, what or os.path.basename(argv[0]),
                               stderr=err)
    return proc, line[len(prefix):].strip()


class ObeyFilePermissions:
    """Within ``with ObeyFilePermissions():`` this thread obeys file permission bits
    even when it runs as root: the capabilities that let root ignore them
    (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH) are taken out of the thread's effective set
    and put back on exit.  Not root: nothing to do.  Tests of "a read-only directory
    gives a clear error" so run (and prove something) in CI, which runs as root."""

    _V3 = 0x20080522
    _DROP = (1 << 1) | (1 << 2)

    def __enter__(self):
        import ctypes
        if os.geteuid() != 0:
            self._saved = None
            return self
        self._libc = ctypes.CDLL(None, use_errno=True)
        self._hdr = (ctypes.c_uint32 * 2)(self._V3, 0)
        self._saved = (ctypes.c_uint32 * 6)()
        if self._libc.capget(self._hdr, self._saved) != 0:
            unavailable(f"capget failed: {os.strerror(ctypes.get_errno())}")
        data = (ctypes.c_uint32 * 6)(*self._saved)
        data[0] &= ~self._DROP & 0xFFFFFFFF        # effective, low 32 capabilities
        if self._libc.capset(self._hdr, data) != 0:
            unavailable(f"cannot drop CAP_DAC_OVERRIDE: {os.strerror(ctypes.get_errno())}")
        return self

    def __exit__(self, *exc):
        if self._saved is not None:
            if self._libc.capset(self._hdr, self._saved) != 0:
                raise OSError("could not restore this thread's capabilities")
        return False
