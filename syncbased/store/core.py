"""The watchable, transactional store of one Syncbase database (or of the service).

Layers, mirroring Go's ``store/transactions`` + ``store/watchable`` semantics:

* **Snapshots**: a consistent view as of their creation.  Instead of pinning a
  database read transaction, the store copies the *previous* value of every key
  a commit overwrites into each open snapshot's overlay ("undo overlay"), so a
  snapshot reads the overlay first and the live engine otherwise.
* **Transactions** (optimistic concurrency): reads are recorded (keys and scan
  ranges) and served from the transaction's snapshot merged with its own
  buffered writes; ``commit`` fails with ``ConcurrentTransaction`` when any key
  written by a transaction that committed after this one began falls in the
  read set.
* **Managed keys** (prefixes ``c`` and ``r``): values are versioned.  A put
  writes ``v\\xfe<key> -> <version>`` and ``<key>\\xfe<version> -> value``; a
  delete removes only the version pointer; reads go through the pointer.
  Operations on managed keys append ops (GetOp, ScanOp, PutOp, DeleteOp) which
  ``commit`` writes as watch-log entries in the *same* write group as the data,
  each stamped with the commit timestamp; every entry but a commit's last has
  ``continued=True``.  Each entry has a sequence number; a log record
  ``l\\xfe%016x`` holds a run of consecutive entries of one commit (RECORD_BYTES at most
  with its key), keyed by the first one's number (see STORE_FORMAT).

Everything here is synchronous and single-threaded by design: the daemon runs
all store work on one worker thread (``syncbased.worker``), which also groups
commits into one durable engine flush.
"""
from __future__ import annotations

import bisect
import random
import struct
import time
from itertools import accumulate

from v23py import verror
from v23py.records import NamedTuple
from v23py.syncbase.util import prefix_range_limit

# Errors of Go's x/ref/services/syncbase/store.
_STORE = "v.io/x/ref/services/syncbase/store."
ConcurrentTransaction = verror.ErrorId(_STORE + "ConcurrentTransaction", verror.NoRetry,
                                       "concurrent transaction")

SEP = b"\xfe"
LOG_PREFIX = b"l" + SEP
VERSION_PREFIX = b"v" + SEP
MANAGED_PREFIXES = (b"c", b"r")
SCAN_CHUNK = 1000

# The on-disk layout of everything in the store (sync's metadata included), recorded
# under FORMAT_KEY (outside every key space of the store and of sync).  Each format
# reads the earlier ones' stores as they are; the first commit after opening one moves
# its marker on.  A store marked with a later format is refused.
#   1 (no marker): one watch-log entry per record.
#   2: a log record holds up to 256 entries of one commit (a synced round or a
#      PutRows batch commits thousands: one record each cost ~10k instructions of
#      SQLite); a format-1 record is a record of one entry.
#   3: a synced data object's DAG head is stored only where its version pointer does
#      not name it (syncbased.vsync.dag: DagMixin._head); a format-2 head record says
#      what the pointer does.
#   4: a sync log's records of consecutive generations written by one commit (a synced
#      round, a PutRows batch) are one record (syncbased.vsync._log: log_chunks); a
#      format-3 log record is a record of one.
#   5: a batch's BatchInfo is binary (syncbased.vsync._log: encode_batch); a format-4
#      one is JSON.
#   6: no record of the watch log, the sync log or a BatchInfo is over RECORD_BYTES
#      (log_entries, _log.log_chunks, _log.batch_writes: a BatchInfo is stored in parts);
#      format-5 records of up to 256 entries and whole BatchInfos are read as they are.
FORMAT_KEY = b"\x00store-format"
STORE_FORMAT = b"6"
_EARLIER_FORMATS = (None, b"2", b"3", b"4", b"5")
# The bytes of a stored record's key and value together, at most, where the store cuts
# what it writes into records (a single entry, log record or part may be more).  The
# engine's table is an index B-tree (WITHOUT ROWID), whose cell keeps at most maxLocal =
# (4096 - 12) * 64 / 255 - 23 = 1002 bytes of a record (its header, ~5 bytes here, key
# and value) in a page of SQLite's default 4 KiB; a longer record spills to overflow
# pages, and every B-tree compare against such a cell (interior pages hold whole records
# as dividers) first copies the whole record from them.  Records of 17-28 KB (format 5:
# 256 log entries, 256 sync log records, the BatchInfo of a 500-row batch) beside the DAG
# nodes a sync inserts cost the joiner's apply ~9 % more instructions per row at
# 1,000,000 rows than at 100,000.
RECORD_BYTES = 1002 - 5
# A commit of at most this many keys is remembered until the next (Store._recent)
RECENT_MAX = 64

# --- watch-log ops (Go's watchable.* and syncbase watchable.* op types) ----


class GetOp(NamedTuple):
    Key: bytes


class ScanOp(NamedTuple):
    Start: bytes
    Limit: bytes


class PutOp(NamedTuple):
    Key: bytes
    Version: bytes


class DeleteOp(NamedTuple):
    Key: bytes


class SyncgroupOp(NamedTuple):
    SgId: str
    Prefixes: tuple
    Remove: bool


class SyncSnapshotOp(NamedTuple):
    Key: bytes
    Version: bytes


class DbStateChangeRequestOp(NamedTuple):
    RequestType: int     # 0 PauseSync, 1 ResumeSync


class LogEntry(NamedTuple):
    Op: object
    CommitTimestamp: int
    FromSync: bool
    Continued: bool


_OP_CODES = {GetOp: 1, ScanOp: 2, PutOp: 3, DeleteOp: 4, SyncgroupOp: 5,
             SyncSnapshotOp: 6, DbStateChangeRequestOp: 7}
_OP_TYPES = {v: k for k, v in _OP_CODES.items()}
_HDR = struct.Struct(">BBqB")
_PUT_HDR = struct.Struct(">BBqBI")    # _HDR, then the key's length
_U32 = struct.Struct(">I")


def _pack_bytes(b: bytes) -> bytes:
    return struct.pack(">I", len(b)) + b


def encode_log_entry(e: LogEntry) -> bytes:
    """Private on-disk form: version 1, op code, timestamp, flags, length-prefixed fields."""
    return _entry(e.Op, e.CommitTimestamp,
                  (1 if e.FromSync else 0) | (2 if e.Continued else 0))


def _entry(op, ts: int, flags: int) -> bytes:
    """encode_log_entry's bytes for an entry of ``op`` (the commonest ops in one pack)."""
    cls = op.__class__
    if cls is PutOp:
        k, v = op
        return _PUT_HDR.pack(1, 3, ts, flags, len(k)) + k + _U32.pack(len(v)) + v
    if cls is GetOp:      # (every Put reads its collection's permissions)
        k = op[0]
        return _PUT_HDR.pack(1, 1, ts, flags, len(k)) + k
    out = [_HDR.pack(1, _OP_CODES[type(op)], ts, flags)]
    if isinstance(op, SyncgroupOp):
        out.append(_pack_bytes(op.SgId.encode()))
        out.append(struct.pack(">IB", len(op.Prefixes), 1 if op.Remove else 0))
        out.extend(_pack_bytes(p.encode()) for p in op.Prefixes)
    elif isinstance(op, DbStateChangeRequestOp):
        out.append(struct.pack(">B", op.RequestType))
    else:
        out.extend(_pack_bytes(f) for f in op)
    return b"".join(out)


def log_entries(ops: list, ts: int, from_sync: bool, first: int):
    """A commit's log records, ``ops`` numbered from ``first``: (log_key(number of a
    record's first entry), encode_log_entry's bytes of its entries one after another),
    RECORD_BYTES a record at most with its key (an entry longer than that alone); every
    entry but the last is Continued."""
    cont = (1 if from_sync else 0) | 2
    parts = [_entry(op, ts, cont) for op in ops]
    parts[-1] = _entry(ops[-1], ts, cont & 1)
    data = b"".join(parts)
    if len(data) <= _LOG_ROOM:     # (a Put's, say: one record)
        return [(log_key(first), data)]
    ends = list(accumulate(map(len, parts)))     # (bytes up to each entry's end)
    n = len(parts)
    out = []
    start, done = 0, 0
    while start < n:
        # (the entries that end within _LOG_ROOM of the record's start; one at least)
        end = max(bisect.bisect_right(ends, done + _LOG_ROOM, start), start + 1)
        out.append((log_key(first + start), b"".join(parts[start:end])))
        start, done = end, ends[end - 1]
    return out


def _take(data: bytes, pos: int):
    """A length-prefixed field at ``pos``: (its bytes, the position after it)."""
    (n,) = _U32.unpack_from(data, pos)
    pos += 4
    if pos + n > len(data):
        raise ValueError("truncated log entry")
    return bytes(data[pos:pos + n]), pos + n


def _decode_entry(data: bytes, pos: int):
    """The entry encode_log_entry wrote at ``pos``: (LogEntry, the position after it)."""
    ver, code, ts, flags = _HDR.unpack_from(data, pos)
    if ver != 1 or code not in _OP_TYPES:
        raise ValueError("unknown log entry format")
    pos += _HDR.size
    cls = _OP_TYPES[code]
    if cls is SyncgroupOp:
        sg, pos = _take(data, pos)
        n, rm = struct.unpack_from(">IB", data, pos)
        pos += 5
        prefixes = []
        for _ in range(n):
            p, pos = _take(data, pos)
            prefixes.append(p.decode())
        op = SyncgroupOp(sg.decode(), tuple(prefixes), bool(rm))
    elif cls is DbStateChangeRequestOp:
        op = DbStateChangeRequestOp(data[pos])
        pos += 1
    else:
        fields = []
        for _ in cls._fields:
            f, pos = _take(data, pos)
            fields.append(f)
        op = cls(*fields)
    return LogEntry(op, ts, bool(flags & 1), bool(flags & 2)), pos


def decode_log_entries(data: bytes) -> list:
    """The entries of one log record (one or more, see log_entries)."""
    out = []
    pos, end = 0, len(data)
    try:
        while pos < end:
            e, pos = _decode_entry(data, pos)
            out.append(e)
        if not out:
            raise ValueError("empty log record")
    except (struct.error, ValueError, IndexError, UnicodeDecodeError) as e:
        raise verror.Internal.new(f"corrupt watch log entry: {e}") from None
    return out


def decode_log_entry(data: bytes) -> LogEntry:
    """The one entry of encode_log_entry's bytes."""
    entries = decode_log_entries(data)
    if len(entries) != 1:
        raise verror.Internal.new("corrupt watch log entry: more than one entry")
    return entries[0]


def log_key(seq: int) -> bytes:
    return LOG_PREFIX + b"%016x" % seq


_LOG_ROOM = RECORD_BYTES - len(log_key(0))    # (a watch-log record's value, at most)


def parse_log_key(key: bytes) -> int:
    if not key.startswith(LOG_PREFIX) or len(key) != len(LOG_PREFIX) + 16:
        raise ValueError(f"not a log key: {key!r}")
    return int(key[len(LOG_PREFIX):], 16)


def new_version() -> bytes:
    """A random version string: lowercase hex of a random 63-bit integer (as Go)."""
    return b"%x" % random.getrandbits(63)


def managed(key: bytes) -> bool:
    return key[:1] in MANAGED_PREFIXES


def _in_range(key: bytes, start: bytes, limit: bytes) -> bool:
    return key >= start and (limit == b"" or key < limit)


class Snapshot:
    """A read-only view as of creation time.  Call ``abort`` to release it."""

    def __init__(self, store: "Store"):
        self._st = store
        self._overlay: dict[bytes, bytes | None] = {}
        self._sorted: list[bytes] | None = None
        self._closed = False
        store._snapshots.add(self)

    # called by the store before it overwrites keys
    def _preserve(self, key: bytes, old) -> None:
        if key not in self._overlay:
            self._overlay[key] = old
            self._sorted = None

    def raw_get(self, key: bytes):
        self._check()
        if key in self._overlay:
            return self._overlay[key]
        st = self._st
        recent = st._recent
        if key in recent:      # (the last commit wrote it: what the engine would say)
            return recent[key]
        return st.engine.get(key)

    def raw_scan(self, start: bytes, limit: bytes, max_items: int = SCAN_CHUNK):
        """One chunk of ``[start, limit)`` as of the snapshot: ``(pairs, next_start)``.

        ``next_start`` is None when the range is exhausted; otherwise continue
        from it (pairs may be fewer than ``max_items`` when keys were hidden)."""
        self._check()
        rows = self._st.engine.scan(start, limit, max_items)
        more = len(rows) >= max_items
        nxt = rows[-1][0] + b"\x00" if more else None
        if not self._overlay:
            return rows, nxt
        if self._sorted is None:
            self._sorted = sorted(self._overlay)
        ov = self._overlay
        merged = {k: v for k, v in rows if k not in ov}
        keys = self._sorted
        i = bisect.bisect_left(keys, start)
        while i < len(keys):
            k = keys[i]
            if not _in_range(k, start, limit) or (more and k >= nxt):
                break
            if ov[k] is not None:
                merged[k] = ov[k]
            i += 1
        return sorted(merged.items()), nxt

    def raw_scan_all(self, start: bytes, limit: bytes):
        """Iterate every pair in the range, in chunks."""
        while start is not None:
            rows, start = self.raw_scan(start, limit, SCAN_CHUNK)
            yield from rows

    # managed (versioned) reads
    def get(self, key: bytes):
        if not managed(key):
            return self.raw_get(key)
        ver = self.raw_get(VERSION_PREFIX + key)
        if ver is None:
            return None
        return self.raw_get(key + SEP + ver)

    def scan(self, start: bytes, limit: bytes, max_items: int = SCAN_CHUNK):
        """Managed-aware chunk scan: ``(pairs with user keys, next_start)``."""
        if not managed(start):
            return self.raw_scan(start, limit, max_items)
        vstart = VERSION_PREFIX + start
        vlimit = VERSION_PREFIX + limit if limit else prefix_range_limit(VERSION_PREFIX)
        if not self._overlay:
            # nothing committed since the snapshot began: the engine's state is ours,
            # and it resolves the version pointers of a chunk in one go
            self._check()
            out = self._st.engine.scan_versioned(vstart, vlimit, max_items)
            if len(out) < max_items:
                return out, None
            return out, out[-1][0] + b"\x00"
        rows, nxt = self.raw_scan(vstart, vlimit, max_items)
        out = []
        for vk, ver in rows:
            k = vk[len(VERSION_PREFIX):]
            out.append((k, self.raw_get(k + SEP + ver)))
        return out, (nxt[len(VERSION_PREFIX):] if nxt is not None else None)

    def scan_all(self, start: bytes, limit: bytes):
        while start is not None:
            rows, start = self.scan(start, limit, SCAN_CHUNK)
            yield from rows

    def get_version(self, key: bytes):
        return self.raw_get(VERSION_PREFIX + key)

    def abort(self) -> None:
        if not self._closed:
            self._closed = True
            self._st._snapshots.discard(self)
            self._overlay = {}

    def _check(self):
        if self._closed:
            raise verror.BadState.new("snapshot already aborted or committed")


class Transaction:
    """A read-write transaction with optimistic concurrency control."""

    def __init__(self, store: "Store"):
        self._st = store
        self._sn = Snapshot(store)
        self._start = store._commit_seq
        self._read_keys: set[bytes] = set()
        self._read_ranges: list[tuple[bytes, bytes]] = []
        self._writes: dict[bytes, bytes | None] = {}
        self.ops: list = []
        self.from_sync = False
        self._done = False
        store._live[self] = self._start

    # --- raw access (records reads) ---
    def raw_get(self, key: bytes):
        self._check()
        self._read_keys.add(key)
        if key in self._writes:
            return self._writes[key]
        return self._sn.raw_get(key)

    def raw_scan_all(self, start: bytes, limit: bytes):
        self._check()
        self._read_ranges.append((start, limit))
        writes = {k: v for k, v in self._writes.items() if _in_range(k, start, limit)}
        wkeys = sorted(writes)
        wi = 0
        for k, v in self._sn.raw_scan_all(start, limit):
            while wi < len(wkeys) and wkeys[wi] < k:
                wk = wkeys[wi]
                wi += 1
                if writes[wk] is not None:
                    yield wk, writes[wk]
            if wi < len(wkeys) and wkeys[wi] == k:
                wi += 1
                if writes[k] is not None:
                    yield k, writes[k]
                continue
            yield k, v
        while wi < len(wkeys):
            wk = wkeys[wi]
            wi += 1
            if writes[wk] is not None:
                yield wk, writes[wk]

    def raw_put(self, key: bytes, value: bytes) -> None:
        self._check()
        self._writes[key] = bytes(value)

    def raw_delete(self, key: bytes) -> None:
        self._check()
        self._writes[key] = None

    # --- managed-aware access (Go's watchable transaction) ---
    def get(self, key: bytes):
        if not managed(key):
            return self.raw_get(key)
        self.ops.append(GetOp(key))
        ver = self.raw_get(VERSION_PREFIX + key)
        if ver is None:
            return None
        return self.raw_get(key + SEP + ver)

    def get_version(self, key: bytes):
        return self.raw_get(VERSION_PREFIX + key)

    def scan_all(self, start: bytes, limit: bytes):
        if not managed(start):
            yield from self.raw_scan_all(start, limit)
            return
        self.ops.append(ScanOp(start, limit))
        vstart = VERSION_PREFIX + start
        vlimit = VERSION_PREFIX + limit if limit else prefix_range_limit(VERSION_PREFIX)
        for vk, ver in self.raw_scan_all(vstart, vlimit):
            k = vk[len(VERSION_PREFIX):]
            v = self._writes.get(k + SEP + ver)
            if v is None:
                v = self._sn.raw_get(k + SEP + ver)
            yield k, v

    def put(self, key: bytes, value: bytes) -> bytes | None:
        if not managed(key):
            self.raw_put(key, value)
            return None
        ver = new_version()
        self.raw_put(VERSION_PREFIX + key, ver)
        self.raw_put(key + SEP + ver, value)
        self.ops.append(PutOp(key, ver))
        return ver

    def put_many(self, items) -> None:
        """``put(key, value)`` for each (key, value) in order, in one loop (PutRows)."""
        self._check()
        w, ops, vp, rnd = self._writes, self.ops, VERSION_PREFIX, random.getrandbits
        for key, value in items:
            if key[:1] not in MANAGED_PREFIXES:
                self.raw_put(key, value)
                continue
            ver = b"%x" % rnd(63)          # (new_version, inline)
            w[vp + key] = ver
            w[key + SEP + ver] = bytes(value)
            ops.append(PutOp(key, ver))

    def delete(self, key: bytes) -> None:
        if not managed(key):
            self.raw_delete(key)
            return
        self.raw_delete(VERSION_PREFIX + key)
        self.ops.append(DeleteOp(key))

    def put_at_version(self, key: bytes, value: bytes, version: bytes) -> None:
        """Store a value at a version without moving the pointer (sync)."""
        self.raw_put(key + SEP + version, value)

    def put_version(self, key: bytes, version: bytes) -> None:
        """Move the version pointer (sync), logged as a PutOp."""
        self.raw_put(VERSION_PREFIX + key, version)
        self.ops.append(PutOp(key, version))

    def add_op(self, op) -> None:
        self._check()
        self.ops.append(op)

    # --- end ---
    def commit(self):
        """Validate, then write data + log entries.  Returns (first_seq, end_seq) of the log."""
        self._check()
        st = self._st
        try:
            for seq, keys in st._events:
                if seq <= self._start:
                    continue
                if self._read_keys and not keys.isdisjoint(self._read_keys):
                    raise ConcurrentTransaction.new("concurrent transaction")
                for a, b in self._read_ranges:
                    if any(_in_range(k, a, b) for k in keys):
                        raise ConcurrentTransaction.new("concurrent transaction")
            # validated: our own snapshot is no longer needed, so the commit need
            # not preserve the old values of our writes for it, nor record its keys
            # for its own validation (only transactions still live need them)
            self._sn.abort()
            st._live.pop(self, None)
            return st._commit(self._writes, self.ops, self.from_sync)
        finally:
            self._finish()

    def abort(self) -> None:
        if not self._done:
            self._finish()

    def _finish(self):
        self._done = True
        self._sn.abort()
        self._st._live.pop(self, None)
        self._st._prune()

    def _check(self):
        if self._done:
            raise verror.BadState.new("transaction already committed or aborted")

    @property
    def done(self):
        return self._done


class Store:
    """A watchable store over one engine.  ``clock()`` gives commit timestamps (ns)."""

    def __init__(self, engine, clock=time.time_ns):
        self.engine = engine
        self.clock = clock
        self._commit_seq = 0
        self._events: list[tuple[int, frozenset]] = []
        self._live: dict[Transaction, int] = {}
        self._snapshots: set[Snapshot] = set()
        self._listeners = []
        self.last_from_sync = False      # of the commit its listeners are told about
        # fn(store, writes, ops, ts, from_sync) may add writes to a commit (same group)
        self.commit_hooks = []
        self.closed = False
        self._read_view = None
        # The last commit's writes (a small one's; else empty) and the number of its first
        # log entry: a watcher woken by that commit reads its log records and values from
        # here instead of the engine (see read_log, Snapshot.raw_get)
        self._recent: dict = {}
        self._recent_first = -1
        self.reload()

    def reload(self) -> None:
        """Re-read the store format and the next watch-log sequence number from the engine."""
        fmt = self.engine.get(FORMAT_KEY)
        if fmt != STORE_FORMAT and fmt not in _EARLIER_FORMATS:
            raise verror.Internal.new(
                f"store format {fmt.decode('ascii', 'replace')!r} is not one this "
                f"daemon reads (up to {STORE_FORMAT.decode()!r}): a newer daemon wrote it")
        self._format_due = fmt != STORE_FORMAT     # (written with the next commit)
        self._recent, self._recent_first = {}, -1     # (a rollback undid it, say)
        last = self.engine.last(LOG_PREFIX, prefix_range_limit(LOG_PREFIX))
        self.log_seq = (parse_log_key(last[0]) + len(decode_log_entries(last[1]))
                        if last else 0)

    def add_listener(self, fn) -> None:
        """``fn(store, first_seq, end_seq)`` after each commit that logged entries."""
        self._listeners.append(fn)

    def remove_listener(self, fn) -> None:
        if fn in self._listeners:
            self._listeners.remove(fn)

    def snapshot(self) -> Snapshot:
        return Snapshot(self)

    def transaction(self) -> Transaction:
        return Transaction(self)

    def get(self, key: bytes):
        """Current committed value (managed-aware), no snapshot."""
        sn = Snapshot(self)
        try:
            return sn.get(key)
        finally:
            sn.abort()

    def run_in_transaction(self, fn, attempts: int = 100):
        """Run ``fn(tx)`` and commit, retrying on ConcurrentTransaction."""
        err = None
        for _ in range(attempts):
            tx = self.transaction()
            try:
                result = fn(tx)
            except BaseException:
                tx.abort()
                raise
            try:
                tx.commit()
                return result
            except verror.VError as e:
                if e.id != ConcurrentTransaction.id:
                    raise
                err = e
        raise err

    def _commit(self, writes: dict, ops: list, from_sync: bool):
        writes = dict(writes)
        first = self.log_seq
        ts = self.clock() if ops else 0
        if ops:
            for hook in self.commit_hooks:
                hook(self, writes, ops, ts, from_sync)
            writes.update(log_entries(ops, ts, from_sync, first))
        if not writes:
            return first, first
        if self._format_due:
            writes[FORMAT_KEY] = STORE_FORMAT
            self._format_due = False
        if self._snapshots:
            eng = self.engine
            for k in writes:
                old = eng.get(k)
                for sn in self._snapshots:
                    sn._preserve(k, old)
        self.engine.write(writes)
        if len(writes) <= RECENT_MAX:
            self._recent, self._recent_first = writes, first
        else:
            self._recent, self._recent_first = {}, -1
        self.log_seq = first + len(ops)
        self._commit_seq += 1
        if self._live:
            self._events.append((self._commit_seq,
                                 frozenset(k for k in writes if not k.startswith(LOG_PREFIX))))
        if ops:
            self.last_from_sync = from_sync
            for fn in list(self._listeners):
                fn(self, first, self.log_seq)
        return first, self.log_seq

    def _prune(self):
        if not self._live:
            self._events.clear()
            return
        oldest = min(self._live.values())
        if self._events and self._events[0][0] <= oldest:
            self._events = [e for e in self._events if e[0] > oldest]

    def read_log(self, start_seq: int, max_entries: int = SCAN_CHUNK):
        """Committed log entries from ``start_seq``: list of (seq, LogEntry), whole
        records until there are ``max_entries`` (so a record's entries but one more at
        most)."""
        if start_seq >= self.log_seq:
            return []
        if start_seq == self._recent_first:
            # the last commit's entries, to the log's end: from its records as written
            out = []
            recent = self._recent
            first = start_seq
            while first < self.log_seq:
                entries = decode_log_entries(recent[log_key(first)])
                out.extend(enumerate(entries, first))
                first += len(entries)
                if len(out) >= max_entries:
                    break
            return out
        eng = self.engine
        key = log_key(start_seq)
        limit = prefix_range_limit(LOG_PREFIX)
        out = []
        n = min(max(max_entries, 1), 64)
        rows = eng.scan(key, limit, n)
        if not rows or rows[0][0] != key:
            # start_seq is not a record's first entry: the rest of the record holding it
            held = eng.last(LOG_PREFIX, key)
            if held is not None:
                out = [(seq, e) for seq, e in enumerate(decode_log_entries(held[1]),
                                                        parse_log_key(held[0]))
                       if seq >= start_seq]
        while True:
            for k, v in rows:
                if len(out) >= max_entries:
                    return out
                out.extend(enumerate(decode_log_entries(v), parse_log_key(k)))
            if len(rows) < n or len(out) >= max_entries:
                return out
            n = min(max_entries - len(out), 64)
            rows = eng.scan(rows[-1][0] + b"\x00", limit, n)

    def flush(self) -> None:
        """Make every commit so far durable (one engine flush for the group)."""
        self.engine.flush()

    def rollback(self) -> None:
        """Discard unflushed commits (after a failed flush) and resync counters."""
        self.engine.rollback()
        self.reload()

    def read_view(self):
        """The engine's view of committed data for the reactor thread, or None.

        Created on first use by the (one) thread that reads through it; memstore
        has none.  Its connection is released with the Store object."""
        v = self._read_view
        if v is None:
            if self.closed:
                return None
            v = self._read_view = self.engine.read_view() or False
        return v or None

    def close(self) -> None:
        self.closed = True
        for sn in list(self._snapshots):
            sn.abort()
        self.engine.close()
