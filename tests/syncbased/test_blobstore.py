"""Unit tests of the local blob store and of BlobRef extraction from row values."""
import os
import unittest
import unittest.mock

from v23py import verror, vdl, vom
from v23py.v23.services import syncbase as sbwire
from v23py.testing import tempdir
from syncbased.blobstore.store import (BlobStore, BlobAlreadyFinalized, InvalidBlobName,
                                       IllegalPositionForRead, check_ref, new_ref)
from syncbased.blobstore.refs import blob_refs


class StoreTest(unittest.TestCase):
    def setUp(self):
        self.root = tempdir(self, prefix="blobstore-")
        self.st = BlobStore(self.root)

    def reopen(self):
        self.st.close()
        self.st = BlobStore(self.root)

    def assertVError(self, err, fn, *args):
        with self.assertRaises(verror.VError) as cm:
            fn(*args)
        self.assertEqual(cm.exception.id, err.id, str(cm.exception))

    def test_deferred_creation_syncs_before_the_first_write(self):
        """BlobStore(defer_sync=True) on a new root: the meta file is made durable on a
        thread of its own; the first write waits for it and commits FULL from then on."""
        import threading
        from syncbased.store import engine
        gate, synced = threading.Event(), []

        def fsync(path):
            gate.wait(30)
            synced.append(path)
        with unittest.mock.patch.object(engine, "_fsync", fsync):
            root = tempdir(self, prefix="blobstore-")
            st = BlobStore(root, defer_sync=True)
            self.addCleanup(st.close)
            self.assertEqual(st._db.execute("PRAGMA synchronous").fetchone()[0], 0)
            self.assertEqual(st.refs(), [])     # (reads do not wait)
            threading.Timer(0.2, gate.set).start()
            ref = st.create()
            meta = os.path.join(root, "blobs", "meta.sqlite")
            self.assertEqual(synced, [meta, meta + "-wal", os.path.join(root, "blobs"), root])
            self.assertEqual(st._db.execute("PRAGMA synchronous").fetchone()[0], 2)
            self.assertEqual(st.refs(), [ref])

    def test_write_commit_read(self):
        ref = self.st.create()
        self.assertEqual(check_ref(ref), ref)
        self.assertEqual(self.st.size(ref), 0)
        self.assertEqual(self.st.append(ref, [b"abc", b"def"]), 6)
        self.assertEqual(self.st.size(ref), 6)
        self.assertFalse(self.st.committed(ref))
        self.assertVError(sbwire.ErrBlobNotCommitted, self.st.open_reader, ref, 0)
        self.st.end_writes(ref)
        self.st.append(ref, [b"g"])
        self.assertEqual(self.st.commit(ref), 7)
        self.assertTrue(self.st.committed(ref))
        self.assertEqual(self.st.read_all(ref), b"abcdefg")
        self.assertEqual(self.st.read_all(ref, 4), b"efg")
        self.assertEqual(self.st.read_all(ref, 7), b"")
        self.assertVError(IllegalPositionForRead, self.st.open_reader, ref, 8)
        self.assertVError(IllegalPositionForRead, self.st.open_reader, ref, -1)
        self.assertVError(BlobAlreadyFinalized, self.st.append, ref, [b"x"])
        self.assertVError(BlobAlreadyFinalized, self.st.commit, ref)
        self.assertEqual(self.st.total_bytes(), 7)
        self.st.delete(ref)
        self.assertIsNone(self.st.info(ref))
        self.assertFalse(os.path.exists(self.st.path(ref)))
        self.assertVError(verror.NoExist, self.st.delete, ref)

    def test_bad_refs_never_touch_files(self):
        for bad in ("", "blob", "blob/../x", "blob/00/00/00/" + "0" * 27, "BLOB/00/00/00/" +
                    "0" * 26, "blob/00/00/0g/" + "0" * 26, None, 17, b"blob/00", "\x00" * 40):
            self.assertVError(InvalidBlobName, self.st.info, bad)
            self.assertVError(InvalidBlobName, self.st.append, bad, [b"x"])
            self.assertVError(InvalidBlobName, self.st.delete, bad)
        self.assertVError(InvalidBlobName, self.st.create, "blob/../../x")
        unknown = new_ref()
        self.assertVError(verror.NoExist, self.st.size, unknown)
        self.assertVError(verror.NoExist, self.st.append, unknown, [b"x"])
        self.assertVError(verror.NoExist, self.st.commit, unknown)
        self.assertVError(verror.NoExist, self.st.open_reader, unknown, 0)
        self.assertVError(verror.NoExist, self.st.pin, unknown, True)
        ref = self.st.create()
        self.assertVError(verror.Exist, self.st.create, ref)

    def test_reopen_keeps_committed_and_uncommitted_drops_broken_fetches(self):
        a = self.st.create()
        self.st.append(a, [b"x" * 100000])
        self.st.commit(a)
        u = self.st.create()
        self.st.append(u, [b"partial"])
        f = self.st.create(new_ref(), fetched=True)
        self.st.append(f, [b"half a fetch"])
        # a file whose row is gone (a crash between the two steps of a delete)
        orphan = os.path.join(self.st.data, "aa", "bb", "cc", "d" * 26)
        os.makedirs(os.path.dirname(orphan))
        with open(orphan, "wb") as fh:
            fh.write(b"junk")
        self.reopen()
        self.assertEqual(self.st.read_all(a), b"x" * 100000)
        self.assertEqual(self.st.size(u), 7)
        self.assertIsNone(self.st.info(f))
        self.assertFalse(os.path.exists(orphan))
        self.st.append(u, [b"+more"])
        self.st.commit(u)
        self.reopen()
        self.assertEqual(self.st.read_all(u), b"partial+more")

    def test_pin_keep_and_eviction_order(self):
        local = self.st.create()
        self.st.append(local, [b"l" * 10])
        self.st.commit(local)
        fetched = []
        for i in range(4):
            r = self.st.create(new_ref(), fetched=True)
            self.st.append(r, [b"f" * 10])
            self.st.commit(r)
            fetched.append(r)
        self.st.pin(fetched[0], True)
        self.st.keep(fetched[1], 9)
        self.st.keep(fetched[2], 1)
        self.st.keep(fetched[3], 5)
        self.assertEqual(self.st.total_bytes(), 50)
        gone = self.st.evict(30)
        self.assertEqual(gone, [fetched[2], fetched[3]])
        self.assertEqual(self.st.evict(0), [fetched[1]])   # pinned and local blobs stay
        self.st.pin(fetched[0], False)
        self.assertEqual(self.st.evict(0), [fetched[0]])
        self.assertEqual(self.st.refs(), [local])
        u = self.st.create()
        self.assertVError(sbwire.ErrBlobNotCommitted, self.st.keep, u, 3)

    def test_large_blob_in_chunks(self):
        ref = self.st.create()
        chunk = os.urandom(1 << 20)
        for _ in range(8):
            self.st.append(ref, [chunk])
        self.st.commit(ref)
        f, size = self.st.open_reader(ref, (1 << 20) * 7 + 5)
        with f:
            self.assertEqual(size, 8 << 20)
            self.assertEqual(f.read(), chunk[5:])

    def test_signposts_and_kv(self):
        ref = new_ref()
        self.assertIsNone(self.st.get_signpost(ref))
        self.st.set_signposts({ref: b"\x01\x02"})
        self.assertEqual(self.st.get_signpost(ref), b"\x01\x02")
        self.st.set_kv("k", b"v")
        self.reopen()
        self.assertEqual(self.st.get_signpost(ref), b"\x01\x02")
        self.assertEqual(self.st.get_kv("k"), b"v")


class RefsTest(unittest.TestCase):
    def test_extracts_refs_from_nested_and_dynamic_values(self):
        br = lambda s: vdl.value(sbwire.BlobRef._vdl_type, s)  # noqa: E731
        u = vdl.union("v23py/tests.blobUnion", [vdl.Field("A", vdl.Int32Type),
                                                 vdl.Field("B", sbwire.BlobRef._vdl_type)])
        t = vdl.struct("v23py/tests.blobRow", [
            vdl.Field("Name", vdl.StringType), vdl.Field("Main", sbwire.BlobRef._vdl_type),
            vdl.Field("Any", vdl.list_of(vdl.AnyType)),
            vdl.Field("ByRef", vdl.map_of(sbwire.BlobRef._vdl_type, vdl.StringType)),
            vdl.Field("Opt", vdl.optional(vdl.struct("v23py/tests.blobInner", [
                vdl.Field("R", sbwire.BlobRef._vdl_type)]))),
            vdl.Field("U", u)])
        cls = vdl.class_for(t)
        inner = vdl.class_for(t.fields[4].type.elem)
        v = cls(Name="x", Main=br("blob/1"), Any=[br("blob/2"), 7, "blob/not-a-ref"],
                ByRef={br("blob/3"): "s"}, Opt=inner(R=br("blob/4")),
                U=vdl.class_for(u)("B", br("blob/5")))
        want = {"blob/1", "blob/2", "blob/3", "blob/4", "blob/5"}
        self.assertEqual(blob_refs(v), want)
        self.assertEqual(blob_refs(vom.decode(vom.encode(v))), want)
        # a row value that is Go's *T (an optional struct in the any), and one inside an any
        opt = vdl.optional_value(vdl.optional(t.fields[4].type.elem), inner(R=br("blob/6")))
        self.assertEqual(blob_refs(vom.decode(vom.encode(opt))), {"blob/6"})
        v.Any = [opt]
        self.assertEqual(blob_refs(vom.decode(vom.encode(v))), want - {"blob/2"} | {"blob/6"})
        self.assertEqual(blob_refs("blob/00/00/00/" + "0" * 26), set())   # plain string
        self.assertEqual(blob_refs(br("")), set())                       # NullBlobRef
        self.assertEqual(blob_refs(vom.decode(vom.encode(3))), set())
        self.assertEqual(blob_refs(object()), set())                     # never raises
        # a received record's value, kept as its VOM bytes (vom.RawBytes)
        self.assertEqual(blob_refs(_raw(v)), want - {"blob/2"} | {"blob/6"})
        self.assertEqual(blob_refs(_raw(opt)), {"blob/6"})
        self.assertEqual(blob_refs(_raw("blob/00/00/00/" + "0" * 26)), set())


def _raw(value):
    """value as a GetDeltas stream's reader gets it: a vom.RawBytes."""
    from syncbased import interfaces as I
    t = I.LogRec._vdl_type
    te, td = vom.TypeEncoder(), vom.TypeDecoder()
    data = vom.Encoder(type_encoder=te).encode(I.LogRec(Value=value), t)
    td.feed(te.take_bytes())
    dec = vom.Decoder(type_decoder=td)
    dec.keep_any_raw(t)
    dec.feed(data)
    raw = dec.decode(t).Value
    assert type(raw) is vom.RawBytes
    return raw


class OwnershipTest(unittest.TestCase):
    def setUp(self):
        from syncbased.blobstore.ownership import Ownership
        self.root = tempdir(self, prefix="blobown-")
        self.st = BlobStore(self.root)
        self.own = Ownership(self.st)

    def test_priority_order_is_gos(self):
        from syncbased.blobstore.ownership import lower_than, updated, default_priority
        server, normal, leaf = default_priority(1), default_priority(0), default_priority(2)
        self.assertFalse(lower_than(server, normal))
        self.assertTrue(lower_than(normal, server))
        self.assertTrue(lower_than(leaf, normal))
        self.assertFalse(lower_than(normal, leaf))
        fresh = dict(normal, ServerTime=10**12)
        self.assertTrue(lower_than(normal, fresh))         # fresher server data wins
        near = dict(normal, Distance=-1.0, ServerTime=10**9)
        self.assertTrue(lower_than(normal, near))          # same recency: shorter distance
        self.assertIsNone(updated(server, normal))
        up = updated(dict(normal, Distance=2.0), server, now_ns=5)
        self.assertEqual(up, {"DevType": 0, "Distance": (2.0 * 4 + 2.0) / 5, "ServerTime": 5})

    def test_shares_flow_creator_to_server_and_normal(self):
        from syncbased.blobstore.ownership import to_wire, default_priority
        ref = new_ref()
        self.assertRaises(verror.VError, self.own.shares, ref)
        self.own.created_reference(ref, {"g1", "g2"})
        self.own.created_reference(ref, {"g1"})             # never re-grants
        self.assertEqual(self.own.shares(ref), {"g1": 2, "g2": 2})
        dev = {"g1": 0, "g2": 0}
        # a server caller is offered every share, a normal equal peer none
        offer = self.own.offer(ref, {"g1": to_wire(default_priority(1)),
                                     "g2": to_wire(default_priority(0))}, dev)
        self.assertEqual(offer, {"g1": 2})
        # a normal taker takes one share, a server all it was offered
        other = type(self.own)(self.st)
        self.assertEqual(other.take("blob/other", {"g1": 2}, {"g1": default_priority(0)}),
                         {"g1": 1})
        self.assertEqual(other.take("blob/other2", {"g1": 2}, {"g1": default_priority(1)}),
                         {"g1": 2})
        self.assertEqual(other.take("blob/other3", {"g9": 2}, {"g1": default_priority(1)}), {})
        # giving up: a non-server takes one share per call, a server takes all
        self.assertEqual(self.own.accepted(ref, {"g2": 2}, set()), (3, True))
        self.assertEqual(self.own.shares(ref), {"g1": 2, "g2": 1})
        self.assertEqual(self.own.accepted(ref, {"g1": 2, "g2": 1}, {"g1"}), (0, True))
        self.assertEqual(self.own.shares(ref), {})
        self.assertEqual(self.own.accepted(ref, {"g1": 1}, set()), (0, False))

    def test_hearing_priorities_only_for_my_syncgroups(self):
        from syncbased.blobstore.ownership import to_wire, default_priority
        self.own.hear({"g1": to_wire(default_priority(1)), "gx": to_wire(default_priority(1))},
                      {"g1": 0})
        p = self.own.priority("g1", 0)
        self.assertEqual(p["Distance"], (0.0 * 4 + 2.0) / 5)
        self.assertGreater(p["ServerTime"], 0)
        self.assertIsNone(self.st.get_kv("psg/gx"))



class SignpostFilterTest(unittest.TestCase):
    def test_callers_see_only_what_gos_filter_reveals(self):
        from syncbased.blobstore.manager import filter_signpost
        from syncbased import interfaces as I
        from v23py.v23.vdlroot.time import Time
        ld = lambda server: I.LocationData(WhenSeen=Time(), IsProxy=False,  # noqa: E731
                                           IsServer=server)
        sp = I.Signpost(Locations=I.PeerToLocationDataMap({
            "pub": ld(False), "priv": ld(False), "privsrv": ld(False), "hinted": ld(True),
            "stranger": ld(False)}), SgIds={"gpub", "gpriv", "gunknown"}, FetchAttempts=3)
        view = {"gpub": (True, {"pub": False}),
                "gpriv": (False, {"priv": False, "privsrv": True}),
                "gother": (True, {"stranger": False})}
        out = filter_signpost(sp, view)
        self.assertEqual(out.SgIds, {"gpub"})
        self.assertEqual(set(out.Locations), {"pub", "privsrv", "hinted"})
        self.assertEqual(out.FetchAttempts, 3)
