"""A tool's fast path (v23py.cmd._fastcall/_fastglob) and the runtime's path it falls back to
share the command's one timeout, as Go's tools have one: a server that accepts connections
but never answers costs the command its timeout once, not once per path.

Each case runs the real tool in a child process against a silent listener, with the fast
path's own budget cut to half a second and the time it already spent raised by the test to
59 s, so the runtime's path must end within the minute's last second."""
import socket
import subprocess
import sys
import time
import os

from twisted.internet import threads
from twisted.trial import unittest

from v23py.cmd import _fastcall
from v23py.testing import ROOT, tempdir
from v23py.testing.procs import ENV, make_creds

_PRELUDE = """
import functools, sys
from v23py.cmd import _fastcall, _fastglob
_fastcall._spent = 59.0                     # as if fast attempts had used 59 s already
_fastglob.TIMEOUT = 0.5
_fastcall.signature = functools.partial(_fastcall.signature, timeout=0.5)
"""


class FastPathBudgetTest(unittest.TestCase):
    timeout = 120

    def setUp(self):
        self.creds = os.path.join(tempdir(self, "fast-budget-"), "creds")
        make_creds(self.creds, "alice")
        # accepts (the kernel's backlog) and never answers
        self.silent = socket.socket()
        self.silent.bind(("127.0.0.1", 0))
        self.silent.listen(16)
        self.addCleanup(self.silent.close)
        self.port = self.silent.getsockname()[1]

    def run_tool(self, code):
        env = dict(ENV, V23_CREDENTIALS=self.creds,
                   V23_NAMESPACE="/127.0.0.1:%d" % self.port)
        env.pop("V23PY_NO_FAST_CALL", None)

        def run():
            t0 = time.monotonic()
            p = subprocess.run([sys.executable, "-c", _PRELUDE + code], env=env, cwd=ROOT,
                               stdin=subprocess.DEVNULL, capture_output=True, text=True,
                               timeout=90)
            return time.monotonic() - t0, p
        return threads.deferToThread(run)

    def check_timed_out_soon(self, took, p):
        self.assertNotEqual(p.returncode, 0, p.stdout)
        self.assertIn("timeout", p.stderr.lower())
        # start-up, the 0.5 s fast attempt and the minute's last second (a few seconds,
        # more under load); the runtime's own minute alone would be 60 s
        self.assertLess(took, 50.0, p.stderr)

    async def _glob(self):
        took, p = await self.run_tool(
            "from v23py.cmd.namespace import main\nmain(['glob', '*'])\n")
        self.check_timed_out_soon(took, p)

    def test_namespace_glob(self):
        from twisted.internet import defer
        return defer.ensureDeferred(self._glob())

    async def _signature(self):
        name = "/@6@tcp@127.0.0.1:%d@@0123456789abcdef0123456789abcdef@s@alice@@" % self.port
        took, p = await self.run_tool(
            "from v23py.cmd.vrpc import main\nmain(['signature', %r])\n" % name)
        self.check_timed_out_soon(took, p)

    def test_vrpc_signature(self):
        from twisted.internet import defer
        return defer.ensureDeferred(self._signature())


class TimeLeftTest(unittest.TestCase):
    def test_unchanged_until_a_fast_attempt_falls_back(self):
        self.patch(_fastcall, "_spent", 0.0)
        self.assertEqual(_fastcall.time_left(60.0), 60.0)
        _fastcall.note_fallback(time.monotonic() - 2.0)
        self.assertLess(abs(_fastcall.time_left(60.0) - 58.0), 0.5)
        _fastcall.note_fallback(time.monotonic() - 100.0)
        self.assertGreater(_fastcall.time_left(60.0), 0.0)    # spent: the least, not <= 0
        self.assertLess(_fastcall.time_left(60.0), 0.01)
