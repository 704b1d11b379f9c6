"""tools/run_tests.py (the README's test command) and what a missing prerequisite means:
a skip outside CI, a failure in CI unless tests/allowed_skips.txt names the test."""
import importlib.util
import os
import subprocess
import sys
import textwrap

from twisted.trial import unittest
from twisted.trial.unittest import FailTest, SkipTest

from v23py import testing as _support
from v23py.testing import ROOT

_spec = importlib.util.spec_from_file_location("v23py_run_tests",
                                               os.path.join(ROOT, "tools", "run_tests.py"))
run_tests = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(run_tests)

SAMPLE = textwrap.dedent('''\
    from twisted.trial import unittest

    class T(unittest.TestCase):
        def test_ok(self):
            pass

        def test_skipped(self):
            raise unittest.SkipTest("no frobnicator here")

        def test_allowed(self):
            raise unittest.SkipTest("fine to skip")

        def test_known_bug(self):
            self.fail("still broken")
        test_known_bug.todo = "the frobnicator leaks"
    ''')


class AllowListTest(unittest.TestCase):
    def test_the_repository_list_parses(self):
        for pattern, cond, reason in run_tests.load_allow_list():
            self.assertTrue(pattern.startswith("tests."), pattern)
            self.assertIn(cond, ("always", "root"))
            self.assertGreater(len(reason), 20, "each entry says why")

    def test_format_and_conditions(self):
        path = os.path.join(self.mktemp())
        with open(path, "w") as f:
            f.write("# comment\n\ntests.a.B.* | always | a reason\n"
                    "tests.c.D.test_e | root | only root cannot see this\n")
        entries = run_tests.load_allow_list(path)
        self.assertEqual([e[:2] for e in entries],
                         [("tests.a.B.*", "always"), ("tests.c.D.test_e", "root")])
        self.assertTrue(run_tests.allowed("tests.a.B.test_x", entries, euid=1000))
        self.assertIsNone(run_tests.allowed("tests.c.D.test_e", entries, euid=1000))
        self.assertTrue(run_tests.allowed("tests.c.D.test_e", entries, euid=0))
        self.assertIsNone(run_tests.allowed("tests.a.X.test_x", entries, euid=0))
        with open(path, "w") as f:
            f.write("tests.a.B.test_x | sometimes | why\n")
        self.assertRaises(SystemExit, run_tests.load_allow_list, path)
        with open(path, "w") as f:
            f.write("tests.a.B.test_x\n")     # no reason
        self.assertRaises(SystemExit, run_tests.load_allow_list, path)


class RunnerTest(unittest.TestCase):
    """The runner on a small suite: one skip on the list, one not, and a `todo` test."""
    timeout = 120

    def run_runner(self, ci):
        d = self.mktemp()
        os.makedirs(os.path.join(d, "sample_pkg"))
        with open(os.path.join(d, "sample_pkg", "__init__.py"), "w") as f:
            f.write("")
        with open(os.path.join(d, "sample_pkg", "test_sample.py"), "w") as f:
            f.write(SAMPLE)
        allow = os.path.join(d, "allow.txt")
        with open(allow, "w") as f:
            f.write("sample_pkg.test_sample.T.test_allowed | always | skipping it is fine\n")
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.abspath(d), ROOT]),
                   V23PY_ALLOWED_SKIPS=allow)
        env.pop("CI", None)
        if ci:
            env["CI"] = "1"
        p = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "run_tests.py"),
                            f"--temp-directory={os.path.abspath(d)}/_trial_temp",
                            "sample_pkg"], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=100)
        return p.returncode, p.stdout

    def test_outside_ci_skips_are_listed_and_stay_skips(self):
        rc, out = self.run_runner(ci=False)
        self.assertEqual(rc, 0, out)
        self.assertEqual(out.splitlines()[-1], "1 passed, 0 failed, 3 skipped")
        self.assertIn("[not allowed] sample_pkg.test_sample.T.test_skipped", out)
        self.assertIn("no frobnicator here", out)
        # an expected failure (`todo`) is listed with the skips, never counted as passed
        self.assertIn("[not allowed] sample_pkg.test_sample.T.test_known_bug", out)
        self.assertIn("expected failure (todo): the frobnicator leaks", out)
        self.assertIn("[allowed    ] sample_pkg.test_sample.T.test_allowed", out)

    def test_in_ci_a_skip_off_the_list_fails(self):
        rc, out = self.run_runner(ci=True)
        self.assertEqual(rc, 1, out)
        self.assertEqual(out.splitlines()[-1], "1 passed, 2 failed, 1 skipped")
        self.assertIn("[NOT ALLOWED] sample_pkg.test_sample.T.test_skipped", out)
        self.assertIn("[NOT ALLOWED] sample_pkg.test_sample.T.test_known_bug", out)


class UnavailableTest(unittest.TestCase):
    def test_skip_outside_ci_failure_in_ci(self):
        self.patch(os, "environ", {})
        self.patch(sys, "stderr", open(os.devnull, "w"))
        self.addCleanup(sys.stderr.close)
        e = self.assertRaises(SkipTest, _support.unavailable, "no widget")
        self.assertEqual(str(e), "no widget")
        self.patch(os, "environ", {"CI": "1"})
        e = self.assertRaises(FailTest, _support.unavailable, "no widget")
        self.assertIn("required in CI", str(e))
        self.assertIn("no widget", str(e))
        for off in ("", "0", "false"):
            self.patch(os, "environ", {"CI": off})
            self.assertRaises(SkipTest, _support.unavailable, "no widget")

    def test_missing_shared_and_go_peers(self):
        self.patch(os, "environ", {"CI": "1"})
        self.patch(_support, "SHARED", "/nonexistent/shared")
        e = self.assertRaises(FailTest, _support.shared_path, "testdata")
        self.assertIn("../shared is absent", str(e))
        peers = self.mktemp()
        os.makedirs(peers)
        with open(os.path.join(peers, "FAILED"), "w") as f:
            f.write("go build failed: no network\n")
        self.patch(_support, "GOPEERS", peers)
        e = self.assertRaises(FailTest, _support.go_binary, "vrpc")
        self.assertIn("go build failed: no network", str(e))


_mspec = importlib.util.spec_from_file_location("v23py_mutants",
                                                os.path.join(ROOT, ".ci", "mutants.py"))
mutants = importlib.util.module_from_spec(_mspec)
_mspec.loader.exec_module(mutants)


class MutationCheckTest(unittest.TestCase):
    """.ci/mutants.py counts a mutant as caught only when a test method failed: a run that
    failed for another reason (a module that does not import, a broken environment) says
    nothing about the mutant and fails the check."""

    def run_mutant(self, tests):
        base = os.path.abspath(self.mktemp())
        tree = os.path.join(base, "tree")
        os.makedirs(os.path.join(tree, "tests"))
        for rel in ("tools/run_tests.py", "tests/__init__.py", "tests/allowed_skips.txt"):
            os.makedirs(os.path.dirname(os.path.join(tree, rel)), exist_ok=True)
            with open(os.path.join(ROOT, rel)) as src, open(os.path.join(tree, rel), "w") as f:
                f.write(src.read())
        with open(os.path.join(tree, "tests", "test_sample.py"), "w") as f:
            f.write("from twisted.trial import unittest\n\n"
                    "class T(unittest.TestCase):\n"
                    "    def test_fails(self):\n"
                    "        self.fail('planted bug seen')\n")
        m = mutants.Mutant("sample", None, "", "", tests, "a sample")
        return mutants.run_mutant(m, tree, os.path.join(base, "shared"),
                                  os.path.join(base, "gopeers"), base)[:2]

    def test_a_failing_test_method_catches(self):
        self.assertEqual(self.run_mutant(["tests.test_sample"]),
                         (True, "[FAIL] tests.test_sample.T.test_fails"))

    def test_a_module_that_does_not_import_is_no_catch(self):
        caught, how = self.run_mutant(["tests.test_no_such_module"])
        self.assertIsNone(caught)
        self.assertIn("without a failing test", how)
        self.assertIn("1 failed", how)   # (trial ran, and its one error was the import)
