"""docs/guide.md, run: every file block is the file in docs/examples that CI type-checks,
every shell block runs (in order, in one fresh directory, under ``bash -e``), and no
code block is left unchecked."""
import os
import re
import shutil
import signal
import subprocess
import sys

from twisted.internet import threads
from twisted.trial import unittest

from v23py.testing import ROOT, tempdir

GUIDE = os.path.join(ROOT, "docs", "guide.md")
EXAMPLES = os.path.join(ROOT, "docs", "examples")
BLOCK = re.compile(r"(?:<!-- (?P<mark>[^>]*?) -->\n)?```(?P<lang>\w*)\n(?P<body>.*?)```\n",
                   re.S)


def blocks():
    """[(mark, lang, body)] of the guide's fenced blocks."""
    with open(GUIDE, encoding="utf-8") as fh:
        text = fh.read()
    return [(m.group("mark") or "", m.group("lang"), m.group("body"))
            for m in BLOCK.finditer(text)]


class GuideTest(unittest.TestCase):
    timeout = 600

    def test_every_block_is_checked(self):
        for mark, lang, body in blocks():
            self.assertTrue(mark == "run" or mark.startswith(("file: ", "not run: ")),
                            f"a {lang} block with no run/file marker:\n{body}")

    def test_file_blocks_are_the_examples(self):
        files = [(mark[len("file: "):], body) for mark, _, body in blocks()
                 if mark.startswith("file: ")]
        self.assertEqual(len(files), 7)
        for name, body in files:
            with open(os.path.join(EXAMPLES, name), encoding="utf-8") as fh:
                self.assertEqual(body, fh.read(), f"docs/guide.md's {name} is not "
                                 f"docs/examples/{name}")

    def test_the_generated_example_module_is_current(self):
        # the committed docs/examples/counter/__init__.py (read by mypy in CI) is what
        # `vdl generate` makes of counter.vdl
        tmp = tempdir(self, prefix="guide-vdl-")
        shutil.copytree(os.path.join(EXAMPLES, "counter"), os.path.join(tmp, "counter"),
                        ignore=shutil.ignore_patterns("__init__.py", "__pycache__"))
        p = subprocess.run([sys.executable, "-m", "v23py.cmd.vdl", "generate", "--lang",
                            "python", "counter"], cwd=tmp, capture_output=True, text=True,
                           env=dict(os.environ, VDLPATH=tmp), timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(os.path.join(tmp, "counter", "__init__.py"), encoding="utf-8") as a, \
                open(os.path.join(EXAMPLES, "counter", "__init__.py"), encoding="utf-8") as b:
            self.assertEqual(a.read(), b.read(), "stale docs/examples/counter/__init__.py: "
                             "cd docs/examples && VDLPATH=$PWD vdl generate --lang python counter")

    def test_the_guide_runs(self):
        return threads.deferToThread(self._run_guide)

    def _run_guide(self):
        work = tempdir(self, prefix="guide-")
        script = ["set -eu", "trap 'kill $(jobs -p) 2>/dev/null || true' EXIT"]
        for i, (mark, lang, body) in enumerate(blocks()):
            if mark.startswith("file: "):
                path = os.path.join(work, mark[len("file: "):])
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "w", encoding="utf-8") as fh:
                    fh.write(body)
            elif mark == "run":
                script.append(f"echo '### guide block {i}' >&2")
                script.append(body)
        bindir = os.path.dirname(sys.executable)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("V23_", "VDLPATH", "PYTHONPATH"))}
        env.update(PATH=bindir + os.pathsep + env.get("PATH", ""), HOME=work)
        p = subprocess.Popen(["bash", "-c", "\n".join(script)], cwd=work, env=env,
                             stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             start_new_session=True)
        try:
            out, _ = p.communicate(timeout=540)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGTERM)
            out, _ = p.communicate()
            self.fail("the guide did not finish in 540 s; its output:\n" + out[-6000:])
        finally:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        with open("guide.out", "w", encoding="utf-8") as fh:   # (in _trial_temp)
            fh.write(out)
        self.assertEqual(p.returncode, 0, out[-6000:])
        # what the reader is told they will see
        self.assertIn("principal (v23py)", out)
        self.assertIn("idp:o:guide:alice\n", out)
        self.assertIn("added: 5\ncount: 5\nhistory: [0, 5]", out)
        self.assertIn("added: 7\ncount: 7\nhistory: [0, 5, 7]", out)
        secure = out.split("idp:o:guide:alice:friend\n", 1)[1]   # after Bob's blessing
        self.assertIn("count: 0\nhistory: [0]", secure)          # Bob reads
        self.assertIn("does not have Write access", secure)       # and may not write
        self.assertIn("PASSED", out)
        self.assertIn("note-000 buy milk\nnote-001 call Bob\nnote-002 water the plants", out)
        self.assertIn("note-003 = this one travels", out)
        self.assertIn("largest: 17\ncount: 17", out)
