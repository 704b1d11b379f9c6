"""The Syncbase client library (Go's ``v.io/v23/syncbase``, with Python names)::

    from v23py import syncbase
    sb = syncbase.new_service(name)                   # no RPC
    db = sb.database(ctx, "fortuneDb")                # Id inferred: {app pattern, name}
    await db.create(ctx, exist_ok=True)               # perms None: all db tags for the user
    c = db.collection(ctx, "fortuneCollection")       # Id: {user pattern, name}
    await c.create(ctx, exist_ok=True)
    await c.put(ctx, "numFortunes", 3)                # any VDL-encodable value
    n = await c.get(ctx, "numFortunes")               # NoExist VError when missing
    async for key, value in c.scan(ctx, syncbase.Prefix("num")):
        print(key, value)
    await syncbase.run_in_batch(ctx, db, syncbase.BatchOptions(), fn)   # retried on conflicts
    async for change in db.watch(ctx, marker, [syncbase.CollectionRowPattern()]):
        print(change)
    headers, rows = await db.exec(ctx, "select k, v from fortuneCollection where k like ?", "n%")
    async for row in rows:                            # one value per header
        print(row)
    b = await db.create_blob(ctx)                     # blobs: see v23py.syncbase.blob
    await c.put(ctx, "photo", syncbase.BlobRef(b.ref()))
    db = sb.database(ctx, "app", syncbase.Schema(md, resolver))   # see v23py.syncbase.cr
    await db.enforce_schema(ctx)                      # schema upgrade; app conflict resolution
    async for invite in syncbase.listen_for_invites(ctx, db.id()):  # see .discovery
        ...

Handles never make RPCs when constructed.  Every RPC method returns a
Deferred (usable with ``await``); ``scan`` and ``watch`` return async
iterators.  Database/collection/syncgroup Ids are inferred from the caller's
default blessing names with Go's conventions: ``<idp>:o:<app>:<user>`` gives
the app pattern ``<idp>:o:<app>`` (databases) and the user pattern
``<idp>:o:<app>:<user>`` (collections, syncgroups).  Blessings that follow no
convention make ``create`` without ``perms`` fail with an error that says how to
bless the principal.

Every method also answers to its Go name (``FullName``, ``CreateBlob``,
``NewService``, ``RunInBatch``, ...), for code ported from Go.
"""
from typing import TYPE_CHECKING, Any

from v23py.syncbase.util import Id

# Each public name -> the submodule defining it.  The submodules load on first use of
# one of their names (PEP 562), so that importing v23py.syncbase.util or .ext (as the
# daemon does) does not build the whole client library and its wire types.
_LAZY = {
    "v23py.syncbase._common": (
        "ALL_COLLECTION_TAGS", "ALL_DATABASE_TAGS", "ALL_SYNCGROUP_TAGS", "BatchOptions",
        "BlobRef", "CollectionRowPattern", "Prefix", "Range", "RowRange", "SingleRow",
        "SyncgroupMemberInfo", "SyncgroupSpec", "WatchChange", "perms_for"),
    "v23py.syncbase.database": (
        "BatchDatabase", "Database", "NewService", "RunInBatch", "Service", "Syncgroup",
        "new_service", "run_in_batch"),
    "v23py.syncbase.collection": ("Collection", "Row"),
    "v23py.syncbase._stream": ("ResultStream", "ScanStream", "WatchStream"),
    "v23py.syncbase.cr": (
        "APP_RESOLVES", "DEFER", "LAST_WINS", "Conflict", "ConflictResolver", "ConflictRow",
        "ConflictRowSet", "ConflictScanSet", "CrRule", "NewValue", "Resolution",
        "ResolvedRow", "Schema", "SchemaMetadata", "Value", "new_value", "row_key"),
    "v23py.syncbase.discovery": (
        "AdvertiseApp", "AppPeer", "Invite", "ListenForAppPeers", "ListenForInvites",
        "ListenForPeers", "Peer", "advertise_app", "listen_for_app_peers",
        "listen_for_invites", "listen_for_peers"),
}
_WHERE = {name: mod for mod, names in _LAZY.items() for name in names}

if TYPE_CHECKING:
    from v23py.syncbase._common import (
        ALL_COLLECTION_TAGS, ALL_DATABASE_TAGS, ALL_SYNCGROUP_TAGS, BatchOptions, BlobRef,
        CollectionRowPattern, Prefix, Range, RowRange, SingleRow, SyncgroupMemberInfo,
        SyncgroupSpec, WatchChange, perms_for)
    from v23py.syncbase.database import (
        BatchDatabase, Database, NewService, RunInBatch, Service, Syncgroup, new_service,
        run_in_batch)
    from v23py.syncbase.collection import Collection, Row
    from v23py.syncbase._stream import ResultStream, ScanStream, WatchStream
    from v23py.syncbase.cr import (
        APP_RESOLVES, DEFER, LAST_WINS, Conflict, ConflictResolver, ConflictRow,
        ConflictRowSet, ConflictScanSet, CrRule, NewValue, Resolution, ResolvedRow, Schema,
        SchemaMetadata, Value, new_value, row_key)
    from v23py.syncbase.discovery import (
        AdvertiseApp, AppPeer, Invite, ListenForAppPeers, ListenForInvites, ListenForPeers,
        Peer, advertise_app, listen_for_app_peers, listen_for_invites, listen_for_peers)


def __getattr__(name: str) -> Any:
    mod = _WHERE.get(name)
    if mod is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib
    value = getattr(importlib.import_module(mod), name)
    globals()[name] = value      # (later lookups do not come here)
    return value


def __dir__() -> "list[str]":
    return sorted(set(globals()) | set(_WHERE))


__all__ = [
    "new_service", "run_in_batch", "NewService", "RunInBatch", "Service", "Database", "BatchDatabase", "Collection", "Row", "Id",
    "Prefix", "Range", "SingleRow", "RowRange", "BatchOptions",
    "CollectionRowPattern", "WatchChange", "ScanStream", "WatchStream", "ResultStream",
    "Syncgroup", "SyncgroupSpec", "SyncgroupMemberInfo", "perms_for", "BlobRef",
    "ALL_DATABASE_TAGS", "ALL_COLLECTION_TAGS", "ALL_SYNCGROUP_TAGS",
    "Schema", "SchemaMetadata", "CrRule", "LAST_WINS", "APP_RESOLVES", "DEFER", "Conflict",
    "ConflictRow", "ConflictRowSet", "ConflictScanSet", "ConflictResolver", "Value",
    "new_value", "NewValue", "Resolution", "ResolvedRow", "row_key",
    "listen_for_invites", "listen_for_peers", "listen_for_app_peers", "advertise_app",
    "ListenForInvites", "ListenForPeers", "ListenForAppPeers", "AdvertiseApp", "Invite", "Peer",
    "AppPeer",
]
