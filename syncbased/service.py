"""Syncbase semantics: Service, Database, Collection and Row, without any I/O framework.

Every public method takes ``names`` — the caller's validated blessing names —
first, runs synchronously on the store thread, and raises
``v23py.verror.VError`` with Go's ids.  The RPC layer (``syncbased.server``)
only converts wire values and moves calls onto the store thread.

Key layout (Go's, see ``store.core``):

service store (``<root>/<engine>/``)
    ``s``                          ServiceData ``{Version, Perms}``
    ``i\\xfe<blessing>\\x00<name>\\x00`` DbInfo ``{Id, RootDir, Engine}``
per-database store (``<root>/apps/<dir(blessing)>/dbs/<dir(name)>-<hex>/<engine>/``)
    ``d``                          DatabaseData ``{Id, Version, Perms, SchemaMetadata}``
    ``c\\xfe<cxIdKey>\\xfe``          collection permissions (managed, versioned)
    ``r\\xfe<cxIdKey>\\xfe<rowKey>``  row value: the VOM bytes the client sent (managed)
    ``v\\xfe<managed key>``          current version, ``<managed key>\\xfe<version>`` values
    ``l\\xfe%016x``                  watch log

Metadata values are stored as JSON (private to this daemon; permissions use
Go's JSON form).
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import random
import re
import shutil

from v23py import verror
from v23py.syncbase import _wire
from v23py.syncbase.util import Id, encode_id, prefix_range_limit, validate_id
from syncbased import access
from syncbased.access import ADMIN, READ, WRITE, RESOLVE
from syncbased.store import Store, open_engine, SEP, DbStateChangeRequestOp

ID_SEP = b"\x00"
MAX_OPEN_BATCHES = 4096


# --- key helpers -----------------------------------------------------------

def id_key_part(id_) -> bytes:
    return id_.Blessing.encode() + ID_SEP + id_.Name.encode() + ID_SEP


def parse_id_key_part(part: bytes) -> Id:
    pieces = part.split(ID_SEP, 2)
    if len(pieces) < 3 or pieces[2] != b"":
        raise ValueError(f"invalid id key part {part!r}")
    return Id(pieces[0].decode(), pieces[1].decode())


def collection_perms_key(cx_id) -> bytes:
    return b"c" + SEP + id_key_part(cx_id) + SEP


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


FALLBACK = object()   # "answer this on the store thread instead"


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


class TxState:
    """A transaction plus the per-collection permission bookkeeping Commit validates."""

    def __init__(self, tx):
        self.tx = tx
        self.changes = {}   # cx Id -> [data_changed, perms_changed, initial, final]

    def _state(self, cx_id):
        return self.changes.setdefault(cx_id, [False, False, None, None])

    def mark_data_changed(self, cx_id, perms):
        s = self._state(cx_id)
        s[0] = True
        if s[2] is None:
            s[2] = perms
        s[3] = perms

    def mark_perms_changed(self, cx_id, before, after):
        s = self._state(cx_id)
        s[1] = True
        if s[2] is None:
            s[2] = before
        s[3] = after

    def reset(self, cx_id):
        self.changes.pop(cx_id, None)

    def permission_changes_valid(self, names) -> bool:
        for data_changed, perms_changed, initial, final in self.changes.values():
            if data_changed and not (access.allowed(initial, (WRITE,), names)
                                     or access.allowed(final, (WRITE,), names)):
                return False
            if perms_changed and not access.allowed(initial, (ADMIN,), names):
                return False
        return True


# --- Service ---------------------------------------------------------------

class Service:
    """The daemon's state: the service store and every open database."""

    def __init__(self, root_dir: str, engine: str = "sqlite", perms=None,
                 default_patterns=(), initial_db: Id | None = None, dev: bool = False,
                 log=None):
        self.root_dir = root_dir
        self.engine = engine or "sqlite"
        self.dev = dev
        self._log = log or (lambda msg: None)
        os.makedirs(root_dir, exist_ok=True)
        self.st = Store(open_engine(self.engine, os.path.join(root_dir, self.engine)))
        # the virtual clock (service key "q", as Go's): every commit timestamp comes from it
        from syncbased.vclock import VClock
        self.vclock = VClock(lambda: self.st.get(b"q"),
                             lambda raw: self.st.run_in_transaction(
                                 lambda tx: tx.raw_put(b"q", raw)))
        self.dbs: dict[Id, Database] = {}
        self.commit_listeners = []   # fn(db_id) after a database commit that logged ops
        self.db_open_hooks = []      # fn(Database) when a database store opens
        raw = self.st.get(b"s")
        new_service = raw is None
        if raw is not None:
            data = json.loads(raw)
            self.version = data["Version"]
            self.perms = _load_perms(data["Perms"])
            if perms is not None and access.normalize(perms) != access.normalize(self.perms):
                self._log("configured permissions ignored: persisted permissions win")
            self._open_databases()
        else:
            if perms is None:
                perms = access.default_perms(default_patterns)
            access.validate_perms(perms, access.ALL_TYPICAL_TAGS)
            self.version = 0
            self.perms = perms
            self.st.run_in_transaction(lambda tx: tx.raw_put(b"s", self._service_data()))
            self.flush()
        # the service permissions as of the last flush (what reads outside the
        # store thread check against: see PointRead)
        self.durable_perms = self.perms
        self.open_acl = access.perms_add({}, "...", *access.ALL_TYPICAL_TAGS)
        if new_service and initial_db is not None:
            validate_id(initial_db)
            db_perms = access.filter_tags(self.perms, *access.ALL_DATABASE_TAGS)
            access.perms_add(db_perms, initial_db.Blessing, READ, WRITE, RESOLVE)
            self._create_database(None, initial_db, db_perms, None)
            self.flush()

    def _service_data(self) -> bytes:
        return _dumps({"Version": self.version, "Perms": _perms_obj(self.perms)})

    def _open_databases(self):
        live = set()
        for k, v in self.st.snapshot().raw_scan_all(b"i" + SEP, b"i" + b"\xff"):
            info = json.loads(v)
            db_id = Id(*info["Id"])
            path = os.path.join(self.root_dir, info["RootDir"])
            live.add(os.path.normpath(path))
            st = Store(open_engine(info["Engine"], os.path.join(path, info["Engine"])),
                       clock=self.vclock.now)
            self.dbs[db_id] = Database(self, db_id, st, info["RootDir"])
        # Remove directories of databases whose creation or destruction did not finish.
        apps = os.path.join(self.root_dir, "apps")
        if os.path.isdir(apps):
            for app in os.listdir(apps):
                dbs_dir = os.path.join(apps, app, "dbs")
                for d in (os.listdir(dbs_dir) if os.path.isdir(dbs_dir) else ()):
                    p = os.path.normpath(os.path.join(dbs_dir, d))
                    if p not in live:
                        shutil.rmtree(p, ignore_errors=True)

    # durability: called by the worker after each group of calls
    def stores(self):
        return [d.st for d in self.dbs.values() if d.st is not None] + [self.st]

    def flush(self):
        """Flush every store (databases first, the service store last)."""
        for st in self.stores():
            st.flush()
        self.durable_perms = self.perms

    def rollback(self):
        for st in self.stores():
            st.rollback()
        raw = self.st.get(b"s")
        if raw is not None:
            data = json.loads(raw)
            self.version, self.perms = data["Version"], _load_perms(data["Perms"])

    def close(self):
        for d in list(self.dbs.values()):
            d.close()
        self.st.close()

    # permser chain: the service's parent is an open ACL
    def exist_auth(self, names):
        return self.open_acl, self.perms

    def perms_with_auth(self, names, tags):
        access.authorize(self.perms, tags, names)
        return self.perms

    # RPC methods
    def get_permissions(self, names):
        self.perms_with_auth(names, (ADMIN,))
        return access.copy_perms(self.perms), format_version(self.version)

    def set_permissions(self, names, perms, version: str):
        access.validate_perms(perms, access.ALL_TYPICAL_TAGS)
        self.perms_with_auth(names, (ADMIN,))
        check_version(version, self.version)
        old = (self.version, self.perms)
        self.version, self.perms = self.version + 1, access.copy_perms(perms)
        try:
            self.st.run_in_transaction(lambda tx: tx.raw_put(b"s", self._service_data()))
        except BaseException:
            self.version, self.perms = old
            raise

    def glob_children(self, names):
        """Encoded database ids, sorted by (blessing, name)."""
        self.perms_with_auth(names, (READ,))
        return [encode_id(i) for i in sorted(self.dbs)]

    def list_databases(self, names):
        self.perms_with_auth(names, (READ,))
        return sorted(self.dbs)

    def database(self, db_id: Id) -> "Database":
        d = self.dbs.get(db_id)
        if d is None:
            d = Database(self, db_id, None, None)
        return d

    def dev_mode_check(self, names):
        # Go's order: NotInDevMode before any permission check
        if not self.dev:
            raise _wire.NotInDevMode.new("not running with --dev=true")
        self.perms_with_auth(names, (ADMIN,))

    def _create_database(self, names, db_id: Id, perms, metadata):
        access.validate_perms(perms, access.ALL_DATABASE_TAGS)
        if names is not None:
            self.perms_with_auth(names, (WRITE,))
            if not access.allowed(self.perms, (ADMIN,), names):
                access.check_implicit_perms(db_id, access.ALL_DATABASE_TAGS, names)
        if db_id in self.dbs:
            raise verror.Exist.new(f"database {db_id} already exists", str(db_id))
        rel = os.path.join("apps", dir_name(db_id.Blessing), "dbs",
                           dir_name(db_id.Name) + "-" + "%032x" % random.getrandbits(128))
        path = os.path.join(self.root_dir, rel)
        st = None
        try:
            st = Store(open_engine(self.engine, os.path.join(path, self.engine)),
                       clock=self.vclock.now)
            d = Database(self, db_id, st, rel)
            data = {"Id": list(db_id), "Version": 0, "Perms": _perms_obj(perms),
                    "SchemaMetadata": metadata}
            st.run_in_transaction(lambda tx: tx.raw_put(b"d", _dumps(data)))
            info = _dumps({"Id": list(db_id), "RootDir": rel, "Engine": self.engine})
            self.st.run_in_transaction(
                lambda tx: tx.raw_put(b"i" + SEP + id_key_part(db_id), info))
        except BaseException:
            if st is not None:
                st.close()
            shutil.rmtree(path, ignore_errors=True)
            raise
        self.dbs[db_id] = d
        return d

    def destroy_database(self, names, db_id: Id):
        d = self.dbs.get(db_id)
        if access.allowed(self.perms, (ADMIN,), names):
            if d is None:
                return
        else:
            if d is None:
                try:
                    Database(self, db_id, None, None).fuzzy_no_exist(names)
                except verror.VError as e:
                    if e.id == verror.NoExist.id:
                        return
                    raise
                return
            sn = d.st.snapshot()
            try:
                d.perms_with_auth(names, (ADMIN,), sn)
            except verror.VError as e:
                if e.id == verror.NoExist.id:
                    return
                raise
            finally:
                sn.abort()
        self.st.run_in_transaction(lambda tx: tx.raw_delete(b"i" + SEP + id_key_part(db_id)))
        del self.dbs[db_id]
        d.destroyed()


# --- Database --------------------------------------------------------------

class Database:
    def __init__(self, service: Service, db_id: Id, st: Store | None, rel_dir):
        self.s = service
        self.id = db_id
        self.st = st
        if st is not None:
            st.add_listener(self._committed)
            for hook in list(service.db_open_hooks):
                hook(self)
        self.rel_dir = rel_dir
        self.exists = st is not None
        self.sns = {}
        self.txs = {}

    @property
    def name(self):
        return str(self.id)

    def _committed(self, store, first, end):
        for fn in list(self.s.commit_listeners):
            fn(self.id)

    def close(self):
        for sn in self.sns.values():
            sn.abort()
        for ts in self.txs.values():
            ts.tx.abort()
        self.sns.clear()
        self.txs.clear()
        if self.st is not None:
            self.st.close()

    def destroyed(self):
        self.close()
        self.exists = False
        self.st = None
        if self.rel_dir:
            shutil.rmtree(os.path.join(self.s.root_dir, self.rel_dir), ignore_errors=True)

    # permser chain
    def _data(self, reader):
        raw = reader.raw_get(b"d") if reader is not None else None
        return json.loads(raw) if raw is not None else None

    def exist_auth(self, names, reader):
        """(parent perms, own perms) or raise the (fuzzified) existence error."""
        parent = reader.service_perms if reader.__class__ is PointRead else self.s.perms
        raw = reader.raw_get(b"d") if self.exists and reader is not None else None
        if raw is None:
            err = verror.NoExist.new(f"{self.name} does not exist", self.name)
            raise access.fuzzify(self.name, parent, None, err, names)
        perms = _db_perms_from_raw(raw)
        err = access.fuzzify(self.name, parent, perms, None, names)
        if err is not None:
            raise err
        return parent, perms

    def perms_with_exist_and_parent_resolve(self, names, reader):
        parent, perms = self.exist_auth(names, reader)
        access.authorize(parent, (RESOLVE,), names)
        return perms

    def perms_with_auth(self, names, tags, reader):
        perms = self.perms_with_exist_and_parent_resolve(names, reader)
        access.authorize(perms, tags, names)
        return perms

    def fuzzy_no_exist(self, names):
        self.exist_auth(names, None)

    # batches
    def _lookup(self, names, bh):
        kind, bid = split_batch_handle(bh)
        if not self.exists:
            self.fuzzy_no_exist(names)
        found = self.sns.get(bid) if kind == "s" else self.txs.get(bid)
        if found is None:
            sn = self.st.snapshot()
            try:
                self.exist_auth(names, sn)
            finally:
                sn.abort()
            raise _wire.UnknownBatch.new("unknown batch, perhaps the server restarted")
        return kind, bid, found

    def batch_reader(self, names, bh):
        kind, _, found = self._lookup(names, bh)
        return found if kind == "s" else found.tx

    def batch_transaction(self, names, bh) -> TxState:
        kind, _, found = self._lookup(names, bh)
        if kind == "s":
            raise _wire.ReadOnlyBatch.new("batch is read-only")
        return found

    def run_read(self, names, bh, fn):
        """fn(reader) in the batch, or in a fresh snapshot."""
        if bh:
            return fn(self.batch_reader(names, bh))
        if not self.exists:
            self.fuzzy_no_exist(names)
        sn = self.st.snapshot()
        try:
            return fn(sn)
        finally:
            sn.abort()

    def run_write(self, names, bh, fn):
        """fn(TxState) in the batch, or in a fresh transaction committed with retries."""
        if bh:
            return fn(self.batch_transaction(names, bh))
        if not self.exists:
            self.fuzzy_no_exist(names)
        return self.st.run_in_transaction(lambda tx: fn(TxState(tx)))

    # RPC methods
    def create(self, names, metadata, perms):
        self.s._create_database(names, self.id, perms, metadata)

    def destroy(self, names):
        self.s.destroy_database(names, self.id)

    def exists_(self, names) -> bool:
        return _error_to_exists(lambda: self.run_read(
            names, "", lambda sn: self.exist_auth(names, sn)))

    def list_collections(self, names, bh):
        def impl(reader):
            self.perms_with_auth(names, (READ,), reader)
            out = []
            for k, _ in _scan_all(reader, b"c" + SEP, b"c" + b"\xff"):
                out.append(parse_id_key_part(k[2:-1]))
            return out
        return self.run_read(names, bh, impl)

    def glob_children(self, names):
        return [encode_id(i) for i in self.list_collections(names, "")]

    def begin_batch(self, names, read_only: bool) -> str:
        if not self.exists:
            self.fuzzy_no_exist(names)
        sn = self.st.snapshot()
        try:
            self.perms_with_auth(names, access.ALL_DATABASE_TAGS, sn)
        finally:
            sn.abort()
        if len(self.sns) + len(self.txs) >= MAX_OPEN_BATCHES:
            raise verror.BadState.new(f"too many open batches ({MAX_OPEN_BATCHES})")
        while True:
            bid = random.getrandbits(63)
            if read_only and bid not in self.sns:
                self.sns[bid] = self.st.snapshot()
                return join_batch_handle("s", bid)
            if not read_only and bid not in self.txs:
                self.txs[bid] = TxState(self.st.transaction())
                return join_batch_handle("t", bid)

    def _db_auth_any(self, names):
        sn = self.st.snapshot()
        try:
            self.perms_with_auth(names, access.ALL_DATABASE_TAGS, sn)
        finally:
            sn.abort()

    def commit(self, names, bh):
        if not bh:
            raise _wire.NotBoundToBatch.new("not bound to batch")
        if not self.exists:
            self.fuzzy_no_exist(names)
        kind, bid, found = self._lookup(names, bh)
        self._db_auth_any(names)
        if kind == "s":
            raise _wire.ReadOnlyBatch.new("batch is read-only")
        if not found.permission_changes_valid(names):
            raise _wire.InvalidPermissionsChange.new(
                "the sequence of permission changes is invalid")
        try:
            found.tx.commit()
        except verror.VError as e:
            if found.tx.done:
                self.txs.pop(bid, None)
            if e.id == _wire.ConcurrentTransaction.id:
                raise _wire.ConcurrentBatch.new("concurrent batch") from None
            raise
        self.txs.pop(bid, None)

    def abort(self, names, bh):
        if not bh:
            raise _wire.NotBoundToBatch.new("not bound to batch")
        if not self.exists:
            self.fuzzy_no_exist(names)
        kind, bid, found = self._lookup(names, bh)
        self._db_auth_any(names)
        if kind == "s":
            self.sns.pop(bid, None)
            found.abort()
        else:
            self.txs.pop(bid, None)
            found.tx.abort()

    def get_permissions(self, names):
        if not self.exists:
            self.fuzzy_no_exist(names)
        sn = self.st.snapshot()
        try:
            self.perms_with_auth(names, (ADMIN,), sn)
            data = self._data(sn)
        finally:
            sn.abort()
        return _load_perms(data["Perms"]), format_version(data["Version"])

    def set_permissions(self, names, perms, version):
        if not self.exists:
            self.fuzzy_no_exist(names)
        access.validate_perms(perms, access.ALL_DATABASE_TAGS)

        def impl(tx):
            self.perms_with_auth(names, (ADMIN,), tx)
            data = self._data(tx)
            check_version(version, data["Version"])
            data["Perms"] = _perms_obj(perms)
            data["Version"] += 1
            tx.raw_put(b"d", _dumps(data))
        self.st.run_in_transaction(impl)

    def get_schema_metadata(self, names):
        def impl(reader):
            self.perms_with_auth(names, (READ,), reader)
            md = self._data(reader).get("SchemaMetadata")
            if md is None:
                raise verror.NoExist.new("schema metadata does not exist")
            return md
        return self.run_read(names, "", impl)

    def check_tags(self, names, tags):
        """Go's CheckExists then GetPermsWithAuth: the database exists (a fuzzified error
        otherwise), Resolve on the service and one of ``tags`` on it; its permissions."""
        if not self.exists:
            self.fuzzy_no_exist(names)
        return self.run_read(names, "", lambda r: self.perms_with_auth(names, tags, r))

    def check_admin(self, names):
        self.check_tags(names, (ADMIN,))

    def sg_exist_auth(self, names, sg_id, sg_perms):
        """Go's syncgroupAuth.GetDataWithExistAuth and the parent-Resolve check: the
        database's permissions once names may know whether the syncgroup exists
        (``sg_perms`` None: it does not -- NoExist, or NoExistOrNoAccess when names may
        not know) and have Resolve on the database."""
        if not self.exists:
            self.fuzzy_no_exist(names)
        db_perms = self.run_read(
            names, "", lambda r: self.perms_with_exist_and_parent_resolve(names, r))
        knows = access.allowed(db_perms, (READ, WRITE), names)
        if sg_perms is None:
            if knows:
                raise verror.NoExist.new(f"{sg_id} does not exist", str(sg_id))
            raise verror.NoExistOrNoAccess.new(f"{sg_id} does not exist or access denied",
                                               str(sg_id))
        if not knows and not (access.allowed(db_perms, (RESOLVE,), names) and
                              access.allowed(sg_perms, access.ALL_TYPICAL_TAGS, names)):
            raise verror.NoExistOrNoAccess.new(f"{sg_id} does not exist or access denied",
                                               str(sg_id))
        access.authorize(db_perms, (RESOLVE,), names)
        return db_perms

    def set_schema_metadata(self, names, metadata):
        if not self.exists:
            self.fuzzy_no_exist(names)

        def impl(tx):
            self.perms_with_auth(names, (ADMIN,), tx)
            data = self._data(tx)
            data["SchemaMetadata"] = metadata
            tx.raw_put(b"d", _dumps(data))
        self.st.run_in_transaction(impl)

    def _state_change(self, names, request_type):
        if not self.exists:
            self.fuzzy_no_exist(names)

        def impl(tx):
            self.perms_with_auth(names, (ADMIN,), tx)
            tx.add_op(DbStateChangeRequestOp(request_type))
        self.st.run_in_transaction(impl)

    def pause_sync(self, names):
        self._state_change(names, 0)

    def resume_sync(self, names):
        self._state_change(names, 1)

    def get_resume_marker(self, names, bh) -> bytes:
        from syncbased.store import log_key

        def impl(reader):
            self.perms_with_auth(names, access.ALL_DATABASE_TAGS, reader)
            return log_key(self.st.log_seq)
        if bh:
            # Go returns the current end of the log for batches as well.
            return impl(self.batch_reader(names, bh))
        return self.run_read(names, "", impl)

    def collection(self, cx_id: Id) -> "Collection":
        return Collection(self, cx_id)

    def collection_perms(self, cx_id, reader):
        raw = reader.get(collection_perms_key(cx_id))
        return decode_collection_perms(raw) if raw is not None else None


def _scan_all(reader, start, limit):
    return reader.scan_all(start, limit)


# --- Collection ------------------------------------------------------------

# Successful collection permission checks: (names, tags, db perms bytes, collection
# perms bytes) -> the service permissions object they were checked with.
_AUTH_OK = {}

class Collection:
    def __init__(self, d: Database, cx_id: Id):
        self.d = d
        self.id = cx_id

    @property
    def name(self):
        return str(self.id)

    def exist_auth(self, names, reader):
        parent = self.d.perms_with_exist_and_parent_resolve(names, reader)
        perms = self.d.collection_perms(self.id, reader)
        if perms is None:
            err = verror.NoExist.new(f"{self.name} does not exist", self.name)
            raise access.fuzzify(self.name, parent, None, err, names)
        err = access.fuzzify(self.name, parent, perms, None, names)
        if err is not None:
            raise err
        return parent, perms

    def perms_with_exist_and_parent_resolve(self, names, reader):
        parent, perms = self.exist_auth(names, reader)
        access.authorize(parent, (RESOLVE,), names)
        return perms

    def perms_with_auth(self, names, tags, reader):
        """The collection's permissions, once ``names`` passed every check for ``tags``.

        The checks (existence, fuzzified errors, Resolve on the parents, ``tags``
        on the collection) depend only on the names, the tags, the service
        permissions and the stored bytes of the database's and collection's
        permissions: a successful outcome is remembered under exactly those, so
        a repeated call reads the same keys but skips re-evaluating the ACLs."""
        d = self.d
        if d.exists and reader is not None:
            draw = reader.raw_get(b"d")
            craw = reader.get(collection_perms_key(self.id))
            if draw is not None and craw is not None:
                sp = reader.service_perms if reader.__class__ is PointRead else d.s.perms
                key = (tuple(names), tags, draw, craw)
                if _AUTH_OK.get(key) is sp:
                    return decode_collection_perms(craw)
                perms = self._perms_with_auth(names, tags, reader)
                if len(_AUTH_OK) >= 4096:
                    _AUTH_OK.clear()
                _AUTH_OK[key] = sp
                return perms
        return self._perms_with_auth(names, tags, reader)

    def _perms_with_auth(self, names, tags, reader):
        perms = self.perms_with_exist_and_parent_resolve(names, reader)
        access.authorize(perms, tags, names)
        return perms

    def create(self, names, bh, perms):
        access.validate_perms(perms, access.ALL_COLLECTION_TAGS)

        def impl(ts):
            tx = ts.tx
            self.d.perms_with_auth(names, (WRITE,), tx)
            implicit = access.check_implicit_perms(self.id, access.ALL_COLLECTION_TAGS, names)
            if tx.get(collection_perms_key(self.id)) is not None:
                raise verror.Exist.new(f"collection {self.id} already exists", self.name)
            ts.mark_perms_changed(self.id, implicit, perms)
            tx.put(collection_perms_key(self.id), encode_collection_perms(perms))
        self.d.run_write(names, bh, impl)

    def destroy(self, names, bh):
        def impl(ts):
            tx = ts.tx
            try:
                self.d.perms_with_auth(names, (ADMIN,), tx)
                if tx.get(collection_perms_key(self.id)) is None:
                    return
            except verror.VError:
                try:
                    self.perms_with_auth(names, (ADMIN,), tx)
                except verror.VError as e:
                    if e.id == verror.NoExist.id:
                        return
                    raise
            ts.reset(self.id)
            pfx = row_prefix(self.id)
            for k, _ in list(tx.scan_all(pfx, prefix_range_limit(pfx))):
                tx.delete(k)
            tx.delete(collection_perms_key(self.id))
        self.d.run_write(names, bh, impl)

    def exists_(self, names, bh) -> bool:
        return _error_to_exists(lambda: self.d.run_read(
            names, bh, lambda r: self.exist_auth(names, r)))

    def get_permissions(self, names, bh):
        return self.d.run_read(names, bh, lambda r: self.perms_with_auth(names, (ADMIN,), r))

    def set_permissions(self, names, bh, perms):
        access.validate_perms(perms, access.ALL_COLLECTION_TAGS)

        def impl(ts):
            current = self.perms_with_auth(names, (ADMIN,), ts.tx)
            ts.mark_perms_changed(self.id, current, perms)
            ts.tx.put(collection_perms_key(self.id), encode_collection_perms(perms))
        self.d.run_write(names, bh, impl)

    def delete_range(self, names, bh, start: bytes, limit: bytes):
        def impl(ts):
            current = self.perms_with_auth(names, (WRITE,), ts.tx)
            ts.mark_data_changed(self.id, current)
            a, b = scan_range_args(row_prefix(self.id), start, limit)
            for k, _ in list(ts.tx.scan_all(a, b)):
                ts.tx.delete(k)
        self.d.run_write(names, bh, impl)

    def scan(self, names, bh, start: bytes, limit: bytes):
        """A generator of (row key str, value bytes); close it to release its snapshot.

        The permission check runs before the first item (call ``next`` once, or use
        ``scan_iter`` which checks eagerly)."""
        pfx = row_prefix(self.id)
        a, b = scan_range_args(pfx, start, limit)
        if bh:
            reader = self.d.batch_reader(names, bh)
            owned = None
        else:
            if not self.d.exists:
                self.d.fuzzy_no_exist(names)
            reader = owned = self.d.st.snapshot()
        try:
            self.perms_with_auth(names, (READ,), reader)
        except BaseException:
            if owned is not None:
                owned.abort()
            raise
        return _scan_gen(reader, owned, a, b, len(pfx))

    def row(self, key: str) -> "Row":
        return Row(self, key)


def _scan_gen(reader, owned, a, b, plen):
    try:
        for k, v in reader.scan_all(a, b):
            yield k[plen:].decode("utf-8", errors="replace"), v
    finally:
        if owned is not None:
            owned.abort()


# --- Row -------------------------------------------------------------------

class Row:
    def __init__(self, c: Collection, key: str):
        self.c = c
        self.key = key

    @property
    def st_key(self) -> bytes:
        return row_key(self.c.id, self.key)

    def exists_(self, names, bh) -> bool:
        def impl(reader):
            cx_perms = self.c.perms_with_exist_and_parent_resolve(names, reader)
            if reader.get(self.st_key) is None:
                err = verror.NoExist.new(f"{self.key} does not exist", self.key)
                err = access.fuzzify(self.key, cx_perms, None, err, names)
                raise err
            err = access.fuzzify(self.key, cx_perms, None, None, names)
            if err is not None:
                raise err
        return _error_to_exists(lambda: self.c.d.run_read(names, bh, impl))

    def get(self, names, bh) -> bytes:
        return self.c.d.run_read(names, bh, lambda reader: self._get(names, reader))

    def _get(self, names, reader) -> bytes:
        self.c.perms_with_auth(names, (READ,), reader)
        v = reader.get(self.st_key)
        if v is None:
            raise verror.NoExist.new(f"{self.key} does not exist", self.key)
        return v

    def get_committed(self, names):
        """``get(names, "")`` from the committed state, on the calling thread.

        For the reactor thread: one SQLite statement through the store's read
        view, then the same permission checks as ``get``.  Returns FALLBACK when
        this cannot be answered here (no read view: memstore; a database not
        open; an engine error) -- then run ``get`` on the store thread."""
        d = self.c.d
        st = d.st
        if st is None or not d.exists:
            return FALLBACK
        view = st.read_view()
        if view is None:
            return FALLBACK
        cpk = collection_perms_key(self.c.id)
        rk = self.st_key
        try:
            draw, cperms, value = view.get_raw_and_managed(b"d", cpk, rk)
        except verror.VError:
            return FALLBACK
        return self._get(names, PointRead({b"d": draw}, {cpk: cperms, rk: value},
                                          d.s.durable_perms))

    def put(self, names, bh, value: bytes):
        def impl(ts):
            current = self.c.perms_with_auth(names, (WRITE,), ts.tx)
            ts.mark_data_changed(self.c.id, current)
            ts.tx.put(self.st_key, value)
        self.c.d.run_write(names, bh, impl)

    def delete(self, names, bh):
        def impl(ts):
            current = self.c.perms_with_auth(names, (WRITE,), ts.tx)
            ts.mark_data_changed(self.c.id, current)
            ts.tx.delete(self.st_key)
        self.c.d.run_write(names, bh, impl)


# --- Watch -----------------------------------------------------------------

WATCH_EXISTS, WATCH_DOES_NOT_EXIST, WATCH_INITIAL_STATE_SKIPPED = 0, 1, 2
UnknownResumeMarker = verror.ErrorId("v.io/v23/services/watch.UnknownResumeMarker",
                                     verror.NoRetry, "unknown resume marker")


def _like_regex(pattern: str):
    """SQL LIKE (``%`` any run, ``_`` one char, ``\\`` escapes) as a compiled regex."""
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            if i + 1 >= len(pattern):
                raise verror.BadArg.new(f"pattern {pattern!r} ends with an escape")
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if c == "%" else "." if c == "_" else re.escape(c))
        i += 1
    return re.compile("".join(out) + r"\Z", re.DOTALL)


class PatternFilter:
    """Matches collections and rows against a list of CollectionRowPatterns (OR)."""

    def __init__(self, patterns):
        if not patterns:
            raise verror.BadArg.new("at least one pattern must be specified")
        self._p = [(_like_regex(b), _like_regex(n), _like_regex(r) if r else None)
                   for b, n, r in patterns]

    def collection_matches(self, cx_id) -> bool:
        return any(b.match(cx_id.Blessing) and n.match(cx_id.Name) for b, n, _ in self._p)

    def row_matches(self, cx_id, row) -> bool:
        return any(r is not None and b.match(cx_id.Blessing) and n.match(cx_id.Name)
                   and r.match(row) for b, n, r in self._p)


class GlobFilter:
    """WatchGlob's filter: ``<encCxId>/<row glob>`` (collection literal, row glob)."""

    def __init__(self, pattern: str):
        import fnmatch
        from v23py.syncbase.util import decode_id, validate_row_key, InvalidNameError
        parts = pattern.split("/", 1)
        if len(parts) != 2:
            raise verror.BadArg.new(f"bad argument: glob pattern {pattern!r}")
        try:
            self.cx = decode_id(parts[0])
            validate_id(self.cx)
            if parts[1] and not any(c in parts[1] for c in "*?["):
                validate_row_key(parts[1])
        except InvalidNameError as e:
            raise _wire.InvalidName.new(f"invalid name: '{pattern}': {e}", pattern) from None
        self._row = re.compile(fnmatch.translate(parts[1]), re.DOTALL) if parts[1] else None

    def collection_matches(self, cx_id) -> bool:
        return cx_id == self.cx

    def row_matches(self, cx_id, row) -> bool:
        return cx_id == self.cx and self._row is not None and bool(self._row.match(row))


def _collection_info(perms, names):
    allowed = sorted(t for t, acl in perms.items() if acl.includes(names))
    return ("cxinfo", allowed, perms if ADMIN in allowed else None)


def parse_resume_marker(marker: bytes) -> int:
    from syncbased.store import parse_log_key
    try:
        return parse_log_key(bytes(marker))
    except ValueError:
        raise UnknownResumeMarker.new(f"unknown resume marker {bytes(marker)!r}") from None


def _watch_start(self, names, marker: bytes, flt):
    """First batch of a watch: [(name, state, value, from_sync)], resume marker, next seq.

    ``value`` is None, row bytes, or ("cxinfo", allowed tags, perms or None)."""
    from syncbased.store import log_key

    def impl(sn):
        self.perms_with_auth(names, (READ,), sn)
        need_initial = len(marker) == 0
        if need_initial or bytes(marker) == b"now":
            seq = self.st.log_seq
        else:
            seq = parse_resume_marker(marker)
        changes = [("", WATCH_EXISTS if need_initial else WATCH_INITIAL_STATE_SKIPPED, None, False)]
        if need_initial:
            for k, v in sn.scan_all(b"c" + SEP, b"c" + b"\xff"):
                cx_id = parse_id_key_part(k[2:-1])
                if not flt.collection_matches(cx_id):
                    continue
                perms = decode_collection_perms(v)
                changes.append((encode_id(cx_id), WATCH_EXISTS, _collection_info(perms, names),
                                False))
                try:
                    Collection(self, cx_id).perms_with_auth(names, (READ,), sn)
                except verror.VError as e:
                    if e.id == verror.NoAccess.id:
                        continue
                    raise
                pfx = row_prefix(cx_id)
                for rk, rv in sn.scan_all(pfx, prefix_range_limit(pfx)):
                    row = rk[len(pfx):].decode("utf-8", errors="replace")
                    if flt.row_matches(cx_id, row):
                        changes.append((encode_id(cx_id) + "/" + row, WATCH_EXISTS, rv, False))
        return changes, log_key(seq), seq
    return self.run_read(names, "", impl)


def _watch_next(self, names, seq: int, flt, max_entries: int = 1000):
    """Complete logged transactions from ``seq``: ([(changes, resume marker)], next seq)."""
    from syncbased.store import log_key, PutOp, DeleteOp
    if not self.exists:
        self.fuzzy_no_exist(names)
    entries = self.st.read_log(seq, max_entries)
    batches = []
    if not entries:
        return batches, seq
    sn = self.st.snapshot()
    try:
        self.perms_with_auth(names, (READ,), sn)
        txn = []
        for s, e in entries:
            txn.append(e)
            if e.Continued:
                continue
            changes = []
            for le in txn:
                op = le.Op
                if not isinstance(op, (PutOp, DeleteOp)):
                    continue
                key = op.Key
                if key.startswith(b"r" + SEP):
                    parts = key.split(SEP, 2)
                    if len(parts) < 3:
                        continue
                    cx_id = parse_id_key_part(parts[1])
                    row = parts[2].decode("utf-8", errors="replace")
                    if not flt.row_matches(cx_id, row):
                        continue
                    try:
                        Collection(self, cx_id).perms_with_auth(names, (READ,), sn)
                    except verror.VError as err:
                        if err.id in (verror.NoAccess.id, verror.NoExist.id):
                            continue
                        raise
                    name = encode_id(cx_id) + "/" + row
                    if isinstance(op, PutOp):
                        val = sn.raw_get(key + SEP + op.Version)
                        changes.append((name, WATCH_EXISTS, val, le.FromSync))
                    else:
                        changes.append((name, WATCH_DOES_NOT_EXIST, None, le.FromSync))
                elif key.startswith(b"c" + SEP):
                    cx_id = parse_id_key_part(key[2:-1])
                    if not flt.collection_matches(cx_id):
                        continue
                    if isinstance(op, PutOp):
                        perms = decode_collection_perms(sn.raw_get(key + SEP + op.Version))
                        changes.append((encode_id(cx_id), WATCH_EXISTS,
                                        _collection_info(perms, names), le.FromSync))
                    else:
                        changes.append((encode_id(cx_id), WATCH_DOES_NOT_EXIST, None,
                                        le.FromSync))
            seq = s + 1
            txn = []
            if changes:
                batches.append((changes, log_key(seq)))
    finally:
        sn.abort()
    if txn and seq == entries[0][0] and len(entries) >= max_entries:
        # One transaction larger than the chunk: read it whole.
        return _watch_next(self, names, seq, flt, max_entries * 4)
    return batches, seq


Database.watch_start = _watch_start
Database.watch_next = _watch_next
