"""The sync core without networking: in-process services exchange Go's wire values."""
import types

from twisted.internet import reactor
from twisted.trial import unittest

from v23py import verror, vom
from v23py.syncbase.util import Id
from syncbased import access
from syncbased.service import Service
from syncbased.vsync import SyncService
from syncbased import interfaces as I
from v23py.testing import tempdir
from syncbased.store import encode_log_entry, log_key

ENGINE = "memstore"
ALICE = ["idp:o:fortune:alice"]
DB = Id("idp:o:fortune", "fortuneDb")
CX = Id("idp:o:fortune:alice", "fortuneCollection")
SG = Id("idp:o:fortune:alice", "sg")


def wire(items):
    """Through VOM and back, as the RPC layer would carry a DeltaResp stream."""
    t = I.DeltaResp._vdl_type
    return [vom.decode(vom.encode(x, t), t) for x in items]


class Peer:
    def __init__(self, case, engine=ENGINE, root=None):
        """A service with the database and collection; ``root``: one opened again."""
        self.root = root or tempdir(case, "vsync-")
        self.svc = Service(self.root, engine, default_patterns=ALICE)
        if engine != "memstore":
            case.addCleanup(self.svc.close)
        self.sync = SyncService(types.SimpleNamespace(service=self.svc, reactor=reactor, blobs=None), None,
                                publish_nh=False, own_names=ALICE)
        if root is None:
            db = self.svc.database(DB)
            db.create(ALICE, None, access.perms_add({}, ALICE[0], *access.ALL_DATABASE_TAGS))
        self.db = self.svc.database(DB)
        self.cx = self.db.collection(CX)
        if root is None:
            self.cx.create(ALICE, "", access.perms_add({}, ALICE[0],
                                                       *access.ALL_COLLECTION_TAGS))

    @property
    def ds(self):
        return self.sync.dbsync(DB)

    def rows(self):
        return {k: vom.decode(v) for k, v in self.cx.scan(ALICE, "", b"", b"")}

    def round(self, other, sg):
        me = self.ds
        req = me.sg_request(other.sync.hex) if sg else me.data_request(other.sync.hex)
        req = vom.decode(vom.encode(req, I.DeltaReq._vdl_type), I.DeltaReq._vdl_type)
        items = wire(other.ds.respond(ALICE, req, self.sync.hex))
        return me.apply(sg, items, other.sync.hex, ALICE)

    def pull_from(self, other):
        self.round(other, True)
        return self.round(other, False)

    def join_via(self, admin):
        sg, ver, gv = admin.sync.join_at_admin(ALICE, DB, SG, self.sync.hex,
                                               _info())
        self.sync.finish_join(ALICE, self.db, "/admin", sg, ver, gv)


def spec():
    from v23py import syncbase
    return syncbase.SyncgroupSpec(Description="d",
                                  Perms=syncbase.perms_for(ALICE[0], ["Admin", "Read"]),
                                  Collections=[CX])


def _info():
    from v23py import syncbase
    return syncbase.SyncgroupMemberInfo(SyncPriority=10)


class HeadRecordTest(unittest.TestCase):
    """A synced object's DAG head is the version its pointer names, with a record of its
    own only where the pointer does not name it (deleted); stores of the earlier format
    hold one for every object, which means the same."""

    def setUp(self):
        from syncbased.common import row_key
        from syncbased.vsync._log import HEAD, NODE, SEP, decode_node
        self.a, self.b = Peer(self), Peer(self)
        self.a.cx.row("old").put(ALICE, "", vom.encode("o"))
        self.a.sync.create_syncgroup(ALICE, self.a.db, SG, spec(), _info())
        self.b.join_via(self.a)
        self.oid = row_key(CX, "k")
        self.head_key = HEAD + self.oid

        def node(peer, ver):
            return decode_node(peer.db.st.engine.get(NODE + self.oid + SEP + ver))
        self.node = node

    def pointer(self, peer):
        return peer.db.st.engine.get(b"v\xfe" + self.oid)

    def test_local_writes(self):
        a, eng = self.a, self.a.db.st.engine
        a.cx.row("k").put(ALICE, "", vom.encode("1"))
        v1 = self.pointer(a)
        self.assertIsNone(eng.get(self.head_key))
        a.cx.row("k").delete(ALICE, "")
        vdel = eng.get(self.head_key)           # deleted: no pointer, so a head record
        self.assertIsNotNone(vdel)
        self.assertIsNone(self.pointer(a))
        self.assertEqual(self.node(a, vdel).parents, (v1,))
        self.assertTrue(self.node(a, vdel).deleted)
        a.cx.row("k").put(ALICE, "", vom.encode("2"))
        v2 = self.pointer(a)
        self.assertIsNone(eng.get(self.head_key))
        self.assertEqual(self.node(a, v2).parents, (vdel,))
        # two puts of the object in one commit: the second hangs from the first
        a.cx.put_rows(ALICE, None, [("k", vom.encode("3")), ("k", vom.encode("4"))])
        v4 = self.pointer(a)
        (v3,) = self.node(a, v4).parents
        self.assertEqual(self.node(a, v3).parents, (v2,))
        self.assertIsNone(eng.get(self.head_key))

    def test_received_delete_and_put(self):
        a, b = self.a, self.b
        a.cx.row("k").put(ALICE, "", vom.encode("1"))
        b.pull_from(a)
        self.assertIsNone(b.db.st.engine.get(self.head_key))
        a.cx.row("k").delete(ALICE, "")
        b.pull_from(a)
        self.assertEqual(b.db.st.engine.get(self.head_key), a.db.st.engine.get(self.head_key))
        self.assertIsNone(self.pointer(b))
        a.cx.row("k").put(ALICE, "", vom.encode("2"))
        b.pull_from(a)
        self.assertIsNone(b.db.st.engine.get(self.head_key))
        self.assertEqual(self.pointer(b), self.pointer(a))
        self.assertEqual(b.rows()["k"], "2")

    def test_received_object_new_and_deleted(self):
        # (new on b and deleted: no pointer, so a head record; new and not deleted: none)
        a, b = self.a, self.b
        a.cx.row("k").put(ALICE, "", vom.encode("1"))
        a.cx.row("k").delete(ALICE, "")
        a.cx.row("n").put(ALICE, "", vom.encode("n"))
        b.pull_from(a)
        self.assertIsNotNone(b.db.st.engine.get(self.head_key))
        self.assertEqual(b.db.st.engine.get(self.head_key), a.db.st.engine.get(self.head_key))
        self.assertIsNone(self.pointer(b))
        self.assertIsNone(b.db.st.engine.get(self.head_key[:-1] + b"n"))
        a.cx.row("k").put(ALICE, "", vom.encode("2"))
        b.pull_from(a)
        self.assertIsNone(b.db.st.engine.get(self.head_key))
        self.assertEqual(b.rows(), {"old": "o", "k": "2", "n": "n"})

    def test_head_records_of_the_earlier_format(self):
        """A head record equal to the pointer (format 2 kept one for every object):
        local and received writes hang from it, and drop it."""
        a, b = self.a, self.b
        a.cx.row("k").put(ALICE, "", vom.encode("1"))
        b.pull_from(a)
        for peer in (a, b):
            v1 = self.pointer(peer)
            peer.db.st.run_in_transaction(lambda tx: tx.raw_put(self.head_key, v1))
        a.cx.row("k").put(ALICE, "", vom.encode("2"))
        v2 = self.pointer(a)
        self.assertEqual(self.node(a, v2).parents, (v1,))
        self.assertIsNone(a.db.st.engine.get(self.head_key))
        b.pull_from(a)
        self.assertEqual(self.pointer(b), v2)
        self.assertIsNone(b.db.st.engine.get(self.head_key))
        self.assertEqual(b.rows()["k"], "2")

    def test_a_second_syncgroup_over_the_prefix_makes_no_new_nodes(self):
        """bootstrap gives a DAG only to objects without one: the pointer of an object
        with a DAG names a node."""
        a = self.a
        gen = a.ds.gen
        a.sync.create_syncgroup(ALICE, a.db, Id(ALICE[0], "sg2"), spec(), _info())
        self.assertEqual(a.ds.gen, gen)


class VsyncTest(unittest.TestCase):
    def setUp(self):
        self.a, self.b = Peer(self), Peer(self)
        self.a.cx.row("old").put(ALICE, "", vom.encode("o"))
        self.a.sync.create_syncgroup(ALICE, self.a.db, SG, spec(), _info())
        self.b.join_via(self.a)

    def test_join_records_members_and_pending_state(self):
        sg = self.a.ds.entry(SG).sg
        self.assertIsInstance(sg, I.Syncgroup)
        self.assertEqual(set(sg.Joiners), {self.a.sync.hex, self.b.sync.hex})
        self.assertEqual(sg.Creator, self.a.sync.hex)
        self.assertEqual(self.b.sync.peers[self.a.sync.hex], "/admin")
        eb = self.b.ds.entry(SG)
        self.assertTrue(eb.pending)
        self.assertEqual(eb.gid, self.a.ds.entry(SG).gid)
        self.assertEqual(len(eb.gid), 43)
        # syncgroup metadata sync clears the pending state
        self.b.round(self.a, True)
        self.assertFalse(self.b.ds.entry(SG).pending)
        self.assertEqual(self.b.ds.entry(SG).version, self.a.ds.entry(SG).version)

    def test_pull_both_ways_and_idempotent(self):
        self.b.cx.row("fromb").put(ALICE, "", vom.encode("b"))
        self.assertGreater(self.b.pull_from(self.a), 0)
        self.a.pull_from(self.b)
        self.assertEqual(self.a.rows(), {"old": "o", "fromb": "b"})
        self.assertEqual(self.a.rows(), self.b.rows())
        # nothing new: a second round sends no records
        self.assertEqual(self.b.pull_from(self.a), 0)
        self.assertEqual(self.a.pull_from(self.b), 0)

    def test_records_are_gos_wire_values(self):
        self.a.cx.row("k").put(ALICE, "", vom.encode("v1"))
        req = self.b.ds.data_request(self.a.sync.hex)
        self.assertEqual(req.name, "Data")
        self.assertEqual(req.value.SgIds, {self.a.ds.entry(SG).gid})
        items = wire(self.a.ds.respond(ALICE, req, self.b.sync.hex))
        self.assertEqual(items[-1].name, "Gvs")
        recs = [it.value for it in items[:-1]]
        self.assertTrue(all(isinstance(r, I.LogRec) for r in recs))
        k = [r for r in recs if r.Metadata.ObjId.endswith("\udcfek")]
        self.assertEqual(len(k), 1)
        md = k[0].Metadata
        self.assertEqual((md.Id, md.RecType, md.Delete), (self.a.sync.id, I.NodeRec, False))
        self.assertTrue(md.ObjId.startswith("r\udcfe"))
        self.assertEqual(k[0].Value, "v1")
        gvs = items[-1].value
        self.assertEqual(set(gvs), {"idp:o:fortune:alice\x00fortuneCollection\x00\udcfe"})

    def test_concurrent_writes_resolve_identically(self):
        self.b.pull_from(self.a)
        self.a.cx.row("k").put(ALICE, "", vom.encode("from-a"))
        self.b.cx.row("k").put(ALICE, "", vom.encode("from-b"))
        self.a.pull_from(self.b)
        self.b.pull_from(self.a)
        self.a.pull_from(self.b)
        self.assertEqual(self.a.rows(), self.b.rows())
        self.assertIn(self.a.rows()["k"], ("from-a", "from-b"))
        # later write wins everywhere
        self.b.cx.row("k").put(ALICE, "", vom.encode("later"))
        self.a.pull_from(self.b)
        self.assertEqual(self.a.rows()["k"], "later")

    def test_lww_tie_breaks_on_the_larger_version(self):
        from syncbased.common import row_key
        self.b.pull_from(self.a)
        for p in (self.a, self.b):
            p.db.st.clock = lambda: 1234567890 * 10**9
        self.a.cx.row("t").put(ALICE, "", vom.encode("a"))
        self.b.cx.row("t").put(ALICE, "", vom.encode("b"))
        vkey = b"v\xfe" + row_key(CX, "t")
        va, vb = self.a.db.st.engine.get(vkey), self.b.db.st.engine.get(vkey)
        self.a.pull_from(self.b)
        self.b.pull_from(self.a)
        want = "a" if va > vb else "b"
        self.assertEqual((self.a.rows()["t"], self.b.rows()["t"]), (want, want))
        self.assertEqual(self.a.db.st.engine.get(vkey), max(va, vb))

    def test_deletes_propagate(self):
        self.b.pull_from(self.a)
        self.b.cx.row("old").delete(ALICE, "")
        self.a.pull_from(self.b)
        self.assertEqual(self.a.rows(), {})

    def test_malformed_deltas_change_nothing(self):
        self.b.pull_from(self.a)
        self.a.cx.row("new").put(ALICE, "", vom.encode("n"))
        before = self.b.rows()
        ds = self.b.ds
        req = ds.data_request(self.a.sync.hex)
        good = wire(self.a.ds.respond(ALICE, req, self.b.sync.hex))
        rec = good[0].value

        def with_md(**kw):
            md = I.LogRecMetadata(**{f: getattr(rec.Metadata, f) for f in
                                     ("Id", "Gen", "RecType", "ObjId", "CurVers", "Parents",
                                      "UpdTime", "Delete", "BatchId", "BatchCount")})
            for k, v in kw.items():
                setattr(md, k, v)
            return [I.DeltaResp("Rec", I.LogRec(Metadata=md, Value=rec.Value)), good[-1]]
        for bad in (good[:-1],                                  # no knowledge
                    with_md(RecType=7), with_md(Gen=0),
                    with_md(ObjId="r\udcfeother\x00c\x00\udcfek"),  # not shared
                    with_md(RecType=I.LinkRec, Parents=["nope"]),
                    with_md(Parents=["a", "b", "c"]),
                    ["junk", good[-1]]):
            e = self.assertRaises(verror.VError, ds.apply, False, bad, self.a.sync.hex, ALICE)
            self.assertEqual(e.id, verror.BadProtocol.id)
        self.assertEqual(self.b.rows(), before)
        # and the good round still applies
        ds.apply(False, good, self.a.sync.hex, ALICE)
        self.assertEqual(self.b.rows()["new"], "n")

    def test_reader_access_required_for_deltas(self):
        req = self.b.ds.data_request(self.a.sync.hex)
        e = self.assertRaises(verror.VError, self.a.ds.respond, ["other:eve"], req, "x")
        self.assertEqual(e.id, I.ErrDbOffline.id)
        req = self.b.ds.sg_request(self.a.sync.hex)
        e = self.assertRaises(verror.VError, self.a.ds.respond, ["other:eve"], req, "x")
        self.assertEqual(e.id, I.ErrDbOffline.id)

    def test_truncated_rounds_continue_where_they_stopped(self):
        from syncbased.vsync import limits as vs
        self.patch(vs, "MAX_RECORDS_PER_ROUND", 3)
        c = Peer(self)
        c.join_via(self.a)
        self.b.round(self.a, True)
        for i in range(7):
            self.b.cx.row(f"b{i}").put(ALICE, "", vom.encode("b"))
            self.a.cx.row(f"a{i}").put(ALICE, "", vom.encode("a"))
        self.a.round(self.b, True)
        rounds = 0
        while self.a.round(self.b, False) >= 3:
            rounds += 1
        self.assertGreaterEqual(rounds, 2)
        c.round(self.a, True)
        while c.round(self.a, False) >= 3:
            pass
        self.assertEqual(c.rows(), self.a.rows())
        self.assertEqual(len(c.rows()), 15)
        self.b.round(c, True)
        while self.b.round(c, False) >= 3:
            pass
        self.assertEqual(self.b.rows(), c.rows())

    def _batch(self, peer, names_values):
        """One committed batch on ``peer`` (Go's BeginBatch/Put.../Commit)."""
        bh = peer.db.begin_batch(ALICE, False)
        for k, v in names_values:
            peer.cx.row(k).put(ALICE, bh, vom.encode(v))
        peer.db.commit(ALICE, bh)

    def _batch_infos(self, peer):
        from syncbased.vsync._log import BATCH, prefix_limit, stored_batches
        return stored_batches(peer.db.st.engine.scan(BATCH, prefix_limit(BATCH)))

    def test_local_batches_keep_go_batch_info(self):
        from syncbased.common import row_key
        self._batch(self.a, [(f"k{i}", i) for i in range(3)])
        # a Put outside a batch is a commit of two operations in Go too (the
        # collection permissions' GetOp and the PutOp), so it is a batch of its own
        self.a.cx.row("single").put(ALICE, "", vom.encode("s"))
        infos = self._batch_infos(self.a)
        self.assertEqual(len(infos), 2)
        by_count = {count: (bid, objects, linked)
                    for bid, (objects, linked, count) in infos.items()}
        # 3 puts + 3 permission reads
        bid, objects, linked = by_count[6]
        self.assertEqual(linked, {})
        vkey = b"v\xfe"
        self.assertEqual(objects, {row_key(CX, f"k{i}"): self.a.db.st.engine.get(
            vkey + row_key(CX, f"k{i}")) for i in range(3)})
        sbid, sobjects, _ = by_count[2]
        self.assertEqual(list(sobjects), [row_key(CX, "single")])
        # the records carry the batch id and count on the wire
        req = self.b.ds.data_request(self.a.sync.hex)
        recs = {r.value.Metadata.ObjId.rsplit("\udcfe", 1)[1]: r.value.Metadata
                for r in wire(self.a.ds.respond(ALICE, req, self.b.sync.hex))[:-1]}
        for i in range(3):
            self.assertEqual((recs[f"k{i}"].BatchId, recs[f"k{i}"].BatchCount), (bid, 6))
        self.assertEqual((recs["single"].BatchId, recs["single"].BatchCount), (sbid, 2))
        # records made by a syncgroup snapshot (rows written before the syncgroup) have none
        self.assertEqual((recs["old"].BatchId, recs["old"].BatchCount), (0, 0))
        # the receiver keeps the same BatchInfos
        self.b.pull_from(self.a)
        self.assertEqual(self._batch_infos(self.b), infos)

    def test_a_batch_is_applied_atomically_across_truncated_rounds(self):
        from syncbased.vsync import limits as vs
        self.patch(vs, "MAX_RECORDS_PER_ROUND", 3)
        self.b.round(self.a, True)
        for i in range(2):
            self.a.cx.row(f"s{i}").put(ALICE, "", vom.encode(i))
        self._batch(self.a, [(f"b{i:02d}", i) for i in range(10)])
        self.a.cx.row("after").put(ALICE, "", vom.encode("x"))
        seen = []
        while True:
            n = self.b.round(self.a, False)
            got = {k for k in self.b.rows() if k.startswith("b")}
            self.assertIn(len(got), (0, 10))     # all of the batch or none of it
            seen.append(n)
            if n < 3:
                break
        # the collection's permissions, "old" and s0 fill the first round; the
        # second has s1 and the whole batch (11 records although a round holds 3)
        self.assertEqual(seen, [3, 11, 1])
        self.assertEqual(self.b.rows(), self.a.rows())
        self.assertEqual(self._batch_infos(self.b), self._batch_infos(self.a))

    def test_inconsistent_batch_counts_are_refused(self):
        self.b.pull_from(self.a)
        self._batch(self.a, [("x", 1), ("y", 2)])
        before = self.b.rows()
        good = wire(self.a.ds.respond(ALICE, self.b.ds.data_request(self.a.sync.hex),
                                      self.b.sync.hex))
        self.assertEqual(len(good), 3)
        good[1].value.Metadata.BatchCount = 5
        e = self.assertRaises(verror.VError, self.b.ds.apply, False, good, self.a.sync.hex, ALICE)
        self.assertEqual(e.id, verror.BadProtocol.id)
        self.assertEqual(self.b.rows(), before)
        self.assertEqual(self._batch_infos(self.b), {})

    def test_state_survives_reopen(self):
        self.b.pull_from(self.a)
        self.a.cx.row("x").put(ALICE, "", vom.encode("x"))
        gen = self.a.ds.gen
        sync2 = SyncService(types.SimpleNamespace(service=self.a.svc, reactor=reactor, blobs=None), None,
                            publish_nh=False, own_names=ALICE)
        ds2 = sync2.dbsync(DB)
        self.assertEqual(ds2.gen, gen)
        self.assertEqual(set(ds2.sgs), set(self.a.ds.sgs))
        self.assertEqual(ds2.genvecs, self.a.ds.genvecs)


class _Worker:
    """Runs store calls inline, recording which kind each was (quick or not)."""

    def __init__(self):
        self.kinds, self.after = [], []

    def _run(self, kind, fn, args):
        from twisted.internet import defer
        self.kinds.append(kind)
        try:
            return defer.succeed(fn(*args))
        except Exception as e:
            return defer.fail(e)

    def call(self, fn, *args):
        return self._run("call", fn, args)

    def call_quick(self, fn, *args):
        return self._run("quick", fn, args)

    def after_commit(self, fn, *args):
        self.after.append((fn, args))


def _enc(items):
    return [vom.encode(x, I.DeltaResp._vdl_type) for x in items]


class QuickRoundsTest(unittest.TestCase):
    """A round after a few writes runs as quick store calls (the reactor runs them when
    the store thread is idle): the responder's answer, the initiator's preparation and
    its apply; a larger round still runs on the thread, with the same answer."""

    def setUp(self):
        self.a, self.b = Peer(self), Peer(self)
        self.a.sync.create_syncgroup(ALICE, self.a.db, SG, spec(), _info())
        self.b.join_via(self.a)
        self.b.pull_from(self.a)

    def _req(self):
        req = self.b.ds.data_request(self.a.sync.hex)
        return vom.decode(vom.encode(req, I.DeltaReq._vdl_type), I.DeltaReq._vdl_type)

    def test_quick_respond_gives_the_same_answer_or_stops_early(self):
        from syncbased.vsync import limits, responder
        for i in range(3):
            self.a.cx.row(f"q{i}").put(ALICE, "", vom.encode(i))
        req = self._req()
        full = _enc(self.a.ds.respond(ALICE, req, self.b.sync.hex))
        self.assertEqual(len(full), 4)
        self.assertEqual(_enc(self.a.ds.respond(ALICE, req, self.b.sync.hex, True)), full)
        self.patch(limits, "QUICK_RESPOND_RECORDS", 2)
        self.assertRaises(responder.TooBig, self.a.ds.respond, ALICE, req, self.b.sync.hex,
                          True)
        self.assertEqual(_enc(self.a.ds.respond(ALICE, req, self.b.sync.hex)), full)

    async def test_small_rounds_apply_as_quick_calls(self):
        from syncbased.vsync import limits
        w = self.b.sync.daemon.worker = _Worker()
        self.a.cx.row("k1").put(ALICE, "", vom.encode("v1"))
        items = wire(self.a.ds.respond(ALICE, self._req(), self.b.sync.hex))
        self.assertEqual(await self.b.sync._apply_data(DB, items, self.a.sync.hex, ALICE), 1)
        self.assertEqual(w.kinds, ["quick"])
        self.patch(limits, "QUICK_APPLY_ITEMS", 1)
        self.a.cx.row("k2").put(ALICE, "", vom.encode("v2"))
        items = wire(self.a.ds.respond(ALICE, self._req(), self.b.sync.hex))
        self.assertEqual(await self.b.sync._apply_data(DB, items, self.a.sync.hex, ALICE), 1)
        self.assertEqual(w.kinds, ["quick", "call"])
        self.assertEqual(self.b.rows(), self.a.rows())

    async def test_get_deltas_tries_quick_then_the_thread(self):
        from syncbased.vsync import limits, responder
        w = self.a.sync.daemon.worker = _Worker()
        self.patch(responder, "caller_names", lambda call: ALICE)
        sent = []
        from twisted.internet import defer
        call = types.SimpleNamespace(send_many=lambda xs: sent.extend(xs) or defer.succeed(None))
        obj = responder.SyncObj.__new__(responder.SyncObj)
        obj.daemon = types.SimpleNamespace(worker=w, sync=self.a.sync, blobs=None)
        self.a.sync.daemon.sync = self.a.sync
        self.a.cx.row("k1").put(ALICE, "", vom.encode("v1"))
        await obj.GetDeltas(None, call, self._req(), self.b.sync.hex)
        self.assertEqual((w.kinds, len(sent)), (["quick"], 2))
        self.patch(limits, "QUICK_RESPOND_RECORDS", 1)
        self.a.cx.row("k2").put(ALICE, "", vom.encode("v2"))
        del sent[:]
        await obj.GetDeltas(None, call, self._req(), self.b.sync.hex)
        self.assertEqual((w.kinds, len(sent)), (["quick", "quick", "call"], 3))

    async def test_a_pull_answered_with_our_writes_is_the_relays_pull(self):
        # (hints.py's fallback when the relay does not pull: GetDeltas tells Hints what
        # generation of ours it answered with)
        from twisted.internet import defer, task
        from syncbased.vsync import responder
        w = self.a.sync.daemon.worker = _Worker()
        self.patch(responder, "caller_names", lambda call: ALICE)
        call = types.SimpleNamespace(send_many=lambda xs: defer.succeed(None))
        obj = responder.SyncObj.__new__(responder.SyncObj)
        obj.daemon = types.SimpleNamespace(worker=w, sync=self.a.sync, blobs=None)
        self.a.sync.daemon.sync = self.a.sync
        self.a.sync.daemon.reactor = task.Clock()
        self.a.cx.row("k1").put(ALICE, "", vom.encode("v1"))
        hints, key = self.a.sync.hints, (DB, self.b.sync.hex)
        hints._expect_pull(DB, self.b.sync.hex, self.a.ds.gen + 1)   # (a write to come)
        await obj.GetDeltas(None, call, self._req(), self.b.sync.hex)
        self.assertEqual(hints._relay_wait[key][1], True)     # pulling, not there yet
        hints._relay_wait[key][0] = self.a.ds.gen
        await obj.GetDeltas(None, call, self._req(), self.b.sync.hex)
        self.assertNotIn(key, hints._relay_wait)

    async def test_a_hinted_round_prepares_as_a_quick_call(self):
        w = self.b.sync.daemon.worker = _Worker()
        self.b.sync.ctx = types.SimpleNamespace(with_timeout=lambda t: (None, lambda: None))
        a_hex = self.a.sync.hex
        self.b.sync._peer_names[a_hex] = ALICE     # (what its last round's call presented)

        async def get_deltas(stub, ctx, req, opts, key=None):
            req = vom.decode(vom.encode(req, I.DeltaReq._vdl_type), I.DeltaReq._vdl_type)
            return wire(self.a.ds.respond(ALICE, req, self.b.sync.hex))
        self.patch(self.b.sync, "_get_deltas", get_deltas)
        self.a.cx.row("k1").put(ALICE, "", vom.encode("v1"))
        await self.b.sync._round(DB, a_hex, "/a", ("data",))
        self.assertEqual(w.kinds, ["quick", "quick"])      # prepare, apply
        self.assertEqual(self.b.rows(), self.a.rows())

    async def test_a_hinted_data_round_puts_off_the_safety_net_pull(self):
        # (the safety pull brings what a hinting member holds: a hinted round with one
        # just did, so during a burst of writes no daemon adds that pull to its rounds)
        import time
        from syncbased.vsync import limits
        sync, a_hex = self.b.sync, self.a.sync.hex
        sync.daemon.worker = _Worker()
        sync.ctx = types.SimpleNamespace(with_timeout=lambda t: (None, lambda: None))
        sync._peer_names[a_hex] = ALICE
        sync.hints.subscribed[a_hex] = lambda: None     # a hints us

        async def get_deltas(stub, ctx, req, opts, key=None):
            req = vom.decode(vom.encode(req, I.DeltaReq._vdl_type), I.DeltaReq._vdl_type)
            return wire(self.a.ds.respond(ALICE, req, sync.hex))
        self.patch(sync, "_get_deltas", get_deltas)
        sync._loop = types.SimpleNamespace(quiet=lambda delay: None, running=True)
        started = []
        self.patch(sync, "_start_round", lambda key, addr, parts=None: started.append(key))
        sync.peers[a_hex] = "/a"
        self.a.cx.row("k1").put(ALICE, "", vom.encode("v1"))
        await sync._round(DB, a_hex, "/a", ("data",))
        members = [(DB, [a_hex], [])]
        sync._hinted_pull = time.monotonic() - limits.HINTED_PULL_INTERVAL   # (the last)
        sync._start_rounds(members)
        self.assertEqual(started, [])                   # not due: a hinted round just ran
        sync._hinting_data -= limits.HINTED_PULL_INTERVAL
        sync._start_rounds(members)
        self.assertEqual(started, [(DB, a_hex)])        # due again
        # (however often hinted rounds run, the pull that carries the periodic
        # syncgroup round and GetTime is made once per their interval)
        del started[:]
        sync._picked = None
        sync._hinting_data = time.monotonic()
        sync._hinted_pull -= min(limits.HINTED_SG_INTERVAL, limits.HINTED_TIME_INTERVAL)
        sync._start_rounds(members)
        self.assertEqual(started, [(DB, a_hex)])

    def test_resuming_sync_makes_the_safety_net_pull_due_at_once(self):
        # (hints heard while paused were dropped: without this the writes made
        # meanwhile waited for the next safety pull, up to HINTED_PULL_INTERVAL after
        # the last hinted round, and the member view read while paused left it out)
        import time
        sync, a_hex = self.b.sync, self.a.sync.hex
        w = sync.daemon.worker = _Worker()
        sync.hints.subscribed[a_hex] = lambda: None     # a hints us
        woken = []
        sync._loop = types.SimpleNamespace(wake=lambda: woken.append(1), running=True)
        self.b.db.pause_sync(ALICE)
        sync._hinted_pull = sync._hinting_data = time.monotonic()
        sync._view = (time.monotonic(), [])             # (read while paused)
        self.assertFalse(sync._safety_pull_due(time.monotonic()))
        self.b.db.resume_sync(ALICE)
        for fn, args in w.after:
            fn(*args)
        self.assertTrue(sync._safety_pull_due(time.monotonic()))
        self.assertEqual((sync._view, woken), (None, [1]))

    async def test_a_peers_rounds_share_its_authorizer_while_the_permissions_stay(self):
        # (the client keeps a server's verdict per connection and authorizer: a new
        # authorizer each round meant a new check each round)
        from v23py.rpc import options as rpcopts
        self.b.sync.daemon.worker = _Worker()
        self.b.sync.ctx = types.SimpleNamespace(with_timeout=lambda t: (None, lambda: None))
        a_hex = self.a.sync.hex
        self.b.sync._peer_names[a_hex] = ALICE
        auths = []

        async def get_deltas(stub, ctx, req, opts, key=None):
            auths.append(rpcopts.find(opts, rpcopts.ServerAuthorizer).authorizer)
            req = vom.decode(vom.encode(req, I.DeltaReq._vdl_type), I.DeltaReq._vdl_type)
            return wire(self.a.ds.respond(ALICE, req, self.b.sync.hex))
        self.patch(self.b.sync, "_get_deltas", get_deltas)
        for i in range(2):
            self.a.cx.row(f"k{i}").put(ALICE, "", vom.encode(i))
            await self.b.sync._round(DB, a_hex, "/a", ("data",))
        self.assertIs(auths[0], auths[1])
        self.assertEqual(auths[0].perms_list, self.b.ds.read_perms(a_hex))
        for e in self.b.ds.sgs.values():
            e.perms = dict(e.perms)      # (as a new version of the syncgroup brings)
        self.a.cx.row("k2").put(ALICE, "", vom.encode(2))
        await self.b.sync._round(DB, a_hex, "/a", ("data",))
        self.assertIsNot(auths[2], auths[1])
        self.assertEqual(self.b.rows(), self.a.rows())

    async def test_a_rounds_blob_priorities_are_a_quick_call(self):
        from twisted.internet import defer
        w = self.b.sync.daemon.worker = _Worker()
        heard = []
        self.b.sync.daemon.blobs = types.SimpleNamespace(
            heard_priorities=lambda final, stub, opts: heard.append(final))
        items = [1, 2, 3, 4, 5]

        def recv():
            if items:
                return defer.succeed(items.pop(0))
            return defer.fail(verror.EOF.new("eof"))

        def recv_buffered(limit):     # (what arrived with the item recv() waited for)
            out = items[:min(limit, 2)]
            del items[:len(out)]
            return out
        call = types.SimpleNamespace(recv=recv, recv_buffered=recv_buffered,
                                     keep_any_raw=lambda: None,
                                     finish=lambda: defer.succeed("final"))
        stub = types.SimpleNamespace(GetDeltas=lambda ctx, req, hex_, *opts: defer.succeed(call))
        got = await self.b.sync._get_deltas_items(stub, None, None, ())
        self.assertEqual((got, heard, w.kinds), ([1, 2, 3, 4, 5], ["final"], ["quick"]))

    def test_waiting_hints_run_richest_first_and_known_ones_are_dropped(self):
        from syncbased.vsync import scheduler
        sync = self.b.sync
        self.patch(self.b.ds, "genvecs", {"c": {1: 5, 2: 3}, "d": {1: 7, 2: 3}})
        started = []
        self.patch(sync, "hinted", lambda db, peer, addr, claim, sgs: started.append(peer))
        sync._hint_queue = {(DB, "p1"): ("/p1", {1: 5}, {}),          # known
                            (DB, "p2"): ("/p2", {1: 6}, {}),          # 1 lacking ("c")
                            (DB, "p3"): ("/p3", {1: 6, 2: 4, 3: 1}, {}),  # 3 lacking
                            (DB, "p4"): ("/p4", None, {})}            # pull anyway
        sync._next_hints()
        self.assertEqual((started, sync._hint_queue), (["p4", "p3", "p2"], {}))
        self.assertEqual(scheduler._merge({1: 2, 2: 5}, {1: 3}), {1: 3, 2: 5})
        self.assertIsNone(scheduler._merge({1: 2}, None))

    async def test_a_data_request_updates_its_senders_queued_hint(self):
        # p1 hinted first, both claiming one device we lack; then p2 pulls from us
        # holding three we lack: p2's round is the one to run first.  A peer with no
        # queued hint gains none.
        from twisted.internet import defer
        from syncbased.vsync import responder
        sync = self.a.sync
        self.patch(self.a.ds, "genvecs", {"c": {1: 5}})
        started = []
        self.patch(sync, "hinted", lambda db, peer, addr, claim, sgs: started.append(peer))
        b_hex = self.b.sync.hex
        sync._hint_queue = {(DB, "p1"): ("/p1", {1: 6}, {}),
                            (DB, b_hex): ("/b", {1: 6}, {})}
        self.patch(responder, "caller_names", lambda call: ALICE)
        call = types.SimpleNamespace(send_many=lambda xs: defer.succeed(None))
        obj = responder.SyncObj.__new__(responder.SyncObj)
        obj.daemon = types.SimpleNamespace(worker=_Worker(), sync=sync, blobs=None)
        req = self._req()
        req.value.Gvs = {p: {1: 7, 7: 1, 8: 2} for p in req.value.Gvs}
        await obj.GetDeltas(None, call, req, b_hex)
        self.assertEqual(sync._hint_queue[(DB, b_hex)][1], {1: 7, 7: 1, 8: 2})
        sync._next_hints()
        self.assertEqual(started, [b_hex, "p1"])
        sync._hint_queue = {}
        await obj.GetDeltas(None, call, req, b_hex)
        self.assertEqual(sync._hint_queue, {})

    def test_a_waiting_hint_lacking_syncgroup_metadata_is_kept(self):
        sync = self.b.sync
        self.patch(self.b.ds, "genvecs", {"c": {1: 5}})
        started = []
        self.patch(sync, "hinted", lambda db, peer, addr, claim, sgs: started.append(peer))
        gid = self.b.ds.entry(SG).gid
        sync._hint_queue = {(DB, "p1"): ("/p1", {1: 5}, {gid: {99: 1}}),   # sg lacking
                            (DB, "p2"): ("/p2", {1: 5}, {gid: {}})}        # known
        sync._next_hints()
        self.assertEqual((started, sync._hint_queue), (["p1"], {}))

    def test_a_hint_lacking_syncgroup_metadata_starts_the_syncgroup_round(self):
        sync = self.b.sync
        started = []
        self.patch(sync, "_start_round", lambda key, addr, parts=None: started.append(parts))
        sync._loop = types.SimpleNamespace(running=True)
        a = self.a
        gid = a.ds.entry(SG).gid

        def hint():
            sync._hinted.clear()
            sync.hinted(DB, a.sync.hex, "/a", {a.sync.id: a.ds.gen},
                        {gid: a.ds.sg_genvec(gid)})
        hint()                                  # b knows all of it: no round
        self.assertEqual(started, [])
        Peer(self).join_via(a)                  # a new member: a's syncgroup changes
        hint()
        self.assertEqual(started, [("sg",)])    # the syncgroup round only (no GetTime)
        a.cx.row("n").put(ALICE, "", vom.encode("n"))
        hint()
        self.assertEqual(started, [("sg",), ("sg", "data")])
        self.b.pull_from(a)
        hint()
        self.assertEqual(len(started), 2)

    def _rounds_answered_by_a(self):
        """B's sync set up to make rounds with A in process (its GetDeltas answered by A's
        responder, the store calls by a recording worker): (a's id, the names of the
        requests B made, the worker)."""
        sync = self.b.sync
        w = sync.daemon.worker = _Worker()
        sync.ctx = types.SimpleNamespace(with_timeout=lambda t: (None, lambda: None))
        a_hex = self.a.sync.hex
        sync._peer_names[a_hex] = ALICE
        asked = []

        async def get_deltas(stub, ctx, req, opts, key=None):
            asked.append(req.name)
            req = vom.decode(vom.encode(req, I.DeltaReq._vdl_type), I.DeltaReq._vdl_type)
            return wire(self.a.ds.respond(ALICE, req, sync.hex))
        self.patch(sync, "_get_deltas", get_deltas)
        return a_hex, asked, w

    async def test_a_hinted_syncgroup_round_makes_no_data_round(self):
        a_hex, asked, w = self._rounds_answered_by_a()
        learned = []
        self.patch(self.b.sync.hints, "members_learned", lambda: learned.append(1))
        c = Peer(self)
        c.join_via(self.a)
        self.a.cx.row("k1").put(ALICE, "", vom.encode("v1"))
        await self.b.sync._round(DB, a_hex, "/a", ("sg",))
        self.assertEqual((asked, w.kinds, learned), (["Sgs"], ["quick", "call"], [1]))
        self.assertIn(c.sync.hex, self.b.ds.members())
        self.assertNotEqual(self.b.rows(), self.a.rows())

    async def test_gettime_with_hinting_members_once_per_interval_in_all(self):
        from syncbased.vsync import initiator
        sync = self.b.sync
        a_hex, _, _ = self._rounds_answered_by_a()
        clocks = []

        async def sync_clock(stub, ctx, opts):
            clocks.append(1)
        self.patch(sync, "_sync_clock", sync_clock)
        sync.hints.subscribed[a_hex] = lambda: None        # a hints us
        await sync._round(DB, a_hex, "/a")
        self.assertEqual(len(clocks), 1)
        sync._last_time[a_hex] = -1e9                      # (its TIME_INTERVAL is over)
        await sync._round(DB, a_hex, "/a")
        self.assertEqual(len(clocks), 1)                   # one with a hinting member lately
        del sync.hints.subscribed[a_hex]                   # a Go peer: Go's interval
        await sync._round(DB, a_hex, "/a")
        self.assertEqual(len(clocks), 2)
        sync._last_time[a_hex] = sync._last_time[initiator.HINTING] = -1e9
        sync.hints.subscribed[a_hex] = lambda: None
        await sync._round(DB, a_hex, "/a")
        self.assertEqual(len(clocks), 3)

    async def test_syncgroup_rounds_with_hinting_members_once_per_interval_in_all(self):
        from syncbased.vsync import initiator
        sync = self.b.sync
        a_hex, asked, _ = self._rounds_answered_by_a()

        async def sync_clock(stub, ctx, opts):
            pass
        self.patch(sync, "_sync_clock", sync_clock)
        sync.hints.subscribed[a_hex] = lambda: None        # a hints us
        await sync._round(DB, a_hex, "/a")
        self.assertEqual(asked, ["Sgs", "Data"])
        sync._last_sg[(DB, a_hex)] = -1e9                  # (its SG_ROUND_INTERVAL is over)
        await sync._round(DB, a_hex, "/a")
        self.assertEqual(asked[2:], ["Data"])              # one with a hinting member lately
        del sync.hints.subscribed[a_hex]                   # a Go peer: Go's interval
        await sync._round(DB, a_hex, "/a")
        self.assertEqual(asked[3:], ["Sgs", "Data"])
        sync._last_sg[(DB, a_hex)] = sync._last_sg[(DB, initiator.HINTING)] = -1e9
        sync.hints.subscribed[a_hex] = lambda: None
        await sync._round(DB, a_hex, "/a")
        self.assertEqual(asked[5:], ["Sgs", "Data"])

    async def test_a_subscriber_we_do_not_know_yet_is_heard_once_we_do(self):
        c = Peer(self)
        c.join_via(self.a)                      # after b's last syncgroup round
        sync = self.b.sync
        sync.daemon.worker = _Worker()
        sync.ctx = types.SimpleNamespace(with_cancel=lambda: (None, lambda: None))
        woken = []
        sync._loop = types.SimpleNamespace(running=True, wake=lambda: woken.append(1))
        hints = sync.hints
        hints.subscribe(c.sync.hex, "/c")       # (c subscribed to us: we subscribe back)
        self.assertEqual((hints.waiting, hints.subscribed, woken), ({c.sync.hex: "/c"}, {}, []))
        got = []
        self.patch(hints, "subscribe", lambda peer, addr=None: got.append((peer, addr)))
        hints.subscribed[self.a.sync.hex] = lambda: None    # (a hints us already)
        hints.members_learned()                 # not a member yet: still waiting
        self.assertEqual((got, hints.waiting), ([], {c.sync.hex: "/c"}))
        self.b.round(self.a, True)              # the syncgroup round: c is a member
        hints.members_learned()
        self.assertEqual((got[:1], hints.waiting), ([(c.sync.hex, "/c")], {}))

    def test_a_member_learned_from_a_syncgroup_round_is_subscribed_to_at_once(self):
        c, d = Peer(self), Peer(self)
        c.join_via(self.a)                      # after b's last syncgroup round
        d.join_via(self.a)
        sync = self.b.sync
        sync.peers[c.sync.hex] = "/c"
        sync.conn_peers[d.sync.hex] = "/d"
        hints = sync.hints
        hints.subscribed[self.a.sync.hex] = lambda: None    # (a hints us already)
        got = []
        self.patch(hints, "subscribe", lambda peer, addr=None: got.append((peer, addr)))
        self.patch(sync, "_neighborhood", lambda: {})
        hints.members_learned()                 # not members yet
        self.assertEqual(got, [])
        self.b.round(self.a, True)              # the syncgroup round: c and d are members
        hints.not_served.add(d.sync.hex)        # (d's daemon has no hints: Go's)
        hints.members_learned()
        self.assertEqual(got, [(c.sync.hex, "/c")])
        hints.not_served.discard(d.sync.hex)
        del sync.peers[c.sync.hex]              # no address known for c
        got.clear()
        hints.members_learned()
        self.assertEqual(got, [(d.sync.hex, "/d")])

    def test_a_join_at_the_admin_hints_its_subscribers(self):
        w = self.a.sync.daemon.worker = _Worker()
        self.a.sync.hints.subscribers.add(object())
        Peer(self).join_via(self.a)
        self.assertEqual(w.after, [(self.a.sync.hints._notify, (DB, self.a.ds.gen))])

    def test_a_commit_hints_once_its_group_is_flushed(self):
        w = self.a.sync.daemon.worker = _Worker()
        self.a.sync.hints.subscribers.add(object())
        self.a.sync.hints.committed(DB)
        self.assertEqual(w.after, [(self.a.sync.hints._notify, (DB, self.a.ds.gen))])


class HintRelayTest(unittest.TestCase):
    """A commit of local rows is hinted to one subscriber, the relay (the least id, if
    less than ours, among those in every syncgroup), flagged Relay; the relay hints its
    own subscribers once its hinted rounds are all done, once for all the writes
    gathered meanwhile.  What a write costs in hints and rounds, counted."""

    def setUp(self):
        self.a = Peer(self)
        self.a.sync.create_syncgroup(ALICE, self.a.db, SG, spec(), _info())
        self.others = [Peer(self) for _ in range(3)]
        for p in self.others:
            p.join_via(self.a)
        from twisted.internet import task
        # (a's timers: the wait for its relay to pull, hints.py)
        self.clock = self.a.sync.daemon.reactor = task.Clock()

    def _subscribe_all_to_a(self):
        """b, c and d subscribed to a's hints: [(peer hex, Hint)] a sends."""
        from twisted.internet import defer
        from syncbased.vsync import hints
        sent = []
        for p in self.others:
            call = types.SimpleNamespace(
                send=lambda h, peer=p.sync.hex: sent.append((peer, h)) or defer.succeed(None))
            self.a.sync.hints.subscribers.add(hints._Subscriber(p.sync.hex, ALICE, call))
        return sent

    def test_a_write_hints_only_the_relay_unless_ours_is_the_least_id(self):
        sent = self._subscribe_all_to_a()
        w = self.a.sync.daemon.worker = _Worker()
        hints = self.a.sync.hints
        hints.wrote(DB)
        self.assertEqual(w.after, [(hints._notify, (DB, self.a.ds.gen, None, True))])
        least = min((p.sync.hex for p in self.others), key=lambda h: int(h, 16))
        self.a.sync.hex = "f" * 16               # (a's id the largest)
        hints._notify(DB, self.a.ds.gen, None, True)
        self.assertEqual([(peer, h.Relay) for peer, h in sent], [(least, True)])
        del sent[:]
        self.a.sync.hex = "0"                    # a's id the least: every subscriber
        hints._notify(DB, self.a.ds.gen, None, True)
        self.assertEqual(sorted((peer, h.Relay) for peer, h in sent),
                         sorted((p.sync.hex, False) for p in self.others))
        del sent[:]
        # ... once the writes a gathers as relay meanwhile are in: one hint for all
        self.a.sync._hinted.add((DB, "w1"))
        self.a.sync._relay_keys[(DB, "w1")] = 0
        hints._notify(DB, self.a.ds.gen, None, True)
        self.assertEqual(sent, [])
        self.a.sync._done((DB, "w1"), False)
        self.assertEqual(sorted((peer, h.Relay) for peer, h in sent),
                         sorted((p.sync.hex, False) for p in self.others))
        del sent[:]
        hints.committed(DB)                      # (a syncgroup change: every subscriber)
        for fn, args in w.after[1:]:
            fn(*args)
        self.assertEqual(len(sent), 3)

    def test_the_relay_is_a_member_of_every_syncgroup(self):
        by_id = sorted(self.others, key=lambda p: int(p.sync.hex, 16))
        sg2 = Id(ALICE[0], "sg2")
        self.a.sync.create_syncgroup(ALICE, self.a.db, sg2, spec(), _info())
        for p in by_id[1:]:                      # the least id is no member of sg2
            sg, ver, gv = self.a.sync.join_at_admin(ALICE, DB, sg2, p.sync.hex, _info())
            p.sync.finish_join(ALICE, p.db, "/admin", sg, ver, gv)
        sent = self._subscribe_all_to_a()
        hints = self.a.sync.hints
        self.a.sync.hex = "f" * 16
        hints._notify(DB, self.a.ds.gen, None, True)
        self.assertEqual([(peer, h.Relay) for peer, h in sent], [(by_id[1].sync.hex, True)])

    def test_a_relays_stream_end_hints_the_next_relay(self):
        sent = self._subscribe_all_to_a()
        hints = self.a.sync.hints
        self.a.sync.hex = "f" * 16
        hints._notify(DB, self.a.ds.gen, None, True)
        (relay,) = [s for s in hints.subscribers if s.peer == sent[0][0]]
        del sent[:]
        hints._gone(relay)
        rest = sorted(hints.subscribers, key=lambda s: int(s.peer, 16))
        self.assertEqual([(peer, h.Relay) for peer, h in sent], [(rest[0].peer, True)])
        # only the next relay is waited for: the gone one's wait does not hint the rest
        self.assertEqual(list(hints._relay_wait), [(DB, rest[0].peer)])

    def test_a_relay_with_many_subscribers_hints_the_first_of_each_run(self):
        from syncbased.vsync import limits
        sent = self._subscribe_all_to_a()
        hints = self.a.sync.hints
        self.a.sync.hex = "0"
        hints.relay(DB)                          # three subscribers: hinted directly
        self.assertEqual(sorted((peer, h.Relay) for peer, h in sent),
                         sorted((p.sync.hex, False) for p in self.others))
        del sent[:]
        self.patch(limits, "RELAY_DIRECT", 2)    # beyond: runs of ceil(3 / 2) = 2 ids
        hints.relay(DB)
        ids = sorted(int(p.sync.hex, 16) for p in self.others)
        self.assertEqual(sorted((int(peer, 16), h.Relay, h.Until) for peer, h in sent),
                         [(ids[0], True, ids[2] - 1), (ids[2], False, 0)])

    def test_a_relays_share_is_the_ids_above_its_own_up_to_until(self):
        sent = self._subscribe_all_to_a()
        hints = self.a.sync.hints
        ids = sorted(int(p.sync.hex, 16) for p in self.others)
        self.a.sync.hex = "%x" % (ids[0] + 1)
        hints.relay(DB, (), ids[1])
        self.assertEqual([(int(peer, 16), h.Relay) for peer, h in sent], [(ids[1], False)])

    def test_a_relays_until_is_kept_to_its_relay(self):
        sync, started, relays = self._relay_of_b()
        asked = []
        self.patch(sync.hints, "relay", lambda db, exclude=(), until=0: asked.append(until))
        sync.hinted(DB, "h", "/h", {1000: 1}, {}, 77)
        sync._done((DB, "h"), False)
        self.assertEqual(asked, [77])

    def _a_wrote_through_its_relay(self):
        """a (the largest id) wrote and hinted its relay: (hints a sends from now on,
        the relay's id, a's generation)."""
        sent = self._subscribe_all_to_a()
        self.a.sync.hex = "f" * 16
        gen = self.a.ds.gen
        self.a.sync.hints._notify(DB, gen, None, True)
        (relay,) = [peer for peer, h in sent]
        del sent[:]
        return sent, relay, gen

    def test_a_relay_that_does_not_pull_has_the_others_hinted_directly(self):
        from syncbased.vsync import limits
        sent, relay, gen = self._a_wrote_through_its_relay()
        self.clock.advance(limits.RELAY_PULL_WAIT)      # (its sync paused, say)
        self.assertEqual(sorted((peer, h.Relay) for peer, h in sent),
                         sorted((p.sync.hex, False) for p in self.others
                                if p.sync.hex != relay))
        self.assertEqual(self.a.sync.hints._relay_wait, {})

    def test_the_wait_for_a_relay_grows_with_subscribers_beyond_relay_direct(self):
        # (the relay pulls its writers RELAYED_ROUNDS at a time: with many writing at
        # once, the last ones' turn comes late, and their direct hints were mostly of
        # writes the others had by then)
        from syncbased.vsync import limits
        self.patch(limits, "RELAY_DIRECT", 1)           # 3 subscribers: three times
        sent, relay, gen = self._a_wrote_through_its_relay()
        self.clock.advance(limits.RELAY_PULL_WAIT)
        self.assertEqual(sent, [])
        self.clock.advance(2 * limits.RELAY_PULL_WAIT)
        self.assertEqual(sorted(peer for peer, h in sent),
                         sorted(p.sync.hex for p in self.others if p.sync.hex != relay))

    def test_a_relay_that_pulls_is_waited_for(self):
        from syncbased.vsync import limits
        sent, relay, gen = self._a_wrote_through_its_relay()
        hints, clock = self.a.sync.hints, self.clock
        hints.pulled(DB, relay, gen - 1)                # pulling, behind our write
        clock.advance(limits.RELAY_PULL_WAIT)
        self.assertEqual(sent, [])
        hints.pulled(DB, relay, gen)                    # it has it: nothing more to do
        clock.advance(limits.RELAY_PULL_WAIT * 2)
        self.assertEqual((sent, hints._relay_wait, clock.getDelayedCalls()), ([], {}, []))
        hints._notify(DB, gen, None, True)              # stopping cancels the wait
        hints.stop()
        self.assertEqual((hints._relay_wait, clock.getDelayedCalls()), ({}, []))

    def test_a_hint_holding_our_write_ends_the_wait_for_the_relay(self):
        # (a relay that had our write from another peer never pulls it from us)
        from syncbased.vsync import limits
        sent, relay, gen = self._a_wrote_through_its_relay()
        hints, me = self.a.sync.hints, int(self.a.sync.hex, 16)
        hints._spreading(DB, {1: 5, me: gen - 1})
        self.assertEqual(len(hints._relay_wait), 1)       # not ours yet
        hints._spreading(DB, {me: gen})
        self.clock.advance(limits.RELAY_PULL_WAIT)
        self.assertEqual((sent, hints._relay_wait, self.clock.getDelayedCalls()), ([], {}, []))

    def _relay_of_b(self):
        """b's scheduler with rounds recorded, not run: (started keys, relays made)."""
        b = self.others[0]
        sync = b.sync
        sync._loop = types.SimpleNamespace(running=True)
        started, relays = [], []
        self.patch(sync, "_start_round",
                   lambda key, addr, parts=None: (sync._inflight.add(key), started.append(key)))
        self.patch(sync.hints, "relay",
                   lambda db, exclude=(), until=0: relays.append(set(exclude)))
        return sync, started, relays

    def test_the_relay_hints_once_its_hinted_rounds_are_done(self):
        from syncbased.vsync import limits
        self.patch(limits, "RELAYED_ROUNDS", 2)
        sync, started, relays = self._relay_of_b()
        writers = ["a1", "a2", "a3"]
        for i, w in enumerate(writers):           # three writers at once: two run
            sync.hinted(DB, w, "/" + w, {1000 + i: 1}, {}, 0)
        self.assertEqual((started, relays), ([(DB, "a1"), (DB, "a2")], []))
        sync._done((DB, "a1"), False)
        self.assertEqual((started[2:], relays), ([(DB, "a3")], []))
        sync._done((DB, "a2"), False)
        self.assertEqual(relays, [])             # a3's round still runs
        sync._done((DB, "a3"), False)
        self.assertEqual(relays, [set()])        # one relay, to every subscriber
        sync._done((DB, "a3"), False)            # (nothing more to relay)
        sync.hinted(DB, "a4", "/a4", {2000: 1}, {}, 0)      # a lone writer: not back to it
        sync._done((DB, "a4"), False)
        self.assertEqual(relays, [set(), {"a4"}])
        sync.hinted(DB, "a5", "/a5", {2001: 1}, {})            # no Relay: no relay
        sync._done((DB, "a5"), False)
        self.assertEqual(len(relays), 2)

    def test_a_relay_hint_already_known_is_relayed_at_once(self):
        sync, started, relays = self._relay_of_b()
        self.others[0].pull_from(self.a)
        sync.hinted(DB, self.a.sync.hex, "/a", {self.a.sync.id: self.a.ds.gen}, {}, 0)
        self.assertEqual((started, relays), ([], [{self.a.sync.hex}]))

    def test_a_failed_relayed_round_relays_once_it_succeeds(self):
        sync, started, relays = self._relay_of_b()
        self.patch(sync.daemon, "reactor", types.SimpleNamespace(callLater=lambda *a: None))
        from twisted.python.failure import Failure
        sync.hinted(DB, "a1", "/a1", {1000: 1}, {}, 0)
        sync._done((DB, "a1"), Failure(verror.Internal.new("down")))
        self.assertEqual(relays, [])
        sync._retry_at.clear()
        sync.hinted(DB, "a1", "/a1")             # (the retry: no claim, no flag)
        sync._done((DB, "a1"), False)
        self.assertEqual(relays, [{"a1"}])


class PullLoopTest(unittest.TestCase):
    """The pull loop's cadence: a fixed-rate tick that is quiet (QUIET_TICK) while every
    member hints us, and Go's TICK again as soon as one does not (a Go peer)."""

    def test_ticker_fixed_rate_quiet_and_wake(self):
        from twisted.internet import task
        from syncbased.vsync.scheduler import Ticker
        clock, fired = task.Clock(), []
        t = Ticker(clock, lambda: fired.append(clock.seconds()))
        t.start(0.05)
        clock.advance(0.05)
        clock.advance(0.05)
        self.assertEqual(len(fired), 2)
        t.quiet(1.0)                      # (between ticks) the next is put off to 1 s
        clock.advance(0.5)
        self.assertEqual(len(fired), 2)
        clock.advance(0.5)
        self.assertEqual(len(fired), 3)
        t.quiet(1.0)
        clock.advance(0.01)
        t.wake()                          # back within one interval
        clock.advance(0.05)
        self.assertEqual(len(fired), 4)
        # asked by the tick running now: the next is a quiet delay after it
        t2_fired = []
        t2 = Ticker(clock, lambda: (t2_fired.append(1), t2.quiet(1.0)))
        t2.start(0.05)
        clock.advance(0.05)
        clock.advance(0.9)
        self.assertEqual(len(t2_fired), 1)
        clock.advance(0.1)
        self.assertEqual(len(t2_fired), 2)
        t.stop()
        t2.stop()
        self.assertEqual(clock.getDelayedCalls(), [])

    def _loop(self, sync):
        asked = []
        sync._loop = types.SimpleNamespace(quiet=asked.append, running=True)
        started = []
        self.patch(sync, "_start_round", lambda key, addr, parts=None: started.append(key))
        return asked, started

    def test_quiet_only_while_every_member_hints_us(self):
        from syncbased.vsync import limits
        b = Peer(self)
        sync = b.sync
        asked, started = self._loop(sync)
        sync.peers.update({"v23py-peer": "/v", "go-peer": "/g"})
        sync._start_rounds([(DB, ["v23py-peer"], [])])
        self.assertEqual(asked, [])                     # it does not hint us yet
        self.assertEqual(started, [(DB, "v23py-peer")])
        sync._inflight.clear()
        sync.hints.subscribed["v23py-peer"] = lambda: None
        sync._start_rounds([(DB, ["v23py-peer"], [])])
        self.assertEqual(asked, [limits.QUIET_TICK])
        sync._inflight.clear()
        del asked[:]
        sync.hints.not_served.add("go-peer")            # Go's daemon never hints
        sync._start_rounds([(DB, ["v23py-peer", "go-peer"], [])])
        self.assertEqual(asked, [])

    def test_a_round_that_left_more_to_fetch_continues_at_once(self):
        # (a round returns True when its last chained GetDeltas was full: a joiner's big
        # initial sync must not wait for the next, maybe quiet, tick between chains)
        from twisted.internet import task
        b = Peer(self)
        sync = b.sync
        b.ds                                            # (the database's sync state)
        asked, started = self._loop(sync)
        clock = task.Clock()
        self.patch(sync.daemon, "reactor", clock)
        key = (DB, "peer")
        sync.hints.not_served.add("peer")               # (a Go peer: no hints either way)
        for result, want in ((False, []), (0, []), (True, [key]), (True, [key, key])):
            sync._inflight.add(key)
            sync._addr[key] = "/p"
            sync._done(key, result, "/p")
            clock.advance(0)
            self.assertEqual(started, want, result)

    def test_a_hinting_pick_not_due_gives_way_to_a_member_that_does_not_hint_yet(self):
        import random
        b = Peer(self)
        sync = b.sync
        asked, started = self._loop(sync)
        sync.peers.update({"hinting": "/h", "new": "/n", "go": "/g"})
        sync.hints.subscribed["hinting"] = lambda: None
        sync.hints.not_served.add("go")
        members = [(DB, ["hinting", "new", "go"], [])]
        self.patch(random, "choice", lambda seq: "hinting" if "hinting" in seq else seq[0])
        sync._start_rounds(members)                     # the safety-net pull is due
        self.assertEqual(started, [(DB, "hinting")])
        sync._inflight.clear()
        sync._picked = None
        sync._start_rounds(members)                     # not due: "new" instead, never Go
        self.assertEqual(started, [(DB, "hinting"), (DB, "new")])


class WireDeclarationsTest(unittest.TestCase):
    """The peer interface is declared in syncbased/interfaces/*.vdl (Go's package
    v.io/x/ref/services/syncbase/server/interfaces) and its generated module is current."""

    def test_generated_module_is_current(self):
        import os
        from v23py.testing import ROOT, tempdir
        from v23py.vdl.compiler.build import Builder
        b = Builder(vdlpath=[], vdlroot="")
        [src] = b.resolve_arg(os.path.join(ROOT, "syncbased", "interfaces"))
        self.assertEqual(src.path, "v.io/x/ref/services/syncbase/server/interfaces")
        with open(src.out_file, encoding="utf-8") as fh:
            self.assertEqual(fh.read(), b.generate(src),
                             "stale: run `python -m v23py.cmd.vdl generate "
                             "./syncbased/interfaces`")

    def test_go_names_and_field_orders(self):
        from syncbased import interfaces as I
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


class LogRecordCodecTest(unittest.TestCase):
    """The stored form of sync log records (``_log``): a received record is encoded from
    its fields (encode_rec_fields), a local one from a Rec; both read back alike."""

    def test_fields_and_rec_encode_the_same_bytes(self):
        from syncbased.vsync._log import Rec, decode_rec, encode_rec, encode_rec_fields
        for parents in ((), (b"5a",), (b"1", b"\xfe2")):
            r = Rec(7, 3, 0, b"r\xfek", b"9f", parents, 1234567890123456789, False,
                    42, 2, 11)
            raw = encode_rec_fields(*r)
            self.assertEqual(raw, encode_rec(r))
            self.assertEqual(decode_rec(raw), r)

    def test_node_fields_and_node_encode_the_same_bytes(self):
        from syncbased.vsync._log import Node, decode_node, encode_node, encode_node_fields
        for parents in ((), (b"5a",), (b"1", b"\xfe2")):
            n = Node(3, parents, b"y\xfel\xfed\xfe7\xfe%016x" % 9, 42, True, 1234567890123)
            raw = encode_node_fields(*n)
            self.assertEqual(raw, encode_node(n))
            self.assertEqual(decode_node(raw), n)

    def test_received_rows_store_what_local_writes_store(self):
        # a row received in a round: its value bytes, node, head, pointer and log
        # record as the writer's store holds them (times and positions aside)
        a, b = Peer(self), Peer(self)
        a.cx.row("k").put(ALICE, "", vom.encode("v"))
        a.cx.row("z").put(ALICE, "", vom.encode({"x": 1}))
        a.sync.create_syncgroup(ALICE, a.db, SG, spec(), _info())
        b.join_via(a)
        b.pull_from(a)
        self.assertEqual(b.rows(), {"k": "v", "z": {"x": 1}})
        from syncbased.common import row_key
        from syncbased.vsync._log import HEAD, NODE, SEP, decode_node, read_log_rec
        for key in ("k", "z"):
            oid = row_key(CX, key)
            ea, eb = a.db.st.engine, b.db.st.engine
            ver = ea.get(b"v\xfe" + oid)
            self.assertEqual(eb.get(b"v\xfe" + oid), ver)
            # (the head is the version the pointer names: no record of its own)
            self.assertIsNone(eb.get(HEAD + oid))
            self.assertIsNone(ea.get(HEAD + oid))
            self.assertEqual(eb.get(oid + SEP + ver), ea.get(oid + SEP + ver))
            na = decode_node(ea.get(NODE + oid + SEP + ver))
            nb = decode_node(eb.get(NODE + oid + SEP + ver))
            self.assertEqual(nb._replace(logrec=b""), na._replace(logrec=b""))
            self.assertEqual(nb.logrec, na.logrec)    # the writer's log key, same on both
            ra, rb = read_log_rec(ea, na.logrec), read_log_rec(eb, nb.logrec)
            self.assertEqual(rb._replace(pos=0), ra._replace(pos=0))


class LogChunkTest(unittest.TestCase):
    """Store format 4: a commit's log records of consecutive generations are stored as
    one record (``_log.log_chunks``), RECORD_BYTES at most since format 6; the readers
    take runs and single records alike."""

    def _rec(self, gen):
        from syncbased.vsync._log import Rec
        return Rec(7, gen, 0, b"r\xfek%d" % gen, b"v%d" % gen, (b"p",) if gen % 2 else (),
                   gen, False, 0, 0, gen)

    def _recs(self, lp, gens):
        from syncbased.vsync._log import encode_rec, log_key_at
        return {log_key_at(lp, g): (lp, g, encode_rec(self._rec(g))) for g in gens}

    def test_runs_of_consecutive_generations_are_one_record(self):
        from syncbased.vsync._log import (CHUNK_MARK, LOG_DATA, decode_log_value,
                                          log_key_at, log_key_gens, log_chunks)
        lp1, lp2 = LOG_DATA + b"7\xfe", LOG_DATA + b"8\xfe"
        recs = self._recs(lp1, [7, 1, 2, 3, 4, 5])
        recs.update(self._recs(lp2, [3, 4]))
        out = list(log_chunks(recs))
        self.assertEqual([k for k, _ in out],
                         [log_key_at(lp1, 1) + CHUNK_MARK + b"%016x" % 5, log_key_at(lp1, 7),
                          log_key_at(lp2, 3) + CHUNK_MARK + b"%016x" % 4])
        self.assertEqual([log_key_gens(k) for k, _ in out], [(1, 5), (7, 7), (3, 4)])
        self.assertEqual(out[1][1], recs[log_key_at(lp1, 7)][2])   # (alone: as before)
        self.assertEqual([[r.gen for r in decode_log_value(k, v)] for k, v in out],
                         [[1, 2, 3, 4, 5], [7], [3, 4]])
        self.assertEqual(decode_log_value(*out[0]), [self._rec(g) for g in range(1, 6)])
        # (a run's key sorts after its first generation's and before the next one's)
        self.assertLess(log_key_at(lp1, 1), out[0][0])
        self.assertLess(out[0][0], log_key_at(lp1, 2))

    def assertFullRuns(self, rows, first, last):
        """``rows`` (stored log records of one device) hold generations ``first`` to
        ``last`` in order, in runs of RECORD_BYTES at most with their keys, each as full
        as that allows (store format 6), or one record alone."""
        from syncbased.store.core import RECORD_BYTES
        from syncbased.vsync._log import decode_log_value, encode_rec, log_key_gens
        runs = [decode_log_value(k, v) for k, v in rows]
        self.assertEqual([r.gen for run in runs for r in run], list(range(first, last + 1)))
        self.assertEqual([log_key_gens(k) for k, _ in rows],
                         [(run[0].gen, run[-1].gen) for run in runs])
        for i, run in enumerate(runs):
            size = sum(4 + len(encode_rec(r)) for r in run)
            key = len(rows[i][0])
            if len(run) > 1:
                self.assertLessEqual(key + size, RECORD_BYTES)
                self.assertEqual(len(rows[i][1]), size)
            else:
                key += 17     # (the key it would have in a run)
            if i + 1 < len(runs):     # (the next run's first record did not fit)
                self.assertGreater(key + size + 4 + len(encode_rec(runs[i + 1][0])),
                                   RECORD_BYTES)

    def test_runs_are_at_most_RECORD_BYTES(self):
        from syncbased.store.core import RECORD_BYTES
        from syncbased.vsync._log import LOG_DATA, Rec, encode_rec, log_chunks, log_key_at
        lp = LOG_DATA + b"7\xfe"
        recs = self._recs(lp, range(1, 301))
        # (generation 150: longer than a run may be, so alone)
        big = Rec(7, 150, 0, b"r\xfek", b"v", (b"p" * RECORD_BYTES,), 1, False, 0, 0, 1)
        recs[log_key_at(lp, 150)] = lp, 150, encode_rec(big)
        out = list(log_chunks(recs))
        self.assertIn((log_key_at(lp, 150), encode_rec(big)), out)
        self.assertFullRuns(out, 1, 300)

    def test_readers_take_runs_and_single_records_alike(self):
        from syncbased.store import MemEngine, SqliteEngine
        from syncbased.vsync._log import (LOG_DATA, last_gen, log_chunks, log_key_at,
                                          log_rec_stored, read_log_rec, scan_log)
        lp = LOG_DATA + b"7\xfe"
        stored = {}
        for gens in ([1], [2], [3], range(4, 10), [10], [11, 12]):  # (1-3: format 3's)
            stored.update(log_chunks(self._recs(lp, gens)))
        stored.update(log_chunks(self._recs(LOG_DATA + b"70\xfe", [1, 2])))  # (others)
        stored.update(log_chunks(self._recs(LOG_DATA + b"6\xfe", [20])))
        e = SqliteEngine(tempdir(self, "logchunk-"), check=False)
        self.addCleanup(e.close)
        for eng in (MemEngine(), e):
            eng.write(stored)
            for lo in range(0, 14):
                for hi in range(lo, 14):
                    self.assertEqual(list(scan_log(eng, lp, lo, hi)),
                                     [self._rec(g) for g in range(max(lo, 1), min(hi, 12) + 1)],
                                     (lo, hi))
            self.assertEqual(last_gen(eng, lp), 12)
            self.assertEqual(last_gen(eng, LOG_DATA + b"5\xfe"), 0)
            self.assertEqual([g for g in range(15) if log_rec_stored(eng, log_key_at(lp, g))],
                             list(range(1, 13)))
            self.assertEqual(read_log_rec(eng, log_key_at(lp, 5)), self._rec(5))
            self.assertIsNone(read_log_rec(eng, log_key_at(lp, 13)))

    def test_a_received_round_is_stored_in_runs_and_served_from_them(self):
        from syncbased.vsync._log import DATA, log_prefix, prefix_limit
        a, b, c = Peer(self), Peer(self), Peer(self)
        a.sync.create_syncgroup(ALICE, a.db, SG, spec(), _info())
        b.join_via(a)
        c.join_via(a)
        n = 300
        a.cx.put_rows(ALICE, None, [("k%04d" % i, vom.encode(i)) for i in range(n)])
        b.pull_from(a)
        lp = log_prefix(DATA, a.ds.id)
        rows_a = a.db.st.engine.scan(lp, prefix_limit(lp))
        # (a: the collection's record at the syncgroup's creation, then the PutRows
        # commit's runs; b: one round's)
        self.assertEqual(rows_a[0][0], lp + b"%016x" % 1)
        self.assertFullRuns(rows_a[1:], 2, n + 1)
        rows_b = b.db.st.engine.scan(lp, prefix_limit(lp))
        self.assertFullRuns(rows_b, 1, n + 1)
        self.assertLess(len(rows_b), n // 4)
        c.pull_from(b)       # (b answers from the runs)
        self.assertEqual(c.rows(), {"k%04d" % i: i for i in range(n)})
        a.cx.row("k0001").put(ALICE, "", vom.encode("new"))
        c.pull_from(a)
        self.assertEqual(c.rows()["k0001"], "new")
        self.assertEqual(a.ds.gen, n + 2)


class StoreFormat6Test(unittest.TestCase):
    """Store format 6: no record of the watch log, the sync log or a BatchInfo is longer
    than an index cell of SQLite holds (RECORD_BYTES, and the key); a store the format-5
    writer left, with such records, opens and reads as it is."""

    # (what an index B-tree cell holds of a record at 4 KiB pages; the record: a header
    # of a length and two serial types, ~5 bytes, the key and the value)
    MAX_LOCAL = 1002

    def setUp(self):
        self.a, self.b = Peer(self, "sqlite"), Peer(self, "sqlite")
        self.a.sync.create_syncgroup(ALICE, self.a.db, SG, spec(), _info())
        self.b.join_via(self.a)

    def assertSame(self, got, want, what=""):
        """assertEqual without difflib's diff of big values (it can run for minutes)."""
        if got != want:
            self.fail(f"{what} differs: {str(got)[:300]} != {str(want)[:300]}")

    def _big_records(self, peer):
        """The records longer than a cell holds (a syncgroup's value, ~1.1 KB, aside: a
        few of them, kept apart from the DAG's keys)."""
        return [(k, len(k) + len(v)) for k, v in peer.db.st.engine.scan(b"", b"")
                if len(k) + len(v) + 5 > self.MAX_LOCAL and not k.startswith(b"y\xfes\xfe")]

    def _put_rows(self, peer, n, tag):
        peer.cx.put_rows(ALICE, None, [("%s%05d" % (tag, i), vom.encode("x" * 50))
                                       for i in range(n)])

    def _state(self, peer):
        """What a peer's store says: rows, watch log, sync logs, BatchInfos."""
        from syncbased.vsync._log import BATCH, DATA, log_prefix, prefix_limit, scan_log, \
            stored_batches
        st = peer.db.st
        logs = {dev: [r._replace(pos=0) for r in        # (pos: each peer's own)
                      scan_log(st.engine, log_prefix(DATA, dev), 1, 10 ** 9)]
                for dev in (self.a.ds.id, self.b.ds.id)}
        return (peer.rows(), st.read_log(0, 10 ** 9), logs,
                stored_batches(st.engine.scan(BATCH, prefix_limit(BATCH))))

    def test_big_batches_and_long_logs_stay_under_the_bound(self):
        from syncbased.vsync._log import BATCH, prefix_limit
        self._put_rows(self.a, 1200, "k")
        self.b.pull_from(self.a)
        self._put_rows(self.b, 600, "b")
        self.a.pull_from(self.b)
        for peer in (self.a, self.b):
            self.assertEqual([k[:12] for k, _ in self._big_records(peer)], [])
            parts = peer.db.st.engine.scan(BATCH, prefix_limit(BATCH))
            self.assertGreater(len(parts), 30)
        self.assertSame(self._state(self.a)[2:], self._state(self.b)[2:])
        self.assertEqual({len(o) for o, _, _ in self._state(self.a)[3].values()},
                         {1200, 600})

    def _to_format_5(self, eng):
        """Store the watch log, the sync logs and the BatchInfos of ``eng`` as the
        format-5 writer did (a commit's watch-log entries and a device's consecutive
        records 256 a record, a BatchInfo whole), and mark it 5."""
        from syncbased.store.core import (FORMAT_KEY, LOG_PREFIX, decode_log_entries,
                                          parse_log_key)
        from syncbased.vsync._log import (BATCH, CHUNK_MARK, LOG, _run_record, batch_key,
                                          decode_log_value, encode_batch, encode_rec,
                                          log_key_at, prefix_limit, stored_batches)
        writes = {}
        rows = eng.scan(LOG_PREFIX, prefix_limit(LOG_PREFIX))
        commit = []
        for k, v in rows:
            writes[k] = None
            for i, e in enumerate(decode_log_entries(v)):
                commit.append((parse_log_key(k) + i, e))
                if not e.Continued:
                    for j in range(0, len(commit), 256):
                        run = commit[j:j + 256]
                        writes[log_key(run[0][0])] = b"".join(encode_log_entry(e)
                                                              for _, e in run)
                    commit = []
        logs: dict = {}
        for k, v in eng.scan(LOG, prefix_limit(LOG)):
            writes[k] = None
            lp = k[:-33] if k[-17:-16] == CHUNK_MARK else k[:-16]
            logs.setdefault(lp, []).extend(decode_log_value(k, v))
        for lp, recs in logs.items():
            for j in range(0, len(recs), 256):
                run = recs[j:j + 256]
                self.assertEqual([r.gen for r in run], list(range(run[0].gen,
                                                                  run[0].gen + len(run))))
                k, v = _run_record(log_key_at(lp, run[0].gen), run[-1].gen,
                                   [encode_rec(r) for r in run])
                writes[k] = v
        rows = eng.scan(BATCH, prefix_limit(BATCH))
        writes.update((k, None) for k, _ in rows)
        for bid, info in stored_batches(rows).items():
            writes[batch_key(bid)] = encode_batch(*info)
        writes[FORMAT_KEY] = b"5"
        eng.write(writes)
        eng.flush()

    def test_a_format_5_store_opens_and_reads_as_it_is(self):
        from syncbased.store.core import FORMAT_KEY, RECORD_BYTES
        from syncbased.vsync._log import SEP, batch_key
        a, b = self.a, self.b
        self._put_rows(a, 1200, "k")
        b.pull_from(a)
        self._put_rows(b, 600, "b")
        a.pull_from(b)
        before = self._state(b)
        self._to_format_5(b.db.st.engine)
        big = {k[:4] for k, _ in self._big_records(b)}
        self.assertEqual(big, {b"l\xfe00", b"y\xfel\xfe", b"y\xfec\xfe"})
        b.svc.flush()
        b.svc.close()
        b = Peer(self, "sqlite", b.root)
        eng = b.db.st.engine
        self.assertEqual(eng.get(FORMAT_KEY), b"5")
        for i, what in enumerate(("rows", "watch log", "sync logs", "batches")):
            self.assertSame(self._state(b)[i], before[i], what)
        # it serves them to a new member, and takes new rows and rounds
        c = Peer(self)
        c.join_via(a)
        c.pull_from(b)
        self.assertSame(c.rows(), a.rows())
        self._put_rows(a, 300, "n")
        b.pull_from(a)
        self._put_rows(b, 300, "m")
        c.pull_from(b)
        self.assertSame(c.rows(), b.rows())
        self.assertSame(b.rows(), {**before[0], **{"n%05d" % i: "x" * 50 for i in range(300)},
                                    **{"m%05d" % i: "x" * 50 for i in range(300)}})
        self.assertEqual(eng.get(FORMAT_KEY), b"6")
        self.assertEqual({k[:4] for k, _ in self._big_records(b)}, big)   # (the old ones)
        after = self._state(b)
        self.assertSame(after[1][:len(before[1])], before[1])
        for dev, recs in before[2].items():
            self.assertSame(after[2][dev][:len(recs)], recs)
        # a round adding to a whole BatchInfo of format 5 stores it in parts
        (bid, (objects, linked, count)), = [(bid, info) for bid, info in before[3].items()
                                            if len(info[0]) == 1200]
        writes: dict = {}
        b.ds._keep_batches(writes, {bid: ({b"r\xfenew": b"1"}, {}, count)})
        self.assertGreater(len(writes), 20)
        self.assertTrue(all(len(k) + len(v) <= RECORD_BYTES for k, v in writes.items()))
        b.db.st.run_in_transaction(lambda tx: [tx.raw_put(k, v) for k, v in writes.items()])
        self.assertSame(self._state(b)[3][bid], ({**objects, b"r\xfenew": b"1"}, linked,
                                                  count))
        bk = batch_key(bid)
        stored = [k for k, _ in eng.scan(bk, bk + b"\xff") if k == bk or k.startswith(bk + SEP)]
        self.assertEqual(sorted(stored), sorted(writes))
        self.assertFalse([k for k, _ in self._big_records(b) if k.startswith(bk)])


class GetPresentTest(unittest.TestCase):
    """dag._get_present: what _get_many finds, by one range scan when it can."""

    def _engines(self):
        from syncbased.store import MemEngine, SqliteEngine
        e = SqliteEngine(tempdir(self, "getpresent-"), check=False)
        self.addCleanup(e.close)
        return [MemEngine(), e]

    def test_same_as_get_many(self):
        from syncbased.vsync.dag import _get_many, _get_present
        for eng in self._engines():
            # stored: every third of 300 keys, and 5,000 others between them
            eng.write({b"h\xfe%05d" % i: b"v%d" % i for i in range(0, 300, 3)})
            eng.write({b"h\xfe%05d\x00x%d" % (i, j): b"o" for i in range(0, 300, 7)
                       for j in range(120)})
            eng.write({b"g": b"before", b"i": b"after"})
            eng.write({b"k\xfe%05d" % i: b"w%d" % i for i in range(0, 400, 3)})
            eng.flush()
            for keys in ([b"h\xfe%05d" % i for i in range(300)],            # dense
                         [b"h\xfe%05d" % i for i in range(0, 300, 2)],      # many between
                         [b"h\xfe%05d" % i for i in range(10)],             # few
                         [b"h\xfe%05d" % i for i in range(1000, 1100)],    # none stored
                         [b"k\xfe%05d" % i for i in range(400)]):          # by the scan
                want = _get_many(eng, keys)
                self.assertEqual(_get_present(eng, dict.fromkeys(keys)), want)
                self.assertEqual(_get_present(eng, keys), want)
