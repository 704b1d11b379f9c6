"""Blobs in the daemon: the Database blob RPCs, the peer blob RPCs, fetching.

* ``BlobMethods`` is mixed into the Database object: Go's ``BlobManager``
  (CreateBlob, PutBlob, CommitBlob, GetBlobSize, DeleteBlob, GetBlob,
  FetchBlob, PinBlob, UnpinBlob, KeepBlob).  As Go's syncbased (2017):
  Create/Put/Commit/Pin need Write on the database, the others any database
  tag.  Go leaves Delete/Pin/Unpin/Keep NotImplemented; here they delete the
  local copy, and mark a blob as not evictable / evictable / its keep rank.
* ``BlobSyncMethods`` is mixed into the ``%%sync`` object: Go's peer methods
  ``HaveBlob`` (size of a committed blob, else -1 and the location hints the
  caller may see), ``FetchBlob`` (the bytes, then the ownership shares offered
  to the caller), ``AcceptedBlobOwnership``, ``RequestTakeBlobs`` and
  ``GetBlobShares``.  The caller must be allowed to Read one of this daemon's
  syncgroups.  ``FetchBlobRecipe`` and ``FetchChunks`` stay NotImplemented,
  as in Go (whose sync never calls them).
* Location hints (Go's Signposts): when a sync round brings a row whose value
  holds BlobRefs, the refs are recorded with the peer that sent the row, the
  device that wrote it and the syncgroups covering the row (``on_synced``,
  called by vsync after the round commits).
* Fetching (``GetBlob`` or ``FetchBlob`` of a ref not held here): peers from
  the hints, then every member of the database's syncgroups, are asked
  ``HaveBlob``; the first holding it streams it with the peer ``FetchBlob``
  into a local blob of the same ref, committed once all ``size`` bytes are in.
  One fetch per ref at a time: concurrent callers follow the same fetch.
  ``FetchBlob`` streams Go's statuses (Pending, Locating, Fetching with
  Received/Total, Done); ``GetBlob`` streams the bytes from its offset as they
  arrive.  A failed fetch leaves nothing behind.
* Ownership (``syncbased.blobstore.ownership``): shares for the writer of a
  row referencing a blob (a pre-commit hook on each database store), offered
  to and taken by fetchers by priority, priorities exchanged at the end of
  every data round.  A blob server (BlobDevType 1) fetches every blob hinted
  in its syncgroups, at once when a row arrives and by a periodic scan with
  per-blob backoff; a leaf device (BlobDevType 2) asks non-leaf peers to take
  its blobs (``RequestTakeBlobs``).
* Cache budget (a v23py knob, ``$V23PY_SYNCBASE_BLOB_CACHE_BYTES``; Go never
  evicts): after each fetch, blobs fetched from peers that are neither pinned
  nor owned are deleted, lowest keep rank and least recently read first,
  until the budget holds.

Blob file and SQLite work runs on a thread of its own (not the store
thread), so large blobs never delay row operations.
"""
from __future__ import annotations

import json
import logging
import os
import time

from twisted.internet import defer

from v23py import verror, vdl
from v23py.gostrings import KEEP_BYTES, UTF8
from v23py.v23.services.syncbase import BlobDevTypeServer
from v23py.v23.services import syncbase as sbwire
from syncbased import access, interfaces as I
from syncbased.access import READ, WRITE, ALL_DATABASE_TAGS
from syncbased.blobstore.refs import blob_refs
from syncbased.blobstore.ownership import Ownership, from_wire, to_wire
from syncbased.blobstore.store import BlobStore, IllegalPositionForRead, check_ref
from syncbased.common import PeerAuthorizer, caller_names, now_time, send as _send
from syncbased.store import SEP, PutOp
from syncbased.worker import StoreWorker

log = logging.getLogger(__name__)

ITEM = 64 * 1024              # bytes per streamed item
READ_AHEAD = 1024 * 1024      # bytes read from disk per blob-thread call
APPEND_BATCH = 512 * 1024     # bytes received before one append on the blob thread
MAX_LOCATIONS = 4             # Go's maxLocationsInSignpost
MAX_CANDIDATES = 32           # peers asked HaveBlob in one fetch
HAVE_TIMEOUT = 10.0
IDLE_TIMEOUT = 30.0           # a peer silent this long while streaming is abandoned
SERVER_FETCH_CONCURRENCY = 4  # Go's serverBlobFetchConcurrency
SERVER_SCAN_FIRST = 10.0      # Go's serverBlobFetchInitialScanDelay
SERVER_SCAN_INTERVAL = 300.0  # Go's serverBlobFetchExtraScanDelay
HANDOFF_INTERVAL = 5.0        # a leaf asks a peer to take its blobs at most this often

_State = vdl.class_for(sbwire.BlobFetchState._vdl_type)


def _cache_budget():
    """``$V23PY_SYNCBASE_BLOB_CACHE_BYTES``: a budget for blobs fetched from peers (a
    v23py knob; Go's syncbased never evicts).  Unset: no eviction."""
    raw = os.environ.get("V23PY_SYNCBASE_BLOB_CACHE_BYTES", "")
    try:
        return max(0, int(raw)) if raw else None
    except ValueError:
        return None


def _status(state, received=0, total=0):
    return sbwire.BlobFetchStatus(State=_State(state), Received=received,
                     Total=total)


def _ref_arg(br) -> str:
    return check_ref(str(br) if br is not None else "")


def _names(call):
    return caller_names(call)


def manager(daemon) -> "BlobManager":
    return daemon.blobs


async def dev_mode_shares(daemon, br):
    """Service.DevModeGetBlobShares: this device's ownership shares of a blob."""
    m = manager(daemon)
    return await m.call(m.own.shares, _ref_arg(br))


class Fetch:
    """One fetch of one ref from a peer; callers watch its progress."""

    def __init__(self, ref):
        self.ref = ref
        self.state = "Pending"
        self.received = 0
        self.total = 0
        self.done = False
        self.error = None
        self._waiters = []
        self.background = False

    def status(self):
        return (self.state, self.received, self.total)

    def when_done(self) -> defer.Deferred:
        d = defer.Deferred()

        def check(_=None):
            if self.done:
                d.callback(None)
            else:
                self.changed().addCallback(check)
        check()
        return d

    def changed(self) -> defer.Deferred:
        d = defer.Deferred()
        self._waiters.append(d)
        return d

    def notify(self):
        ws, self._waiters = self._waiters, []
        for d in ws:
            if not d.called:
                d.callback(None)


class BlobManager:
    def __init__(self, daemon, root):
        self.daemon = daemon
        self.store = BlobStore(root, defer_sync=True)
        self.worker = StoreWorker(lambda: None, lambda: None, daemon.reactor,
                                  name="syncbase-blobs")
        self.fetches = {}
        self.cache_bytes = _cache_budget()
        self._closed = False
        self.own = Ownership(self.store)
        self._retry_at = {}
        self._last_handoff = -1e9
        self._attempts = {}
        from twisted.internet import task
        self._scanner = task.LoopingCall(self._scan)
        self._scanner.clock = daemon.reactor
        daemon.reactor.callLater(SERVER_SCAN_FIRST, self._start_scanner)
        service = daemon.service
        for d in list(service.dbs.values()):
            self._watch_db(d)
        service.db_open_hooks.append(self._watch_db)

    def call(self, fn, *args):
        return self.worker.call(fn, *args)

    def _start_scanner(self):
        if not self._closed and not self._scanner.running:
            self._scanner.start(SERVER_SCAN_INTERVAL, now=True).addErrback(lambda _: None)

    def close(self):
        self._closed = True
        if self._scanner.running:
            self._scanner.stop()
        def final():
            try:
                self.own.flush()
            finally:
                self.store.close()
        self.worker.stop(final=final)

    # --- database-level checks (store thread) ---------------------------------------
    async def authorize(self, db_id, names, tags):
        """The caller needs one of ``tags`` on the database (Go's GetPermsWithAuth)."""
        def check():
            db = self.daemon.service.database(db_id)
            db.run_read(names, "", lambda r: db.perms_with_auth(names, tags, r))
        await self.daemon.worker.call(check)

    # --- reading ---------------------------------------------------------------------
    async def stream_local(self, call, ref, offset):
        f, _ = await self.call(self.store.open_reader, ref, offset)
        try:
            nxt = self.call(f.read, READ_AHEAD)
            while True:
                data = await nxt
                if not data:
                    break
                nxt = self.call(f.read, READ_AHEAD)
                for i in range(0, len(data), ITEM):
                    await _send(call, data[i:i + ITEM])
        finally:
            self.call(f.close)

    def _read_range(self, ref, start, end):
        with open(self.store.path(ref), "rb") as f:
            f.seek(start)
            return f.read(end - start)

    async def stream_fetching(self, call, fetch, ref, offset):
        """Send the bytes of a blob being fetched from ``offset`` as they arrive."""
        pos = offset
        while True:
            if fetch.total and pos > fetch.total:
                raise IllegalPositionForRead.new(
                    f"BlobReader: illegal position {pos} on Blob of size {fetch.total}",
                    pos, fetch.total)
            avail = fetch.received
            if pos < avail:
                data = await self.call(self._read_range, ref, pos, min(avail, pos + READ_AHEAD))
                if not data:
                    raise verror.Internal.new(f"blob {ref} vanished while being fetched")
                for i in range(0, len(data), ITEM):
                    await _send(call, data[i:i + ITEM])
                pos += len(data)
                continue
            if fetch.done:
                if fetch.error is not None:
                    raise fetch.error
                return
            await fetch.changed()

    # --- fetching from peers ------------------------------------------------------------
    def fetch(self, db_id, ref) -> Fetch:
        f = self.fetches.get(ref)
        if f is None:
            f = self.fetches[ref] = Fetch(ref)
            defer.ensureDeferred(self._run_fetch(f, db_id, ref)).addErrback(lambda _: None)
        return f

    def _db_view(self, db_id):
        """(members, mount tables, syncgroup perms) of a database (store thread)."""
        sync = self.daemon.sync
        if sync is None or db_id not in self.daemon.service.dbs:
            return [], [], []
        ds = sync.dbsync(db_id)
        return sorted(ds.members()), ds.mount_tables(), [e.perms for e in ds.sgs.values()]

    def _addresses(self, hex_name, mts):
        sync = self.daemon.sync
        out = []
        a = sync.peers.get(hex_name)
        if a:
            out.append(a)
        a = sync._neighborhood().get(hex_name)
        if a and a not in out:
            out.append(a)
        out.extend(f"{mt.rstrip('/')}/{hex_name}" for mt in mts)
        return out

    async def _locate(self, db_id, ref):
        from v23py.rpc import options as rpcopts
        members, mts, perms = await self.daemon.worker.call(self._db_view, db_id)
        if not perms:
            raise verror.NoExist.new(f"blob {ref} is not here and no syncgroup can provide it")
        sp = await self.call(self.get_signpost, ref)
        cands = _ordered(sp)
        for m in members:
            if m not in cands:
                cands.append(m)
        opts = (rpcopts.ServerAuthorizer(PeerAuthorizer(perms)),)
        me = self.daemon.sync.hex
        tried = set()
        i = 0
        while i < len(cands) and i < MAX_CANDIDATES:
            peer = cands[i]
            i += 1
            if peer in tried or peer == me:
                continue
            tried.add(peer)
            for addr in self._addresses(peer, mts):
                ctx, cancel = self.daemon.sync.ctx.with_timeout(HAVE_TIMEOUT)
                try:
                    size, rsp = await I.SyncClient(addr + "/%%sync").HaveBlob(ctx, ref, *opts)
                except verror.VError:
                    continue
                finally:
                    cancel()
                if int(size) >= 0:
                    return addr, int(size), opts, peer
                for p in _ordered(rsp):
                    if p not in cands:
                        cands.insert(i, p)
                await self.call(self._merge_signposts, {ref: (set(), dict(rsp.Locations or {}))})
                break
        raise verror.NoExist.new(f"blob {ref} was not found on any reachable peer")

    async def _run_fetch(self, f, db_id, ref):
        created = False
        call = None
        try:
            f.state = "Locating"
            f.notify()
            addr, size, opts, peer = await self._locate(db_id, ref)
            mine = await self.daemon.worker.call(self._fetch_priorities, db_id, ref, peer)
            await self.call(self.store.create, ref, True)
            created = True
            f.state, f.total = "Fetching", size
            f.notify()
            ctx, cancel = self.daemon.sync.ctx.with_cancel()
            last = [time.monotonic()]
            watchdog = self._watchdog(last, cancel)
            try:
                call = await I.SyncClient(addr + "/%%sync").FetchBlob(ctx, ref, mine, *opts)
                buf, n = [], 0
                async for chunk in call:
                    last[0] = time.monotonic()
                    chunk = bytes(chunk)
                    buf.append(chunk)
                    n += len(chunk)
                    if f.received + n > size:
                        raise verror.BadProtocol.new(
                            f"peer sent more than the {size} bytes of blob {ref}")
                    if n >= APPEND_BATCH:
                        await self.call(self.store.append, ref, buf)
                        f.received += n
                        buf, n = [], 0
                        f.notify()
                if buf:
                    await self.call(self.store.append, ref, buf)
                    f.received += n
                offered = await call.finish()
            finally:
                if watchdog.running:
                    watchdog.stop()
                cancel()
            if f.received != size:
                raise verror.BadProtocol.new(
                    f"peer sent {f.received} bytes of blob {ref}, announced {size}")
            await self.call(self.store.commit, ref)
            f.state = "Done"
            if self.cache_bytes is not None:
                await self.call(self._evict, ref)
            if offered:
                await self._take_shares(ref, dict(offered), mine, addr, opts)
        except BaseException as e:
            f.error = e if isinstance(e, verror.VError) else verror.Internal.new(
                f"blob fetch failed: {e}")
            if created:
                await self.call(self.store.discard, ref)
        finally:
            f.done = True
            self.fetches.pop(ref, None)
            f.notify()

    def _evict(self, just_fetched):
        """Keep fetched blobs within the cache budget (blob thread)."""
        owned = {k[4:] for k, raw in self.store.kv_prefix("bmd/")
                 if any(int(n) > 0 for n in json.loads(raw).get("OwnerShares", {}).values())}
        self.store.evict(self.cache_bytes, owned | {just_fetched})

    def _fetch_priorities(self, db_id, ref, peer):
        """SgPriorities sent with a fetch: ours in the blob's syncgroups shared with the
        peer (store thread; the signpost read takes the blob store's lock)."""
        sync = self.daemon.sync
        ds = sync.dbs.get(db_id)
        shared = {e.gid for e in ds.sgs.values() if peer in e.joiners} if ds else set()
        gids = set(self.get_signpost(ref).SgIds or ()) & shared
        return self.priorities_for(gids, self.my_dev_types())

    async def _take_shares(self, ref, offered, mine, addr, opts):
        """Take the ownership shares a peer offered and tell it (best effort, as Go)."""
        try:
            pri = {g: from_wire(p) for g, p in dict(mine).items()}
            taking = await self.call(self.own.take, ref, offered, pri)
            if not taking:
                return
            ctx, cancel = self.daemon.sync.ctx.with_timeout(HAVE_TIMEOUT)
            try:
                name, keeping = await I.SyncClient(addr + "/%%sync").AcceptedBlobOwnership(
                    ctx, ref, self.daemon.sync.hex, I.BlobSharesBySyncgroup(taking), *opts)
            finally:
                cancel()
            if not keeping:
                await self.call(self._forget_location, ref, str(name))
        except verror.VError:
            pass

    def _forget_location(self, ref, peer):
        from v23py import vom
        sp = self.get_signpost(ref)
        locs = dict(sp.Locations or {})
        if locs.pop(peer, None) is not None:
            sp2 = I.Signpost(Locations=I.PeerToLocationDataMap(locs), SgIds=set(sp.SgIds or ()),
                             FetchAttempts=int(sp.FetchAttempts or 0))
            self.store.set_signposts({ref: vom.encode(sp2, I.Signpost._vdl_type)})

    def _watchdog(self, last, cancel):
        from twisted.internet import task

        def check():
            if time.monotonic() - last[0] > IDLE_TIMEOUT:
                cancel()
        lc = task.LoopingCall(check)
        lc.clock = self.daemon.reactor
        lc.start(1.0, now=False).addErrback(lambda _: None)
        return lc

    # --- location hints (any thread; the store locks) ------------------------------------
    def get_signpost(self, ref):
        from v23py import vom
        raw = self.store.get_signpost(ref)
        if raw is None:
            return I.Signpost(Locations=I.PeerToLocationDataMap({}), SgIds=set(),
                              FetchAttempts=0)
        return vom.decode(raw, I.Signpost._vdl_type)

    def _merge_signposts(self, items):
        """items: ref -> (set of gids, {peer: LocationData}); merged into stored hints."""
        from v23py import vom
        out = {}
        for ref, (gids, locs) in items.items():
            sp = self.get_signpost(ref)
            merged = dict(sp.Locations or {})
            for peer, ld in locs.items():
                cur = merged.get(peer)
                if cur is None or _when(cur) < _when(ld):
                    merged[peer] = ld
            if len(merged) > MAX_LOCATIONS:
                keep = _ordered_locs(merged)[:MAX_LOCATIONS]
                merged = {p: merged[p] for p in keep}
            sp2 = I.Signpost(Locations=I.PeerToLocationDataMap(merged),
                             SgIds=set(sp.SgIds or ()) | set(gids),
                             FetchAttempts=int(sp.FetchAttempts or 0))
            out[ref] = vom.encode(sp2, I.Signpost._vdl_type)
        self.store.set_signposts(out)

    def on_synced(self, ds, peer_hex, recs):
        """Record where the blobs referenced by a round's rows can be found (store thread)."""
        try:
            self._on_synced(ds, peer_hex, recs)
        except Exception as e:      # hints are best effort: never fail a sync round
            log.warning("recording blob locations failed: %r", e)

    def _on_synced(self, ds, peer_hex, recs):
        items = {}
        now = None
        for lr in recs:
            md = lr.Metadata
            v = lr.Value
            if md.Delete or v is None or v.__class__ is str:   # (a plain string holds none)
                continue
            refs = blob_refs(v)
            if not refs:
                continue
            key = md.ObjId.encode(UTF8, KEEP_BYTES)[2:]
            sgs = [e for e in ds.sgs.values() if any(key.startswith(p) for p in e.prefixes)]
            src = "%x" % int(md.Id)
            now = now or now_time()
            locs = {}
            for peer in {peer_hex, src}:
                locs[peer] = I.LocationData(WhenSeen=now, IsProxy=False,
                                            IsServer=_is_server(sgs, peer))
            for ref in refs:
                g, l = items.setdefault(ref, (set(), {}))
                g.update(e.gid for e in sgs)
                l.update(locs)
        if items:
            self._merge_signposts(items)
            me = self.daemon.sync.hex
            mine = {e.gid for e in ds.sgs.values() if _is_server([e], me)}
            want = [ref for ref, (g, _) in items.items() if g & mine]
            if want:      # a blob server fetches every blob of its syncgroups (Go)
                self.daemon.reactor.callFromThread(self._background, ds.db.id, want)

    # --- background fetches: blob servers, and blobs handed to us (RequestTakeBlobs) ------
    def _background(self, db_id, refs):
        now = time.monotonic()
        for ref in refs:
            if ref in self.fetches or self._retry_at.get(ref, 0) > now:
                continue
            if sum(1 for f in self.fetches.values() if f.background) >= SERVER_FETCH_CONCURRENCY:
                break
            f = self.fetch(db_id, ref)
            f.background = True
            f.when_done().addCallback(lambda _, f=f, ref=ref: self._background_done(f, ref))

    def _background_done(self, f, ref):
        if f.error is None:
            self._retry_at.pop(ref, None)
            self._attempts.pop(ref, None)
        else:
            n = self._attempts[ref] = self._attempts.get(ref, 0) + 1
            self._retry_at[ref] = time.monotonic() + min(1.5 * 2 ** (n - 1), 3600.0)

    def _scan(self):
        """Every blob hinted in a syncgroup where this device is a blob server and not
        held here is fetched (Go's serverBlobScan); failures back off per blob."""
        d = self.daemon.worker.call(self._scan_work)
        d.addCallback(lambda work: [self._background(db_id, refs) for db_id, refs in work])
        d.addErrback(lambda _: None)

    def _scan_work(self):
        from v23py import vom
        sync = self.daemon.sync
        if sync is None:
            return []
        db_of = {}
        for db_id, ds in list(sync.dbs.items()):
            for e in ds.sgs.values():
                if _is_server([e], sync.hex):
                    db_of[e.gid] = db_id
        if not db_of:
            return []
        by_db = {}
        for ref, raw in self.store.signposts():
            sp = vom.decode(raw, I.Signpost._vdl_type)
            dbs = {db_of[g] for g in sp.SgIds or () if g in db_of}
            if dbs and not self.store.committed(ref):
                by_db.setdefault(sorted(dbs)[0], []).append(ref)
        return sorted(by_db.items())

    # --- local writes that reference blobs (store thread, before the commit) ------------
    def _watch_db(self, d):
        if d.st is not None:
            d.st.commit_hooks.append(lambda store, writes, ops, ts, from_sync:
                                     self._local_writes(d.id, writes, ops, from_sync))

    def _local_writes(self, db_id, writes, ops, from_sync):
        """Go's processBlobRefs for the creator: a row written here that references a
        blob held here gives this device ownership shares in the row's syncgroups."""
        if from_sync:
            return
        try:
            self._local_puts(db_id, writes, ops)
        except Exception as e:      # ownership is bookkeeping: never fail the write
            log.warning("blob ownership update failed: %r", e)

    def _local_puts(self, db_id, writes, ops):
        sync = self.daemon.sync
        ds = sync.dbs.get(db_id) if sync is not None else None
        if ds is None or not ds.sgs:
            return
        from v23py import vom
        for op in ops:
            if not isinstance(op, PutOp) or op.Key[:2] != b"r" + SEP:
                continue
            raw = writes.get(op.Key + SEP + op.Version)
            if raw is None or b"syncbase.BlobRef" not in raw:
                continue
            refs = blob_refs(vom.decode(raw))
            key = op.Key[2:]
            gids = {e.gid for e in ds.sgs.values() if any(key.startswith(p) for p in e.prefixes)}
            if not refs or not gids:
                continue
            for ref in refs:
                try:
                    held = self.store.info(ref) is not None
                except verror.VError:
                    continue
                if held:
                    self.own.created_reference(ref, gids)
            self._merge_signposts({ref: (gids, {}) for ref in refs})

    def take_requests(self, refs, caller=None):
        """Refs a peer asks us to take (store thread): those we own no share of in a
        requested syncgroup we belong to, by database (Go's RequestTakeBlobs).

        The request may come before the rows naming the blobs have synced here, so the
        requested syncgroups and the caller are recorded in the blobs' signposts now:
        the fetch then offers our priorities in those syncgroups and can take shares."""
        sync = self.daemon.sync
        db_of = {e.gid: db_id for db_id, ds in list(sync.dbs.items()) for e in ds.sgs.values()}
        by_db = {}
        hints = {}
        for ref, shares in refs[:1000]:
            md = self.own.metadata(ref)
            have = md["OwnerShares"] if md else {}
            gids = [g for g, n in shares.items() if n > 0 and have.get(g, 0) == 0 and g in db_of]
            if gids and not self.store.committed(ref):
                by_db.setdefault(db_of[gids[0]], []).append(ref)
                locs = {}
                if caller:
                    locs[caller] = I.LocationData(WhenSeen=now_time(), IsProxy=False,
                                                  IsServer=bool(self.server_gids(caller)))
                hints[ref] = (set(gids), locs)
        if hints:
            self._merge_signposts(hints)
        return sorted(by_db.items())

    def server_gids(self, peer):
        """The syncgroups in which ``peer`` is a blob server (store thread)."""
        sync = self.daemon.sync
        out = set()
        for ds in list(sync.dbs.values()) if sync is not None else ():
            for e in ds.sgs.values():
                st = e.sg.Joiners.get(peer)
                if st is not None and int(st.MemberInfo.BlobDevType) == BlobDevTypeServer:
                    out.add(e.gid)
        return out

    def my_dev_types(self):
        """{gid: this device's BlobDevType in that syncgroup, or None} (store thread)."""
        sync = self.daemon.sync
        out = {}
        if sync is None:
            return out
        for ds in list(sync.dbs.values()):
            for e in ds.sgs.values():
                st = e.sg.Joiners.get(sync.hex)
                out[e.gid] = int(st.MemberInfo.BlobDevType) if st is not None else None
        return out

    def priorities_for(self, gids, dev_types):
        """Wire SgPriorities of this device for the syncgroups ``gids`` it is in."""
        return I.SgPriorities({g: to_wire(self.own.priority(g, dev_types[g]))
                               for g in gids if g in dev_types})

    def final_priorities(self, req, names):
        """DeltaFinalResp.SgPriorities for a data round: this device's priorities in the
        requested syncgroups the caller may Read (Go's responder; store thread)."""
        from v23py.syncbase.util import Id
        try:
            if req.name != "Data":
                return I.SgPriorities({})
            ds = self.daemon.sync.dbs.get(Id(req.value.DbId.Blessing, req.value.DbId.Name))
            if ds is None:
                return I.SgPriorities({})
            gids = {str(g) for g in req.value.SgIds or ()}
            ok = {g for g in gids if g in ds.sgs and
                  access.allowed(ds.sgs[g].perms, (READ,), names)}
            return self.priorities_for(ok, self.my_dev_types())
        except Exception:
            return I.SgPriorities({})

    def heard_priorities(self, final, stub=None, opts=()):
        """Adopt better priorities from a data round's final response (store thread).
        A leaf device then asks the (non-leaf) peer to take one share of each blob it
        owns in those syncgroups (Go's RequestTakeBlobs hand-off)."""
        try:
            sp = dict(getattr(final, "SgPriorities", None) or {})
            if not sp:
                return
            dev = self.my_dev_types()
            self.own.hear(sp, dev)
            now = time.monotonic()
            if stub is None or now - self._last_handoff < HANDOFF_INTERVAL:
                return
            handoff = self.own.handoff(sp, dev)
            self._last_handoff = now
            if handoff:
                self.daemon.reactor.callFromThread(self._request_take, stub, opts, handoff)
        except Exception:
            pass

    def _request_take(self, stub, opts, handoff):
        from v23py import vdl as _vdl
        ctx, cancel = self.daemon.sync.ctx.with_timeout(HAVE_TIMEOUT)
        arg = {_vdl.value(sbwire.BlobRef._vdl_type, ref): I.BlobSharesBySyncgroup(sh)
               for ref, sh in handoff.items()}
        d = defer.ensureDeferred(stub.RequestTakeBlobs(ctx, self.daemon.sync.hex, arg, *opts))
        d.addBoth(lambda _: cancel())

    # --- the peer's view (store thread) -------------------------------------------------
    def readable_gids(self, names):
        """The syncgroups here that ``names`` may Read (store thread)."""
        sync = self.daemon.sync
        if sync is None:
            return set()
        return {e.gid for ds in list(sync.dbs.values()) for e in ds.sgs.values()
                if access.allowed(e.perms, (READ,), names)}

    def may_fetch(self, ref, names):
        """Whether a peer with ``names`` may fetch blob ``ref``: it must Read one of the
        syncgroups the blob is known to belong to here (by its signpost or ownership
        shares); a blob tied to none of them yet goes to any reader of a syncgroup
        (store thread)."""
        readable = self.readable_gids(names)
        if not readable:
            return False
        sync = self.daemon.sync
        local = {e.gid for ds in list(sync.dbs.values()) for e in ds.sgs.values()}
        known = {str(g) for g in self.get_signpost(ref).SgIds or ()}
        md = self.own.metadata(ref)
        if md:
            known.update(g for g, n in md["OwnerShares"].items() if n > 0)
        known &= local
        return not known or bool(known & readable)

    def peer_view(self, names):
        """(may the caller fetch, {gid: (visible, {member: is blob server})}) for a sync
        caller (store thread).  A syncgroup is visible to the caller when it is not
        private or the caller may Read (join) it."""
        sync = self.daemon.sync
        ok, view = False, {}
        if sync is None:
            return ok, view
        for ds in list(sync.dbs.values()):
            for e in ds.sgs.values():
                readable = access.allowed(e.perms, (READ,), names)
                ok = ok or readable
                view[e.gid] = (readable or not e.sg.Spec.IsPrivate,
                               {h: int(st.MemberInfo.BlobDevType) == BlobDevTypeServer
                                for h, st in e.sg.Joiners.items()})
        return ok, view


def _readable_only(shares, readable):
    """A peer's {gid: shares} keeping only the syncgroups the peer may Read."""
    return {str(g): int(n) for g, n in dict(shares or {}).items() if str(g) in readable}


def filter_signpost(sp, view):
    """What a caller may learn of a Signpost (Go's filterSignpost): the hinted syncgroups
    visible to it, and the hinted locations that are blob servers, or members of a
    hinted syncgroup that is visible or where they are a blob server."""
    gids = {g for g in sp.SgIds or () if g in view}
    locs = {}
    for peer, ld in (sp.Locations or {}).items():
        keep = bool(ld.IsServer)
        for g in gids:
            visible, members = view[g]
            if peer in members and (visible or members[peer]):
                keep = True
                break
        if keep:
            locs[peer] = ld
    return I.Signpost(Locations=I.PeerToLocationDataMap(locs),
                      SgIds={g for g in gids if view[g][0]},
                      FetchAttempts=int(sp.FetchAttempts or 0))


def _is_server(sgs, peer):
    for e in sgs:
        st = e.sg.Joiners.get(peer)
        if st is not None and int(st.MemberInfo.BlobDevType) == BlobDevTypeServer:
            return True
    return False


def _when(ld):
    return (int(ld.WhenSeen.Seconds), int(ld.WhenSeen.Nanos))


def _ordered_locs(locs):
    # servers first, then proxies, then the most recently seen (Go's preference)
    return sorted(locs, key=lambda p: (not locs[p].IsServer, not locs[p].IsProxy,
                                       tuple(-x for x in _when(locs[p])), p))


def _ordered(sp):
    return _ordered_locs(dict(getattr(sp, "Locations", None) or {}))


# --- the Database methods ------------------------------------------------------------------

class BlobMethods:
    """Go's BlobManager methods on the Database object (needs ``daemon`` and ``db_id``)."""

    async def _blob_auth(self, call, tags):
        m = manager(self.daemon)
        await m.authorize(self.db_id, _names(call), tags)
        return m

    async def CreateBlob(self, ctx, call):
        m = await self._blob_auth(call, (WRITE,))
        return vdl.value(sbwire.BlobRef._vdl_type, await m.call(m.store.create))

    async def PutBlob(self, ctx, call, br):
        ref = _ref_arg(br)
        m = await self._blob_auth(call, (WRITE,))
        await m.call(m.store.check_writable, ref)
        buf, n, pending = [], 0, None
        try:
            async for chunk in call:
                buf.append(bytes(chunk))
                n += len(buf[-1])
                if n >= APPEND_BATCH:
                    if pending is not None:
                        await pending
                    pending, buf, n = m.call(m.store.append, ref, buf), [], 0
            if pending is not None:
                p, pending = pending, None
                await p
            if buf:
                await m.call(m.store.append, ref, buf)
        except BaseException:
            # Like Go, the bytes received before a broken stream stay in the blob.
            if pending is not None:
                pending.addErrback(lambda _: None)
            if buf:
                m.call(m.store.append, ref, buf).addErrback(lambda _: None)
            raise
        finally:
            m.call(m.store.end_writes, ref).addErrback(lambda _: None)

    async def CommitBlob(self, ctx, call, br):
        ref = _ref_arg(br)
        m = await self._blob_auth(call, (WRITE,))
        await m.call(m.store.commit, ref)

    async def GetBlobSize(self, ctx, call, br):
        ref = _ref_arg(br)
        m = await self._blob_auth(call, ALL_DATABASE_TAGS)
        return await m.call(m.store.size, ref)

    async def DeleteBlob(self, ctx, call, br):
        ref = _ref_arg(br)
        m = await self._blob_auth(call, ALL_DATABASE_TAGS)
        if ref in m.fetches:
            raise verror.BadState.new(f"blob {ref} is being fetched")
        await m.call(m.store.delete, ref)

    async def GetBlob(self, ctx, call, br, offset):
        ref = _ref_arg(br)
        m = await self._blob_auth(call, ALL_DATABASE_TAGS)
        offset = int(offset)
        info = await m.call(m.store.info, ref)
        if info is not None and info.committed:
            return await m.stream_local(call, ref, offset)
        if info is not None and ref not in m.fetches:
            raise sbwire.ErrBlobNotCommitted.new("blob is not yet committed")
        if offset < 0:
            raise IllegalPositionForRead.new(f"BlobReader: illegal position {offset}", offset, 0)
        f = m.fetch(self.db_id, ref)
        await m.stream_fetching(call, f, ref, offset)

    async def FetchBlob(self, ctx, call, br, priority):
        ref = _ref_arg(br)
        m = await self._blob_auth(call, ALL_DATABASE_TAGS)
        info = await m.call(m.store.info, ref)
        if info is not None and info.committed:
            await _send(call, _status("Done"))
            return
        if info is not None and ref not in m.fetches:
            raise sbwire.ErrBlobNotCommitted.new("blob is not yet committed")
        await _send(call, _status("Pending"))
        f = m.fetch(self.db_id, ref)
        last = ("Pending", 0, 0)
        while True:
            st = f.status()
            if st != last and st[0] != "Pending" and not (f.done and f.error is not None):
                await _send(call, _status(*st) if st[0] == "Fetching" else _status(st[0]))
                last = st
            if f.done:
                if f.error is not None:
                    raise f.error
                return
            await f.changed()

    async def PinBlob(self, ctx, call, br):
        ref = _ref_arg(br)
        m = await self._blob_auth(call, (WRITE,))
        await m.call(m.store.pin, ref, True)

    async def UnpinBlob(self, ctx, call, br):
        ref = _ref_arg(br)
        m = await self._blob_auth(call, ALL_DATABASE_TAGS)
        await m.call(m.store.pin, ref, False)

    async def KeepBlob(self, ctx, call, br, rank):
        ref = _ref_arg(br)
        m = await self._blob_auth(call, ALL_DATABASE_TAGS)
        await m.call(m.store.keep, ref, int(rank))


# --- the peer (%%sync) methods ---------------------------------------------------------------

class BlobSyncMethods:
    """Go's peer blob methods on the %%sync object (needs ``daemon``)."""

    async def _peer(self, call):
        m = manager(self.daemon)
        names = _names(call)
        ok, view = await self.daemon.worker.call(m.peer_view, names)
        if not ok:
            raise verror.NoAccess.new(f"{names} may not read any syncgroup of this syncbase")
        return m, view

    async def HaveBlob(self, ctx, call, br):
        ref = _ref_arg(br)
        m, view = await self._peer(call)
        info = await m.call(m.store.info, ref)
        if info is not None and info.committed:
            return info.size, I.Signpost(Locations=I.PeerToLocationDataMap({}), SgIds=set(),
                                         FetchAttempts=0)
        return -1, filter_signpost(await m.call(m.get_signpost, ref), view)

    async def FetchBlob(self, ctx, call, br, mySgPriorities):
        ref = _ref_arg(br)
        m, _ = await self._peer(call)
        if not await self.daemon.worker.call(m.may_fetch, ref, _names(call)):
            raise verror.NoAccess.new("access denied: the blob belongs to no syncgroup the "
                                      "caller may read")
        await m.stream_local(call, ref, 0)
        dev = await self.daemon.worker.call(m.my_dev_types)
        offer = await m.call(m.own.offer, ref, dict(mySgPriorities or {}), dev)
        return I.BlobSharesBySyncgroup(offer)

    async def AcceptedBlobOwnership(self, ctx, call, br, callerName, shares):
        ref = _ref_arg(br)
        m, _ = await self._peer(call)
        caller = str(callerName)
        readable = await self.daemon.worker.call(m.readable_gids, _names(call))
        server_gids = await self.daemon.worker.call(m.server_gids, caller)
        total, changed = await m.call(m.own.accepted, ref, _readable_only(shares, readable),
                                      server_gids)
        if changed and total == 0:
            # the caller keeps the blob now: remember it as a location
            ld = I.LocationData(WhenSeen=now_time(), IsProxy=False, IsServer=bool(server_gids))
            await m.call(m._merge_signposts, {ref: (set(), {caller: ld})})
        return self.daemon.sync.hex, total > 0

    async def RequestTakeBlobs(self, ctx, call, callerName, blobRefToShares):
        m, _ = await self._peer(call)
        readable = await self.daemon.worker.call(m.readable_gids, _names(call))
        refs = []
        for br, shares in dict(blobRefToShares or {}).items():
            try:
                ref = _ref_arg(br)
            except verror.VError:
                continue
            refs.append((ref, _readable_only(shares, readable)))
        work = await self.daemon.worker.call(m.take_requests, refs, str(callerName))
        for db_id, want in work:
            m._background(db_id, want)

    async def GetBlobShares(self, ctx, call, br):
        ref = _ref_arg(br)
        m, _ = await self._peer(call)
        readable = await self.daemon.worker.call(m.readable_gids, _names(call))
        return _readable_only(await m.call(m.own.shares, ref), readable)
