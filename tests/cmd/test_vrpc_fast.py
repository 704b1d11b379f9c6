"""``vrpc signature /<endpoint>`` without the runtime (v23py.cmd._fastcall): the same output
as the runtime's path, no Twisted loaded, and the runtime's path (and its exact errors)
whenever the fast path cannot make the call as the runtime would.  Real processes."""
import os
import re
import subprocess
import sys

from twisted.internet import defer, threads
from twisted.trial import unittest

from v23py.testing.procs import ENV, make_creds, spawn
from v23py.testing import ROOT, tempdir


def _vrpc():
    here = os.path.join(os.path.dirname(sys.executable), "vrpc")
    return [here] if os.path.exists(here) else [sys.executable, "-m", "v23py.cmd.vrpc"]


def run_vrpc(args, creds, fast=True, imports=False):
    env = dict(ENV, V23_CREDENTIALS=creds)
    env.pop("V23PY_NO_FAST_CALL", None)
    if not fast:
        env["V23PY_NO_FAST_CALL"] = "1"
    if imports:
        env["PYTHONPROFILEIMPORTTIME"] = "1"
    p = subprocess.run(_vrpc() + list(args), env=env, cwd=ROOT, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


class FastSignature(unittest.TestCase):
    timeout = 120

    @defer.inlineCallbacks
    def setUp(self):
        self.dir = tempdir(self, prefix="vrpc-fast-")
        self.creds = os.path.join(self.dir, "creds")
        make_creds(self.creds, "basics")
        d, _ = spawn(self, [sys.executable, "-m", "fortune.server", "--v23.credentials",
                            self.creds, "--v23.tcp.address", "127.0.0.1:0"], "Listening at:")
        line = yield d.ready
        self.ep = "/" + line.split("Listening at: ", 1)[1].strip()

    def both(self, args, creds=None):
        creds = creds or self.creds
        return defer.gatherResults([
            threads.deferToThread(run_vrpc, args, creds, True),
            threads.deferToThread(run_vrpc, args, creds, False)])

    @defer.inlineCallbacks
    def test_same_output_and_no_twisted(self):
        (fast, slow) = yield self.both(["signature", self.ep])
        self.assertEqual(fast, slow)
        code, out, _ = fast
        self.assertEqual(code, 0)
        self.assertTrue(out.startswith('type "fortune/ifc".Fortune interface {\n'), out)
        self.assertNotIn("__Reserved", out)
        code, out, err = yield threads.deferToThread(
            run_vrpc, ["signature", self.ep], self.creds, True, True)
        self.assertEqual(code, 0, err)
        mods = set(re.findall(r"^import time:\s+\d+ \|\s+\d+ \| +(\S+)$", err, re.M))
        self.assertIn("v23py.cmd._fastcall", mods)
        self.assertEqual(sorted(m for m in mods if m.split(".")[0] == "twisted"), [])
        self.assertNotIn("v23py.runtime", mods)

    @defer.inlineCallbacks
    def test_not_trusted_falls_back_to_the_runtimes_error(self):
        # the endpoint names other blessings: the server is not trusted, as the runtime says
        ep = self.ep.replace("@s@basics@@", "@s@somebody@@")
        (fast, slow) = yield self.both(["signature", ep])
        self.assertEqual(fast, slow)
        self.assertEqual(fast[0], 1)
        self.assertIn("does not trust server", fast[2])

    @defer.inlineCallbacks
    def test_other_forms_take_the_runtime(self):
        unreachable = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:1", self.ep)
        for args in (["signature", "-show-reserved", self.ep], ["signature", self.ep, "Get"],
                     ["signature", self.ep + "/suffix"], ["--timeout=2s", "signature", self.ep],
                     ["--timeout=2s", "signature", unreachable]):
            (fast, slow) = yield self.both(args)
            self.assertEqual(fast, slow, args)
        code, out, err = yield threads.deferToThread(
            run_vrpc, ["signature", "-show-reserved", self.ep], self.creds, True, True)
        self.assertEqual(code, 0, err)
        self.assertIn("__Reserved", out)
        self.assertNotIn("v23py.cmd._fastcall", err)

    @defer.inlineCallbacks
    def test_stranger_credentials(self):
        # a client with unrelated blessings presents a nameless blessing to the server
        # (reserved methods are open to everyone): the same answer either way
        other = os.path.join(self.dir, "other")
        make_creds(other, "stranger")
        (fast, slow) = yield self.both(["signature", self.ep], creds=other)
        self.assertEqual(fast, slow)
