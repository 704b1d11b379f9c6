"""The responder: what a peer asking GetDeltas lacks, in log order and bounded per
round (DbSync's part), and the peer object at ``<daemon>/%%sync`` (SyncObj)."""
from __future__ import annotations

import heapq

from v23py import vdl, verror, vom
from v23py.syncbase.util import Id
from v23py.v23.vdlroot.time import Time
from v23py.v23.vdlroot.time import native as vtime
from syncbased import vclock as V
from syncbased import access
from syncbased.access import READ
from syncbased.blobstore.manager import BlobSyncMethods
from syncbased.common import caller_names, id_out
from syncbased import interfaces as I
from syncbased.vsync import limits
from syncbased.vsync.hints import know_of
from syncbased.vsync._log import (
    DATA, NODE_REC, SEP, SGDATA, b, gid_from_oid, log_prefix, s, scan_log, sgoid, Rec)
from syncbased.vsync.dag import _get_many, value_out


DbOffline = I.ErrDbOffline
_OPT_SG = vdl.optional(I.Syncgroup._vdl_type)


def db_offline(db_id):
    # (the message is formatted here: our VDL compiler keeps Go's named {dbId} as is)
    return I.ErrDbOffline.new(f"database {db_id.Blessing},{db_id.Name} is offline and cannot "
                              "be synced", id_out(db_id))


class TooBig(Exception):
    """A quick respond() found more records than a quick store call should send."""


class ResponderMixin:
    """The responder half of DbSync (store thread)."""

    # --- responder ---
    def respond(self, names, req, initiator, quick=False):
        """GetDeltas: the records the initiator lacks (in log order), then knowledge.

        ``quick``: only if they are at most QUICK_RESPOND_RECORDS (a round after a few
        writes), else TooBig is raised as soon as that is known, having read no more."""
        budget = [limits.QUICK_RESPOND_RECORDS if quick else limits.MAX_RECORDS_PER_ROUND,
                  quick]
        if req.name == "Sgs":
            return self._respond_sgs(names, req.value, initiator, budget)
        return self._respond_data(names, req.value, initiator, budget)

    def _offline(self):
        return db_offline(self.db.id)

    def _respond_sgs(self, names, req, initiator, budget):
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
        for gid in sorted(init):
            respgv = self.sg_genvec(gid)
            diff = {}
            _diff_genvecs(respgv, init[gid], diff)
            oid = sgoid(gid)
            out[s(oid)] = self._send_ranges(items, oid, diff, initiator, None, init[gid],
                                            {s(oid): respgv}, budget)[s(oid)]
        items.append(I.DeltaResp("Gvs", out))
        return items

    def _respond_data(self, names, req, initiator, budget):
        if self.paused:
            raise self._offline()
        # rows only of the collections of the caller's syncgroups that the caller may
        # also read here (the syncgroup's ACL and the collection's own)
        allowed = set()
        sn = self.db.st.snapshot()
        try:
            for gid in req.SgIds or ():
                e = self.sgs.get(str(gid))
                if e is None or not access.allowed(e.perms, (READ,), names):
                    continue
                for c, p in zip(e.sg.Spec.Collections, e.prefixes):
                    try:
                        self.db.collection(Id(c.Blessing, c.Name)).perms_with_auth(
                            names, (READ,), sn)
                    except verror.VError:
                        continue
                    allowed.add(s(p))
        finally:
            sn.abort()
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
                                budget)
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
            if budget[0] <= 0 and budget[1]:
                raise TooBig()
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
                        g = init[p].get(dev, 0)
                        if g > known:     # (not max(): ~1k instructions a record)
                            known = g
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
        return scan_log(self.st.engine, log_prefix(pfx, dev), lo, hi)




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
        Parents=[s(p) for p in rec.parents], UpdTime=vtime.time_from_unix_ns(rec.t),
        Delete=rec.delete,
        BatchId=rec.batch, BatchCount=rec.count)


class SyncObj(BlobSyncMethods, I.SyncServerMethods):
    """The peer object at ``<daemon>/%%sync``: Go's interfaces.Sync."""

    def __init__(self, daemon):
        self.daemon = daemon

    def describe__(self):
        return [I.SyncDesc]

    async def GetTime(self, ctx, call, req, initiator):
        """Go's GetTime: our virtual receive and send times (the system clock must not
        change in between) and where our time came from."""
        # (only for peers: Go 2017 answers anyone; issue 12: every %%sync method authorizes)
        names = caller_names(call)
        if not await self.daemon.worker.call(self.daemon.sync.reads_any_syncgroup, names):
            raise verror.NoAccess.new(f"access denied: {names} may not read any syncgroup "
                                      "of this syncbase")
        vc = self.daemon.service.vclock
        try:
            recv_now, recv_elapsed = vc.sys_vals()
            data = vc.data
            send_now, _ = vc.sys_vals_if_not_changed(recv_now, recv_elapsed)
        except (V.ClockChanged, OSError) as e:
            raise I.ErrGetTimeFailed.new(f"GetTime failed: {e}")
        last = vtime.time_from_unix_ns(data.last_ntp) if data.last_ntp is not None else Time()
        return I.TimeResp(OrigTs=req.SendTs,
                          RecvTs=vtime.time_from_unix_ns(vc.apply_skew(recv_now, data)),
                          SendTs=vtime.time_from_unix_ns(vc.apply_skew(send_now, data)),
                          LastNtpTs=last, NumReboots=data.reboots & 0xFFFF,
                          NumHops=data.hops & 0xFFFF)

    async def GetDeltas(self, ctx, call, req, initiator):
        names = caller_names(call)
        sync = self.daemon.sync
        db_id = Id(req.value.DbId.Blessing, req.value.DbId.Name)

        def respond(quick):
            d = sync.service.dbs.get(db_id)
            if d is None or not d.exists:
                raise db_offline(db_id)
            blobs = self.daemon.blobs
            ds = sync.dbsync(db_id)
            return (ds.respond(names, req, str(initiator), quick),
                    blobs.final_priorities(req, names) if blobs is not None else {}, ds.gen)
        # (quick first: the round after a write or a few, by far the most common, is then
        # answered by the reactor itself when the store thread is idle; a larger one
        # stops at once and runs on the store thread)
        w = self.daemon.worker
        try:
            items, priorities, gen = await w.call_quick(respond, True)
        except TooBig:
            items, priorities, gen = await w.call(respond, False)
        sync.learn_conn_peer(str(initiator), call)   # (a peer that may sync with us)
        if req.name == "Data":
            sync.peer_knew(db_id, str(initiator),
                           know_of(dict(req.value.Gvs or {}).values()))
            sync.hints.pulled(db_id, str(initiator), gen)
        from syncbased import syncstats
        syncstats.peer(db_id, str(initiator)).records_out.incr(len(items))
        syncstats.count_rows(sync, db_id, items, sent=True)
        for i in range(0, len(items), limits.SEND_CHUNK):
            await call.send_many(items[i:i + limits.SEND_CHUNK])
        return I.DeltaFinalResp(SgPriorities=priorities)

    async def PublishSyncgroup(self, ctx, call, publisher, sg, version, genvec):
        return await self.daemon.worker.call(self.daemon.sync.publish_received,
                                             caller_names(call), str(publisher), sg,
                                             str(version), genvec)

    async def JoinSyncgroupAtAdmin(self, ctx, call, dbId, sgId, joinerName, myInfo):
        names = caller_names(call)
        got = await self.daemon.worker.call(
            self.daemon.sync.join_at_admin, names, Id(dbId.Blessing, dbId.Name),
            Id(sgId.Blessing, sgId.Name), str(joinerName), myInfo)
        self.daemon.sync.learn_conn_peer(str(joinerName), call)   # (once it may join)
        return got
