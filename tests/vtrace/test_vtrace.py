"""v23py.vtrace: Go's collection rules (sampling, collect-regexp, forced by the caller,
bounded cache), merging a server's spans, FormatTrace's text, and the runtime's
--v23.vtrace.* flags with dump-on-shutdown."""
import io
import subprocess
import sys

from twisted.trial import unittest

from v23py import context, vtrace
from v23py.v23 import vtrace as w


def ctx_with(store):
    ctx = vtrace.with_store(context.root(), store)
    return vtrace.with_new_trace(ctx, "root")


class StoreTests(unittest.TestCase):
    def test_unsampled_traces_are_not_kept(self):
        st = vtrace.Store()
        ctx, root = ctx_with(st)
        _, s = vtrace.with_new_span(ctx, "child")
        s.annotate("hello")
        s.finish()
        self.assertEqual(st.trace_records(), [])
        self.assertEqual(root.request().Flags, 0)

    def test_sample_rate_one_collects_roots_and_children(self):
        st = vtrace.Store(sample_rate=1.0)
        ctx, root = ctx_with(st)
        _, s = vtrace.with_new_span(ctx, "child")
        s.annotate("note")
        s.finish()
        (rec,) = st.trace_records()
        self.assertEqual(rec.Id, root.trace)
        names = {x.Name: x for x in rec.Spans}
        self.assertEqual(set(names), {"root", "child"})
        self.assertEqual(names["child"].Parent, root.id)
        self.assertEqual([a.Message for a in names["child"].Annotations], ["note"])
        self.assertEqual(root.request().Flags, vtrace.COLLECT_IN_MEMORY)

    def test_collect_regexp_on_names_and_annotations(self):
        st = vtrace.Store(collect_regexp="^wanted")
        ctx, root = ctx_with(st)
        _, s = vtrace.with_new_span(ctx, "other")
        s.annotate("wanted: this one")
        self.assertEqual(len(st.trace_records()), 1)
        st2 = vtrace.Store(collect_regexp="^wanted")
        ctx, _ = ctx_with(st2)
        vtrace.with_new_span(ctx, "wanted span")
        self.assertEqual([x.Name for x in st2.trace_records()[0].Spans], ["wanted span"])

    def test_caller_forces_collection_and_cache_is_bounded(self):
        st = vtrace.Store(cache_size=2)
        ids = []
        for i in range(3):
            req = w.Request(SpanId=vtrace.new_id(), TraceId=vtrace.new_id(), RequestMetadata=b"",
                            Flags=vtrace.COLLECT_IN_MEMORY, LogLevel=0)
            ctx, _ = vtrace.with_continued_trace(vtrace.with_store(context.root(), st),
                                                 f"call{i}", req)
            ids.append(req.TraceId)
        self.assertEqual(sorted(r.Id for r in st.trace_records()), sorted(ids[1:]))

    def test_merge_takes_a_servers_spans(self):
        st = vtrace.Store(sample_rate=1.0)
        ctx, root = ctx_with(st)
        other = vtrace.Store()
        req = root.request()
        sctx, sspan = vtrace.with_continued_trace(vtrace.with_store(context.root(), other),
                                                  "server", req)
        sspan.finish()
        st.merge(vtrace.get_response(sspan))
        (rec,) = st.trace_records()
        self.assertIn("server", [x.Name for x in rec.Spans])

    def test_format_trace_as_go(self):
        rec = w.TraceRecord(Id=bytes(range(16)), Spans=[
            w.SpanRecord(Id=bytes(15) + b"\x01", Parent=bytes(range(16)), Name="root",
                         Start=vtrace._to_wire_time(100.0), End=vtrace._to_wire_time(100.5),
                         Annotations=[w.Annotation(When=vtrace._to_wire_time(100.25),
                                                   Message="half way")],
                         RequestMetadata=b""),
            w.SpanRecord(Id=bytes(15) + b"\x02", Parent=bytes(15) + b"\x01", Name="child",
                         Start=vtrace._to_wire_time(100.001), End=vtrace._to_wire_time(0),
                         Annotations=[], RequestMetadata=b"")])
        out = io.StringIO()
        vtrace.format_trace(out, rec, utc=True)
        self.assertEqual(out.getvalue(),
                         "Trace - 0x000102030405060708090a0b0c0d0e0f (1970-01-01 00:01:40.000000"
                         " UTC, 1970-01-01 00:01:40.500000 UTC)\n"
                         "    Span - child [id: 00000002 parent 00000001] (1ms, ??: ??)\n")
        self.assertEqual(vtrace._go_duration(0.0015), "1.5ms")
        self.assertEqual(vtrace._go_duration(61.25), "1m1.25s")
        self.assertEqual(vtrace._go_duration(420e-9), "420ns")


class DumpOnShutdownTest(unittest.TestCase):
    timeout = 60

    def test_sampled_client_dumps_its_trace(self):
        """`vrpc --v23.vtrace.sample-rate=1` (ours) prints its trace on stderr at exit
        (--v23.vtrace.dump-on-shutdown is on by default, as in Go). Nothing listens at
        the address: the client retries the refused dial until the call's deadline, as
        Go's does, so the deadline is short."""
        from v23py.testing import child_env
        env = child_env(v23_vars=False)
        p = subprocess.run([sys.executable, "-m", "v23py.cmd.vrpc",
                            "--v23.namespace.root=/127.0.0.1:1", "--v23.vtrace.sample-rate=1",
                            "--alsologtostderr=false", "signature", "-timeout=2s", "/127.0.0.1:1"],
                           capture_output=True, text=True, env=env, timeout=60)
        self.assertRegex(p.stderr, r"Vtrace traces:\nTrace - 0x[0-9a-f]{32} \(")
        p = subprocess.run([sys.executable, "-m", "v23py.cmd.vrpc",
                            "--v23.namespace.root=/127.0.0.1:1", "--v23.vtrace.sample-rate=1",
                            "--v23.vtrace.dump-on-shutdown=false", "--alsologtostderr=false",
                            "signature", "-timeout=2s", "/127.0.0.1:1"],
                           capture_output=True, text=True, env=env, timeout=60)
        self.assertNotIn("Vtrace traces:", p.stderr)


class TraceFieldBytesTest(unittest.TestCase):
    """The Request's TraceRequest field that vtrace reads and writes by hand (a repeated
    call's header is kept encoded) is the one the VOM encoder writes."""

    def request_bytes(self, **trace):
        from v23py import vom
        from v23py.rpc import wire
        req = wire.Request(Suffix="x", Method="Echo", NumPosArgs=1,
                           TraceRequest=w.Request(**trace))
        return vom.encode(req)

    def test_read_trace_field_reads_what_vom_wrote(self):
        sid, tid = bytes(range(16)), bytes(range(100, 116))
        for md, flags, level in ((b"", 0, 0), (b"meta", 0, 0), (b"", 1, 0), (b"m", 3, -2),
                                 (b"", 300, 0), (b"", 0, -1000), (b"m", 1 << 30, 70)):
            data = self.request_bytes(SpanId=sid, TraceId=tid, RequestMetadata=md,
                                      Flags=flags, LogLevel=level)
            i = data.rfind(vtrace.TRACE_FIELD_HEAD + sid)
            self.assertEqual(vtrace.read_trace_field(data, i, len(data)),
                             (sid, tid, flags, level, md))
            plain = vtrace.plain_trace_ids(data, i + len(vtrace.TRACE_FIELD_HEAD))
            self.assertEqual(plain, (sid, tid, 0, 0, b"") if (md, flags, level) == (b"", 0, 0)
                             else None)
            self.assertIsNone(vtrace.read_trace_field(data, i + 1, len(data)))
            for cut in range(1, 6):       # a field cut short is not this layout
                self.assertIsNone(vtrace.read_trace_field(data[:-cut], i, len(data) - cut))

    def test_a_plain_field_is_what_vom_writes(self):
        ctx, root = ctx_with(vtrace.Store())
        data = self.request_bytes(SpanId=root.id, TraceId=root.trace)
        i = data.rfind(vtrace.TRACE_FIELD_HEAD + root.id)
        self.assertEqual(vtrace._trace_field(root) + b"\xe1", data[i:])
        self.assertEqual(len(data) - i, vtrace.PLAIN_TRACE_TAIL)
        lead = vtrace.traced_request_lead(b"", b"")
        self.assertTrue(lead.endswith(vtrace.TRACE_FIELD_HEAD))
