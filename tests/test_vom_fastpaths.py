"""The decoder's shortcuts (zero makers) give the same values as the general path."""
from twisted.trial import unittest

from v23py import vdl, verror, vom
from v23py.rpc import _wiretypes as wt
from v23py.vdl import _values as V


class ZeroMakerTest(unittest.TestCase):
    def test_same_as_zero_walk(self):
        b = vdl.TypeBuilder()
        node = b.struct("test/fast.Node")
        node.append_field("Name", vdl.StringType)
        kids = b.list()
        kids.elem = node
        node.append_field("Kids", kids)
        b.build()
        rec = node.built
        arr = vdl.array_of(vdl.struct("test/fast.P", [("X", vdl.Int32Type)]), 3)
        u = vdl.union("test/fast.U", [("A", vdl.list_of(vdl.StringType)), ("B", vdl.Int64Type)])
        types = [wt.Request, wt.Response, rec, arr, u, vdl.map_of(vdl.StringType, rec),
                 vdl.optional(rec), vdl.AnyType, vdl.enum("test/fast.E", ["One", "Two"]),
                 vdl.named("test/fast.S", vdl.StringType), vdl.ByteListType,
                 vdl.array_of(vdl.ByteType, 4)]
        for t in types:
            self.assertEqual(V.zero_maker(t)(), V._zero_slow(t), str(t))
            self.assertEqual(vdl.zero(t), V._zero_slow(t), str(t))
        # fresh mutable values each time
        a, b2 = V.zero_maker(wt.Request)(), V.zero_maker(wt.Request)()
        self.assertIsNot(a.GrantedBlessings, b2.GrantedBlessings)
        a.GrantedBlessings.CertificateChains.append([])
        self.assertEqual(b2.GrantedBlessings.CertificateChains, [])

    def test_registration_rebuilds(self):
        t = vdl.struct("test/fast.Reg", [("In", vdl.struct("test/fast.Inner", [("V", vdl.Int64Type)]))])
        before = vdl.zero(t)

        class Inner(vdl.Struct):
            __slots__ = ("V",)
            _vdl_type = t.fields[0].type
        vdl.register(Inner)
        after = vdl.zero(t)
        self.assertIsInstance(after.In, Inner)
        self.assertNotIsInstance(before.In, Inner)

