"""Service, Database (and batches) and Syncgroup handles."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Awaitable, Callable, Iterable, Optional, Sequence, Union

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
    convention_help, go_alias, go_names,
    ALL_DATABASE_TAGS, BatchOptions, CollectionRowPattern, _bh, _call, _deferred,
    _glob_children, _id_wire, _patterns, _perms_wire, _run_in_batch, perms_for)
from v23py.syncbase._stream import ResultStream, WatchStream
from v23py.syncbase.blob import Blob
from v23py.syncbase.collection import Collection
from v23py.deferred import AwaitableDeferred, adopt

if TYPE_CHECKING:
    from v23py.context import Context
    from v23py.syncbase._common import PermsLike
    from v23py.syncbase.cr import Schema

IdLike = Union[Id, Sequence[str]]


# --- handles -------------------------------------------------------------------

@go_names
class _VersionedPermissions:
    """The permissions of the service or of a database: read with their version, and
    replaced only if that version is still current ("" replaces whatever is there)."""

    _name: str

    @_deferred
    async def get_permissions(self, ctx: Context) -> tuple[Any, str]:
        """(permissions, version)."""
        r: tuple[Any, str] = await _call(ctx, self._name, "GetPermissions", [], [],
                                         [accesswire.Permissions._vdl_type, vdl.StringType])
        return r

    @_deferred
    async def set_permissions(self, ctx: Context, perms: PermsLike, version: str = "") -> None:
        await _call(ctx, self._name, "SetPermissions", [_perms_wire(perms), version],
                    [accesswire.Permissions._vdl_type, vdl.StringType], [])


@go_names
class Service(_VersionedPermissions):
    """A handle on a Syncbase service (no RPC until a method needs one)."""

    def __init__(self, name: str) -> None:
        self._name = name

    def full_name(self) -> str:
        return self._name

    def database(self, ctx: Context, name: str, schema: Optional[Schema] = None) -> Database:
        """The database ``name`` of the caller's app (Id from the blessing conventions)."""
        app, _ = _patterns(ctx)
        return Database(self, Id(app, name), schema)

    def database_for_id(self, db_id: IdLike, schema: Optional[Schema] = None) -> Database:
        return Database(self, Id(*db_id), schema)

    @_deferred
    async def dev_mode_update_vclock(self, ctx: Context, ntp_host: str = "",
                                     now: Optional[int] = None,
                                     elapsed_time: Optional[int] = None,
                                     do_ntp_update: bool = False,
                                     do_local_update: bool = False) -> None:
        """Adjust the daemon's virtual clock (``--dev`` only, Admin): a new NTP host, a
        system clock reading ``now`` (Unix ns) with ``elapsed_time`` (ns) since boot, an
        NTP sync now, a local update now."""
        opts = sbwire.DevModeUpdateVClockOpts(
            NtpHost=ntp_host,
            Now=vtime.time_from_unix_ns(now) if now is not None else timewire.Time(),
            ElapsedTime=vtime.duration_from_ns(elapsed_time or 0),
            DoNtpUpdate=do_ntp_update, DoLocalUpdate=do_local_update)
        await _call(ctx, self._name, "DevModeUpdateVClock", [opts],
                    [sbwire.DevModeUpdateVClockOpts._vdl_type], [])

    def DevModeUpdateVClock(self, ctx: Context, NtpHost: str = "", Now: Optional[int] = None,
                            ElapsedTime: Optional[int] = None, DoNtpUpdate: bool = False,
                            DoLocalUpdate: bool = False) -> AwaitableDeferred[None]:
        """Go's name (and Go's option names) for :meth:`dev_mode_update_vclock`."""
        return self.dev_mode_update_vclock(ctx, NtpHost, Now, ElapsedTime, DoNtpUpdate,
                                           DoLocalUpdate)

    @_deferred
    async def dev_mode_get_time(self, ctx: Context) -> int:
        """The daemon's virtual time, Unix ns (``--dev`` only, Admin)."""
        t = await _call(ctx, self._name, "DevModeGetTime", [], [], [timewire.Time._vdl_type])
        return int(vtime.time_to_unix_ns(t))

    @_deferred
    async def list_databases(self, ctx: Context) -> list[Id]:
        """Database ids, sorted by (blessing, name) (through the service's glob)."""
        from v23py.syncbase.util import decode_id
        children = await _glob_children(ctx, self._name)
        return sorted(decode_id(c) for c in children)


def new_service(name: str) -> Service:
    """A handle on the Syncbase service ``name`` (no RPC)."""
    return Service(name)


NewService = go_alias(new_service, "NewService")   # Go's name (deprecated)


@go_names
class Database(_VersionedPermissions):
    """A handle on a database (no RPC until a method needs one)."""

    def __init__(self, service: Service, db_id: Id, schema: Optional[Schema] = None,
                 bh: str = "") -> None:
        self._s = service
        self._id = db_id
        self._schema = schema
        self._resolver: Optional[ResolverLoop] = None
        self._bh = bh
        self._name = service.full_name() + "/" + encode_id(db_id)

    def id(self) -> Id:
        return self._id

    def full_name(self) -> str:
        return self._name

    def collection(self, ctx: Context, name: str) -> Collection:
        """The collection ``name`` of the caller's user (Id from the blessing conventions)."""
        _, user = _patterns(ctx)
        return Collection(self, Id(user, name))

    def collection_for_id(self, cx_id: IdLike) -> Collection:
        return Collection(self, Id(*cx_id))

    @_deferred
    async def create(self, ctx: Context, perms: PermsLike = None, *,
                     exist_ok: bool = False) -> None:
        """Create the database; ``perms`` None: every database tag for the caller's user
        pattern.  ``exist_ok=True``: a database that exists already is no error."""
        if perms is None:
            _, user = _patterns(ctx)
            if user == NO_EXTENSION:
                raise sbwire.ErrInferDefaultPermsFailed.new(
                    f"failed to infer default perms for user for database '{self._id}': "
                    + convention_help(ctx), "Database", str(self._id))
            perms = perms_for(user, ALL_DATABASE_TAGS)
        md = metadata_wire(self._schema.metadata) if self._schema is not None else None
        try:
            await _call(ctx, self._name, "Create", [md, _perms_wire(perms)],
                        [vdl.optional(sbwire.SchemaMetadata._vdl_type),
                         accesswire.Permissions._vdl_type], [])
        except verror.VError as e:
            if not (exist_ok and e.id == verror.Exist.id):
                raise

    @_deferred
    async def get_schema_metadata(self, ctx: Context) -> SchemaMetadata:
        md = await _call(ctx, self._name, "GetSchemaMetadata", [], [],
                         [sbwire.SchemaMetadata._vdl_type])
        return metadata_from_wire(md)

    @_deferred
    async def set_schema_metadata(self, ctx: Context, metadata: SchemaMetadata) -> None:
        await _call(ctx, self._name, "SetSchemaMetadata", [metadata_wire(metadata)],
                    [sbwire.SchemaMetadata._vdl_type], [])

    @_deferred
    async def enforce_schema(self, ctx: Context) -> None:
        """Store our schema metadata unless the database has the same or a newer version
        (the upgrade path), then, with a resolver, keep a conflict resolution stream open
        until :meth:`close`."""
        schema = self._schema
        if schema is None:
            raise verror.BadState.new("EnforceSchema cannot be used since a nil *Schema was "
                                      "provided at Database handle creation time.")
        if schema.metadata.version < 0:
            raise verror.BadState.new("Schema version cannot be less than zero.")
        if needs_resolver(schema.metadata) and schema.resolver is None:
            raise verror.BadState.new("ResolverTypeAppResolves cannot be used in CrRule "
                                      "without providing a ConflictResolver in Schema.")
        await self._update_schema_metadata(ctx, schema)
        if schema.resolver is None:
            return
        if self._resolver is not None:
            self._resolver.close()
        self._resolver = ResolverLoop(ctx, self._name, schema.resolver).start()

    async def _update_schema_metadata(self, ctx: Context, schema: Schema) -> bool:
        md = schema.metadata
        try:
            cur = await self.get_schema_metadata(ctx)
        except verror.VError as e:
            if e.id != verror.NoExist.id:
                raise
            try:                      # none yet: ours (the database may not exist yet)
                await self.set_schema_metadata(ctx, md)
            except verror.VError as e2:
                if e2.id != verror.NoExist.id:
                    raise
            return False
        if cur.version >= md.version:
            return False
        await self.set_schema_metadata(ctx, md)
        return True

    def close(self) -> AwaitableDeferred[None]:
        """Stop resolving conflicts for this handle. Like Go's, it need not be waited
        for; the result fires once the resolver's stream is closed."""
        resolver, self._resolver = self._resolver, None
        return adopt(resolver.close() if resolver is not None else defer.succeed(None))

    @_deferred
    async def destroy(self, ctx: Context) -> None:
        await _call(ctx, self._name, "Destroy", [], [], [])

    @_deferred
    async def exists(self, ctx: Context) -> bool:
        return bool(await _call(ctx, self._name, "Exists", [], [], [vdl.BoolType]))

    @_deferred
    async def list_collections(self, ctx: Context) -> list[Id]:
        ids = await _call(ctx, self._name, "ListCollections", [_bh(self._bh)],
                          [sbwire.BatchHandle._vdl_type], [vdl.list_of(sbwire.Id._vdl_type)])
        return [Id(i.Blessing, i.Name) for i in ids]

    @_deferred
    async def begin_batch(self, ctx: Context,
                          opts: BatchOptions = BatchOptions()) -> BatchDatabase:
        bo = sbwire.BatchOptions(Hint=opts.Hint, ReadOnly=opts.ReadOnly)
        bh = await _call(ctx, self._name, "BeginBatch", [bo], [sbwire.BatchOptions._vdl_type],
                         [sbwire.BatchHandle._vdl_type])
        return BatchDatabase(self._s, self._id, self._schema, str(bh))

    @_deferred
    async def pause_sync(self, ctx: Context) -> None:
        await _call(ctx, self._name, "PauseSync", [], [], [])

    @_deferred
    async def resume_sync(self, ctx: Context) -> None:
        await _call(ctx, self._name, "ResumeSync", [], [], [])

    @_deferred
    async def get_resume_marker(self, ctx: Context) -> bytes:
        rm = await _call(ctx, self._name, "GetResumeMarker", [_bh(self._bh)],
                         [sbwire.BatchHandle._vdl_type], [watchwire.ResumeMarker._vdl_type])
        return bytes(rm)

    def syncgroup(self, ctx: Context, name: str) -> Syncgroup:
        """The syncgroup ``name`` of the caller's user (Id from the blessing conventions)."""
        _, user = _patterns(ctx)
        return Syncgroup(self, Id(user, name))

    def syncgroup_for_id(self, sg_id: IdLike) -> Syncgroup:
        return Syncgroup(self, Id(*sg_id))

    @_deferred
    async def list_syncgroups(self, ctx: Context) -> list[Id]:
        ids = await _call(ctx, self._name, "ListSyncgroups", [], [],
                          [vdl.list_of(sbwire.Id._vdl_type)])
        return [Id(i.Blessing, i.Name) for i in ids]

    @_deferred
    async def exec(self, ctx: Context, query: str,
                   *params: Any) -> tuple[list[str], ResultStream]:
        """Run a syncQL statement: ``(headers, ResultStream)`` (Go's DatabaseHandle.Exec).

        ``params`` fill the ``?`` placeholders of the where clause, in order.  For
        select, ``headers`` are the column names and each row of the stream is a
        list with one value per column; for delete, the headers are ``["Count"]``
        and the one row holds the number of rows deleted.  In a batch the
        statement sees the batch's snapshot or transaction."""
        from v23py import rpc
        call = await rpc.start_call(  # type: ignore[no-untyped-call]
            ctx, self._name, "Exec", [_bh(self._bh), query, list(params)],
            [sbwire.BatchHandle._vdl_type, vdl.StringType, vdl.list_of(vdl.AnyType)], [])
        rs = ResultStream(ctx, self._name, call)
        first = await rs._next()
        headers: list[str] = []
        if first is not None:
            for h in first:
                if not isinstance(h, str):
                    rs.cancel()
                    raise sbwire.ErrBadExecStreamHeader.new(
                        f"Exec stream header improperly formatted: {query}", query)
                headers.append(h)
        return headers, rs

    @_deferred
    async def create_blob(self, ctx: Context) -> Blob:
        """A new, empty, uncommitted blob (Go's Database.CreateBlob)."""
        br = await _call(ctx, self._name, "CreateBlob", [], [], [sbwire.BlobRef._vdl_type])
        return Blob(self, str(br))

    def blob(self, ref: Any) -> Blob:
        """A handle on the blob ``ref`` (no RPC)."""
        return Blob(self, str(ref))

    def watch(self, ctx: Context, resume_marker: bytes = b"",
              patterns: Iterable[Sequence[str]] = (CollectionRowPattern(),)) -> WatchStream:
        """The changes after ``resume_marker`` (b"": the current state first, then the
        changes) to the rows matching ``patterns`` (never ends until cancelled)."""
        pats = [sbwire.CollectionRowPattern(CollectionBlessing=p[0],
                          CollectionName=p[1], RowKey=p[2]) for p in patterns]
        return WatchStream(ctx, self._name, bytes(resume_marker), pats)


@go_names
class Syncgroup:
    """A syncgroup handle; its methods are Database RPCs carrying the syncgroup Id."""

    def __init__(self, db: Database, sg_id: Id) -> None:
        self._db = db
        self._id = sg_id

    def id(self) -> Id:
        return self._id

    @_deferred
    async def create(self, ctx: Context, spec: sbwire.SyncgroupSpec,
                     my_info: sbwire.SyncgroupMemberInfo, *, exist_ok: bool = False) -> None:
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
    async def join(self, ctx: Context, remote_syncbase_name: str,
                   expected_blessings: Optional[Iterable[str]],
                   my_info: sbwire.SyncgroupMemberInfo) -> sbwire.SyncgroupSpec:
        """Join through the admin ``remote_syncbase_name`` (or the syncgroup's mount
        tables, or the neighborhood, when it is ""); the syncgroup's spec."""
        spec: sbwire.SyncgroupSpec = await _call(ctx, self._db.full_name(), "JoinSyncgroup",
                           [remote_syncbase_name, list(expected_blessings or ()),
                            _id_wire(self._id), my_info],
                           [vdl.StringType, vdl.StringListType, sbwire.Id._vdl_type,
                            sbwire.SyncgroupMemberInfo._vdl_type], [sbwire.SyncgroupSpec._vdl_type])
        return spec

    @_deferred
    async def leave(self, ctx: Context) -> None:
        await _call(ctx, self._db.full_name(), "LeaveSyncgroup", [_id_wire(self._id)],
                    [sbwire.Id._vdl_type], [])

    @_deferred
    async def destroy(self, ctx: Context) -> None:
        await _call(ctx, self._db.full_name(), "DestroySyncgroup", [_id_wire(self._id)],
                    [sbwire.Id._vdl_type], [])

    @_deferred
    async def eject(self, ctx: Context, member: str) -> None:
        await _call(ctx, self._db.full_name(), "EjectFromSyncgroup",
                    [_id_wire(self._id), member], [sbwire.Id._vdl_type, vdl.StringType], [])

    @_deferred
    async def get_spec(self, ctx: Context) -> tuple[sbwire.SyncgroupSpec, str]:
        """(spec, version)."""
        r: tuple[sbwire.SyncgroupSpec, str] = await _call(ctx, self._db.full_name(), "GetSyncgroupSpec", [_id_wire(self._id)],
                           [sbwire.Id._vdl_type], [sbwire.SyncgroupSpec._vdl_type, vdl.StringType])
        return r

    @_deferred
    async def set_spec(self, ctx: Context, spec: sbwire.SyncgroupSpec, version: str = "") -> None:
        await _call(ctx, self._db.full_name(), "SetSyncgroupSpec",
                    [_id_wire(self._id), spec, version],
                    [sbwire.Id._vdl_type, sbwire.SyncgroupSpec._vdl_type, vdl.StringType], [])

    @_deferred
    async def get_members(self, ctx: Context) -> dict[str, sbwire.SyncgroupMemberInfo]:
        r: dict[str, sbwire.SyncgroupMemberInfo] = await _call(ctx, self._db.full_name(), "GetSyncgroupMembers",
                           [_id_wire(self._id)], [sbwire.Id._vdl_type],
                           [vdl.map_of(vdl.StringType, sbwire.SyncgroupMemberInfo._vdl_type)])
        return r


@go_names
class BatchDatabase(Database):
    """A Database bound to a batch: every call carries the batch handle."""

    @_deferred
    async def commit(self, ctx: Context) -> None:
        await _call(ctx, self._name, "Commit", [_bh(self._bh)], [sbwire.BatchHandle._vdl_type], [])

    @_deferred
    async def abort(self, ctx: Context) -> None:
        await _call(ctx, self._name, "Abort", [_bh(self._bh)], [sbwire.BatchHandle._vdl_type], [])


def run_in_batch(ctx: Context, db: Database, opts: BatchOptions,
                 fn: Callable[[BatchDatabase], Any]) -> AwaitableDeferred[None]:
    """Run ``fn(batch)`` (may be async) in a batch and commit; retry on ConcurrentBatch."""
    return adopt(defer.ensureDeferred(_run_in_batch(ctx, db, opts, fn)))


RunInBatch = go_alias(run_in_batch, "RunInBatch")   # Go's name (deprecated)
