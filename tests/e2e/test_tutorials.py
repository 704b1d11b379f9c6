"""The tutorial runner (tools/tutorial.py) and the tutorials themselves.

The runner tests are fast and self-contained. Each tutorial test runs one
website tutorial end to end through the runner.  When a program the tutorial needs
is missing or broken (its --help crashes or exits > 2) the test fails in CI, naming it,
and skips elsewhere; one that hangs fails the tutorial's timed blocks.
"""
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time

from twisted.internet import threads
from twisted.trial import unittest

from v23py.testing import ROOT, shared_path, unavailable

_spec = importlib.util.spec_from_file_location("v23py_tutorial_runner",
                                               os.path.join(ROOT, "tools", "tutorial.py"))
tutorial = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tutorial)


def _md(*blocks):
    """Markdown with labelled blocks: each item is (labels, text)."""
    out = ["# a test tutorial\n\nSome prose.\n\n"]
    for labels, text in blocks:
        out.append(f"<!-- {labels} -->\n```\n{textwrap.dedent(text).lstrip()}```\n\nMore prose.\n\n")
    return "".join(out)


class ExtractTests(unittest.TestCase):
    def test_labels_sleep_and_unlabelled(self):
        text = textwrap.dedent("""\
            Intro.
            <!-- @first @test @completer -->
            ```bash
            echo one
            ```
            ```
            echo never  # unlabelled
            ```
            <!-- a plain comment -->
            ```
            echo never either
            ```
            {{# helpers.hidden}}
            <!-- @hidden @test @sleep -->
            ```
            echo hidden
            ```
            {{/ helpers.hidden}}
            <!--   @spaced   @completer   -->
            ```
            echo three
            ```
            """)
        blocks = tutorial.extract_blocks(text, "t.md")
        self.assertEqual([b.name for b in blocks], ["first", "hidden", "spaced"])
        self.assertEqual(blocks[0].labels, ["first", "test", "completer"])
        self.assertEqual(blocks[0].text, "echo one\n")
        self.assertEqual(blocks[0].line, 2)
        self.assertEqual(blocks[1].text, "echo hidden\nsleep 2s # Added by mdrip\n")
        self.assertEqual(blocks[2].labels, ["spaced", "completer"])

    def test_label_must_be_right_before_the_fence(self):
        text = "<!-- @orphan @test -->\n\nprose\n```\necho no\n```\n"
        self.assertEqual(tutorial.extract_blocks(text), [])

    def test_needs_and_timeout_label(self):
        self.assertEqual(tutorial.read_needs("<!-- v23py-needs: a b -->\n<!-- v23py-needs: c -->"),
                         ["a", "b", "c"])
        b = tutorial.extract_blocks("<!-- @x @test @timeout90s -->\n```\ntrue\n```\n")[0]
        self.assertEqual(b.timeout(60), 90.0)

    def test_readiness_waits(self):
        b = tutorial.extract_blocks(
            "<!-- @start @test @sleep -->\n```\nserver --endpoint-file-name $V_TUT/s1.txt \\\n"
            "  --v23.tcp.address :$PORT_MT &\nX=$!\n```\n"
            "<!-- @other @test -->\n```\nserver --endpoint-file-name=$V_TUT/s2.txt &\n```\n"
            "<!-- @zero @test @sleep -->\n```\nserver --v23.tcp.address=127.0.0.1:0 &\n```\n")
        self.assertEqual(tutorial.readiness_waits(b[0], 5),
                         '__v23py_wait_file $V_TUT/s1.txt 50 "$__v23py_old0"\n'
                         "__v23py_wait_port $PORT_MT 50\n")
        self.assertEqual(tutorial.readiness_marks(b[0]),
                         "__v23py_old0=$(__v23py_sig $V_TUT/s1.txt)\n")
        self.assertEqual(tutorial.readiness_waits(b[1], 5), "")   # not a @sleep block
        self.assertEqual(tutorial.readiness_waits(b[2], 5), "")   # port 0: nothing to wait for
        script = tutorial.assemble_script(b[:1], 5)
        self.assertTrue(script.index("__v23py_old0=") < script.index("server --endpoint")
                        < script.index("__v23py_wait_file $V_TUT")
                        < script.index("sleep 2s # Added by mdrip"))
        self.assertNotIn("__v23py", tutorial.assemble_script(b[:1], 0))

    def test_every_file_selects_blocks_in_every_chain(self):
        for name, files in tutorial.TUTORIALS.items():
            paths = tutorial.resolve_files([name])
            blocks = tutorial.select_blocks(paths, ["test", "v23pyCheck"])
            self.assertTrue(blocks, name)
            for b in blocks:
                code = "\n".join(line for line in b.text.splitlines()
                                 if not line.lstrip().startswith("#"))
                for go_step in ("go install", "go build", "--lang go"):
                    self.assertNotIn(go_step, code, b.where)
            self.assertTrue(tutorial.programs_for(paths), name)

    def test_sync_blocks_are_the_seed_tutorials(self):
        """Every @test block of the seed sync tutorial is in our transcription,
        unchanged unless it is a Go build step we substitute."""
        with open(shared_path("seed", "syncbase-sync-tutorial.md")) as f:
            seed = [b for b in tutorial.extract_blocks(f.read()) if "test" in b.labels]
        with open(os.path.join(tutorial.TUTORIAL_DIR, "syncbase", "sync.md")) as f:
            ours = [b for b in tutorial.extract_blocks(f.read()) if "test" in b.labels]
        self.assertEqual([b.name for b in seed], [b.name for b in ours])
        substituted = []
        for s, o in zip(seed, ours):
            if "v23pySubstitute" in o.labels:
                substituted.append(o.name)
                self.assertEqual(o.labels[:-1], s.labels)
            else:
                self.assertEqual((o.labels, o.text), (s.labels, s.text))
        self.assertEqual(substituted, ["defineService", "defineServer", "installClientServer"])


class RunnerTests(unittest.TestCase):
    timeout = 120

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="test-tutorial-")
        self.addCleanup(subprocess.call, ["rm", "-rf", self.dir])

    def _run_md(self, *blocks, timeout=30):
        path = os.path.join(self.dir, "t.md")
        with open(path, "w") as f:
            f.write(_md(*blocks))
        chosen = tutorial.select_blocks([path], ["test"])
        env = dict(tutorial.clean_environ(), DIR=self.dir)
        return threads.deferToThread(tutorial.run_blocks, chosen, env, timeout, self.dir)

    async def _ok(self):
        result = await self._run_md(("@a @test", "echo hello\n"), ("@b @test", "X=1\n"),
                                 ("@c @test", "echo x=$X\n"))
        self.assertTrue(result.ok, result.reason)
        self.assertEqual([r.block.name for r in result.results], ["a", "b", "c"])
        self.assertEqual(result.results[0].output, ["hello"])
        self.assertEqual(result.results[2].output, ["x=1"])

    def test_ok(self):
        return _defer(self._ok())

    async def _failing(self):
        result = await self._run_md(("@a @test", "echo fine\n"),
                                 ("@b @test", "echo about to fail\nfalse\necho not reached\n"),
                                 ("@c @test", "echo never\n"))
        self.assertFalse(result.ok)
        self.assertEqual(result.failed.name, "b")
        self.assertIn("exited with status 1", result.reason)
        self.assertEqual(result.output, ["about to fail"])

    def test_failing_block_is_named(self):
        return _defer(self._failing())

    async def _timeout(self):
        result = await self._run_md(("@a @test", "true\n"), ("@slow @test", "echo waiting\nsleep 60\n"),
                                 timeout=1)
        self.assertFalse(result.ok)
        self.assertEqual(result.failed.name, "slow")
        self.assertIn("timed out", result.reason)
        self.assertEqual(result.output, ["waiting"])

    def test_hanging_block_times_out(self):
        return _defer(self._timeout())

    async def _cleanup(self):
        result = await self._run_md(
            ("@start @test", """\
                sleep 300 &
                echo $! > $DIR/child.pid
                setsid sleep 301 < /dev/null > /dev/null 2>&1 &
                sleep 0.2
                pgrep -f 'sleep 301' -n > $DIR/escaped.pid || true
                """),
            ("@stdin @test", "if read line; then echo got input; else echo stdin closed; fi\n"))
        self.assertTrue(result.ok, result.reason)
        self.assertEqual(result.results[1].output, ["stdin closed"])
        self.assertEqual(len(result.leftovers), 2, result.leftovers)
        for name in ("child.pid", "escaped.pid"):
            with open(os.path.join(self.dir, name)) as f:
                pid = int(f.read().split()[0])
            self.assertFalse(tutorial._alive(pid), f"{name}: process {pid} survived the run")

    def test_background_processes_are_killed(self):
        return _defer(self._cleanup())

    async def _slow_server(self):
        # the "server" writes its endpoint file after 3 s, later than mdrip's 2 s sleep
        result = await self._run_md(
            ("@start @test @sleep",
             "sh -c 'sleep 3; echo ready > \"$0\"' $DIR/ep.txt --endpoint-file-name $DIR/ep.txt &\n"),
            ("@use @test", "cat $DIR/ep.txt\n"))
        self.assertTrue(result.ok, result.reason)
        self.assertEqual(result.results[1].output, ["ready"])

    def test_waits_for_a_slow_server(self):
        return _defer(self._slow_server())

    async def _restarted_server(self):
        # a restarted "server" rewrites the endpoint file an earlier one left, 3 s late:
        # the old file must not count as ready
        result = await self._run_md(
            ("@first @test", "echo old > $DIR/ep.txt\nsleep 1.1\n"),
            ("@restart @test @sleep",
             "sh -c 'sleep 3; echo new > \"$0\"' $DIR/ep.txt --endpoint-file-name $DIR/ep.txt &\n"),
            ("@use @test", "cat $DIR/ep.txt\n"))
        self.assertTrue(result.ok, result.reason)
        self.assertEqual(result.results[2].output, ["new"])

    def test_waits_for_a_restarted_server(self):
        return _defer(self._restarted_server())

    def test_main_reports_failing_block(self):
        path = os.path.join(self.dir, "t.md")
        with open(path, "w") as f:
            f.write(_md(("@setup @test", "echo ready\n"), ("@boom @test", "echo oops >&2\nexit 3\n")))
        proc = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "tutorial.py"), path],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60)
        self.assertEqual(proc.returncode, 1, proc.stdout)
        self.assertIn("FAIL", proc.stdout)
        self.assertIn("block @boom", proc.stdout)
        self.assertIn("oops", proc.stdout)
        self.assertIn("exited with status 3", proc.stdout)

    def _kill_runner(self, sig):
        """tools/tutorial.py killed mid-run (as `timeout` or ^C does) takes the script's
        background server with it: the server is in the script's own session, not in the
        runner's process group, so only the runner can end it."""
        path = os.path.join(self.dir, "t.md")
        server = ("import socket, sys, time\n"
                  "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n"
                  "open(sys.argv[1] + '.tmp', 'w').write(str(s.getsockname()[1]))\n"
                  "import os; os.rename(sys.argv[1] + '.tmp', sys.argv[1])\n"
                  "time.sleep(600)\n")
        with open(os.path.join(self.dir, "server.py"), "w") as f:
            f.write(server)
        with open(path, "w") as f:
            f.write(_md(("@start @test", '"$PY" $DIR/server.py $DIR/port &\n'
                                         "echo $! > $DIR/server.pid\n"),
                        ("@serve @test", "sleep 300\n")))
        runner = subprocess.Popen(
            [sys.executable, os.path.join(ROOT, "tools", "tutorial.py"), path],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env=dict(os.environ, DIR=self.dir, PY=sys.executable))
        self.addCleanup(lambda: runner.poll() is None and (runner.kill(), runner.wait()))
        portfile, pidfile = (os.path.join(self.dir, n) for n in ("port", "server.pid"))
        deadline = time.monotonic() + 60
        while not (os.path.exists(portfile) and os.path.exists(pidfile)):
            if runner.poll() is not None or time.monotonic() > deadline:
                self.fail(f"the script's server did not start:\n{runner.communicate()[0]}")
            time.sleep(0.05)
        with open(pidfile) as f:
            pid = int(f.read())
        with open(portfile) as f:
            port = int(f.read())
        self.addCleanup(_kill_quietly, pid)
        socket.create_connection(("127.0.0.1", port), timeout=5).close()   # it serves
        os.kill(runner.pid, sig)
        out = runner.communicate(timeout=60)[0]
        self.assertFalse(tutorial._alive(pid), f"server {pid} outlived the runner:\n{out}")
        self.assertEqual(runner.returncode, 128 + sig, out)
        self.assertIn("killed", out)
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=5).close()

    def test_sigterm_kills_the_scripts_servers(self):
        self._kill_runner(signal.SIGTERM)

    def test_sigint_kills_the_scripts_servers(self):
        self._kill_runner(signal.SIGINT)


def _kill_quietly(pid):
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass


def _defer(coro):
    from twisted.internet.defer import Deferred
    return Deferred.fromCoroutine(coro)


class TutorialTests(unittest.TestCase):
    """One end-to-end run per tutorial (see the module doc for missing programs)."""
    timeout = 900

    def _tutorial(self, name):
        problems = tutorial.missing_for(name)
        if problems:
            unavailable(f"the {name} tutorial needs programs that are not installed or "
                        f"do not work: {'; '.join(problems)}")

        def run():
            proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "tools", "tutorial.py"),
                                     name], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True)
            try:
                out, _ = proc.communicate(timeout=self.timeout - 60)
            except subprocess.TimeoutExpired:
                proc.terminate()          # tutorial.py then stops the servers it started
                try:
                    out, _ = proc.communicate(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    out, _ = proc.communicate()
                self.fail(f"tools/tutorial.py {name} did not finish within "
                          f"{self.timeout - 60}s:\n{out[-6000:]}")
            return subprocess.CompletedProcess(proc.args, proc.returncode, out)

        def check(proc):
            if proc.returncode != 0:
                self.fail(f"tools/tutorial.py {name} exited {proc.returncode}:\n{proc.stdout[-6000:]}")
        return threads.deferToThread(run).addCallback(check)

    def test_hello_world(self):
        return self._tutorial("hello-world")

    def test_basics(self):
        return self._tutorial("basics")

    def test_local_persist(self):
        return self._tutorial("localPersist")

    def test_sync(self):
        return self._tutorial("sync")

    def test_principals(self):
        return self._tutorial("principals")

    def test_permissions_and_third_party_caveats(self):
        """permissions-authorizer, then third-party-caveats (the "permissions" chain and
        more: it needs the permissions server permissions-authorizer builds)."""
        return self._tutorial("third-party-caveats")

    def test_mount_table(self):
        return self._tutorial("mount-table")

    def test_namespace(self):
        return self._tutorial("namespace")

    def test_naming(self):
        """suffix-part1, suffix-part2 and globber, after permissions-authorizer."""
        return self._tutorial("naming")

    def test_security(self):
        """first-party-caveats and custom-authorizer, after permissions-authorizer."""
        return self._tutorial("security")
