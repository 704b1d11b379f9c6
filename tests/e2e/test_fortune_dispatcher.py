"""fortune-server --dispatcher=registry: the suffix tutorials' dispatcher.

One fortune service per suffix (made on first use, each with its own
fortunes), a root object without methods that lists them as children, no
objects at deeper suffixes; with --perms every service is the tagged one
behind the permissions authorizer.
"""
import os
import sys

from twisted.internet import defer, utils
from twisted.trial import unittest

from v23py import rpc, vdl, verror
from v23py.rpc import wire
from v23py.rpc.model import ArgDesc, MethodDesc
from v23py.testing import ROOT, tempdir
from v23py.testing.procs import ENV, make_creds, spawn
from v23py.testing.procs import PERMS, blessed_by
from v23py.testing.rpc import make_principal, new_runtime

GLOB = MethodDesc("__Glob", "", (ArgDesc("pattern", vdl.StringType),), (), None, wire.GlobReplyType)


def flagset(*argv):
    import v23py
    from fortune import util
    flags = v23py.FlagSet("fortune-server")
    util.add_flags(flags)
    flags.parse(list(argv))
    return flags


class RegistryUnitTests(unittest.TestCase):
    def test_lookup(self):
        from fortune.dispatcher import ChildrenGlobber, Registry
        made = []
        auth = object()
        d = Registry(lambda: made.append(object()) or made[-1], auth)
        root, a = d.lookup(None, "")
        self.assertIsInstance(root, ChildrenGlobber)
        self.assertIs(a, auth)
        self.assertEqual(root.children, [])
        cas, _ = d.lookup(None, "cassandra")
        self.assertIs(d.lookup(None, "cassandra")[0], cas)     # made once
        nos, _ = d.lookup(None, "nostradamus")
        self.assertIsNot(nos, cas)
        self.assertEqual(d.names(), ["cassandra", "nostradamus"])
        self.assertEqual(sorted(d.lookup(None, "")[0].children), ["cassandra", "nostradamus"])
        with self.assertRaises(verror.VError) as cm:
            d.lookup(None, "cassandra/x")
        self.assertIn("unsupported service name", str(cm.exception))
        self.assertEqual(len(made), 2)

    def test_flag(self):
        from fortune import ifc, tagged, util
        from fortune.dispatcher import Registry
        from fortune.service import Fortune
        self.assertIsNone(util.make_dispatcher(flagset(), Fortune))
        d = util.make_dispatcher(flagset("--dispatcher=registry"), Fortune)
        self.assertIsInstance(d, Registry)
        self.assertIsInstance(d.lookup(None, "x")[0], ifc.FortuneServerStub)
        d = util.make_dispatcher(flagset("--dispatcher", "registry", "--perms", PERMS), Fortune)
        self.assertIsInstance(d.lookup(None, "x")[0], tagged.FortuneServerStub)
        with self.assertRaises(ValueError):
            util.make_dispatcher(flagset("--dispatcher=nope"), Fortune)


class RegistryInProcessTests(unittest.TestCase):
    timeout = 60

    @defer.inlineCallbacks
    def serve(self, *argv):
        import v23py
        from fortune import util
        from fortune.service import Fortune
        self.tutorial, self.tutorial_b = make_principal("tutorial")
        self.ctx, shutdown = new_runtime(self.tutorial)
        self.addCleanup(shutdown)
        self.disp = util.make_dispatcher(flagset("--dispatcher=registry", *argv),
                                         lambda: Fortune(["seed"]))
        server = yield v23py.with_new_dispatching_server(self.ctx, "", self.disp)
        self.name = "/" + str(server.endpoints[0])

    def stub(self, suffix):
        from fortune.tagged import FortuneClient
        return FortuneClient(self.name + ("/" + suffix if suffix else ""))

    @defer.inlineCallbacks
    def glob(self, ctx, pattern):
        call = yield rpc.start_call(ctx, self.name, "__Glob", [pattern], [vdl.StringType], [],
                                    desc=GLOB)
        names = []
        while True:
            try:
                r = yield call.recv()
            except verror.VError as e:
                if e.id == verror.EOF.id:
                    break
                raise
            names.append(r.value.Name)
        yield call.finish()
        return sorted(names)

    @defer.inlineCallbacks
    def assertFails(self, d, error_id, text):
        try:
            yield d
        except verror.VError as e:
            self.assertEqual(e.id, error_id.id, e)
            self.assertIn(text, str(e))
        else:
            self.fail("the call succeeded")

    @defer.inlineCallbacks
    def test_services_per_suffix(self):
        yield self.serve()
        ctx = self.ctx
        yield self.assertFails(self.stub("").Get(ctx), verror.UnknownMethod,
                               "method does not exist: Get")
        self.assertEqual((yield self.glob(ctx, "*")), [])
        yield self.stub("cassandra").Add(ctx, "Do not visit Sparta!")
        yield self.stub("cassandra").Add(ctx, "Troy is doomed!")
        self.assertEqual((yield self.stub("nostradamus").Get(ctx)), "seed")
        self.assertEqual(self.disp.lookup(None, "cassandra")[0].impl.fortunes,
                         ["seed", "Do not visit Sparta!", "Troy is doomed!"])
        self.assertEqual(self.disp.lookup(None, "nostradamus")[0].impl.fortunes, ["seed"])
        self.assertEqual((yield self.glob(ctx, "*")), ["cassandra", "nostradamus"])
        self.assertEqual((yield self.glob(ctx, "c*")), ["cassandra"])
        yield self.assertFails(self.stub("cassandra/deeper").Get(ctx), verror.Unknown,
                               "unsupported service name")
        sig = yield rpc.reserved_signature(ctx, self.name + "/cassandra")
        self.assertEqual([i.Name for i in sig if i.Name != "__Reserved"], ["Fortune"])

    @defer.inlineCallbacks
    def test_a_stranger_gets_no_access(self):
        yield self.serve()
        stranger, _ = make_principal("stranger")
        ctx, shutdown = new_runtime(stranger)
        self.addCleanup(shutdown)
        yield self.assertFails(self.stub("cassandra").Get(ctx, *rpc.options.insecure()),
                               verror.NoAccess, "access denied")

    @defer.inlineCallbacks
    def test_with_perms(self):
        yield self.serve("--perms", PERMS.replace("alice", "tutorial"))
        bob = blessed_by(self.tutorial, self.tutorial_b, "bob", "friend:bob")
        ctx, shutdown = new_runtime(bob)
        self.addCleanup(shutdown)
        self.assertEqual((yield self.stub("cassandra").Get(ctx)), "seed")
        yield self.assertFails(self.stub("cassandra").Add(ctx, "x"), verror.NoAccess,
                               "does not have W access")


class RegistryProcessTests(unittest.TestCase):
    timeout = 60

    @defer.inlineCallbacks
    def test_server_and_client(self):
        d = tempdir(self, "fortune-disp-")
        creds = os.path.join(d, "basics")
        make_creds(creds, "tutorial")
        epfile = os.path.join(d, "server.txt")
        daemon, _ = spawn(self, [sys.executable, "-m", "fortune.server", "--v23.credentials", creds,
                                 "--endpoint-file-name", epfile, "--v23.tcp.address",
                                 "127.0.0.1:0", "--dispatcher=registry"], "Listening at:")
        yield daemon.ready
        name = open(epfile).read().strip()

        def client(*args):
            return utils.getProcessOutputAndValue(
                sys.executable, ["-m", "fortune.client", "--v23.credentials", creds, *args],
                env=ENV, path=ROOT)
        out, err, code = yield client("--server", name)
        self.assertEqual(code, 1)
        self.assertIn(b"method does not exist: Get", err)
        out, err, code = yield client("--server", name + "/cassandra", "--add", "Troy is doomed!")
        self.assertEqual((out, code), (b"", 0), err)
        out, err, code = yield client("--server", name + "/cassandra")
        self.assertEqual(code, 0, err)
        self.assertTrue(out.strip())
