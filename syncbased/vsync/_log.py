"""Sync metadata kept in each database store: key layout and private encodings.

The key layout follows Go's vsync (``y\\xfe...`` keys, one log per origin device
and generation, one DAG per object, knowledge per sync prefix).  The values are
v23py-private compact binary records (they never leave the daemon; what goes on
the wire is ``interfaces.LogRecMetadata`` etc., converted at the edges).

    y\\xfea\\xfe<oid>\\xfe<version>          DAG node
    y\\xfeb\\xfe<oid>                        DAG head version, where the object's
                                          version pointer does not name it (dag._head)
    y\\xfec\\xfe<batch id decimal>           BatchInfo of a multi-object batch (store
                                          format 5: binary, see encode_batch)
    y\\xfec\\xfe<batch id decimal>\\xfe<n>     its part n (store format 6: batch_writes)
    y\\xfed                                 DbSyncState (knowledge, paused)
    y\\xfei\\xfe<gid>                        SgLocalState of a joined syncgroup
    y\\xfel\\xfed\\xfe<dev>\\xfe<gen %016x>    data log record (dev in decimal)
    y\\xfel\\xfed\\xfe<dev>\\xfe<gen %016x>-<last gen %016x>
                                          data log records of consecutive generations
                                          (log_chunks; store format 4)
    y\\xfel\\xfe<sgoid>\\xfe<dev>\\xfe<gen>     syncgroup log record
    y\\xfes\\xfe<gid>\\xfe<version>          Syncgroup value (VOM) at a version
    y\\xfep                                 next log position (v23py)

Object ids (oids) are store keys: ``r\\xfe<collection>\\xfe<row>`` and
``c\\xfe<collection>\\xfe`` for data, ``y\\xfes\\xfe<gid>`` for syncgroups.
On the wire (Go strings) they are the same bytes, carried in Python ``str``
with ``surrogateescape``.
"""
from __future__ import annotations

import base64
import hashlib
import json
import struct
from itertools import chain

from v23py.gostrings import KEEP_BYTES as _KEEP, UTF8 as _UTF8   # (Go strings: any bytes)
from v23py.records import NamedTuple
from syncbased.store.core import RECORD_BYTES, SEP

Y = b"y" + SEP
NODE = Y + b"a" + SEP
HEAD = Y + b"b" + SEP
BATCH = Y + b"c" + SEP
DBSTATE = Y + b"d"
SGSTATE = Y + b"i" + SEP
LOG = Y + b"l" + SEP
LOG_DATA = LOG + b"d" + SEP
SGDATA = Y + b"s" + SEP
POS = Y + b"p"

NODE_REC = 0
LINK_REC = 1




def s(b: bytes) -> str:
    """Go string bytes as a Python str (lossless)."""
    return b.decode(_UTF8, _KEEP)


def b(x: str) -> bytes:
    return x.encode(_UTF8, _KEEP)


def prefix_limit(p: bytes) -> bytes:
    x = bytearray(p)
    while x and x[-1] == 0xFF:
        x.pop()
    if x:
        x[-1] += 1
    return bytes(x)


def gid_of(db_id, sg_id) -> str:
    """Go's SgIdToGid: base64 (std, unpadded) of SHA-256 over "<enc db>/<enc sg>"."""
    from v23py.syncbase.util import encode_id
    h = hashlib.sha256((encode_id(db_id) + "/" + encode_id(sg_id)).encode()).digest()
    return base64.b64encode(h).rstrip(b"=").decode()


def sgoid(gid: str) -> bytes:
    return SGDATA + gid.encode()


def gid_from_oid(oid: bytes) -> str | None:
    if not oid.startswith(SGDATA):
        return None
    rest = oid[len(SGDATA):]
    if not rest or SEP in rest:
        return None
    return rest.decode("ascii", "replace")


def log_prefix(pfx: bytes, dev: int) -> bytes:
    """Log keys of one device: data (``pfx`` = b"d") or a syncgroup (``pfx`` = sgoid)."""
    return LOG + pfx + SEP + b"%d" % dev + SEP


_GEN = b"%016x"          # a generation in log keys (fixed width: they sort by it)
_GEN_DIGITS = 16


def log_key_at(prefix: bytes, gen: int) -> bytes:
    """The log key of generation ``gen`` under a device's ``log_prefix``."""
    return prefix + _GEN % gen


def log_key(pfx: bytes, dev: int, gen: int) -> bytes:
    return log_key_at(log_prefix(pfx, dev), gen)


# A run of consecutive generations of a device's data log written by one commit (a
# received round, a PutRows batch) is stored as one record (store format 4): one SQLite
# row instead of one per synced row.  Its key is the run's first log key, CHUNK_MARK and
# the last generation, so it sorts after the first generation's key and before the next
# one's; its value holds the records one after another, each length-prefixed.  A key
# without the mark holds one record (every record before format 4, and single ones).
CHUNK_MARK = b"-"
_RUN_MARK = len(CHUNK_MARK) + _GEN_DIGITS       # (what a run's key adds to its first's)


def log_key_gens(key: bytes) -> tuple:
    """(first, last) generation of the records under a log key."""
    last = int(key[-_GEN_DIGITS:], 16)
    if key[-_GEN_DIGITS - 1:-_GEN_DIGITS] != CHUNK_MARK:
        return last, last
    return int(key[-2 * _GEN_DIGITS - 1:-_GEN_DIGITS - 1], 16), last


def log_chunks(recs: dict):
    """What to store for one commit's log records ``recs`` (log key -> (its log_prefix,
    generation, encode_rec bytes)): (key, value) pairs, each run of consecutive
    generations of a log one record of RECORD_BYTES at most with its key (store format
    6), a record without neighbours (or longer than that) itself."""
    run: list = []
    run_lp = None
    run_next = 0
    size = room = 0   # (the run's stored bytes, each record and its length; their limit)
    for key in sorted(recs):
        lp, gen, rec = recs[key]
        size += 4 + len(rec)
        if gen != run_next or lp != run_lp or size > room:
            if run:
                yield _run_record(run_key, run_next - 1, run)
            run, run_lp, run_key = [], lp, key
            size = 4 + len(rec)
            room = RECORD_BYTES - len(key) - _RUN_MARK    # (the run's key: see _run_record)
        run.append(rec)
        run_next = gen + 1
    if run:
        yield _run_record(run_key, run_next - 1, run)


def _run_record(first_key: bytes, last: int, recs: list):
    """A run's stored record: the records' lengths (u32 each), then the records."""
    if len(recs) == 1:
        return first_key, recs[0]
    return (first_key + CHUNK_MARK + _GEN % last,
            struct.pack(">%dI" % len(recs), *map(len, recs)) + b"".join(recs))


def decode_log_value(key: bytes, value: bytes) -> list:
    """The Recs stored under a log key."""
    if key[-_GEN_DIGITS - 1:-_GEN_DIGITS] != CHUNK_MARK:
        return [decode_rec(value)]
    first, last = log_key_gens(key)
    n = last - first + 1
    out = []
    mv = memoryview(value)
    pos = 4 * n
    for size in struct.unpack_from(">%dI" % n, value):
        out.append(decode_rec(mv[pos:pos + size]))
        pos += size
    return out


def scan_log(engine, lp: bytes, lo: int, hi: int):
    """The Recs of generations ``lo`` to ``hi`` of the log under ``lp`` (a log_prefix),
    in order, whether stored one a record or in runs."""
    start, limit = log_key_at(lp, lo), log_key_at(lp, hi + 1)
    held = engine.last(lp, start)      # (a run begun before ``lo`` may hold it)
    rows = [held] if held is not None and log_key_gens(held[0])[1] >= lo else []
    done = lo - 1
    n = 32           # (rows a read: few runs make a round, many single records)
    while True:
        for k, v in rows:
            for rec in decode_log_value(k, v):
                if done < rec.gen <= hi:
                    done = rec.gen
                    yield rec
        if start is None:
            return
        rows = engine.scan(start, limit, n)
        start = rows[-1][0] + b"\x00" if len(rows) == n else None
        n = min(2 * n, 1000)


def last_gen(engine, lp: bytes) -> int:
    """The last generation of the log under ``lp`` (0: none)."""
    last = engine.last(lp, prefix_limit(lp))
    return log_key_gens(last[0])[1] if last else 0


def log_rec_stored(engine, lk: bytes) -> bool:
    """The engine holds the record of log key ``lk`` (alone or in a run)."""
    lp, gen = lk[:-_GEN_DIGITS], int(lk[-_GEN_DIGITS:], 16)
    row = engine.last(lp, log_key_at(lp, gen + 1))
    return row is not None and log_key_gens(row[0])[1] >= gen


def read_log_rec(engine, lk: bytes):
    """The Rec of log key ``lk``, or None."""
    lp, gen = lk[:-_GEN_DIGITS], int(lk[-_GEN_DIGITS:], 16)
    for rec in scan_log(engine, lp, gen, gen):
        return rec
    return None


# --- log records --------------------------------------------------------------

class Rec(NamedTuple):
    id: int
    gen: int
    rectype: int
    oid: bytes
    vers: bytes
    parents: tuple
    t: int            # UpdTime, unix ns
    delete: bool
    batch: int
    count: int
    pos: int


_REC = struct.Struct(">QQBqQQQBHH")


def encode_rec(r: Rec) -> bytes:
    return encode_rec_fields(*r)


def encode_rec_fields(id, gen, rectype, oid, vers, parents, t, delete, batch, count,
                      pos) -> bytes:
    """encode_rec(Rec(...)) without making the Rec (a received record's)."""
    head = _REC.pack(id, gen, rectype, t, batch, count, pos, 1 if delete else 0, len(oid),
                     len(vers))
    if not parents:
        return head + oid + vers
    parts = [head, oid, vers]
    for p in parents:
        parts.append(struct.pack(">H", len(p)))
        parts.append(p)
    return b"".join(parts)


def decode_rec(data: bytes) -> Rec:
    (i, g, rt, t, batch, count, pos, d, no, nv) = _REC.unpack_from(data, 0)
    p = _REC.size
    oid = data[p:p + no]
    p += no
    vers = data[p:p + nv]
    p += nv
    parents = []
    while p < len(data):
        (n,) = struct.unpack_from(">H", data, p)
        p += 2
        parents.append(bytes(data[p:p + n]))
        p += n
    return Rec(i, g, rt, bytes(oid), bytes(vers), tuple(parents), t, bool(d), batch, count, pos)


# --- DAG nodes -------------------------------------------------------------------

class Node(NamedTuple):
    level: int
    parents: tuple
    logrec: bytes     # key of the log record that made this version (b"" if none)
    batch: int
    deleted: bool
    t: int            # UpdTime of the version (unix ns), used by last-writer-wins


_NODE = struct.Struct(">QQqBH")


def encode_node(n: Node) -> bytes:
    return encode_node_fields(*n)


def encode_node_fields(level, parents, logrec, batch, deleted, t) -> bytes:
    """encode_node(Node(...)) without making the Node (a local write's)."""
    if not parents:      # (a row's first version: most nodes of a bulk sync)
        return _NODE.pack(level, batch, t, 1 if deleted else 0, len(logrec)) + logrec
    parts = [_NODE.pack(level, batch, t, 1 if deleted else 0, len(logrec)), logrec]
    for p in parents:
        parts.append(struct.pack(">H", len(p)))
        parts.append(p)
    return b"".join(parts)


def decode_node(data: bytes) -> Node:
    level, batch, t, d, nl = _NODE.unpack_from(data, 0)
    p = _NODE.size
    logrec = bytes(data[p:p + nl])
    p += nl
    parents = []
    while p < len(data):
        (n,) = struct.unpack_from(">H", data, p)
        p += 2
        parents.append(bytes(data[p:p + n]))
        p += n
    return Node(level, tuple(parents), logrec, batch, bool(d), t)


# --- knowledge ----------------------------------------------------------------------

def dumps_knowledge(k: dict) -> dict:
    return {p: {str(d): g for d, g in gv.items()} for p, gv in k.items()}


def loads_knowledge(obj) -> dict:
    return {p: {int(d): int(g) for d, g in gv.items()} for p, gv in (obj or {}).items()}


def encode_dbstate(genvecs, sggenvecs, paused) -> bytes:
    return json.dumps({"GenVecs": dumps_knowledge(genvecs),
                       "SgGenVecs": dumps_knowledge(sggenvecs),
                       "IsPaused": bool(paused)}, separators=(",", ":")).encode()


def decode_dbstate(raw):
    if not raw:
        return {}, {}, False
    obj = json.loads(raw)
    return (loads_knowledge(obj.get("GenVecs")), loads_knowledge(obj.get("SgGenVecs")),
            bool(obj.get("IsPaused")))


def encode_sgstate(st: dict) -> bytes:
    st = dict(st)
    st["PendingGenVec"] = {str(d): g for d, g in st.get("PendingGenVec", {}).items()}
    return json.dumps(st, separators=(",", ":")).encode()


def decode_sgstate(raw) -> dict:
    st = json.loads(raw)
    st["PendingGenVec"] = {int(d): int(g) for d, g in st.get("PendingGenVec", {}).items()}
    return st


# --- batches ---------------------------------------------------------------------------

def batch_key(bid: int) -> bytes:
    return BATCH + b"%d" % bid


# A BatchInfo is stored in binary (store format 5): BATCH_BINARY, then the count, how
# many objects and linked objects, then every length (u32: object ids, their versions,
# linked ids, their versions), then those bytes in the same order.  Stores of earlier
# formats hold it as JSON of the surrogateescape strings (an object, so "{" first):
# decode_batch reads both.  (The JSON of a 500-row batch cost ~1.1 M instructions to
# write, ~2 k per synced row, on the writer's commit and again on each receiver's.)
BATCH_BINARY = b"\x01"
_BATCH_HEAD = struct.Struct(">QII")


def encode_batch(objects: dict, linked: dict, count: int) -> bytes:
    """Go's BatchInfo (Objects and LinkedObjects: oid -> version; Count: the
    number of operations of the original commit)."""
    parts = (objects.keys(), objects.values(), linked.keys(), linked.values())
    n = 2 * (len(objects) + len(linked))
    head = (BATCH_BINARY + _BATCH_HEAD.pack(count, len(objects), len(linked))
            + struct.pack(">%dI" % n, *map(len, chain.from_iterable(parts))))
    return b"".join(chain((head,), *parts))


def decode_batch(raw):
    """(objects, linked, count) of a stored BatchInfo."""
    if raw[:1] != BATCH_BINARY:        # (JSON: a store of format 4 or earlier)
        obj = json.loads(raw)
        return ({b(o): b(v) for o, v in obj["Objects"].items()},
                {b(o): b(v) for o, v in obj["LinkedObjects"].items()}, int(obj["Count"]))
    raw = bytes(raw)
    count, no, nl = _BATCH_HEAD.unpack_from(raw, 1)
    n = 2 * (no + nl)
    pos = 1 + _BATCH_HEAD.size
    lens = struct.unpack_from(">%dI" % n, raw, pos)
    pos += 4 * n
    fields = []
    for size in lens:
        end = pos + size
        fields.append(raw[pos:end])
        pos = end
    if pos != len(raw):
        raise ValueError("a BatchInfo record of the wrong length")
    return (dict(zip(fields[:no], fields[no:2 * no])),
            dict(zip(fields[2 * no:2 * no + nl], fields[2 * no + nl:])), count)


# Store format 6: a BatchInfo longer than a record may be (RECORD_BYTES with its key) is
# stored in parts (a 500-row batch's is ~38 KB), its encode_batch bytes cut in order: the
# first under batch_key, after BATCH_PARTS and the number of parts, the others under
# batch_key + SEP + their number (decimal, from 1).  A shorter one, and every BatchInfo of
# an earlier format, is the one record under batch_key.  (The SEP keeps one batch's parts
# apart from another batch whose id starts with the same digits.)
BATCH_PARTS = b"\x02"
_PARTS_HEAD = struct.Struct(">cI")
_PART_MARK = len(SEP) + 7       # (what a part's key adds to batch_key: SEP, its number)


def _part_key(key: bytes, i: int) -> bytes:
    return key + SEP + b"%d" % i


def _parts(first) -> int:
    """The number of stored records of the BatchInfo whose first record is ``first``."""
    if first is None:
        return 0
    if first[:1] != BATCH_PARTS:
        return 1
    return _PARTS_HEAD.unpack_from(first)[1]


def batch_writes(bid: int, objects: dict, linked: dict, count: int, old=None) -> dict:
    """The writes that store batch ``bid``'s BatchInfo (see encode_batch) in place of
    the one whose first record is ``old`` (None: none): its records, and a deletion of
    each part of the old one past the new one's."""
    raw = encode_batch(objects, linked, count)
    key = batch_key(bid)
    room = RECORD_BYTES - len(key) - _PART_MARK       # (a part's bytes, at most)
    if len(raw) <= room:
        out = {key: raw}
        if old is None:       # (a new batch of a few objects: a Put's, say)
            return out
    else:
        head = room - _PARTS_HEAD.size
        n = 1 + -(-(len(raw) - head) // room)
        out = {key: _PARTS_HEAD.pack(BATCH_PARTS, n) + raw[:head]}
        for i in range(1, n):
            start = head + (i - 1) * room
            out[_part_key(key, i)] = raw[start:start + room]
    for i in range(len(out), _parts(old)):
        out[_part_key(key, i)] = None
    return out


def read_batch(get, bid: int, first=None):
    """Batch ``bid``'s BatchInfo as decode_batch gives it, or None when there is none;
    ``get(key)`` reads a stored record (None: none).  ``first``: its first record, when
    the caller has read it."""
    key = batch_key(bid)
    if first is None:
        first = get(key)
    n = _parts(first)
    if n <= 1:
        return decode_batch(first) if n else None
    parts = [first[_PARTS_HEAD.size:]]
    for i in range(1, n):
        part = get(_part_key(key, i))
        if part is None:
            raise ValueError(f"a BatchInfo of {n} parts without part {i}")
        parts.append(part)
    return decode_batch(b"".join(parts))


def stored_batches(rows) -> dict:
    """{batch id: its BatchInfo as decode_batch gives it} of ``rows``, the (key, value)
    pairs stored under BATCH."""
    held = dict(rows)
    return {bid: read_batch(held.get, bid) for bid in
            (int(k[len(BATCH):]) for k in held if SEP not in k[len(BATCH):])}


# Keys outside the sync metadata that sync reads or writes.
PEERS = Y + b"peer" + SEP            # in the service store: addresses of known peers
VERSION = b"v" + SEP                 # the store's version pointers
ROW, CX = b"r" + SEP, b"c" + SEP     # data objects: rows and collection permissions
DATA = b"d"                          # the data log's prefix part
