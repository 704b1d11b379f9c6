"""Collection.put_rows against a real syncbased: v23py's ``%%rows`` extension (many rows in
one call), its checks (the same as Put's), atomicity, batches, and the fallback a client
uses against a daemon without the extension (Go's; tested against Go's daemon in
tests/interop/test_syncbase_mixed_go)."""
from twisted.internet import defer

from v23py import verror
from v23py.v23.services import syncbase as sbwire
from v23py.testing.syncbase import ALICE, DaemonTestCase


class PutRowsTest(DaemonTestCase):
    timeout = 60

    async def _cx(self, d, name="db"):
        from v23py import syncbase
        db = syncbase.new_service(d.endpoint).database(self.ctx, name, None)
        await db.create(self.ctx, None)
        cx = db.collection(self.ctx, "c")
        await cx.create(self.ctx, None)
        return db, cx

    async def _keys(self, cx, prefix=""):
        from v23py import syncbase
        return {k: v async for k, v in cx.scan(self.ctx, syncbase.Prefix(prefix))}

    async def assertVError(self, err_id, d):
        try:
            await d
        except verror.VError as e:
            self.assertEqual(e.id, err_id.id, str(e))
            return e
        self.fail(f"expected {err_id.id}")

    @defer.inlineCallbacks
    def test_rows_in_one_call_one_watch_batch(self):
        yield defer.ensureDeferred(self._one_call())

    async def _one_call(self):
        from v23py.syncbase import collection as clientcx
        d = await self.daemon()
        db, cx = await self._cx(d)
        marker = await db.get_resume_marker(self.ctx)
        rows = {f"r{i:03d}": i for i in range(300)}
        rows["s"] = "a string"
        rows["with/slash%"] = [1, 2]
        await cx.put_rows(self.ctx, rows)
        # one call, served by the extension: the client did not fall back
        self.assertNotIn(d.endpoint, clientcx._NO_ROWS_EXT)
        got = await self._keys(cx)
        self.assertEqual(set(got), set(rows))
        self.assertEqual(got["r007"], 7)
        self.assertEqual(got["s"], "a string")
        self.assertEqual(list(got["with/slash%"]), [1, 2])
        self.assertEqual(await cx.get(self.ctx, "with/slash%"), got["with/slash%"])
        # committed together: one watch batch holding every row
        ws = db.watch(self.ctx, marker)
        batch = []
        async for c in ws:
            batch.append(c)
            if not c.continued:
                break
        ws.cancel()
        self.assertEqual({c.row for c in batch}, set(rows))
        self.assertTrue(all(not c.from_sync and c.change_type == "put" for c in batch))

    @defer.inlineCallbacks
    def test_atomic_and_checked_like_put(self):
        yield defer.ensureDeferred(self._checks())

    async def _checks(self):
        from v23py import syncbase
        d = await self.daemon()
        db, cx = await self._cx(d)
        # a bad key: nothing of the call is written, the error is Put's
        await self.assertVError(sbwire.ErrInvalidName,
                                cx.put_rows(self.ctx, [("ok1", 1), ("bad\x01", 2), ("ok2", 3)]))
        await self.assertVError(sbwire.ErrInvalidName,
                                cx.put_rows(self.ctx, [("ok1", 1), ("", 2)]))
        self.assertEqual(await self._keys(cx), {})
        # no Write on the collection: the same refusal as a Put's
        await cx.set_permissions(self.ctx, syncbase.perms_for(ALICE, ["Read", "Admin"]))
        put_err = await self.assertVError(verror.NoAccess, cx.put(self.ctx, "x", 1))
        rows_err = await self.assertVError(verror.NoAccess, cx.put_rows(self.ctx, {"x": 1}))
        self.assertEqual(rows_err.id, put_err.id)
        # a collection that does not exist
        other = db.collection(self.ctx, "nope")
        await self.assertVError(verror.NoExist, other.put_rows(self.ctx, {"x": 1}))
        await self.assertVError(verror.NoExist, other.put(self.ctx, "x", 1))

    @defer.inlineCallbacks
    def test_inside_a_batch(self):
        yield defer.ensureDeferred(self._batch())

    async def _batch(self):
        d = await self.daemon()
        db, cx = await self._cx(d)
        b = await db.begin_batch(self.ctx)
        bc = b.collection_for_id(cx.id())
        await bc.put_rows(self.ctx, {"a": 1, "b": 2})
        await bc.put(self.ctx, "c", 3)
        self.assertEqual(await self._keys(cx), {})          # not before the commit
        self.assertEqual(set(await self._keys(bc)), {"a", "b", "c"})   # seen in the batch
        await b.commit(self.ctx)
        self.assertEqual(await self._keys(cx), {"a": 1, "b": 2, "c": 3})
        b = await db.begin_batch(self.ctx)
        await b.collection_for_id(cx.id()).put_rows(self.ctx, {"d": 4})
        await b.abort(self.ctx)
        self.assertEqual(set(await self._keys(cx)), {"a", "b", "c"})
        # a read-only batch refuses, as for Put
        from v23py import syncbase
        ro = await db.begin_batch(self.ctx, syncbase.BatchOptions(ReadOnly=True))
        await self.assertVError(sbwire.ErrReadOnlyBatch,
                                ro.collection_for_id(cx.id()).put_rows(self.ctx, {"e": 5}))

    @defer.inlineCallbacks
    def test_fallback_is_a_batch_of_puts(self):
        yield defer.ensureDeferred(self._fallback())

    async def _fallback(self):
        """The path taken against a daemon without %%rows, run here against ours: the
        same rows, committed together, in a batch or alone."""
        d = await self.daemon()
        db, cx = await self._cx(d)
        marker = await db.get_resume_marker(self.ctx)
        await cx._put_rows_by_puts(self.ctx, [(f"f{i}", i) for i in range(150)])
        self.assertEqual(len(await self._keys(cx, "f")), 150)
        ws = db.watch(self.ctx, marker)
        n = 0
        async for c in ws:
            n += 1
            if not c.continued:
                break
        ws.cancel()
        self.assertEqual(n, 150)
        # a failing Put aborts the fallback's batch: nothing written
        await self.assertVError(sbwire.ErrInvalidName,
                                cx._put_rows_by_puts(self.ctx, [("g1", 1), ("bad\x01", 2)]))
        self.assertEqual(await self._keys(cx, "g"), {})
