"""Plain data records (v23py.records), the dataclass replacement on the start-up path."""
from __future__ import annotations

import builtins
import typing

from twisted.trial import unittest

from v23py.records import FrozenRecord, NamedTuple, Record
from v23py.rpc.stubs import ArgDesc, MethodDesc


class Point(Record):
    _fields = ("x", "y")

    def __init__(self, x, y=0):
        self.x = x
        self.y = y


class Other(Record):
    _fields = ("x", "y")

    def __init__(self, x, y=0):
        self.x = x
        self.y = y


class Frozen(FrozenRecord):
    _fields = ("x", "y")

    def __init__(self, x, y=0):
        self._set(x=x, y=y)


class RecordTests(unittest.TestCase):
    def test_equal_by_fields_and_class(self):
        self.assertEqual(Point(1, 2), Point(1, 2))
        self.assertNotEqual(Point(1, 2), Point(1, 3))
        self.assertNotEqual(Point(1, 2), Other(1, 2))
        self.assertNotEqual(Point(1, 2), (1, 2))

    def test_mutable_and_unhashable(self):
        p = Point(1)
        p.y = 5
        self.assertEqual(p, Point(1, 5))
        self.assertRaises(TypeError, hash, p)

    def test_repr_names_the_fields(self):
        self.assertEqual(repr(Point(1, "a")), "Point(x=1, y='a')")


class FrozenRecordTests(unittest.TestCase):
    def test_equal_and_hashed_by_fields(self):
        self.assertEqual(Frozen(1, 2), Frozen(1, 2))
        self.assertNotEqual(Frozen(1, 2), Frozen(2, 1))
        self.assertEqual(hash(Frozen(1, 2)), hash(Frozen(1, 2)))
        self.assertEqual(len({Frozen(1, 2), Frozen(1, 2), Frozen(2, 2)}), 2)

    def test_fields_cannot_change(self):
        f = Frozen(1)
        self.assertRaises(AttributeError, setattr, f, "x", 2)
        self.assertRaises(AttributeError, setattr, f, "z", 2)
        self.assertRaises(AttributeError, delattr, f, "x")
        self.assertEqual(f, Frozen(1, 0))

    def test_stub_descriptors_show_as_dataclasses_did(self):
        a = ArgDesc("n", "T")
        self.assertEqual(repr(a), "ArgDesc(name='n', type='T', doc='')")
        m = MethodDesc("Get", out_args=(a,))
        self.assertEqual(m, MethodDesc(name="Get", doc="", out_args=(ArgDesc("n", "T", ""),)))
        self.assertEqual(hash(m), hash(MethodDesc("Get", out_args=(ArgDesc("n", "T"),))))
        self.assertEqual(repr(m), "MethodDesc(name='Get', doc='', in_args=(), out_args=("
                         "ArgDesc(name='n', type='T', doc=''),), in_stream=None, "
                         "out_stream=None, tags=())")


class Pair(NamedTuple):
    """Two things."""
    first: int
    second: str = "b"

    def both(self) -> str:
        return f"{self.first}{self.second}"


class TypingPair(typing.NamedTuple):
    """Two things."""
    first: int
    second: str = "b"


class NamedTupleTests(unittest.TestCase):
    """v23py.records.NamedTuple: typing.NamedTuple's class syntax and classes."""

    def test_same_as_typing_named_tuple(self):
        mine, theirs = Pair(1), TypingPair(1)
        self.assertEqual((mine, mine._fields, mine._field_defaults, repr(mine)[4:]),
                         (theirs, theirs._fields, theirs._field_defaults, repr(theirs)[10:]))
        self.assertEqual((mine._replace(second="c"), mine._asdict(), Pair._make([2, "x"])),
                         ((1, "c"), {"first": 1, "second": "b"}, (2, "x")))
        self.assertEqual((Pair.__doc__, Pair.__module__, Pair.__qualname__, Pair.__bases__),
                         ("Two things.", __name__, "Pair", (tuple,)))

    def test_the_class_bodys_methods_come_along(self):
        self.assertEqual(Pair(3, "z").both(), "3z")

    def test_a_default_must_not_come_before_a_field_without_one(self):
        with self.assertRaises(TypeError):
            class Bad(NamedTuple):
                first: int = 0
                second: str

    def test_annotations_are_not_compiled(self):
        # (what makes it cheap: typing compiles each annotation, here only a string)
        compiled = []
        real = builtins.compile

        def counting(source, *args, **kw):
            compiled.append(source)
            return real(source, *args, **kw)
        self.patch(builtins, "compile", counting)

        class Three(NamedTuple):
            x: int
            y: dict[str, int]
            z: Pair

        self.assertEqual((Three(1, {}, Pair(2)).z.first, compiled), (2, []))

    def test_lazily_annotated_class_is_refused_not_made_without_fields(self):
        # (Python 3.14 without the __future__ import gives the body __annotate__, no
        # __annotations__: a class made from it would silently have no fields)
        def annotate(fmt):
            return {"x": int}
        with self.assertRaises(TypeError):
            type(NamedTuple)("Lazy", (NamedTuple,), {"__module__": __name__,
                                                      "__annotate__": annotate})
