"""Go's 2017 Syncbase peers for interop tests, driven from the reactor: the daemon (and
ours beside it) as subprocesses started without blocking, and one-shot commands (Go's
``sb``, our ``sbextra``).  The programs come from .ci/go-peers.sh (group "syncbase")."""
import os
import tempfile

from twisted.internet import reactor, utils
from twisted.trial import unittest

import v23py
from v23py import syncbase
from v23py.testing import ROOT, child_env, go_binary, tempdir
from v23py.testing.cr import converge
from v23py.testing import procs
from v23py.testing.syncbase import Daemon, GoDaemon, GoMountTable, make_creds, sleep

ALICE = "idp:o:fortune:alice"
APP = "idp:o:fortune"


def go_sb_binary(name):
    """Path of a Go Syncbase program (syncbased, sb, sbextra, ...); missing: `unavailable`
    (a failure in CI, a skip elsewhere) saying why."""
    return go_binary(name, "syncbase")


async def run(argv, stdin=None, timeout=60.0):
    """(stdout, stderr, exit code) of a command run to its end."""
    if stdin is not None:
        fd, path = tempfile.mkstemp(prefix="sbin-")
        with os.fdopen(fd, "w") as f:
            f.write(stdin)
        argv = ["/bin/sh", "-c", 'exec "$0" "$@" < "$SBX_STDIN"', *argv]
        e = dict(child_env(v23_vars=False), SBX_STDIN=path)
    else:
        e = child_env(v23_vars=False)
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

    async def start(self, daemon):
        self.addCleanup(daemon.stop)
        return await daemon.start()

    async def mount_table(self):
        return (await self.start(GoMountTable(self.creds))).name

    async def pair(self, kind, tag):
        """Two daemons of one kind sharing syncgroup sg over collection cx of database
        db<tag> (Go's need a mount table to find each other)."""
        if kind in ("go", "mixed"):
            go_sb_binary("syncbased")
            mt = await self.mount_table()
            mts = [mt]

            def go(root):
                return GoDaemon(self.creds, root, mount_table=mt, extra=("--dev",))

            def ours(root):
                return Daemon(self.creds, root, extra=(
                    f"--v23.namespace.root={mt}", "--skip-publish-in-nh", "--dev"))
            mks = (go, go) if kind == "go" else (ours, go)
        else:
            mts = []

            def ours(root):
                return Daemon(self.creds, root, extra=("--skip-publish-in-nh",))
            mks = (ours, ours)
        ds = [await self.start(mk(os.path.join(self.tmp, f"{kind}{tag}{i}")))
              for i, mk in enumerate(mks)]
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
        pp = procs.Daemon()
        argv = [sbextra(), f"--v23.credentials={self.creds}", f"-mode={mode}", "-n=1000",
                "-wait=170s", "resolve", d.endpoint, f"{APP},db{tag}", f"{ALICE},cx", "k"]
        p = reactor.spawnProcess(pp, argv[0], argv, env=child_env(v23_vars=False))
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
