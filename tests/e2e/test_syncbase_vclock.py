"""The virtual clock in running daemons: DevModeUpdateVClock / DevModeGetTime under
--dev (NTP from a fake server on loopback, a fake system clock), and last-writer-wins
on skew-corrected times: a daemon whose clock runs an hour fast learns the true time
from a peer that synced with NTP (the GetTime exchange of sync rounds), after which
its writes lose to later real writes elsewhere -- and won before it learned."""
import calendar
import time

from twisted.internet import defer

from v23py.testing.ntp import start_fake_ntp
from v23py.testing.syncbase import DaemonTestCase, sleep, sync_peer

NS = 1_000_000_000
HOUR = 3600 * NS
JAN2015 = calendar.timegm((2015, 1, 1, 0, 0, 0)) * NS
FEB2015 = calendar.timegm((2015, 2, 1, 0, 0, 0)) * NS


class VClockDaemonTest(DaemonTestCase):
    timeout = 120

    def ntp(self, base_ns, broken=False):
        from twisted.internet import reactor
        host, server, port = start_fake_ntp(reactor, base_ns, broken)
        self.addCleanup(port.stopListening)
        return host

    def near(self, got, want, slack=3 * NS):
        self.assertLess(abs(got - want), slack, f"{got} not within {slack} of {want}")

    @defer.inlineCallbacks
    def test_dev_mode_rpcs(self):
        yield defer.ensureDeferred(self._dev_mode())

    async def _dev_mode(self):
        from v23py import syncbase, verror
        plain = syncbase.new_service((await self.daemon()).endpoint)
        with self.assertRaises(verror.VError) as cm:
            await plain.dev_mode_get_time(self.ctx)
        self.assertEqual(cm.exception.id, "v.io/v23/services/syncbase.NotInDevMode")
        s = syncbase.new_service((await self.daemon(extra=["--dev"])).endpoint)
        t0 = await s.dev_mode_get_time(self.ctx)
        t1 = await s.dev_mode_get_time(self.ctx)
        self.assertLess(t0, t1)
        self.near(t0, time.time_ns())
        # NTP sets the clock (Go's TestV23VClockNtpUpdate)
        await s.dev_mode_update_vclock(self.ctx, ntp_host=self.ntp(JAN2015), do_ntp_update=True)
        self.near(await s.dev_mode_get_time(self.ctx), JAN2015)
        await s.dev_mode_update_vclock(self.ctx, ntp_host=self.ntp(FEB2015), do_ntp_update=True)
        self.near(await s.dev_mode_get_time(self.ctx), FEB2015)
        # a system clock set ahead is cancelled by the skew; a reboot is not
        await s.dev_mode_update_vclock(self.ctx, now=JAN2015, elapsed_time=0, do_local_update=True)
        # (a reboot keeps the NTP skew, FEB2015 minus the true time)
        self.near(await s.dev_mode_get_time(self.ctx), JAN2015 + FEB2015 - time.time_ns())
        with self.assertRaises(verror.VError):
            await s.dev_mode_update_vclock(self.ctx, ntp_host=self.ntp(JAN2015, broken=True),
                                        do_ntp_update=True)

    @defer.inlineCallbacks
    def test_fast_clock_loses_once_corrected(self):
        yield defer.ensureDeferred(self._fast_clock())

    async def _fast_clock(self):
        from v23py import syncbase
        a_d, b_d = await self.daemons(2, extra=["--dev"])
        a, b = syncbase.new_service(a_d.endpoint), syncbase.new_service(b_d.endpoint)
        # A's system clock runs an hour fast from a fresh boot
        await a.dev_mode_update_vclock(self.ctx, now=time.time_ns() + HOUR, elapsed_time=0,
                                    do_local_update=True)
        self.near(await a.dev_mode_get_time(self.ctx), time.time_ns() + HOUR)
        dba, ca = await sync_peer(self.ctx, a_d, "db", "c")
        dbb, cb = await sync_peer(self.ctx, b_d, "db", "c", admin=a_d)

        async def race(key):
            """A writes, then (later in real time) B writes, while sync is paused."""
            for db in (dba, dbb):
                await db.pause_sync(self.ctx)
            await ca.put(self.ctx, key, "fromA")
            await sleep(0.05)
            await cb.put(self.ctx, key, "fromB")
            for db in (dba, dbb):
                await db.resume_sync(self.ctx)
            for _ in range(200):
                got = []
                for c in (ca, cb):
                    try:
                        got.append(await c.get(self.ctx, key))
                    except Exception:
                        got.append(None)
                if got[0] == got[1] and got[0] is not None:
                    return got[0]
                await sleep(0.05)
            self.fail(f"{key} did not converge: {got}")

        # B has no NTP time yet: A keeps its fast clock, and its earlier write wins
        await sleep(2.5)
        self.near(await a.dev_mode_get_time(self.ctx), time.time_ns() + HOUR)
        self.assertEqual(await race("k1"), "fromA")
        # B syncs with NTP (true time); A learns it in the next GetTime exchange
        await b.dev_mode_update_vclock(self.ctx, ntp_host=self.ntp(time.time_ns()),
                                    do_ntp_update=True)
        for _ in range(100):
            if abs(await a.dev_mode_get_time(self.ctx) - time.time_ns()) < 2 * NS:
                break
            await sleep(0.1)
        self.near(await a.dev_mode_get_time(self.ctx), time.time_ns())
        self.assertEqual(await race("k2"), "fromB")
