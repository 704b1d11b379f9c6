"""Ordered byte-key engines: SQLite (durable) and memory (tests, ``--engine=memstore``).

An engine is a flat map from ``bytes`` keys to ``bytes`` values ordered by
unsigned byte comparison (leveldb's order).  Writes go into an open *group*
(``write``) and become durable together on ``flush``; ``rollback`` discards the
unflushed group.  Reads see unflushed writes (one connection, one thread).

Engines are not thread-safe: the daemon touches them from one dedicated
thread only (see ``syncbased.worker``).
"""
from __future__ import annotations

import bisect
import itertools
import logging
import os
import sqlite3
import threading

from v23py import verror

log = logging.getLogger(__name__)

_SCHEMA = "CREATE TABLE IF NOT EXISTS kv (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID"


# SQLite's page cache per connection, KiB.  Its default (2 MiB) stops holding the
# B-tree's working set at ~100,000 rows: past that writes read pages back from the file
# (a pread each) and a joiner's CPU per synced row grew with the store.  In-process
# apply of 300,000 rows (benchmarks/sync_apply_bench.py's loop, per 30,000 records):
# 2 MiB 62-68 us a record up to 60,000, 80-117 past 120,000 (88.6 on average); 64 MiB
# 70-73, then 72-88 (76.7; same load).  Pages are allocated as used: a small store
# costs what it did.
CACHE_KIB = 64 * 1024

_PUT_ONE = "INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)"
# SqliteEngine's cache of what get() read: at most this many keys, values this big at most
READ_CACHE_ENTRIES = 64
READ_CACHE_VALUE_MAX = 4096
# rows per INSERT of a big write group (2 parameters each, well inside SQLite's limit
# of 999 parameters of a statement before 3.32)
_MULTI_ROWS = 100
_PUT_MULTI = "INSERT OR REPLACE INTO kv (k, v) VALUES " + ",".join(["(?, ?)"] * _MULTI_ROWS)
# A group whose one write puts at most this many rows (a Put: version pointer, value, log
# record) keeps it unsent, for flush to write by one INSERT of them all (SqliteEngine.write)
LONE_ROWS = 8
_PUT_LONE = [None] + ["INSERT OR REPLACE INTO kv (k, v) VALUES " + ",".join(["(?, ?)"] * n)
                      for n in range(1, LONE_ROWS + 1)]


def _as_verror(exc: Exception, what: str) -> verror.VError:
    return verror.Internal.new(f"store {what} failed: {exc}")


class MemEngine:
    """Sorted in-memory engine; ``flush`` is a no-op (nothing survives a restart)."""

    name = "memstore"
    problem = None
    was_missing = was_empty = False

    def gate(self) -> None:
        pass

    def wait_checked(self, timeout=None) -> bool:
        return True

    def checked(self) -> bool:
        return True

    def __init__(self, path: str | None = None):
        self._keys: list[bytes] = []
        self._data: dict[bytes, bytes] = {}
        self._undo: dict[bytes, bytes | None] | None = None

    def get(self, key: bytes):
        return self._data.get(key)

    def get_many(self, keys) -> dict:
        """{key: value} for those of ``keys`` that exist (one lookup pass; used by sync)."""
        data = self._data
        return {k: data[k] for k in keys if k in data}

    def scan(self, start: bytes, limit: bytes, max_items: int | None = None):
        keys = self._keys
        i = bisect.bisect_left(keys, start)
        j = len(keys) if limit == b"" else bisect.bisect_left(keys, limit)
        if max_items is not None and j - i > max_items:
            j = i + max_items
        data = self._data
        return [(k, data[k]) for k in keys[i:j]]

    def scan_versioned(self, vstart: bytes, vlimit: bytes, max_items: int):
        """Version pointers ``v\\xfe<key> -> ver`` in ``[vstart, vlimit)``, resolved:
        ``[(<key>, value of <key>\\xfe<ver>)]`` (see SqliteEngine.scan_versioned)."""
        data = self._data
        out = []
        for vk, ver in self.scan(vstart, vlimit, max_items):
            k = vk[2:]
            out.append((k, data.get(k + b"\xfe" + ver)))
        return out

    def last(self, start: bytes, limit: bytes):
        keys = self._keys
        j = len(keys) if limit == b"" else bisect.bisect_left(keys, limit)
        if j > 0 and keys[j - 1] >= start:
            k = keys[j - 1]
            return k, self._data[k]
        return None

    def write(self, writes: dict) -> None:
        if self._undo is None:
            self._undo = {}
        undo = self._undo
        for k, v in writes.items():
            if k not in undo:
                undo[k] = self._data.get(k)
            self._set(k, v)

    def _set(self, k, v):
        if v is None:
            if k in self._data:
                del self._data[k]
                i = bisect.bisect_left(self._keys, k)
                del self._keys[i]
        else:
            if k not in self._data:
                bisect.insort(self._keys, k)
            self._data[k] = bytes(v)

    def flush(self) -> None:
        self._undo = None

    def rollback(self) -> None:
        undo, self._undo = self._undo, None
        for k, v in (undo or {}).items():
            self._set(k, v)

    def close(self) -> None:
        pass

    def read_view(self):
        """No second view of memory: reads stay on the store thread."""
        return None


# Work held back while a daemon starts (see hold_checks): None when not held, else the
# functions that start it (integrity checks, CreationSync fsyncs).
_held: list | None = None
_held_lock = threading.Lock()


def hold_checks() -> None:
    """Engines opened from now start their integrity checks only at release_checks() (or
    when an operation first has to wait for one).  syncbased holds them while it starts,
    so that a check reading a large file (~0.5 s of CPU per 1,000,000 rows) does not take
    the core that start-up needs before the ENDPOINT= line.  The fsyncs of files created
    meanwhile (CreationSync) wait for the release as well."""
    global _held
    with _held_lock:
        if _held is None:
            _held = []


def release_checks() -> None:
    """Start the work held since hold_checks(); later engines start theirs at once."""
    global _held
    with _held_lock:
        held, _held = _held or [], None
    for start in held:
        start()


def _start_when_released(start) -> None:
    """``start()`` now, or at release_checks() while a daemon's start-up holds work."""
    with _held_lock:
        if _held is not None:
            _held.append(start)
            return
    start()


def fresh_wal_db(db) -> None:
    """Put a just-created (empty) SQLite file in WAL mode with no fsync and no journal
    file: ``synchronous=OFF``, and the page-1 write that records WAL mode journaled in
    memory.  The file's header and schema are the ones the default path writes (that path
    fsyncs a rollback journal, its directory and the file: four waits for the disk, then
    two more for the new WAL and its directory).  The caller's CreationSync makes it durable later,
    and sets the connection's ``synchronous`` once that is done."""
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA journal_mode=MEMORY").fetchall()
    db.execute("PRAGMA journal_mode=WAL").fetchall()


def _fsync(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class CreationSync:
    """The fsyncs that make a freshly created SQLite store durable (its file, its WAL, their
    directory and that directory's parent), made on a thread of their own once start-up
    is over (at once when nothing is held, else at release_checks()).

    Why this may wait: the files are created on a fresh root, before the ENDPOINT= line,
    holding nothing a user wrote; the owner's first write after start-up waits for
    ``wait()`` (and only then switches its connection to its real ``synchronous``), so
    no commit a user could have made precedes these fsyncs.  A machine crash before they
    are done leaves the file missing, empty, or without its last (start-up) frames, each
    of which the next start treats as a fresh store (its schema made again)."""

    def __init__(self, files, dirs):
        self.files, self.dirs = list(files), list(dirs)
        self.done = threading.Event()
        self.started = False
        _start_when_released(self.start)

    def start(self) -> None:
        with _held_lock:
            if self.started:
                return
            self.started = True
        threading.Thread(target=self._run, name="store-create-sync", daemon=True).start()

    def _run(self) -> None:
        try:
            for p in self.files + self.dirs:
                _fsync(p)
        except OSError as e:
            log.warning("fsync of the new store %s: %s", self.files[0], e)
        finally:
            self.done.set()

    def wait(self) -> None:
        """Until the fsyncs are done (starting them if still held)."""
        self.start()
        self.done.wait()


CHECKPOINT_COMMITS = 200     # commits (or rows written) after which the WAL is
CHECKPOINT_ROWS = 20_000     # checkpointed, on the checkpointer thread
RESTART_FRAMES = 4_000       # WAL pages (~16 MB) past which the writer resets it
RESET_WAL_BYTES = 64 << 20   # a WAL file this large is reset by the writer regardless


class SqliteEngine:
    """One SQLite file, WAL journal: a flush commits (durable as ``store_sync()`` says:
    through a daemon crash by default, through a machine crash with ``FULL``).

    Keys are BLOBs in a ``WITHOUT ROWID`` table, so SQLite's memcmp ordering is
    exactly leveldb's."""

    name = "sqlite"

    def __init__(self, path: str, synchronous: str = "FULL", check: bool = True,
                 defer_sync: bool = False):
        try:
            os.makedirs(path, exist_ok=True)
        except OSError as e:
            raise _as_verror(e.strerror or e, f"creation of {path}") from None
        self.path = os.path.join(path, "store.sqlite")
        # (what the file was before we opened it: a store that should exist but is
        # missing or empty is for the caller to report, see syncbased.service)
        self.was_missing = not os.path.exists(self.path)
        self.was_empty = not self.was_missing and os.path.getsize(self.path) == 0
        self.problem = None          # a VError once the file is known to be damaged
        self._ok = False             # checked and fine: the fast path of every operation
        self._gating = False         # operations wait for the check (see gate())
        self._checked = threading.Event()
        self._synchronous = synchronous
        # (a store created here with defer_sync: its fsyncs, until the first write after
        # start-up has waited for them; see CreationSync)
        self._creating: CreationSync | None = None
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None,
                                       check_same_thread=False)
            if defer_sync and self.was_missing:
                fresh_wal_db(self._db)
                d = os.path.dirname(self.path)
                self._creating = CreationSync([self.path, self.path + "-wal"],
                                              [d, os.path.dirname(d) or "."])
            else:
                self._db.execute("PRAGMA journal_mode=WAL").fetchall()
                self._db.execute(f"PRAGMA synchronous={synchronous}")
            # (checkpoints run on a connection of their own, see _checkpoint_loop)
            self._db.execute("PRAGMA wal_autocheckpoint=0")
            self._db.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
            self._db.execute(_SCHEMA)
        except sqlite3.Error as e:
            raise _as_verror(e, f"open of {self.path}") from None
        self._in_tx = False
        # Odd from a write group's first write until it is committed or rolled back, even
        # otherwise: unchanged and even over a while, nothing was committed in it (what
        # SqliteReadView relies on to keep what it read)
        self.state_version = 0
        # A group's first write, not yet sent to SQLite while it may stay the group's only
        # one: its keys and values, one flat list of bytearrays (see write())
        self._lone = None
        # The last values get() read, kept up to date by write() and dropped by rollback():
        # every Put reads the same few keys (the database's and its collection's
        # permissions) before it writes, and a SELECT costs more than the rest of a read.
        self._reads: dict = {}
        self._commits = self._rows = 0   # since the last checkpoint was asked for
        self._ckpt_wake = None           # the checkpointer's Event, once it runs
        self._ckpt_thread = None
        self._ckpt_stop = False
        self.checkpoints = 0             # checkpoints done (by the checkpointer)
        self.restarts = 0                # WAL resets (by the writer, see flush)
        self._restart_wanted = False
        self._check_started = True
        if check and not self.was_missing and not self.was_empty:
            # The integrity check reads the whole file (~10 ms per 7 MB warm, more
            # cold): in the background, so start-up does not wait; the first use of
            # the store after start-up waits for its verdict (gate()).
            self._check_started = False
            _start_when_released(self._start_check)
        else:
            self._ok = True
            self._checked.set()

    def _start_check(self) -> None:
        with _held_lock:
            if self._check_started:
                return
            self._check_started = True
        threading.Thread(target=self._check, name="store-check " + self.path,
                         daemon=True).start()

    # -- integrity ---------------------------------------------------------------------
    def _check(self):
        try:
            db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True,
                                 check_same_thread=False)
            try:
                rows = db.execute("PRAGMA quick_check").fetchall()
            finally:
                db.close()
            if rows != [("ok",)]:
                self._damaged("; ".join(str(r[0]) for r in rows[:3]).replace("\n", " "))
        except sqlite3.Error as e:
            self._damaged(str(e))
        except Exception as e:   # (a bug here must not leave first use waiting forever)
            log.exception("integrity check of %s failed", self.path)
            self._damaged(f"{type(e).__name__}: {e}")
        finally:
            if self.problem is None:
                self._ok = True
            self._checked.set()

    def _damaged(self, detail: str) -> verror.VError:
        """Mark the store damaged (once, logged); every operation raises this from now."""
        if self.problem is None:
            self.problem = verror.Internal.new(
                f"store {self.path} is corrupt ({detail[:300]}): its data cannot be "
                "trusted; restore the file from a backup or destroy the database")
            self._ok = False
            log.error("%s", self.problem.msg)
        return self.problem

    def gate(self) -> None:
        """From now on operations wait for the integrity check and fail if it failed
        (the daemon calls this once it has opened its stores)."""
        self._gating = True

    def wait_checked(self, timeout=None) -> bool:
        return self._checked.wait(timeout)

    def checked(self) -> bool:
        """The integrity verdict is in (no operation waits for it any more)."""
        return self._checked.is_set()

    def _verdict(self):
        if self._gating:
            self._start_check()        # (held: this operation cannot wait for release)
            self._checked.wait()
        if self.problem is not None:
            raise self.problem

    def _failed(self, e: sqlite3.Error, what: str) -> verror.VError:
        if isinstance(e, sqlite3.DatabaseError) and not isinstance(
                e, (sqlite3.OperationalError, sqlite3.IntegrityError)):
            return self._damaged(str(e))       # "database disk image is malformed", ...
        return _as_verror(e, what)

    def get(self, key: bytes):
        if not self._ok:
            self._verdict()
        reads = self._reads
        if key in reads:
            return reads[key]
        if self._lone is not None:
            self._send_lone()
        try:
            row = self._db.execute("SELECT v FROM kv WHERE k=?",
                                   (bytearray(key),)).fetchone()   # (see write())
        except sqlite3.Error as e:
            raise self._failed(e, "read") from None
        v = None if row is None else row[0]
        if key.__class__ is bytes and (v is None or len(v) <= READ_CACHE_VALUE_MAX):
            if len(reads) >= READ_CACHE_ENTRIES:
                reads.clear()
            reads[key] = v
        return v

    def get_many(self, keys) -> dict:
        """{key: value} for those of ``keys`` that exist: one query per 500 keys
        instead of one per key (used by sync for a round's heads and values)."""
        if not self._ok:
            self._verdict()
        if self._lone is not None:
            self._send_lone()
        keys = list(keys)
        out = {}
        try:
            for i in range(0, len(keys), 500):
                part = [bytearray(k) for k in keys[i:i + 500]]   # (see write())
                sql = "SELECT k, v FROM kv WHERE k IN (%s)" % ",".join("?" * len(part))
                out.update(self._db.execute(sql, part).fetchall())
        except sqlite3.Error as e:
            raise self._failed(e, "read") from None
        return out

    def scan(self, start: bytes, limit: bytes, max_items: int | None = None):
        if not self._ok:
            self._verdict()
        if self._lone is not None:
            self._send_lone()
        if limit == b"":
            sql, args = "SELECT k, v FROM kv WHERE k>=? ORDER BY k", [start]
        else:
            sql, args = "SELECT k, v FROM kv WHERE k>=? AND k<? ORDER BY k", [start, limit]
        if max_items is not None:
            sql += " LIMIT ?"
            args.append(max_items)
        try:
            return self._db.execute(sql, args).fetchall()
        except sqlite3.Error as e:
            raise self._failed(e, "read") from None

    def scan_versioned(self, vstart: bytes, vlimit: bytes, max_items: int):
        """Version pointers ``v\\xfe<key> -> ver`` in ``[vstart, vlimit)`` (``vlimit``
        not empty), resolved in the same statement: ``[(<key>, value of
        <key>\\xfe<ver>)]`` (value None if missing), at most ``max_items``."""
        if not self._ok:
            self._verdict()
        if self._lone is not None:
            self._send_lone()
        try:
            return self._db.execute(_SCAN_VERSIONED, (vstart, vlimit, max_items)).fetchall()
        except sqlite3.Error as e:
            raise self._failed(e, "read") from None

    def last(self, start: bytes, limit: bytes):
        if not self._ok:
            self._verdict()
        if self._lone is not None:
            self._send_lone()
        try:
            if limit == b"":
                row = self._db.execute(
                    "SELECT k, v FROM kv WHERE k>=? ORDER BY k DESC LIMIT 1",
                    (start,)).fetchone()
            else:
                row = self._db.execute(
                    "SELECT k, v FROM kv WHERE k>=? AND k<? ORDER BY k DESC LIMIT 1",
                    (start, limit)).fetchone()
        except sqlite3.Error as e:
            raise self._failed(e, "read") from None
        return None if row is None else (row[0], row[1])

    def write(self, writes: dict) -> None:
        """Add ``writes`` ({key: value, or None to delete}) to the open group.

        A group's first write of a few rows and no deletes (a Put) is kept unsent: if it
        stays the group's only write, flush() commits it as ONE statement in autocommit,
        instead of BEGIN IMMEDIATE, the INSERTs and COMMIT (~14k instructions less per Put
        of SQLite and sqlite3-module work; the same one atomic, equally durable commit).
        Anything else the connection is asked first sends it inside a transaction as
        before (so reads see it, and later writes join its group)."""
        if not self._ok:
            self._verdict()
        if self._lone is not None:
            self._send_lone()
        try:
            if not self._in_tx:
                if self._creating is not None and self._creating.started:
                    self._created_durable()
                if not self.state_version & 1:
                    self.state_version += 1
                if len(writes) <= LONE_ROWS and None not in writes.values():
                    ba = bytearray
                    self._lone = list(map(ba, itertools.chain.from_iterable(writes.items())))
                    self._rows += len(writes)
                    self._note_written(writes)
                    return
                self._db.execute("BEGIN IMMEDIATE")
                self._in_tx = True
            # (bound as bytearrays: the sqlite3 module binds exact bytearray at once, but
            # tries adaptation on bytes -- a failed ``__conform__`` lookup that formats an
            # AttributeError per parameter, ~0.5 us, more than the copy; stored the same)
            ba = bytearray
            db = self._db
            if len(writes) < _MULTI_ROWS:
                puts = [(ba(k), ba(v)) for k, v in writes.items() if v is not None]
                dels = [(ba(k),) for k, v in writes.items() if v is None] \
                    if len(puts) != len(writes) else None
                n = len(puts)
                if puts:
                    db.executemany(_PUT_ONE, puts)
            else:
                # A big group (a received sync round, PutRows): _MULTI_ROWS rows per
                # statement, their parameters in one flat list -- a third less SQLite
                # and sqlite3-module work per row than a statement per row; the few
                # left over, one statement each
                dels = None
                if None not in writes.values():
                    # (no deletes, as in a received round: keys and values in one C loop)
                    flat = list(map(ba, itertools.chain.from_iterable(writes.items())))
                else:
                    flat = []
                    add = flat.append
                    for k, v in writes.items():
                        if v is not None:
                            add(ba(k))
                            add(ba(v))
                        elif dels is None:
                            dels = [(ba(k),)]
                        else:
                            dels.append((ba(k),))
                n = len(flat) >> 1
                full = n - n % _MULTI_ROWS
                if full:
                    step = 2 * _MULTI_ROWS
                    db.executemany(_PUT_MULTI, [flat[i:i + step]
                                                for i in range(0, 2 * full, step)])
                if full < n:
                    rest = flat[2 * full:]
                    db.executemany(_PUT_ONE, [rest[i:i + 2]
                                              for i in range(0, len(rest), 2)])
            self._rows += n
            if dels:
                db.executemany("DELETE FROM kv WHERE k=?", dels)
        except sqlite3.Error as e:
            self._reads.clear()
            raise self._failed(e, "write") from None
        self._note_written(writes)

    def _note_written(self, writes: dict) -> None:
        """Keep what get() read up to date with ``writes``."""
        reads = self._reads
        if reads:
            for k in reads.keys() & writes.keys():
                v = writes[k]
                reads[k] = None if v is None else bytes(v)

    def _send_lone(self) -> None:
        """Send the unsent write inside a transaction (the group goes on as any other).
        Should that fail, it stays unsent (for the group's flush to commit or fail)."""
        lone = self._lone
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany(_PUT_ONE, [lone[i:i + 2] for i in range(0, len(lone), 2)])
            except sqlite3.Error:
                try:
                    db.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
                raise
        except sqlite3.Error as e:
            raise self._failed(e, "write") from None
        self._lone = None
        self._in_tx = True

    def _created_durable(self) -> None:
        """(a write once start-up is over) Wait for the new file's fsyncs, then commit with
        the store's own ``synchronous`` from now on."""
        self._creating.wait()
        self._db.execute(f"PRAGMA synchronous={self._synchronous}")
        self._creating = None

    def flush(self) -> None:
        lone = self._lone
        if lone is not None:
            # (the group's only write: one statement, its own transaction)
            try:
                self._db.execute(_PUT_LONE[len(lone) >> 1], lone)
            except sqlite3.Error as e:
                raise _as_verror(e, "commit") from None
            self._lone = None
        elif not self._in_tx:
            return
        else:
            try:
                self._db.execute("COMMIT")
            except sqlite3.Error as e:
                raise _as_verror(e, "commit") from None
            finally:
                if not self._db.in_transaction:
                    self._in_tx = False
        self.state_version += 1     # (committed; a failed commit's rollback does this)
        self._commits += 1
        if self._restart_wanted:
            # (the checkpointer copied most of the WAL already: copy the rest, as the
            # writer, and truncate the WAL; SQLite's default did a whole copy here
            # every 1,000 pages)
            self._restart_wanted = False
            try:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
                self.restarts += 1
            except sqlite3.Error as e:
                log.debug("WAL reset of %s: %s", self.path, e)
        if self._commits >= CHECKPOINT_COMMITS or self._rows >= CHECKPOINT_ROWS:
            self._commits = self._rows = 0
            try:      # (a backstop, should the checkpointer fall behind)
                if os.path.getsize(self.path + "-wal") >= RESET_WAL_BYTES:
                    self._restart_wanted = True
            except OSError:
                pass
            self._want_checkpoint()

    # -- checkpoints -------------------------------------------------------------------
    # SQLite's default has the committing connection copy the WAL into the database
    # file once the WAL passes 1,000 pages, fsyncing both, inside that COMMIT: every
    # few hundred small commits one waited for the disk (milliseconds to tens of them
    # on a busy host), and that commit's caller with it.  Here commits never
    # checkpoint; a thread does, on its own connection (a PASSIVE checkpoint runs
    # beside the writer and readers), asked after CHECKPOINT_COMMITS commits or
    # CHECKPOINT_ROWS rows; once the WAL holds RESTART_FRAMES pages, the writer's next
    # flush copies what is left and truncates it.  Durability is the same: a commit is in the WAL file when
    # COMMIT returns; the checkpoint only moves it into the database file.
    def _want_checkpoint(self) -> None:
        if self._ckpt_stop:
            return
        if self._ckpt_thread is None:
            self._ckpt_wake = threading.Event()
            self._ckpt_thread = threading.Thread(
                target=self._checkpoint_loop, name="store-checkpoint " + self.path,
                daemon=True)
            self._ckpt_thread.start()
        self._ckpt_wake.set()

    def _checkpoint_loop(self) -> None:
        db = None
        try:
            while True:
                self._ckpt_wake.wait()
                self._ckpt_wake.clear()
                if self._ckpt_stop:
                    return
                try:
                    if db is None:
                        db = sqlite3.connect(self.path, isolation_level=None,
                                             check_same_thread=False)
                    _, frames, _ = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    self.checkpoints += 1
                    if frames >= RESTART_FRAMES:
                        # A PASSIVE checkpoint never resets the WAL while commits keep
                        # coming (the writer starts it over only once everything was
                        # copied), so under steady writes it would grow without end:
                        # past RESTART_FRAMES the writer resets it (see flush).
                        self._restart_wanted = True
                except sqlite3.Error as e:   # (busy, or the file went away: next time)
                    log.debug("checkpoint of %s: %s", self.path, e)
        finally:
            if db is not None:
                db.close()

    def _stop_checkpoints(self) -> None:
        self._ckpt_stop = True
        t = self._ckpt_thread
        if t is not None:
            self._ckpt_wake.set()
            if t is not threading.current_thread():
                t.join(10)

    def rollback(self) -> None:
        self._reads.clear()
        self._lone = None
        if self._db.in_transaction:
            try:
                self._db.execute("ROLLBACK")
            except sqlite3.Error:
                pass
        self._in_tx = False
        if self.state_version & 1:
            self.state_version += 1

    def close(self) -> None:
        # (the checkpointer's connection first: the last one closed checkpoints all)
        self._stop_checkpoints()
        try:
            self.rollback()
            if self._creating is not None:
                # (the closing checkpoint then syncs what start-up wrote)
                self._db.execute(f"PRAGMA synchronous={self._synchronous}")
                self._creating = None
            self._db.close()
        except sqlite3.Error:
            pass

    def read_view(self) -> "SqliteReadView":
        """A second connection for reads on another thread (see SqliteReadView)."""
        return SqliteReadView(self.path, self)


# One statement, so one consistent read: a raw key and two managed keys (the value
# at the version the key's "v\xfe" pointer names).  "||" works on text, so the key
# bytes are concatenated as text and cast back: SQLite does not validate UTF-8, so
# every byte (NUL and 0xfe included) survives the round trip.
_MANAGED = "(SELECT v FROM kv WHERE k=CAST({k} || X'FE' || " \
           "(SELECT v FROM kv WHERE k=CAST(X'76FE' || {k} AS BLOB)) AS BLOB))"
_GET_RAW_2MANAGED = "SELECT (SELECT v FROM kv WHERE k=?1), " + _MANAGED.format(k="?2") + \
    ", " + _MANAGED.format(k="?3")
_GET_MANAGED = "SELECT " + _MANAGED.format(k="?1")
# SqliteReadView: (raw key, managed key 1) pairs whose values it keeps, at most
KEPT_PAIRS = 256


# The managed scan in one statement: each version pointer joined with its value.
_SCAN_VERSIONED = (
    "SELECT substr(p.k, 3), (SELECT v FROM kv WHERE k=CAST(substr(p.k, 3) || X'FE' || p.v "
    "AS BLOB)) FROM kv AS p WHERE p.k>=?1 AND p.k<?2 ORDER BY p.k LIMIT ?3")


class SqliteReadView:
    """A read-only second connection to an engine's file, for one other thread.

    In WAL mode it reads the last *committed* state without blocking the
    writer, and the daemon only commits (flushes) before it acknowledges: so
    it sees exactly the acknowledged writes, never a write whose group may
    still be rolled back.  Used by the reactor thread for short point reads."""

    def __init__(self, path: str, engine=None):
        self._engine = engine
        # (raw key, managed key 1) -> (engine's state_version, their values) as last read
        self._kept: dict = {}
        try:
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA query_only=1")
        except sqlite3.Error as e:
            raise _as_verror(e, f"open of {path}") from None

    def get_raw_and_managed(self, raw_key: bytes, managed1: bytes, managed2: bytes):
        """(raw value, managed value 1, managed value 2), read at one point in time.

        The first two (a Get's database and collection permissions) are kept with the
        engine's ``state_version`` they were read at; while it stays the same (even:
        nothing committed since, none in progress, from before the read until after it)
        only the third is read (~2 of 5 B-tree lookups in a simpler statement).

        Raises (the caller then reads on the store thread) while the engine's integrity
        verdict is pending or bad: this thread must never wait for it."""
        e = self._engine
        if e is not None and not e._ok:
            raise e.problem or verror.Internal.new("store integrity check pending")
        version = e.state_version if e is not None else 1
        pair = (raw_key, managed1)
        kept = self._kept.get(pair)
        ba = bytearray   # (see SqliteEngine.write(): ~2-3k instructions less per key)
        try:
            if kept is not None and kept[0] == version:
                (value,) = self._db.execute(_GET_MANAGED, (ba(managed2),)).fetchone()
                if e.state_version == version:
                    return kept[1], kept[2], value
            row = self._db.execute(_GET_RAW_2MANAGED,
                                   (ba(raw_key), ba(managed1), ba(managed2))).fetchone()
        except sqlite3.Error as err:
            if e is not None:
                raise e._failed(err, "read") from None
            raise _as_verror(err, "read") from None
        if not version & 1:     # (a commit since makes the version newer: never used)
            kept = self._kept
            if len(kept) >= KEPT_PAIRS:
                kept.clear()
            kept[pair] = (version, row[0], row[1])
        return row

    def close(self) -> None:
        try:
            self._db.close()
        except sqlite3.Error:
            pass


def store_sync() -> str:
    """SQLite's ``synchronous`` for the daemon's stores: ``NORMAL`` unless
    ``V23PY_STORE_SYNC=full``.

    Go's store (leveldb with default write options) does not fsync a commit: a commit
    survives the daemon's crash or ``kill -9`` (the OS has the bytes), and a machine
    crash may lose the last commits.  WAL with ``synchronous=NORMAL`` is the same
    promise: the commit is in the WAL file when it returns, and only checkpoints
    fsync; the file stays consistent after a power loss.  ``full`` fsyncs every
    commit (each flush then waits for the disk)."""
    v = os.environ.get("V23PY_STORE_SYNC", "").strip().lower()
    return "FULL" if v == "full" else "NORMAL"


def open_engine(kind: str, path: str, defer_sync: bool = False):
    """``sqlite`` (also accepted: ``leveldb``, Go's name for the durable default) or
    ``memstore``.  ``defer_sync``: a store this creates is made durable after start-up
    (see CreationSync)."""
    if kind in ("", "sqlite", "leveldb"):
        return SqliteEngine(path, synchronous=store_sync(), defer_sync=defer_sync)
    if kind == "memstore":
        return MemEngine(path)
    raise verror.BadArg.new(f"unknown storage engine {kind!r} (want sqlite or memstore)")
