"""The advanced tutorials' authorizers (fortune-server --authorizer) and the globber
tutorial's file server dispatcher, unit by unit; the tutorials (tests.e2e.test_tutorials
test_naming / test_security) run them end to end."""
import os
import time

from twisted.trial import unittest

from v23py import security, verror
from v23py.security import access
from v23py.testing import tempdir


def _principal(name):
    p = security.random_principal()
    p.set_default_blessings(p.bless_self(name))
    return p


def _blessed(blesser, name, extension):
    """A principal holding blesser's default blessing extended by `extension`,
    which recognizes blesser's root."""
    p = security.random_principal()
    b = blesser.bless(p.public_key, blesser.blessing_store.default(), extension,
                      security.unconstrained_use())
    p.add_to_roots(b)
    p.blessing_store.set_default(b)
    return p, b


def _call(server, client_blessings, suffix="", tags=(), method="Get"):
    return security.Call(local_principal=server,
                         local_blessings=server.blessing_store.default(),
                         remote_blessings=client_blessings, method=method,
                         method_tags=list(tags), suffix=suffix)


class ConsultantsTests(unittest.TestCase):
    def setUp(self):
        from fortune import tagged
        from fortune.authorizers import ConsultantsAuthorizer
        self.reader, self.writer = tagged.Reader, tagged.Writer
        self.server = _principal("prophInc")
        self.auth = ConsultantsAuthorizer(tagged.Reader)
        _, self.cassandra = _blessed(self.server, "cassandra", "consultant:cassandra")
        p, _ = _blessed(self.server, "x", "consultant:cassandra")
        # an intern and a customer, blessed by the consultant's principal
        self.cas_p = p
        self.intern = p.bless(security.random_principal().public_key,
                              p.blessing_store.default(), "intern:alice",
                              security.unconstrained_use())
        self.customer = p.bless(security.random_principal().public_key,
                                p.blessing_store.default(), "cust:bob",
                                security.unconstrained_use())
        _, self.nostradamus = _blessed(self.server, "n", "consultant:nostradamus")
        _, self.deep = _blessed(self.server, "d", "consultant:cassandra:x")

    def allowed(self, blessings, suffix, tags=()):
        try:
            self.auth.authorize(_call(self.server, blessings, suffix, tags))
            return True
        except verror.VError as e:
            self.assertEqual(str(e), "access denied.")
            return False

    def test_root_is_open(self):
        self.assertTrue(self.allowed(security.Blessings(), ""))

    def test_consultant_owns_exactly_their_suffix(self):
        self.assertTrue(self.allowed(self.cassandra, "cassandra", [self.writer]))
        self.assertFalse(self.allowed(self.cassandra, "nostradamus", [self.reader]))
        self.assertTrue(self.allowed(self.nostradamus, "nostradamus", [self.writer]))
        # consultant:cassandra:x is not consultant:cassandra (non-extendable match)
        self.assertFalse(self.allowed(self.deep, "cassandra", [self.reader]))

    def test_intern_shares_the_suffix(self):
        self.assertTrue(self.allowed(self.intern, "cassandra", [self.writer]))
        self.assertFalse(self.allowed(self.intern, "nostradamus", [self.reader]))

    def test_customer_reads_and_resolves_only(self):
        self.assertTrue(self.allowed(self.customer, "cassandra", [self.reader]))
        self.assertTrue(self.allowed(self.customer, "cassandra", [access.Resolve]))
        self.assertFalse(self.allowed(self.customer, "cassandra", [self.writer]))
        self.assertFalse(self.allowed(self.customer, "cassandra", []))
        self.assertFalse(self.allowed(self.customer, "nostradamus", [self.reader]))


class FriendWindowTests(unittest.TestCase):
    def setUp(self):
        self.alice = _principal("alice")
        _, self.friend = _blessed(self.alice, "b", "friend:bob")
        _, self.family = _blessed(self.alice, "c", "family:sister")
        _, self.other = _blessed(self.alice, "d", "colleague:dave")

    def auth(self, start, length, hour):
        from fortune.authorizers import FriendWindowAuthorizer
        return FriendWindowAuthorizer(start, length, clock=lambda: time.struct_time(
            (2024, 1, 1, hour, 30, 0, 0, 1, 0)))

    def test_family_always(self):
        for hour in (0, 12, 23):
            self.auth(12, 1, hour).authorize(_call(self.alice, self.family))

    def test_friends_in_the_window_only(self):
        self.auth(12, 1, 12).authorize(_call(self.alice, self.friend))
        self.auth(10, 3, 12).authorize(_call(self.alice, self.friend))
        for start, length in ((13, 1), (11, 1), (15, 3)):
            with self.assertRaises(verror.VError) as cm:
                self.auth(start, length, 12).authorize(_call(self.alice, self.friend))
            self.assertEqual(str(cm.exception),
                             "friends like [alice:friend:bob] not authorized at this hour (12)")

    def test_others_never(self):
        with self.assertRaises(verror.VError) as cm:
            self.auth(0, 24, 12).authorize(_call(self.alice, self.other))
        self.assertEqual(str(cm.exception), "not friend nor family, not authorized")

    def test_flags(self):
        import v23py
        from fortune import util
        from fortune.authorizers import ConsultantsAuthorizer, FriendWindowAuthorizer
        flags = v23py.FlagSet("fortune-server")
        util.add_flags(flags)
        flags.parse(["--authorizer=friend-window", "--start", "7"])
        a = util.make_authorizer(flags)
        self.assertIsInstance(a, FriendWindowAuthorizer)
        self.assertEqual((a.start, a.length), (7, 1))
        self.assertTrue(util.tagged_mode(flags))
        flags = v23py.FlagSet("fortune-server")
        util.add_flags(flags)
        flags.parse(["--authorizer", "consultants"])
        self.assertIsInstance(util.make_authorizer(flags), ConsultantsAuthorizer)
        flags = v23py.FlagSet("fortune-server")
        util.add_flags(flags)
        flags.parse(["--authorizer", "nobody"])
        with self.assertRaises(ValueError):
            util.make_authorizer(flags)


class FileServerTests(unittest.TestCase):
    def setUp(self):
        self.dir = tempdir(self, "fileserver-")
        os.makedirs(os.path.join(self.dir, "a", "b"))
        for f in ("top.txt", "a/one", "a/b/two"):
            with open(os.path.join(self.dir, f), "w") as fh:
                fh.write("x")
        self.addCleanup(lambda: __import__("shutil").rmtree(self.dir, ignore_errors=True))

    def test_lookup(self):
        from fileserver.main import Dispatcher, DirService, FileService
        import fnmatch

        class Element:   # what a glob hands GlobChildren__: match(name)
            def __init__(self, pattern):
                self.pattern = pattern

            def match(self, name):
                return fnmatch.fnmatchcase(name, self.pattern)
        d = Dispatcher(self.dir)
        root, auth = d.lookup(None, "")
        self.assertIsNone(auth)   # the default authorizer
        self.assertIsInstance(root, DirService)
        self.assertEqual(sorted(root.GlobChildren__(None, None, Element("*"))),
                         ["a", "top.txt"])
        self.assertEqual(root.GlobChildren__(None, None, Element("t*")), ["top.txt"])
        sub, _ = d.lookup(None, "a/b")
        self.assertEqual(sub.GlobChildren__(None, None, Element("*")), ["two"])
        leaf, _ = d.lookup(None, "a/b/two")
        self.assertIsInstance(leaf, FileService)
        with self.assertRaises(verror.VError):
            leaf.GetContents(None, None)
        for bad in ("nothing", "a/../..", "a/b/two/x"):
            with self.assertRaises(verror.VError):
                d.lookup(None, bad)
