"""Watch: the initial state and the logged changes of a database, filtered by
collection/row patterns (WatchPatterns) or a glob (WatchGlob)."""
from __future__ import annotations

import re

from v23py import verror
from v23py.naming.glob import Glob
from v23py.syncbase.util import encode_id, prefix_range_limit
from syncbased.access import ADMIN, READ
from syncbased.collection import Collection
from syncbased.common import decode_collection_perms, parse_id_key_part, row_prefix
from syncbased.store import SEP, DeleteOp, PutOp, log_key, parse_log_key


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
    """WatchGlob's filter, as Go's: ``<collection>/<row key glob>`` with the one glob
    matcher (v23py.naming.glob): the first element matches the encoded collection id,
    the rest the row key's "/"-separated parts."""

    def __init__(self, pattern: str):
        try:
            g = Glob.parse(pattern)
        except verror.VError as e:
            raise verror.BadArg.new(f"bad argument: glob parse failed: {e.msg}") from None
        self._cx = g.head()
        self._row = g.tail()

    def collection_matches(self, cx_id) -> bool:
        return self._cx.match(encode_id(cx_id))

    def row_matches(self, cx_id, row) -> bool:
        if not self.collection_matches(cx_id):
            return False
        g = self._row
        for part in row.split("/"):
            if not g.head().match(part):
                return False
            g = g.tail()
        return len(g) == 0


def _collection_info(perms, names):
    allowed = sorted(t for t, acl in perms.items() if acl.includes(names))
    return ("cxinfo", allowed, perms if ADMIN in allowed else None)


def parse_resume_marker(marker: bytes) -> int:
    try:
        return parse_log_key(bytes(marker))
    except ValueError:
        raise UnknownResumeMarker.new(f"unknown resume marker {bytes(marker)!r}") from None


def watch_start(self, names, marker: bytes, flt):
    """First batch of a watch: [(name, state, value, from_sync)], resume marker, next seq.

    ``value`` is None, row bytes, or ("cxinfo", allowed tags, perms or None)."""

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


def watch_next(self, names, seq: int, flt, max_entries: int = 1000):
    """Complete logged transactions from ``seq``: ([(changes, resume marker)], next seq)."""
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
        return watch_next(self, names, seq, flt, max_entries * 4)
    return batches, seq
