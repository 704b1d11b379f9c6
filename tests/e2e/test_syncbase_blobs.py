"""Blobs end to end: real syncbased daemons, the client library's Blob API,
restarts, and a blob fetched peer to peer through a synced row."""
import hashlib
import os
import signal

from twisted.internet import defer, reactor

from v23py import verror
from v23py.v23.services import syncbase as sbwire
from syncbased.blobstore.store import InvalidBlobName, BlobAlreadyFinalized, \
    IllegalPositionForRead
from v23py.testing.syncbase import DaemonTestCase, make_creds, sleep, sync_peer
from v23py.testing import tempdir

BOB = "idp:o:fortune:bob"


class _Base(DaemonTestCase):
    async def db(self, d, create=True):
        from v23py import syncbase
        db = syncbase.new_service(d.endpoint).database(self.ctx, "blobDb", None)
        if create:
            await db.create(self.ctx, None)
        return db

    async def expect(self, err, coro):
        try:
            await coro
        except verror.VError as e:
            self.assertEqual(e.id, err.id, str(e))
            return e
        self.fail(f"expected {err.id}")

    async def put_blob(self, db, chunks):
        b = await db.create_blob(self.ctx)
        w = await b.put(self.ctx)
        for c in chunks:
            await w.send(c)
        await w.close()
        await b.commit(self.ctx)
        return b


class LocalBlobTest(_Base):
    @defer.inlineCallbacks
    def test_create_put_commit_get_size_delete(self):
        yield defer.ensureDeferred(self._crud())

    async def _crud(self):
        d = await self.daemon()
        db = await self.db(d)
        b = await db.create_blob(self.ctx)
        self.assertRegex(b.ref(), r"^blob/[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{26}$")
        self.assertEqual(await b.size(self.ctx), 0)
        # reading or fetching an uncommitted blob: BlobNotCommitted (as Go's test)
        await self.expect(sbwire.ErrBlobNotCommitted, b.get(self.ctx, 0).read())
        await self.expect(sbwire.ErrBlobNotCommitted, b.fetch(self.ctx, 100).wait())
        await self.expect(sbwire.ErrBlobNotCommitted, b.pin(self.ctx))
        w = await b.put(self.ctx)
        await w.send(b"foobar")
        await w.close()
        self.assertEqual(await b.size(self.ctx), 6)
        # resumable: a second PutBlob appends
        async with await b.put(self.ctx) as w2:
            await w2.write(b"baz")
        self.assertEqual(await b.size(self.ctx), 9)
        await b.commit(self.ctx)
        self.assertEqual(await b.size(self.ctx), 9)
        self.assertEqual(await b.get(self.ctx, 0).read(), b"foobarbaz")
        self.assertEqual(await b.get(self.ctx, 3).read(), b"barbaz")
        self.assertEqual(await b.get(self.ctx, 9).read(), b"")
        st = await b.fetch(self.ctx, 100).wait()
        self.assertEqual(str(st.State), "Done")
        self.assertEqual((st.Received, st.Total), (0, 0))
        # committed blobs are immutable
        await self.expect(BlobAlreadyFinalized, b.commit(self.ctx))
        w3 = await b.put(self.ctx)
        await self.expect(BlobAlreadyFinalized, w3.close())
        await b.pin(self.ctx)
        await b.keep(self.ctx, 5)
        await b.unpin(self.ctx)
        await b.delete(self.ctx)
        await self.expect(verror.NoExist, b.size(self.ctx))
        await self.expect(verror.NoExist, b.delete(self.ctx))

    @defer.inlineCallbacks
    def test_bad_input_and_errors(self):
        yield defer.ensureDeferred(self._errors())

    async def _errors(self):
        from v23py import syncbase
        d = await self.daemon()
        db = await self.db(d)
        for bad in ("", "blob/../../etc/passwd", "blob/zz/00/00/" + "0" * 26, "x" * 5000,
                    "blob/00/00/00/" + "0" * 25):
            await self.expect(InvalidBlobName, db.blob(bad).size(self.ctx))
            await self.expect(InvalidBlobName, db.blob(bad).get(self.ctx, 0).read())
        unknown = db.blob("blob/00/11/22/" + "3" * 26)
        await self.expect(verror.NoExist, unknown.size(self.ctx))
        await self.expect(verror.NoExist, unknown.commit(self.ctx))
        await self.expect(verror.NoExist, unknown.pin(self.ctx))
        w = await unknown.put(self.ctx)
        await self.expect(verror.NoExist, w.close())
        # no syncgroup can provide an unknown blob
        await self.expect(verror.NoExist, unknown.get(self.ctx, 0).read())
        b = await self.put_blob(db, [b"0123456789"])
        await self.expect(IllegalPositionForRead, b.get(self.ctx, 11).read())
        await self.expect(IllegalPositionForRead, b.get(self.ctx, -1).read())
        # a database that does not exist
        nodb = syncbase.new_service(d.endpoint).database(self.ctx, "nope", None)
        await self.expect(verror.NoExist, nodb.create_blob(self.ctx))
        await self.expect(verror.NoExist, nodb.blob(b.ref()).size(self.ctx))
        # a caller without access to the database
        bob_creds = make_creds(os.path.join(self.tmp, "bob"), BOB, trust=[self.creds])
        import v23py
        bctx, shutdown = v23py.init([f"--v23.credentials={bob_creds}"], reactor=reactor)
        self.addCleanup(shutdown)
        bdb = syncbase.new_service(d.endpoint).database(bctx, "blobDb", None)
        bdb._id = db.id()
        bdb._name = db.full_name()
        try:
            await bdb.blob(b.ref()).get(bctx, 0).read()
        except verror.VError as e:
            self.assertIn(e.id, (verror.NoAccess.id, verror.NoExistOrNoAccess.id))
        else:
            self.fail("bob read alice's blob")
        # the daemon is still fine
        self.assertEqual(await b.get(self.ctx, 0).read(), b"0123456789")

    @defer.inlineCallbacks
    def test_restart_and_kill9_keep_committed_blobs(self):
        yield defer.ensureDeferred(self._restart())

    async def _restart(self):
        root = tempdir(self, "sbblob-root-")
        d = await self.daemon(root_dir=root)
        db = await self.db(d)
        data = os.urandom(3 * 1024 * 1024 + 17)
        b = await self.put_blob(db, [data[i:i + 100000] for i in range(0, len(data), 100000)])
        u = await db.create_blob(self.ctx)
        w = await u.put(self.ctx)
        await w.send(b"partial")
        await w.close()
        d.kill9()
        d2 = await self.daemon(root_dir=root)
        db2 = await self.db(d2, create=False)
        self.assertEqual(await db2.blob(b.ref()).size(self.ctx), len(data))
        got = await db2.blob(b.ref()).get(self.ctx, 0).read()
        self.assertEqual(hashlib.sha256(got).digest(), hashlib.sha256(data).digest())
        # the uncommitted blob is resumable where it stopped
        u2 = db2.blob(u.ref())
        self.assertEqual(await u2.size(self.ctx), 7)
        w = await u2.put(self.ctx)
        await w.send(b" and more")
        await w.close()
        await u2.commit(self.ctx)
        self.assertEqual(d2.stop(signal.SIGTERM), 0)
        d3 = await self.daemon(root_dir=root)
        db3 = await self.db(d3, create=False)
        self.assertEqual(await db3.blob(u.ref()).get(self.ctx, 0).read(), b"partial and more")


class PeerBlobTest(_Base):
    async def setup_peer(self, d, create_sg, admin=None, dev_type=0):
        from v23py import syncbase
        info = syncbase.SyncgroupMemberInfo(SyncPriority=10, BlobDevType=dev_type)
        return await sync_peer(self.ctx, d, "blobDb", "blobCx", admin=None if create_sg else admin,
                               info=info, Description="blobs")

    async def wait_row(self, c, key, timeout=20.0):
        deadline = reactor.seconds() + timeout
        while True:
            try:
                return await c.get(self.ctx, key)
            except verror.VError as e:
                if e.id != verror.NoExist.id or reactor.seconds() > deadline:
                    raise
            await sleep(0.05)

    @defer.inlineCallbacks
    def test_blob_put_on_a_is_fetched_by_b_through_a_synced_row(self):
        yield defer.ensureDeferred(self._p2p())

    async def _p2p(self):
        from v23py import vdl, syncbase
        a, b = await self.daemons(2)
        dba, ca = await self.setup_peer(a, True)
        dbb, cb = await self.setup_peer(b, False, admin=a)
        # a row value holding a BlobRef inside a struct, as Go's tests do
        T = vdl.struct("v23py/tests.blobHolder", [vdl.Field("Val", vdl.StringType),
                                                  vdl.Field("Blob", sbwire.BlobRef._vdl_type)])
        holder = vdl.class_for(T)
        small = await self.put_blob(dba, [b"foobarbaz"])
        await ca.put(self.ctx, "foo0", holder(Val="small", Blob=syncbase.BlobRef(small.ref())))
        got = await self.wait_row(cb, "foo0")
        self.assertEqual(str(got.Blob), small.ref())
        # B learned where the blob is (Go's Signpost): the writer A, in the syncgroup
        from syncbased import interfaces as I
        members = await dba.Syncgroup(self.ctx, "sg").get_members(self.ctx)
        size, sp = await I.SyncClient(b.endpoint + "/%%sync").HaveBlob(self.ctx, small.ref())
        self.assertEqual(size, -1)
        self.assertTrue(sp.Locations and set(sp.Locations) <= set(members), sp)
        self.assertEqual(len(sp.SgIds), 1)
        # FetchBlob on B: Pending, Locating, Fetching..., Done
        sts = [st async for st in dbb.blob(got.Blob).fetch(self.ctx, 100)]
        states = [str(s.State) for s in sts]
        self.assertEqual(states[:2], ["Pending", "Locating"])
        self.assertEqual(states[-1], "Done")
        self.assertTrue(set(states[2:-1]) <= {"Fetching"})
        self.assertEqual(await dbb.blob(got.Blob).size(self.ctx), 9)
        self.assertEqual(await dbb.blob(got.Blob).get(self.ctx, 3).read(), b"barbaz")
        # GetBlob directly (no Fetch first), from an offset, blob written on B, read on A
        data = os.urandom(2 * 1024 * 1024 + 5)
        big = await self.put_blob(dbb, [data[i:i + 65536] for i in range(0, len(data), 65536)])
        await cb.put(self.ctx, "big", syncbase.BlobRef(big.ref()))
        ref = await self.wait_row(ca, "big")
        got_big = await dba.blob(ref).get(self.ctx, 5).read()
        self.assertEqual(hashlib.sha256(got_big).digest(), hashlib.sha256(data[5:]).digest())
        self.assertEqual(await dba.blob(ref).size(self.ctx), len(data))
        # now local on A: Fetch says Done at once
        sts = [str(s.State) async for s in dba.blob(ref).fetch(self.ctx, 1)]
        self.assertEqual(sts, ["Done"])

    @defer.inlineCallbacks
    def test_concurrent_readers_share_one_fetch_and_peer_checks_access(self):
        yield defer.ensureDeferred(self._concurrent())

    async def _concurrent(self):
        from v23py import syncbase
        from syncbased import interfaces as I
        a, b = await self.daemons(2)
        dba, ca = await self.setup_peer(a, True)
        dbb, cb = await self.setup_peer(b, False, admin=a)
        data = os.urandom(1024 * 1024)
        blob = await self.put_blob(dba, [data])
        await ca.put(self.ctx, "k", syncbase.BlobRef(blob.ref()))
        ref = await self.wait_row(cb, "k")
        reads = [dbb.blob(ref).get(self.ctx, off).read() for off in (0, 1000, len(data))]
        got = await defer.gatherResults(reads)
        self.assertEqual(got, [data, data[1000:], b""])
        # the peer interface: HaveBlob on A, and a stranger may not fetch
        size, _ = await I.SyncClient(a.endpoint + "/%%sync").HaveBlob(self.ctx, ref)
        self.assertEqual(size, len(data))
        size, _ = await I.SyncClient(a.endpoint + "/%%sync").HaveBlob(
            self.ctx, "blob/00/00/00/" + "0" * 26)
        self.assertEqual(size, -1)
        # bad input to the peer methods: errors, and the daemon carries on
        peer = I.SyncClient(a.endpoint + "/%%sync")
        await self.expect(InvalidBlobName, peer.HaveBlob(self.ctx, "../../etc/passwd"))
        unknown = "blob/00/00/00/" + "1" * 26
        await self.expect(verror.NoExist, self._drain(peer.FetchBlob(
            self.ctx, unknown, I.SgPriorities({}))))
        u = await dba.create_blob(self.ctx)
        await self.expect(sbwire.ErrBlobNotCommitted, self._drain(peer.FetchBlob(
            self.ctx, u.ref(), I.SgPriorities({}))))
        await self.expect(verror.NoExist, peer.GetBlobShares(self.ctx, unknown))
        await self.expect(verror.NoExist, peer.AcceptedBlobOwnership(
            self.ctx, unknown, "ffff", I.BlobSharesBySyncgroup({"nope": 5})))
        await peer.RequestTakeBlobs(self.ctx, "ffff", {})
        self.assertEqual(await dba.blob(ref).size(self.ctx), len(data))
        bob_creds = make_creds(os.path.join(self.tmp, "bob"), BOB, trust=[self.creds])
        import v23py
        bctx, shutdown = v23py.init([f"--v23.credentials={bob_creds}"], reactor=reactor)
        self.addCleanup(shutdown)
        await self.expect(verror.NoAccess,
                          I.SyncClient(a.endpoint + "/%%sync").HaveBlob(bctx, ref))
        await self.expect(verror.NoAccess, self._drain(I.SyncClient(
            a.endpoint + "/%%sync").FetchBlob(bctx, ref, I.SgPriorities({}))))

    async def _drain(self, start):
        call = await start
        async for _ in call:
            pass
        return await call.finish()

    async def shares(self, d, ref):
        from v23py import rpc, vdl
        res = await rpc.client_call(self.ctx, d.endpoint, "DevModeGetBlobShares",
                                    [vdl.value(sbwire.BlobRef._vdl_type, ref)], [sbwire.BlobRef._vdl_type],
                                    [vdl.map_of(vdl.StringType, vdl.Int32Type)])
        return dict(res[0])

    @defer.inlineCallbacks
    def test_ownership_shares_move_to_a_blob_server(self):
        yield defer.ensureDeferred(self._ownership())

    async def _ownership(self):
        from v23py import syncbase
        a, b = await self.daemons(2, extra=["--dev"])
        dba, ca = await self.setup_peer(a, True)
        dbb, cb = await self.setup_peer(b, False, admin=a, dev_type=1)   # B: a blob server
        blob = await self.put_blob(dba, [b"owned bytes"])
        await self.expect(verror.NoExist, self.shares(a, blob.ref()))   # not referenced yet
        await ca.put(self.ctx, "k", syncbase.BlobRef(blob.ref()))
        # the writer of the row holds Go's initial two shares in the syncgroup
        mine = await self.shares(a, blob.ref())
        self.assertEqual(list(mine.values()), [2])
        ref = await self.wait_row(cb, "k")
        # a blob server fetches the blobs of its syncgroups by itself
        await self.held(b, ref)
        self.assertEqual(await dbb.blob(ref).get(self.ctx, 0).read(), b"owned bytes")
        # the server took every share; the writer gave them up
        deadline = reactor.seconds() + 10
        while (await self.shares(b, ref)) != mine and reactor.seconds() < deadline:
            await sleep(0.05)
        self.assertEqual(await self.shares(b, ref), mine)
        self.assertEqual(await self.shares(a, ref), {})
        await self.expect(sbwire.ErrNotInDevMode, self.shares_nodev(ref))

    async def shares_nodev(self, ref):
        d = await self.daemon()
        return await self.shares(d, ref)

    async def held(self, d, ref, timeout=20.0):
        from syncbased import interfaces as I
        deadline = reactor.seconds() + timeout
        while True:
            size, _ = await I.SyncClient(d.endpoint + "/%%sync").HaveBlob(self.ctx, ref)
            if size >= 0:
                return size
            if reactor.seconds() > deadline:
                self.fail(f"{ref} never reached {d.endpoint}")
            await sleep(0.05)

    @defer.inlineCallbacks
    def test_leaf_hands_its_blobs_to_a_normal_peer(self):
        yield defer.ensureDeferred(self._leaf())

    async def _leaf(self):
        from v23py import syncbase
        a, b = await self.daemons(2, extra=["--dev"])
        dba, ca = await self.setup_peer(a, True, dev_type=2)          # A: a leaf (a camera)
        dbb, cb = await self.setup_peer(b, False, admin=a)
        blob = await self.put_blob(dba, [b"photo" * 1000])
        await ca.put(self.ctx, "photo", syncbase.BlobRef(blob.ref()))
        ref = await self.wait_row(cb, "photo")
        # nobody asked B for the blob: A's RequestTakeBlobs made B fetch it
        self.assertEqual(await self.held(b, ref), 5000)
        (gid,) = (await self.shares(a, ref)).keys() or ["?"]
        deadline = reactor.seconds() + 10
        while (await self.shares(a, ref)) != {gid: 1} and reactor.seconds() < deadline:
            await sleep(0.05)
        self.assertEqual(await self.shares(a, ref), {gid: 1})
        self.assertEqual(await self.shares(b, ref), {gid: 1})

    @defer.inlineCallbacks
    def test_cache_budget_evicts_fetched_blobs_but_not_pinned_ones(self):
        yield defer.ensureDeferred(self._evict())

    async def _evict(self):
        from v23py import syncbase
        a = await self.daemon()
        old = os.environ.get("V23PY_SYNCBASE_BLOB_CACHE_BYTES")
        os.environ["V23PY_SYNCBASE_BLOB_CACHE_BYTES"] = "15000"
        try:
            b = await self.daemon()
        finally:
            if old is None:
                del os.environ["V23PY_SYNCBASE_BLOB_CACHE_BYTES"]
            else:
                os.environ["V23PY_SYNCBASE_BLOB_CACHE_BYTES"] = old
        dba, ca = await self.setup_peer(a, True)
        dbb, cb = await self.setup_peer(b, False, admin=a)
        refs = []
        for i in range(3):
            blob = await self.put_blob(dba, [bytes([i]) * 10000])
            await ca.put(self.ctx, f"b{i}", syncbase.BlobRef(blob.ref()))
            refs.append(await self.wait_row(cb, f"b{i}"))
        b0, b1, b2 = (dbb.blob(r) for r in refs)
        self.assertEqual(await b0.get(self.ctx, 0).read(), b"\x00" * 10000)
        await b0.pin(self.ctx)
        self.assertEqual(await b1.get(self.ctx, 0).read(), b"\x01" * 10000)
        self.assertEqual(await b0.size(self.ctx), 10000)        # pinned: kept
        self.assertEqual(await b2.get(self.ctx, 0).read(), b"\x02" * 10000)
        await self.expect(verror.NoExist, b1.size(self.ctx))    # evicted, not pinned
        self.assertEqual(await b2.size(self.ctx), 10000)        # the blob just fetched stays
        await b0.unpin(self.ctx)
        # an evicted blob comes back on demand
        self.assertEqual(await b1.get(self.ctx, 5).read(), b"\x01" * 9995)
        # blobs created on A are never a cache there
        self.assertEqual(await dba.blob(refs[1]).size(self.ctx), 10000)
