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
    db = sb.Database(ctx, "app", syncbase.Schema(md, resolver))   # see v23py.syncbase.cr
    await db.EnforceSchema(ctx)                       # schema upgrade; app conflict resolution
    async for invite in syncbase.ListenForInvites(ctx, db.Id()):  # see .discovery
        ...

Handles never make RPCs when constructed.  Every RPC method returns a
Deferred (usable with ``await``); ``Scan`` and ``Watch`` return async
iterators.  Database/collection/syncgroup Ids are inferred from the caller's
default blessing names with Go's conventions: ``<idp>:o:<app>:<user>`` gives
the app pattern ``<idp>:o:<app>`` (databases) and the user pattern
``<idp>:o:<app>:<user>`` (collections, syncgroups).
"""
from v23py.syncbase.util import Id
from v23py.syncbase._common import (
    ALL_COLLECTION_TAGS, ALL_DATABASE_TAGS, ALL_SYNCGROUP_TAGS, BatchOptions, BlobRef,
    CollectionRowPattern, Prefix, Range, RowRange, SingleRow, SyncgroupMemberInfo,
    SyncgroupSpec, WatchChange, perms_for)
from v23py.syncbase.database import (
    BatchDatabase, Database, NewService, RunInBatch, Service, Syncgroup)
from v23py.syncbase.collection import Collection, Row
from v23py.syncbase._stream import ResultStream, ScanStream, WatchStream
from v23py.syncbase.cr import (
    APP_RESOLVES, DEFER, LAST_WINS, Conflict, ConflictRow, ConflictRowSet, ConflictScanSet,
    CrRule, NewValue, Resolution, ResolvedRow, Schema, SchemaMetadata, Value, row_key)
from v23py.syncbase.discovery import (
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
