"""The Syncbase client's Python face against a real syncbased: snake_case names (Go's
names still answer), ``exist_ok=`` on creates, and the error that explains the
blessing convention."""
import os
import tempfile
import warnings

from twisted.internet import defer, reactor
from twisted.trial import unittest

from v23py import syncbase, verror
from v23py.testing.syncbase import Daemon, make_creds
from v23py.v23.services import syncbase as sbwire

ALICE = "idp:o:fortune:alice"


def _go(fn, *args):
    """(fn(*args), the DeprecationWarnings it raised, as text)."""
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        r = fn(*args)
    return r, [str(w.message) for w in seen if w.category is DeprecationWarning]


class GoNamesTest(unittest.TestCase):
    """Go's names are deprecated aliases (documented for code ported from Go): they
    still work, and each use warns with the snake_case name to use instead."""

    def test_every_method_has_its_go_name(self):
        for cls, pairs in [
                (syncbase.Service, [("full_name", "FullName"), ("database", "Database"),
                                    ("list_databases", "ListDatabases")]),
                (syncbase.Database, [("create_blob", "CreateBlob"), ("begin_batch", "BeginBatch"),
                                     ("collection_for_id", "CollectionForId"), ("exec", "Exec")]),
                (syncbase.BatchDatabase, [("commit", "Commit"), ("abort", "Abort")]),
                (syncbase.Collection, [("delete_range", "DeleteRange"), ("scan", "Scan"),
                                       ("put_rows", "PutRows")]),
                (syncbase.Row, [("key", "Key"), ("get", "Get"), ("put", "Put")]),
                (syncbase.Syncgroup, [("get_members", "GetMembers"), ("set_spec", "SetSpec")])]:
            for snake, go in pairs:
                self.assertTrue(callable(getattr(cls, snake)), (cls, snake))
                self.assertEqual(getattr(cls, go).__name__, go)
                self.assertIn("Deprecated", getattr(cls, go).__doc__)
        svc, warned = _go(syncbase.NewService, "/h:1")
        self.assertEqual(warned, ["NewService is Go's name, kept only for code ported from "
                                  "Go: use new_service"])
        self.assertEqual(_go(svc.FullName), (svc.full_name(), [
            "FullName is Go's name, kept only for code ported from Go: use full_name"]))
        db, warned = _go(svc.DatabaseForId, ("a:o:b", "db"))
        self.assertEqual(db.full_name(), svc.database_for_id(("a:o:b", "db")).full_name())
        self.assertEqual(len(warned), 1)
        self.assertEqual(syncbase.RunInBatch.__name__, "RunInBatch")
        # the snake_case names do not warn
        self.assertEqual(_go(syncbase.new_service("/h:1").full_name)[1], [])

    def test_schemas_clock_and_neighborhood_names(self):
        # the calls added with conflict resolution, the virtual clock and invites
        for cls, pairs in [
                (syncbase.Service, [("dev_mode_get_time", "DevModeGetTime")]),
                (syncbase.Database, [("enforce_schema", "EnforceSchema"),
                                     ("get_schema_metadata", "GetSchemaMetadata"),
                                     ("set_schema_metadata", "SetSchemaMetadata"),
                                     ("close", "Close")])]:
            for snake, go in pairs:
                self.assertTrue(callable(getattr(cls, snake)), (cls, snake))
                self.assertEqual(getattr(cls, go).__name__, go)
        self.assertTrue(callable(syncbase.Service.dev_mode_update_vclock))
        self.assertIn("dev_mode_update_vclock", syncbase.Service.DevModeUpdateVClock.__doc__)
        for snake, go in [("new_value", "NewValue"), ("listen_for_invites", "ListenForInvites"),
                          ("listen_for_peers", "ListenForPeers"),
                          ("listen_for_app_peers", "ListenForAppPeers"),
                          ("advertise_app", "AdvertiseApp")]:
            self.assertEqual(getattr(syncbase, go).__wrapped__, getattr(syncbase, snake))
        # value fields are snake_case; the Go names read (and warn about) the same fields
        v, warned = _go(syncbase.NewValue, 7)
        self.assertEqual(len(warned), 1)
        self.assertEqual((v.val, _go(lambda: v.Val), v.get(), _go(v.Get)[0], v.state),
                         (7, (7, ["Val is Go's name, kept only for code ported from Go: "
                                  "use val"]), 7, 7, "Exists"))
        schema = syncbase.Schema(syncbase.SchemaMetadata(2, [syncbase.CrRule(("b", "c"), "k")]))
        self.assertEqual((schema.metadata.version, _go(lambda: schema.Metadata.Version)[0]),
                         (2, 2))
        self.assertEqual(_go(lambda: schema.metadata.rules[0].KeyPrefix)[0], "k")
        res = syncbase.Resolution()
        _go(lambda: res.ResultSet.__setitem__("k", syncbase.ResolvedRow("k", None)))
        self.assertEqual(list(res.result_set), ["k"])
        inv = syncbase.Invite(syncbase.Id("b", "sg"), ["/h:1"], ["b"])
        self.assertEqual((inv.syncgroup, _go(lambda: inv.Syncgroup)[0], inv.lost,
                          _go(lambda: inv.Lost)[0]), (("b", "sg"), ("b", "sg"), False, False))
        self.assertEqual(_go(lambda: syncbase.AppPeer("app", "b:o:app:u").AppName),
                         ("app", ["AppName is Go's name, kept only for code ported from Go: "
                                  "use app_name"]))


class _Daemon(unittest.TestCase):
    timeout = 60
    blessing = ALICE

    def setUp(self):
        import v23py
        self.tmp = tempfile.mkdtemp(prefix="sbpy-")
        dcreds = make_creds(os.path.join(self.tmp, "daemon"), ALICE)
        self.creds = dcreds if self.blessing == ALICE else make_creds(
            os.path.join(self.tmp, "creds"), self.blessing, trust=[dcreds])
        self.daemon = Daemon(dcreds)
        self.addCleanup(self.daemon.stop)
        self.ctx, shutdown = v23py.init([f"--v23.credentials={self.creds}"], reactor=reactor)
        self.addCleanup(shutdown)
        return self.daemon.start()


class ExistOkTest(_Daemon):
    @defer.inlineCallbacks
    def test_creates_twice(self):
        yield defer.ensureDeferred(self._go())

    async def _go(self):
        ctx = self.ctx
        db = syncbase.new_service(self.daemon.endpoint).database(ctx, "db")
        await db.create(ctx)
        await db.create(ctx, exist_ok=True)          # the second run of a program
        try:
            await db.create(ctx)
        except verror.VError as e:
            self.assertEqual(e.id, verror.Exist.id)
        else:
            self.fail("a second create without exist_ok succeeded")
        c = db.collection(ctx, "c")
        await c.create(ctx, exist_ok=True)
        await c.create(ctx, exist_ok=True)
        await c.put(ctx, "k", 7)
        self.assertEqual(await c.get(ctx, "k"), 7)
        got, warned = _go(c.Get, ctx, "k")      # Go's (deprecated) name still works
        self.assertEqual((await got, len(warned)), (7, 1))
        sg = db.syncgroup(ctx, "sg")
        spec = syncbase.SyncgroupSpec(
            Perms=syncbase.perms_for(ALICE, syncbase.ALL_SYNCGROUP_TAGS), Collections=[c.id()])
        await sg.create(ctx, spec, syncbase.SyncgroupMemberInfo(), exist_ok=True)
        await sg.create(ctx, spec, syncbase.SyncgroupMemberInfo(), exist_ok=True)
        self.assertEqual(await db.list_syncgroups(ctx), [sg.id()])


class ConventionTest(_Daemon):
    blessing = "alice"     # a plain blessing: no app, no user

    @defer.inlineCallbacks
    def test_the_error_says_what_to_do(self):
        db = syncbase.new_service(self.daemon.endpoint).database(self.ctx, "db")
        try:
            yield db.create(self.ctx)
        except verror.VError as e:
            self.assertEqual(e.id, sbwire.ErrInferDefaultPermsFailed.id)
            self.assertIn("failed to infer default perms", e.msg)
            self.assertIn("(alice)", e.msg)
            self.assertIn("<idp>:o:<app>:<user>", e.msg)
            self.assertIn("principal create", e.msg)
            self.assertIn("perms=", e.msg)
        else:
            self.fail("create inferred perms from a plain blessing")
