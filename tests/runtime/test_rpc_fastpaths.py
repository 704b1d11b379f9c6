"""The RPC hot paths: coalesced streamed results, cached headers, synchronous calls."""
from twisted.internet import defer
from twisted.trial import unittest

from v23py import security, vdl, verror
from v23py.rpc import stubs as rt

from v23py.testing.rpc import make_principal, new_runtime

N_ITEMS = 3000
ITEM = "v" * 40

Burst_desc = rt.InterfaceDesc(name="Burst", pkg_path="v23py/tests/burst", doc="", methods=(
    # streams n items, all sent in one reactor turn (as syncbased's Scan sends a batch)
    rt.MethodDesc(name="Many", in_args=(rt.ArgDesc("n", vdl.Int32Type),),
                  out_stream=vdl.StringType, out_args=(rt.ArgDesc("", vdl.Int32Type),)),
    rt.MethodDesc(name="Echo", in_args=(rt.ArgDesc("b", vdl.ByteListType),),
                  out_args=(rt.ArgDesc("", vdl.ByteListType),)),
    rt.MethodDesc(name="Fail", in_args=(rt.ArgDesc("b", vdl.ByteListType),)),
    # the call's span on the server: its trace id, then its parent's (the client's) id
    rt.MethodDesc(name="Span", in_args=(rt.ArgDesc("b", vdl.ByteListType),),
                  out_args=(rt.ArgDesc("", vdl.ByteListType),)),
))


class BurstStub(rt.ServerStub):
    _vdl_describe = (Burst_desc,)


class BurstImpl:
    def Many(self, ctx, call, n):
        for i in range(n):
            call.send("%s%06d" % (ITEM, i))
        return n

    def Echo(self, ctx, call, b):
        return b

    def Fail(self, ctx, call, b):
        raise verror.NoExist.new("nothing here")

    def Span(self, ctx, call, b):
        from v23py import vtrace
        span = vtrace.get_span(ctx)
        return span.trace + span.parent


def _record_first_args(obj, method, i):
    """Wrap ``obj.method`` so that each call appends its positional argument ``i`` to
    the list returned (then calls it as before)."""
    seen = []
    orig = getattr(obj, method)

    def recording(*a, **kw):
        seen.append(a[i])
        return orig(*a, **kw)
    setattr(obj, method, recording)
    return seen


class FastPathTest(unittest.TestCase):
    timeout = 60

    @defer.inlineCallbacks
    def setUp(self):
        import v23py
        self.p, _ = make_principal("alice")
        self.ctx, shutdown = new_runtime(self.p)
        self.addCleanup(shutdown)
        self.server = yield v23py.with_new_server(self.ctx, "", BurstStub(BurstImpl()),
                                                  security.allow_everyone())
        self.name = "/" + str(self.server.endpoints[0])

    def _server_conn(self):
        conns = list(self.server.flow_manager.conns)
        self.assertEqual(len(conns), 1)
        return conns[0]._conn

    @defer.inlineCallbacks
    def test_streamed_items_of_one_turn_are_coalesced(self):
        from v23py import rpc
        desc = Burst_desc.method("Many")
        # connect first, so that only the stream's messages are counted
        call = yield rpc.start_call(self.ctx, self.name, "Many", [1], [vdl.Int32Type],
                                    [vdl.Int32Type], desc=desc)
        self.assertEqual((yield call.recv()), ITEM + "000000")
        self.assertEqual((yield call.finish()), [1])
        conn = self._server_conn()
        sealed0 = conn.cipher._seal_counter
        call = yield rpc.start_call(self.ctx, self.name, "Many", [N_ITEMS], [vdl.Int32Type],
                                    [vdl.Int32Type], desc=desc)
        got = []
        while True:
            try:
                got.append((yield call.recv()))
            except verror.VError as e:
                self.assertEqual(e.id, verror.EOF.id)
                break
        self.assertEqual((yield call.finish()), [N_ITEMS])
        self.assertEqual(got, ["%s%06d" % (ITEM, i) for i in range(N_ITEMS)])
        # ~150 KB of items: a handful of MTU-sized Data messages (plus a Release or two and the
        # final response), not one message per item; the peer's 1 MiB window is never exceeded
        sent = conn.cipher._seal_counter - sealed0
        self.assertLess(sent, 20)

    @defer.inlineCallbacks
    def test_recv_buffered_takes_what_is_here_and_leaves_the_end_to_recv(self):
        from v23py import rpc
        desc = Burst_desc.method("Many")
        call = yield rpc.start_call(self.ctx, self.name, "Many", [N_ITEMS], [vdl.Int32Type],
                                    [vdl.Int32Type], desc=desc)
        got, drains = [], []
        while True:
            try:
                got.append((yield call.recv()))
            except verror.VError as e:
                self.assertEqual(e.id, verror.EOF.id)
                break
            more = call.recv_buffered(7 if len(drains) < 2 else N_ITEMS)
            drains.append(len(more))
            got += more
        self.assertEqual(call.recv_buffered(10), [])      # (after the end: nothing)
        self.assertEqual((yield call.finish()), [N_ITEMS])
        self.assertEqual(got, ["%s%06d" % (ITEM, i) for i in range(N_ITEMS)])
        self.assertEqual(drains[:2], [7, 7])    # the limit holds
        self.assertLess(len(drains), N_ITEMS // 10)    # most items came in batches

    @defer.inlineCallbacks
    def test_repeated_unary_calls_and_errors_between_them(self):
        from v23py import rpc
        echo = Burst_desc.method("Echo")
        for i in range(300):
            payload = bytes([i % 256]) * (i % 7)
            r = yield rpc.client_call(self.ctx, self.name, "Echo", [payload],
                                      [vdl.ByteListType], [vdl.ByteListType], desc=echo)
            self.assertEqual(r, [payload])
            if i % 50 == 0:
                e = yield self.assertFailure(
                    rpc.client_call(self.ctx, self.name, "Fail", [b"x"], [vdl.ByteListType], [],
                                    desc=Burst_desc.method("Fail")), verror.VError)
                self.assertEqual(e.id, verror.NoExist.id)
        # the client's flow ids now take several bytes on the wire (the decoders' fast paths)
        from v23py import runtime
        client = runtime.get_runtime(self.ctx).client
        conns = {c for c in client._conn_cache.values()}
        self.assertEqual(len(conns), 1)
        self.assertGreater(conns.pop()._conn.next_fid, 0x7F * 4)
        self.assertEqual(len(self._server_conn().flows), 1)   # (the type flow)

    @defer.inlineCallbacks
    def test_deadline_requests_are_not_cached(self):
        from v23py import rpc
        echo = Burst_desc.method("Echo")
        for _ in range(20):
            ctx, cancel = self.ctx.with_timeout(30.0)
            r = yield rpc.client_call(ctx, self.name, "Echo", [b"ab"], [vdl.ByteListType],
                                      [vdl.ByteListType], desc=echo)
            cancel()
            self.assertEqual(r, [b"ab"])
        from v23py.runtime import _stream
        types = list(self.server._types.values())[0]
        for raw, req in types.hdr_cache.get(_stream._REQUEST_KEY, []):
            self.assertEqual(req.Deadline.FromNow.Seconds, 0)
            self.assertEqual(req.Deadline.FromNow.Nanos, 0)

    @defer.inlineCallbacks
    def connected_echo(self):
        """(the runtime's client, Burst's Echo method) once one call has connected."""
        from v23py import rpc, runtime
        echo = Burst_desc.method("Echo")
        yield rpc.client_call(self.ctx, self.name, "Echo", [b"a"], [vdl.ByteListType],
                              [vdl.ByteListType], desc=echo)
        return runtime.get_runtime(self.ctx).client, echo

    @defer.inlineCallbacks
    def test_unary_calls_finish_from_the_readers_wake_up(self):
        # a warm unary call's response is read where the reader is woken, not by call()'s
        # coroutine; errors, partial responses and retries still go that way
        from v23py import rpc
        client, echo = yield self.connected_echo()
        completes = _record_first_args(client, "_complete", 0)
        for i in range(20):
            r = yield rpc.client_call(self.ctx, self.name, "Echo", [b"b" * i],
                                      [vdl.ByteListType], [vdl.ByteListType], desc=echo)
            self.assertEqual(r, [b"b" * i])
        self.assertEqual(completes, [])
        self.assertEqual(client.outstanding, {})
        # an error response: read again through _finish (the same error as before)
        e = yield self.assertFailure(
            rpc.client_call(self.ctx, self.name, "Fail", [b"x"], [vdl.ByteListType], [],
                            desc=Burst_desc.method("Fail")), verror.VError)
        self.assertEqual(e.id, verror.NoExist.id)
        self.assertEqual(len(completes), 1)
        # a response of many reads: the first wake-up finds part of it
        big = bytes(range(256)) * 1200
        r = yield rpc.client_call(self.ctx, self.name, "Echo", [big], [vdl.ByteListType],
                                  [vdl.ByteListType], desc=echo)
        self.assertEqual(r, [big])
        self.assertEqual(client.outstanding, {})
        self.assertEqual(len(self._server_conn().flows), 1)   # (the type flow)

    @defer.inlineCallbacks
    def test_new_names_of_a_connected_server_take_the_fast_path(self):
        # a call to a name not called before (a new row's, say) of a server already
        # connected and trusted goes out at once, as a repeated call does: no start_call
        # (its coroutine, resolve, dial), the suffix as start_call would make it
        import v23py
        from v23py import rpc, runtime
        looked_up = []

        class AnySuffix:
            def lookup(self, ctx, suffix):
                looked_up.append(suffix)
                return BurstStub(BurstImpl()), security.allow_everyone()
        server = yield v23py.with_new_dispatching_server(self.ctx, "", AnySuffix())
        self.addCleanup(server.stop)
        name = "/" + str(server.endpoints[0])
        client, echo = runtime.get_runtime(self.ctx).client, Burst_desc.method("Echo")
        yield rpc.client_call(self.ctx, name + "/first", "Echo", [b"a"], [vdl.ByteListType],
                              [vdl.ByteListType], desc=echo)
        starts = _record_first_args(client, "start_call", 1)
        for i in range(5):
            r = yield rpc.client_call(self.ctx, f"{name}/row{i}/x%2Fy", "Echo", [b"%d" % i],
                                      [vdl.ByteListType], [vdl.ByteListType], desc=echo)
            self.assertEqual(r, [b"%d" % i])
        self.assertEqual(starts, [])
        self.assertEqual(looked_up, ["first"] + [f"row{i}/x%2Fy" for i in range(5)])
        self.assertEqual(client.outstanding, {})
        # a name of a server not connected yet still connects through start_call
        other = yield v23py.with_new_dispatching_server(self.ctx, "", AnySuffix())
        self.addCleanup(other.stop)
        r = yield rpc.client_call(self.ctx, "/" + str(other.endpoints[0]) + "/z", "Echo",
                                  [b"z"], [vdl.ByteListType], [vdl.ByteListType], desc=echo)
        self.assertEqual(r, [b"z"])
        self.assertEqual(starts, ["/" + str(other.endpoints[0]) + "/z"])

    def test_a_new_suffix_is_put_into_a_request_of_the_same_bytes(self):
        # a call's Request for a suffix not sent before is made from the message of the
        # same method without a suffix: the bytes the encoder makes, whatever the suffix
        # (the lengths around 0x80 take another byte), method and number of args
        from v23py import vom
        from v23py.rpc import wire
        from v23py.runtime import _client_call
        from v23py.runtime._stream import ConnTypes, ValueWriter
        types = ConnTypes()
        w = ValueWriter(types, True)
        encoded = vom.COUNTS.values_encoded
        suffixes = ["a", "db/cx/k%2Fy", "\u00e9t\u00e9/\U0001f600", "bad\udcff", "x" * 110,
                    "x" * 126, "x" * 127, "x" * 128, "y" * 300, "z" * 20000]
        for method, nargs in (("Put", 2), ("Get", 1), ("__Glob", 1), ("M", 0), ("N", 300)):
            for suffix in suffixes:
                got = _client_call._new_request(w, ("req", suffix, method, nargs))
                want = vom.encode_value_message(types.enc, wire.RequestType,
                                                wire.request(suffix, method, nargs))
                self.assertEqual(got, bytes(want), (method, suffix[:20]))
            self.assertTrue(types.msg_cache[("req-template", method, nargs)])
        self.assertEqual(types.msg_cache[("req", "a", "Put", 2)],
                         _client_call._new_request(w, ("req", "a", "Put", 2)))
        # (each counted as a value encoded, as encode_cached counts them; the checks'
        # own encodings are not)
        self.assertEqual(vom.COUNTS.values_encoded - encoded, 5 * len(suffixes) + 1)

    @defer.inlineCallbacks
    def test_call_deferred_first_fires_with_the_one_result(self):
        # (a generated stub's call of a method with one result: no list, no callback to
        # unwrap it) on the wake-up's path, on call()'s path (a response of many reads),
        # and not unless asked; the first call (not connected yet) goes through start_call
        from v23py import runtime
        client, echo = runtime.get_runtime(self.ctx).client, Burst_desc.method("Echo")
        r = yield client.call_deferred(self.ctx, self.name, "Echo", [b"a"], [vdl.ByteListType],
                                       [vdl.ByteListType], desc=echo, first=True)
        self.assertEqual(r, b"a")
        big = bytes(range(256)) * 1200
        for payload in (b"e", big):
            r = yield client.call_deferred(self.ctx, self.name, "Echo", [payload],
                                           [vdl.ByteListType], [vdl.ByteListType], desc=echo,
                                           first=True)
            self.assertEqual(r, payload)
            r = yield client.call_deferred(self.ctx, self.name, "Echo", [payload],
                                           [vdl.ByteListType], [vdl.ByteListType], desc=echo)
            self.assertEqual(r, [payload])
        e = yield self.assertFailure(
            client.call_deferred(self.ctx, self.name, "Fail", [b"x"], [vdl.ByteListType], [],
                                 desc=Burst_desc.method("Fail"), first=True), verror.VError)
        self.assertEqual(e.id, verror.NoExist.id)
        self.assertEqual(client.outstanding, {})

    @defer.inlineCallbacks
    def test_repeated_calls_continue_the_callers_trace(self):
        # the request headers of repeated calls differ only in their trace ids: the
        # server reads those from the bytes (the header cache) into each call's span
        from v23py import runtime, vtrace
        client, desc = runtime.get_runtime(self.ctx).client, Burst_desc.method("Span")
        spans = []
        orig = vtrace.client_span

        def recording(*a):
            spans.append(orig(*a))
            return spans[-1]
        self.patch(vtrace, "client_span", recording)
        ctx, _ = vtrace.with_new_trace(self.ctx, "caller")
        for i in range(6):
            ctx2 = ctx if i < 3 else vtrace.with_new_trace(self.ctx, "another")[0]
            r = yield client.call_deferred(ctx2, self.name, "Span", [b""], [vdl.ByteListType],
                                           [vdl.ByteListType], desc=desc, first=True)
            self.assertEqual(r, vtrace.get_span(ctx2).trace + spans[-1].id)
        self.assertEqual(len({s.id for s in spans}), 6)

    @defer.inlineCallbacks
    def test_cancelling_a_unary_call(self):
        from v23py import rpc
        client, echo = yield self.connected_echo()
        d = rpc.client_call(self.ctx, self.name, "Echo", [b"c"], [vdl.ByteListType],
                            [vdl.ByteListType], desc=echo)
        self.assertEqual(len(client.outstanding), 1)
        d.cancel()
        yield self.assertFailure(d, defer.CancelledError)
        self.assertEqual(client.outstanding, {})
        r = yield rpc.client_call(self.ctx, self.name, "Echo", [b"d"], [vdl.ByteListType],
                                  [vdl.ByteListType], desc=echo)
        self.assertEqual(r, [b"d"])

    @defer.inlineCallbacks
    def test_finished_calls_are_freed_without_the_cyclic_gc(self):
        # a finished call's objects (both sides' Flows and flow states, the client's call,
        # the server's flow router and readers) form no reference cycle: refcounting frees
        # them at once, and the cyclic GC has nothing of theirs to find
        import gc
        from v23py import rpc
        from v23py.runtime import _accepted_flows, _client_call, _conns
        echo = Burst_desc.method("Echo")
        kinds = (_conns.Flow, _client_call.ClientCall, _accepted_flows._FlowRole)

        def live():
            return sum(1 for o in gc.get_objects() if type(o) in kinds)
        for _ in range(3):
            yield rpc.client_call(self.ctx, self.name, "Echo", [b"a"], [vdl.ByteListType],
                                  [vdl.ByteListType], desc=echo)
        gc.collect()
        gc.disable()
        self.addCleanup(gc.enable)
        before = live()
        for i in range(30):
            r = yield rpc.client_call(self.ctx, self.name, "Echo", [b"b"], [vdl.ByteListType],
                                      [vdl.ByteListType], desc=echo)
            self.assertEqual(r, [b"b"])
        self.assertLessEqual(live(), before)
