"""v23py.cmd._outcome: how every tool's command ends (message, exit code, shutdown)."""
import io

from twisted.internet import defer
from twisted.trial import unittest

from v23py import verror
from v23py.cmd._outcome import error_text, exit_code


class Usage(Exception):
    pass


class Stream(io.StringIO):
    flushed = False

    def flush(self):
        self.flushed = True


class BrokenPipe(io.StringIO):
    def flush(self):
        raise BrokenPipeError(32, "Broken pipe")


class ExitCodeTest(unittest.TestCase):
    def run_body(self, body, out=None, usage=""):
        out = Stream() if out is None else out
        err = io.StringIO()
        shut = []

        async def shutdown():
            shut.append(True)

        code = self.successResultOf(defer.ensureDeferred(
            exit_code(body, shutdown, out, err, Usage, usage=usage)))
        self.assertEqual(shut, [True], "the runtime is shut down once, whatever happened")
        return code, out, err.getvalue()

    def test_the_commands_own_code_and_none_as_zero(self):
        async def three():
            return 3

        async def nothing():
            return None
        code, out, err = self.run_body(three)
        self.assertEqual((code, err), (3, ""))
        self.assertTrue(out.flushed)
        self.assertEqual(self.run_body(nothing)[0], 0)

    def test_usage_error_exits_2_with_the_usage_after_the_message(self):
        async def bad():
            raise Usage("wrong number of arguments")
        code, _, err = self.run_body(bad, usage="Usage: tool x\n")
        self.assertEqual(code, 2)
        self.assertEqual(err, "ERROR: wrong number of arguments\n\nUsage: tool x\n")
        self.assertEqual(self.run_body(bad)[2], "ERROR: wrong number of arguments\n")

    def test_other_failures_exit_1_with_the_verror_message(self):
        async def denied():
            raise verror.NoAccess.new("access denied")
        code, _, err = self.run_body(denied)
        self.assertEqual((code, err), (1, "ERROR: access denied\n"))

    def test_a_closed_stdout_does_not_change_the_code(self):
        async def fine():
            return 0
        self.assertEqual(self.run_body(fine, out=BrokenPipe())[0], 0)


class ErrorTextTest(unittest.TestCase):
    def test_message_then_text_then_class_name(self):
        self.assertEqual(error_text(verror.NoExist.new("no such name")), "no such name")
        self.assertEqual(error_text(ValueError("bad value")), "bad value")
        self.assertEqual(error_text(TimeoutError()), "TimeoutError")


class ParseOrExitCodeTest(unittest.TestCase):
    """v23py.cmd._nscli.parse_or_exit_code: what namespace, mounttable and debug answer
    before there is anything to run."""

    def parse(self, *argv):
        from v23py.cmd import namespace
        from v23py.cmd._nscli import parse_or_exit_code
        out, err = io.StringIO(), io.StringIO()
        got = parse_or_exit_code("namespace", namespace.USAGE, namespace.COMMANDS,
                                 namespace.USAGES, list(argv), out, err)
        return got, out.getvalue(), err.getvalue()

    def test_a_runnable_line_is_parsed(self):
        (fs, path, args), out, err = self.parse("glob", "-l", "a/*")
        self.assertEqual((path, args, fs.get("l"), out, err), (["glob"], ["a/*"], True, "", ""))

    def test_help_flag_writes_the_usage_on_stdout_and_exits_0(self):
        from v23py.cmd import namespace
        self.assertEqual(self.parse("-help"), (0, namespace.USAGE, ""))

    def test_a_wrong_flag_writes_the_error_and_usage_on_stderr_and_exits_2(self):
        from v23py.cmd import namespace
        code, out, err = self.parse("-nosuchflag", "glob", "x")
        self.assertEqual((code, out), (2, ""))
        self.assertTrue(err.startswith("ERROR: "), err)
        self.assertIn("nosuchflag", err)
        self.assertTrue(err.endswith("\n\n" + namespace.USAGE), err[-200:])

    def test_help_command_answers_without_running(self):
        code, out, err = self.parse("help", "glob")
        self.assertEqual((code, err), (0, ""))
        self.assertIn("Usage:\n   namespace glob [flags] <pattern>", out)
