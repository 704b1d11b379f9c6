"""B1 and B2 against our mounttabled (a real process with an ACL file), and point 3 of
issue 12: `...` lets in a caller whose blessings the table does not recognize, as Go does
(test_dots_admit_a_stranger, shared with Go's table in tests/interop/test_go_v020_gaps).

Only root:alice may mount.  mallory (root:mallory) wearing alice's blessings (sent before
her Auth) and bob (root:alice:bob, a blessing good only for Glob__) with that caveat
stripped into X509Raw both mounted under the table before the fix; now mallory's conn is
refused and bob's blessings do not decode.  tests/interop/test_go_v020_gaps.py runs the
same attacks against Go's mounttabled, which accepts them (SECURITY.md).
"""
import sys

from twisted.internet import defer
from twisted.trial import unittest

from v23py.testing import hostile as H
from v23py.testing.procs import spawn


class OurMountTableTest(H.MountTableAttacks, unittest.TestCase):
    @defer.inlineCallbacks
    def start_table(self, creds, acls):
        d, _ = spawn(self, [sys.executable, "-m", "v23py.cmd.mounttabled", "--v23.credentials",
                            creds, "--v23.tcp.address", "127.0.0.1:0", "--acls", acls], "NAME=")
        line = yield d.ready
        return line.split("NAME=", 1)[1].strip()

    @defer.inlineCallbacks
    def test_worn_blessings_refused(self):
        e = yield self.attack_b1()
        self.assertIsNotNone(e, "mallory mounted wearing alice's blessings")
        self.assertIn("blessings not bound", str(e))
        self.assertEqual((yield self.names()), [])

    @defer.inlineCallbacks
    def test_stripped_caveat_refused(self):
        e = yield self.attack_b2()
        self.assertIsNotNone(e, "bob mounted with his caveat stripped")
        self.assertIn("X509Raw", str(e))
        self.assertEqual((yield self.names()), [])
