"""The `principal` tool: flag syntax, commands, outputs and bad input (in-process)."""
import io
import os

from twisted.trial import unittest

from v23py import security as sec
from v23py.cmd import principal as tool


class FakeStdin(io.StringIO):
    def isatty(self):
        return False


def run(*args, stdin="", env=None):
    out, err = io.StringIO(), io.StringIO()
    old = {}
    for k, v in (env or {}).items():
        old[k] = os.environ.get(k)
        os.environ[k] = v
    try:
        code = tool.run(list(args), stdin=FakeStdin(stdin), stdout=out, stderr=err)
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return code, out.getvalue(), err.getvalue()


class CLITests(unittest.TestCase):
    def setUp(self):
        self.dir = self.mktemp()
        os.makedirs(self.dir)
        self.alice = os.path.join(self.dir, "alice")
        self.bob = os.path.join(self.dir, "bob")
        self.assertEqual(run("create", "--with-passphrase=false", self.alice, "alice")[0], 0)
        self.assertEqual(run("create", "-with-passphrase=false", self.bob, "bob")[0], 0)

    def ok(self, *args, **kw):
        code, out, err = run(*args, **kw)
        self.assertEqual(code, 0, err)
        return out

    def fails(self, code_wanted, *args, **kw):
        code, out, err = run(*args, **kw)
        self.assertEqual(code, code_wanted, (out, err))
        self.assertTrue(err.startswith("ERROR: "), err)
        self.assertEqual(len(err.strip().splitlines()), 1, err)
        return err

    def test_flag_forms(self):
        want = "alice\n"
        for args in (["--v23.credentials", self.alice, "get", "default", "-names"],
                     ["-v23.credentials=" + self.alice, "get", "default", "--names"],
                     ["get", "--v23.credentials", self.alice, "default", "-names=true"],
                     ["get", "default", "-names", "--v23.credentials=" + self.alice]):
            self.assertEqual(self.ok(*args), want, args)
        self.assertEqual(self.ok("get", "default", "-names", env={"V23_CREDENTIALS": self.alice}),
                         want)
        # flags stop at the first positional argument of the leaf command
        out = self.ok("--v23.credentials", self.alice, "get", "forpeer", "x", "-names")
        self.assertEqual(str(sec.decode_blessings(out)), "alice")

    def test_usage_errors(self):
        self.fails(2, "nosuch")
        self.fails(2, "get", "default", "-bogus")
        self.fails(2, "bless", "--for")
        self.fails(2, "blessself", "--for=1x")
        self.fails(2, "get", "default", "-names=maybe")
        self.fails(2, "get")
        code, out, _ = run("help", "bless")
        self.assertEqual(code, 0)
        self.assertIn("require-caveats", out)

    def test_bless_flow(self):
        out = self.ok("--v23.credentials", self.alice, "bless", "--for=24h", self.bob, "friend")
        b = sec.decode_blessings(out)
        self.assertEqual(str(b), "alice:friend")
        self.ok("--v23.credentials", self.bob, "set", "forpeer", "-", "alice", stdin=out)
        peermap = self.ok("--v23.credentials", self.bob, "get", "peermap")
        self.assertEqual(peermap, "Default Blessings                bob\n"
                                  "Peer pattern                     Blessings\n"
                                  "...                              bob\n"
                                  "alice                            alice:friend\n")
        caveats = self.ok("--v23.credentials", self.bob, "get", "forpeer",
                          "-caveats=alice:friend", "alice")
        self.assertTrue(caveats.startswith("Expires at "), caveats)
        rk = self.ok("--v23.credentials", self.bob, "get", "forpeer", "-rootkey=alice:friend",
                     "alice")
        self.assertEqual(rk.strip(), str(sec.load_principal(self.alice).public_key))
        roots = self.ok("--v23.credentials", self.bob, "get", "recognizedroots")
        self.assertIn("[alice]", roots)
        dump = self.ok("--v23.credentials", self.bob, "dump")
        self.assertTrue(dump.startswith("Public key : "))
        self.assertIn("---------------- BlessingRoots ----------------\n", dump)

    def test_bless_targets(self):
        key = self.ok("--v23.credentials", self.bob, "get", "publickey").strip()
        out = self.ok("--v23.credentials", self.alice, "bless", "--for=1h", "-", "k", stdin=key)
        self.assertEqual(str(sec.decode_blessings(out)), "alice:k")
        bobs = self.ok("--v23.credentials", self.bob, "blessself", "bob2")
        out2 = self.ok("--v23.credentials", self.alice, "bless", "--require-caveats=false",
                       "-", "b", stdin=bobs)
        b = sec.decode_blessings(out2)
        self.assertEqual(b.public_key, sec.decode_blessings(bobs).public_key)
        self.assertEqual(sec.format_caveat(b.caveats()[0]), "Always validates")
        with_file = os.path.join(self.dir, "with")
        with open(with_file, "w") as f:
            f.write(self.ok("--v23.credentials", self.alice, "blessself", "other"))
        out3 = self.ok("--v23.credentials", self.alice, "bless", "--for=1h", "--with", with_file,
                       self.bob, "x")
        self.assertEqual(str(sec.decode_blessings(out3)), "other:x")
        out4 = self.ok("--v23.credentials", self.alice, "bless",
                       '--caveat="v.io/v23/security".MethodCaveat={"Get", "Put"}',
                       "--caveat=v.io/v23/security/access.AccessTagCaveat={\"Read\"}",
                       self.bob, "m")
        strs = [str(c) for c in sec.decode_blessings(out4).caveats()]
        self.assertEqual(strs, ["0xefcde3751416c73b189ce89ccc938000([]access.Tag=[Read])",
                                "0x54a676398137187ecdb26d2d69ba0003([]string=[Get Put])"])

    def test_bless_requires_caveats(self):
        err = self.fails(1, "--v23.credentials", self.alice, "bless", self.bob, "x", stdin="no\n")
        self.assertIn("--require-caveats=false", err)
        out = self.ok("--v23.credentials", self.alice, "bless", self.bob, "x", stdin="YES\n")
        self.assertTrue(out.split()[-1].startswith("gV0c"))  # after the prompt, as Go

    def test_bad_inputs(self):
        cred = ["--v23.credentials", self.bob]
        self.fails(1, *cred, "set", "default", "-", stdin="not base64!!")
        self.fails(1, *cred, "set", "default", "-", stdin="")
        self.fails(1, *cred, "set", "default", "-", stdin="gV0cAgAU")
        self.fails(1, "dumpblessings", os.path.join(self.dir, "missing"))
        self.fails(1, "dumpblessings")
        self.fails(1, *cred, "recognize", "x", "%%%")
        self.fails(1, *cred, "recognize", "x", "AAAA")
        self.fails(1, "--v23.credentials", os.path.join(self.dir, "nope"), "dump")
        self.fails(1, "create", "--with-passphrase=false", self.bob, "again")
        self.assertEqual(self.ok(*cred, "dump", "-s"), "bob\n")  # nothing lost
        self.fails(1, "create", "--with-passphrase=false", os.path.join(self.dir, "c"), "a:")
        self.fails(1, "create", "--with-passphrase=false", "--key-type=dsa",
                   os.path.join(self.dir, "c"))
        self.fails(1, *cred, "seekblessings")
        # corrupt store: clear error, and the files are left as they were
        path = os.path.join(self.bob, "blessingstore.sig")
        with open(path, "rb") as f:
            saved = f.read()
        with open(path, "wb") as f:
            f.write(saved[:20])
        err = self.fails(1, *cred, "dump")
        self.assertIn("blessingstore", err)
        self.fails(1, *cred, "blessself", "x")
        with open(path, "rb") as f:
            self.assertEqual(f.read(), saved[:20])

    def test_passphrase_prompt(self):
        enc = os.path.join(self.dir, "enc")
        self.ok("create", enc, "e", stdin="pw\n")
        self.fails(1, "--v23.credentials", enc, "blessself", "x", stdin="wrong\n")
        out = self.ok("--v23.credentials", enc, "blessself", "x", stdin="pw\n")
        self.assertEqual(str(sec.decode_blessings(out)), "x")
        # read-only commands need no passphrase
        self.assertEqual(self.ok("--v23.credentials", enc, "dump", "-s"), "e\n")
        plain = os.path.join(self.dir, "plain")
        self.ok("create", plain, "p", stdin="\n")  # empty passphrase: unencrypted
        self.assertEqual(str(sec.load_principal(plain).blessing_store.default()), "p")

    def test_overwrite_union_dumproots(self):
        old = sec.load_principal(self.bob).public_key
        self.ok("create", "--with-passphrase=false", "--overwrite", self.bob, "bob")
        self.assertNotEqual(sec.load_principal(self.bob).public_key, old)
        a = self.ok("--v23.credentials", self.alice, "bless", "--for=1h", self.bob, "f")
        b = self.ok("--v23.credentials", self.bob, "get", "default")
        u = self.ok("union", a.strip(), b.strip())
        self.assertEqual(str(sec.decode_blessings(u)), "bob,alice:f")
        roots = self.ok("dumproots", "-", stdin=a).split()
        self.assertEqual([str(sec.decode_blessings(r)) for r in roots], ["alice"])
        self.fails(1, "union", a.strip(), self.ok("--v23.credentials", self.alice, "get",
                                                  "default").strip())

    def test_no_credentials_uses_anonymous(self):
        out = self.ok("dump", "-s", env={"V23_CREDENTIALS": ""})
        self.assertTrue(out.startswith("anonymous-"), out)

    def test_duration_parser(self):
        self.assertEqual(tool.parse_duration("1h30m"), 5400)
        self.assertEqual(tool.parse_duration("1.5h"), 5400)
        self.assertEqual(tool.parse_duration("-2s"), -2)
        self.assertEqual(tool.parse_duration("300ms"), 0.3)
        for bad in ("", "h", "1", "1x", "1h-2m"):
            self.assertRaises(ValueError, tool.parse_duration, bad)
