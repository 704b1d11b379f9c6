"""Schemas and application conflict resolution in the client (Go's ``Schema``,
``ConflictResolver`` and ``Database.EnforceSchema``).

    class Merge:
        def on_conflict(self, ctx, conflict):          # may be async
            res = syncbase.Resolution()
            for key, row in conflict.WriteSet.ByKey.items():
                if row.LocalValue.get() == row.RemoteValue.get():
                    res.ResultSet[key] = syncbase.ResolvedRow(key, row.LocalValue)
                else:
                    res.ResultSet[key] = syncbase.ResolvedRow(
                        key, syncbase.NewValue(merge(row.LocalValue.get(), row.RemoteValue.get())))
            return res

    schema = syncbase.Schema(syncbase.SchemaMetadata(1, [
        syncbase.CrRule(collection.Id(), "inbox/", syncbase.APP_RESOLVES)]), Merge())
    db = sb.Database(ctx, "app", schema)
    await db.Create(ctx, None)            # stores the schema metadata with the database
    await db.EnforceSchema(ctx)           # upgrades older metadata; starts the resolver
    ...
    db.Close()                            # stops resolving

A resolution keeps the local version (``row.LocalValue``), takes the remote one
(``row.RemoteValue``), goes back to the common ancestor (``row.AncestorValue``),
writes a new value (``NewValue(x)``) or deletes the row (``None``); the daemon writes
it as a new version that syncs to the other peers.  Conflicts arrive grouped: rows
written in one batch on either side come in one ``Conflict``.
"""
from __future__ import annotations

import dataclasses
import logging
import time
from typing import Dict, List, Optional

from twisted.internet import defer

from v23py import rpc, verror
from v23py.v23.services import syncbase as sbwire
from v23py.syncbase.util import Id
from v23py.v23.vdlroot.time.native import time_from_unix_ns

log = logging.getLogger("v23py.syncbase")

LAST_WINS, APP_RESOLVES, DEFER = "LastWins", "AppResolves", "Defer"
RECONNECT_WAIT = 2.0                 # seconds before a broken resolver stream is reopened

# ValueState and ValueSelection labels
EXISTS, NO_EXISTS, DELETED, UNKNOWN = "Exists", "NoExists", "Deleted", "Unknown"
LOCAL, REMOTE, OTHER = "Local", "Remote", "Other"


def _label(e):
    return getattr(e, "label", e if isinstance(e, str) else str(e))


@dataclasses.dataclass
class CrRule:
    """Which resolver handles the rows of a collection (and key prefix)."""
    CollectionId: object = None              # an Id, or None for every collection
    KeyPrefix: str = ""
    Resolver: str = LAST_WINS
    Type: str = ""


@dataclasses.dataclass
class SchemaMetadata:
    Version: int = 0
    Rules: List[CrRule] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Schema:
    """Metadata stored with the database, and the (local, never stored) resolver."""
    Metadata: SchemaMetadata
    Resolver: object = None


@dataclasses.dataclass
class Value:
    """One version of a row in conflict; ``get()`` is the row's value."""
    State: str = EXISTS
    Val: object = None
    WriteTs: object = None                   # a VDL time.Time
    Selection: str = OTHER

    def get(self):
        return self.Val


def NewValue(data) -> Value:
    """A new value to resolve a row to."""
    if data is None:
        raise verror.BadArg.new("data cannot be nil")
    return Value(EXISTS, data, None, OTHER)


@dataclasses.dataclass
class ConflictRow:
    Key: str
    LocalValue: Value
    RemoteValue: Value
    AncestorValue: Value
    BatchIds: List[int]


@dataclasses.dataclass
class ConflictRowSet:
    ByKey: Dict[str, ConflictRow] = dataclasses.field(default_factory=dict)
    ByBatch: Dict[int, List[ConflictRow]] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class ConflictScanSet:
    ByBatch: Dict[int, list] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Conflict:
    """Rows in conflict, with the batches they were written in (``Batches``: id ->
    wire BatchInfo).  Keys are ``<collection>\\xfe<row key>`` as Go gives them;
    ``row_key(key)`` is the row key alone."""
    ReadSet: Optional[ConflictRowSet] = None
    WriteSet: Optional[ConflictRowSet] = None
    ScanSet: Optional[ConflictScanSet] = None
    Batches: Dict[int, object] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class ResolvedRow:
    Key: str
    Result: Optional[Value]                  # None: delete the row


@dataclasses.dataclass
class Resolution:
    ResultSet: Dict[str, ResolvedRow] = dataclasses.field(default_factory=dict)


def row_key(key: str) -> str:
    """The row key of a conflict key (which starts with its collection, then the byte
    0xfe, which a Python string holds as the escape U+DCFE)."""
    return key.split("\udcfe", 1)[-1]


def needs_resolver(md: SchemaMetadata) -> bool:
    return any(_label(r.Resolver) == APP_RESOLVES for r in md.Rules)


# --- wire conversions --------------------------------------------------------------------

def metadata_wire(md: SchemaMetadata):
    rules = []
    for r in md.Rules:
        cid = Id(*r.CollectionId) if r.CollectionId is not None else Id("", "")
        rules.append(sbwire.CrRule(
            CollectionId=sbwire.Id(Blessing=cid.Blessing, Name=cid.Name),
            KeyPrefix=r.KeyPrefix, Type=r.Type, Resolver=sbwire.ResolverType(_label(r.Resolver))))
    return sbwire.SchemaMetadata(Version=md.Version, Policy=sbwire.CrPolicy(Rules=rules))


def metadata_from_wire(w) -> SchemaMetadata:
    rules = []
    for r in w.Policy.Rules or ():
        cid = Id(r.CollectionId.Blessing, r.CollectionId.Name)
        rules.append(CrRule(None if cid == ("", "") else cid, r.KeyPrefix, _label(r.Resolver),
                            r.Type))
    return SchemaMetadata(int(w.Version), rules)


def _value(v, selection) -> Value:
    if v is None:
        return Value(UNKNOWN, None, None, selection)
    return Value(_label(v.State), v.Bytes, v.WriteTs, selection)


def add_conflict_info(c: Conflict, ci) -> None:
    """Go's addRowToConflict: fold one ConflictInfo of the stream into ``c``."""
    data = ci.Data
    if data.name == "Batch":
        c.Batches[int(data.value.Id)] = data.value
        return
    info = data.value
    op = info.Op
    bids = [int(b) for b in info.BatchIds or ()]
    if op.name in ("Write", "Read"):
        rop = op.value
        row = ConflictRow(rop.Key, _value(rop.LocalValue, LOCAL), _value(rop.RemoteValue, REMOTE),
                          _value(rop.AncestorValue, OTHER), bids)
        attr = "WriteSet" if op.name == "Write" else "ReadSet"
        rs = getattr(c, attr)
        if rs is None:
            rs = ConflictRowSet()
            setattr(c, attr, rs)
        rs.ByKey[row.Key] = row
        for b in bids:
            rs.ByBatch.setdefault(b, []).append(row)
    elif op.name == "Scan":
        if c.ScanSet is None:
            c.ScanSet = ConflictScanSet()
        for b in bids:
            c.ScanSet.ByBatch.setdefault(b, []).append(op.value)


def resolution_infos(res: Resolution) -> list:
    """Go's sendResolution: one ResolutionInfo per resolved row, the last one
    Continued=false."""
    rows = list(res.ResultSet.values())
    out = []
    for i, r in enumerate(rows):
        sel, result = OTHER, None
        if r.Result is not None:
            sel = _label(r.Result.Selection)
            result = sbwire.Value(State=sbwire.ValueState(EXISTS), Bytes=r.Result.Val,
                                  WriteTs=r.Result.WriteTs or time_from_unix_ns(time.time_ns()))
        out.append(sbwire.ResolutionInfo(Key=r.Key, Selection=sbwire.ValueSelection(sel),
                                         Result=result, Continued=i < len(rows) - 1))
    return out


# --- the resolver loop ---------------------------------------------------------------------

class _StreamDesc:
    def __init__(self):
        self.in_stream = sbwire.ResolutionInfo._vdl_type
        self.out_stream = sbwire.ConflictInfo._vdl_type


class ResolverLoop:
    """Holds a StartConflictResolver stream open to the daemon (reopened after
    RECONNECT_WAIT when it breaks) and answers each conflict with the resolver."""

    def __init__(self, ctx, db_name, resolver):
        self.ctx, self._cancel = ctx.with_cancel()
        self.name = db_name
        self.resolver = resolver
        self.closed = False
        self.conflicts = 0               # conflicts answered (for tests and logs)
        self.connected = defer.Deferred()
        self.done = None

    def start(self):
        self.done = defer.ensureDeferred(self._run())
        self.done.addErrback(lambda f: log.error("conflict resolver stopped: %s",
                                                 f.getErrorMessage()))
        return self

    def close(self):
        self.closed = True
        self._cancel()

    async def _run(self):
        from twisted.internet import reactor    # the default reactor, when it runs
        while not self.closed:
            try:
                call = await rpc.start_call(self.ctx, self.name, "StartConflictResolver", [],
                                            [], [], desc=_StreamDesc())
                await self._serve(call)
            except Exception as e:
                if self.closed:
                    return
                log.info("conflict resolution stream ended: %s", e)
            if self.closed:
                return
            d = defer.Deferred()
            reactor.callLater(RECONNECT_WAIT, d.callback, None)
            await d

    async def _serve(self, call):
        if not self.connected.called:
            self.connected.callback(None)
        c = Conflict()
        while True:
            try:
                ci = await call.recv()
            except verror.VError as e:
                if e.id == verror.EOF.id:
                    await call.finish()
                    return
                raise
            add_conflict_info(c, ci)
            if ci.Continued:
                continue
            fn = getattr(self.resolver, "on_conflict", None) or self.resolver.OnConflict
            res = fn(self.ctx, c)
            if isinstance(res, defer.Deferred) or hasattr(res, "__await__"):
                res = await res
            for info in resolution_infos(res):
                await call.send(info)
            self.conflicts += 1
            c = Conflict()
