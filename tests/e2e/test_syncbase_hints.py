"""Write-triggered sync hints between v23py daemons (syncbased/vsync/hints.py).

The periodic pull is set to an hour (V23PY_SYNC_TICK): writes still reach the other
daemon, both ways, only because the writer hinted its peer (rounds are Go's protocol;
a hint only starts one).  Writes during a round are not lost (the round runs again).
Mixed with Go's daemon: tests/interop/test_syncbase_mixed_go (HintsMixedTest)."""
from twisted.internet import defer, reactor

from v23py import verror
from v23py.testing.syncbase import DaemonTestCase, sleep, sync_peer

HOUR = {"V23PY_SYNC_TICK": "3600"}


class HintsTest(DaemonTestCase):
    timeout = 90

    async def wait_rows(self, cx, want, timeout=20.0):
        from v23py import syncbase
        deadline = reactor.seconds() + timeout
        while True:
            got = {k: v async for k, v in cx.scan(self.ctx, syncbase.Prefix(""))}
            if got == want:
                return
            if reactor.seconds() > deadline:
                self.fail(f"rows never became {want}: {got}")
            await sleep(0.05)

    @defer.inlineCallbacks
    def test_pair_converges_on_hints_alone(self):
        yield defer.ensureDeferred(self._pair())

    async def _pair(self):
        a, b = await self.daemons(2, env=HOUR)
        _, ca = await sync_peer(self.ctx, a, "db", "c")
        _, cb = await sync_peer(self.ctx, b, "db", "c", admin=a)
        # (the joiner's first round runs at once after the join, then each side
        # subscribes to the other's hints)
        await ca.put(self.ctx, "a1", "from a")
        await self.wait_rows(cb, {"a1": "from a"})
        await cb.put(self.ctx, "b1", "from b")
        await self.wait_rows(ca, {"a1": "from a", "b1": "from b"})
        # many writes, some landing while a round runs: none is left behind
        for i in range(30):
            await (ca if i % 2 else cb).put(self.ctx, f"k{i:02d}", i)
        want = {"a1": "from a", "b1": "from b", **{f"k{i:02d}": i for i in range(30)}}
        await self.wait_rows(ca, want)
        await self.wait_rows(cb, want)
        await cb.delete(self.ctx, "a1")
        del want["a1"]
        await self.wait_rows(ca, want)

    @defer.inlineCallbacks
    def test_no_hint_without_a_shared_syncgroup_or_while_paused(self):
        yield defer.ensureDeferred(self._scoped())

    async def _scoped(self):
        a, b = await self.daemons(2, env=HOUR)
        dba, ca = await sync_peer(self.ctx, a, "db", "c")
        dbb, cb = await sync_peer(self.ctx, b, "db", "c", admin=a)
        await ca.put(self.ctx, "x", 1)
        await self.wait_rows(cb, {"x": 1})
        # a write to a collection no syncgroup holds stays local
        from v23py import syncbase
        other = dba.collection(self.ctx, "local")
        await other.create(self.ctx, None)
        await other.put(self.ctx, "private", 1)
        # while B is paused, A's writes wait (no hint makes B pull)
        await dbb.pause_sync(self.ctx)
        await ca.put(self.ctx, "y", 2)
        await sleep(1.0)
        with self.assertRaises(verror.VError) as cm:
            await cb.get(self.ctx, "y")
        self.assertEqual(cm.exception.id, verror.NoExist.id)
        await dbb.resume_sync(self.ctx)
        # resumed, B has no periodic round for an hour: the next write's hint brings both
        await ca.put(self.ctx, "z", 3)
        await self.wait_rows(cb, {"x": 1, "y": 2, "z": 3})
        with self.assertRaises(verror.VError):
            await syncbase.new_service(b.endpoint).database(self.ctx, "db", None) \
                .Collection(self.ctx, "local").get(self.ctx, "private")
