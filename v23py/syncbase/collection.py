"""Collection and Row handles."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Mapping, Union

if TYPE_CHECKING:
    from v23py.context import Context
    from v23py.deferred import AwaitableDeferred
    from v23py.syncbase.database import Database
    from v23py.syncbase._common import PermsLike

from twisted.internet import defer

from v23py import vdl, verror
from v23py.syncbase import ext
from v23py.v23.security import access as accesswire
from v23py.v23.services import syncbase as sbwire
from v23py.syncbase.util import Id, encode, encode_id, NO_EXTENSION
from v23py.deferred import adopt
from v23py.syncbase._common import (
    convention_help, go_names,
    ALL_COLLECTION_TAGS, RowRange, _bh, _call, _deferred, _patterns, _perms_wire, perms_for)
from v23py.syncbase._stream import ScanStream


@go_names
class Collection:
    """A handle on a collection (no RPC until a method needs one)."""

    def __init__(self, db: Database, cx_id: Id) -> None:
        self._db = db
        self._id = cx_id
        self._name = db.full_name() + "/" + encode_id(cx_id)

    def id(self) -> Id:
        return self._id

    def full_name(self) -> str:
        return self._name

    @property
    def _bh(self) -> Any:
        return _bh(self._db._bh)

    def row(self, key: str) -> Row:
        return Row(self, key)

    @_deferred
    async def create(self, ctx: Context, perms: PermsLike = None, *,
                     exist_ok: bool = False) -> None:
        """Create the collection; ``perms`` None: every collection tag for the caller's
        user pattern.  ``exist_ok=True``: a collection that exists already is no error."""
        if perms is None:
            _, user = _patterns(ctx)
            if user == NO_EXTENSION:
                raise sbwire.ErrInferDefaultPermsFailed.new(
                    f"failed to infer default perms for user for collection '{self._id}': "
                    + convention_help(ctx), "Collection", str(self._id))
            perms = perms_for(user, ALL_COLLECTION_TAGS)
        try:
            await _call(ctx, self._name, "Create", [self._bh, _perms_wire(perms)],
                        [sbwire.BatchHandle._vdl_type, accesswire.Permissions._vdl_type], [])
        except verror.VError as e:
            if not (exist_ok and e.id == verror.Exist.id):
                raise

    @_deferred
    async def destroy(self, ctx: Context) -> None:
        await _call(ctx, self._name, "Destroy", [self._bh], [sbwire.BatchHandle._vdl_type], [])

    @_deferred
    async def exists(self, ctx: Context) -> bool:
        return bool(await _call(ctx, self._name, "Exists", [self._bh],
                                [sbwire.BatchHandle._vdl_type], [vdl.BoolType]))

    @_deferred
    async def get_permissions(self, ctx: Context) -> Any:
        return await _call(ctx, self._name, "GetPermissions", [self._bh],
                           [sbwire.BatchHandle._vdl_type], [accesswire.Permissions._vdl_type])

    @_deferred
    async def set_permissions(self, ctx: Context, perms: PermsLike) -> None:
        await _call(ctx, self._name, "SetPermissions", [self._bh, _perms_wire(perms)],
                    [sbwire.BatchHandle._vdl_type, accesswire.Permissions._vdl_type], [])

    def get(self, ctx: Context, key: str) -> AwaitableDeferred[Any]:
        """The value at ``key`` (a NoExist VError when there is none)."""
        return self.row(key).get(ctx)

    def put(self, ctx: Context, key: str, value: Any) -> AwaitableDeferred[None]:
        """Store ``value`` (any VDL value) at ``key``."""
        return self.row(key).put(ctx, value)

    def delete(self, ctx: Context, key: str) -> AwaitableDeferred[None]:
        return self.row(key).delete(ctx)

    @_deferred
    async def delete_range(self, ctx: Context, r: RowRange) -> None:
        await _call(ctx, self._name, "DeleteRange", [self._bh, r.start, r.limit],
                    [sbwire.BatchHandle._vdl_type, vdl.ByteListType, vdl.ByteListType], [])

    def scan(self, ctx: Context, r: RowRange) -> ScanStream:
        """(key, value) pairs in ``r``, ascending by key: ``async for key, value in ...``."""
        return ScanStream(ctx, self._name, self._db._bh, r)

    @_deferred
    async def put_rows(self, ctx: Context,
                       rows: Union[Mapping[str, Any], Iterable[tuple[str, Any]]]) -> None:
        """Put every ``(key, value)`` of ``rows`` (pairs or a dict) as one write: in this
        handle's batch if it has one, else committed together (atomically).

        Not in Go's client: a v23py daemon takes the rows in one call (its ``%%rows``
        extension, ``v23py.syncbase.ext``); against a daemon without it (Go's) this is
        a batch of ordinary Puts -- BeginBatch, the Puts pipelined, Commit -- which is
        what a Go client would send."""
        items = list(rows.items() if isinstance(rows, Mapping) else rows)
        svc = self._db._s.full_name()
        if _NO_ROWS_EXT.get(svc) is None:
            from v23py import rpc
            kv = [_KV(Key=k, Value=v) for k, v in items]
            try:
                await rpc.client_call(  # type: ignore[no-untyped-call]
                    ctx, self._name + "/" + ext.RowsSuffix, "PutRows", [self._bh, kv],
                    _PUT_ROWS_IN, [])
                return
            except verror.VError as e:
                if not _not_served(e):
                    raise
                _NO_ROWS_EXT[svc] = True
        await self._put_rows_by_puts(ctx, items)

    async def _put_rows_by_puts(self, ctx: Context, items: list[tuple[str, Any]]) -> None:
        if self._db._bh:
            await _pipelined_puts(ctx, self, items)
            return
        b = await self._db.begin_batch(ctx)
        try:
            await _pipelined_puts(ctx, b.collection_for_id(self._id), items)
        except BaseException:
            await b.abort(ctx).addErrback(lambda _: None)
            raise
        await b.commit(ctx)


@go_names
class Row:
    """A handle on a row (no RPC until a method needs one)."""

    def __init__(self, c: Collection, key: str) -> None:
        self._c = c
        self._key = key
        self._name = c.full_name() + "/" + encode(key)

    def key(self) -> str:
        return self._key

    def full_name(self) -> str:
        return self._name

    @_deferred
    async def exists(self, ctx: Context) -> bool:
        return bool(await _call(ctx, self._name, "Exists", [self._c._bh],
                                [sbwire.BatchHandle._vdl_type], [vdl.BoolType]))

    # Get and Put are the hot calls: one Deferred from the RPC client, no coroutine layers.
    def get(self, ctx: Context) -> AwaitableDeferred[Any]:
        from v23py import rpc
        d: AwaitableDeferred[Any] = adopt(rpc.client_call(  # type: ignore[no-untyped-call]
            ctx, self._name, "Get", [self._c._bh], _GET_IN, _GET_OUT))
        d.addCallback(_first)
        return d

    def put(self, ctx: Context, value: Any) -> AwaitableDeferred[None]:
        from v23py import rpc
        d: AwaitableDeferred[Any] = adopt(rpc.client_call(  # type: ignore[no-untyped-call]
            ctx, self._name, "Put", [self._c._bh, value], _PUT_IN, []))
        d.addCallback(_none)
        return d

    @_deferred
    async def delete(self, ctx: Context) -> None:
        await _call(ctx, self._name, "Delete", [self._c._bh], [sbwire.BatchHandle._vdl_type], [])


_GET_IN = [sbwire.BatchHandle._vdl_type]
_GET_OUT = [vdl.AnyType]
_PUT_IN = [sbwire.BatchHandle._vdl_type, vdl.AnyType]


_KV: Any = vdl.class_for(sbwire.KeyValue._vdl_type)
_PUT_ROWS_IN = [sbwire.BatchHandle._vdl_type, vdl.list_of(sbwire.KeyValue._vdl_type)]


def _not_served(e: verror.VError) -> bool:
    """Whether ``e`` says the daemon has no %%rows object: Go's answers InvalidName for
    the name (an escaped row key never holds "%%"; ours names a bad key escaped)."""
    if e.id in (verror.UnknownSuffix.id, verror.UnknownMethod.id):
        return True
    return e.id == sbwire.ErrInvalidName.id and ext.RowsSuffix in str(e)


_NO_ROWS_EXT: dict[str, bool] = {}   # service name -> True: its daemon has no %%rows object
PIPELINE = 100           # Puts in flight when falling back (Go's daemon drops a flood)


async def _pipelined_puts(ctx: Context, cx: Collection, items: list[tuple[str, Any]]) -> None:
    sem = defer.DeferredSemaphore(PIPELINE)
    try:
        await defer.gatherResults([sem.run(cx.put, ctx, k, v) for k, v in items],
                                  consumeErrors=True)
    except defer.FirstError as e:
        e.subFailure.raiseException()


def _first(results: list[Any]) -> Any:
    return results[0]


def _none(_: Any) -> None:
    return None
