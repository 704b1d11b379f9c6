"""The `vdl` command: generate / compile / audit, the tutorial's invocation,
and the committed generated modules of the project's standard packages."""
import os
import subprocess
import sys
import tempfile

from twisted.trial import unittest

from v23py.testing import ROOT, tempdir
from v23py.cmd import vdl as vdlcmd
from v23py.vdl.compiler.build import Builder

FORTUNE_VDL = """package ifc

type Fortune interface {
  // Returns a random fortune.
  Get() (wisdom string | error)
  // Adds a fortune to the set used by Get().
  Add(wisdom string) error
}
"""


def _run(args, env=None, cwd=None):
    e = dict(os.environ)
    e["PYTHONPATH"] = ROOT + os.pathsep + e.get("PYTHONPATH", "")
    e.update(env or {})
    p = subprocess.run([sys.executable, "-m", "v23py.cmd.vdl", *args], env=e, cwd=cwd or ROOT,
                       capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


class CommittedModulesTest(unittest.TestCase):
    def test_generated_modules_are_current(self):
        """Every package of the project is generated and up to date (vdl audit)."""
        b = Builder(vdlpath=[], vdlroot="")
        srcs = b.resolve_arg(os.path.join(ROOT, "v23py") + "/...") + \
            b.resolve_arg(os.path.join(ROOT, "ifc"))
        paths = {s.path for s in srcs}
        for want in ("signature", "time", "v.io/v23/security", "v.io/v23/rpc", "fortune/ifc",
                     "v.io/v23/naming", "v.io/v23/services/mounttable", "hello/ifc"):
            self.assertIn(want, paths)
        # The project's other packages; fortune/tagged shares ifc's package path,
        # so it gets a builder of its own.
        for d in ("syncbased/interfaces", "syncbased/vclock", "fortune/tagged", "benchmarks"):
            bb = Builder(vdlpath=[], vdlroot="")
            srcs += [(bb, s) for s in bb.resolve_arg(os.path.join(ROOT, d))]
        stale = []
        for src in srcs:
            builder, src = src if isinstance(src, tuple) else (b, src)
            text = builder.generate(src)
            try:
                with open(src.out_file, encoding="utf-8") as fh:
                    cur = fh.read()
            except OSError:
                cur = None
            if cur != text:
                stale.append(src.out_file)
        self.assertEqual(stale, [], "stale generated files: run "
                         "`vdl generate --lang python ./v23py/... ./ifc`")

    def test_two_directories_with_one_package_path_are_refused(self):
        """ifc and fortune/tagged are both "fortune/ifc": one run cannot generate both."""
        rc, out, err = _run(["generate", "--lang", "python", "./ifc", "./fortune/tagged"])
        self.assertNotEqual(rc, 0)
        self.assertIn("generate them in separate runs", err)

    def test_audit_command(self):
        rc, out, err = _run(["audit", "--lang", "python", "./ifc", "signature"])
        self.assertEqual(rc, 0, err)

    def test_generated_types_agree_with_hand_built_ones(self):
        from v23py.v23 import rpc as rpc_gen
        from v23py.rpc import wire
        self.assertIs(rpc_gen.Request._vdl_type, wire.RequestType)
        self.assertIs(rpc_gen.Response._vdl_type, wire.ResponseType)
        import ifc
        self.assertEqual(ifc.FortuneDesc.pkg_path, "fortune/ifc")


class TutorialCommandTest(unittest.TestCase):
    def setUp(self):
        self.tut = tempfile.mkdtemp(prefix="vtut")
        self.addCleanup(self._rm)
        self.pkg = os.path.join(self.tut, "src", "fortune", "ifc")
        os.makedirs(self.pkg)
        with open(os.path.join(self.pkg, "fortune.vdl"), "w") as fh:
            fh.write(FORTUNE_VDL)

    def _rm(self):
        import shutil
        shutil.rmtree(self.tut, ignore_errors=True)

    def test_tutorial_generate_step(self):
        env = {"VDLROOT": os.path.join(self.tut, "release", "src", "v.io", "v23", "vdlroot"),
               "VDLPATH": os.path.join(self.tut, "src")}
        rc, out, err = _run(["generate", "--lang", "python", self.pkg], env=env)
        self.assertEqual(rc, 0, err)
        self.assertTrue(os.path.exists(os.path.join(self.pkg, "__init__.py")))
        e = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.join(self.tut, "src"), ROOT]))
        p = subprocess.run([sys.executable, "-c",
                            "import fortune.ifc as f; s = f.FortuneServer(object());"
                            "print(s.signature()[0].PkgPath, f.FortuneClient('x').name)"],
                           env=e, capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.strip(), "fortune/ifc x")
        # Re-running changes nothing; audit agrees; a stale file is reported.
        rc, _, err = _run(["-lang=python", "audit", "fortune/ifc"], env=env)
        self.assertEqual(rc, 0, err)
        with open(os.path.join(self.pkg, "fortune.vdl"), "a") as fh:
            fh.write("\nconst Extra = 1\n")
        rc, _, err = _run(["audit", "fortune/ifc"], env=env)
        self.assertEqual(rc, 1)
        self.assertIn("stale", err)

    def test_refuses_hand_written_module(self):
        with open(os.path.join(self.pkg, "__init__.py"), "w") as fh:
            fh.write("x = 1\n")
        rc, _, err = _run(["generate", self.pkg], env={"VDLPATH": os.path.join(self.tut, "src")})
        self.assertEqual(rc, 1)
        self.assertIn("refusing to overwrite", err)


class FlagsTest(unittest.TestCase):
    def test_unsupported_language(self):
        self.assertEqual(vdlcmd.main(["generate", "--lang", "go", "./ifc"]), 2)

    def test_unknown_flag(self):
        self.assertEqual(vdlcmd.main(["generate", "--nope", "./ifc"]), 2)

    def test_compile_reports_errors(self):
        d = tempdir(self, "vbad")
        with open(os.path.join(d, "bad.vdl"), "w") as fh:
            fh.write("package bad\ntype A struct {\n  X Missing\n}\n")
        with open(os.path.join(d, "vdlpy.config"), "w") as fh:
            fh.write("path = example/bad\n")
        rc, out, err = _run(["compile", d])
        self.assertEqual(rc, 1)
        self.assertIn("bad.vdl:3:5: type Missing undefined", err)
        import shutil
        shutil.rmtree(d)
