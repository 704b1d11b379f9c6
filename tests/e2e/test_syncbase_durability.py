"""Durability: kill -9 a writer during a stream of acknowledged puts; all acked rows survive."""
import os
import signal
import subprocess
import sys

from twisted.trial import unittest

from v23py.syncbase.util import Id
from syncbased.service import Service

from v23py.testing import ROOT, tempdir
ALICE = ["idp:o:fortune:alice"]


class DurabilityTest(unittest.TestCase):
    def run_writer_and_kill(self, root, acks_before_kill):
        env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
        p = subprocess.Popen([sys.executable, "-m", "tests.e2e.syncbase_writer", root],
                             stdout=subprocess.PIPE, cwd=ROOT, env=env)
        self.addCleanup(lambda: p.poll() is None and p.kill())
        acked = []
        self.assertEqual(p.stdout.readline().strip(), b"READY")
        while len(acked) < acks_before_kill:
            line = p.stdout.readline()
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
        acked = self.run_writer_and_kill(root, 400)
        self.assertGreaterEqual(len(acked), 400)
        acked2 = self.run_writer_and_kill(root, 200)   # restart on same root, kill again
        svc = Service(root, "sqlite")
        self.addCleanup(svc.close)
        cx = svc.database(Id("idp:o:fortune", "fortuneDb")).collection(
            Id("idp:o:fortune:alice", "c"))
        present = {k for k, _ in cx.scan(ALICE, "", b"", b"")}
        missing = [k for k in acked + acked2 if k not in present]
        self.assertEqual(missing, [])
        for k in (acked2 + acked)[:50]:
            self.assertEqual(cx.row(k).get(ALICE, ""), b"value-" + k[1:].encode())
