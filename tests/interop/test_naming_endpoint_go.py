"""Endpoints printed by Go's mounttabled parse and re-print byte for byte."""
import os
import tempfile

from twisted.trial import unittest

from v23py.testing import go_binary, start_process
from v23py.naming import parse_endpoint, split_address_name


class GoEndpointTests(unittest.TestCase):
    timeout = 30

    async def _check_round_trip(self):
        _, name = await start_process(
            self, [go_binary("mounttabled"), "--v23.tcp.address=127.0.0.1:0",
                   "--v23.tcp.protocol=tcp"], "NAME=", "Go mounttabled",
            cwd=tempfile.gettempdir(),
            env={k: v for k, v in os.environ.items()
                 if not k.startswith(("V23_NAMESPACE", "V23_CREDENTIALS"))})
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
