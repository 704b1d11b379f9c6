"""Go v0.2.0's `debug` tool reads a v23py server's __debug objects.

Our mounttabled (any of our servers would do: every server serves __debug) runs
with `-v=1 --log_dir`; Go's `debug` globs `__debug/*`, reads and watches stats
(the system figures and the per-method latency histogram its own calls made),
reads the log file the server wrote through the logreader service, and asks for
the traces.  Credentials come from Go's `principal create`, so the default
authorizer lets the owner in; an unrelated principal is refused (Debug tag).
"""
import os
import re
import signal
import subprocess
import sys
import threading

from twisted.trial import unittest

from v23py.testing import child_env, go_binary, read_line, tempdir
from v23py.testing.names import NameDaemon as _Daemon

PY = sys.executable


class GoDebugReadsOurServer(unittest.TestCase):
    timeout = 180

    def setUp(self):
        self.debug = go_binary("debug")
        principal = go_binary("principal")
        self.dir = tempdir(self, prefix="debug-go-")
        self.creds = os.path.join(self.dir, "creds")
        subprocess.run([principal, "create", "--with-passphrase=false", "--overwrite",
                        self.creds, "owner"], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=30)
        self.other = os.path.join(self.dir, "other")
        subprocess.run([principal, "create", "--with-passphrase=false", "--overwrite",
                        self.other, "stranger"], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=30)
        self.logs = os.path.join(self.dir, "logs")
        os.mkdir(self.logs)
        self.env = child_env(v23_vars=False)
        self.server = _Daemon(self, [PY, "-m", "v23py.cmd.mounttabled",
                                     f"--v23.credentials={self.creds}",
                                     "--v23.tcp.address=127.0.0.1:0", "-v=1",
                                     f"--log_dir={self.logs}"], self.env, self.dir)
        self.ep = self.server.name

    def go(self, *args, creds=None, timeout=60):
        p = subprocess.run([self.debug, f"--v23.credentials={creds or self.creds}",
                            f"--log_dir={self.dir}", "--v23.namespace.root=/127.0.0.1:1",
                            *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env=self.env, cwd=self.dir, timeout=timeout)
        return p.returncode, p.stdout.replace(self.ep, "EP"), p.stderr.replace(self.ep, "EP")

    def test_glob_stats_logs_vtrace(self):
        rc, out, err = self.go("glob", self.ep + "/__debug/*")
        self.assertEqual(rc, 0, err)
        self.assertEqual(sorted(out.split()), ["EP/__debug/logs", "EP/__debug/pprof",
                                               "EP/__debug/stats", "EP/__debug/vtrace"])
        # stats: system figures, and the latency histogram of the glob just made
        rc, out, err = self.go("stats", "read", self.ep + "/__debug/stats/system/pid",
                               self.ep + "/__debug/stats/system/cmdline")
        self.assertEqual(rc, 0, err)
        self.assertIn(f"EP/__debug/stats/system/pid: {self.server.proc.pid}\n", out)
        self.assertRegex(out, r"EP/__debug/stats/system/cmdline: \S*mounttabled\.py "
                              r"--v23\.credentials=")
        rc, out, err = self.go("stats", "read",
                               self.ep + "/__debug/stats/rpc/server/routing-id/*/methods/"
                               "__Glob/latency-ms")
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, r"methods/__Glob/latency-ms: Count: \d+  Min: \d+  Max: \d+")
        self.assertIn("[       0,        1)", out)   # Go pretty-prints our HistogramValue
        rc, out, err = self.go("stats", "read", "-json",
                               self.ep + "/__debug/stats/system/num-cpu")
        self.assertEqual(rc, 0, err)
        self.assertIn('"Value":%d' % os.cpu_count(), out)
        # watch: the first round comes at once; the tool runs until stopped
        p = subprocess.Popen([self.debug, f"--v23.credentials={self.creds}",
                              f"--log_dir={self.dir}", "stats", "watch",
                              self.ep + "/__debug/stats/system/p*"], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True, env=self.env, cwd=self.dir)
        try:
            line = read_line(p, 30, "Go's debug stats watch")
        finally:
            p.kill()
            p.wait()
            p.stdout.close()
        self.assertEqual(line.replace(self.ep, "EP"),
                         f"EP/__debug/stats/system/pid: {self.server.proc.pid}\n")
        # logs: the server's glog-format INFO file, through the logreader service
        rc, out, err = self.go("glob", self.ep + "/__debug/logs/*")
        self.assertEqual(rc, 0, err)
        self.assertIn("EP/__debug/logs/mounttabled.INFO\n", out)
        rc, out, err = self.go("logs", "read", self.ep + "/__debug/logs/mounttabled.INFO")
        self.assertEqual(rc, 0, err)
        self.assertTrue(out.startswith("Log file created at: "), out)
        self.assertRegex(out, r"\nI\d{4} \d\d:\d\d:\d\d\.\d{6} +\d+ __init__\.py:\d+\] RuntimeFlags")
        rc, out, err = self.go("logs", "read", "-v", "-n", "1", "-o", "0",
                               self.ep + "/__debug/logs/mounttabled.INFO")
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, r"^\[0\] Log file created at: .*\nOffset: \d+\n$")
        rc, out, err = self.go("logs", "size", self.ep + "/__debug/logs/mounttabled.INFO")
        self.assertEqual(rc, 0, err)
        self.assertGreater(int(out), 100)
        # vtrace: nothing collected (no sampling): no output, no error
        rc, out, err = self.go("vtrace", self.ep + "/__debug/vtrace")
        self.assertEqual((rc, out), (0, ""), err)
        # pprof: the profiles on offer
        rc, out, err = self.go("pprof", "run", self.ep + "/__debug/pprof")
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, "Available profiles:\n  goroutine\n  profile\n")

    def test_a_stranger_is_refused(self):
        """The Debug tag under the default authorizer: a principal that trusts the server
        but is neither its delegate nor its delegator is refused; the owner is not."""
        principal, vrpc = go_binary("principal"), go_binary("vrpc")
        blessing = os.path.join(self.dir, "owner.blessing")
        with open(blessing, "w") as f:
            subprocess.run([principal, f"--v23.credentials={self.creds}", "get", "default"],
                           check=True, stdout=f, timeout=30)
        subprocess.run([principal, f"--v23.credentials={self.other}", "recognize", blessing],
                       check=True, timeout=30, stdout=subprocess.DEVNULL)
        pid = self.ep + "/__debug/stats/system/pid"
        p = subprocess.run([vrpc, f"--v23.credentials={self.other}", "call", pid, "Value"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env=self.env, cwd=self.dir, timeout=60)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("access denied: not authorized to call __debug/stats/system/pid.Value",
                      p.stderr)
        p = subprocess.run([vrpc, f"--v23.credentials={self.creds}", "call", pid, "Value"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env=self.env, cwd=self.dir, timeout=60)
        self.assertEqual(p.stdout, f"int64({self.server.proc.pid})\n", p.stderr)
        # and Go's debug glob shows the stranger nothing, saying why
        rc, out, err = self.go("glob", self.ep + "/__debug/*", creds=self.other)
        self.assertEqual(out, "")
        self.assertIn("some matches might have been omitted", err)
