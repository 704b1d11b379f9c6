"""The initiator: requests carrying our knowledge (DbSync's part), a round against one
peer (GetTime, the syncgroup round, data rounds back to back while they are full), and
applying a round in one transaction (SyncService's and DbSync's parts)."""
from __future__ import annotations

import struct
import time

from twisted.internet import defer

from v23py import verror, vom
from v23py.rpc import options as rpcopts
from v23py.v23.vdlroot.time import native as vtime
from syncbased.common import PeerAuthorizer, id_out
from syncbased import interfaces as I
from syncbased import vclock as V
from syncbased.vsync import appcr, cr, limits
from syncbased.vsync._log import (
    DBSTATE, HEAD, POS, SEP, SGDATA, SGSTATE, b, encode_dbstate, encode_sgstate, log_chunks,
    s)
from syncbased.vsync.dag import _bad
from syncbased.vsync.syncgroups import SgEntry

class InitiatorMixin:
    """The initiator half of DbSync (store thread)."""

    def sg_request(self, peer_hex, names=None):
        shared = self.shared(peer_hex, names)
        if not shared or self.paused:
            return None
        gvs = {}
        for e in shared:
            gvs[e.soid] = self.sg_genvec(e.gid)
        return I.DeltaReq("Sgs", I.SgDeltaReq(DbId=id_out(self.db.id), Gvs=gvs))

    def data_request(self, peer_hex, pending=None, names=None):
        """Go's prepareDataDeltaReq: local knowledge for the prefixes shared with the peer
        (with ``names``, those of the syncgroups the peer's names may Read).

        ``pending``: a received round not applied yet; the request then claims its
        knowledge too (the next round is fetched while that one is applied)."""
        shared = self.shared(peer_hex, names)
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
        return I.DeltaReq("Data", I.DataDeltaReq(DbId=id_out(self.db.id),
                                                 SgIds={e.gid for e in shared}, Gvs=out))

    # --- initiator: applying a round ---
    def apply(self, sg_round: bool, items, peer_hex, names, resolutions=None):
        """Apply one round's records and knowledge (one store task, one transaction):
        only records of syncgroups ``peer_hex`` is a member of and its blessing names
        (``names``, as it presented them) may Read.

        Anything malformed, or outside those syncgroups, raises BadProtocol and leaves
        the store untouched; so do conflicts for the application (appcr.NeedsApp)
        without ``resolutions``."""
        if names is None:
            raise verror.NoAccess.new("the sync peer's blessings are unknown")
        saved = (self.gen, self.pos, dict(self.sggen))
        try:
            return self._apply(sg_round, items, peer_hex, names, resolutions)
        except (verror.VError, appcr.NeedsApp, cr.BadResolution):
            self.gen, self.pos, self.sggen = saved
            raise
        except (ValueError, KeyError, TypeError, AttributeError, IndexError, struct.error,
                UnicodeError, OverflowError) as e:
            self.gen, self.pos, self.sggen = saved
            raise _bad(e) from None
        finally:
            self._pre = None

    def _apply(self, sg_round, items, peer_hex, names, resolutions=None):
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
        shared = self.shared(peer_hex, names)
        shared_gids = {e.gid for e in shared}
        shared_pfx = tuple(sorted({p for e in shared for p in e.prefixes}))
        if not sg_round:
            # heads and version pointers of the round's objects, read in one pass each
            self._prefetch_heads({b(lr.Metadata.ObjId) for lr in recs
                                  if isinstance(lr, I.LogRec)})
        tx = self.st.transaction()
        tx.from_sync = True
        writes = tx._writes
        grafts = {}
        touched_sgs = set()
        batches = {}
        self._round_lps = {}     # (log-key prefixes by device, see _apply_rec)
        self._round_log = {}     # (the round's log records, stored by log_chunks)
        try:
            for lr in recs:
                self._apply_rec(tx, writes, grafts, lr, sg_round, shared_gids, shared_pfx,
                                touched_sgs, batches)
            writes.update(log_chunks(self._round_log))
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
            if not recs and not writes and not pending_done and new == (
                    self.sggenvecs if sg_round else self.genvecs):
                # nothing new (most rounds of an idle syncgroup): no transaction to commit
                tx.abort()
                self.more = False
                return len(recs)
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
        if recs and not sg_round and self.sync.daemon.blobs is not None:
            self.sync.daemon.blobs.on_synced(self, peer_hex, recs)   # blob location hints
        self.more = len(recs) >= limits.MAX_RECORDS_PER_ROUND
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


# the key of _last_time under which the last GetTime with any hinting member is kept
# (and the member part of _last_sg's key for its last syncgroup round with any of them)
HINTING = None


def _due(last, key, interval, hinting, hinted_key, hinted_interval, now):
    """Whether an exchange is due: ``interval`` since the last under ``key`` (one member),
    and with a member that hints us, also ``hinted_interval`` since the last with any of
    them (kept under ``hinted_key``)."""
    return (now - last.get(key, -1e9) >= interval
            and (not hinting or now - last.get(hinted_key, -1e9) >= hinted_interval))


class RoundsMixin:
    """Rounds against peers: SyncService's part (reactor thread)."""

    async def _get_deltas(self, stub, ctx, req, opts, key=None):
        items = await self._get_deltas_items(stub, ctx, req, opts)
        if key is not None:
            from syncbased import syncstats
            syncstats.peer(*key).records_in.incr(len(items))
            syncstats.count_rows(self, key[0], items, sent=False)
        return items

    async def _get_deltas_items(self, stub, ctx, req, opts):
        call = await stub.GetDeltas(ctx, req, self.hex, *opts)
        call.keep_any_raw()     # (a record's value is stored as it came: see dag.value_in)
        items = []
        recv = call.recv
        # (after each wait, what the same input brought is taken in one loop: no
        # Deferred or coroutine step per item)
        drain = call.recv_buffered
        eof = verror.EOF.id
        bound = limits.MAX_ITEMS_RECEIVED
        while True:
            try:
                x = await recv()
            except verror.VError as e:
                if e.id == eof:
                    break
                raise
            items.append(x)
            items += drain(bound + 1 - len(items))
            if len(items) > bound:
                raise _bad("too many records in one round")
        final = await call.finish()
        blobs = self.daemon.blobs
        if blobs is not None:       # the peer's blob ownership priorities
            # (quick: a slow call here would send the round's apply, made in the same
            # reactor turn, to the store thread too)
            self.daemon.worker.call_quick(blobs.heard_priorities, final, stub, opts)
        return items

    async def _apply_data(self, db_id, items, member, names):
        """Apply a data round, asking the app about conflicts its schema gives it."""
        answers = None
        w = self.daemon.worker
        run = w.call_quick if len(items) <= limits.QUICK_APPLY_ITEMS else w.call
        for _ in range(appcr.MAX_ASKS):
            try:
                return await run(
                    lambda: self.dbsync(db_id).apply(False, items, member, names, answers))
            except appcr.NeedsApp as need:
                answers = await self.cr.ask(db_id, need)
        raise verror.Internal.new("conflicts kept changing while the app resolved them")

    async def _sync_clock(self, stub, ctx, opts):
        """Go's syncVClock: one NTP-style exchange with the peer; its time replaces ours
        when Go's rules allow (vclock.peer_update)."""
        vc = self.service.vclock
        orig_now, orig_elapsed = vc.sys_vals()
        resp = await stub.GetTime(ctx, I.TimeReq(SendTs=vtime.time_from_unix_ns(orig_now)),
                                  self.hex, *opts)
        try:
            recv_now, _ = vc.sys_vals_if_not_changed(orig_now, orig_elapsed)
        except V.ClockChanged:
            return

        def update():
            d = vc.data
            last = None if vtime.is_zero_time(resp.LastNtpTs) else \
                vtime.time_to_unix_ns(resp.LastNtpTs)
            peer = V.PeerTime(my_send=vc.apply_skew(orig_now, d),
                              recv=vtime.time_to_unix_ns(resp.RecvTs),
                              send=vtime.time_to_unix_ns(resp.SendTs),
                              my_recv=vc.apply_skew(recv_now, d), last_ntp=last,
                              reboots=int(resp.NumReboots), hops=int(resp.NumHops))
            try:
                vc.peer_update(peer)
            except V.NoUpdate:
                pass
        await self.daemon.worker.call(update)

    async def _round(self, db_id, member, addr, parts=None):
        """A round with ``member``: GetTime and the syncgroup round when due, then data
        rounds; a hinted round (``parts``: "sg", "data" or both) makes only those
        (the syncgroup round also while one of its syncgroups' join is pending)."""
        w = self.daemon.worker
        key = (db_id, member)
        hinted_key = (db_id, HINTING)
        now = time.monotonic()
        hinting = member in self.hints.subscribed
        if parts is None:
            # the syncgroup round every SG_ROUND_INTERVAL per member (Go: every round);
            # with those that hint us once per HINTED_SG_INTERVAL in all: their
            # syncgroup changes come as hints (hints.py), and that round was half of
            # the GetDeltas of each safety-net pull, which every daemon makes each
            # second whatever the syncgroup's size
            want_sg = _due(self._last_sg, key, limits.SG_ROUND_INTERVAL, hinting,
                           hinted_key, limits.HINTED_SG_INTERVAL, now)
            want_data = True
        else:
            want_sg, want_data = "sg" in parts, "data" in parts
        known = self._peer_names.get(member)   # the names it presented last round

        # GetTime with each member every TIME_INTERVAL (Go: every round); with those
        # that hint us (v23py daemons; pulled only as the safety net) once per
        # HINTED_TIME_INTERVAL in all: any v23py peer's clock serves ours, and the
        # exchange was a third of the RPCs of that pull
        want_time = parts is None and _due(self._last_time, member, limits.TIME_INTERVAL,
                                           hinting, HINTING, limits.HINTED_TIME_INTERVAL, now)

        def prepare():
            ds = self.dbsync(db_id)
            perms = ds.read_perms(member)
            if any(e.pending for e in ds.shared(member)):
                return perms, ds.sg_request(member, known), None
            sgreq = ds.sg_request(member, known) if want_sg else None
            if not want_data:
                return perms, sgreq, None
            if perms and sgreq is None and not want_time:
                # a data-only round (most): its request now, saving a store-thread hop
                # (the same request as below: no call will have told us new names)
                return perms, None, ds.data_request(member, names=known)
            return perms, sgreq, False
        # (a hinted round's preparation reads only what is in memory: a quick call,
        # run by the reactor itself when the store thread is idle)
        perms, sgreq, req = await (w.call if parts is None else w.call_quick)(prepare)
        if not perms:
            return False
        # Only accept deltas from a peer whose blessings may Read a shared syncgroup, and
        # only for the syncgroups they may Read (``auth.names`` once a call went through).
        # No retries: an unreachable peer fails the round at once and the scheduler tries
        # again later (Go's initiator uses only cached connections, ConnectionTimeout(0)).
        auth = self._authorizer(key, perms)
        opts = (rpcopts.ServerAuthorizer(auth), rpcopts.NoRetry())
        stub = I.SyncClient(addr + "/%%sync")
        ctx, cancel = self.ctx.with_timeout(30.0)
        try:
            if want_time:
                await self._sync_clock(stub, ctx, opts)
                self._last_time[member] = now
                if hinting:
                    self._last_time[HINTING] = now
            if sgreq is not None:
                items = await self._get_deltas(stub, ctx, sgreq, opts, key)
                names = self._names_of(member, auth)
                await w.call(lambda: self.dbsync(db_id).apply(True, items, member, names))
                self._last_sg[key] = now
                if hinting:
                    self._last_sg[hinted_key] = now
                self.hints.members_learned()
            if req is False:
                names = auth.names if auth.names is not None else known
                req = await w.call(lambda: self.dbsync(db_id).data_request(member, names=names))
            if req is None:
                return False
            items = await self._get_deltas(stub, ctx, req, opts, key)
            names = self._names_of(member, auth)
        finally:
            cancel()
        for _ in range(limits.MAX_CHAINED_ROUNDS):
            if len(items) <= limits.MAX_RECORDS_PER_ROUND:
                break
            # A full round: fetch the next one while this one is applied.
            got = items
            req = await w.call(lambda: self.dbsync(db_id).data_request(member, got, names))
            applied = defer.ensureDeferred(self._apply_data(db_id, got, member, names))
            if req is None:          # paused meanwhile
                await applied
                return False
            ctx, cancel = self.ctx.with_timeout(30.0)
            try:
                items = await self._get_deltas(stub, ctx, req, opts, key)
            except BaseException:
                await applied
                raise
            finally:
                cancel()
            await applied
        n = await self._apply_data(db_id, items, member, names)
        if hinting:
            self._hinting_data = time.monotonic()     # (scheduler._safety_pull_due)
        return n >= limits.MAX_RECORDS_PER_ROUND

    def _authorizer(self, key, perms):
        """The PeerAuthorizer of the rounds of ``key`` (database id, member): the same
        object while ``perms`` are the same objects.  The client keeps a server's verdict
        per connection and authorizer, so the peer is checked once per connection instead
        of every round (a new one each round was checked each time, and filled the
        client's cache with dead entries).  A syncgroup's new version is a new entry with
        new permissions, hence a new authorizer and a new check."""
        auth = self._authorizers.get(key)
        if auth is None or len(auth.perms_list) != len(perms) or any(
                a is not b for a, b in zip(auth.perms_list, perms)):
            if len(self._authorizers) >= limits.AUTHORIZERS_KEPT:
                self._authorizers.clear()
            auth = self._authorizers[key] = PeerAuthorizer(perms)
        return auth

    def _names_of(self, member, auth):
        """The names ``member`` presented in this round (and remember them)."""
        names = auth.names
        if names is None:
            # (a verdict the client kept from earlier: the names of the last round)
            names = self._peer_names.get(member)
        else:
            self._peer_names[member] = names
        return names
