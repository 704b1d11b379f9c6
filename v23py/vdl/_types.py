"""VDL types: kinds, hash-consed Type objects, constructors and a builder for
recursive types.

Two types are equal exactly when their unique strings are equal; the unique
string is Go's ``vdl.Type.String()`` form, which names every named type in full
the first time it appears and by name alone after that (this is also how
cycles end).
"""
from __future__ import annotations

# (_thread, not threading: the same C locks without importing threading.py)
from _thread import allocate_lock as _Lock
import weakref
from typing import ClassVar, Iterable, Iterator, Sequence, Union

from v23py import verror
from v23py.records import NamedTuple

MAX_TYPE_DEPTH = 64  # nesting bound when checking untrusted (wire) types


class _KindClass(type):
    # what code may use of an enum class: iteration in value order, len, lookup by name
    def __iter__(cls) -> Iterator["Kind"]:
        return iter(_KINDS)

    def __len__(cls) -> int:
        return len(_KINDS)

    def __getitem__(cls, name: str) -> "Kind":
        try:
            return _KINDS[_KIND_NAMES.index(name)]
        except ValueError:
            raise KeyError(name) from None


class Kind(int, metaclass=_KindClass):
    """The kind of a VDL type (Go's vdl.Kind): an int with a name (``Kind.STRING``,
    ``Kind(13)``, ``k.name``, ``k.value``, iteration in value order); ``str(k)`` is Go's
    Kind.String().  It behaves as the enum.IntEnum it was, but is not one: making that
    enum class cost every tool's start ~1.9 M instructions (~0.6 ms), and on Python 3.11
    every ``Kind.X`` went through the enum metaclass."""

    __slots__ = ()
    ANY: ClassVar[Kind]
    OPTIONAL: ClassVar[Kind]
    BOOL: ClassVar[Kind]
    BYTE: ClassVar[Kind]
    UINT16: ClassVar[Kind]
    UINT32: ClassVar[Kind]
    UINT64: ClassVar[Kind]
    INT8: ClassVar[Kind]
    INT16: ClassVar[Kind]
    INT32: ClassVar[Kind]
    INT64: ClassVar[Kind]
    FLOAT32: ClassVar[Kind]
    FLOAT64: ClassVar[Kind]
    STRING: ClassVar[Kind]
    ENUM: ClassVar[Kind]
    TYPEOBJECT: ClassVar[Kind]
    ARRAY: ClassVar[Kind]
    LIST: ClassVar[Kind]
    SET: ClassVar[Kind]
    MAP: ClassVar[Kind]
    STRUCT: ClassVar[Kind]
    UNION: ClassVar[Kind]

    def __new__(cls, value: int = 0) -> "Kind":
        if isinstance(value, int) and 0 <= value < len(_KINDS):
            return _KINDS[value]
        raise ValueError(f"{value!r} is not a valid Kind")

    @property
    def name(self) -> str:
        return _KIND_NAMES[self]

    @property
    def value(self) -> int:
        return int(self)

    def __str__(self) -> str:  # Go's Kind.String()
        return _KIND_NAMES[self].lower()

    def __repr__(self) -> str:
        return f"<Kind.{_KIND_NAMES[self]}: {int(self)}>"

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)

    def __reduce__(self) -> tuple:
        return (Kind, (int(self),))


_KIND_NAMES = ('ANY', 'OPTIONAL', 'BOOL', 'BYTE', 'UINT16', 'UINT32', 'UINT64', 'INT8', 'INT16', 'INT32', 'INT64', 'FLOAT32', 'FLOAT64', 'STRING', 'ENUM', 'TYPEOBJECT', 'ARRAY', 'LIST', 'SET', 'MAP', 'STRUCT', 'UNION')
_KINDS: "tuple[Kind, ...]" = tuple(int.__new__(Kind, i) for i in range(len(_KIND_NAMES)))
for _k in _KINDS:
    setattr(Kind, _KIND_NAMES[_k], _k)
del _k


PRIMITIVE_KINDS = frozenset({
    Kind.BOOL, Kind.BYTE, Kind.UINT16, Kind.UINT32, Kind.UINT64, Kind.INT8,
    Kind.INT16, Kind.INT32, Kind.INT64, Kind.FLOAT32, Kind.FLOAT64, Kind.STRING})
INT_KINDS = frozenset({Kind.BYTE, Kind.UINT16, Kind.UINT32, Kind.UINT64, Kind.INT8,
                       Kind.INT16, Kind.INT32, Kind.INT64})
INT_RANGES = {
    Kind.BYTE: (0, 0xFF), Kind.UINT16: (0, 0xFFFF), Kind.UINT32: (0, 0xFFFFFFFF),
    Kind.UINT64: (0, 0xFFFFFFFFFFFFFFFF), Kind.INT8: (-0x80, 0x7F),
    Kind.INT16: (-0x8000, 0x7FFF), Kind.INT32: (-0x80000000, 0x7FFFFFFF),
    Kind.INT64: (-0x8000000000000000, 0x7FFFFFFFFFFFFFFF),
}
FLOAT_KINDS = frozenset({Kind.FLOAT32, Kind.FLOAT64})


class Field(NamedTuple):
    """A struct or union field: (name, type)."""
    name: str
    type: Type


class Type:
    """An immutable VDL type.  Build with the module constructors, never directly."""

    __slots__ = ("kind", "name", "elem", "key", "fields", "labels", "len",
                 "_unique", "_closure", "_hash", "_field_index", "_has_any", "_has_typeobject",
                 "_cache", "__weakref__")

    def __init__(self, kind: Kind, name: str = "", elem=None, key=None,
                 fields: Sequence[Field] = (), labels: Sequence[str] = (), len: int = 0):
        self.kind = kind
        self.name = name
        self.elem = elem
        self.key = key
        self.fields = tuple(fields)
        self.labels = tuple(labels)
        self.len = len
        self._unique = None
        self._closure: "frozenset[int] | None" = None   # see _unique_str
        self._hash = None
        self._field_index = None
        self._has_any = None
        self._has_typeobject = None
        self._cache = {}  # per-type caches for codecs (vom), keyed by owner

    # -- identity -------------------------------------------------------
    def unique(self) -> str:
        u = self._unique
        if u is None:
            out: list[str] = []
            seen: set[int] = set()
            _unique_str(self, out, seen)
            u = "".join(out)
            self._closure = frozenset(seen)
            self._unique = u
        return u

    def __str__(self) -> str:
        return self.unique()

    def __repr__(self) -> str:
        return f"<vdl.Type {self.unique()}>"

    def __eq__(self, other) -> bool:
        if self is other:
            return True
        if not isinstance(other, Type):
            return NotImplemented
        return self.unique() == other.unique()

    def __ne__(self, other) -> bool:
        r = self.__eq__(other)
        return r if r is NotImplemented else not r

    def __hash__(self) -> int:
        h = self._hash
        if h is None:
            h = self._hash = hash(self.unique())
        return h

    # -- helpers --------------------------------------------------------
    def field_index(self, name: str) -> int:
        """Index of the struct/union field ``name``, or -1."""
        fi = self._field_index
        if fi is None:
            fi = self._field_index = {f.name: i for i, f in enumerate(self.fields)}
        return fi.get(name, -1)

    def walk(self) -> Iterator["Type"]:
        """This type and every type inside it (elem, key, fields), each once: the one
        type-graph walk (cycles through named types are followed once)."""
        seen: set[int] = set()
        stack = [self]
        while stack:
            t = stack.pop()
            if id(t) in seen:
                continue
            seen.add(id(t))
            yield t
            if t.elem is not None:
                stack.append(t.elem)
            if t.key is not None:
                stack.append(t.key)
            stack.extend(f.type for f in t.fields)

    def contains_kind(self, *kinds: Kind) -> bool:
        return any(t.kind in kinds for t in self.walk())

    @property
    def has_any(self) -> bool:
        h = self._has_any
        if h is None:
            h = self._has_any = self.contains_kind(Kind.ANY)
        return h

    @property
    def has_typeobject(self) -> bool:
        h = self._has_typeobject
        if h is None:
            h = self._has_typeobject = self.contains_kind(Kind.TYPEOBJECT)
        return h

    def is_bytes(self) -> bool:
        """A list or array of byte (named or not): encoded as raw bytes."""
        return self.kind in (Kind.LIST, Kind.ARRAY) and self.elem.kind == Kind.BYTE

    def can_be_key(self) -> bool:
        return not self.contains_kind(Kind.ANY, Kind.LIST, Kind.MAP, Kind.OPTIONAL,
                                      Kind.SET, Kind.TYPEOBJECT)

    def can_be_nil(self) -> bool:
        return self.kind in (Kind.ANY, Kind.OPTIONAL)


TYPE_TOO_LARGE = "type definition too large"   # (more unique string than a bound allows)


class _BoundedOut(list):
    """An output list for _unique_str that refuses to grow past ``room`` characters.

    A named type's unique string spells out every named type inside it, so a peer can
    make a short stream of types whose strings are huge (nesting deep types again and
    again); wire types are built with this bound.
    """
    __slots__ = ("room",)

    def append(self, s):
        self.room -= len(s)
        if self.room < 0:
            raise verror.BadArg.new(TYPE_TOO_LARGE)
        list.append(self, s)


# Plain ints and names of the kinds for _unique_str, the hottest loop of type building
# (``str(kind)`` is a Python call).
(_K_OPTIONAL, _K_ENUM, _K_ARRAY, _K_LIST, _K_SET, _K_MAP, _K_STRUCT, _K_UNION) = (
    int(Kind.OPTIONAL), int(Kind.ENUM), int(Kind.ARRAY), int(Kind.LIST), int(Kind.SET),
    int(Kind.MAP), int(Kind.STRUCT), int(Kind.UNION))
_KIND_STR = {int(k): str(k) for k in Kind}


def _unique_str(t: Type, out: list, seen: set) -> None:
    """Append t's unique string to ``out``: a named type is spelled out where the walk
    first meets it and by its name only after that (``seen``: the ids of the named types
    met so far).  A named type whose own string is known and none of whose named types
    (its ``_closure``, the ``seen`` its own walk ended with) were met yet is spelled out
    exactly as its own walk did, so that string is copied instead of walked again (a
    package's types nest one another: walking each anew made building them quadratic);
    an unnamed type's known string likewise."""
    name = t.name
    if name and id(t) in seen:
        out.append(name)
        return
    if t._unique is not None:
        # (an unnamed type's too: a chain of them, each made on the one before, is then
        # built in linear steps, not walked whole at each link)
        c = t._closure
        if c is not None and c.isdisjoint(seen):
            out.append(t._unique)
            seen.update(c)
            return
    if name:
        seen.add(id(t))
        out.append(name)
        out.append(" ")
    k = t.kind
    if k == _K_OPTIONAL:
        out.append("?")
        _unique_str(t.elem, out, seen)
    elif k == _K_ENUM:
        out.append("enum{" + ";".join(t.labels) + "}")
    elif k == _K_ARRAY:
        out.append(f"[{t.len}]")
        _unique_str(t.elem, out, seen)
    elif k == _K_LIST:
        out.append("[]")
        _unique_str(t.elem, out, seen)
    elif k == _K_SET:
        out.append("set[")
        _unique_str(t.key, out, seen)
        out.append("]")
    elif k == _K_MAP:
        out.append("map[")
        _unique_str(t.key, out, seen)
        out.append("]")
        _unique_str(t.elem, out, seen)
    elif k == _K_STRUCT or k == _K_UNION:
        out.append("struct{" if k == _K_STRUCT else "union{")
        for i, f in enumerate(t.fields):
            if i:
                out.append(";")
            out.append(f.name + " ")
            _unique_str(f.type, out, seen)
        out.append("}")
    else:
        out.append(_KIND_STR[k])


# -- interning ---------------------------------------------------------------
_lock = _Lock()
# Weak: a type lives as long as something uses it.  Types a peer defines on a connection
# are held by that connection's decoder and go when it goes (issue 12, B4); the program's
# own types are held by the modules that made them.
_interned: "weakref.WeakValueDictionary[str, Type]" = weakref.WeakValueDictionary()


# The interned named types by name (the latest of each name: a peer may define another
# type of the same name).  VOM's type decoder checks a peer's definitions against these
# before building anything (v23py.vom._typeenc).
_named: "weakref.WeakValueDictionary[str, Type]" = weakref.WeakValueDictionary()


def _intern(t: Type) -> Type:
    u = t.unique()
    with _lock:
        got = _interned.get(u)
        if got is None:
            _interned[u] = t
            got = t
            if t.name:
                _named[t.name] = t
    return got


def named_type(name: str) -> "Type | None":
    """An interned type named ``name`` (the latest made), or None."""
    return _named.get(name)


def _check_name(name: str) -> None:
    if not isinstance(name, str):
        raise verror.BadArg.new("type name must be a string")


# -- built-in types ----------------------------------------------------------
AnyType = _intern(Type(Kind.ANY))
BoolType = _intern(Type(Kind.BOOL))
ByteType = _intern(Type(Kind.BYTE))
Uint16Type = _intern(Type(Kind.UINT16))
Uint32Type = _intern(Type(Kind.UINT32))
Uint64Type = _intern(Type(Kind.UINT64))
Int8Type = _intern(Type(Kind.INT8))
Int16Type = _intern(Type(Kind.INT16))
Int32Type = _intern(Type(Kind.INT32))
Int64Type = _intern(Type(Kind.INT64))
Float32Type = _intern(Type(Kind.FLOAT32))
Float64Type = _intern(Type(Kind.FLOAT64))
StringType = _intern(Type(Kind.STRING))
TypeObjectType = _intern(Type(Kind.TYPEOBJECT))

PRIMITIVE_TYPES = {t.kind: t for t in (
    BoolType, ByteType, Uint16Type, Uint32Type, Uint64Type, Int8Type, Int16Type, Int32Type,
    Int64Type, Float32Type, Float64Type, StringType)}


# -- constructors ------------------------------------------------------------
def _validate_elem(kind: Kind, elem: Type) -> None:
    if not isinstance(elem, Type):
        raise verror.BadArg.new(f"{kind} element must be a vdl.Type, got {elem!r}")


def named(name: str, base: Type) -> Type:
    """The named version of ``base`` (a primitive or composite; not any/typeobject)."""
    _check_name(name)
    if base.kind in (Kind.ANY, Kind.TYPEOBJECT, Kind.OPTIONAL):
        raise verror.BadArg.new(f"{base.kind} cannot be named")
    return _intern(Type(base.kind, name, base.elem, base.key, base.fields, base.labels, base.len))


def list_of(elem: Type, name: str = "") -> Type:
    _validate_elem(Kind.LIST, elem)
    return _intern(Type(Kind.LIST, name, elem=elem))


def array_of(elem: Type, n: int, name: str = "") -> Type:
    _validate_elem(Kind.ARRAY, elem)
    if not isinstance(n, int) or n < 0:
        raise verror.BadArg.new(f"bad array length {n!r}")
    return _intern(Type(Kind.ARRAY, name, elem=elem, len=n))


def set_of(key: Type, name: str = "") -> Type:
    _validate_elem(Kind.SET, key)
    return _intern(Type(Kind.SET, name, key=key))


def map_of(key: Type, elem: Type, name: str = "") -> Type:
    _validate_elem(Kind.MAP, key)
    _validate_elem(Kind.MAP, elem)
    return _intern(Type(Kind.MAP, name, key=key, elem=elem))


def optional(elem: Type) -> Type:
    _validate_elem(Kind.OPTIONAL, elem)
    if elem.kind != Kind.STRUCT or not elem.name:
        raise verror.BadArg.new(f"optional elem must be a named struct, got {elem}")
    return _intern(Type(Kind.OPTIONAL, elem=elem))


def _fields(fields) -> tuple:
    out = []
    names = set()
    for f in fields:
        fname, ftype = f
        if fname in names:
            raise verror.BadArg.new(f"duplicate field {fname!r}")
        names.add(fname)
        _validate_elem(Kind.STRUCT, ftype)
        out.append(Field(fname, ftype))
    return tuple(out)


def struct(name: str, fields: Iterable) -> Type:
    return _intern(Type(Kind.STRUCT, name, fields=_fields(fields)))


def union(name: str, fields: Iterable) -> Type:
    fs = _fields(fields)
    if not fs:
        raise verror.BadArg.new("a union needs at least one field")
    return _intern(Type(Kind.UNION, name, fields=fs))


def enum_type(name: str, labels: Iterable[str]) -> Type:
    labels = tuple(labels)
    if not labels:
        raise verror.BadArg.new("an enum needs at least one label")
    if len(set(labels)) != len(labels):
        raise verror.BadArg.new("duplicate enum label")
    return _intern(Type(Kind.ENUM, name, labels=labels))


def primitive(kind: Kind, name: str = "") -> Type:
    t = PRIMITIVE_TYPES[kind]
    return named(name, t) if name else t


# -- the built-in error type --------------------------------------------------
WireRetryCodeType = enum_type("v.io/v23/vdl.WireRetryCode",
                              ["NoRetry", "RetryConnection", "RetryRefetch", "RetryBackoff"])
AnyListType = list_of(AnyType)
WireErrorType = struct("v.io/v23/vdl.WireError", [
    ("Id", StringType), ("RetryCode", WireRetryCodeType), ("Msg", StringType),
    ("ParamList", AnyListType)])
ErrorType = optional(WireErrorType)
ByteListType = list_of(ByteType)
StringListType = list_of(StringType)


# -- recursive types ---------------------------------------------------------
class PendingType:
    """A type under construction in a TypeBuilder; children may be pending too."""

    def __init__(self, builder: "TypeBuilder", kind: Kind, name: str = "") -> None:
        self._builder = builder
        self.kind = kind
        self.name = name
        self.elem: "TypeLike" = None
        self.key: "TypeLike" = None
        self.fields: list[tuple[str, "TypeLike"]] = []
        self.labels: list[str] = []
        self.len = 0
        self.built: Type | None = None

    def append_field(self, name: str, t: "TypeLike") -> "PendingType":
        self.fields.append((name, t))
        return self

    @property
    def type(self) -> Type:
        """The built Type (after the builder's ``build()``)."""
        if self.built is None:
            raise verror.BadState.new(f"type {self.name!r} is not built yet")
        return self.built


#: A type, or one still being built in a TypeBuilder (None: not set yet).
TypeLike = Union[Type, PendingType, None]


class TypeBuilder:
    """Builds groups of possibly mutually recursive types.

        b = TypeBuilder()
        a = b.list(name="pkg.RecA"); a.elem = a
        b.build(); a.built  # the Type
    """

    def __init__(self) -> None:
        self._pending: list[PendingType] = []

    def _new(self, kind: Kind, name: str = "") -> PendingType:
        p = PendingType(self, kind, name)
        self._pending.append(p)
        return p

    def named(self, name: str, kind: Kind) -> PendingType:  # named primitive
        return self._new(kind, name)

    def list(self, elem: TypeLike = None, name: str = "") -> PendingType:
        p = self._new(Kind.LIST, name)
        p.elem = elem
        return p

    def array(self, elem: TypeLike = None, n: int = 0, name: str = "") -> PendingType:
        p = self._new(Kind.ARRAY, name)
        p.elem, p.len = elem, n
        return p

    def set(self, key: TypeLike = None, name: str = "") -> PendingType:
        p = self._new(Kind.SET, name)
        p.key = key
        return p

    def map(self, key: TypeLike = None, elem: TypeLike = None, name: str = "") -> PendingType:
        p = self._new(Kind.MAP, name)
        p.key, p.elem = key, elem
        return p

    def optional(self, elem: TypeLike = None) -> PendingType:
        p = self._new(Kind.OPTIONAL)
        p.elem = elem
        return p

    def struct(self, name: str = "") -> PendingType:
        return self._new(Kind.STRUCT, name)

    def union(self, name: str = "") -> PendingType:
        return self._new(Kind.UNION, name)

    def enum(self, name: str = "", labels: Iterable[str] = ()) -> PendingType:
        p = self._new(Kind.ENUM, name)
        p.labels = list(labels)
        return p

    def build(self, max_unique: int | None = None) -> int:
        """Build the pending types (``p.built``).  With ``max_unique``, the unique strings
        of the new types may total at most that many characters (BadArg beyond);
        returns their total length."""
        made: dict[int, Type] = {}
        for p in self._pending:
            made[id(p)] = Type(p.kind, p.name)

        def res(x):
            if isinstance(x, PendingType):
                if x._builder is not self:
                    if x.built is None:
                        raise verror.BadArg.new("pending type from another builder is not built")
                    return x.built
                return made[id(x)]
            if not isinstance(x, Type):
                raise verror.BadArg.new(f"not a type: {x!r}")
            return x

        for p in self._pending:
            t = made[id(p)]
            if p.kind in (Kind.LIST, Kind.ARRAY, Kind.OPTIONAL, Kind.MAP):
                if p.elem is None:
                    raise verror.BadArg.new(f"{p.kind} {p.name!r} has no elem")
                t.elem = res(p.elem)
            if p.kind in (Kind.SET, Kind.MAP):
                if p.key is None:
                    raise verror.BadArg.new(f"{p.kind} {p.name!r} has no key")
                t.key = res(p.key)
            if p.kind in (Kind.STRUCT, Kind.UNION):
                t.fields = _fields((n, res(ft)) for n, ft in p.fields)
            if p.kind == Kind.ENUM:
                t.labels = tuple(p.labels)
            t.len = p.len
        for p in self._pending:
            if not is_unnamed_recursive_safe(made[id(p)]):
                raise verror.BadArg.new("a type cycle must pass through a named type")
        for p in self._pending:
            _validate_built(made[id(p)])
        total = 0
        if max_unique is not None:
            for p in self._pending:
                t = made[id(p)]
                out = _BoundedOut()
                out.room = max_unique - total
                seen: set[int] = set()
                _unique_str(t, out, seen)
                t._closure = frozenset(seen)
                t._unique = "".join(out)
                total += len(t._unique)
        for p in self._pending:
            p.built = _intern(made[id(p)])
        self._pending = []
        return total


def _validate_built(t: Type) -> None:
    k = t.kind
    if k == Kind.OPTIONAL and (t.elem.kind != Kind.STRUCT or not t.elem.name):
        raise verror.BadArg.new(f"optional elem must be a named struct, got {t.elem.unique()[:200]}")
    if k in (Kind.ANY, Kind.TYPEOBJECT) and t.name:
        raise verror.BadArg.new(f"{k} cannot be named")
    if k == Kind.ENUM and (not t.labels or len(set(t.labels)) != len(t.labels)):
        raise verror.BadArg.new(f"bad enum labels in {t.name!r}")
    if k == Kind.UNION and not t.fields:
        raise verror.BadArg.new(f"union {t.name!r} has no fields")
    if k in (Kind.SET, Kind.MAP) and not t.key.can_be_key():
        raise verror.BadArg.new(f"invalid key type in {k} {t.name!r}")


def is_unnamed_recursive_safe(t: Type) -> bool:
    """Every cycle must pass through a named type (a check for wire types)."""
    state: dict[int, int] = {}

    def visit(x):
        if x.name:
            return True  # named types end cycles
        s = state.get(id(x))
        if s == 1:
            return False
        if s == 2:
            return True
        state[id(x)] = 1
        kids = [c for c in (x.elem, x.key) if c is not None] + [f.type for f in x.fields]
        ok = all(visit(c) for c in kids)
        state[id(x)] = 2
        return ok

    return visit(t)
