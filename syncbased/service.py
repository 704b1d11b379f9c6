"""Syncbase semantics: Service, Database, Collection and Row, without any I/O framework.

This module holds the Service; ``database``, ``collection`` and ``watch`` the rest.

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

import json
import logging
import os
import random
import shutil

from v23py import verror
from v23py.v23.services import syncbase as sbwire
from v23py.syncbase.util import Id, encode_id, validate_id
from syncbased import access
from syncbased.access import ADMIN, READ, WRITE, RESOLVE
from syncbased.common import (
    _dumps, _load_perms, _perms_obj, check_version, dir_name,
    format_version, id_key_part)
from syncbased.database import Database
from syncbased.store import Store, open_engine, SEP
from syncbased.vclock import VClock

_log = logging.getLogger(__name__)


def _store_file_problem(db_id, engine, epath):
    """Why the store of an existing database cannot be opened as it is (None if it
    can): a missing or emptied file would otherwise open as a new, empty store."""
    if engine not in ("", "sqlite", "leveldb"):
        return None
    f = os.path.join(epath, "store.sqlite")
    what = None
    if not os.path.exists(f):
        what = "is missing (deleted?)"
    elif os.path.getsize(f) == 0:
        what = "is empty (truncated?)"
    if what is None:
        return None
    return verror.Internal.new(
        f"database {db_id.Blessing},{db_id.Name}: its store {f} {what}: the database's data "
        "is gone from this device; restore the file from a backup or destroy the database")


# --- Service ---------------------------------------------------------------

class Service:
    """The daemon's state: the service store and every open database."""

    def __init__(self, root_dir: str, engine: str = "sqlite", perms=None,
                 default_patterns=(), initial_db: Id | None = None, dev: bool = False,
                 log=None, defer_sync: bool = False):
        self.root_dir = root_dir
        self.engine = engine or "sqlite"
        self._all_checked = False   # (see stores_checked)
        self.dev = dev
        self._log = log or (lambda msg: None)
        self._has_log = log is not None
        os.makedirs(root_dir, exist_ok=True)
        # (defer_sync: a service store created here is made durable once start-up is
        # over, before any later write commits; see engine.CreationSync)
        self.st = Store(open_engine(self.engine, os.path.join(root_dir, self.engine),
                                    defer_sync=defer_sync))
        # the virtual clock (service key "q", as Go's): every commit timestamp comes from it
        self.vclock = VClock(lambda: self.st.get(b"q"),
                             lambda raw: self.st.run_in_transaction(
                                 lambda tx: tx.raw_put(b"q", raw)))
        self.dbs: dict[Id, Database] = {}
        self.broken: dict[Id, tuple] = {}   # db id -> (VError, rel dir): see mark_broken
        self.commit_listeners = []   # fn(db_id) after a database commit that logged ops
        self.local_commit_listeners = []   # the same, for commits not made by sync
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
            epath = os.path.join(path, info["Engine"])
            problem = _store_file_problem(db_id, info["Engine"], epath)
            if problem is None:
                st = None
                try:
                    st = Store(open_engine(info["Engine"], epath), clock=self.vclock.now)
                    self.dbs[db_id] = Database(self, db_id, st, info["RootDir"])
                except Exception as e:   # (a store too damaged to open)
                    if st is not None:
                        st.close()
                    problem = verror.Internal.new(
                        f"database {db_id.Blessing},{db_id.Name}: its store {epath} cannot be "
                        f"read ({getattr(e, 'msg', None) or e}); restore it from a backup or "
                        "destroy the database")
            if problem is not None:
                self.mark_broken(db_id, problem, info["RootDir"])
        # Remove directories of databases whose creation or destruction did not finish.
        apps = os.path.join(self.root_dir, "apps")
        if os.path.isdir(apps):
            for app in os.listdir(apps):
                dbs_dir = os.path.join(apps, app, "dbs")
                for d in (os.listdir(dbs_dir) if os.path.isdir(dbs_dir) else ()):
                    p = os.path.normpath(os.path.join(dbs_dir, d))
                    if p not in live:
                        shutil.rmtree(p, ignore_errors=True)

    def mark_broken(self, db_id: Id, problem: verror.VError, rel_dir=None):
        """Database ``db_id`` cannot be used: every access raises ``problem`` (logged
        now), instead of the database silently not existing."""
        d = self.dbs.pop(db_id, None)
        if d is not None:
            rel_dir = rel_dir or d.rel_dir
            d.close()
        self.broken[db_id] = (problem, rel_dir)
        if self._has_log:
            self._log(f"ERROR: {problem.msg}")
        else:
            _log.error("%s", problem.msg)

    def gate_stores(self):
        """Start-up is over: from now every store operation waits for its store's
        integrity check and fails clearly if the file is damaged."""
        for st in self.stores():
            st.engine.gate()

    def stores_checked(self) -> bool:
        """Every store's integrity verdict is in: operations no longer wait for one."""
        if self._all_checked:
            return True
        if all(st.engine.checked() for st in self.stores()):
            self._all_checked = True   # (stores made later are new: nothing to check)
        return self._all_checked

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
        return [encode_id(i) for i in sorted(set(self.dbs) | set(self.broken))]

    def list_databases(self, names):
        self.perms_with_auth(names, (READ,))
        return sorted(set(self.dbs) | set(self.broken))

    def database(self, db_id: Id) -> "Database":
        d = self.dbs.get(db_id)
        if d is None:
            b = self.broken.get(db_id)
            if b is not None:
                raise b[0]
            d = Database(self, db_id, None, None)
        return d

    def dev_mode_check(self, names):
        # Go's order: NotInDevMode before any permission check
        if not self.dev:
            raise sbwire.ErrNotInDevMode.new("not running with --dev=true")
        self.perms_with_auth(names, (ADMIN,))

    def _create_database(self, names, db_id: Id, perms, metadata):
        access.validate_perms(perms, access.ALL_DATABASE_TAGS)
        if names is not None:
            self.perms_with_auth(names, (WRITE,))
            if not access.allowed(self.perms, (ADMIN,), names):
                access.check_implicit_perms(db_id, access.ALL_DATABASE_TAGS, names)
        if db_id in self.dbs or db_id in self.broken:
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
        if db_id in self.broken:
            # (its own permissions cannot be read: destroying it takes service Admin)
            self.perms_with_auth(names, (ADMIN,))
            self.st.run_in_transaction(lambda tx: tx.raw_delete(b"i" + SEP + id_key_part(db_id)))
            _, rel = self.broken.pop(db_id)
            if rel:
                shutil.rmtree(os.path.join(self.root_dir, rel), ignore_errors=True)
            return
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
