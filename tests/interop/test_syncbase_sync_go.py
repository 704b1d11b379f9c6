"""The sync peer interface (<daemon>/%%sync) as Go sees it: Go's vrpc reads the
signature of our syncbased's Sync object (Go's interfaces.Sync and its wire
types) and calls GetTime, GetDeltas (data and syncgroup rounds, decoding every
streamed DeltaResp) and JoinSyncgroupAtAdmin with Go-typed arguments.
"""
import os
import subprocess

from twisted.internet import defer, reactor, utils
from twisted.trial import unittest

from v23py.testing import ROOT, go_binary, tempdir
from v23py.testing import child_env
from v23py.testing.syncbase import Daemon, make_creds

ALICE = "idp:o:fortune:alice"
PKG = '"v.io/x/ref/services/syncbase/server/interfaces"'


class GoSyncPeerTest(unittest.TestCase):
    timeout = 120

    async def setUp(self):
        import v23py
        self.vrpc = go_binary("vrpc")
        tmp = tempdir(self, "sbsync-go-")
        self.creds = make_creds(os.path.join(tmp, "alice"), ALICE)
        self.ctx, shutdown = v23py.init([f"--v23.credentials={self.creds}"], reactor=reactor)
        self.addCleanup(shutdown)
        self.d = Daemon(self.creds, root_dir=os.path.join(tmp, "root"))
        self.addCleanup(self.d.stop)
        await self.d.start()

    def go(self, *args):
        return utils.getProcessOutputAndValue(
            self.vrpc, [f"--v23.credentials={self.creds}", *args], env=child_env(), path=ROOT)

    async def vrpc_call(self, method, *args):
        out, err, rc = await self.go("call", self.d.endpoint + "/%%sync", method, *args)
        return out.decode(), err.decode(), rc

    @defer.inlineCallbacks
    def test_go_client_speaks_sync(self):
        yield defer.ensureDeferred(self._sync())

    async def _sync(self):
        from v23py import syncbase
        from v23py.syncbase.util import Id
        from syncbased.vsync._log import gid_of
        out, err, rc = await self.go("signature", self.d.endpoint + "/%%sync")
        self.assertEqual(rc, 0, err)
        sig = out.decode()
        self.assertIn(f"type {PKG}.Sync interface", sig)
        for m in ("GetTime(req {0}.TimeReq, initiator string) ({0}.TimeResp | error)",
                  "GetDeltas(req {0}.DeltaReq, initiator string) stream<_, {0}.DeltaResp> "
                  "({0}.DeltaFinalResp | error)",
                  "JoinSyncgroupAtAdmin(dbId \"v.io/v23/services/syncbase\".Id, "
                  "sgId \"v.io/v23/services/syncbase\".Id, joinerName string, "
                  "myInfo \"v.io/v23/services/syncbase\".SyncgroupMemberInfo) "
                  "(sg {0}.Syncgroup, version string, genvec {0}.GenVector | error)"):
            self.assertIn(m.format(PKG), sig)
        self.assertIn(f"type {PKG}.LogRecMetadata struct {{\n\tId uint64\n\tGen uint64\n"
                      "\tRecType byte\n\tObjId string\n\tCurVers string\n\tParents []string\n"
                      "\tUpdTime \"time\".Time\n\tDelete bool\n\tBatchId uint64\n"
                      "\tBatchCount uint64\n}", sig)

        # GetTime answers only a caller who may read one of our syncgroups (Go 2017 answers
        # anyone; issue 12) -- Go's daemon asks it only of peers in its syncgroups
        out, err, rc = await self.vrpc_call(
            "GetTime", '{SendTs: {Seconds: 63900000000, Nanos: 5}}', '"go"')
        self.assertNotEqual(rc, 0, out)
        self.assertIn("may not read any syncgroup", err)

        ctx = self.ctx
        db = syncbase.new_service(self.d.endpoint).database(ctx, "db", None)
        await db.create(ctx, None)
        c = db.collection(ctx, "c")
        await c.create(ctx, None)
        await c.put(ctx, "k1", "v1")
        spec = syncbase.SyncgroupSpec(Perms=syncbase.perms_for(ALICE, ["Admin", "Read"]),
                                      Collections=[c.id()])
        sg = db.Syncgroup(ctx, "sg")
        await sg.create(ctx, spec, syncbase.SyncgroupMemberInfo(SyncPriority=10))
        out, err, rc = await self.vrpc_call(
            "GetTime", '{SendTs: {Seconds: 63900000000, Nanos: 5}}', '"go"')
        self.assertEqual(rc, 0, err)
        self.assertIn(f"{PKG}.TimeResp{{OrigTs: {{Seconds: 63900000000, Nanos: 5}}, RecvTs:", out)
        await c.put(ctx, "k2", 42)
        await c.delete(ctx, "k1")
        gid = gid_of(Id(*db.id()), Id(ALICE, "sg"))
        dbid = '{Blessing: "idp:o:fortune", Name: "db"}'

        # A data round from scratch: every record, in log order, then the knowledge.
        out, err, rc = await self.vrpc_call(
            "GetDeltas", f'{{Data: {{DbId: {dbid}, SgIds: {{"{gid}"}}, '
            f'Gvs: {{"{ALICE}\\x00c\\x00\\xfe": {{}}}}}}}}', '"go"')
        self.assertEqual(rc, 0, err)
        lines = out.splitlines()
        recs = [ln for ln in lines if ln.startswith(f"<< {PKG}.DeltaResp{{Rec:")]
        self.assertEqual(len(recs), 4, out)
        self.assertIn('ObjId: "c\\xfeidp:o:fortune:alice\\x00c\\x00\\xfe"', recs[0])
        self.assertIn(f"Value: {PKG}.CollectionPerms{{", recs[0])
        self.assertIn('ObjId: "r\\xfeidp:o:fortune:alice\\x00c\\x00\\xfek1"', recs[1])
        self.assertIn('Value: "v1"', recs[1])
        self.assertIn("Value: int64(42)", recs[2])
        self.assertIn("Delete: true", recs[3])
        self.assertIn("Parents: {", recs[3])
        self.assertTrue(lines[-2].startswith(f"<< {PKG}.DeltaResp{{Gvs: "), out)
        self.assertIn(": 4}}}", lines[-2])
        # as Go's responder: this device's blob priority in the syncgroup (a normal
        # member: DevType 0, Distance 0, no server time)
        self.assertEqual(lines[-1], f'{PKG}.DeltaFinalResp{{SgPriorities: {{"{gid}": {{}}}}}}')

        # Knowledge up to gen 3 of that device: only the delete comes back.
        dev = lines[-2].split("{")[-1].split(":")[0]
        out, err, rc = await self.vrpc_call(
            "GetDeltas", f'{{Data: {{DbId: {dbid}, SgIds: {{"{gid}"}}, '
            f'Gvs: {{"{ALICE}\\x00c\\x00\\xfe": {{{dev}: 3}}}}}}}}', '"go"')
        self.assertEqual(rc, 0, err)
        recs = [ln for ln in out.splitlines() if "DeltaResp{Rec:" in ln]
        self.assertEqual(len(recs), 1, out)
        self.assertIn("Gen: 4", recs[0])

        # Joining through us as admin, then the syncgroup round shows the new member.
        out, err, rc = await self.vrpc_call(
            "JoinSyncgroupAtAdmin", dbid, f'{{Blessing: "{ALICE}", Name: "sg"}}', '"abc123"',
            "{SyncPriority: 3}")
        self.assertEqual(rc, 0, err)
        self.assertIn(f"{PKG}.Syncgroup{{Id: {{Blessing: \"{ALICE}\", Name: \"sg\"}}", out)
        self.assertIn('"abc123": {WhenUpdated:', out)
        self.assertIn("MemberInfo: {SyncPriority: 3}", out)
        members = await sg.get_members(ctx)
        self.assertEqual(int(members["abc123"].SyncPriority), 3)
        out, err, rc = await self.vrpc_call(
            "GetDeltas", f'{{Sgs: {{DbId: {dbid}, Gvs: {{"y\\xfes\\xfe{gid}": {{}}}}}}}}',
            '"go"')
        self.assertEqual(rc, 0, err)
        recs = [ln for ln in out.splitlines() if "DeltaResp{Rec:" in ln]
        self.assertEqual(len(recs), 2, out)
        # a *Syncgroup in the any (optional), as Go's responder sends it
        self.assertIn(f"Value: ?{PKG}.Syncgroup{{", recs[1])
        self.assertIn('"abc123"', recs[1])

        # A stranger database (or no Read access) is DbOffline, as in Go.
        out, err, rc = await self.vrpc_call(
            "GetDeltas", '{Data: {DbId: {Blessing: "x", Name: "y"}}}', '"go"')
        self.assertNotEqual(rc, 0)
        self.assertIn("is offline and cannot be synced", err)
