"""Go's 2017 Syncbase peers for interop tests, driven from the reactor: the daemon (and
ours beside it) as subprocesses started without blocking, and one-shot commands (Go's
``sb``, our ``sbextra``).  The programs come from .ci/go-peers.sh (group "syncbase")."""
import os
import re
import sys
import tempfile

from twisted.internet import defer, error, reactor, utils
from twisted.trial import unittest

import v23py
from v23py import syncbase
from v23py.testing import ROOT, go_binary, tempdir
from v23py.testing.cr import converge
from v23py.testing.procs import Daemon
from v23py.testing.syncbase import make_creds, sleep

ALICE = "idp:o:fortune:alice"
APP = "idp:o:fortune"


def go_sb_binary(name):
    """Path of a Go Syncbase program (syncbased, sb, sbextra, ...); missing: `unavailable`
    (a failure in CI, a skip elsewhere) saying why."""
    return go_binary(name, "syncbase")


def env():
    e = {k: v for k, v in os.environ.items() if not k.startswith("V23_")}
    e["PYTHONPATH"] = ROOT + os.pathsep + e.get("PYTHONPATH", "")
    return e


# a daemon's first stdout line (its ENDPOINT= line when all is well)
_FIRST_LINE = re.compile(rb"\A([^\n]*)\n")


class Process:
    """A daemon subprocess (Go's or ours) printing ENDPOINT=<name> when ready."""

    def __init__(self, argv, env_=None):
        self.argv = argv
        self.env = env_ or env()
        self.pp = Daemon(_FIRST_LINE)
        self.proc = None
        self.endpoint = None

    async def start(self, timeout=30.0):
        self.proc = reactor.spawnProcess(self.pp, self.argv[0], self.argv, env=self.env,
                                         path=ROOT)
        timer = reactor.callLater(timeout, self._timeout)
        try:
            line = await self.pp.ready
        finally:
            if timer.active():
                timer.cancel()
        if not line.startswith("ENDPOINT="):
            await self.stop()
            raise RuntimeError(f"{self.argv[0]} printed {line!r}")
        self.endpoint = line.split("=", 1)[1].strip()
        return self

    def _timeout(self):
        if not self.pp.ready.called:
            self.pp.ready.errback(RuntimeError(f"{self.argv[0]} did not start in time"))
            self.kill()

    def kill(self):
        try:
            self.proc.signalProcess("KILL")
        except (error.ProcessExitedAlready, AttributeError):
            pass

    async def stop(self):
        if self.proc is None or self.pp.ended.called:
            return
        try:
            self.proc.signalProcess("TERM")
        except error.ProcessExitedAlready:
            return
        timer = reactor.callLater(15, self.kill)
        await self.pp.ended
        if timer.active():
            timer.cancel()


def go_daemon(creds, root_dir, *extra):
    """Go's syncbased (not yet started)."""
    return Process([go_sb_binary("syncbased"), "--v23.tcp.address=127.0.0.1:0",
                    f"--v23.credentials={creds}", f"--root-dir={root_dir}",
                    f"--log_dir={root_dir}", *extra])


def our_daemon(creds, root_dir, *extra):
    """Our syncbased (not yet started)."""
    return Process([sys.executable, "-m", "syncbased.main", "--v23.tcp.address=127.0.0.1:0",
                    f"--v23.credentials={creds}", f"--root-dir={root_dir}", *extra])


async def run(argv, stdin=None, timeout=60.0):
    """(stdout, stderr, exit code) of a command run to its end."""
    if stdin is not None:
        fd, path = tempfile.mkstemp(prefix="sbin-")
        with os.fdopen(fd, "w") as f:
            f.write(stdin)
        argv = ["/bin/sh", "-c", 'exec "$0" "$@" < "$SBX_STDIN"', *argv]
        e = dict(env(), SBX_STDIN=path)
    else:
        e = env()
    try:
        d = utils.getProcessOutputAndValue(argv[0], argv[1:], env=e, path=ROOT)
        timer = reactor.callLater(timeout, d.cancel)
        try:
            out, err, code = await d
        finally:
            if timer.active():
                timer.cancel()
    finally:
        if stdin is not None:
            os.unlink(path)
    return out.decode("utf-8", "replace"), err.decode("utf-8", "replace"), code


def sbextra():
    """Our Go program over Go's client library (tests/interop/go/sbextra)."""
    return go_sb_binary("sbextra")


class PairBase(unittest.TestCase):
    """Alice's credentials, a context, and pairs of daemons (ours, Go's or mixed) in one
    syncgroup."""
    timeout = 180

    def setUp(self):
        self.tmp = tempdir(self, prefix="sbcr-go-")
        self.creds = make_creds(os.path.join(self.tmp, "alice"), ALICE)
        self.ctx, shutdown = v23py.init([f"--v23.credentials={self.creds}"], reactor=reactor)
        self.addCleanup(shutdown)

    async def start(self, proc):
        self.addCleanup(lambda: defer.ensureDeferred(proc.stop()))
        return await proc.start()

    async def mount_table(self):
        mtd = go_binary("mounttabled")
        pp = Daemon()
        p = reactor.spawnProcess(pp, mtd, [mtd, "--v23.tcp.address=127.0.0.1:0",
                                           f"--v23.credentials={self.creds}"], env=env())
        self.addCleanup(self._kill, p)
        for _ in range(100):
            for ln in pp.out.decode().splitlines():
                if ln.startswith("NAME="):
                    return ln[5:]
            await sleep(0.1)
        self.fail("Go's mounttabled printed no NAME=")

    async def pair(self, kind, tag):
        """Two daemons of one kind sharing syncgroup sg over collection cx of database
        db<tag> (Go's need a mount table to find each other)."""
        if kind in ("go", "mixed"):
            go_sb_binary("syncbased")
            mt = await self.mount_table()
            extra, mts = (f"--v23.namespace.root={mt}", "--skip-publish-in-nh", "--dev"), [mt]
            mks = (go_daemon, go_daemon) if kind == "go" else (our_daemon, go_daemon)
        else:
            extra, mts, mks = ("--skip-publish-in-nh",), [], (our_daemon, our_daemon)
        ds = [await self.start(mk(self.creds, os.path.join(self.tmp, f"{kind}{tag}{i}"),
                                  *extra)) for i, mk in enumerate(mks)]
        cols = []
        for i, d in enumerate(ds):
            db = syncbase.new_service(d.endpoint).database_for_id((APP, f"db{tag}"))
            await db.create(self.ctx, None)
            c = db.collection_for_id((ALICE, "cx"))
            await c.create(self.ctx, None)
            sg = db.syncgroup_for_id((ALICE, "sg"))
            info = syncbase.SyncgroupMemberInfo(SyncPriority=10)
            if i == 0:
                await sg.create(self.ctx, syncbase.SyncgroupSpec(
                    Perms={"Admin": {"In": [ALICE]}, "Read": {"In": [ALICE]}},
                    Collections=[c.id()], MountTables=mts), info)
            else:
                await sg.join(self.ctx, ds[0].endpoint, None, info)
            cols.append((db, c))
        return ds, cols

    def go_resolver(self, d, tag, mode="merge"):
        pp = Daemon()
        argv = [sbextra(), f"--v23.credentials={self.creds}", f"-mode={mode}", "-n=1000",
                "-wait=170s", "resolve", d.endpoint, f"{APP},db{tag}", f"{ALICE},cx", "k"]
        p = reactor.spawnProcess(pp, argv[0], argv, env=env())
        self.addCleanup(self._kill, p)
        return pp

    async def conflict(self, cols, key="k1"):
        """base everywhere, then x on the first peer and y (later) on the second while
        sync is paused; the converged value."""
        (db0, c0), (db1, c1) = cols
        await c0.put(self.ctx, key, "base")
        self.assertEqual(await converge(self.ctx, [c0, c1], key, 30), "base")
        for db, _ in cols:
            await db.pause_sync(self.ctx)
        await c0.put(self.ctx, key, "x")
        await sleep(0.05)
        await c1.put(self.ctx, key, "y")
        for db, _ in cols:
            await db.resume_sync(self.ctx)
        return await converge(self.ctx, [c0, c1], key, 30)

    @staticmethod
    def _kill(p):
        try:
            p.signalProcess("KILL")
        except Exception:
            pass
