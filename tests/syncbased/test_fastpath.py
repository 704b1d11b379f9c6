"""The daemon's fast paths give the same answers as the general ones.

* ``Snapshot.scan`` resolving version pointers in the engine (one statement
  per chunk) vs. the overlay path; ``SqliteReadView`` sees flushed data only.
* ``Row.get_committed`` (a point read on the reactor thread) vs. ``Row.get``:
  same values, same errors, nothing that is not yet flushed.
* ``KeyValueEncoder`` (Scan messages around stored VOM bytes) vs. the encoder.
* ``caller_names``' cache: hits only for the same blessings, roots and clock.
* ``StoreWorker``: the calls of one reactor turn share one group and flush;
  quick calls run on the reactor (flushed before their results) only while
  nothing handed to the thread is undone, and never beside the thread's work.
"""
import datetime
import json
import threading
import time

from twisted.internet import defer, reactor
from twisted.internet.task import deferLater
from twisted.trial import unittest

from v23py import security, verror, vdl, vom
from v23py.v23.services import syncbase as sbwire
from v23py.syncbase.util import Id
from syncbased import access, common, server
from syncbased.common import FALLBACK
from syncbased.service import Service
from syncbased.store import MemEngine, SqliteEngine, Store
from v23py.testing import tempdir

ALICE = ["idp:o:fortune:alice"]
BOB = ["idp:o:fortune:bob"]
EVE = ["other:eve"]
DB = Id("idp:o:fortune", "db")
CX = Id("idp:o:fortune:alice", "c")
KEYS = [b"a", b"a\x00", b"a\x00b", b"a\xfe", b"a\xfe\xff", b"b", b"\xff\xfe\x00"]


class _ScanTests:
    def make_store(self):
        raise NotImplementedError

    def fill(self, st):
        st.run_in_transaction(lambda tx: [tx.put(b"r\xfe" + k, b"v" + k) for k in KEYS])
        st.flush()

    def test_scan_resolves_versions_in_chunks(self):
        st = self.make_store()
        self.fill(st)
        sn = st.snapshot()
        self.addCleanup(sn.abort)
        want = [(b"r\xfe" + k, b"v" + k) for k in sorted(KEYS)]
        self.assertEqual(list(sn.scan_all(b"r\xfe", b"r\xff")), want)
        for n in (1, 2, 3, 100):   # chunk boundaries: next start and "no more"
            got, start = [], b"r\xfe"
            while start is not None:
                rows, start = sn.scan(start, b"r\xff", n)
                self.assertLessEqual(len(rows), n)
                got += rows
            self.assertEqual(got, want)
        self.assertEqual(list(sn.scan_all(b"r\xfea\x00", b"r\xfea\xfe")),
                         [(b"r\xfea\x00", b"va\x00"), (b"r\xfea\x00b", b"va\x00b")])

    def test_scan_after_later_commits_keeps_the_snapshot(self):
        st = self.make_store()
        self.fill(st)
        sn = st.snapshot()
        self.addCleanup(sn.abort)
        st.run_in_transaction(lambda tx: (tx.put(b"r\xfea", b"new"), tx.delete(b"r\xfeb"),
                                          tx.put(b"r\xfec", b"added")))
        st.flush()
        self.assertEqual(list(sn.scan_all(b"r\xfe", b"r\xff")),
                         [(b"r\xfe" + k, b"v" + k) for k in sorted(KEYS)])
        now = st.snapshot()
        self.addCleanup(now.abort)
        got = dict(now.scan_all(b"r\xfe", b"r\xff"))
        self.assertEqual((got[b"r\xfea"], b"r\xfeb" in got, got[b"r\xfec"]),
                         (b"new", False, b"added"))


class MemScanTest(_ScanTests, unittest.TestCase):
    def make_store(self):
        return Store(MemEngine())


class SqliteScanTest(_ScanTests, unittest.TestCase):
    def make_store(self):
        st = Store(SqliteEngine(tempdir(self, "sbfast-")))
        self.addCleanup(st.close)
        return st

    def test_read_view_sees_flushed_writes_only(self):
        st = self.make_store()
        self.fill(st)
        view = st.read_view()
        self.assertEqual(view.get_raw_and_managed(b"nothing", b"r\xfea\x00", b"r\xfe\xff\xfe\x00"),
                         (None, b"va\x00", b"v\xff\xfe\x00"))
        st.run_in_transaction(lambda tx: (tx.put(b"r\xfea\x00", b"changed"),
                                          tx.raw_put(b"d", b"meta")))
        self.assertEqual(view.get_raw_and_managed(b"d", b"r\xfea\x00", b"r\xfeq"),
                         (None, b"va\x00", None))      # not flushed: not acknowledged
        st.flush()
        self.assertEqual(view.get_raw_and_managed(b"d", b"r\xfea\x00", b"r\xfeq"),
                         (b"meta", b"changed", None))
        self.assertIsNone(Store(MemEngine()).read_view())

    def _store_with_meta_and_view(self):
        """A filled store with raw key d = b"meta" committed, and its read view."""
        st = self.make_store()
        self.fill(st)
        st.run_in_transaction(lambda tx: tx.raw_put(b"d", b"meta"))
        st.flush()
        return st, st.read_view()

    def test_read_view_keeps_the_first_two_values_while_nothing_commits(self):
        # (a Get's permissions: read once, then only its row, until a commit)
        st, view = self._store_with_meta_and_view()
        sql = []
        view._db.set_trace_callback(lambda s: sql.append(s.count("SELECT")))

        def read(key):
            return view.get_raw_and_managed(b"d", b"r\xfea\x00", key)
        self.assertEqual(read(b"r\xfeq"), (b"meta", b"va\x00", None))
        self.assertEqual(read(b"r\xfea\x00b"), (b"meta", b"va\x00", b"va\x00b"))
        self.assertEqual(sql, [6, 3])          # (all three keys, then the row's only)
        st.run_in_transaction(lambda tx: (tx.put(b"r\xfea\x00", b"changed"),
                                          tx.raw_put(b"d", b"meta2")))
        self.assertEqual(read(b"r\xfeq"), (b"meta", b"va\x00", None))   # (not committed)
        st.flush()
        self.assertEqual(read(b"r\xfeq"), (b"meta2", b"changed", None))
        self.assertEqual(read(b"r\xfeq"), (b"meta2", b"changed", None))
        self.assertEqual(sql, [6, 3, 6, 6, 3])
        # a group rolled back commits nothing, but what was read is read again
        st.run_in_transaction(lambda tx: tx.raw_put(b"d", b"meta3"))
        st.rollback()
        self.assertEqual(read(b"r\xfeq"), (b"meta2", b"changed", None))
        self.assertEqual(sql, [6, 3, 6, 6, 3, 6])

    def test_read_view_reads_all_again_when_a_commit_lands_before_its_row(self):
        st, view = self._store_with_meta_and_view()

        def read():
            return view.get_raw_and_managed(b"d", b"r\xfea\x00", b"r\xfeq")
        self.assertEqual(read(), (b"meta", b"va\x00", None))     # (kept from here)
        real = view._db

        class CommitFirst:     # (another thread's commit, between the check and the read)
            def execute(self, *args):
                view._db = real
                st.run_in_transaction(lambda tx: (tx.raw_put(b"d", b"meta2"),
                                                  tx.put(b"r\xfeq", b"new")))
                st.flush()
                return real.execute(*args)
        view._db = CommitFirst()
        self.assertEqual(read(), (b"meta2", b"va\x00", b"new"))


class GetCommittedTest(unittest.TestCase):
    def setUp(self):
        self.svc = Service(tempdir(self, "sbfast-"), "sqlite",
                           default_patterns=ALICE)
        self.addCleanup(self.svc.close)
        db = self.svc.database(DB)
        perms = access.perms_add({}, ALICE[0], *access.ALL_DATABASE_TAGS)
        access.perms_add(perms, BOB[0], access.RESOLVE)
        db.create(ALICE, None, perms)
        cx = self.svc.database(DB).collection(CX)
        cx.create(ALICE, "", access.perms_add({}, ALICE[0], *access.ALL_COLLECTION_TAGS))
        cx.row("k").put(ALICE, "", b"one")
        self.svc.flush()

    def row(self, key="k", cx=CX, db=DB):
        return self.svc.database(db).collection(cx).row(key)

    def outcome(self, fn, *args):
        try:
            return "ok", fn(*args)
        except verror.VError as e:
            return "error", e.id

    def test_same_answers_as_get(self):
        cases = [(names, key, cx, db) for names in (ALICE, BOB, EVE)
                 for key in ("k", "missing") for cx in (CX, Id(ALICE[0], "nocx"))
                 for db in (DB, Id("idp:o:fortune", "nodb"))]
        for names, key, cx, db in cases:
            r = self.row(key, cx, db)
            fast = self.outcome(r.get_committed, names)
            if fast == ("ok", FALLBACK):
                self.assertNotEqual(db, DB)    # only a database that is not open falls back
                continue
            self.assertEqual(fast, self.outcome(r.get, names, ""), (names, key, cx, db))
        self.assertEqual(self.row().get_committed(ALICE), b"one")
        self.assertEqual(self.outcome(self.row().get_committed, BOB),
                         ("error", verror.NoExistOrNoAccess.id))

    def test_reads_only_flushed_state(self):
        self.row().put(ALICE, "", b"two")
        self.assertEqual(self.row().get_committed(ALICE), b"one")
        self.svc.flush()
        self.assertEqual(self.row().get_committed(ALICE), b"two")
        # service permissions that are not flushed yet are not used either
        self.svc.set_permissions(ALICE, access.perms_add({}, "nobody", *access.ALL_TYPICAL_TAGS),
                                 "")
        self.assertEqual(self.row().get_committed(ALICE), b"two")
        self.svc.rollback()
        self.assertEqual(self.row().get_committed(ALICE), b"two")

    def test_memstore_falls_back(self):
        svc = Service(tempdir(self, "sbfast-"), "memstore", default_patterns=ALICE)
        self.addCleanup(svc.close)
        svc.database(DB).create(ALICE, None,
                                access.perms_add({}, ALICE[0], *access.ALL_DATABASE_TAGS))
        self.assertIs(svc.database(DB).collection(CX).row("k").get_committed(ALICE), FALLBACK)


class KeyValueEncoderTest(unittest.TestCase):
    def test_matches_the_general_encoder(self):
        st_t = vdl.struct("test.fast.S", [("A", vdl.StringType),
                                          ("B", vdl.list_of(vdl.Int32Type))])
        values = ["x" * 100, "", 7, -3, 2.5, True, b"\x00\xfe", ["a", "b"], {"k": 1}, None,
                  "é" * 200, vdl.class_for(st_t)(A="a", B=[1, 2]), vdl.class_for(st_t)()]
        te = vom.TypeEncoder()
        enc = server.KeyValueEncoder()
        td = vom.TypeDecoder()
        for key in ("k", "a/é\x00b", ""):
            for v in values:
                stored = vom.encode(v)
                for _ in range(2):    # the first time plans (and checks), then the plan
                    msg = bytes(enc(te, (key, stored)))
                    self.assertEqual(msg, bytes(enc.general(te, (key, stored))), (key, v))
                td.feed(te.take_bytes())
                dec = vom.Decoder(type_decoder=td)
                dec.feed(bytes([vom.VERSION_81]) + msg)
                kv = dec.decode(sbwire.KeyValue._vdl_type)
                self.assertEqual((kv.Key, kv.Value), (key, vom.decode(stored)))
        self.assertTrue(any(p for p in enc._plans.values()))   # the fast path was used


class ValueInTest(unittest.TestCase):
    def test_same_bytes_as_vom_encode(self):
        for v in ["", "x" * 300, 0, -5, 1 << 40, 1.5, True, False, b"", b"\x00\xff",
                  vdl.value(vdl.Int32Type, 7), vdl.value(vdl.ByteType, 3),
                  vdl.value(vdl.StringType, "typed"), ["a"], {"k": "v"}, None]:
            want = vom.encode(v)
            self.assertEqual(common.value_in(v), want, repr(v))
            # again: the type encoder it shares across calls must not change the bytes
            self.assertEqual(common.value_in(v), want, repr(v))
            self.assertEqual(vom.decode(common.value_in(v)), vom.decode(want))
        # Go's bytes for a string and an int64 (the VOM golden tests pin the rest)
        self.assertEqual(common.value_in("abc").hex(), "810603616263")
        self.assertEqual(common.value_in(-5).hex(), "811209")

    def test_strings_same_bytes_as_vom_encode(self):
        # the str fast path: every length encoding (1 byte below 0x80, then 1..3 bytes
        # after the count byte), non-ASCII text, and undecodable bytes (surrogateescape)
        for v in ["", "a", "x" * 127, "x" * 128, "x" * 255, "x" * 256, "y" * 70000,
                  "é" * 64, "日本語", "\U0001f600", b"\xff\xfe".decode("utf-8", "surrogateescape")]:
            self.assertEqual(common.value_in(v), vom.encode(v), repr(v)[:40])
            self.assertEqual(vom.decode(common.value_in(v)), v)
        for n in range(0x82):      # (each short length: its header comes from a table)
            self.assertEqual(common.value_in("z" * n), vom.encode("z" * n), n)

    def test_value_out_reads_what_vom_decode_reads(self):
        # the short-string fast path of value_out, against vom.decode: every short length,
        # non-ASCII and undecodable bytes, the first long length; other values, and bytes
        # that only look like a short string, go to vom.decode (same value or same error)
        odd = b"\xff\xfe\x00\xed\xa0\x80".decode("utf-8", "surrogateescape")
        for v in ["z" * n for n in range(0x82)] + ["é" * 40, "日本語", odd, odd * 20,
                                                   0, -5, 1.5, True, b"\x01", ["a"]]:
            raw = common.value_in(v)
            got = common.value_out(raw)
            self.assertEqual(got, vom.decode(raw), repr(v)[:40])
            self.assertIs(type(got), type(vom.decode(raw)))
        for raw in (common.value_in("abc") + b"x", common.value_in("abc")[:-1],
                    bytearray(common.value_in("abc"))):
            try:
                want = vom.decode(raw)
            except verror.VError as e:
                self.assertRaises(type(e), common.value_out, raw)
            else:
                self.assertEqual(common.value_out(raw), want)


class BatchInfoTest(unittest.TestCase):
    def test_any_bytes_round_trip_in_binary(self):
        # store format 5: object ids and versions of any bytes (0xfe separators, invalid
        # UTF-8), lengths first; not JSON
        from syncbased.vsync._log import decode_batch, encode_batch
        objects = {b"r\xfec\xfe\xff\x00k%d" % i: b"\x80v%x" % i for i in range(5)}
        linked = {b"c\xfec\xfe": b"\xc3\xa9"}
        raw = encode_batch(objects, linked, 7)
        self.assertEqual(decode_batch(raw), (objects, linked, 7))
        self.assertEqual(decode_batch(bytearray(raw)), (objects, linked, 7))
        self.assertEqual(encode_batch({b"r\xfea": b"1f"}, {b"c\xfe": b""}, 300),
                         b"\x01" + (300).to_bytes(8, "big") + b"\0\0\0\x01\0\0\0\x01"
                         b"\0\0\0\x03\0\0\0\x02\0\0\0\x02\0\0\0\x00r\xfea1fc\xfe")
        self.assertEqual(decode_batch(encode_batch({}, {}, 0)), ({}, {}, 0))
        self.assertRaises(ValueError, decode_batch, raw + b"x")

    def test_json_of_earlier_formats_still_reads(self):
        # a format-4 store's BatchInfo: JSON of the surrogateescape strings
        from syncbased.vsync._log import decode_batch, s
        objects = {b"r\xfec\xfe\xff\x00k%d" % i: b"\x80v%x" % i for i in range(5)}
        linked = {b"c\xfec\xfe": b"\xc3\xa9"}
        raw = json.dumps(
            {"Objects": {s(o): s(v) for o, v in objects.items()},
             "LinkedObjects": {s(o): s(v) for o, v in linked.items()},
             "Count": 7}, separators=(",", ":")).encode()
        self.assertEqual(decode_batch(raw), (objects, linked, 7))


class BatchPartsTest(unittest.TestCase):
    """Store format 6: a BatchInfo longer than a record may be is stored in parts of
    RECORD_BYTES at most with their keys (_log.batch_writes); readers take parts and a
    whole BatchInfo alike."""

    def _batch(self, n, tag=b""):
        objects = {b"r\xfec\xfe\xff\x00k%05d" % i + tag: b"\x80v%x" % i for i in range(n)}
        return objects, {b"c\xfec\xfe": b"\xc3\xa9"}, 2 * n

    def test_big_batch_info_is_stored_in_parts(self):
        from syncbased.store.core import RECORD_BYTES
        from syncbased.vsync._log import (BATCH, SEP, batch_key, batch_writes, encode_batch,
                                          read_batch, stored_batches)
        objects, linked, count = self._batch(500)
        raw = encode_batch(objects, linked, count)
        self.assertGreater(len(raw), 10 * RECORD_BYTES)
        w = batch_writes(123, objects, linked, count)
        self.assertEqual(sorted(w), sorted([batch_key(123)] + [
            batch_key(123) + SEP + b"%d" % i for i in range(1, len(w))]))
        # (every part as full as its key allows, to 8 bytes: "\xfe" and its number)
        sizes = [len(k) + len(w[k]) for k in sorted(w, key=len)]
        self.assertTrue(all(RECORD_BYTES - 8 <= n <= RECORD_BYTES for n in sizes[:-1]), sizes)
        self.assertLessEqual(sizes[-1], RECORD_BYTES)
        self.assertEqual(read_batch(w.get, 123), (objects, linked, count))
        self.assertIsNone(read_batch(w.get, 12))
        # a small one: one record, the format-5 bytes
        small = self._batch(3)
        self.assertEqual(batch_writes(12, *small), {batch_key(12): encode_batch(*small)})
        # (batch 12's key begins batch 123's: the parts stay apart)
        w.update(batch_writes(12, *small))
        self.assertEqual(stored_batches(sorted(w.items())),
                         {123: (objects, linked, count), 12: small})
        self.assertTrue(all(k.startswith(BATCH) for k in w))

    def test_whole_batch_info_of_format_5_reads_and_is_replaced_by_parts(self):
        from syncbased.store.core import RECORD_BYTES
        from syncbased.vsync._log import batch_key, batch_writes, encode_batch, read_batch
        objects, linked, count = self._batch(500)
        stored = {batch_key(7): encode_batch(objects, linked, count)}
        self.assertEqual(read_batch(stored.get, 7), (objects, linked, count))
        objects[b"r\xfenew"] = b"1"
        stored.update(batch_writes(7, objects, linked, count, stored[batch_key(7)]))
        self.assertTrue(all(len(k) + len(v) <= RECORD_BYTES for k, v in stored.items()))
        self.assertEqual(read_batch(stored.get, 7), (objects, linked, count))

    def test_fewer_parts_delete_the_old_ones_past_them(self):
        from syncbased.vsync._log import batch_key, batch_writes, read_batch, SEP
        big, small = self._batch(300), self._batch(20, b"x" * 60)
        stored = batch_writes(7, *big)
        n = len(stored)
        new = batch_writes(7, *small, stored[batch_key(7)])
        parts = len([v for v in new.values() if v is not None])
        self.assertGreater(parts, 1)
        self.assertEqual({k for k, v in new.items() if v is None},
                         {batch_key(7) + SEP + b"%d" % i for i in range(parts, n)})
        stored.update(new)
        stored = {k: v for k, v in stored.items() if v is not None}
        self.assertEqual(len(stored), parts)
        self.assertEqual(read_batch(stored.get, 7), small)
        # a missing part: an error, not a short BatchInfo
        del stored[batch_key(7) + SEP + b"1"]
        self.assertRaises(ValueError, read_batch, stored.get, 7)


class ExactPlainTest(unittest.TestCase):
    """vom's exact() returns a decoded str/bool/int/float/bytes directly for string,
    bool, int64, float64 and []byte: what type_of gives for those classes."""

    def test_plain_classes_map_to_their_types(self):
        from v23py.vom import _codec
        for t, cls in _codec._PLAIN_CLASS.items():
            sample = cls()
            self.assertIs(vdl.type_of(sample), t)
            self.assertIs(_codec.exact(t, sample), sample)

    def test_any_values_decode_as_before(self):
        lt = vdl.list_of(vdl.AnyType)
        vals = ["s", True, 7, 1.5, b"\x01", vdl.value(vdl.Int32Type, 7),
                vdl.value(vdl.StringType, "typed"), None, ["a"]]
        got = vom.decode(vom.encode(vals, lt), lt)
        self.assertEqual(got, vals)
        for a, b in zip(got, vals):
            self.assertEqual(vdl.type_of(a), vdl.type_of(b))


class _Flow:
    def __init__(self, blessings):
        self.remote_blessings = blessings


class _Server:
    def __init__(self, principal):
        self.principal = principal


class _Call:
    """What caller_names reads of an rpc ServerCall; counts security-call builds."""

    def __init__(self, principal, blessings):
        self.flow = _Flow(blessings)
        self.server = _Server(principal)
        self.builds = 0

    @property
    def security(self):
        self.builds += 1
        return security.Call(local_principal=self.server.principal,
                             remote_blessings=self.flow.remote_blessings, method="Get")


class CallerNamesCacheTest(unittest.TestCase):
    def setUp(self):
        common._NAMES_CACHE.clear()
        self.addCleanup(common._NAMES_CACHE.clear)
        self.p = security.random_principal()
        self.client = security.random_principal()

    def names(self, call, n=3):
        out = [common.caller_names(call) for _ in range(n)]
        self.assertTrue(all(o == out[0] for o in out))
        return out[0]

    def test_cached_for_plain_and_expiry_blessings(self):
        b = self.client.bless_self("alice")
        security.add_to_roots(self.p, b)
        call = _Call(self.p, b)
        self.assertEqual(self.names(call), ["alice"])
        self.assertEqual(call.builds, 1)
        later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
        b2 = self.client.bless_self("bob", security.new_expiry_caveat(later))
        security.add_to_roots(self.p, b2)
        call2 = _Call(self.p, b2)
        self.assertEqual(self.names(call2), ["bob"])
        self.assertEqual(call2.builds, 1)
        self.assertLessEqual(common._NAMES_CACHE[b2.unique_id][3], later.timestamp())

    def test_expired_other_caveats_and_new_roots_are_validated_again(self):
        past = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=1)
        b = self.client.bless_self("old", security.new_expiry_caveat(past))
        security.add_to_roots(self.p, b)
        call = _Call(self.p, b)
        self.assertEqual(self.names(call), [])
        self.assertEqual(call.builds, 3)
        m = self.client.bless_self("m", security.new_method_caveat("Get"))
        security.add_to_roots(self.p, m)
        call = _Call(self.p, m)
        self.assertEqual(self.names(call), ["m"])
        self.assertEqual(call.builds, 3)
        # unknown root: no names; once recognized, the cached answer is not reused
        u = security.random_principal().bless_self("u")
        call = _Call(self.p, u)
        self.assertEqual(self.names(call), [])
        security.add_to_roots(self.p, u)
        self.assertEqual(self.names(call), ["u"])
        self.assertEqual(call.builds, 2)


class WorkerGroupTest(unittest.TestCase):
    def test_calls_of_one_turn_share_a_flush(self):
        from v23py.runtime.flowmanager import output_batch
        from syncbased.worker import StoreWorker
        flushes = []
        w = StoreWorker(lambda: flushes.append(1), lambda: None, reactor)
        self.addCleanup(w.stop)

        @defer.inlineCallbacks
        def go():
            with output_batch():   # as while the reactor handles one read
                ds = [w.call(lambda i=i: i * i) for i in range(20)]
                self.assertEqual(w._q.qsize(), 0)    # nothing handed over yet
            results = yield defer.gatherResults(ds)
            self.assertEqual(results, [i * i for i in range(20)])
            self.assertEqual(len(flushes), 1)
            self.assertEqual((yield w.call(lambda: "alone")), "alone")   # outside: at once
            self.assertEqual(len(flushes), 2)
        return go()

    def logging_worker(self, after_commit=False):
        """(a StoreWorker whose flushes log "flush", the log, ``where(tag)``: a call that
        logs ``tag``, with ``after_commit`` has "after <tag>" logged once committed, and
        says whether it ran on the reactor's thread)."""
        from syncbased.worker import StoreWorker
        log = []
        w = StoreWorker(lambda: log.append("flush"), lambda: None, reactor)
        self.addCleanup(w.stop)
        main = threading.get_ident()

        def where(tag):
            log.append(tag)
            if after_commit:
                w.after_commit(log.append, "after " + str(tag))
            return threading.get_ident() == main
        return w, log, where

    def test_quick_calls_run_on_the_reactor_when_the_thread_is_idle(self):
        from v23py.runtime.flowmanager import output_batch
        w, log, where = self.logging_worker()
        d = w.call_quick(where, "alone")
        # done before call_quick returned, on this thread, flushed before the result
        self.assertEqual(self.successResultOf(d), True)
        self.assertEqual(log, ["alone", "flush"])

        @defer.inlineCallbacks
        def go():
            # a turn of several calls (concurrent callers): the thread takes them, and
            # the next lone call too; from the second lone call in a row, the reactor
            del log[:]
            with output_batch():
                ds = [w.call_quick(where, i) for i in range(3)]
            self.assertEqual((yield defer.gatherResults(ds)), [False] * 3)
            self.assertEqual(log, [0, 1, 2, "flush"])
            self.assertEqual((yield w.call_quick(where, "next")), False)
            self.assertEqual((yield w.call_quick(where, "then")), True)
            # a call that is not quick: to the thread, and so is the lone call after it
            # (once what the thread has is done, that one may run here again)
            del log[:]
            self.assertEqual((yield w.call(where, "slow")), False)
            self.assertEqual((yield w.call_quick(where, "q")), True)
            self.assertEqual(log, ["slow", "flush", "q", "flush"])
        return go()

    def test_call_now_runs_a_lone_call_at_once_and_returns_its_result(self):
        # (what lets a Put of one caller at a time answer without suspending its RPC)
        from v23py.runtime.flowmanager import output_batch
        w, log, where = self.logging_worker(after_commit=True)

        def fails():
            log.append("fails")
            raise verror.NoAccess.new("no")

        with output_batch():   # as while the reactor handles one read
            # on this thread, flushed, its after_commit callbacks run: then its result
            self.assertIs(w.call_now(where, "a"), True)
            self.assertEqual(log, ["a", "flush", "after a"])
            with self.assertRaises(verror.VError) as e:
                w.call_now(fails)
            self.assertEqual(e.exception.id, verror.NoAccess.id)
            self.assertEqual(log[3:], ["fails", "flush"])
            # a call of this turn queued before: this one goes after it, as a Deferred
            d1 = w.call_quick(where, "q")
            d2 = w.call_now(where, "b")
            self.assertIsInstance(d2, defer.Deferred)
            self.assertNoResult(d2)

        @defer.inlineCallbacks
        def go():
            # (a turn of two calls: the thread's, as concurrent callers' are)
            self.assertEqual((yield defer.gatherResults([d1, d2])), [False, False])
            self.assertEqual(log[5:8], ["q", "b", "flush"])
            # and after it, the next call too
            d = w.call_now(where, "c")
            self.assertIsInstance(d, defer.Deferred)
            self.assertEqual((yield d), False)
        return go()

    def test_a_lone_put_is_answered_without_a_deferred(self):
        # RowObj.Put of one caller at a time: done (committed) when the method returns
        from syncbased.worker import StoreWorker
        from v23py.syncbase.util import encode, encode_id
        svc = Service(tempdir(self, "sbput-"), "sqlite", default_patterns=ALICE)
        self.addCleanup(svc.close)
        svc.database(DB).create(ALICE, None,
                                access.perms_add({}, ALICE[0], *access.ALL_DATABASE_TAGS))
        svc.database(DB).collection(CX).create(
            ALICE, "", access.perms_add({}, ALICE[0], *access.ALL_COLLECTION_TAGS))
        svc.flush()
        w = StoreWorker(svc.flush, svc.rollback, reactor)
        self.addCleanup(w.stop)

        class Daemon:
            worker, service = w, svc

        class Call:
            suffix = encode_id(DB) + "/" + encode_id(CX) + "/" + encode("k/1")
        callers = [ALICE]
        self.patch(server, "caller_names", lambda call: callers[0])
        rows = server.RowObj(Daemon(), DB, CX)
        self.assertIsNone(rows.Put(None, Call(), "", "one"))
        row = svc.database(DB).collection(CX).row("k/1")
        self.assertEqual(row.get_committed(ALICE), common.value_in("one"))   # flushed
        callers[0] = EVE
        with self.assertRaises(verror.VError):
            rows.Put(None, Call(), "", "two")
        self.assertEqual(row.get_committed(ALICE), common.value_in("one"))

    def test_quick_calls_go_to_the_thread_until_the_stores_are_checked(self):
        # a store's first use waits for its integrity check (seconds with a large
        # store): the reactor must never be the one waiting
        from syncbased.worker import StoreWorker
        ready = []
        w = StoreWorker(lambda: None, lambda: None, reactor, ready=lambda: bool(ready))
        self.addCleanup(w.stop)
        main = threading.get_ident()

        def on_reactor():
            return threading.get_ident() == main

        @defer.inlineCallbacks
        def go():
            for _ in range(3):
                self.assertEqual((yield w.call_quick(on_reactor)), False)
            ready.append(True)
            yield w.call_quick(on_reactor)   # (the first lone call after: thread or not)
            self.assertEqual((yield w.call_quick(on_reactor)), True)
        return go()

    def test_service_stores_checked_follows_the_integrity_checks(self):
        from syncbased.service import Service
        from syncbased.store import engine as eng
        root = self.mktemp()
        svc = Service(root, "sqlite", default_patterns=["idp:o:fortune:alice"])
        svc.st.flush()
        svc.close()
        eng.hold_checks()   # (as the daemon while it starts: the check waits for release)
        try:
            svc = Service(root, "sqlite", default_patterns=["idp:o:fortune:alice"])
            self.addCleanup(svc.close)
            self.assertFalse(svc.stores_checked())
        finally:
            eng.release_checks()
        self.assertTrue(svc.st.engine.wait_checked(30))
        self.assertTrue(svc.stores_checked())

    def test_quick_calls_wait_for_what_the_thread_has(self):
        from syncbased.worker import StoreWorker
        order = []
        gate = threading.Event()
        w = StoreWorker(lambda: order.append("flush"), lambda: None, reactor)
        self.addCleanup(w.stop)
        self.addCleanup(gate.set)
        main = threading.get_ident()

        def blocked():
            gate.wait(10)
            order.append("slow")

        def quick():
            order.append("quick on reactor" if threading.get_ident() == main else "quick")

        @defer.inlineCallbacks
        def go():
            d1 = w.call(blocked)
            d2 = w.call_quick(quick)   # the thread has undone work: queued behind it
            self.assertNoResult(d2)
            gate.set()
            yield defer.gatherResults([d1, d2])
            self.assertEqual(order[:2], ["slow", "quick"])
            yield w.call_quick(quick)  # idle again: on the reactor
            self.assertEqual(order[-2:], ["quick on reactor", "flush"])
        return go()

    def test_flush_failure_fails_a_quick_group(self):
        from syncbased.worker import StoreWorker
        fail = [True]
        rolled = []

        def flush():
            if fail[0]:
                raise verror.Internal.new("store commit failed: database or disk is full")

        w = StoreWorker(flush, lambda: rolled.append(1), reactor)
        self.addCleanup(w.stop)
        f = self.failureResultOf(w.call_quick(lambda: 1), verror.VError)
        self.assertIn("disk is full", f.getErrorMessage())
        self.assertEqual(rolled, [1])
        fail[0] = False
        self.assertEqual(self.successResultOf(w.call_quick(lambda: 2)), 2)

    def test_after_commit_runs_once_the_group_is_flushed_and_answered(self):
        from syncbased.worker import StoreWorker
        log = []
        w = StoreWorker(lambda: log.append("flush"), lambda: None, reactor)
        self.addCleanup(w.stop)

        def write(tag, pause=0.0):
            w.after_commit(log.append, "woken " + tag)
            time.sleep(pause)      # (the reactor is free meanwhile: it must still wait)
            log.append(tag)
            return tag

        # on the reactor: after the flush and the result, before call_quick returns
        d = w.call_quick(write, "quick")
        self.assertEqual(log, ["quick", "flush", "woken quick"])
        self.assertEqual(self.successResultOf(d), "quick")
        del log[:]
        d = w.call_quick(lambda: w.after_commit(lambda: log.append(d.called)))
        self.assertEqual(log, ["flush", True])   # its Deferred fired first

        @defer.inlineCallbacks
        def go():
            # on the thread: in a later reactor turn, after the flush
            del log[:]
            yield w.call(write, "slow", 0.1)
            yield deferLater(reactor, 0, lambda: None)
            self.assertEqual(log, ["slow", "flush", "woken slow"])
        return go()

    def test_a_failing_after_commit_callback_harms_nothing(self):
        from syncbased.worker import StoreWorker
        log = []
        w = StoreWorker(lambda: None, lambda: None, reactor)
        self.addCleanup(w.stop)

        def write():
            w.after_commit(lambda: 1 / 0)
            w.after_commit(log.append, "woken")
            return "done"

        with self.assertLogs("syncbased.worker", "ERROR") as logged:
            d = w.call_quick(write)
        self.assertEqual(self.successResultOf(d), "done")
        self.assertEqual(log, ["woken"])
        self.assertIn("ZeroDivisionError", logged.output[0])


class WatchLoopTest(unittest.TestCase):
    """A Watch stream reads the log once per wake-up when that read reaches the log's end."""

    @defer.inlineCallbacks
    def test_one_log_read_per_commit_once_caught_up(self):
        import types
        from syncbased import daemon as daemon_mod, database
        from syncbased.worker import StoreWorker
        from v23py.runtime.flowmanager import output_batch
        svc = Service(tempdir(self, "sbwatch-"), "memstore", default_patterns=ALICE)
        self.addCleanup(svc.close)
        svc.database(DB).create(ALICE, None, access.perms_add({}, ALICE[0],
                                                             *access.ALL_DATABASE_TAGS))
        svc.database(DB).collection(CX).create(
            ALICE, "", access.perms_add({}, ALICE[0], *access.ALL_COLLECTION_TAGS))
        w = StoreWorker(svc.flush, svc.rollback, reactor)
        self.addCleanup(w.stop)
        d = types.SimpleNamespace(service=svc, worker=w, _waiters=set())
        for name in ("_committed", "_wake", "log_waiter"):
            setattr(d, name, types.MethodType(getattr(daemon_mod.Daemon, name), d))
        svc.commit_listeners.append(d._committed)
        self.patch(server, "caller_names", lambda call: ALICE)
        reads = []
        next_of = database.Database.watch_next
        self.patch(database.Database, "watch_next",
                   lambda db, *a, **kw: reads.append(1) or next_of(db, *a, **kw))
        sent = []
        call = types.SimpleNamespace(send=sent.append)
        ctx = types.SimpleNamespace(on_done=lambda fn: (lambda: None))
        pattern = sbwire.CollectionRowPattern(CollectionBlessing=CX.Blessing,
                                              CollectionName=CX.Name, RowKey="%")
        stream = defer.ensureDeferred(server.DatabaseObj(d, DB).WatchPatterns(
            ctx, call, b"now", [pattern]))
        stream.addErrback(lambda f: f.trap(defer.CancelledError))
        while not sent:                     # (the initial state: skipped)
            yield deferLater(reactor, 0.001, lambda: None)
        for i in range(3):
            before = len(reads)
            with output_batch():            # (as when the Put arrives)
                put = w.call_quick(lambda i=i: svc.database(DB).collection(CX).row(
                    "k%d" % i).put(ALICE, "", common.value_in("v")))
            yield put
            while len(sent) < 2 + i:
                yield deferLater(reactor, 0.001, lambda: None)
            self.assertEqual(sent[-1].Name, f"{CX.Blessing},{CX.Name}/k{i}")
            self.assertEqual(len(reads) - before, 1)
        stream.cancel()
        yield stream


class ReceivedValueTest(unittest.TestCase):
    def test_raw_bytes_store_what_their_values_store(self):
        # a GetDeltas stream is read with its anys kept raw (vom.RawBytes): a record's
        # value stored from them is byte for byte what its decoded value stores
        from syncbased import interfaces as I
        from syncbased.vsync import dag
        from syncbased.vsync._log import CX, ROW
        perms = I.CollectionPerms(common.perms_out(access.perms_add({}, "a:b", "Read")))
        cases = [(ROW, v) for v in ["x" * 50, "", "y" * 300, "\u00e9\udcfe", 0, -5, 1.5,
                                    True, b"\x00\xff", ["a"], vdl.value(vdl.Int32Type, 7),
                                    {"k": "v"}]] + [(CX, perms)]
        t = I.DeltaResp._vdl_type
        te, td = vom.TypeEncoder(), vom.TypeDecoder()
        enc = vom.Encoder(type_encoder=te)
        data = b"".join(enc.encode(I.DeltaResp("Rec", I.LogRec(Value=v)), t) for _, v in cases)
        td.feed(te.take_bytes())
        dec = vom.Decoder(type_decoder=td)
        dec.keep_any_raw(t)
        dec.feed(data)
        for kind, v in cases:
            got = dec.decode(t).value.Value
            self.assertIs(type(got), vom.RawBytes)
            oid = kind + b"c\xfek"
            self.assertEqual(dag.value_in(oid, got), dag.value_in(oid, v), repr(v))


class RowDispatchTest(unittest.TestCase):
    """Every row of a collection is served by one object (so the RPC layer builds its
    invoker and method plans once per collection); each call names its own row."""

    class _Daemon:
        worker = None

    def test_rows_of_a_collection_share_one_served_object(self):
        from v23py.syncbase.util import encode, encode_id
        disp = server.Dispatcher(self._Daemon())
        base = encode_id(DB) + "/" + encode_id(CX) + "/"
        a, _ = disp.lookup(None, base + "a")
        b, _ = disp.lookup(None, base + encode("b/c"))
        self.assertIs(a, b)
        self.assertIsInstance(a, server.RowObj)
        other, _ = disp.lookup(None, base.replace(encode_id(CX), encode_id(Id("x", "d"))) + "a")
        self.assertIsNot(other, a)
        self.assertEqual((other.db_id, other.cx_id), (DB, Id("x", "d")))
        # the row a call acts on is its own suffix's
        self.assertEqual(server.row_key_of(base + encode("b/c")), "b/c")
        self.assertEqual(server.row_key_of(base + "a"), "a")

    def test_objects_allow_everyone_with_the_runtime_authorizer(self):
        # (the server then builds a call's security.Call only if the method uses it)
        from v23py.syncbase.util import encode_id
        disp = server.Dispatcher(self._Daemon())
        for suffix in ("", encode_id(DB), encode_id(DB) + "/" + encode_id(CX),
                       encode_id(DB) + "/" + encode_id(CX) + "/a"):
            _, auth = disp.lookup(None, suffix)
            self.assertIs(auth, security.allow_everyone(), suffix)
