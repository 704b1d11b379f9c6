"""Go's honest x509-based blessings still verify after the B2 check (issue 12).

Go's ``principal create --ssl-key/--ssl-cert`` (v0.2.0) makes principals whose self-blessed
certificates carry the X.509 certificate in ``X509Raw``; we now refuse an X509Raw that is
not an X.509 certificate for the certificate's key, so every such honest blessing — each
key type of ../shared/testdata/security, a Let's Encrypt leaf, and blessings Go delegates
from them — must still decode, validate and print as Go prints it, and must cross the
wire both ways (Go's vrpc with x509 credentials against our server, and our server
presenting x509 blessings to Go's vrpc).
"""
import os
import subprocess
import sys

from twisted.internet import defer, utils
from twisted.trial import unittest

from v23py import security
from v23py.security import _certificate
from v23py.testing import ROOT, go_binary, shared_path, tempdir
from v23py.testing.procs import ENV, spawn

KEYS = ("ecdsa-256", "ecdsa-384", "ecdsa-521", "ed25519", "rsa-2048", "rsa-4096")


def run(args):
    return utils.getProcessOutputAndValue(args[0], args[1:], env=ENV, path=ROOT)


def _go(*args):
    r = subprocess.run([go_binary("principal"), *args], capture_output=True, timeout=60)
    if r.returncode != 0:
        raise AssertionError("principal %s: %s" % (args, r.stderr.decode()))
    return r.stdout


def _ours(*args, stdin=b""):
    r = subprocess.run([sys.executable, "-m", "v23py.cmd.principal", *args], input=stdin,
                       capture_output=True, timeout=60, env=ENV, cwd=ROOT)
    if r.returncode != 0:
        raise AssertionError("our principal %s: %s" % (args, r.stderr.decode()))
    return r.stdout


class GoX509Blessings(unittest.TestCase):
    timeout = 300

    def setUp(self):
        go_binary("principal")
        self.sec = shared_path("testdata", "security")
        self.dir = tempdir(self, prefix="x509-go-")
        _certificate.signature_cache.clear()

    def create(self, name, key, cert, blessing=None):
        d = os.path.join(self.dir, name)
        _go("create", "--with-passphrase=false", "--ssl-key", os.path.join(self.sec, key),
            "--ssl-cert", os.path.join(self.sec, cert), d, *([blessing] if blessing else []))
        return d

    def same_dump(self, b64):
        """Our `principal dumpblessings` prints what Go's does (validity included)."""
        r = subprocess.run([go_binary("principal"), "dumpblessings", "-"], input=b64,
                           capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(_ours("dumpblessings", "-", stdin=b64), r.stdout)

    def test_each_key_type_and_delegates(self):
        other = os.path.join(self.dir, "other")
        _go("create", "--with-passphrase=false", other, "other")
        for k in KEYS:
            host = "%s.vanadium.io" % k
            d = self.create(k, host + ".key", host + ".crt", host)
            b64 = _go("get", "default", "--v23.credentials", d)
            b = security.blessings_from_wire(_decode_b64(b64))
            cert = b.chains[0][0]
            self.assertTrue(len(cert.X509Raw) > 0, k)
            self.assertEqual(str(b), host)
            self.same_dump(b64)
            # our credentials loader takes Go's x509 principal
            p = security.load_principal(d)
            self.assertEqual(str(p.blessing_store.default()), host)
            # a blessing Go delegates from it (x509 root, plain child)
            dele = _go("bless", "--v23.credentials", d, "--for", "1h", other, "friend")
            db = security.blessings_from_wire(_decode_b64(dele))
            self.assertEqual(str(db), host + ":friend")
            self.same_dump(dele)

    def test_lets_encrypt_leaf(self):
        d = self.create("le", "abc.labdrive.io.letsencrypt.key", "abc.labdrive.io.letsencrypt")
        b64 = _go("blessself", "--v23.credentials", d, "a.labdrive.io")
        b = security.blessings_from_wire(_decode_b64(b64))
        self.assertEqual(str(b), "a.labdrive.io")
        self.same_dump(b64)


def _decode_b64(text):
    import base64
    from v23py import vom
    from v23py.security import _wiretypes as W
    raw = base64.urlsafe_b64decode(text.strip() + b"=" * (-len(text.strip()) % 4))
    return vom.decode(raw, W.WireBlessingsType)


class GoX509OverTheWire(unittest.TestCase):
    timeout = 120

    def setUp(self):
        go_binary("principal")
        self.sec = shared_path("testdata", "security")
        self.dir = tempdir(self, prefix="x509-wire-")
        self.x509 = os.path.join(self.dir, "x509")
        _go("create", "--with-passphrase=false",
            "--ssl-key", os.path.join(self.sec, "ecdsa-256.vanadium.io.key"),
            "--ssl-cert", os.path.join(self.sec, "ecdsa-256.vanadium.io.crt"),
            self.x509, "ecdsa-256.vanadium.io")
        self.plain = os.path.join(self.dir, "plain")
        _go("create", "--with-passphrase=false", self.plain, "plain")

    @defer.inlineCallbacks
    def serve(self, creds):
        epfile = os.path.join(self.dir, "ep-" + os.path.basename(creds))
        d, _ = spawn(self, [sys.executable, "-m", "fortune.server", "--v23.credentials", creds,
                            "--endpoint-file-name", epfile, "--v23.tcp.address", "127.0.0.1:0"],
                     "Listening at:")
        yield d.ready
        with open(epfile) as f:
            return f.read().strip()

    @defer.inlineCallbacks
    def test_go_client_with_x509_blessings_to_our_server(self):
        name = yield self.serve(self.plain)
        out, err, code = yield run([go_binary("vrpc"), "--v23.credentials", self.x509,
                                    "signature", "-insecure", name])
        self.assertEqual(code, 0, err)
        self.assertIn(b"fortune/ifc", out)

    @defer.inlineCallbacks
    def test_our_server_with_x509_blessings_to_go_client(self):
        # (its endpoint names no blessings: x509 roots are not recognized by our roots yet)
        name = yield self.serve(self.x509)
        out, err, code = yield run([go_binary("vrpc"), "--v23.credentials", self.plain,
                                    "signature", "-insecure", name])
        self.assertEqual(code, 0, err)
        self.assertIn(b"fortune/ifc", out)
