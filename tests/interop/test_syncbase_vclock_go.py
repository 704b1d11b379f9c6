"""The virtual clock between our daemon and Go's 2017 daemon (one syncgroup: ours the
admin, Go's the joiner): each learns the true time from the other through the GetTime
exchange of sync rounds when the other's time came from NTP (a fake NTP server on
loopback) and its own runs an hour fast; and Go's daemon syncs with our fake NTP
server as ours does."""
import time

from twisted.internet import defer, reactor

from v23py.testing.ntp import start_fake_ntp
from v23py.testing.syncbase import sleep
from tests.interop._go_syncbase import PairBase

NS = 1_000_000_000
HOUR = 3600 * NS


class VClockInteropTest(PairBase):
    def ntp(self):
        host, server, port = start_fake_ntp(reactor, time.time_ns())
        self.addCleanup(port.stopListening)
        return host

    async def until_true_time(self, s, what):
        for _ in range(150):
            if abs(await s.dev_mode_get_time(self.ctx) - time.time_ns()) < 2 * NS:
                return
            await sleep(0.1)
        self.fail(f"{what} kept its fast clock")

    async def make_fast(self, s, what):
        """Set ``s``'s system clock an hour ahead and see its virtual time follow.  A sync
        round may already have corrected it between the two calls (sync keeps running):
        then set it again, right after that round, while the next one is seconds away."""
        for _ in range(5):
            await s.dev_mode_update_vclock(self.ctx, now=time.time_ns() + HOUR, elapsed_time=0,
                                        do_local_update=True)
            if await s.dev_mode_get_time(self.ctx) - time.time_ns() > HOUR - 5 * NS:
                return
        self.fail(f"{what} never ran an hour fast")

    @defer.inlineCallbacks
    def test_each_learns_true_time_from_the_other(self):
        yield defer.ensureDeferred(self._both_ways())

    async def _both_ways(self):
        from v23py import syncbase
        ds, cols = await self.pair("mixed", "v")
        ours, go = (syncbase.new_service(d.endpoint) for d in ds)
        # ours syncs with NTP; Go's system clock is an hour fast: Go adopts our time
        await ours.dev_mode_update_vclock(self.ctx, ntp_host=self.ntp(), do_ntp_update=True)
        await self.make_fast(go, "Go's daemon")
        await self.until_true_time(go, "Go's daemon")
        # now Go's syncs with NTP itself, and ours runs an hour fast: ours adopts Go's
        await go.dev_mode_update_vclock(self.ctx, ntp_host=self.ntp(), do_ntp_update=True)
        await self.make_fast(ours, "our daemon")
        await self.until_true_time(ours, "our daemon")
