"""time.Time / time.Duration wire forms and their Python conversions."""
import datetime as dt

from twisted.trial import unittest

from v23py import verror, vom
from v23py.v23.vdlroot.time import native as vtime
from v23py.v23.vdlroot import time as wtime


class TimeConversions(unittest.TestCase):
    def test_epoch_offset(self):
        t = vtime.time_from_unix_ns(0)
        self.assertEqual((t.Seconds, t.Nanos), (62135596800, 0))
        self.assertEqual(vtime.time_to_datetime(t), dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc))

    def test_go_zero_time_is_year_one(self):
        z = wtime.Time()
        self.assertTrue(vtime.is_zero_time(z))
        self.assertEqual(vtime.time_to_datetime(z), dt.datetime(1, 1, 1, tzinfo=dt.timezone.utc))
        # The zero Time encodes as an empty struct, as Go's time.Time{} does.
        self.assertTrue(vom.encode(z).endswith(bytes.fromhex("01e1")))

    def test_nanoseconds_round_trip(self):
        for ns in (0, 1, -1, 123456789, -123456789, 1_700_000_000_123_456_789):
            t = vtime.time_from_unix_ns(ns)
            self.assertTrue(0 <= t.Nanos < 1_000_000_000)
            self.assertEqual(vtime.time_to_unix_ns(vom.decode(vom.encode(t))), ns)

    def test_datetime_round_trip(self):
        d = dt.datetime(2016, 3, 1, 12, 30, 5, 250000, tzinfo=dt.timezone.utc)
        self.assertEqual(vtime.time_to_datetime(vtime.time_from_datetime(d)), d)
        self.assertRaises(verror.VError, vtime.time_from_datetime, dt.datetime(2016, 1, 1))

    def test_duration_normal_form(self):
        d = vtime.duration_from_ns(-1_500_000_000)
        self.assertEqual((d.Seconds, d.Nanos), (-1, -500_000_000))
        d = vtime.duration_from_ns(-5)
        self.assertEqual((d.Seconds, d.Nanos), (0, -5))
        self.assertEqual(vtime.duration_to_ns(d), -5)
        td = dt.timedelta(minutes=1, microseconds=7)
        self.assertEqual(vtime.duration_to_timedelta(vtime.duration_from_timedelta(td)), td)
        self.assertRaises(verror.VError, vtime.duration_to_ns,
                          wtime.Duration(Seconds=0, Nanos=2_000_000_000))
