"""``namespace glob`` without the runtime (v23py.cmd._fastglob): the same stdout, stderr
and exit code as the runtime's path on real mount tables -- ours and Go's, nested, with a
cycle, entries naming dead servers, our credentials and a stranger's -- no Twisted
loaded when it runs, and the runtime's path for every form it does not run.  Real
processes."""
import os
import re
import shutil
import sys
import tempfile

from twisted.internet import defer, utils
from twisted.trial import unittest

from v23py.testing import ROOT, go_binary
from v23py.testing.procs import ENV, make_creds, spawn


def _namespace():
    here = os.path.join(os.path.dirname(sys.executable), "namespace")
    return [here] if os.path.exists(here) else [sys.executable, "-m", "v23py.cmd.namespace"]


def _env(creds, root, fast, imports):
    env = dict(ENV, V23_CREDENTIALS=creds, V23_NAMESPACE=root)
    env.pop("V23PY_NO_FAST_CALL", None)
    if not fast:
        env["V23PY_NO_FAST_CALL"] = "1"
    if imports:
        env["PYTHONPROFILEIMPORTTIME"] = "1"
    return env


def _result(code, out, err):
    # the seconds left before a mount expires move between the two runs
    return code, re.sub(r"\(Expires in \d+ sec\)", "(Expires in N sec)", out), err


@defer.inlineCallbacks
def ns(args, creds, root, fast=True, imports=False):
    """(exit code, stdout, stderr) of ``namespace args``, run by the reactor."""
    cmd = _namespace() + list(args)
    out, err, code = yield utils.getProcessOutputAndValue(
        cmd[0], cmd[1:], env=_env(creds, root, fast, imports), path=ROOT)
    return _result(code, out.decode(), err.decode())


def _imports(err):
    return set(re.findall(r"^import time:\s+\d+ \|\s+\d+ \| +(\S+)$", err, re.M))


class FastGlob(unittest.TestCase):
    timeout = 400

    @defer.inlineCallbacks
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="ns-fast-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.creds = os.path.join(self.dir, "creds")
        make_creds(self.creds, "alice")
        self.stranger = os.path.join(self.dir, "stranger")
        make_creds(self.stranger, "stranger")
        names = []
        for _ in range(2):
            d, _ = spawn(self, [sys.executable, "-m", "v23py.cmd.mounttabled",
                                "--v23.credentials", self.creds,
                                "--v23.tcp.address", "127.0.0.1:0"], "NAME=")
            line = yield d.ready
            names.append(line.split("NAME=", 1)[1].strip())
        self.mt1, self.mt2 = names
        self.gomt = None
        try:
            gobin = go_binary("mounttabled")
        except unittest.SkipTest:
            gobin = None
        if gobin:
            d, _ = spawn(self, [gobin, "--v23.credentials=" + self.creds,
                                "--v23.tcp.address=127.0.0.1:0"], "NAME=")
            line = yield d.ready
            self.gomt = line.split("NAME=", 1)[1].strip()
        dead = "/@6@tcp@127.0.0.1:1@@@s@alice@@"
        mounts = [(self.mt1, "a/b", self.mt2), (self.mt1, "c", dead),
                  (self.mt2, "x/y", self.mt1), (self.mt2, "z", dead)]
        if self.gomt:
            mounts += [(self.mt1, "g", self.gomt), (self.gomt, "n/m", self.mt2),
                       (self.gomt, "d", dead)]
        results = yield defer.gatherResults([
            ns(["mount", name, server, "1h"], self.creds, root, False)
            for root, name, server in mounts])
        for code, out, err in results:
            self.assertEqual(code, 0, err)

    def both(self, args, creds=None, root=None):
        creds = creds or self.creds
        root = root or self.mt1
        return defer.gatherResults([
            ns(args, creds, root, True), ns(args, creds, root, False)])

    @defer.inlineCallbacks
    def check(self, groups):
        """Runs every (cases, creds, root) group's cases, fast and runtime paths, all side by
        side: a case that meets a dead server waits for the runtime's dial retries to use
        up the command's minute (as Go's tool does), so they share that minute."""
        runs = [(args, creds, root) for cases, creds, root in groups for args in cases]
        results = yield defer.gatherResults([self.both(args, creds, root)
                                             for args, creds, root in runs])
        for (args, creds, root), (fast, slow) in zip(runs, results):
            if "-l" in args:
                # the runtime globs every mount table at once, as Go's client does, so -l
                # prints each entry as its table answers, in no fixed order
                fast, slow = [(c, sorted(o.splitlines()), e) for c, o, e in (fast, slow)]
            self.assertEqual(fast, slow, (args, creds, root))

    @defer.inlineCallbacks
    def test_same_output_as_the_runtime(self):
        # our tables as root, Go's, a stranger's credentials, and /host:port roots (as the
        # tutorials name their tables) with forms the fast path leaves to the runtime
        ours = [["glob", "*"], ["glob", "-l", "*"], ["glob", "a/b/*"], ["glob", "-l", "a/*/x/*"],
                ["glob", "a/b/x/y/a/b/*"], ["glob", "nothing/*"], ["glob", "..."],
                ["glob", "-l", "..."], ["glob", "a/b/x/y/*/b"], ["glob", "-l", "*/*"],
                ["--v23.namespace.root=" + self.mt2, "glob", "*/*"],
                ["glob", "-fail-on-any-error", "a/..."]]
        stranger = [["glob", "*"], ["glob", "-l", "a/b/*"], ["glob", "..."]]
        port = re.search(r"@127\.0\.0\.1:(\d+)@", self.mt1).group(1)
        address_only = [["glob", "*"], ["glob", "-l", "a/b/*"], ["glob"], ["glob", "a", "b"],
                        ["-l", "glob", "*"], ["glob", "-x", "*"], ["glob", "__(alice)/*"],
                        ["--v23.namespace.root=/127.0.0.1:1", "glob", "*"]]
        groups = [(ours, self.creds, self.mt1), (stranger, self.stranger, self.mt1),
                  (address_only, self.creds, "/localhost:" + port)]
        if self.gomt:
            ours += [["glob", "g/*"], ["glob", "-l", "g/n/m/*"], ["glob", "g/n/*/x/*"],
                     ["glob", "g/..."]]
            stranger += [["glob", "g/n/*"]]
            groups += [([["glob", "*"], ["glob", "-l", "n/*"], ["glob", "n/m/*"],
                         ["glob", "n/m/x/y/*"]], self.creds, self.gomt),
                       ([["glob", "*"], ["glob", "n/m/*"]], self.stranger, self.gomt)]
        yield self.check(groups)

    @defer.inlineCallbacks
    def test_common_forms_load_no_twisted(self):
        port = re.search(r"@127\.0\.0\.1:(\d+)@", self.mt1).group(1)
        forms = [(["glob", "-l", "*"], self.mt1), (["glob", "a/b/x/y/*"], self.mt1),
                 (["glob", "a/b/*"], "/localhost:" + port)]
        if self.gomt:
            forms.append((["glob", "-l", "g/n/m/*"], self.mt1))
        for args, root in forms:
            code, out, err = yield ns(args, self.creds, root, True, True)
            self.assertEqual(code, 0, err)
            self.assertTrue(out, args)
            mods = _imports(err)
            self.assertIn("v23py.cmd._fastglob", mods)
            self.assertEqual(sorted(m for m in mods if m.split(".")[0] == "twisted"), [], args)
            self.assertNotIn("v23py.runtime", mods)
