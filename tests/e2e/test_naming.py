"""End to end with our own programs only: mounttabled daemons (one mounting
itself with --name), the namespace and mounttable tools, real loopback RPC."""
import os
import signal
import subprocess
import sys

from twisted.internet import threads
from twisted.trial import unittest

from v23py.testing import child_env, read_line, tempdir


class NamingEndToEndTests(unittest.TestCase):
    timeout = 180

    def setUp(self):
        self.dir = tempdir(self, prefix="naming-e2e-")
        self.env = child_env(v23_vars=False)
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
        line = read_line(proc, 60, "mounttabled", prefix="NAME=")
        return line[5:].strip(), stop

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
            # mounted as Go's publisher does: the bare endpoint, no leading "/"
            prefix = f"meters {meters.lstrip('/')} (Expires in "
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

    def test_tables_named_by_address_only(self):
        """/host:port roots (no blessings in the name) are trusted when the table's
        blessings are related to ours, and refused otherwise."""
        from v23py.naming import parse_endpoint, split_address_name

        def run():
            name, _ = self.daemon()
            address = "/" + parse_endpoint(split_address_name(name)[0]).address
            ns = "v23py.cmd.namespace"
            rc, out, err = self.tool(ns, address, "mount", "x", "/127.0.0.1:4321", "1h")
            self.assertEqual((rc, out), (0, "Server mounted successfully.\n"), err)
            rc, out, err = self.tool("v23py.cmd.mounttable", address, "mount", "m", address, "1h", "M")
            self.assertEqual(rc, 0, err)
            rc, out, err = self.tool(ns, address, "resolve", "m/m/x")
            self.assertEqual((rc, out), (0, "/127.0.0.1:4321\n"), err)
            stranger = os.path.join(self.dir, "stranger")
            subprocess.run([sys.executable, "-m", "v23py.cmd.principal", "create",
                            "--with-passphrase=false", "--overwrite", stranger, "stranger"],
                           check=True, stdout=subprocess.DEVNULL, env=self.env, cwd=self.dir,
                           timeout=60)
            env = dict(self.env, V23_CREDENTIALS=stranger)
            p = subprocess.run([sys.executable, "-m", ns, f"--v23.namespace.root={address}",
                                "resolve", "x"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env, cwd=self.dir, timeout=90)
            self.assertEqual(p.returncode, 1, p.stdout)
            self.assertIn("does not trust server", p.stderr)
        return threads.deferToThread(run)
