"""App conflict resolution against Go: Go's 2017 client library (our Go program
tests/interop/go/sbextra) registers a resolver with our daemons, and our client's
resolver works against Go's daemons; the same conflict (written concurrently on two
peers) resolves to the same result everywhere, and Go's resolver is shown the same
conflict by our daemon as by Go's.  Also the schema upgrade path across the two.
"""
import os

from twisted.internet import defer

from v23py.testing.cr import Merger, schema
from v23py.testing.syncbase import Daemon, GoDaemon, sleep
from tests.interop._go_syncbase import ALICE, APP, PairBase, run, sbextra


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
            h = syncbase.new_service(d.endpoint).database_for_id(db.id(),
                                                              schema(c.id(), "k", merger))
            await h.enforce_schema(self.ctx)
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
        h = syncbase.new_service(ds[0].endpoint).database_for_id(db.id(),
                                                             schema(c.id(), "k", merger))
        await h.enforce_schema(self.ctx)
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
        go = await self.start(GoDaemon(self.creds, os.path.join(self.tmp, "gs"),
                                       neighborhood=True, extra=("--dev",)))
        ours = await self.start(Daemon(self.creds, os.path.join(self.tmp, "os"),
                                       extra=("--skip-publish-in-nh",)))
        cx = (ALICE, "cx")
        for d in (go, ours):
            db = syncbase.new_service(d.endpoint).database(
                self.ctx, "sdb", syncbase.Schema(syncbase.SchemaMetadata(
                    1, [syncbase.CrRule(cx, "a")])))
            await db.create(self.ctx, None)
            for version, want in ((3, 3), (2, 3)):
                out, err, code = await run([sbextra(), f"--v23.credentials={self.creds}",
                                            f"-version={version}", "schema", d.endpoint,
                                            f"{APP},sdb", f"{ALICE},cx", "b"])
                self.assertEqual(code, 0, err[-2000:])
                self.assertIn(f"{{Version:{want} ", out)
                md = await db.get_schema_metadata(self.ctx)
                self.assertEqual((md.version, md.rules[0].key_prefix), (3, "b"))
            await syncbase.new_service(d.endpoint).database(
                self.ctx, "sdb", syncbase.Schema(syncbase.SchemaMetadata(
                    4, [syncbase.CrRule(cx, "c")]))).enforce_schema(self.ctx)
            out, err, code = await run([sbextra(), f"--v23.credentials={self.creds}",
                                        "-version=1", "schema", d.endpoint, f"{APP},sdb",
                                        f"{ALICE},cx", "b"])
            self.assertIn("{Version:4 Policy:{Rules:[{CollectionId:idp:o:fortune:alice,cx "
                          "KeyPrefix:c Type: Resolver:LastWins}]}}", out)
