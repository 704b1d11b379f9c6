"""Our `debug` tool against our own server: stats watch streams, delegate makes
credentials that can debug the server."""
import io
import os
import re
import subprocess
import sys

from twisted.internet import defer, reactor
from twisted.trial import unittest

from v23py.testing import child_env, read_line, tempdir
from v23py.testing.names import NameDaemon as _Daemon

PY = sys.executable


class DebugToolTests(unittest.TestCase):
    timeout = 120

    def setUp(self):
        from v23py.testing.syncbase import make_creds
        self.dir = tempdir(self, prefix="debug-tool-")
        self.creds = make_creds(os.path.join(self.dir, "creds"), "owner")
        self.env = child_env(v23_vars=False)
        self.server = _Daemon(self, [PY, "-m", "v23py.cmd.mounttabled",
                                     f"--v23.credentials={self.creds}",
                                     "--v23.tcp.address=127.0.0.1:0"], self.env, self.dir)

    def test_stats_watch_streams(self):
        p = subprocess.Popen([PY, "-m", "v23py.cmd.debug", f"--v23.credentials={self.creds}",
                              "--v23.namespace.root=/127.0.0.1:1", "stats", "watch",
                              self.server.name + "/__debug/stats/system/pid",
                              self.server.name + "/__debug/stats/system/num-c*"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                             env=self.env, cwd=self.dir)
        try:
            lines = sorted([read_line(p, 30, "debug stats watch") for _ in range(2)])
        finally:
            p.kill()
            p.wait()
            p.stdout.close()
        ep = self.server.name
        self.assertEqual(lines, [f"{ep}/__debug/stats/system/num-cpu: {os.cpu_count()}\n",
                                 f"{ep}/__debug/stats/system/pid: {self.server.proc.pid}\n"])

    @defer.inlineCallbacks
    def test_delegate_gives_debug_access(self):
        from v23py import rpc, runtime, security, verror
        from v23py.cmd import _browse, debug
        out, err = io.StringIO(), io.StringIO()
        code = yield defer.ensureDeferred(debug.run(reactor, [
            f"--v23.credentials={self.creds}", "--v23.namespace.root=/127.0.0.1:1",
            "delegate", "bob", "1h", self.server.name], out, err))
        self.assertEqual(code, 0, err.getvalue())
        text = out.getvalue()
        self.assertTrue(text.startswith("Your delegate will be seen as owner:bob at your "
                                        "server. Ask them to run:\n\ndebug browse \\\n"), text)
        key = re.search(r'--key="([^"]+)"', text).group(1)
        bls = re.search(r'--blessings="([^"]+)"', text).group(1)
        self.assertIn(f'"{self.server.name}"', text)
        # Bob's principal from the key, with the delegated blessings for every peer
        p = _browse.principal_from_key(key)
        ctx, shutdown = runtime.init(["--v23.namespace.root=/127.0.0.1:1"],
                                     flags=runtime.FlagSet("bob"), principal=p,
                                     exit_on_error=False)
        self.addCleanup(shutdown)
        _browse._use_blessings(ctx, bls)
        self.assertEqual([str(b) for b in [p.blessing_store.for_peer("anyone")]], ["owner:bob"])
        got = yield rpc.client_call(ctx, self.server.name + "/__debug/stats/system/pid",
                                    "Value", [], None, None)
        self.assertEqual(got, [self.server.proc.pid])
        # the blessing carries the access-tag caveat (Resolve, Debug) and an expiry
        b = p.blessing_store.for_peer("anyone")
        self.assertEqual(len(b.chains[0][-1].Caveats), 2)
