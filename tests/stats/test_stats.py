"""v23py.stats: Go's statistics tree (counters with history, histograms, maps,
functions, glob) under a controlled clock."""
from twisted.trial import unittest

from v23py import stats, verror


class _Clock:
    def __init__(self, t=1_000_000.0):
        self.t = t

    def __call__(self):
        return self.t


class StatsTreeTests(unittest.TestCase):
    def setUp(self):
        self.clock = _Clock()
        self.patch(stats, "clock", self.clock)
        self.prefix = f"test-{id(self)}"
        self.addCleanup(lambda: stats.delete(self.prefix))

    def name(self, rest):
        return f"{self.prefix}/{rest}"

    def test_counter_value_and_history(self):
        c = stats.new_counter(self.name("c"))
        c.incr(5)
        self.assertEqual(stats.value(self.name("c")), 5)
        self.clock.t += 30
        c.incr(2)
        self.assertEqual(stats.value(self.name("c/delta1m")), 7)   # the series is not full yet
        self.clock.t += 45      # the 5 from 75 s ago is out of the last minute
        self.assertEqual(stats.value(self.name("c/delta1m")), 2)
        self.assertEqual(stats.value(self.name("c/delta10m")), 7)
        ts = stats.value(self.name("c/timeseries1m"))
        self.assertEqual(ts.Resolution.Seconds, 1)
        self.assertEqual(len(ts.Values), 61)
        self.assertEqual(ts.Values[-1], 7)
        self.assertGreater(stats.value(self.name("c/rate1m")), 0)
        self.assertEqual([k for k, _ in stats.glob(self.name("c"), "*")], [
            "delta10m", "delta1h", "delta1m", "rate10m", "rate1h", "rate1m",
            "timeseries10m", "timeseries1h", "timeseries1m"])

    def test_histogram_buckets_as_go(self):
        h = stats.new_histogram(self.name("h"), num_buckets=25, growth_factor=1,
                                smallest_bucket_size=1, min_value=0)
        self.assertEqual(h.bounds[:6], [0, 1, 3, 7, 15, 31])
        for v in (0, 1, 2, 5, 100):
            h.add(v)
        v = stats.value(self.name("h"))
        self.assertEqual((v.Count, v.Sum, v.Min, v.Max), (5, 108, 0, 100))
        self.assertEqual([b.Count for b in v.Buckets[:8]], [1, 2, 1, 0, 0, 0, 1, 0])
        self.clock.t += 120
        h.add(3)
        d = stats.value(self.name("h/delta1m"))
        self.assertEqual((d.Count, d.Sum, d.Min, d.Max), (1, 3, 3, 3))
        self.assertEqual(stats.value(self.name("h/delta1h")).Count, 6)
        self.assertRaises(ValueError, h.add, -1)

    def test_glob_since_and_values(self):
        a = stats.new_integer(self.name("x/a"))
        stats.new_string(self.name("x/b")).set("hello")
        stats.new_integer_func(self.name("x/f"), lambda: 42)
        a.set(3)
        t = self.clock.t
        self.clock.t += 10
        self.assertEqual(stats.glob(self.name("x"), "*", 0, True),
                         [("a", 3), ("b", "hello"), ("f", 42)])
        # only what changed since t + 5 (a function is always fresh)
        self.assertEqual(stats.glob(self.name("x"), "*", t + 5, False), [("f", None)])
        self.assertEqual([k for k, _ in stats.glob(self.prefix, "...")][:3],
                         ["", "x", "x/a"])

    def test_map_and_delete(self):
        m = stats.new_map(self.name("m"))
        m.set([("k1", 1), ("k2", "v")])
        self.assertEqual(m.incr("k1", 2), 3)
        self.assertEqual(stats.value(self.name("m/k1")), 3)
        self.assertIsNone(stats.value(self.name("m")))
        m.delete(["k2"])
        self.assertEqual(m.keys(), ["k1"])
        stats.delete(self.name("m"))
        e = self.assertRaises(verror.VError, stats.value, self.name("m/k1"))
        self.assertEqual(e.id, verror.NoExist.id)
        e = self.assertRaises(verror.VError, stats.glob, self.name("nothere"), "*")
        self.assertEqual(e.id, verror.NoExist.id)


class PrincipalStatsTests(unittest.TestCase):
    """sysstats.register_principal numbers each principal's entries without refreshing
    the tree (a runtime's start gathered /proc figures nobody had asked for)."""

    def test_register_principal_runs_no_refresh_hook(self):
        import types
        from v23py.stats import sysstats
        hooks = []
        self.patch(stats, "_refresh_hooks", [lambda: hooks.append(1)])
        key = f"test-key-{id(self)}"
        prefix = f"security/principal/{key}"
        self.addCleanup(lambda: stats.delete(prefix))
        store = types.SimpleNamespace(debug_string=lambda: "store")
        roots = types.SimpleNamespace(debug_string=lambda: "roots")
        p = types.SimpleNamespace(public_key=key, blessing_store=store, roots=roots)
        sysstats.register_principal(p)
        sysstats.register_principal(p)
        self.assertEqual(hooks, [])
        self.assertEqual([k for k, _ in stats.glob(prefix, "*/*")],
                         ["blessingroots/1", "blessingroots/2",
                          "blessingstore/1", "blessingstore/2"])
        self.assertEqual(stats.value(f"{prefix}/blessingstore/2"), "store")
