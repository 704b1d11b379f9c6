"""B1 and B2 against our mounttabled (a real process with an ACL file).

Only root:alice may mount.  mallory (root:mallory) wearing alice's blessings (sent before
her Auth) and bob (root:alice:bob, a blessing good only for Glob__) with that caveat
stripped into X509Raw both mounted under the table before the fix; now mallory's conn is
refused and bob's blessings do not decode.  tests/interop/test_go_v020_gaps.py runs the
same attacks against Go's mounttabled, which accepts them (SECURITY.md).
"""
import json
import os
import shutil
import sys
import tempfile

from twisted.internet import defer
from twisted.trial import unittest

from v23py import verror
from tests.security import _hostile as H
from tests.test_fortune import spawn


class MountTableAttacks:
    """The attacks; ``start_table(creds, acls)`` returns the table's name."""

    timeout = 90

    @defer.inlineCallbacks
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="sec-mt-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.who = H.mount_table_people(self.dir)
        acls = os.path.join(self.dir, "acls.json")
        with open(acls, "w") as f:
            json.dump(H.MT_PERMS, f)
        self.mt = yield self.start_table(os.path.join(self.dir, "root"), acls)

    def ctx(self, p, conn_class=None):
        ctx, stop = H.runtime(p, conn_class)
        self.addCleanup(stop)
        return ctx

    @defer.inlineCallbacks
    def names(self):
        alice, _ = self.who["alice"]
        return (yield H.glob_names(self.ctx(alice), self.mt))

    @defer.inlineCallbacks
    def test_honest_baseline(self):
        alice, _ = self.who["alice"]
        yield H.mount(self.ctx(alice), self.mt, "alices")
        e = yield self.assertFailure(H.mount(self.ctx(self.who["mallory"]), self.mt, "mallorys"),
                                     verror.VError)
        self.assertEqual(e.id, verror.NoAccess.id)
        bob, _ = self.who["bob"]
        e = yield self.assertFailure(H.mount(self.ctx(bob), self.mt, "bobs"), verror.VError)
        self.assertEqual(e.id, verror.NoAccess.id)
        self.assertEqual((yield self.names()), ["alices"])

    @defer.inlineCallbacks
    def attack_b1(self):
        _, alice_b = self.who["alice"]
        ctx, stop = H.wearing_runtime(self.who["mallory"], alice_b)
        self.addCleanup(stop)
        try:
            yield H.mount(ctx, self.mt, "mallory-wore-alice")
        except verror.VError as e:
            return e
        return None

    @defer.inlineCallbacks
    def attack_b2(self):
        bob, bob_b = self.who["bob"]
        ctx = self.ctx(H.WearingPrincipal(bob, H.strip_last_caveat(bob_b)))
        try:
            yield H.mount(ctx, self.mt, "bob-stripped-his-caveat")
        except verror.VError as e:
            return e
        return None


class OurMountTableTest(MountTableAttacks, unittest.TestCase):
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
