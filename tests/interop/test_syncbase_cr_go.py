"""App conflict resolution against Go: Go's 2017 client library (our Go program
tests/interop/go/sbextra) registers a resolver with our daemons, and our client's
resolver works against Go's daemons; the same conflict (written concurrently on two
peers) resolves to the same result everywhere, and Go's resolver is shown the same
conflict by our daemon as by Go's.  Also the schema upgrade path across the two.
"""
import os
import shutil
import tempfile

from twisted.internet import defer, reactor
from twisted.trial import unittest

from tests._syncbase_support import make_creds, sleep
from tests._support import go_binary
from tests.interop._go_syncbase import _Lines, env, go_daemon, go_sb_binary, our_daemon, run
from tests.interop.test_syncbase_invites_go import sbextra
from tests.test_syncbase_cr_e2e import Merger, converge, schema

ALICE = "idp:o:fortune:alice"
APP = "idp:o:fortune"


class PairBase(unittest.TestCase):
    """Alice's credentials, a context, and pairs of daemons (ours, Go's or mixed) in one
    syncgroup."""
    timeout = 180

    def setUp(self):
        import v23py
        self.tmp = tempfile.mkdtemp(prefix="sbcr-go-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.creds = make_creds(os.path.join(self.tmp, "alice"), ALICE)
        self.ctx, shutdown = v23py.init([f"--v23.credentials={self.creds}"], reactor=reactor)
        self.addCleanup(shutdown)

    async def start(self, proc):
        self.addCleanup(lambda: defer.ensureDeferred(proc.stop()))
        return await proc.start()

    async def mount_table(self):
        mtd = go_binary("mounttabled")
        pp = _Lines()
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
        from v23py import syncbase
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
            db = syncbase.NewService(d.endpoint).DatabaseForId((APP, f"db{tag}"))
            await db.Create(self.ctx, None)
            c = db.CollectionForId((ALICE, "cx"))
            await c.Create(self.ctx, None)
            sg = db.SyncgroupForId((ALICE, "sg"))
            info = syncbase.SyncgroupMemberInfo(SyncPriority=10)
            if i == 0:
                await sg.Create(self.ctx, syncbase.SyncgroupSpec(
                    Perms={"Admin": {"In": [ALICE]}, "Read": {"In": [ALICE]}},
                    Collections=[c.Id()], MountTables=mts), info)
            else:
                await sg.Join(self.ctx, ds[0].endpoint, None, info)
            cols.append((db, c))
        return ds, cols

    def go_resolver(self, d, tag, mode="merge"):
        pp = _Lines()
        argv = [sbextra(), f"--v23.credentials={self.creds}", f"-mode={mode}", "-n=1000",
                "-wait=170s", "resolve", d.endpoint, f"{APP},db{tag}", f"{ALICE},cx", "k"]
        p = reactor.spawnProcess(pp, argv[0], argv, env=env())
        self.addCleanup(self._kill, p)
        return pp

    async def conflict(self, cols, key="k1"):
        """base everywhere, then x on the first peer and y (later) on the second while
        sync is paused; the converged value."""
        (db0, c0), (db1, c1) = cols
        await c0.Put(self.ctx, key, "base")
        self.assertEqual(await converge(self.ctx, [c0, c1], key, 30), "base")
        for db, _ in cols:
            await db.PauseSync(self.ctx)
        await c0.Put(self.ctx, key, "x")
        await sleep(0.05)
        await c1.Put(self.ctx, key, "y")
        for db, _ in cols:
            await db.ResumeSync(self.ctx)
        return await converge(self.ctx, [c0, c1], key, 30)

    @staticmethod
    def _kill(p):
        try:
            p.signalProcess("KILL")
        except Exception:
            pass



class CrInteropTest(PairBase):
    @defer.inlineCallbacks
    def test_go_resolver_on_both_daemons(self):
        yield defer.ensureDeferred(self._go_resolver())

    async def _go_resolver(self):
        shown = {}
        for kind, tag in (("ours", "o"), ("go", "g")):
            ds, cols = await self.pair(kind, tag)
            outs = [self.go_resolver(d, tag) for d in ds]
            for _ in range(100):
                if all(b"READY" in pp.out for pp in outs):
                    break
                await sleep(0.1)
            await sleep(0.5)                 # the resolver's stream is open
            self.assertEqual(await self.conflict(cols), "merged:x+y", kind)
            lines = sorted({ln for pp in outs for ln in pp.out.decode().splitlines()
                            if ln.startswith("CONFLICT k1 local=Exists:")})
            shown[kind] = lines
        # Go's resolver was shown the same first conflict by our daemons as by Go's
        want = ["CONFLICT k1 local=Exists:x remote=Exists:y ancestor=Exists:base batches=2",
                "CONFLICT k1 local=Exists:y remote=Exists:x ancestor=Exists:base batches=2"]
        for kind in ("ours", "go"):
            got = [ln for ln in shown[kind] if "ancestor=Exists:base" in ln]
            self.assertTrue(got and set(got) <= set(want), (kind, shown))

    @defer.inlineCallbacks
    def test_our_resolver_on_go_daemons(self):
        yield defer.ensureDeferred(self._our_resolver())

    async def _our_resolver(self):
        from v23py import syncbase
        ds, cols = await self.pair("go", "r")
        merger = Merger()
        for d, (db, c) in zip(ds, cols):
            h = syncbase.NewService(d.endpoint).DatabaseForId(db.Id(),
                                                              schema(c.Id(), "k", merger))
            await h.EnforceSchema(self.ctx)
            self.addCleanup(h.Close)
            await h._resolver.connected
        await sleep(0.5)
        self.assertEqual(await self.conflict(cols), "merged:x+y")
        rows = [r for rs, _ in merger.seen for r in rs]
        self.assertIn(rows[0], [("k1", "x", "y", "base"), ("k1", "y", "x", "base")])
        self.assertEqual(merger.seen[0][1], 2)        # Go's single puts are batches too

    @defer.inlineCallbacks
    def test_mixed_peers_resolve_alike(self):
        """Our daemon (admin, our client's resolver) and Go's (joiner, Go's resolver):
        the app resolutions of either side sync to the other as new versions."""
        yield defer.ensureDeferred(self._mixed())

    async def _mixed(self):
        from v23py import syncbase
        ds, cols = await self.pair("mixed", "m")
        merger = Merger()
        db, c = cols[0]
        h = syncbase.NewService(ds[0].endpoint).DatabaseForId(db.Id(),
                                                             schema(c.Id(), "k", merger))
        await h.EnforceSchema(self.ctx)
        self.addCleanup(h.Close)
        out = self.go_resolver(ds[1], "m")
        for _ in range(100):
            if b"READY" in out.out:
                break
            await sleep(0.1)
        await sleep(0.5)
        self.assertEqual(await self.conflict(cols), "merged:x+y")
        # each side's resolver is shown the conflict unless the other's resolution
        # reached it first (then its own version is an ancestor: no conflict)
        ours_saw = ([("k1", "x", "y", "base")], 2) in merger.seen
        go_saw = b"CONFLICT k1 local=Exists:y remote=Exists:x ancestor=Exists:base batches=2" \
            in out.out
        self.assertTrue(ours_saw or go_saw, (merger.seen, out.out))

    @defer.inlineCallbacks
    def test_schema_upgrades_across(self):
        yield defer.ensureDeferred(self._schema())

    async def _schema(self):
        """Go's client upgrades the schema our daemon stores and ours reads it, and the
        other way round; neither downgrades."""
        from v23py import syncbase
        go = await self.start(go_daemon(self.creds, os.path.join(self.tmp, "gs"), "--dev"))
        ours = await self.start(our_daemon(self.creds, os.path.join(self.tmp, "os"),
                                           "--skip-publish-in-nh"))
        cx = (ALICE, "cx")
        for d in (go, ours):
            db = syncbase.NewService(d.endpoint).Database(
                self.ctx, "sdb", syncbase.Schema(syncbase.SchemaMetadata(
                    1, [syncbase.CrRule(cx, "a")])))
            await db.Create(self.ctx, None)
            for version, want in ((3, 3), (2, 3)):
                out, err, code = await run([sbextra(), f"--v23.credentials={self.creds}",
                                            f"-version={version}", "schema", d.endpoint,
                                            f"{APP},sdb", f"{ALICE},cx", "b"])
                self.assertEqual(code, 0, err[-2000:])
                self.assertIn(f"{{Version:{want} ", out)
                md = await db.GetSchemaMetadata(self.ctx)
                self.assertEqual((md.Version, md.Rules[0].KeyPrefix), (3, "b"))
            await syncbase.NewService(d.endpoint).Database(
                self.ctx, "sdb", syncbase.Schema(syncbase.SchemaMetadata(
                    4, [syncbase.CrRule(cx, "c")]))).EnforceSchema(self.ctx)
            out, err, code = await run([sbextra(), f"--v23.credentials={self.creds}",
                                        "-version=1", "schema", d.endpoint, f"{APP},sdb",
                                        f"{ALICE},cx", "b"])
            self.assertIn("{Version:4 Policy:{Rules:[{CollectionId:idp:o:fortune:alice,cx "
                          "KeyPrefix:c Type: Resolver:LastWins}]}}", out)
