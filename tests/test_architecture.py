"""The architecture the README states, checked: import-linter's contracts
(.importlinter: layers, independence, private modules, no cycles, the compiler only
in tools) and tools/check_imports.py (function-level imports count, every import
resolves, their number is bounded)."""
import os
import subprocess
import sys

from twisted.trial import unittest

from v23py.testing import ROOT


def _run(args):
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)


class ArchitectureTest(unittest.TestCase):
    timeout = 600

    def test_import_linter_contracts(self):
        p = _run(["-c", "import sys; from importlinter.cli import lint_imports_command; "
                        "sys.exit(lint_imports_command())", "--no-cache",
                  "--config", os.path.join(ROOT, ".importlinter")])
        self.assertEqual(p.returncode, 0, p.stdout[-6000:] + p.stderr[-2000:])
        self.assertIn("0 broken", p.stdout)

    def test_no_cycles_and_every_import_resolves(self):
        p = _run([os.path.join(ROOT, "tools", "check_imports.py")])
        self.assertEqual(p.returncode, 0, p.stdout[-6000:] + p.stderr[-2000:])
