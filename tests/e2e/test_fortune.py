"""The fortune pair as separate processes: flags, outputs, endpoint file, errors, shutdown."""
import os
import sys
import time

from twisted.internet import defer, error, protocol, reactor, utils
from twisted.trial import unittest

from v23py.testing import ROOT, tempdir
from v23py.testing.procs import ENV, make_creds, spawn









class FortuneProcessTest(unittest.TestCase):
    timeout = 60

    def setUp(self):
        self.dir = tempdir(self, "fortune-test-")
        self.creds = os.path.join(self.dir, "creds")
        make_creds(self.creds, "basics")

    @defer.inlineCallbacks
    def start_server(self, *extra):
        epfile = os.path.join(self.dir, "server.txt")
        t0 = time.monotonic()
        d, p = spawn(self, [sys.executable, "-m", "fortune.server",
                            "--v23.credentials", self.creds, "--endpoint-file-name", epfile,
                            "--v23.tcp.address", "127.0.0.1:0", *extra], "Listening at:")
        line = yield d.ready
        self.startup = time.monotonic() - t0
        self.daemon, self.proc = d, p
        return epfile, line

    def client(self, *args, creds=None):
        return utils.getProcessOutputAndValue(
            sys.executable, ["-m", "fortune.client", "--v23.credentials", creds or self.creds,
                             *args], env=ENV, path=ROOT)

    @defer.inlineCallbacks
    def test_server_outputs_and_client(self):
        epfile, line = yield self.start_server()
        with open(epfile) as f:
            text = f.read()
        ep = line.split("Listening at: ", 1)[1]
        self.assertEqual(text, "/" + ep + "\n")
        self.assertTrue(ep.startswith("@6@wsh@127.0.0.1:") and ep.endswith("@s@basics@@"), ep)
        out = self.daemon.out.decode()
        self.assertEqual(out.splitlines()[0], f"Wrote endpoint name to {epfile}.")
        name = text.strip()
        out, err, code = yield self.client("--server", name)
        self.assertEqual(code, 0, err)
        self.assertIn(out.decode().rstrip("\n"), [
            "You will reach the heights of success.",
            "Conquer your fears or they will conquer you.",
            "Today is your lucky day!"])
        out, err, code = yield self.client("--server", name, "--add", "Fortune favors the bold.")
        self.assertEqual((out, code), (b"", 0), err)

    @defer.inlineCallbacks
    def test_client_error_goes_to_stderr(self):
        epfile, _ = yield self.start_server()
        name = open(epfile).read().strip()
        other = os.path.join(self.dir, "stranger")
        p = make_creds(other, "stranger")
        # the stranger trusts the server's root but is not authorized by it
        from v23py import security
        srv = security.load_principal(self.creds)
        p.add_to_roots(srv.blessing_store.default())
        out, err, code = yield self.client("--server", name, creds=other)
        self.assertNotEqual(code, 0)
        self.assertEqual(out, b"")
        self.assertIn(b"error getting fortune", err)
        self.assertIn(b"access denied", err)

    @defer.inlineCallbacks
    def test_sigterm_shuts_down_cleanly(self):
        yield self.start_server()
        self.proc.signalProcess("TERM")
        code = yield self.daemon.ended
        self.assertEqual(code, 0, (self.daemon.err, self.daemon.reason))

    @defer.inlineCallbacks
    def test_unknown_flag(self):
        out, err, code = yield utils.getProcessOutputAndValue(
            sys.executable, ["-m", "fortune.server", "--no-such-flag"], env=ENV, path=ROOT)
        self.assertEqual(code, 2)
        self.assertIn(b"flag provided but not defined: -no-such-flag", err)
