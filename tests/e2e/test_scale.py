"""The functional half of every performance and scale figure in the README.

The benchmarks under benchmarks/ time these things; these tests check that at the
same scale the results are right (every value exact, nothing lost, nothing extra).
No timing is asserted here.  README row -> test:

* VOM: `[]byte` 1 MiB, `[]string` x10,000 encode/decode     VomScaleTest
* RPC: 1 B and 1 KB echo, 16 concurrent callers (one conn)   RpcScaleTest.test_16_callers_on_one_conn
* RPC: connection setup                                      RpcScaleTest.test_fresh_connections
* RPC: streaming                                             RpcScaleTest.test_streaming_32_mib
* Go's benchmark pair, both directions                       tests/interop/test_rpc_benchmark_go.py
* Syncbase: puts and gets through RPC, 16 clients            SyncbaseScaleTest.test_16_clients_put_then_get
* Syncbase: Scan through RPC 100,000 rows; start with 100k   SyncbaseScaleTest.test_start_on_and_scan_100k_rows
* Sync: propagation A -> B (200 puts)                        SyncScaleTest.test_bulk_sync_and_writers_while_syncing
* Sync: bulk sync (rows already on A); rows written by 16
  clients in batches while syncing                           SyncScaleTest.test_bulk_sync_and_writers_while_syncing
  (10,000 rows each, with rounds of at most 500 records so that both run through 20
  rounds or more: the code paths of the 100,000-row figures, at a tenth of the CI time)
* Sync: 10 peers converge                                    SyncScaleTest.test_10_peers_converge
* Syncbase: PutRows, 500 rows per call (ours; Go's daemon:
  the fallback batch of Puts)                                tests/e2e/test_syncbase_putrows.py,
                                                             interop ExtensionsMixedTest
* Sync: propagation with write-triggered hints               tests/e2e/test_syncbase_hints.py
"""
import hashlib
import os
import tempfile

from twisted.internet import defer
from twisted.trial import unittest

from v23py import security, vdl, vom
from v23py.v23.services import syncbase as sbwire
from v23py.testing.syncbase import ALICE, DaemonTestCase, sleep, sync_peer

from benchmarks import rpc_bench
from benchmarks.benchmark_vdl import BenchmarkClient, BenchmarkServer


class VomScaleTest(unittest.TestCase):
    def test_one_mib_of_bytes(self):
        data = os.urandom(1 << 20)
        enc = vom.encode(data)
        # version, type id of []byte, length 2^20 as a 3-byte uint, then the bytes
        self.assertEqual(enc[:6], bytes.fromhex("814efd100000"))
        self.assertEqual(enc[6:], data)
        self.assertEqual(vom.decode(enc), data)

    def test_ten_thousand_strings(self):
        strings = [f"s{i}-" + "é" * (i % 7) for i in range(10_000)]
        t = vdl.list_of(vdl.StringType)
        enc = vom.encode(strings, t)
        got = vom.decode(enc, t)
        self.assertEqual(got, strings)
        self.assertEqual(vom.encode(got, t), enc)


class RpcScaleTest(unittest.TestCase):
    timeout = 120

    @defer.inlineCallbacks
    def setUp(self):
        from v23py import runtime
        from v23py.testing.rpc import make_principal, new_runtime
        self.p, _ = make_principal("bench")
        self.ctx, shutdown = new_runtime(self.p)
        self.addCleanup(shutdown)
        server = yield defer.ensureDeferred(runtime.with_new_server(
            self.ctx, "", BenchmarkServer(rpc_bench.BenchImpl()), security.allow_everyone()))
        self.ep = server.endpoints[0]
        self.stub = BenchmarkClient("/" + str(self.ep))

    async def test_16_callers_on_one_conn(self):
        from v23py import runtime

        async def caller(i):
            for n in range(25):
                payload = bytes([i, n]) * (512 if n % 2 else 0) or bytes([i])
                got = await self.stub.Echo(self.ctx, payload)
                self.assertEqual(got, payload)
            return i
        done = await defer.gatherResults([defer.ensureDeferred(caller(i)) for i in range(16)])
        self.assertEqual(done, list(range(16)))
        client = runtime.get_runtime(self.ctx).client
        self.assertEqual(len(list(client.flow_manager.conns)), 1)

    async def test_fresh_connections(self):
        from v23py.flow import Identity
        from v23py.runtime.flowmanager import FlowManager
        for _ in range(10):
            mgr = FlowManager(Identity(self.p, blessings=self.p.blessing_store.default()))
            try:
                conn = await mgr.dial(self.ep, timeout=10)
                self.assertEqual(conn.remote_blessings.names(), ["bench"])
            finally:
                await mgr.stop()

    async def test_streaming_32_mib(self):
        call = await self.stub.EchoStream(self.ctx)
        sent, got = hashlib.sha256(), hashlib.sha256()
        chunks, n = 512, 0
        for i in range(chunks):
            c = os.urandom(65536)
            sent.update(c)
            call.send(c)
            if i >= 8:                          # at most 8 chunks in flight, as the bench
                back = await call.recv()
                got.update(back)
                n += len(back)
        call.close_send()
        while n < chunks * 65536:
            back = await call.recv()
            got.update(back)
            n += len(back)
        await call.finish()
        self.assertEqual((n, got.hexdigest()), (chunks * 65536, sent.hexdigest()))


class SyncbaseScaleTest(DaemonTestCase):
    timeout = 240

    async def db_cx(self, d, create=True):
        from v23py import syncbase
        db = syncbase.new_service(d.endpoint).database(self.ctx, "fortuneDb", None)
        cx = db.collection(self.ctx, "c")
        if create:
            await db.create(self.ctx, None)
            await cx.create(self.ctx, None)
        return db, cx

    async def test_16_clients_put_then_get(self):
        d = await self.daemon()
        _, cx = await self.db_cx(d)

        async def writer(i):
            for n in range(60):
                await cx.put(self.ctx, f"w{i:02d}-{n:03d}", f"{i}:{n}")

        async def reader(i):
            for n in range(60):
                self.assertEqual(await cx.get(self.ctx, f"w{i:02d}-{n:03d}"), f"{i}:{n}")
        await defer.gatherResults([defer.ensureDeferred(writer(i)) for i in range(16)])
        await defer.gatherResults([defer.ensureDeferred(reader(i)) for i in range(16)])

    async def test_start_on_and_scan_100k_rows(self):
        from v23py import syncbase
        from v23py.syncbase.util import Id
        from syncbased import access
        from syncbased.common import row_key
        from syncbased.service import Service
        rows = 100_000
        root = tempfile.mkdtemp(dir=self.tmp)
        # the rows go into the store directly (as the benchmark fills it), then the
        # daemon starts on that root
        svc = Service(root, "sqlite", default_patterns=[ALICE])
        try:
            db = svc.database(Id("idp:o:fortune", "fortuneDb"))
            db.create([ALICE], None, access.perms_add({}, ALICE, *access.ALL_DATABASE_TAGS))
            cx = svc.database(db.id).collection(Id(ALICE, "c"))
            cx.create([ALICE], "", access.perms_add({}, ALICE, *access.ALL_COLLECTION_TAGS))
            # VOM of the string "v%06d": version, string type, length 7, the text
            self.assertEqual(vom.encode("v000042"), b"\x81\x06\x07v000042")
            for start in range(0, rows, 10_000):
                def fill(tx, start=start):
                    for i in range(start, start + 10_000):
                        tx.put(row_key(cx.id, "r%06d" % i), b"\x81\x06\x07v%06d" % i)
                cx.d.st.run_in_transaction(fill)
                svc.flush()
        finally:
            svc.close()
        d = await self.daemon(root_dir=root)
        c = syncbase.new_service(d.endpoint).database_for_id(("idp:o:fortune", "fortuneDb")) \
            .CollectionForId((ALICE, "c"))
        n = 0
        async for k, v in c.scan(self.ctx, syncbase.Prefix("")):
            if (k, v) != ("r%06d" % n, "v%06d" % n):
                self.fail(f"row {n}: {(k, v)!r}")
            n += 1
        self.assertEqual(n, rows)


class SyncScaleTest(DaemonTestCase):
    timeout = 300

    async def wait_rows(self, c, prefix, want, timeout=120.0):
        """Wait until the rows under ``prefix`` on ``c`` are exactly ``want``."""
        from twisted.internet import reactor
        from v23py import syncbase, verror
        end = reactor.seconds() + timeout
        while True:
            try:
                got = {k: v async for k, v in c.scan(self.ctx, syncbase.Prefix(prefix))}
            except verror.VError as e:
                if e.id != verror.NoExist.id:
                    raise
                got = None           # (a joiner gets the collection by sync)
            if got == want:
                return
            if reactor.seconds() > end:
                self.assertEqual(len(got or {}), len(want))
                self.assertEqual(got, want)
            await sleep(0.2)

    async def test_bulk_sync_and_writers_while_syncing(self):
        from v23py import syncbase, verror
        env = {"V23PY_SYNC_ROUND_RECORDS": "500"}
        a, b = await self.daemons(2, env=env)
        dba, ca = await sync_peer(self.ctx, a, "fortuneDb", "c")
        dbb, cb = await sync_peer(self.ctx, b, "fortuneDb", "c", admin=a)
        # propagation: 200 puts one after another
        for i in range(200):
            await ca.put(self.ctx, f"p{i:03d}", i)
        await self.wait_rows(cb, "p", {f"p{i:03d}": i for i in range(200)})

        async def write(prefix, total, batch=100, writers=16):
            starts = list(range(0, total, batch))

            async def writer():
                while starts:
                    start = starts.pop(0)
                    for attempt in range(5):
                        bt = await dba.begin_batch(self.ctx)
                        c = bt.collection_for_id(ca.id())
                        await defer.gatherResults([
                            c.put(self.ctx, f"{prefix}{i:05d}", f"{prefix}{i}")
                            for i in range(start, min(total, start + batch))])
                        try:
                            await bt.commit(self.ctx)
                            break
                        except verror.VError as e:
                            if e.id != sbwire.ErrConcurrentBatch.id or attempt == 4:
                                raise
            await defer.gatherResults([defer.ensureDeferred(writer()) for _ in range(writers)])

        n = 10_000
        # 16 clients write in batches while B syncs
        await write("w", n)
        await self.wait_rows(cb, "w", {f"w{i:05d}": f"w{i}" for i in range(n)})
        # bulk: rows already on A (B paused while they are written) sync on resume
        await dbb.pause_sync(self.ctx)
        await write("s", n)
        await sleep(0.5)
        self.assertEqual([k async for k, _ in cb.scan(self.ctx, syncbase.Prefix("s"))], [])
        await dbb.resume_sync(self.ctx)
        await self.wait_rows(cb, "s", {f"s{i:05d}": f"s{i}" for i in range(n)})

    async def test_10_peers_converge(self):
        ds = await self.daemons(10)
        cols = []
        for i, d in enumerate(ds):
            _, c = await sync_peer(self.ctx, d, "fortuneDb", "c",
                                   admin=None if i == 0 else ds[0])
            cols.append(c)
        await defer.gatherResults([c.put(self.ctx, f"peer{i}", i) for i, c in enumerate(cols)])
        want = {f"peer{i}": i for i in range(10)}
        for c in cols:
            await self.wait_rows(c, "peer", want, timeout=60.0)
        # one more round of writes, one key written by every peer in a known order:
        # the last write wins everywhere
        for i, c in enumerate(cols):
            await c.put(self.ctx, "last", f"from{i}")
            await sleep(0.02)
        for c in cols:
            await self.wait_rows(c, "last", {"last": "from9"}, timeout=60.0)
