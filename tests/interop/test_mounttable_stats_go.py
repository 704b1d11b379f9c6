"""Our mounttabled publishes Go's mount table statistics.

The same mounts (made with Go's `mounttable` tool) on Go's mounttabled and on ours;
Go's `debug stats read <mt>/__debug/stats/mounttable/...` then prints the same lines
for both (node and server counts, nodes and calls per user), and so does our `debug`.
"""
import os
import subprocess
import sys

from twisted.trial import unittest

from v23py.testing import child_env, go_binary, tempdir
from v23py.testing.names import NameDaemon as _Daemon

PY = sys.executable


class SameMounttableStats(unittest.TestCase):
    timeout = 240

    def setUp(self):
        self.dir = tempdir(self, prefix="mt-stats-")
        self.creds = os.path.join(self.dir, "creds")
        subprocess.run([go_binary("principal"), "create", "--with-passphrase=false",
                        self.creds, "owner"], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=30)
        self.env = child_env(v23_vars=False)

    def tool(self, argv, *args, ep):
        p = subprocess.run(argv + [f"--v23.credentials={self.creds}", f"--log_dir={self.dir}",
                                   "--v23.namespace.root=/127.0.0.1:1"]
                           + [a.replace("EP", ep) for a in args],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env=self.env, cwd=self.dir, timeout=60)
        self.last_err = p.stderr
        return p.returncode, sorted(p.stdout.replace(ep, "EP").splitlines())

    def test_same_stats_as_go(self):
        godebug = [go_binary("debug")]
        outs = []
        for argv in ([go_binary("mounttabled")], [PY, "-m", "v23py.cmd.mounttabled"]):
            mt = _Daemon(self, argv + [f"--v23.credentials={self.creds}",
                                       "--v23.tcp.address=127.0.0.1:0",
                                       f"--log_dir={self.dir}"], self.env, self.dir)
            ep = mt.name
            mount = [go_binary("mounttable")]
            for name, server in (("a/b", "/127.0.0.1:1234"), ("a/c", "/127.0.0.1:1235"),
                                 ("d", "/127.0.0.1:1236")):
                rc, _ = self.tool(mount, "mount", "EP/" + name, server, "1h", ep=ep)
                self.assertEqual(rc, 0, (argv, name, self.last_err))
            rc, _ = self.tool(mount, "unmount", "EP/d", "/127.0.0.1:1236", ep=ep)
            self.assertEqual(rc, 0, (argv, "unmount", self.last_err))
            for debug in (godebug, [PY, "-m", "v23py.cmd.debug"]):
                outs.append(self.tool(debug, "stats", "read",
                                      "EP/__debug/stats/mounttable/*", ep=ep))
                outs.append(self.tool(debug, "stats", "read",
                                      "EP/__debug/stats/mounttable/*/*", ep=ep))
            mt.stop()
        go = outs[:2]
        self.assertIn("EP/__debug/stats/mounttable/num-nodes: 4", go[0][1])
        self.assertIn("EP/__debug/stats/mounttable/num-mounted-servers: 2", go[0][1])
        self.assertIn("EP/__debug/stats/mounttable/num-nodes-per-user/owner: 3", go[1][1])
        self.assertIn("EP/__debug/stats/mounttable/num-rpcs-per-user/owner: 4", go[1][1])
        for i, got in enumerate(outs[2:]):
            self.assertEqual(got, go[i % 2], i)
