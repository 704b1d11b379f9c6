"""Helpers for end-to-end Syncbase tests: credentials and a real syncbased subprocess."""
import os
import signal
import subprocess
import sys
import tempfile
import time

from twisted.trial import unittest

from v23py.testing import ROOT, StartError, _kill, _stderr_tail, child_env, go_binary, \
    wait_for_line



def make_creds(dirpath, blessing, trust=()):
    """A credentials directory whose default blessing is ``blessing`` (self-signed).

    ``trust``: other credentials directories whose default blessings' roots this
    principal recognizes."""
    from v23py import security
    p = security.create_principal(dirpath, overwrite=True)
    b = p.bless_self(blessing)
    p.blessing_store.set_default(b)
    p.blessing_store.set(b, "...")
    p.add_to_roots(b)
    for other in trust:
        op = security.load_principal(other)
        p.add_to_roots(op.blessing_store.default())
    return dirpath


class _ReadyChild:
    """A subprocess that prints ``<prefix><value>`` on stdout once it is ready (lines
    before it are skipped); ``value`` is what follows the prefix."""
    prefix = "ENDPOINT="
    what = "syncbased"

    def __init__(self, args, env=None):
        self.args = args
        self.env = env or {}
        self.proc = None
        self.value = None

    def _env(self):
        return {**child_env(), **self.env}

    def _spawn(self):
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=self.stderr,
                                     stdin=subprocess.DEVNULL, cwd=ROOT, env=self._env())

    def _ready(self, line):
        self.value = line.strip()[len(self.prefix):]
        return self

    def start(self, timeout=None):
        """Start it; a Deferred firing with self once it printed its ready line (the
        reactor runs meanwhile), failing with StartError after ``timeout`` seconds
        (default $V23PY_TEST_START_TIMEOUT, else 30)."""
        self._spawn()
        return wait_for_line(self.proc, self.prefix, _start_timeout(timeout), self.what,
                             stderr=self.stderr).addCallback(self._ready)

    def start_blocking(self, timeout=None):
        """start() for scripts with no reactor running (benchmarks): returns self once
        the ready line came, raises StartError after ``timeout`` seconds."""
        import select
        self._spawn()
        timeout = _start_timeout(timeout)
        end = time.monotonic() + timeout
        seen = b""
        while True:
            line = b""
            while not line.endswith(b"\n"):
                left = end - time.monotonic()
                if left <= 0 or not select.select([self.proc.stdout], [], [], left)[0]:
                    break
                c = os.read(self.proc.stdout.fileno(), 1)   # unbuffered: nothing read ahead
                if not c:
                    break
                line += c
            text = line.decode("utf-8", "replace")
            if text.startswith(self.prefix) and text.endswith("\n"):
                return self._ready(text)
            seen += line
            if not line.endswith(b"\n"):
                break
        _kill(self.proc)
        raise StartError(f"{self.what} did not start within {timeout:g}s: stdout "
                         f"{seen.decode('utf-8', 'replace')[-1000:]!r}; "
                         f"stderr: {_stderr_tail(self.proc, self.stderr)}")

    def signal_stop(self, sig=None):
        """Ask it to stop (SIGTERM, once) without waiting for it."""
        if self.proc is not None and self.proc.poll() is None and not self._signalled:
            self._signalled = True
            self.proc.send_signal(sig or signal.SIGTERM)

    _signalled = False

    def report(self, wait=0.5) -> str:
        """For a failure message: the end of its stderr, with every thread's stack when
        it still runs (syncbased writes them on SIGUSR1)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGUSR1)
            time.sleep(wait)
        state = "running" if self.proc.poll() is None else f"exited {self.proc.returncode}"
        self.stderr.seek(0)
        said = self.stderr.read().decode("utf-8", "replace")
        return f"{self.what} {state}; stderr:\n{said[-8000:]}"

    def stop(self, sig=None):
        """Stop it (SIGTERM, then SIGKILL after 15 s); its exit status."""
        if self.proc is None:
            return None
        self.signal_stop(sig)
        try:
            return self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()
        finally:
            self.proc.stdout.close()

    def kill9(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
            self.proc.stdout.close()


def _start_timeout(timeout):
    if timeout is None:
        timeout = float(os.environ.get("V23PY_TEST_START_TIMEOUT") or 30)
    return timeout


class Daemon(_ReadyChild):
    """Our syncbased subprocess; ``endpoint`` is the name from its ENDPOINT= line."""
    kind = "py"

    def __init__(self, creds, root_dir=None, extra=(), engine="sqlite", env=None):
        self.root_dir = root_dir or tempfile.mkdtemp(prefix="sbe2e-")
        self.creds = creds
        super().__init__([sys.executable, "-m", "syncbased.main",
                          "--v23.tcp.address=127.0.0.1:0", f"--v23.credentials={creds}",
                          f"--root-dir={self.root_dir}", f"--engine={engine}", *extra], env)

    @property
    def endpoint(self):
        return self.value


class GoDaemon(Daemon):
    """Go's own 2017 syncbased (.ci/go-peers.sh, group "syncbase"; ``binary`` to run
    another build), flagged for tests and benchmarks: loopback only, the namespace root
    ``mount_table`` (else one that answers nothing), not advertised in the neighborhood
    unless asked; its logs in its root directory."""
    kind = "go"
    what = "Go syncbased"

    def __init__(self, creds, root_dir=None, mount_table=None, neighborhood=False, extra=(),
                 binary=None):
        self.root_dir = root_dir or tempfile.mkdtemp(prefix="sbgo-")
        self.creds = creds
        _ReadyChild.__init__(self, [
            binary or go_binary("syncbased", "syncbase"), "--v23.tcp.address=127.0.0.1:0",
            f"--v23.credentials={creds}", f"--root-dir={self.root_dir}",
            f"--log_dir={self.root_dir}",
            f"--v23.namespace.root={mount_table or '/127.0.0.1:1'}", *extra,
            *(() if neighborhood else ("--skip-publish-in-nh",))])

    def _env(self):
        return child_env(v23_vars=False)


class GoMountTable(_ReadyChild):
    """Go's mounttabled on loopback; ``name`` from its NAME= line."""
    prefix = "NAME="
    what = "Go mounttabled"

    def __init__(self, creds, binary=None):
        super().__init__([binary or go_binary("mounttabled"),
                          "--v23.tcp.address=127.0.0.1:0", f"--v23.credentials={creds}"])

    def _env(self):
        return child_env(v23_vars=False)

    @property
    def name(self):
        return self.value


ALICE = "idp:o:fortune:alice"


def sleep(seconds):
    """A Deferred that fires after ``seconds`` (await it in async tests)."""
    from twisted.internet import defer, reactor
    d = defer.Deferred()
    reactor.callLater(seconds, d.callback, None)
    return d


class DaemonTestCase(unittest.TestCase):
    """Alice's credentials in a temporary directory, a runtime context on them
    (``self.ctx``), and ``daemon()`` for syncbased subprocesses stopped at cleanup."""
    timeout = 90

    def setUp(self):
        import shutil
        import v23py
        from twisted.internet import reactor
        self.tmp = tempfile.mkdtemp(prefix="sbtest-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.creds = make_creds(os.path.join(self.tmp, "alice"), ALICE)
        self.ctx, shutdown = v23py.init([f"--v23.credentials={self.creds}"], reactor=reactor)
        self.addCleanup(shutdown)

    def daemon(self, **kw):
        """A started daemon (a Deferred: ``a = await self.daemon()``)."""
        kw.setdefault("root_dir", tempfile.mkdtemp(dir=self.tmp))
        return self.start_daemon(Daemon(self.creds, **kw))

    def start_daemon(self, d):
        """Start ``d``, stopped at cleanup; a Deferred firing with it once ready."""
        if not hasattr(self, "_daemons"):
            self._daemons = []
        self._daemons.append(d)
        self.addCleanup(d.stop)
        # (cleanups run last-in first: every daemon gets its SIGTERM before the first
        # stop() waits, so they shut down side by side)
        self.addCleanup(lambda: [x.signal_stop() for x in self._daemons])
        return d.start()

    async def daemons(self, n, **kw):
        """``n`` daemons, started two at a time (one per core: each start's timeout then
        measures its own start, not the others'); a list, once all are ready."""
        from twisted.internet import defer
        sem = defer.DeferredSemaphore(2)
        return await defer.gatherResults([sem.run(self.daemon, **kw) for _ in range(n)],
                                         consumeErrors=True)


async def sync_peer(ctx, d, db_name, collection, admin=None, info=None, **spec):
    """Database ``db_name`` and its ``collection`` on daemon ``d``, in syncgroup "sg":
    created there (its admin) when ``admin`` is None, else joined through ``admin``.
    ``spec``: SyncgroupSpec fields besides the collection and Alice's Admin+Read perms.
    Returns (database, collection)."""
    from v23py import syncbase
    db = syncbase.new_service(d.endpoint).database(ctx, db_name, None)
    await db.create(ctx, None)
    c = db.collection(ctx, collection)
    await c.create(ctx, None)
    sg = db.syncgroup(ctx, "sg")
    info = info if info is not None else syncbase.SyncgroupMemberInfo(SyncPriority=10)
    if admin is None:
        await sg.create(ctx, syncbase.SyncgroupSpec(
            Perms=syncbase.perms_for(ALICE, ["Admin", "Read"]), Collections=[c.id()], **spec),
            info)
    else:
        await sg.join(ctx, admin.endpoint, None, info)
    return db, c


class OwnTmpDaemon(Daemon):
    """A daemon whose $TMPDIR (and so its same-host neighborhood directory) is its own."""

    def start(self, timeout=None):
        # beside its root, so that whoever removes the root's parent removes this too
        tmp = self.own_tmp = tempfile.mkdtemp(prefix="sbnh-tmp-",
                                              dir=os.path.dirname(os.path.abspath(self.root_dir)))
        old = os.environ.get("TMPDIR")
        os.environ["TMPDIR"] = tmp
        try:
            return super().start(timeout)     # (the child's environment is taken here)
        finally:
            if old is None:
                os.environ.pop("TMPDIR", None)
            else:
                os.environ["TMPDIR"] = old
