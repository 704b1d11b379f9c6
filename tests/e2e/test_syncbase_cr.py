"""Conflict resolution by the application between two of our daemons: schemas with CR
rules by collection and key prefix, StartConflictResolver, conflicts grouped by batch,
each choice (local, remote, ancestor, a new value, delete) written as a new version
that syncs, and the schema upgrade path."""
from twisted.internet import defer

from v23py.testing.cr import Merger, converge, schema, settle
from v23py.testing.syncbase import ALICE, DaemonTestCase, sleep, sync_peer


class AppResolutionTest(DaemonTestCase):
    timeout = 120

    async def pair(self, mode="merge", prefix="k"):
        from v23py import syncbase
        a_d, b_d = await self.daemons(2)
        dba, ca = await sync_peer(self.ctx, a_d, "db", "c")
        dbb, cb = await sync_peer(self.ctx, b_d, "db", "c", admin=a_d)
        ra, rb = Merger(mode), Merger(mode)
        ha = syncbase.new_service(a_d.endpoint).database_for_id(dba.id(),
                                                             schema(ca.id(), prefix, ra))
        hb = syncbase.new_service(b_d.endpoint).database_for_id(dbb.id(),
                                                             schema(cb.id(), prefix, rb))
        for h in (ha, hb):
            await h.enforce_schema(self.ctx)
            self.addCleanup(h.Close)
            await h._resolver.connected
        return (dba, ca, ra), (dbb, cb, rb)

    async def concurrent(self, a, b, writes_a, writes_b, batch=False):
        from v23py import syncbase
        for db, _, _ in (a, b):
            await db.pause_sync(self.ctx)
        for (db, c, _), writes in ((a, writes_a), (b, writes_b)):
            if batch:
                async def fill(bdb, writes=writes):
                    bc = bdb.collection_for_id(c.id())
                    for k, v in writes.items():
                        await bc.put(self.ctx, k, v)
                await syncbase.run_in_batch(self.ctx, db, syncbase.BatchOptions(), fill)
            else:
                for k, v in writes.items():
                    await c.put(self.ctx, k, v)
            await sleep(0.01)
        for db, _, _ in (a, b):
            await db.resume_sync(self.ctx)

    @defer.inlineCallbacks
    def test_app_resolution(self):
        """One pair of daemons (each case uses its own keys): merge and policy by key
        prefix, batches as one conflict, the ancestor and delete choices."""
        yield defer.ensureDeferred(self._app_resolution())

    async def _app_resolution(self):
        a, b = await self.pair()
        ca, cb = a[1], b[1]

        # merge by the app under the prefix "k", LastWins elsewhere
        await ca.put(self.ctx, "k1", "base")
        await ca.put(self.ctx, "other", "base")
        self.assertEqual(await converge(self.ctx, [ca, cb], "other"), "base")
        self.assertEqual(await converge(self.ctx, [ca, cb], "k1"), "base")
        await self.concurrent(a, b, {"k1": "x", "other": "x"}, {"k1": "y", "other": "y"})
        self.assertEqual(await settle(self.ctx, [ca, cb], "k1", [a[2], b[2]]), "merged:x+y")
        self.assertEqual(await converge(self.ctx, [ca, cb], "other"), "y")   # B wrote later
        seen = a[2].seen + b[2].seen
        self.assertTrue(any(len(rows) == 1 and rows[0][0] == "k1" and rows[0][3] == "base"
                            and {rows[0][1], rows[0][2]} == {"x", "y"} for rows, _ in seen), seen)
        self.assertFalse(any(k == "other" for rows, _ in seen for k, *_ in rows))
        # the resolution is a new version that syncs: a later write on either side wins
        await cb.put(self.ctx, "k1", "later")
        self.assertEqual(await converge(self.ctx, [ca, cb], "k1"), "later")

        # batches: A writes kb1, kb2 in one; B writes kb2, kb3 in one: one conflict
        for k in ("kb1", "kb2", "kb3"):
            await ca.put(self.ctx, k, "base")
        self.assertEqual(await converge(self.ctx, [ca, cb], "kb3"), "base")
        a[2].seen.clear()
        b[2].seen.clear()
        await self.concurrent(a, b, {"kb1": "a", "kb2": "a"}, {"kb2": "b", "kb3": "b"},
                              batch=True)
        self.assertEqual(await converge(self.ctx, [ca, cb], "kb2"), "merged:a+b")
        # kb1 and kb3 were no conflict but came with the batches: each side rewrote them
        # (one side does not know the other's value, so the first answers differ) and
        # they settle on one value everywhere (when both sides' answers cross, the two
        # answers are a new conflict, which the app merges in turn)
        for k in ("kb1", "kb3"):
            answers = [f"resolved:{k}", "merged:a+base", "merged:b+base"]
            crossed = [f"merged:{x}+{y}" for x in answers for y in answers if x < y]
            self.assertIn(await converge(self.ctx, [ca, cb], k), answers + crossed)
        first = (a[2].seen + b[2].seen)[0]
        self.assertEqual(sorted(r[0] for r in first[0]), ["kb1", "kb2", "kb3"])
        self.assertEqual(first[1], 2)          # the two batches

        # going back to the common ancestor, deleting, and A's value chosen on both
        # sides (A's app keeps its local version, B's takes the remote one)
        for mode_a, mode_b, key, want in (("ancestor", "ancestor", "ka", "base"),
                                          ("delete", "delete", "kd", None),
                                          ("local", "remote", "kl", "x")):
            a[2].mode, b[2].mode = mode_a, mode_b
            await ca.put(self.ctx, key, "base")
            self.assertEqual(await converge(self.ctx, [ca, cb], key), "base")
            await self.concurrent(a, b, {key: "x"}, {key: "y"})
            await sleep(0.5)
            self.assertEqual(await converge(self.ctx, [ca, cb], key), want, mode_a)
            # the app was asked (the value is not LastWins' pick by chance)
            self.assertTrue(any(rows[0][0] == key for rows, _ in a[2].seen + b[2].seen))

    @defer.inlineCallbacks
    def test_close_ends_a_waiting_resolver(self):
        """A resolver whose stream broke waits to reconnect; Close ends that wait too and
        its result fires once the loop has ended, so no timer outlives the handle."""
        yield defer.ensureDeferred(self._close_waiting())

    async def _close_waiting(self):
        from v23py import syncbase
        d = await self.daemon()
        db, c = await sync_peer(self.ctx, d, "db", "c")
        h = syncbase.new_service(d.endpoint).database_for_id(db.id(),
                                                            schema(c.id(), "k", Merger()))
        await h.enforce_schema(self.ctx)
        loop = h._resolver
        await loop.connected
        d.kill9()
        for _ in range(300):
            if loop._wait is not None:
                break
            await sleep(0.05)
        self.assertTrue(loop._wait is not None and loop._wait.active(),
                        "the broken stream did not lead to a reconnect wait")
        await h.close()
        self.assertTrue(loop.done.called)
        self.assertFalse(loop._wait is not None and loop._wait.active())

    @defer.inlineCallbacks
    def test_schema_upgrade_and_no_resolver(self):
        yield defer.ensureDeferred(self._schema())

    async def _schema(self):
        from v23py import syncbase, verror
        d = await self.daemon()
        s = syncbase.new_service(d.endpoint)
        cx = (ALICE, "c")
        db = s.database(self.ctx, "sdb", schema(cx, "a", None, version=1))
        with self.assertRaises(verror.VError) as cm:       # AppResolves needs a resolver
            await db.enforce_schema(self.ctx)
        self.assertEqual(cm.exception.id, verror.BadState.id)
        v1 = syncbase.Schema(syncbase.SchemaMetadata(1, [syncbase.CrRule(cx, "a")]))
        db = s.database(self.ctx, "sdb", v1)
        await db.create(self.ctx, None)                     # the metadata comes with Create
        self.assertEqual((await db.get_schema_metadata(self.ctx)).version, 1)
        v3 = syncbase.Schema(syncbase.SchemaMetadata(3, [syncbase.CrRule(cx, "b")]))
        await s.database(self.ctx, "sdb", v3).enforce_schema(self.ctx)     # upgrade
        md = await db.get_schema_metadata(self.ctx)
        self.assertEqual((md.version, md.rules[0].key_prefix), (3, "b"))
        await s.database(self.ctx, "sdb", v1).enforce_schema(self.ctx)     # no downgrade
        self.assertEqual((await db.get_schema_metadata(self.ctx)).version, 3)
        # a database created without schema gets one from EnforceSchema
        plain = s.database(self.ctx, "plain", None)
        await plain.create(self.ctx, None)
        with self.assertRaises(verror.VError) as cm:
            await plain.get_schema_metadata(self.ctx)
        self.assertEqual(cm.exception.id, verror.NoExist.id)
        await s.database(self.ctx, "plain", v1).enforce_schema(self.ctx)
        self.assertEqual((await plain.get_schema_metadata(self.ctx)).version, 1)
        # StartConflictResolver needs Admin on an existing database
        with self.assertRaises(verror.VError):
            call = await __import__("v23py.rpc", fromlist=["rpc"]).start_call(
                self.ctx, s.full_name() + "/idp:o:fortune,nodb", "StartConflictResolver", [],
                [], [])
            await call.finish()
