"""Collection and Row handles."""
from __future__ import annotations



from v23py import vdl
from v23py.v23.security import access as accesswire
from v23py.v23.services import syncbase as sbwire
from v23py.syncbase.util import encode, encode_id, NO_EXTENSION
from v23py.syncbase._common import (
    ALL_COLLECTION_TAGS, RowRange, _bh, _call, _deferred, _patterns, _perms_wire, perms_for)
from v23py.syncbase._stream import ScanStream


class Collection:
    def __init__(self, db, cx_id: Id):
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
                raise sbwire.ErrInferDefaultPermsFailed.new(
                    f"failed to infer default perms for user for collection '{self._id}'",
                    "Collection", str(self._id))
            perms = perms_for(user, ALL_COLLECTION_TAGS)
        await _call(ctx, self._name, "Create", [self._bh, _perms_wire(perms)],
                    [sbwire.BatchHandle._vdl_type, accesswire.Permissions._vdl_type], [])

    @_deferred
    async def Destroy(self, ctx):
        await _call(ctx, self._name, "Destroy", [self._bh], [sbwire.BatchHandle._vdl_type], [])

    @_deferred
    async def Exists(self, ctx):
        return await _call(ctx, self._name, "Exists", [self._bh], [sbwire.BatchHandle._vdl_type],
                           [vdl.BoolType])

    @_deferred
    async def GetPermissions(self, ctx):
        return await _call(ctx, self._name, "GetPermissions", [self._bh],
                           [sbwire.BatchHandle._vdl_type], [accesswire.Permissions._vdl_type])

    @_deferred
    async def SetPermissions(self, ctx, perms):
        await _call(ctx, self._name, "SetPermissions", [self._bh, _perms_wire(perms)],
                    [sbwire.BatchHandle._vdl_type, accesswire.Permissions._vdl_type], [])

    def Get(self, ctx, key):
        return self.Row(key).Get(ctx)

    def Put(self, ctx, key, value):
        return self.Row(key).Put(ctx, value)

    def Delete(self, ctx, key):
        return self.Row(key).Delete(ctx)

    @_deferred
    async def DeleteRange(self, ctx, r: RowRange):
        await _call(ctx, self._name, "DeleteRange", [self._bh, r.start, r.limit],
                    [sbwire.BatchHandle._vdl_type, vdl.ByteListType, vdl.ByteListType], [])

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
        return await _call(ctx, self._name, "Exists", [self._c._bh], [sbwire.BatchHandle._vdl_type],
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
        await _call(ctx, self._name, "Delete", [self._c._bh], [sbwire.BatchHandle._vdl_type], [])


_GET_IN = [sbwire.BatchHandle._vdl_type]
_GET_OUT = [vdl.AnyType]
_PUT_IN = [sbwire.BatchHandle._vdl_type, vdl.AnyType]


def _first(results):
    return results[0]


def _none(_):
    return None
