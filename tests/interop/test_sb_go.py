"""Our ``sb`` and Go's ``sb`` print the same bytes for the same data.

Both shells run against Go's 2017 syncbased and against ours: ``make-demo`` (ours on
our daemon, Go's on Go's, then each dumps both), ``dump``, ``select`` in the three
formats, ``sg`` (create, list, inspect, and the NotImplemented leave/destroy/eject
with Go's checks first), ``acl``, errors and usage, the ``sh`` shell fed a script on
stdin, and ``watch``.  Stdout, stderr and the exit code must be identical, except
where Go itself prints a map in Go's random order (``acl get``/``acl dump``: compared
as sorted lines).
"""
import io
import os
import sys

from twisted.internet import defer, reactor
from twisted.trial import unittest

from v23py.testing.syncbase import Daemon, GoDaemon, make_creds, sleep
from v23py.testing import child_env, tempdir
from tests.interop._go_syncbase import go_sb_binary, run

ALICE = "idp:o:fortune:alice"
DB = "--db=idp:o:fortune,demo"
OUR_SB = [sys.executable, "-m", "v23py.cmd.sb"]

# (arguments, compare sorted lines) -- each is run by both shells against both daemons
COMMANDS = [
    (["dump"], False),
    (["select", "k,", "v", "from", "Customers"], False),
    (["--format=csv", "select", "k,", "v", "from", "Customers", "where", "k", "like",
      '"002%"'], False),
    (["--format=csv", "--csv-delimiter=;", "select", "k,", "v.Name,", "v.Address", "from",
      "Customers", "where", "Type(v)", "like", '"%Customer"'], False),
    (["--format=json", "select", "k,", "v", "from", "Recursives"], False),
    (["--format=json", "select", "k,", "v", "from", "Composites"], False),
    (["--format=json", "select", "k,", "v.TestTime,", "v.Score", "from", "Students"], False),
    (["--format=json", "select", "v.Anything", "from", "AnythingGoes"], False),
    (["select", "v.F32,", "v.F64,", "v.Ui64", "from", "Numbers"], False),
    (["select", "k", "from", "Nonexistent"], False),
    (["select", "k", "frm", "Numbers"], False),
    (["sg", "list"], False),
    (["sg", "list", "-v"], False),
    (["sg", "-target=sg1", "inspect"], False),
    (["sg", "-t", "sg1", "leave"], False),
    (["sg", "-target=sg1", "eject", "somebody"], False),
    (["sg", "-target=nosuchsg", "destroy"], False),
    (["acl", "-target=sg", f"-sg={ALICE},sg1", "dump"], True),
    (["acl", "-target=cx", f"-cx={ALICE},Numbers", "get", ALICE], True),
    (["acl", "dump"], True),
    # changes (each shell runs each line once: the second run is a no-op)
    (["acl", "add", "idp:o:fortune:bob", "Read,!Write", "idp:o:fortune:carol", "Resolve"],
     False),
    (["acl", "dump"], True),
    (["acl", "get", "idp:o:fortune:bob"], True),
    (["acl", "rm", "idp:o:fortune:bob", "Read,Write"], False),
    (["acl", "dump"], True),
    (["acl", "-target=cx", f"-cx={ALICE},Numbers", "add", "idp:o:fortune:bob", "Read"], False),
    (["acl", "-target=cx", f"-cx={ALICE},Numbers", "dump"], True),
    (["acl", "-target=sg", f"-sg={ALICE},sg1", "add", "idp:o:fortune:bob", "Read"], False),
    (["acl", "-target=sg", f"-sg={ALICE},sg1", "dump"], True),
    (["acl", "add", "lonely"], False),
    (["destroy"], False),
    (["nosuchcommand"], False),
    (["--format=xml", "dump"], False),
    (["help"], False),
    (["help", "select"], False),
    (["sg", "help", "create"], False),
    (["acl", "help", "add"], False),
]

SHELL_SCRIPT = """\
select k from Numbers
help
help select

select   k,   v.B from Numbers where k = "002" // a comment
-format=csv select k, v.Name from Customers
select k from Customers where v.Name = 'John Smith'
sg list
exit
select k from Numbers
"""
SHELL_FAILING = "select k from Numbers\nselect k frm Numbers\nselect k from Numbers\n"


def _unordered(result):
    """Go prints these maps in random order: compare sorted lines of sorted items."""
    out, err, code = result
    lines = []
    for ln in out.splitlines():
        if ln.startswith(("[", "![")) and ln.endswith("]"):
            head, items = ln.split("[", 1)
            ln = head + "[" + ", ".join(sorted(items[:-1].split(", "))) + "]"
        lines.append(ln)
    return sorted(lines), err, code


class SbMatchesGoTest(unittest.TestCase):
    timeout = 240

    def setUp(self):
        self.go_sb = go_sb_binary("sb")
        self.tmp = tempdir(self, prefix="sb-go-")
        self.creds = make_creds(os.path.join(self.tmp, "alice"), ALICE)
        import v23py
        self.ctx, shutdown = v23py.init([f"--v23.credentials={self.creds}"], reactor=reactor)
        self.addCleanup(shutdown)

    async def _daemons(self):
        go = GoDaemon(self.creds, os.path.join(self.tmp, "go"))
        ours = Daemon(self.creds, os.path.join(self.tmp, "ours"), extra=["--skip-publish-in-nh"])
        for d in (go, ours):
            self.addCleanup(d.stop)
        await go.start()
        await ours.start()
        return go, ours

    def sb(self, which, service, *args, stdin=None, subprocess=False):
        """(stdout, stderr, exit code) of a shell run; ours runs in this process unless
        ``subprocess`` (each console-script start costs a second)."""
        argv = [f"--v23.credentials={self.creds}", f"--service={service}", *args]
        if which == "go":
            return run([self.go_sb, *argv], stdin=stdin)
        if subprocess:
            return run([*OUR_SB, *argv], stdin=stdin)
        return defer.ensureDeferred(self._in_process(argv, stdin))

    @staticmethod
    async def _in_process(argv, stdin):
        from v23py.cmd import sb
        out, err = io.StringIO(), io.StringIO()
        code = await sb._main(reactor, argv, out, err, io.StringIO(stdin or ""))
        return out.getvalue(), err.getvalue(), code

    async def both(self, service, *args, stdin=None):
        return (await self.sb("go", service, *args, stdin=stdin),
                await self.sb("ours", service, *args, stdin=stdin))

    @defer.inlineCallbacks
    def test_same_output_on_go_and_our_daemon(self):
        yield defer.ensureDeferred(self._same_output())

    async def _same_output(self):
        go, ours = await self._daemons()
        # each shell makes the demo database on the other's daemon ...
        for which, d in (("ours", go), ("go", ours)):
            out, err, code = await self.sb(which, d.endpoint, DB, "--create-if-absent",
                                           "make-demo")
            self.assertEqual((out, code), ("Demo collections created and populated.\n", 0), err)
            out, err, code = await self.sb(
                "ours" if which == "go" else "go", d.endpoint, DB, "sg", "-target=sg1",
                "create", "-description=demo group", f"{ALICE},Numbers", f"{ALICE},Students")
            self.assertEqual(code, 0, err)
        # ... and the two databases dump the same (but for each daemon's random sg version)
        dumps = []
        for d in (go, ours):
            out, err, code = await self.sb("go", d.endpoint, DB, "dump")
            self.assertEqual(code, 0, err)
            dumps.append([ln for ln in out.splitlines() if "(version:" not in ln])
        self.assertEqual(dumps[0], dumps[1])
        self.assertGreater(len(dumps[0]), 40)

        mismatches = []
        for d, label in ((go, "Go's daemon"), (ours, "our daemon")):
            for args, unordered in COMMANDS:
                g, o = await self.both(d.endpoint, DB, *args)
                if unordered:
                    g, o = _unordered(g), _unordered(o)
                if g != o:
                    mismatches.append(f"{label}: sb {' '.join(args)}\n  Go:   {g!r}\n"
                                      f"  ours: {o!r}")
            for script in (SHELL_SCRIPT, SHELL_FAILING):
                g, o = await self.both(d.endpoint, DB, "sh", stdin=script)
                if g != o:
                    mismatches.append(f"{label}: sb sh <<{script!r}\n  Go:   {g!r}\n"
                                      f"  ours: {o!r}")
        self.assertEqual(mismatches, [], "\n".join(mismatches))
        # the console script itself (a subprocess), once
        for args, stdin in ((["dump"], None), (["sh"], SHELL_SCRIPT)):
            g = await self.sb("go", ours.endpoint, DB, *args, stdin=stdin)
            o = await self.sb("ours", ours.endpoint, DB, *args, stdin=stdin, subprocess=True)
            self.assertEqual(g, o)
        # what the outputs hold, once, so a shared mistake cannot pass
        g, _ = await self.both(ours.endpoint, DB, "--format=csv", "select", "k,", "v.Name",
                               "from", "Customers", "where", "k", "=", '"002"')
        self.assertEqual(g, ("k,v.Name\n002,Bat Masterson\n", "", 0))
        g, _ = await self.both(ours.endpoint, DB, "acl", "-target=sg", f"-sg={ALICE},sg1",
                               "get", "idp:o:fortune:bob")
        self.assertEqual(_unordered(g), (["![]", "[Read]"], "", 0))
        g, _ = await self.both(go.endpoint, DB, "acl", "dump")
        self.assertIn("\tResolve: {[idp:o:fortune:alice idp:o:fortune:carol] []}\n", g[0])
        self.assertIn("\tWrite: {[idp:o:fortune:alice] []}\n", g[0])
        g, _ = await self.both(ours.endpoint, DB, "sg", "-t", "sg1", "leave")
        self.assertEqual(g[2], 1)
        self.assertIn("implemented", g[1].lower())

    @defer.inlineCallbacks
    def test_watch_prints_the_same_changes(self):
        yield defer.ensureDeferred(self._watch())

    async def _watch(self):
        from v23py.testing.procs import Daemon as Child     # (output collected)
        go, ours = await self._daemons()
        for d in (go, ours):
            out, err, code = await self.sb("ours", d.endpoint, DB, "--create-if-absent",
                                           "make-demo")
            self.assertEqual(code, 0, err)
        for d in (go, ours):
            procs = {}
            for which in ("go", "ours"):
                prog = [self.go_sb] if which == "go" else OUR_SB
                pp = Child()
                argv = [*prog, f"--v23.credentials={self.creds}", f"--service={d.endpoint}",
                        DB, "watch", f"{ALICE},Numbers,%", f"{ALICE},Students,%"]
                proc = reactor.spawnProcess(pp, argv[0], argv, env=child_env(v23_vars=False))
                procs[which] = (pp, proc)
                self.addCleanup(self._kill, proc)
            # both watchers are watching ("now") once both print a probe row's change
            from v23py import syncbase
            probe = syncbase.new_service(d.endpoint).database_for_id(
                ("idp:o:fortune", "demo")).collection_for_id((ALICE, "Numbers"))
            for i in range(150):
                if all(b"row zzprobe" in pp.out for pp, _ in procs.values()):
                    break
                if i % 5 == 0:
                    await probe.put(self.ctx, "zzprobe", i)
                await sleep(0.2)
            await sleep(0.5)
            start = {w: len(pp.out) for w, (pp, _) in procs.items()}
            for args in ((["make-demo"]),
                         (["destroy", f"{ALICE},Composites"])):
                out, err, code = await self.sb("go", d.endpoint, DB, *args)
                self.assertEqual(code, 0, err)
            want = None
            for _ in range(100):
                await sleep(0.1)
                outs = {w: pp.out[start[w]:].decode() for w, (pp, _) in procs.items()}
                if (f"change on row 2 of collection {ALICE},Students" in outs["go"]
                        and outs["go"] == outs["ours"]):
                    want = outs["go"]
                    break
            self.assertEqual(outs["go"], outs["ours"])
            self.assertIsNotNone(want)
            self.assertIn(f"change on row 001 of collection {ALICE},Numbers:\n\tnew value: "
                          "v.io/x/ref/cmd/sb/internal/demodb.Numbers struct{", want)
            self.assertIn("row removed", want)
            self.assertIn(f"change on collection {ALICE},Students:\n\tnew info: &{{map[", want)
            self.assertNotIn("Composites", want)
            for _, proc in procs.values():
                self._kill(proc)
        # the shell on a terminal: readline, Go's "? " prompt
        out = await self._interactive(ours.endpoint, ["nope", "select k frm Numbers",
                                                      "sel\t k from Numbers", "exit"])
        self.assertIn("? ", out)
        self.assertIn("| 001 |", out)                   # "sel<tab>" completed to "select"
        # errors do not end a terminal session; Go's "Error:" lines
        self.assertIn('ERROR: sb: unknown command "nope"', out)
        self.assertIn("Error: exit code 2", out)
        self.assertIn("Error: \r\nselect k frm Numbers\r\n", out)
        self.assertTrue(out.rstrip().endswith("exit"), out)

    async def _interactive(self, service, lines):
        import pty
        import select
        pid, fd = pty.fork()
        if pid == 0:                                    # the child: our sb on the pty
            os.environ.update(child_env(v23_vars=False))
            os.execv(sys.executable, [*OUR_SB, f"--v23.credentials={self.creds}",
                                      f"--service={service}", DB, "sh"])
        out = b""
        try:
            for ln in [None, *lines]:
                if ln is not None:
                    os.write(fd, ln.encode() + b"\r")
                for _ in range(60):                     # until the next prompt (or exit)
                    await sleep(0.1)
                    while select.select([fd], [], [], 0)[0]:
                        try:
                            chunk = os.read(fd, 4096)
                        except OSError:
                            chunk = b""
                        if not chunk:
                            break
                        out += chunk
                    if out.rstrip().endswith(b"?") or ln == "exit":
                        break
        finally:
            try:
                os.kill(pid, 9)
            except OSError:
                pass
            os.waitpid(pid, 0)
            os.close(fd)
        return out.decode("utf-8", "replace")

    @staticmethod
    def _kill(proc):
        try:
            proc.signalProcess("KILL")
        except Exception:
            pass
