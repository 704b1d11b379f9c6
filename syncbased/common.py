"""What the daemon's modules share: the store's key layout and metadata encodings,
batch handles, and the conversions every served object uses (caller names, permissions,
ids, values and times between their wire and stored forms), the peer authorizer.

Nothing here holds state of the daemon (the caller-names cache aside).
"""
from __future__ import annotations

import functools
import hashlib
import json
import re
import time as _time

from twisted.internet import defer

from v23py import security, verror, vom, vdl
from v23py.gostrings import KEEP_BYTES, UTF8
from v23py.v23.security import access as accesswire
from v23py.v23.services import syncbase as sbwire
from v23py.syncbase.util import Id, prefix_range_limit
from v23py.v23.vdlroot.time import native as vtime
from syncbased import access
from syncbased.access import READ
from syncbased.store import SEP

SCAN_BATCH = 1000    # rows per store-thread read of a Scan
FALLBACK = object()   # "answer this on the store thread instead"

ID_SEP = b"\x00"


# --- key helpers -----------------------------------------------------------

def id_key_part(id_) -> bytes:
    return id_.Blessing.encode() + ID_SEP + id_.Name.encode() + ID_SEP


def parse_id_key_part(part: bytes) -> Id:
    pieces = part.split(ID_SEP, 2)
    if len(pieces) < 3 or pieces[2] != b"":
        raise ValueError(f"invalid id key part {part!r}")
    return Id(pieces[0].decode(), pieces[1].decode())


# (remembered: every Put and Get of a row needs both for its collection, and an Id is a
# hashable tuple of two strs, so a hit costs less than the encoding and concatenations)
@functools.lru_cache(maxsize=1024)
def collection_perms_key(cx_id) -> bytes:
    return b"c" + SEP + id_key_part(cx_id) + SEP


@functools.lru_cache(maxsize=1024)
def row_prefix(cx_id) -> bytes:
    return b"r" + SEP + id_key_part(cx_id) + SEP


def row_key(cx_id, key: str) -> bytes:
    return row_prefix(cx_id) + key.encode()


def scan_range_args(prefix: bytes, start: bytes, limit: bytes):
    """Go's ScanRangeArgs: ``[prefix+start, prefix+limit)``, empty limit = to the prefix end."""
    full_start = prefix + start
    full_limit = prefix + limit
    if limit == b"":
        full_limit = prefix_range_limit(full_limit)
    return full_start, full_limit


def dir_name(s: str) -> str:
    safe = re.sub(r"[^-a-zA-Z0-9_]", "_", s)[:32]
    return safe + "-" + hashlib.sha256(s.encode()).hexdigest()


def _dumps(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def _perms_obj(perms):
    return json.loads(access.to_json(perms))


def _load_perms(obj):
    return access.from_any(obj) if obj is not None else None


def encode_collection_perms(perms) -> bytes:
    return access.to_json(perms).encode()


@functools.lru_cache(maxsize=1024)
def decode_collection_perms(data: bytes):
    """Parsed permissions (cached by stored bytes; callers must not mutate the result)."""
    return access.from_json(data)


@functools.lru_cache(maxsize=256)
def _db_perms_from_raw(raw: bytes):
    return _load_perms(json.loads(raw)["Perms"])


def format_version(v: int) -> str:
    return str(v)


def check_version(presented: str, actual: int) -> None:
    if presented and presented != format_version(actual):
        raise verror.BadVersion.new("version is out of date")


def split_batch_handle(bh: str):
    if len(bh) != 17:
        raise verror.BadArg.new(f"invalid batch handle {bh!r}: invalid length")
    kind = bh[0]
    if kind not in "st":
        raise verror.BadArg.new(f"invalid batch handle {bh!r}: invalid batch type")
    try:
        bid = int(bh[1:], 16)
    except ValueError:
        raise verror.BadArg.new(f"invalid batch handle {bh!r}") from None
    if bid >= 1 << 64 or not all(c in "0123456789abcdefABCDEF" for c in bh[1:]):
        raise verror.BadArg.new(f"invalid batch handle {bh!r}")
    return kind, bid


def join_batch_handle(kind: str, bid: int) -> str:
    return "%s%016x" % (kind, bid)


def _error_to_exists(fn) -> bool:
    try:
        fn()
        return True
    except verror.VError as e:
        if e.id == verror.NoExist.id:
            return False
        raise


# Permission checks that passed: key -> the service permissions object they passed under.
# A key holds everything a check's outcome depends on besides those (the caller's names,
# the tags, the stored bytes of the permissions involved), see checked_perms_remembered.
_AUTH_OK = {}
_AUTH_OK_MAX = 4096


class PermsHolder:
    """What a Database and a Collection share: permissions behind an existence check.
    A subclass gives ``name`` and ``exist_auth(names, reader)``, which finds the parent's
    permissions and its own (None: it does not exist) and returns ``existing(...)``."""

    __slots__ = ()
    name: str

    def exist_auth(self, names, reader):   # pragma: no cover - every subclass has its own
        raise NotImplementedError

    def existing(self, parent, perms, names):
        """``(parent, perms)`` once the existence check passed: when ``perms`` is None
        (it does not exist) NoExist, else nothing; either fuzzified (Go's
        fuzzifyErrorForExists: NoExistOrNoAccess unless ``names`` may know)."""
        if perms is None:
            err = verror.NoExist.new(f"{self.name} does not exist", self.name)
            raise access.fuzzify(self.name, parent, None, err, names)
        err = access.fuzzify(self.name, parent, perms, None, names)
        if err is not None:
            raise err
        return parent, perms

    def perms_with_exist_and_parent_resolve(self, names, reader):
        """Its permissions, once ``names`` passed its existence check and Resolve on
        its parent."""
        parent, perms = self.exist_auth(names, reader)
        access.authorize(parent, (access.RESOLVE,), names)
        return perms


def checked_perms(holder, names, tags, reader):
    """``holder``'s permissions (a Database's or a Collection's), once ``names`` passed
    its existence check, Resolve on its parents and ``tags`` on it."""
    perms = holder.perms_with_exist_and_parent_resolve(names, reader)
    access.authorize(perms, tags, names)
    return perms


def checked_perms_remembered(holder, names, tags, reader, key, service, stored, decode):
    """checked_perms, skipped when the checks ``key`` stands for passed before under the
    very service permissions ``reader`` uses (they would pass again): then
    ``decode(stored)``, the holder's stored permissions."""
    sp = reader_service_perms(reader, service)
    if _AUTH_OK.get(key) is sp:
        return decode(stored)
    perms = checked_perms(holder, names, tags, reader)
    if len(_AUTH_OK) >= _AUTH_OK_MAX:
        _AUTH_OK.clear()
    _AUTH_OK[key] = sp
    return perms


def reader_service_perms(reader, service):
    """The service permissions checks through ``reader`` use: a PointRead's own (those
    as of the last flush), else the service's current ones."""
    return reader.service_perms if reader.__class__ is PointRead else service.perms


class PointRead:
    """A reader over a few keys read at one point in time through a read view.

    Offers the reader interface the permission checks use (``raw_get``,
    ``get``), for exactly the keys that were read; ``service_perms`` are the
    service permissions as of the last flush, so nothing it answers depends on
    writes that are not yet durable."""

    __slots__ = ("_raw", "_managed", "service_perms")

    def __init__(self, raw: dict, managed: dict, service_perms):
        self._raw = raw
        self._managed = managed
        self.service_perms = service_perms

    def raw_get(self, key: bytes):
        return self._raw[key]

    def get(self, key: bytes):
        return self._managed[key]


# --- callers -----------------------------------------------------------------

def caller_names(call) -> list:
    """The caller's validated blessing names (Go's RemoteBlessingNames).

    Validating the peer's blessings (recognized roots, caveats) costs more than
    the rest of a point read, and a connection presents the same blessings on
    every call: so the names are cached by the blessings' content (their unique
    id), the local roots, and a deadline (see ``_names_validity``).  Every call
    is still authorized against the current permissions with these names."""
    key = _names_key(call)
    if key is not None:
        hit = _NAMES_CACHE.get(key[0])
        if hit is not None and hit[1] is key[1] and hit[2] == key[2] and \
                _time.time() < hit[3]:
            return hit[0]
    sc = getattr(call, "security", None)
    if sc is None:
        return []
    try:
        names, _ = security.remote_blessing_names(sc)
    except Exception:
        return []
    names = list(names)
    if key is not None:
        until = _names_validity(sc.remote_blessings)
        if until is not None:
            if len(_NAMES_CACHE) >= 1024:
                _NAMES_CACHE.clear()
            _NAMES_CACHE[key[0]] = (names, key[1], key[2], until)
    return names


_NAMES_CACHE = {}       # blessings unique id -> (names, roots state, roots size, valid until)
_NAMES_TTL = 60.0       # seconds; bounds how long anything else could go unnoticed


def _names_key(call):
    """(remote blessings' unique id, roots state object, roots size), or None."""
    flow = getattr(call, "flow", None)
    server = getattr(call, "server", None)
    if flow is None or server is None:
        return None
    remote = getattr(flow, "remote_blessings", None)
    if remote is None:
        remote = getattr(getattr(flow, "conn", None), "remote_blessings", None)
    uid = getattr(remote, "unique_id", None)
    roots = getattr(getattr(server, "principal", None), "roots", None)
    state = getattr(roots, "_state", None)
    if not uid or type(state) is not dict:
        return None
    # Roots are only ever added to (a new pattern or key) or replaced by a reload
    # (a new dict): the state object and its size change with either.
    return uid, state, sum(len(p) for p in state.values()) + len(state)


def _names_validity(blessings):
    """Until when (time.time()) validated names stay valid, or None: not cacheable.

    Only blessings whose caveats are all expiry or constant caveats qualify
    (their validity depends on the clock alone); with any other caveat
    (method, peer, third-party, ...) the names are validated on every call."""
    until = _time.time() + _NAMES_TTL
    expiry_id, const_id = bytes(security.ExpiryCaveat.Id), bytes(security.ConstCaveat.Id)
    for chain in getattr(blessings, "chains", ()):
        for cert in chain:
            for cav in cert.Caveats:
                cid = bytes(cav.Id)
                if cid == const_id:
                    continue
                if cid != expiry_id:
                    return None
                t = cav.expiry()
                if t is None:
                    return None
                until = min(until, t.timestamp())
    return until


# Every served object allows every caller at the RPC layer (access is decided in each
# method). The runtime's own allow-everyone authorizer, which the server recognizes: it then
# builds a call's security.Call only if the method asks for it (caller_names' cache
# answers most calls without one).
ALLOW = security.allow_everyone()


# --- conversions between wire values and service-layer values ---------------

def perms_in(p):
    return access.from_any(p) if p is not None else None


def perms_out(perms):
    acl_cls = vdl.class_for(accesswire.AccessList._vdl_type)
    perms_cls = vdl.class_for(accesswire.Permissions._vdl_type)
    return perms_cls({t: acl_cls(In=list(a.In), NotIn=list(a.NotIn))
                      for t, a in (perms or {}).items()})


def id_out(i):
    return sbwire.Id(Blessing=i.Blessing, Name=i.Name)


def value_in(value) -> bytes:
    """Bytes to store for a Put value (the single-shot VOM encoding)."""
    if value.__class__ is str:
        # the common value: version, string's type id, length, UTF-8 (vom.encode's bytes)
        b = value.encode(UTF8, KEEP_BYTES)     # (as vom's string encoder)
        n = len(b)
        return (_STR_HEADS[n] if n < 0x80 else _STR_HEAD + vom.uint_bytes(n)) + b
    t = vdl.type_of(value)
    if t in _NO_TYPE_MESSAGES:
        # a bootstrap type: no type messages, so a shared type encoder never
        # leaves any out; the same bytes as vom.encode, without its set-up
        if type(value) is vdl.Typed:
            value = value.value
        return _VERSION + bytes(vom.encode_value_message(_BOOT_TE, t, value))
    return vom.encode(value)


_BOOT_TE = vom.TypeEncoder()
_STR_HEAD = vom.encode("")[:2]      # version 0x81, then string's bootstrap type id
_STR_HEADS = [_STR_HEAD + vom.uint_bytes(n) for n in range(0x80)]   # (by length, made once)
_STR_HEAD_LEN = len(_STR_HEADS[0])          # (the same for every length below 0x80)
_VERSION = bytes([vom.VERSION_81])
_NO_TYPE_MESSAGES = frozenset(t for t in vom.BOOTSTRAP_IDS
                              if t.kind not in (vdl.Kind.ANY, vdl.Kind.TYPEOBJECT))


def value_out(data: bytes):
    """The value of stored Put bytes (the inverse of value_in)."""
    n = len(data) - _STR_HEAD_LEN
    if 0 <= n < 0x80 and data[:_STR_HEAD_LEN] == _STR_HEADS[n]:
        # value_in's short-string form (header from the same table): the str vom.decode
        # reads from these bytes, in one step (a synced row's value, a Get's)
        return str(data[_STR_HEAD_LEN:], UTF8, KEEP_BYTES)
    return vom.decode(data)


def schema_in(md):
    if isinstance(md, vdl.Typed):
        md = md.value
    if md is None:
        return None
    rules = []
    for r in md.Policy.Rules or ():
        rules.append({"CollectionId": [r.CollectionId.Blessing, r.CollectionId.Name],
                      "KeyPrefix": r.KeyPrefix, "Type": r.Type,
                      "Resolver": getattr(r.Resolver, "label", str(r.Resolver))})
    return {"Version": int(md.Version), "Policy": {"Rules": rules}}


def schema_out(obj):
    rt = vdl.class_for(sbwire.ResolverType._vdl_type)
    rules = [sbwire.CrRule(CollectionId=id_out(Id(*r["CollectionId"])), KeyPrefix=r["KeyPrefix"],
                       Type=r["Type"], Resolver=rt(r["Resolver"]))
             for r in obj["Policy"]["Rules"]]
    return sbwire.SchemaMetadata(Version=obj["Version"],
                     Policy=sbwire.CrPolicy(Rules=rules))


async def send(call, item):
    """call.send(item), waiting when the flow pushes back."""
    r = call.send(item)
    if isinstance(r, defer.Deferred):
        await r


def not_implemented(what):
    raise verror.NotImplemented.new(f"{what} is not implemented")



# --- times -------------------------------------------------------------------

def now_time(ns=None):
    """A VDL time.Time for ``ns`` nanoseconds since the Unix epoch (default: now)."""
    return vtime.time_from_unix_ns(_time.time_ns() if ns is None else ns)


def time_ns(t) -> int:
    return (int(t.Seconds) - vtime.UNIX_EPOCH_SECONDS) * 10**9 + int(t.Nanos)


# --- peers -------------------------------------------------------------------

class PeerAuthorizer:
    """Client-side check of a sync peer: its blessings must Read one of our syncgroups.
    ``names`` keeps the names it presented, which decide the syncgroups whose records we
    take from it (Go's filterSyncgroups)."""

    def __init__(self, perms_list):
        self.perms_list = perms_list
        self.names = None

    def authorize(self, call):
        names, _ = security.remote_blessing_names(call)
        if not any(access.allowed(p, (READ,), names) for p in self.perms_list):
            raise verror.NoAccess.new(f"sync peer {names} may not read any shared syncgroup")
        self.names = list(names)
