"""fortune-server --perms: the permissions-authorizer tutorial's server.

The tagged interface (fortune/tagged/fortune.vdl, the tutorial's VDL), the
permissions authorizer keyed on fortune/ifc.MyTag, the principals of the
tutorial (alice serves; bob is alice:friend:bob, carol alice:family:sister),
in process and as a separate fortune-server process.
"""
import os
import sys

from twisted.internet import defer, utils
from twisted.trial import unittest

from v23py import rpc, security, vdl, verror
from v23py.security import access
from v23py.testing import ROOT, tempdir
from v23py.testing.procs import ENV, make_creds, spawn
from v23py.testing.rpc import make_principal, new_runtime
from v23py.testing.procs import PERMS, blessed_by, tutorial_vdl







class TaggedInterfaceTests(unittest.TestCase):
    def test_vdl_is_the_tutorials(self):
        with open(os.path.join(ROOT, "fortune", "tagged", "fortune.vdl")) as f:
            ours = f.read()
        self.assertEqual(ours, tutorial_vdl("security/permissions-authorizer.md",
                                            "fortune/ifc/fortune.vdl"))

    def test_generated_module_is_up_to_date(self):
        from v23py.vdl.compiler.build import Builder
        b = Builder(vdlpath=[], vdlroot="")
        (src,) = b.resolve_arg(os.path.join(ROOT, "fortune", "tagged"))
        self.assertEqual(src.path, "fortune/ifc")
        with open(src.out_file) as f:
            self.assertEqual(f.read(), b.generate(src),
                             "run `vdl generate --lang python ./fortune/tagged`")

    def test_tags_and_tag_type(self):
        from fortune import tagged, util
        t = util.tag_type()
        self.assertEqual((t.name, t.kind), ("fortune/ifc.MyTag", vdl.Kind.STRING))
        self.assertEqual((tagged.Reader, tagged.Writer), ("R", "W"))
        methods = {m.name: m for m in tagged.FortuneDesc.methods}
        self.assertEqual(list(methods["Get"].tags), [tagged.Reader])
        self.assertEqual(list(methods["Add"].tags), [tagged.Writer])
        self.assertEqual(vdl.type_of(methods["Get"].tags[0]), t)
        self.assertEqual([a.name for a in methods["Add"].in_args], ["Fortune"])

    def test_flags_select_the_policy(self):
        import v23py
        from fortune import ifc, tagged, util
        from fortune.service import Fortune
        plain = v23py.FlagSet("t")
        util.add_flags(plain)
        plain.parse([])
        self.assertIs(util.make_authorizer(plain), security.default_authorizer())
        self.assertIsInstance(util.make_server_object(plain, Fortune()), ifc.FortuneServerStub)
        perms = v23py.FlagSet("t")
        util.add_flags(perms)
        perms.parse(["--perms", PERMS])
        auth = util.make_authorizer(perms)
        self.assertIsInstance(auth, access.PermissionsAuthorizer)
        self.assertEqual(auth.tag_type, util.tag_type())
        self.assertEqual(sorted(auth.perms), ["R", "W"])
        self.assertEqual(list(auth.perms["R"].In), ["alice:family", "alice:friend"])
        self.assertIsInstance(util.make_server_object(perms, Fortune()), tagged.FortuneServerStub)

    def test_bad_perms_deny_everything(self):
        import io
        from fortune import util
        err = io.StringIO()
        perms = util.read_perms("{not json", err)
        self.assertEqual(dict(perms), {})
        self.assertIn("ignoring --perms", err.getvalue())


class PermsInProcessTests(unittest.TestCase):
    """Our server with the tutorial's permissions; clients with the tutorial's principals."""
    timeout = 60

    @defer.inlineCallbacks
    def setUp(self):
        import v23py
        from fortune import util
        from fortune.service import Fortune
        self.alice, self.alice_b = make_principal("alice")
        self.bob = blessed_by(self.alice, self.alice_b, "bob", "friend:bob")
        self.carol = blessed_by(self.alice, self.alice_b, "carol", "family:sister")
        self.stranger, _ = make_principal("stranger")
        flags = v23py.FlagSet("fortune-server")
        util.add_flags(flags)
        flags.parse(["--perms", PERMS])
        self.impl = Fortune(["first"])
        self.ctx, shutdown = new_runtime(self.alice)
        self.addCleanup(shutdown)
        self.server = yield v23py.with_new_server(
            self.ctx, "", util.make_server_object(flags, self.impl), util.make_authorizer(flags))
        self.name = "/" + str(self.server.endpoints[0])

    def client(self, principal):
        from fortune.tagged import FortuneClient
        ctx, shutdown = new_runtime(principal)
        self.addCleanup(shutdown)
        return ctx, FortuneClient(self.name)

    @defer.inlineCallbacks
    def assertNoAccess(self, d, *needles):
        try:
            yield d
        except verror.VError as e:
            self.assertEqual(e.id, verror.NoAccess.id, e)
            self.assertEqual(e.id, "v.io/v23/verror.NoAccess")
            for n in needles:
                self.assertIn(n, str(e))
        else:
            self.fail("the call was allowed")

    @defer.inlineCallbacks
    def test_friend_reads_but_cannot_write(self):
        ctx, bob = self.client(self.bob)
        self.assertEqual((yield bob.Get(ctx)), "first")
        yield self.assertNoAccess(bob.Add(ctx, "Bob was here."), "alice:friend:bob", "W")
        self.assertEqual(self.impl.fortunes, ["first"])

    @defer.inlineCallbacks
    def test_family_reads_and_writes(self):
        ctx, carol = self.client(self.carol)
        yield carol.Add(ctx, "Eat kale.")
        self.assertEqual((yield carol.Get(ctx)) in ("first", "Eat kale."), True)
        self.assertEqual(self.impl.fortunes, ["first", "Eat kale."])

    @defer.inlineCallbacks
    def test_stranger_gets_no_access(self):
        ctx, stranger = self.client(self.stranger)
        # The stranger trusts any server; the server refuses it for both tags.
        opts = rpc.options.insecure()
        yield self.assertNoAccess(stranger.Get(ctx, *opts), "R")
        yield self.assertNoAccess(stranger.Add(ctx, "x", *opts), "W")

    @defer.inlineCallbacks
    def test_the_server_itself_is_not_family(self):
        # alice (the server's own blessing) is not in "alice:family" or "alice:friend":
        # the patterns match alice:family and its extensions only.
        ctx, alice = self.client(self.alice)
        yield self.assertNoAccess(alice.Get(ctx), "R")

    @defer.inlineCallbacks
    def test_signature_carries_the_tags(self):
        ctx, _ = self.client(self.carol)
        sig = yield rpc.reserved_signature(ctx, self.name)
        (iface,) = [i for i in sig if i.Name == "Fortune"]
        self.assertEqual(iface.PkgPath, "fortune/ifc")
        tags = {m.Name: [(vdl.type_of(t).name, str(t)) for t in m.Tags] for m in iface.Methods}
        self.assertEqual(tags, {"Add": [("fortune/ifc.MyTag", "W")],
                                "Get": [("fortune/ifc.MyTag", "R")]})


class PermsProcessTests(unittest.TestCase):
    """fortune-server --perms and fortune-client as processes (the tutorial's shape)."""
    timeout = 90

    def setUp(self):
        self.dir = tempdir(self, "fortune-perms-")
        self.creds = {}
        alice = make_creds(self._c("alice"), "alice")
        alice_b = alice.blessing_store.default()
        for name, ext in (("bob", "friend:bob"), ("carol", "family:sister")):
            p = make_creds(self._c(name), name)
            b = alice.bless(p.public_key, alice_b, ext, security.unconstrained_use())
            p.blessing_store.set(b, "alice")
            p.add_to_roots(b)

    def _c(self, name):
        self.creds[name] = os.path.join(self.dir, name)
        return self.creds[name]

    @defer.inlineCallbacks
    def start_server(self, perms):
        epfile = os.path.join(self.dir, "server.txt")
        d, _ = spawn(self, [sys.executable, "-m", "fortune.server",
                            "--v23.credentials", self.creds["alice"],
                            "--endpoint-file-name", epfile, "--v23.tcp.address", "127.0.0.1:0",
                            "--perms", perms], "Listening at:")
        yield d.ready
        with open(epfile) as f:
            return d, f.read().strip()

    def client(self, who, name, *args):
        return utils.getProcessOutputAndValue(
            sys.executable, ["-m", "fortune.client", "--v23.credentials", self.creds[who],
                             "--server", name, *args], env=ENV, path=ROOT)

    @defer.inlineCallbacks
    def test_tutorial_calls(self):
        _, name = yield self.start_server(PERMS)
        out, err, code = yield self.client("bob", name)
        self.assertEqual(code, 0, err)
        self.assertTrue(out.strip(), "bob read nothing")
        out, err, code = yield self.client("carol", name, "--add", "Eat kale.")
        self.assertEqual((out, code), (b"", 0), err)
        out, err, code = yield self.client("bob", name, "--add", "Bob was here.")
        self.assertEqual(code, 1)
        self.assertIn(b"error adding fortune", err)
        self.assertIn(b"access denied", err)
        self.assertIn(b"does not have W access", err)

    @defer.inlineCallbacks
    def test_unparsable_perms_deny_everyone(self):
        d, name = yield self.start_server('{"R": ')
        out, err, code = yield self.client("carol", name)
        self.assertEqual(code, 1, out)
        self.assertIn(b"access denied", err)
        self.assertIn(b"ignoring --perms", d.err)
