"""Which peers the pull loop contacts (syncbased/vsync/scheduler.py), read from the
daemon's own counters in ``__debug/stats`` (syncbase/sync/ticks, syncbase/sync/id and the
per-peer rounds/errors of syncbased/syncstats.py):

* each tick picks one member, as Go's syncer does, so a daemon with N members starts
  about one round per tick, not N-1, and over many ticks reaches every member;
* a member that cannot be reached is backed off as Go does (2^n peer-management rounds
  after n failures in a row, capped at 2^6), and the others still converge meanwhile.

Counts are compared with the daemon's tick counter, never with the clock."""
from twisted.internet import defer

from v23py import rpc
from v23py.naming.names import encode_as_name_element
from v23py.testing.syncbase import DaemonTestCase, sleep, sync_peer
from syncbased.vsync import limits


class PeerSelectionTest(DaemonTestCase):
    timeout = 180

    async def stat(self, d, name):
        (v,) = await rpc.client_call(self.ctx, f"{d.endpoint}/__debug/stats/{name}",
                                     "Value", [], None, None)
        return v

    async def peer_stat(self, d, db, member, what):
        db_id = db.id()
        el = encode_as_name_element(f"{db_id.Blessing},{db_id.Name}")
        return await self.stat(d, f"syncbase/sync/{el}/{encode_as_name_element(member)}/{what}")

    async def contacts(self, d, db, members):
        """{member: rounds started with it so far (succeeded + failed)}."""
        out = {}
        for m in members:
            out[m] = (await self.peer_stat(d, db, m, "rounds")
                      + await self.peer_stat(d, db, m, "errors"))
        return out

    async def wait_ticks(self, d, n):
        """The daemon's tick count once it is ``n`` or more (polled)."""
        while True:
            t = await self.stat(d, "syncbase/sync/ticks")
            if t >= n:
                return t
            await sleep(0.2)

    async def converge(self, cols, key):
        for c in cols:
            while not await c.row(key).exists(self.ctx):
                await sleep(0.05)

    @defer.inlineCallbacks
    def test_one_member_per_tick_and_every_member_in_turn(self):
        yield defer.ensureDeferred(self._one_per_tick())

    async def _one_per_tick(self):
        # (without hints: a peer whose hints we hear is pulled less often, see below)
        ds = await self.daemons(5, env={"V23PY_SYNC_HINTS": "0"})
        a = ds[0]
        dba, ca = await sync_peer(self.ctx, a, "db", "c")
        cols = [ca]
        for d in ds[1:]:
            cols.append((await sync_peer(self.ctx, d, "db", "c", admin=a))[1])
        # every daemon writes a row and every daemon gets all five (convergence)
        for i, c in enumerate(cols):
            await c.put(self.ctx, f"k{i}", i)
        for i in range(len(cols)):
            await self.converge(cols, f"k{i}")
        members = set(await dba.syncgroup(self.ctx, "sg").get_members(self.ctx))
        self.assertEqual(len(members), 5)
        others = members - {await self.own_id(a)}
        self.assertEqual(len(others), 4)
        t0 = await self.stat(a, "syncbase/sync/ticks")
        c0 = await self.contacts(a, dba, others)
        t1 = await self.wait_ticks(a, t0 + 120)
        c1 = await self.contacts(a, dba, others)
        started = sum(c1.values()) - sum(c0.values())
        # (pulling every member each tick would start 4 rounds a tick; +4: rounds that
        # were running or being counted at either end of the window)
        self.assertLessEqual(started, t1 - t0 + 4, (t0, t1, c0, c1))
        # random picks reach every member (a member missed by 120 picks among 4: ~1e-15)
        self.assertTrue(all(c1[m] > c0[m] for m in others), (c0, c1))

    async def own_id(self, d):
        """The member name of daemon ``d`` itself."""
        return await self.stat(d, "syncbase/sync/id")

    @defer.inlineCallbacks
    def test_unreachable_member_is_backed_off_and_the_others_converge(self):
        yield defer.ensureDeferred(self._backoff())

    async def _backoff(self):
        a, b, c = await self.daemons(3)
        dba, ca = await sync_peer(self.ctx, a, "db", "c")
        _, cb = await sync_peer(self.ctx, b, "db", "c", admin=a)
        _, cc = await sync_peer(self.ctx, c, "db", "c", admin=a)
        await cc.put(self.ctx, "from-c", 1)
        await self.converge([ca, cb], "from-c")
        members = set(await dba.syncgroup(self.ctx, "sg").get_members(self.ctx))
        mc = await self.own_id(c)
        self.assertIn(mc, members)
        # killed, c leaves its neighborhood entry behind: an address that refuses
        c.kill9()
        c.proc.wait()
        # c's failures reach the cap: from then on it waits 2^6 peer-management rounds
        while await self.peer_stat(a, dba, mc, "errors") < limits.FAILURES_CAP + 2:
            await sleep(0.2)
        t0 = await self.stat(a, "syncbase/sync/ticks")
        e0 = await self.peer_stat(a, dba, mc, "errors")
        await cb.put(self.ctx, "from-b", 2)
        await self.converge([ca], "from-b")        # the reachable member still syncs
        t1 = await self.wait_ticks(a, t0 + 130)
        e1 = await self.peer_stat(a, dba, mc, "errors")
        per = -(-(2 ** limits.FAILURES_CAP) // limits.PM_ROUNDS_PER_TICK)   # 13 ticks
        # (picked at random among two members, c would be tried every other tick)
        self.assertLessEqual(e1 - e0, (t1 - t0) // per + 2, (t0, t1, e0, e1))
        self.assertGreater(e1 - e0, 0)             # ...and it is still tried

