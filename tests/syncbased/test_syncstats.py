"""Per-syncgroup row counts: a sync round covers a whole database, so each row record
counts for every syncgroup whose collections hold it, and nothing else counts."""
from types import SimpleNamespace as NS

from twisted.trial import unittest

from syncbased import syncstats
from syncbased.common import Id
from syncbased.vsync.syncgroups import collection_prefix


def _rec(oid: bytes):
    md = NS(ObjId=oid.decode("utf-8", "surrogateescape"))
    return NS(name="Rec", value=NS(Metadata=md))


class CountRowsTest(unittest.TestCase):
    def test_rows_count_for_each_syncgroup_holding_them(self):
        db = Id("idp:o:app", "db-count-rows")
        c1, c2 = Id("idp:o:app:alice", "c1"), Id("idp:o:app:alice", "c2")
        g1 = NS(id=Id("idp:o:app:alice", "g1"), prefixes=[collection_prefix(c1)])
        g12 = NS(id=Id("idp:o:app:alice", "g12"),
                 prefixes=[collection_prefix(c1), collection_prefix(c2)])
        sync = NS(dbs={db: NS(sgs={"a": g1, "b": g12})})
        items = [_rec(b"r\xfe" + collection_prefix(c1) + b"k1"),
                 _rec(b"r\xfe" + collection_prefix(c2) + b"k2"),
                 _rec(b"r\xfe" + collection_prefix(c2) + b"k3"),
                 _rec(b"c\xfe" + collection_prefix(c1)),           # the collection's perms
                 _rec(b"s\xfe" + b"g1"),                           # a syncgroup record
                 NS(name="Gvs", value={})]
        syncstats.count_rows(sync, db, items, sent=False)
        syncstats.count_rows(sync, db, items[:1], sent=True)
        r1 = syncstats.syncgroup_rows(db, g1.id)
        r12 = syncstats.syncgroup_rows(db, g12.id)
        self.assertEqual((r1.rows_in.value(), r1.rows_out.value()), (1, 1))
        self.assertEqual((r12.rows_in.value(), r12.rows_out.value()), (3, 1))

    def test_unknown_database_counts_nothing(self):
        db = Id("idp:o:app", "db-unknown")
        syncstats.count_rows(NS(dbs={}), db, [_rec(b"r\xfex")], sent=True)
        self.assertNotIn(("idp:o:app", "db-unknown"), {k[0] for k in syncstats._sg_rows})
