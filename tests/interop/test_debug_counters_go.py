"""Go v0.2.0's `debug` reads our library counters and our client's outstanding calls.

Our mounttabled serves ``v23py/...`` (VOM values and bytes, type messages, NaCl box
seals/opens, signatures) in its stats tree: Go's `debug` globs and reads them as it does
any statistic, ours prints the same, and `--metrics-address` exports them to Prometheus
as counters.  ``rpc/client/outstanding/<id>`` exists in our servers as in Go's
mounttabled, with the same text when idle.
"""
import os
import re
import socket
import subprocess
import sys
import urllib.request

from twisted.trial import unittest

from v23py.testing import child_env, go_binary, tempdir
from v23py.testing.names import NameDaemon as _Daemon

PY = sys.executable
COUNTERS = ["crypto/box-opens", "crypto/box-seals", "security/signature-cache-hits",
            "security/signature-failures", "security/signatures-made",
            "security/signatures-verified", "vom/bytes-decoded", "vom/bytes-encoded",
            "vom/type-messages-decoded", "vom/type-messages-encoded", "vom/values-decoded",
            "vom/values-encoded"]


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class GoDebugReadsOurCounters(unittest.TestCase):
    timeout = 240

    def setUp(self):
        self.godebug = go_binary("debug")
        self.dir = tempdir(self, prefix="debug-counters-")
        self.creds = os.path.join(self.dir, "creds")
        subprocess.run([go_binary("principal"), "create", "--with-passphrase=false",
                        self.creds, "owner"], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=30)
        self.env = child_env(v23_vars=False)
        self.port = _free_port()
        self.ours = _Daemon(self, [PY, "-m", "v23py.cmd.mounttabled",
                                   f"--v23.credentials={self.creds}",
                                   "--v23.tcp.address=127.0.0.1:0",
                                   f"--metrics-address=127.0.0.1:{self.port}"],
                            self.env, self.dir)

    def run_debug(self, tool, *args, ep):
        argv = [self.godebug] if tool == "go" else [PY, "-m", "v23py.cmd.debug"]
        p = subprocess.run(argv + [f"--v23.credentials={self.creds}", f"--log_dir={self.dir}",
                                   "--v23.namespace.root=/127.0.0.1:1"]
                           + [a.replace("EP", ep) for a in args],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env=self.env, cwd=self.dir, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        return p.stdout.replace(ep, "EP")

    def values(self, out):
        got = {}
        for line in out.splitlines():
            m = re.fullmatch(r"EP/__debug/stats/v23py/(\S+): (\d+)", line)
            self.assertIsNotNone(m, line)
            got[m.group(1)] = int(m.group(2))
        return got

    def test_counters_through_both_tools_and_prometheus(self):
        ep = self.ours.name
        want = ["EP/__debug/stats/v23py/" + c for c in COUNTERS]
        for tool in ("go", "ours"):
            out = self.run_debug(tool, "glob", "EP/__debug/stats/v23py/*/*", ep=ep)
            self.assertEqual(sorted(out.split()), want, tool)
        go = self.values(self.run_debug("go", "stats", "read", "EP/__debug/stats/v23py/*/*",
                                        ep=ep))
        py = self.values(self.run_debug("ours", "stats", "read", "EP/__debug/stats/v23py/*/*",
                                        ep=ep))
        self.assertEqual(sorted(go), COUNTERS)
        self.assertEqual(sorted(py), COUNTERS)
        # the calls of the tools themselves: values sent and read, boxes used, the
        # connections' handshakes signed; and each read later sees at least as much
        for c in ("vom/values-encoded", "vom/values-decoded", "vom/bytes-encoded",
                  "crypto/box-seals", "crypto/box-opens", "security/signatures-made",
                  "security/signatures-verified", "vom/type-messages-encoded"):
            self.assertGreater(go[c], 0, c)
            self.assertGreaterEqual(py[c], go[c], c)
        self.assertEqual(go["security/signature-failures"], 0)
        body = urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics",
                                      timeout=30).read().decode()
        for c in COUNTERS:
            metric = "v23py_" + re.sub(r"[^a-z0-9]", "_", c) + "_total"
            m = re.search(r"^%s (\S+)$" % metric, body, re.M)
            self.assertIsNotNone(m, metric)
            self.assertGreaterEqual(float(m.group(1)), py[c], metric)
            self.assertIn(f"# TYPE {metric} counter", body)

    def test_client_outstanding_as_go_mounttabled(self):
        gomt = _Daemon(self, [go_binary("mounttabled"), f"--v23.credentials={self.creds}",
                              "--v23.tcp.address=127.0.0.1:0", f"--log_dir={self.dir}"],
                       self.env, self.dir)
        outs = []
        for ep in (gomt.name, self.ours.name):
            for tool in ("go", "ours"):
                out = self.run_debug(tool, "stats", "read",
                                     "EP/__debug/stats/rpc/client/outstanding/*", ep=ep)
                # (Go's mounttabled has two clients, ours one: compare the lines' forms)
                outs.append(set(re.sub(r"/outstanding/0x[0-9a-f]+:", "/outstanding/ID:",
                                       out).splitlines()))
        self.assertEqual(outs[0], {"EP/__debug/stats/rpc/client/outstanding/ID: "
                                   "No outstanding calls."})
        self.assertEqual(outs, [outs[0]] * 4)
