"""End-to-end tests against a real syncbased subprocess, through the client library."""
import os
import subprocess

from twisted.internet import defer, reactor, threads
from twisted.trial import unittest

from v23py import verror
from v23py.v23.services import syncbase as sbwire
from v23py.testing import StartError, go_binary, start_process, tempdir
from v23py.testing import ROOT, child_env
from v23py.testing.syncbase import Daemon, make_creds

ALICE = "idp:o:fortune:alice"


class _E2E(unittest.TestCase):
    timeout = 45

    async def setUp(self):
        self.tmp = tempdir(self, "sbe2e-")
        self.creds = make_creds(os.path.join(self.tmp, "alice"), ALICE)
        self.daemon = Daemon(self.creds, root_dir=os.path.join(self.tmp, "root"))
        self.addCleanup(self.daemon.stop)
        await self.daemon.start()
        self.ctx, self._shutdown = self.runtime(self.creds)

    def runtime(self, creds):
        import v23py
        ctx, shutdown = v23py.init([f"--v23.credentials={creds}"], reactor=reactor)
        self.addCleanup(shutdown)
        return ctx, shutdown

    async def db_cx(self, ctx=None, sb_name=None):
        from v23py import syncbase
        ctx = ctx or self.ctx
        sb = syncbase.new_service(sb_name or self.daemon.endpoint)
        db = sb.database(ctx, "fortuneDb", None)
        await db.create(ctx, None)
        cx = db.collection(ctx, "fortuneCollection")
        await cx.create(ctx, None)
        return sb, db, cx

    async def assertVError(self, err_id, coro):
        try:
            await coro
        except verror.VError as e:
            self.assertEqual(e.id, err_id.id, str(e))
            return e
        self.fail(f"expected {err_id.id}")


class CrudTest(_E2E):
    @defer.inlineCallbacks
    def test_create_put_get_scan_delete(self):
        yield defer.ensureDeferred(self._crud())

    async def _crud(self):
        from v23py import syncbase
        sb, db, cx = await self.db_cx()
        self.assertEqual(db.id(), ("idp:o:fortune", "fortuneDb"))
        self.assertEqual(cx.id(), (ALICE, "fortuneCollection"))
        self.assertTrue(await db.exists(self.ctx))
        await self.assertVError(verror.Exist, db.create(self.ctx, None))
        ep_key = "numFortunes" + self.daemon.endpoint      # contains '/', '@', ':'
        await cx.put(self.ctx, ep_key, 2)
        await cx.put(self.ctx, "0", "The greatest risk is not taking one.")
        await cx.put(self.ctx, "1%2F", "percent and slash")
        self.assertEqual(await cx.get(self.ctx, ep_key), 2)
        self.assertEqual(await cx.get(self.ctx, "1%2F"), "percent and slash")
        got = [kv async for kv in cx.scan(self.ctx, syncbase.Prefix("numFortunes"))]
        self.assertEqual(got, [(ep_key, 2)])
        keys = [k async for k, _ in cx.scan(self.ctx, syncbase.Range("", ""))]
        self.assertEqual(keys, sorted(["0", "1%2F", ep_key]))
        await cx.delete(self.ctx, "0")
        await self.assertVError(verror.NoExist, cx.get(self.ctx, "0"))
        self.assertFalse(await cx.row("0").exists(self.ctx))
        await cx.delete_range(self.ctx, syncbase.Prefix("num"))
        keys = [k async for k, _ in cx.scan(self.ctx, syncbase.Range("", ""))]
        self.assertEqual(keys, ["1%2F"])
        self.assertEqual(await db.list_collections(self.ctx), [cx.id()])
        self.assertEqual(await sb.list_databases(self.ctx), [db.id()])

    @defer.inlineCallbacks
    def test_batches_and_conflicts(self):
        yield defer.ensureDeferred(self._batches())

    async def _batches(self):
        from v23py import syncbase
        _, db, cx = await self.db_cx()
        await cx.put(self.ctx, "n", 0)
        b1 = await db.begin_batch(self.ctx)
        b2 = await db.begin_batch(self.ctx)
        c1, c2 = b1.collection_for_id(cx.id()), b2.collection_for_id(cx.id())
        self.assertEqual(await c1.get(self.ctx, "n"), 0)
        self.assertEqual(await c2.get(self.ctx, "n"), 0)
        await c1.put(self.ctx, "n", 1)
        await c2.put(self.ctx, "n", 2)
        await b1.commit(self.ctx)
        await self.assertVError(sbwire.ErrConcurrentBatch, b2.commit(self.ctx))
        self.assertEqual(await cx.get(self.ctx, "n"), 1)
        # RunInBatch retries conflicts: 8 concurrent increments all land.

        async def incr():
            async def fn(b):
                c = b.collection_for_id(cx.id())
                v = await c.get(self.ctx, "n")
                await c.put(self.ctx, "n", v + 1)
            for _ in range(20):
                try:
                    await syncbase.run_in_batch(self.ctx, db, syncbase.BatchOptions(), fn)
                    return
                except verror.VError as e:
                    if e.id != sbwire.ErrConcurrentBatch.id:
                        raise
        await defer.gatherResults([defer.ensureDeferred(incr()) for _ in range(8)])
        self.assertEqual(await cx.get(self.ctx, "n"), 9)
        ro = await db.begin_batch(self.ctx, syncbase.BatchOptions(ReadOnly=True))
        await self.assertVError(sbwire.ErrReadOnlyBatch,
                                ro.collection_for_id(cx.id()).put(self.ctx, "x", 1))
        await self.assertVError(sbwire.ErrUnknownBatch,
                                syncbase.BatchDatabase(db._s, db.id(), None,
                                                       "t0000000000000001").commit(self.ctx))

    @defer.inlineCallbacks
    def test_invalid_names_and_permission_denied(self):
        yield defer.ensureDeferred(self._invalid())

    async def _invalid(self):
        from v23py import syncbase
        sb, db, cx = await self.db_cx()
        await self.assertVError(sbwire.ErrInvalidName, cx.put(self.ctx, "bad\x01key", 1))
        bad = syncbase.Collection(db, syncbase.Id("$", "x"))
        await self.assertVError(sbwire.ErrInvalidName, bad.exists(self.ctx))
        # A stranger (unrecognized blessings) sees neither data nor existence.
        bob = make_creds(os.path.join(self.tmp, "bob"), "idp:o:fortune:bob", trust=[self.creds])
        bctx, _ = self.runtime(bob)
        bcx = syncbase.new_service(self.daemon.endpoint).database_for_id(db.id()) \
            .CollectionForId(cx.id())
        await self.assertVError(verror.NoExistOrNoAccess, bcx.get(bctx, "k"))
        await self.assertVError(verror.NoAccess, syncbase.new_service(
            self.daemon.endpoint).get_permissions(bctx))

    @defer.inlineCallbacks
    def test_watch(self):
        yield defer.ensureDeferred(self._watch())

    async def _watch(self):
        _, db, cx = await self.db_cx()
        await cx.put(self.ctx, "a", "1")
        stream = db.watch(self.ctx, b"")
        it = stream.__aiter__()
        initial = []
        while True:
            ch = await it.__anext__()
            initial.append(ch)
            if not ch.continued:
                break
        self.assertEqual([(c.entity, c.row) for c in initial],
                         [("root", ""), ("collection", ""), ("row", "a")])
        self.assertEqual(initial[2].value, "1")
        marker = initial[-1].resume_marker
        self.assertTrue(marker.startswith(b"l\xfe"))
        await cx.put(self.ctx, "b", "2")
        ch = await it.__anext__()
        self.assertEqual((ch.entity, ch.row, ch.change_type, ch.value), ("row", "b", "put", "2"))
        await cx.delete(self.ctx, "a")
        ch = await it.__anext__()
        self.assertEqual((ch.row, ch.change_type), ("a", "delete"))
        stream.cancel()
        # resume from the marker: only the later changes (the daemon's "initial state
        # skipped" change is not passed on, as in Go's client library)
        s2 = db.watch(self.ctx, marker)
        it2 = s2.__aiter__()
        nxt = await it2.__anext__()
        self.assertEqual(nxt.row, "b")
        s2.cancel()


class DaemonTest(_E2E):
    async def test_second_daemon_on_same_root_fails(self):
        d2 = Daemon(self.creds, root_dir=self.daemon.root_dir)
        try:
            await d2.start()
            self.fail("a second daemon started on the same root")
        except StartError as e:
            self.assertIn("in use", str(e))
        self.assertNotEqual(d2.proc.returncode, 0)

    @defer.inlineCallbacks
    def test_restart_keeps_data_and_kill9_keeps_acked_puts(self):
        yield defer.ensureDeferred(self._restart())

    async def _restart(self):
        from v23py import syncbase
        _, db, cx = await self.db_cx()
        acked = []

        async def writer(i):
            n = 0
            while True:
                key = f"w{i}-{n}"
                await cx.put(self.ctx, key, n)
                acked.append(key)
                n += 1
        tasks = [defer.ensureDeferred(writer(i)) for i in range(8)]
        while len(acked) < 300:
            await _sleep(0.05)
        self.daemon.kill9()
        for t in tasks:
            t.addErrback(lambda f: None)
        d2 = Daemon(self.creds, root_dir=self.daemon.root_dir)
        self.addCleanup(d2.stop)
        await d2.start()
        cx2 = syncbase.new_service(d2.endpoint).database_for_id(db.id()).collection_for_id(cx.id())
        present = {k async for k, _ in cx2.scan(self.ctx, syncbase.Prefix("w"))}
        self.assertEqual([k for k in acked if k not in present], [])
        self.assertEqual(d2.stop(), 0)      # SIGTERM: clean exit


    async def test_sigusr1_writes_every_threads_stack_and_the_daemon_goes_on(self):
        _, _, cx = await self.db_cx()
        await cx.put(self.ctx, "k", "v")
        said = self.daemon.report()
        self.assertIn("syncbased running", said)
        self.assertIn("Current thread", said)           # the thread that took the signal
        self.assertIn('File "', said)
        self.assertIn("_run", said)                     # the store worker's loop, waiting
        self.assertEqual(await cx.get(self.ctx, "k"), "v")
        self.assertEqual(self.daemon.stop(), 0)


class GoInteropTest(_E2E):
    @defer.inlineCallbacks
    def test_go_vrpc_signature_and_calls(self):
        vrpc = go_binary("vrpc")
        yield defer.ensureDeferred(self.db_cx())
        db = self.daemon.endpoint + "/idp:o:fortune,fortuneDb"

        def run(*args):
            return subprocess.run([vrpc, f"--v23.credentials={self.creds}", *args],
                                  capture_output=True, text=True, timeout=30)
        sig = yield threads.deferToThread(run, "signature", db)
        self.assertEqual(sig.returncode, 0, sig.stderr)
        for needle in ['type "v.io/v23/services/syncbase".Database interface',
                       '"v.io/v23/services/syncbase".SyncgroupManager',
                       'BeginBatch(bo "v.io/v23/services/syncbase".BatchOptions) '
                       '("v.io/v23/services/syncbase".BatchHandle | error)',
                       'WatchGlob(req "v.io/v23/services/watch".GlobRequest) stream<_, '
                       '"v.io/v23/services/watch".Change> error']:
            self.assertIn(needle, sig.stdout)
        cx = db + "/idp:o:fortune:alice,fortuneCollection"
        put = yield threads.deferToThread(run, "call", cx + "/k%2Fx", "Put", '""', "int64(7)")
        self.assertEqual(put.returncode, 0, put.stderr)
        get = yield threads.deferToThread(run, "call", cx + "/k%2Fx", "Get", '""')
        self.assertEqual(get.stdout.strip(), "int64(7)")
        scan = yield threads.deferToThread(run, "call", cx, "Scan", '""', '[]byte("")',
                                           '[]byte("")')
        self.assertIn('KeyValue{Key: "k/x", Value: int64(7)}', scan.stdout)


class FortuneOnSyncbaseTest(_E2E):
    async def test_fortune_server_sb_name(self):
        out = os.path.join(self.tmp, "server.txt")
        await start_process(
            self, ["fortune-server", f"--v23.credentials={self.creds}",
                   "--v23.tcp.address=127.0.0.1:0", f"--endpoint-file-name={out}",
                   f"--sb-name={self.daemon.endpoint}"], "Wrote endpoint name", "fortune-server",
            stderr=subprocess.STDOUT, cwd=ROOT, env=child_env())
        name = open(out).read().strip()

        def client(*extra):
            return subprocess.run(["fortune-client", f"--v23.credentials={self.creds}",
                                   f"--server={name}", *extra], capture_output=True,
                                  text=True, timeout=60, env=child_env())
        self.assertEqual(client().stdout.strip(), "[empty]")
        client("--add=The greatest risk is not taking one.")
        self.assertEqual(client().stdout.strip(), "The greatest risk is not taking one.")


def _sleep(s):
    d = defer.Deferred()
    reactor.callLater(s, d.callback, None)
    return d


class FlagsTest(unittest.TestCase):
    timeout = 60

    @defer.inlineCallbacks
    def test_permissions_literal_and_initial_db(self):
        import json
        import v23py
        from v23py import syncbase
        tmp = tempdir(self, "sbflags-")
        creds = make_creds(os.path.join(tmp, "alice"), ALICE)
        perms = {t: {"In": ["idp:o:fortune:alice:$"]} for t in ("Admin", "Read", "Resolve")}
        d = Daemon(creds, root_dir=os.path.join(tmp, "root"), extra=[f"--v23.permissions.literal={json.dumps(perms)}",
                                 "--initial-db=idp:o:fortune,initial"])
        self.addCleanup(d.stop)
        yield d.start()
        ctx, shutdown = v23py.init([f"--v23.credentials={creds}"], reactor=reactor)
        self.addCleanup(shutdown)
        sb = syncbase.new_service(d.endpoint)
        got, version = yield sb.get_permissions(ctx)
        self.assertEqual(sorted(got), ["Admin", "Read", "Resolve"])
        self.assertEqual(version, "0")
        dbs = yield sb.list_databases(ctx)
        self.assertEqual(dbs, [("idp:o:fortune", "initial")])
        # No Write on the service: creating another database is refused.
        try:
            yield sb.database(ctx, "other", None).create(ctx, None)
            self.fail("Create succeeded without Write on the service")
        except verror.VError as e:
            self.assertEqual(e.id, verror.NoAccess.id)
        # The initial database grants Read/Write/Resolve to its blessing pattern.
        dperms, _ = yield sb.database_for_id(("idp:o:fortune", "initial")).get_permissions(ctx)
        self.assertIn("idp:o:fortune", list(dperms["Write"].In))
