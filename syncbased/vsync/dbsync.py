"""DbSync: the sync state of one database, by concern in the mixins it is made of."""
from __future__ import annotations

from v23py import verror
from syncbased.vsync._log import (
    CX, DATA, DBSTATE, POS, ROW, SGSTATE, decode_dbstate, decode_sgstate, encode_dbstate,
    last_gen, log_prefix, prefix_limit)
from syncbased.vsync.dag import DagMixin
from syncbased.vsync.initiator import InitiatorMixin
from syncbased.vsync.responder import ResponderMixin
from syncbased.vsync.syncgroups import SyncgroupStateMixin


class DbSync(SyncgroupStateMixin, DagMixin, ResponderMixin, InitiatorMixin):
    """Sync state of one database (lives on the store thread)."""

    def __init__(self, sync, db):
        self.sync = sync
        self.id = sync.id
        self.db = db
        self.st = db.st
        eng = self.st.engine
        self.genvecs, self.sggenvecs, self.paused = decode_dbstate(eng.get(DBSTATE))
        raw = eng.get(POS)
        self.pos = int(raw) if raw else 0
        self.gen = self._last_gen(DATA)
        self.sgs = {}            # gid -> SgEntry
        self.sggen = {}          # gid -> last local generation of its log
        for k, v in eng.scan(SGSTATE, prefix_limit(SGSTATE)):
            gid = k[len(SGSTATE):].decode()
            try:
                self._load_sg(gid, decode_sgstate(v))
            except (ValueError, KeyError, verror.VError):
                continue
        self._refresh()
        self.more = False
        self._pre = None         # keys read ahead for the running store task
        self._round_lps = {}     # a received round's log-key prefixes by device
        self._round_log = {}     # a received round's log records, for log_chunks
        self.st.commit_hooks.append(self._hook)

    # --- state helpers ---
    def _last_gen(self, pfx: bytes) -> int:
        return last_gen(self.st.engine, log_prefix(pfx, self.id))

    def _synced(self, key: bytes) -> bool:
        if key[:2] not in (ROW, CX):
            return False
        rest = key[2:]
        for p in self.prefixes:
            if rest.startswith(p):
                return True
        return False

    def _dbstate(self):
        return encode_dbstate(self.genvecs, self.sggenvecs, self.paused)
