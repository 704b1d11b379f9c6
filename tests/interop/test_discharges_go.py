"""Third-party caveats end to end with Go Vanadium v0.2.0.

A principal `idp` blesses `alice` as idp:u:alice under a third-party caveat whose
discharger is either our ``dischargerd`` (a revocation caveat, revoked with our
``discharger revoke``) or ``godischargerd`` (a Go discharger built from
tests/interop/go by .ci/go-programs.sh; it refuses caveat ids listed in a file).
A fortune server lets idp:u:alice read. The client fetches a discharge from the
discharger named in the caveat and sends it with its call; the server checks it
(without contacting the discharger); once the discharger stops issuing, the
call is refused for want of a discharge.

* Go's client (``vrpc``) -> our server, with our discharger and with Go's;
* our client -> Go's server (``mounttabled`` letting only idp:u:alice in), with both;
* servers blessed under a third-party caveat present their discharges with their
  Auth: Go's client trusts ours, our client trusts Go's;
* the client's discharge on conns Go's ``xproxyd`` forwards (Go's client -> our server,
  our client -> Go's mount table) and over ``ws`` (Go's client -> our server).
"""
import os
import sys

from twisted.internet import defer, utils
from twisted.trial import unittest

from v23py.testing import ROOT, go_binary, tempdir
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
        self.dir = tempdir(self, "discharges-go-")
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
        godis = go_binary("godischargerd", "programs")
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


class OurClientGoServer(_World):
    """Our client (the `namespace` tool, one process per call: no discharge cache) mounts
    a name in Go's mounttabled, which lets only idp:u:alice in: with our discharger and
    with Go's."""

    @defer.inlineCallbacks
    def go_mount_table(self):
        import json
        acl = self.path("acl.json")
        allow = {"In": ["idp:u:alice"]}
        with open(acl, "w") as f:
            json.dump({"": {t: allow for t in ("Read", "Admin", "Create", "Mount", "Resolve")}},
                      f)
        line = yield self.start([go_binary("mounttabled"), "--v23.credentials", self.path("srv"),
                                 "--v23.tcp.address", "127.0.0.1:0", "--acls", acl], "NAME=")
        return line.split("NAME=", 1)[1].strip()

    def our_mount(self, root, name):
        return run([sys.executable, "-m", "v23py.cmd.namespace", "--v23.credentials",
                    self.path("alice"), f"--v23.namespace.root={root}", "mount", name,
                    "/127.0.0.1:9", "1h"])

    @defer.inlineCallbacks
    def test_with_our_discharger(self):
        root = yield self.go_mount_table()
        db = self.path("revocation.db")
        line = yield self.start([sys.executable, "-m", "v23py.cmd.dischargerd",
                                 "--v23.credentials", self.path("idp"), "--revocation-db", db,
                                 "--v23.tcp.address", "127.0.0.1:0"], "ENDPOINT=")
        location = line.split("ENDPOINT=", 1)[1].strip()
        out, err, code = yield run([sys.executable, "-m", "v23py.cmd.discharger", "bless",
                                    "--v23.credentials", self.path("idp"), "--revocation-db", db,
                                    "--location", location, self.path("alice"), "u:alice"])
        self.assertEqual(code, 0, err)
        self.give_alice(self.security.decode_blessings(out.decode().strip()))
        out, err, code = yield self.our_mount(root, "first")
        self.assertEqual(code, 0, err)
        yield run([sys.executable, "-m", "v23py.cmd.discharger", "revoke", "--revocation-db", db,
                   "idp:u:alice"])
        out, err, code = yield self.our_mount(root, "second")
        self.assertNotEqual(code, 0, out)
        self.assertIn("missing discharge for third party caveat", err.decode())

    @defer.inlineCallbacks
    def test_with_go_discharger(self):
        root = yield self.go_mount_table()
        revoked = self.path("revoked.txt")
        line = yield self.start([go_binary("godischargerd", "programs"), "--v23.credentials",
                                 self.path("idp"), "--v23.tcp.address", "127.0.0.1:0",
                                 "--revoked-file", revoked], "ENDPOINT=")
        location = line.split("ENDPOINT=", 1)[1].strip()
        s = self.security
        cav = s.new_public_key_caveat(self.idp.public_key, location, None, s.unconstrained_use())
        self.give_alice(self.idp.bless(self.alice.public_key, self.idp.blessing_store.default(),
                                       "u:alice", cav))
        out, err, code = yield self.our_mount(root, "first")
        self.assertEqual(code, 0, err)
        with open(revoked, "w") as f:
            f.write(cav.third_party_details().id() + "\n")
        out, err, code = yield self.our_mount(root, "second")
        self.assertNotEqual(code, 0, out)
        self.assertIn("missing discharge for third party caveat", err.decode())


class ServersBlessedWithThirdPartyCaveats(_World):
    """A server whose own blessing carries a third-party caveat presents its discharge on
    every connection: Go's client checks ours, our client checks Go's."""

    @defer.inlineCallbacks
    def setUp(self):
        _World.setUp(self)
        line = yield self.start([go_binary("godischargerd", "programs"), "--v23.credentials",
                                 self.path("idp"), "--v23.tcp.address", "127.0.0.1:0"],
                                "ENDPOINT=")
        self.location = line.split("ENDPOINT=", 1)[1].strip()
        # srv is blessed idp:srv under a caveat the Go discharger discharges
        from v23py import security
        s = self.security
        cav = s.new_public_key_caveat(self.idp.public_key, self.location, None,
                                      s.unconstrained_use())
        b = self.idp.bless(self.srv.public_key, self.idp.blessing_store.default(), "srv", cav)
        p = security.load_principal(self.path("srv"))
        p.set_default_blessings(b)
        p.add_to_roots(self.idp.blessing_store.default())

    @defer.inlineCallbacks
    def test_go_client_trusts_our_server(self):
        server = yield self.start_fortune_server()
        self.assertIn("@idp:srv@", server)
        out, err, code = yield run([go_binary("vrpc"), "--v23.credentials", self.path("alice"),
                                    "call", server, "Get"])
        # alice is not allowed to read (the server's perms name idp:u:alice, she is alice):
        # what matters is that she talked to the server, so she trusted it
        self.assertNotIn("does not trust server", err.decode(), err)
        self.assertIn("does not have R access", err.decode(), err)

    @defer.inlineCallbacks
    def test_our_client_trusts_go_server(self):
        line = yield self.start([go_binary("mounttabled"), "--v23.credentials",
                                 self.path("srv"), "--v23.tcp.address", "127.0.0.1:0"], "NAME=")
        root = line.split("NAME=", 1)[1].strip()
        self.assertIn("@idp:srv@", root)
        out, err, code = yield run([sys.executable, "-m", "v23py.cmd.namespace",
                                    "--v23.credentials", self.path("alice"),
                                    f"--v23.namespace.root={root}", "mount", "x", "/127.0.0.1:9",
                                    "1h"])
        self.assertEqual(code, 0, err)
        out, err, code = yield run([go_binary("namespace"), "--v23.credentials",
                                    self.path("alice"), f"--v23.namespace.root={root}",
                                    "resolve", "x"])
        self.assertEqual((out.decode().strip(), code), ("/127.0.0.1:9", 0), err)


def _proxied(proxy_ep, server_ep):
    """The endpoint a proxy gives a server: the proxy's address, the server's routing id
    and blessings."""
    p = proxy_ep.lstrip("/").split("@")
    s = server_ep.lstrip("/").split("@")
    return "/@6@%s@%s@@%s@%s@%s@@" % (p[2], p[3], s[5], s[6], s[7])


class ThroughGoProxyAndOverWebSockets(_World):
    """alice's discharge (Go's discharger) on conns Go's ``xproxyd`` forwards and over
    ``ws``: Go's client -> Go's proxy -> our server; our client -> Go's proxy -> Go's
    mount table; Go's client -> our server over ws."""

    @defer.inlineCallbacks
    def setUp(self):
        _World.setUp(self)
        self.revoked = self.path("revoked.txt")
        line = yield self.start([go_binary("godischargerd", "programs"), "--v23.credentials",
                                 self.path("idp"), "--v23.tcp.address", "127.0.0.1:0",
                                 "--revoked-file", self.revoked], "ENDPOINT=")
        location = line.split("ENDPOINT=", 1)[1].strip()
        s = self.security
        self.cav = s.new_public_key_caveat(self.idp.public_key, location, None,
                                           s.unconstrained_use())
        self.give_alice(self.idp.bless(self.alice.public_key,
                                       self.idp.blessing_store.default(), "u:alice", self.cav))
        proxy = _creds(self.dir, "proxy")
        proxy.add_to_roots(self.srv.blessing_store.default())
        self.alice.add_to_roots(proxy.blessing_store.default())

    def revoke(self):
        with open(self.revoked, "w") as f:
            f.write(self.cav.third_party_details().id() + "\n")

    @defer.inlineCallbacks
    def go_proxy(self):
        line = yield self.start([go_binary("xproxyd"), "--v23.credentials", self.path("proxy"),
                                 "--v23.tcp.address", "127.0.0.1:0",
                                 "--access-list", '{"In":["srv"]}'], "Proxy listening on ")
        return "/" + line.split("Proxy listening on ", 1)[1].strip()

    @defer.inlineCallbacks
    def until(self, fn, timeout=20):
        """fn() until it gives (out, err, 0); returns out."""
        import time
        from twisted.internet import reactor, task
        deadline = time.monotonic() + timeout
        while True:
            out, err, code = yield fn()
            if code == 0:
                return out
            if time.monotonic() > deadline:
                self.fail("exit %d: %s %s" % (code, out, err))
            yield task.deferLater(reactor, 0.3, lambda: None)

    @defer.inlineCallbacks
    def test_go_vrpc_go_proxy_our_server(self):
        pep = yield self.go_proxy()
        epfile = self.path("server.txt")
        yield self.start([sys.executable, "-m", "fortune.server", "--v23.credentials",
                          self.path("srv"), "--endpoint-file-name", epfile,
                          "--v23.tcp.address", "127.0.0.1:0", "--v23.proxy", pep,
                          "--perms", PERMS], "Listening at:")
        with open(epfile) as f:
            via = _proxied(pep, f.read().strip())
        out = yield self.until(lambda: self.go_get(via))
        self.assertTrue(out.strip().startswith('"'), out)
        self.revoke()
        out, err, code = yield self.go_get(via)
        self.assertNotEqual(code, 0, out)
        self.assertIn("missing discharge for third party caveat", err)

    @defer.inlineCallbacks
    def test_our_client_go_proxy_go_mounttable(self):
        import json
        pep = yield self.go_proxy()
        acl = self.path("acl.json")
        allow = {"In": ["idp:u:alice"]}
        with open(acl, "w") as f:
            json.dump({"": {t: allow for t in ("Read", "Admin", "Create", "Mount", "Resolve")}},
                      f)
        line = yield self.start([go_binary("mounttabled"), "--v23.credentials", self.path("srv"),
                                 "--v23.tcp.address", "127.0.0.1:0", "--acls", acl,
                                 "--v23.proxy", pep], "NAME=")
        via = _proxied(pep, line.split("NAME=", 1)[1].strip())

        def mount(name):
            return run([sys.executable, "-m", "v23py.cmd.mounttable", "--v23.credentials",
                        self.path("alice"), "mount", via + "/" + name, "/127.0.0.1:9", "1h"])
        yield self.until(lambda: mount("first"))
        self.revoke()
        out, err, code = yield mount("second")
        self.assertNotEqual(code, 0, out)
        self.assertIn("missing discharge for third party caveat", err.decode())

    @defer.inlineCallbacks
    def test_go_vrpc_our_server_over_ws(self):
        epfile = self.path("server.txt")
        yield self.start([sys.executable, "-m", "fortune.server", "--v23.credentials",
                          self.path("srv"), "--endpoint-file-name", epfile,
                          "--v23.tcp.protocol", "ws", "--v23.tcp.address", "127.0.0.1:0",
                          "--perms", PERMS], "Listening at:")
        with open(epfile) as f:
            server = f.read().strip()
        self.assertIn("@ws@", server)
        out, err, code = yield self.go_get(server)
        self.assertEqual(code, 0, err)
        self.revoke()
        out, err, code = yield self.go_get(server)
        self.assertNotEqual(code, 0, out)
        self.assertIn("missing discharge for third party caveat", err)
