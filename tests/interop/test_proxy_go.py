"""Proxies against Go Vanadium v0.2.0's ``xproxyd``, every direction.

* Go's ``vrpc`` -> Go's ``xproxyd`` -> our fortune server listening through it with
  ``--v23.proxy=proxy`` (a name in a Go mount table, where the server also publishes its
  proxied endpoint); our ``vrpc`` the same way.
* Go's ``vrpc`` -> our ``xproxyd`` -> our fortune server, and Go's ``debug stats read`` of
  our proxy's counters.
* Our ``mounttable`` tool -> our ``xproxyd`` -> Go's ``mounttabled`` listening through it.
* Our ``xproxyd`` refuses a server outside its ``--access-list``, and our server hears Go's
  refusal.
"""
import os
import sys
import tempfile
import time

from twisted.internet import defer, reactor, task, utils
from twisted.trial import unittest

from v23py import security
from v23py.testing import ROOT, go_binary
from v23py.testing.procs import ENV, spawn


def run(args):
    return utils.getProcessOutputAndValue(args[0], args[1:], env=ENV, path=ROOT)


def ours(module):
    return [sys.executable, "-m", module]


_CREDS = {}


def creds():
    """root; root:proxy; root:server; root:server:client (a delegate of the server, so the
    server's default authorizer lets it in); all recognize root."""
    if "dir" not in _CREDS:
        d = tempfile.mkdtemp(prefix="proxy-interop-")
        root = security.create_principal(os.path.join(d, "root"))
        rb = root.bless_self("root")
        root.blessing_store.set_default(rb)
        root.blessing_store.set(rb, "...")
        root.add_to_roots(rb)

        def blessed(name, blesser, blesser_b, ext):
            p = security.create_principal(os.path.join(d, name))
            b = blesser.bless(p.public_key, blesser_b, ext, security.unconstrained_use())
            p.blessing_store.set_default(b)
            p.blessing_store.set(b, "...")
            p.add_to_roots(b)
            return p, b
        blessed("proxy", root, rb, "proxy")
        srv, sb = blessed("server", root, rb, "server")
        blessed("client", srv, sb, "client")
        blessed("stranger", root, rb, "stranger")
        _CREDS["dir"] = d
    return _CREDS["dir"]


def proxied(proxy_ep, server_ep):
    """The endpoint a proxy gives a server: the proxy's address, the server's routing id."""
    p = proxy_ep.lstrip("/").split("@")
    s = server_ep.lstrip("/").split("@")
    return "/@6@%s@%s@@%s@%s@%s@@" % (p[2], p[3], s[5], s[6], s[7])


class ProxyInterop(unittest.TestCase):
    timeout = 90

    def setUp(self):
        self.dir = creds()

    def c(self, name):
        return os.path.join(self.dir, name)

    @defer.inlineCallbacks
    def start(self, args, marker):
        d, _ = spawn(self, args, marker)
        line = yield d.ready
        self.addCleanup(lambda: None)
        return d, line.split(marker, 1)[1].strip()

    @defer.inlineCallbacks
    def until_ok(self, args, want=None, timeout=20):
        """Run args until it exits 0 (and prints `want`); returns its output."""
        deadline = time.monotonic() + timeout
        while True:
            out, err, code = yield run(args)
            out = out.decode()
            if code == 0 and (want is None or want in out):
                return out
            if time.monotonic() > deadline:
                self.fail("%s: exit %d\n%s\n%s" % (args, code, out, err.decode()[-2000:]))
            yield task.deferLater(reactor, 0.3, lambda: None)

    @defer.inlineCallbacks
    def go_mounttable(self):
        _, name = yield self.start([go_binary("mounttabled"), "--v23.credentials",
                                    self.c("root"), "--v23.tcp.address", "127.0.0.1:0"],
                                   "NAME=")
        return name

    @defer.inlineCallbacks
    def test_go_vrpc_go_proxy_our_server(self):
        mt = yield self.go_mounttable()
        _, pname = yield self.start(
            [go_binary("xproxyd"), "--v23.credentials", self.c("proxy"),
             "--v23.namespace.root", mt, "--v23.tcp.address", "127.0.0.1:0", "--name", "proxy",
             "--access-list", '{"In":["root:server"]}'], "NAME=")
        _, sep = yield self.start(
            ours("fortune.server") + ["--v23.credentials", self.c("server"),
                                      "--v23.namespace.root", mt, "--v23.tcp.address",
                                      "127.0.0.1:0", "--v23.proxy", "proxy",
                                      "--service-name", "fortune"], "Listening at:")
        via = proxied(pname, sep)
        self.assertIn("@wsh@", via)
        # the server publishes its proxied endpoint beside its own
        out = yield self.until_ok([go_binary("namespace"), "--v23.credentials", self.c("client"),
                                   "--v23.namespace.root", mt, "resolve", "fortune"], want=via)
        self.assertIn("/" + sep, out)
        out = yield self.until_ok([go_binary("vrpc"), "--v23.credentials", self.c("client"),
                                   "call", via, "Add", '"through a Go proxy"'])
        out = yield self.until_ok([go_binary("vrpc"), "--v23.credentials", self.c("client"),
                                   "call", via, "Get"])
        self.assertEqual(out, '"through a Go proxy"\n')
        # our client through Go's proxy to our server
        out = yield self.until_ok(ours("v23py.cmd.vrpc") + ["--v23.credentials", self.c("client"),
                                                            "call", via, "Get"])
        self.assertEqual(out, '"through a Go proxy"\n')

    @defer.inlineCallbacks
    def our_proxy(self, *extra):
        d, line = yield self.start(
            ours("v23py.cmd.xproxyd") + ["--v23.credentials", self.c("proxy"),
                                         "--v23.tcp.address", "127.0.0.1:0",
                                         "--access-list", '{"In":["root:server"]}', *extra],
            "Proxy listening on ")
        yield self.until_marker(d, "Proxy stats listening on: ")
        out = d.out.decode()
        stats = out.split("Proxy stats listening on: [", 1)[1].split("]", 1)[0].split()[0]
        return d, "/" + line, "/" + stats

    @defer.inlineCallbacks
    def until_marker(self, d, marker, timeout=20):
        deadline = time.monotonic() + timeout
        while marker not in d.out.decode():
            if time.monotonic() > deadline:
                self.fail("no %r in %r %r" % (marker, d.out, d.err))
            yield task.deferLater(reactor, 0.1, lambda: None)

    @defer.inlineCallbacks
    def test_go_vrpc_our_proxy_our_server_and_go_debug_stats(self):
        _, pep, stats = yield self.our_proxy()
        _, sep = yield self.start(
            ours("fortune.server") + ["--v23.credentials", self.c("server"),
                                      "--v23.tcp.address", "127.0.0.1:0", "--v23.proxy", pep],
            "Listening at:")
        via = proxied(pep, sep)
        out = yield self.until_ok([go_binary("vrpc"), "--v23.credentials", self.c("client"),
                                   "call", via, "Add", '"through our proxy"'])
        out = yield self.until_ok([go_binary("vrpc"), "--v23.credentials", self.c("client"),
                                   "call", via, "Get"])
        self.assertEqual(out, '"through our proxy"\n')
        rid = sep.split("@")[5]
        out = yield self.until_ok([go_binary("debug"), "--v23.credentials", self.c("proxy"),
                                   "stats", "read", stats + "/" + rid + "/requests"])
        self.assertEqual(out, "%s/%s/requests: 1\n" % (stats, rid))
        out = yield self.until_ok([go_binary("debug"), "--v23.credentials", self.c("proxy"),
                                   "glob", stats + "/" + rid + "/*"])
        self.assertEqual(sorted(out.split()), [stats + "/" + rid + "/" + n
                                               for n in ("from", "requests", "to")])

    @defer.inlineCallbacks
    def test_our_mounttable_client_our_proxy_go_mounttabled(self):
        _, pep, _ = yield self.our_proxy()
        _, gname = yield self.start([go_binary("mounttabled"), "--v23.credentials",
                                     self.c("server"), "--v23.tcp.address", "127.0.0.1:0",
                                     "--v23.proxy", pep], "NAME=")
        via = proxied(pep, gname)
        self.assertIn("@m@root:server@@", via)
        yield self.until_ok(ours("v23py.cmd.mounttable") + [
            "--v23.credentials", self.c("client"), "mount", via + "/x",
            "/@6@tcp@10.1.2.3:4@@@s@@@", "1m"])
        out = yield self.until_ok(ours("v23py.cmd.mounttable") + [
            "--v23.credentials", self.c("client"), "glob", via, "*"])
        self.assertTrue(out.startswith("x /@6@tcp@10.1.2.3:4@@@s@@@ (Deadline "), out)

    @defer.inlineCallbacks
    def test_our_proxy_refuses_servers_outside_its_access_list(self):
        _, pep, _ = yield self.our_proxy()
        d, _ = yield self.start(
            ours("fortune.server") + ["--v23.credentials", self.c("stranger"),
                                      "--v23.tcp.address", "127.0.0.1:0", "--v23.proxy", pep],
            "Listening at:")
        # ... and so does Go's, which our server hears
        _, gpep = yield self.start(
            [go_binary("xproxyd"), "--v23.credentials", self.c("proxy"), "--v23.tcp.address",
             "127.0.0.1:0", "--access-list", '{"In":["root:server"]}'], "Proxy listening on ")
        d2, _ = yield self.start(
            ours("fortune.server") + ["--v23.credentials", self.c("stranger"),
                                      "--v23.tcp.address", "127.0.0.1:0", "--v23.proxy",
                                      "/" + gpep], "Listening at:")
        deadline = time.monotonic() + 20
        while b"does not match the access list" not in d.err or b"proxy returned: " not in d2.err:
            if time.monotonic() > deadline:
                self.fail("no refusal in %r / %r" % (d.err, d2.err))
            yield task.deferLater(reactor, 0.2, lambda: None)
