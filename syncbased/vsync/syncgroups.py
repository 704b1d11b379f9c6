"""Syncgroups: their values and versions in a database (DbSync's part), and the
operations on them (create, publish, join at an admin and as a joiner, spec changes;
SyncService's part)."""
from __future__ import annotations

import time

from twisted.internet import defer

from v23py import verror, vom
from v23py.v23.services import syncbase as sbwire
from v23py.syncbase.util import Id, validate_id
from syncbased import access
from syncbased.access import READ, WRITE, ADMIN, RESOLVE
from syncbased.common import _load_perms, _perms_obj, id_key_part, id_out, perms_out
from syncbased import interfaces as I
from syncbased.store import new_version
from syncbased.vsync import limits
from syncbased.vsync._log import (
    HEAD, NODE, POS, NODE_REC, SEP, SGDATA, SGSTATE, Node, Rec, b, encode_node, encode_rec,
    encode_sgstate, gid_of, log_key, s, sgoid, decode_node)




def collection_prefix(cx_id) -> bytes:
    """The sync prefix of a collection: ``<blessing>\\x00<name>\\x00\\xfe``."""
    return id_key_part(cx_id) + SEP


def spec_to_json(spec) -> dict:
    return {"Description": spec.Description, "PublishSyncbaseName": spec.PublishSyncbaseName,
            "Perms": _perms_obj(access.from_any(spec.Perms) or {}),
            "Collections": [[c.Blessing, c.Name] for c in spec.Collections or ()],
            "MountTables": list(spec.MountTables or ()), "IsPrivate": bool(spec.IsPrivate)}


def spec_to_wire(obj):
    return sbwire.SyncgroupSpec(Description=obj["Description"],
                     PublishSyncbaseName=obj["PublishSyncbaseName"],
                     Perms=perms_out(_load_perms(obj["Perms"])),
                     Collections=[id_out(Id(*c)) for c in obj["Collections"]],
                     MountTables=list(obj["MountTables"]), IsPrivate=obj["IsPrivate"])


def member_info(info):
    return sbwire.SyncgroupMemberInfo(SyncPriority=int(getattr(info, "SyncPriority", 0) or 0),
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


class SyncgroupStateMixin:
    """The syncgroups of one database: DbSync's part (store thread)."""

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
        made_here = version is None
        if made_here:
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
        if made_here:
            # our subscribers learn it (a joiner, at its admin) by a hinted
            # syncgroup round instead of at their next periodic one
            self.sync.hints.committed(self.db.id)
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
    def shared(self, peer_hex, names=None):
        """The syncgroups ``peer_hex`` is a member of; with ``names`` (the blessing names
        the peer presented), only those these names may Read: the syncgroups we ask the
        peer about and take its records for (Go's filterSyncgroups)."""
        out = [e for e in self.sgs.values() if peer_hex in e.joiners]
        if names is not None:
            out = [e for e in out if access.allowed(e.perms, (READ,), names)]
        return out

    def read_perms(self, peer_hex):
        return [e.perms for e in self.shared(peer_hex)]


class SyncgroupOpsMixin:
    """Syncgroup operations: SyncService's part."""

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
        sg = I.Syncgroup(Id=id_out(sg_id), SpecVersion=new_version().decode(),
                         Spec=spec_to_wire(sj), Creator=self.hex, DbId=id_out(db.id),
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

    def publish_received(self, names, publisher, sg, version, genvec):
        """Publishee side: keep the syncgroup (pending until synced); returns our name.

        The caller (``names``) must be an Admin of the syncgroup and may write each of
        its collections here (or, for one that does not exist here yet, the database):
        publishing makes this daemon pull the publisher's rows into those collections
        and serve them to the syncgroup's members (Go 2017 leaves a TODO here and takes
        anyone's syncgroup; issue 12, B3).  A database the caller may not know of is
        NoExistOrNoAccess."""
        db_id = Id(sg.DbId.Blessing, sg.DbId.Name)
        hidden = verror.NoExistOrNoAccess.new(
            f"database {db_id.Blessing},{db_id.Name} does not exist or access denied")
        d = self.service.dbs.get(db_id)
        if d is None or not d.exists:
            raise hidden
        sg_id = Id(sg.Id.Blessing, sg.Id.Name)
        try:
            validate_id(sg_id)
        except Exception:
            raise verror.BadArg.new(f"invalid syncgroup id {sg_id}") from None
        ds = self.dbsync(db_id)
        gid = gid_of(db_id, sg_id)
        e = ds.sgs.get(gid)
        sn = d.st.snapshot()
        try:
            try:
                d.perms_with_exist_and_parent_resolve(names, sn)
            except verror.VError:
                raise hidden from None
            # a syncgroup known here already: its own ACL decides, not the one sent
            perms = e.perms if e is not None else (access.from_any(sg.Spec.Perms) or {})
            if not access.allowed(perms, (ADMIN,), names):
                raise verror.NoAccess.new(
                    f"access denied: {names} may not publish syncgroup {sg_id.Blessing},"
                    f"{sg_id.Name} (Admin access to the syncgroup required)")
            for c in (e.sg if e is not None else sg).Spec.Collections or ():
                cx_id = Id(c.Blessing, c.Name)
                if d.collection_perms(cx_id, sn) is not None:
                    d.collection(cx_id).perms_with_auth(names, (WRITE,), sn)
                else:
                    d.perms_with_auth(names, (WRITE,), sn)
        finally:
            sn.abort()
        if e is not None:
            rp = e.local.get("RemotePublisher", "")
            if rp == "":
                local = dict(e.local, RemotePublisher=publisher)
                tx = ds.st.transaction()
                tx.raw_put(SGSTATE + gid.encode(), encode_sgstate(local))
                tx.commit()
                e.local = local
            elif rp != publisher:
                raise I.new_DupSyncgroupPublish(id_out(sg_id))
            return self.hex
        genvec = {int(dv): int(g) for dv, g in dict(genvec or {}).items()}
        ds.commit_sg(gid, sg, {"NumLocalJoiners": 0, "Watched": True,
                               "RemotePublisher": publisher, "SyncPending": True,
                               "PendingGenVec": genvec}, version=b(version))
        return self.hex

    def sg_for_read(self, names, db, sg_id):
        """The syncgroup (an ``interfaces.Syncgroup``) if the caller may Read it."""
        return self.sg_with_auth(names, db, sg_id, (READ,))

    def sg_with_auth(self, names, db, sg_id, tags):
        """The syncgroup if the caller has one of ``tags`` on it, with Go's checks in
        Go's order (GetDataWithAuth): the database exists for the caller (Resolve on the
        service), the syncgroup's existence hidden (NoExistOrNoAccess) from callers
        that could not call Exists on it, Resolve on the database, ``tags`` on the group."""
        if not db.exists:
            db.fuzzy_no_exist(names)
        sn = db.st.snapshot()
        try:
            db_perms = db.perms_with_exist_and_parent_resolve(names, sn)
        finally:
            sn.abort()
        name = f"{sg_id.Blessing},{sg_id.Name}"
        e = self.dbsync(db.id).entry(sg_id)
        if e is None:
            raise access.fuzzify(name, db_perms, None,
                                 verror.NoExist.new(f"syncgroup {name} does not exist", name),
                                 names)
        err = access.fuzzify(name, db_perms, e.perms, None, names)
        if err is not None:
            raise err
        access.authorize(db_perms, (RESOLVE,), names)
        access.authorize(e.perms, tags, names)
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
            jctx, cancel = self.with_client(ctx).with_timeout(limits.JOIN_TIMEOUT)
            try:
                got = await I.SyncClient(addr + "/%%sync").JoinSyncgroupAtAdmin(
                    jctx, id_out(db_id), id_out(sg_id), self.hex, member_info(info))
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
            raise sbwire.ErrSyncgroupJoinFailed.new(
                f"syncgroup join failed: {sg_id.Blessing},{sg_id.Name} could not be joined "
                f"through any admin ({len(errors)} tried): " + "; ".join(errors))
        sg, version, genvec = got
        sg = await run(lambda: self.finish_join(names, db_getter(), remote, sg, version, genvec))
        if self._loop is not None and self._loop.running:
            # first round now, with the admin that let us in, not at the next tick
            self.daemon.reactor.callLater(0, self._tick, remote)
        return sg.Spec
