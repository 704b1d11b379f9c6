"""Per-object version DAGs: local writes become log records and nodes (a pre-commit
hook), received records are grafted in, and concurrent heads resolve last-writer-wins
(ties to the larger version), the loser linked under the winner.  Mixed into DbSync."""
from __future__ import annotations

import random

from v23py import verror, vdl, vom
from syncbased import access
from v23py.syncbase.util import Id
from syncbased import interfaces as I
from syncbased.common import (decode_collection_perms, encode_collection_perms, perms_out,
                              time_ns, value_in as common_value_in,
                              value_out as common_value_out)
from syncbased.store import PutOp, DeleteOp, DbStateChangeRequestOp, new_version
from syncbased.vsync import limits
from syncbased.vsync._log import (
    CX, DATA, DBSTATE, HEAD, LINK_REC, NODE, NODE_REC, POS, ROW, SEP, SGDATA, VERSION, Node,
    Rec, b, batch_key, batch_writes, decode_node, encode_node, encode_node_fields, encode_rec,
    encode_rec_fields, gid_from_oid, gid_of, log_chunks, log_key, log_key_at, log_prefix,
    log_rec_stored, prefix_limit, read_batch)



def _bad(msg):
    return verror.BadProtocol.new(f"malformed sync deltas: {msg}")


class _Graft:
    """Per-object bookkeeping of one round: old head, new nodes, referenced parents."""
    __slots__ = ("old", "new", "refd", "nodes")

    def __init__(self, old):
        self.old = old
        self.new = set()
        self.refd = set()
        self.nodes = {}


class DagMixin:
    """The DAG half of DbSync (store thread)."""

    # --- local writes -> log records and DAG nodes (pre-commit hook) ---
    def _hook(self, store, writes, ops, ts, from_sync):
        """Local changes to synced keys become log records + DAG nodes in the same commit.

        PauseSync/ResumeSync requests (DbStateChangeRequestOp) flip ``paused``,
        persisted in the same commit."""
        for op in ops:
            if isinstance(op, DbStateChangeRequestOp):
                was, self.paused = self.paused, op.RequestType == 0
                writes[DBSTATE] = self._dbstate()
                if was and not self.paused and self.sync.hints.subscribed:
                    # (the hints it dropped while paused are lost: scheduler.resumed)
                    self.sync.daemon.worker.after_commit(self.sync.resumed, self.db.id)
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
        heads = {}       # oid -> (head, deleted) after this commit's ops so far
        log = {}         # the commit's log records (stored by log_chunks)
        if len(todo) > 8:
            self._prefetch_heads({op.Key for op in todo})   # in one read each
        try:
            for op in todo:
                oid = op.Key
                deleted = isinstance(op, DeleteOp)
                ver = new_version() if deleted else op.Version
                # (the head before this op: ``writes`` already holds the commit's new
                # version pointers, so a head not set by an earlier op here is read
                # without them)
                head = heads[oid][0] if oid in heads else self._head(None, oid)
                self._local_node(writes, log, oid, ver, head, ts, deleted, batch,
                                 count if batch else 0)
                heads[oid] = ver, deleted
                objects[oid] = ver
            for oid, (ver, deleted) in heads.items():
                self._set_head(writes, oid, ver, not deleted)
            writes.update(log_chunks(log))
        finally:
            self._pre = None
        if batch:
            writes.update(batch_writes(batch, objects, {}, count))
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
        pre.update(_get_present(self.st.engine, pre))
        self._pre = pre

    def _prefetch_heads(self, oids):
        """_prefetch what _head reads for each of ``oids`` (a pass for each kind of key)."""
        self._prefetch([HEAD + o for o in oids])
        vkeys = dict.fromkeys([VERSION + o for o in oids])
        vkeys.update(_get_present(self.st.engine, vkeys))
        self._pre.update(vkeys)

    # A data object's head is the version its pointer (VERSION + oid) names, and is
    # stored under HEAD + oid only where it is not (a deleted object has no pointer; a
    # syncgroup has none ever): one record fewer per synced row (store format 3).
    # Stores of earlier formats hold a HEAD record equal to the pointer for every
    # object; read as below they mean the same, and _set_head drops them as objects
    # change.  Objects under synced prefixes have heads from the moment they are
    # synced (bootstrap, then the hook), so a pointer there always names a DAG node.
    def _head(self, writes, oid):
        """The object's DAG head version, or None if it has no DAG (yet)."""
        head = self._get(writes, HEAD + oid)
        if head is None:
            head = self._get(writes, VERSION + oid)
        return head

    def _set_head(self, writes, oid, ver: bytes, pointed: bool):
        """Make ``ver`` the object's head, once its version pointer names ``ver``
        (``pointed``) or is gone (a deleted head; a syncgroup)."""
        if not pointed:
            writes[HEAD + oid] = ver
        elif self._get(writes, HEAD + oid) is not None:
            writes[HEAD + oid] = None      # (the pointer says it now)

    def _local_node(self, writes, log, oid, ver: bytes, head, ts, deleted, batch=0, count=0):
        """A log record (into ``log``, for log_chunks) and DAG node for a version made
        here, child of ``head`` (None: the object's first); the caller sets the head."""
        parents = (head,) if head else ()
        level = 0
        if head:
            raw = self._get(writes, NODE + oid + SEP + head)
            level = decode_node(raw).level + 1 if raw else 0
        self.gen += 1
        self.pos += 1
        lp = log_prefix(DATA, self.id)
        lk = log_key_at(lp, self.gen)
        log[lk] = lp, self.gen, encode_rec_fields(self.id, self.gen, NODE_REC, oid, ver,
                                                  parents, ts, deleted, batch, count, self.pos)
        writes[NODE + oid + SEP + ver] = encode_node_fields(level, parents, lk, batch, deleted, ts)

    def bootstrap(self, prefixes):
        """Give every existing key under these collection prefixes a DAG node if it has none."""
        writes = {}
        log = {}
        now = self.st.clock()
        for pfx in prefixes:
            for kind in (b"c", b"r"):
                vp = b"v" + SEP + kind + SEP + pfx
                for vk, ver in self.st.engine.scan(vp, prefix_limit(vp)):
                    oid = vk[2:]
                    if kind == b"c" and not oid.endswith(SEP):
                        continue
                    # (an object with a DAG has a node at the version its pointer
                    # names, and one of an earlier store format a HEAD record)
                    if (self._get(writes, HEAD + oid) is None
                            and self._get(writes, NODE + oid + SEP + ver) is None):
                        self._local_node(writes, log, oid, ver, None, now, False)
                        self._set_head(writes, oid, ver, True)
        if writes:
            writes.update(log_chunks(log))
            writes[POS] = b"%d" % self.pos
            tx = self.st.transaction()
            for k, v in writes.items():
                tx.raw_put(k, v)
            tx.commit()

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
            old = self._get(writes, batch_key(bid))
            if old is not None:
                o, li, c = read_batch(lambda k: self._get(writes, k), bid, old)
                if c != count:
                    raise _bad(f"inconsistent counts for batch {bid}: {c} and {count}")
                o.update(objects)
                li.update(linked)
                objects, linked = o, li
            writes.update(batch_writes(bid, objects, linked, count, old))

    def _apply_rec(self, tx, writes, grafts, lr, sg_round, shared_gids, shared_pfx, touched,
                   batches):
        # (per received record: no Rec is made, see encode_rec_fields)
        if lr.__class__ is not I.LogRec and not isinstance(lr, I.LogRec):
            raise _bad("not a LogRec")
        md = lr.Metadata
        # (the decoder gives these fields' ints and bool as they are: no int()/bool())
        dev, gen, rt = md.Id, md.Gen, md.RecType
        if gen < 1 or rt not in (NODE_REC, LINK_REC):
            raise _bad(f"bad generation {gen} or record type {rt}")
        oid_s, ver_s = md.ObjId, md.CurVers
        if len(oid_s) > limits.MAX_STR or len(ver_s) > 256 or not ver_s:
            raise _bad("bad object id or version")
        mparents = md.Parents
        if mparents and len(mparents) > limits.MAX_PARENTS:
            raise _bad("too many parents")
        oid, ver = b(oid_s), b(ver_s)
        parents = ()
        if mparents:
            parents = tuple(b(p) for p in mparents)
            if any(not p or len(p) > 256 for p in parents):
                raise _bad("bad parent version")
        if sg_round:
            gid = gid_from_oid(oid)
            if gid not in shared_gids:
                raise _bad("a record of a syncgroup not asked for")
            touched.add(gid)
            lp = log_prefix(oid, dev)
            lk = log_key_at(lp, gen)
        else:
            if oid[:2] not in (ROW, CX) or not oid.startswith(shared_pfx, 2):
                raise _bad("a record outside the shared collections")
            # (log_key(DATA, dev, gen), the device's prefix made once a round)
            lp = self._round_lps.get(dev)
            if lp is None:
                lp = self._round_lps[dev] = log_prefix(DATA, dev)
            lk = log_key_at(lp, gen)
        t = time_ns(md.UpdTime)
        bid = md.BatchId
        bcount = md.BatchCount
        deleted = md.Delete
        binfo = None
        if bid:
            if sg_round:
                raise _bad("a syncgroup record in a batch")
            binfo = batches.get(bid)
            if binfo is None:
                if not bcount:
                    raise _bad(f"batch {bid} without a count")
                binfo = batches[bid] = ({}, {}, bcount)
            elif binfo[2] != bcount:
                raise _bad(f"inconsistent counts for batch {bid}")
        g = grafts.get(oid)
        if g is None:
            g = grafts[oid] = _Graft(self._head(writes, oid))
        if rt == NODE_REC:
            node = g.nodes.get(ver)
            if node is None and g.old is not None:
                node = self._node(writes, g, oid, ver)
            fresh = node is None or not node.logrec
            if fresh:
                level = 0
                if parents:
                    levels = [n.level for n in (self._node(writes, g, oid, p)
                                                for p in parents) if n is not None]
                    if levels:
                        level = max(levels) + 1
                node = Node(level, parents, lk, bid, deleted, t)
                g.nodes[ver] = node
                ov = oid + SEP + ver       # (the value's key; the node's after NODE)
                writes[NODE + ov] = encode_node(node)
                g.new.add(ver)
                if parents:
                    g.refd.update(parents)
                if binfo is not None:
                    binfo[0][oid] = ver
                if sg_round:
                    sg = lr.Value
                    if sg.__class__ is vom.RawBytes:
                        sg = sg.value()
                    if not isinstance(sg, I.Syncgroup):
                        raise _bad("a syncgroup record without a Syncgroup value")
                    if (Id(sg.DbId.Blessing, sg.DbId.Name) != self.db.id
                            or gid_of(self.db.id, Id(sg.Id.Blessing, sg.Id.Name)) != gid):
                        raise _bad("a syncgroup value that does not match its id")
                    writes[SGDATA + gid.encode() + SEP + ver] = vom.encode(
                        sg, I.Syncgroup._vdl_type)
                elif not deleted:
                    writes[ov] = value_in(oid, lr.Value)
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
        if (rt == NODE_REC and fresh) or not self._log_rec_known(writes, lk):
            self.pos += 1
            self._round_log[lk] = lp, gen, encode_rec_fields(
                dev, gen, rt, oid, ver, parents, t, deleted, bid, bcount, self.pos)

    def _log_rec_known(self, writes, lk) -> bool:
        """The record of log key ``lk`` is stored, or written by this store task."""
        return lk in self._round_log or lk in writes or log_rec_stored(self.st.engine, lk)

    def _resolve(self, tx, writes, oid, g, sg_round):
        if g.old is None and len(g.new) == 1 and not g.refd:
            # (most of a bulk round: a new object, one version, its only head)
            (winner,) = g.new
            heads = None
        else:
            cands = set(g.new)
            if g.old:
                cands.add(g.old)
            heads = cands - g.refd
            if not heads or heads == {g.old}:
                return
        if heads is None:
            pass
        elif len(heads) == 1:
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
        if sg_round:
            self._set_head(writes, oid, winner, False)
            return
        wnode = self._node(writes, g, oid, winner)
        if g.old is None and not wnode.deleted and VERSION + oid not in writes:
            # new here: no head, so no version pointer either (_head reads it)
            current = None
        else:
            current = self._get(writes, VERSION + oid)
        if wnode.deleted:
            if current is not None:
                tx.delete(oid)
        elif current != winner:
            tx.put_version(oid, winner)
        if g.old is not None or wnode.deleted:
            self._set_head(writes, oid, winner, not wnode.deleted)
        # (else an object new here, now pointed at: it has no head record to drop)




def value_out(oid: bytes, raw):
    """The wire value of a stored object: a row's VOM value, or a collection's
    permissions as ``interfaces.CollectionPerms`` (stored by v23py as JSON)."""
    if raw is None:
        return None
    if oid[:2] == CX:
        return I.CollectionPerms(perms_out(decode_collection_perms(raw)))
    try:
        return common_value_out(raw)
    except verror.VError:
        return vdl.value(vdl.ByteListType, bytes(raw))


_SIMPLE = frozenset([vdl.BoolType, vdl.StringType, vdl.ByteType, vdl.Uint16Type, vdl.Uint32Type,
                     vdl.Uint64Type, vdl.Int8Type, vdl.Int16Type, vdl.Int32Type, vdl.Int64Type,
                     vdl.Float32Type, vdl.Float64Type, vdl.ByteListType])
_TE = vom.TypeEncoder()


def encode_value(value) -> bytes:
    """vom.encode(value); values of built-in scalar types skip the per-call type encoder."""
    if value.__class__ is str:       # (the common value: built by hand, same bytes)
        return common_value_in(value)
    t = vdl.type_of(value)
    if t in _SIMPLE:
        v = value.value if isinstance(value, vdl.Typed) else value
        return b"\x81" + bytes(vom.encode_value_message(_TE, t, v))
    return vom.encode(value)


def value_in(oid: bytes, value) -> bytes:
    """What to store for a received object value (inverse of value_out): a value, or a
    RawBytes (as a GetDeltas stream is read: its single-shot encoding is what is stored)."""
    if oid[:2] != CX:
        if value.__class__ is vom.RawBytes:     # (the common value)
            return value.encoded
        if value.__class__ is str:
            return common_value_in(value)
    elif value.__class__ is vom.RawBytes:
        value = value.value()
    if oid[:2] == CX:
        if not isinstance(value, dict):
            raise _bad("collection permissions that are not permissions")
        perms = access.from_any(value)
        return encode_collection_perms(perms)
    return encode_value(value)


def _get_present(engine, keys) -> dict:
    """_get_many(engine, keys) for keys of one kind (one prefix), e.g. a round's heads:
    when they are many, first one scan from the least to the greatest -- a bulk round's
    objects are mostly new and close together, so the range holds few other keys (one
    seek instead of one per key) -- and per key only if the range holds many more."""
    n = len(keys)
    if n < 64:
        return _get_many(engine, keys)
    lo, hi = min(keys), max(keys)
    limit = 2 * n + 16
    rows = engine.scan(lo, hi + b"\x00", limit)
    if len(rows) >= limit:
        return _get_many(engine, keys)
    want = keys if isinstance(keys, (dict, set, frozenset)) else set(keys)
    return {k: v for k, v in rows if k in want}


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
