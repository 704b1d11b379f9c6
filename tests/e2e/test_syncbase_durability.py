"""Durability: kill -9 during a stream of acknowledged puts; every acknowledged row survives.

Two levels, each over several kill -9 rounds on the same root directory, every round
writing keys of its own (so each round's acknowledged keys are new ones, not rewrites
of keys an earlier round already made durable):
* a real ``syncbased`` process killed under eight concurrent RPC writers;
* the store alone (``Service`` and its store thread) in a writer process.
"""
import os
import signal
import subprocess
import sys
import tempfile

from twisted.internet import defer
from twisted.trial import unittest

from v23py.syncbase.util import Id
from syncbased.service import Service
from v23py.testing.syncbase import DaemonTestCase, sleep

from v23py.testing import ROOT, read_line, tempdir
ALICE = ["idp:o:fortune:alice"]
ROUNDS = 3


class DaemonDurabilityTest(DaemonTestCase):
    timeout = 120

    async def test_acknowledged_puts_survive_kill9_of_syncbased(self):
        from v23py import syncbase, verror
        root = tempfile.mkdtemp(dir=self.tmp)
        acked = {}                       # key -> value, every round
        for rnd in range(ROUNDS):
            d = await self.daemon(root_dir=root)
            db = syncbase.new_service(d.endpoint).database(self.ctx, "fortuneDb", None)
            cx = db.collection(self.ctx, "c")
            if rnd == 0:
                await db.create(self.ctx, None)
                await cx.create(self.ctx, None)
            this_round = {}

            async def writer(i, rnd=rnd, cx=cx, this_round=this_round):
                n = 0
                while True:
                    key, value = f"r{rnd}-w{i}-{n}", f"{rnd}:{i}:{n}"
                    await cx.put(self.ctx, key, value)
                    this_round[key] = value     # acknowledged
                    n += 1
            tasks = [defer.ensureDeferred(writer(i)) for i in range(8)]
            while len(this_round) < 150:
                await sleep(0.02)
            d.kill9()
            results = await defer.DeferredList(tasks, consumeErrors=True)
            for ok, f in results:    # every writer stopped on an error, none hung
                self.assertFalse(ok)
                self.assertTrue(f.check(verror.VError), f)
            self.assertFalse(set(this_round) & set(acked))      # new keys every round
            acked.update(this_round)
        d = await self.daemon(root_dir=root)
        cx = syncbase.new_service(d.endpoint).database(self.ctx, "fortuneDb", None).collection(
            self.ctx, "c")
        present = {k: v async for k, v in cx.scan(self.ctx, syncbase.Prefix(""))}
        self.assertEqual({k: present.get(k) for k in acked}, acked)
        for r in range(ROUNDS):
            self.assertGreaterEqual(sum(1 for k in acked if k.startswith(f"r{r}-")), 150)
        # rows written but not acknowledged before the kill may be there too, whole
        for k, v in present.items():
            rnd, i, n = k[1:].replace("-w", "-").split("-")
            self.assertEqual(v, f"{rnd}:{i}:{n}")


class StoreDurabilityTest(unittest.TestCase):
    def run_writer_and_kill(self, root, prefix, acks_before_kill):
        env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
        p = subprocess.Popen([sys.executable, "-m", "tests.e2e.syncbase_writer", root, prefix],
                             stdout=subprocess.PIPE, cwd=ROOT, env=env)
        self.addCleanup(lambda: p.poll() is None and p.kill())
        acked = []
        self.assertEqual(read_line(p, 60, "syncbase_writer").strip(), b"READY")
        while len(acked) < acks_before_kill:
            line = read_line(p, 60, "syncbase_writer")
            if not line:
                break
            acked.append(line.split()[1].decode())
        os.kill(p.pid, signal.SIGKILL)
        # Acks already written to the pipe before the kill were also acknowledged.
        rest = p.stdout.read()
        p.wait()
        p.stdout.close()
        for line in rest.splitlines():
            if line.startswith(b"ACK "):
                acked.append(line.split()[1].decode())
        return acked

    def test_acknowledged_puts_survive_kill9(self):
        root = tempdir(self, "sbdur-")
        acked = []
        for rnd in range(ROUNDS):        # restart on the same root, new keys, kill again
            got = self.run_writer_and_kill(root, f"r{rnd}-", 300)
            self.assertGreaterEqual(len(got), 300)
            self.assertFalse(set(got) & set(acked))
            acked += got
        svc = Service(root, "sqlite")
        self.addCleanup(svc.close)
        cx = svc.database(Id("idp:o:fortune", "fortuneDb")).collection(
            Id("idp:o:fortune:alice", "c"))
        present = {k for k, _ in cx.scan(ALICE, "", b"", b"")}
        self.assertEqual([k for k in acked if k not in present], [])
        for k in acked:
            self.assertEqual(cx.row(k).get(ALICE, ""), b"value-" + k.encode())
