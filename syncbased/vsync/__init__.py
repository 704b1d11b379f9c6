"""Peer-to-peer sync between syncbased daemons (first version).

Model (after Go's vsync, simplified; the peer protocol is v23py-private and
does not interoperate with Go daemons):

* Every daemon has a random 64-bit id, persisted in the service store (key
  ``y``); its *member name* is the id in lowercase hex.
* Every change to a synced key (collection permissions ``c\\xfe...`` and rows
  ``r\\xfe...`` of a collection in a syncgroup) becomes a node of that key's
  version DAG (``y\\xfea\\xfe<oid>\\xfe<version>``; head at ``y\\xfeb\\xfe<oid>``)
  and a log record ``y\\xfel\\xfe<member>\\xfe%016x(gen)`` written in the same
  durable group as the commit itself.  Deletes are nodes too.
* Knowledge (``y\\xfek``) is a generation vector per collection prefix:
  ``{prefix: {member: highest gen held}}``.
* Pull only: every tick each daemon asks each known member for the records it
  lacks (``GetDeltas``), applies them in one store task (nodes, values at
  their versions, log records), then resolves every touched key: a single DAG
  head is fast-forwarded; several heads are resolved last-writer-wins on the
  commit timestamp (ties: the larger version string) and a *link* record makes
  the loser a parent of the winner so every peer converges to the same head.
  The winning version becomes the key's current version (logged FromSync).
* Syncgroups live at ``y\\xfes\\xfe<sgIdKey>``; joiners are merged as a union;
  the spec with the newest (timestamp, version) wins.
* Peers are found through learned addresses (the admin named in a join, the
  joiner's address given to the admin, address books exchanged in every
  round) and a same-host neighborhood directory (``$TMPDIR/syncbased-nh``).
"""
from __future__ import annotations

import json
import os
import random
import tempfile
import time

from twisted.internet import defer, task

from v23py import verror, vdl
from v23py.syncbase import _wire
from v23py.syncbase.util import Id, validate_id
from syncbased import access
from syncbased.access import READ, WRITE, ADMIN
from syncbased.service import (
    SEP, id_key_part, _perms_obj, _load_perms)
from syncbased.store import PutOp, DeleteOp, DbStateChangeRequestOp, new_version

Y = b"y" + SEP
NODE = Y + b"a" + SEP
HEAD = Y + b"b" + SEP
LOG = Y + b"l" + SEP
KNOW = Y + b"k"
STATE = Y + b"d"          # {"IsPaused": bool}
SGS = Y + b"s" + SEP
PEERS = b"y" + SEP + b"peer" + SEP      # in the service store
TICK = 0.05
NH_DIR = os.path.join(tempfile.gettempdir(), "syncbased-nh")
_PKG = "v23py/syncbased/vsync"


CHUNK_BYTES = 256 * 1024
MAX_RECORDS_PER_ROUND = 5000      # bounds one round's memory and store-thread time
MAX_ITEM = 64 * 1024 * 1024


def pack(items):
    """Group length-prefixed items into stream chunks of about CHUNK_BYTES."""
    chunks, cur, size = [], [], 0
    for it in items:
        cur.append(len(it).to_bytes(4, "big") + it)
        size += len(it) + 4
        if size >= CHUNK_BYTES:
            chunks.append(b"".join(cur))
            cur, size = [], 0
    if cur:
        chunks.append(b"".join(cur))
    return chunks


def unpack(chunks):
    """Inverse of pack; raises BadProtocol on malformed input (a misbehaving peer)."""
    for ch in chunks:
        ch = bytes(ch)
        pos = 0
        while pos < len(ch):
            if pos + 4 > len(ch):
                raise verror.BadProtocol.new("truncated sync record")
            n = int.from_bytes(ch[pos:pos + 4], "big")
            pos += 4
            if n > MAX_ITEM or pos + n > len(ch):
                raise verror.BadProtocol.new("truncated sync record")
            yield ch[pos:pos + n]
            pos += n


DbOffline = verror.ErrorId("v.io/x/ref/services/syncbase/server/interfaces.DbOffline",
                           verror.NoRetry, "database is offline")


def _j(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def _gen_key(dev: str, gen: int) -> bytes:
    return LOG + dev.encode() + SEP + b"%016x" % gen


def _prefix_limit(p: bytes) -> bytes:
    x = bytearray(p)
    while x and x[-1] == 0xFF:
        x.pop()
    if x:
        x[-1] += 1
    return bytes(x)


def sg_key(sg_id) -> bytes:
    return SGS + id_key_part(sg_id)


def collection_prefix(cx_id) -> bytes:
    """The sync prefix of a collection: ``<blessing>\\x00<name>\\x00\\xfe``."""
    return id_key_part(cx_id) + SEP


def spec_to_json(spec) -> dict:
    return {"Description": spec.Description, "PublishSyncbaseName": spec.PublishSyncbaseName,
            "Perms": _perms_obj(access.from_any(spec.Perms) or {}),
            "Collections": [[c.Blessing, c.Name] for c in spec.Collections or ()],
            "MountTables": list(spec.MountTables or ()), "IsPrivate": bool(spec.IsPrivate)}


def spec_to_wire(obj):
    from syncbased.server import perms_out, id_out
    return _wire.new(_wire.SyncgroupSpecType, Description=obj["Description"],
                     PublishSyncbaseName=obj["PublishSyncbaseName"],
                     Perms=perms_out(_load_perms(obj["Perms"])),
                     Collections=[id_out(Id(*c)) for c in obj["Collections"]],
                     MountTables=list(obj["MountTables"]), IsPrivate=obj["IsPrivate"])


def info_to_json(info) -> dict:
    return {"SyncPriority": int(info.SyncPriority), "BlobDevType": int(info.BlobDevType)}


class DbSync:
    """Sync state of one database (lives on the store thread)."""

    def __init__(self, sync: "SyncService", db):
        self.sync = sync
        self.db = db
        self.st = db.st
        last = self.st.engine.last(LOG + sync.hex.encode() + SEP,
                                   _prefix_limit(LOG + sync.hex.encode() + SEP))
        self.gen = int(last[0].rsplit(SEP, 1)[1], 16) if last else 0
        raw = self.st.engine.get(KNOW)
        self.know = json.loads(raw) if raw else {}
        self.sgs = {}
        for k, v in self.st.engine.scan(SGS, _prefix_limit(SGS)):
            sg = json.loads(v)
            self.sgs[Id(*sg["Id"])] = sg
        raw = self.st.engine.get(STATE)
        self.paused = bool(json.loads(raw).get("IsPaused")) if raw else False
        self.st.commit_hooks.append(self._hook)

    # prefixes (hex of the collection prefix bytes) of all syncgroups
    def prefixes(self) -> set:
        out = set()
        for sg in self.sgs.values():
            for c in sg["Spec"]["Collections"]:
                out.add(collection_prefix(Id(*c)))
        return out

    def _synced(self, key: bytes, prefixes) -> bool:
        if key[:2] not in (b"r" + SEP, b"c" + SEP):
            return False
        rest = key[2:]
        return any(rest.startswith(p) for p in prefixes)

    def _hook(self, store, writes, ops, ts, from_sync):
        """Pre-commit: local changes to synced keys become DAG nodes + log records.

        PauseSync/ResumeSync requests (DbStateChangeRequestOp) flip ``paused``,
        persisted in the same commit."""
        for op in ops:
            if isinstance(op, DbStateChangeRequestOp):
                self.paused = op.RequestType == 0
                writes[STATE] = _j({"IsPaused": self.paused})
        if from_sync or not self.sgs:
            return
        prefixes = self.prefixes()
        for op in ops:
            if not isinstance(op, (PutOp, DeleteOp)) or not self._synced(op.Key, prefixes):
                continue
            deleted = isinstance(op, DeleteOp)
            ver = new_version() if deleted else op.Version
            self._add_local_node(writes, op.Key, ver, ts, deleted)

    def _head(self, oid: bytes, writes=None):
        hk = HEAD + oid
        if writes is not None and hk in writes:
            return writes[hk]
        return self.st.engine.get(hk)

    def _add_local_node(self, writes, oid, ver: bytes, ts, deleted):
        head = self._head(oid, writes)
        parents = [head.decode()] if head else []
        self.gen += 1
        node = {"p": parents, "t": ts, "d": deleted, "dev": self.sync.hex, "gen": self.gen}
        writes[NODE + oid + SEP + ver] = _j(node)
        writes[HEAD + oid] = ver
        rec = {"k": "n", "o": oid.hex(), "v": ver.decode(), "p": parents, "t": ts, "d": deleted}
        writes[_gen_key(self.sync.hex, self.gen)] = _j(rec)

    def bootstrap(self, collections):
        """Give every existing key of these collections a DAG node if it has none."""
        writes = {}
        now = time.time_ns()
        for c in collections:
            for kind in (b"c", b"r"):
                pfx = b"v" + SEP + kind + SEP + collection_prefix(Id(*c))
                for vk, ver in self.st.engine.scan(pfx, _prefix_limit(pfx)):
                    oid = vk[2:]
                    if kind == b"c" and not oid.endswith(SEP):
                        continue
                    if self._head(oid, writes) is None:
                        self._add_local_node(writes, oid, ver, now, False)
        if writes:
            tx = self.st.transaction()
            for k, v in writes.items():
                tx.raw_put(k, v)
            tx.commit()

    def put_sg(self, sg):
        self.sgs[Id(*sg["Id"])] = sg
        tx = self.st.transaction()
        tx.raw_put(sg_key(Id(*sg["Id"])), _j(sg))
        tx.commit()

    def members(self) -> set:
        out = set()
        for sg in self.sgs.values():
            out.update(sg["Joiners"])
        out.discard(self.sync.hex)
        return out

    # --- responder ---
    def deltas(self, names, req):
        """Records the initiator lacks, plus final knowledge; as a list of bytes items."""
        if self.paused:
            raise DbOffline.new(f"database {self.db.id} is offline (sync paused)")
        allowed = []
        for sid in req["sgs"]:
            sg = self.sgs.get(Id(*sid))
            if sg is None:
                continue
            if access.allowed(_load_perms(sg["Spec"]["Perms"]), (READ,), names):
                allowed.append(sg)
        if not allowed:
            raise verror.NoAccess.new("no shared syncgroup readable by the caller")
        prefixes = set()
        for sg in allowed:
            for c in sg["Spec"]["Collections"]:
                prefixes.add(collection_prefix(Id(*c)))
        init_kv = req.get("kv", {})
        initiator = req.get("initiator", "")
        devs = {self.sync.hex}
        for p in prefixes:
            devs.update(self.know.get(p.hex(), {}))
        items = []
        cut = None                      # (device, gen) where the round was truncated
        for dev in sorted(devs):
            if dev == initiator:
                continue
            lows = [init_kv.get(p.hex(), {}).get(dev, 0) for p in prefixes]
            start = _gen_key(dev, min(lows) + 1)
            end = _prefix_limit(LOG + dev.encode() + SEP)
            while start is not None and cut is None:
                rows = self.st.engine.scan(start, end, 1000)
                start = rows[-1][0] + b"\x00" if len(rows) == 1000 else None
                for k, v in rows:
                    gen = int(k.rsplit(SEP, 1)[1], 16)
                    rec = json.loads(v)
                    oid = bytes.fromhex(rec["o"])
                    rest = oid[2:]
                    match = [p for p in prefixes if rest.startswith(p)]
                    if not match or gen <= init_kv.get(match[0].hex(), {}).get(dev, 0):
                        continue
                    rec["dev"], rec["gen"] = dev, gen
                    value = b""
                    if rec["k"] == "n" and not rec["d"]:
                        value = self.st.engine.get(oid + SEP + rec["v"].encode()) or b""
                    items.append(_j(rec) + b"\n" + value)
                    if len(items) >= MAX_RECORDS_PER_ROUND:
                        cut = (dev, gen)
                        break
            if cut is not None:
                break
        kv = {}
        for p in prefixes:
            g = dict(self.know.get(p.hex(), {}))
            g[self.sync.hex] = self.gen
            if cut is not None:
                # Devices before the cut were sent in full; the cut device up to its gen;
                # later devices not at all (the initiator keeps what it had).
                init_g = init_kv.get(p.hex(), {})
                for dv in list(g):
                    if dv > cut[0]:
                        g[dv] = init_g.get(dv, 0)
                g[cut[0]] = max(init_g.get(cut[0], 0), cut[1])
            kv[p.hex()] = g
        final = {"final": True, "kv": kv, "sgs": allowed, "peers": self.sync.address_book(),
                 "more": cut is not None}
        items.append(_j(final) + b"\n")
        return pack(items)

    # --- initiator ---
    def read_perms(self):
        return [_load_perms(sg["Spec"]["Perms"]) for sg in self.sgs.values()]

    def request(self):
        sgs = [list(i) for i in self.sgs]
        kv = {p.hex(): self.know.get(p.hex(), {}) for p in self.prefixes()}
        return {"db": list(self.db.id), "sgs": sgs, "kv": kv, "initiator": self.sync.hex}

    def apply(self, chunks):
        """Apply one round's records (one store task, one transaction).

        Anything malformed raises BadProtocol and leaves the store untouched."""
        try:
            return self._apply(chunks)
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise verror.BadProtocol.new(f"malformed sync deltas: {e}") from None

    def _apply(self, chunks):
        final = None
        recs = []
        for item in unpack(chunks):
            head, _, value = bytes(item).partition(b"\n")
            obj = json.loads(head)
            if obj.get("final"):
                final = obj
            else:
                recs.append((obj, value))
        if final is None:
            raise verror.BadProtocol.new("sync round ended without knowledge")
        for rec, _ in recs:
            if not (isinstance(rec, dict) and rec.get("k") in ("n", "l")
                    and isinstance(rec.get("o"), str) and isinstance(rec.get("v"), str)
                    and isinstance(rec.get("p"), list) and isinstance(rec.get("dev"), str)
                    and isinstance(rec.get("gen"), int) and isinstance(rec.get("t"), int)):
                raise verror.BadProtocol.new("malformed sync record")
        for sg in final.get("sgs", ()):
            self._merge_sg(sg)
        self.sync.learn_peers(final.get("peers", {}))
        tx = self.st.transaction()
        tx.from_sync = True
        touched = {}     # oid -> {version: node} for nodes added or changed this round
        try:
            for rec, value in recs:
                oid = bytes.fromhex(rec["o"])
                ver = rec["v"].encode()
                nk = NODE + oid + SEP + ver
                mine = touched.setdefault(oid, {})
                if rec["k"] == "l":
                    node = mine.get(rec["v"])
                    if node is None:
                        raw = self.st.engine.get(nk)
                        node = json.loads(raw) if raw is not None else None
                    if node is not None:
                        node["p"] = sorted(set(node["p"]) | set(rec["p"]))
                        mine[rec["v"]] = node
                        tx.raw_put(nk, _j(node))
                elif rec["v"] not in mine and self.st.engine.get(nk) is None:
                    node = {"p": rec["p"], "t": rec["t"], "d": rec["d"], "dev": rec["dev"],
                            "gen": rec["gen"]}
                    mine[rec["v"]] = node
                    tx.raw_put(nk, _j(node))
                    if not rec["d"]:
                        tx.raw_put(oid + SEP + ver, value)
                lk = _gen_key(rec["dev"], rec["gen"])
                if self.st.engine.get(lk) is None:
                    rec2 = {k: rec[k] for k in ("k", "o", "v", "p", "t", "d")}
                    tx.raw_put(lk, _j(rec2))
            for oid, mine in touched.items():
                if mine:
                    self._resolve(tx, oid, mine)
            for p, gv in final["kv"].items():
                cur = self.know.setdefault(p, {})
                for dev, g in gv.items():
                    if dev != self.sync.hex and g > cur.get(dev, 0):
                        cur[dev] = g
            tx.raw_put(KNOW, _j(self.know))
            tx.commit()
            self.more = bool(final.get("more"))
        except BaseException:
            tx.abort()
            raw = self.st.engine.get(KNOW)
            self.know = json.loads(raw) if raw else {}
            raise
        return len(recs)

    def _resolve(self, tx, oid, mine):
        pfx = NODE + oid + SEP
        nodes = {}
        for k, v in self.st.engine.scan(pfx, _prefix_limit(pfx)):
            nodes[k[len(pfx):].decode()] = json.loads(v)
        nodes.update(mine)
        parents = set()
        for n in nodes.values():
            parents.update(n["p"])
        heads = [v for v in nodes if v not in parents]
        if not heads:
            return
        if len(heads) == 1:
            winner = heads[0]
        else:
            winner = max(heads, key=lambda v: (nodes[v]["t"], v))
            losers = sorted(h for h in heads if h != winner)
            node = nodes[winner]
            node["p"] = sorted(set(node["p"]) | set(losers))
            tx.raw_put(pfx + winner.encode(), _j(node))
            self.gen += 1
            rec = {"k": "l", "o": oid.hex(), "v": winner, "p": losers, "t": node["t"],
                   "d": node["d"]}
            tx.raw_put(_gen_key(self.sync.hex, self.gen), _j(rec))
        tx.raw_put(HEAD + oid, winner.encode())
        current = tx.get_version(oid)
        if nodes[winner]["d"]:
            if current is not None:
                tx.delete(oid)
        elif current is None or current.decode() != winner:
            tx.put_version(oid, winner.encode())

    def _merge_sg(self, sg):
        sid = Id(*sg["Id"])
        if Id(*sg["DbId"]) != self.db.id:
            return
        cur = self.sgs.get(sid)
        if cur is None:
            return      # only syncgroups we joined are merged
        merged = dict(cur)
        merged["Joiners"] = {**sg["Joiners"], **cur["Joiners"]}
        if (sg["SpecTs"], sg["SpecVersion"]) > (cur["SpecTs"], cur["SpecVersion"]):
            merged["Spec"], merged["SpecVersion"], merged["SpecTs"] = \
                sg["Spec"], sg["SpecVersion"], sg["SpecTs"]
        if merged != cur:
            self.put_sg(merged)


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

    def __init__(self, daemon, ctx, publish_nh=True):
        self.daemon = daemon
        self.service = daemon.service
        self.ctx = ctx
        self.publish_nh = publish_nh
        raw = self.service.st.get(b"y")
        if raw is None:
            self.id = random.getrandbits(64)
            tx = self.service.st.transaction()
            tx.raw_put(b"y", _j({"Id": self.id}))
            tx.commit()
            self.service.flush()
        else:
            self.id = json.loads(raw)["Id"]
        self.hex = "%x" % self.id
        self.peers = {}
        for k, v in self.service.st.engine.scan(PEERS, _prefix_limit(PEERS)):
            self.peers[k[len(PEERS):].decode()] = v.decode()
        self.endpoint = ""
        self.dbs = {}
        for d in list(self.service.dbs.values()):
            self._open(d)
        self.service.db_open_hooks.append(self._open)
        self._inflight = set()
        self._backoff = {}
        self._loop = None

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
    def address_book(self):
        book = dict(self.peers)
        if self.endpoint:
            book[self.hex] = self.endpoint
        return book

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

    def start(self, endpoint):
        self.endpoint = endpoint
        if self.publish_nh:
            try:
                os.makedirs(NH_DIR, exist_ok=True)
                tmp = os.path.join(NH_DIR, f".{self.hex}.tmp")
                with open(tmp, "w") as f:
                    f.write(endpoint)
                os.replace(tmp, os.path.join(NH_DIR, self.hex))
            except OSError:
                pass
        self._loop = task.LoopingCall(self._tick)
        self._loop.clock = self.daemon.reactor
        self._loop.start(TICK, now=False).addErrback(lambda f: None)

    def stop(self):
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        if self.publish_nh:
            try:
                p = os.path.join(NH_DIR, self.hex)
                with open(p) as f:
                    if f.read() == self.endpoint:
                        os.unlink(p)
            except OSError:
                pass

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
        return out

    # --- the pull loop (reactor thread) ---
    def _tick(self):
        w = self.daemon.worker
        d = w.call(lambda: [(db_id, ds.members()) for db_id, ds in list(self.dbs.items())
                            if ds.sgs and not ds.paused and db_id in self.service.dbs])
        d.addCallback(self._start_rounds)
        d.addErrback(lambda f: None)

    def _start_rounds(self, work):
        now = time.monotonic()
        nh = None
        for db_id, members in work:
            for m in members:
                key = (db_id, m)
                addr = self.peers.get(m)
                if addr is None or self._backoff.get(("n",) + key, 0) >= 2:
                    # unknown, or failing: a neighborhood entry is fresher
                    if nh is None:
                        nh = self._neighborhood()
                    addr = nh.get(m) or addr
                if not addr:
                    continue
                if key in self._inflight or self._backoff.get(key, 0) > now:
                    continue
                self._inflight.add(key)
                defer.ensureDeferred(self._round(db_id, m, addr)).addBoth(
                    lambda r, key=key: self._done(key, r))

    def _done(self, key, result):
        self._inflight.discard(key)
        from twisted.python.failure import Failure
        if isinstance(result, Failure):
            n = self._backoff.get(("n",) + key, 0) + 1
            self._backoff[("n",) + key] = min(n, 6)
            self._backoff[key] = time.monotonic() + 0.05 * (2 ** min(n, 6))
        else:
            self._backoff.pop(key, None)
            self._backoff.pop(("n",) + key, None)
            if result is True and self._loop is not None and self._loop.running:
                # the peer truncated the round: continue right away
                self.daemon.reactor.callLater(0, self._tick)

    async def _round(self, db_id, member, addr):
        from v23py import rpc
        w = self.daemon.worker
        from v23py.rpc import options as rpcopts
        req, perms = await w.call(lambda: (self.dbsync(db_id).request(),
                                           self.dbsync(db_id).read_perms()))
        req["addr"] = self.endpoint
        ctx, cancel = self.ctx.with_timeout(10.0)
        try:
            # Only accept deltas from a peer whose blessings may Read a shared syncgroup.
            call = await rpc.start_call(ctx, addr + "/%%sync", "GetDeltas", [json.dumps(req)],
                                        [vdl.StringType], [],
                                        opts=(rpcopts.ServerAuthorizer(PeerAuthorizer(perms)),))
            items = [bytes(x) async for x in call]
            await call.finish()
        finally:
            cancel()
        await w.call(lambda: self.dbsync(db_id).apply(items))
        return getattr(self.dbsync(db_id), "more", False)

    # --- syncgroup operations (store thread) ---
    def create_syncgroup(self, names, db, sg_id, spec, info):
        validate_id(sg_id)
        if not db.exists:
            db.fuzzy_no_exist(names)
        sn = db.st.snapshot()
        try:
            db.perms_with_auth(names, (WRITE,), sn)
            access.check_implicit_perms(sg_id, access.ALL_SYNCGROUP_TAGS, names)
            sj = spec_to_json(spec)
            access.validate_perms(_load_perms(sj["Perms"]), access.ALL_SYNCGROUP_TAGS)
            if not access.allowed(_load_perms(sj["Perms"]), (READ,), names):
                raise verror.BadArg.new("the creator must have Read access in the syncgroup "
                                        "permissions")
            for c in sj["Collections"]:
                db.collection(Id(*c)).perms_with_auth(names, (READ,), sn)
        finally:
            sn.abort()
        ds = self.dbsync(db.id)
        if sg_id in ds.sgs:
            raise verror.Exist.new(f"syncgroup {sg_id} already exists")
        sg = {"Id": list(sg_id), "Spec": sj, "SpecVersion": "%x" % random.getrandbits(63),
              "SpecTs": time.time_ns(), "Creator": self.hex, "DbId": list(db.id),
              "Joiners": {self.hex: info_to_json(info)}}
        ds.put_sg(sg)
        ds.bootstrap(sj["Collections"])

    def sg_for_read(self, names, db, sg_id):
        if not db.exists:
            db.fuzzy_no_exist(names)
        ds = self.dbsync(db.id)
        sg = ds.sgs.get(sg_id)
        if sg is None:
            raise verror.NoExist.new(f"syncgroup {sg_id} does not exist")
        if not access.allowed(_load_perms(sg["Spec"]["Perms"]), (READ,), names):
            raise verror.NoAccess.new(f"access denied to syncgroup {sg_id}")
        return sg

    def set_spec(self, names, db, sg_id, spec, version):
        sg = self.sg_for_read(names, db, sg_id)
        if not access.allowed(_load_perms(sg["Spec"]["Perms"]), (ADMIN,), names):
            raise verror.NoAccess.new(f"Admin access to syncgroup {sg_id} required")
        if version and version != sg["SpecVersion"]:
            raise verror.BadVersion.new("syncgroup spec version is out of date")
        sj = spec_to_json(spec)
        if sorted(map(tuple, sj["Collections"])) != sorted(map(tuple,
                                                               sg["Spec"]["Collections"])):
            raise verror.BadArg.new("the collections of a syncgroup cannot change")
        access.validate_perms(_load_perms(sj["Perms"]), access.ALL_SYNCGROUP_TAGS)
        if not access.allowed(_load_perms(sj["Perms"]), (READ,), names):
            raise verror.BadArg.new("the caller must keep Read access")
        sg = dict(sg, Spec=sj, SpecVersion="%x" % random.getrandbits(63),
                  SpecTs=time.time_ns())
        self.dbsync(db.id).put_sg(sg)

    def list_syncgroups(self, names, db):
        if not db.exists:
            db.fuzzy_no_exist(names)
        sn = db.st.snapshot()
        try:
            db.perms_with_auth(names, (READ,), sn)
        finally:
            sn.abort()
        return sorted(self.dbsync(db.id).sgs)

    def join_at_admin(self, caller_names, req):
        """Admin side: add the joiner (checked against the syncgroup's Read access)."""
        db_id, sg_id = Id(*req["db"]), Id(*req["sg"])
        d = self.service.dbs.get(db_id)
        if d is None:
            raise verror.NoExistOrNoAccess.new(f"database {db_id} does not exist or "
                                               "access denied")
        ds = self.dbsync(db_id)
        sg = ds.sgs.get(sg_id)
        if sg is None or not access.allowed(_load_perms(sg["Spec"]["Perms"]), (READ,),
                                            caller_names):
            raise verror.NoExistOrNoAccess.new(f"syncgroup {sg_id} does not exist or "
                                               "access denied")
        sg = dict(sg)
        sg["Joiners"] = {**sg["Joiners"], req["joiner"]: req["info"]}
        ds.put_sg(sg)
        if req.get("addr"):
            self.learn_peers({req["joiner"]: req["addr"]})
        return {"sg": sg, "admin": self.hex, "peers": self.address_book()}

    def finish_join(self, names, db, remote, reply):
        sg = reply["sg"]
        if Id(*sg["DbId"]) != db.id:
            raise verror.BadArg.new("the syncgroup belongs to a different database id")
        ds = self.dbsync(db.id)
        for c in sg["Spec"]["Collections"]:
            cx = db.collection(Id(*c))
            sn = db.st.snapshot()
            try:
                if db.collection_perms(cx.id, sn) is not None:
                    cx.perms_with_auth(names, (READ,), sn)
            finally:
                sn.abort()
        sg = dict(sg)
        sg["Joiners"] = {**sg["Joiners"], self.hex: sg["Joiners"].get(self.hex, {})}
        ds.put_sg(sg)
        self.learn_peers({reply["admin"]: remote})
        self.learn_peers(reply.get("peers", {}))
        ds.bootstrap(sg["Spec"]["Collections"])
        return sg


class SyncObj:
    """The peer object at ``<daemon>/%%sync`` (v23py's private sync protocol)."""

    def __init__(self, daemon):
        self.daemon = daemon

    def describe__(self):
        from v23py.vdl.compiler.runtime import ArgDesc, InterfaceDesc, MethodDesc
        return [InterfaceDesc("Sync", _PKG, "", (), (
            MethodDesc("GetTime", "", (), (ArgDesc("", vdl.Int64Type),)),
            MethodDesc("GetDeltas", "", (ArgDesc("req", vdl.StringType),), (),
                       out_stream=vdl.ByteListType),
            MethodDesc("JoinSyncgroupAtAdmin", "", (ArgDesc("req", vdl.StringType),),
                       (ArgDesc("reply", vdl.StringType),)),
        ))]

    async def GetTime(self, ctx, call):
        return time.time_ns()

    async def GetDeltas(self, ctx, call, req):
        from syncbased.server import caller_names
        names = caller_names(call)
        r = json.loads(req)
        sync = self.daemon.sync
        if r.get("addr"):
            await self.daemon.worker.call(sync.learn_peers, {r["initiator"]: r["addr"]})
        items = await self.daemon.worker.call(
            lambda: sync.dbsync(Id(*r["db"])).deltas(names, r))
        for it in items:
            res = call.send(vdl.value(vdl.ByteListType, it))
            if isinstance(res, defer.Deferred):
                await res

    async def JoinSyncgroupAtAdmin(self, ctx, call, req):
        from syncbased.server import caller_names
        names = caller_names(call)
        reply = await self.daemon.worker.call(self.daemon.sync.join_at_admin, names,
                                              json.loads(req))
        return json.dumps(reply)
