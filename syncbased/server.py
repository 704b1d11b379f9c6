"""RPC glue: the dispatcher and the Service/Database/Collection/Row server objects.

The dispatcher maps a suffix to an object exactly as Go's syncbased does:
``""`` -> Service; ``<enc db id>`` -> Database; ``<db>/<enc cx id>`` ->
Collection; ``<db>/<cx>/<enc row key>`` -> Row (the suffix is split into at
most three parts, so a row key's escaped ``/`` never splits); ``%%sync`` is
reserved for the peer interface.  Components are decoded and validated, and
bad ones give ``InvalidName``.  Every object allows every caller at the RPC
layer; access is decided inside each method against Syncbase permissions
(``syncbased.service``), which runs on the store thread (``syncbased.worker``).

Row values travel as VDL ``any``: a Put value is stored as the single-shot VOM
encoding of the value received, and Get/Scan/Watch decode those bytes back,
so the value keeps its exact type.
"""
from __future__ import annotations



from v23py import verror, vom, vdl
from v23py.v23.services import permissions as permswire
from v23py.v23.security import access as accesswire
from v23py.v23.services import syncbase as sbwire
from v23py.v23.services import watch as watchwire
from v23py.syncbase.util import Id, decode, decode_id, validate_id, validate_row_key, \
    InvalidNameError, encode, encode_id
from v23py.v23.vdlroot.time import native as vtime
from syncbased import access, watch
from syncbased.blobstore.manager import BlobMethods, dev_mode_shares
from syncbased.common import (
    ALLOW, FALLBACK, SCAN_BATCH, caller_names, id_out, not_implemented, perms_in,
    perms_out, schema_in, schema_out, send, value_in, value_out)
from v23py.syncbase import ext

SYNC_SUFFIX = "%%sync"

# What each served object describes: its own interface, then its embeds (Go's Describe__).
SERVICE_DESCS = (sbwire.ServiceDesc, permswire.ObjectDesc)
DATABASE_DESCS = (sbwire.DatabaseDesc, permswire.ObjectDesc, sbwire.DatabaseWatcherDesc,
                  watchwire.GlobWatcherDesc, sbwire.SyncgroupManagerDesc, sbwire.BlobManagerDesc,
                  sbwire.SchemaManagerDesc, sbwire.ConflictManagerDesc)
COLLECTION_DESCS = (sbwire.CollectionDesc,)
ROW_DESCS = (sbwire.RowDesc,)
SEND_BATCH = 250     # rows per flow write of a Scan (~30 KB of small rows)
_OPT_CX_INFO = vdl.optional(sbwire.StoreChangeCollectionInfo._vdl_type)


# --- served objects ----------------------------------------------------------

class _Base:
    def __init__(self, daemon):
        self.daemon = daemon
        self.w = daemon.worker

    def run(self, fn, *args):
        return self.w.call(fn, *args)

    def run_quick(self, fn, *args):
        """``run`` for short work: on the reactor when the store thread is idle."""
        return self.w.call_quick(fn, *args)


class ServiceObj(_Base):
    def describe__(self):
        return list(SERVICE_DESCS)

    async def GetPermissions(self, ctx, call):
        perms, version = await self.run(self.daemon.service.get_permissions, caller_names(call))
        return perms_out(perms), version

    async def SetPermissions(self, ctx, call, perms, version):
        await self.run(self.daemon.service.set_permissions, caller_names(call),
                       perms_in(perms), version)

    async def DevModeUpdateVClock(self, ctx, call, opts):
        """Go's order: the dev-mode and Admin checks, then a new NTP host, a fake system
        clock (a non-zero Now), an NTP sync, a local update."""
        await self.run(self.daemon.service.dev_mode_check, caller_names(call))
        vc, vcd = self.daemon.service.vclock, self.daemon.vclockd
        if opts.NtpHost:
            vcd.inject_ntp_host(opts.NtpHost)
        if not vtime.is_zero_time(opts.Now):
            vc.inject_fake_sys_clock(vtime.time_to_unix_ns(opts.Now),
                                     vtime.duration_to_ns(opts.ElapsedTime))
        if opts.DoNtpUpdate:
            try:
                await vcd.do_ntp_update()
            except verror.VError:
                raise
            except Exception as e:
                raise verror.Unknown.new(str(e))
        if opts.DoLocalUpdate:
            await vcd.do_local_update()

    async def DevModeGetTime(self, ctx, call):
        await self.run(self.daemon.service.dev_mode_check, caller_names(call))
        return vtime.time_from_unix_ns(self.daemon.service.vclock.now())

    async def DevModeGetBlobShares(self, ctx, call, br):
        await self.run(self.daemon.service.dev_mode_check, caller_names(call))
        return await dev_mode_shares(self.daemon, br)

    async def GlobChildren__(self, ctx, call, matcher=None):
        return await self.run(self.daemon.service.glob_children, caller_names(call))


class DatabaseObj(BlobMethods, _Base):
    def __init__(self, daemon, db_id):
        super().__init__(daemon)
        self.db_id = db_id

    def describe__(self):
        return list(DATABASE_DESCS)

    def db(self):
        return self.daemon.service.database(self.db_id)

    async def _on(self, method, call, *args):
        def go():
            return getattr(self.db(), method)(caller_names_cache, *args)
        caller_names_cache = caller_names(call)
        return await self.run(go)

    async def _on_quick(self, method, call, *args):
        names = caller_names(call)
        return await self.run_quick(lambda: getattr(self.db(), method)(names, *args))

    async def Create(self, ctx, call, metadata, perms):
        await self._on("create", call, schema_in(metadata), perms_in(perms))

    async def Destroy(self, ctx, call):
        names = caller_names(call)
        # (through the service: a database whose store is broken can still be destroyed)
        await self.run(lambda: self.daemon.service.destroy_database(names, self.db_id))

    async def Exists(self, ctx, call):
        return await self._on("exists_", call)

    async def ListCollections(self, ctx, call, bh):
        ids = await self._on("list_collections", call, str(bh))
        return [id_out(i) for i in ids]

    async def Exec(self, ctx, call, bh, query, params):
        # (syncQL's parser and engine load at the first Exec, not at start-up)
        from syncbased.query_exec import exec_stream
        await exec_stream(self, call, str(bh), str(query), list(params or ()))

    async def BeginBatch(self, ctx, call, bo):
        return await self._on_quick("begin_batch", call, bool(bo.ReadOnly))

    async def Commit(self, ctx, call, bh):
        await self._on_quick("commit", call, str(bh))

    async def Abort(self, ctx, call, bh):
        await self._on_quick("abort", call, str(bh))

    async def PauseSync(self, ctx, call):
        await self._on("pause_sync", call)

    async def ResumeSync(self, ctx, call):
        await self._on("resume_sync", call)

    async def GetPermissions(self, ctx, call):
        perms, version = await self._on("get_permissions", call)
        return perms_out(perms), version

    async def SetPermissions(self, ctx, call, perms, version):
        await self._on("set_permissions", call, perms_in(perms), version)

    async def GetSchemaMetadata(self, ctx, call):
        return schema_out(await self._on("get_schema_metadata", call))

    async def SetSchemaMetadata(self, ctx, call, metadata):
        await self._on("set_schema_metadata", call, schema_in(metadata))

    async def GetResumeMarker(self, ctx, call, bh):
        return vdl.value(watchwire.ResumeMarker._vdl_type, await self._on_quick("get_resume_marker", call, str(bh)))

    async def WatchPatterns(self, ctx, call, resume_marker, patterns):
        flt = watch.PatternFilter([(p.CollectionBlessing, p.CollectionName, p.RowKey)
                                 for p in patterns or ()])
        await self._watch(ctx, call, bytes(resume_marker or b""), flt)

    async def WatchGlob(self, ctx, call, req):
        flt = watch.GlobFilter(req.Pattern)
        await self._watch(ctx, call, bytes(req.ResumeMarker or b""), flt)

    async def _watch(self, ctx, call, marker, flt):
        names = caller_names(call)
        changes, rm, seq = await self.run(lambda: self.db().watch_start(names, marker, flt))
        await self._send_batch(call, names, changes, rm)
        waiter = self.daemon.log_waiter(self.db_id)
        try:
            while True:
                batches, seq, caught_up = await self.run_quick(
                    lambda s=seq: self._watch_next(names, s, flt))
                for ch, m in batches:
                    await self._send_batch(call, names, ch, m)
                # (caught up: the log read to its end, so only a commit since can add to
                # it, and the waiter hears of each; reading again at once would find
                # nothing, and would do so before the changes just sent leave)
                if not batches or caught_up:
                    await waiter.wait(ctx, seq)
        finally:
            waiter.close()

    def _watch_next(self, names, seq, flt):
        """(store work) watch_next's (batches, next seq), and whether that is the log's end."""
        d = self.db()
        batches, seq = d.watch_next(names, seq, flt)
        return batches, seq, seq >= d.st.log_seq

    async def _send_batch(self, call, names, changes, marker):
        change_cls = vdl.class_for(watchwire.Change._vdl_type)
        n = len(changes)
        for i, (name, state, value, from_sync) in enumerate(changes):
            if value is None:
                inner = None
            elif isinstance(value, tuple):
                tag_set = set(value[1])
                info = sbwire.StoreChangeCollectionInfo(Allowed=vdl.class_for(vdl.set_of(accesswire.Tag._vdl_type))(tag_set)
                                 if vdl.class_for(vdl.set_of(accesswire.Tag._vdl_type)) else tag_set,
                                 Perms=perms_out(value[2]) if value[2] else perms_out({}))
                # a *StoreChangeCollectionInfo in the any, as Go sends it
                inner = vdl.optional_value(_OPT_CX_INFO, info)
            else:
                inner = value_out(value)
            sc = sbwire.StoreChange(Value=inner, FromSync=bool(from_sync))
            last = i == n - 1
            await send(call, change_cls(
                Name=name, State=state, Value=sc,
                ResumeMarker=vdl.value(watchwire.ResumeMarker._vdl_type, marker if last else b""),
                Continued=not last))

    async def GlobChildren__(self, ctx, call, matcher=None):
        return await self._on("glob_children", call)

    # --- syncgroups (syncbased.vsync) ---
    def _sync(self):
        sync = self.daemon.sync
        if sync is None:
            not_implemented("sync")
        return sync

    async def ListSyncgroups(self, ctx, call):
        names = caller_names(call)
        ids = await self.run(lambda: self._sync().list_syncgroups(names, self.db()))
        return [id_out(i) for i in ids]

    async def CreateSyncgroup(self, ctx, call, sg_id, spec, my_info):
        names = caller_names(call)
        sid = Id(sg_id.Blessing, sg_id.Name)
        await self.run(lambda: self._sync().create_syncgroup(names, self.db(), sid, spec,
                                                             my_info))

    async def JoinSyncgroup(self, ctx, call, remote, expected, sg_id, my_info):
        names = caller_names(call)
        sid = Id(sg_id.Blessing, sg_id.Name)
        return await self._sync().join_syncgroup(ctx, names, self.run, self.db, self.db_id, sid,
                                                 remote, my_info)

    # Leave, Destroy and Eject are not implemented in Go either; Go checks existence
    # and permissions first, and so do these (same order, same errors).
    async def LeaveSyncgroup(self, ctx, call, sg_id):
        names = caller_names(call)
        await self.run(lambda: self.db().check_tags(names, (access.WRITE,)))
        not_implemented("LeaveSyncgroup")

    def _sg_perms(self, sg_id):
        e = self._sync().dbsync(self.db_id).entry(sg_id)
        return None if e is None else e.perms

    async def DestroySyncgroup(self, ctx, call, sg_id):
        names = caller_names(call)
        sid = Id(sg_id.Blessing, sg_id.Name)

        def check():
            self.db().check_tags(names, (access.WRITE,))
            perms = self._sg_perms(sid)
            if perms is None:        # Write on the database may know it does not exist
                raise verror.NoExist.new(f"syncgroup {sid} does not exist", str(sid))
            access.authorize(perms, (access.ADMIN,), names)
        await self.run(check)
        not_implemented("DestroySyncgroup")

    async def EjectFromSyncgroup(self, ctx, call, sg_id, member):
        names = caller_names(call)
        sid = Id(sg_id.Blessing, sg_id.Name)

        await self.run(lambda: self._sync().sg_with_auth(names, self.db(), sid, (access.ADMIN,)))
        not_implemented("EjectFromSyncgroup")

    async def GetSyncgroupSpec(self, ctx, call, sg_id):
        names = caller_names(call)
        sid = Id(sg_id.Blessing, sg_id.Name)
        sg = await self.run(lambda: self._sync().sg_for_read(names, self.db(), sid))
        return sg.Spec, sg.SpecVersion

    async def SetSyncgroupSpec(self, ctx, call, sg_id, spec, version):
        names = caller_names(call)
        sid = Id(sg_id.Blessing, sg_id.Name)
        await self.run(lambda: self._sync().set_spec(names, self.db(), sid, spec, version))

    async def GetSyncgroupMembers(self, ctx, call, sg_id):
        names = caller_names(call)
        sid = Id(sg_id.Blessing, sg_id.Name)
        sg = await self.run(lambda: self._sync().sg_for_read(names, self.db(), sid))
        return {h: st.MemberInfo for h, st in sg.Joiners.items() if not st.HasLeft}

    async def StartConflictResolver(self, ctx, call):
        """Go's: the database exists and the caller is Admin; then the call is the
        database's conflict stream (sync sends it conflicts, reads resolutions) until
        the app ends it."""
        await self._on("check_admin", call)
        streams = self._sync().cr
        db_id = self.db_id
        streams.register(db_id, call)
        try:
            await ctx.done()
        finally:
            streams.unregister(db_id, call)


class CollectionObj(_Base):
    def __init__(self, daemon, db_id, cx_id):
        super().__init__(daemon)
        self.db_id, self.cx_id = db_id, cx_id

    def describe__(self):
        return list(COLLECTION_DESCS)

    def cx(self):
        return self.daemon.service.database(self.db_id).collection(self.cx_id)

    async def _on(self, method, call, *args):
        names = caller_names(call)
        return await self.run(lambda: getattr(self.cx(), method)(names, *args))

    async def Create(self, ctx, call, bh, perms):
        await self._on("create", call, str(bh), perms_in(perms))

    async def Destroy(self, ctx, call, bh):
        await self._on("destroy", call, str(bh))

    async def Exists(self, ctx, call, bh):
        return await self._on("exists_", call, str(bh))

    async def GetPermissions(self, ctx, call, bh):
        return perms_out(await self._on("get_permissions", call, str(bh)))

    async def SetPermissions(self, ctx, call, bh, perms):
        await self._on("set_permissions", call, str(bh), perms_in(perms))

    async def DeleteRange(self, ctx, call, bh, start, limit):
        await self._on("delete_range", call, str(bh), bytes(start or b""), bytes(limit or b""))

    async def Scan(self, ctx, call, bh, start, limit):
        gen = await self._on("scan", call, str(bh), bytes(start or b""), bytes(limit or b""))
        encode_kv = KeyValueEncoder()
        nxt = None
        try:
            nxt = self.run(_take, gen, SCAN_BATCH)
            while nxt is not None:
                chunk = await nxt
                # read the next batch on the store thread while this one is sent
                nxt = self.run(_take, gen, SCAN_BATCH) if len(chunk) >= SCAN_BATCH else None
                for i in range(0, len(chunk), SEND_BATCH):
                    # many rows per flow write: one Data message carries dozens of rows
                    await call.send_many(chunk[i:i + SEND_BATCH], encode_kv)
        finally:
            if nxt is not None:
                nxt.addErrback(lambda _: None)   # a prefetch nobody will read
            self.run(gen.close)

    async def GlobChildren__(self, ctx, call, matcher=None):
        gen = await self._on("scan", call, "", b"", b"")
        try:
            out = []
            while True:
                chunk = await self.run(_take, gen, 1000)
                out.extend(_enc_key(k) for k, _ in chunk)
                if len(chunk) < 1000:
                    return out
        finally:
            self.run(gen.close)


class RowsObj(_Base):
    """v23py's Rows extension at ``<db>/<cx>/%%rows`` (``v23py.syncbase.ext``): many
    Puts in one call.  Go's daemon has no such object; Go clients never call it."""

    def __init__(self, daemon, db_id, cx_id):
        super().__init__(daemon)
        self.db_id, self.cx_id = db_id, cx_id

    def describe__(self):
        return [ext.RowsDesc]

    def PutRows(self, ctx, call, bh, rows):
        names, bh = caller_names(call), str(bh)
        data = []
        for kv in rows or ():
            key = kv.Key
            try:
                validate_row_key(key)
            except InvalidNameError:
                # Put's error for that row's name (the key only escaped: an escaped key
                # never holds "%%", which tells a client the %%rows object is missing)
                name = f"{encode_id(self.db_id)}/{encode_id(self.cx_id)}/{encode(key)}"
                raise sbwire.ErrInvalidName.new(f"invalid name: '{name}'", name) from None
            data.append((key, value_in(kv.Value)))
        cx_id = self.cx_id
        return self.run(lambda: self.daemon.service.database(self.db_id).collection(cx_id)
                        .put_rows(names, bh, data))


class HintsObj(_Base):
    """v23py's Hints extension at ``%%v23py-hints`` (``syncbased.vsync.hints``)."""

    def describe__(self):
        return [ext.HintsDesc]

    async def Subscribe(self, ctx, call, initiator):
        await self.daemon.sync.hints.serve(ctx, call, initiator)


class KeyValueEncoder:
    """Encodes Scan's ``KeyValue{Key, Value any}`` messages around stored values.

    A stored value is a single-shot VOM stream: ``0x81``, type messages, then
    one value message ``<type id> [<length>] <body>``.  Within a KeyValue the
    value is an ``any``: a type-table index, an any-length slot and that same
    body.  So, for value types without nested ``any``/``typeobject`` (whose
    bodies never name type ids), the message is built around the stored body
    without decoding and re-encoding the value.  For each stored type prefix
    the first message is also encoded the general way and compared; on any
    difference (and for other types) the general way is used throughout.

    Used as ``encode(type_encoder, (key, stored bytes))`` (``ServerCall.send_many``);
    one instance per Scan, as its plans hold type ids of one connection."""

    __slots__ = ("_plans", "_kv_cls")

    def __init__(self):
        self._plans = {}   # stored prefix (through the type id) -> plan, or False
        self._kv_cls = vdl.class_for(sbwire.KeyValue._vdl_type)

    def general(self, te, item):
        k, v = item
        return vom.encode_value_message(te, sbwire.KeyValue._vdl_type,
                                        self._kv_cls(Key=k, Value=value_out(v)))

    def __call__(self, te, item):
        k, v = item
        if not k:
            return self.general(te, item)
        try:
            n = vom._type_prefix_len(v)
            if not n:
                return self.general(te, item)
            _, p = vom.dec_int(v, n)
            plan = self._plans.get(v[:p])
            if plan is None:
                plan = self._plan(te, item, v[:p])
            if plan is False:
                return self.general(te, item)
            head, chunked = plan
            if chunked:
                ln, p = vom.dec_uint(v, p)
                if p + ln != len(v):
                    return self.general(te, item)
            return self._build(head, k, v, p)
        except (vom.Truncated, verror.VError):
            return self.general(te, item)

    @staticmethod
    def _build(head, k, v, p):
        kb = k.encode()
        body = bytearray(b"\x00")
        vom.enc_uint(body, len(kb))
        body += kb
        body += b"\x01\x00\x00"          # field Value: type index 0, any-length slot 0
        body += memoryview(v)[p:]
        body.append(vom.CONTROL_END)
        msg = bytearray(head)
        vom.enc_uint(msg, len(v) - p)     # the any-length table: that one length
        vom.enc_uint(msg, len(body))
        msg += body
        return msg

    def _plan(self, te, item, prefix):
        plan = False
        t, _ = vom.decode_typed(item[1])
        if not (t.has_any or t.has_typeobject):
            head = bytearray()
            vom.enc_int(head, te.encode_type(sbwire.KeyValue._vdl_type))
            head.append(1)                 # type table: one entry, the value's type
            vom.enc_uint(head, te.encode_type(t))
            head.append(1)                 # any-length table: one entry
            chunked = vom.has_chunk_len(t)
            plan = (bytes(head), chunked)
            p = len(prefix)
            if chunked:
                _, p = vom.dec_uint(item[1], p)
            if bytes(self._build(plan[0], item[0], item[1], p)) != bytes(self.general(te, item)):
                plan = False
        if len(self._plans) < 256:
            self._plans[prefix] = plan
        return plan


def _enc_key(k):
    return encode(k)


def _take(gen, n):
    out = []
    for item in gen:
        out.append(item)
        if len(out) >= n:
            break
    return out


class RowObj(_Base):
    """The rows of one collection: a call's row key is its suffix's third part.

    One object serves every row of the collection (the dispatcher hands out the same
    one), so the RPC layer's per-object work (the invoker, its method plans) is done
    once per collection instead of for each new row a Put or Get names."""

    def __init__(self, daemon, db_id, cx_id):
        super().__init__(daemon)
        self.db_id, self.cx_id = db_id, cx_id

    def describe__(self):
        return list(ROW_DESCS)

    def row(self, key):
        return self.daemon.service.database(self.db_id).collection(self.cx_id).row(key)

    async def _on(self, method, call, *args):
        names, key = caller_names(call), row_key_of(call.suffix)
        return await self.run_quick(lambda: getattr(self.row(key), method)(names, *args))

    async def Exists(self, ctx, call, bh):
        return await self._on("exists_", call, str(bh))

    def Get(self, ctx, call, bh):
        names, key = caller_names(call), row_key_of(call.suffix)
        if not bh:
            # a point read of committed data: answered here, on the reactor thread
            v = self.row(key).get_committed(names)
            if v is not FALLBACK:
                return value_out(v)
            return self.run_quick(lambda: self.row(key).get(names, "")).addCallback(value_out)
        return self.run_quick(lambda: self.row(key).get(names, str(bh))).addCallback(value_out)

    def Put(self, ctx, call, bh, value):
        names, bh, data = caller_names(call), str(bh), value_in(value)
        key = row_key_of(call.suffix)
        # (a Deferred, or None once done: see StoreWorker.call_now)
        return self.w.call_now(lambda: self.row(key).put(names, bh, data))

    async def Delete(self, ctx, call, bh):
        await self._on("delete", call, str(bh))


class Dispatcher:
    """Suffix -> (object, authorizer) as Go's syncbased dispatcher."""

    CACHE_SIZE = 4096

    def __init__(self, daemon):
        self.daemon = daemon
        self.sync_obj = None      # the peer (%%sync) object, once sync exists
        self._cache = {}          # suffix -> served object (they are stateless handles)
        self._cx_ids = {}         # (db part, collection part) -> their Ids (_collection_ids)
        self._row_objs = {}       # (db Id, collection Id) -> the RowObj of its rows

    def lookup(self, ctx, suffix):
        obj = self._cache.get(suffix)
        if obj is not None:
            return obj, ALLOW
        obj, auth = self._lookup(suffix)
        if obj is not self.sync_obj:
            if len(self._cache) >= self.CACHE_SIZE:
                self._cache.clear()
            self._cache[suffix] = obj
        return obj, auth

    def _collection_ids(self, db_part, cx_part):
        """The decoded, valid (database Id, collection Id) of a suffix's first two parts;
        remembered, as each row of a collection has a suffix of its own."""
        ids = self._cx_ids.get((db_part, cx_part))
        if ids is None:
            db_id = decode_id(db_part)
            validate_id(db_id)
            cx_id = decode_id(cx_part)
            validate_id(cx_id)
            if len(self._cx_ids) >= self.CACHE_SIZE:
                self._cx_ids.clear()
            ids = self._cx_ids[(db_part, cx_part)] = db_id, cx_id
        return ids

    def _lookup(self, suffix):
        if not suffix:
            return ServiceObj(self.daemon), ALLOW
        parts = suffix.split("/", 2)
        if parts[0] == ext.HintsSuffix and len(parts) == 1:
            if self.daemon.sync is None:
                raise verror.UnknownSuffix.new(f"suffix does not exist: {suffix}")
            return HintsObj(self.daemon), ALLOW
        if parts[0] == SYNC_SUFFIX:
            if self.sync_obj is None:
                raise verror.UnknownSuffix.new(f"suffix does not exist: {suffix}")
            return self.sync_obj, ALLOW
        try:
            cx_id = row = None
            if len(parts) > 1:
                db_id, cx_id = self._collection_ids(parts[0], parts[1])
            else:
                db_id = decode_id(parts[0])
                validate_id(db_id)
            if len(parts) > 2:
                if parts[2] == ext.RowsSuffix:
                    return RowsObj(self.daemon, db_id, cx_id), ALLOW
                row = row_key_of(suffix)
                validate_row_key(row)
        except InvalidNameError as e:
            raise sbwire.ErrInvalidName.new(f"invalid name: '{suffix}': {e}", suffix) from None
        if cx_id is None:
            return DatabaseObj(self.daemon, db_id), ALLOW
        if row is None:
            return CollectionObj(self.daemon, db_id, cx_id), ALLOW
        rows = self._row_objs.get((db_id, cx_id))
        if rows is None:
            if len(self._row_objs) >= self.CACHE_SIZE:
                self._row_objs.clear()
            rows = self._row_objs[(db_id, cx_id)] = RowObj(self.daemon, db_id, cx_id)
        return rows, ALLOW


def row_key_of(suffix: str) -> str:
    """The row key a row's suffix ``<db>/<cx>/<escaped key>`` names (not validated)."""
    return decode(suffix.split("/", 2)[2])
