"""The two holes of issue 12 that Go Vanadium v0.2.0 shares, shown against Go's own
binaries — the reproduction SECURITY.md points mixed deployments to.

* B1: Go's mounttabled lets mallory mount where only alice may, once mallory sends
  alice's (public) blessings down the blessings flow before her own Auth.
* B2: a caveat moved into X509Raw leaves the signature valid: Go's mounttabled lets bob
  (whose blessing allows only Glob__) mount, and Go's `principal dumpblessings` prints the
  forged blessing without its caveat.

These assert that Go *accepts* the attacks (our own servers refuse them: tests/security).
If a Go release closes the holes, these fail and SECURITY.md must say so.
"""
import base64
import subprocess
import sys

from twisted.internet import defer
from twisted.trial import unittest

from v23py.testing import go_binary
from v23py.testing import hostile as H
from v23py.testing.procs import ENV, spawn


class GoMountTableTest(H.MountTableAttacks, unittest.TestCase):
    @defer.inlineCallbacks
    def start_table(self, creds, acls):
        d, _ = spawn(self, [go_binary("mounttabled"), "--v23.credentials", creds,
                            "--v23.tcp.address", "127.0.0.1:0", "--acls", acls], "NAME=")
        line = yield d.ready
        return line.split("NAME=", 1)[1].strip()

    @defer.inlineCallbacks
    def test_go_accepts_worn_blessings(self):
        e = yield self.attack_b1()
        self.assertIsNone(e, "Go v0.2.0 refused (SECURITY.md must change): %s" % e)
        self.assertEqual((yield self.names()), ["mallory-wore-alice"])

    @defer.inlineCallbacks
    def test_go_accepts_stripped_caveat(self):
        e = yield self.attack_b2()
        self.assertIsNone(e, "Go v0.2.0 refused (SECURITY.md must change): %s" % e)
        self.assertEqual((yield self.names()), ["bob-stripped-his-caveat"])

    def test_go_principal_calls_the_forged_blessing_valid(self):
        from v23py import vom
        from v23py.security import _wiretypes as W
        _, bob_b = self.who["bob"]
        forged = H.strip_last_caveat(bob_b)
        b64 = base64.urlsafe_b64encode(vom.encode(forged.to_wire(), W.WireBlessingsType))
        r = subprocess.run([go_binary("principal"), "dumpblessings", "-"], input=b64,
                           capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        out = r.stdout.decode()
        self.assertIn("Blessings          : root:alice:bob\n", out)
        self.assertNotIn("EXPIRED", out)
        self.assertIn("Certificate #2: bob with 0 caveats", out)
        # ours refuses it
        r = subprocess.run([sys.executable, "-m", "v23py.cmd.principal", "dumpblessings", "-"],
                           input=b64, capture_output=True, timeout=60, env=ENV)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(b"X509Raw", r.stderr)
