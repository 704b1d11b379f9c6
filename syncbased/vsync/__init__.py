"""Peer-to-peer sync between syncbased daemons, on Go's peer protocol.

Daemons talk to each other through Go's ``interfaces.Sync`` at
``<daemon>/%%sync`` (package ``v.io/x/ref/services/syncbase/server/interfaces``,
declared in ``syncbased/vsync/interfaces/*.vdl``): ``GetTime``, ``GetDeltas``
(a ``DeltaReq`` in, a stream of ``DeltaResp`` out: log records, then the
responder's knowledge), ``JoinSyncgroupAtAdmin``.

The model is Go's vsync:

* Every daemon has a random 64-bit id (service key ``y``); its member name is
  the id in lowercase hex.
* Every change to a synced object is a log record (``LogRecMetadata``: origin
  device, generation, object id, version, parents, update time, delete flag)
  and a node of that object's version DAG.  Local writes become records in
  the same durable commit as the write (a pre-commit hook of the store), so a
  record is never served before its data is on disk.  Deletes are nodes.
* Syncgroups are objects too (oid ``y\\xfes\\xfe<gid>``): their versions have
  their own logs and DAGs and are pulled first in each round (``SgDeltaReq``).
* Knowledge is a generation vector per sync prefix (data, keyed by the
  collection prefix) or per syncgroup oid; the initiator sends its knowledge,
  the responder streams what is missing in its log order, then its own
  knowledge, which the initiator merges once the records are applied.
* Conflicts (two heads after a round) resolve last-writer-wins on the update
  time, ties to the larger version string; the loser becomes a parent of the
  winner through a link record, so every peer ends with the same head.
* A commit of several operations is a batch (Go's BatchInfo at
  ``y\\xfec\\xfe<id>``, kept by every peer); a responder never cuts a batch
  across rounds and a round is applied in one transaction, so a peer sees a
  batch whole or not at all.
* Peers are found through the admin named in a join, addresses learned before
  (persisted), multicast DNS with Go's discovery advertisements
  (``syncbased/vsync/neighborhood.py``), a same-host neighborhood directory
  (``$TMPDIR/syncbased-nh``, also the fallback where multicast is unavailable;
  admins also advertise their syncgroups there, and a join whose named admin
  fails tries those), and the conn a peer opened to us (our sync RPCs use the
  server's flow manager, so such a conn can be dialed back by routing id).

Rounds are bounded: a responder sends at most ``MAX_RECORDS_PER_ROUND`` records
(more only to finish a batch) and then knowledge that claims exactly what was
sent; the initiator continues at once when a round was full, fetching the next
round while it applies the last.
"""
from __future__ import annotations

import heapq
import json
import os
import random
import struct
import tempfile
import time

from twisted.internet import defer, task

from v23py import verror, vdl, vom
from v23py.syncbase import _wire
from v23py.syncbase.util import Id, validate_id
from v23py.vdlroot.time import Time
from syncbased import access
from syncbased.access import READ, WRITE, ADMIN
from syncbased.service import (SEP, id_key_part, _perms_obj, _load_perms,
                               encode_collection_perms, decode_collection_perms)
from syncbased.store import PutOp, DeleteOp, DbStateChangeRequestOp, new_version
from syncbased.vsync import interfaces as I
from syncbased.vsync import appcr, cr
from syncbased.blobstore.manager import BlobSyncMethods
from syncbased.vsync._log import (
    NODE, HEAD, DBSTATE, SGSTATE, SGDATA, POS, NODE_REC, LINK_REC, EPOCH, Rec, Node,
    s, b, prefix_limit, gid_of, sgoid, gid_from_oid, log_prefix, log_key,
    encode_rec, decode_rec, encode_node, decode_node, encode_dbstate, decode_dbstate,
    encode_sgstate, decode_sgstate, batch_key, encode_batch, decode_batch)

PEERS = b"y" + SEP + b"peer" + SEP      # in the service store
VERSION = b"v" + SEP                     # the store's version pointers
TICK = 0.05
SG_ROUND_INTERVAL = 0.25                 # seconds between syncgroup-metadata rounds per peer
TIME_INTERVAL = 2.0                      # seconds between GetTime exchanges per peer (Go: every round)
NH_DIR = os.path.join(tempfile.gettempdir(), "syncbased-nh")
NH_SG_DIR = os.path.join(NH_DIR, ".sg")  # .sg/<gid>/<hex>: admins of a syncgroup (Go's sg ads)
AD_INTERVAL = 1.0                        # seconds between refreshes of our admin ads
JOIN_TIMEOUT = 5.0                       # per admin tried by a join
# bounds one round's memory and store-thread time (the environment variable is a
# tuning knob, also used by tests to make rounds small)
MAX_RECORDS_PER_ROUND = max(1, int(os.environ.get("V23PY_SYNC_ROUND_RECORDS") or 5000))
SEND_CHUNK = 200                        # streamed records per flow write
MAX_CHAINED_ROUNDS = 20                 # full rounds fetched back to back with one peer
MAX_ITEMS_RECEIVED = 1_000_000          # a responder sending more is cut off
MAX_PARENTS = 2
MAX_STR = 64 * 1024
DATA = b"d"                              # the data log's prefix part
_ROW, _CX = b"r" + SEP, b"c" + SEP

DbOffline = I.ErrDbOffline


def _bad(msg):
    return verror.BadProtocol.new(f"malformed sync deltas: {msg}")


def db_offline(db_id):
    # (the message is formatted here: our VDL compiler keeps Go's named {dbId} as is)
    return I.ErrDbOffline.new(f"database {db_id.Blessing},{db_id.Name} is offline and cannot "
                              "be synced", _wid(db_id))


def now_time(ns=None) -> Time:
    ns = time.time_ns() if ns is None else ns
    return Time(Seconds=ns // 10**9 + EPOCH, Nanos=ns % 10**9)


def time_ns(t) -> int:
    return (int(t.Seconds) - EPOCH) * 10**9 + int(t.Nanos)


def sg_key(sg_id) -> bytes:
    return SGDATA + id_key_part(sg_id)


def collection_prefix(cx_id) -> bytes:
    """The sync prefix of a collection: ``<blessing>\\x00<name>\\x00\\xfe``."""
    return id_key_part(cx_id) + SEP


def _wid(i):
    return _wire.new(_wire.IdType, Blessing=i.Blessing, Name=i.Name)


def spec_to_json(spec) -> dict:
    return {"Description": spec.Description, "PublishSyncbaseName": spec.PublishSyncbaseName,
            "Perms": _perms_obj(access.from_any(spec.Perms) or {}),
            "Collections": [[c.Blessing, c.Name] for c in spec.Collections or ()],
            "MountTables": list(spec.MountTables or ()), "IsPrivate": bool(spec.IsPrivate)}


def spec_to_wire(obj):
    from syncbased.server import perms_out
    return _wire.new(_wire.SyncgroupSpecType, Description=obj["Description"],
                     PublishSyncbaseName=obj["PublishSyncbaseName"],
                     Perms=perms_out(_load_perms(obj["Perms"])),
                     Collections=[_wid(Id(*c)) for c in obj["Collections"]],
                     MountTables=list(obj["MountTables"]), IsPrivate=obj["IsPrivate"])


def normalize_spec(spec):
    return spec_to_wire(spec_to_json(spec))


def member_info(info):
    return _wire.new(_wire.SyncgroupMemberInfoType,
                     SyncPriority=int(getattr(info, "SyncPriority", 0) or 0),
                     BlobDevType=int(getattr(info, "BlobDevType", 0) or 0))


class SgEntry:
    """A joined syncgroup: its current value and version, and local state."""

    def __init__(self, gid, sg, version: bytes, local: dict):
        self.gid = gid
        self.oid = sgoid(gid)
        self.soid = s(self.oid)
        self.sg = sg
        self.version = version
        self.local = local
        self.id = Id(sg.Id.Blessing, sg.Id.Name)
        self.perms = access.from_any(sg.Spec.Perms) or {}
        self.prefixes = [collection_prefix(Id(c.Blessing, c.Name)) for c in sg.Spec.Collections]
        self.joiners = {h for h, st in sg.Joiners.items() if not st.HasLeft}

    @property
    def pending(self):
        return bool(self.local.get("SyncPending"))


class _Graft:
    """Per-object bookkeeping of one round: old head, new nodes, referenced parents."""
    __slots__ = ("old", "new", "refd", "nodes")

    def __init__(self, old):
        self.old = old
        self.new = set()
        self.refd = set()
        self.nodes = {}


class DbSync:
    """Sync state of one database (lives on the store thread)."""

    def __init__(self, sync: "SyncService", db):
        self.sync = sync
        self.id = sync.id
        self.db = db
        self.st = db.st
        eng = self.st.engine
        self.genvecs, self.sggenvecs, self.paused = decode_dbstate(eng.get(DBSTATE))
        raw = eng.get(POS)
        self.pos = int(raw) if raw else 0
        self.gen = self._last_gen(DATA)
        self.sgs = {}            # gid -> SgEntry
        self.sggen = {}          # gid -> last local generation of its log
        for k, v in eng.scan(SGSTATE, prefix_limit(SGSTATE)):
            gid = k[len(SGSTATE):].decode()
            try:
                self._load_sg(gid, decode_sgstate(v))
            except (ValueError, KeyError, verror.VError):
                continue
        self._refresh()
        self.more = False
        self._pre = None         # keys read ahead for the running store task
        self.st.commit_hooks.append(self._hook)

    # --- state helpers ---
    def _last_gen(self, pfx: bytes) -> int:
        lp = log_prefix(pfx, self.id)
        last = self.st.engine.last(lp, prefix_limit(lp))
        return int(last[0][len(lp):], 16) if last else 0

    def _load_sg(self, gid, local):
        oid = sgoid(gid)
        ver = self.st.engine.get(HEAD + oid)
        raw = self.st.engine.get(SGDATA + gid.encode() + SEP + ver) if ver else None
        if raw is None:
            raise ValueError("no syncgroup value")
        sg = vom.decode(raw, I.Syncgroup._vdl_type)
        self.sgs[gid] = SgEntry(gid, sg, ver, local)
        self.sggen[gid] = self._last_gen(oid)

    def _refresh(self):
        self.by_id = {e.id: e for e in self.sgs.values()}
        self.prefixes = sorted({p for e in self.sgs.values() for p in e.prefixes})

    def entry(self, sg_id):
        return self.by_id.get(sg_id)

    def _synced(self, key: bytes) -> bool:
        if key[:2] not in (_ROW, _CX):
            return False
        rest = key[2:]
        for p in self.prefixes:
            if rest.startswith(p):
                return True
        return False

    def _dbstate(self):
        return encode_dbstate(self.genvecs, self.sggenvecs, self.paused)

    # --- local writes -> log records and DAG nodes (pre-commit hook) ---
    def _hook(self, store, writes, ops, ts, from_sync):
        """Local changes to synced keys become log records + DAG nodes in the same commit.

        PauseSync/ResumeSync requests (DbStateChangeRequestOp) flip ``paused``,
        persisted in the same commit."""
        for op in ops:
            if isinstance(op, DbStateChangeRequestOp):
                self.paused = op.RequestType == 0
                writes[DBSTATE] = self._dbstate()
        if from_sync or not self.prefixes:
            return
        todo = [op for op in ops if isinstance(op, (PutOp, DeleteOp)) and self._synced(op.Key)]
        if not todo:
            return
        # Go's watcher: a commit of more than one operation (any kind, synced or
        # not) is a batch; its records carry the batch id and the commit's
        # operation count, and its BatchInfo lists the synced objects.
        count = len(ops)
        batch = self._new_batch_id(writes) if count > 1 else 0
        objects = {}
        if len(todo) > 8:
            self._prefetch([HEAD + op.Key for op in todo])   # the heads in one read
        try:
            for op in todo:
                deleted = isinstance(op, DeleteOp)
                ver = new_version() if deleted else op.Version
                self._local_node(writes, op.Key, ver, ts, deleted, batch, count if batch else 0)
                objects[op.Key] = ver
        finally:
            self._pre = None
        if batch:
            writes[batch_key(batch)] = encode_batch(objects, {}, count)
        writes[POS] = b"%d" % self.pos

    def _new_batch_id(self, writes) -> int:
        while True:
            bid = random.getrandbits(63)
            if bid and self._get(writes, batch_key(bid)) is None:
                return bid

    def _get(self, writes, key):
        if writes is not None and key in writes:
            return writes[key]
        pre = self._pre
        if pre is not None and key in pre:
            return pre[key]
        return self.st.engine.get(key)

    def _prefetch(self, keys):
        """Read ``keys`` in one pass for the current store task (``_get`` then uses them)."""
        pre = dict.fromkeys(keys)
        pre.update(_get_many(self.st.engine, pre))
        self._pre = pre

    def _local_node(self, writes, oid, ver: bytes, ts, deleted, batch=0, count=0):
        head = self._get(writes, HEAD + oid)
        parents = (head,) if head else ()
        level = 0
        if head:
            raw = self._get(writes, NODE + oid + SEP + head)
            level = decode_node(raw).level + 1 if raw else 0
        self.gen += 1
        self.pos += 1
        lk = log_key(DATA, self.id, self.gen)
        writes[lk] = encode_rec(Rec(self.id, self.gen, NODE_REC, oid, ver, parents, ts, deleted,
                                    batch, count, self.pos))
        writes[NODE + oid + SEP + ver] = encode_node(Node(level, parents, lk, batch, deleted, ts))
        writes[HEAD + oid] = ver

    def bootstrap(self, prefixes):
        """Give every existing key under these collection prefixes a DAG node if it has none."""
        writes = {}
        now = time.time_ns()
        for pfx in prefixes:
            for kind in (b"c", b"r"):
                vp = b"v" + SEP + kind + SEP + pfx
                for vk, ver in self.st.engine.scan(vp, prefix_limit(vp)):
                    oid = vk[2:]
                    if kind == b"c" and not oid.endswith(SEP):
                        continue
                    if self._get(writes, HEAD + oid) is None:
                        self._local_node(writes, oid, ver, now, False)
        if writes:
            writes[POS] = b"%d" % self.pos
            tx = self.st.transaction()
            for k, v in writes.items():
                tx.raw_put(k, v)
            tx.commit()

    # --- syncgroup versions made here ---
    def local_sg_version(self, writes, gid, sg, local=None):
        """A new version of a syncgroup made on this node: value, log record, DAG node, head."""
        oid = sgoid(gid)
        ver = new_version()
        head = self._get(writes, HEAD + oid)
        parents = (head,) if head else ()
        level = 0
        if head:
            raw = self._get(writes, NODE + oid + SEP + head)
            level = decode_node(raw).level + 1 if raw else 0
        gen = self.sggen.get(gid, 0) + 1
        self.sggen[gid] = gen
        self.pos += 1
        ts = time.time_ns()
        lk = log_key(oid, self.id, gen)
        writes[lk] = encode_rec(Rec(self.id, gen, NODE_REC, oid, ver, parents, ts, False, 0, 0,
                                    self.pos))
        writes[NODE + oid + SEP + ver] = encode_node(Node(level, parents, lk, 0, False, ts))
        writes[HEAD + oid] = ver
        writes[SGDATA + gid.encode() + SEP + ver] = vom.encode(sg, I.Syncgroup._vdl_type)
        if local is not None:
            writes[SGSTATE + gid.encode()] = encode_sgstate(local)
        writes[POS] = b"%d" % self.pos
        return ver

    def commit_sg(self, gid, sg, local=None, version=None):
        """Write a syncgroup version (made here, or given by an admin at join) and load it."""
        writes = {}
        if version is None:
            version = self.local_sg_version(writes, gid, sg, local)
        else:
            # a version learned at join: node without a log record, history comes by sync
            oid = sgoid(gid)
            writes[SGDATA + gid.encode() + SEP + version] = vom.encode(sg, I.Syncgroup._vdl_type)
            writes[NODE + oid + SEP + version] = encode_node(Node(0, (), b"", 0, False, 0))
            writes[HEAD + oid] = version
            writes[SGSTATE + gid.encode()] = encode_sgstate(local)
        tx = self.st.transaction()
        for k, v in writes.items():
            tx.raw_put(k, v)
        tx.commit()
        old = self.sgs.get(gid)
        self.sgs[gid] = SgEntry(gid, sg, version, local if local is not None else old.local)
        self.sggen.setdefault(gid, 0)
        self._refresh()
        return version

    def sg_genvec(self, gid) -> dict:
        gv = dict(self.sggenvecs.get(s(sgoid(gid)), {}))
        gv[self.id] = self.sggen.get(gid, 0)
        return gv

    def mount_tables(self) -> list:
        return sorted({mt for e in self.sgs.values() for mt in e.sg.Spec.MountTables or ()})

    def admin_gids(self, own_names) -> list:
        """Syncgroups this daemon may accept joins for (its blessings are sg Admin)."""
        if own_names is None:
            return []
        return sorted(gid for gid, e in self.sgs.items()
                      if not e.pending and access.allowed(e.perms, (ADMIN,), own_names))

    def members(self) -> set:
        out = set()
        for e in self.sgs.values():
            out.update(e.joiners)
        out.discard(self.sync.hex)
        return out

    # --- initiator: requests ---
    def shared(self, peer_hex):
        return [e for e in self.sgs.values() if peer_hex in e.joiners]

    def read_perms(self, peer_hex):
        return [e.perms for e in self.shared(peer_hex)]

    def sg_request(self, peer_hex):
        shared = self.shared(peer_hex)
        if not shared or self.paused:
            return None
        gvs = {}
        for e in shared:
            gvs[e.soid] = self.sg_genvec(e.gid)
        return I.DeltaReq("Sgs", I.SgDeltaReq(DbId=_wid(self.db.id), Gvs=gvs))

    def data_request(self, peer_hex, pending=None):
        """Go's prepareDataDeltaReq: local knowledge for the prefixes shared with the peer.

        ``pending``: a received round not applied yet; the request then claims its
        knowledge too (the next round is fetched while that one is applied)."""
        shared = self.shared(peer_hex)
        if not shared or self.paused:
            return None
        sg_pfxs = sorted({s(p) for e in shared for p in e.prefixes})
        local = self.genvecs
        if pending is not None:
            gvs = [it.value for it in pending if isinstance(it, I.DeltaResp) and it.name == "Gvs"]
            if gvs:
                remote = {str(p): {int(d): int(g) for d, g in dict(gv).items()}
                          for p, gv in dict(gvs[-1]).items()}
                local = self._merged(False, remote, shared)
        local_pfxs = sorted(local)
        out = {}
        pfx = None
        for p in sg_pfxs:
            if pfx is not None and p.startswith(pfx) and p != pfx:
                continue
            pfx = p
            start = None
            for lp in local_pfxs:
                if lp.startswith(pfx) and lp != pfx:
                    out[lp] = dict(local[lp])
                    out[lp][self.id] = self.gen
                elif pfx.startswith(lp):
                    start = lp
            gv = dict(local[start]) if start is not None else {}
            gv[self.id] = self.gen
            out[pfx] = gv
        return I.DeltaReq("Data", I.DataDeltaReq(DbId=_wid(self.db.id),
                                                 SgIds={e.gid for e in shared}, Gvs=out))

    # --- responder ---
    def respond(self, names, req, initiator):
        """GetDeltas: the records the initiator lacks (in log order), then knowledge."""
        if req.name == "Sgs":
            return self._respond_sgs(names, req.value, initiator)
        return self._respond_data(names, req.value, initiator)

    def _offline(self):
        return db_offline(self.db.id)

    def _respond_sgs(self, names, req, initiator):
        if self.paused:
            raise self._offline()
        init = {}
        for soid, gv in dict(req.Gvs or {}).items():
            gid = gid_from_oid(b(str(soid)))
            e = self.sgs.get(gid) if gid else None
            if e is not None and access.allowed(e.perms, (READ,), names):
                init[e.gid] = dict(gv)
        if not init:
            raise self._offline()
        items, out = [], {}
        budget = [MAX_RECORDS_PER_ROUND]
        for gid in sorted(init):
            respgv = self.sg_genvec(gid)
            diff = {}
            _diff_genvecs(respgv, init[gid], diff)
            oid = sgoid(gid)
            out[s(oid)] = self._send_ranges(items, oid, diff, initiator, None, init[gid],
                                            {s(oid): respgv}, budget)[s(oid)]
        items.append(I.DeltaResp("Gvs", out))
        return items

    def _respond_data(self, names, req, initiator):
        if self.paused:
            raise self._offline()
        allowed = set()
        for gid in req.SgIds or ():
            e = self.sgs.get(str(gid))
            if e is not None and access.allowed(e.perms, (READ,), names):
                allowed.update(s(p) for p in e.prefixes)
        init = {}
        for p, gv in dict(req.Gvs or {}).items():
            p = str(p)
            if any(p.startswith(a) for a in allowed):
                init[p] = {int(d): int(g) for d, g in dict(gv).items()}
        if not init:
            raise self._offline()
        resp = {}
        for p, gv in self.genvecs.items():
            gv = dict(gv)
            gv[self.id] = self.gen
            resp[p] = gv
        resp_pfxs = sorted(resp)
        out, diff = {}, {}
        pfx = None
        for p in sorted(init):
            if pfx is not None and p.startswith(pfx) and p != pfx:
                continue
            pfx = p
            initgv = init[pfx]
            start = None
            for rp in resp_pfxs:
                if pfx.startswith(rp):
                    start = rp
                elif rp.startswith(pfx):
                    _diff_genvecs(resp[rp], initgv, diff)
                    out[rp] = resp[rp]
            respgv = resp[start] if start is not None else {self.id: self.gen}
            _diff_genvecs(respgv, initgv, diff)
            out[pfx] = respgv
        items = []
        out = self._send_ranges(items, DATA, diff, initiator, sorted(init), init, out,
                                [MAX_RECORDS_PER_ROUND])
        items.append(I.DeltaResp("Gvs", out))
        return items

    def _send_ranges(self, items, pfx, diff, initiator, init_pfxs, init, out, budget):
        """Stream the records of ``diff`` ({dev: [lo, hi]}) in log-position order.

        For data, records the initiator knows or does not want are skipped (Go's
        filterLogRec).  When the budget runs out, ``out`` is capped so that it
        claims exactly what was sent.  Returns ``out``."""
        heap = []
        iters = {}
        for dev, (lo, hi) in diff.items():
            if "%x" % dev == initiator:
                continue
            it = self._scan_log(pfx, dev, lo, hi)
            rec = next(it, None)
            if rec is not None:
                iters[dev] = it
                heap.append((rec.pos, dev, rec))
        heapq.heapify(heap)
        bpfx = [b(p) for p in init_pfxs] if init_pfxs is not None else None
        engine = self.st.engine
        chosen = []
        last_batch = {}          # device -> batch id of its last record taken
        while heap:
            if budget[0] <= 0 and not any(
                    r.batch and r.batch == last_batch.get(d) for _, d, r in heap):
                # full, and no device is inside a batch: a batch never spans rounds
                break
            _, dev, rec = heapq.heappop(heap)
            last_batch[dev] = rec.batch
            send = True
            if bpfx is not None:
                key = rec.oid[2:]
                send = False
                known = 0
                for p, bp in zip(init_pfxs, bpfx):
                    if key.startswith(bp):
                        send = True
                        known = max(known, init[p].get(dev, 0))
                if known >= rec.gen:
                    send = False
            if send:
                chosen.append(rec)
                budget[0] -= 1
            nxt = next(iters[dev], None)
            if nxt is not None:
                heapq.heappush(heap, (nxt.pos, dev, nxt))
        if bpfx is None:
            for rec in chosen:
                raw = engine.get(SGDATA + rec.oid[len(SGDATA):] + SEP + rec.vers)
                # a *Syncgroup in the any, as Go's responder sends it
                value = vdl.optional_value(_OPT_SG, vom.decode(raw, I.Syncgroup._vdl_type)) \
                    if raw else None
                items.append(I.DeltaResp("Rec", I.LogRec(Metadata=_md_out(rec), Value=value)))
        else:
            # the values of a round in one read of the store
            vals = _get_many(engine, [rec.oid + SEP + rec.vers for rec in chosen
                                      if rec.rectype == NODE_REC and not rec.delete])
            Resp, LogRec = I.DeltaResp, I.LogRec
            for rec in chosen:
                value = None
                if rec.rectype == NODE_REC and not rec.delete:
                    value = value_out(rec.oid, vals.get(rec.oid + SEP + rec.vers))
                items.append(Resp("Rec", LogRec(Metadata=_md_out(rec), Value=value)))
        if heap:
            # truncated: claim for each unfinished device only what precedes its next record
            caps = {dev: rec.gen - 1 for _, dev, rec in heap}
            capped = {}
            for p, gv in out.items():
                gv = dict(gv)
                for dev, cap in caps.items():
                    if dev in gv and gv[dev] > cap:
                        gv[dev] = cap
                capped[p] = gv
            out = capped
        return out

    def _scan_log(self, pfx, dev, lo, hi):
        lp = log_prefix(pfx, dev)
        start, limit = lp + b"%016x" % lo, lp + b"%016x" % (hi + 1)
        while start is not None:
            rows = self.st.engine.scan(start, limit, 1000)
            start = rows[-1][0] + b"\x00" if len(rows) == 1000 else None
            for _, v in rows:
                yield decode_rec(v)

    # --- initiator: applying a round ---
    def apply(self, sg_round: bool, items, peer_hex, resolutions=None):
        """Apply one round's records and knowledge (one store task, one transaction).

        Anything malformed raises BadProtocol and leaves the store untouched; so do
        conflicts for the application (appcr.NeedsApp) without ``resolutions``."""
        saved = (self.gen, self.pos, dict(self.sggen))
        try:
            return self._apply(sg_round, items, peer_hex, resolutions)
        except (verror.VError, appcr.NeedsApp, cr.BadResolution):
            self.gen, self.pos, self.sggen = saved
            raise
        except (ValueError, KeyError, TypeError, AttributeError, IndexError, struct.error,
                UnicodeError, OverflowError) as e:
            self.gen, self.pos, self.sggen = saved
            raise _bad(e) from None
        finally:
            self._pre = None

    def _apply(self, sg_round, items, peer_hex, resolutions=None):
        remote = None
        recs = []
        for it in items:
            if not isinstance(it, I.DeltaResp):
                raise _bad("not a DeltaResp")
            if it.name == "Gvs":
                remote = {str(p): {int(d): int(g) for d, g in dict(gv).items()}
                          for p, gv in dict(it.value).items()}
            else:
                recs.append(it.value)
        if remote is None:
            raise _bad("the round ended without knowledge")
        shared = self.shared(peer_hex)
        shared_gids = {e.gid for e in shared}
        shared_pfx = tuple(sorted({p for e in shared for p in e.prefixes}))
        if not sg_round:
            # heads and version pointers of the round's objects, read in one pass
            oids = {b(lr.Metadata.ObjId) for lr in recs if isinstance(lr, I.LogRec)}
            self._prefetch([HEAD + o for o in oids] + [VERSION + o for o in oids])
        tx = self.st.transaction()
        tx.from_sync = True
        writes = tx._writes
        grafts = {}
        touched_sgs = set()
        batches = {}
        try:
            for lr in recs:
                self._apply_rec(tx, writes, grafts, lr, sg_round, shared_gids, shared_pfx,
                                touched_sgs, batches)
            self._keep_batches(writes, batches)
            if sg_round:
                for oid, g in grafts.items():
                    self._resolve(tx, writes, oid, g, sg_round)
            else:
                appcr.resolve_round(self, tx, writes, grafts, resolutions)
            new = self._merged(sg_round, remote, shared)
            pending_done = []
            if sg_round:
                for gid in shared_gids:
                    e = self.sgs[gid]
                    if e.pending:
                        have = new.get(e.soid, {})
                        if all(have.get(d, 0) >= g for d, g in
                               e.local.get("PendingGenVec", {}).items() if d != self.id):
                            local = dict(e.local, SyncPending=False, PendingGenVec={})
                            tx.raw_put(SGSTATE + gid.encode(), encode_sgstate(local))
                            pending_done.append((gid, local))
            if sg_round:
                tx.raw_put(DBSTATE, encode_dbstate(self.genvecs, new, self.paused))
            else:
                tx.raw_put(DBSTATE, encode_dbstate(new, self.sggenvecs, self.paused))
            tx.raw_put(POS, b"%d" % self.pos)
            tx.commit()
        except BaseException:
            tx.abort()
            raise
        if sg_round:
            self.sggenvecs = new
        else:
            self.genvecs = new
        for gid, local in pending_done:
            self.sgs[gid].local = local
        for gid in touched_sgs:
            e = self.sgs[gid]
            ver = self.st.engine.get(HEAD + e.oid)
            if ver != e.version:
                raw = self.st.engine.get(SGDATA + gid.encode() + SEP + ver)
                self.sgs[gid] = SgEntry(gid, vom.decode(raw, I.Syncgroup._vdl_type), ver,
                                        e.local)
        if touched_sgs:
            self._refresh()
        if recs and not sg_round and getattr(self.sync.daemon, "blobs", None) is not None:
            self.sync.daemon.blobs.on_synced(self, peer_hex, recs)   # blob location hints
        self.more = len(recs) >= MAX_RECORDS_PER_ROUND
        return len(recs)

    def _merged(self, sg_round, remote, shared):
        """Go's updateSyncSt: local knowledge with the responder's merged in (only for
        what we share with this peer), without our own device."""
        if sg_round:
            mine = {e.soid for e in shared}
            ok = lambda p: p in mine  # noqa: E731
            cur = self.sggenvecs
        else:
            spfx = sorted({s(p) for e in shared for p in e.prefixes})
            ok = lambda p: any(p.startswith(x) for x in spfx)  # noqa: E731
            cur = self.genvecs
        new = {p: dict(gv) for p, gv in cur.items()}
        for rp, rgv in remote.items():
            if not ok(rp):
                continue
            for lp, lgv in new.items():
                if lp.startswith(rp):
                    for d, g in rgv.items():
                        if lgv.get(d, 0) < g:
                            lgv[d] = g
            if rp not in new:
                new[rp] = dict(rgv)
        for gv in new.values():
            gv.pop(self.id, None)
        return new

    def _node(self, writes, g, oid, ver):
        n = g.nodes.get(ver)
        if n is None and g.old is not None:     # no head: the object has no nodes yet
            raw = self._get(writes, NODE + oid + SEP + ver)
            if raw is not None:
                n = g.nodes[ver] = decode_node(raw)
        return n

    def _keep_batches(self, writes, batches):
        """Go's endBatch for the batches of a round: merge into their BatchInfo."""
        for bid, (objects, linked, count) in batches.items():
            raw = self._get(writes, batch_key(bid))
            if raw is not None:
                o, li, c = decode_batch(raw)
                if c != count:
                    raise _bad(f"inconsistent counts for batch {bid}: {c} and {count}")
                o.update(objects)
                li.update(linked)
                objects, linked = o, li
            writes[batch_key(bid)] = encode_batch(objects, linked, count)

    def _apply_rec(self, tx, writes, grafts, lr, sg_round, shared_gids, shared_pfx, touched,
                   batches):
        if not isinstance(lr, I.LogRec):
            raise _bad("not a LogRec")
        md = lr.Metadata
        dev, gen, rt = int(md.Id), int(md.Gen), int(md.RecType)
        if gen < 1 or rt not in (NODE_REC, LINK_REC):
            raise _bad(f"bad generation {gen} or record type {rt}")
        if len(md.ObjId) > MAX_STR or len(md.CurVers) > 256 or not md.CurVers:
            raise _bad("bad object id or version")
        if len(md.Parents or ()) > MAX_PARENTS:
            raise _bad("too many parents")
        oid, ver = b(md.ObjId), b(md.CurVers)
        parents = ()
        if md.Parents:
            parents = tuple(b(p) for p in md.Parents)
            if any(not p or len(p) > 256 for p in parents):
                raise _bad("bad parent version")
        if sg_round:
            gid = gid_from_oid(oid)
            if gid not in shared_gids:
                raise _bad("a record of a syncgroup not asked for")
            lpfx = oid
            touched.add(gid)
        else:
            if oid[:2] not in (_ROW, _CX) or not oid[2:].startswith(shared_pfx):
                raise _bad("a record outside the shared collections")
            lpfx = DATA
        t = time_ns(md.UpdTime)
        lk = log_key(lpfx, dev, gen)
        bid = int(md.BatchId)
        binfo = None
        if bid:
            if sg_round:
                raise _bad("a syncgroup record in a batch")
            binfo = batches.get(bid)
            if binfo is None:
                if not md.BatchCount:
                    raise _bad(f"batch {bid} without a count")
                binfo = batches[bid] = ({}, {}, int(md.BatchCount))
            elif binfo[2] != md.BatchCount:
                raise _bad(f"inconsistent counts for batch {bid}")
        g = grafts.get(oid)
        if g is None:
            g = grafts[oid] = _Graft(self._get(writes, HEAD + oid))
        if rt == NODE_REC:
            node = self._node(writes, g, oid, ver)
            fresh = node is None or not node.logrec
            if fresh:
                levels = [n.level for n in (self._node(writes, g, oid, p) for p in parents)
                          if n is not None]
                node = Node(max(levels) + 1 if levels else 0, parents, lk, int(md.BatchId),
                            bool(md.Delete), t)
                g.nodes[ver] = node
                writes[NODE + oid + SEP + ver] = encode_node(node)
                g.new.add(ver)
                g.refd.update(parents)
                if binfo is not None:
                    binfo[0][oid] = ver
                if sg_round:
                    sg = lr.Value
                    if not isinstance(sg, I.Syncgroup):
                        raise _bad("a syncgroup record without a Syncgroup value")
                    if (Id(sg.DbId.Blessing, sg.DbId.Name) != self.db.id
                            or gid_of(self.db.id, Id(sg.Id.Blessing, sg.Id.Name)) != gid):
                        raise _bad("a syncgroup value that does not match its id")
                    writes[SGDATA + gid.encode() + SEP + ver] = vom.encode(
                        sg, I.Syncgroup._vdl_type)
                elif not md.Delete:
                    writes[oid + SEP + ver] = value_in(oid, lr.Value)
        else:
            if len(parents) != 1:
                raise _bad("a link record needs one parent")
            node = self._node(writes, g, oid, ver)
            if node is None or self._node(writes, g, oid, parents[0]) is None:
                raise _bad("a link record between unknown versions")
            if parents[0] not in node.parents:
                node = node._replace(parents=node.parents + parents)
                g.nodes[ver] = node
                writes[NODE + oid + SEP + ver] = encode_node(node)
            g.refd.add(parents[0])
            if binfo is not None:
                binfo[1][oid] = ver
        if (rt == NODE_REC and fresh) or self._get(writes, lk) is None:
            self.pos += 1
            writes[lk] = encode_rec(Rec(dev, gen, rt, oid, ver, parents, t, bool(md.Delete),
                                        int(md.BatchId), int(md.BatchCount), self.pos))

    def _resolve(self, tx, writes, oid, g, sg_round):
        cands = set(g.new)
        if g.old:
            cands.add(g.old)
        heads = cands - g.refd
        if not heads or heads == {g.old}:
            return
        if len(heads) == 1:
            (winner,) = heads
        else:
            # last writer wins; equal times: the larger version string
            winner = max(heads, key=lambda v: (self._node(writes, g, oid, v).t, v))
            node = self._node(writes, g, oid, winner)
            for loser in sorted(heads - {winner}):
                if sg_round:
                    gid = gid_from_oid(oid)
                    gen = self.sggen[gid] = self.sggen.get(gid, 0) + 1
                    lpfx = oid
                else:
                    gen = self.gen = self.gen + 1
                    lpfx = DATA
                self.pos += 1
                writes[log_key(lpfx, self.id, gen)] = encode_rec(Rec(
                    self.id, gen, LINK_REC, oid, winner, (loser,), self.st.clock(), False,
                    0, 0, self.pos))
                if loser not in node.parents:
                    node = node._replace(parents=node.parents + (loser,))
            g.nodes[winner] = node
            writes[NODE + oid + SEP + winner] = encode_node(node)
        writes[HEAD + oid] = winner
        if sg_round:
            return
        wnode = self._node(writes, g, oid, winner)
        current = self._get(writes, VERSION + oid)
        if wnode.deleted:
            if current is not None:
                tx.delete(oid)
        elif current != winner:
            tx.put_version(oid, winner)


_OPT_SG = vdl.optional(I.Syncgroup._vdl_type)


def value_out(oid: bytes, raw):
    """The wire value of a stored object: a row's VOM value, or a collection's
    permissions as ``interfaces.CollectionPerms`` (stored by v23py as JSON)."""
    if raw is None:
        return None
    if oid[:2] == _CX:
        from syncbased.server import perms_out
        return I.CollectionPerms(perms_out(decode_collection_perms(raw)))
    try:
        return vom.decode(raw)
    except verror.VError:
        return vdl.value(vdl.ByteListType, bytes(raw))


_SIMPLE = frozenset([vdl.BoolType, vdl.StringType, vdl.ByteType, vdl.Uint16Type, vdl.Uint32Type,
                     vdl.Uint64Type, vdl.Int8Type, vdl.Int16Type, vdl.Int32Type, vdl.Int64Type,
                     vdl.Float32Type, vdl.Float64Type, vdl.ByteListType])
_TE = vom.TypeEncoder()


def encode_value(value) -> bytes:
    """vom.encode(value); values of built-in scalar types skip the per-call type encoder."""
    t = vdl.type_of(value)
    if t in _SIMPLE:
        v = value.value if isinstance(value, vdl.Typed) else value
        return b"\x81" + bytes(vom.encode_value_message(_TE, t, v))
    return vom.encode(value)


def value_in(oid: bytes, value) -> bytes:
    """What to store for a received object value (inverse of value_out)."""
    if oid[:2] == _CX:
        if not isinstance(value, dict):
            raise _bad("collection permissions that are not permissions")
        perms = access.from_any(value)
        return encode_collection_perms(perms)
    return encode_value(value)


def _get_many(engine, keys) -> dict:
    gm = getattr(engine, "get_many", None)
    if gm is not None:
        return gm(keys)
    out = {}
    for k in keys:
        v = engine.get(k)
        if v is not None:
            out[k] = v
    return out


def _diff_genvecs(resp, init, diff):
    """Go's diffGenVectors: widen ``diff`` ({dev: [lo, hi]}) by what ``init`` lacks."""
    for dev, rgen in resp.items():
        igen = init.get(dev, 0)
        if igen < rgen:
            r = diff.get(dev)
            if r is None:
                diff[dev] = [igen + 1, rgen]
            else:
                r[0] = min(r[0], igen + 1)
                r[1] = max(r[1], rgen)


def _md_out(rec: Rec):
    return I.LogRecMetadata(
        Id=rec.id, Gen=rec.gen, RecType=rec.rectype, ObjId=s(rec.oid), CurVers=s(rec.vers),
        Parents=[s(p) for p in rec.parents], UpdTime=now_time(rec.t), Delete=rec.delete,
        BatchId=rec.batch, BatchCount=rec.count)


class PeerAuthorizer:
    """Client-side check of a sync peer: its blessings must Read one of our syncgroups."""

    def __init__(self, perms_list):
        self.perms_list = perms_list

    def authorize(self, call):
        from v23py import security
        names, _ = security.remote_blessing_names(call)
        if not any(access.allowed(p, (READ,), names) for p in self.perms_list):
            raise verror.NoAccess.new(f"sync peer {names} may not read any shared syncgroup")


class SyncService:
    """The daemon's sync module: syncgroups, the %%sync object, the pull loop."""

    def __init__(self, daemon, ctx, publish_nh=True, own_names=None):
        self.daemon = daemon
        self.service = daemon.service
        self.ctx = ctx
        self.publish_nh = publish_nh
        self.own_names = own_names
        raw = self.service.st.get(b"y")
        if raw is None:
            self.id = random.getrandbits(64)
            tx = self.service.st.transaction()
            tx.raw_put(b"y", json.dumps({"Id": self.id}).encode())
            tx.commit()
            self.service.flush()
        else:
            self.id = json.loads(raw)["Id"]
        self.hex = "%x" % self.id
        self.peers = {}
        # peers we know only by the conn they opened to us: {hex: endpoint name}; not
        # persisted (the address is good only while that conn lives)
        self.conn_peers = {}
        self._client = None
        for k, v in self.service.st.engine.scan(PEERS, prefix_limit(PEERS)):
            self.peers[k[len(PEERS):].decode()] = v.decode()
        self.endpoint = ""
        self.dbs = {}
        for d in list(self.service.dbs.values()):
            self._open(d)
        self.service.db_open_hooks.append(self._open)
        self._inflight = set()
        self._backoff = {}
        self._last_sg = {}
        self._last_time = {}
        self._loop = None
        self._last_ad = -1e9
        self._ads = set()        # gids whose admin ad we wrote
        self._mt_pub = None
        self._mt_names = set()
        self._mdns = None       # the mDNS neighborhood (neighborhood.py), once started
        self.cr = appcr.Streams()  # the apps' conflict resolution streams

    def _open(self, d):
        self.dbs[d.id] = DbSync(self, d)

    def dbsync(self, db_id):
        ds = self.dbs.get(db_id)
        if ds is None or ds.db is not self.service.dbs.get(db_id):
            d = self.service.dbs.get(db_id)
            if d is None:
                raise verror.NoExist.new(f"database {db_id} does not exist")
            ds = self.dbs[db_id] = DbSync(self, d)
        return ds

    # --- addresses ---
    def learn_conn_peer(self, hex_name, call):
        """A peer that called us: remember the endpoint of its conn (dialing it by
        routing id reuses that conn) when we know no other address for it."""
        if not hex_name or hex_name == self.hex or hex_name in self.peers:
            return
        rep = getattr(call, "remote_endpoint", None)
        if rep is None or rep.routing_id.is_null():
            return
        self.conn_peers[hex_name] = rep.name()

    def with_client(self, ctx):
        """``ctx`` whose RPCs go through our server's flow manager (see ``start``)."""
        if self._client is None:
            return ctx
        from v23py.rpc import CLIENT_KEY
        return ctx.with_value(CLIENT_KEY, self._client)

    def learn_peers(self, book):
        changed = {}
        for h, addr in book.items():
            if h != self.hex and addr and self.peers.get(h) != addr:
                self.peers[h] = addr
                changed[h] = addr
        if changed:
            tx = self.service.st.transaction()
            for h, addr in changed.items():
                tx.raw_put(PEERS + h.encode(), addr.encode())
            tx.commit()

    def start(self, endpoint, server=None):
        self.endpoint = endpoint
        if server is not None and getattr(server, "flow_manager", None) is not None:
            # Our sync RPCs go out through the server's flow manager (as Go's
            # WithNewServer context does): peers can then call us back over the conns
            # we open, even when they know no address of ours.
            import v23py
            from v23py.rpc import CLIENT_KEY
            from v23py.rpc.client import Client
            rt = v23py.get_runtime(self.ctx)
            self._client = Client(None, rt.principal, server.flow_manager, rt.namespace_roots)
            self._client.namespace_provider = lambda: rt.namespace
            self.ctx = self.ctx.with_value(CLIENT_KEY, self._client)
        if self.publish_nh:
            try:
                os.makedirs(NH_DIR, exist_ok=True)
                tmp = os.path.join(NH_DIR, f".{self.hex}.tmp")
                with open(tmp, "w") as f:
                    f.write(endpoint)
                os.replace(tmp, os.path.join(NH_DIR, self.hex))
            except OSError:
                pass
        from syncbased.vsync import neighborhood
        self._mdns = neighborhood.start(self.daemon.reactor, self.hex, endpoint, self.publish_nh,
                                        sync=self)
        self._loop = task.LoopingCall(self._tick)
        self._loop.clock = self.daemon.reactor
        self._loop.start(TICK, now=False).addErrback(lambda f: None)
        # syncgroups created here and not yet published: try again
        for db_id, ds in list(self.dbs.items()):
            for gid, e in list(ds.sgs.items()):
                if (e.sg.Spec.PublishSyncbaseName and e.sg.Creator == self.hex
                        and e.sg.Status == I.SyncgroupStatus.PublishPending):
                    self._publish_later(db_id, gid, 0)

    def stop(self):
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        if self._mt_pub is not None:
            defer.ensureDeferred(self._mt_pub.stop(timeout=1.0)).addErrback(lambda f: None)
        if self._mdns is not None:
            self._mdns.stop()
            self._mdns = None
        if self.publish_nh:
            try:
                p = os.path.join(NH_DIR, self.hex)
                with open(p) as f:
                    if f.read() == self.endpoint:
                        os.unlink(p)
            except OSError:
                pass
            for gid in list(self._ads):
                self._unadvertise(gid)

    # --- syncgroup admin ads (Go advertises the syncgroups it administers in the
    # neighborhood; a join whose named admin fails tries those admins) ---
    @staticmethod
    def _sg_ad_dir(gid):
        return os.path.join(NH_SG_DIR, gid.replace("/", "_").replace("+", "-"))

    def _advertise_admin(self, gids):
        if not self.endpoint:
            return
        gids = set(gids)
        for gid in gids - self._ads:
            try:
                d = self._sg_ad_dir(gid)
                os.makedirs(d, exist_ok=True)
                tmp = os.path.join(d, f".{self.hex}.tmp")
                with open(tmp, "w") as f:
                    f.write(self.endpoint)
                os.replace(tmp, os.path.join(d, self.hex))
                self._ads.add(gid)
            except OSError:
                pass
        for gid in self._ads - gids:
            self._unadvertise(gid)

    def _unadvertise(self, gid):
        self._ads.discard(gid)
        try:
            p = os.path.join(self._sg_ad_dir(gid), self.hex)
            with open(p) as f:
                if f.read() == self.endpoint:
                    os.unlink(p)
        except OSError:
            pass

    def _mdns_admins(self, db_id, sg_id) -> list:
        """Addresses of the syncgroup's admins seen in mDNS ads (Go's join fallback)."""
        n = self._mdns
        if n is None:
            return []
        try:
            return n.table.syncgroup_admins((db_id.Blessing, db_id.Name),
                                            (sg_id.Blessing, sg_id.Name))
        except Exception:
            return []

    def sg_admins(self, gid) -> dict:
        """Admins of a syncgroup advertised in the neighborhood: {hex: address}."""
        out = {}
        d = self._sg_ad_dir(gid)
        try:
            for h in sorted(os.listdir(d)):
                if h.startswith(".") or h == self.hex:
                    continue
                with open(os.path.join(d, h)) as f:
                    addr = f.read().strip()
                if addr:
                    out[h] = addr
        except OSError:
            pass
        return out

    def _neighborhood(self):
        out = {}
        try:
            for h in os.listdir(NH_DIR):
                if h.startswith(".") or h == self.hex:
                    continue
                with open(os.path.join(NH_DIR, h)) as f:
                    out[h] = f.read().strip()
        except OSError:
            pass
        if self._mdns is not None:
            out.update(self._mdns.peers())
        return out

    # --- the pull loop (reactor thread) ---
    def _tick(self):
        w = self.daemon.worker
        ads = self.publish_nh and time.monotonic() - self._last_ad >= AD_INTERVAL
        if ads:
            self._last_ad = time.monotonic()

        def work():
            if ads:
                self._advertise_admin([g for ds in list(self.dbs.values())
                                       if not ds.paused and ds.db.id in self.service.dbs
                                       for g in ds.admin_gids(self.own_names)])
            return [(db_id, ds.members(), ds.mount_tables())
                    for db_id, ds in list(self.dbs.items())
                    if ds.sgs and not ds.paused and db_id in self.service.dbs]
        d = w.call(work)
        d.addCallback(self._start_rounds)
        d.addErrback(lambda f: None)

    def _mount(self, mts):
        """Publish ``<mt>/<our hex name>`` in the mount tables of our syncgroups (Go's
        way for peers to find each other across machines)."""
        want = {f"{mt.rstrip('/')}/{self.hex}" for mt in mts}
        if want == self._mt_names or not self.endpoint:
            return
        if self._mt_pub is None:
            import v23py
            from v23py.naming.publisher import Publisher
            self._mt_pub = Publisher(self.ctx, v23py.get_runtime(self.ctx).namespace,
                                     self.daemon.reactor)
            self._mt_pub.add_server(self.endpoint)
        for n in want - self._mt_names:
            self._mt_pub.add_name(n)
        for n in self._mt_names - want:
            self._mt_pub.remove_name(n)
        self._mt_names = want

    def _start_rounds(self, work):
        now = time.monotonic()
        nh = None
        all_mts = set()
        for db_id, members, mts in work:
            all_mts.update(mts)
            for m in members:
                key = (db_id, m)
                fails = self._backoff.get(("n",) + key, 0)
                addr = self.peers.get(m) or self.conn_peers.get(m)
                if addr is None or fails >= 2:
                    # unknown, or failing: a neighborhood entry is fresher
                    if nh is None:
                        nh = self._neighborhood()
                    addr = nh.get(m) or self.conn_peers.get(m) or addr
                if mts and (not addr or fails >= 2 and fails % 2 == 0):
                    # through a mount table of a shared syncgroup
                    addr = f"{mts[(fails // 2) % len(mts)].rstrip('/')}/{m}"
                if not addr:
                    continue
                if key in self._inflight or self._backoff.get(key, 0) > now:
                    continue
                self._inflight.add(key)
                defer.ensureDeferred(self._round(db_id, m, addr)).addBoth(
                    lambda r, key=key, addr=addr: self._done(key, r, addr))
        try:
            self._mount(all_mts)
        except Exception:
            pass

    def _done(self, key, result, addr=None):
        self._inflight.discard(key)
        from twisted.python.failure import Failure
        if isinstance(result, Failure):
            if addr is not None and self.conn_peers.get(key[1]) == addr:
                del self.conn_peers[key[1]]      # that conn is gone
            n = self._backoff.get(("n",) + key, 0) + 1
            self._backoff[("n",) + key] = min(n, 6)
            self._backoff[key] = time.monotonic() + 0.05 * (2 ** min(n, 6))
            self._last_sg.pop(key, None)
        else:
            self._backoff.pop(key, None)
            self._backoff.pop(("n",) + key, None)
            if result is True and self._loop is not None and self._loop.running:
                # the peer truncated the round: continue right away
                self.daemon.reactor.callLater(0, self._tick)

    async def _get_deltas(self, stub, ctx, req, opts):
        call = await stub.GetDeltas(ctx, req, self.hex, *opts)
        items = []
        recv = call.recv       # (decodes buffered items without a coroutine per item)
        eof = verror.EOF.id
        while True:
            try:
                x = await recv()
            except verror.VError as e:
                if e.id == eof:
                    break
                raise
            items.append(x)
            if len(items) > MAX_ITEMS_RECEIVED:
                raise _bad("too many records in one round")
        final = await call.finish()
        blobs = getattr(self.daemon, "blobs", None)
        if blobs is not None and final:       # the peer's blob ownership priorities
            self.daemon.worker.call(blobs.heard_priorities, final[0], stub, opts)
        return items

    async def _sync_clock(self, stub, ctx, opts):
        """Go's syncVClock: one NTP-style exchange with the peer; its time replaces ours
        when Go's rules allow (vclock.peer_update)."""
        from syncbased import vclock as V
        from v23py.vdl.vtime import time_from_unix_ns, time_to_unix_ns
        vc = self.service.vclock
        orig_now, orig_elapsed = vc.sys_vals()
        resp = await stub.GetTime(ctx, I.TimeReq(SendTs=time_from_unix_ns(orig_now)), self.hex,
                                  *opts)
        try:
            recv_now, _ = vc.sys_vals_if_not_changed(orig_now, orig_elapsed)
        except V.ClockChanged:
            return

        def update():
            d = vc.data
            last = time_to_unix_ns(resp.LastNtpTs)
            peer = V.PeerTime(my_send=vc.apply_skew(orig_now, d),
                              recv=time_to_unix_ns(resp.RecvTs), send=time_to_unix_ns(resp.SendTs),
                              my_recv=vc.apply_skew(recv_now, d),
                              last_ntp=None if last == V._TIME_ZERO else last,
                              reboots=int(resp.NumReboots), hops=int(resp.NumHops))
            try:
                vc.peer_update(peer)
            except V.NoUpdate:
                pass
        await self.daemon.worker.call(update)

    async def _apply_data(self, db_id, items, member):
        """Apply a data round, asking the app about conflicts its schema gives it."""
        answers = None
        for _ in range(appcr.MAX_ASKS):
            try:
                return await self.daemon.worker.call(
                    lambda: self.dbsync(db_id).apply(False, items, member, answers))
            except appcr.NeedsApp as need:
                answers = await self.cr.ask(db_id, need)
        raise verror.Internal.new("conflicts kept changing while the app resolved them")

    async def _round(self, db_id, member, addr):
        from v23py.rpc import options as rpcopts
        w = self.daemon.worker
        key = (db_id, member)
        now = time.monotonic()
        want_sg = now - self._last_sg.get(key, -1e9) >= SG_ROUND_INTERVAL

        def prepare():
            ds = self.dbsync(db_id)
            perms = ds.read_perms(member)
            if any(e.pending for e in ds.shared(member)):
                return perms, ds.sg_request(member)
            return perms, (ds.sg_request(member) if want_sg else None)
        perms, sgreq = await w.call(prepare)
        if not perms:
            return False
        # Only accept deltas from a peer whose blessings may Read a shared syncgroup.
        opts = (rpcopts.ServerAuthorizer(PeerAuthorizer(perms)),)
        stub = I.SyncClient(addr + "/%%sync")
        ctx, cancel = self.ctx.with_timeout(30.0)
        try:
            if now - self._last_time.get(member, -1e9) >= TIME_INTERVAL:
                await self._sync_clock(stub, ctx, opts)
                self._last_time[member] = now
            if sgreq is not None:
                items = await self._get_deltas(stub, ctx, sgreq, opts)
                await w.call(lambda: self.dbsync(db_id).apply(True, items, member))
                self._last_sg[key] = now
            req = await w.call(lambda: self.dbsync(db_id).data_request(member))
            if req is None:
                return False
            items = await self._get_deltas(stub, ctx, req, opts)
        finally:
            cancel()
        for _ in range(MAX_CHAINED_ROUNDS):
            if len(items) <= MAX_RECORDS_PER_ROUND:
                break
            # A full round: fetch the next one while this one is applied.
            got = items
            req = await w.call(lambda: self.dbsync(db_id).data_request(member, got))
            applied = defer.ensureDeferred(self._apply_data(db_id, got, member))
            if req is None:          # paused meanwhile
                await applied
                return False
            ctx, cancel = self.ctx.with_timeout(30.0)
            try:
                items = await self._get_deltas(stub, ctx, req, opts)
            except BaseException:
                await applied
                raise
            finally:
                cancel()
            await applied
        n = await self._apply_data(db_id, items, member)
        return n >= MAX_RECORDS_PER_ROUND

    # --- syncgroup operations (store thread) ---
    def create_syncgroup(self, names, db, sg_id, spec, info):
        validate_id(sg_id)
        if not db.exists:
            db.fuzzy_no_exist(names)
        sj = spec_to_json(spec)
        sn = db.st.snapshot()
        try:
            db.perms_with_auth(names, (WRITE,), sn)
            access.check_implicit_perms(sg_id, access.ALL_SYNCGROUP_TAGS, names)
            access.validate_perms(_load_perms(sj["Perms"]), access.ALL_SYNCGROUP_TAGS)
            if not access.allowed(_load_perms(sj["Perms"]), (READ,), names):
                raise verror.BadArg.new("the creator must have Read access in the syncgroup "
                                        "permissions")
            for c in sj["Collections"]:
                db.collection(Id(*c)).perms_with_auth(names, (READ,), sn)
        finally:
            sn.abort()
        ds = self.dbsync(db.id)
        if ds.entry(sg_id) is not None:
            raise verror.Exist.new(f"syncgroup {sg_id} already exists")
        gid = gid_of(db.id, sg_id)
        member = I.SyncgroupMemberState(WhenUpdated=time.time_ns() // 10**9, HasLeft=False,
                                        MemberInfo=member_info(info))
        sg = I.Syncgroup(Id=_wid(sg_id), SpecVersion=new_version().decode(),
                         Spec=spec_to_wire(sj), Creator=self.hex, DbId=_wid(db.id),
                         Status=I.SyncgroupStatus.PublishPending, Joiners={self.hex: member})
        ds.commit_sg(gid, sg, {"NumLocalJoiners": 1, "Watched": True, "RemotePublisher": "",
                               "SyncPending": False, "PendingGenVec": {}})
        ds.bootstrap(ds.sgs[gid].prefixes)
        self._last_ad = -1e9     # advertise it as ours at the next tick
        if sg.Spec.PublishSyncbaseName and self._loop is not None:
            self.daemon.reactor.callFromThread(self._publish_later, db.id, gid, 0)

    # --- publishing (Go's publishSyncgroup / PublishSyncgroup) ---
    def _publish_later(self, db_id, gid, delay):
        if self._loop is None or not self._loop.running:
            return
        self.daemon.reactor.callLater(delay, lambda: defer.ensureDeferred(
            self._publish(db_id, gid)).addErrback(lambda f: None))

    async def _publish(self, db_id, gid):
        """Hand a syncgroup we created to its PublishSyncbaseName; on success that
        peer becomes a member and the status Running; on Exist, PublishRejected;
        other failures are retried."""
        w = self.daemon.worker

        def prepare():
            ds = self.dbsync(db_id)
            e = ds.sgs.get(gid)
            if (e is None or ds.paused or e.sg.Status != I.SyncgroupStatus.PublishPending
                    or not e.sg.Spec.PublishSyncbaseName):
                return None
            return e.sg, s(e.version), ds.sg_genvec(gid), e.sg.Spec.PublishSyncbaseName
        got = await w.call(prepare)
        if got is None:
            return
        sg, version, genvec, name = got
        ctx, cancel = self.ctx.with_timeout(2.0)
        status = I.SyncgroupStatus.PublishRejected
        peer = None
        try:
            peer = await I.SyncClient(name + "/%%sync").PublishSyncgroup(
                ctx, self.hex, sg, version, genvec)
            status = I.SyncgroupStatus.Running
        except verror.VError as e:
            if e.id == I.ErrDupSyncgroupPublish.id:
                return
            if e.id != verror.Exist.id:
                self._publish_later(db_id, gid, 2.0)
                return
        finally:
            cancel()

        def update():
            ds = self.dbsync(db_id)
            e = ds.sgs.get(gid)
            if e is None:
                return
            joiners = dict(e.sg.Joiners)
            if peer:
                joiners[str(peer)] = I.SyncgroupMemberState(
                    WhenUpdated=time.time_ns() // 10**9, HasLeft=False,
                    MemberInfo=member_info(None))
                self.learn_peers({str(peer): name})
            ds.commit_sg(gid, I.Syncgroup(Id=e.sg.Id, SpecVersion=e.sg.SpecVersion,
                                          Spec=e.sg.Spec, Creator=e.sg.Creator, DbId=e.sg.DbId,
                                          Status=status, Joiners=joiners))
        await w.call(update)

    def publish_received(self, publisher, sg, version, genvec):
        """Publishee side: keep the syncgroup (pending until synced); returns our name."""
        db_id = Id(sg.DbId.Blessing, sg.DbId.Name)
        d = self.service.dbs.get(db_id)
        if d is None or not d.exists:
            raise verror.NoExist.new(f"database {db_id} does not exist")
        sg_id = Id(sg.Id.Blessing, sg.Id.Name)
        try:
            validate_id(sg_id)
        except Exception:
            raise verror.BadArg.new(f"invalid syncgroup id {sg_id}") from None
        ds = self.dbsync(db_id)
        gid = gid_of(db_id, sg_id)
        e = ds.sgs.get(gid)
        if e is not None:
            rp = e.local.get("RemotePublisher", "")
            if rp == "":
                local = dict(e.local, RemotePublisher=publisher)
                tx = ds.st.transaction()
                tx.raw_put(SGSTATE + gid.encode(), encode_sgstate(local))
                tx.commit()
                e.local = local
            elif rp != publisher:
                raise I.new_DupSyncgroupPublish(_wid(sg_id))
            return self.hex
        genvec = {int(dv): int(g) for dv, g in dict(genvec or {}).items()}
        ds.commit_sg(gid, sg, {"NumLocalJoiners": 0, "Watched": True,
                               "RemotePublisher": publisher, "SyncPending": True,
                               "PendingGenVec": genvec}, version=b(version))
        return self.hex

    def sg_for_read(self, names, db, sg_id):
        """The syncgroup (an ``interfaces.Syncgroup``) if the caller may Read it."""
        if not db.exists:
            db.fuzzy_no_exist(names)
        e = self.dbsync(db.id).entry(sg_id)
        if e is None:
            raise verror.NoExist.new(f"syncgroup {sg_id} does not exist")
        if not access.allowed(e.perms, (READ,), names):
            raise verror.NoAccess.new(f"access denied to syncgroup {sg_id}")
        return e.sg

    def set_spec(self, names, db, sg_id, spec, version):
        self.sg_for_read(names, db, sg_id)
        ds = self.dbsync(db.id)
        e = ds.entry(sg_id)
        if not access.allowed(e.perms, (ADMIN,), names):
            raise verror.NoAccess.new(f"Admin access to syncgroup {sg_id} required")
        if e.pending:
            raise verror.BadState.new(f"syncgroup {sg_id} is pending (not yet synced)")
        if version and version != e.sg.SpecVersion:
            raise verror.BadVersion.new("syncgroup spec version is out of date")
        sj = spec_to_json(spec)
        old = [[c.Blessing, c.Name] for c in e.sg.Spec.Collections]
        if sorted(map(tuple, sj["Collections"])) != sorted(map(tuple, old)):
            raise verror.BadArg.new("the collections of a syncgroup cannot change")
        access.validate_perms(_load_perms(sj["Perms"]), access.ALL_SYNCGROUP_TAGS)
        if not access.allowed(_load_perms(sj["Perms"]), (READ,), names):
            raise verror.BadArg.new("the caller must keep Read access")
        sg = I.Syncgroup(Id=e.sg.Id, SpecVersion=new_version().decode(), Spec=spec_to_wire(sj),
                         Creator=e.sg.Creator, DbId=e.sg.DbId, Status=e.sg.Status,
                         Joiners=dict(e.sg.Joiners))
        ds.commit_sg(e.gid, sg)

    def list_syncgroups(self, names, db):
        if not db.exists:
            db.fuzzy_no_exist(names)
        sn = db.st.snapshot()
        try:
            db.perms_with_auth(names, (READ,), sn)
        finally:
            sn.abort()
        return sorted(self.dbsync(db.id).by_id)

    def join_at_admin(self, caller_names, db_id, sg_id, joiner, info):
        """Admin side of a join: returns (Syncgroup, version, GenVector)."""
        d = self.service.dbs.get(db_id)
        if d is None or not d.exists:
            raise verror.NoExistOrNoAccess.new(f"database {db_id} does not exist or "
                                               "access denied")
        ds = self.dbsync(db_id)
        e = ds.entry(sg_id)
        if e is None or not access.allowed(e.perms, (READ,), caller_names):
            raise verror.NoExistOrNoAccess.new(f"syncgroup {sg_id} does not exist or "
                                               "access denied")
        if self.own_names is not None and not access.allowed(e.perms, (ADMIN,), self.own_names):
            raise I.new_NotAdmin()
        if e.pending:
            raise verror.BadState.new(f"syncgroup {sg_id} is pending at this admin")
        sn = d.st.snapshot()
        try:
            for c in e.sg.Spec.Collections:
                d.collection(Id(c.Blessing, c.Name)).perms_with_auth(caller_names, (READ,), sn)
        finally:
            sn.abort()
        joiners = dict(e.sg.Joiners)
        joiners[joiner] = I.SyncgroupMemberState(
            WhenUpdated=time.time_ns() // 10**9, HasLeft=False, MemberInfo=member_info(info))
        sg = I.Syncgroup(Id=e.sg.Id, SpecVersion=e.sg.SpecVersion, Spec=e.sg.Spec,
                         Creator=e.sg.Creator, DbId=e.sg.DbId, Status=e.sg.Status,
                         Joiners=joiners)
        ver = ds.commit_sg(e.gid, sg)
        return sg, s(ver), ds.sg_genvec(e.gid)

    def finish_join(self, names, db, remote, sg, version, genvec):
        """Joiner side, after the admin accepted: keep the syncgroup pending until synced."""
        if Id(sg.DbId.Blessing, sg.DbId.Name) != db.id:
            raise verror.BadArg.new("the syncgroup belongs to a different database id")
        ds = self.dbsync(db.id)
        for c in sg.Spec.Collections:
            cx = db.collection(Id(c.Blessing, c.Name))
            sn = db.st.snapshot()
            try:
                if db.collection_perms(cx.id, sn) is not None:
                    cx.perms_with_auth(names, (READ,), sn)
            finally:
                sn.abort()
        sg_id = Id(sg.Id.Blessing, sg.Id.Name)
        gid = gid_of(db.id, sg_id)
        genvec = {int(d): int(g) for d, g in dict(genvec or {}).items()}
        if ds.entry(sg_id) is None:
            ds.commit_sg(gid, sg, {"NumLocalJoiners": 1, "Watched": True, "RemotePublisher": "",
                                   "SyncPending": True, "PendingGenVec": genvec},
                         version=b(version))
        # The admin's hex name: a device of the returned knowledge that is a joiner.
        cands = ["%x" % d for d in genvec if "%x" % d in sg.Joiners and d != self.id]
        admin = sg.Creator if sg.Creator in cands else (cands[0] if len(cands) == 1 else None)
        if admin and admin != self.hex:
            self.learn_peers({admin: remote})
        ds.bootstrap(ds.sgs[gid].prefixes)
        self._last_ad = -1e9
        return sg

    async def join_syncgroup(self, ctx, names, run, db_getter, db_id, sg_id, remote, info):
        """Database.JoinSyncgroup: locally if already joined, else through ``remote``'s admin."""
        def local():
            db = db_getter()
            if not db.exists:
                db.fuzzy_no_exist(names)
            sn = db.st.snapshot()
            try:
                db.perms_with_auth(names, (WRITE,), sn)
            finally:
                sn.abort()
            if self.dbsync(db.id).entry(sg_id) is not None:
                return self.sg_for_read(names, db, sg_id)
            return None
        sg = await run(local)
        if sg is not None:
            return sg.Spec
        # The admin named by the caller first; if it fails, the other admins of this
        # syncgroup advertised in the neighborhood (Go's join fallback).
        gid = gid_of(db_id, sg_id)
        tried, errors = set(), []
        candidates = [(None, remote)]
        got = None
        while candidates:
            admin_hex, addr = candidates.pop(0)
            if not addr or addr in tried:
                continue
            tried.add(addr)
            jctx, cancel = self.with_client(ctx).with_timeout(JOIN_TIMEOUT)
            try:
                got = await I.SyncClient(addr + "/%%sync").JoinSyncgroupAtAdmin(
                    jctx, _wid(db_id), _wid(sg_id), self.hex, member_info(info))
                remote = addr
                break
            except verror.VError as e:
                who = f"admin {admin_hex} at {addr}" if admin_hex else addr
                errors.append(f"{who}: {e}")
            finally:
                cancel()
            if admin_hex is None:
                candidates.extend(sorted(self.sg_admins(gid).items()))
                candidates.extend(("(mDNS)", a) for a in self._mdns_admins(db_id, sg_id))
        if got is None:
            raise _wire.SyncgroupJoinFailed.new(
                f"syncgroup join failed: {sg_id.Blessing},{sg_id.Name} could not be joined "
                f"through any admin ({len(errors)} tried): " + "; ".join(errors))
        sg, version, genvec = got
        sg = await run(lambda: self.finish_join(names, db_getter(), remote, sg, version, genvec))
        return sg.Spec


class SyncObj(BlobSyncMethods, I.SyncServerMethods):
    """The peer object at ``<daemon>/%%sync``: Go's interfaces.Sync."""

    def __init__(self, daemon):
        self.daemon = daemon

    def describe__(self):
        return [I.SyncDesc]

    async def GetTime(self, ctx, call, req, initiator):
        """Go's GetTime: our virtual receive and send times (the system clock must not
        change in between) and where our time came from."""
        from syncbased import vclock as V
        from v23py.vdl.vtime import time_from_unix_ns
        vc = self.daemon.service.vclock
        try:
            recv_now, recv_elapsed = vc.sys_vals()
            data = vc.data
            send_now, _ = vc.sys_vals_if_not_changed(recv_now, recv_elapsed)
        except (V.ClockChanged, OSError) as e:
            raise I.ErrGetTimeFailed.new(f"GetTime failed: {e}")
        last = time_from_unix_ns(data.last_ntp) if data.last_ntp is not None else Time()
        return I.TimeResp(OrigTs=req.SendTs, RecvTs=time_from_unix_ns(vc.apply_skew(recv_now, data)),
                          SendTs=time_from_unix_ns(vc.apply_skew(send_now, data)), LastNtpTs=last,
                          NumReboots=data.reboots & 0xFFFF, NumHops=data.hops & 0xFFFF)

    async def GetDeltas(self, ctx, call, req, initiator):
        from syncbased.server import caller_names
        names = caller_names(call)
        sync = self.daemon.sync
        sync.learn_conn_peer(str(initiator), call)
        db_id = Id(req.value.DbId.Blessing, req.value.DbId.Name)

        def respond():
            d = sync.service.dbs.get(db_id)
            if d is None or not d.exists:
                raise db_offline(db_id)
            blobs = getattr(self.daemon, "blobs", None)
            return (sync.dbsync(db_id).respond(names, req, str(initiator)),
                    blobs.final_priorities(req, names) if blobs is not None else {})
        items, priorities = await self.daemon.worker.call(respond)
        for i in range(0, len(items), SEND_CHUNK):
            await call.send_many(items[i:i + SEND_CHUNK])
        return I.DeltaFinalResp(SgPriorities=priorities)

    async def PublishSyncgroup(self, ctx, call, publisher, sg, version, genvec):
        return await self.daemon.worker.call(self.daemon.sync.publish_received, str(publisher),
                                             sg, str(version), genvec)

    async def JoinSyncgroupAtAdmin(self, ctx, call, dbId, sgId, joinerName, myInfo):
        from syncbased.server import caller_names
        names = caller_names(call)
        self.daemon.sync.learn_conn_peer(str(joinerName), call)
        return await self.daemon.worker.call(
            self.daemon.sync.join_at_admin, names, Id(dbId.Blessing, dbId.Name),
            Id(sgId.Blessing, sgId.Name), str(joinerName), myInfo)
