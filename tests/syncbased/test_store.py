"""Unit tests of the Syncbase store: engines, snapshots, OCC transactions, versions, watch log."""
import os

from hypothesis import given, settings, strategies as st
from twisted.trial import unittest

from v23py import verror
from syncbased.store import (
    MemEngine, SqliteEngine, Store, PutOp, DeleteOp, GetOp, ScanOp, SyncgroupOp,
    DbStateChangeRequestOp, LogEntry, encode_log_entry, decode_log_entry, log_key,
    ConcurrentTransaction,
)
from syncbased.store.core import decode_log_entries
from v23py.testing import tempdir


class _EngineTests:
    def make_engine(self):
        raise NotImplementedError

    def test_order_is_unsigned_bytes(self):
        e = self.make_engine()
        keys = [b"a", b"a\x00", b"a\xfe", b"a\xff", b"b", b"\x00", b"\xff\xff", b"A"]
        e.write({k: b"v" + k for k in keys})
        e.flush()
        self.assertEqual([k for k, _ in e.scan(b"", b"")], sorted(keys))
        self.assertEqual([k for k, _ in e.scan(b"a", b"a\xff")], [b"a", b"a\x00", b"a\xfe"])
        self.assertEqual(e.last(b"a", b"b"), (b"a\xff", b"va\xff"))
        self.assertEqual(len(e.scan(b"", b"", 3)), 3)

    def test_rollback_discards_unflushed(self):
        e = self.make_engine()
        e.write({b"k": b"1"})
        e.flush()
        e.write({b"k": b"2", b"j": b"x"})
        self.assertEqual(e.get(b"k"), b"2")
        e.rollback()
        self.assertEqual(e.get(b"k"), b"1")
        self.assertIsNone(e.get(b"j"))

    def test_reads_follow_writes_deletes_and_rollbacks(self):
        # (read before each change: the SQLite engine then answers from what it read)
        e = self.make_engine()
        e.write({b"k": b"1"})
        e.flush()
        self.assertEqual(e.get(b"k"), b"1")
        self.assertIsNone(e.get(b"new"))
        e.write({b"k": b"2", b"new": b"n"})
        self.assertEqual((e.get(b"k"), e.get(b"new")), (b"2", b"n"))
        e.flush()
        e.write({b"k": None})
        self.assertIsNone(e.get(b"k"))
        e.rollback()
        self.assertEqual((e.get(b"k"), e.get(b"new")), (b"2", b"n"))
        e.write({b"new": b"m"})
        self.assertEqual(e.get(b"new"), b"m")
        e.rollback()
        self.assertEqual(e.get(b"new"), b"n")

    def test_delete(self):
        e = self.make_engine()
        e.write({b"k": b"1", b"m": b"2"})
        e.write({b"k": None})
        e.flush()
        self.assertEqual(e.scan(b"", b""), [(b"m", b"2")])

    def test_big_groups_of_puts_replacements_and_deletes(self):
        # (sizes around the SQLite engine's rows per statement, and a remainder; groups
        # with deletes and without, as a received sync round)
        e = self.make_engine()
        model = {}
        for n, first, dels in ((99, 0, 7), (100, 50, 7), (257, 120, 7), (1000, 0, 7),
                               (257, 900, 0), (200, 2000, 0)):
            w = {b"k%05d" % i: b"v%d-%d" % (n, i) for i in range(first, first + n)}
            for i in range(first, first + n, dels) if dels else ():
                w[b"k%05d" % i] = None
            e.write(w)
            for k, v in w.items():
                if v is None:
                    model.pop(k, None)
                else:
                    model[k] = v
            self.assertEqual(e.scan(b"", b""), sorted(model.items()))
        e.flush()
        self.assertEqual(e.scan(b"", b""), sorted(model.items()))


class MemEngineTest(_EngineTests, unittest.TestCase):
    def make_engine(self):
        return MemEngine()


class SqliteEngineTest(_EngineTests, unittest.TestCase):
    def make_engine(self):
        d = tempdir(self, "sbtest-")
        e = SqliteEngine(d)
        self.addCleanup(e.close)
        return e

    def test_keys_and_values_are_blobs_read_back_as_bytes(self):
        # (write/get/get_many bind bytearrays, see SqliteEngine.write: stored as BLOBs,
        # found by bytes keys, read back as bytes; a key equal to a stored key's text
        # form is another key)
        e = self.make_engine()
        e.write({b"k\xfe\x00": b"\x00v\xff", b"t": b"text", b"gone": b"x"})
        e.write({b"gone": None})
        e.flush()
        self.assertEqual(e._db.execute("SELECT DISTINCT typeof(k), typeof(v) FROM kv")
                         .fetchall(), [("blob", "blob")])
        self.assertEqual(e.get(b"k\xfe\x00"), b"\x00v\xff")
        self.assertIs(type(e.get(b"t")), bytes)
        self.assertIsNone(e.get(b"gone"))
        self.assertEqual(e.get_many([b"t", b"gone", b"k\xfe\x00"]),
                         {b"t": b"text", b"k\xfe\x00": b"\x00v\xff"})
        self.assertIsNone(e._db.execute("SELECT v FROM kv WHERE k=?", ("t",)).fetchone())

    def test_repeated_reads_of_a_key_run_one_select(self):
        # what every Put relies on: it reads the same permission keys each time
        from syncbased.store import engine
        e = self.make_engine()
        e.write({b"d": b"db", b"big": b"x" * (engine.READ_CACHE_VALUE_MAX + 1)})
        e.flush()
        selects = []
        e._db.set_trace_callback(lambda sql: selects.append(sql) if "SELECT" in sql else None)
        for _ in range(3):
            self.assertEqual(e.get(b"d"), b"db")
            self.assertIsNone(e.get(b"absent"))
            self.assertEqual(len(e.get(b"big")), engine.READ_CACHE_VALUE_MAX + 1)
        self.assertEqual(len(selects), 2 + 3)       # (big values are read each time)
        for i in range(engine.READ_CACHE_ENTRIES):  # (bounded: a full cache starts over)
            e.get(b"other%d" % i)
        del selects[:]
        e.get(b"d")
        self.assertEqual(len(selects), 1)

    def _statements(self, e):
        sql = []
        e._db.set_trace_callback(sql.append)
        return sql

    def _committed(self, e):
        """What another connection reads: the committed state."""
        v = e.read_view()
        self.addCleanup(v.close)
        return dict(v._db.execute("SELECT k, v FROM kv").fetchall())

    def test_a_groups_only_small_write_commits_as_one_statement(self):
        # (a Put's group: its rows reach SQLite at flush, as one INSERT in autocommit)
        e = self.make_engine()
        sql = self._statements(e)
        e.write({b"v": b"1", b"r": b"x", b"l": b"log"})
        self.assertEqual(sql, [])
        self.assertEqual(self._committed(e), {})
        e.flush()
        self.assertEqual(len(sql), 1)
        self.assertTrue(sql[0].startswith("INSERT"), sql)
        self.assertFalse(e._db.in_transaction)
        self.assertEqual(self._committed(e), {b"v": b"1", b"r": b"x", b"l": b"log"})

    def test_an_unsent_write_is_read_and_joined_by_the_rest_of_its_group(self):
        e = self.make_engine()
        e.write({b"a": b"1"})
        e.flush()
        for first_use in ("get", "scan", "last", "get_many", "write"):
            e.write({b"a": b"2", b"b": first_use.encode()})
            if first_use == "get":
                self.assertEqual(e.get(b"b"), b"get")
            elif first_use == "scan":
                self.assertEqual(e.scan(b"", b""), [(b"a", b"2"), (b"b", b"scan")])
            elif first_use == "last":
                self.assertEqual(e.last(b"", b""), (b"b", b"last"))
            elif first_use == "get_many":
                self.assertEqual(e.get_many([b"a", b"b"]), {b"a": b"2", b"b": b"get_many"})
            else:
                e.write({b"c": b"3"})
            self.assertEqual(self._committed(e), {b"a": b"1"})   # (not committed yet)
            e.rollback()
            self.assertEqual(e.scan(b"", b""), [(b"a", b"1")])
        e.write({b"a": b"2"})
        e.write({b"c": b"3", b"a": None})
        e.flush()
        self.assertEqual(self._committed(e), {b"c": b"3"})

    def test_persists_after_reopen(self):
        e2 = SqliteEngine(self._existing())
        self.addCleanup(e2.close)
        self.assertEqual(e2.get(b"k"), b"v")

    def _existing(self):
        d = tempdir(self, "sbtest-")
        e = SqliteEngine(d)
        e.write({b"k": b"v"})
        e.flush()
        e.close()
        return d

    def _held(self):
        from syncbased.store import engine
        engine.hold_checks()
        self.addCleanup(engine.release_checks)
        return engine

    def test_held_checks_start_at_release(self):
        """While a daemon starts, opened stores' integrity checks wait for release."""
        d = self._existing()
        engine = self._held()
        e = SqliteEngine(d)
        self.addCleanup(e.close)
        self.assertFalse(e.wait_checked(0.2))
        engine.release_checks()
        self.assertTrue(e.wait_checked(30))
        self.assertIsNone(e.problem)
        e2 = SqliteEngine(d)          # (released: started at once again)
        self.addCleanup(e2.close)
        self.assertTrue(e2.wait_checked(30))

    def test_gated_use_of_a_held_store_starts_its_check(self):
        """An operation that must wait for a held check starts it (never waits forever)."""
        d = self._existing()
        self._held()
        e = SqliteEngine(d)
        self.addCleanup(e.close)
        e.gate()
        self.assertEqual(e.get(b"k"), b"v")
        self.assertTrue(e.wait_checked(0))

    def test_created_store_is_made_durable_after_start_up(self):
        """A store created with defer_sync while a daemon starts: no fsync until
        release; the first write after release waits for the file's, its WAL's and the
        two directories' fsyncs, then commits with the store's own ``synchronous``."""
        from syncbased.store import engine
        synced = []
        self.patch(engine, "_fsync", synced.append)
        root = tempdir(self, "sbtest-")
        d = os.path.join(root, "sqlite")
        self._held()
        e = SqliteEngine(d, synchronous="NORMAL", defer_sync=True)
        self.addCleanup(e.close)
        self.assertEqual(e._db.execute("PRAGMA synchronous").fetchone()[0], 0)   # OFF
        self.assertEqual(e._db.execute("PRAGMA journal_mode").fetchone()[0], "wal")
        e.write({b"s": b"start-up"})     # (while held: no wait)
        e.flush()
        self.assertEqual(synced, [])
        self.assertFalse(os.path.exists(e.path + "-journal"))
        engine.release_checks()
        e.write({b"k": b"v"})
        e.flush()
        self.assertEqual(synced, [e.path, e.path + "-wal", d, root])
        self.assertEqual(e._db.execute("PRAGMA synchronous").fetchone()[0], 1)   # NORMAL
        e.close()
        e2 = SqliteEngine(d, defer_sync=True)     # (not new: the default path, checked)
        self.addCleanup(e2.close)
        self.assertIsNone(e2._creating)
        self.assertTrue(e2.wait_checked(30))
        self.assertIsNone(e2.problem)
        self.assertEqual((e2.get(b"s"), e2.get(b"k")), (b"start-up", b"v"))

    def test_deferred_creation_makes_the_default_file(self):
        """The header a deferred creation writes (WAL mode, page size, schema) is the one
        the default path writes: only the file change counters may differ."""
        files = []
        for defer in (False, True):
            e = SqliteEngine(tempdir(self, "sbtest-"), defer_sync=defer)
            e.write({b"k": b"v"})
            e.flush()
            e.close()
            with open(e.path, "rb") as f:
                files.append(f.read())
        a, b = files
        self.assertEqual(len(a), len(b))
        self.assertEqual(a[:24], b[:24])
        self.assertEqual(a[28:92], b[28:92])
        self.assertEqual(a[100:], b[100:])

    def test_commits_leave_checkpoints_to_the_checkpointer(self):
        """A COMMIT never checkpoints the WAL (SQLite's default makes every few hundredth
        commit copy and fsync it); the checkpointer thread does, on its own connection,
        and what it moved into the database file reads back after a reopen."""
        import time
        from syncbased.store import engine
        self.patch(engine, "CHECKPOINT_COMMITS", 5)
        d = tempdir(self, "sbtest-")
        e = SqliteEngine(d)
        self.assertEqual(e._db.execute("PRAGMA wal_autocheckpoint").fetchone()[0], 0)
        for i in range(4):
            e.write({b"k%d" % i: b"v" * 3000})
            e.flush()
        self.assertEqual(e.checkpoints, 0)
        e.write({b"k4": b"v" * 3000})
        e.flush()                                     # the 5th commit asks for one
        end = time.monotonic() + 30
        while e.checkpoints < 1 and time.monotonic() < end:
            time.sleep(0.01)
        self.assertEqual(e.checkpoints, 1)
        e.close()
        self.assertFalse(e._ckpt_thread.is_alive())
        e2 = SqliteEngine(d)
        self.addCleanup(e2.close)
        self.assertEqual([e2.get(b"k%d" % i) for i in range(5)], [b"v" * 3000] * 5)

    def test_page_cache_holds_a_big_stores_working_set(self):
        """The store's connection gets CACHE_KIB of page cache, not SQLite's 2 MiB default
        (past ~100,000 rows, with the default, writes read pages back from the file), on a
        new store and on an existing one."""
        from syncbased.store import engine
        self.assertGreaterEqual(engine.CACHE_KIB, 32 * 1024)
        d = tempdir(self, "sbtest-")
        for _ in range(2):
            e = SqliteEngine(d, defer_sync=True)
            self.assertEqual(e._db.execute("PRAGMA cache_size").fetchone()[0], -engine.CACHE_KIB)
            e.write({b"k": b"v"})
            e.flush()
            e.close()

    def test_steady_commits_do_not_grow_the_wal_without_end(self):
        """A PASSIVE checkpoint beside a steady stream of commits never gets the whole WAL
        copied, so the WAL never starts over; past RESTART_FRAMES pages the writer
        copies the rest and truncates it (it grew to 690 MB in 30,000 commits)."""
        import time
        from syncbased.store import engine
        self.patch(engine, "CHECKPOINT_COMMITS", 5)
        self.patch(engine, "RESTART_FRAMES", 20)
        d = tempdir(self, "sbtest-")
        e = SqliteEngine(d)
        self.addCleanup(e.close)
        for i in range(3000):
            e.write({b"k%d" % i: b"v" * 3000})
            e.flush()
            if e.restarts >= 2:
                break
            time.sleep(0.001)      # (the checkpointer's turn)
        self.assertGreaterEqual(e.restarts, 2)
        self.assertLess(os.path.getsize(e.path + "-wal"), 200 * 4096)
        self.assertEqual(e.get(b"k0"), b"v" * 3000)

    def test_readonly_dir_is_a_clear_error(self):
        from v23py.testing import ObeyFilePermissions
        d = tempdir(self, "sbtest-")
        os.chmod(d, 0o500)
        self.addCleanup(os.chmod, d, 0o700)
        with ObeyFilePermissions():          # (root, as in CI, would write anyway)
            e = self.assertRaises(verror.VError, SqliteEngine, os.path.join(d, "sub"))
        self.assertIn(os.path.join(d, "sub"), str(e))
        self.assertFalse(os.path.exists(os.path.join(d, "sub")))


class StoreTest(unittest.TestCase):
    def setUp(self):
        self.st = Store(MemEngine(), clock=lambda: 1234)

    def test_managed_put_get_versions_and_log(self):
        st = self.st
        tx = st.transaction()
        ver = tx.put(b"r\xfecx\xfek1", b"value1")
        tx.put(b"d", b"meta")          # unmanaged: no version, no log
        tx.commit()
        st.flush()
        eng = st.engine
        self.assertEqual(eng.get(b"v\xfer\xfecx\xfek1"), ver)
        self.assertEqual(eng.get(b"r\xfecx\xfek1\xfe" + ver), b"value1")
        self.assertEqual(eng.get(b"d"), b"meta")
        self.assertEqual(st.get(b"r\xfecx\xfek1"), b"value1")
        log = st.read_log(0)
        self.assertEqual(log, [(0, LogEntry(PutOp(b"r\xfecx\xfek1", ver), 1234, False, False))])
        self.assertEqual(eng.get(log_key(0))[:1], b"\x01")

    def test_delete_keeps_old_version_and_logs(self):
        st = self.st
        ver = st.run_in_transaction(lambda tx: tx.put(b"r\xfek", b"v"))
        st.run_in_transaction(lambda tx: tx.delete(b"r\xfek"))
        self.assertIsNone(st.get(b"r\xfek"))
        self.assertEqual(st.engine.get(b"r\xfek\xfe" + ver), b"v")
        self.assertEqual([type(e.Op) for _, e in st.read_log(0)], [PutOp, DeleteOp])

    def test_continued_flags_and_reads_logged(self):
        st = self.st
        tx = st.transaction()
        tx.get(b"c\xfeperms")
        tx.put(b"r\xfea", b"1")
        tx.put(b"r\xfeb", b"2")
        tx.commit()
        entries = [e for _, e in st.read_log(0)]
        self.assertEqual([type(e.Op) for e in entries], [GetOp, PutOp, PutOp])
        self.assertEqual([e.Continued for e in entries], [True, True, False])
        self.assertEqual(st.log_seq, 3)

    def test_log_seq_survives_reload(self):
        d = tempdir(self, "sbtest-")
        st = Store(SqliteEngine(d))
        for i in range(3):
            st.run_in_transaction(lambda tx: tx.put(b"r\xfe%d" % i, b"x"))
        st.flush()
        st.close()
        st2 = Store(SqliteEngine(d))
        self.addCleanup(st2.close)
        self.assertEqual(st2.log_seq, 3)

    def test_snapshot_isolation(self):
        st = self.st
        st.run_in_transaction(lambda tx: [tx.put(b"r\xfe%03d" % i, b"old") for i in range(5)])
        sn = st.snapshot()
        st.run_in_transaction(lambda tx: (tx.put(b"r\xfe001", b"new"), tx.delete(b"r\xfe002"),
                                          tx.put(b"r\xfe009", b"added")))
        self.assertEqual(sn.get(b"r\xfe001"), b"old")
        self.assertEqual(sn.get(b"r\xfe002"), b"old")
        self.assertIsNone(sn.get(b"r\xfe009"))
        self.assertEqual([(k, v) for k, v in sn.scan_all(b"r\xfe", b"r\xff")],
                         [(b"r\xfe%03d" % i, b"old") for i in range(5)])
        now = st.snapshot()
        self.assertEqual([k for k, _ in now.scan_all(b"r\xfe", b"r\xff")],
                         [b"r\xfe000", b"r\xfe001", b"r\xfe003", b"r\xfe004", b"r\xfe009"])
        sn.abort()
        now.abort()

    def test_snapshot_scan_in_chunks_with_many_hidden(self):
        from syncbased.store import core
        st = self.st
        n = core.SCAN_CHUNK * 2 + 7
        st.run_in_transaction(lambda tx: [tx.raw_put(b"k%06d" % i, b"a") for i in range(n)])
        sn = st.snapshot()
        # Insert many keys after the snapshot: all hidden from it.
        st.run_in_transaction(lambda tx: [tx.raw_put(b"k%06d+" % i, b"b") for i in range(n)])
        got = list(sn.raw_scan_all(b"k", b"l"))
        self.assertEqual(len(got), n)
        self.assertTrue(all(v == b"a" for _, v in got))
        sn.abort()

    def test_conflict_on_read_key(self):
        st = self.st
        st.run_in_transaction(lambda tx: tx.put(b"r\xfek", b"0"))
        t1 = st.transaction()
        t2 = st.transaction()
        t1.get(b"r\xfek")
        t1.put(b"r\xfek", b"1")
        t2.get(b"r\xfek")
        t2.put(b"r\xfek", b"2")
        t1.commit()
        e = self.assertRaises(verror.VError, t2.commit)
        self.assertEqual(e.id, ConcurrentTransaction.id)
        self.assertEqual(st.get(b"r\xfek"), b"1")

    def test_conflict_on_scanned_range_and_blind_writes_ok(self):
        st = self.st
        t1 = st.transaction()
        list(t1.scan_all(b"r\xfea", b"r\xfez"))
        t2 = st.transaction()
        t2.put(b"r\xfem", b"x")          # blind write, no reads
        t3 = st.transaction()
        t3.put(b"r\xfem", b"y")
        t2.commit()
        t3.commit()                     # blind writes never conflict
        t1.put(b"r\xfeq", b"z")
        e = self.assertRaises(verror.VError, t1.commit)
        self.assertEqual(e.id, ConcurrentTransaction.id)

    def test_transaction_reads_its_own_writes_in_scans(self):
        st = self.st
        st.run_in_transaction(lambda tx: [tx.put(b"r\xfe" + k, b"s") for k in (b"a", b"c")])
        tx = st.transaction()
        tx.put(b"r\xfeb", b"t")
        tx.delete(b"r\xfec")
        self.assertEqual(list(tx.scan_all(b"r\xfe", b"r\xff")),
                         [(b"r\xfea", b"s"), (b"r\xfeb", b"t")])
        self.assertEqual(tx.get(b"r\xfeb"), b"t")
        self.assertIsNone(tx.get(b"r\xfec"))
        tx.abort()
        e = self.assertRaises(verror.VError, tx.get, b"r\xfea")
        self.assertEqual(e.id, verror.BadState.id)

    def test_listener_called_with_log_range(self):
        seen = []
        self.st.add_listener(lambda s, a, b: seen.append((a, b)))
        self.st.run_in_transaction(lambda tx: (tx.put(b"r\xfea", b"1"), tx.put(b"r\xfeb", b"1")))
        self.st.run_in_transaction(lambda tx: tx.raw_put(b"d", b"x"))   # no ops: no event
        self.assertEqual(seen, [(0, 2)])

    def test_a_watcher_reads_the_last_commit_from_memory(self):
        # (what a watcher woken by a commit reads -- its log entries and values -- comes
        # from the commit's writes; every other read, and all after a rollback, from the
        # engine; the answers are the same)
        class CountingEngine(MemEngine):
            def __init__(self):
                super().__init__()
                self.reads = 0

            def get(self, key):
                self.reads += 1
                return super().get(key)

            def scan(self, *a):
                self.reads += 1
                return super().scan(*a)

        st = Store(CountingEngine(), clock=lambda: 1)
        eng = st.engine
        v1 = st.run_in_transaction(lambda tx: tx.put(b"r\xfea", b"1"))
        st.flush()
        first = st.log_seq
        v2 = st.run_in_transaction(lambda tx: (tx.get(b"c\xfep"), tx.put(b"r\xfeb", b"2"))[1])
        st.flush()
        eng.reads = 0
        sn = st.snapshot()
        self.assertEqual(st.read_log(first), [(first, LogEntry(GetOp(b"c\xfep"), 1, False, True)),
                                              (first + 1, LogEntry(PutOp(b"r\xfeb", v2), 1,
                                                                   False, False))])
        self.assertEqual(sn.raw_get(b"r\xfeb\xfe" + v2), b"2")
        self.assertEqual(eng.reads, 0)
        self.assertEqual(sn.raw_get(b"r\xfea\xfe" + v1), b"1")     # (an older commit's)
        self.assertEqual(len(st.read_log(0)), 3)
        self.assertEqual(eng.reads, 2)
        sn.abort()
        # a commit rolled back is forgotten (its values are not the store's)
        st.run_in_transaction(lambda tx: tx.put(b"r\xfeb", b"3"))
        st.rollback()
        self.assertEqual(st.get(b"r\xfeb"), b"2")
        self.assertEqual(st.read_log(first + 2), [])

    def test_log_codec_roundtrip(self):
        for op in (GetOp(b"k"), ScanOp(b"a", b""), PutOp(b"k\xfe", b"1f"), DeleteOp(b"x"),
                   SyncgroupOp("gid", ("p1", "p2"), True), DbStateChangeRequestOp(1)):
            e = LogEntry(op, -5, True, False)
            self.assertEqual(decode_log_entry(encode_log_entry(e)), e)
        self.assertRaises(verror.VError, decode_log_entry, b"\x01\x03")

    def _engine_state(self, st):
        return list(st.engine.scan(b"", b""))

    def test_put_many_writes_what_puts_write(self):
        import random
        items = [(b"r\xfecx\xfek%d" % i, b"v%d" % i) for i in range(5)]
        items.insert(2, (b"d\xfemeta", b"m"))          # unmanaged: raw, no log entry
        states = []
        for many in (False, True):
            st = Store(MemEngine(), clock=lambda: 99)
            random.seed(7)
            tx = st.transaction()
            tx.get(b"c\xfeperms")                       # a GetOp before: flags continue
            if many:
                tx.put_many(items)
            else:
                for k, v in items:
                    tx.put(k, v)
            tx.commit()
            st.flush()
            states.append((self._engine_state(st), st.read_log(0), st.log_seq))
        self.assertEqual(states[0], states[1])
        self.assertEqual(states[1][2], 6)

    def test_commit_log_entries_are_encode_log_entry_bytes(self):
        for from_sync in (False, True):
            st = Store(MemEngine(), clock=lambda: -7)
            tx = st.transaction()
            tx.from_sync = from_sync
            tx.get(b"r\xfeg")
            tx.put_many([(b"r\xfea", b"1"), (b"r\xfeb", b"")])
            tx.delete(b"r\xfea")
            tx.put(b"r\xfec", b"\xff" * 300)
            tx.commit()
            entries = st.read_log(0)
            self.assertEqual([type(e.Op) for _, e in entries],
                             [GetOp, PutOp, PutOp, DeleteOp, PutOp])
            self.assertEqual([e.Continued for _, e in entries], [True] * 4 + [False])
            for seq, e in entries:
                self.assertEqual(e.FromSync, from_sync)
            # (one record: the commit's entries, encode_log_entry's bytes one after another)
            self.assertEqual(st.engine.scan(b"l\xfe", b"l\xff"),
                             [(log_key(0), b"".join(encode_log_entry(e) for _, e in entries))])

    def assertFullRecords(self, st, whole):
        """The store's log records hold the entries ``whole`` (read_log's (seq, entry)
        pairs) in order, each record keyed by its first entry's number and RECORD_BYTES
        at most with its key, as full as that allows within a commit (store format 6)."""
        from syncbased.store.core import RECORD_BYTES, parse_log_key
        rows = st.engine.scan(b"l\xfe", b"l\xff")
        recs = [decode_log_entries(v) for _, v in rows]
        self.assertEqual([e for r in recs for e in r], [e for _, e in whole])
        firsts = [parse_log_key(k) for k, _ in rows]
        self.assertEqual(firsts, [whole[0][0]] + [firsts[i] + len(r)
                                                  for i, r in enumerate(recs)][:-1])
        for i, (k, v) in enumerate(rows):
            if len(recs[i]) > 1:
                self.assertLessEqual(len(k) + len(v), RECORD_BYTES)
            if i + 1 < len(rows) and recs[i][-1].Continued:    # (a commit's next record)
                self.assertGreater(len(k) + len(v) + len(encode_log_entry(recs[i + 1][0])),
                                   RECORD_BYTES)

    def test_big_commit_log_records_hold_runs_of_entries(self):
        """A commit's entries go RECORD_BYTES to a record, keyed by the first's number;
        read_log starts anywhere, inside a record too, and log_seq survives a reopen."""
        d = tempdir(self, "sbtest-")
        st = Store(SqliteEngine(d), clock=lambda: 5)
        n = 603
        st.run_in_transaction(lambda tx: tx.put(b"r\xfefirst", b"x"))
        st.run_in_transaction(lambda tx: tx.put_many((b"r\xfe%05d" % i, b"v")
                                                     for i in range(n)))
        # (an entry longer than a record may be: alone)
        st.run_in_transaction(lambda tx: tx.put_many([(b"r\xfe" + b"L" * 1000, b"v"),
                                                      (b"r\xfeshort", b"v")]))
        st.flush()
        whole = st.read_log(0, 10 * n)
        self.assertEqual([s for s, _ in whole], list(range(n + 3)))
        self.assertEqual([e.Op.Key for _, e in whole][1:n + 1],
                         [b"r\xfe%05d" % i for i in range(n)])
        self.assertEqual([e.Continued for _, e in whole],
                         [False] + [True] * (n - 1) + [False, True, False])
        self.assertFullRecords(st, whole)
        sizes = [len(v) for _, v in st.engine.scan(b"l\xfe", b"l\xff")]
        self.assertGreater(len(sizes), 1 + n * 40 // 1000)
        self.assertGreater(sizes[-2], 1000)
        first_run = len(decode_log_entries(st.engine.scan(b"l\xfe", b"l\xff")[1][1]))
        for start in (1, 2, first_run, first_run + 1, first_run + 7, n, n + 1, n + 2):
            self.assertEqual(st.read_log(start, 10 * n), whole[start:])
        self.assertEqual(st.read_log(n + 3), [])
        # (whole records until max_entries: at least that many, never a partial record)
        self.assertEqual(st.read_log(0, 2), whole[:1 + first_run])
        self.assertEqual(st.read_log(5, 1), whole[5:1 + first_run])
        st.close()
        st2 = Store(SqliteEngine(d))
        self.addCleanup(st2.close)
        self.assertEqual(st2.log_seq, n + 3)
        st2.run_in_transaction(lambda tx: tx.put(b"r\xfelast", b"y"))
        self.assertEqual([e.Op.Key for _, e in st2.read_log(n + 2)], [b"r\xfeshort",
                                                                       b"r\xfelast"])

    def test_the_last_commits_records_are_read_from_it_whole(self):
        """read_log from the last commit's first entry reads its records as written (see
        Store._recent), every one of them."""
        st = Store(MemEngine(), clock=lambda: 5)
        st.run_in_transaction(lambda tx: tx.put(b"r\xfefirst", b"x"))
        keys = [b"r\xfe%02d" % i + b"k" * 100 for i in range(20)]
        st.run_in_transaction(lambda tx: tx.put_many((k, b"v") for k in keys))
        self.assertEqual(st._recent_first, 1)
        self.assertGreater(len(st.engine.scan(b"l\xfe", b"l\xff")), 3)
        self.assertEqual([(s, e.Op.Key) for s, e in st.read_log(1, 100)],
                         list(enumerate(keys, 1)))


class StoreFormatTest(unittest.TestCase):
    """The store's format marker, and stores written before it existed."""

    def _old_layout_store(self, d):
        """A store as the code before the marker wrote it: one log entry per record."""
        eng = SqliteEngine(d)
        entries = [LogEntry(PutOp(b"r\xfea", b"1"), 10, False, True),
                   LogEntry(PutOp(b"r\xfeb", b"2"), 10, False, False),
                   LogEntry(DeleteOp(b"r\xfea"), 11, True, False)]
        writes = {b"v\xfer\xfeb": b"2", b"r\xfea\xfe1": b"A", b"r\xfeb\xfe2": b"B"}
        for seq, e in enumerate(entries):
            writes[log_key(seq)] = encode_log_entry(e)
        eng.write(writes)
        eng.flush()
        eng.close()
        return entries

    def test_old_layout_store_opens_and_gets_the_marker(self):
        from syncbased.store.core import FORMAT_KEY, STORE_FORMAT
        d = tempdir(self, "sbfmt-")
        entries = self._old_layout_store(d)
        st = Store(SqliteEngine(d), clock=lambda: 20)
        self.addCleanup(st.close)
        self.assertEqual(st.log_seq, 3)
        self.assertEqual(st.read_log(0), list(enumerate(entries)))
        self.assertEqual(st.read_log(1), list(enumerate(entries))[1:])
        self.assertEqual(st.get(b"r\xfeb"), b"B")
        self.assertIsNone(st.engine.get(FORMAT_KEY))     # (nothing rewritten on open)
        st.run_in_transaction(lambda tx: tx.put_many([(b"r\xfec", b"C"), (b"r\xfed", b"D")]))
        st.flush()
        self.assertEqual(st.engine.get(FORMAT_KEY), STORE_FORMAT)
        self.assertEqual([(s, e.Op.Key, e.Continued) for s, e in st.read_log(2)],
                         [(2, b"r\xfea", False), (3, b"r\xfec", True), (4, b"r\xfed", False)])
        st.close()
        st2 = Store(SqliteEngine(d))
        self.addCleanup(st2.close)
        self.assertEqual(st2.log_seq, 5)
        self.assertEqual([e for _, e in st2.read_log(0)][:3], entries)

    def test_stores_of_formats_2_to_5_open_and_move_on(self):
        from syncbased.store.core import FORMAT_KEY, STORE_FORMAT
        for fmt in (b"2", b"3", b"4", b"5"):
            d = tempdir(self, "sbfmt-")
            eng = SqliteEngine(d)
            eng.write({FORMAT_KEY: fmt})
            eng.flush()
            st = Store(eng)
            self.addCleanup(st.close)
            st.run_in_transaction(lambda tx: tx.put(b"r\xfea", b"1"))
            self.assertEqual(eng.get(FORMAT_KEY), STORE_FORMAT)
        self.assertEqual(STORE_FORMAT, b"6")

    def test_store_of_another_format_is_refused(self):
        from syncbased.store.core import FORMAT_KEY
        d = tempdir(self, "sbfmt-")
        eng = SqliteEngine(d)
        eng.write({FORMAT_KEY: b"7", b"d": b"x"})
        eng.flush()
        e = self.assertRaises(verror.VError, Store, eng)
        self.assertIn("store format '7'", e.msg)
        self.assertIn("(up to '6')", e.msg)
        eng.close()


class StoreSyncSettingTest(unittest.TestCase):
    """The daemon's SQLite stores skip the per-commit fsync as Go's leveldb does, unless
    V23PY_STORE_SYNC=full."""

    def _synchronous(self):
        from syncbased.store import open_engine
        e = open_engine("sqlite", tempdir(self, "sbsync-"))
        self.addCleanup(e.close)
        return e._db.execute("PRAGMA synchronous").fetchone()[0]

    def test_default_is_normal_and_full_on_request(self):
        self.patch(os, "environ", {k: v for k, v in os.environ.items()
                                   if k != "V23PY_STORE_SYNC"})
        self.assertEqual(self._synchronous(), 1)       # NORMAL
        os.environ["V23PY_STORE_SYNC"] = "full"
        self.assertEqual(self._synchronous(), 2)       # FULL


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["put", "del"]),
                          st.binary(min_size=0, max_size=3), st.binary(max_size=4)),
                max_size=40))
def _model_check(ops):
    s = Store(MemEngine())
    model = {}
    sn = s.snapshot()
    for op, k, v in ops:
        key = b"r\xfe" + k
        if op == "put":
            s.run_in_transaction(lambda tx: tx.put(key, v))
            model[key] = v
        else:
            s.run_in_transaction(lambda tx: tx.delete(key))
            model.pop(key, None)
    got = list(s.snapshot().scan_all(b"r\xfe", b"r\xff"))
    assert got == sorted(model.items()), (got, model)
    assert list(sn.scan_all(b"r\xfe", b"r\xff")) == []


class StoreModelTest(unittest.TestCase):
    def test_matches_dict_model(self):
        _model_check()


class WorkerFailureTest(unittest.TestCase):
    """A failing flush (disk full, I/O error) fails the whole group; nothing half-done stays."""

    def test_flush_failure_fails_group_and_recovers(self):
        from twisted.internet import defer, reactor
        from syncbased.worker import StoreWorker

        class FlakyEngine(MemEngine):
            fail = False

            def flush(self):
                if self.fail:
                    raise verror.Internal.new("store commit failed: database or disk is full")
                super().flush()

        eng = FlakyEngine()
        st = Store(eng)
        w = StoreWorker(st.flush, st.rollback, reactor)
        self.addCleanup(w.stop)

        def put(k):
            return st.run_in_transaction(lambda tx: tx.put(b"r\xfe" + k, b"v"))

        @defer.inlineCallbacks
        def go():
            yield w.call(put, b"a")
            eng.fail = True
            results = yield defer.DeferredList([w.call(put, b"b"), w.call(put, b"c")],
                                               consumeErrors=True)
            self.assertTrue(all(not ok for ok, _ in results))
            self.assertIn("disk is full", results[0][1].getErrorMessage())
            eng.fail = False
            yield w.call(put, b"d")
            keys = yield w.call(lambda: [k for k, _ in st.snapshot().scan_all(b"r\xfe", b"r\xff")])
            self.assertEqual(keys, [b"r\xfea", b"r\xfed"])
            self.assertEqual(st.log_seq, 2)
        return go()
