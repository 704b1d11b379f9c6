"""The client's retries at the end of a call's connection deadline: an attempt that the
deadline cut short (a Timeout) is not what the caller hears when an earlier attempt said
why it failed (Go's preferNonTimeout, applied wherever the retries end)."""
from twisted.internet import defer
from twisted.trial import unittest

from v23py import verror
from v23py.runtime import client as clientmod


class _Ctx:
    """What start_call reads of a context: a clock and a deadline."""

    def __init__(self, now, deadline):
        self.t = now
        self._deadline = deadline

    def now(self):
        return self.t

    def deadline(self):
        return self._deadline

    def cancelled(self):
        return False

    def err(self):
        return None


class RetryDeadlineTest(unittest.TestCase):
    def client(self, ctx, attempts):
        c = clientmod.Client.__new__(clientmod.Client)
        c._closed = False

        async def try_connect(ctx_, name, method, pattern, opts):
            err, action, advance = attempts.pop(0)
            ctx.t += advance
            raise clientmod._AttemptFailed(err, action)

        def sleep(ctx_, seconds):
            ctx.t += seconds
            return defer.succeed(None)
        c._try_connect = try_connect
        c._sleep = sleep
        return c

    def test_a_last_attempt_cut_short_reports_the_one_before(self):
        # the first attempt finds no server; the wait leaves the next one 0.1 s, which
        # it spends and times out just short of the deadline: nothing is left to wait
        ctx = _Ctx(1000.0, 1000.15)
        refused = verror.NoServers.new("no usable servers found: dial refused")
        c = self.client(ctx, [(refused, verror.RetryRefetch, 0.0),
                              (verror.Timeout.new("timeout"), verror.RetryRefetch, 0.095)])
        d = defer.ensureDeferred(c.start_call(ctx, "/127.0.0.1:1", "__Glob", ["*"]))
        self.assertIs(self.failureResultOf(d, verror.VError).value, refused)

    def test_a_wait_ended_by_the_deadline_reports_the_attempt_before(self):
        ctx = _Ctx(1000.0, 1001.0)
        refused = verror.NoServers.new("no usable servers found: dial refused")
        c = self.client(ctx, [(refused, verror.RetryRefetch, 0.0)])

        def sleep(ctx_, seconds):
            return defer.fail(verror.Timeout.new("timeout"))
        c._sleep = sleep
        d = defer.ensureDeferred(c.start_call(ctx, "/127.0.0.1:1", "__Glob", ["*"]))
        self.assertIs(self.failureResultOf(d, verror.VError).value, refused)
