"""LeaveSyncgroup, DestroySyncgroup and EjectFromSyncgroup are not implemented in Go's
2017 Syncbase, but it checks existence and permissions first; our daemon answers each
case with the same error as Go's daemon (checked against both, same callers)."""
import os

from twisted.internet import defer, reactor
from twisted.trial import unittest

from v23py.testing.syncbase import Daemon, GoDaemon, make_creds
from v23py.testing import tempdir
from tests.interop._go_syncbase import go_sb_binary

ALICE, BOB, CAROL = "idp:o:fortune:alice", "idp:o:fortune:bob", "idp:o:fortune:carol"
APP = "idp:o:fortune"
NI, NE = "v.io/v23/verror.NotImplemented", "v.io/v23/verror.NoExist"
NA, NENA = "v.io/v23/verror.NoAccess", "v.io/v23/verror.NoExistOrNoAccess"

# (caller, method, database, syncgroup) -> the error Go's daemon gives
CASES = [
    (ALICE, "LeaveSyncgroup", "db1", "sg1", NI),
    (ALICE, "LeaveSyncgroup", "nodb", "sg1", NE),
    (CAROL, "LeaveSyncgroup", "nodb", "sg1", NENA),
    (BOB, "LeaveSyncgroup", "db2", "sg1", NA),          # no Write on db2
    (ALICE, "DestroySyncgroup", "db1", "sg1", NI),
    (ALICE, "DestroySyncgroup", "db1", "nosg", NE),
    (BOB, "DestroySyncgroup", "db1", "sg1", NA),        # Write on db1, not Admin on sg1
    (BOB, "DestroySyncgroup", "db2", "sg1", NA),        # no Write on db2
    (ALICE, "EjectFromSyncgroup", "db1", "sg1", NI),
    (ALICE, "EjectFromSyncgroup", "db1", "nosg", NE),
    (BOB, "EjectFromSyncgroup", "db1", "sg1", NA),      # may know, not Admin
    (BOB, "EjectFromSyncgroup", "db1", "nosg", NE),
    (CAROL, "EjectFromSyncgroup", "db1", "sg1", NENA),
    (CAROL, "EjectFromSyncgroup", "nodb", "sg1", NENA),
]


def perms(**tags):
    return {t: {"In": list(who)} for t, who in tags.items()}


def _our_daemon(creds, root):
    return Daemon(creds, root, extra=["--skip-publish-in-nh"])


class SyncgroupChecksTest(unittest.TestCase):
    timeout = 120

    def setUp(self):
        import v23py
        from v23py import security
        self.tmp = tempdir(self, prefix="sgchk-")
        d = {n: os.path.join(self.tmp, n) for n in ("alice", "bob", "carol")}
        make_creds(d["bob"], BOB)
        make_creds(d["carol"], CAROL)
        make_creds(d["alice"], ALICE, trust=[d["bob"], d["carol"]])
        root = security.load_principal(d["alice"]).blessing_store.default()
        for n in ("bob", "carol"):
            security.load_principal(d[n]).add_to_roots(root)
        self.dirs = d
        self.ctx = {}
        for who, n in ((ALICE, "alice"), (BOB, "bob"), (CAROL, "carol")):
            self.ctx[who], shutdown = v23py.init([f"--v23.credentials={d[n]}"], reactor=reactor)
            self.addCleanup(shutdown)

    async def setup_daemon(self, mk, name):
        from v23py import syncbase
        service_perms = perms(Admin=[ALICE], Read=[ALICE, BOB], Write=[ALICE],
                              Resolve=[ALICE, BOB], Debug=[ALICE])
        # (Go's daemon built on v0.2.0 panics with --v23.permissions.literal: set them)
        d = mk(self.dirs["alice"], os.path.join(self.tmp, name))
        self.addCleanup(d.stop)
        await d.start()
        ctx = self.ctx[ALICE]
        s = syncbase.new_service(d.endpoint)
        await s.set_permissions(ctx, service_perms, "")
        for db_name, p in (("db1", perms(Admin=[ALICE], Read=[ALICE], Write=[ALICE, BOB],
                                         Resolve=[ALICE, BOB])),
                           ("db2", perms(Admin=[ALICE], Read=[ALICE, BOB], Write=[ALICE],
                                         Resolve=[ALICE, BOB]))):
            db = s.database_for_id((APP, db_name))
            await db.create(ctx, p)
            c = db.collection_for_id((ALICE, "cx"))
            await c.create(ctx, perms(Admin=[ALICE], Read=[ALICE, BOB], Write=[ALICE]))
            await db.syncgroup_for_id((ALICE, "sg1")).create(
                ctx, syncbase.SyncgroupSpec(Perms=perms(Admin=[ALICE], Read=[ALICE, BOB]),
                                            Collections=[c.id()]),
                syncbase.SyncgroupMemberInfo())
        return d

    async def outcome(self, d, who, method, db_name, sg):
        from v23py import syncbase, verror
        db = syncbase.new_service(d.endpoint).database_for_id((APP, db_name))
        h = db.syncgroup_for_id((ALICE, sg))
        try:
            if method == "LeaveSyncgroup":
                await h.leave(self.ctx[who])
            elif method == "DestroySyncgroup":
                await h.destroy(self.ctx[who])
            else:
                await h.eject(self.ctx[who], "somebody")
        except verror.VError as e:
            return e.id
        return "no error"

    @defer.inlineCallbacks
    def test_same_errors_as_go(self):
        go_sb_binary("syncbased")
        yield defer.ensureDeferred(self._same_errors())

    async def _same_errors(self):
        go = await self.setup_daemon(GoDaemon, "go")
        ours = await self.setup_daemon(_our_daemon, "ours")
        got = {"go": [], "ours": []}
        for who, method, db, sg, want in CASES:
            for name, d in (("go", go), ("ours", ours)):
                got[name].append((who.rsplit(":", 1)[1], method, db, sg,
                                  await self.outcome(d, who, method, db, sg)))
        want = [(w.rsplit(":", 1)[1], m, db, sg, e) for w, m, db, sg, e in CASES]
        self.assertEqual(got["go"], want, "Go's daemon does not answer as expected")
        self.assertEqual(got["ours"], want)
