"""Schemas and application conflict resolution in the client (Go's ``Schema``,
``ConflictResolver`` and ``Database.EnforceSchema``)::

    class Merge:
        def on_conflict(self, ctx, conflict):          # may be async
            res = syncbase.Resolution()
            for key, row in conflict.write_set.by_key.items():
                if row.local_value.get() == row.remote_value.get():
                    res.result_set[key] = syncbase.ResolvedRow(key, row.local_value)
                else:
                    res.result_set[key] = syncbase.ResolvedRow(key, syncbase.new_value(
                        merge(row.local_value.get(), row.remote_value.get())))
            return res

    schema = syncbase.Schema(syncbase.SchemaMetadata(1, [
        syncbase.CrRule(collection.id(), "inbox/", syncbase.APP_RESOLVES)]), Merge())
    db = sb.database(ctx, "app", schema)
    await db.create(ctx, exist_ok=True)  # stores the schema metadata with the database
    await db.enforce_schema(ctx)         # upgrades older metadata; starts the resolver
    ...
    db.close()                           # stops resolving

A resolution keeps the local version (``row.local_value``), takes the remote one
(``row.remote_value``), goes back to the common ancestor (``row.ancestor_value``),
writes a new value (``new_value(x)``) or deletes the row (``None``); the daemon writes
it as a new version that syncs to the other peers.  Conflicts arrive grouped: rows
written in one batch on either side come in one ``Conflict``.  Every field also
answers to its Go name (``row.LocalValue``, deprecated: it warns), and a resolver's ``OnConflict`` is
called when it has no ``on_conflict``.
"""
from __future__ import annotations

import dataclasses
import logging
import time
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Protocol, TypeVar, Union

from twisted.internet import defer

from v23py import rpc, verror
from v23py.v23.services import syncbase as sbwire
from v23py.syncbase.util import Id
from v23py.syncbase._common import _go_camel, go_alias, go_property
from v23py.v23.vdlroot.time.native import time_from_unix_ns

if TYPE_CHECKING:
    from v23py.context import Context

log = logging.getLogger("v23py.syncbase")

LAST_WINS, APP_RESOLVES, DEFER = "LastWins", "AppResolves", "Defer"
RECONNECT_WAIT = 2.0                 # seconds before a broken resolver stream is reopened

# ValueState and ValueSelection labels
EXISTS, NO_EXISTS, DELETED, UNKNOWN = "Exists", "NoExists", "Deleted", "Unknown"
LOCAL, REMOTE, OTHER = "Local", "Remote", "Other"

_D = TypeVar("_D", bound=type)


def _go_fields(cls: _D) -> _D:
    """Each dataclass field of ``cls`` (``local_value``) also answers to its Go name
    (``LocalValue``), for code ported from Go's client."""
    for f in dataclasses.fields(cls):
        go = _go_camel(f.name)
        if go != f.name:
            setattr(cls, go, go_property(f.name, go, settable=True))
    return cls


def _label(e: Any) -> str:
    return str(getattr(e, "label", e if isinstance(e, str) else str(e)))


class ConflictResolver(Protocol):
    """What ``Schema.resolver`` is: ``on_conflict`` returns a Resolution (or an
    awaitable of one)."""

    def on_conflict(self, ctx: Context, conflict: Conflict) -> Any: ...


@_go_fields
@dataclasses.dataclass
class CrRule:
    """Which resolver handles the rows of a collection (and key prefix)."""
    collection_id: Optional[Any] = None      # an Id, or None for every collection
    key_prefix: str = ""
    resolver: str = LAST_WINS
    type: str = ""


@_go_fields
@dataclasses.dataclass
class SchemaMetadata:
    version: int = 0
    rules: List[CrRule] = dataclasses.field(default_factory=list)


@_go_fields
@dataclasses.dataclass
class Schema:
    """Metadata stored with the database, and the (local, never stored) resolver."""
    metadata: SchemaMetadata
    resolver: Optional[Any] = None           # a ConflictResolver


@_go_fields
@dataclasses.dataclass
class Value:
    """One version of a row in conflict; ``get()`` is the row's value."""
    state: str = EXISTS
    val: Any = None
    write_ts: Any = None                     # a VDL time.Time
    selection: str = OTHER

    def get(self) -> Any:
        return self.val

    Get = get   # Go's name


def new_value(data: Any) -> Value:
    """A new value to resolve a row to."""
    if data is None:
        raise verror.BadArg.new("data cannot be nil")
    return Value(EXISTS, data, None, OTHER)


NewValue = go_alias(new_value, "NewValue")   # Go's name (deprecated)


@_go_fields
@dataclasses.dataclass
class ConflictRow:
    key: str
    local_value: Value
    remote_value: Value
    ancestor_value: Value
    batch_ids: List[int]


@_go_fields
@dataclasses.dataclass
class ConflictRowSet:
    by_key: Dict[str, ConflictRow] = dataclasses.field(default_factory=dict)
    by_batch: Dict[int, List[ConflictRow]] = dataclasses.field(default_factory=dict)


@_go_fields
@dataclasses.dataclass
class ConflictScanSet:
    by_batch: Dict[int, List[Any]] = dataclasses.field(default_factory=dict)


@_go_fields
@dataclasses.dataclass
class Conflict:
    """Rows in conflict, with the batches they were written in (``batches``: id ->
    wire BatchInfo).  Keys are ``<collection>\\xfe<row key>`` as Go gives them;
    ``row_key(key)`` is the row key alone."""
    read_set: Optional[ConflictRowSet] = None
    write_set: Optional[ConflictRowSet] = None
    scan_set: Optional[ConflictScanSet] = None
    batches: Dict[int, Any] = dataclasses.field(default_factory=dict)


@_go_fields
@dataclasses.dataclass
class ResolvedRow:
    key: str
    result: Optional[Value]                  # None: delete the row


@_go_fields
@dataclasses.dataclass
class Resolution:
    result_set: Dict[str, ResolvedRow] = dataclasses.field(default_factory=dict)


def row_key(key: str) -> str:
    """The row key of a conflict key (which starts with its collection, then the byte
    0xfe, which a Python string holds as the escape U+DCFE)."""
    return key.split("\udcfe", 1)[-1]


def needs_resolver(md: SchemaMetadata) -> bool:
    return any(_label(r.resolver) == APP_RESOLVES for r in md.rules)


# --- wire conversions --------------------------------------------------------------------

def metadata_wire(md: SchemaMetadata) -> sbwire.SchemaMetadata:
    rules = []
    for r in md.rules:
        cid = Id(*r.collection_id) if r.collection_id is not None else Id("", "")
        rules.append(sbwire.CrRule(
            CollectionId=sbwire.Id(Blessing=cid.Blessing, Name=cid.Name),
            KeyPrefix=r.key_prefix, Type=r.type, Resolver=sbwire.ResolverType(_label(r.resolver))))
    return sbwire.SchemaMetadata(Version=md.version, Policy=sbwire.CrPolicy(Rules=rules))


def metadata_from_wire(w: Any) -> SchemaMetadata:
    rules = []
    for r in w.Policy.Rules or ():
        cid = Id(r.CollectionId.Blessing, r.CollectionId.Name)
        rules.append(CrRule(None if cid == ("", "") else cid, r.KeyPrefix, _label(r.Resolver),
                            r.Type))
    return SchemaMetadata(int(w.Version), rules)


def _value(v: Any, selection: str) -> Value:
    if v is None:
        return Value(UNKNOWN, None, None, selection)
    return Value(_label(v.State), v.Bytes, v.WriteTs, selection)


def add_conflict_info(c: Conflict, ci: Any) -> None:
    """Go's addRowToConflict: fold one ConflictInfo of the stream into ``c``."""
    data = ci.Data
    if data.name == "Batch":
        c.batches[int(data.value.Id)] = data.value
        return
    info = data.value
    op = info.Op
    bids = [int(b) for b in info.BatchIds or ()]
    if op.name in ("Write", "Read"):
        rop = op.value
        row = ConflictRow(rop.Key, _value(rop.LocalValue, LOCAL), _value(rop.RemoteValue, REMOTE),
                          _value(rop.AncestorValue, OTHER), bids)
        attr = "write_set" if op.name == "Write" else "read_set"
        rs = getattr(c, attr)
        if rs is None:
            rs = ConflictRowSet()
            setattr(c, attr, rs)
        rs.by_key[row.key] = row
        for b in bids:
            rs.by_batch.setdefault(b, []).append(row)
    elif op.name == "Scan":
        if c.scan_set is None:
            c.scan_set = ConflictScanSet()
        for b in bids:
            c.scan_set.by_batch.setdefault(b, []).append(op.value)


def resolution_infos(res: Resolution) -> list[Any]:
    """Go's sendResolution: one ResolutionInfo per resolved row, the last one
    Continued=false."""
    rows = list(res.result_set.values())
    out = []
    for i, r in enumerate(rows):
        sel, result = OTHER, None
        if r.result is not None:
            sel = _label(r.result.selection)
            result = sbwire.Value(State=sbwire.ValueState(EXISTS), Bytes=r.result.val,
                                  WriteTs=r.result.write_ts or time_from_unix_ns(time.time_ns()))
        out.append(sbwire.ResolutionInfo(Key=r.key, Selection=sbwire.ValueSelection(sel),
                                         Result=result, Continued=i < len(rows) - 1))
    return out


# --- the resolver loop ---------------------------------------------------------------------

class _StreamDesc:
    def __init__(self) -> None:
        self.in_stream = sbwire.ResolutionInfo._vdl_type
        self.out_stream = sbwire.ConflictInfo._vdl_type


class ResolverLoop:
    """Holds a StartConflictResolver stream open to the daemon (reopened after
    RECONNECT_WAIT when it breaks) and answers each conflict with the resolver."""

    def __init__(self, ctx: Context, db_name: str, resolver: Any) -> None:
        self.ctx, self._cancel = ctx.with_cancel()
        self.name = db_name
        self.resolver = resolver
        self.closed = False
        self.conflicts = 0               # conflicts answered (for tests and logs)
        self.connected: defer.Deferred[None] = defer.Deferred()
        self.done: Optional[defer.Deferred[None]] = None
        self._wait: Optional[Any] = None     # the pending reconnect, while one is

    def start(self) -> ResolverLoop:
        self.done = defer.ensureDeferred(self._run())
        self.done.addErrback(lambda f: log.error("conflict resolver stopped: %s",
                                                 f.getErrorMessage()))
        return self

    def close(self) -> defer.Deferred[None]:
        """Stop; the result fires once the loop has ended (its stream closed and no
        reconnect left pending), so a caller may wait for a quiet reactor."""
        self.closed = True
        self._cancel()
        if self._wait is not None and self._wait.active():
            self._wait.reset(0)         # the loop wakes now and sees it is closed
        if self.done is None:
            return defer.succeed(None)
        ended: defer.Deferred[None] = defer.Deferred()

        def end(result: Any) -> Any:
            ended.callback(None)
            return result
        self.done.addBoth(end)
        return ended

    async def _run(self) -> None:
        from twisted.internet import reactor as _reactor   # the default one, when it runs
        reactor: Any = _reactor
        while not self.closed:
            try:
                call = await rpc.start_call(  # type: ignore[no-untyped-call]
                    self.ctx, self.name, "StartConflictResolver", [], [], [],
                    desc=_StreamDesc())
                await self._serve(call)
            except Exception as e:
                if self.closed:
                    return
                log.info("conflict resolution stream ended: %s", e)
            if self.closed:
                return
            d: defer.Deferred[None] = defer.Deferred()
            self._wait = reactor.callLater(RECONNECT_WAIT, d.callback, None)
            await d
            self._wait = None

    async def _serve(self, call: Any) -> None:
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
