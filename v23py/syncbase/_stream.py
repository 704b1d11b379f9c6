"""Streams of results: Exec rows, Scan key/values, Watch changes."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Generic, Optional, TypeVar

from twisted.internet import defer

from v23py import verror, vdl
from v23py.deferred import AwaitableDeferred, adopt
from v23py.v23.services import syncbase as sbwire
from v23py.v23.services import watch as watchwire
from v23py.syncbase._common import RowRange, WatchChange, _bh

if TYPE_CHECKING:
    from v23py.context import Context

_Item = TypeVar("_Item")


class _Stream(Generic[_Item]):
    """Common async-iterator plumbing over a streaming RPC."""

    def __init__(self, ctx: Context, name: str) -> None:
        self._ctx = ctx
        self._name = name
        self._call: Any = None
        self._done = False

    async def _start(self) -> Any:
        raise NotImplementedError

    def __aiter__(self) -> _Stream[_Item]:
        return self

    def __anext__(self) -> AwaitableDeferred[_Item]:
        # run by Twisted whoever iterates, so that asyncio tasks may ``async for`` too
        return adopt(defer.ensureDeferred(self._anext()))

    async def _anext(self) -> _Item:
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

    def cancel(self) -> None:
        """Stop the stream (the server sees the call cancelled)."""
        self._done = True
        if self._call is not None:
            self._call.cancel()

    def _convert(self, item: Any) -> _Item:
        raise NotImplementedError


class ResultStream(_Stream[list[Any]]):
    """Rows of an Exec (Go's ResultStream): ``async for row in rs`` gives lists of values.

    Stop early with ``cancel()``; an error of the statement surfaces from the
    iteration."""

    def __init__(self, ctx: Context, name: str, call: Any) -> None:
        super().__init__(ctx, name)
        self._call = call

    async def _next(self) -> Optional[list[Any]]:
        try:
            return await self._anext()
        except StopAsyncIteration:
            return None

    def _convert(self, row: Any) -> list[Any]:
        return list(row) if row is not None else []


class ScanStream(_Stream[tuple[str, Any]]):
    """Async iterator of (key, value) pairs, ascending by key."""

    def __init__(self, ctx: Context, name: str, bh: str, r: RowRange) -> None:
        super().__init__(ctx, name)
        self._args = [_bh(bh), r.start, r.limit]

    async def _start(self) -> Any:
        from v23py import rpc
        return await rpc.start_call(  # type: ignore[no-untyped-call]
            self._ctx, self._name, "Scan", self._args,
                                    [sbwire.BatchHandle._vdl_type, vdl.ByteListType,
                                     vdl.ByteListType], [])

    def _convert(self, kv: Any) -> tuple[str, Any]:
        return kv.Key, kv.Value


class WatchStream(_Stream[WatchChange]):
    """Async iterator of WatchChange values (never ends until cancelled or failed).
    As Go's client library, it drops the change by which the daemon says a resumed
    watch skips the initial state."""

    def __init__(self, ctx: Context, name: str, marker: bytes, patterns: list[Any]) -> None:
        super().__init__(ctx, name)
        self._args = [vdl.value(watchwire.ResumeMarker._vdl_type, marker), patterns]

    async def _start(self) -> Any:
        from v23py import rpc
        return await rpc.start_call(  # type: ignore[no-untyped-call]
            self._ctx, self._name, "WatchPatterns", self._args,
                                    [watchwire.ResumeMarker._vdl_type,
                                     vdl.list_of(sbwire.CollectionRowPattern._vdl_type)], [])

    async def _anext(self) -> WatchChange:
        while True:
            ch: Optional[WatchChange] = await super()._anext()
            if ch is not None:
                return ch

    def _convert(self, ch: Any) -> Any:
        from v23py.syncbase.util import decode_id
        if int(ch.State) == watchwire.InitialStateSkipped:
            return None   # the daemon's note that a resumed watch skips the initial state
        sc = ch.Value
        value = getattr(sc, "Value", None)
        from_sync = bool(getattr(sc, "FromSync", False))
        state = int(ch.State)
        change_type = "delete" if state == watchwire.DoesNotExist else "put"
        if ch.Name == "":
            entity, cx, row = "root", None, ""
        elif "/" in ch.Name:
            enc_cx, row = ch.Name.split("/", 1)
            entity, cx = "row", decode_id(enc_cx)
        else:
            entity, cx, row = "collection", decode_id(ch.Name), ""
        return WatchChange(entity, cx, row, change_type, value, bytes(ch.ResumeMarker or b""),
                           from_sync, bool(ch.Continued))
