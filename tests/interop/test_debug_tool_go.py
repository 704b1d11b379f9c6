"""Our `debug` and Go's `debug` read Go's mounttabled and print the same thing.

Each command runs with both tools on the same running Go mounttabled; outputs are
compared after sorting lines where Go prints in the order its goroutines finish.
"""
import os
import subprocess
import sys

from twisted.trial import unittest

from v23py.testing import child_env, go_binary, tempdir
from v23py.testing.names import NameDaemon as _Daemon

PY = sys.executable


class SameOutputOnGoMounttable(unittest.TestCase):
    timeout = 300

    def setUp(self):
        self.godebug = go_binary("debug")
        self.dir = tempdir(self, prefix="debug-tool-")
        self.creds = os.path.join(self.dir, "creds")
        subprocess.run([go_binary("principal"), "create", "--with-passphrase=false",
                        self.creds, "owner"], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=30)
        self.logs = os.path.join(self.dir, "logs")
        os.mkdir(self.logs)
        self.env = child_env(v23_vars=False)
        self.mt = _Daemon(self, [go_binary("mounttabled"), f"--v23.credentials={self.creds}",
                                 "--v23.tcp.address=127.0.0.1:0", f"--log_dir={self.logs}"],
                          self.env, self.dir)
        self.ep = self.mt.name

    def both(self, *args):
        common = [f"--v23.credentials={self.creds}", f"--log_dir={self.dir}",
                  "--v23.namespace.root=/127.0.0.1:1"]
        out = []
        for argv in ([self.godebug], [PY, "-m", "v23py.cmd.debug"]):
            p = subprocess.run(argv + common + [a.replace("EP", self.ep) for a in args],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=self.env, cwd=self.dir, timeout=60)
            out.append((p.returncode, p.stdout.replace(self.ep, "EP")))
        return out

    def same(self, *args, ordered=False):
        (grc, gout), (prc, pout) = self.both(*args)
        self.assertEqual(prc, grc, f"exit codes for {args}")
        if not ordered:
            gout, pout = sorted(gout.splitlines()), sorted(pout.splitlines())
        self.assertEqual(pout, gout, f"debug {' '.join(args)}")
        return gout

    def test_same_output(self):
        out = self.same("glob", "EP/__debug/*")
        self.assertIn("EP/__debug/stats", out)
        self.same("glob", "EP/__debug/stats/system/m*")   # (syscpu appears after 3 s)
        self.same("glob", "EP/__debug/stats/mounttable/...")
        out = self.same("stats", "read", "EP/__debug/stats/system/pid",
                        "EP/__debug/stats/system/num-cpu", "EP/__debug/stats/system/cmdline",
                        "EP/__debug/stats/system/hostname", "EP/__debug/stats/system/version",
                        "EP/__debug/stats/system/start-time-unix",
                        "EP/__debug/stats/system/start-time-rfc1123",
                        "EP/__debug/stats/system/metadata",
                        "EP/__debug/stats/mounttable/num-nodes")
        self.assertIn(f"EP/__debug/stats/system/pid: {self.mt.proc.pid}", out)
        self.same("stats", "read", "-raw", "EP/__debug/stats/system/pid",
                  "EP/__debug/stats/system/version")
        self.same("stats", "read", "-type", "EP/__debug/stats/system/pid",
                  "EP/__debug/stats/system/version")
        self.same("stats", "read", "-json", "EP/__debug/stats/system/pid", ordered=True)
        self.same("stats", "read", "-json", "-type", "EP/__debug/stats/system/cmdline",
                  ordered=True)
        self.same("stats", "read", "EP/__debug/stats/system/memstats/EnableGC/delta1h")
        self.same("logs", "read", "-n", "4", "EP/__debug/logs/mounttabled.INFO", ordered=True)
        self.same("logs", "read", "-v", "-n", "2", "-o", "10",
                  "EP/__debug/logs/mounttabled.INFO", ordered=True)
        self.same("vtrace", "EP/__debug/vtrace", ordered=True)
        self.same("pprof", "run", "EP/__debug/pprof", ordered=True)
        # a histogram changes with every call; its layout is the same
        (grc, gout), (prc, pout) = self.both(
            "stats", "read", "EP/__debug/stats/rpc/server/routing-id/*/methods/__Glob/"
            "latency-ms")
        self.assertEqual((prc, grc), (0, 0))
        g, p = gout.splitlines(), pout.splitlines()
        self.assertEqual(len(p), len(g))
        self.assertEqual([l[:21] for l in p[2:]], [l[:21] for l in g[2:]])   # bucket bounds
        self.assertRegex(p[0], r"latency-ms: Count: \d+  Min: \d+  Max: \d+  Avg: [\d.]+$")
        # errors: Go's and ours both fail for a name that is not there
        (grc, _), (prc, _) = self.both("stats", "read", "EP/__debug/stats/system/nothere")
        self.assertEqual((prc, grc), (0, 0))    # a glob that matches nothing is no error
        (grc, _), (prc, _) = self.both("logs", "size", "EP/__debug/logs/nothere")
        self.assertEqual((prc != 0, grc != 0), (True, True))
