"""Third-party caveats end to end with Go Vanadium v0.2.0.

A principal `idp` blesses `alice` as idp:u:alice under a third-party caveat whose
discharger is either our ``dischargerd`` (a revocation caveat, revoked with our
``discharger revoke``) or ``godischargerd`` (a Go discharger built from
tests/interop/go by .ci/go-programs.sh; it refuses caveat ids listed in a file).
A fortune server lets idp:u:alice read. The client fetches a discharge from the
discharger named in the caveat and sends it with its call; the server checks it
(without contacting the discharger); once the discharger stops issuing, the
call is refused for want of a discharge.

* Go's client (``vrpc``) -> our server, with our discharger and with Go's.
"""
import os
import sys
import tempfile

from twisted.internet import defer, utils
from twisted.trial import unittest

from v23py.testing import ROOT, go_binary
from v23py.testing.procs import ENV, spawn

PERMS = '{"R": {"In": ["idp:u:alice"]}, "W": {"In": ["idp:u:alice"]}}'


def run(args, env=ENV):
    return utils.getProcessOutputAndValue(args[0], args[1:], env=env, path=ROOT)


def _creds(dir, name):
    from v23py import security
    p = security.create_principal(os.path.join(dir, name))
    p.set_default_blessings(p.bless_self(name))
    return p


class _World(unittest.TestCase):
    """idp, srv (recognizes idp) and alice (recognizes srv and idp), in credential dirs."""
    timeout = 120

    def setUp(self):
        from v23py import security
        self.dir = tempfile.mkdtemp(prefix="discharges-go-")
        self.idp = _creds(self.dir, "idp")
        self.srv = _creds(self.dir, "srv")
        self.alice = _creds(self.dir, "alice")
        self.srv.add_to_roots(self.idp.blessing_store.default())
        self.alice.add_to_roots(self.srv.blessing_store.default())
        self.alice.add_to_roots(self.idp.blessing_store.default())
        self.security = security

    def path(self, name):
        return os.path.join(self.dir, name)

    def give_alice(self, blessings):
        """What `principal set default` + `set forpeer ...` do, through the files."""
        from v23py import security
        p = security.load_principal(self.path("alice"))
        p.blessing_store.set_default(blessings)
        p.blessing_store.set(blessings, "...")

    @defer.inlineCallbacks
    def start(self, args, marker):
        d, _ = spawn(self, args, marker)
        line = yield d.ready
        return line

    @defer.inlineCallbacks
    def start_fortune_server(self):
        epfile = self.path("server.txt")
        yield self.start([sys.executable, "-m", "fortune.server", "--v23.credentials",
                          self.path("srv"), "--endpoint-file-name", epfile,
                          "--v23.tcp.address", "127.0.0.1:0", "--perms", PERMS], "Listening at:")
        with open(epfile) as f:
            return f.read().strip()

    @defer.inlineCallbacks
    def go_get(self, server):
        out, err, code = yield run([go_binary("vrpc"), "--v23.credentials", self.path("alice"),
                                    "call", server, "Get"])
        return out.decode(), err.decode(), code


class GoClientOurServerOurDischarger(_World):
    @defer.inlineCallbacks
    def test_vrpc_fetches_our_discharge_until_revoked(self):
        vrpc = go_binary("vrpc")  # noqa: F841 (skip early without Go)
        db = self.path("revocation.db")
        line = yield self.start([sys.executable, "-m", "v23py.cmd.dischargerd",
                                 "--v23.credentials", self.path("idp"), "--revocation-db", db,
                                 "--v23.tcp.address", "127.0.0.1:0"], "ENDPOINT=")
        location = line.split("ENDPOINT=", 1)[1].strip()
        out, err, code = yield run([sys.executable, "-m", "v23py.cmd.discharger", "bless",
                                    "--v23.credentials", self.path("idp"), "--revocation-db", db,
                                    "--location", location, "--for", "1h",
                                    self.path("alice"), "u:alice"])
        self.assertEqual(code, 0, err)
        self.give_alice(self.security.decode_blessings(out.decode().strip()))
        server = yield self.start_fortune_server()
        out, err, code = yield self.go_get(server)
        self.assertEqual(code, 0, err)
        self.assertTrue(out.strip().startswith('"'), out)
        # revoked: Go's client gets no discharge any more, and our server refuses it
        out, err, code = yield run([sys.executable, "-m", "v23py.cmd.discharger", "revoke",
                                    "--revocation-db", db, "idp:u:alice"])
        self.assertEqual(code, 0, err)
        out, err, code = yield self.go_get(server)
        self.assertNotEqual(code, 0, out)
        self.assertIn("missing discharge for third party caveat", err)
        self.assertIn("idp:u:alice", err)


class GoClientOurServerGoDischarger(_World):
    @defer.inlineCallbacks
    def test_vrpc_fetches_go_discharge_until_revoked(self):
        godis = go_binary("godischargerd")
        revoked = self.path("revoked.txt")
        line = yield self.start([godis, "--v23.credentials", self.path("idp"),
                                 "--v23.tcp.address", "127.0.0.1:0", "--revoked-file", revoked],
                                "ENDPOINT=")
        location = line.split("ENDPOINT=", 1)[1].strip()
        s = self.security
        cav = s.new_public_key_caveat(self.idp.public_key, location, None, s.unconstrained_use())
        b = self.idp.bless(self.alice.public_key, self.idp.blessing_store.default(), "u:alice",
                           cav)
        self.give_alice(b)
        server = yield self.start_fortune_server()
        out, err, code = yield self.go_get(server)
        self.assertEqual(code, 0, err)
        with open(revoked, "w") as f:
            f.write(cav.third_party_details().id() + "\n")
        out, err, code = yield self.go_get(server)
        self.assertNotEqual(code, 0, out)
        self.assertIn("missing discharge for third party caveat", err)
