"""VDL values in Python.

Named types map to Python classes, found through a registry by type (and so by
Go wire name); a type nobody registered gets a class made on the fly, so that a
decoded value always knows its exact type and re-encodes byte for byte.

Representation by kind (unnamed types use the plain Python value)::

  bool -> bool, integers -> int, floats -> float, string -> str,
  enum -> Enum subclass, typeobject -> vdl.Type,
  []byte / [N]byte -> bytes, other lists -> list, arrays -> tuple,
  set -> set, map -> dict, struct -> Struct subclass, union -> Union subclass,
  optional -> None or the elem value, any -> None or a value that knows its type,
  error -> verror.VError or None.

A non-nil optional held in an ``any`` (Go's ``*T`` in an interface, as Go peers send
syncgroups and other records) is an instance of the elem's class marked optional
(``optional_value``): it reads like the struct, as a Go pointer does, and still
re-encodes as ``?T``.
Named types are subclasses of those (named bool subclasses int, holding 0 or 1).
``Typed(type, value)`` pins a type on a value where no class can (an optional or
a nil error held in an ``any``).
"""
from __future__ import annotations

import sys as _sys
# (_thread, not threading: the same C locks without importing threading.py)
from _thread import RLock as _RLock
from typing import TYPE_CHECKING, Any, ClassVar, Optional, TypeVar

from v23py import verror
from v23py.vdl._types import (
    AnyType, BoolType, ByteListType, ErrorType, Float64Type, Int64Type, Kind, StringType,
    Type, TypeObjectType, list_of, map_of, set_of, AnyListType)

_MISSING: Any = object()
if TYPE_CHECKING:   # (annotations only: a bound given as a string costs every process
    # its first compile(), ~3 ms, at import)
    _S = TypeVar("_S", bound="Struct")
    _E = TypeVar("_E", bound="Enum")
    _B = TypeVar("_B", bound="NamedBool")
_C = TypeVar("_C", bound=type)


class Struct:
    """Base of struct classes; fields are attributes named as in VDL."""

    __slots__ = ()
    _vdl_type: ClassVar[Type] = None  # type: ignore[assignment]  # set by subclasses; ?T on optional_class's

    def __init__(self, **fields: Any) -> None:
        # (the generic constructor: a struct class built often gets its own compiled
        # one, see _compile_init, which comes back here for anything unusual)
        plan = _init_plan(type(self))
        setter = object.__setattr__
        get = fields.get
        used = 0
        for name, mk in plan:
            v = get(name, _MISSING)
            if v is _MISSING:
                v = mk()
            else:
                used += 1
            setter(self, name, v)
        if used != len(fields):
            names = {name for name, _ in plan}
            extra = [k for k in fields if k not in names]
            t = _struct_type(type(self))
            raise TypeError(f"{t.name or 'struct'} has no field(s) {', '.join(extra)}")

    def _values(self):
        return tuple(getattr(self, f.name) for f in _struct_type(type(self)).fields)

    def __eq__(self, other: object) -> bool:
        # a ?T held in an any equals the T with the same fields, as *p and p compare in Go
        if not isinstance(other, Struct) or (
                _struct_type(type(other)) != _struct_type(type(self))):
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(tuple(_hashable(v) for v in self._values()))

    def __repr__(self) -> str:
        t = _struct_type(type(self))
        inner = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in t.fields)
        return f"{type(self).__name__}({inner})"

    def replace(self: _S, **changes: Any) -> _S:
        """A copy with some fields changed."""
        vals = {f.name: getattr(self, f.name) for f in _struct_type(type(self)).fields}
        vals.update(changes)
        return type(self)(**vals)


def _struct_type(cls) -> Type:
    """The struct type whose fields instances of ``cls`` have (T for a ?T class)."""
    t = cls._vdl_type
    return t.elem if t.kind == Kind.OPTIONAL else t


class Union:
    """Base of union classes: exactly one field is set (``index``, ``name``, ``value``)."""

    __slots__ = ("index", "value")
    _vdl_type: ClassVar[Type] = None  # type: ignore[assignment]
    index: int
    value: Any

    def __init__(self, which: "int | str" = 0, value: Any = _MISSING) -> None:
        t = self._vdl_type
        if isinstance(which, str):
            i = t.field_index(which)
            if i < 0:
                raise TypeError(f"{t.name or 'union'} has no field {which!r}")
        else:
            i = int(which)
            if not 0 <= i < len(t.fields):
                raise TypeError(f"{t.name or 'union'} has no field index {i}")
        self.index = i
        self.value = zero(t.fields[i].type) if value is _MISSING else value

    @property
    def name(self) -> str:
        """The name of the field that is set."""
        return self._vdl_type.fields[self.index].name

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Union) or other._vdl_type != self._vdl_type:
            return NotImplemented
        return self.index == other.index and self.value == other.value

    def __hash__(self) -> int:
        return hash((self.index, _hashable(self.value)))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, {self.value!r})"


class Enum:
    """Base of enum classes; one instance per label, also as class attributes."""

    __slots__ = ("label", "index")
    _vdl_type: ClassVar[Type] = None  # type: ignore[assignment]
    _members: ClassVar[tuple[Any, ...]] = ()
    _by_label: ClassVar[dict[str, Any]] = {}
    label: str
    index: int

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        t = cls.__dict__.get("_vdl_type")
        if t is None:
            return
        members = []
        for i, label in enumerate(t.labels):
            m = object.__new__(cls)
            m.label, m.index = label, i
            members.append(m)
        cls._members = tuple(members)
        cls._by_label = {m.label: m for m in members}
        for m in members:
            if not hasattr(Enum, m.label):
                setattr(cls, m.label, m)

    def __new__(cls: type[_E], which: "int | str | Enum" = 0) -> _E:
        if isinstance(which, Enum):
            which = which.label
        if isinstance(which, str):
            m = cls._by_label.get(which)
            if m is None:
                raise verror.BadArg.new(f"{cls._vdl_type.name}: unknown enum label {which!r}")
            return m
        if not 0 <= which < len(cls._members):
            raise verror.BadArg.new(f"{cls._vdl_type.name}: enum index {which} out of range")
        return cls._members[which]

    def __init__(self, which: "int | str | Enum" = 0) -> None:
        pass

    def __eq__(self, other):
        if isinstance(other, str):
            return self.label == other
        if isinstance(other, Enum):
            return self._vdl_type == other._vdl_type and self.index == other.index
        return NotImplemented

    def __hash__(self):
        return hash(self.label)

    def __reduce__(self):
        return (type(self), (self.label,))

    def __repr__(self):
        return f"{type(self).__name__}.{self.label}"

    def __str__(self):
        return self.label


class NamedBool(int):
    """Base of named bool types (bool cannot be subclassed)."""

    def __new__(cls: type[_B], v: object = False) -> _B:
        return int.__new__(cls, 1 if v else 0)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({bool(self)})"

    __str__ = __repr__


class Typed:
    """A value with an explicit type, for where no class can carry it."""

    __slots__ = ("type", "value")

    def __init__(self, type: Type, value: Any) -> None:
        self.type = type
        self.value = value

    def __eq__(self, other):
        if not isinstance(other, Typed):
            return NotImplemented
        return self.type == other.type and self.value == other.value

    def __hash__(self):
        return hash((self.type, _hashable(self.value)))

    def __repr__(self):
        return f"Typed({self.type}, {self.value!r})"


def _hashable(v):
    if isinstance(v, list):
        return tuple(_hashable(x) for x in v)
    if isinstance(v, dict):
        return frozenset((k, _hashable(x)) for k, x in v.items())
    if isinstance(v, set):
        return frozenset(v)
    return v


# -- registry -----------------------------------------------------------------
_lock = _RLock()
_reg_gen = 0   # bumped by every registration
_by_type: dict[Type, type] = {}
_by_name: dict[str, type] = {}

_BASES = {
    Kind.BOOL: NamedBool, Kind.BYTE: int, Kind.UINT16: int, Kind.UINT32: int,
    Kind.UINT64: int, Kind.INT8: int, Kind.INT16: int, Kind.INT32: int, Kind.INT64: int,
    Kind.FLOAT32: float, Kind.FLOAT64: float, Kind.STRING: str, Kind.ENUM: Enum,
    Kind.LIST: list, Kind.ARRAY: tuple, Kind.SET: set, Kind.MAP: dict,
    Kind.STRUCT: Struct, Kind.UNION: Union,
}


def base_class(t: Type) -> type:
    """The Python base class for values of ``t``'s kind."""
    if t.is_bytes():
        return bytes
    return _BASES[t.kind]


def register_type(t: Type, cls: _C) -> _C:
    """Map type ``t`` (and its wire name) to class ``cls``; returns cls."""
    global _reg_gen
    with _lock:
        _reg_gen += 1   # compiled zero makers capture classes: rebuild them
        _by_type[t] = cls
        if t.name:
            _by_name[t.name] = cls
    return cls


def register(cls: _C) -> _C:
    """Class decorator: register ``cls`` under its ``_vdl_type``."""
    t = cls.__dict__.get("_vdl_type")
    if t is None:
        raise TypeError(f"{cls.__name__} has no _vdl_type")
    return register_type(t, cls)


def registered_class(t: Type) -> Optional[type]:
    """The class registered for exactly ``t``, or None."""
    return _by_type.get(t)


def class_by_name(name: str) -> Optional[type]:
    return _by_name.get(name)


def class_for(t: Type) -> type | None:
    """The class of values of ``t``: registered, or made now.  None for the kinds
    that have no class (any, optional, typeobject)."""
    cls = _by_type.get(t)
    if cls is not None:
        return cls
    if t.kind in (Kind.ANY, Kind.OPTIONAL, Kind.TYPEOBJECT):
        return None
    # A class made here lives on the type (not in the registry), so it goes with the type.
    cls = t._cache.get(_CLS)
    if cls is None:
        with _lock:
            cls = t._cache.get(_CLS)
            if cls is None:
                cls = _make_class(t)
                t._cache[_CLS] = cls
    return cls


_CLS = "vdl.class"
_STRUCT_ATTRS = frozenset(dir(Struct)) | {"_vdl_type", "_vdl_init_plan"}
_OPT = "vdl.optional_class"   # t._cache[_OPT]: the class (it goes with the type, see _CLS)


def optional_class(t: Type) -> type:
    """The class of non-nil values of the optional type ``t`` where the type must
    travel with the value (an ``any``): a subclass of the elem's struct class whose
    instances ``type_of`` reports as ``t``."""
    if t.kind != Kind.OPTIONAL:
        raise verror.BadArg.new(f"not an optional type: {t}")
    elem = class_for(t.elem)
    cls = t._cache.get(_OPT)
    if cls is None or cls.__base__ is not elem:   # made again after a re-registration
        with _lock:
            cls = type(elem.__name__, (elem,), {
                "__slots__": (), "_vdl_type": t,
                "__module__": elem.__module__, "__qualname__": "?" + elem.__qualname__})
            t._cache[_OPT] = cls
    return cls


def optional_value(t: Type, v: Any) -> Any:
    """``v`` (a value of ``t.elem``, or None) as a value of the optional type ``t`` that
    keeps ``t`` in an ``any``: None stays Typed(t, None); a struct becomes an instance
    of optional_class(t) with the same fields."""
    if v is None:
        return Typed(t, None)
    if isinstance(v, Typed):
        v = v.value
        if v is None:
            return Typed(t, None)
    cls = optional_class(t)
    if type(v) is cls:
        return v
    if not isinstance(v, Struct) or v._vdl_type != t.elem:
        from v23py.vdl import _convert
        v = _convert.convert(t.elem, v)
    out = object.__new__(cls)
    setter = object.__setattr__
    for f in t.elem.fields:
        setter(out, f.name, getattr(v, f.name))
    return out


def _py_name(t: Type) -> str:
    if t.name:
        # (a peer's type name may hold anything; Python class names cannot hold NUL)
        return t.name.rsplit(".", 1)[-1].rsplit("/", 1)[-1].replace("\x00", "?") or "Value"
    return str(t.kind)


def _check_field_names(t: Type) -> None:
    """Struct fields become attributes: refuse names that cannot be (Go's type builder
    takes any non-empty name; VDL itself only makes identifiers)."""
    for f in t.fields:
        n = f.name
        if not n.isidentifier() or n.startswith("__") or n in _STRUCT_ATTRS:
            raise verror.BadArg.new(f"struct field name {n[:64]!r} is not supported")


def _make_class(t: Type) -> type:
    base = base_class(t)
    ns = {"_vdl_type": t, "__module__": "v23py.vdl.generic"}
    if base in (Struct,):
        _check_field_names(t)
        ns["__slots__"] = tuple(f.name for f in t.fields)
    elif base is Union or base is Enum:
        ns["__slots__"] = ()
    return type(_py_name(t), (base,), ns)


# -- typing of plain values ------------------------------------------------------
_PLAIN_TYPES = {str: StringType, bool: BoolType, int: Int64Type, float: Float64Type,
                bytes: ByteListType}


def type_of(v: Any) -> Type:
    """The VDL type of a value: its class's, or the one inferred for plain values."""
    if v is None:
        return AnyType
    t = _PLAIN_TYPES.get(type(v))
    if t is not None:
        return t
    t = getattr(type(v), "_vdl_type", None)
    if t is not None:
        return t
    if isinstance(v, Typed):
        return v.type
    if isinstance(v, bool):
        return BoolType
    if isinstance(v, int):
        return Int64Type
    if isinstance(v, float):
        return Float64Type
    if isinstance(v, str):
        return StringType
    if isinstance(v, (bytes, bytearray, memoryview)):
        return ByteListType
    if isinstance(v, Type):
        return TypeObjectType
    if isinstance(v, verror.VError):
        return ErrorType
    if isinstance(v, list):
        if v and all(isinstance(x, str) and getattr(type(x), "_vdl_type", None) is None
                     for x in v):
            return list_of(StringType)
        return AnyListType
    if isinstance(v, (set, frozenset)):
        if all(isinstance(x, str) for x in v):
            return set_of(StringType)
        raise verror.BadArg.new("cannot infer a VDL type for a set of non-strings; use vdl.value")
    if isinstance(v, dict):
        if all(isinstance(x, str) for x in v):
            return map_of(StringType, AnyType)
        raise verror.BadArg.new("cannot infer a VDL type for this dict; use vdl.value")
    if isinstance(v, BaseException):
        return ErrorType
    raise verror.BadArg.new(f"cannot infer a VDL type for {type(v).__name__} value")


def unwrap(v: Any) -> tuple[Type, Any]:
    """(type, value) of a value, unwrapping Typed."""
    if isinstance(v, Typed):
        return v.type, v.value
    return type_of(v), v


# -- zero values ---------------------------------------------------------------
_ZK = "vdl.zero"   # t._cache[_ZK]: (class registered when cached, immutable zero value)
_IMMUTABLE_ZERO_KINDS = frozenset((
    Kind.BOOL, Kind.BYTE, Kind.UINT16, Kind.UINT32, Kind.UINT64, Kind.INT8, Kind.INT16,
    Kind.INT32, Kind.INT64, Kind.FLOAT32, Kind.FLOAT64, Kind.STRING))


def zero(t: Type) -> Any:
    """A fresh zero value of type ``t`` (immutable zeros are shared)."""
    k = t.kind
    if k in (Kind.ANY, Kind.OPTIONAL):
        return None
    hit = t._cache.get(_ZK)
    if hit is not None and hit[0] is _by_type.get(t):
        return hit[1]
    return zero_maker(t)()


def _zero_slow(t: Type):
    k = t.kind
    if k in (Kind.ANY, Kind.OPTIONAL):
        return None
    hit = t._cache.get(_ZK)
    if hit is not None and hit[0] is _by_type.get(t):
        return hit[1]
    v = _zero(t, k)
    if k in _IMMUTABLE_ZERO_KINDS or (k in (Kind.LIST, Kind.ARRAY) and t.is_bytes()):
        t._cache[_ZK] = (_by_type.get(t), v)
    return v


_ZMK = "vdl.zero_maker"


#: Constructions of a struct class by the generic ``Struct.__init__`` before the class
#: gets a compiled constructor of its own (compiling costs ~0.1 ms: a class built only a
#: few times, as most are in a short-lived process, never earns it back).
COMPILE_INIT_AFTER = 32


def _init_plan(cls):
    """((field name, zero maker), ...) of a struct class, compiled per registration state.

    Counts the generic constructor's uses of ``cls`` and gives it a compiled constructor
    at the COMPILE_INIT_AFTER-th (see _compile_init)."""
    hit = cls.__dict__.get("_vdl_init_plan")
    if hit is None or hit[0] != _reg_gen:
        plan = tuple((f.name, zero_maker(f.type)) for f in _struct_type(cls).fields)
        hit = cls._vdl_init_plan = (_reg_gen, plan, [0])
    uses = hit[2]
    uses[0] += 1
    if uses[0] == COMPILE_INIT_AFTER:
        _compile_init(cls, hit[1])
    return hit[1]


def _shared_zero(t: Type) -> bool:
    """zero_maker(t) returns one shared (immutable) zero on every call."""
    k = t.kind
    return (k in (Kind.ANY, Kind.OPTIONAL) or k in _IMMUTABLE_ZERO_KINDS
            or k in (Kind.ENUM, Kind.TYPEOBJECT)
            or (k in (Kind.LIST, Kind.ARRAY) and t.is_bytes()))


def _compile_init(cls, plan) -> None:
    """Give struct class ``cls`` a constructor of its own, compiled from its fields:
    keyword parameters stored straight into the slots, a missing field's zero from the
    same plan -- what ``Struct.__init__`` does, ~4x faster for ten fields (a sync record's
    metadata: 5.8 -> 1.9 us).  Only for a class with neither an ``__init__`` of its own
    or a base's (but a compiled one) nor a ``__setattr__``, with fields that can be parameter names.  Anything unusual -- an
    unknown keyword, an instance of a subclass, a class registration since (zero makers
    capture classes) -- goes back to the generic constructor, which raises its errors."""
    # (a compiled constructor of its own is made again: it is stale after a registration)
    if ((cls.__init__ is not Struct.__init__ and not _compiled_init(cls))
            or cls.__setattr__ is not object.__setattr__
            or _struct_type(cls).kind != Kind.STRUCT):
        return
    import keyword
    names = tuple(name for name, _ in plan)
    if any(keyword.iskeyword(n) or not n.isidentifier() or n.startswith("__")
           for n in names):
        return
    ns: dict[str, Any] = {"__M": _MISSING, "__C": cls, "__V": _sys.modules[__name__],
                          "__G": _reg_gen, "__N": names, "__slow": _init_slow}
    body = []
    for i, ((name, mk), f) in enumerate(zip(plan, _struct_type(cls).fields)):
        if _shared_zero(f.type):
            ns[f"__Z{i}"] = mk()
            body.append(f"    if {name} is __M: {name} = __Z{i}")
        else:
            ns[f"__K{i}"] = mk
            body.append(f"    if {name} is __M: {name} = __K{i}()")
    params = "".join(f"{n}=__M, " for n in names)
    src = "\n".join(
        [f"def __init__(__s, /, *, {params}**__x):" if names else
         "def __init__(__s, /, **__x):",
         "    if __x or __s.__class__ is not __C or __V._reg_gen != __G:",
         f"        return __slow(__s, __N, ({''.join(n + ', ' for n in names)}), __x)"]
        + body + [f"    __s.{n} = {n}" for n in names]) + "\n"
    exec(compile(src, f"<vdl init {_py_name(_struct_type(cls))}>", "exec"), ns)
    fn = ns["__init__"]
    fn.__qualname__ = f"{cls.__qualname__}.__init__"
    fn._vdl_compiled_init = True
    cls.__init__ = fn


def _compiled_init(cls) -> bool:
    """``cls.__init__`` is a constructor _compile_init made (Struct.__init__'s rules)."""
    return getattr(cls.__init__, "_vdl_compiled_init", False)


def _init_slow(obj, names, vals, extra) -> None:
    """A compiled constructor's way back to ``Struct.__init__``, with the keywords it was
    given."""
    fields = {n: v for n, v in zip(names, vals) if v is not _MISSING}
    fields.update(extra)
    Struct.__init__(obj, **fields)


def zero_maker(t: Type):
    """A function of no arguments returning a fresh zero value of ``t`` (equal to zero(t)).

    Compiled once per type (and again after a class registration): building the zeros of
    a struct's missing fields is then a few attribute stores instead of a walk over types.
    """
    hit = t._cache.get(_ZMK)
    if hit is not None and hit[0] == _reg_gen:
        return hit[1]
    gen = _reg_gen
    box = []
    t._cache[_ZMK] = (gen, lambda: box[0]())   # trampoline while building recursive types
    try:
        f = _make_zero_maker(t)
    except BaseException:
        t._cache.pop(_ZMK, None)
        raise
    box.append(f)
    t._cache[_ZMK] = (gen, f)
    return f


def _const(v):
    return lambda: v


def _make_zero_maker(t: Type):
    k = t.kind
    if k in (Kind.ANY, Kind.OPTIONAL):
        return _const(None)
    if (k in _IMMUTABLE_ZERO_KINDS or k in (Kind.ENUM, Kind.TYPEOBJECT)
            or (k in (Kind.LIST, Kind.ARRAY) and t.is_bytes())):
        return _const(_zero_slow(t))
    if k == Kind.STRUCT:
        cls = class_for(t)
        if cls.__init__ is not Struct.__init__ and not _compiled_init(cls):
            return cls
        consts, calls = [], []
        for f in t.fields:
            ft = f.type
            if _shared_zero(ft):
                consts.append((f.name, zero_maker(ft)()))
            else:
                calls.append((f.name, zero_maker(ft)))
        new = object.__new__
        setter = object.__setattr__

        def make_struct():
            obj = new(cls)
            for n, v in consts:
                setter(obj, n, v)
            for n, mk in calls:
                setter(obj, n, mk())
            return obj
        return make_struct
    if k == Kind.UNION:
        cls = class_for(t)
        mk0 = zero_maker(t.fields[0].type)
        return lambda: cls(0, mk0())
    cls = class_for(t) if t.name else None
    if k == Kind.ARRAY:
        mk = zero_maker(t.elem)
        n = t.len
        if cls is None:
            return lambda: tuple([mk() for _ in range(n)])
        return lambda: cls(tuple([mk() for _ in range(n)]))
    base = {Kind.LIST: list, Kind.SET: set, Kind.MAP: dict}[k]
    return cls if cls is not None else base


def _zero(t: Type, k):
    if k == Kind.TYPEOBJECT:
        return AnyType
    cls = class_for(t) if t.name else None
    if k == Kind.BOOL:
        return cls(False) if cls else False
    if k in (Kind.FLOAT32, Kind.FLOAT64):
        return cls(0.0) if cls else 0.0
    if k == Kind.STRING:
        return cls("") if cls else ""
    if k == Kind.ENUM:
        return class_for(t)(0)
    if k == Kind.STRUCT:
        return class_for(t)()
    if k == Kind.UNION:
        return class_for(t)(0)
    if k == Kind.LIST:
        v = b"" if t.elem.kind == Kind.BYTE else []
    elif k == Kind.ARRAY:
        if t.elem.kind == Kind.BYTE:
            v = bytes(t.len)
        else:
            v = tuple(zero(t.elem) for _ in range(t.len))
    elif k == Kind.SET:
        v = set()
    elif k == Kind.MAP:
        v = {}
    else:
        v = 0
    return cls(v) if cls else v


def value(t: Type, v: Any) -> Any:
    """``v`` converted to type ``t``, in a form that carries ``t`` exactly (for ``any``)."""
    k = t.kind
    if k == Kind.OPTIONAL and t != ErrorType:
        return optional_value(t, v)
    if k == Kind.OPTIONAL or (k == Kind.ANY) or t == ErrorType:
        return Typed(t, None if v is None else convert(t, v))
    if k == Kind.TYPEOBJECT:
        return convert(t, v)
    cls = class_for(t)
    cv = convert(t, v)
    if type(cv) is cls or isinstance(cv, (Struct, Union, Enum)):
        return cv
    return cls(cv)


def convert(t: Type, v: Any) -> Any:
    """``v`` as a value of type ``t`` (named types become their classes; plain values
    are checked).  Raises a BadArg verror when ``v`` does not fit."""
    from v23py.vdl import _convert
    return _convert.convert(t, v)
