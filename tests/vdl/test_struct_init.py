"""A struct class's compiled constructor (vdl._values._compile_init) builds exactly what the
generic Struct.__init__ builds, and hands everything unusual back to it."""
from twisted.trial import unittest

from v23py import vdl
from v23py.vdl import _values as V

_SEQ = [0]


def _fresh(name, fields):
    """A struct class of a type never used before (no constructor compiled on it yet)."""
    _SEQ[0] += 1
    return vdl.class_for(vdl.struct(f"v23py/test.init{_SEQ[0]}.{name}", fields))


def _generic(cls, **kw):
    obj = object.__new__(cls)
    vdl.Struct.__init__(obj, **kw)
    return obj


def _fields(obj):
    return [(f.name, getattr(obj, f.name)) for f in obj._vdl_type.fields]


class StructInitTest(unittest.TestCase):
    def setUp(self):
        self.patch(V, "COMPILE_INIT_AFTER", 1)     # compiled at the first construction

    def kinds(self):
        inner = vdl.struct(f"v23py/test.init{_SEQ[0] + 1}.Inner", [("V", vdl.Int64Type)])
        return _fresh("Kinds", [
            ("I", vdl.Int64Type), ("S", vdl.StringType), ("B", vdl.BoolType),
            ("L", vdl.list_of(vdl.StringType)), ("M", vdl.map_of(vdl.StringType, vdl.Int64Type)),
            ("In", inner), ("Opt", vdl.optional(inner)), ("A", vdl.AnyType),
            ("E", vdl.enum(f"v23py/test.init{_SEQ[0] + 1}.E", ["One", "Two"])),
            ("N", vdl.named(f"v23py/test.init{_SEQ[0] + 1}.N", vdl.StringType)),
            ("Bytes", vdl.ByteListType), ("F", vdl.Float64Type)])

    def test_same_as_generic(self):
        cls = self.kinds()
        cls()                                          # (compiles it)
        self.assertTrue(V._compiled_init(cls))
        inner = cls._vdl_type.fields[5].type
        for kw in [{}, {"I": 7, "S": "x", "B": True}, {"L": ["a"], "M": {"k": 1}},
                   {"In": vdl.class_for(inner)(V=3), "A": 5, "Bytes": b"\x00"},
                   {"E": vdl.class_for(cls._vdl_type.fields[8].type).Two, "F": 1.5}]:
            got = cls(**kw)
            self.assertIs(type(got), cls)
            self.assertEqual(_fields(got), _fields(_generic(cls, **kw)), kw)
            self.assertEqual(got, vdl.zero(cls._vdl_type) if not kw else got)

    def test_fresh_mutable_zeros(self):
        cls = self.kinds()
        cls()                                          # (compiles it)
        a, b = cls(), cls()
        self.assertIsNot(a.L, b.L)
        self.assertIsNot(a.M, b.M)
        self.assertIsNot(a.In, b.In)
        a.L.append("x")
        self.assertEqual(b.L, [])
        self.assertEqual(cls().L, [])

    def test_unknown_field_and_positional(self):
        cls = _fresh("Two", [("X", vdl.Int64Type), ("Y", vdl.StringType)])
        cls()
        self.assertTrue(V._compiled_init(cls))
        with self.assertRaisesRegex(TypeError, r"has no field\(s\) Z"):
            cls(X=1, Z=2)
        self.assertRaises(TypeError, cls, 1)

    def test_subclass_and_custom_init_use_generic(self):
        cls = _fresh("Base", [("X", vdl.list_of(vdl.Int64Type))])
        cls()
        seen = []

        class Sub(cls):
            __slots__ = ()

            def __setattr__(self, name, value):
                seen.append(name)
                object.__setattr__(self, name, value)
        s = Sub(X=[1])
        self.assertEqual((s.X, seen), ([1], []))   # (the generic one stores past __setattr__)

        class Own(vdl.Struct):
            __slots__ = ("X",)
            _vdl_type = vdl.struct(f"v23py/test.init{_SEQ[0]}.Own", [("X", vdl.Int64Type)])

            def __init__(self, **kw):
                kw["X"] = kw.get("X", 0) + 1
                super().__init__(**kw)
        for _ in range(3):
            self.assertEqual(Own(X=1).X, 2)
        self.assertFalse(V._compiled_init(Own))

        class OwnSub(Own):                             # (its base's __init__ stays)
            __slots__ = ()
        for _ in range(3):
            self.assertEqual(OwnSub(X=1).X, 2)
        self.assertFalse(V._compiled_init(OwnSub))

    def test_registration_after_compiling(self):
        t = vdl.struct(f"v23py/test.init{_SEQ[0] + 1}.Reg", [
            ("In", vdl.struct(f"v23py/test.init{_SEQ[0] + 1}.RegInner", [("V", vdl.Int64Type)]))])
        cls = vdl.class_for(t)
        before = cls()
        self.assertTrue(V._compiled_init(cls))

        class Inner(vdl.Struct):
            __slots__ = ("V",)
            _vdl_type = t.fields[0].type
        stale = cls.__init__
        vdl.register(Inner)
        self.assertNotIsInstance(before.In, Inner)
        self.assertIsInstance(cls().In, Inner)
        # compiled again for the new registrations (not left on the way back for good)
        self.assertIsNot(cls.__init__, stale)
        self.assertTrue(V._compiled_init(cls))
        self.assertEqual(cls.__init__.__globals__["__G"], V._reg_gen)
        self.assertIsInstance(cls().In, Inner)

    def test_keyword_field_names_stay_generic(self):
        cls = _fresh("Kw", [("class_", vdl.Int64Type), ("lambda", vdl.Int64Type)])
        self.assertEqual(getattr(cls(**{"lambda": 3}), "lambda"), 3)
        self.assertFalse(V._compiled_init(cls))
        self.assertEqual(getattr(cls(), "lambda"), 0)

    def test_not_compiled_before_its_uses(self):
        self.patch(V, "COMPILE_INIT_AFTER", 3)
        cls = _fresh("Late", [("X", vdl.Int64Type)])
        cls(X=1)
        cls(X=2)
        self.assertFalse(V._compiled_init(cls))
        self.assertEqual(cls(X=3).X, 3)
        self.assertTrue(V._compiled_init(cls))
        self.assertEqual(cls(X=4).X, 4)
