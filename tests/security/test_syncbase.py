"""Syncbase under attack (issue 12: B3, B1 on Syncbase, and strangers everywhere).

Against real syncbased processes holding alice's private collection:
- B3: a principal whose root the daemon does not recognize, and one it recognizes but
  that no ACL names, publish a syncgroup over alice's collection (Go 2017 takes anyone's);
  both are refused, the daemon holds no such syncgroup and GetDeltas gives them nothing.
  A hostile daemon that publishes its own syncgroup to alice's daemon gets it refused and
  nothing it holds reaches alice's rows.
- B1: a read-only principal wearing alice's blessings is refused on every method.
- every Service, Database, Collection, Row and %%sync method, called by a stranger, is
  refused and changes nothing.
In process (the initiator's side of B3): records from a member whose blessings may not
Read the syncgroup are never applied.
"""
import os
import tempfile

from twisted.internet import defer, reactor
from twisted.trial import unittest

import v23py
from v23py import security, vdl, verror
from v23py.rpc import options
from v23py.syncbase.util import Id
from v23py.testing import hostile as H, tempdir
from v23py.testing.syncbase import ALICE, Daemon, make_creds, sleep

DB = Id("idp:o:fortune", "db")
CX = Id(ALICE, "private")
ROWS = {"k1": "alice's secret", "k2": "another one"}
REFUSED = {verror.NoAccess.id, verror.NoExistOrNoAccess.id}


def _ctx(test, creds):
    ctx, stop = v23py.init([f"--v23.credentials={creds}", "--v23.namespace.root=/127.0.0.1:1"],
                           reactor=reactor)
    test.addCleanup(stop)
    return ctx


def _sg(sg_id, collections, perms_for, joiner="badc0ffee", publish=""):
    """A Syncgroup value as a hostile publisher would send it."""
    from v23py import syncbase
    from syncbased import interfaces as I
    from syncbased.common import id_out
    from syncbased.vsync.syncgroups import member_info
    spec = syncbase.SyncgroupSpec(
        Description="mine now", PublishSyncbaseName=publish,
        Perms=syncbase.perms_for(perms_for, ["Admin", "Read", "Write", "Resolve"]),
        Collections=list(collections))
    return I.Syncgroup(Id=id_out(sg_id), SpecVersion="v1", Spec=spec, Creator=joiner,
                       DbId=id_out(DB), Status=I.SyncgroupStatus.Running,
                       Joiners={joiner: I.SyncgroupMemberState(
                           WhenUpdated=1, HasLeft=False, MemberInfo=member_info(None))})


class SyncbaseAttackTest(unittest.TestCase):
    timeout = 120

    @defer.inlineCallbacks
    def setUp(self):
        self.tmp = tempdir(self, prefix="sec-sb-")
        # mallory: recognized by alice's daemon (alice trusts her root), named by no ACL
        self.mallory = make_creds(os.path.join(self.tmp, "mallory"), "idp:o:fortune:mallory")
        self.alice = make_creds(os.path.join(self.tmp, "alice"), ALICE, trust=[self.mallory])
        mp = security.load_principal(self.mallory)     # (and mallory's daemon trusts alice's)
        mp.add_to_roots(security.load_principal(self.alice).blessing_store.default())
        # the stranger calls itself alice too, under a root nobody recognizes
        self.stranger = make_creds(os.path.join(self.tmp, "stranger"), ALICE)
        self.daemon = Daemon(self.alice, root_dir=os.path.join(self.tmp, "a"))
        self.addCleanup(self.daemon.stop)
        yield self.daemon.start()
        self.actx = _ctx(self, self.alice)
        yield defer.ensureDeferred(self.fill())

    async def fill(self):
        from v23py import syncbase
        db = syncbase.new_service(self.daemon.endpoint).database(self.actx, DB.Name, None)
        await db.create(self.actx, None)
        cx = db.collection(self.actx, CX.Name)
        await cx.create(self.actx, None)
        for k, v in ROWS.items():
            await cx.put(self.actx, k, v)
        self.db, self.cx = db, cx
        self.blob = str((await db.create_blob(self.actx))._ref)

    async def rows(self):
        from v23py import syncbase
        return {k: v async for k, v in self.cx.scan(self.actx, syncbase.Prefix(""))}

    async def assert_untouched(self):
        self.assertEqual(await self.rows(), ROWS)
        self.assertEqual(await self.db.list_syncgroups(self.actx), [])

    def sync_stub(self):
        from syncbased import interfaces as I
        return I.SyncClient(self.daemon.endpoint + "/%%sync")

    async def deltas(self, ctx, gid, collections=(CX,)):
        from syncbased import interfaces as I
        from syncbased.common import id_out
        from syncbased.vsync._log import s
        from syncbased.vsync.syncgroups import collection_prefix
        req = I.DeltaReq("Data", I.DataDeltaReq(
            DbId=id_out(DB), SgIds={gid},
            Gvs={s(collection_prefix(c)): {} for c in collections}))
        call = await self.sync_stub().GetDeltas(ctx, req, "badc0ffee", *options.insecure())
        items = []
        while True:
            try:
                items.append(await call.recv())
            except verror.VError as e:
                if e.id != verror.EOF.id:
                    raise
                break
        await call.finish()
        return items

    async def publish_as(self, creds, perms_for):
        from syncbased.vsync._log import gid_of
        ctx = _ctx(self, creds)
        sg_id = Id(perms_for, "stolen")
        with self.assertRaises(verror.VError) as cm:
            await self.sync_stub().PublishSyncgroup(ctx, "badc0ffee", _sg(sg_id, [CX], perms_for),
                                                    "v1", {}, *options.insecure())
        # and with no syncgroup there, GetDeltas gives nothing
        with self.assertRaises(verror.VError) as cm2:
            await self.deltas(ctx, gid_of(DB, sg_id))
        self.assertEqual(cm2.exception.id, "v.io/x/ref/services/syncbase/server/interfaces."
                                           "DbOffline")
        await self.assert_untouched()
        return cm.exception

    @defer.inlineCallbacks
    def test_b3_stranger_cannot_publish_over_alices_collection(self):
        e = yield defer.ensureDeferred(self.publish_as(self.stranger, ALICE))
        self.assertEqual(e.id, verror.NoExistOrNoAccess.id, e)

    @defer.inlineCallbacks
    def test_b3_recognized_but_unnamed_cannot_publish(self):
        e = yield defer.ensureDeferred(self.publish_as(self.mallory, "idp:o:fortune:mallory"))
        self.assertIn(e.id, REFUSED, e)

    @defer.inlineCallbacks
    def test_b3_an_admin_of_the_syncgroup_must_still_write_the_collection(self):
        # mallory may use the database but not alice's collection
        yield defer.ensureDeferred(self._grant_db("idp:o:fortune:mallory"))
        e = yield defer.ensureDeferred(self.publish_as(self.mallory, "idp:o:fortune:mallory"))
        self.assertEqual(e.id, verror.NoAccess.id, e)

    async def _grant_db(self, who):
        """``who`` may Resolve the service and use the database (not the collection)."""
        from v23py import syncbase
        from syncbased import access
        from syncbased.common import perms_out
        for obj, tags in ((syncbase.new_service(self.daemon.endpoint), ("Resolve",)),
                          (self.db, ("Read", "Write", "Resolve"))):
            perms, version = await obj.get_permissions(self.actx)
            perms = access.from_any(perms)
            for tag in tags:
                perms = access.perms_add(perms, who, tag)
            await obj.set_permissions(self.actx, perms_out(perms), version)

    @defer.inlineCallbacks
    def test_b3_member_gets_rows_only_of_the_collections_its_syncgroup_covers(self):
        yield defer.ensureDeferred(self._member_deltas())

    async def _member_deltas(self):
        # alice shares "shared" with mallory through a syncgroup mallory may read; mallory
        # asks GetDeltas for that syncgroup and names alice's private collection as well
        from v23py import syncbase
        from syncbased import access
        from syncbased.common import perms_out
        from syncbased.vsync._log import gid_of
        mallory = "idp:o:fortune:mallory"
        await self._grant_db(mallory)
        perms = access.perms_add({}, ALICE, *access.ALL_COLLECTION_TAGS)
        shared = self.db.collection(self.actx, "shared")
        await shared.create(self.actx, perms_out(access.perms_add(perms, mallory, "Read")))
        await shared.put(self.actx, "s1", "for mallory")
        sg_perms = access.perms_add(access.perms_add({}, ALICE, "Admin", "Read"),
                                    mallory, "Read")
        sg = self.db.Syncgroup(self.actx, "sg")
        await sg.create(self.actx, syncbase.SyncgroupSpec(
            Perms=perms_out(sg_perms), Collections=[shared.id()]),
            syncbase.SyncgroupMemberInfo(SyncPriority=1))
        # alice's private collection is synced too, in a syncgroup only alice may read
        # (so its rows are in the log the responder reads)
        own = self.db.Syncgroup(self.actx, "own")
        await own.create(self.actx, syncbase.SyncgroupSpec(
            Perms=syncbase.perms_for(ALICE, ["Admin", "Read"]), Collections=[CX]),
            syncbase.SyncgroupMemberInfo(SyncPriority=1))
        mctx = _ctx(self, self.mallory)
        gid = gid_of(DB, Id(ALICE, "sg"))
        got = await self.deltas(mctx, gid, (CX, Id(ALICE, "shared")))
        keys = [str(i.value.Metadata.ObjId) for i in got if i.name == "Rec"]
        self.assertTrue(keys and all("shared" in k for k in keys), keys)
        self.assertFalse([k for k in keys if "private" in k], keys)
        gvs = [i.value for i in got if i.name == "Gvs"]
        self.assertTrue(gvs and all("private" not in p for g in gvs for p in g), gvs)
        # and asking only for the private collection gives nothing at all
        with self.assertRaises(verror.VError) as cm:
            await self.deltas(mctx, gid, (CX,))
        self.assertEqual(cm.exception.id, "v.io/x/ref/services/syncbase/server/interfaces."
                                          "DbOffline")
        self.assertEqual(await self.rows(), ROWS)
        # (while alice, who may read both, gets both through her own syncgroup)
        got = await self.deltas(self.actx, gid_of(DB, Id(ALICE, "own")), (CX,))
        self.assertTrue([i for i in got if i.name == "Rec" and
                         "private" in str(i.value.Metadata.ObjId)])

    @defer.inlineCallbacks
    def test_b3_hostile_daemon_publishing_to_alice(self):
        yield defer.ensureDeferred(self._hostile_daemon())

    async def _hostile_daemon(self):
        from v23py import syncbase
        m = Daemon(self.mallory, root_dir=os.path.join(self.tmp, "m"))
        self.addCleanup(m.stop)
        await m.start()
        mctx = _ctx(self, self.mallory)
        mdb = syncbase.new_service(m.endpoint).database(mctx, DB.Name, None)
        await mdb.create(mctx, None)
        mcx = mdb.collection(mctx, "planted")
        await mcx.create(mctx, None)
        await mcx.put(mctx, "k1", "overwritten by mallory")
        sg = mdb.Syncgroup(mctx, "sg")
        await sg.create(mctx, syncbase.SyncgroupSpec(
            Perms=syncbase.perms_for("idp:o:fortune:mallory", ["Admin", "Read"]),
            Collections=[mcx.id()], PublishSyncbaseName=self.daemon.endpoint),
            syncbase.SyncgroupMemberInfo(SyncPriority=10))
        await sleep(5.0)   # (the attack landed within 5 s)
        await self.assert_untouched()
        self.assertEqual([c.Name for c in await self.db.list_collections(self.actx)], [CX.Name])

    @defer.inlineCallbacks
    def test_b1_worn_alice_blessings_refused_everywhere(self):
        yield defer.ensureDeferred(self._worn())

    async def _worn(self):
        reader, _ = H.principal("reader")
        alice_b = security.load_principal(self.alice).blessing_store.default()
        ctx, stop = H.wearing_runtime(reader, alice_b)
        self.addCleanup(stop)
        outcomes = await call_everything(ctx, self.daemon.endpoint, self.blob)
        for name, err in outcomes.items():
            self.assertIsNotNone(err, f"{name} answered a principal wearing alice's blessings")
            self.assertIn("blessings not bound", str(err), name)
        await self.assert_untouched()

    @defer.inlineCallbacks
    def test_stranger_is_refused_by_every_method(self):
        yield defer.ensureDeferred(self._stranger())

    async def _stranger(self):
        ctx = _ctx(self, self.stranger)
        outcomes = await call_everything(ctx, self.daemon.endpoint, self.blob)
        answered = sorted(n for n, e in outcomes.items() if e is None)
        self.assertEqual(answered, [], "answered a stranger")
        # the refusals are access refusals (a few methods check their arguments first)
        ids = {n: e.id for n, e in outcomes.items()}
        access_like = REFUSED | {"v.io/x/ref/services/syncbase/server/interfaces.DbOffline",
                                 "v.io/v23/query/syncql.TableCantAccess"}
        for n in ("Service.GetPermissions", "Service.SetPermissions", "Database.Exec",
                  "Database.GetPermissions", "Database.SetPermissions", "Database.Destroy",
                  "Database.ListCollections", "Collection.Scan", "Collection.DeleteRange",
                  "Collection.SetPermissions", "Row.Get", "Row.Put", "Row.Delete",
                  "Sync.GetTime", "Sync.GetDeltas", "Sync.PublishSyncgroup",
                  "Sync.JoinSyncgroupAtAdmin", "Sync.HaveBlob", "Sync.FetchBlob",
                  "Sync.RequestTakeBlobs", "Sync.AcceptedBlobOwnership", "Sync.GetBlobShares"):
            self.assertIn(ids[n], access_like, (n, str(outcomes[n])))
        self.assertGreater(len(outcomes), 40)
        # the reserved methods answer, but show a stranger nothing
        from v23py.syncbase.util import encode_id
        self.assertEqual(await H.glob_names(ctx, self.daemon.endpoint), [])
        self.assertEqual(await H.glob_names(ctx, self.daemon.endpoint + "/" + encode_id(DB)), [])
        await self.assert_untouched()


async def call_everything(ctx, endpoint, blob):
    """{Interface.Method: the VError (or None if it answered)} for every method of the
    service, the database, the collection, a row and %%sync, each called once with its
    arguments' zero values (ids and keys of alice's real objects in the names, her
    blob for blob refs, a query of her collection, and permissions for everyone)."""
    from v23py import rpc
    from v23py.rpc.stubs import MethodDesc
    from v23py.syncbase.util import encode, encode_id
    from v23py import runtime as rtm
    from syncbased import access
    from syncbased.common import perms_out
    client = rtm.get_runtime(ctx).client
    db = endpoint + "/" + encode_id(DB)
    cx = db + "/" + encode_id(CX)
    names = {"Service": endpoint, "Database": db, "Collection": cx,
             "Row": cx + "/" + encode("k1"), "Sync": endpoint + "/%%sync"}
    # the signatures, asked of the daemon as alice would (reserved methods are open)
    out = {}
    for kind, name in names.items():
        try:
            sig = await rpc.reserved_signature(ctx, name, opts=options.insecure())
        except verror.VError as e:
            out[kind + ".__Signature"] = e
            continue
        seen = set()
        for iface in sig:
            for m in iface.Methods:
                if m.Name in seen or m.Name.startswith("__"):
                    continue   # (reserved methods are checked by globbing below)
                seen.add(m.Name)
                key = f"{kind}.{m.Name}"
                in_types = [a.Type for a in m.InArgs]
                args = [vdl.zero(t) for t in in_types]
                for i, a in enumerate(m.InArgs):
                    if a.Name == "query":
                        args[i] = "select k, v from private"
                    elif a.Name == "br":
                        args[i] = blob
                    elif a.Name == "perms":   # (everything, to everyone)
                        tags = {"Service": access.ALL_TYPICAL_TAGS,
                                "Collection": access.ALL_COLLECTION_TAGS}.get(
                                    kind, access.ALL_DATABASE_TAGS)
                        args[i] = perms_out(access.perms_add({}, "...", *tags))
                desc = MethodDesc(name=m.Name,
                                  in_stream=m.InStream.Type if m.InStream is not None else None,
                                  out_stream=m.OutStream.Type if m.OutStream is not None else None)
                cctx, cancel = ctx.with_timeout(10.0)
                try:
                    call = await client.start_call(cctx, name, m.Name, args, in_types,
                                                   [a.Type for a in m.OutArgs], desc=desc,
                                                   opts=(options.NoResolve(),
                                                         options.insecure()[0]))
                    call.close_send()
                    if desc.out_stream is not None:
                        for _ in range(100):
                            try:
                                await call.recv()
                            except verror.VError as e:
                                if e.id == verror.EOF.id:
                                    break
                                raise
                    await call.finish()
                    out[key] = None
                except verror.VError as e:
                    out[key] = e
                finally:
                    cancel()
    return out


class InitiatorTakesOnlyReadableSyncgroups(unittest.TestCase):
    """In process: alice's DbSync never applies records from a member of a syncgroup
    whose blessings may not Read it, nor records of a syncgroup the peer is not in."""

    def test_records_need_a_readable_shared_syncgroup(self):
        import types
        from v23py import vom
        from syncbased import access
        from syncbased import interfaces as I
        from syncbased.service import Service
        from syncbased.vsync import SyncService
        names = [ALICE]

        def peer():
            svc = Service(tempfile.mkdtemp(prefix="sec-vsync-"), "memstore",
                          default_patterns=names)
            sync = SyncService(types.SimpleNamespace(service=svc, reactor=reactor, blobs=None),
                               None, publish_nh=False, own_names=names)
            svc.database(DB).create(names, None, access.perms_add(
                {}, ALICE, *access.ALL_DATABASE_TAGS))
            cx = svc.database(DB).collection(CX)
            cx.create(names, "", access.perms_add({}, ALICE, *access.ALL_COLLECTION_TAGS))
            return sync, cx
        a_sync, a_cx = peer()
        b_sync, b_cx = peer()
        from v23py import syncbase
        spec = syncbase.SyncgroupSpec(Perms=syncbase.perms_for(ALICE, ["Admin", "Read"]),
                                      Collections=[CX])
        SG = Id(ALICE, "sg")
        a_sync.create_syncgroup(names, a_sync.service.database(DB), SG, spec,
                                syncbase.SyncgroupMemberInfo(SyncPriority=1))
        sg, ver, gv = a_sync.join_at_admin(names, DB, SG, b_sync.hex,
                                           syncbase.SyncgroupMemberInfo(SyncPriority=1))
        b_sync.finish_join(names, b_sync.service.database(DB), "a", sg, ver, gv)
        b_cx.row("k").put(names, "", vom.encode("from b"))
        a_ds, b_ds = a_sync.dbsync(DB), b_sync.dbsync(DB)
        wire = lambda items: [vom.decode(vom.encode(x, I.DeltaResp._vdl_type),  # noqa: E731
                                         I.DeltaResp._vdl_type) for x in items]
        req = a_ds.data_request(b_sync.hex)
        items = wire(b_ds.respond(names, req, a_sync.hex))
        # b presents blessings that may not Read the syncgroup: nothing is applied
        with self.assertRaises(verror.VError):
            a_ds.apply(False, items, b_sync.hex, ["idp:o:fortune:mallory"])
        with self.assertRaises(verror.VError):
            a_ds.apply(False, items, b_sync.hex, None)
        # a device that is not a member: nothing either
        with self.assertRaises(verror.VError):
            a_ds.apply(False, items, "0123", names)
        self.assertEqual([k for k, _ in a_cx.scan(names, "", b"", b"")], [])
        # b as itself: applied
        self.assertGreater(a_ds.apply(False, items, b_sync.hex, names), 0)
        self.assertEqual([k for k, _ in a_cx.scan(names, "", b"", b"")], ["k"])
