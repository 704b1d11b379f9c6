"""Sync end to end: real syncbased daemons converge (join, LWW, deletes, restarts)."""
import os
import tempfile

from twisted.internet import defer, reactor

from v23py import verror
from v23py.testing.syncbase import ALICE, Daemon, DaemonTestCase, make_creds, sleep, sync_peer


class SyncTest(DaemonTestCase):
    async def setup_peer(self, d, create_sg, admin=None, publish="", mount_tables=()):
        return await sync_peer(self.ctx, d, "fortuneDb", "fortuneCollection",
                               admin=None if create_sg else admin, Description="test",
                               PublishSyncbaseName=publish, MountTables=list(mount_tables))

    async def contents(self, c):
        from v23py import syncbase
        try:
            return {k: v async for k, v in c.scan(self.ctx, syncbase.Prefix(""))}
        except verror.VError as e:
            if e.id != verror.NoExist.id:
                raise
            return None    # not synced here yet (a joiner gets the collection by sync)

    async def converge(self, cols, want=None, timeout=20.0):
        deadline = reactor.seconds() + timeout
        while True:
            seen = [await self.contents(c) for c in cols]
            if all(s == seen[0] for s in seen) and (want is None or seen[0] == want):
                return seen[0]
            if reactor.seconds() > deadline:
                self.fail(f"no convergence: {seen}")
            await sleep(0.1)

    @defer.inlineCallbacks
    def test_two_peers_join_and_sync_both_ways(self):
        yield defer.ensureDeferred(self._two())

    async def _two(self):
        a, b = await self.daemons(2)
        dba, ca = await self.setup_peer(a, True)
        await ca.put(self.ctx, "before-join", "a0")
        dbb, cb = await self.setup_peer(b, False, admin=a)
        await ca.put(self.ctx, "from-a", "a1")
        await cb.put(self.ctx, "from-b", "b1")
        got = await self.converge([ca, cb], {"before-join": "a0", "from-a": "a1",
                                             "from-b": "b1"})
        self.assertEqual(len(got), 3)
        await cb.delete(self.ctx, "from-a")
        await self.converge([ca, cb], {"before-join": "a0", "from-b": "b1"})
        members = await dba.Syncgroup(self.ctx, "sg").get_members(self.ctx)
        self.assertEqual(len(members), 2)
        spec, _ = await dbb.Syncgroup(self.ctx, "sg").get_spec(self.ctx)
        self.assertEqual(spec.Description, "test")
        await self._expect(verror.NotImplemented, dbb.Syncgroup(self.ctx, "sg").leave(self.ctx))

    async def _expect(self, err, d):
        try:
            await d
        except verror.VError as e:
            self.assertEqual(e.id, err.id)
            return
        self.fail("no error")

    @defer.inlineCallbacks
    def test_five_peers_concurrent_writes_converge_lww(self):
        yield defer.ensureDeferred(self._five())

    async def _five(self):
        ds = await self.daemons(5)
        dbs, cols = [], []
        for i, d in enumerate(ds):
            db, c = await self.setup_peer(d, i == 0, admin=ds[0])
            dbs.append(db)
            cols.append(c)
        await cols[0].put(self.ctx, "same", "start")
        await self.converge(cols, {"same": "start"}, timeout=30.0)
        # Every peer cut off: five concurrent versions of "same", written in a known
        # order 30 ms apart, so the last written has the latest update time and must win
        # everywhere once sync resumes (plus one row of its own per peer).
        await defer.gatherResults([db.pause_sync(self.ctx) for db in dbs])
        for i, c in enumerate(cols):
            await c.put(self.ctx, "same", f"v{i}")
            await c.put(self.ctx, f"own{i}", i)
            await sleep(0.03)
        await sleep(0.3)
        for i, c in enumerate(cols):    # still apart
            self.assertEqual((await self.contents(c))["same"], f"v{i}")
        await defer.gatherResults([db.resume_sync(self.ctx) for db in dbs])
        want = {"same": "v4", **{f"own{i}": i for i in range(5)}}
        self.assertEqual(await self.converge(cols, want, timeout=30.0), want)

    @defer.inlineCallbacks
    def test_stopped_peer_catches_up_after_restart(self):
        yield defer.ensureDeferred(self._restart())

    async def _restart(self):
        from v23py import syncbase
        a, b = await self.daemons(2)
        dba, ca = await self.setup_peer(a, True)
        dbb, cb = await self.setup_peer(b, False, admin=a)
        await ca.put(self.ctx, "k0", 0)
        await self.converge([ca, cb], {"k0": 0})
        root_b = b.root_dir
        self.assertEqual(b.stop(), 0)
        for i in range(1, 20):
            await ca.put(self.ctx, f"k{i}", i)
        b2 = await self.daemon(root_dir=root_b)
        cb2 = syncbase.new_service(b2.endpoint).database_for_id(dbb.id()).collection_for_id(cb.id())
        await cb2.put(self.ctx, "while-apart", "b")
        await self.converge([ca, cb2], timeout=30.0)
        got = await self.contents(ca)
        self.assertEqual(len(got), 21)

    @defer.inlineCallbacks
    def test_kill9_during_sync_loses_nothing_acknowledged(self):
        yield defer.ensureDeferred(self._kill9())

    async def _kill9(self):
        from v23py import syncbase
        a, b = await self.daemons(2)
        _, ca = await self.setup_peer(a, True)
        dbb, cb = await self.setup_peer(b, False, admin=a)
        acked_b = []
        for i in range(50):
            await cb.put(self.ctx, f"b{i}", i)
            acked_b.append(f"b{i}")
        stop = [False]

        async def writer():
            i = 0
            while not stop[0]:
                await ca.put(self.ctx, f"a{i}", i)
                i += 1
            return i
        w = defer.ensureDeferred(writer())
        await sleep(0.5)
        b.kill9()                       # in the middle of pulls
        await sleep(0.2)
        stop[0] = True
        n = await w
        b2 = await self.daemon(root_dir=b.root_dir)
        cb2 = syncbase.new_service(b2.endpoint).database_for_id(dbb.id()).collection_for_id(cb.id())
        got = await self.converge([ca, cb2], timeout=30.0)
        self.assertTrue(all(k in got for k in acked_b))
        self.assertTrue(all(f"a{i}" in got for i in range(n)))

    @defer.inlineCallbacks
    def test_partition_with_pause_sync_converges_lww(self):
        yield defer.ensureDeferred(self._partition())

    async def _partition(self):
        a, b = await self.daemons(2)
        dba, ca = await self.setup_peer(a, True)
        dbb, cb = await self.setup_peer(b, False, admin=a)
        await ca.put(self.ctx, "k", "start")
        await self.converge([ca, cb], {"k": "start"})
        await dbb.pause_sync(self.ctx)          # b is cut off both ways
        await ca.put(self.ctx, "only-a", 1)
        await ca.put(self.ctx, "k", "a-early")
        await sleep(0.3)
        await cb.put(self.ctx, "only-b", 2)
        await cb.put(self.ctx, "k", "b-late")  # the later write
        await sleep(0.5)
        self.assertNotIn("only-b", await self.contents(ca))
        self.assertNotIn("only-a", await self.contents(cb))
        await dbb.resume_sync(self.ctx)
        got = await self.converge([ca, cb], timeout=30.0)
        self.assertEqual(got, {"k": "b-late", "only-a": 1, "only-b": 2})

    @defer.inlineCallbacks
    def test_joiner_without_read_access_is_refused(self):
        yield defer.ensureDeferred(self._refused())

    async def _refused(self):
        import v23py
        from v23py import syncbase
        from v23py.v23.services import syncbase as sbwire
        a = await self.daemon()
        await self.setup_peer(a, True)
        bob = make_creds(os.path.join(self.tmp, "bob"), "idp:o:fortune:bob", trust=[self.creds])
        b = await self.start_daemon(Daemon(bob, root_dir=os.path.join(self.tmp, "bob-root")))
        bctx, shutdown = v23py.init([f"--v23.credentials={bob}"], reactor=reactor)
        self.addCleanup(shutdown)
        db = syncbase.new_service(b.endpoint).database(bctx, "fortuneDb", None)
        await db.create(bctx, None)
        try:
            await db.syncgroup_for_id((ALICE, "sg")).join(
                bctx, a.endpoint, None, syncbase.SyncgroupMemberInfo())
            self.fail("a stranger joined the syncgroup")
        except verror.VError as e:
            self.assertEqual(e.id, sbwire.ErrSyncgroupJoinFailed.id)

    @defer.inlineCallbacks
    def test_join_falls_back_to_other_admins_of_the_syncgroup(self):
        yield defer.ensureDeferred(self._join_fallback())

    async def _join_fallback(self):
        from v23py import syncbase
        from v23py.v23.services import syncbase as sbwire
        # a neighborhood of our own (the same-host ads live under $TMPDIR)
        nh = tempfile.mkdtemp(prefix="sbnh-", dir=self.tmp)
        # (no mDNS: daemons of other tests on this machine could answer for "sg")
        env = {"TMPDIR": nh, "V23PY_MDNS": "0"}
        a, b, c = await self.daemons(3, env=env)
        await self.setup_peer(a, True)
        _, cb = await self.setup_peer(b, False, admin=a)
        await cb.put(self.ctx, "from-b", "b")
        # b is an admin too (its blessings are in the syncgroup's Admin list): once it
        # has the syncgroup's history it advertises itself as one
        await self._admin_ads(nh, 2)
        a.kill9()
        # c names the dead admin: the join goes through b, and c then syncs with b
        _, cc = await self.setup_peer(c, False, admin=a)
        await self.converge([cb, cc], {"from-b": "b"})
        await self._admin_ads(nh, 3)
        b.kill9()
        c.kill9()
        # every admin is gone: a clear error naming what was tried (a syncgroup
        # nobody advertises: only the named admin)
        d = await self.daemon(env=env)
        db = syncbase.new_service(d.endpoint).database(self.ctx, "fortuneDb", None)
        await db.create(self.ctx, None)
        await db.collection(self.ctx, "fortuneCollection").create(self.ctx, None)
        for sgname, tried in (("nosuchsg", 1), ("sg", 3)):
            try:
                await db.Syncgroup(self.ctx, sgname).join(
                    self.ctx, a.endpoint, None, syncbase.SyncgroupMemberInfo())
                self.fail("joined through dead admins")
            except verror.VError as e:
                self.assertEqual(e.id, sbwire.ErrSyncgroupJoinFailed.id)
                self.assertIn(f"through any admin ({tried} tried)", e.msg)
                self.assertIn(a.endpoint, e.msg)
                if tried == 3:
                    self.assertIn(b.endpoint, e.msg)
                    self.assertIn(c.endpoint, e.msg)

    async def _admin_ads(self, nh, n):
        """Wait until ``n`` daemons advertise themselves as admins of the one syncgroup."""
        ads = os.path.join(nh, "syncbased-nh", ".sg")
        deadline = reactor.seconds() + 20
        while True:
            gids = os.listdir(ads) if os.path.isdir(ads) else []
            have = [h for h in os.listdir(os.path.join(ads, gids[0])) if not h.startswith(".")] \
                if gids else []
            if len(have) >= n:
                return
            if reactor.seconds() > deadline:
                self.fail(f"{len(have)} admins advertised, not {n}")
            await sleep(0.05)

    @defer.inlineCallbacks
    def test_admin_calls_back_the_joiner_over_its_conn(self):
        yield defer.ensureDeferred(self._callback())

    async def _callback(self):
        # No neighborhood, no mount tables: the admin learns nothing but the joiner's
        # conn (its endpoint there names no listening address of the joiner).
        nh = tempfile.mkdtemp(prefix="sbnh-", dir=self.tmp)
        env = {"TMPDIR": nh, "V23PY_MDNS": "0"}
        a, b = await self.daemons(2, extra=["--skip-publish-in-nh"], env=env)
        _, ca = await self.setup_peer(a, True)
        _, cb = await self.setup_peer(b, False, admin=a)
        await ca.put(self.ctx, "from-a", "a")
        await cb.put(self.ctx, "from-b", "b")
        # from-b on a: a pulled from b, over the conn b opened to a
        await self.converge([ca, cb], {"from-a": "a", "from-b": "b"})
        self.assertFalse(os.path.exists(os.path.join(nh, "syncbased-nh")))

    @defer.inlineCallbacks
    def test_batches_reach_peers_whole(self):
        yield defer.ensureDeferred(self._batches())

    async def _batches(self):
        import glob
        import sqlite3
        from syncbased.vsync._log import BATCH, stored_batches
        # rounds of at most 4 records: a batch of 30 rows spans many of them
        env = {"V23PY_SYNC_ROUND_RECORDS": "4"}
        a, b = await self.daemons(2, env=env)
        dba, ca = await self.setup_peer(a, True)
        dbb, cb = await self.setup_peer(b, False, admin=a)
        await ca.put(self.ctx, "first", "x")
        await self.converge([ca, cb], {"first": "x"})
        await dbb.pause_sync(self.ctx)
        for i in range(3):
            await ca.put(self.ctx, f"pre{i}", i)
        bt = await dba.begin_batch(self.ctx)
        c = bt.collection_for_id(ca.id())
        for i in range(30):
            await c.put(self.ctx, f"batch{i:02d}", i)
        await bt.commit(self.ctx)
        for i in range(3):
            await ca.put(self.ctx, f"post{i}", i)
        await dbb.resume_sync(self.ctx)
        deadline = reactor.seconds() + 30
        while True:
            got = await self.contents(cb)
            n = sum(1 for k in got if k.startswith("batch"))
            self.assertIn(n, (0, 30), "a batch arrived in parts")
            if len(got) == 37:
                break
            if reactor.seconds() > deadline:
                self.fail(f"not synced: {sorted(got)}")
            await sleep(0.005)
        self.assertEqual(await self.contents(cb), await self.contents(ca))
        # both keep Go's BatchInfo of that batch: 30 rows (+30 permission reads)
        a.stop()
        b.stop()

        def infos(d):
            out = {}
            for path in glob.glob(os.path.join(d.root_dir, "**", "*.sqlite"), recursive=True):
                db = sqlite3.connect(path)
                try:
                    out.update(stored_batches(
                        (bytes(k), bytes(v)) for k, v in db.execute(
                            "SELECT k, v FROM kv WHERE k >= ? AND k < ?",
                            (BATCH, BATCH + b"\xff"))))
                finally:
                    db.close()
            return out
        ia, ib = infos(a), infos(b)
        big = [v for v in ia.values() if len(v[0]) == 30]
        self.assertEqual(len(big), 1)
        self.assertEqual(big[0][2], 60)
        self.assertEqual(ia, ib)

    @defer.inlineCallbacks
    def test_publish_syncgroup_makes_the_publishee_a_member(self):
        yield defer.ensureDeferred(self._publish())

    async def _publish(self):
        from v23py import syncbase
        a, b = await self.daemons(2)
        dbb = syncbase.new_service(b.endpoint).database(self.ctx, "fortuneDb", None)
        await dbb.create(self.ctx, None)
        dba, ca = await self.setup_peer(a, True, publish=b.endpoint)
        await ca.put(self.ctx, "k", "v")
        deadline = reactor.seconds() + 20
        while len(await dba.Syncgroup(self.ctx, "sg").get_members(self.ctx)) < 2:
            self.assertLess(reactor.seconds(), deadline, "the publishee never became a member")
            await sleep(0.1)
        # the publishee holds the syncgroup and pulls the data
        cb = dbb.collection(self.ctx, "fortuneCollection")
        await self.converge([ca, cb], {"k": "v"})
        ids = await dbb.list_syncgroups(self.ctx)
        self.assertEqual([(i.Blessing, i.Name) for i in ids], [(ALICE, "sg")])

    async def mounttable(self):
        """Our mounttabled, run with the same credentials; returns its NAME."""
        import sys
        from v23py.testing import start_process
        from v23py.testing import ROOT, child_env
        _, name = await start_process(
            self, [sys.executable, "-m", "v23py.cmd.mounttabled", "--v23.tcp.address=127.0.0.1:0",
                   f"--v23.credentials={self.creds}"], "NAME=", "mounttabled", env=child_env(),
            cwd=ROOT)
        return name

    @defer.inlineCallbacks
    def test_peers_found_through_the_syncgroup_mount_tables(self):
        yield defer.ensureDeferred(self._mount_tables())

    async def _mount_tables(self):
        # No neighborhood: the admin reaches the joiner only through <mt>/<hex name>.
        mt = await self.mounttable()
        a = await self.daemon(extra=["--skip-publish-in-nh"])
        b = await self.daemon(extra=["--skip-publish-in-nh"])
        dba, ca = await self.setup_peer(a, True, mount_tables=[mt])
        dbb, cb = await self.setup_peer(b, False, admin=a)
        await cb.put(self.ctx, "from-b", 1)
        await ca.put(self.ctx, "from-a", 2)
        await self.converge([ca, cb], {"from-a": 2, "from-b": 1}, timeout=30.0)
