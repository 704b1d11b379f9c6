"""Fast CLIs (issue 18): a tool run that makes no RPC loads no Twisted, and no generated
module or library it does not use.  A functional check of what the real console script
imports (the interpreter's own import log, PYTHONPROFILEIMPORTTIME), never a timing."""
import os
import re
import shutil
import subprocess
import sys

from twisted.trial import unittest

# the generated modules that reading a principal's credentials needs (its wire types and
# the credentials files' types; not the access package's: v23py.security loads its
# access-tag caveat validator when a caveat id nobody registered is first looked up)
PRINCIPAL_GENERATED = {
    "v23py.v23", "v23py.v23.security", "v23py.v23.vdlroot",
    "v23py.v23.vdlroot.time", "v23py.v23.vdlroot.time.native", "v23py.v23.uniqueid",
    "v23py.xref", "v23py.xref.lib", "v23py.xref.lib.security",
    "v23py.xref.lib.security.serialization",
}
# loaded only for what this command never meets (X.509 blessings, Ed25519/RSA keys, key
# files in other formats, encrypted keys)
NOT_FOR_AN_ECDSA_PRINCIPAL = ("cryptography.x509", "cryptography.hazmat.primitives.serialization",
                              "nacl.signing", "cryptography.hazmat.primitives.ciphers.aead",
                              # cryptography's backend module (RSA, ciphers; ec.ECDSA's
                              # constructor loads it) and hashlib's own OpenSSL
                              "cryptography.hazmat.backends.openssl", "hashlib", "_hashlib",
                              "json")


def _tool(name):
    here = os.path.join(os.path.dirname(sys.executable), name)
    return here if os.path.exists(here) else shutil.which(name)


def imported_modules(argv, env):
    """(exit code, stdout, modules imported) of a real process running argv."""
    env = dict(env, PYTHONPROFILEIMPORTTIME="1")
    p = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=120)
    mods = set(re.findall(r"^import time:\s+\d+ \|\s+\d+ \| +(\S+)$", p.stderr, re.M))
    return p.returncode, p.stdout, mods, p.stderr


class PrincipalImports(unittest.TestCase):
    def setUp(self):
        self.principal = _tool("principal")
        if self.principal is None:
            self.fail("the principal console script is not installed beside this Python")
        self.creds = os.path.abspath(self.mktemp())
        env = dict(os.environ)
        env.pop("PYTHONPROFILEIMPORTTIME", None)
        subprocess.run([self.principal, "create", "--with-passphrase=false", self.creds,
                        "alice"], check=True, stdout=subprocess.DEVNULL, env=env)
        self.env = dict(env, V23_CREDENTIALS=self.creds)

    def run_tool(self, *args):
        code, out, mods, err = imported_modules([self.principal] + list(args), self.env)
        self.assertEqual(code, 0, err[-2000:])
        self.assertIn("v23py.security", mods, "the import log was not read")
        return out, mods

    def check(self, mods):
        twisted = sorted(m for m in mods if m == "twisted" or m.startswith("twisted."))
        self.assertEqual(twisted, [])
        generated = {m for m in mods if m.startswith(("v23py.v23", "v23py.xref"))}
        self.assertEqual(sorted(generated - PRINCIPAL_GENERATED), [])
        self.assertEqual(sorted(set(NOT_FOR_AN_ECDSA_PRINCIPAL) & mods), [])
        # nor the RPC layers, the runtime, or the VDL compiler
        for pkg in ("v23py.runtime", "v23py.rpc", "v23py.flow", "v23py.vdl.compiler",
                    "v23py.syncbase", "asyncio",
                    # the access machinery, and the tool's RPC half
                    "v23py.security.access", "v23py.cmd.principal._remote",
                    "v23py.security._discharges"):
            self.assertNotIn(pkg, mods)

    def test_get_default_names(self):
        out, mods = self.run_tool("get", "default", "-names")
        self.assertEqual(out, "alice\n")
        self.check(mods)
        # no time is converted and no thread started: datetime and threading stay unloaded;
        # no blessings are printed or read as text: nor does base64 (PEM bodies are
        # decoded by binascii's strict mode, which Python has from 3.11 on)
        unloaded = {"datetime", "threading"} | ({"base64"} if sys.version_info >= (3, 11)
                                                else set())
        self.assertEqual(sorted(unloaded & mods), [])

    def test_dump(self):
        out, mods = self.run_tool("dump", "-s")
        self.assertEqual(out, "alice\n")
        self.check(mods)

    def test_blessself_and_dumpblessings(self):
        out, mods = self.run_tool("blessself", "bob")
        self.check(mods)
        path = os.path.join(self.creds, "..", "bob.blessings")
        with open(path, "w") as f:
            f.write(out)
        out, mods = self.run_tool("dumpblessings", path)
        self.assertIn("Blessings          : bob\n", out)
        self.check(mods)


def probe_tool_env(case, module, source):
    """The environment of a process that can import ``module`` (a probe tool written
    from ``source`` into a scratch directory of ``case``) beside this tree."""
    d = case.mktemp()
    os.makedirs(d)
    with open(os.path.join(d, module + ".py"), "w") as f:
        f.write(source)
    return dict(os.environ, PYTHONPATH=os.pathsep.join([d] + sys.path))


class ShortLivedEntries(unittest.TestCase):
    """principal, vrpc and namespace run through v23py.cmd._entry: the cyclic garbage collector is off
    while the tool loads and works, back on when a tool resumes it (before the runtime),
    and what exists at exit is frozen (the exit's collection skips it)."""

    def test_console_scripts_use_the_entries(self):
        from v23py.cmd import _entry
        with open(os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
                os.path.abspath(__file__)))), "pyproject.toml")) as f:
            text = f.read()
        for tool in ("principal", "vrpc", "namespace"):
            self.assertIn('%s = "v23py.cmd._entry:%s"' % (tool, tool), text)
            self.assertTrue(callable(getattr(_entry, tool)))

    def test_collector_off_then_resumed_then_frozen(self):
        env = probe_tool_env(self, "gc_probe_tool",
                             "import gc, sys\n"
                             "from v23py.cmd import _entry\n"
                             "def main(argv):\n"
                             "    print('loaded', gc.isenabled(), argv)\n"
                             "    _entry.resume_gc()\n"
                             "    print('resumed', gc.isenabled())\n"
                             "    sys.exit(3)\n")
        code = ("import gc, sys\n"
                "from v23py.cmd import _entry\n"
                "try:\n"
                "    _entry._run('gc_probe_tool', ['x'])\n"
                "except SystemExit as e:\n"
                "    print('exit', e.code, gc.get_freeze_count() > 0)\n")
        p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                           text=True, timeout=120)
        self.assertEqual(p.stdout, "loaded False ['x']\nresumed True\nexit 3 True\n", p.stderr)


class FastExit(unittest.TestCase):
    """The console scripts end a short-lived run with os._exit after flushing stdout and
    stderr -- all output arrives and the status is kept -- and leave the exit to the
    interpreter whenever something may need its teardown: the runtime resumed the
    collector, an atexit callback is registered, or the status is not an int."""

    def run_probe(self, body, code="import sys; sys.exit(_entry._script('exit_probe_tool', ['x']))"):
        # (the interpreter's teardown raises this audit event; os._exit does not)
        env = probe_tool_env(self, "exit_probe_tool",
                             "import atexit, os, sys\n"
                             "from v23py.cmd import _entry\n"
                             "def hook(event, args, write=os.write):\n"
                             "    if event == 'cpython.PyInterpreterState_Clear':\n"
                             "        write(2, b'torn down\\n')\n"
                             "sys.addaudithook(hook)\n"
                             "def main(argv):\n" + body)
        return subprocess.run([sys.executable, "-c", "from v23py.cmd import _entry\n" + code],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, timeout=120)

    def test_short_run_exits_at_once_with_all_output(self):
        # (as the console script: sys.exit(principal()))
        # 1 MB unflushed on a pipe, and a status from sys.exit and from a return
        p = self.run_probe("    sys.stdout.write('x' * 1000000)\n"
                           "    sys.stderr.write('err')\n"
                           "    sys.exit(5)\n")
        self.assertEqual((p.returncode, len(p.stdout), p.stderr), (5, 1000000, "err"))
        p = self.run_probe("    print('out')\n    return 0\n")
        self.assertEqual((p.returncode, p.stdout, p.stderr), (0, "out\n", ""))

    def test_interpreter_exit_after_the_runtime_resumed_the_collector(self):
        p = self.run_probe("    _entry.resume_gc()\n    print('out')\n    return 4\n")
        self.assertEqual((p.returncode, p.stdout, p.stderr), (4, "out\n", "torn down\n"))

    def test_interpreter_exit_with_an_atexit_callback(self):
        p = self.run_probe("    atexit.register(print, 'atexit ran')\n    return 3\n")
        self.assertEqual((p.returncode, p.stdout), (3, "atexit ran\n"))
        self.assertIn("torn down", p.stderr)

    def test_interpreter_exit_with_a_message(self):
        p = self.run_probe("    sys.exit('failed: no')\n")
        self.assertEqual(p.returncode, 1)
        self.assertEqual(p.stderr, "failed: no\ntorn down\n")

    def test_run_alone_never_exits(self):
        # _run (and so in-process callers) returns: only the console scripts exit early
        p = self.run_probe("    return 7\n",
                           code="print('returned', _entry._run('exit_probe_tool', []))")
        self.assertEqual((p.returncode, p.stdout), (0, "returned 7\n"))
