"""The Syncbase client library, shaped like Go's ``v.io/v23/syncbase``.

    from v23py import syncbase
    sb = syncbase.NewService(name)                    # no RPC
    db = sb.Database(ctx, "fortuneDb", None)          # Id inferred: {app pattern, name}
    await db.Create(ctx, None)                        # nil perms: all db tags for the user
    c = db.Collection(ctx, "fortuneCollection")       # Id: {user pattern, name}
    await c.Create(ctx, None)
    await c.Put(ctx, "numFortunes", 3)                # any VDL-encodable value
    n = await c.Get(ctx, "numFortunes")               # NoExist VError when missing
    async for key, value in c.Scan(ctx, syncbase.Prefix("num")):
        ...
    await syncbase.RunInBatch(ctx, db, syncbase.BatchOptions(), fn)   # retried on conflicts
    async for change in db.Watch(ctx, marker, [syncbase.CollectionRowPattern(...)]):
        ...
    headers, rows = await db.Exec(ctx, "select k, v from fortuneCollection where k like ?", "n%")
    async for row in rows:            # one value per header
        ...
    b = await db.CreateBlob(ctx)                      # blobs: see v23py.syncbase.blob
    await c.Put(ctx, "photo", syncbase.BlobRef(b.Ref()))

Handles never make RPCs when constructed.  Every RPC method returns a
Deferred (usable with ``await``); ``Scan`` and ``Watch`` return async
iterators.  Database/collection/syncgroup Ids are inferred from the caller's
default blessing names with Go's conventions: ``<idp>:o:<app>:<user>`` gives
the app pattern ``<idp>:o:<app>`` (databases) and the user pattern
``<idp>:o:<app>:<user>`` (collections, syncgroups).
"""
from __future__ import annotations

import functools
from typing import NamedTuple

from twisted.internet import defer

from v23py import verror, vdl
from v23py.syncbase import _wire
from v23py.syncbase.util import (
    Id, encode, encode_id, prefix_range_limit, app_and_user_pattern_from_blessings,
    ConventionError, validate_id, validate_row_key, NO_EXTENSION)
from v23py.syncbase.cr import (  # noqa: F401
    APP_RESOLVES, DEFER, LAST_WINS, Conflict, ConflictRow, ConflictRowSet, ConflictScanSet,
    CrRule, NewValue, Resolution, ResolvedRow, ResolverLoop, Schema, SchemaMetadata, Value,
    metadata_from_wire, metadata_wire, needs_resolver, row_key)
from v23py.syncbase.discovery import (  # noqa: F401
    AdvertiseApp, AppPeer, Invite, ListenForAppPeers, ListenForInvites, ListenForPeers, Peer)

__all__ = [
    "NewService", "Service", "Database", "BatchDatabase", "Collection", "Row", "Id",
    "Prefix", "Range", "SingleRow", "RowRange", "BatchOptions", "RunInBatch",
    "CollectionRowPattern", "WatchChange", "ScanStream", "WatchStream", "ResultStream",
    "Syncgroup", "SyncgroupSpec", "SyncgroupMemberInfo", "perms_for", "BlobRef",
    "ALL_DATABASE_TAGS", "ALL_COLLECTION_TAGS", "ALL_SYNCGROUP_TAGS",
    "Schema", "SchemaMetadata", "CrRule", "LAST_WINS", "APP_RESOLVES", "DEFER", "Conflict",
    "ConflictRow", "ConflictRowSet", "ConflictScanSet", "Value", "NewValue", "Resolution",
    "ResolvedRow", "row_key",
    "ListenForInvites", "ListenForPeers", "ListenForAppPeers", "AdvertiseApp", "Invite", "Peer",
    "AppPeer",
]

ALL_DATABASE_TAGS = ("Admin", "Read", "Write", "Resolve")


def BlobRef(ref: str):
    """A VDL ``syncbase.BlobRef`` value, to store in a row so that peers can fetch the blob."""
    return vdl.value(_wire.BlobRefType, str(ref))
ALL_COLLECTION_TAGS = ("Admin", "Read", "Write")
ALL_SYNCGROUP_TAGS = ("Admin", "Read")
MAX_BATCH_ATTEMPTS = 3


def _deferred(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kw):
        return defer.ensureDeferred(fn(*args, **kw))
    return wrapper


# --- ranges ------------------------------------------------------------------

class RowRange(NamedTuple):
    """Half-open ``[start, limit)`` of row keys as bytes; empty limit = unbounded."""
    start: bytes
    limit: bytes


def _b(s):
    return s.encode("utf-8") if isinstance(s, str) else bytes(s)


def Prefix(p) -> RowRange:
    p = _b(p)
    return RowRange(p, prefix_range_limit(p))


def Range(start, limit) -> RowRange:
    return RowRange(_b(start), _b(limit))


def SingleRow(key) -> RowRange:
    k = _b(key)
    return RowRange(k, k + b"\x00")


class BatchOptions(NamedTuple):
    Hint: str = ""
    ReadOnly: bool = False


class CollectionRowPattern(NamedTuple):
    """SQL LIKE patterns (``%``, ``_``, ``\\`` escape) for WatchPatterns."""
    CollectionBlessing: str = "%"
    CollectionName: str = "%"
    RowKey: str = "%"


class WatchChange(NamedTuple):
    """One decoded watch change (Go's syncbase.WatchChange, simplified)."""
    entity: str          # "root", "collection" or "row"
    collection: Id | None
    row: str
    change_type: str     # "put" or "delete"
    value: object        # row value, or the StoreChangeCollectionInfo for collections
    resume_marker: bytes
    from_sync: bool
    continued: bool


# --- helpers -------------------------------------------------------------------

def _principal_names(ctx):
    from v23py import runtime, security
    p = runtime.get_principal(ctx)
    return security.default_blessing_names(p)


def _patterns(ctx):
    try:
        return app_and_user_pattern_from_blessings(*_principal_names(ctx))
    except ConventionError:
        return NO_EXTENSION, NO_EXTENSION


def _perms_wire(perms):
    if perms is None:
        return None
    acl_cls = vdl.class_for(_wire.AccessListType)
    out = {}
    for tag, acl in dict(perms).items():
        if isinstance(acl, dict):
            ins, notins = acl.get("In") or [], acl.get("NotIn") or []
        else:
            ins, notins = getattr(acl, "In", None) or [], getattr(acl, "NotIn", None) or []
        out[str(tag)] = acl_cls(In=list(ins), NotIn=list(notins))
    return vdl.class_for(_wire.PermissionsType)(out)


def perms_for(pattern, tags):
    """Permissions granting each of ``tags`` to ``pattern`` (wire form)."""
    acl_cls = vdl.class_for(_wire.AccessListType)
    return vdl.class_for(_wire.PermissionsType)({t: acl_cls(In=[pattern]) for t in tags})


def _id_wire(i):
    return _wire.new(_wire.IdType, Blessing=i.Blessing, Name=i.Name)


async def _call(ctx, name, method, args, in_types, out_types):
    from v23py import rpc
    res = await rpc.client_call(ctx, name, method, list(args), list(in_types), list(out_types))
    if not out_types:
        return None
    if len(out_types) == 1:
        return res[0]
    return tuple(res)


def _bh(bh):
    return vdl.value(_wire.BatchHandleType, bh)


# --- handles -------------------------------------------------------------------

class Service:
    def __init__(self, name: str):
        self._name = name

    def FullName(self) -> str:
        return self._name

    def Database(self, ctx, name: str, schema=None) -> "Database":
        app, _ = _patterns(ctx)
        return Database(self, Id(app, name), schema)

    def DatabaseForId(self, db_id, schema=None) -> "Database":
        return Database(self, Id(*db_id), schema)

    @_deferred
    async def GetPermissions(self, ctx):
        return await _call(ctx, self._name, "GetPermissions", [], [],
                           [_wire.PermissionsType, vdl.StringType])

    @_deferred
    async def SetPermissions(self, ctx, perms, version=""):
        await _call(ctx, self._name, "SetPermissions", [_perms_wire(perms), version],
                    [_wire.PermissionsType, vdl.StringType], [])

    @_deferred
    async def DevModeUpdateVClock(self, ctx, NtpHost="", Now=None, ElapsedTime=None,
                                  DoNtpUpdate=False, DoLocalUpdate=False):
        """Adjust the daemon's virtual clock (``--dev`` only, Admin): a new NTP host, a
        system clock reading ``Now`` (Unix ns) with ``ElapsedTime`` (ns) since boot, an
        NTP sync now, a local update now."""
        from v23py.vdl.vtime import duration_from_ns, time_from_unix_ns
        opts = _wire.new(_wire.DevModeUpdateVClockOptsType, NtpHost=NtpHost,
                         Now=time_from_unix_ns(Now) if Now is not None else
                         _wire.new(_wire.TimeType, Seconds=0, Nanos=0),
                         ElapsedTime=duration_from_ns(ElapsedTime or 0),
                         DoNtpUpdate=DoNtpUpdate, DoLocalUpdate=DoLocalUpdate)
        await _call(ctx, self._name, "DevModeUpdateVClock", [opts],
                    [_wire.DevModeUpdateVClockOptsType], [])

    @_deferred
    async def DevModeGetTime(self, ctx) -> int:
        """The daemon's virtual time, Unix ns (``--dev`` only, Admin)."""
        from v23py.vdl.vtime import time_to_unix_ns
        t = await _call(ctx, self._name, "DevModeGetTime", [], [], [_wire.TimeType])
        return time_to_unix_ns(t)

    @_deferred
    async def ListDatabases(self, ctx):
        """Database ids, sorted by (blessing, name) (through the service's glob)."""
        from v23py.syncbase.util import decode_id
        children = await _glob_children(ctx, self._name)
        return sorted(decode_id(c) for c in children)


async def _glob_children(ctx, name):
    from v23py import rpc
    call = await rpc.start_call(ctx, name, "__Glob", ["*"], [vdl.StringType], [],
                                desc=None)
    out = []
    async for reply in call:
        if getattr(reply, "name", "") == "Entry" or getattr(reply, "index", 0) == 0:
            entry = reply.value
            n = getattr(entry, "Name", "")
            out.append(n.rsplit("/", 1)[-1])
    await call.finish()
    return out


def NewService(name: str) -> Service:
    return Service(name)


class Database:
    def __init__(self, service: Service, db_id: Id, schema=None, bh: str = ""):
        self._s = service
        self._id = db_id
        self._schema = schema
        self._resolver = None
        self._bh = bh
        self._name = service.FullName() + "/" + encode_id(db_id)

    def Id(self) -> Id:
        return self._id

    def FullName(self) -> str:
        return self._name

    def Collection(self, ctx, name: str) -> "Collection":
        _, user = _patterns(ctx)
        return Collection(self, Id(user, name))

    def CollectionForId(self, cx_id) -> "Collection":
        return Collection(self, Id(*cx_id))

    @_deferred
    async def Create(self, ctx, perms=None):
        if perms is None:
            _, user = _patterns(ctx)
            if user == NO_EXTENSION:
                raise _wire.InferDefaultPermsFailed.new(
                    f"failed to infer default perms for user for database '{self._id}'",
                    "Database", str(self._id))
            perms = perms_for(user, ALL_DATABASE_TAGS)
        md = metadata_wire(self._schema.Metadata) if self._schema is not None else None
        await _call(ctx, self._name, "Create", [md, _perms_wire(perms)],
                    [vdl.optional(_wire.SchemaMetadataType), _wire.PermissionsType], [])

    @_deferred
    async def GetSchemaMetadata(self, ctx) -> SchemaMetadata:
        md = await _call(ctx, self._name, "GetSchemaMetadata", [], [],
                         [_wire.SchemaMetadataType])
        return metadata_from_wire(md)

    @_deferred
    async def SetSchemaMetadata(self, ctx, metadata: SchemaMetadata):
        await _call(ctx, self._name, "SetSchemaMetadata", [metadata_wire(metadata)],
                    [_wire.SchemaMetadataType], [])

    @_deferred
    async def EnforceSchema(self, ctx):
        """Go's EnforceSchema: store our schema metadata unless the database has the same
        or a newer version (the upgrade path), then, with a resolver, keep a conflict
        resolution stream open until Close()."""
        schema = self._schema
        if schema is None:
            raise verror.BadState.new("EnforceSchema cannot be used since a nil *Schema was "
                                      "provided at Database handle creation time.")
        if schema.Metadata.Version < 0:
            raise verror.BadState.new("Schema version cannot be less than zero.")
        if needs_resolver(schema.Metadata) and schema.Resolver is None:
            raise verror.BadState.new("ResolverTypeAppResolves cannot be used in CrRule "
                                      "without providing a ConflictResolver in Schema.")
        await self._update_schema_metadata(ctx)
        if schema.Resolver is None:
            return
        if self._resolver is not None:
            self._resolver.close()
        self._resolver = ResolverLoop(ctx, self._name, schema.Resolver).start()

    async def _update_schema_metadata(self, ctx) -> bool:
        md = self._schema.Metadata
        try:
            cur = await self.GetSchemaMetadata(ctx)
        except verror.VError as e:
            if e.id != verror.NoExist.id:
                raise
            try:                      # none yet: ours (the database may not exist yet)
                await self.SetSchemaMetadata(ctx, md)
            except verror.VError as e2:
                if e2.id != verror.NoExist.id:
                    raise
            return False
        if cur.Version >= md.Version:
            return False
        await self.SetSchemaMetadata(ctx, md)
        return True

    def Close(self):
        """Stop resolving conflicts for this handle."""
        if self._resolver is not None:
            self._resolver.close()
            self._resolver = None

    @_deferred
    async def Destroy(self, ctx):
        await _call(ctx, self._name, "Destroy", [], [], [])

    @_deferred
    async def Exists(self, ctx):
        return await _call(ctx, self._name, "Exists", [], [], [vdl.BoolType])

    @_deferred
    async def ListCollections(self, ctx):
        ids = await _call(ctx, self._name, "ListCollections", [_bh(self._bh)],
                          [_wire.BatchHandleType], [vdl.list_of(_wire.IdType)])
        return [Id(i.Blessing, i.Name) for i in ids]

    @_deferred
    async def BeginBatch(self, ctx, opts: BatchOptions = BatchOptions()) -> "BatchDatabase":
        bo = _wire.new(_wire.BatchOptionsType, Hint=opts.Hint, ReadOnly=opts.ReadOnly)
        bh = await _call(ctx, self._name, "BeginBatch", [bo], [_wire.BatchOptionsType],
                         [_wire.BatchHandleType])
        return BatchDatabase(self._s, self._id, self._schema, str(bh))

    @_deferred
    async def PauseSync(self, ctx):
        await _call(ctx, self._name, "PauseSync", [], [], [])

    @_deferred
    async def ResumeSync(self, ctx):
        await _call(ctx, self._name, "ResumeSync", [], [], [])

    @_deferred
    async def GetResumeMarker(self, ctx) -> bytes:
        rm = await _call(ctx, self._name, "GetResumeMarker", [_bh(self._bh)],
                         [_wire.BatchHandleType], [_wire.ResumeMarkerType])
        return bytes(rm)

    @_deferred
    async def GetPermissions(self, ctx):
        return await _call(ctx, self._name, "GetPermissions", [], [],
                           [_wire.PermissionsType, vdl.StringType])

    @_deferred
    async def SetPermissions(self, ctx, perms, version=""):
        await _call(ctx, self._name, "SetPermissions", [_perms_wire(perms), version],
                    [_wire.PermissionsType, vdl.StringType], [])

    def Syncgroup(self, ctx, name: str) -> "Syncgroup":
        _, user = _patterns(ctx)
        return Syncgroup(self, Id(user, name))

    def SyncgroupForId(self, sg_id) -> "Syncgroup":
        return Syncgroup(self, Id(*sg_id))

    @_deferred
    async def ListSyncgroups(self, ctx):
        ids = await _call(ctx, self._name, "ListSyncgroups", [], [],
                          [vdl.list_of(_wire.IdType)])
        return [Id(i.Blessing, i.Name) for i in ids]

    @_deferred
    async def Exec(self, ctx, query: str, *params):
        """Run a syncQL statement: ``(headers, ResultStream)`` (Go's DatabaseHandle.Exec).

        ``params`` fill the ``?`` placeholders of the where clause, in order.  For
        select, ``headers`` are the column names and each row of the stream is a
        list with one value per column; for delete, the headers are ``["Count"]``
        and the one row holds the number of rows deleted.  In a batch the
        statement sees the batch's snapshot or transaction."""
        from v23py import rpc
        call = await rpc.start_call(
            ctx, self._name, "Exec", [_bh(self._bh), query, list(params)],
            [_wire.BatchHandleType, vdl.StringType, vdl.list_of(vdl.AnyType)], [])
        rs = ResultStream(ctx, self._name, call)
        first = await rs._next()
        headers = []
        if first is not None:
            for h in first:
                if not isinstance(h, str):
                    rs.cancel()
                    raise _wire.BadExecStreamHeader.new(
                        f"Exec stream header improperly formatted: {query}", query)
                headers.append(h)
        return headers, rs

    @_deferred
    async def CreateBlob(self, ctx) -> "Blob":
        """A new, empty, uncommitted blob (Go's Database.CreateBlob)."""
        from v23py.syncbase.blob import Blob
        br = await _call(ctx, self._name, "CreateBlob", [], [], [_wire.BlobRefType])
        return Blob(self, str(br))

    def Blob(self, ref) -> "Blob":
        """A handle on the blob ``ref`` (no RPC)."""
        from v23py.syncbase.blob import Blob
        return Blob(self, str(ref))

    def Watch(self, ctx, resume_marker=b"", patterns=(CollectionRowPattern(),)) -> "WatchStream":
        pats = [_wire.new(_wire.CollectionRowPatternType, CollectionBlessing=p[0],
                          CollectionName=p[1], RowKey=p[2]) for p in patterns]
        return WatchStream(ctx, self._name, bytes(resume_marker), pats)


def SyncgroupSpec(Description="", PublishSyncbaseName="", Perms=None, Collections=(),
                  MountTables=(), IsPrivate=False):
    """A wire SyncgroupSpec (Perms may be a dict of tag -> AccessList/{"In": [...]})."""
    return _wire.new(_wire.SyncgroupSpecType, Description=Description,
                     PublishSyncbaseName=PublishSyncbaseName,
                     Perms=_perms_wire(Perms or {}),
                     Collections=[_id_wire(Id(*c)) for c in Collections],
                     MountTables=list(MountTables), IsPrivate=IsPrivate)


def SyncgroupMemberInfo(SyncPriority=0, BlobDevType=0):
    return _wire.new(_wire.SyncgroupMemberInfoType, SyncPriority=SyncPriority,
                     BlobDevType=BlobDevType)


class Syncgroup:
    """A syncgroup handle; its methods are Database RPCs carrying the syncgroup Id."""

    def __init__(self, db: Database, sg_id: Id):
        self._db = db
        self._id = sg_id

    def Id(self) -> Id:
        return self._id

    @_deferred
    async def Create(self, ctx, spec, my_info):
        await _call(ctx, self._db.FullName(), "CreateSyncgroup",
                    [_id_wire(self._id), spec, my_info],
                    [_wire.IdType, _wire.SyncgroupSpecType, _wire.SyncgroupMemberInfoType], [])

    @_deferred
    async def Join(self, ctx, remote_syncbase_name: str, expected_blessings, my_info):
        return await _call(ctx, self._db.FullName(), "JoinSyncgroup",
                           [remote_syncbase_name, list(expected_blessings or ()),
                            _id_wire(self._id), my_info],
                           [vdl.StringType, vdl.StringListType, _wire.IdType,
                            _wire.SyncgroupMemberInfoType], [_wire.SyncgroupSpecType])

    @_deferred
    async def Leave(self, ctx):
        await _call(ctx, self._db.FullName(), "LeaveSyncgroup", [_id_wire(self._id)],
                    [_wire.IdType], [])

    @_deferred
    async def Destroy(self, ctx):
        await _call(ctx, self._db.FullName(), "DestroySyncgroup", [_id_wire(self._id)],
                    [_wire.IdType], [])

    @_deferred
    async def Eject(self, ctx, member: str):
        await _call(ctx, self._db.FullName(), "EjectFromSyncgroup",
                    [_id_wire(self._id), member], [_wire.IdType, vdl.StringType], [])

    @_deferred
    async def GetSpec(self, ctx):
        return await _call(ctx, self._db.FullName(), "GetSyncgroupSpec", [_id_wire(self._id)],
                           [_wire.IdType], [_wire.SyncgroupSpecType, vdl.StringType])

    @_deferred
    async def SetSpec(self, ctx, spec, version=""):
        await _call(ctx, self._db.FullName(), "SetSyncgroupSpec",
                    [_id_wire(self._id), spec, version],
                    [_wire.IdType, _wire.SyncgroupSpecType, vdl.StringType], [])

    @_deferred
    async def GetMembers(self, ctx):
        return await _call(ctx, self._db.FullName(), "GetSyncgroupMembers",
                           [_id_wire(self._id)], [_wire.IdType],
                           [vdl.map_of(vdl.StringType, _wire.SyncgroupMemberInfoType)])


class BatchDatabase(Database):
    """A Database bound to a batch: every call carries the batch handle."""

    @_deferred
    async def Commit(self, ctx):
        await _call(ctx, self._name, "Commit", [_bh(self._bh)], [_wire.BatchHandleType], [])

    @_deferred
    async def Abort(self, ctx):
        await _call(ctx, self._name, "Abort", [_bh(self._bh)], [_wire.BatchHandleType], [])


async def _run_in_batch(ctx, db, opts, fn):
    err = None
    for _ in range(MAX_BATCH_ATTEMPTS):
        batch = await db.BeginBatch(ctx, opts)
        try:
            r = fn(batch)
            if isinstance(r, defer.Deferred) or hasattr(r, "__await__"):
                await r
        except BaseException:
            try:
                await batch.Abort(ctx)
            except verror.VError:
                pass
            raise
        if opts.ReadOnly:
            await batch.Abort(ctx)
            return
        try:
            await batch.Commit(ctx)
            return
        except verror.VError as e:
            if e.id != _wire.ConcurrentBatch.id:
                raise
            err = e
    raise err


def RunInBatch(ctx, db: Database, opts: BatchOptions, fn):
    """Run ``fn(batch)`` (may be async) in a batch and commit; retry on ConcurrentBatch."""
    return defer.ensureDeferred(_run_in_batch(ctx, db, opts, fn))


class Collection:
    def __init__(self, db: Database, cx_id: Id):
        self._db = db
        self._id = cx_id
        self._name = db.FullName() + "/" + encode_id(cx_id)

    def Id(self) -> Id:
        return self._id

    def FullName(self) -> str:
        return self._name

    @property
    def _bh(self):
        return _bh(self._db._bh)

    def Row(self, key: str) -> "Row":
        return Row(self, key)

    @_deferred
    async def Create(self, ctx, perms=None):
        if perms is None:
            _, user = _patterns(ctx)
            if user == NO_EXTENSION:
                raise _wire.InferDefaultPermsFailed.new(
                    f"failed to infer default perms for user for collection '{self._id}'",
                    "Collection", str(self._id))
            perms = perms_for(user, ALL_COLLECTION_TAGS)
        await _call(ctx, self._name, "Create", [self._bh, _perms_wire(perms)],
                    [_wire.BatchHandleType, _wire.PermissionsType], [])

    @_deferred
    async def Destroy(self, ctx):
        await _call(ctx, self._name, "Destroy", [self._bh], [_wire.BatchHandleType], [])

    @_deferred
    async def Exists(self, ctx):
        return await _call(ctx, self._name, "Exists", [self._bh], [_wire.BatchHandleType],
                           [vdl.BoolType])

    @_deferred
    async def GetPermissions(self, ctx):
        return await _call(ctx, self._name, "GetPermissions", [self._bh],
                           [_wire.BatchHandleType], [_wire.PermissionsType])

    @_deferred
    async def SetPermissions(self, ctx, perms):
        await _call(ctx, self._name, "SetPermissions", [self._bh, _perms_wire(perms)],
                    [_wire.BatchHandleType, _wire.PermissionsType], [])

    def Get(self, ctx, key):
        return self.Row(key).Get(ctx)

    def Put(self, ctx, key, value):
        return self.Row(key).Put(ctx, value)

    def Delete(self, ctx, key):
        return self.Row(key).Delete(ctx)

    @_deferred
    async def DeleteRange(self, ctx, r: RowRange):
        await _call(ctx, self._name, "DeleteRange", [self._bh, r.start, r.limit],
                    [_wire.BatchHandleType, vdl.ByteListType, vdl.ByteListType], [])

    def Scan(self, ctx, r: RowRange) -> "ScanStream":
        return ScanStream(ctx, self._name, self._db._bh, r)


class Row:
    def __init__(self, c: Collection, key: str):
        self._c = c
        self._key = key
        self._name = c.FullName() + "/" + encode(key)

    def Key(self) -> str:
        return self._key

    def FullName(self) -> str:
        return self._name

    @_deferred
    async def Exists(self, ctx):
        return await _call(ctx, self._name, "Exists", [self._c._bh], [_wire.BatchHandleType],
                           [vdl.BoolType])

    # Get and Put are the hot calls: one Deferred from the RPC client, no coroutine layers.
    def Get(self, ctx):
        from v23py import rpc
        return rpc.client_call(ctx, self._name, "Get", [self._c._bh], _GET_IN,
                               _GET_OUT).addCallback(_first)

    def Put(self, ctx, value):
        from v23py import rpc
        return rpc.client_call(ctx, self._name, "Put", [self._c._bh, value], _PUT_IN,
                               []).addCallback(_none)

    @_deferred
    async def Delete(self, ctx):
        await _call(ctx, self._name, "Delete", [self._c._bh], [_wire.BatchHandleType], [])


_GET_IN = [_wire.BatchHandleType]
_GET_OUT = [vdl.AnyType]
_PUT_IN = [_wire.BatchHandleType, vdl.AnyType]


def _first(results):
    return results[0]


def _none(_):
    return None


class _Stream:
    """Common async-iterator plumbing over a streaming RPC."""

    def __init__(self, ctx, name):
        self._ctx = ctx
        self._name = name
        self._call = None
        self._done = False

    async def _start(self):
        raise NotImplementedError

    def __aiter__(self):
        return self

    async def __anext__(self):
        if self._done:
            raise StopAsyncIteration
        if self._call is None:
            self._call = await self._start()
        try:
            item = await self._call.recv()
        except verror.VError as e:
            if e.id != verror.EOF.id:
                self._done = True
                raise
            self._done = True
            await self._call.finish()      # surfaces the call's final error
            raise StopAsyncIteration
        return self._convert(item)

    def cancel(self):
        self._done = True
        if self._call is not None:
            self._call.cancel()

    def _convert(self, item):
        return item


class ResultStream(_Stream):
    """Rows of an Exec (Go's ResultStream): ``async for row in rs`` gives lists of values.

    Stop early with ``cancel()``; an error of the statement surfaces from the
    iteration."""

    def __init__(self, ctx, name, call):
        super().__init__(ctx, name)
        self._call = call

    async def _next(self):
        try:
            return await self.__anext__()
        except StopAsyncIteration:
            return None

    def _convert(self, row):
        return list(row) if row is not None else []


class ScanStream(_Stream):
    """Async iterator of (key, value) pairs, ascending by key."""

    def __init__(self, ctx, name, bh, r):
        super().__init__(ctx, name)
        self._args = [_bh(bh), r.start, r.limit]

    async def _start(self):
        from v23py import rpc
        return await rpc.start_call(self._ctx, self._name, "Scan", self._args,
                                    [_wire.BatchHandleType, vdl.ByteListType,
                                     vdl.ByteListType], [])

    def _convert(self, kv):
        return kv.Key, kv.Value


class WatchStream(_Stream):
    """Async iterator of WatchChange values (never ends until cancelled or failed).
    As Go's client library, it drops the change by which the daemon says a resumed
    watch skips the initial state."""

    def __init__(self, ctx, name, marker, patterns):
        super().__init__(ctx, name)
        self._args = [vdl.value(_wire.ResumeMarkerType, marker), patterns]

    async def _start(self):
        from v23py import rpc
        return await rpc.start_call(self._ctx, self._name, "WatchPatterns", self._args,
                                    [_wire.ResumeMarkerType,
                                     vdl.list_of(_wire.CollectionRowPatternType)], [])

    async def __anext__(self):
        while True:
            ch = await super().__anext__()
            if ch is not None:
                return ch

    def _convert(self, ch):
        from v23py.syncbase.util import decode_id
        if int(ch.State) == _wire.WATCH_INITIAL_STATE_SKIPPED:
            return None   # the daemon's note that a resumed watch skips the initial state
        sc = ch.Value
        value = getattr(sc, "Value", None)
        from_sync = bool(getattr(sc, "FromSync", False))
        state = int(ch.State)
        change_type = "delete" if state == _wire.WATCH_DOES_NOT_EXIST else "put"
        if ch.Name == "":
            entity, cx, row = "root", None, ""
        elif "/" in ch.Name:
            enc_cx, row = ch.Name.split("/", 1)
            entity, cx = "row", decode_id(enc_cx)
        else:
            entity, cx, row = "collection", decode_id(ch.Name), ""
        return WatchChange(entity, cx, row, change_type, value, bytes(ch.ResumeMarker or b""),
                           from_sync, bool(ch.Continued))
