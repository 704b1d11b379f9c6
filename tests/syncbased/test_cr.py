"""Conflict resolution's core (syncbased.vsync.cr): Go's CR rules by collection and key
prefix, the closure of conflicts over batches, the ConflictInfo stream's order, and
the application's answers turned into resolutions."""
from types import SimpleNamespace as NS

from twisted.trial import unittest

from syncbased.vsync import cr


def oid(bl, name, row):
    return b"r\xfe" + f"{bl}\x00{name}\x00".encode() + b"\xfe" + row.encode()


def rule(cx=None, prefix="", resolver=cr.LAST_WINS):
    cid = NS(Blessing=cx[0], Name=cx[1]) if cx else NS(Blessing="", Name="")
    return NS(CollectionId=cid, KeyPrefix=prefix, Type="", Resolver=NS(label=resolver))


EMPTY = rule()
T1 = rule(("u", "t1"))
T2 = rule(("u", "t2"), resolver=cr.APP_RESOLVES)
FOO = rule(("u", "t1"), "foo", cr.APP_RESOLVES)
FOOBAR = rule(("u", "t1"), "foobar", cr.LAST_WINS)
FOOBAR2 = rule(("u", "t1"), "foobar", cr.DEFER)
BAR = rule(("u", "t1"), "bar", cr.APP_RESOLVES)
SCHEMA = NS(Policy=NS(Rules=[EMPTY, T1, T2, FOO, FOOBAR, FOOBAR2, BAR]))


class RulesTest(unittest.TestCase):
    def test_more_specific(self):
        yes = [(T1, EMPTY), (FOO, T1), (FOOBAR, FOO), (FOOBAR2, FOOBAR)]
        no = [(EMPTY, T1), (T2, T1), (T1, FOO), (FOO, FOOBAR), (FOO, BAR)]
        for a, b in yes:
            self.assertTrue(cr._more_specific(a, b))
        for a, b in no:
            self.assertFalse(cr._more_specific(a, b))

    def test_resolver_type(self):
        cases = [(("u", "t1", "abc"), cr.LAST_WINS), (("u", "t1", "fo"), cr.LAST_WINS),
                 (("u", "t1", "foo"), cr.APP_RESOLVES), (("u", "t1", "foopie"), cr.APP_RESOLVES),
                 (("u", "t1", "foobar"), cr.DEFER), (("u", "t1", "bar"), cr.APP_RESOLVES),
                 (("u", "t2", "abc"), cr.APP_RESOLVES), (("u", "t3", "abc"), cr.LAST_WINS)]
        for (b, n, r), want in cases:
            self.assertEqual(cr.resolver_type(oid(b, n, r), SCHEMA), want, r)
        self.assertEqual(cr.resolver_type(b"c\xfeu\x00t2\x00\xfe", SCHEMA), cr.LAST_WINS)
        self.assertEqual(cr.resolver_type(oid("u", "t2", "x"), None), cr.LAST_WINS)
        # a key prefix without a collection is ignored, as Go does
        bad = NS(Policy=NS(Rules=[rule(None, "x", cr.APP_RESOLVES)]))
        self.assertEqual(cr.resolver_type(oid("u", "t1", "xy"), bad), cr.LAST_WINS)
        self.assertTrue(cr.needs_app(SCHEMA))
        self.assertFalse(cr.needs_app(NS(Policy=NS(Rules=[T1]))))


class ClosureTest(unittest.TestCase):
    def test_go_example(self):
        """{B1: a, b}, {B2: b, c}, {B3: d, e}, {B4: d, x, y}, f, g with x, y not in the
        round give {a, b, c}, {d, e, x, y}, {f}, {g}."""
        k = {n: oid("u", "c", n) for n in "abcdefgxy"}
        batches = {1: "ab", 2: "bc", 3: "de", 4: "dxy"}
        local = {"a": 1, "b": 1, "d": 3, "e": 3}         # batch of each local head
        remote = {"b": 2, "c": 2, "d": 4}                 # batch of each remote head
        upd = {k[n]: cr.ObjState(old=b"L" + n.encode(), new=b"R" + n.encode(), conflict=True)
               for n in "abcdefg"}

        def batch_of(o, ver):
            n = o[-1:].decode()
            return (local if ver.startswith(b"L") else remote).get(n, 0)
        clo = cr.Closure(upd, batch_of,
                         lambda bid: {k[n]: b"v" for n in batches[bid]},
                         lambda o: b"H" + o[-1:])
        groups = clo.groups([k[n] for n in "abcdefg"])
        got = sorted(sorted(x[-1:].decode() for x in g.batches_by_oid) for g in groups)
        self.assertEqual(got, [["a", "b", "c"], ["d", "e", "x", "y"], ["f"], ["g"]])
        g2 = [g for g in groups if k["d"] in g.batches_by_oid][0]
        self.assertEqual(g2.batch_source, {3: cr.SOURCE_LOCAL, 4: cr.SOURCE_REMOTE})
        self.assertEqual(g2.batches_by_oid[k["d"]], [3, 4])
        self.assertTrue(upd[k["x"]].added_by_cr)
        self.assertEqual(upd[k["x"]].old, b"Hx")

    def test_local_batch_of_a_non_conflict_is_left_out(self):
        k = oid("u", "c", "a")
        upd = {k: cr.ObjState(old=b"L", new=b"R", conflict=False)}
        g = cr.Closure(upd, lambda o, v: 7 if v == b"L" else 0, lambda b: {}, None).groups([k])
        self.assertEqual((g[0].batch_source, g[0].batches_by_oid), ({}, {k: []}))


class Wire:
    @staticmethod
    def batch(bid, src, cont):
        return ("batch", bid, src, cont)

    @staticmethod
    def row(key, local, remote, anc, bids, cont):
        return ("row", key, local.state, remote.state, anc.state, bids, cont)


class StreamAndDecideTest(unittest.TestCase):
    def setUp(self):
        self.a, self.b, self.x = oid("u", "c", "a"), oid("u", "c", "b"), oid("u", "c", "x")
        self.upd = {self.a: cr.ObjState(old=b"a1", new=b"a2", ancestor=b"a0", conflict=True),
                    self.b: cr.ObjState(old=b"b1", new=b"b2", conflict=False),
                    self.x: cr.ObjState(old=b"x1", added_by_cr=True)}
        self.g = cr.Group({9: cr.SOURCE_REMOTE, 4: cr.SOURCE_LOCAL},
                          {self.a: [4, 9], self.b: [9], self.x: [4]})

    def test_order(self):
        got = cr.conflict_infos(self.g, self.upd, lambda o, v: cr.VersionValue(cr.STATE_EXISTS),
                                Wire)
        self.assertEqual([g[:2] for g in got[:2]], [("batch", 4), ("batch", 9)])
        self.assertTrue(all(g[3] for g in got[:2]))
        rows = got[2:]
        self.assertEqual([r[1] for r in rows], ["u\x00c\x00\udcfea", "u\x00c\x00\udcfeb",
                                                "u\x00c\x00\udcfex"])
        self.assertEqual([r[-1] for r in rows], [True, True, False])
        self.assertEqual(rows[0][2:5], (cr.STATE_EXISTS,) * 3)
        self.assertEqual(rows[1][4], cr.STATE_NO_EXISTS)        # no ancestor
        self.assertEqual(rows[2][3], cr.STATE_UNKNOWN)          # pulled in: no remote
        self.assertEqual(cr.oid_of_app_key(rows[0][1]), self.a)

    def test_decide(self):
        sel = lambda s, value=None, result=True: NS(  # noqa: E731
            Selection=NS(label=s), Result=NS(Bytes=value) if result else None)
        results = {self.a: sel(cr.SEL_OTHER, "merged"), self.b: sel(cr.SEL_LOCAL),
                   self.x: sel(cr.SEL_OTHER, result=False)}
        cr.decide(self.g, results, self.upd, new_batch=lambda n: 77,
                  stored_value=lambda o, v: b"stored-" + v, is_deleted=lambda o, v: False,
                  encode_value=lambda v: b"enc-" + v.encode())
        ra, rb, rx = (self.upd[o].res for o in (self.a, self.b, self.x))
        self.assertEqual((ra.kind, ra.value, ra.parents, ra.batch, ra.count),
                         (cr.CREATE_NEW, b"enc-merged", (b"a1", b"a2"), 77, 3))
        # keeping the local version of a non-conflict whose remote descends from it
        # would make a cycle: it is written again as a new version on the remote head
        self.assertEqual((rb.kind, rb.value, rb.parents), (cr.CREATE_NEW, b"stored-b1", (b"b2",)))
        self.assertEqual((rx.kind, rx.deleted, rx.parents), (cr.CREATE_NEW, True, (b"x1",)))
        with self.assertRaises(cr.BadResolution):
            cr.decide(self.g, {self.a: sel(cr.SEL_LOCAL)}, self.upd, lambda n: 1, None, None,
                      None)

    def test_last_writer(self):
        self.assertEqual(cr.last_writer(2, b"a", 1, b"b"), cr.PICK_LOCAL)
        self.assertEqual(cr.last_writer(1, b"z", 2, b"b"), cr.PICK_REMOTE)
        self.assertEqual(cr.last_writer(1, b"b", 1, b"a"), cr.PICK_LOCAL)
        self.assertEqual(cr.last_writer(1, b"a", 1, b"b"), cr.PICK_REMOTE)
