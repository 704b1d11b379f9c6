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

from twisted.internet import defer

from v23py import verror, vom, vdl
from v23py.syncbase import _wire
from v23py.syncbase.util import Id, decode, decode_id, validate_id, validate_row_key, \
    InvalidNameError
from syncbased import access
from syncbased import service as svc
from syncbased.blobstore.manager import BlobMethods

SYNC_SUFFIX = "%%sync"
SCAN_BATCH = 256


def caller_names(call) -> list:
    """The caller's validated blessing names (Go's RemoteBlessingNames)."""
    sc = getattr(call, "security", None)
    if sc is None:
        return []
    from v23py import security
    try:
        names, _ = security.remote_blessing_names(sc)
    except Exception:
        return []
    return list(names)


class AllowEveryone:
    def authorize(self, call):
        return None


ALLOW = AllowEveryone()


# --- conversions between wire values and service-layer values ---------------

def perms_in(p):
    return access.from_any(p) if p is not None else None


def perms_out(perms):
    acl_cls = vdl.class_for(_wire.AccessListType)
    perms_cls = vdl.class_for(_wire.PermissionsType)
    return perms_cls({t: acl_cls(In=list(a.In), NotIn=list(a.NotIn))
                      for t, a in (perms or {}).items()})


def id_out(i):
    return _wire.new(_wire.IdType, Blessing=i.Blessing, Name=i.Name)


def value_in(value) -> bytes:
    """Bytes to store for a Put value (the single-shot VOM encoding)."""
    return vom.encode(value)


def value_out(data: bytes):
    return vom.decode(data)


def schema_in(md):
    if isinstance(md, vdl.Typed):
        md = md.value
    if md is None:
        return None
    rules = []
    for r in md.Policy.Rules or ():
        rules.append({"CollectionId": [r.CollectionId.Blessing, r.CollectionId.Name],
                      "KeyPrefix": r.KeyPrefix, "Type": r.Type,
                      "Resolver": getattr(r.Resolver, "label", str(r.Resolver))})
    return {"Version": int(md.Version), "Policy": {"Rules": rules}}


def schema_out(obj):
    rt = vdl.class_for(_wire.ResolverTypeType)
    rules = [_wire.new(_wire.CrRuleType,
                       CollectionId=id_out(Id(*r["CollectionId"])), KeyPrefix=r["KeyPrefix"],
                       Type=r["Type"], Resolver=rt(r["Resolver"]))
             for r in obj["Policy"]["Rules"]]
    return _wire.new(_wire.SchemaMetadataType, Version=obj["Version"],
                     Policy=_wire.new(_wire.CrPolicyType, Rules=rules))


async def _send(call, item):
    r = call.send(item)
    if isinstance(r, defer.Deferred):
        await r


def _not_implemented(what):
    raise verror.NotImplemented.new(f"{what} is not implemented")


# --- served objects ----------------------------------------------------------

class _Base:
    def __init__(self, daemon):
        self.daemon = daemon
        self.w = daemon.worker

    def run(self, fn, *args):
        return self.w.call(fn, *args)


class ServiceObj(_Base):
    def describe__(self):
        return list(_wire.SERVICE_DESCS)

    async def GetPermissions(self, ctx, call):
        perms, version = await self.run(self.daemon.service.get_permissions, caller_names(call))
        return perms_out(perms), version

    async def SetPermissions(self, ctx, call, perms, version):
        await self.run(self.daemon.service.set_permissions, caller_names(call),
                       perms_in(perms), version)

    async def DevModeUpdateVClock(self, ctx, call, opts):
        await self.run(self.daemon.service.dev_mode_check, caller_names(call))

    async def DevModeGetTime(self, ctx, call):
        import time
        await self.run(self.daemon.service.dev_mode_check, caller_names(call))
        ns = time.time_ns()
        return _wire.new(_wire.TimeType, Seconds=ns // 10**9 + _UNIX_TO_INTERNAL,
                         Nanos=ns % 10**9)

    async def DevModeGetBlobShares(self, ctx, call, br):
        await self.run(self.daemon.service.dev_mode_check, caller_names(call))
        from syncbased.blobstore.manager import dev_mode_shares
        return await dev_mode_shares(self.daemon, br)

    async def GlobChildren__(self, ctx, call, matcher=None):
        return await self.run(self.daemon.service.glob_children, caller_names(call))


# seconds from 0001-01-01 to 1970-01-01 (VDL time.Time epoch)
_UNIX_TO_INTERNAL = 62135596800


class DatabaseObj(BlobMethods, _Base):
    def __init__(self, daemon, db_id):
        super().__init__(daemon)
        self.db_id = db_id

    def describe__(self):
        return list(_wire.DATABASE_DESCS)

    def db(self):
        return self.daemon.service.database(self.db_id)

    async def _on(self, method, call, *args):
        def go():
            return getattr(self.db(), method)(caller_names_cache, *args)
        caller_names_cache = caller_names(call)
        return await self.run(go)

    async def Create(self, ctx, call, metadata, perms):
        await self._on("create", call, schema_in(metadata), perms_in(perms))

    async def Destroy(self, ctx, call):
        await self._on("destroy", call)

    async def Exists(self, ctx, call):
        return await self._on("exists_", call)

    async def ListCollections(self, ctx, call, bh):
        ids = await self._on("list_collections", call, str(bh))
        return [id_out(i) for i in ids]

    async def Exec(self, ctx, call, bh, query, params):
        from syncbased.query_exec import exec_stream
        await exec_stream(self, call, str(bh), str(query), list(params or ()))

    async def BeginBatch(self, ctx, call, bo):
        return await self._on("begin_batch", call, bool(bo.ReadOnly))

    async def Commit(self, ctx, call, bh):
        await self._on("commit", call, str(bh))

    async def Abort(self, ctx, call, bh):
        await self._on("abort", call, str(bh))

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
        return vdl.value(_wire.ResumeMarkerType, await self._on("get_resume_marker", call, str(bh)))

    async def WatchPatterns(self, ctx, call, resume_marker, patterns):
        flt = svc.PatternFilter([(p.CollectionBlessing, p.CollectionName, p.RowKey)
                                 for p in patterns or ()])
        await self._watch(ctx, call, bytes(resume_marker or b""), flt)

    async def WatchGlob(self, ctx, call, req):
        flt = svc.GlobFilter(req.Pattern)
        await self._watch(ctx, call, bytes(req.ResumeMarker or b""), flt)

    async def _watch(self, ctx, call, marker, flt):
        names = caller_names(call)
        changes, rm, seq = await self.run(lambda: self.db().watch_start(names, marker, flt))
        await self._send_batch(call, names, changes, rm)
        waiter = self.daemon.log_waiter(self.db_id)
        try:
            while True:
                batches, seq = await self.run(lambda s=seq: self.db().watch_next(names, s, flt))
                for ch, m in batches:
                    await self._send_batch(call, names, ch, m)
                if not batches:
                    await waiter.wait(ctx, seq)
        finally:
            waiter.close()

    async def _send_batch(self, call, names, changes, marker):
        change_cls = vdl.class_for(_wire.ChangeType)
        n = len(changes)
        for i, (name, state, value, from_sync) in enumerate(changes):
            if value is None:
                inner = None
            elif isinstance(value, tuple):
                tag_set = set(value[1])
                info = _wire.new(_wire.StoreChangeCollectionInfoType,
                                 Allowed=vdl.class_for(vdl.set_of(_wire.TagType))(tag_set)
                                 if vdl.class_for(vdl.set_of(_wire.TagType)) else tag_set,
                                 Perms=perms_out(value[2]) if value[2] else perms_out({}))
                inner = info
            else:
                inner = value_out(value)
            sc = _wire.new(_wire.StoreChangeType, Value=inner, FromSync=bool(from_sync))
            last = i == n - 1
            await _send(call, change_cls(
                Name=name, State=state, Value=sc,
                ResumeMarker=vdl.value(_wire.ResumeMarkerType, marker if last else b""),
                Continued=not last))

    async def GlobChildren__(self, ctx, call, matcher=None):
        return await self._on("glob_children", call)

    # --- syncgroups (syncbased.vsync) ---
    def _sync(self):
        sync = getattr(self.daemon, "sync", None)
        if sync is None:
            _not_implemented("sync")
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

    async def LeaveSyncgroup(self, ctx, call, sg_id):
        _not_implemented("LeaveSyncgroup")

    async def DestroySyncgroup(self, ctx, call, sg_id):
        _not_implemented("DestroySyncgroup")

    async def EjectFromSyncgroup(self, ctx, call, sg_id, member):
        _not_implemented("EjectFromSyncgroup")

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
        _not_implemented("StartConflictResolver")


class CollectionObj(_Base):
    def __init__(self, daemon, db_id, cx_id):
        super().__init__(daemon)
        self.db_id, self.cx_id = db_id, cx_id

    def describe__(self):
        return list(_wire.COLLECTION_DESCS)

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
        kv_cls = vdl.class_for(_wire.KeyValueType)
        nxt = None
        try:
            nxt = self.run(_take, gen, SCAN_BATCH)
            while nxt is not None:
                chunk = await nxt
                # read the next batch on the store thread while this one is sent
                nxt = self.run(_take, gen, SCAN_BATCH) if len(chunk) >= SCAN_BATCH else None
                for k, v in chunk:
                    await _send(call, kv_cls(Key=k, Value=value_out(v)))
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


def _enc_key(k):
    from v23py.syncbase.util import encode
    return encode(k)


def _take(gen, n):
    out = []
    for item in gen:
        out.append(item)
        if len(out) >= n:
            break
    return out


class RowObj(_Base):
    def __init__(self, daemon, db_id, cx_id, key):
        super().__init__(daemon)
        self.db_id, self.cx_id, self.key = db_id, cx_id, key

    def describe__(self):
        return list(_wire.ROW_DESCS)

    def row(self):
        return self.daemon.service.database(self.db_id).collection(self.cx_id).row(self.key)

    async def _on(self, method, call, *args):
        names = caller_names(call)
        return await self.run(lambda: getattr(self.row(), method)(names, *args))

    async def Exists(self, ctx, call, bh):
        return await self._on("exists_", call, str(bh))

    async def Get(self, ctx, call, bh):
        return value_out(await self._on("get", call, str(bh)))

    async def Put(self, ctx, call, bh, value):
        await self._on("put", call, str(bh), value_in(value))

    async def Delete(self, ctx, call, bh):
        await self._on("delete", call, str(bh))


class Dispatcher:
    """Suffix -> (object, authorizer) as Go's syncbased dispatcher."""

    CACHE_SIZE = 4096

    def __init__(self, daemon):
        self.daemon = daemon
        self.sync_obj = None      # the peer (%%sync) object, once sync exists
        self._cache = {}          # suffix -> served object (they are stateless handles)

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

    def _lookup(self, suffix):
        if not suffix:
            return ServiceObj(self.daemon), ALLOW
        parts = suffix.split("/", 2)
        if parts[0] == SYNC_SUFFIX:
            if self.sync_obj is None:
                raise verror.UnknownSuffix.new(f"suffix does not exist: {suffix}")
            return self.sync_obj, ALLOW
        try:
            db_id = decode_id(parts[0])
            validate_id(db_id)
            cx_id = row = None
            if len(parts) > 1:
                cx_id = decode_id(parts[1])
                validate_id(cx_id)
            if len(parts) > 2:
                row = decode(parts[2])
                validate_row_key(row)
        except InvalidNameError as e:
            raise _wire.InvalidName.new(f"invalid name: '{suffix}': {e}", suffix) from None
        if cx_id is None:
            return DatabaseObj(self.daemon, db_id), ALLOW
        if row is None:
            return CollectionObj(self.daemon, db_id, cx_id), ALLOW
        return RowObj(self.daemon, db_id, cx_id, row), ALLOW


class LogWaiter:
    """Waits (in the reactor) until a database's watch log may have grown."""

    def __init__(self, daemon, db_id):
        self.daemon, self.db_id = daemon, db_id
        self._d = None
        self._pending = False
        daemon._waiters.add(self)

    def notify(self, db_id):
        if db_id != self.db_id:
            return
        self._pending = True
        if self._d is not None and not self._d.called:
            d, self._d = self._d, None
            d.callback(None)

    async def wait(self, ctx, seq):
        if self._pending:
            self._pending = False
            return
        d = self._d = defer.Deferred()
        remove = ctx.on_done(lambda err: d.called or d.errback(
            err or verror.Canceled.new("watch canceled")))
        try:
            await d
        finally:
            remove()
            self._pending = False

    def close(self):
        self.daemon._waiters.discard(self)
        if self._d is not None and not self._d.called:
            self._d.cancel()
