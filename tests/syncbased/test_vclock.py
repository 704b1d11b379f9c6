"""The virtual clock's core (syncbased.vclock): NTP packets, Go's update rules for the
system clock, NTP and peers, persistence; and the NTP client against a fake NTP server
on loopback."""
import calendar

from twisted.internet import defer, reactor
from twisted.trial import unittest

from syncbased import vclock as V
from v23py.testing.ntp import ntp_reply, start_fake_ntp

NS = V.NS
HOUR = 3600 * NS
JAN2015 = calendar.timegm((2015, 1, 1, 0, 0, 0)) * NS
FEB2015 = calendar.timegm((2015, 2, 1, 0, 0, 0)) * NS


class ManualClock(V.SystemClock):
    def __init__(self, now, elapsed):
        self.t, self.e = now, elapsed

    def now(self):
        return self.t

    def elapsed(self):
        return self.e


def clock_with(sysclock):
    saved = {}
    c = V.VClock(lambda: saved.get("raw"), lambda raw: saved.__setitem__("raw", raw), sysclock)
    return c, saved


class NtpPacketTest(unittest.TestCase):
    def test_request_layout(self):
        req = V.ntp_request(JAN2015 + 500_000_000)
        self.assertEqual(len(req), 48)
        self.assertEqual(req[0], 0x23)               # version 4, client mode
        self.assertEqual(req[1:40], bytes(39))
        sec = int.from_bytes(req[40:44], "big")
        frac = int.from_bytes(req[44:48], "big")
        self.assertEqual(sec, JAN2015 // NS + 2208988800)
        self.assertEqual(frac, 1 << 31)              # half a second

    def test_reply_and_sample(self):
        t0 = JAN2015
        req = V.ntp_request(t0)
        # the server is an hour ahead; 10 ms each way, 2 ms inside the server
        reply = ntp_reply(req, t0 + HOUR + 10_000_000, t0 + HOUR + 12_000_000)
        orig, recv, send = V.ntp_times(reply)
        self.assertEqual(abs(orig - t0) < 2, True)
        s = V.ntp_sample(reply, t0 + 22_000_000)
        self.assertAlmostEqual(s.skew / NS, 3600.0, places=6)
        self.assertAlmostEqual(s.delay / NS, 0.020, places=6)
        self.assertEqual(abs(s.ntp_time - (t0 + HOUR + 12_000_000)) < 2, True)
        with self.assertRaises(ValueError):
            V.ntp_sample(b"\x00" * 47, t0)


class LocalUpdateTest(unittest.TestCase):
    def test_go_system_clock_scenario(self):
        """Go's TestV23VClockSystemClockUpdate, step by step."""
        sc = ManualClock(JAN2015, 0)
        c, _ = clock_with(sc)
        c.local_update()
        self.assertEqual(c.now(), JAN2015)
        sc.t, sc.e = JAN2015 + HOUR, HOUR                # time and uptime move together
        c.local_update()
        self.assertEqual(c.now(), JAN2015 + HOUR)
        sc.t, sc.e = JAN2015 + 8 * HOUR, NS              # a reboot
        c.local_update()
        self.assertEqual((c.now(), c.data.reboots), (JAN2015 + 8 * HOUR, 1))
        sc.t, sc.e = JAN2015 - HOUR, 0                   # a reboot with the clock set back
        c.local_update()
        self.assertEqual((c.now(), c.data.reboots), (JAN2015 - HOUR, 2))
        sc.t, sc.e = JAN2015 + 5 * HOUR, 3 * HOUR        # the system clock was set ahead
        c.local_update()
        self.assertEqual(c.now(), JAN2015 + 2 * HOUR)    # the skew cancels the jump

    def test_changed_detection(self):
        self.assertFalse(V.sys_clock_changed(0, NS, 0, NS))
        self.assertTrue(V.sys_clock_changed(NS, 0, 0, NS))
        self.assertTrue(V.sys_clock_changed(0, 10 * NS, 0, NS))
        sc = ManualClock(JAN2015, 5 * NS)
        c, _ = clock_with(sc)
        now, el = c.sys_vals()
        sc.t += 10 * NS
        with self.assertRaises(V.ClockChanged):
            c.sys_vals_if_not_changed(now, el)


class NtpUpdateTest(unittest.TestCase):
    def test_ntp_replaces_a_far_skew_only(self):
        sc = ManualClock(JAN2015 - HOUR, 5 * NS)
        c, _ = clock_with(sc)
        c.ntp_update(V.NtpSample(skew=HOUR, delay=1, ntp_time=JAN2015))
        self.assertEqual(c.now(), JAN2015)
        self.assertEqual((c.data.last_ntp, c.data.reboots, c.data.hops), (JAN2015, 0, 0))
        c.ntp_update(V.NtpSample(skew=HOUR + NS, delay=1, ntp_time=JAN2015 + NS))
        self.assertEqual(c.data.skew, HOUR)              # within 2 s: kept
        self.assertEqual(c.data.last_ntp, JAN2015 + NS)
        # Go's TestV23VClockNtpSkewAfterReboot: the NTP skew survives a reboot
        sc.t, sc.e = JAN2015 + 8 * HOUR, 0
        c.local_update()
        self.assertEqual(c.now(), JAN2015 + 9 * HOUR)


class PeerUpdateTest(unittest.TestCase):
    def exchange(self, peer_ahead, last_ntp=JAN2015, reboots=0, hops=0, me=JAN2015):
        return V.PeerTime(my_send=me, recv=me + peer_ahead + NS, send=me + peer_ahead + NS,
                          my_recv=me + 2 * NS, last_ntp=last_ntp, reboots=reboots, hops=hops)

    def test_rules(self):
        d = V.Data(boot_time=JAN2015, skew=0)
        self.assertEqual(V.peer_skew(self.exchange(-HOUR)), -HOUR)
        cases = [
            (self.exchange(NS), "less than"),
            (self.exchange(HOUR, last_ntp=None), "not synced"),
            (self.exchange(HOUR, reboots=1), "reboot tolerance"),
            (self.exchange(HOUR, hops=2), "too many hops"),
        ]
        for p, why in cases:
            with self.assertRaises(V.NoUpdate) as cm:
                V.peer_update(d, p, JAN2015, 0)
            self.assertIn(why, str(cm.exception))
        newer = V.Data(skew=0, last_ntp=FEB2015)
        with self.assertRaises(V.NoUpdate):
            V.peer_update(newer, self.exchange(HOUR), JAN2015, 0)
        got = V.peer_update(d, self.exchange(-HOUR, hops=0), JAN2015, 10 * NS)
        self.assertEqual((got.skew, got.hops, got.last_ntp, got.boot_time),
                         (-HOUR, 1, JAN2015, JAN2015 - 10 * NS))
        got = V.peer_update(d, self.exchange(30 * NS, reboots=2), JAN2015, 0)
        self.assertEqual(got.reboots, 2)


class PersistenceTest(unittest.TestCase):
    def test_round_trip_and_wire_type(self):
        from v23py import vom
        d = V.Data(boot_time=JAN2015, skew=-HOUR, elapsed=7 * NS, last_ntp=FEB2015, reboots=3,
                   hops=1)
        raw = V.encode(d)
        self.assertEqual(V.decode(raw), d)
        self.assertEqual(vom.decode(raw)._vdl_type.name,
                         "v.io/x/ref/services/syncbase/vclock.VClockData")
        self.assertEqual(V.decode(V.encode(V.Data())).last_ntp, None)
        saved = {}
        c = V.VClock(lambda: saved.get("raw"), lambda r: saved.__setitem__("raw", r),
                     ManualClock(JAN2015, 5 * NS))
        c.set(d)
        c2 = V.VClock(lambda: saved.get("raw"), lambda r: None, ManualClock(0, 0))
        self.assertEqual(c2.data, d)


class NtpClientTest(unittest.TestCase):
    timeout = 30

    @defer.inlineCallbacks
    def test_ntp_sync_with_fake_server(self):
        from syncbased.vclock import daemon as VD
        host, server, port = start_fake_ntp(reactor, JAN2015)
        self.addCleanup(port.stopListening)
        c, _ = clock_with(V.SystemClock())
        s = yield defer.ensureDeferred(VD.ntp_sync(reactor, host, c, samples=3))
        self.assertEqual(server.requests, 3)
        self.assertLess(abs(c.sys.now() + s.skew - server.now()), 50_000_000)
        self.assertGreaterEqual(s.delay, 0)
        d = VD.VClockD(reactor, c, host)
        yield d.do_ntp_update(samples=2)
        self.assertLess(abs(c.now() - server.now()), 50_000_000)
        self.assertIsNotNone(c.data.last_ntp)

    @defer.inlineCallbacks
    def test_no_server(self):
        from syncbased.vclock import daemon as VD
        host, server, port = start_fake_ntp(reactor, JAN2015)
        yield port.stopListening()
        c, _ = clock_with(V.SystemClock())
        with self.assertRaises(VD.NtpError):
            yield defer.ensureDeferred(VD.ntp_sync(reactor, host, c, samples=2, timeout=0.2))
        with self.assertRaises(VD.NtpError):
            yield defer.ensureDeferred(VD.ntp_sync(reactor, "", c))
