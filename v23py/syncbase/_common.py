"""Value types, constants and helpers of the client library."""
from __future__ import annotations

import functools
from typing import Any, Iterable, NamedTuple

from twisted.internet import defer

from v23py import verror, vdl
from v23py.v23.security import access as accesswire
from v23py.v23.services import syncbase as sbwire
from v23py.syncbase.util import (
    Id, prefix_range_limit, app_and_user_pattern_from_blessings, ConventionError, NO_EXTENSION)


ALL_DATABASE_TAGS = ("Admin", "Read", "Write", "Resolve")


def BlobRef(ref: str):
    """A VDL ``syncbase.BlobRef`` value, to store in a row so that peers can fetch the blob."""
    return vdl.value(sbwire.BlobRef._vdl_type, str(ref))
ALL_COLLECTION_TAGS = ("Admin", "Read", "Write")
ALL_SYNCGROUP_TAGS = ("Admin", "Read")
MAX_BATCH_ATTEMPTS = 3


def _go_camel(name):
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


def go_names(cls):
    """Give each public method of ``cls`` its Go name as an alias too (``full_name`` is
    also ``FullName``), so code written against Go's API, or older v23py code, runs.
    The snake_case names are the documented ones."""
    for name, value in list(vars(cls).items()):
        if name.startswith("_") or not callable(value) and not isinstance(value, property):
            continue
        go = _go_camel(name)
        if go != name and go not in vars(cls):
            setattr(cls, go, value if isinstance(value, property) else _forward(name, go))
    return cls


def _forward(name, go):
    # by name, so that a subclass overriding ``name`` is called through ``go`` as well
    def alias(self, *args, **kw):
        return getattr(self, name)(*args, **kw)
    alias.__name__ = alias.__qualname__ = go
    alias.__doc__ = f"Go's name for :meth:`{name}`."
    return alias


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

def convention_help(ctx):
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
    acl_cls = vdl.class_for(accesswire.AccessList._vdl_type)
    out = {}
    for tag, acl in dict(perms).items():
        if isinstance(acl, dict):
            ins, notins = acl.get("In") or [], acl.get("NotIn") or []
        else:
            ins, notins = getattr(acl, "In", None) or [], getattr(acl, "NotIn", None) or []
        out[str(tag)] = acl_cls(In=list(ins), NotIn=list(notins))
    return vdl.class_for(accesswire.Permissions._vdl_type)(out)


def perms_for(pattern: str, tags: Iterable[str]) -> Any:
    """Permissions granting each of ``tags`` to ``pattern`` (wire form)."""
    acl_cls = vdl.class_for(accesswire.AccessList._vdl_type)
    return vdl.class_for(accesswire.Permissions._vdl_type)({t: acl_cls(In=[pattern]) for t in tags})


def _id_wire(i):
    return sbwire.Id(Blessing=i.Blessing, Name=i.Name)


async def _call(ctx, name, method, args, in_types, out_types):
    from v23py import rpc
    res = await rpc.client_call(ctx, name, method, list(args), list(in_types), list(out_types))
    if not out_types:
        return None
    if len(out_types) == 1:
        return res[0]
    return tuple(res)


def _bh(bh):
    return vdl.value(sbwire.BatchHandle._vdl_type, bh)


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
    return sbwire.SyncgroupMemberInfo(SyncPriority=SyncPriority,
                     BlobDevType=BlobDevType)


async def _run_in_batch(ctx, db, opts, fn):
    err = None
    for _ in range(MAX_BATCH_ATTEMPTS):
        batch = await db.begin_batch(ctx, opts)
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
            if e.id != sbwire.ErrConcurrentBatch.id:
                raise
            err = e
    raise err
