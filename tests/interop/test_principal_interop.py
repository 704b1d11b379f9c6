"""Interop with Go's `principal` (v0.2.0): credentials directories and blessings
made by either side are read, validated and rejected the same way by the other."""
import base64
import datetime
import os
import subprocess
import sys

from twisted.trial import unittest

from v23py.testing import go_binary, start_process
from v23py import security as sec
from v23py import verror, vom
from v23py.security import _certificate

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _run(cmd, args, stdin=b"", env=None):
    full_env = dict(os.environ)
    full_env.pop("V23_CREDENTIALS", None)
    full_env["PYTHONPATH"] = ROOT + os.pathsep + full_env.get("PYTHONPATH", "")
    full_env.update(env or {})
    p = subprocess.run(cmd + list(args), input=stdin, capture_output=True, timeout=60,
                       env=full_env)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


class Tools:
    def go(self, *args, stdin=b"", env=None):
        return _run([self.gobin], args, stdin, env)

    def py(self, *args, stdin=b"", env=None):
        return _run([sys.executable, "-m", "v23py.cmd.principal"], args, stdin, env)

    def ok(self, result):
        code, out, err = result
        self.assertEqual(code, 0, "exit %d: %s" % (code, err))
        return out


class PrincipalInteropTests(Tools, unittest.TestCase):
    def setUp(self):
        self.gobin = go_binary("principal")
        self.dir = self.mktemp()
        os.makedirs(self.dir)
        _certificate.signature_cache.clear()

    def p(self, name):
        return os.path.join(self.dir, name)

    def test_go_reads_our_directory(self):
        for kt in ("ecdsa256", "ed25519"):
            d = self.p("py-" + kt)
            self.ok(self.py("create", "--with-passphrase=false", "--key-type=" + kt, d, "alice"))
            ours = self.ok(self.py("--v23.credentials", d, "dump"))
            theirs = self.ok(self.go("--v23.credentials=" + d, "dump"))
            self.assertEqual(ours, theirs)
            self.assertIn("Default Blessings : alice\n", theirs)
            self.assertEqual(self.ok(self.go("get", "publickey", "--pretty",
                                             "--v23.credentials", d)),
                             self.ok(self.py("get", "publickey", "--pretty",
                                             "--v23.credentials", d)))
            self.assertEqual(self.ok(self.go("get", "default", "-names", "--v23.credentials", d)),
                             "alice\n")
            # Go can use our key to sign (blessself writes nothing; bless signs certificates)
            b = self.ok(self.go("--v23.credentials", d, "blessself", "alice2"))
            self.assertIn("alice2", self.ok(self.py("dumpblessings", "-", stdin=b.encode())))

    def test_we_read_go_directory(self):
        for kt in ("ecdsa256", "ed25519", "ecdsa384"):
            d = self.p("go-" + kt)
            self.ok(self.go("create", "--with-passphrase=false", "--key-type=" + kt, d, "bob"))
            self.assertEqual(self.ok(self.py("--v23.credentials", d, "dump")),
                             self.ok(self.go("--v23.credentials", d, "dump")))
            p = sec.load_principal(d)
            self.assertEqual(sec.default_blessing_names(p), ["bob"])
            self.assertEqual(str(p.public_key),
                             self.ok(self.go("get", "publickey", "--pretty",
                                             "--v23.credentials", d)).strip())
            # we write into Go's directory; Go still reads it
            carol = sec.random_principal()
            p.roots.add(carol.public_key, "carol")
            p.blessing_store.set(p.blessing_store.default(), "carol")
            dump = self.ok(self.go("--v23.credentials", d, "dump"))
            self.assertIn("[carol]", dump)
            self.assertIn("carol                            bob", dump)

    def test_passphrases_both_ways(self):
        gd, pd = self.p("go-enc"), self.p("py-enc")
        self.ok(self.go("create", gd, "gouser", stdin=b"sesame\n"))
        with open(os.path.join(gd, "privatekey.pem")) as f:
            self.assertIn("ENCRYPTED PRIVATE KEY", f.read())
        # Go's ids (x/ref/lib/security): no passphrase given, and a wrong one
        self.assertEqual(self.assertRaises(verror.VError, sec.load_principal, gd).id,
                         "v.io/x/ref/lib/security.errPassphraseRequired")
        self.assertEqual(self.assertRaises(verror.VError, sec.load_principal, gd, b"wrong").id,
                         "v.io/x/ref/lib/security.errBadPassphrase")
        self.assertEqual(str(sec.load_principal(gd, b"sesame").blessing_store.default()),
                         "gouser")
        self.ok(self.py("create", pd, "pyuser", stdin=b"sesame\n"))
        with open(os.path.join(pd, "privatekey.pem")) as f:
            self.assertIn("ENCRYPTED PRIVATE KEY", f.read())
        # Go needs the passphrase to sign with our encrypted key
        out = self.ok(self.go("--v23.credentials", pd, "blessself", "x", stdin=b"sesame\n"))
        self.assertEqual(str(sec.decode_blessings(out)), "x")
        code, _, _ = self.go("--v23.credentials", pd, "blessself", "x", stdin=b"bad\n")
        self.assertNotEqual(code, 0)
        code, _, err = self.py("--v23.credentials", pd, "blessself", "x", stdin=b"bad\n")
        self.assertEqual(code, 1)
        self.assertIn("passphrase", err)

    def test_go_blessings_accepted_by_us(self):
        alice, bob = self.p("alice"), self.p("bob")
        self.ok(self.go("create", "--with-passphrase=false", alice, "alice"))
        self.ok(self.py("create", "--with-passphrase=false", bob, "bob"))
        b64 = self.ok(self.go("--v23.credentials", alice, "bless", "--for=1h", bob, "friend"))
        b = sec.decode_blessings(b64)
        self.assertEqual(str(b), "alice:friend")
        self.assertEqual(self.ok(self.py("dumpblessings", "-", stdin=b64.encode())),
                         self.ok(self.go("dumpblessings", "-", stdin=b64.encode())))
        # caveats: expiry about an hour from now
        self.assertTrue(datetime.timedelta(minutes=55) <
                        b.expiry() - datetime.datetime.now(datetime.timezone.utc) <
                        datetime.timedelta(minutes=65))
        self.ok(self.py("--v23.credentials", bob, "set", "forpeer", "-", "alice",
                        stdin=b64.encode()))
        p = sec.load_principal(bob)
        self.assertEqual(str(p.blessing_store.for_peer("alice:server")), "bob,alice:friend")
        # a server that recognizes alice accepts the name; one that does not, rejects it
        server = sec.random_principal()
        call = sec.Call(local_principal=server, remote_blessings=b, method="M")
        self.assertEqual(sec.remote_blessing_names(call)[0], [])
        server.add_to_roots(b)
        self.assertEqual(sec.remote_blessing_names(call)[0], ["alice:friend"])
        self.assertEqual(self.ok(self.py("get", "forpeer", "-caveats=alice:friend",
                                         "--v23.credentials", bob, "alice")),
                         self.ok(self.go("get", "forpeer", "-caveats=alice:friend",
                                         "--v23.credentials", bob, "alice")))

    def test_our_blessings_accepted_by_go(self):
        alice, bob = self.p("alice"), self.p("bob")
        self.ok(self.py("create", "--with-passphrase=false", alice, "alice"))
        self.ok(self.go("create", "--with-passphrase=false", "--key-type=ed25519", bob, "bob"))
        b64 = self.ok(self.py("--v23.credentials", alice, "bless", "--for=2h", bob, "friend"))
        self.assertEqual(self.ok(self.go("dumpblessings", "-", stdin=b64.encode())),
                         self.ok(self.py("dumpblessings", "-", stdin=b64.encode())))
        self.ok(self.go("--v23.credentials", bob, "set", "default", "-", stdin=b64.encode()))
        self.assertEqual(self.ok(self.go("--v23.credentials", bob, "dump", "-s")),
                         "alice:friend\n")
        roots = self.ok(self.go("--v23.credentials", bob, "get", "recognizedroots"))
        self.assertIn("[alice]", roots)
        # the tutorial pipeline, mixing tools
        out = self.ok(self.go("--v23.credentials", bob, "get", "default", "-caveats",
                              "alice:friend"))
        self.assertTrue(out.startswith("Expires at "))
        u = self.ok(self.go("union", b64.strip(),
                            self.ok(self.go("--v23.credentials", bob, "blessself", "b2")).strip()))
        self.assertEqual(str(sec.decode_blessings(u)), "b2,alice:friend")
        self.assertEqual(self.ok(self.py("union", b64.strip(), u.strip())),
                         self.ok(self.go("union", b64.strip(), u.strip())))

    def test_rejections_on_both_sides(self):
        alice, bob = self.p("alice"), self.p("bob")
        self.ok(self.go("create", "--with-passphrase=false", alice, "alice"))
        self.ok(self.go("create", "--with-passphrase=false", bob, "bob"))
        good = self.ok(self.go("--v23.credentials", alice, "bless", "--for=1h", bob, "friend"))
        wire = vom.decode(base64.urlsafe_b64decode(good.strip()), sec.WireBlessingsType)
        chain = wire.CertificateChains[0]
        chain[1] = chain[1].replace(Extension="fiend")
        bad = base64.urlsafe_b64encode(vom.encode(wire, sec.WireBlessingsType)).decode()
        code, _, err = self.go("dumpblessings", "-", stdin=bad.encode())
        self.assertNotEqual(code, 0)
        self.assertIn("invalid Signature", err)
        code, _, err = self.py("dumpblessings", "-", stdin=bad.encode())
        self.assertEqual(code, 1)
        self.assertIn("invalid Signature", err)
        self.assertEqual(len(err.strip().splitlines()), 1)
        code, _, _ = self.go("--v23.credentials", bob, "set", "default", "-", stdin=bad.encode())
        self.assertNotEqual(code, 0)
        # expired: ours drops the name for a call; Go's dump flags it
        exp = self.ok(self.py("--v23.credentials", alice, "bless", "--for=-1h", bob, "old"))
        b = sec.decode_blessings(exp)
        server = sec.random_principal()
        server.add_to_roots(b)
        names, rejected = sec.remote_blessing_names(sec.Call(local_principal=server,
                                                             remote_blessings=b))
        self.assertEqual((names, rejected[0].Err.id), ([], "v.io/v23/security.CaveatValidation"))
        self.ok(self.go("--v23.credentials", bob, "set", "default", "-", stdin=exp.encode()))
        self.assertEqual(self.ok(self.go("--v23.credentials", bob, "dump", "-s")),
                         "alice:old [EXPIRED]\n")
        self.assertEqual(self.ok(self.py("--v23.credentials", bob, "dump", "-s")),
                         "alice:old [EXPIRED]\n")
        # wrong root: blessings whose root nobody recognized give no names
        p = sec.load_principal(bob)
        other = sec.random_principal()
        other.roots.add(p.public_key, "alice")  # a key that is not alice's
        names, rejected = sec.remote_blessing_names(sec.Call(local_principal=other,
                                                             remote_blessings=sec.decode_blessings(good)))
        self.assertEqual((names, rejected[0].Err.id), ([], "v.io/v23/security.UnrecognizedRoot"))
        # blessings for another key are refused by both stores
        mine = self.ok(self.go("--v23.credentials", alice, "blessself", "x"))
        code, _, _ = self.go("--v23.credentials", bob, "set", "default", "-", stdin=mine.encode())
        self.assertNotEqual(code, 0)
        code, _, err = self.py("--v23.credentials", bob, "set", "default", "-",
                               stdin=mine.encode())
        self.assertEqual(code, 1)
        self.assertIn("public key does not match", err)

    def test_recognize_and_fork(self):
        a, b = self.p("a"), self.p("b")
        self.ok(self.py("create", "--with-passphrase=false", a, "idp"))
        self.ok(self.go("create", "--with-passphrase=false", b, "bob"))
        key = self.ok(self.go("--v23.credentials", b, "get", "publickey")).strip()
        self.ok(self.py("--v23.credentials", a, "recognize", "bob", key))
        self.assertEqual(self.ok(self.py("--v23.credentials", a, "get", "recognizedroots")),
                         self.ok(self.go("--v23.credentials", a, "get", "recognizedroots")))
        f = self.p("forked")
        self.ok(self.py("--v23.credentials", a, "fork", "--for=1h", "--with-passphrase=false",
                        f, "child"))
        self.assertEqual(self.ok(self.go("--v23.credentials", f, "dump", "-s")), "idp:child\n")


class RemoteBlessingInteropTests(Tools, unittest.TestCase):
    """recvblessings / bless --remote-key over RPC, each side as receiver."""

    def setUp(self):
        self.gobin = go_binary("principal")
        self.dir = self.mktemp()
        os.makedirs(self.dir)

    async def _receiver(self, tool_cmd, creds):
        env = dict(os.environ)
        env.pop("V23_CREDENTIALS", None)
        env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
        proc, rest = await start_process(
            self, tool_cmd + ["--v23.credentials", creds, "--v23.tcp.address=127.0.0.1:0",
                              "recvblessings"],
            "principal bless", "recvblessings", stderr=subprocess.PIPE, env=env)
        return proc, rest.split()

    def _finish(self, proc):
        out, err = proc.communicate(timeout=30)
        self.assertEqual(proc.returncode, 0, err.decode())
        return out.decode()

    async def test_go_blesses_our_receiver(self):
        alice, recv = os.path.join(self.dir, "alice"), os.path.join(self.dir, "recv")
        self.ok(self.go("create", "--with-passphrase=false", alice, "alice"))
        self.ok(self.py("create", "--with-passphrase=false", recv, "me"))
        proc, args = await self._receiver([sys.executable, "-m", "v23py.cmd.principal"], recv)
        self.ok(self.go("--v23.credentials", alice, "bless", "--for=1h", *args, "friend"))
        self.assertIn("Received blessings: alice:friend", self._finish(proc))
        self.assertEqual(self.ok(self.go("--v23.credentials", recv, "dump", "-s")),
                         "alice:friend\n")

    async def test_we_bless_go_receiver(self):
        alice, recv = os.path.join(self.dir, "alice"), os.path.join(self.dir, "recv")
        self.ok(self.py("create", "--with-passphrase=false", alice, "alice"))
        self.ok(self.go("create", "--with-passphrase=false", recv, "them"))
        proc, args = await self._receiver([self.gobin], recv)
        # a wrong key is refused before anything is sent
        wrong = ["--remote-key=00:11:22"] + args[1:]
        code, _, err = self.py("--v23.credentials", alice, "bless", "--for=1h", *wrong, "x")
        self.assertEqual(code, 1)
        self.assertIn("key mismatch", err)
        self.ok(self.py("--v23.credentials", alice, "bless", "--for=1h", *args, "friend"))
        self.assertIn("Received blessings: alice:friend", self._finish(proc))
        self.assertEqual(self.ok(self.py("--v23.credentials", recv, "dump", "-s")),
                         "alice:friend\n")


class GoValidatesOurBlessingsTests(Tools, unittest.TestCase):
    """A Go client (vrpc) checks a Python server's blessings: valid ones pass, expired
    ones and ones from an unrecognized root are refused ("does not trust")."""

    def setUp(self):
        self.gobin = go_binary("principal")
        self.vrpc = go_binary("vrpc")
        self.dir = self.mktemp()
        os.makedirs(self.dir)
        self.alice = os.path.join(self.dir, "alice")
        self.client = os.path.join(self.dir, "client")
        self.ok(self.go("create", "--with-passphrase=false", self.alice, "alice"))
        self.ok(self.go("create", "--with-passphrase=false", self.client, "client"))
        b = self.ok(self.go("--v23.credentials", self.alice, "bless", "--for=1h", self.client,
                            "client"))
        self.ok(self.go("--v23.credentials", self.client, "set", "default", "-",
                        stdin=b.encode()))

    async def _serve(self, name, blessing_args):
        srv = os.path.join(self.dir, name)
        self.ok(self.py("create", "--with-passphrase=false", srv))
        b = self.ok(self.py(*blessing_args(srv)))
        self.ok(self.py("--v23.credentials", srv, "set", "default", "-", stdin=b.encode()))
        self.ok(self.py("--v23.credentials", srv, "set", "forpeer", "-", "...",
                        stdin=b.encode()))
        env = dict(os.environ)
        env.pop("V23_CREDENTIALS", None)
        env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
        _, addr = await start_process(
            self, [sys.executable, "-m", "fortune.server", "--v23.credentials", srv,
                   "--v23.tcp.address=127.0.0.1:0"], "Listening at: ", "fortune-server",
            env=env)
        return "/" + addr.lstrip("/")

    def _signature(self, ep):
        return _run([self.vrpc], ["--v23.credentials=" + self.client, "signature", ep])

    async def test_go_client_checks_our_server(self):
        good = await self._serve("good", lambda srv: ("--v23.credentials", self.alice, "bless",
                                                "--for=1h", srv, "server"))
        code, out, err = self._signature(good)
        self.assertEqual(code, 0, err)
        self.assertIn("Fortune", out)
        expired = await self._serve("expired", lambda srv: ("--v23.credentials", self.alice, "bless",
                                                      "--for=-1h", srv, "server"))
        code, _, err = self._signature(expired)
        self.assertNotEqual(code, 0)
        self.assertIn("trust", err)
        # a self-made "alice" blessing: same name, unrecognized root
        fake = await self._serve("fake", lambda srv: ("--v23.credentials", srv, "blessself", "alice"))
        code, _, err = self._signature(fake)
        self.assertNotEqual(code, 0)
        self.assertIn("trust", err)


class SSHKeyInteropTests(Tools, unittest.TestCase):
    def setUp(self):
        self.gobin = go_binary("principal")
        self.dir = self.mktemp()
        os.makedirs(self.dir)

    def test_ssh_key_principals(self):
        from v23py.testing import shared_path
        for tool_a, tool_b, key in ((self.py, self.go, "ssh-ecdsa-256"),
                                    (self.go, self.py, "ssh-ed25519")):
            path = shared_path("testdata", "security", key)
            d = os.path.join(self.dir, key)
            self.ok(tool_a("create", "--with-passphrase=false", "--ssh-key", path, d, "u"))
            self.assertEqual(self.ok(tool_a("--v23.credentials", d, "dump")),
                             self.ok(tool_b("--v23.credentials", d, "dump")))
            out = self.ok(tool_b("--v23.credentials", d, "blessself", "again"))
            self.assertEqual(str(sec.decode_blessings(out).public_key),
                             self.ok(tool_a("--v23.credentials", d, "get", "publickey",
                                            "--pretty")).strip())


class ConcurrentWritersInteropTests(Tools, unittest.TestCase):
    def test_go_and_python_writers_share_the_locks(self):
        self.gobin = go_binary("principal")
        d = os.path.join(self.mktemp(), "shared")
        self.ok(self.py("create", "--with-passphrase=false", d, "c"))
        b = self.ok(self.py("--v23.credentials", d, "get", "default")).encode()
        env = dict(os.environ)
        env.pop("V23_CREDENTIALS", None)
        env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
        procs = []
        for i in range(4):
            for tag, cmd in (("go", [self.gobin]),
                             ("py", [sys.executable, "-m", "v23py.cmd.principal"])):
                pr = subprocess.Popen(cmd + ["--v23.credentials", d, "set", "forpeer", "-",
                                             "%s%d" % (tag, i)],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, env=env)
                self.addCleanup(lambda pr=pr: pr.poll() is None and (pr.kill(), pr.wait()))
                procs.append(pr)
        for pr in procs:
            _, err = pr.communicate(b, timeout=60)
            self.assertEqual(pr.returncode, 0, err.decode())
        want = sorted(["..."] + ["go%d" % i for i in range(4)] + ["py%d" % i for i in range(4)])
        for tool in (self.go, self.py):
            rows = self.ok(tool("--v23.credentials", d, "get", "peermap")).splitlines()[2:]
            self.assertEqual(sorted(r.split()[0] for r in rows), want)
