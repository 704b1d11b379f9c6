"""RPC end to end over real loopback connections (encrypted, authenticated flows)."""
import json

from twisted.internet import defer, reactor, task
from twisted.trial import unittest

from v23py import security, vdl, verror
from v23py.rpc import stubs as rt
from v23py.testing import shared_path

from fortune.ifc import FortuneClient, FortuneServer
from v23py.testing.rpc import (
    FortuneImpl, SvcImpl, SvcStub, Svc_desc, TreeDispatcher, make_principal, new_runtime)














class AliceTest(unittest.TestCase):
    """Alice's runtime: ``self.p``, ``self.b`` (her blessings) and ``self.ctx``."""
    timeout = 30

    def setUp(self):
        self.p, self.b = make_principal("alice")
        self.ctx, shutdown = new_runtime(self.p)
        self.addCleanup(shutdown)

    @defer.inlineCallbacks
    def serve(self, obj, authorizer, dispatching=False):
        """A server of ``obj`` (a dispatcher when ``dispatching``) in Alice's runtime:
        (server, its name)."""
        import v23py
        server = yield (v23py.with_new_dispatching_server(self.ctx, "", obj) if dispatching
                        else v23py.with_new_server(self.ctx, "", obj, authorizer))
        return server, "/" + str(server.endpoints[0])


class RPCTest(AliceTest):

    @defer.inlineCallbacks
    def setUp(self):
        super().setUp()
        self.impl = FortuneImpl()
        self.server, self.name = yield self.serve(FortuneServer(self.impl), None)
        self.svc = SvcImpl()
        self.server2, self.name2 = yield self.serve(SvcStub(self.svc), security.allow_everyone())

    def call(self, name, method, args, in_types, out_types, desc=None, opts=(), ctx=None):
        from v23py import rpc
        return rpc.client_call(ctx or self.ctx, name, method, args, in_types, out_types,
                               desc=desc, opts=opts)

    @defer.inlineCallbacks
    def test_fortune_get_add_with_stub(self):
        stub = FortuneClient(self.name)
        self.assertEqual((yield stub.Get(self.ctx)), "first")
        self.assertIsNone((yield stub.Add(self.ctx, "More cowbell.")))
        self.assertEqual((yield stub.Get(self.ctx)), "More cowbell.")

    def test_endpoint_carries_blessing_names(self):
        ep = self.server.endpoints[0]
        self.assertIn("@s@alice@@", str(ep))

    @defer.inlineCallbacks
    def test_signature_matches_golden(self):
        from v23py import rpc
        sig = yield rpc.reserved_signature(self.ctx, self.name)
        golden = json.load(open(shared_path("testdata", "vdl", "signatures.json")))
        want = golden["fortune"]["signature"] + [golden["reserved_interface"]["interface"]]
        self.assertEqual(len(sig), len(want))
        for got, w in zip(sig, want):
            self.assertEqual((got.Name, got.PkgPath, got.Doc), (w["name"], w["pkg_path"], w["doc"]))
            self.assertEqual([m.Name for m in got.Methods], [m["name"] for m in w["methods"]])
            for gm, wm in zip(got.Methods, w["methods"]):
                self.assertEqual(gm.Doc, wm["doc"])
                self.assertEqual([(a.Name, a.Doc, _tstr(a.Type)) for a in gm.InArgs],
                                 [(a["name"], a["doc"], a["type"]) for a in wm["in_args"]])
                self.assertEqual([(a.Name, a.Doc, _tstr(a.Type)) for a in gm.OutArgs],
                                 [(a["name"], a["doc"], a["type"]) for a in wm["out_args"]])
                for gs, ws in ((gm.InStream, wm["in_stream"]), (gm.OutStream, wm["out_stream"])):
                    if ws is None:
                        self.assertIsNone(gs)
                    else:
                        self.assertEqual((gs.Name, gs.Doc, _tstr(gs.Type)),
                                         (ws["name"], ws["doc"], ws["type"]))
                self.assertEqual(list(gm.Tags), [])

    @defer.inlineCallbacks
    def test_method_signature(self):
        from v23py import rpc
        m = yield rpc.reserved_method_signature(self.ctx, self.name, "Add")
        self.assertEqual(m.Name, "Add")
        self.assertEqual([a.Name for a in m.InArgs], ["wisdom"])
        m = yield rpc.reserved_method_signature(self.ctx, self.name, "__Glob")
        self.assertEqual(m.Name, "Glob")
        e = yield self.assertFailure(rpc.reserved_method_signature(self.ctx, self.name, "Nope"),
                                     verror.VError)
        self.assertEqual(e.id, verror.UnknownMethod.id)

    @defer.inlineCallbacks
    def test_errors_carry_go_ids(self):
        e = yield self.assertFailure(self.call(self.name, "Nope", [], [], []), verror.VError)
        self.assertEqual(e.id, "v.io/v23/verror.UnknownMethod")
        e = yield self.assertFailure(self.call(self.name + "/child", "Get", [], [], []),
                                     verror.VError)
        self.assertEqual(e.id, "v.io/v23/verror.UnknownSuffix")
        e = yield self.assertFailure(self.call(self.name, "Add", [], [], []), verror.VError)
        self.assertEqual(e.id, "v.io/x/ref/runtime/internal/rpc.badNumInputArgs")
        e = yield self.assertFailure(self.call(self.name2, "Fail", [False], [vdl.BoolType], []),
                                     verror.VError)
        self.assertEqual(e.id, "v.io/v23/verror.NoExist")
        self.assertIn("no such thing", e.msg)
        e = yield self.assertFailure(self.call(self.name2, "Fail", [True], [vdl.BoolType], []),
                                     verror.VError)
        self.assertEqual(e.id, "v.io/v23/verror.Unknown")
        self.assertIn("plain failure", e.msg)
        # the connection is still fine afterwards
        r = yield self.call(self.name2, "Echo", ["x"], [vdl.StringType], [vdl.StringType])
        self.assertEqual(r, ["x"])

    @defer.inlineCallbacks
    def test_several_results(self):
        r = yield self.call(self.name2, "Pair", [5, 3], [vdl.Int32Type] * 2, [vdl.Int32Type] * 2)
        self.assertEqual(r, [8, 2])

    @defer.inlineCallbacks
    def test_concurrent_calls_share_one_connection(self):
        ds = [self.call(self.name2, "Echo", [str(i)], [vdl.StringType], [vdl.StringType])
              for i in range(50)]
        rs = yield defer.gatherResults(ds)
        self.assertEqual([r[0] for r in rs], [str(i) for i in range(50)])

    @defer.inlineCallbacks
    def test_large_args(self):
        big = "x" * (3 << 20)   # more than the 1 MiB per-flow buffer
        r = yield self.call(self.name2, "Echo", [big], [vdl.StringType], [vdl.StringType])
        self.assertEqual(len(r[0]), len(big))

    @defer.inlineCallbacks
    def test_streaming(self):
        from v23py import rpc
        desc = Svc_desc.method("Sum")
        call = yield rpc.start_call(self.ctx, self.name2, "Sum", [], [], [vdl.Int64Type],
                                    desc=desc)
        seen = []
        for i in range(1, 6):
            call.send(i)
            seen.append((yield call.recv()))
        call.close_send()
        e = yield self.assertFailure(call.recv(), verror.VError)
        self.assertEqual(e.id, verror.EOF.id)
        r = yield call.finish()
        self.assertEqual(seen, [1, 3, 6, 10, 15])
        self.assertEqual(r, [15])

    @defer.inlineCallbacks
    def test_deadline_travels(self):
        ctx, cancel = self.ctx.with_timeout(20.0)
        self.addCleanup(cancel)
        r = yield self.call(self.name2, "Deadline", [], [], [vdl.Float64Type], ctx=ctx)
        self.assertTrue(10.0 < r[0] <= 20.0, r)
        r = yield self.call(self.name2, "Deadline", [], [], [vdl.Float64Type])
        self.assertEqual(r, [-1.0])

    @defer.inlineCallbacks
    def test_client_timeout_cancels_server(self):
        # connect first: a deadline that ends while connecting ends the call before it is
        # sent (as in Go), and the server never hears of it
        yield self.call(self.name2, "Echo", ["x"], [vdl.StringType], [vdl.StringType])
        ctx, cancel = self.ctx.with_timeout(0.3)
        self.addCleanup(cancel)
        e = yield self.assertFailure(
            self.call(self.name2, "Sleep", [30.0], [vdl.Float64Type], [vdl.BoolType], ctx=ctx),
            verror.VError)
        self.assertEqual(e.id, verror.Timeout.id)
        err = yield self.svc.cancelled
        self.assertIsNotNone(err)

    @defer.inlineCallbacks
    def test_cancel(self):
        yield self.call(self.name2, "Echo", ["x"], [vdl.StringType], [vdl.StringType])
        ctx, cancel = self.ctx.with_cancel()
        d = self.call(self.name2, "Sleep", [30.0], [vdl.Float64Type], [vdl.BoolType], ctx=ctx)
        reactor.callLater(0.1, cancel)
        e = yield self.assertFailure(d, verror.VError)
        self.assertEqual(e.id, verror.Canceled.id)
        yield self.svc.cancelled

    @defer.inlineCallbacks
    def test_glob_leaf(self):
        from v23py import rpc
        from v23py.rpc import wire
        call = yield rpc.start_call(self.ctx, self.name, "__Glob", [""], [vdl.StringType], [],
                                    desc=rt.MethodDesc(name="__Glob", in_stream=vdl.AnyType,
                                                       out_stream=wire.GlobReplyType))
        item = yield call.recv()
        self.assertEqual(item.name, "Entry")
        self.assertTrue(item.value.IsLeaf)
        yield call.finish()

    @defer.inlineCallbacks
    def test_default_authorizer_denies_strangers(self):
        # bob trusts alice's root, so he talks to her server, but alice's default
        # authorizer refuses him: NoAccess with Go's id.
        pb, bb = make_principal("bob")
        pb.add_to_roots(self.b)
        ctx, shutdown = new_runtime(pb)
        self.addCleanup(shutdown)
        e = yield self.assertFailure(FortuneClient(self.name).Get(ctx), verror.VError)
        self.assertEqual(e.id, "v.io/v23/verror.NoAccess")
        self.assertIn("not authorized to call .Get", e.msg)
        # reserved methods stay open to everyone
        from v23py import rpc
        sig = yield rpc.reserved_signature(ctx, self.name)
        self.assertEqual(sig[0].Name, "Fortune")

    @defer.inlineCallbacks
    def test_blessed_client_is_allowed(self):
        pb, _ = make_principal("ignored")
        b = self.p.bless(pb.public_key, self.b, "friend", security.unconstrained_use())
        pb.blessing_store.set_default(b)
        pb.blessing_store.set(b, "...")
        pb.add_to_roots(b)
        ctx, shutdown = new_runtime(pb)
        self.addCleanup(shutdown)
        self.assertEqual((yield FortuneClient(self.name).Get(ctx)), "first")

    @defer.inlineCallbacks
    def test_client_does_not_trust_unknown_server(self):
        pc, _ = make_principal("carol")   # does not recognize alice's root
        ctx, shutdown = new_runtime(pc)
        self.addCleanup(shutdown)
        e = yield self.assertFailure(FortuneClient(self.name).Get(ctx), verror.VError)
        self.assertEqual(e.id, "v.io/v23/verror.NotTrusted")
        # -insecure style options skip the check
        from v23py import rpc
        sig = yield rpc.reserved_signature(ctx, self.name, opts=rpc.options.insecure())
        self.assertEqual(sig[0].Name, "Fortune")

    @defer.inlineCallbacks
    def test_pattern_in_name(self):
        addr = self.name[1:]
        stub = FortuneClient("/" + addr + "/__(alice)")
        self.assertEqual((yield stub.Get(self.ctx)), "first")
        e = yield self.assertFailure(
            FortuneClient("/" + addr + "/__(somebody)").Get(self.ctx), verror.VError)
        self.assertEqual(e.id, "v.io/v23/verror.NotTrusted")

    @defer.inlineCallbacks
    def test_no_server(self):
        ctx, cancel = self.ctx.with_timeout(5.0)
        self.addCleanup(cancel)
        e = yield self.assertFailure(
            FortuneClient("/@6@tcp@127.0.0.1:1@@00000000000000000000000000000001@s@x@@").Get(ctx),
            verror.VError)
        self.assertEqual(e.id, verror.NoServers.id)   # refused at once, long before 5 s


def _tstr(t):
    from v23py.rpc.signature import type_string
    return type_string(t).replace('"', "")


class FaultTest(AliceTest):
    """Bad input on flows and peers that vanish: verrors, no hangs, the server lives on."""

    @defer.inlineCallbacks
    def setUp(self):
        super().setUp()
        self.svc = SvcImpl()
        self.server, self.name = yield self.serve(SvcStub(self.svc), security.allow_everyone())
        self.ep = self.server.endpoints[0]

    @defer.inlineCallbacks
    def raw_flow(self):
        from v23py import runtime
        client = runtime.get_runtime(self.ctx).client
        conn = yield client.flow_manager.dial(self.ep, timeout=5)
        return client, conn

    def echo(self):
        from v23py import rpc
        return rpc.client_call(self.ctx, self.name, "Echo", ["ok"], [vdl.StringType],
                               [vdl.StringType])

    @defer.inlineCallbacks
    def read_response(self, client, conn, flow):
        from v23py.rpc import wire
        from v23py.runtime._stream import ValueReader
        reader = ValueReader(client.types_for(conn))
        flow.set_receiver(reader.feed, reader.closed)
        r = yield defer.ensureDeferred(reader.read(wire.ResponseType))
        return r

    @defer.inlineCallbacks
    def test_garbage_request_gets_bad_protocol(self):
        client, conn = yield self.raw_flow()
        client.types_for(conn)
        flow = conn.open_flow()
        flow.write(b"d\x81\x00garbage")   # message id 0 is never valid
        r = yield self.read_response(client, conn, flow)
        self.assertEqual(r.Error.id, verror.BadProtocol.id)
        self.assertEqual((yield self.echo()), ["ok"])

    @defer.inlineCallbacks
    def test_unknown_role_byte_closes_the_flow(self):
        client, conn = yield self.raw_flow()
        flow = conn.open_flow()
        flow.write(b"zzz")
        data = yield flow.read()
        self.assertEqual(data, b"")
        self.assertEqual((yield self.echo()), ["ok"])

    @defer.inlineCallbacks
    def test_wrong_arg_type_is_bad_input_arg(self):
        from v23py import rpc
        e = yield self.assertFailure(
            rpc.client_call(self.ctx, self.name, "Echo", [5], [vdl.Int64Type], [vdl.StringType]),
            verror.VError)
        self.assertEqual(e.id, "v.io/x/ref/runtime/internal/rpc.badInputArg")
        self.assertEqual((yield self.echo()), ["ok"])

    @defer.inlineCallbacks
    def test_server_going_away_mid_call(self):
        from v23py import rpc
        d = rpc.client_call(self.ctx, self.name, "Sleep", [30.0], [vdl.Float64Type],
                            [vdl.BoolType])
        yield task.deferLater(reactor, 0.2, lambda: None)
        yield self.server.stop()
        e = yield self.assertFailure(d, verror.VError)
        # as Go's client: the response could not be read
        self.assertEqual(e.id, verror.BadProtocol.id)

    @defer.inlineCallbacks
    def test_stream_cut_short_is_not_its_end(self):
        """The server goes away in the middle of a stream: the next recv fails with
        BadProtocol (Go's client), never EOF, which would look like a complete stream."""
        from v23py import rpc
        call = yield rpc.start_call(self.ctx, self.name, "Sum", [], [], [vdl.Int64Type],
                                    desc=Svc_desc.method("Sum"))
        call.send(4)
        self.assertEqual((yield call.recv()), 4)
        yield self.server.stop()
        e = yield self.assertFailure(call.recv(), verror.VError)
        self.assertEqual(e.id, verror.BadProtocol.id)
        e = yield self.assertFailure(call.finish(), verror.VError)
        self.assertEqual(e.id, verror.BadProtocol.id)

    @defer.inlineCallbacks
    def test_deadline_bounds_a_dead_address(self):
        from v23py import rpc
        import socket
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(1)          # accepts TCP but never speaks: the handshake stalls
        self.addCleanup(s.close)
        port = s.getsockname()[1]
        ctx, cancel = self.ctx.with_timeout(0.5)
        self.addCleanup(cancel)
        name = f"/@6@tcp@127.0.0.1:{port}@@00000000000000000000000000000007@s@alice@@"
        e = yield self.assertFailure(
            rpc.client_call(ctx, name, "Echo", ["x"], [vdl.StringType], [vdl.StringType]),
            verror.VError)
        self.assertEqual(e.id, verror.Timeout.id)     # the deadline, not a refusal






class DispatcherTest(AliceTest):

    @defer.inlineCallbacks
    def setUp(self):
        super().setUp()
        self.server, self.name = yield self.serve(TreeDispatcher(), None, dispatching=True)

    @defer.inlineCallbacks
    def test_suffix_dispatch(self):
        from v23py import rpc
        for suffix, want in (("", "root:hi"), ("a", "a:hi"), ("a/x", "x:hi")):
            r = yield rpc.client_call(self.ctx, self.name + ("/" + suffix if suffix else ""),
                                      "Echo", ["hi"], [vdl.StringType], [vdl.StringType])
            self.assertEqual(r, [want])
        e = yield self.assertFailure(rpc.client_call(
            self.ctx, self.name + "/nope", "Echo", ["hi"], [vdl.StringType], [vdl.StringType]),
            verror.VError)
        self.assertEqual(e.id, verror.NoExist.id)

    @defer.inlineCallbacks
    def test_dispatcher_finding_nothing_or_nothing_callable(self):
        # the same errors whether the dispatcher answers at once or later: no object is
        # UnknownSuffix, an object no invoker can be made of Internal
        from v23py import rpc

        class Junk:
            def describe__(self):
                raise verror.BadArg.new("no description")

        class Odd:
            def lookup(self, ctx, suffix):
                kind, _, when = suffix.partition("-")
                r = (None, None) if kind == "none" else (Junk(), None)
                return defer.succeed(r) if when == "later" else r
        _, base = yield self.serve(Odd(), None, dispatching=True)
        for suffix, want, text in (
                ("none-now", verror.UnknownSuffix, "suffix does not exist: none-now"),
                ("none-later", verror.UnknownSuffix, "suffix does not exist: none-later"),
                ("junk-now", verror.Internal, "invalid received object"),
                ("junk-later", verror.Internal, "invalid received object")):
            e = yield self.assertFailure(rpc.client_call(
                self.ctx, base + "/" + suffix, "Echo", ["hi"], [vdl.StringType],
                [vdl.StringType]), verror.VError)
            self.assertEqual(e.id, want.id, suffix)
            self.assertIn(text, e.msg)

    @defer.inlineCallbacks
    def glob(self, pattern):
        from v23py import rpc
        from v23py.rpc import wire
        call = yield rpc.start_call(self.ctx, self.name, "__Glob", [pattern], [vdl.StringType],
                                    [], desc=rt.MethodDesc(name="__Glob", in_stream=vdl.AnyType,
                                                           out_stream=wire.GlobReplyType))
        names = []
        while True:
            try:
                item = yield call.recv()
            except verror.VError as e:
                self.assertEqual(e.id, verror.EOF.id)
                break
            names.append((item.name, item.value.Name))
        yield call.finish()
        return names

    @defer.inlineCallbacks
    def test_glob(self):
        self.assertEqual((yield self.glob("*")), [("Entry", "a"), ("Entry", "b")])
        self.assertEqual((yield self.glob("a/*")), [("Entry", "a/x")])
        self.assertEqual((yield self.glob("...")),
                         [("Entry", ""), ("Entry", "a"), ("Entry", "b"), ("Entry", "a/x")])
        self.assertEqual((yield self.glob("b/*")), [("Error", "b")])   # a leaf has no children

    @defer.inlineCallbacks
    def test_glob_has_go_path_match_semantics(self):
        """Patterns mean what they mean to Go's servers and mount tables (path.Match):
        ``[^a]`` negates, ``[!a]`` is a class of '!' and 'a', ``\\`` escapes, and a
        final ``***`` recurses (restricted) like ``...``."""
        self.assertEqual((yield self.glob("[^a]")), [("Entry", "b")])
        self.assertEqual((yield self.glob("a/[!a-w]")), [])
        self.assertEqual((yield self.glob("a/[!x]")), [("Entry", "a/x")])
        self.assertEqual((yield self.glob("\\a")), [("Entry", "a")])
        self.assertEqual((yield self.glob("***")), (yield self.glob("...")))
        self.assertEqual((yield self.glob("a/...")), [("Entry", "a"), ("Entry", "a/x")])


class FailoverTest(unittest.TestCase):
    timeout = 30

    @defer.inlineCallbacks
    def test_dead_first_server_is_skipped(self):
        import v23py
        from v23py import rpc
        p, _ = make_principal("alice")
        ctx, shutdown = new_runtime(p)
        self.addCleanup(shutdown)
        server = yield v23py.with_new_server(ctx, "", FortuneServer(FortuneImpl()), None)
        live = "/" + str(server.endpoints[0])
        dead = "/@6@tcp@127.0.0.1:1@@00000000000000000000000000000003@s@alice@@"
        r = yield rpc.client_call(ctx, "fortune", "Get", [], [], [vdl.StringType],
                                  opts=(rpc.options.Preresolved([dead, live], ""),))
        self.assertEqual(r, ["first"])
