"""B7: a damaged store is an error on every access and in the log, never a short read.

A real syncbased holds alice's rows; between two runs its database file is damaged:
an interior page of the key table loses most of its cells (SQLite then scans a fraction
of the rows without a word: the issue saw 341 of 53,677), the file is emptied, or it is
deleted.  Restarted, the daemon comes up at once (the integrity check runs in the
background; the first use waits for it), says what is wrong on stderr, and every access
to that database fails with that reason; the service and other databases keep working;
the broken database can be destroyed and made again.
"""
import glob
import os
import sqlite3
import struct

from twisted.internet import defer, reactor
from twisted.trial import unittest

import v23py
from v23py import verror
from v23py.testing.syncbase import ALICE, Daemon, make_creds
from v23py.testing import tempdir

ROWS = 600
VALUE = "x" * 1500       # (big rows: many pages, so the key table has interior pages)


def _store_file(root, db_name):
    (f,) = glob.glob(os.path.join(root, "apps", "*", "dbs", db_name + "-*", "sqlite",
                                  "store.sqlite"))
    return f


def _cut_an_interior_page(path):
    """Leave one interior page of the key table with a single cell: SQLite's scans then
    skip every row below the others, and report nothing."""
    db = sqlite3.connect(path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    with open(path, "r+b") as f:
        data = f.read()
        ps = struct.unpack(">H", data[16:18])[0]
        ps = 65536 if ps == 1 else ps
        best = None
        for page in range(2, len(data) // ps + 1):
            off = (page - 1) * ps
            if data[off] == 0x02:       # an interior page of an index b-tree (WITHOUT ROWID)
                n = struct.unpack(">H", data[off + 3:off + 5])[0]
                if best is None or n > best[1]:
                    best = (off, n)
        assert best is not None and best[1] > 4, "no interior page to damage"
        f.seek(best[0] + 3)
        f.write(struct.pack(">H", 1))
    return best[1]


class StoreDamageTest(unittest.TestCase):
    timeout = 180

    def setUp(self):
        self.tmp = tempdir(self, prefix="sec-b7-")
        self.creds = make_creds(os.path.join(self.tmp, "alice"), ALICE)
        self.root = os.path.join(self.tmp, "root")
        ctx, stop = v23py.init([f"--v23.credentials={self.creds}"], reactor=reactor)
        self.addCleanup(stop)
        self.ctx = ctx

    async def start(self):
        d = Daemon(self.creds, root_dir=self.root)
        self.addCleanup(d.stop)
        return await d.start()

    def stderr(self, d):
        d.stderr.seek(0)
        return d.stderr.read().decode(errors="replace")

    async def fill(self, d):
        from v23py import syncbase
        for name in ("db", "other"):
            db = syncbase.new_service(d.endpoint).database(self.ctx, name, None)
            await db.create(self.ctx, None)
            cx = db.collection(self.ctx, "cx")
            await cx.create(self.ctx, None)
            n = ROWS if name == "db" else 3
            batch = await db.begin_batch(self.ctx)
            bcx = batch.collection_for_id(cx.id())
            for i in range(n):
                await bcx.put(self.ctx, "%06d" % i, VALUE)
            await batch.commit(self.ctx)

    async def scan(self, d, name="db"):
        from v23py import syncbase
        cx = syncbase.new_service(d.endpoint).database(self.ctx, name, None).collection(
            self.ctx, "cx")
        return [k async for k, _ in cx.scan(self.ctx, syncbase.Prefix(""))]

    async def damaged_run(self, damage, reason):
        from v23py import syncbase
        d = await self.start()
        await self.fill(d)
        self.assertEqual(len(await self.scan(d)), ROWS)
        d.stop()
        damage(_store_file(self.root, "db"))
        d = await self.start()
        db = syncbase.new_service(d.endpoint).database(self.ctx, "db", None)
        cx = db.collection(self.ctx, "cx")
        calls = {"scan": lambda: self.scan(d), "get": lambda: cx.get(self.ctx, "000001"),
                 "put": lambda: cx.put(self.ctx, "new", "v"),
                 "exists": lambda: db.exists(self.ctx)}
        for what, call in calls.items():
            for _ in range(2):
                try:
                    got = await call()
                except verror.VError as e:
                    if e.id != verror.Internal.id:   # (then show what the daemon was doing)
                        self.fail(f"{what}: {e}\n{d.report()}")
                    self.assertIn(reason, str(e), what)
                else:
                    self.fail(f"{what} answered from a damaged store: {str(got)[:200]}")
        # the rest of the daemon works
        self.assertEqual(len(await self.scan(d, "other")), 3)
        self.assertIn(reason, self.stderr(d))
        # the damaged database can be destroyed and made again
        ids = await syncbase.new_service(d.endpoint).list_databases(self.ctx)
        self.assertIn(("idp:o:fortune", "db"), [(i.Blessing, i.Name) for i in ids])
        await db.destroy(self.ctx)
        await db.create(self.ctx, None)
        await cx.create(self.ctx, None)
        self.assertEqual(await self.scan(d), [])
        return d

    @defer.inlineCallbacks
    def test_corrupt_pages_fail_every_read(self):
        yield defer.ensureDeferred(self.damaged_run(_cut_an_interior_page, "is corrupt"))

    @defer.inlineCallbacks
    def test_emptied_store_is_not_a_missing_database(self):
        def empty(path):
            for ext in ("", "-wal", "-shm"):
                if os.path.exists(path + ext):
                    open(path + ext, "wb").close()
        yield defer.ensureDeferred(self.damaged_run(empty, "is empty"))

    @defer.inlineCallbacks
    def test_deleted_store_is_not_a_missing_database(self):
        def delete(path):
            for ext in ("", "-wal", "-shm"):
                if os.path.exists(path + ext):
                    os.remove(path + ext)
        yield defer.ensureDeferred(self.damaged_run(delete, "is missing"))

    def test_the_cut_page_reads_short_without_an_error_in_sqlite(self):
        # what the test above relies on: SQLite itself scans short and says nothing
        path = os.path.join(self.tmp, "plain.sqlite")
        db = sqlite3.connect(path)
        db.execute("CREATE TABLE kv (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID")
        db.executemany("INSERT INTO kv VALUES (?, ?)",
                       [(b"%06d" % i, VALUE.encode()) for i in range(ROWS)])
        db.commit()
        db.close()
        _cut_an_interior_page(path)
        db = sqlite3.connect(path)
        n = len(db.execute("SELECT k FROM kv ORDER BY k").fetchall())
        self.assertLess(n, ROWS)
        self.assertNotEqual(db.execute("PRAGMA quick_check").fetchall(), [("ok",)])
        db.close()
