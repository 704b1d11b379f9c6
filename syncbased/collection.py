"""Collections and rows of a database (store thread)."""
from __future__ import annotations

from v23py import verror
from v23py.syncbase.util import Id, prefix_range_limit
from syncbased import access
from syncbased.access import ADMIN, READ, WRITE
from syncbased.common import (
    FALLBACK, PermsHolder, PointRead, _error_to_exists, checked_perms,
    checked_perms_remembered, collection_perms_key, decode_collection_perms,
    encode_collection_perms, row_key, row_prefix, scan_range_args)


class Collection(PermsHolder):
    def __init__(self, d, cx_id: Id):
        self.d = d
        self.id = cx_id

    @property
    def name(self):
        return str(self.id)

    def exist_auth(self, names, reader):
        parent = self.d.perms_with_exist_and_parent_resolve(names, reader)
        return self.existing(parent, self.d.collection_perms(self.id, reader), names)

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
                return checked_perms_remembered(self, names, tags, reader,
                                                (tuple(names), tags, draw, craw), d.s, craw,
                                                decode_collection_perms)
        return checked_perms(self, names, tags, reader)

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

    def put_rows(self, names, bh, rows):
        """Many Puts as one write: ``rows`` [(key, stored value bytes)], keys already
        validated.  In a batch they join it; otherwise they commit together."""
        def impl(ts):
            current = self.perms_with_auth(names, (WRITE,), ts.tx)
            ts.mark_data_changed(self.id, current)
            pfx = row_prefix(self.id)
            ts.tx.put_many([(pfx + key.encode(), value) for key, value in rows])
        self.d.run_write(names, bh, impl)


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
