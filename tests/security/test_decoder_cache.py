"""B6: a type the decoder cannot handle fails every time with a clear error.

Before, the first failure left a placeholder in the type's decoder cache and every later
decode raised ``KeyError('vom.dec!')``.  A hostile client sends, twice over, an argument
whose struct type has a field name no VDL type has; a real server answers both calls with
the same bad-argument error and goes on serving.
"""
from twisted.internet import defer
from twisted.trial import unittest

import v23py
from v23py import security, vdl, verror, vom
from v23py.vom import _codec
from v23py.testing import hostile as H


class DecoderCacheServerTest(unittest.TestCase):
    timeout = 60

    @defer.inlineCallbacks
    def test_bad_field_name_fails_cleanly_every_time(self):
        from fortune.ifc import FortuneClient, FortuneServer
        from fortune.service import Fortune
        sp, _ = H.principal("server")
        sctx, sstop = H.runtime(sp)
        self.addCleanup(sstop)
        srv = yield v23py.with_new_server(sctx, "", FortuneServer(Fortune()),
                                          security.allow_everyone())
        ctx, stop = H.runtime(H.principal("attacker")[0])
        self.addCleanup(stop)
        t = vdl.struct("evil.S", [("Xyz", vdl.StringType)])
        v = vdl.class_for(t)(Xyz="hi")
        for _ in range(3):
            r = yield H.call_with_patched_type(ctx, srv.endpoints[0], "Add", t, v, b"Xyz", b"a b")
            self.assertIsNotNone(r.Error)
            self.assertIn("bad arg #0", str(r.Error))
            self.assertIn("struct field name 'a b' is not supported", str(r.Error))
        got = yield FortuneClient("/" + str(srv.endpoints[0])).Get(ctx, *v23py.rpc.options.insecure())
        self.assertTrue(got)


class DecoderCacheUnitTest(unittest.TestCase):
    def test_type_name_with_nul_decodes(self):
        t = vdl.struct("evil.a\x01b", [("X", vdl.StringType)])
        bad = vom.encode(vdl.class_for(t)(X="hi"), t).replace(b"a\x01b", b"a\x00b")
        for _ in range(2):
            v = vom.decode(bad)
            self.assertEqual(v.X, "hi")
            self.assertEqual(vdl.type_of(v).name, "evil.a\x00b")

    def test_failed_build_is_not_cached(self):
        t = vdl.struct("evil.Once", [("X", vdl.StringType)])
        data = vom.encode(vdl.class_for(t)(X="hi"), t)
        # a fresh stream type (not the interned one above): build its decoder and fail once
        real = _codec._make_decoder
        calls = []

        def failing(tt):
            if tt.name == "evil.Once" and not calls:
                calls.append(tt)
                raise ValueError("boom")
            return real(tt)
        self.patch(_codec, "_make_decoder", failing)
        t._cache.pop(_codec.DEC, None)
        t._cache.pop(_codec.DEC + "!", None)
        with self.assertRaises(verror.VError) as cm:
            vom.decode(data)
        self.assertEqual(cm.exception.id, verror.BadProtocol.id)
        self.assertIn("boom", str(cm.exception))
        self.assertEqual(vom.decode(data).X, "hi")

    def test_failure_inside_a_recursive_type_is_not_cached(self):
        b = vdl.TypeBuilder()
        node = b.struct("evil.Node")
        node.append_field("Next", b.optional(node)).append_field("Bad", vdl.StringType)
        b.build()
        t = node.built
        v = vdl.class_for(t)(Next=None, Bad="x")
        data = vom.encode(v, t)
        for tt in (t, vdl.optional(t)):
            tt._cache.pop(_codec.DEC, None)
            tt._cache.pop(_codec.DEC + "!", None)
        real = _codec._make_decoder
        calls = []

        def failing(tt):
            if tt.kind == vdl.Kind.OPTIONAL and not calls:
                calls.append(tt)
                raise ValueError("inner")
            return real(tt)
        self.patch(_codec, "_make_decoder", failing)
        with self.assertRaises(verror.VError):
            vom.decode(data)
        self.assertTrue(calls)
        self.assertEqual(vom.decode(data).Bad, "x")
