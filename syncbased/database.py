"""A database: its store, permissions, batches, reads and writes (store thread)."""
from __future__ import annotations

import json
import os
import random
import shutil

from v23py import verror
from v23py.v23.services import syncbase as sbwire
from v23py.syncbase.util import Id, encode_id
from syncbased import access, watch
from syncbased.access import ADMIN, READ, WRITE
from syncbased.collection import Collection
from syncbased.common import (
    PermsHolder, _db_perms_from_raw, _dumps, _error_to_exists, _load_perms, _perms_obj,
    check_version, checked_perms, checked_perms_remembered, collection_perms_key,
    decode_collection_perms, format_version, join_batch_handle, parse_id_key_part, reader_service_perms,
    split_batch_handle)
from syncbased.store import SEP, ConcurrentTransaction, DbStateChangeRequestOp, Store

MAX_OPEN_BATCHES = 4096


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


class Database(PermsHolder):
    def __init__(self, service, db_id: Id, st: Store | None, rel_dir):
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
        if not store.last_from_sync:
            for fn in list(self.s.local_commit_listeners):
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
        parent = reader_service_perms(reader, self.s)
        raw = reader.raw_get(b"d") if self.exists and reader is not None else None
        return self.existing(parent, _db_perms_from_raw(raw) if raw is not None else None,
                             names)

    def perms_with_auth(self, names, tags, reader):
        """The database's permissions, once ``names`` passed every check for ``tags``
        (remembered as Collection.perms_with_auth's, by the database's stored bytes)."""
        if self.exists and reader is not None:
            draw = reader.raw_get(b"d")
            if draw is not None:
                return checked_perms_remembered(self, names, tags, reader,
                                                (tuple(names), tags, draw), self.s, draw,
                                                _db_perms_from_raw)
        return checked_perms(self, names, tags, reader)

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
            raise sbwire.ErrUnknownBatch.new("unknown batch, perhaps the server restarted")
        return kind, bid, found

    def batch_reader(self, names, bh):
        kind, _, found = self._lookup(names, bh)
        return found if kind == "s" else found.tx

    def batch_transaction(self, names, bh) -> TxState:
        kind, _, found = self._lookup(names, bh)
        if kind == "s":
            raise sbwire.ErrReadOnlyBatch.new("batch is read-only")
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

    def _batch_to_end(self, names, bh):
        """(kind, id, state) of the batch ``bh`` that commit or abort ends, once ``names``
        passed their checks (a bound batch, the database's existence, any database tag)."""
        if not bh:
            raise sbwire.ErrNotBoundToBatch.new("not bound to batch")
        if not self.exists:
            self.fuzzy_no_exist(names)
        found = self._lookup(names, bh)
        self._db_auth_any(names)
        return found

    def commit(self, names, bh):
        kind, bid, found = self._batch_to_end(names, bh)
        if kind == "s":
            raise sbwire.ErrReadOnlyBatch.new("batch is read-only")
        if not found.permission_changes_valid(names):
            raise sbwire.ErrInvalidPermissionsChange.new(
                "the sequence of permission changes is invalid")
        try:
            found.tx.commit()
        except verror.VError as e:
            if found.tx.done:
                self.txs.pop(bid, None)
            if e.id == ConcurrentTransaction.id:
                raise sbwire.ErrConcurrentBatch.new("concurrent batch") from None
            raise
        self.txs.pop(bid, None)

    def abort(self, names, bh):
        kind, bid, found = self._batch_to_end(names, bh)
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

    def watch_start(self, names, marker: bytes, flt):
        return watch.watch_start(self, names, marker, flt)

    def watch_next(self, names, seq: int, flt, max_entries: int = 1000):
        return watch.watch_next(self, names, seq, flt, max_entries)


def _scan_all(reader, start, limit):
    return reader.scan_all(start, limit)
