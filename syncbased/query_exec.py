"""Database.Exec: syncQL over a database's collections (Go's queryDb/queryTable).

``start_exec`` runs on the store thread: it parses and checks the statement
(the engine asks for the table, which picks the caller's batch or a fresh
snapshot / transaction and checks Read — and Write for delete — on the
collection ``{caller's user blessing pattern, table name}``), and for a
delete statement deletes and commits.  It returns the column headers and a
generator of rows; the RPC layer pulls rows from it in chunks on the store
thread and calls ``finish`` (also on the store thread) at the end.
"""
from __future__ import annotations

from v23py import verror
from v23py.gostrings import KEEP_BYTES, UTF8
from v23py.query import engine, errors as QE
from v23py.v23.services import syncbase as sbwire
from v23py.syncbase.util import ConventionError, Id, app_and_user_pattern_from_blessings, \
    encode_id
from syncbased.access import READ, WRITE
from syncbased.common import SCAN_BATCH, caller_names, row_key, row_prefix, scan_range_args, send as _send
from syncbased.database import TxState
from syncbased.store import ConcurrentTransaction, ScanOp, VERSION_PREFIX

MAX_ATTEMPTS = 100
HEARTBEAT = 1000          # scanned rows between the engine's "nothing yet" markers
MAX_SCAN_STEP = 4         # markers per store-thread step: at most ~4,000 rows scanned


def _not_writable(table):
    return QE.NotWritable.new(f"table {table} is not writable", table)


class QueryDb:
    """The engine's datasource for one Exec call."""

    def __init__(self, d, names, bh: str):
        self.d, self.names, self.bh = d, names, bh
        self.reader = None     # the snapshot or transaction the query reads
        self.ts = None         # TxState when the statement writes
        self.owned = False     # reader/ts created here (not the caller's batch)

    def get_table(self, name: str, write: bool):
        d, names = self.d, self.names
        try:
            _, user = app_and_user_pattern_from_blessings(*names)
        except ConventionError as e:
            raise verror.VError(e.id, verror.NoRetry, str(e), ["", "", str(e)]) from None
        cx_id = Id(user, name)
        if self.bh:
            if write:
                try:
                    self.ts = d.batch_transaction(names, self.bh)
                except verror.VError as e:
                    if e.id == sbwire.ErrReadOnlyBatch.id:
                        raise _not_writable(encode_id(cx_id)) from None
                    raise
                self.reader = self.ts.tx
            else:
                self.reader = d.batch_reader(names, self.bh)
        else:
            if not d.exists:
                d.fuzzy_no_exist(names)
            self.owned = True
            if write:
                self.ts = TxState(d.st.transaction())
                self.reader = self.ts.tx
            else:
                self.reader = d.st.snapshot()
        cx = d.collection(cx_id)
        perms = cx.perms_with_auth(names, (READ,), self.reader)
        if write:
            cx.perms_with_auth(names, (WRITE,), self.reader)
            self.ts.mark_data_changed(cx_id, perms)
        return QueryTable(self, cx)

    def finish(self, ok: bool) -> None:
        """Commit (a transaction created here) or release what this call created."""
        if not self.owned:
            return
        self.owned = False
        if self.ts is not None:
            if ok:
                self.ts.tx.commit()
            else:
                self.ts.tx.abort()
        elif self.reader is not None:
            self.reader.abort()


class QueryTable:
    def __init__(self, qdb: QueryDb, cx):
        self.qdb, self.cx = qdb, cx
        self.prefix = row_prefix(cx.id)

    def scan(self, ranges):
        reader, pfx = self.qdb.reader, self.prefix
        plen = len(pfx)
        for start, limit in ranges:
            a, b = scan_range_args(pfx, start.encode(UTF8, KEEP_BYTES),
                                   limit.encode(UTF8, KEEP_BYTES))
            for k, v in reader.scan_all(a, b):
                yield k[plen:].decode("utf-8", "replace"), v

    def scan_keys(self, ranges):
        """Row keys only: the version pointers, without reading any value."""
        reader, pfx = self.qdb.reader, self.prefix
        skip = len(VERSION_PREFIX) + len(pfx)
        add_op = getattr(reader, "add_op", None)
        for start, limit in ranges:
            a, b = scan_range_args(pfx, start.encode(UTF8, KEEP_BYTES),
                                   limit.encode(UTF8, KEEP_BYTES))
            if add_op is not None:
                add_op(ScanOp(a, b))       # a transaction's scan is logged, as Go's
            for k, _ in reader.raw_scan_all(VERSION_PREFIX + a, VERSION_PREFIX + b):
                yield k[skip:].decode("utf-8", "replace"), None

    def delete(self, key: str) -> bool:
        ts = self.qdb.ts
        if ts is None:
            raise QE.OperationNotSupported.new("delete not supported", "delete")
        current = self.cx.perms_with_auth(self.qdb.names, (WRITE,), ts.tx)
        ts.mark_data_changed(self.cx.id, current)
        ts.tx.delete(row_key(self.cx.id, key))
        return True


def start_exec(d, names, bh: str, query: str, params):
    """(headers, row generator, finish(ok)) — or raise the statement's error."""
    attempt = 0
    while True:
        qdb = QueryDb(d, names, bh)
        try:
            st = engine.prepare(qdb, query, params)
            headers, rows = engine.run(st, heartbeat=HEARTBEAT)
            if st.kind == "delete":
                rows = list(rows)
                qdb.finish(True)       # commit before anything is sent
        except verror.VError as e:
            qdb.finish(False)
            if (not bh and e.id == ConcurrentTransaction.id
                    and attempt < MAX_ATTEMPTS):
                attempt += 1
                continue
            raise
        except BaseException:
            qdb.finish(False)
            raise
        return headers, _guard(rows, st.off), qdb.finish


def take_rows(rows, n, max_markers=MAX_SCAN_STEP):
    """Up to ``n`` rows, stopping early after ``max_markers`` heartbeats; (rows, more)."""
    out = []
    markers = 0
    for row in rows:
        if row is None:
            markers += 1
            if markers >= max_markers:
                return out, True
            continue
        out.append(row)
        if len(out) >= n:
            return out, True
    return out, False


def _guard(rows, off):
    """Rows, with a store failure while scanning reported as Go's KeyValueStreamError."""
    it = iter(rows)
    try:
        while True:
            try:
                row = next(it)
            except StopIteration:
                return
            except verror.VError as e:
                if e.id.startswith("v.io/v23/query/"):
                    raise
                raise QE.qerr(QE.KeyValueStreamError, off, f"KeyValueStream error: {e}",
                              e) from None
            yield row
    finally:
        close = getattr(it, "close", None)
        if close is not None:
            close()


async def exec_stream(dbobj, call, bh: str, query: str, params) -> None:
    """The RPC side (reactor thread): headers first, then rows, pulled in chunks."""
    names = caller_names(call)
    headers, rows, finish = await dbobj.run(
        lambda: start_exec(dbobj.db(), names, bh, query, params))
    ok = False
    nxt = None
    try:
        await _send(call, list(headers))
        nxt = dbobj.run(take_rows, rows, SCAN_BATCH)
        while nxt is not None:
            chunk, more = await nxt
            # the store thread computes the next chunk while this one is sent
            nxt = dbobj.run(take_rows, rows, SCAN_BATCH) if more else None
            for row in chunk:
                await _send(call, row)
        ok = True
    finally:
        if nxt is not None:
            nxt.addErrback(lambda _: None)   # a prefetch nobody will read

        def close():
            rows.close()
            finish(ok)
        await dbobj.run(close)
