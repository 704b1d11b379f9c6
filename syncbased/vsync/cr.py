"""Conflict resolution by policy and by the application, as Go's vsync does it
(plain objects; the initiator supplies store reads through small callables).

After a round's records are in the DAGs, every object the round touched has an
``ObjState``: its local head (``old``), the remote head (``new``), their common
ancestor, and whether the two heads conflict.  Then:

1. ``resolver_type`` picks each conflict's resolver from the database's schema:
   the CR rules match by collection and key prefix (the longest prefix of the
   rule's collection wins; no rule means LastWins; collection permissions always
   resolve LastWins).
2. ``group_conflicts`` closes the conflicts to be resolved by the application
   over their batches: a batch a conflicting version belongs to pulls in every
   object it wrote, and those objects' batches in turn (Go's rubber-banding).
   Objects pulled in that the round did not touch join with their local head
   only (``added_by_cr``).
3. Each group goes to the application as a stream of ``ConflictInfo``: the
   batches first (``Continued`` true), then one row per object, ``Continued``
   true on all but the last (``conflict_infos``).  The application answers with
   one ``ResolutionInfo`` per row, the last with ``Continued`` false.
4. ``decide`` turns the answers into per-object resolutions: keep the local
   version, take the remote one, or write a new version (the application's
   value, or the local value again where keeping it would make a cycle in the
   DAG).  With more than one object the resolution is itself a batch.
5. Conflicts left to the policy resolve last-writer-wins on the update time,
   ties to the larger version string (``last_writer``).

Keys sent to the application are ``<collection id part>\\xfe<row key>`` (the row's
store key without its ``r\\xfe`` prefix), as Go sends them.
"""
from __future__ import annotations

from typing import Callable, Dict, List, Optional

from v23py.records import Record
from syncbased.vsync._log import ROW, SEP, b, s

NO_VERSION = b""
NO_BATCH = 0

# resolution kinds
PICK_LOCAL = "local"
PICK_REMOTE = "remote"
CREATE_NEW = "new"

# wire enum labels (v.io/v23/services/syncbase)
LAST_WINS, APP_RESOLVES, DEFER = "LastWins", "AppResolves", "Defer"
SOURCE_LOCAL, SOURCE_REMOTE = "Local", "Remote"
SEL_LOCAL, SEL_REMOTE, SEL_OTHER = "Local", "Remote", "Other"
STATE_EXISTS, STATE_NO_EXISTS, STATE_DELETED, STATE_UNKNOWN = (
    "Exists", "NoExists", "Deleted", "Unknown")


class Resolution(Record):
    _fields = ("kind", "batch", "count", "value", "deleted", "parents")

    def __init__(self, kind: str, batch: int = NO_BATCH, count: int = 0,
                 value: Optional[bytes] = None, deleted: bool = False, parents: tuple = ()):
        self.kind = kind
        self.batch = batch
        self.count = count
        self.value = value                 # CREATE_NEW: the stored bytes (None: a delete)
        self.deleted = deleted
        self.parents = parents


class ObjState(Record):
    """One object of a round (Go's objConflictState)."""
    _fields = ("old", "new", "ancestor", "conflict", "added_by_cr", "res")

    def __init__(self, old: bytes = NO_VERSION, new: bytes = NO_VERSION,
                 ancestor: bytes = NO_VERSION, conflict: bool = False,
                 added_by_cr: bool = False, res: Optional[Resolution] = None):
        self.old = old                     # local head
        self.new = new                     # remote head (NO_VERSION: added by CR)
        self.ancestor = ancestor
        self.conflict = conflict
        self.added_by_cr = added_by_cr
        self.res = res


class Group(Record):
    """A closure of objects resolved together (Go's crGroup)."""
    _fields = ("batch_source", "batches_by_oid")

    def __init__(self, batch_source: Optional[Dict[int, str]] = None,
                 batches_by_oid: Optional[Dict[bytes, List[int]]] = None):
        self.batch_source = {} if batch_source is None else batch_source
        self.batches_by_oid = {} if batches_by_oid is None else batches_by_oid


# --- rules --------------------------------------------------------------------------------

def parse_row_oid(oid: bytes):
    """((collection blessing, name), row key) of a row's store key, or None."""
    if not oid.startswith(ROW):
        return None
    parts = oid.split(SEP, 2)
    if len(parts) < 3:
        return None
    ids = parts[1].split(b"\x00")
    if len(ids) != 3 or ids[2] != b"":
        return None
    return (ids[0].decode("utf-8", "replace"), ids[1].decode("utf-8", "replace")), \
        parts[2].decode("utf-8", "replace")


def _rule_parts(rule):
    cx = getattr(rule, "CollectionId", None)
    cid = (getattr(cx, "Blessing", "") or "", getattr(cx, "Name", "") or "") if cx else ("", "")
    resolver = getattr(rule, "Resolver", LAST_WINS)
    return cid, getattr(rule, "KeyPrefix", "") or "", getattr(resolver, "label", str(resolver))


def _applies(cx, row, rule) -> bool:
    cid, prefix, _ = _rule_parts(rule)
    if cid != ("", "") and cid != cx:
        return False
    if prefix and cid == ("", ""):
        return False                       # a key prefix needs a collection (Go ignores it)
    return row.startswith(prefix)


def _more_specific(rule, other) -> bool:
    if other is None:
        return True
    ocid, oprefix, _ = _rule_parts(other)
    if ocid == ("", ""):
        return True
    cid, prefix, _ = _rule_parts(rule)
    return cid == ocid and prefix.startswith(oprefix)


def resolver_type(oid: bytes, schema) -> str:
    """The resolver of a conflicting object under ``schema`` (a SchemaMetadata or None)."""
    parsed = parse_row_oid(oid)
    if parsed is None or schema is None:
        return LAST_WINS                   # collection permissions, or no schema
    cx, row = parsed
    chosen = None
    for rule in getattr(getattr(schema, "Policy", None), "Rules", None) or ():
        if _applies(cx, row, rule) and _more_specific(rule, chosen):
            chosen = rule
    return _rule_parts(chosen)[2] if chosen is not None else LAST_WINS


def needs_app(schema) -> bool:
    return any(_rule_parts(r)[2] == APP_RESOLVES
               for r in getattr(getattr(schema, "Policy", None), "Rules", None) or ())


# --- grouping -------------------------------------------------------------------------------

class Closure:
    """Go's groupConflicts over one round.  ``batch_of(oid, version)`` gives a version's
    batch id (NO_BATCH for none), ``batch_objects(batch)`` the {oid: version} a batch
    wrote (linked objects included), ``head(oid)`` an object's local head."""

    def __init__(self, upd: Dict[bytes, ObjState], batch_of: Callable, batch_objects: Callable,
                 head: Callable):
        self.upd = upd
        self.batch_of = batch_of
        self.batch_objects = batch_objects
        self.head = head

    def dirty(self, oid) -> bool:
        st = self.upd.get(oid)
        return st is not None and not st.added_by_cr

    def groups(self, oids) -> List[Group]:
        out, seen = [], set()
        for oid in sorted(oids):
            if oid in seen:
                continue
            g = Group()
            self._group_for(g, oid)
            out.append(g)
            seen.update(g.batches_by_oid)
        return out

    def _group_for(self, g: Group, oid: bytes):
        if not self.dirty(oid):
            # pulled in by a batch: join with the local head, its batches not followed
            if oid not in self.upd:
                self.upd[oid] = ObjState(old=self.head(oid) or NO_VERSION, added_by_cr=True)
            g.batches_by_oid.setdefault(oid, [])
            return
        st = self.upd[oid]
        # a local version that is an ancestor of the remote one is not part of the
        # conflict, so its batch stays out (the closure is the same on both peers)
        local = self.batch_of(oid, st.old) if st.conflict and st.old else NO_BATCH
        remote = self.batch_of(oid, st.new) if st.new else NO_BATCH
        if local == NO_BATCH and remote == NO_BATCH:
            g.batches_by_oid.setdefault(oid, [])
            return
        self._batch(g, local, SOURCE_LOCAL)
        self._batch(g, remote, SOURCE_REMOTE)

    def _batch(self, g: Group, bid: int, source: str):
        if bid == NO_BATCH or bid in g.batch_source:
            return
        objects = self.batch_objects(bid)
        g.batch_source[bid] = source           # before recursing: ends the recursion
        for o in sorted(objects):
            g.batches_by_oid.setdefault(o, []).append(bid)
        for o in sorted(objects):
            self._group_for(g, o)


# --- the stream to the application ---------------------------------------------------------

def app_key(oid: bytes) -> str:
    """The key the application sees: the store key without its ``r\\xfe``."""
    return s(oid.split(SEP, 1)[1])


def oid_of_app_key(key: str) -> bytes:
    return ROW + b(key)


class VersionValue(Record):
    """What the application is shown of one version."""
    _fields = ("state", "value", "write_ts")

    def __init__(self, state: str, value: object = None, write_ts: int = 0):
        self.state = state
        self.value = value                 # the decoded value (None when absent)
        self.write_ts = write_ts           # Unix ns (Go's zero time when absent)


def conflict_infos(g: Group, upd: Dict[bytes, ObjState], version_value: Callable,
                   wire) -> list:
    """Go's ConflictInfo stream for one group.  ``version_value(oid, version)`` gives a
    VersionValue of an existing version; ``wire`` builds the wire values
    (``wire.batch(id, source, continued)``, ``wire.row(key, local, remote, ancestor,
    batch_ids, continued)``)."""
    out = [wire.batch(bid, src, True) for bid, src in sorted(g.batch_source.items())]
    oids = sorted(g.batches_by_oid)
    for i, oid in enumerate(oids):
        st = upd[oid]

        def val(ver, ancestor=False):
            if not ver:
                return VersionValue(STATE_NO_EXISTS if ancestor else STATE_UNKNOWN)
            return version_value(oid, ver)
        out.append(wire.row(app_key(oid), val(st.old), val(st.new), val(st.ancestor, True),
                            list(g.batches_by_oid[oid]), i < len(oids) - 1))
    return out


# --- the application's answer ----------------------------------------------------------------

class BadResolution(Exception):
    pass


def creates_cycle(version: bytes, st: ObjState) -> bool:
    """Whether making ``version`` the head again would make a DAG cycle: the object
    was not in conflict and its remote head already descends from the local one."""
    if not st.conflict and st.new and st.old != st.new:
        return version == st.old
    return False


def new_version_parents(oid: bytes, st: ObjState, dirty: bool) -> tuple:
    if st.conflict:
        return (st.old, st.new)
    if dirty:
        return (st.new,)
    return (st.old,)


def decide(g: Group, results: Dict[bytes, object], upd: Dict[bytes, ObjState], new_batch,
           stored_value, is_deleted, encode_value) -> None:
    """Go's processResInfos: set ``upd[oid].res`` for every object of the group from the
    application's ResolutionInfos (``results``, keyed by oid).

    ``new_batch(count)`` allots a batch id for a resolution of several objects;
    ``stored_value(oid, version)`` reads a version's stored bytes; ``is_deleted(oid,
    version)`` tells a delete node; ``encode_value(any)`` stores a value the
    application gave."""
    missing = [o for o in g.batches_by_oid if o not in results]
    if missing:
        raise BadResolution(f"resolution for oid {app_key(missing[0])!r} expected but not "
                            "received")
    count = len(results)
    bid = new_batch(count) if count >= 2 else NO_BATCH
    for oid, info in results.items():
        st = upd.get(oid)
        if st is None:
            raise BadResolution(f"resolution for an object not in conflict: {app_key(oid)!r}")
        sel = getattr(getattr(info, "Selection", None), "label", str(getattr(info, "Selection", "")))
        res = Resolution(PICK_LOCAL, batch=bid, count=count)
        if sel == SEL_LOCAL:
            if creates_cycle(st.old, st):
                deleted = is_deleted(oid, st.old)
                res = Resolution(CREATE_NEW, bid, count,
                                 None if deleted else stored_value(oid, st.old), deleted,
                                 (st.new,))
        elif sel == SEL_REMOTE:
            if st.new and st.old != st.new and not st.added_by_cr:
                res = Resolution(PICK_REMOTE, bid, count)
        elif sel == SEL_OTHER:
            result = getattr(info, "Result", None)
            value = getattr(result, "Bytes", None) if result is not None else None
            # a nil Result (Go's client sends it for a delete) or nil Bytes: a delete
            deleted = value is None
            dirty = oid in upd and not st.added_by_cr
            res = Resolution(CREATE_NEW, bid, count, None if deleted else encode_value(value),
                             deleted, new_version_parents(oid, st, dirty))
        else:
            raise BadResolution(f"unknown selection {sel!r}")
        st.res = res


# --- the policy ----------------------------------------------------------------------------

def last_writer(local_time: int, local_version: bytes, remote_time: int,
                remote_version: bytes) -> str:
    """Go's LastWins: the later update, ties to the larger version string."""
    if local_time != remote_time:
        return PICK_LOCAL if local_time > remote_time else PICK_REMOTE
    return PICK_LOCAL if local_version > remote_version else PICK_REMOTE
