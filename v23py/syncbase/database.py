"""Service, Database (and batches) and Syncgroup handles."""
from __future__ import annotations


from twisted.internet import defer

from v23py import vdl, verror
from v23py.syncbase.cr import (
    ResolverLoop, SchemaMetadata, metadata_from_wire, metadata_wire, needs_resolver)
from v23py.v23.security import access as accesswire
from v23py.v23.services import syncbase as sbwire
from v23py.v23.services import watch as watchwire
from v23py.v23.vdlroot import time as timewire
from v23py.v23.vdlroot.time import native as vtime
from v23py.syncbase.util import Id, encode_id, NO_EXTENSION
from v23py.syncbase._common import (
    convention_help, go_names,
    ALL_DATABASE_TAGS, BatchOptions, CollectionRowPattern, _bh, _call, _deferred,
    _glob_children, _id_wire, _patterns, _perms_wire, _run_in_batch, perms_for)
from v23py.syncbase._stream import ResultStream, WatchStream
from v23py.syncbase.blob import Blob
from v23py.syncbase.collection import Collection


# --- handles -------------------------------------------------------------------

@go_names
class Service:
    def __init__(self, name: str):
        self._name = name

    def full_name(self) -> str:
        return self._name

    def database(self, ctx, name: str, schema=None) -> "Database":
        app, _ = _patterns(ctx)
        return Database(self, Id(app, name), schema)

    def database_for_id(self, db_id, schema=None) -> "Database":
        return Database(self, Id(*db_id), schema)

    @_deferred
    async def get_permissions(self, ctx):
        return await _call(ctx, self._name, "GetPermissions", [], [],
                           [accesswire.Permissions._vdl_type, vdl.StringType])

    @_deferred
    async def set_permissions(self, ctx, perms, version=""):
        await _call(ctx, self._name, "SetPermissions", [_perms_wire(perms), version],
                    [accesswire.Permissions._vdl_type, vdl.StringType], [])

    @_deferred
    async def DevModeUpdateVClock(self, ctx, NtpHost="", Now=None, ElapsedTime=None,
                                  DoNtpUpdate=False, DoLocalUpdate=False):
        """Adjust the daemon's virtual clock (``--dev`` only, Admin): a new NTP host, a
        system clock reading ``Now`` (Unix ns) with ``ElapsedTime`` (ns) since boot, an
        NTP sync now, a local update now."""
        opts = sbwire.DevModeUpdateVClockOpts(
            NtpHost=NtpHost,
            Now=vtime.time_from_unix_ns(Now) if Now is not None else timewire.Time(),
            ElapsedTime=vtime.duration_from_ns(ElapsedTime or 0),
            DoNtpUpdate=DoNtpUpdate, DoLocalUpdate=DoLocalUpdate)
        await _call(ctx, self._name, "DevModeUpdateVClock", [opts],
                    [sbwire.DevModeUpdateVClockOpts._vdl_type], [])

    @_deferred
    async def DevModeGetTime(self, ctx) -> int:
        """The daemon's virtual time, Unix ns (``--dev`` only, Admin)."""
        t = await _call(ctx, self._name, "DevModeGetTime", [], [], [timewire.Time._vdl_type])
        return vtime.time_to_unix_ns(t)

    @_deferred
    async def list_databases(self, ctx):
        """Database ids, sorted by (blessing, name) (through the service's glob)."""
        from v23py.syncbase.util import decode_id
        children = await _glob_children(ctx, self._name)
        return sorted(decode_id(c) for c in children)


def new_service(name: str) -> Service:
    """A handle on the Syncbase service ``name`` (no RPC)."""
    return Service(name)


NewService = new_service   # Go's name


@go_names
class Database:
    def __init__(self, service: Service, db_id: Id, schema=None, bh: str = ""):
        self._s = service
        self._id = db_id
        self._schema = schema
        self._resolver = None
        self._bh = bh
        self._name = service.full_name() + "/" + encode_id(db_id)

    def id(self) -> Id:
        return self._id

    def full_name(self) -> str:
        return self._name

    def collection(self, ctx, name: str) -> "Collection":
        _, user = _patterns(ctx)
        return Collection(self, Id(user, name))

    def collection_for_id(self, cx_id) -> "Collection":
        return Collection(self, Id(*cx_id))

    @_deferred
    async def create(self, ctx, perms=None, *, exist_ok=False):
        """Create the database; ``perms`` None: every database tag for the caller's user
        pattern.  ``exist_ok=True``: a database that exists already is no error."""
        if perms is None:
            _, user = _patterns(ctx)
            if user == NO_EXTENSION:
                raise sbwire.ErrInferDefaultPermsFailed.new(
                    f"failed to infer default perms for user for database '{self._id}': "
                    + convention_help(ctx), "Database", str(self._id))
            perms = perms_for(user, ALL_DATABASE_TAGS)
        md = metadata_wire(self._schema.Metadata) if self._schema is not None else None
        try:
            await _call(ctx, self._name, "Create", [md, _perms_wire(perms)],
                        [vdl.optional(sbwire.SchemaMetadata._vdl_type),
                         accesswire.Permissions._vdl_type], [])
        except verror.VError as e:
            if not (exist_ok and e.id == verror.Exist.id):
                raise

    @_deferred
    async def GetSchemaMetadata(self, ctx) -> SchemaMetadata:
        md = await _call(ctx, self._name, "GetSchemaMetadata", [], [],
                         [sbwire.SchemaMetadata._vdl_type])
        return metadata_from_wire(md)

    @_deferred
    async def SetSchemaMetadata(self, ctx, metadata: SchemaMetadata):
        await _call(ctx, self._name, "SetSchemaMetadata", [metadata_wire(metadata)],
                    [sbwire.SchemaMetadata._vdl_type], [])

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
    async def destroy(self, ctx):
        await _call(ctx, self._name, "Destroy", [], [], [])

    @_deferred
    async def exists(self, ctx):
        return await _call(ctx, self._name, "Exists", [], [], [vdl.BoolType])

    @_deferred
    async def list_collections(self, ctx):
        ids = await _call(ctx, self._name, "ListCollections", [_bh(self._bh)],
                          [sbwire.BatchHandle._vdl_type], [vdl.list_of(sbwire.Id._vdl_type)])
        return [Id(i.Blessing, i.Name) for i in ids]

    @_deferred
    async def begin_batch(self, ctx, opts: BatchOptions = BatchOptions()) -> "BatchDatabase":
        bo = sbwire.BatchOptions(Hint=opts.Hint, ReadOnly=opts.ReadOnly)
        bh = await _call(ctx, self._name, "BeginBatch", [bo], [sbwire.BatchOptions._vdl_type],
                         [sbwire.BatchHandle._vdl_type])
        return BatchDatabase(self._s, self._id, self._schema, str(bh))

    @_deferred
    async def pause_sync(self, ctx):
        await _call(ctx, self._name, "PauseSync", [], [], [])

    @_deferred
    async def resume_sync(self, ctx):
        await _call(ctx, self._name, "ResumeSync", [], [], [])

    @_deferred
    async def get_resume_marker(self, ctx) -> bytes:
        rm = await _call(ctx, self._name, "GetResumeMarker", [_bh(self._bh)],
                         [sbwire.BatchHandle._vdl_type], [watchwire.ResumeMarker._vdl_type])
        return bytes(rm)

    @_deferred
    async def get_permissions(self, ctx):
        return await _call(ctx, self._name, "GetPermissions", [], [],
                           [accesswire.Permissions._vdl_type, vdl.StringType])

    @_deferred
    async def set_permissions(self, ctx, perms, version=""):
        await _call(ctx, self._name, "SetPermissions", [_perms_wire(perms), version],
                    [accesswire.Permissions._vdl_type, vdl.StringType], [])

    def syncgroup(self, ctx, name: str) -> "Syncgroup":
        _, user = _patterns(ctx)
        return Syncgroup(self, Id(user, name))

    def syncgroup_for_id(self, sg_id) -> "Syncgroup":
        return Syncgroup(self, Id(*sg_id))

    @_deferred
    async def list_syncgroups(self, ctx):
        ids = await _call(ctx, self._name, "ListSyncgroups", [], [],
                          [vdl.list_of(sbwire.Id._vdl_type)])
        return [Id(i.Blessing, i.Name) for i in ids]

    @_deferred
    async def exec(self, ctx, query: str, *params):
        """Run a syncQL statement: ``(headers, ResultStream)`` (Go's DatabaseHandle.Exec).

        ``params`` fill the ``?`` placeholders of the where clause, in order.  For
        select, ``headers`` are the column names and each row of the stream is a
        list with one value per column; for delete, the headers are ``["Count"]``
        and the one row holds the number of rows deleted.  In a batch the
        statement sees the batch's snapshot or transaction."""
        from v23py import rpc
        call = await rpc.start_call(
            ctx, self._name, "Exec", [_bh(self._bh), query, list(params)],
            [sbwire.BatchHandle._vdl_type, vdl.StringType, vdl.list_of(vdl.AnyType)], [])
        rs = ResultStream(ctx, self._name, call)
        first = await rs._next()
        headers = []
        if first is not None:
            for h in first:
                if not isinstance(h, str):
                    rs.cancel()
                    raise sbwire.ErrBadExecStreamHeader.new(
                        f"Exec stream header improperly formatted: {query}", query)
                headers.append(h)
        return headers, rs

    @_deferred
    async def create_blob(self, ctx) -> "Blob":
        """A new, empty, uncommitted blob (Go's Database.CreateBlob)."""
        br = await _call(ctx, self._name, "CreateBlob", [], [], [sbwire.BlobRef._vdl_type])
        return Blob(self, str(br))

    def blob(self, ref) -> "Blob":
        """A handle on the blob ``ref`` (no RPC)."""
        return Blob(self, str(ref))

    def watch(self, ctx, resume_marker=b"", patterns=(CollectionRowPattern(),)) -> "WatchStream":
        pats = [sbwire.CollectionRowPattern(CollectionBlessing=p[0],
                          CollectionName=p[1], RowKey=p[2]) for p in patterns]
        return WatchStream(ctx, self._name, bytes(resume_marker), pats)


@go_names
class Syncgroup:
    """A syncgroup handle; its methods are Database RPCs carrying the syncgroup Id."""

    def __init__(self, db: Database, sg_id: Id):
        self._db = db
        self._id = sg_id

    def id(self) -> Id:
        return self._id

    @_deferred
    async def create(self, ctx, spec, my_info, *, exist_ok=False):
        """Create the syncgroup; ``exist_ok=True``: one that exists already is no error."""
        try:
            await _call(ctx, self._db.full_name(), "CreateSyncgroup",
                        [_id_wire(self._id), spec, my_info],
                        [sbwire.Id._vdl_type, sbwire.SyncgroupSpec._vdl_type,
                         sbwire.SyncgroupMemberInfo._vdl_type], [])
        except verror.VError as e:
            if not (exist_ok and e.id == verror.Exist.id):
                raise

    @_deferred
    async def join(self, ctx, remote_syncbase_name: str, expected_blessings, my_info):
        return await _call(ctx, self._db.full_name(), "JoinSyncgroup",
                           [remote_syncbase_name, list(expected_blessings or ()),
                            _id_wire(self._id), my_info],
                           [vdl.StringType, vdl.StringListType, sbwire.Id._vdl_type,
                            sbwire.SyncgroupMemberInfo._vdl_type], [sbwire.SyncgroupSpec._vdl_type])

    @_deferred
    async def leave(self, ctx):
        await _call(ctx, self._db.full_name(), "LeaveSyncgroup", [_id_wire(self._id)],
                    [sbwire.Id._vdl_type], [])

    @_deferred
    async def destroy(self, ctx):
        await _call(ctx, self._db.full_name(), "DestroySyncgroup", [_id_wire(self._id)],
                    [sbwire.Id._vdl_type], [])

    @_deferred
    async def eject(self, ctx, member: str):
        await _call(ctx, self._db.full_name(), "EjectFromSyncgroup",
                    [_id_wire(self._id), member], [sbwire.Id._vdl_type, vdl.StringType], [])

    @_deferred
    async def get_spec(self, ctx):
        return await _call(ctx, self._db.full_name(), "GetSyncgroupSpec", [_id_wire(self._id)],
                           [sbwire.Id._vdl_type], [sbwire.SyncgroupSpec._vdl_type, vdl.StringType])

    @_deferred
    async def set_spec(self, ctx, spec, version=""):
        await _call(ctx, self._db.full_name(), "SetSyncgroupSpec",
                    [_id_wire(self._id), spec, version],
                    [sbwire.Id._vdl_type, sbwire.SyncgroupSpec._vdl_type, vdl.StringType], [])

    @_deferred
    async def get_members(self, ctx):
        return await _call(ctx, self._db.full_name(), "GetSyncgroupMembers",
                           [_id_wire(self._id)], [sbwire.Id._vdl_type],
                           [vdl.map_of(vdl.StringType, sbwire.SyncgroupMemberInfo._vdl_type)])


@go_names
class BatchDatabase(Database):
    """A Database bound to a batch: every call carries the batch handle."""

    @_deferred
    async def commit(self, ctx):
        await _call(ctx, self._name, "Commit", [_bh(self._bh)], [sbwire.BatchHandle._vdl_type], [])

    @_deferred
    async def abort(self, ctx):
        await _call(ctx, self._name, "Abort", [_bh(self._bh)], [sbwire.BatchHandle._vdl_type], [])


def run_in_batch(ctx, db: Database, opts: BatchOptions, fn):
    """Run ``fn(batch)`` (may be async) in a batch and commit; retry on ConcurrentBatch."""
    return defer.ensureDeferred(_run_in_batch(ctx, db, opts, fn))


RunInBatch = run_in_batch   # Go's name
