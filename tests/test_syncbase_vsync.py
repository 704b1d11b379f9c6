"""The sync core without networking: two in-process services exchange deltas directly."""
import tempfile
import types

from twisted.internet import reactor
from twisted.trial import unittest

from v23py import verror
from v23py.syncbase.util import Id
from syncbased import access
from syncbased.service import Service
from syncbased.vsync import SyncService, pack, unpack

ALICE = ["idp:o:fortune:alice"]
DB = Id("idp:o:fortune", "fortuneDb")
CX = Id("idp:o:fortune:alice", "fortuneCollection")
SG = Id("idp:o:fortune:alice", "sg")


class Peer:
    def __init__(self):
        self.svc = Service(tempfile.mkdtemp(prefix="vsync-"), "memstore",
                           default_patterns=ALICE)
        self.sync = SyncService(types.SimpleNamespace(service=self.svc, reactor=reactor), None,
                                publish_nh=False)
        db = self.svc.database(DB)
        db.create(ALICE, None, access.perms_add({}, ALICE[0], *access.ALL_DATABASE_TAGS))
        self.db = self.svc.database(DB)
        self.cx = self.db.collection(CX)
        self.cx.create(ALICE, "", access.perms_add({}, ALICE[0], *access.ALL_COLLECTION_TAGS))

    def rows(self):
        return dict(self.cx.scan(ALICE, "", b"", b""))

    def pull_from(self, other):
        chunks = other.sync.dbsync(DB).deltas(ALICE, self.sync.dbsync(DB).request())
        return self.sync.dbsync(DB).apply(chunks)


def spec():
    from v23py import syncbase
    return syncbase.SyncgroupSpec(Description="d",
                                  Perms=syncbase.perms_for(ALICE[0], ["Admin", "Read"]),
                                  Collections=[CX])


def info():
    from v23py import syncbase
    return syncbase.SyncgroupMemberInfo(SyncPriority=10)


class VsyncTest(unittest.TestCase):
    def setUp(self):
        self.a, self.b = Peer(), Peer()
        self.a.cx.row("old").put(ALICE, "", b"o")
        self.a.sync.create_syncgroup(ALICE, self.a.db, SG, spec(), info())
        reply = self.a.sync.join_at_admin(ALICE, {"db": list(DB), "sg": list(SG),
                                                  "joiner": self.b.sync.hex, "addr": "/b",
                                                  "info": {"SyncPriority": 10}})
        self.b.sync.finish_join(ALICE, self.b.db, "/a", reply)

    def test_join_records_members_and_addresses(self):
        sg = self.a.sync.dbsync(DB).sgs[SG]
        self.assertEqual(set(sg["Joiners"]), {self.a.sync.hex, self.b.sync.hex})
        self.assertEqual(self.a.sync.peers[self.b.sync.hex], "/b")
        self.assertEqual(self.b.sync.peers[self.a.sync.hex], "/a")

    def test_pull_both_ways_and_idempotent(self):
        self.b.cx.row("fromb").put(ALICE, "", b"b")
        self.assertGreater(self.b.pull_from(self.a), 0)
        self.a.pull_from(self.b)
        self.assertEqual(self.a.rows(), {"old": b"o", "fromb": b"b"})
        self.assertEqual(self.a.rows(), self.b.rows())
        # nothing new: a second round sends no records
        self.assertEqual(self.b.pull_from(self.a), 0)

    def test_concurrent_writes_resolve_identically(self):
        self.b.pull_from(self.a)
        self.a.cx.row("k").put(ALICE, "", b"from-a")
        self.b.cx.row("k").put(ALICE, "", b"from-b")
        self.a.pull_from(self.b)
        self.b.pull_from(self.a)
        self.a.pull_from(self.b)
        self.assertEqual(self.a.rows(), self.b.rows())
        self.assertIn(self.a.rows()["k"], (b"from-a", b"from-b"))
        # later write wins everywhere
        self.b.cx.row("k").put(ALICE, "", b"later")
        self.a.pull_from(self.b)
        self.assertEqual(self.a.rows()["k"], b"later")

    def test_deletes_propagate(self):
        self.b.pull_from(self.a)
        self.b.cx.row("old").delete(ALICE, "")
        self.a.pull_from(self.b)
        self.assertEqual(self.a.rows(), {})

    def test_malformed_deltas_change_nothing(self):
        self.b.pull_from(self.a)
        before = self.b.rows()
        ds = self.b.sync.dbsync(DB)
        for bad in ([b"\x00\x00\x00\x09abc"], [b"\x00\x00\x00\x03abc"],
                    pack([b'{"k":"n"}\nvalue', b'{"final":true,"kv":{}}\n']),
                    pack([b'{"k":"n","o":"zz","v":"1","p":[],"t":1,"d":false,"dev":"x",'
                          b'"gen":1}\n', b'{"final":true,"kv":{}}\n'])):
            e = self.assertRaises(verror.VError, ds.apply, bad)
            self.assertEqual(e.id, verror.BadProtocol.id)
        self.assertEqual(self.b.rows(), before)

    def test_reader_access_required_for_deltas(self):
        e = self.assertRaises(verror.VError, self.a.sync.dbsync(DB).deltas, ["other:eve"],
                              self.b.sync.dbsync(DB).request())
        self.assertEqual(e.id, verror.NoAccess.id)

    def test_pack_unpack(self):
        items = [b"x" * n for n in (0, 1, 300000, 5)]
        self.assertEqual(list(unpack(pack(items))), items)

    def test_truncated_rounds_continue_where_they_stopped(self):
        import syncbased.vsync as vs
        self.patch(vs, "MAX_RECORDS_PER_ROUND", 3)
        c = Peer()
        reply = self.a.sync.join_at_admin(ALICE, {"db": list(DB), "sg": list(SG),
                                                  "joiner": c.sync.hex, "addr": "/c",
                                                  "info": {"SyncPriority": 10}})
        c.sync.finish_join(ALICE, c.db, "/a", reply)
        for i in range(7):
            self.b.cx.row(f"b{i}").put(ALICE, "", b"b")
            self.a.cx.row(f"a{i}").put(ALICE, "", b"a")
        rounds = 0
        while self.a.pull_from(self.b):
            rounds += 1
        self.assertGreater(rounds, 2)
        while c.pull_from(self.a):
            pass
        self.assertEqual(c.rows(), self.a.rows())
        self.assertEqual(len(c.rows()), 15)
        while self.b.pull_from(c):
            pass
        self.assertEqual(self.b.rows(), c.rows())


class WireDeclarationsTest(unittest.TestCase):
    """The peer interface is declared in syncbased/vsync/interfaces/*.vdl (Go's package
    v.io/x/ref/services/syncbase/server/interfaces) and its generated module is current."""

    def test_generated_module_is_current(self):
        import os
        from tests._support import ROOT
        from v23py.vdl.compiler.build import Builder
        b = Builder(vdlpath=[], vdlroot="")
        [src] = b.resolve_arg(os.path.join(ROOT, "syncbased", "vsync", "interfaces"))
        self.assertEqual(src.path, "v.io/x/ref/services/syncbase/server/interfaces")
        with open(src.out_file, encoding="utf-8") as fh:
            self.assertEqual(fh.read(), b.generate(src),
                             "stale: run `python -m v23py.cmd.vdl generate "
                             "./syncbased/vsync/interfaces`")

    def test_go_names_and_field_orders(self):
        from syncbased.vsync import interfaces as I
        P = "v.io/x/ref/services/syncbase/server/interfaces."
        t = I.LogRecMetadata._vdl_type
        self.assertEqual(t.name, P + "LogRecMetadata")
        self.assertEqual([f.name for f in t.fields],
                         ["Id", "Gen", "RecType", "ObjId", "CurVers", "Parents", "UpdTime",
                          "Delete", "BatchId", "BatchCount"])
        self.assertEqual([f.name for f in I.DeltaReq._vdl_type.fields], ["Sgs", "Data"])
        self.assertEqual([f.name for f in I.DeltaResp._vdl_type.fields], ["Rec", "Gvs"])
        self.assertEqual([f.name for f in I.Syncgroup._vdl_type.fields],
                         ["Id", "SpecVersion", "Spec", "Creator", "DbId", "Status", "Joiners"])
        self.assertEqual(I.SyncgroupStatus._vdl_type.labels,
                         ("PublishPending", "PublishRejected", "Running"))
        self.assertEqual([m.name for m in I.SyncDesc.methods][:4],
                         ["GetTime", "GetDeltas", "PublishSyncgroup", "JoinSyncgroupAtAdmin"])
        self.assertEqual(I.ErrDbOffline.id, P + "DbOffline")
        self.assertEqual(I.ErrNotAdmin.id, P + "NotAdmin")
