"""End to end with our own programs only: mounttabled daemons (one mounting
itself with --name), the namespace and mounttable tools, real loopback RPC."""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading

from twisted.internet import threads
from twisted.trial import unittest

from tests._support import ROOT


class NamingEndToEndTests(unittest.TestCase):
    timeout = 180

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="naming-e2e-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("V23_")}
        self.env["PYTHONPATH"] = ROOT + os.pathsep + self.env.get("PYTHONPATH", "")
        creds = os.path.join(self.dir, "cred")
        subprocess.run([sys.executable, "-m", "v23py.cmd.principal", "create",
                        "--with-passphrase=false", "--overwrite", creds, "tutorial"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       env=self.env, cwd=self.dir, timeout=60)
        self.env["V23_CREDENTIALS"] = creds

    def daemon(self, *args):
        proc = subprocess.Popen([sys.executable, "-m", "v23py.cmd.mounttabled",
                                 "--v23.tcp.address=127.0.0.1:0", *args],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                stdin=subprocess.DEVNULL, text=True, env=self.env,
                                cwd=self.dir, start_new_session=True)

        def stop():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
            proc.stdout.close()
        self.addCleanup(stop)
        got = []
        t = threading.Thread(target=lambda: got.extend(
            line[5:].strip() for line in proc.stdout if line.startswith("NAME=")), daemon=True)
        t.start()
        t.join(30)
        self.assertTrue(got, "mounttabled printed no NAME= line")
        return got[0], stop

    def tool(self, module, root, *args):
        p = subprocess.run([sys.executable, "-m", module, f"--v23.namespace.root={root}", *args],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env=self.env, cwd=self.dir, timeout=90)
        return p.returncode, p.stdout, p.stderr

    def test_self_mounting_table_and_tools(self):
        def run():
            home, _ = self.daemon()
            meters, stop_meters = self.daemon("--name=meters", f"--v23.namespace.root={home}")
            ns = "v23py.cmd.namespace"
            # the publisher mounts "meters" in the background, right after start
            for _ in range(50):
                rc, out, err = self.tool(ns, home, "glob", "*")
                if out == "meters\n":
                    break
            self.assertEqual((rc, out), (0, "meters\n"), err)
            rc, out, err = self.tool(ns, home, "glob", "-l", "meters")
            prefix = f"meters {meters} (Expires in "
            self.assertTrue(out.startswith(prefix) and out.endswith(" sec)\n"), out)
            self.assertLessEqual(int(out[len(prefix):].split()[0]), 80)   # TTL 60 s + 20 s
            rc, out, err = self.tool(ns, home, "mount", "meters/gas", "/127.0.0.1:4321", "1h")
            self.assertEqual(rc, 0, err)
            rc, out, err = self.tool(ns, home, "resolvetomt", "meters/gas")
            self.assertEqual((rc, out), (0, meters + "/gas\n"), err)
            rc, out, err = self.tool("v23py.cmd.mounttable", meters, "glob", "*")
            self.assertEqual(rc, 0, err)
            self.assertTrue(out.startswith("gas /127.0.0.1:4321 (Deadline "), out)
            rc, out, err = self.tool(ns, home, "permissions", "get", "meters")
            self.assertEqual((rc, out), (0, "null\n"), err)   # as Go: an empty map decodes as nil
            stop_meters()   # SIGTERM: the daemon unmounts itself on the way out
            rc, out, err = self.tool(ns, home, "glob", "*")
            self.assertEqual((rc, out), (0, ""), err)
        return threads.deferToThread(run)
