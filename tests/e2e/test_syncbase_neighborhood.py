"""Two syncbased daemons find each other through multicast DNS.

Each daemon gets its own TMPDIR, so the same-host neighborhood directory cannot
connect them, and the syncgroup has no mount tables: after B joins through A, A can
reach B (to pull B's writes) only through B's mDNS advertisement.  Skips, saying why,
when multicast DNS does not work on this machine.
"""
import shutil
import tempfile

from twisted.internet import defer, reactor

from v23py.testing.syncbase import ALICE, Daemon, DaemonTestCase, sync_peer
from v23py.testing.mdns import require_multicast, sleep
from v23py.testing.syncbase import OwnTmpDaemon




class NeighborhoodSyncTest(DaemonTestCase):
    def daemon(self):
        d = OwnTmpDaemon(self.creds, root_dir=tempfile.mkdtemp(dir=self.tmp)).start()
        self.addCleanup(shutil.rmtree, d.own_tmp, True)   # after the daemon has stopped
        self.addCleanup(d.stop)
        return d

    async def peer(self, d, admin=None):
        _, c = await sync_peer(self.ctx, d, "fortuneDb", "fortuneCollection", admin=admin,
                               Description="nh")
        return c

    async def contents(self, c):
        from v23py import syncbase
        return {k: v async for k, v in c.Scan(self.ctx, syncbase.Prefix(""))}

    @defer.inlineCallbacks
    def test_admin_finds_joiner_through_mdns(self):
        yield defer.ensureDeferred(require_multicast())
        yield defer.ensureDeferred(self._sync_through_mdns())

    async def _sync_through_mdns(self):
        a, b = self.daemon(), self.daemon()
        ca = await self.peer(a)
        cb = await self.peer(b, admin=a)
        await cb.Put(self.ctx, "from-b", "b1")
        await ca.Put(self.ctx, "from-a", "a1")
        want = {"from-a": "a1", "from-b": "b1"}
        end = reactor.seconds() + 30
        while True:
            seen = [await self.contents(c) for c in (ca, cb)]
            if seen == [want, want]:
                break
            if reactor.seconds() > end:
                self.fail(f"A did not get B's write through mDNS: {seen}")
            await sleep(0.1)

    @defer.inlineCallbacks
    def test_admin_advertises_its_syncgroup(self):
        yield defer.ensureDeferred(require_multicast())
        yield defer.ensureDeferred(self._syncgroup_ad())

    async def _syncgroup_ad(self):
        from v23py.discovery.neighborhood import MdnsNeighborhood
        from syncbased.vsync import neighborhood as nh
        table = nh.PeerTable("")
        scanner = MdnsNeighborhood(reactor).start()
        self.addCleanup(scanner.stop)
        scanner.scan(nh.INTERFACE_NAME, table.update)
        a = self.daemon()
        await self.peer(a)

        def sg_ads():
            # only a's: other daemons on this machine (other tests) advertise too
            return [nh.syncgroup_of(i.ad) + (i.ad.addresses,) for i in table._ads.values()
                    if nh.syncgroup_of(i.ad) and a.endpoint in i.ad.addresses]
        end = reactor.seconds() + 20
        while not sg_ads():
            if reactor.seconds() > end:
                self.fail("no syncgroup advertisement seen")
            await sleep(0.1)
        (db, sg, vis, addrs), = sg_ads()
        self.assertEqual((db[1], sg[1], vis, addrs), ("fortuneDb", "sg", [ALICE], [a.endpoint]))
        self.assertIn(a.endpoint, table.peers().values())

