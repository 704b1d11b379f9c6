"""Retries with Go Vanadium v0.2.0 peers (the rules: v23py.rpc.retry).

* our client and a Go mount table (``mounttabled``) that starts 2 s after our call;
* our client holding a connection to a Go mount table that restarts;
* a name whose mount moves, in a Go mount table;
* Go's client (``vrpc``) and our server that starts 2 s after its call: both sides
  agree on what is worth retrying.
"""
import os
import sys
import time

from twisted.internet import defer, utils
from twisted.trial import unittest

from v23py.testing import ROOT, go_binary
from v23py.testing.procs import ENV, spawn
from v23py.testing.retry import ProcsMixin, free_port, later


def run(args):
    return utils.getProcessOutputAndValue(args[0], args[1:], env=ENV, path=ROOT)


class _Procs(ProcsMixin, unittest.TestCase):
    timeout = 120

    def setUp(self):
        self.make_world()


class GoMountTableStartsLate(_Procs):
    @defer.inlineCallbacks
    def test_our_namespace_tool_waits_for_it(self):
        go_mt = go_binary("mounttabled")
        port = free_port()
        root = f"/127.0.0.1:{port}"
        t0 = time.monotonic()
        mount = run([sys.executable, "-m", "v23py.cmd.namespace", "--v23.credentials",
                     self.creds, f"--v23.namespace.root={root}", "mount", "x",
                     "/127.0.0.1:9", "1h"])
        yield later(2.0)
        d, _ = spawn(self, [go_mt, "--v23.credentials", self.creds,
                            "--v23.tcp.address", f"127.0.0.1:{port}"], "NAME=")
        line = yield d.ready
        out, err, code = yield mount
        self.assertEqual(code, 0, err)
        self.assertGreater(time.monotonic() - t0, 2.0)
        # (Go's tools trust a root only by the blessings in its endpoint)
        go_root = line.split("NAME=", 1)[1].strip()
        out, err, code = yield run([go_binary("namespace"), "--v23.credentials", self.creds,
                                    f"--v23.namespace.root={go_root}", "resolve", "x"])
        self.assertEqual((out.decode().strip(), code), ("/127.0.0.1:9", 0), err)


class GoMountTableRestarts(_Procs):
    @defer.inlineCallbacks
    def test_our_client_reaches_the_new_process(self):
        from v23py import runtime
        go_mt = go_binary("mounttabled")
        port = free_port()
        root = f"/127.0.0.1:{port}"
        args = [go_mt, "--v23.credentials", self.creds, "--v23.tcp.address", f"127.0.0.1:{port}"]
        d, p = spawn(self, args, "NAME=")
        yield d.ready
        ctx = self.runtime(f"--v23.namespace.root={root}")
        ctx, cancel = ctx.with_timeout(60)
        self.addCleanup(cancel)
        ns = runtime.get_runtime(ctx).namespace
        yield defer.ensureDeferred(ns.mount(ctx, "first", "/127.0.0.1:9", 3600))
        names = yield defer.ensureDeferred(ns.resolve_names(ctx, "first"))
        self.assertEqual(names, ["/127.0.0.1:9"])
        p.signalProcess("KILL")
        yield d.ended
        t0 = time.monotonic()
        restarted = []
        later(1.5, lambda: restarted.append(spawn(self, args, "NAME=")[0]))
        yield defer.ensureDeferred(ns.mount(ctx, "second", "/127.0.0.1:8", 3600))
        self.assertGreater(time.monotonic() - t0, 1.0)
        line = yield restarted[0].ready
        go_root = line.split("NAME=", 1)[1].strip()
        out, err, code = yield run([go_binary("namespace"), "--v23.credentials", self.creds,
                                    f"--v23.namespace.root={go_root}", "glob", "*"])
        self.assertEqual((out.decode().split(), code), (["second"], 0), err)


class GoMountTableMountMoves(_Procs):
    def test_name_whose_mount_moves(self):
        return self.mount_moves([go_binary("mounttabled")])


class GoClientOurLateServer(_Procs):
    @defer.inlineCallbacks
    def test_vrpc_waits_for_our_server(self):
        vrpc = go_binary("vrpc")
        port = free_port()
        t0 = time.monotonic()
        # the server's endpoint, known before it starts: its address and blessings (Go's
        # client trusts a server by the blessings in its endpoint) and no routing id
        name = f"/@6@tcp@127.0.0.1:{port}@@{'0' * 32}@s@basics@@"
        call = run([vrpc, "--v23.credentials", self.creds, "call", name, "Get"])
        yield later(2.0)
        self.fortune_server(port)
        out, err, code = yield call
        self.assertEqual(code, 0, err)
        self.assertTrue(out.strip().startswith(b'"'), (out, err))
        self.assertGreater(time.monotonic() - t0, 2.0)
