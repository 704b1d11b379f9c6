"""Endpoints printed by Go's mounttabled parse and re-print byte for byte."""
import os
import signal
import subprocess
import tempfile

from twisted.internet import reactor, threads
from twisted.trial import unittest

from v23py.testing import go_binary
from v23py.naming import parse_endpoint, split_address_name


def _start_go_mounttabled():
    """Run Go's mounttabled on loopback and return (process, its NAME= line)."""
    binary = go_binary("mounttabled")
    proc = subprocess.Popen(
        [binary, "--v23.tcp.address=127.0.0.1:0", "--v23.tcp.protocol=tcp"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        start_new_session=True, cwd=tempfile.gettempdir(),
        env={k: v for k, v in os.environ.items()
             if not k.startswith(("V23_NAMESPACE", "V23_CREDENTIALS"))})
    for line in proc.stdout:
        if line.startswith("NAME="):
            return proc, line[len("NAME="):].strip()
    return proc, None


class GoEndpointTests(unittest.TestCase):
    timeout = 30

    def _stop(self, proc):
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()

    async def _check_round_trip(self):
        proc, name = await threads.deferToThread(_start_go_mounttabled)
        self.addCleanup(self._stop, proc)
        self.assertIsNotNone(name, "Go mounttabled printed no NAME= line")
        addr, suffix = split_address_name(name)
        self.assertEqual(suffix, "")
        ep = parse_endpoint(addr)
        self.assertEqual(str(ep), addr)
        self.assertEqual(ep.name(), name)
        self.assertTrue(ep.serves_mount_table)
        self.assertTrue(ep.address.startswith("127.0.0.1:"))
        self.assertFalse(ep.routing_id.is_null())
        self.assertTrue(ep.blessing_names, "Go servers publish their blessing names")

    def test_go_mounttabled_endpoint_round_trip(self):
        from twisted.internet.defer import Deferred
        return Deferred.fromCoroutine(self._check_round_trip())
