"""v23py.vlog: glog's line format, file names, severities and flags over `logging`."""
import io
import logging
import os
import re
import signal
import subprocess
import sys
import time

from twisted.trial import unittest

from v23py.testing import child_env, read_line, tempdir
from v23py import vlog

LINE = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d\d\.\d{6} +\d+ [\w.]+:\d+\] ")
HEADER = ("Log file created at: ", "Running on machine: ", "Binary: Built with ",
          "Log line format: [IWEF]mmdd hh:mm:ss.uuuuuu threadid file:line] msg")


class GlogHandlerTests(unittest.TestCase):
    def setUp(self):
        self.dir = tempdir(self, prefix="vlog-")
        self.err = io.StringIO()
        self.log = logging.getLogger("vlogtest.unit")
        self.log.propagate = False
        self.addCleanup(setattr, self.log, "propagate", True)

    def handler(self, **kw):
        h = vlog.GlogHandler(program="prog", log_dir=self.dir, stderr=self.err, **kw)
        self.log.addHandler(h)
        self.log.setLevel(h.min_level())
        self.addCleanup(self.log.removeHandler, h)
        self.addCleanup(h.close)
        return h

    def test_files_severities_and_format(self):
        h = self.handler(verbosity=2, also_to_stderr=False)
        self.log.info("hello %s", "world")
        self.log.debug("v1")
        self.log.log(vlog.V(2), "v2")
        self.log.log(vlog.V(3), "v3 hidden")
        self.log.warning("careful")
        self.log.error("broken")
        paths = h.paths()
        self.assertEqual(sorted(paths), ["ERROR", "INFO", "WARNING"])
        user_host = r"prog\.[^.]+\.[^.]+\.log\.vlog\.%s\.\d{8}-\d{6}\.%d$"
        for sev, p in paths.items():
            self.assertRegex(os.path.basename(p), user_host % (sev, os.getpid()))
            self.assertEqual(os.readlink(os.path.join(self.dir, "prog." + sev)),
                             os.path.basename(p))
        with open(paths["INFO"]) as f:
            lines = f.read().splitlines()
        for i, start in enumerate(HEADER):
            self.assertTrue(lines[i].startswith(start), lines[i])
        body = lines[4:]
        self.assertEqual([l.split("] ", 1)[1] for l in body],
                         ["hello world", "v1", "v2", "careful", "broken"])
        self.assertEqual([l[0] for l in body], ["I", "I", "I", "W", "E"])
        for l in body:
            self.assertRegex(l, LINE)
            self.assertIn(" test_vlog.py:", l)
        with open(paths["WARNING"]) as f:
            self.assertEqual([l.split("] ", 1)[1] for l in f.read().splitlines()[4:]],
                             ["careful", "broken"])
        # stderr: only ERROR and above (the threshold) without alsologtostderr
        self.assertEqual([l.split("] ", 1)[1] for l in self.err.getvalue().splitlines()],
                         ["broken"])

    def test_logtostderr_vmodule(self):
        h = self.handler(to_stderr=True, vmodule="test_v*=3")
        self.log.log(vlog.V(3), "by module")
        self.log.log(vlog.V(4), "too verbose")
        self.assertEqual(h.paths(), {})
        self.assertEqual([l.split("] ", 1)[1] for l in self.err.getvalue().splitlines()],
                         ["by module"])

    def test_vmodule_patterns_follow_go_filepath_match(self):
        """-vmodule patterns match as Go's filepath.Match (glog's rule), not fnmatch."""
        m = vlog.match_module
        for pat, name, want in [
                ("test_v*", "test_vlog", True), ("*", "a/b", False), ("*/*", "a/b", True),
                ("**", "test_vlog", True), ("a**b", "a/b", False), ("?", "/", False),
                ("[/]", "/", True), ("[^a]", "/", True), ("[^a-c]x", "bx", False),
                ("[!a]", "!", True), ("[!a]", "b", False),    # '!' is no negation in Go
                ("[a-c]og", "bog", True), ("[z-a]", "m", False), ("[^z-a]", "m", True),
                (r"\*", "*", True), (r"\*", "x", False), (r"[\]]", "]", True),
                ("test_vlog", "test_vlog.py", False), ("TEST_VLOG", "test_vlog", False)]:
            self.assertEqual(m(pat, name), want, (pat, name))
        for bad in ["[", "[]", "[]a]", "[^]", "[a-]", "[-a]", "[a", "x\\", r"[\\"]:
            self.assertRaises(ValueError, m, bad, "x")

    def test_vmodule_rules_as_glog(self):
        # a malformed pattern is accepted but never matches; "=0" entries are dropped, so
        # a later pattern decides; the first match wins; -v is never lowered by a pattern
        h = self.handler(to_stderr=True, verbosity=1,
                         vmodule="[=5,test_vlog=0,x/test_vlog=5,test_vl[n-p]g=2,*=4")
        self.log.log(vlog.V(1), "by -v")
        self.log.log(vlog.V(2), "by module")
        self.log.log(vlog.V(3), "hidden")
        self.assertEqual([l.split("] ", 1)[1] for l in self.err.getvalue().splitlines()],
                         ["by -v", "by module"])
        self.assertRaises(ValueError, vlog.GlogHandler, vmodule="a=-1")
        self.assertRaises(ValueError, vlog.GlogHandler, vmodule="a=1=2")
        self.assertRaises(ValueError, vlog.GlogHandler, vmodule="a=1_0")

    def test_bad_flags(self):
        self.assertRaises(ValueError, vlog.GlogHandler, vmodule="nolevel")
        self.assertRaises(ValueError, vlog.GlogHandler, stderr_threshold="9")
        self.assertEqual(vlog.GlogHandler(stderr_threshold="WARNING").stderr_threshold, 1)


class ProgramLogFlagsTest(unittest.TestCase):
    timeout = 60

    def test_v2_log_dir_writes_go_format_files(self):
        """A server started with -v=2 --log_dir writes glog files named as Go's, with the
        runtime's V(1) line and Twisted's routed events (V(2)) in them."""
        d = tempdir(self, prefix="vlog-prog-")
        creds = os.path.join(d, "creds")
        env = child_env(v23_vars=False)
        subprocess.run([sys.executable, "-m", "v23py.cmd.principal", "create",
                        "--with-passphrase=false", creds, "me"], check=True, env=env,
                       stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL, timeout=60)
        p = subprocess.Popen([sys.executable, "-m", "v23py.cmd.mounttabled",
                              f"--v23.credentials={creds}", "--v23.tcp.address=127.0.0.1:0",
                              "-v=2", f"--log_dir={d}", "--logtostderr=false",
                              "--alsologtostderr=false"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                             start_new_session=True)
        try:
            self.assertTrue(read_line(p, 60, "mounttabled").startswith("NAME="))
            link = os.path.join(d, "mounttabled.INFO")
            for _ in range(50):
                if os.path.exists(link):
                    break
                time.sleep(0.1)
            with open(link) as f:
                text = f.read()
        finally:
            os.killpg(p.pid, signal.SIGTERM)
            p.wait(10)
            p.stdout.close()
            err = p.stderr.read()
            p.stderr.close()
        target = os.readlink(link)
        self.assertRegex(target, r"^mounttabled\.[^.]+\.[^.]+\.log\.vlog\.INFO\.\d{8}-\d{6}\.%d$"
                         % p.pid)
        lines = text.splitlines()
        self.assertTrue(lines[0].startswith("Log file created at: "))
        self.assertIn("__init__.py:", text)   # the runtime's (v23py/runtime/__init__.py)
        self.assertIn("RuntimeFlags:", text)
        self.assertIn("starting on", text)   # Twisted's own event, routed in at V(2)
        for l in lines[4:]:
            if l[:1] in "IWEF" and "] " in l:
                self.assertRegex(l, LINE)
        self.assertNotRegex(err, r"(?m)^I\d{4} ")   # nothing on stderr below ERROR
