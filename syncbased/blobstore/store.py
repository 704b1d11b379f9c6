"""The local blob store: blob bytes in files, blob state in SQLite.

Layout under ``<root-dir>/blobs``:

* ``data/<aa>/<bb>/<cc>/<26 hex>`` — the bytes of blob ``blob/<aa>/<bb>/<cc>/<26 hex>``
  (a blob ref has the shape of Go's fs_cablobstore names, so refs created by
  either implementation are accepted by the other);
* ``meta.sqlite`` — one row per blob (committed or not, its size once
  committed, pinned / keep rank, whether it came from a peer, last access),
  the location hints (``Signpost``) of blobs known only by reference, and
  small per-syncgroup records.

Writing appends to the blob's file; a blob being written has the size of its
file (after a ``kill -9`` that is exactly the bytes written before, since the
process never writes out of order), so a client resumes with ``GetBlobSize``
and more ``PutBlob``, as Go's API describes.  ``commit`` fsyncs the file and
only then records the blob as committed (one SQLite transaction, synchronous
FULL): a committed blob survives a crash with all its bytes.  A blob being
fetched from a peer that is interrupted by a crash is discarded on the next
open (it will be fetched again).  Deleting removes the row first, then the
file; files left without a row by a crash are removed on open.

Errors carry Go's ids: a malformed ref is fs_cablobstore's
``errInvalidBlobName``, appending to or committing a committed blob its
``errBlobAlreadyFinalized``, reading a blob not yet committed
``syncbase.BlobNotCommitted``, an offset outside the blob
``errIllegalPositionForRead``.  An unknown ref gives ``verror.NoExist`` (Go
surfaces the underlying file-system error there).

The class is synchronous and thread-safe (one lock); the daemon calls it from
its own blob thread (``syncbased.blobstore.manager``).
"""
from __future__ import annotations

import os
import re
import secrets
import sqlite3
import threading
import time

from v23py import verror
from v23py.verror import ErrorId, NoRetry
from v23py.v23.services import syncbase as sbwire
from syncbased.store.engine import CreationSync, fresh_wal_db
_FS = "v.io/x/ref/services/syncbase/localblobstore/fs_cablobstore."
InvalidBlobName = ErrorId(_FS + "errInvalidBlobName", NoRetry, "Invalid blob name")
BlobAlreadyFinalized = ErrorId(_FS + "errBlobAlreadyFinalized", NoRetry,
                               "Blob is already finalized")
IllegalPositionForRead = ErrorId(_FS + "errIllegalPositionForRead", NoRetry,
                                 "BlobReader: illegal position")

REF_RE = re.compile(r"blob/[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{26}\Z")
MAX_REF = 64

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS blobs (ref TEXT PRIMARY KEY, committed INTEGER NOT NULL, "
    "size INTEGER NOT NULL, fetched INTEGER NOT NULL, pinned INTEGER NOT NULL DEFAULT 0, "
    "rank INTEGER NOT NULL DEFAULT 0, accessed INTEGER NOT NULL DEFAULT 0)",
    "CREATE TABLE IF NOT EXISTS signposts (ref TEXT PRIMARY KEY, value BLOB NOT NULL)",
    "CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v BLOB NOT NULL)",
)


def new_ref() -> str:
    """A fresh random ref: ``blob/xx/yy/zz/<26 hex>`` (16 random bytes, as Go)."""
    h = secrets.token_hex(16)
    return f"blob/{h[0:2]}/{h[2:4]}/{h[4:6]}/{h[6:]}"


def check_ref(ref) -> str:
    if not isinstance(ref, str) or len(ref) > MAX_REF or not REF_RE.match(ref):
        shown = ref[:MAX_REF] if isinstance(ref, str) else type(ref).__name__
        raise InvalidBlobName.new(f"Invalid blob name {shown!r}", shown)
    return ref


def _no_exist(ref):
    return verror.NoExist.new(f"blob {ref} does not exist")


class BlobInfo:
    __slots__ = ("ref", "committed", "size", "fetched", "pinned", "rank", "accessed")

    def __init__(self, ref, committed, size, fetched, pinned, rank, accessed):
        self.ref, self.committed, self.size, self.fetched = ref, bool(committed), size, \
            bool(fetched)
        self.pinned, self.rank, self.accessed = bool(pinned), rank, accessed


class BlobStore:
    def __init__(self, root: str, defer_sync: bool = False):
        """``defer_sync``: a ``meta.sqlite`` created here is made durable on a thread of its
        own, after start-up (see syncbased.store.engine.CreationSync); every write waits
        for that first."""
        self.root = os.path.join(root, "blobs")
        self.data = os.path.join(self.root, "data")
        os.makedirs(self.data, mode=0o700, exist_ok=True)
        self._lock = threading.RLock()
        meta = os.path.join(self.root, "meta.sqlite")
        fresh = defer_sync and not os.path.exists(meta)
        self._db = sqlite3.connect(meta, isolation_level=None, check_same_thread=False)
        self._creating = None
        if fresh:
            fresh_wal_db(self._db)
            self._creating = CreationSync([meta, meta + "-wal"], [self.root, root])
        else:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("BEGIN")      # (the schema in one commit)
        for s in _SCHEMA:
            self._db.execute(s)
        self._db.execute("COMMIT")
        self._writers = {}     # ref -> open append file
        self._recover()

    # --- plumbing ------------------------------------------------------------
    def close(self):
        with self._lock:
            for f in self._writers.values():
                try:
                    f.close()
                except OSError:
                    pass
            self._writers.clear()
            if self._creating is not None:   # (the closing checkpoint then syncs)
                self._db.execute("PRAGMA synchronous=FULL")
                self._creating = None
            self._db.close()

    def path(self, ref: str) -> str:
        return os.path.join(self.data, *ref[5:].split("/"))

    def _durable(self):
        """(before a write; under the lock) A new meta.sqlite's fsyncs are done, and
        commits are FULL from now on."""
        self._creating.wait()
        self._db.execute("PRAGMA synchronous=FULL")
        self._creating = None

    def _tx(self, stmts):
        db = self._db
        if self._creating is not None:
            self._durable()
        try:
            db.execute("BEGIN IMMEDIATE")
            for sql, args in stmts:
                db.execute(sql, args)
            db.execute("COMMIT")
        except sqlite3.Error as e:
            try:
                db.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            raise verror.Internal.new(f"blob store update failed: {e}") from None

    def _recover(self):
        """Drop fetches a crash interrupted and files whose row is gone."""
        with self._lock:
            rows = self._db.execute(
                "SELECT ref FROM blobs WHERE committed=0 AND fetched=1").fetchall()
            for (ref,) in rows:
                self._tx([("DELETE FROM blobs WHERE ref=?", (ref,))])
                self._unlink(ref)
            known = {r for (r,) in self._db.execute("SELECT ref FROM blobs")}
            for dirpath, _, files in os.walk(self.data):
                for fn in files:
                    full = os.path.join(dirpath, fn)
                    ref = "blob/" + os.path.relpath(full, self.data).replace(os.sep, "/")
                    if ref not in known:
                        try:
                            os.unlink(full)
                        except OSError:
                            pass

    def _unlink(self, ref):
        try:
            os.unlink(self.path(ref))
        except OSError:
            pass

    def _row(self, ref) -> BlobInfo | None:
        r = self._db.execute("SELECT ref, committed, size, fetched, pinned, rank, accessed "
                             "FROM blobs WHERE ref=?", (ref,)).fetchone()
        return BlobInfo(*r) if r is not None else None

    def _file_size(self, ref) -> int:
        try:
            return os.path.getsize(self.path(ref))
        except OSError:
            return 0

    # --- queries -------------------------------------------------------------
    def info(self, ref) -> BlobInfo | None:
        """The blob's state (size = bytes so far while uncommitted), or None."""
        check_ref(ref)
        with self._lock:
            b = self._row(ref)
            if b is not None and not b.committed:
                w = self._writers.get(ref)
                if w is not None:
                    w.flush()
                b.size = self._file_size(ref)
            return b

    def size(self, ref) -> int:
        b = self.info(ref)
        if b is None:
            raise _no_exist(ref)
        return b.size

    def committed(self, ref) -> bool:
        b = self.info(ref)
        return b is not None and b.committed

    def total_bytes(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COALESCE(SUM(size), 0) FROM blobs "
                                    "WHERE committed=1").fetchone()[0]

    def refs(self) -> list:
        with self._lock:
            return [r for (r,) in self._db.execute("SELECT ref FROM blobs ORDER BY ref")]

    # --- writing ---------------------------------------------------------------
    def create(self, ref: str | None = None, fetched: bool = False) -> str:
        """A new empty, uncommitted blob (``ref`` given: a blob fetched from a peer)."""
        with self._lock:
            if ref is None:
                ref = new_ref()
                while self._row(ref) is not None:   # pragma: no cover - 2^-128
                    ref = new_ref()
            else:
                check_ref(ref)
                if self._row(ref) is not None:
                    raise verror.Exist.new(f"blob {ref} already exists")
            p = self.path(ref)
            try:
                os.makedirs(os.path.dirname(p), mode=0o700, exist_ok=True)
                with open(p, "wb"):
                    pass
            except OSError as e:
                raise verror.Internal.new(f"cannot create blob file: {e}") from None
            self._tx([("INSERT INTO blobs (ref, committed, size, fetched, accessed) "
                       "VALUES (?, 0, 0, ?, ?)", (ref, int(fetched), time.time_ns()))])
            return ref

    def _writable(self, ref):
        check_ref(ref)
        b = self._row(ref)
        if b is None:
            raise _no_exist(ref)
        if b.committed:
            raise BlobAlreadyFinalized.new(f"Blob {ref} is already finalized", ref)
        return b

    def check_writable(self, ref: str) -> None:
        """Raise the error an append to ``ref`` would raise now (unknown, committed)."""
        with self._lock:
            self._writable(ref)

    def append(self, ref: str, chunks) -> int:
        """Append byte strings to an uncommitted blob; returns its new size."""
        with self._lock:
            self._writable(ref)
            f = self._writers.get(ref)
            try:
                if f is None:
                    f = self._writers[ref] = open(self.path(ref), "ab")
                for c in chunks:
                    f.write(c)
                f.flush()
                return f.tell()
            except OSError as e:
                self._close_writer(ref)
                raise verror.Internal.new(f"blob append failed: {e}") from None

    def _close_writer(self, ref):
        f = self._writers.pop(ref, None)
        if f is not None:
            try:
                f.close()
            except OSError:
                pass

    def end_writes(self, ref: str) -> None:
        """The writer of an uncommitted blob is done for now (its PutBlob ended)."""
        with self._lock:
            self._close_writer(ref)

    def commit(self, ref: str) -> int:
        """Make the blob immutable and durable; returns its size.

        The fsync runs without the lock (it may take long for a big blob), so
        location hints and priorities, which other threads read, never wait on it."""
        with self._lock:
            self._writable(ref)
            self._close_writer(ref)
        size = self._sync_file(ref)
        with self._lock:
            self._writable(ref)
            if self._file_size(ref) != size:     # appended to meanwhile: sync again
                size = self._sync_file(ref)
            self._tx([("UPDATE blobs SET committed=1, size=?, accessed=? WHERE ref=?",
                       (size, time.time_ns(), ref))])
            return size

    def _sync_file(self, ref) -> int:
        p = self.path(ref)
        try:
            fd = os.open(p, os.O_RDONLY | os.O_CREAT, 0o600)
            try:
                os.fsync(fd)
                size = os.fstat(fd).st_size
            finally:
                os.close(fd)
            dfd = os.open(os.path.dirname(p), os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        except OSError as e:
            raise verror.Internal.new(f"blob commit failed: {e}") from None
        return size

    def delete(self, ref: str) -> None:
        with self._lock:
            check_ref(ref)
            if self._row(ref) is None:
                raise _no_exist(ref)
            self._close_writer(ref)
            self._tx([("DELETE FROM blobs WHERE ref=?", (ref,))])
            self._unlink(ref)

    def discard(self, ref: str) -> None:
        """Delete if present (a failed fetch); never raises for a missing blob."""
        try:
            self.delete(ref)
        except verror.VError:
            pass

    # --- reading ---------------------------------------------------------------
    def open_reader(self, ref: str, offset: int):
        """(file, size) of a committed blob positioned at ``offset``; the caller closes."""
        check_ref(ref)
        with self._lock:
            b = self._row(ref)
            if b is None:
                raise _no_exist(ref)
            if not b.committed:
                raise sbwire.ErrBlobNotCommitted.new("blob is not yet committed")
            if offset < 0 or offset > b.size:
                raise IllegalPositionForRead.new(
                    f"BlobReader: illegal position {offset} on Blob of size {b.size}",
                    offset, b.size)
            try:
                f = open(self.path(ref), "rb")
            except OSError as e:
                raise verror.Internal.new(f"blob {ref} is unreadable: {e}") from None
            f.seek(offset)
            now = time.time_ns()
            if now - b.accessed > 10**9:     # at most one update per blob per second
                if self._creating is not None:
                    self._durable()
                self._db.execute("UPDATE blobs SET accessed=? WHERE ref=?", (now, ref))
            return f, b.size

    def read_all(self, ref: str, offset: int = 0) -> bytes:
        f, _ = self.open_reader(ref, offset)
        with f:
            return f.read()

    # --- local caching hints -----------------------------------------------------
    def _committed_row(self, ref):
        check_ref(ref)
        b = self._row(ref)
        if b is None:
            raise _no_exist(ref)
        if not b.committed:
            raise sbwire.ErrBlobNotCommitted.new("blob is not yet committed")
        return b

    def pin(self, ref: str, pinned: bool) -> None:
        with self._lock:
            self._committed_row(ref)
            self._tx([("UPDATE blobs SET pinned=? WHERE ref=?", (int(pinned), ref))])

    def keep(self, ref: str, rank: int) -> None:
        with self._lock:
            self._committed_row(ref)
            rank = max(0, min(int(rank), 2**63 - 1))
            self._tx([("UPDATE blobs SET rank=? WHERE ref=?", (rank, ref))])

    def evict(self, max_bytes: int, protect=frozenset()) -> list:
        """Delete cached blobs until committed blobs take at most ``max_bytes``.

        Only blobs fetched from peers are a cache: blobs created here, pinned
        blobs, blobs being written and the refs in ``protect`` (the daemon
        passes those it owns shares of) are never evicted.  Lower ranks go
        first (``KeepBlob``), then the least recently read.  Returns the refs
        deleted."""
        out = []
        with self._lock:
            total = self.total_bytes()
            if total <= max_bytes:
                return out
            rows = self._db.execute(
                "SELECT ref, size FROM blobs WHERE committed=1 AND fetched=1 AND pinned=0 "
                "ORDER BY rank, accessed, ref").fetchall()
            for ref, size in rows:
                if total <= max_bytes:
                    break
                if ref in protect:
                    continue
                self.delete(ref)
                total -= size
                out.append(ref)
        return out

    # --- location hints and small records (stored VOM-encoded by the caller) -----
    def get_signpost(self, ref: str) -> bytes | None:
        with self._lock:
            r = self._db.execute("SELECT value FROM signposts WHERE ref=?", (ref,)).fetchone()
            return r[0] if r else None

    def set_signposts(self, items: dict) -> None:
        if not items:
            return
        with self._lock:
            self._tx([("INSERT OR REPLACE INTO signposts (ref, value) VALUES (?, ?)",
                       (ref, value)) for ref, value in items.items()])

    def signposts(self) -> list:
        with self._lock:
            return self._db.execute("SELECT ref, value FROM signposts ORDER BY ref").fetchall()

    def kv_prefix(self, prefix: str) -> list:
        with self._lock:
            return self._db.execute("SELECT k, v FROM kv WHERE k >= ? AND k < ? ORDER BY k",
                                    (prefix, prefix + "\uffff")).fetchall()

    def get_kv(self, k: str) -> bytes | None:
        with self._lock:
            r = self._db.execute("SELECT v FROM kv WHERE k=?", (k,)).fetchone()
            return r[0] if r else None

    def set_kv(self, k: str, v: bytes) -> None:
        with self._lock:
            self._tx([("INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)", (k, v))])
