"""Mount tables and namespace tools, ours and Go's, against each other.

Credentials come from Go's `principal create` and are shared by both sides
(blessing "tutorial"), so each side trusts the other's endpoints.
"""
import os
import subprocess
import sys

from twisted.internet import defer, threads
from twisted.trial import unittest

from v23py.testing import ROOT, go_binary, start_process, tempdir
from v23py.naming import parse_endpoint, split_address_name

PY = sys.executable


def _py_tool(module):
    return [PY, "-m", module]


class _Env:
    def __init__(self, test):
        self.test = test
        self.dir = tempdir(test, prefix="naming-interop-")
        self.creds = os.path.join(self.dir, "cred")
        subprocess.run([go_binary("principal"), "create", "--with-passphrase=false",
                        "--overwrite", self.creds, "tutorial"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("V23_NAMESPACE", "V23_CREDENTIALS"))}
        self.env["V23_CREDENTIALS"] = self.creds
        self.env["PYTHONPATH"] = ROOT + os.pathsep + self.env.get("PYTHONPATH", "")

    def start_mounttable(self, argv):
        """Start a mount table daemon; a Deferred firing with its rooted endpoint name."""
        async def start():
            _, name = await start_process(self.test, argv + ["--v23.tcp.address=127.0.0.1:0"],
                                          "NAME=", os.path.basename(argv[-1]), text=True,
                                          env=self.env, cwd=self.dir)
            return name
        return defer.ensureDeferred(start())

    def run(self, argv, root):
        """Run a tool (argv = tool prefix + arguments) with `root` as namespace root."""
        p = subprocess.run([a.replace("{ROOT}", root) for a in argv],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env=self.env, cwd=self.dir, timeout=90)
        return p.returncode, p.stdout, p.stderr


class NamingInteropTests(unittest.TestCase):
    timeout = 300

    def _check_table(self, env, mt_name, namespace, mounttable):
        """Exercise a table with the given tools (argv prefixes)."""
        rc, out, err = env.run(namespace + ["mount", "fortuneAlpha", "/127.0.0.1:1234", "100m"], mt_name)
        self.assertEqual((rc, out), (0, "Server mounted successfully.\n"), err)
        rc, out, err = env.run(namespace + ["mount", "a/b", mt_name, "1h"], mt_name)
        self.assertEqual(rc, 0, err)
        rc, out, err = env.run(mounttable + ["mount", "meters", mt_name, "2h", "M"], mt_name)
        self.assertEqual((rc, out), (0, "Name mounted successfully.\n"), err)
        rc, out, err = env.run(namespace + ["resolve", "fortuneAlpha"], mt_name)
        self.assertEqual((rc, out), (0, "/127.0.0.1:1234\n"), err)
        rc, out, err = env.run(namespace + ["resolve", "meters/meters/fortuneAlpha"], mt_name)
        self.assertEqual((rc, out), (0, "/127.0.0.1:1234\n"), err)
        rc, out, err = env.run(namespace + ["resolvetomt", "a/b/c"], mt_name)
        self.assertEqual((rc, out), (0, mt_name + "/a/b/c\n"), err)
        rc, out, err = env.run(mounttable + ["resolvestep", "fortuneAlpha"], mt_name)
        self.assertEqual(rc, 0, err)
        self.assertTrue(out.startswith("Servers: [{/127.0.0.1:1234 "), out)
        self.assertTrue(out.endswith('}] Suffix: "" MT: false\n'), out)
        rc, out, err = env.run(namespace + ["glob", "-l", "fortune*"], mt_name)
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, r"\AfortuneAlpha /127\.0\.0\.1:1234 \(Expires in 59\d\d sec\)\n\Z")
        rc, out, err = env.run(namespace + ["resolve", "nothing/here"], mt_name)
        self.assertEqual(rc, 1)
        self.assertIn("name nothing/here doesn't exist", err)
        rc, out, err = env.run(namespace + ["unmount", "fortuneAlpha", "/127.0.0.1:1234"], mt_name)
        self.assertEqual((rc, out), (0, "Server unmounted successfully.\n"), err)
        rc, out, err = env.run(namespace + ["resolve", "fortuneAlpha"], mt_name)
        self.assertEqual(rc, 1, out)

    def _go_namespace_tools(self):
        return ([go_binary("namespace"), "--v23.namespace.root={ROOT}"],
                [go_binary("mounttable"), "--v23.namespace.root={ROOT}"])

    def _our_tools(self):
        return (_py_tool("v23py.cmd.namespace") + ["--v23.namespace.root={ROOT}"],
                _py_tool("v23py.cmd.mounttable") + ["--v23.namespace.root={ROOT}"])

    async def test_go_tools_on_our_mounttabled(self):
        env = _Env(self)
        ns, mt = self._go_namespace_tools()
        name = await env.start_mounttable(_py_tool("v23py.cmd.mounttabled"))
        ep = parse_endpoint(split_address_name(name)[0])
        self.assertTrue(ep.serves_mount_table)
        self.assertEqual(ep.blessing_names, ("tutorial",))
        await threads.deferToThread(self._check_table, env, name, ns, mt)

    async def test_our_tools_on_go_mounttabled(self):
        env = _Env(self)
        ns, mt = self._our_tools()
        name = await env.start_mounttable([go_binary("mounttabled")])
        await threads.deferToThread(self._check_table, env, name, ns, mt)

    async def test_our_tools_on_our_mounttabled(self):
        env = _Env(self)
        ns, mt = self._our_tools()
        name = await env.start_mounttable(_py_tool("v23py.cmd.mounttabled"))
        await threads.deferToThread(self._check_table, env, name, ns, mt)

    async def test_nested_go_and_python_tables(self):
        env = _Env(self)
        ns, mt = self._our_tools()
        gons, _ = self._go_namespace_tools()
        home = await env.start_mounttable([go_binary("mounttabled")])
        meters = await env.start_mounttable(_py_tool("v23py.cmd.mounttabled"))

        def check():
            rc, out, err = env.run(mt + ["mount", "meters", meters, "2h", "M"], home)
            self.assertEqual(rc, 0, err)
            rc, out, err = env.run(ns + ["mount", "meters/gas", "/127.0.0.1:4321", "2h"], home)
            self.assertEqual(rc, 0, err)
            for tool in (ns, gons):   # both resolve through Go's table into ours
                rc, out, err = env.run(tool + ["resolve", "meters/gas"], home)
                self.assertEqual((rc, out), (0, "/127.0.0.1:4321\n"), err)
            rc, out, err = env.run(gons + ["glob", "meters/*"], home)
            self.assertEqual((rc, out), (0, "meters/gas\n"), err)
        await threads.deferToThread(check)

    async def test_published_entries_read_alike(self):
        """Go's publisher mounts a server as its bare endpoint ("@6@...@@", no "/");
        ours writes the same, and both tools glob, resolve and call through either."""
        env = _Env(self)
        ns, mt = self._our_tools()
        gons, _ = self._go_namespace_tools()
        root = await env.start_mounttable([go_binary("mounttabled")])
        go_child = await env.start_mounttable([go_binary("mounttabled"),
                                               f"--v23.namespace.root={root}", "--name=gochild"])
        py_child = await env.start_mounttable(_py_tool("v23py.cmd.mounttabled") + [
            f"--v23.namespace.root={root}", "--name=pychild"])

        def check():
            want = {"gochild": split_address_name(go_child)[0],
                    "pychild": split_address_name(py_child)[0]}
            for _ in range(60):
                rc, out, err = env.run(gons + ["glob", "-l", "*"], root)
                if rc == 0 and len(out.splitlines()) == 2:
                    break
            for tool in (gons, ns):
                rc, out, err = env.run(tool + ["glob", "-l", "*"], root)
                self.assertEqual(rc, 0, err)
                got = {ln.split()[0]: ln.split()[1] for ln in out.splitlines()}
                self.assertEqual(got, want, out)   # the same form, no leading "/"
            for child in want:
                rc, out, err = env.run(ns + ["mount", f"{child}/srv", "/127.0.0.1:4321", "1h"],
                                       root)
                self.assertEqual((rc, out), (0, "Server mounted successfully.\n"), err)
                for tool in (ns, gons):
                    rc, out, err = env.run(tool + ["glob", f"{child}/*"], root)
                    self.assertEqual((rc, out), (0, f"{child}/srv\n"), err)
                    rc, out, err = env.run(tool + ["resolve", f"{child}/srv"], root)
                    self.assertEqual((rc, out), (0, "/127.0.0.1:4321\n"), err)
                    rc, out, err = env.run(tool + ["resolvetomt", f"{child}/srv"], root)
                    self.assertEqual((rc, out), (0, f"/{want[child]}/srv\n"), err)
        await threads.deferToThread(check)


class ServerPublishingInteropTests(unittest.TestCase):
    timeout = 180

    async def test_our_server_mounts_into_go_mounttabled(self):
        """fortune-server --service-name publishes into Go's mounttabled; Go's
        namespace resolves the name and Go's vrpc calls through it."""
        env = _Env(self)
        root = await env.start_mounttable([go_binary("mounttabled")])
        _, listening = await start_process(
            self, _py_tool("fortune.server") + [f"--v23.namespace.root={root}",
                                                "--service-name=tutorial/fortune",
                                                "--v23.tcp.address=127.0.0.1:0"],
            "Listening at: ", "fortune-server", text=True, env=env.env, cwd=env.dir)

        def check():
            for _ in range(30):
                rc, out, err = env.run([go_binary("namespace"), "--v23.namespace.root={ROOT}",
                                        "resolve", "tutorial/fortune"], root)
                if rc == 0:
                    break
            self.assertEqual((rc, out), (0, "/" + listening + "\n"), err)
            rc, out, err = env.run([go_binary("vrpc"), "--v23.namespace.root={ROOT}", "call",
                                    "tutorial/fortune", "Get"], root)
            self.assertEqual(rc, 0, err)
            self.assertTrue(out.startswith('"') and out.endswith('"\n'), out)
        await threads.deferToThread(check)
