"""B4: the types a peer defines on a connection are bounded and freed with the connection.

A hostile client *process* defines 10,000 struct types on its type flow to a real server
(in this process, so its memory can be traced); once the connection closes, the server
holds none of them and its traced memory is back within a bound of where it started
(before the fix every type stayed in a global dict: ~28 MB per 50,000).  Separately, a
short stream of types whose unique strings explode (deep named types nested again and
again) is refused instead of taking hundreds of MB.
"""
import gc
import os
import sys
import tracemalloc

from twisted.internet import defer, reactor, task
from twisted.trial import unittest

import v23py
from v23py import security, verror, vdl, vom
from v23py.vdl import _types
from v23py.testing import hostile as H
from v23py.testing.procs import spawn

TYPES = 10000
RETAINED_BOUND = 2 << 20


def _wait(cond, seconds=60.0):
    @defer.inlineCallbacks
    def loop():
        for _ in range(int(seconds / 0.1)):
            gc.collect()
            if cond():
                return True
            yield task.deferLater(reactor, 0.1, lambda: None)
        return False
    return loop()


class PeerTypesTest(unittest.TestCase):
    timeout = 180

    @defer.inlineCallbacks
    def test_types_freed_with_the_connection(self):
        from fortune.ifc import FortuneServer
        from fortune.service import Fortune
        sp, _ = H.principal("server")
        sctx, sstop = H.runtime(sp)
        self.addCleanup(sstop)
        srv = yield v23py.with_new_server(sctx, "", FortuneServer(Fortune()),
                                          security.allow_everyone())
        gc.collect()
        base_types = len(_types._interned)
        tracemalloc.start()
        self.addCleanup(tracemalloc.stop)
        base_mem = tracemalloc.get_traced_memory()[0]
        child, proc = spawn(self, [sys.executable, "-m", "v23py.testing.hostile_types",
                                   str(srv.endpoints[0]), str(TYPES)], "SENT")
        yield child.ready
        got = yield _wait(lambda: len(_types._interned) >= base_types + TYPES)
        self.assertTrue(got, "the server did not decode the types (%d)" % len(_types._interned))
        live = tracemalloc.get_traced_memory()[0] - base_mem
        proc.writeToChild(0, b"quit\n")
        yield child.ended
        freed = yield _wait(lambda: len(_types._interned) <= base_types + 10)
        self.assertTrue(freed, "%d peer types still held after the connection closed"
                        % (len(_types._interned) - base_types))
        retained = tracemalloc.get_traced_memory()[0] - base_mem
        if os.environ.get("V23PY_SEC_REPORT"):
            print("B4: %d peer types: live +%.1f MB, retained after close +%.2f MB"
                  % (TYPES, live / 1e6, retained / 1e6))
        self.assertLess(retained, RETAINED_BOUND,
                        "retained %.1f MB of %.1f MB" % (retained / 1e6, live / 1e6))


class TypeBombTest(unittest.TestCase):
    def test_exploding_unique_strings_are_refused(self):
        # 200 nested named types with long names, then 2,000 types each holding the last:
        # a 255 KB stream whose unique strings would total ~400 MB.
        self.addCleanup(sys.setrecursionlimit, sys.getrecursionlimit())
        sys.setrecursionlimit(max(sys.getrecursionlimit(), 5000))
        te = vom.TypeEncoder()
        prev = vdl.StringType
        for i in range(200):
            prev = vdl.struct(("bomb.D%d" % i).ljust(1000, "x"), [("A", prev)])
        te.encode_type(prev)
        for i in range(2000):
            te.encode_type(vdl.struct("bomb.W%d" % i, [("A", prev)]))
        data = te.take_bytes()
        del te, prev
        gc.collect()
        tracemalloc.start()
        self.addCleanup(tracemalloc.stop)
        td = vom.TypeDecoder()
        with self.assertRaises(verror.VError) as cm:
            td.feed(data)
        self.assertEqual(cm.exception.id, verror.BadProtocol.id)
        self.assertIn("too large", str(cm.exception))
        self.assertLess(tracemalloc.get_traced_memory()[1], 64 << 20)

    def test_too_many_types_on_one_stream(self):
        te = vom.TypeEncoder()
        for i in range(vom.TypeDecoder.MAX_TYPES + 1):
            te.encode_type(vdl.enum_type("many.E%d" % i, ["A"]))
        td = vom.TypeDecoder()
        with self.assertRaises(verror.VError) as cm:
            td.feed(te.take_bytes())
        self.assertIn("too many types", str(cm.exception))
