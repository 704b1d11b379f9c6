"""The Syncbase client from asyncio: a program run with ``asyncio.run`` (a child process,
inside ``async with v23py.aio.init(...)``) awaits the client's calls, iterates its scan,
query and watch streams with ``async for``, and runs a batch, against a real syncbased."""
import os
import subprocess
import sys
import textwrap

from twisted.internet import defer, threads

from v23py.testing.procs import ENV
from v23py.testing.syncbase import DaemonTestCase

PROGRAM = r'''
import asyncio, sys
import v23py.aio
from v23py import syncbase, verror

async def main():
    async with v23py.aio.init(["--v23.credentials", sys.argv[1]]) as ctx:
        db = syncbase.new_service(sys.argv[2]).database(ctx, "notes")
        await db.create(ctx, exist_ok=True)
        c = db.collection(ctx, "c")
        await c.create(ctx, exist_ok=True)
        await asyncio.gather(*[c.put(ctx, f"k{i}", i) for i in range(3)])
        print("get", await c.get(ctx, "k1"))
        print("scan", [kv async for kv in c.scan(ctx, syncbase.Prefix("k"))])

        async def add(batch):
            await batch.collection_for_id(c.id()).put(ctx, "k9", 9)
        await syncbase.run_in_batch(ctx, db, syncbase.BatchOptions(), add)
        headers, rows = await db.exec(ctx, "select k, v from c where k like ?", "k%")
        print("exec", headers, [row async for row in rows])
        marker = await db.get_resume_marker(ctx)
        changes = db.watch(ctx, marker, [syncbase.CollectionRowPattern()])
        await c.put(ctx, "w", "new")
        ch = await asyncio.wait_for(changes.__anext__(), 30)
        print("watch", ch.row, ch.change_type, ch.value)
        changes.cancel()
        try:
            await c.get(ctx, "nope")
        except verror.VError as e:
            print("error", e.id)
    print("done")

asyncio.run(main())
'''


class SyncbaseUnderAsyncioTest(DaemonTestCase):
    timeout = 180

    @defer.inlineCallbacks
    def test_client_under_asyncio(self):
        d = yield self.daemon()
        path = os.path.join(self.tmp, "notes.py")
        with open(path, "w") as f:
            f.write(textwrap.dedent(PROGRAM))
        p = yield threads.deferToThread(
            subprocess.run, [sys.executable, path, self.creds, d.endpoint], cwd=self.tmp,
            env=ENV, capture_output=True, text=True, timeout=150, stdin=subprocess.DEVNULL)
        self.assertEqual(p.returncode, 0, p.stderr[-3000:])
        self.assertEqual(p.stdout.splitlines(), [
            "get 1",
            "scan [('k0', 0), ('k1', 1), ('k2', 2)]",
            "exec ['k', 'v'] [['k0', 0], ['k1', 1], ['k2', 2], ['k9', 9]]",
            "watch w put new",
            "error v.io/v23/verror.NoExist",
            "done",
        ])
