"""Sync metadata kept in each database store: key layout and private encodings.

The key layout follows Go's vsync (``y\\xfe...`` keys, one log per origin device
and generation, one DAG per object, knowledge per sync prefix).  The values are
v23py-private compact binary records (they never leave the daemon; what goes on
the wire is ``interfaces.LogRecMetadata`` etc., converted at the edges).

    y\\xfea\\xfe<oid>\\xfe<version>          DAG node
    y\\xfeb\\xfe<oid>                        DAG head version, where the object's
                                          version pointer does not name it (dag._head)
    y\\xfec\\xfe<batch id decimal>           BatchInfo of a multi-object batch
    y\\xfed                                 DbSyncState (knowledge, paused)
    y\\xfei\\xfe<gid>                        SgLocalState of a joined syncgroup
    y\\xfel\\xfed\\xfe<dev>\\xfe<gen %016x>    data log record (dev in decimal)
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
from itertools import repeat
from typing import NamedTuple

from v23py.gostrings import KEEP_BYTES as _KEEP, UTF8 as _UTF8   # (Go strings: any bytes)
from syncbased.store.core import SEP

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


def s_each(bs):
    """s() of each of ``bs``, lazily, in one C loop (str(b, encoding, errors) decodes)."""
    return map(str, bs, repeat(_UTF8), repeat(_KEEP))


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


def log_key_at(prefix: bytes, gen: int) -> bytes:
    """The log key of generation ``gen`` under a device's ``log_prefix``."""
    return prefix + b"%016x" % gen


def log_key(pfx: bytes, dev: int, gen: int) -> bytes:
    return log_key_at(log_prefix(pfx, dev), gen)


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
    if not n.parents:      # (a received row's first version: most nodes of a bulk sync)
        return _NODE.pack(n.level, n.batch, n.t, 1 if n.deleted else 0, len(n.logrec)) + n.logrec
    parts = [_NODE.pack(n.level, n.batch, n.t, 1 if n.deleted else 0, len(n.logrec)), n.logrec]
    for p in n.parents:
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


def encode_batch(objects: dict, linked: dict, count: int) -> bytes:
    """Go's BatchInfo (Objects and LinkedObjects: oid -> version; Count: the
    number of operations of the original commit)."""
    return json.dumps({"Objects": dict(zip(s_each(objects), s_each(objects.values()))),
                       "LinkedObjects": dict(zip(s_each(linked), s_each(linked.values()))),
                       "Count": count}, separators=(",", ":")).encode()


def decode_batch(raw):
    """(objects, linked, count) of a stored BatchInfo."""
    obj = json.loads(raw)
    return ({b(o): b(v) for o, v in obj["Objects"].items()},
            {b(o): b(v) for o, v in obj["LinkedObjects"].items()}, int(obj["Count"]))


# Keys outside the sync metadata that sync reads or writes.
PEERS = Y + b"peer" + SEP            # in the service store: addresses of known peers
VERSION = b"v" + SEP                 # the store's version pointers
ROW, CX = b"r" + SEP, b"c" + SEP     # data objects: rows and collection permissions
DATA = b"d"                          # the data log's prefix part
