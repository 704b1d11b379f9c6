"""Every tool answers ``--version``; every tool with commands answers ``help <command>``
with that command's usage (not the top-level text)."""
import os
import re
import subprocess
import sys

from twisted.trial import unittest

import v23py
from v23py.testing import ROOT


def console_scripts():
    """{name: "module:function"} from pyproject.toml's [project.scripts]."""
    with open(os.path.join(ROOT, "pyproject.toml"), encoding="utf-8") as fh:
        text = fh.read()
    section = text.split("[project.scripts]", 1)[1].split("\n[", 1)[0]
    return dict(re.findall(r'^([\w-]+) = "([\w.:]+)"', section, re.M))


def run_tool(target, *args, env=None):
    mod, fn = target.split(":")
    code = f"import sys; from {mod} import {fn} as m; sys.argv[0] = 'x'; sys.exit(m(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env=env)


class VersionTest(unittest.TestCase):
    def test_every_tool_prints_its_version(self):
        scripts = console_scripts()
        self.assertGreaterEqual(len(scripts), 17)
        for name, target in sorted(scripts.items()):
            p = run_tool(target, "--version")
            self.assertEqual(p.returncode, 0, f"{name}: {p.stderr[-800:]}")
            prog = p.stdout.split(" ")[0]
            self.assertEqual(p.stdout, f"{prog} (v23py) {v23py.__version__}\n", name)
            self.assertIn(prog, (name, "x"), name)


HELP = {
    "vdl": ("generate", "Usage:\n   vdl generate "),
    "principal": ("create", "Usage:\n   principal create "),
    "vrpc": ("call", "Usage:\n   vrpc call [flags] <server> <method>"),
    "namespace": ("glob", "Usage:\n   namespace glob [flags] <pattern>"),
    "mounttable": ("mount", "Usage:\n   mounttable mount "),
    "debug": ("logs read", "Usage:\n   debug logs read [flags] <name>"),
    "discharger": ("revoke", "Usage:\n   discharger revoke "),
    "sb": ("sg join", "Usage:\n   sb sg join [flags] [<admin>]"),
}


class SubcommandHelpTest(unittest.TestCase):
    def test_help_names_the_command(self):
        scripts = console_scripts()
        env = dict(os.environ, V23_CREDENTIALS="")
        for tool, (cmd, want) in sorted(HELP.items()):
            p = run_tool(scripts[tool], "help", *cmd.split(), env=env)
            self.assertEqual(p.returncode, 0, f"{tool}: {p.stderr[-800:]}")
            self.assertIn(want, p.stdout, tool)

    def test_a_commands_own_flags_are_listed(self):
        scripts = console_scripts()
        p = run_tool(scripts["namespace"], "help", "glob")
        self.assertIn(" -l=false\n   Long listing format.", p.stdout)
        self.assertNotIn("v23.namespace.root", p.stdout)

    def test_unknown_command(self):
        p = run_tool(console_scripts()["namespace"], "help", "nope")
        self.assertEqual(p.returncode, 2)
        self.assertIn("unknown command 'nope'", p.stderr)
