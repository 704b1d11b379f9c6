"""A type's unique string (its identity: interning, equality, hashing, VOM's type matching)
is the same whether it is walked in full or copies the strings of the named types inside
it (v23py.vdl._types._unique_str): checked against a plain walk, over every generated
package's types and over random groups of recursive types built in random orders."""
import importlib
import pkgutil
import random

from twisted.trial import unittest

from v23py import vdl
from v23py.vdl import Kind, _types


def plain_unique(t):
    """The unique string by a plain walk, as Go's vdl.Type.String() spells it."""
    out = []
    seen = set()

    def walk(t):
        if t.name and id(t) in seen:
            out.append(t.name)
            return
        seen.add(id(t))
        if t.name:
            out.append(t.name + " ")
        k = t.kind
        if k == Kind.OPTIONAL:
            out.append("?")
            walk(t.elem)
        elif k == Kind.ENUM:
            out.append("enum{" + ";".join(t.labels) + "}")
        elif k == Kind.ARRAY:
            out.append("[%d]" % t.len)
            walk(t.elem)
        elif k == Kind.LIST:
            out.append("[]")
            walk(t.elem)
        elif k == Kind.SET:
            out.append("set[")
            walk(t.key)
            out.append("]")
        elif k == Kind.MAP:
            out.append("map[")
            walk(t.key)
            out.append("]")
            walk(t.elem)
        elif k in (Kind.STRUCT, Kind.UNION):
            out.append("struct{" if k == Kind.STRUCT else "union{")
            for i, f in enumerate(t.fields):
                out.append((";" if i else "") + f.name + " ")
                walk(f.type)
            out.append("}")
        else:
            out.append(str(k))

    walk(t)
    return "".join(out)


def _generated_types():
    import v23py.v23
    import v23py.xref
    types = []
    for pkg in (v23py.v23, v23py.xref):
        for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
            try:
                mod = importlib.import_module(m.name)
            except ImportError:
                continue
            for v in vars(mod).values():
                t = getattr(v, "_vdl_type", None)
                if isinstance(t, vdl.Type):
                    types.append(t)
    return types


def _random_group(rng, n, prefix):
    """n types in one builder, named or not, referring to each other at random (every
    cycle through a named struct), built in a random order; returns the built types."""
    b = vdl.TypeBuilder()
    named = [b.struct("%s.S%d" % (prefix, i)) for i in range(n)]
    prims = [vdl.StringType, vdl.ByteListType, vdl.BoolType, vdl.Int32Type]
    for s in named:
        for j in range(rng.randint(1, 4)):
            r = rng.random()
            if r < 0.4:
                ft = rng.choice(named)
                ft = b.optional(ft) if rng.random() < 0.5 else b.list(ft)
            elif r < 0.6:
                ft = b.map(vdl.StringType, rng.choice(named))
            else:
                ft = rng.choice(prims)
            s.append_field("F%d" % j, ft)
    if rng.random() < 0.5:
        rng.shuffle(b._pending)
    b.build()
    return [p.type for p in named]


class UniqueStringTest(unittest.TestCase):
    def test_generated_types(self):
        types = _generated_types()
        self.assertGreater(len(types), 100)
        for t in types:
            self.assertEqual(t.unique(), plain_unique(t), t.name)

    def test_random_recursive_groups(self):
        rng = random.Random(18)
        for g in range(60):
            built = _random_group(rng, rng.randint(1, 6), "p%d" % g)
            # and types made later around them, in other orders and contexts
            outer = vdl.struct("p%d.Outer" % g, [("F%d" % i, t)
                                                for i, t in enumerate(rng.sample(built, len(built)))])
            for t in built + [outer, vdl.list_of(outer), vdl.map_of(vdl.StringType, outer)]:
                self.assertEqual(t.unique(), plain_unique(t))

    def test_a_type_met_again_inside_another_is_named_only(self):
        b = vdl.TypeBuilder()
        a = b.struct("t.A")
        c = b.struct("t.C")
        a.append_field("X", vdl.StringType)
        c.append_field("P", a)
        c.append_field("Q", a)
        b.build()
        self.assertEqual(c.type.unique(), "t.C struct{P t.A struct{X string};Q t.A}")
        self.assertEqual(a.type._closure, frozenset({id(a.type)}))

    def test_wire_bound_still_holds(self):
        # a peer's deep nesting is refused by the bound whether strings are copied or walked
        b = vdl.TypeBuilder()
        prev = vdl.StringType
        ps = []
        for i in range(12):
            p = b.struct("deep.T%d" % i)
            p.append_field("A", prev)
            p.append_field("B", b.list(prev))
            ps.append(p)
            prev = p
        from v23py import verror
        with self.assertRaises(verror.VError):
            b.build(max_unique=2000)

    def test_interning_unchanged(self):
        t1 = vdl.struct("u.Same", [("A", vdl.StringType)])
        t2 = vdl.struct("u.Same", [("A", vdl.StringType)])
        self.assertIs(t1, t2)
        self.assertIs(_types._interned[plain_unique(t1)], t1)
