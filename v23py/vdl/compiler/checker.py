"""Type checking and constant evaluation: parsed files -> compiled packages.

An :class:`Env` holds compiled packages by wire path.  ``Env.compile(path,
files)`` resolves the package's imports (through ``Env.loader``), builds its
named types (recursive ones included) as ``v23py.vdl.Type`` objects named
``<path>.<Name>``, evaluates its constants to typed Python values (the
representation of ``v23py.vdl``), and checks its errors and interfaces.
"""
from __future__ import annotations

import math
import re
import struct as _struct
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Optional

from v23py import vdl, verror
from v23py.vdl import Kind

from . import ast as A
from .lexer import Pos, VDLError, error

__all__ = ["Env", "Package", "Const", "ConstDef", "ErrorDef", "Interface", "Method", "Arg"]

_INT_KINDS = {Kind.BYTE, Kind.UINT16, Kind.UINT32, Kind.UINT64, Kind.INT8, Kind.INT16,
              Kind.INT32, Kind.INT64}
_FLOAT_KINDS = {Kind.FLOAT32, Kind.FLOAT64}
_NUM_KINDS = _INT_KINDS | _FLOAT_KINDS

BUILTIN_TYPES = {
    "any": vdl.AnyType, "bool": vdl.BoolType, "byte": vdl.ByteType,
    "uint16": vdl.Uint16Type, "uint32": vdl.Uint32Type, "uint64": vdl.Uint64Type,
    "int8": vdl.Int8Type, "int16": vdl.Int16Type, "int32": vdl.Int32Type,
    "int64": vdl.Int64Type, "float32": vdl.Float32Type, "float64": vdl.Float64Type,
    "string": vdl.StringType, "typeobject": vdl.TypeObjectType, "error": vdl.ErrorType,
}

MAX_EVAL_DEPTH = 200  # bound on nested constant expressions (recursion)

RETRY_ACTIONS = ("NoRetry", "RetryConnection", "RetryRefetch", "RetryBackoff")


class _Nil:
    def __repr__(self):
        return "nil"


NIL = _Nil()


@dataclass
class Const:
    """An evaluated constant: ``type`` is None for untyped (bool/int/Fraction/str/NIL)."""
    type: Optional[vdl.Type]
    value: Any

    @property
    def untyped(self):
        return self.type is None


@dataclass
class ConstDef:
    name: str
    const: Const
    doc: str
    file: A.File
    pos: Pos


@dataclass
class TypeDefInfo:
    name: str
    type: vdl.Type
    doc: str
    file: A.File
    pos: Pos
    ast: A.TypeDef


@dataclass
class ErrorDef:
    name: str
    id: str
    retry: str
    params: list      # [(name, Type)]
    formats: list     # [(lang, fmt)]
    doc: str
    file: A.File
    pos: Pos


@dataclass
class Arg:
    name: str
    type: vdl.Type
    doc: str = ""


@dataclass
class Method:
    name: str
    doc: str
    in_args: list
    out_args: list
    in_stream: Optional[vdl.Type]
    out_stream: Optional[vdl.Type]
    tags: list        # [Const] typed
    pos: Pos


@dataclass
class Interface:
    name: str
    package: "Package"
    doc: str
    embeds: list      # [Interface]
    methods: list     # [Method] own, declaration order
    file: A.File
    pos: Pos

    @property
    def full_name(self):
        return f"{self.package.path}.{self.name}"

    def all_methods(self):
        """Own and embedded methods, each once (own first)."""
        seen, out = set(), []
        for m in self.methods:
            seen.add(m.name)
            out.append(m)
        for e in self.embeds:
            for m in e.all_methods():
                if m.name not in seen:
                    seen.add(m.name)
                    out.append(m)
        return out

    def transitive_embeds(self):
        """Embedded interfaces, depth-first in declaration order, each once."""
        seen, out = {self.full_name}, []

        def walk(i):
            for e in i.embeds:
                if e.full_name not in seen:
                    seen.add(e.full_name)
                    out.append(e)
                    walk(e)
        walk(self)
        return out


@dataclass
class Package:
    path: str
    name: str
    files: list
    dir: Optional[str] = None
    config: dict = field(default_factory=dict)
    doc: str = ""
    types: dict = field(default_factory=dict)        # name -> TypeDefInfo (definition order)
    consts: dict = field(default_factory=dict)       # name -> ConstDef
    errors: dict = field(default_factory=dict)       # name -> ErrorDef
    interfaces: dict = field(default_factory=dict)   # name -> Interface
    deps: dict = field(default_factory=dict)         # path -> Package (direct imports)

    def lookup(self, name):
        for table in (self.types, self.consts, self.interfaces, self.errors):
            if name in table:
                return table[name]
        return None


def _float32(f: float) -> float:
    return _struct.unpack("<f", _struct.pack("<f", f))[0]


def _exported(name: str) -> bool:
    return name[:1].isupper()


class Env:
    """Compiled packages by wire path, and how to find more.

    ``loader(path)`` returns ``(dir, [A.File], config)`` for an import path, or
    None when the package cannot be found.
    """

    def __init__(self, loader=None):
        self.packages: dict = {}
        self.loader = loader
        self._in_progress: list = []

    # -- packages ------------------------------------------------------------
    def get(self, path: str, pos: Pos | None = None) -> Package:
        pkg = self.packages.get(path)
        if pkg is not None:
            return pkg
        if path in self._in_progress:
            cycle = " -> ".join(self._in_progress[self._in_progress.index(path):] + [path])
            raise error(pos or Pos(), f"import cycle: {cycle}")
        found = self.loader(path) if self.loader else None
        if found is None:
            raise error(pos or Pos(), f"can't find package {path!r} (check VDLPATH)")
        d, files, config = found
        return self.compile(path, files, dir=d, config=config)

    def compile(self, path: str, files: list, dir: str | None = None,
                config: dict | None = None) -> Package:
        if not files:
            raise VDLError(f"package {path}: no .vdl files")
        names = {f.package for f in files}
        if len(names) > 1:
            raise error(files[1].package_pos,
                        f"package {path}: files disagree on the package name ({', '.join(sorted(names))})")
        pkg = Package(path, files[0].package, list(files), dir, dict(config or {}))
        pkg.doc = next((f.package_doc for f in files if f.package_doc), "")
        self._in_progress.append(path)
        try:
            _PackageChecker(self, pkg).run()
        finally:
            self._in_progress.pop()
        self.packages[path] = pkg
        return pkg


class _PackageChecker:
    def __init__(self, env: Env, pkg: Package):
        self.env = env
        self.pkg = pkg
        self.imports = {}       # id(file) -> {local name: path}
        self.defs = {}          # name -> (kind, ast, file)
        self.const_state = {}   # name -> Const | "busy"
        self.iface_state = {}

    # -- driver --------------------------------------------------------------
    def run(self):
        pkg = self.pkg
        for f in pkg.files:
            table = {}
            for imp in f.imports:
                if imp.local_name in table:
                    raise error(imp.pos, f"duplicate import name {imp.local_name!r}")
                dep = self.env.get(imp.path, imp.pos)
                table[imp.local_name] = imp.path
                pkg.deps[imp.path] = dep
            self.imports[id(f)] = table
        for f in pkg.files:
            for kind, items in (("type", f.types), ("const", f.consts),
                                ("error", f.errors), ("interface", f.interfaces)):
                for item in items:
                    if item.name in self.defs:
                        prev = self.defs[item.name]
                        raise error(item.pos, f"{item.name} redefined (previous definition at "
                                              f"{prev[1].pos})")
                    if item.name in BUILTIN_TYPES or item.name in ("nil", "true", "false"):
                        raise error(item.pos, f"{item.name} is a built-in name")
                    if item.name in self.imports[id(f)]:
                        raise error(item.pos, f"{item.name} conflicts with an import")
                    self.defs[item.name] = (kind, item, f)
        self.build_types()
        for f in pkg.files:
            for c in f.consts:
                self.const(c.name, c.pos)
        for name, (kind, item, f) in self.defs.items():
            if kind == "const":
                pkg.consts[name] = ConstDef(name, self.const_state[name], item.doc, f, item.pos)
        for f in pkg.files:
            for e in f.errors:
                self.error_def(e, f)
            for i in f.interfaces:
                self.interface(i.name, i.pos)
        for f in pkg.files:
            for i in f.interfaces:
                pkg.interfaces[i.name] = self.iface_state[i.name]

    # -- name resolution -----------------------------------------------------
    def split_ref(self, name: str, file: A.File, pos: Pos):
        """(package, first def name, [selectors]) or (None, builtin, []) for builtins."""
        if name.startswith('"'):
            end = name.index('"', 1)
            path = name[1:end]
            rest = name[end + 2:].split(".")
            pkg = self.pkg if path == self.pkg.path else self.env.get(path, pos)
            return pkg, rest[0], rest[1:]
        parts = name.split(".")
        if parts[0] in self.defs:
            return self.pkg, parts[0], parts[1:]
        table = self.imports.get(id(file), {})
        if parts[0] in table and len(parts) > 1:
            return self.pkg.deps[table[parts[0]]], parts[1], parts[2:]
        return None, parts[0], parts[1:]

    def resolve_type_name(self, name: str, file: A.File, pos: Pos):
        """A named type reference: Type, or ("local", name) for this package's pending defs."""
        pkg, first, sel = self.split_ref(name, file, pos)
        if sel:
            raise error(pos, f"type {name} undefined")
        if pkg is None:
            if first in BUILTIN_TYPES:
                return BUILTIN_TYPES[first]
            raise error(pos, f"type {name} undefined")
        if pkg is self.pkg:
            kind = self.defs[first][0]
            if kind != "type":
                raise error(pos, f"{name} is not a type")
            info = self.pkg.types.get(first)
            return info.type if info else ("local", first)
        info = pkg.types.get(first)
        if info is None:
            raise error(pos, f"type {name} undefined")
        if not _exported(first):
            raise error(pos, f"type {name} is not exported")
        return info.type

    # -- types ---------------------------------------------------------------
    def build_types(self):
        pkg = self.pkg
        tdefs = [(item, f) for (kind, item, f) in self.defs.values() if kind == "type"]
        if not tdefs:
            return
        by_name = {item.name: (item, f) for item, f in tdefs}
        b = vdl.TypeBuilder()
        pend = {}

        def shape(name, seen):
            item, f = by_name[name]
            t = item.type
            if isinstance(t, A.TNamed):
                ref = self.resolve_type_name(t.name, f, t.pos)
                if isinstance(ref, tuple):
                    if ref[1] in seen:
                        raise error(item.pos, f"type {name} is defined in terms of itself")
                    return shape(ref[1], seen | {ref[1]})
                return ref, f
            return t, f

        shapes = {}
        for item, f in tdefs:
            wire = f"{pkg.path}.{item.name}"
            base, bf = shape(item.name, {item.name})
            shapes[item.name] = (base, bf)
            if isinstance(base, vdl.Type):
                k = base.kind
                if k in (Kind.ANY, Kind.TYPEOBJECT, Kind.OPTIONAL):
                    what = "error" if base == vdl.ErrorType else str(k)
                    raise error(item.pos, f"type {item.name} cannot be defined as {what}")
                if k in _NUM_KINDS or k in (Kind.BOOL, Kind.STRING):
                    p = b.named(wire, k)
                elif k == Kind.ENUM:
                    p = b.enum(wire, base.labels)
                elif k == Kind.LIST:
                    p = b.list(base.elem, name=wire)
                elif k == Kind.ARRAY:
                    p = b.array(base.elem, base.len, name=wire)
                elif k == Kind.SET:
                    p = b.set(base.key, name=wire)
                elif k == Kind.MAP:
                    p = b.map(base.key, base.elem, name=wire)
                elif k in (Kind.STRUCT, Kind.UNION):
                    p = b.struct(wire) if k == Kind.STRUCT else b.union(wire)
                    for fl in base.fields:
                        p.append_field(fl.name, fl.type)
                else:
                    raise error(item.pos, f"type {item.name}: unsupported base {base}")
            elif isinstance(base, A.TEnum):
                seen = set()
                for lab in base.labels:
                    if lab.name in seen:
                        raise error(lab.pos, f"duplicate enum label {lab.name}")
                    if not _exported(lab.name):
                        raise error(lab.pos, f"enum label {lab.name} must be exported")
                    seen.add(lab.name)
                p = b.enum(wire, [lab.name for lab in base.labels])
            elif isinstance(base, A.TList):
                p = b.list(name=wire)
            elif isinstance(base, A.TArray):
                p = b.array(None, base.len, name=wire)
            elif isinstance(base, A.TSet):
                p = b.set(name=wire)
            elif isinstance(base, A.TMap):
                p = b.map(name=wire)
            elif isinstance(base, A.TStruct):
                p = b.struct(wire)
            elif isinstance(base, A.TUnion):
                if not base.fields:
                    raise error(base.pos, f"union {item.name} must have at least one field")
                p = b.union(wire)
            elif isinstance(base, A.TOptional):
                raise error(item.pos, f"type {item.name} cannot be defined as optional")
            else:
                raise error(item.pos, f"type {item.name}: bad definition")
            pend[item.name] = p

        def conv(t, f):
            if isinstance(t, A.TNamed):
                ref = self.resolve_type_name(t.name, f, t.pos)
                return pend[ref[1]] if isinstance(ref, tuple) else ref
            if isinstance(t, A.TList):
                return b.list(conv(t.elem, f))
            if isinstance(t, A.TArray):
                return b.array(conv(t.elem, f), t.len)
            if isinstance(t, A.TSet):
                return b.set(conv(t.key, f))
            if isinstance(t, A.TMap):
                return b.map(conv(t.key, f), conv(t.elem, f))
            if isinstance(t, A.TOptional):
                e = conv(t.base, f)
                kind, name = (e.kind, e.name)
                if kind != Kind.STRUCT or not name:
                    if e == vdl.ErrorType:
                        raise error(t.pos, "error cannot be made optional (it already is)")
                    raise error(t.pos, f"optional type must be a named struct, not {_tname(e)}")
                return b.optional(e)
            if isinstance(t, (A.TStruct, A.TUnion, A.TEnum)):
                raise error(t.pos, "struct, union and enum types must be named (defined with type)")
            raise error(t.pos, "bad type")

        for item, f in tdefs:
            base, bf = shapes[item.name]
            p = pend[item.name]
            if isinstance(base, A.TList):
                p.elem = conv(base.elem, bf)
            elif isinstance(base, A.TArray):
                if base.len <= 0:
                    raise error(base.pos, f"array length must be positive")
                p.elem = conv(base.elem, bf)
            elif isinstance(base, A.TSet):
                p.key = conv(base.key, bf)
            elif isinstance(base, A.TMap):
                p.key, p.elem = conv(base.key, bf), conv(base.elem, bf)
            elif isinstance(base, (A.TStruct, A.TUnion)):
                seen = set()
                for fd in base.fields:
                    if fd.name in seen:
                        raise error(fd.pos, f"duplicate field name {fd.name}")
                    if not _exported(fd.name):
                        raise error(fd.pos, f"field {fd.name} must be exported")
                    seen.add(fd.name)
                    p.append_field(fd.name, conv(fd.type, bf))
        try:
            b.build()
        except Exception as e:  # the type system's own validation
            item, f = tdefs[0]
            raise error(item.pos, f"invalid type definitions: {getattr(e, 'msg', None) or e}") from None
        for item, f in tdefs:
            t = pend[item.name].built
            self._check_keys(t, item.pos)
            pkg.types[item.name] = TypeDefInfo(item.name, t, item.doc, f, item.pos, item)

    def _check_keys(self, t, pos, seen=None):
        seen = seen if seen is not None else set()
        if id(t) in seen:
            return
        seen.add(id(t))
        if t.kind in (Kind.SET, Kind.MAP) and not t.key.can_be_key():
            raise error(pos, f"invalid key type {_tname(t.key)} in {t.kind}")
        for c in (t.elem, t.key):
            if c is not None:
                self._check_keys(c, pos, seen)
        for fl in t.fields:
            self._check_keys(fl.type, pos, seen)

    def type(self, t: A.TypeExpr, f: A.File) -> vdl.Type:
        """An anonymous type expression (after all named types are built)."""
        try:
            if isinstance(t, A.TNamed):
                ref = self.resolve_type_name(t.name, f, t.pos)
                if isinstance(ref, tuple):
                    raise error(t.pos, f"type {t.name} used before it is defined")
                return ref
            if isinstance(t, A.TList):
                return vdl.list_of(self.type(t.elem, f))
            if isinstance(t, A.TArray):
                if t.len <= 0:
                    raise error(t.pos, "array length must be positive")
                return vdl.array_of(self.type(t.elem, f), t.len)
            if isinstance(t, A.TSet):
                k = self.type(t.key, f)
                if not k.can_be_key():
                    raise error(t.pos, f"invalid set key type {_tname(k)}")
                return vdl.set_of(k)
            if isinstance(t, A.TMap):
                k = self.type(t.key, f)
                if not k.can_be_key():
                    raise error(t.pos, f"invalid map key type {_tname(k)}")
                return vdl.map_of(k, self.type(t.elem, f))
            if isinstance(t, A.TOptional):
                e = self.type(t.base, f)
                if e.kind != Kind.STRUCT or not e.name:
                    raise error(t.pos, f"optional type must be a named struct, not {_tname(e)}")
                return vdl.optional(e)
            if isinstance(t, (A.TStruct, A.TUnion, A.TEnum)):
                raise error(t.pos, "struct, union and enum types must be named (defined with type)")
        except VDLError:
            raise
        except Exception as e:
            raise error(t.pos, f"invalid type: {getattr(e, 'msg', None) or e}") from None
        raise error(t.pos, "bad type")

    # -- constants -----------------------------------------------------------
    def const(self, name: str, pos: Pos) -> Const:
        st = self.const_state.get(name)
        if st == "busy":
            raise error(pos, f"constant {name} is defined in terms of itself")
        if st is not None:
            return st
        kind, item, f = self.defs[name]
        self.const_state[name] = "busy"
        c = self.eval(item.expr, f, None)
        if c.untyped and c.value is NIL:
            raise error(item.pos, f"const {name}: nil must be typed, e.g. ?T(nil) or any(nil)")
        self.const_state[name] = c
        return c

    def resolve_value(self, name: str, f: A.File, pos: Pos, implicit) -> Const:
        pkg, first, sel = self.split_ref(name, f, pos)
        if pkg is None:
            if first == "true" and not sel:
                return Const(vdl.BoolType, True)
            if first == "false" and not sel:
                return Const(vdl.BoolType, False)
            if first == "nil" and not sel:
                return Const(None, NIL)
            if implicit is not None and not sel:
                lab = self._label(implicit, first)
                if lab is not None:
                    return lab
            raise error(pos, f"const {name} undefined")
        if pkg is self.pkg:
            kind = self.defs[first][0]
            if kind == "const":
                c = self.const(first, pos)
            elif kind == "type":
                c = None
                t = pkg.types[first].type
            else:
                raise error(pos, f"{name} is not a constant")
        else:
            if not _exported(first):
                raise error(pos, f"{name} is not exported")
            if first in pkg.consts:
                c = pkg.consts[first].const
            elif first in pkg.types:
                c = None
                t = pkg.types[first].type
            else:
                raise error(pos, f"const {name} undefined")
        if c is None:
            # A type: only a selector naming an enum label makes a value.
            if len(sel) == 1:
                lab = self._label(t, sel[0])
                if lab is not None:
                    return lab
            raise error(pos, f"{name} is not a constant")
        for s in sel:
            if c.type is not None and c.type.kind == Kind.STRUCT and c.type.field_index(s) >= 0:
                ft = c.type.fields[c.type.field_index(s)].type
                c = Const(ft, getattr(c.value, s))
            else:
                raise error(pos, f"invalid selector {s} on {name}")
        return c

    def _label(self, t, label):
        if t is not None and t.kind == Kind.OPTIONAL:
            t = t.elem
        if t is not None and t.kind == Kind.ENUM and label in t.labels:
            return Const(t, vdl.class_for(t)(label))
        return None

    def eval(self, e: A.Expr, f: A.File, implicit) -> Const:
        self.eval_depth = getattr(self, "eval_depth", 0) + 1
        try:
            if self.eval_depth > MAX_EVAL_DEPTH:
                raise error(e.pos, f"expression nested deeper than {MAX_EVAL_DEPTH} levels")
            return self._eval(e, f, implicit)
        finally:
            self.eval_depth -= 1

    def _eval(self, e: A.Expr, f: A.File, implicit) -> Const:
        if isinstance(e, A.ELit):
            return Const(None, e.value)
        if isinstance(e, A.ENamed):
            return self.resolve_value(e.name, f, e.pos, implicit)
        if isinstance(e, A.EComposite):
            t = implicit
            if e.type is not None:
                t = self.type(e.type, f)
            if t is None:
                raise error(e.pos, "missing type for composite literal")
            return self.composite(t, e, f)
        if isinstance(e, A.ETypeObject):
            return Const(vdl.TypeObjectType, self.type(e.type, f))
        if isinstance(e, A.EConvert):
            t = self.type(e.type, f)
            inner = self.eval(e.expr, f, t)
            return self.convert(inner, t, e.pos, explicit=True)
        if isinstance(e, A.EIndex):
            base = self.eval(e.base, f, None)
            idx = self.eval(e.index, f, None)
            bt = base.type
            if bt is None or bt.kind not in (Kind.LIST, Kind.ARRAY, Kind.MAP):
                raise error(e.pos, "index operator needs a list, array or map constant")
            if bt.kind == Kind.MAP:
                k = self.convert(idx, bt.key, e.index.pos).value
                if k not in base.value:
                    raise error(e.index.pos, f"map key {_show(k)} not found in map")
                return Const(bt.elem, base.value[k])
            i = self.convert(idx, vdl.Uint64Type, e.index.pos).value
            if i >= len(base.value):
                raise error(e.index.pos, f"index {i} out of range")
            v = base.value[i]
            if isinstance(v, int) and bt.elem.kind == Kind.BYTE and not isinstance(v, vdl.Enum):
                v = self.convert(Const(None, v), bt.elem, e.pos).value
            return Const(bt.elem, v)
        if isinstance(e, A.EUnary):
            return self.unary(e, f)
        if isinstance(e, A.EBinary):
            return self.binary(e, f)
        raise error(e.pos, "bad expression")

    # composite literals
    def composite(self, t, e: A.EComposite, f) -> Const:
        opt = t.kind == Kind.OPTIONAL
        base = t.elem if opt else t
        k = base.kind
        desc = f"{_tname(base)} {k} literal"
        if k in (Kind.LIST, Kind.ARRAY):
            items = {}
            nxt = 0
            for kv in e.kvs:
                if kv.key is not None:
                    ic = self.eval(kv.key, f, None)
                    i = self.convert(ic, vdl.Uint64Type, kv.key.pos).value
                else:
                    i = nxt
                if i in items:
                    raise error(kv.value.pos, f"duplicate index {i} in {desc}")
                if k == Kind.ARRAY and i >= base.len:
                    raise error(kv.value.pos, f"index {i} out of range in {desc}")
                items[i] = self.assign(kv.value, base.elem, f, desc)
                nxt = i + 1
            n = base.len if k == Kind.ARRAY else (max(items) + 1 if items else 0)
            vals = [items[i] if i in items else vdl.zero(base.elem) for i in range(n)]
            raw = bytes(int(v) for v in vals) if base.elem.kind == Kind.BYTE else vals
            v = _mk(base, raw)
        elif k == Kind.SET:
            out = set()
            for kv in e.kvs:
                if kv.key is not None:
                    raise error(kv.key.pos, f"invalid key in {desc}")
                key = self.assign(kv.value, base.key, f, desc)
                if key in out:
                    raise error(kv.value.pos, f"duplicate key {_show(key)} in {desc}")
                out.add(key)
            v = _mk(base, out)
        elif k == Kind.MAP:
            out = {}
            for kv in e.kvs:
                if kv.key is None:
                    raise error(kv.value.pos, f"missing key in {desc}")
                key = self.assign(kv.key, base.key, f, desc)
                if key in out:
                    raise error(kv.key.pos, f"duplicate key {_show(key)} in {desc}")
                out[key] = self.assign(kv.value, base.elem, f, desc)
            v = _mk(base, out)
        elif k == Kind.STRUCT:
            vals = {}
            keyed = None
            for i, kv in enumerate(e.kvs):
                if keyed is None:
                    keyed = kv.key is not None
                elif keyed != (kv.key is not None):
                    raise error(kv.value.pos, f"mixed key:value and value in {desc}")
                if keyed:
                    if not isinstance(kv.key, A.ENamed) or "." in kv.key.name:
                        raise error(kv.key.pos, f"invalid field name in {desc}")
                    fi = base.field_index(kv.key.name)
                    if fi < 0:
                        raise error(kv.key.pos, f"unknown field {kv.key.name!r} in {desc}")
                else:
                    fi = i
                    if fi >= len(base.fields):
                        raise error(kv.value.pos, f"too many fields in {desc}")
                fl = base.fields[fi]
                if fl.name in vals:
                    raise error(kv.value.pos, f"duplicate field {fl.name!r} in {desc}")
                vals[fl.name] = self.assign(kv.value, fl.type, f, desc)
            if keyed is False and len(vals) != len(base.fields):
                raise error(e.pos, f"too few fields in {desc}")
            v = vdl.class_for(base)(**vals)
        elif k == Kind.UNION:
            if len(e.kvs) != 1:
                raise error(e.pos, f"invalid {desc} (must have a single entry)")
            kv = e.kvs[0]
            if kv.key is None:
                raise error(e.pos, f"invalid {desc} (must have explicit key and value)")
            if not isinstance(kv.key, A.ENamed) or "." in kv.key.name:
                raise error(kv.key.pos, f"invalid field name in {desc}")
            fi = base.field_index(kv.key.name)
            if fi < 0:
                raise error(kv.key.pos, f"unknown field {kv.key.name!r} in {desc}")
            v = vdl.class_for(base)(fi, self.assign(kv.value, base.fields[fi].type, f, desc))
        else:
            raise error(e.pos, f"{_tname(t)} invalid type for composite literal")
        if t == vdl.ErrorType:
            v = verror.VError(str(v.Id), int(v.RetryCode.index), str(v.Msg), list(v.ParamList))
        return Const(t, v)

    def assign(self, e: A.Expr, t, f, desc):
        """Evaluate ``e`` with implicit type ``t`` and convert it (the value only)."""
        c = self.eval(e, f, t)
        return self.convert(c, t, e.pos, what=desc).value

    # conversions
    def convert(self, c: Const, t, pos: Pos, explicit=False, what="") -> Const:
        try:
            return Const(t, self._conv(c.type, c.value, t))
        except _ConvError as ex:
            src = "untyped const" if c.type is None else _tname(c.type)
            where = f" in {what}" if what else ""
            raise error(pos, f"can't convert {_show(c.value)} ({src}) to {_tname(t)}{where}: {ex}") from None

    def _conv(self, st, v, t):
        k = t.kind
        if k == Kind.ANY:
            if st is None:
                if v is NIL:
                    return None
                st = _default_type(v)
                v = self._conv(None, v, st)
            elif st.kind == Kind.ANY:
                return v
            return _carry(st, v)
        if v is NIL or (st is not None and st.kind in (Kind.ANY, Kind.OPTIONAL) and v is None):
            if k == Kind.OPTIONAL:
                return None
            raise _ConvError("nil is only valid for any, optional and error types")
        if st == vdl.ErrorType and isinstance(v, verror.VError):
            st, v = vdl.WireErrorType, _wire_error(v)
        if k == Kind.OPTIONAL:
            if st is not None and st.kind == Kind.OPTIONAL:
                st = st.elem
            w = self._conv(st, v, t.elem)
            if t == vdl.ErrorType:  # errors are verror.VError values
                return verror.VError(str(w.Id), int(w.RetryCode.index), str(w.Msg), list(w.ParamList))
            return w
        if st is not None and st.kind == Kind.ANY:
            it, iv = vdl.unwrap(v)
            return self._conv(it, iv, t)
        if st is not None and st.kind == Kind.OPTIONAL:
            st = st.elem
        if k == Kind.BOOL:
            if isinstance(v, (bool, int)) and (st is None and isinstance(v, bool)
                                                or st is not None and st.kind == Kind.BOOL):
                return _mk(t, bool(v))
            raise _ConvError("not a bool")
        if k in _NUM_KINDS:
            if st is not None and st.kind not in _NUM_KINDS:
                raise _ConvError("not a number")
            if isinstance(v, (bool, str)) or isinstance(v, vdl.Enum) or v is None:
                raise _ConvError("not a number")
            if k in _INT_KINDS:
                if isinstance(v, float):
                    if not v.is_integer():
                        raise _ConvError("not an integer")
                    v = int(v)
                elif isinstance(v, Fraction):
                    if v.denominator != 1:
                        raise _ConvError("not an integer")
                    v = int(v)
                v = int(v)
                lo, hi = vdl.INT_RANGES[k]
                if not lo <= v <= hi:
                    raise _ConvError(f"overflows {k}")
                return _mk(t, v)
            fv = float(Fraction(v)) if not isinstance(v, float) else float(v)
            if math.isinf(fv):
                raise _ConvError("overflows float")
            if k == Kind.FLOAT32:
                if abs(fv) > 3.4028234663852886e38:
                    raise _ConvError("overflows float32")
                fv = _float32(fv)
            return _mk(t, fv)
        if k == Kind.STRING:
            if isinstance(v, vdl.Enum):
                return _mk(t, v.label)
            if isinstance(v, str) and (st is None or st.kind == Kind.STRING):
                return _mk(t, str(v))
            if isinstance(v, (bytes, bytearray)):
                return _mk(t, bytes(v).decode("utf-8", "surrogateescape"))
            raise _ConvError("not a string")
        if k == Kind.ENUM:
            label = v.label if isinstance(v, vdl.Enum) else v
            if isinstance(label, str) and not isinstance(v, (bytes,)) and \
                    (st is None or st.kind in (Kind.STRING, Kind.ENUM)):
                if label not in t.labels:
                    raise _ConvError(f"unknown label {label!r}")
                return vdl.class_for(t)(str(label))
            raise _ConvError("not an enum label")
        if k == Kind.TYPEOBJECT:
            if isinstance(v, vdl.Type):
                return v
            raise _ConvError("not a typeobject")
        if k in (Kind.LIST, Kind.ARRAY):
            if t.elem.kind == Kind.BYTE and isinstance(v, str) and (st is None or st.kind == Kind.STRING):
                b = v.encode("utf-8", "surrogateescape")
            elif isinstance(v, (bytes, bytearray)):
                b = bytes(v)
            elif isinstance(v, (list, tuple)) and st is not None and st.kind in (Kind.LIST, Kind.ARRAY):
                b = [self._conv(st.elem, x, t.elem) for x in v]
                if t.elem.kind == Kind.BYTE:
                    b = bytes(int(x) for x in b)
            else:
                raise _ConvError("not a list")
            if isinstance(b, bytes) and t.elem.kind != Kind.BYTE:
                b = [self._conv(vdl.ByteType, x, t.elem) for x in b]
            if k == Kind.ARRAY:
                if len(b) > t.len:
                    raise _ConvError(f"too many elements for {t.len}-element array")
                if isinstance(b, bytes):
                    b = b + bytes(t.len - len(b))
                else:
                    b = list(b) + [vdl.zero(t.elem) for _ in range(t.len - len(b))]
            return _mk(t, b)
        if k == Kind.SET:
            if st is not None and st.kind == Kind.SET:
                return _mk(t, {self._conv(st.key, x, t.key) for x in v})
            if st is not None and st.kind == Kind.MAP and st.elem.kind == Kind.BOOL:
                return _mk(t, {self._conv(st.key, x, t.key) for x, y in v.items() if y})
            if st is not None and st.kind == Kind.STRUCT and t.key.kind == Kind.STRING:
                return _mk(t, {self._conv(vdl.StringType, fl.name, t.key)
                               for fl in st.fields if getattr(v, fl.name)})
            raise _ConvError("not a set")
        if k == Kind.MAP:
            if st is not None and st.kind == Kind.MAP:
                return _mk(t, {self._conv(st.key, a, t.key): self._conv(st.elem, b, t.elem)
                               for a, b in v.items()})
            if st is not None and st.kind == Kind.SET and t.elem.kind == Kind.BOOL:
                return _mk(t, {self._conv(st.key, a, t.key): self._conv(vdl.BoolType, True, t.elem)
                               for a in v})
            if st is not None and st.kind == Kind.STRUCT and t.key.kind == Kind.STRING:
                return _mk(t, {self._conv(vdl.StringType, fl.name, t.key):
                               self._conv(fl.type, getattr(v, fl.name), t.elem) for fl in st.fields})
            raise _ConvError("not a map")
        if k == Kind.STRUCT:
            cls = vdl.class_for(t)
            if st is not None and st.kind == Kind.STRUCT:
                if st == t:
                    return v
                vals = {}
                for fl in st.fields:
                    i = t.field_index(fl.name)
                    fv = getattr(v, fl.name)
                    if i < 0:
                        if not _is_zero(fl.type, fv):
                            raise _ConvError(f"no field {fl.name}")
                        continue
                    vals[fl.name] = self._conv(fl.type, fv, t.fields[i].type)
                return cls(**vals)
            if st is not None and st.kind in (Kind.MAP, Kind.SET) and st.key.kind == Kind.STRING:
                vals = {}
                items = v.items() if st.kind == Kind.MAP else ((x, True) for x in v)
                et = st.elem if st.kind == Kind.MAP else vdl.BoolType
                for a, b in items:
                    i = t.field_index(str(a))
                    if i < 0:
                        raise _ConvError(f"no field {a}")
                    vals[str(a)] = self._conv(et, b, t.fields[i].type)
                return cls(**vals)
            raise _ConvError("not a struct")
        if k == Kind.UNION:
            if st is not None and st.kind == Kind.UNION:
                if st == t:
                    return v
                i = t.field_index(v.name)
                if i < 0:
                    raise _ConvError(f"no field {v.name}")
                return vdl.class_for(t)(i, self._conv(st.fields[v.index].type, v.value,
                                                      t.fields[i].type))
            raise _ConvError("not a union")
        raise _ConvError("unsupported conversion")

    # operators
    def unary(self, e: A.EUnary, f) -> Const:
        c = self.eval(e.expr, f, None)
        t, v = c.type, c.value
        k = t.kind if t is not None else None
        if e.op == "!":
            if (t is None and isinstance(v, bool)) or k == Kind.BOOL:
                return Const(t, _mk(t, not v) if t else (not v))
        elif e.op in ("+", "-"):
            if _is_num(t, v):
                r = v if e.op == "+" else -_num(v)
                return self._num_result(t, r, e.pos)
        elif e.op == "^":
            if t is None and isinstance(v, int) and not isinstance(v, bool):
                return Const(None, ~v)
            if k in _INT_KINDS:
                lo, hi = vdl.INT_RANGES[k]
                r = (~int(v)) & hi if lo == 0 else ~int(v)
                return self._num_result(t, r, e.pos)
        raise error(e.pos, f"unary {e.op} undefined for {_show(v)}")

    def _num_result(self, t, r, pos):
        if t is None:
            if isinstance(r, Fraction) and r.denominator == 1 and False:
                r = int(r)
            return Const(None, r)
        return self.convert(Const(None, Fraction(r) if isinstance(r, float) else r), t, pos)

    def binary(self, e: A.EBinary, f) -> Const:
        op = e.op
        if op in ("||", "&&"):
            a = self.eval(e.left, f, None)
            b = self.eval(e.right, f, None)
            t = self._common(a, b, e.pos)
            if not ((t is None and isinstance(a.value, bool)) or (t is not None and t.kind == Kind.BOOL)):
                raise error(e.pos, f"binary {op} needs bool operands")
            r = (bool(a.value) or bool(b.value)) if op == "||" else (bool(a.value) and bool(b.value))
            return Const(t, _mk(t, r) if t else r)
        a = self.eval(e.left, f, None)
        b = self.eval(e.right, f, None)
        if op in ("<<", ">>"):
            if not _is_int(a.type, a.value):
                raise error(e.pos, f"binary {op} needs an integer left operand")
            sh = self.convert(b, vdl.Uint16Type, e.right.pos).value if b.type is None or b.type.kind in _INT_KINDS else None
            if sh is None:
                raise error(e.pos, f"binary {op} needs an unsigned shift count")
            r = int(a.value) << sh if op == "<<" else int(a.value) >> sh
            if a.type is None:
                return Const(None, r)
            return self.convert(Const(None, r), a.type, e.pos)
        t = self._common(a, b, e.pos)
        av, bv = self._in_type(a, t, e.pos), self._in_type(b, t, e.pos)
        k = t.kind if t is not None else None
        if op in ("==", "!=", "<", ">", "<=", ">="):
            if op in ("==", "!="):
                r = av == bv if op == "==" else av != bv
            else:
                if not (_is_num(t, av) or isinstance(av, str)):
                    raise error(e.pos, f"binary {op} undefined for these operands")
                x, y = (_num(av), _num(bv)) if not isinstance(av, str) else (str(av), str(bv))
                r = {"<": x < y, ">": x > y, "<=": x <= y, ">=": x >= y}[op]
            return Const(vdl.BoolType, r)
        if op == "+" and (isinstance(av, str) and not isinstance(av, vdl.Enum)):
            r = str(av) + str(bv)
            return Const(t, _mk(t, r) if t else r)
        if not (_is_num(t, av) and _is_num(t, bv)):
            raise error(e.pos, f"binary {op} undefined for {_show(av)} and {_show(bv)}")
        is_int = (t is None and isinstance(av, int) and isinstance(bv, int)) or k in _INT_KINDS
        x, y = _num(av), _num(bv)
        if op in ("|", "&", "^", "%"):
            if not is_int:
                raise error(e.pos, f"binary {op} needs integer operands")
            x, y = int(x), int(y)
            if op == "%":
                if y == 0:
                    raise error(e.pos, "divide by zero")
                r = abs(x) % abs(y) * (1 if x >= 0 else -1)
            else:
                r = {"|": x | y, "&": x & y, "^": x ^ y}[op]
        elif op == "/":
            if y == 0:
                raise error(e.pos, "divide by zero")
            if is_int:
                q = abs(int(x)) // abs(int(y))
                r = q if (x >= 0) == (y >= 0) else -q
            else:
                r = Fraction(x) / Fraction(y)
        else:
            r = {"+": x + y, "-": x - y, "*": x * y}[op]
        if t is None:
            return Const(None, r)
        return self.convert(Const(None, r), t, e.pos)

    def _common(self, a: Const, b: Const, pos):
        if a.type is None and b.type is None:
            return None
        if a.type is None:
            return b.type
        if b.type is None or a.type == b.type:
            return a.type
        raise error(pos, f"mismatched types {_tname(a.type)} and {_tname(b.type)}")

    def _in_type(self, c: Const, t, pos):
        if t is None:
            return c.value
        if c.type is None:
            return self.convert(c, t, pos).value
        return c.value

    # -- errors and interfaces -----------------------------------------------
    def error_def(self, e: A.ErrorDef, f):
        retry = "NoRetry"
        seen = False
        for name, pos in e.actions:
            if name not in RETRY_ACTIONS:
                raise error(pos, f"unknown error action {name!r} (want one of {', '.join(RETRY_ACTIONS)})")
            if seen:
                raise error(pos, "error has more than one retry action")
            seen, retry = True, name
        params = []
        names = set()
        for p in e.params:
            if not p.name:
                raise error(p.pos, f"error {e.name}: parameters must be named")
            if p.name in names:
                raise error(p.pos, f"duplicate error parameter {p.name}")
            names.add(p.name)
            params.append((p.name, self.type(p.type, f)))
        langs = set()
        for lang, fmt, pos in e.formats:
            if lang in langs:
                raise error(pos, f"duplicate language {lang!r} in error {e.name}")
            langs.add(lang)
        formats = [(l, _positional_format(m, [n for n, _ in params], e.name, pos))
                   for l, m, pos in e.formats]
        self.pkg.errors[e.name] = ErrorDef(e.name, f"{self.pkg.path}.{e.name}", retry, params,
                                           formats, e.doc, f, e.pos)

    def interface(self, name, pos) -> Interface:
        st = self.iface_state.get(name)
        if st == "busy":
            raise error(pos, f"interface {name} embeds itself")
        if st is not None:
            return st
        kind, item, f = self.defs[name]
        self.iface_state[name] = "busy"
        embeds = []
        for emb in item.embeds:
            pkg, first, sel = self.split_ref(emb.name, f, emb.pos)
            if sel or pkg is None:
                raise error(emb.pos, f"interface {emb.name} undefined")
            if pkg is self.pkg:
                if self.defs.get(first, ("",))[0] != "interface":
                    raise error(emb.pos, f"{emb.name} is not an interface")
                embeds.append(self.interface(first, emb.pos))
            else:
                if first not in pkg.interfaces:
                    raise error(emb.pos, f"interface {emb.name} undefined")
                embeds.append(pkg.interfaces[first])
        methods = []
        for m in item.methods:
            if not _exported(m.name):
                raise error(m.pos, f"method {m.name} must be exported")
            in_args = self._args(m.in_args, f, "in-arg")
            out_args = self._args(m.out_args, f, "out-arg")
            names = {}
            for a in in_args + out_args:
                if a.name and a.name in names:
                    raise error(m.pos, f"method {m.name}: duplicate argument name {a.name}")
                names[a.name] = a
            tags = []
            for te in m.tags:
                c = self.eval(te, f, None)
                if c.type is None:
                    if c.value is NIL:
                        raise error(te.pos, "tag nil must be typed")
                    c = self.convert(c, _default_type(c.value), te.pos)
                tags.append(c)
            methods.append(Method(
                m.name, m.doc, in_args, out_args,
                self.type(m.in_stream, f) if m.in_stream is not None else None,
                self.type(m.out_stream, f) if m.out_stream is not None else None,
                tags, m.pos))
        iface = Interface(name, self.pkg, item.doc, embeds, methods, f, item.pos)
        seen = {}
        for mm in methods:
            if mm.name in seen:
                raise error(mm.pos, f"duplicate method {mm.name} in interface {name}")
            seen[mm.name] = name
        for e in embeds:
            for mm in e.all_methods():
                if mm.name in seen and seen[mm.name] != e.full_name:
                    if mm.name in {x.name for x in methods} or True:
                        raise error(item.pos, f"interface {name}: duplicate method {mm.name} "
                                              f"(also in {e.full_name})")
                seen[mm.name] = e.full_name
        self.iface_state[name] = iface
        return iface

    def _args(self, fields, f, what):
        return [Arg(fd.name, self.type(fd.type, f)) for fd in fields]


class _ConvError(Exception):
    pass


def _tname(t) -> str:
    if t is None:
        return "untyped"
    return t.name or str(t)


def _show(v) -> str:
    if v is NIL:
        return "nil"
    if isinstance(v, Fraction):
        return str(float(v)) if v.denominator != 1 else str(v.numerator)
    if isinstance(v, vdl.Enum):
        return v.label
    s = repr(v)
    return s if len(s) < 60 else s[:57] + "..."


def _default_type(v):
    if isinstance(v, bool):
        return vdl.BoolType
    if isinstance(v, int):
        return vdl.Int64Type
    if isinstance(v, (Fraction, float)):
        return vdl.Float64Type
    if isinstance(v, str):
        return vdl.StringType
    raise _ConvError("untyped value has no default type")


def _is_num(t, v):
    if t is None:
        return isinstance(v, (int, Fraction, float)) and not isinstance(v, bool)
    return t.kind in _NUM_KINDS


def _is_int(t, v):
    if t is None:
        return isinstance(v, int) and not isinstance(v, bool)
    return t.kind in _INT_KINDS


def _num(v):
    if isinstance(v, float):
        return Fraction(v)
    if isinstance(v, Fraction):
        return v
    return int(v)


def _is_zero(t, v):
    try:
        return v == vdl.zero(t) or (v is None)
    except Exception:
        return False


def _mk(t, raw):
    """The contract representation of ``raw`` as a value of ``t``."""
    if t is None:
        return raw
    k = t.kind
    if k == Kind.ARRAY and not isinstance(raw, (bytes, bytearray)):
        raw = tuple(raw)
    if not t.name:
        return raw
    cls = vdl.class_for(t)
    if k == Kind.BOOL:
        return cls(bool(raw))
    return cls(raw)


def _wire_error(e):
    cls = vdl.class_for(vdl.WireErrorType)
    return cls(Id=e.id, RetryCode=vdl.class_for(vdl.WireRetryCodeType)(int(e.retry_code)),
               Msg=e.msg, ParamList=list(e.params))


def _carry(t, v):
    """A value for an ``any`` slot that keeps its exact type ``t``."""
    if getattr(type(v), "_vdl_type", None) == t:
        return v
    return vdl.value(t, v)


def build_exprs(src: str, in_types, env: "Env | None" = None) -> list:
    """Evaluate comma-separated VDL expressions (e.g. vrpc arguments) as values
    of ``in_types``, in order.  Untyped constants take the target type; ``any``
    targets keep the expression's own type (untyped: bool, int64, float64,
    string).  Names of other packages are written ``"pkg/path".Name`` and are
    found through VDLPATH and the standard packages.  Raises VDLError.
    """
    from .parser import parse_exprs
    in_types = list(in_types)
    exprs = parse_exprs(src) if src.strip() else []
    if len(exprs) != len(in_types):
        raise VDLError(f"got {len(exprs)} arguments, want {len(in_types)}")
    if env is None:
        from .build import Builder
        env = Builder().env
    f = A.File("exprs", "exprs", package="exprs")
    pkg = Package("", "exprs", [f])
    ck = _PackageChecker(env, pkg)
    ck.imports[id(f)] = {}
    out = []
    for e, t in zip(exprs, in_types):
        c = ck.eval(e, f, t)
        out.append(ck.convert(c, t, e.pos).value)
    return out


_PLACEHOLDER = re.compile(r"\{(:?)([A-Za-z_][A-Za-z0-9_]*)(:?)\}")


def _positional_format(fmt: str, names: list, error_name: str, pos) -> str:
    """An error format with its named placeholders turned into positions.

    Parameter 1 is the component and 2 the operation, so the error's own
    parameters start at 3; ``_`` (every parameter no placeholder names) stays.
    """
    def sub(m):
        pre, name, post = m.groups()
        if name == "_":
            return m.group(0)
        if name not in names:
            raise error(pos, f"error {error_name}: format names unknown parameter {name!r}")
        return "{%s%d%s}" % (pre, names.index(name) + 3, post)
    return _PLACEHOLDER.sub(sub, fmt)
