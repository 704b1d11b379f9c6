"""B2 and the certificate and caveat checks that held, against a real fortune-server.

B2: a caveat removed from a certificate and replayed as its ``X509Raw`` keeps the content
digest and so the signature valid (Go v0.2.0 accepts it).  A method-restricted blessing
stripped that way could write, an expired one could read.  We refuse any certificate whose
X509Raw is not an X.509 certificate for that certificate's key.  The cases that held
before (tampered certificate signature, unrecognized root, expiry, method and peer
caveats, a tampered channel binding) stay refused; honest blessings keep working.
"""
import datetime
import os
import sys

from twisted.internet import defer
from twisted.trial import unittest

from v23py import rpc, security, verror
from v23py.testing import hostile as H, tempdir
from v23py.testing.procs import make_creds, spawn

PERMS = '{"R": {"In": ["alice:family", "alice:friend"]}, "W": {"In": ["alice:family"]}}'


class CertificatesAgainstFortuneServer(unittest.TestCase):
    timeout = 60

    @defer.inlineCallbacks
    def setUp(self):
        self.dir = tempdir(self, prefix="sec-b2-")
        alice_dir = os.path.join(self.dir, "alice")
        self.alice = make_creds(alice_dir, "alice")
        self.alice_b = self.alice.blessing_store.default()
        epfile = os.path.join(self.dir, "ep")
        d, _ = spawn(self, [sys.executable, "-m", "fortune.server",
                            "--v23.credentials", alice_dir, "--endpoint-file-name", epfile,
                            "--v23.tcp.address", "127.0.0.1:0", "--perms", PERMS],
                     "Listening at:")
        yield d.ready
        with open(epfile) as f:
            self.name = f.read().strip()

    def member(self, ext, *caveats):
        return H.blessed(self.alice, self.alice_b, ext, *caveats)

    def client(self, p, conn_class=None):
        from fortune.tagged import FortuneClient
        ctx, stop = H.runtime(p, conn_class)
        self.addCleanup(stop)
        return ctx, FortuneClient(self.name)

    def wearing(self, p, worn):
        return self.client(H.WearingPrincipal(p, worn))

    @defer.inlineCallbacks
    def assertRefused(self, d, no_access=False):
        try:
            yield d
        except verror.VError as e:
            if no_access:
                self.assertEqual(e.id, verror.NoAccess.id, e)
            return e
        self.fail("the call was allowed")

    @defer.inlineCallbacks
    def assertNotWritten(self, text):
        p, _ = self.member("family:reader")
        ctx, f = self.client(p)
        for _ in range(30):
            self.assertNotEqual((yield f.Get(ctx)), text)

    # -- B2 ----------------------------------------------------------------------------
    @defer.inlineCallbacks
    def test_stripped_method_caveat_is_refused(self):
        p, b = self.member("family:dave", security.new_method_caveat("Get"))
        ctx, f = self.client(p)
        yield f.Get(ctx)                                   # what dave may do
        yield self.assertRefused(f.Add(ctx, "x"), no_access=True)
        ctx, f = self.wearing(p, H.strip_last_caveat(b))
        e = yield self.assertRefused(f.Add(ctx, "dave stripped his caveat"))
        self.assertIn("X509Raw", str(e))
        yield self.assertNotWritten("dave stripped his caveat")

    @defer.inlineCallbacks
    def test_stripped_expiry_caveat_is_refused(self):
        past = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1)
        p, b = self.member("friend:erin", security.new_expiry_caveat(past))
        ctx, f = self.client(p)
        yield self.assertRefused(f.Get(ctx), no_access=True)
        ctx, f = self.wearing(p, H.strip_last_caveat(b))
        e = yield self.assertRefused(f.Get(ctx))
        self.assertIn("X509Raw", str(e))

    # -- what held ---------------------------------------------------------------------
    @defer.inlineCallbacks
    def test_peer_caveat(self):
        p, _ = self.member("family:fay", security.new_peer_blessings_caveat("alice:other"))
        ctx, f = self.client(p)
        yield self.assertRefused(f.Get(ctx), no_access=True)

    @defer.inlineCallbacks
    def test_tampered_certificate_signature(self):
        p, b = self.member("family:gus")
        ctx, f = self.wearing(p, H.tamper_certificate_signature(b))
        e = yield self.assertRefused(f.Add(ctx, "gus tampered"))
        self.assertIn("invalid Signature", str(e))
        yield self.assertNotWritten("gus tampered")

    @defer.inlineCallbacks
    def test_unrecognized_root_with_the_same_names(self):
        # mallory's own root is also called "alice"
        fake, fake_b = H.principal("alice")
        p, _ = H.blessed(fake, fake_b, "family:mallory")
        ctx, f = self.client(p)
        yield self.assertRefused(f.Get(ctx, *rpc.options.insecure()), no_access=True)

    @defer.inlineCallbacks
    def test_tampered_channel_binding(self):
        p, _ = self.member("family:hal")
        ctx, f = self.client(p, H.tampered_auth_conn())
        e = yield self.assertRefused(f.Add(ctx, "hal tampered"))
        self.assertIn("channel binding", str(e))

    @defer.inlineCallbacks
    def test_honest_caveats_still_work(self):
        soon = datetime.timedelta(hours=1)
        p, _ = self.member("family:ivy", security.new_expiry_caveat(soon),
                           security.new_method_caveat("Get", "Add"))
        ctx, f = self.client(p)
        yield f.Add(ctx, "ivy")
        yield f.Get(ctx)


class X509RawUnitTest(unittest.TestCase):
    def test_x509raw_must_be_a_certificate_for_the_key(self):
        from v23py.testing import shared_path
        alice, ab = H.principal("alice")
        _, b = H.blessed(alice, ab, "bob", security.new_method_caveat("Get"))
        security.blessings_from_wire(b.to_wire())   # (in the signature cache from now on)
        with self.assertRaises(verror.VError) as cm:
            security.blessings_from_wire(H.strip_last_caveat(b).to_wire())
        self.assertIn("not an X.509 certificate", str(cm.exception))
        # a real X.509 certificate, but for another key
        from cryptography import x509
        from cryptography.hazmat.primitives.serialization import Encoding
        from v23py.security import _certificate as C
        with open(shared_path("testdata", "security", "ecdsa-256.vanadium.io.crt"), "rb") as f:
            der = x509.load_pem_x509_certificate(f.read()).public_bytes(Encoding.DER)
        cert = b.chains[0][-1].replace(X509Raw=der)
        with self.assertRaises(verror.VError) as cm:
            C.check_x509(cert)
        self.assertIn("another key", str(cm.exception))
