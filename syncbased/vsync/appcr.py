"""The initiator's side of conflict resolution by the application (the logic is in
``cr``; this module applies it to a round's DAG grafts and talks to the app).

A data round runs in one store task.  When conflicts there fall under an
``AppResolves`` rule of the database's schema, the task stops before committing
anything and raises ``NeedsApp`` with the conflict groups; the initiator sends them
over the app's StartConflictResolver stream (``ask_app``), then runs the round
again with the answers.  If the state moved meanwhile (a local write), the answers
no longer fit and the app is asked again.  Without an app stream the round fails
with ``BrokenCrConnection`` and is retried later, as in Go.
"""
from __future__ import annotations

import json
from types import SimpleNamespace

from twisted.internet import defer

from v23py import vom
from v23py.v23.services import syncbase as sbwire
from v23py.v23.vdlroot import time as timewire
from v23py.v23.vdlroot.time.native import time_from_unix_ns
from syncbased import interfaces as I
from syncbased.store import new_version
from syncbased.vsync import cr
from syncbased.vsync._log import (
    DATA, NODE, LINK_REC, NODE_REC, VERSION, Node, Rec, batch_key, batch_writes,
    decode_node, encode_node, encode_rec, log_key, read_batch)

MAX_ASKS = 5                     # rounds of questions to the app for one round of deltas


class NeedsApp(Exception):
    """The round has conflicts for the application: ``groups`` [(Group, [ConflictInfo])],
    ``expect`` {oid: (old head, new head)} they were computed for."""

    def __init__(self, groups, expect):
        super().__init__("conflicts for the application")
        self.groups = groups
        self.expect = expect


_schema_cache = {}


def schema_of(db) -> object:
    """The database's SchemaMetadata (stored as JSON by the service) or None."""
    raw = db.st.engine.get(b"d")
    hit = _schema_cache.get(raw)
    if hit is not None or raw in _schema_cache:
        return hit
    md = json.loads(raw).get("SchemaMetadata") if raw else None
    if len(_schema_cache) > 64:
        _schema_cache.clear()
    _schema_cache[raw] = out = _schema(md) if md else None
    return out


def _schema(md):
    rules = [SimpleNamespace(CollectionId=SimpleNamespace(Blessing=r["CollectionId"][0],
                                                          Name=r["CollectionId"][1]),
                             KeyPrefix=r["KeyPrefix"], Type=r["Type"], Resolver=r["Resolver"])
             for r in md["Policy"]["Rules"]]
    return SimpleNamespace(Version=md["Version"], Policy=SimpleNamespace(Rules=rules))


# --- wire values ----------------------------------------------------------------------

class _Wire:
    @staticmethod
    def batch(bid, source, cont):
        info = sbwire.BatchInfo(Id=bid, Hint="", Source=sbwire.BatchSource(source))
        return sbwire.ConflictInfo(Data=sbwire.ConflictData("Batch", info), Continued=cont)

    @staticmethod
    def _value(vv):
        return sbwire.Value(State=sbwire.ValueState(vv.state), Bytes=vv.value,
                            WriteTs=time_from_unix_ns(vv.write_ts) if vv.write_ts
                            else timewire.Time())

    @classmethod
    def row(cls, key, local, remote, ancestor, bids, cont):
        op = sbwire.RowOp(Key=key, LocalValue=cls._value(local),
                          RemoteValue=cls._value(remote), AncestorValue=cls._value(ancestor))
        info = sbwire.RowInfo(Op=sbwire.Operation("Write", op), BatchIds=list(bids))
        return sbwire.ConflictInfo(Data=sbwire.ConflictData("Row", info), Continued=cont)


# --- the round (store thread) ------------------------------------------------------------

def _heads(g):
    cands = set(g.new)
    if g.old:
        cands.add(g.old)
    return cands - g.refd


def _ancestor(ds, writes, g, oid):
    """Go's choice: of the older versions the round's new ones hang from, the deepest
    (ties: the larger version); none for disjoint histories."""
    best = None
    for v in g.new:
        n = ds._node(writes, g, oid, v)
        for p in n.parents if n is not None else ():
            if p in g.new:
                continue
            pn = ds._node(writes, g, oid, p)
            if pn is None:
                continue
            if best is None or (pn.level, p) > best[0]:
                best = ((pn.level, p), p)
    return best[1] if best else cr.NO_VERSION


def states(ds, writes, grafts):
    """{oid: ObjState} for the round's objects, or None for one resolved by the policy
    only (more than two heads)."""
    out = {}
    for oid, g in grafts.items():
        heads = _heads(g)
        old = g.old or cr.NO_VERSION
        if not heads or heads == {g.old}:
            out[oid] = cr.ObjState(old=old, new=old)
        elif len(heads) == 1:
            out[oid] = cr.ObjState(old=old, new=next(iter(heads)))
        elif len(heads) == 2 and g.old in heads:
            new = next(iter(heads - {g.old}))
            out[oid] = cr.ObjState(old=old, new=new, conflict=True,
                                   ancestor=_ancestor(ds, writes, g, oid))
    return out


def resolve_round(ds, tx, writes, grafts, resolutions):
    """Resolve the round's objects: app groups first (NeedsApp when the answers are
    missing or stale), then every other object by the policy (``ds._resolve``)."""
    schema = schema_of(ds.db)
    done = set()
    if cr.needs_app(schema):
        upd = states(ds, writes, grafts)
        app = sorted(o for o, st in upd.items()
                     if st.conflict and cr.resolver_type(o, schema) == cr.APP_RESOLVES)
        if app:
            done = _resolve_by_app(ds, tx, writes, grafts, upd, app, resolutions)
    for oid, g in grafts.items():
        if oid not in done:
            ds._resolve(tx, writes, oid, g, False)


def _resolve_by_app(ds, tx, writes, grafts, upd, app, resolutions):
    def batch_of(oid, ver):
        g = grafts.get(oid)
        n = ds._node(writes, g, oid, ver) if g is not None else _stored_node(ds, writes, oid, ver)
        return n.batch if n is not None else cr.NO_BATCH

    def batch_objects(bid):
        info = read_batch(lambda k: ds._get(writes, k), bid)
        if info is None:
            return {}
        objects, linked, _ = info
        return {**objects, **linked}

    def head(oid):
        return ds._head(writes, oid)

    groups = cr.Closure(upd, batch_of, batch_objects, head).groups(app)
    expect = {o: (st.old, st.new) for o, st in upd.items()}
    members = [o for g in groups for o in g.batches_by_oid]
    if (resolutions is None or any(o not in resolutions for o in members)
            or any(resolutions[o][0] != expect.get(o) for o in members if o in expect)):

        def version_value(oid, ver):
            n = _stored_node(ds, writes, oid, ver)
            if n is None:
                return cr.VersionValue(cr.STATE_UNKNOWN)
            if n.deleted:
                return cr.VersionValue(cr.STATE_DELETED, None, n.t)
            raw = ds._get(writes, oid + b"\xfe" + ver)
            return cr.VersionValue(cr.STATE_EXISTS, vom.decode(raw) if raw else None, n.t)
        raise NeedsApp([(g, cr.conflict_infos(g, upd, version_value, _Wire)) for g in groups],
                       expect)

    batches = []
    for g in groups:
        cr.decide(g, {o: resolutions[o][1] for o in g.batches_by_oid}, upd,
                  new_batch=lambda n: (batches.append(ds._new_batch_id(writes)), batches[-1])[1],
                  stored_value=lambda o, v: ds._get(writes, o + b"\xfe" + v),
                  is_deleted=lambda o, v: bool(getattr(_stored_node(ds, writes, o, v),
                                                       "deleted", False)),
                  encode_value=_encode)
    _write(ds, tx, writes, grafts, {o: upd[o] for o in members})
    return set(members)


def _encode(value):
    return vom.encode(value)


def _stored_node(ds, writes, oid, ver):
    raw = ds._get(writes, NODE + oid + b"\xfe" + ver)
    return decode_node(raw) if raw is not None else None


def _write(ds, tx, writes, grafts, objs):
    """Records, DAG nodes, heads and data for the resolved objects (Go's
    updateLogAndDag and updateDbAndSyncSt); a resolution batch counts its records."""
    plan = []                                  # (oid, st, kind of record or None)
    for oid, st in objs.items():
        res = st.res
        if res.kind == cr.PICK_LOCAL:
            plan.append((oid, st, "link-local" if st.conflict else None))
        elif res.kind == cr.PICK_REMOTE:
            plan.append((oid, st, "link-remote" if st.conflict else None))
        else:
            plan.append((oid, st, "node"))
    counts = {}
    for _, st, rec in plan:
        if rec is not None and st.res.batch:
            counts[st.res.batch] = counts.get(st.res.batch, 0) + 1
    binfo = {}
    now = ds.st.clock()
    for oid, st, rec in plan:
        res = st.res
        bid = res.batch if counts.get(res.batch, 0) >= 2 else 0
        count = counts.get(res.batch, 0) if bid else 0
        g = grafts.get(oid)
        if rec in ("link-local", "link-remote"):
            ver, par = (st.old, st.new) if rec == "link-local" else (st.new, st.old)
            node = ds._node(writes, g, oid, ver) if g is not None else \
                _stored_node(ds, writes, oid, ver)
            if par not in node.parents:
                node = node._replace(parents=node.parents + (par,))
            writes[NODE + oid + b"\xfe" + ver] = encode_node(node)
            if g is not None:
                g.nodes[ver] = node
            _log(ds, writes, oid, LINK_REC, ver, (par,), now, False, bid, count)
            if bid:
                binfo.setdefault(bid, ({}, {}))[1][oid] = ver
            head = ver
        elif rec == "node":
            ver = new_version()
            levels = []
            for p in res.parents:
                pn = (ds._node(writes, g, oid, p) if g is not None else None) or \
                    _stored_node(ds, writes, oid, p)
                if pn is not None:
                    levels.append(pn.level)
            lk = _log(ds, writes, oid, NODE_REC, ver, tuple(res.parents), now, res.deleted,
                      bid, count)
            node = Node(max(levels) + 1 if levels else 0, tuple(res.parents), lk, bid,
                        res.deleted, now)
            writes[NODE + oid + b"\xfe" + ver] = encode_node(node)
            if g is not None:
                g.nodes[ver] = node
            if not res.deleted:
                writes[oid + b"\xfe" + ver] = res.value
            if bid:
                binfo.setdefault(bid, ({}, {}))[0][oid] = ver
            head = ver
        else:
            head = st.new if res.kind == cr.PICK_REMOTE else st.old
        if not head:
            continue
        node = (ds._node(writes, g, oid, head) if g is not None else None) or \
            _stored_node(ds, writes, oid, head)
        current = ds._get(writes, VERSION + oid)
        pointed = node is not None and not node.deleted
        if not pointed:
            if current is not None:
                tx.delete(oid)
        elif current != head:
            tx.put_version(oid, head)
        ds._set_head(writes, oid, head, pointed)
    for bid, (objects, linked) in binfo.items():
        writes.update(batch_writes(bid, objects, linked, counts[bid],
                                   ds._get(writes, batch_key(bid))))


def _log(ds, writes, oid, rectype, ver, parents, t, deleted, bid, count):
    ds.gen += 1
    ds.pos += 1
    lk = log_key(DATA, ds.id, ds.gen)
    writes[lk] = encode_rec(Rec(ds.id, ds.gen, rectype, oid, ver, parents, t, deleted, bid,
                                count, ds.pos))
    return lk


# --- asking the app (reactor) --------------------------------------------------------------

class Streams:
    """The apps' StartConflictResolver calls, one per database, used one round at a time."""

    def __init__(self):
        self.calls = {}
        self.locks = {}

    def register(self, db_id, call):
        self.calls[db_id] = call

    def unregister(self, db_id, call):
        if self.calls.get(db_id) is call:
            del self.calls[db_id]

    async def ask(self, db_id, need: NeedsApp):
        """{oid: ((old, new), ResolutionInfo)} for every object of the groups."""
        lock = self.locks.setdefault(db_id, defer.DeferredLock())
        await lock.acquire()
        try:
            call = self.calls.get(db_id)
            if call is None:
                raise I.ErrBrokenCrConnection.new(
                    "no conflict resolution stream for the database: the app is not listening")
            out = {}
            try:
                for group, infos in need.groups:
                    for ci in infos:
                        r = call.send(ci)
                        if isinstance(r, defer.Deferred):
                            await r
                    got = {}
                    while True:
                        ri = await call.recv()
                        got[cr.oid_of_app_key(ri.Key)] = ri
                        if not ri.Continued:
                            break
                    missing = [o for o in group.batches_by_oid if o not in got]
                    if missing:
                        raise cr.BadResolution(f"resolution for {cr.app_key(missing[0])!r} "
                                               "expected but not received")
                    for o, ri in got.items():
                        out[o] = (need.expect.get(o), ri)
            except cr.BadResolution:
                raise
            except Exception as e:
                # a broken stream: forget it (the app reconnects)
                self.unregister(db_id, call)
                raise I.ErrBrokenCrConnection.new(f"conflict resolution stream broke: {e}")
            return out
        finally:
            lock.release()
