"""A discharger: issues discharges for the third-party caveats that name it.

``Discharger`` serves ``v.io/x/ref/services/discharger.Discharger`` (generated
from ``discharger.vdl``), the interface Go's runtime calls (by method name,
``Discharge(caveat, impetus)``) to get a discharge. Given a third-party caveat
whose discharger key is this server's key, it checks the caveat's own
conditions against the caller (``ThirdPartyCaveat.dischargeable``) and, if they
hold, mints a discharge that expires after ``expiry`` (24 h by default, as Go's
identity service did). Go's runtime and ours fetch and cache these
automatically; a server checks them without contacting the discharger.

``RevocationList`` adds revocation: ``new_caveat(...)`` makes a third-party
caveat carrying a ``NotRevokedCaveat`` (Go's identity service caveat id) with a
fresh random key, recorded in an SQLite file; ``revoke(...)`` marks it, after
which the discharger refuses to discharge it -- blessings carrying it stop
working once their last discharge expires. Unlike Go's identity service, a key
the list never recorded counts as revoked.
"""
import datetime
import os
import sqlite3
import threading
import time

from v23py import security, verror
from v23py.discharger._vdl import (  # noqa: F401
    DischargerClient, DischargerDesc, DischargerServer, DischargerServerMethods,
    ErrNotAThirdPartyCaveat, NotRevokedCaveat, new_NotAThirdPartyCaveat)

DEFAULT_EXPIRY = datetime.timedelta(hours=24)


def _as_caveat(c):
    return c if isinstance(c, security.Caveat) else security.Caveat(Id=c.Id, ParamVom=c.ParamVom)


class Discharger(DischargerServerMethods):
    """The Discharger service (serve it as ``DischargerServer(Discharger(...))``)."""

    def __init__(self, expiry=DEFAULT_EXPIRY, now=None):
        self.expiry = expiry if isinstance(expiry, datetime.timedelta) \
            else datetime.timedelta(seconds=float(expiry))
        self._now = now

    def _clock(self):
        if self._now is not None:
            return self._now()
        return datetime.datetime.now(datetime.timezone.utc)

    def Discharge(self, ctx, call, Caveat, Impetus):
        cav = _as_caveat(Caveat)
        tp = cav.third_party_details()
        if tp is None:
            raise new_NotAThirdPartyCaveat(cav)
        secall = call.security
        me = secall.local_principal
        try:
            key = tp.discharger_key()
        except verror.VError as e:
            raise verror.BadArg.new(f"invalid third-party caveat: {e}")
        if me is None or key.der != me.public_key.der:
            raise verror.NoAccess.new(
                f"third-party caveat {tp.id()} names another discharger (key {key})")
        try:
            tp.dischargeable(secall)
        except verror.VError as e:
            raise verror.Unknown.new(f"third-party caveat {tp} cannot be discharged for this "
                                     f"context: {e.msg or e.id}")
        expiry = security.new_expiry_caveat(self._clock() + self.expiry)
        return me.mint_discharge(cav, expiry).wire


# -- revocation ---------------------------------------------------------------------------------

_SCHEMA = """
CREATE TABLE IF NOT EXISTS revocations (
    caveat_id TEXT PRIMARY KEY,      -- the third-party caveat's id
    revocation_key BLOB NOT NULL UNIQUE,   -- the NotRevoked caveat's parameter
    name TEXT NOT NULL DEFAULT '',   -- what was blessed with it (for humans)
    created REAL NOT NULL,
    revoked REAL                     -- NULL while in force
)"""


class RevocationList:
    """Revocable caveats, kept in an SQLite file (":memory:" for a private one).

    Several processes may share the file: the daemon checks it on every discharge,
    the command-line tool adds and revokes."""

    def __init__(self, path):
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, timeout=10.0, check_same_thread=False,
                                   isolation_level=None)
        if path != ":memory:":
            self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(_SCHEMA)

    def close(self):
        with self._lock:
            self._db.close()

    def new_caveat(self, discharger_key, location, name="", requirements=None):
        """A third-party caveat for ``discharger_key`` at ``location`` that holds until revoked."""
        key = os.urandom(16)
        not_revoked = security.new_caveat(NotRevokedCaveat, key)
        cav = security.new_public_key_caveat(discharger_key, location, requirements,
                                             not_revoked)
        with self._lock:
            self._db.execute("INSERT INTO revocations (caveat_id, revocation_key, name, created)"
                             " VALUES (?, ?, ?, ?)",
                             (cav.third_party_details().id(), key, name, time.time()))
        return cav

    def revoke(self, what):
        """Revoke the caveat with id ``what``, or every caveat recorded with name ``what``;
        returns how many were revoked now."""
        with self._lock:
            cur = self._db.execute(
                "UPDATE revocations SET revoked = ? WHERE revoked IS NULL AND "
                "(caveat_id = ? OR name = ?)", (time.time(), what, what))
            return cur.rowcount

    def is_revoked(self, key):
        """Whether the NotRevoked key was revoked -- or never recorded here."""
        with self._lock:
            row = self._db.execute("SELECT revoked FROM revocations WHERE revocation_key = ?",
                                   (bytes(key),)).fetchone()
        return row is None or row[0] is not None

    def entries(self):
        """[(caveat id, name, created, revoked or None)], oldest first."""
        with self._lock:
            return list(self._db.execute(
                "SELECT caveat_id, name, created, revoked FROM revocations ORDER BY created"))


# The NotRevoked caveat is checked against the list this process serves (a caveat
# validator is process-wide, as in Go). With no list, nothing passes.
_active = []


def use_revocation_list(rl):
    """Check NotRevoked caveats against ``rl`` (None: stop)."""
    _active[:] = [rl] if rl is not None else []


def _not_revoked(call, key):
    if not _active:
        return verror.NoAccess.new("no revocation list to check the caveat against")
    if _active[0].is_revoked(key):
        return verror.NoAccess.new("revoked")
    return None


security.register_caveat_validator(NotRevokedCaveat, _not_revoked)
