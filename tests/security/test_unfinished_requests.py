"""B5: flows whose request never finishes are bounded per connection and time out.

A hostile client opens thousands of flows on one connection to a real fortune-server
process and never finishes their requests (nothing at all, only the role byte, half a
header, or a header whose argument never comes).  The server answers the flows beyond its
per-connection limit at once with an error, keeps its memory within a bound, still serves
honest callers, and drops idle unfinished requests after its timeout.
"""
import os
import sys

from twisted.internet import defer, reactor, task
from twisted.trial import unittest

import v23py
from v23py import naming, security, verror
from v23py.runtime import _pending
from v23py.testing import hostile as H, tempdir
from v23py.testing.procs import make_creds, spawn

FLOWS = 20000
# The server holds at most MAX_INCOMPLETE_REQUESTS of them (a few KB each) and answers the
# rest at once.  Without the limit these 20,000 cost ~150 MB (57,000 took a server from
# 101 to 578 MB); the bound leaves room for the allocator's slack after the bursts.
RSS_BOUND = 48 << 20


class UnfinishedRequestsProcessTest(unittest.TestCase):
    timeout = 120

    @defer.inlineCallbacks
    def setUp(self):
        self.dir = tempdir(self, prefix="sec-b5-")
        creds = os.path.join(self.dir, "server")
        self.server_p = make_creds(creds, "server")
        epfile = os.path.join(self.dir, "ep")
        self.server, self.proc = spawn(self, [sys.executable, "-m", "fortune.server",
                                              "--v23.credentials", creds,
                                              "--endpoint-file-name", epfile,
                                              "--v23.tcp.address", "127.0.0.1:0"],
                                       "Listening at:")
        yield self.server.ready
        with open(epfile) as f:
            self.name = f.read().strip()
        self.ep = naming.parse_endpoint(self.name.lstrip("/"))
        self.attacker, _ = H.principal("attacker")

    @defer.inlineCallbacks
    def settle(self, seconds=0.5):
        yield task.deferLater(reactor, seconds, lambda: None)

    @defer.inlineCallbacks
    def honest_get(self):
        from fortune.ifc import FortuneClient
        sp = self.server_p
        p, _ = H.blessed(sp, sp.blessing_store.default(), "friend")
        ctx, stop = H.runtime(p)
        self.addCleanup(stop)
        got = yield FortuneClient(self.name).Get(ctx)
        self.assertTrue(got)

    @defer.inlineCallbacks
    def test_flood_of_unfinished_requests_is_bounded(self):
        yield self.honest_get()   # (warm: the server's code paths are loaded)
        yield self.settle()
        before = H.rss_bytes(self.proc.pid)
        ctx, stop = H.runtime(self.attacker)
        self.addCleanup(stop)
        conns = []
        limit = _pending.MAX_INCOMPLETE_REQUESTS
        for i in range(8):   # in bursts, each answered before the next
            how = ("args", "header", "role", "open")[i % 4]
            conn, types, ans = yield H.open_unfinished(ctx, self.ep, FLOWS // 8, how)
            conns.append((conn, types, ans))
            refusals = FLOWS // 8 - max(0, limit - i * (FLOWS // 8))
            for _ in range(600):
                if ans.closed >= refusals:
                    break
                yield self.settle(0.05)
        yield self.settle(1.0)
        grown = H.rss_bytes(self.proc.pid) - before
        # the conn is reused: all 5,000 flows are on one connection
        self.assertEqual(len({id(c) for c, _, _ in conns}), 1)
        conn, types = conns[0][0], conns[0][1]
        refused = []
        for _, _, ans in conns:
            refused += [r for r in ans.responses(types) if r.Error is not None]
        self.assertGreaterEqual(len(refused), FLOWS - _pending.MAX_INCOMPLETE_REQUESTS)
        for r in refused:
            self.assertEqual(r.Error.id, verror.Aborted.id)
            self.assertIn("too many requests", str(r.Error))
        self.assertLess(grown, RSS_BOUND, "server grew by %.1f MB" % (grown / 1e6))
        # honest callers are still served meanwhile
        yield self.honest_get()


@defer.inlineCallbacks
def _fortune_and_attacker(case):
    """(an in-process fortune server open to everyone, an attacker's context), both
    stopped at the case's cleanup."""
    from fortune.ifc import FortuneServer
    from fortune.service import Fortune
    sctx, sstop = H.runtime(H.principal("server")[0])
    case.addCleanup(sstop)
    srv = yield v23py.with_new_server(sctx, "", FortuneServer(Fortune()),
                                      security.allow_everyone())
    ctx, stop = H.runtime(H.principal("attacker")[0])
    case.addCleanup(stop)
    return srv, ctx


class UnfinishedRequestsTimeoutTest(unittest.TestCase):
    """The idle timeout, on an in-process server with a short one."""
    timeout = 60

    @defer.inlineCallbacks
    def test_idle_unfinished_requests_are_dropped(self):
        srv, ctx = yield _fortune_and_attacker(self)
        srv.pending.idle_timeout = 0.3
        answers = []
        for how in ("args", "header", "role", "open"):
            conn, types, ans = yield H.open_unfinished(ctx, srv.endpoints[0], 5, how)
            answers.append((how, types, ans))
        yield task.deferLater(reactor, 0.1, lambda: None)
        self.assertEqual(len(srv.pending.flows), 20)
        for _ in range(40):
            yield task.deferLater(reactor, 0.1, lambda: None)
            if not srv.pending.flows and all(a.closed == 5 for _, _, a in answers):
                break
        self.assertEqual(srv.pending.flows, {})
        self.assertEqual(srv.pending.per_conn, {})
        for how, types, ans in answers:
            self.assertEqual(ans.closed, 5, how)
            if how in ("args", "header"):
                # a call had started: it answers with the reason
                resps = ans.responses(types)
                self.assertEqual(len(resps), 5, how)
                for r in resps:
                    self.assertIn("did not arrive", str(r.Error))


class RefusedFlowsLeaveNothingTest(unittest.TestCase):
    """Per refused flow the conn once kept its release counter until the peer's data
    triggered a Release (Go does too): a peer opening and abandoning flows endlessly grew
    that list without bound.  It is sent once it fills a Release message."""
    timeout = 120

    @defer.inlineCallbacks
    def test_release_counters_of_closed_flows_are_bounded(self):
        srv, ctx = yield _fortune_and_attacker(self)
        srv.pending.limit = 16
        total = 0
        for i in range(4):
            conn, types, ans = yield H.open_unfinished(ctx, srv.endpoints[0], 2000, "args")
            if i == 0:
                (mc,) = srv.flow_manager.conns
                c = mc._conn
                c.release_limit = 500   # (a 64 KB MTU fits ~7,000 counters in a Release)
            total += 2000
            for _ in range(200):
                if ans.closed >= 2000 - 16:
                    break
                yield task.deferLater(reactor, 0.05, lambda: None)
        self.assertGreater(total, 10 * c.release_limit)
        self.assertLess(len(c.to_release_closed), c.release_limit)
        self.assertLessEqual(len(c.flows), 16 + 2)   # the admitted ones (and the type flow)
