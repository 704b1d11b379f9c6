"""The client's retry policy (v23py.rpc.retry) against Go v0.2.0's rules, unit by unit.

The end-to-end behaviour (a server that starts late, one that restarts, a name
whose mount moves) is tested with real processes in tests.e2e.test_retry.
"""
from twisted.trial import unittest

from v23py import verror
from v23py.rpc import options, retry
from v23py.naming.mount import NoSuchName


class PolicyTests(unittest.TestCase):
    def test_deadline(self):
        p = retry.ConnectionPolicy.for_call(100.0, None)
        self.assertEqual(p.deadline, 160.0)            # Go's defaultCallTimeout
        p = retry.ConnectionPolicy.for_call(100.0, 105.0)
        self.assertEqual(p.deadline, 105.0)
        p = retry.ConnectionPolicy.for_call(100.0, 105.0, [options.ConnectionTimeout(2)])
        self.assertEqual(p.deadline, 102.0)            # the earliest wins
        p = retry.ConnectionPolicy.for_call(100.0, 101.0, [options.ConnectionTimeout(2)])
        self.assertEqual(p.deadline, 101.0)
        p = retry.ConnectionPolicy.for_call(
            100.0, None, [options.ConnectionTimeout(9), options.ConnectionTimeout(3)])
        self.assertEqual(p.deadline, 103.0)
        p = retry.ConnectionPolicy.for_call(100.0, None, [options.ChannelTimeout(5),
                                                          options.ChannelTimeout(2)])
        self.assertEqual(p.channel_timeout, 2.0)

    def test_connect_retries_per_action(self):
        p = retry.ConnectionPolicy.for_call(0.0, 10.0)
        self.assertTrue(p.retry_connect(verror.RetryRefetch, 1.0))
        self.assertTrue(p.retry_connect(verror.RetryConnection, 1.0))
        self.assertFalse(p.retry_connect(verror.NoRetry, 1.0))
        self.assertFalse(p.retry_connect(verror.RetryBackoff, 1.0))   # only after sending
        self.assertFalse(p.retry_connect(verror.RetryRefetch, 10.5))  # past the deadline

    def test_options_that_stop_retries(self):
        backoff = verror.VError("x", verror.RetryBackoff)
        for opts in ([options.NoRetry()], [options.NoRetry]):
            p = retry.ConnectionPolicy.for_call(0.0, 10.0, opts)
            self.assertFalse(p.retry_connect(verror.RetryRefetch, 1.0), opts)
            self.assertFalse(p.retry_call(backoff, 1.0), opts)
        # cached connections only: no point connecting again (a call may still be redone)
        p = retry.ConnectionPolicy.for_call(0.0, 10.0, [options.ConnectionTimeout(0)])
        self.assertTrue(p.use_only_cached)
        self.assertFalse(p.retry_connect(verror.RetryRefetch, 1.0))
        self.assertTrue(p.retry_call(backoff, 1.0))
        p = retry.ConnectionPolicy.for_call(0.0, 10.0, [options.Preresolved(["/a:1"], "x")])
        self.assertTrue(p.retry_connect(verror.RetryRefetch, 1.0))
        self.assertFalse(p.retry_connect(verror.RetryRefetch, 1.0, require_resolve=True))

    def test_call_retries_only_when_the_error_says_so(self):
        p = retry.ConnectionPolicy.for_call(0.0, 10.0)
        self.assertTrue(p.retry_call(verror.VError("a", verror.RetryBackoff, "busy"), 1.0))
        for code in (verror.NoRetry, verror.RetryConnection, verror.RetryRefetch):
            self.assertFalse(p.retry_call(verror.VError("a", code, "x"), 1.0), code)
        self.assertFalse(p.retry_call(ValueError("not a verror"), 1.0))
        self.assertFalse(p.retry_call(verror.VError("a", verror.RetryBackoff), 11.0))
        # the standard ids a call may fail with: none says "run it again"
        for eid in (verror.NoAccess, verror.NoServers, verror.BadProtocol, verror.Timeout,
                    verror.Canceled, verror.NoExist, verror.Internal):
            self.assertFalse(p.retry_call(eid.new("x"), 1.0), eid)

    def test_backoff(self):
        p = retry.ConnectionPolicy.for_call(0.0, 1000.0)
        self.assertAlmostEqual(p.backoff(0, 0.0, rand=lambda: 0.0), 0.1)
        self.assertAlmostEqual(p.backoff(0, 0.0, rand=lambda: 0.999), 0.1999)
        self.assertAlmostEqual(p.backoff(3, 0.0, rand=lambda: 0.5), 0.15 * 8)
        self.assertEqual(p.backoff(12, 0.0, rand=lambda: 0.0), retry.MAX_BACKOFF)
        self.assertEqual(p.backoff(200, 0.0, rand=lambda: 0.0), retry.MAX_BACKOFF)
        # never past the deadline less the time kept for the last attempt
        self.assertAlmostEqual(p.backoff(12, 999.5, rand=lambda: 0.0), 0.4)
        self.assertIsNone(p.backoff(0, 999.95))
        self.assertIsNone(p.backoff(0, 1001.0))

    def test_backoff_sequence_fits_go(self):
        # (100..200 ms) << n: the waits of a 2 s outage
        p = retry.ConnectionPolicy.for_call(0.0, 60.0)
        waits = [p.backoff(n, 0.0, rand=lambda: 0.5) for n in range(5)]
        self.assertEqual([round(w, 3) for w in waits], [0.15, 0.3, 0.6, 1.2, 2.4])


class FailureTests(unittest.TestCase):
    def test_unreachable_servers_are_worth_another_resolve(self):
        refused = verror.ErrorId("v.io/v23/flow.DialFailed")("dial 127.0.0.1:1 failed: refused")
        err, action = retry.failed_attempt("a/b", "Get", [("/127.0.0.1:1/b", refused)])
        self.assertEqual(err.id, verror.NoServers.id)
        self.assertEqual(err.retry_code, verror.RetryRefetch)
        self.assertEqual(action, verror.RetryRefetch)
        self.assertEqual(err.msg, "no usable servers found for a/b "
                         "[/127.0.0.1:1/b:a/b.Get: dial 127.0.0.1:1 failed: refused]")

    def test_untrusted_server_is_final(self):
        refused = verror.ErrorId("v.io/v23/flow.DialFailed")("refused")
        err, action = retry.failed_attempt(
            "/x:1", "Get", [("/x:1", verror.NotTrusted.new("no")), ("/y:1", refused)])
        self.assertEqual(err.id, verror.NotTrusted.id)
        self.assertEqual(action, verror.NoRetry)
        self.assertIn("[/x:1.Get: no]", err.msg)

    def test_timeouts_and_cancellation(self):
        err, action = retry.failed_attempt("n", "M", [("/x:1", verror.Timeout.new("slow"))])
        self.assertEqual((err.id, action), (verror.Timeout.id, verror.RetryRefetch))
        err, action = retry.failed_attempt("n", "M", [("/x:1", verror.Timeout.new("slow"))],
                                           expired=True)
        self.assertEqual((err.id, action), (verror.Timeout.id, verror.NoRetry))
        err, action = retry.failed_attempt("n", "M", [], cancelled=True)
        self.assertEqual((err.id, action), (verror.Canceled.id, verror.NoRetry))
        err, action = retry.failed_attempt("n", "M", [])
        self.assertEqual(err.id, verror.BadProtocol.id)

    def test_resolution_failures(self):
        # naming's id as our namespace raises it, and with Go's package prefix
        for eid in (NoSuchName.id, "v.io/v23/naming.nameDoesntExist"):
            missing = verror.VError(eid, verror.NoRetry, "name doesn't exist")
            err, action, _ = retry.resolve_failure("a/b", missing)
            self.assertEqual((err.id, action), (verror.NoServers.id, verror.RetryRefetch))
        for e in (verror.NoServers.new("none"), verror.Timeout.new("t")):
            err, action, _ = retry.resolve_failure("a/b", e)
            self.assertIs(err, e)
            self.assertEqual(action, verror.NoRetry)
        err, action, _ = retry.resolve_failure("a/b", verror.NoAccess.new("denied"))
        self.assertEqual((err.id, action), (verror.NoServers.id, verror.NoRetry))

    def test_prefer_non_timeout(self):
        prev = verror.NoServers.new("none")
        self.assertIs(retry.prefer_non_timeout(verror.Timeout.new("t"), prev), prev)
        other = verror.NoAccess.new("x")
        self.assertIs(retry.prefer_non_timeout(other, prev), other)
        t = verror.Timeout.new("t")
        self.assertIs(retry.prefer_non_timeout(t, None), t)
