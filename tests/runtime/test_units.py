"""Unit tests: contexts, Go flag syntax, VDL-text printing, the sans-IO value streams."""
import io

from twisted.internet import defer, task
from twisted.trial import unittest

from v23py import context, vdl, verror
from v23py.runtime import FlagError, FlagSet, add_runtime_flags, parse_duration
from v23py.testing import tempdir


class ContextTest(unittest.TestCase):
    def test_values_and_derivation(self):
        root = context.root()
        a = root.with_value("k", 1)
        b = a.with_value("k", 2)
        self.assertEqual((root.value("k"), a.value("k"), b.value("k")), (None, 1, 2))

    def test_cancel_propagates_to_children(self):
        root = context.root()
        parent, cancel = root.with_cancel()
        child, _ = parent.with_cancel()
        seen = []
        child.on_done(seen.append)
        cancel()
        self.assertTrue(parent.cancelled() and child.cancelled())
        self.assertEqual(child.err().id, verror.Canceled.id)
        self.assertEqual(len(seen), 1)
        self.assertFalse(root.cancelled())
        # children of a cancelled context start cancelled
        late, _ = parent.with_cancel()
        self.assertTrue(late.cancelled())

    def test_on_done_unregister(self):
        ctx, cancel = context.root().with_cancel()
        seen = []
        unreg_a = ctx.on_done(lambda e: seen.append("a"))
        unreg_a()
        unreg_a()   # (twice: no error)
        # a callback that unregisters a later one while the cancellation is being
        # delivered: every callback registered before the cancellation is still called
        unreg_c = [None]
        ctx.on_done(lambda e: (seen.append("b"), unreg_c[0]()))
        unreg_c[0] = ctx.on_done(lambda e: seen.append("c"))
        cancel()
        self.assertEqual(seen, ["b", "c"])
        unreg_c[0]()   # (after the cancellation: no error)
        self.assertEqual(ctx.on_done(seen.append)(), None)   # (fires at once)
        self.assertEqual(seen[:2], ["b", "c"])
        self.assertEqual(seen[2].id, verror.Canceled.id)

    def test_deadline(self):
        clock = task.Clock()
        root = context.root(clock=clock)
        ctx, cancel = root.with_timeout(5)
        self.assertEqual(ctx.deadline(), 5)
        self.assertEqual(ctx.remaining(), 5)
        d = ctx.done()
        clock.advance(4.9)
        self.assertFalse(d.called)
        clock.advance(0.2)
        self.assertEqual(self.successResultOf(d).id, verror.Timeout.id)
        # a child cannot extend its parent's deadline
        child, _ = ctx.with_timeout(100)
        self.assertTrue(child.cancelled())

    def test_state_is_read_with_methods(self):
        # cancelled(), err(), done() and deadline() are all methods (as on asyncio's
        # Future); a forgotten call is a TypeError, never an always-true test
        ctx, cancel = context.root().with_cancel()
        self.assertIs(ctx.cancelled(), False)
        self.assertIsNone(ctx.err())
        with self.assertRaises(TypeError) as e:
            if ctx.cancelled:
                pass
        self.assertIn("call ctx.cancelled()", str(e.exception))
        cancel()
        self.assertIs(ctx.cancelled(), True)

    def test_root_cancel_is_independent(self):
        parent, cancel = context.root().with_cancel()
        free, _ = parent.with_value("x", 1).with_root_cancel()
        cancel()
        self.assertFalse(free.cancelled())
        self.assertEqual(free.value("x"), 1)


class FlagTest(unittest.TestCase):
    def flags(self):
        fs = add_runtime_flags(FlagSet("t"))
        self.name = fs.string("service-name", "", "")
        self.verbose = fs.bool("verbose", False, "")
        return fs

    def test_go_forms(self):
        for argv in (["--v23.credentials", "X"], ["--v23.credentials=X"],
                     ["-v23.credentials", "X"], ["-v23.credentials=X"]):
            fs = self.flags()
            self.assertEqual(fs.parse(argv + ["pos"]), ["pos"])
            self.assertEqual(fs.get("v23.credentials"), "X")

    def test_bool_never_takes_next(self):
        fs = self.flags()
        self.assertEqual(fs.parse(["-verbose", "false"]), ["false"])
        self.assertTrue(self.verbose())
        fs = self.flags()
        fs.parse(["--verbose=false"])
        self.assertFalse(self.verbose())

    def test_stops_at_positional_and_dashes(self):
        fs = self.flags()
        self.assertEqual(fs.parse(["a", "--service-name", "x"]), ["a", "--service-name", "x"])
        fs = self.flags()
        self.assertEqual(fs.parse(["--", "-x"]), ["-x"])
        fs = self.flags()
        self.assertEqual(fs.parse(["-", "x"]), ["-", "x"])

    def test_repeatable_and_errors(self):
        fs = self.flags()
        fs.parse(["--v23.namespace.root=/a:1", "--v23.namespace.root", "/b:2"])
        self.assertEqual(fs.get("v23.namespace.root"), ["/a:1", "/b:2"])
        self.assertRaises(FlagError, self.flags().parse, ["--nope"])
        self.assertRaises(FlagError, self.flags().parse, ["--service-name"])
        self.assertRaises(FlagError, self.flags().parse, ["--verbose=maybe"])

    def test_durations(self):
        self.assertEqual(parse_duration("1m"), 60)
        self.assertEqual(parse_duration("1h30m"), 5400)
        self.assertAlmostEqual(parse_duration("250ms"), 0.25)
        self.assertEqual(parse_duration("0"), 0)
        self.assertRaises(FlagError, parse_duration, "5 minutes")


class FormatTest(unittest.TestCase):
    def test_typed_const(self):
        from v23py.rpc.signature import typed_const as tc
        self.assertEqual(tc(vdl.StringType, "abc"), '"abc"')
        self.assertEqual(tc(vdl.BoolType, True), "true")
        self.assertEqual(tc(vdl.Float32Type, 1.2), "float32(1.2)")
        self.assertEqual(tc(vdl.Float64Type, -3.4), "float64(-3.4)")
        self.assertEqual(tc(vdl.Int32Type, 11), "int32(11)")
        self.assertEqual(tc(vdl.ByteType, 33), "byte(33)")
        self.assertEqual(tc(vdl.Uint64Type, 55), "uint64(55)")
        self.assertEqual(tc(vdl.map_of(vdl.Int32Type, vdl.StringType), {1: "a"}),
                         'map[int32]string{1: "a"}')
        self.assertEqual(tc(vdl.set_of(vdl.Int32Type), {1}), "set[int32]{1}")
        self.assertEqual(tc(vdl.list_of(vdl.Int32Type), [1, 2]), "[]int32{1, 2}")
        st = vdl.struct("v.io/x/ref/cmd/vrpc/internal.Struct",
                        [("X", vdl.Int32Type), ("Y", vdl.Int32Type)])
        self.assertEqual(tc(st, vdl.class_for(st)(X=1, Y=2)),
                         '"v.io/x/ref/cmd/vrpc/internal".Struct{X: 1, Y: 2}')
        arr = vdl.array_of(vdl.Int32Type, 2, name="v.io/x/ref/cmd/vrpc/internal.Array2Int")
        self.assertEqual(tc(arr, vdl.convert(arr, [1, 2])),
                         '"v.io/x/ref/cmd/vrpc/internal".Array2Int{1, 2}')

    def test_floats_and_quotes(self):
        from v23py.rpc.signature import format_float, go_quote
        self.assertEqual(format_float(1e6), "1e+06")
        self.assertEqual(format_float(123456.0), "123456")
        self.assertEqual(format_float(0.0001), "0.0001")
        self.assertEqual(format_float(0.00001), "1e-05")
        self.assertEqual(format_float(1.2, 32), "1.2")
        self.assertEqual(go_quote('a"\n\x01é'), '"a\\"\\n\\x01é"')

    def test_print_interface(self):
        from v23py.rpc import wire
        from v23py.rpc import signature as sig
        from fortune.ifc import Fortune_desc
        out = io.StringIO()
        types = sig.NamedTypes()
        for i, iface in enumerate(sig.from_descs([Fortune_desc]) + [sig.reserved_interface()]):
            if i:
                out.write("\n")
            sig.print_interface(out, iface, types)
            out.write("\n")
        types.print(out)
        text = out.getvalue()
        self.assertTrue(text.startswith(
            'type "fortune/ifc".Fortune interface {\n'
            '\t// Adds a fortune to the set used by Get().\n'
            '\tAdd(wisdom string) error\n'
            '\t// Returns a random fortune.\n'
            '\tGet() (wisdom string | error)\n}\n\n'
            '// Reserved methods implemented by the RPC framework.'), text)
        self.assertIn('\t__Glob(pattern string) stream<any, any> error\n', text)
        self.assertIn('\ntype "signature".Method struct {\n\tName string\n', text)
        self.assertEqual(wire.SigMethodType.name, "signature.Method")


class StreamTest(unittest.TestCase):
    """The value reader waits for types that arrive later on the type flow."""

    def test_need_type_then_value(self):
        from v23py.rpc import wire
        from v23py.runtime._stream import ConnTypes, ValueReader, ValueWriter
        a, b = ConnTypes(), ConnTypes()
        w, r = ValueWriter(a), ValueReader(b)
        data = w.encode(wire.Request(Method="Get", NumPosArgs=1), wire.RequestType)
        data += w.encode("hi", vdl.StringType)
        got = []
        d = defer.ensureDeferred(r.read(wire.RequestType))
        d.addCallback(got.append)
        r.feed(data[:5])
        r.feed(data[5:])
        self.assertEqual(got, [])          # types not there yet
        b.feed(a.enc.take_bytes())
        self.assertEqual(got[0].Method, "Get")
        self.assertEqual(self.successResultOf(defer.ensureDeferred(r.read(vdl.StringType))),
                         "hi")

    def test_eof_and_abort(self):
        from v23py.runtime._stream import ConnTypes, ValueReader
        r = ValueReader(ConnTypes())
        d = defer.ensureDeferred(r.read())
        r.closed(None)
        self.assertEqual(self.failureResultOf(d, verror.VError).value.id, verror.EOF.id)
        r = ValueReader(ConnTypes())
        d = defer.ensureDeferred(r.read())
        r.abort(verror.Timeout.new("late"))
        self.assertEqual(self.failureResultOf(d, verror.VError).value.id, verror.Timeout.id)

    def test_garbage_is_bad_protocol(self):
        from v23py.runtime._stream import ConnTypes, ValueReader
        r = ValueReader(ConnTypes())
        d = defer.ensureDeferred(r.read())
        r.feed(b"\x80garbage")
        self.assertEqual(self.failureResultOf(d, verror.VError).value.id, verror.BadProtocol.id)

    def test_traced_requests_found_by_lead(self):
        # a traced request is matched with those the conn read before by its bytes up to its
        # span id: a hit, or a miss (a Put per new row), without walking the kept ones
        import os
        from v23py.rpc import wire
        from v23py.runtime import _stream
        from v23py.v23 import vtrace as vt
        a, b = _stream.ConnTypes(), _stream.ConnTypes()

        def read(suffix, **trace):   # (on a flow of its own, as each call)
            w = _stream.ValueWriter(a)
            r = wire.request(suffix, "Put", 1)
            r.TraceRequest = vt.Request(SpanId=os.urandom(16), TraceId=os.urandom(16), **trace)
            data = w.encode(r, wire.RequestType)
            b.feed(a.enc.take_bytes())
            reader = _stream.ValueReader(b)
            reader.feed(data)
            ok, got = reader.try_read(wire.RequestType)
            self.assertTrue(ok)
            tr = reader.trace or (got.TraceRequest.SpanId, got.TraceRequest.TraceId)
            self.assertEqual((got.Suffix, bytes(tr[0]), bytes(tr[1])),
                             (suffix, r.TraceRequest.SpanId, r.TraceRequest.TraceId))
            return got, reader.trace
        kept = [read("row/%04d" % i)[0] for i in range(_stream._MEMO_MAX_ENTRIES)]
        traced = b.hdr_cache[_stream._TRACED]
        self.assertEqual(len(traced.entries), _stream._MEMO_MAX_ENTRIES)

        class NotWalked(list):
            def __iter__(self):
                raise AssertionError("the kept requests were walked")
        entries, traced.entries = traced.entries, NotWalked(traced.entries)
        got, trace = read("row/9999")          # none kept: decoded in full
        self.assertIsNone(trace)
        got, trace = read("row/0005")          # kept: the same value, this call's ids
        self.assertIs(got, kept[5])
        self.assertIsNotNone(trace)
        by_lead, traced.by_lead = traced.by_lead, {}
        got, trace = read("row/0005")          # the one matched last: by its lead alone
        self.assertIs(got, kept[5])
        traced.by_lead = by_lead
        traced.entries = entries
        got, trace = read("row/0003", Flags=1, RequestMetadata=b"md")   # more than the ids
        self.assertIs(got, kept[3])
        self.assertEqual(trace[2:], (1, 0, b"md"))

    def test_a_peers_own_request_type_is_decoded_not_read_by_hand(self):
        # the header cache reads a traced request's TraceRequest field by hand only when the
        # message's type is our Request type: a peer's own (here its metadata field has
        # another name) goes to the decoder, which drops the field as Go's does
        # (found by fuzzing, fuzz/corpus/vom)
        from v23py.rpc import wire
        from v23py.runtime import _stream
        from v23py.v23 import vtrace as vt
        for ours in (True, False):
            a, b = _stream.ConnTypes(), _stream.ConnTypes()

            def read(span, md):
                r = wire.request("a", "Get", 0, True)
                r.TraceRequest = vt.Request(SpanId=bytes([span]) * 16, TraceId=b"\x09" * 16,
                                            RequestMetadata=md)
                data = _stream.ValueWriter(a).encode(r, wire.RequestType)
                types = a.enc.take_bytes()
                b.feed(types if ours else types.replace(b"RequestMetadata", b"RequestMetadatX"))
                reader = _stream.ValueReader(b)
                reader.feed(data)
                ok, got = reader.try_read(wire.RequestType)
                self.assertTrue(ok)
                tr = got.TraceRequest
                return reader.trace or (bytes(tr.SpanId), bytes(tr.TraceId), tr.Flags,
                                        tr.LogLevel, bytes(tr.RequestMetadata))
            read(1, b"")
            self.assertEqual(read(2, b"md"),
                             (b"\x02" * 16, b"\x09" * 16, 0, 0, b"md" if ours else b""))
            self.assertEqual(bool(b.hdr_cache[_stream._TRACED].entries), ours)

    def test_a_traced_request_whose_flags_overflow_int32_is_refused(self):
        # the header cache reads a traced request's flags and level itself: one that is
        # not an int32 (a peer's bytes) is refused as the VOM decoder (and Go's) refuses it,
        # not taken as the trace of a call (found by fuzzing, fuzz/corpus/vom)
        from v23py import vom
        from v23py.rpc import wire
        from v23py.runtime import _stream
        from v23py.v23 import vtrace as vt
        a, b = _stream.ConnTypes(), _stream.ConnTypes()

        def flow(flags_bytes):
            r = wire.request("a", "Get", 0, True)
            r.TraceRequest = vt.Request(SpanId=b"\x01" * 16, TraceId=b"\x02" * 16, Flags=1)
            data = bytearray(_stream.ValueWriter(a).encode(r, wire.RequestType))
            i = data.rindex(b"\x03\x02\xe1\xe1")     # Flags 1, the two end markers
            data[i:i + 2] = flags_bytes
            data[2] += len(flags_bytes) - 2            # (the message's length byte)
            b.feed(a.enc.take_bytes())
            reader = _stream.ValueReader(b)
            reader.feed(bytes(data))
            return reader, bytes(data)
        reader, _ = flow(b"\x03\x02")
        self.assertTrue(reader.try_read(wire.RequestType)[0])   # kept by the conn
        for flags in (1 << 31, -(1 << 31) - 1, 1 << 40):
            enc = bytearray([3])
            vom.enc_int(enc, flags)
            reader, data = flow(bytes(enc))
            with self.assertRaises(verror.VError) as plain:
                d = vom.Decoder(type_decoder=b.dec)
                d.feed(data)
                d.decode(wire.RequestType)
            with self.assertRaises(verror.VError) as cached:
                reader.try_read(wire.RequestType)
            self.assertEqual((cached.exception.id, cached.exception.msg),
                             (plain.exception.id, plain.exception.msg))
            self.assertIn("out of range for int32", cached.exception.msg)


class WireTypesTest(unittest.TestCase):
    def test_same_as_generated(self):
        from v23py.v23 import rpc as R
        from v23py.rpc import wire
        from v23py.v23.vdlroot import signature as S
        from v23py.v23 import naming as N
        self.assertIs(wire.RequestType, R.Request._vdl_type)
        self.assertIs(wire.ResponseType, R.Response._vdl_type)
        self.assertIs(wire.SigInterfaceType, S.Interface._vdl_type)
        self.assertIs(wire.GlobReplyType, N.GlobReply._vdl_type)
        self.assertIs(wire.Request, R.Request)
        self.assertEqual([f.name for f in wire.RequestType.fields],
                         ["Suffix", "Method", "NumPosArgs", "EndStreamArgs", "Deadline",
                          "GrantedBlessings", "TraceRequest", "Language"])
        self.assertEqual([f.name for f in wire.ResponseType.fields],
                         ["Error", "EndStreamResults", "NumPosResults", "TraceResponse",
                          "AckBlessings"])


class RuntimeInitTest(unittest.TestCase):
    def init(self, argv, env=None):
        import os
        from v23py import runtime
        old = dict(os.environ)
        try:
            for k in list(os.environ):
                if k.startswith("V23_"):
                    del os.environ[k]
            os.environ.update(env or {})
            ctx, shutdown = runtime.init(argv, flags=runtime.FlagSet("t"), exit_on_error=False)
        finally:
            os.environ.clear()
            os.environ.update(old)
        self.addCleanup(shutdown)
        return runtime.get_runtime(ctx)

    def test_anonymous_principal_and_default_root(self):
        import os
        import re
        from v23py import security
        rt = self.init([])
        names = security.blessing_names(rt.principal, rt.principal.blessing_store.default())
        self.assertEqual(len(names), 1)
        self.assertTrue(re.fullmatch(r"anonymous-[a-z]+-%d(@.+)?" % os.getpid(), names[0]),
                        names)
        self.assertEqual(rt.namespace_roots,
                         ["/(dev.v.io:r:vprod:service:mounttabled)@ns.dev.v.io:8101"])
        self.assertEqual(rt.listen_spec(), ("wsh", [":0"]))

    def test_env_and_flags(self):
        from v23py import security
        d = tempdir(self)
        p = security.create_principal(d)
        p.blessing_store.set_default(p.bless_self("envcreds"))
        rt = self.init([], {"V23_CREDENTIALS": d, "V23_NAMESPACE": "/127.0.0.1:9",
                            "V23_NAMESPACE_2": "/127.0.0.1:10"})
        self.assertEqual(rt.principal.public_key.der, p.public_key.der)
        self.assertEqual(rt.namespace_roots, ["/127.0.0.1:9", "/127.0.0.1:10"])
        rt = self.init(["--v23.namespace.root=/a:1", "--v23.tcp.address", "127.0.0.1:5",
                        "--v23.permissions.literal", '{"Read":{"In":["..."]}}',
                        "--v23.proxy", "p", "--v23.i18n-catalogue=x"],
                       {"V23_NAMESPACE": "/ignored:1"})
        self.assertEqual(rt.namespace_roots, ["/a:1"])
        self.assertEqual(rt.listen_spec(), ("wsh", ["127.0.0.1:5"]))
        self.assertEqual(rt.permissions(), {"runtime": '{"Read":{"In":["..."]}}'})
