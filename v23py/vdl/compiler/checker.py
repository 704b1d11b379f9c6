"""Type checking: parsed files -> compiled packages (constants are evaluated by
:mod:`.consteval`; what a package holds is in :mod:`.model`).

An :class:`Env` holds compiled packages by wire path.  ``Env.compile(path,
files)`` resolves the package's imports (through ``Env.loader``), builds its
named types (recursive ones included) as ``v23py.vdl.Type`` objects named
``<path>.<Name>``, evaluates its constants to typed Python values (the
representation of ``v23py.vdl``), and checks its errors and interfaces.
"""
from __future__ import annotations

import re

from v23py import vdl
from v23py.vdl import Kind

from . import ast as A
from .lexer import Pos, VDLError, error
from v23py.vdl.compiler.consteval import ConstEvaluator, _default_type, _tname
from v23py.vdl.compiler.model import (
    Arg, BUILTIN_TYPES, Const, ConstDef, ErrorDef, Interface, Method, NIL, Package,
    RETRY_ACTIONS, TypeDefInfo, _NUM_KINDS, _exported)

__all__ = ["Env", "Package", "Const", "ConstDef", "ErrorDef", "Interface", "Method", "Arg"]






























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


class _PackageChecker(ConstEvaluator):
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
