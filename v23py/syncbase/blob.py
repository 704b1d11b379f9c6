"""Blobs in the client library, shaped like Go's ``syncbase.Blob``::

    b = await db.create_blob(ctx)                 # Blob; b.ref() is its BlobRef
    w = await b.put(ctx)                         # BlobWriter
    await w.send(b"some bytes")                  # waits for flow control
    await w.close()                              # the PutBlob call's result
    await b.commit(ctx)                          # immutable from now on
    await c.put(ctx, "key", syncbase.BlobRef(b.ref()))   # peers can now fetch it
    n = await b.size(ctx)
    data = await db.blob(ref).get(ctx, 0).read()         # BlobReader: async iterator
    async for status in db.blob(ref).fetch(ctx, 100):    # BlobFetchStatus values
        ...
    await b.pin(ctx); await b.unpin(ctx); await b.keep(ctx, rank); await b.delete(ctx)

``Get`` and ``Fetch`` of a blob not held by the daemon fetch it from a
syncgroup peer that has it.  Writers also work as async context managers
(``async with await b.put(ctx) as w: await w.write(data)``).
"""
from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Any, Coroutine, Optional, TypeVar

from twisted.internet import defer

from v23py import rpc, vdl, verror
from v23py.deferred import AwaitableDeferred, adopt
from v23py.v23.services import syncbase as sbwire
from v23py.syncbase._common import go_names, _call

if TYPE_CHECKING:
    from v23py.context import Context
    from v23py.syncbase.database import Database

_T = TypeVar("_T")


def _method(method: str) -> Any:
    for m in sbwire.BlobManagerDesc.methods:
        if m.name == method:
            return m
    raise KeyError(method)


def _ref(ref: str) -> Any:
    return vdl.value(sbwire.BlobRef._vdl_type, ref)


def _d(coro: Coroutine[Any, Any, _T]) -> AwaitableDeferred[_T]:
    return adopt(defer.ensureDeferred(coro))


@go_names
class Blob:
    """A handle on a blob of a database (no RPC until a method needs one)."""

    def __init__(self, db: Database, ref: str) -> None:
        self._db = db
        self._ref = ref

    def ref(self) -> str:
        return self._ref

    def __repr__(self) -> str:
        return f"Blob({self._ref!r})"

    def _call(self, ctx: Context, method: str, args: list[Any], in_types: list[Any],
              out_types: list[Any]) -> AwaitableDeferred[Any]:
        return _d(_call(ctx, self._db.full_name(), method, args, in_types, out_types))

    def put(self, ctx: Context) -> AwaitableDeferred[BlobWriter]:
        """Deferred BlobWriter appending to this (uncommitted) blob."""
        async def go() -> BlobWriter:
            call = await rpc.start_call(  # type: ignore[no-untyped-call]
                ctx, self._db.full_name(), "PutBlob", [_ref(self._ref)],
                [sbwire.BlobRef._vdl_type], [], desc=_method("PutBlob"))
            return BlobWriter(call)
        return _d(go())

    def commit(self, ctx: Context) -> AwaitableDeferred[None]:
        return self._call(ctx, "CommitBlob", [_ref(self._ref)], [sbwire.BlobRef._vdl_type], [])

    def size(self, ctx: Context) -> AwaitableDeferred[int]:
        return self._call(ctx, "GetBlobSize", [_ref(self._ref)], [sbwire.BlobRef._vdl_type],
                          [vdl.Int64Type])

    def delete(self, ctx: Context) -> AwaitableDeferred[None]:
        return self._call(ctx, "DeleteBlob", [_ref(self._ref)], [sbwire.BlobRef._vdl_type], [])

    def get(self, ctx: Context, offset: int = 0) -> BlobReader:
        """The bytes from ``offset`` (async iterator of byte strings; ``await r.read()``)."""
        return BlobReader(ctx, self._db.full_name(), self._ref, int(offset))

    def fetch(self, ctx: Context, priority: int = 0) -> BlobStatus:
        """Fetch the blob to the daemon if needed; async iterator of BlobFetchStatus."""
        return BlobStatus(ctx, self._db.full_name(), self._ref, int(priority))

    def pin(self, ctx: Context) -> AwaitableDeferred[None]:
        return self._call(ctx, "PinBlob", [_ref(self._ref)], [sbwire.BlobRef._vdl_type], [])

    def unpin(self, ctx: Context) -> AwaitableDeferred[None]:
        return self._call(ctx, "UnpinBlob", [_ref(self._ref)], [sbwire.BlobRef._vdl_type], [])

    def keep(self, ctx: Context, rank: int) -> AwaitableDeferred[None]:
        return self._call(ctx, "KeepBlob", [_ref(self._ref), int(rank)],
                          [sbwire.BlobRef._vdl_type, vdl.Uint64Type], [])


@go_names
class BlobWriter:
    """Go's BlobWriter: ``Send`` bytes, then ``Close`` (the PutBlob result)."""

    def __init__(self, call: Any) -> None:
        self._call = call
        self._closed: Optional[bool] = None

    def send(self, data: bytes) -> AwaitableDeferred[None]:
        """Append ``data``; the Deferred fires once it is written (flow control)."""
        if self._closed is not None:
            return adopt(defer.fail(verror.Aborted.new("blob writer is closed")))
        r = self._call.send(bytes(data))
        return adopt(r if isinstance(r, defer.Deferred) else defer.succeed(None))

    def close(self) -> AwaitableDeferred[None]:
        """Deferred: ends the stream and waits for the PutBlob result (later calls: None)."""
        if self._closed is not None:
            return adopt(defer.succeed(None))
        self._closed = True
        d: AwaitableDeferred[Any] = adopt(self._call.finish())
        d.addCallback(lambda _: None)
        return d

    write = send

    async def __aenter__(self) -> BlobWriter:
        return self

    async def __aexit__(self, exc_type: Optional[type[BaseException]],
                        exc: Optional[BaseException], tb: Optional[TracebackType]) -> None:
        if exc_type is None:
            await self.close()
        else:
            self._call.cancel()


@go_names
class _Stream:
    def __init__(self, ctx: Context, name: str, method: str, args: list[Any],
                 in_types: list[Any]) -> None:
        self._ctx, self._name, self._method = ctx, name, method
        self._args, self._in_types = args, in_types
        self._call: Any = None
        self._done = False

    def __aiter__(self) -> _Stream:
        return self

    def __anext__(self) -> AwaitableDeferred[Any]:
        # run by Twisted whoever iterates, so that asyncio tasks may ``async for`` too
        return _d(self._anext())

    async def _anext(self) -> Any:
        if self._done:
            raise StopAsyncIteration
        if self._call is None:
            self._call = await rpc.start_call(  # type: ignore[no-untyped-call]
                self._ctx, self._name, self._method, self._args, self._in_types, [],
                desc=_method(self._method))
        try:
            return await self._call.recv()
        except verror.VError as e:
            self._done = True
            if e.id != verror.EOF.id:
                raise
            await self._call.finish()       # the call's own error, if any
            raise StopAsyncIteration

    def cancel(self) -> None:
        """Stop the stream (the server sees the call cancelled)."""
        self._done = True
        if self._call is not None:
            self._call.cancel()


@go_names
class BlobReader(_Stream):
    """Go's BlobReader as an async iterator of byte strings."""

    def __init__(self, ctx: Context, name: str, ref: str, offset: int) -> None:
        super().__init__(ctx, name, "GetBlob", [_ref(ref), offset],
                         [sbwire.BlobRef._vdl_type, vdl.Int64Type])

    def __aiter__(self) -> BlobReader:
        return self

    async def _anext(self) -> bytes:
        return bytes(await super()._anext())

    def read(self) -> AwaitableDeferred[bytes]:
        """Deferred: all the remaining bytes (small blobs; iterate for big ones)."""
        async def go() -> bytes:
            parts = []
            async for chunk in self:
                parts.append(chunk)
            return b"".join(parts)
        return _d(go())


@go_names
class BlobStatus(_Stream):
    """Go's BlobStatus as an async iterator of ``BlobFetchStatus`` (State, Received, Total)."""

    def __init__(self, ctx: Context, name: str, ref: str, priority: int) -> None:
        super().__init__(ctx, name, "FetchBlob", [_ref(ref), priority],
                         [sbwire.BlobRef._vdl_type, vdl.Uint64Type])

    def wait(self) -> AwaitableDeferred[Any]:
        """Deferred: the last status (``Done`` when the blob is local), after the stream."""
        async def go() -> Any:
            last = None
            async for st in self:
                last = st
            return last
        return _d(go())
