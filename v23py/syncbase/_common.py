"""Value types, constants and helpers of the client library."""
from __future__ import annotations

import functools
import warnings
from typing import (
    TYPE_CHECKING, Any, Callable, Coroutine, Iterable, Optional, ParamSpec,
    Sequence, TypeVar, Union)

from twisted.internet import defer

from v23py import verror, vdl
from v23py.deferred import AwaitableDeferred, adopt
from v23py.records import NamedTuple
from v23py.security import access
from v23py.v23.services import syncbase as sbwire
from v23py.syncbase.util import (
    Id, prefix_range_limit, app_and_user_pattern_from_blessings, ConventionError, NO_EXTENSION)

if TYPE_CHECKING:
    from v23py.context import Context
    from v23py.syncbase.database import BatchDatabase, Database

_P = ParamSpec("_P")
_T = TypeVar("_T")
_C = TypeVar("_C", bound=type)

ALL_DATABASE_TAGS = ("Admin", "Read", "Write", "Resolve")
ALL_COLLECTION_TAGS = ("Admin", "Read", "Write")
ALL_SYNCGROUP_TAGS = ("Admin", "Read")
MAX_BATCH_ATTEMPTS = 3

#: Permissions as the client takes them: a wire ``access.Permissions``, or a dict of
#: tag -> AccessList (or -> ``{"In": [...], "NotIn": [...]}``).
PermsLike = Any


def BlobRef(ref: str) -> Any:
    """A VDL ``syncbase.BlobRef`` value, to store in a row so that peers can fetch the blob."""
    return vdl.value(sbwire.BlobRef._vdl_type, str(ref))


def _go_camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


def go_name_used(go: str, name: str, stacklevel: int = 3) -> None:
    """Warn (DeprecationWarning, at the caller's line) that Go's name ``go`` was used
    for ``name``."""
    warnings.warn(f"{go} is Go's name, kept only for code ported from Go: use {name}",
                  DeprecationWarning, stacklevel=stacklevel)


def go_alias(fn: Callable[_P, _T], go: str) -> Callable[_P, _T]:
    """``fn`` under Go's name ``go``: a deprecated alias (see :func:`go_name_used`)."""
    @functools.wraps(fn)
    def alias(*args: _P.args, **kw: _P.kwargs) -> _T:
        go_name_used(go, fn.__name__)
        return fn(*args, **kw)
    alias.__name__ = alias.__qualname__ = go
    alias.__doc__ = f"Deprecated: Go's name for :func:`{fn.__name__}`."
    return alias


def go_names(cls: _C) -> _C:
    """Give each public method of ``cls`` its Go name as a deprecated alias too
    (``full_name`` is also ``FullName``), so code written against Go's API, or older
    v23py code, runs; using one warns (DeprecationWarning).  The snake_case names are
    the documented ones."""
    for name, value in list(vars(cls).items()):
        if name.startswith("_") or not callable(value) and not isinstance(value, property):
            continue
        go = _go_camel(name)
        if go != name and go not in vars(cls):
            setattr(cls, go, go_property(name, go) if isinstance(value, property)
                    else _forward(name, go))
    return cls


def go_property(name: str, go: str, settable: bool = False) -> property:
    """Attribute ``name`` under Go's name ``go``: a deprecated alias."""
    def get(self: Any) -> Any:
        go_name_used(go, name)
        return getattr(self, name)

    def set_(self: Any, value: Any) -> None:
        go_name_used(go, name)
        setattr(self, name, value)
    return property(get, set_ if settable else None,
                    doc=f"Deprecated: Go's name for ``{name}``.")


def _forward(name: str, go: str) -> Callable[..., Any]:
    # by name, so that a subclass overriding ``name`` is called through ``go`` as well
    def alias(self: Any, *args: Any, **kw: Any) -> Any:
        go_name_used(go, name)
        return getattr(self, name)(*args, **kw)
    alias.__name__ = alias.__qualname__ = go
    alias.__doc__ = f"Deprecated: Go's name for :meth:`{name}`."
    return alias


def _deferred(fn: Callable[_P, Coroutine[Any, Any, _T]]) -> Callable[_P, AwaitableDeferred[_T]]:
    """An ``async def`` method as an API call: run by Twisted, an AwaitableDeferred (which
    Twisted code and asyncio tasks alike may await)."""
    @functools.wraps(fn)
    def wrapper(*args: _P.args, **kw: _P.kwargs) -> AwaitableDeferred[_T]:
        return adopt(defer.ensureDeferred(fn(*args, **kw)))
    return wrapper


# --- ranges ------------------------------------------------------------------

class RowRange(NamedTuple):
    """Half-open ``[start, limit)`` of row keys as bytes; empty limit = unbounded."""
    start: bytes
    limit: bytes


def _b(s: Union[str, bytes]) -> bytes:
    return s.encode("utf-8") if isinstance(s, str) else bytes(s)


def Prefix(p: Union[str, bytes]) -> RowRange:
    """The rows whose keys start with ``p``."""
    b = _b(p)
    return RowRange(b, prefix_range_limit(b))


def Range(start: Union[str, bytes], limit: Union[str, bytes]) -> RowRange:
    """The rows from ``start`` up to (not including) ``limit``; an empty limit: no end."""
    return RowRange(_b(start), _b(limit))


def SingleRow(key: Union[str, bytes]) -> RowRange:
    """The row ``key`` alone."""
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
    value: Any           # row value, or the StoreChangeCollectionInfo for collections
    resume_marker: bytes
    from_sync: bool
    continued: bool


# --- helpers -------------------------------------------------------------------

def convention_help(ctx: Context) -> str:
    """What to do when the caller's blessings give Syncbase no app or user: the names we
    have, the convention, and how to follow it."""
    try:
        names = ", ".join(_principal_names(ctx)) or "none"
    except Exception:
        names = "unknown"
    return (f"the default blessing names ({names}) follow neither of Syncbase's "
            "conventions, <idp>:o:<app>:<user> (e.g. dev.v.io:o:myapp:alice) or "
            "<idp>:u:<user>; bless the principal so (e.g. `principal create DIR "
            "idp:o:myapp:alice`, or `principal bless` with such an extension), or pass "
            "perms= explicitly (syncbase.perms_for(pattern, tags))")


def _principal_names(ctx: Context) -> list[str]:
    from v23py import runtime, security
    p = runtime.get_principal(ctx)
    return list(security.default_blessing_names(p))  # type: ignore[no-untyped-call]


def _patterns(ctx: Context) -> tuple[str, str]:
    try:
        return app_and_user_pattern_from_blessings(*_principal_names(ctx))
    except ConventionError:
        return NO_EXTENSION, NO_EXTENSION


def _perms_wire(perms: PermsLike) -> Any:
    return None if perms is None else access.as_permissions(perms)


def perms_for(pattern: str, tags: Iterable[str]) -> Any:
    """Permissions granting each of ``tags`` to ``pattern`` (wire form)."""
    return access.Permissions({t: access.AccessList(In=[pattern]) for t in tags})


def _id_wire(i: Any) -> Any:
    return sbwire.Id(Blessing=i.Blessing, Name=i.Name)


async def _call(ctx: Context, name: str, method: str, args: Sequence[Any],
                in_types: Sequence[Any], out_types: Sequence[Any]) -> Any:
    from v23py import rpc
    res = await rpc.client_call(  # type: ignore[no-untyped-call]
        ctx, name, method, list(args), list(in_types), list(out_types))
    if not out_types:
        return None
    if len(out_types) == 1:
        return res[0]
    return tuple(res)


def _bh(bh: str) -> Any:
    return vdl.value(sbwire.BatchHandle._vdl_type, bh)


async def _glob_children(ctx: Context, name: str) -> list[str]:
    from v23py import rpc
    call = await rpc.start_call(  # type: ignore[no-untyped-call]
        ctx, name, "__Glob", ["*"], [vdl.StringType], [], desc=None)
    out: list[str] = []
    async for reply in call:
        if getattr(reply, "name", "") == "Entry" or getattr(reply, "index", 0) == 0:
            entry = reply.value
            n = getattr(entry, "Name", "")
            out.append(n.rsplit("/", 1)[-1])
    await call.finish()
    return out


def SyncgroupSpec(Description: str = "", PublishSyncbaseName: str = "", Perms: Any = None,
                  Collections: Iterable[Any] = (), MountTables: Iterable[str] = (),
                  IsPrivate: bool = False) -> sbwire.SyncgroupSpec:
    """A wire SyncgroupSpec (Perms may be a dict of tag -> AccessList/{"In": [...]})."""
    return sbwire.SyncgroupSpec(Description=Description,
                     PublishSyncbaseName=PublishSyncbaseName,
                     Perms=_perms_wire(Perms or {}),
                     Collections=[_id_wire(Id(*c)) for c in Collections],
                     MountTables=list(MountTables), IsPrivate=IsPrivate)


def SyncgroupMemberInfo(SyncPriority: int = 0, BlobDevType: int = 0) -> sbwire.SyncgroupMemberInfo:
    """A wire SyncgroupMemberInfo."""
    return sbwire.SyncgroupMemberInfo(SyncPriority=SyncPriority,
                     BlobDevType=BlobDevType)


async def _run_in_batch(ctx: Context, db: Database, opts: BatchOptions,
                        fn: Callable[[BatchDatabase], Any]) -> None:
    err: Optional[BaseException] = None
    for _ in range(MAX_BATCH_ATTEMPTS):
        batch = await db.begin_batch(ctx, opts)
        try:
            r = fn(batch)
            if isinstance(r, defer.Deferred) or hasattr(r, "__await__"):
                await r
        except BaseException:
            try:
                await batch.abort(ctx)
            except verror.VError:
                pass
            raise
        if opts.ReadOnly:
            await batch.abort(ctx)
            return
        try:
            await batch.commit(ctx)
            return
        except verror.VError as e:
            if e.id != sbwire.ErrConcurrentBatch.id:
                raise
            err = e
    assert err is not None
    raise err
