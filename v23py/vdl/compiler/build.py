"""Finding VDL packages, compiling them, and writing / auditing generated code.

Where packages come from, for an import path P (first match wins):

1. the built-in packages shipped inside v23py, at Go's paths: ``v23py/v23/<p>``
   is ``v.io/v23/<p>``, ``v23py/v23/vdlroot/<x>`` is ``<x>`` (Go's short vdlroot
   paths) and ``v23py/xref/<p>`` is ``v.io/x/ref/<p>``; a ``vdlpy.config`` file
   in the directory may override this;
2. ``<root>/P`` for each root in ``$VDLPATH`` (``:``-separated);
3. ``$VDLROOT/P`` when VDLROOT names an existing directory (Go's vdlroot has
   no Python modules, so its packages only serve type checking).

``vdlpy.config`` (optional, one ``key = value`` per line, ``#`` comments):
``path`` the VDL package path (wire-name prefix), ``file`` the generated file
name (default ``__init__.py``), ``module`` the importable Python module name
(default: derived from where the directory is).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Optional

from . import checker, codegen
from .lexer import VDLError
from .parser import parse_file

CONFIG_NAME = "vdlpy.config"
V23PY_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STD_DIR = os.path.join(V23PY_DIR, "v23")   # v.io/v23/... lives here
XREF_DIR = os.path.join(V23PY_DIR, "xref")  # and the v.io/x/ref/... the library speaks
PROJECT_DIR = os.path.dirname(V23PY_DIR)


def read_config(d: str) -> dict:
    p = os.path.join(d, CONFIG_NAME)
    out = {}
    if not os.path.exists(p):
        return out
    with open(p, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            if "=" not in line:
                raise VDLError(f"{p}:{n}: expected key = value")
            k, v = (x.strip() for x in line.split("=", 1))
            if k not in ("path", "file", "module"):
                raise VDLError(f"{p}:{n}: unknown key {k!r} (want path, file or module)")
            out[k] = v
    return out


def vdl_files(d: str) -> list:
    try:
        names = sorted(n for n in os.listdir(d) if n.endswith(".vdl"))
    except OSError:
        return []
    return [os.path.join(d, n) for n in names if os.path.isfile(os.path.join(d, n))]


@dataclass
class PkgSource:
    path: str                 # VDL package path
    dir: str
    config: dict = field(default_factory=dict)
    module: Optional[str] = None   # importable Python module, or None
    builtin: bool = False

    @property
    def out_file(self) -> str:
        return os.path.join(self.dir, self.config.get("file", "__init__.py"))


def _module_suffix(config):
    f = config.get("file", "__init__.py")
    stem = f[:-3] if f.endswith(".py") else f
    return "" if stem == "__init__" else "." + stem


def _dotted(path):
    parts = path.split("/")
    if all(p.isidentifier() for p in parts):
        return ".".join(parts)
    return None


def _module_from_dir(d, config):
    """Walk up through directories holding __init__.py to name the module."""
    d = os.path.abspath(d)
    parts = [os.path.basename(d)]
    up = os.path.dirname(d)
    while os.path.exists(os.path.join(up, "__init__.py")) and os.path.dirname(up) != up:
        parts.insert(0, os.path.basename(up))
        up = os.path.dirname(up)
    name = ".".join(parts)
    return name + _module_suffix(config) if all(p.isidentifier() for p in parts) else None


def builtin_index() -> dict:
    """VDL path -> PkgSource for the standard packages inside v23py (``v23py/v23``)."""
    idx = {}
    for top, go_prefix, mod_prefix in ((STD_DIR, "v.io/v23/", "v23py.v23."),
                                        (XREF_DIR, "v.io/x/ref/", "v23py.xref.")):
        for d, dirs, files in os.walk(top):
            dirs[:] = sorted(x for x in dirs if not x.startswith((".", "__")))
            if not any(f.endswith(".vdl") for f in files):
                continue
            config = read_config(d)
            rel = os.path.relpath(d, top).replace(os.sep, "/")
            path = config.get("path")
            if path is None:
                path = rel[len("vdlroot/"):] if top == STD_DIR and rel.startswith("vdlroot/") \
                    else go_prefix + rel
            module = config.get("module") or (mod_prefix + rel.replace("/", ".")
                                              + _module_suffix(config))
            idx[path] = PkgSource(path, d, config, module, builtin=True)
    return idx


class Builder:
    """Resolves packages and compiles them (with an :class:`checker.Env`)."""

    def __init__(self, vdlpath=None, vdlroot=None, environ=None):
        environ = os.environ if environ is None else environ
        if vdlpath is None:
            vdlpath = [p for p in environ.get("VDLPATH", "").split(os.pathsep) if p]
        self.vdlpath = [os.path.abspath(p) for p in vdlpath]
        if vdlroot is None:
            vdlroot = environ.get("VDLROOT", "")
        self.vdlroot = os.path.abspath(vdlroot) if vdlroot and os.path.isdir(vdlroot) else None
        self.builtins = builtin_index()
        self.sources = {}          # path -> PkgSource
        self.env = checker.Env(self._load)

    # -- locating ----------------------------------------------------------------
    def find(self, path: str) -> Optional[PkgSource]:
        if path in self.sources:
            return self.sources[path]
        src = self.builtins.get(path)
        if src is None:
            for root in self.vdlpath:
                d = os.path.join(root, *path.split("/"))
                if vdl_files(d):
                    config = read_config(d)
                    mod = config.get("module") or (_dotted(path) and _dotted(path) + _module_suffix(config))
                    src = PkgSource(config.get("path", path), d, config, mod)
                    break
        if src is None and self.vdlroot:
            d = os.path.join(self.vdlroot, *path.split("/"))
            if vdl_files(d):
                src = PkgSource(path, d, read_config(d), None)
        if src is not None:
            self.sources[path] = src
        return src

    def source_for_dir(self, d: str) -> PkgSource:
        d = os.path.abspath(d)
        if not os.path.isdir(d):
            raise VDLError(f"{d}: not a directory")
        if not vdl_files(d):
            raise VDLError(f"{d}: no .vdl files")
        for src in self.builtins.values():
            if os.path.abspath(src.dir) == d:
                self.sources.setdefault(src.path, src)
                return src
        config = read_config(d)
        path = config.get("path")
        if path is None:
            for root in self.vdlpath + ([self.vdlroot] if self.vdlroot else []):
                rel = os.path.relpath(d, root)
                if not rel.startswith("..") and rel != ".":
                    path = rel.replace(os.sep, "/")
                    break
        if path is None:
            parent, name = os.path.split(d)
            raise VDLError(f"{d}: can't determine the package path: the directory is not under "
                           f"VDLPATH ({':'.join(self.vdlpath) or 'unset'}) and has no "
                           f"{CONFIG_NAME} with 'path = ...'; set VDLPATH to the directory "
                           f"above your packages (export VDLPATH={parent}, and the package is "
                           f"{name!r}), or write 'path = {name}' in {os.path.join(d, CONFIG_NAME)}")
        mod = config.get("module")
        if mod is None:
            under_path = any(not os.path.relpath(d, r).startswith("..") for r in self.vdlpath)
            mod = (_dotted(path) and _dotted(path) + _module_suffix(config)) if under_path \
                else _module_from_dir(d, config)
        other = self.sources.get(path)
        if other is not None and os.path.abspath(other.dir) != d:
            # One invocation compiles one package per path: the second would
            # silently be generated from the first one's files.
            raise VDLError(f"{d}: package path {path!r} is also the path of {other.dir}; "
                           "generate them in separate runs")
        src = PkgSource(path, d, config, mod)
        self.sources[path] = src
        return src

    def resolve_arg(self, arg: str) -> list:
        """PkgSources named by a command-line argument (dir, package path, or .../...)."""
        recursive = arg.endswith("/...") or arg == "..."
        base = arg[:-4] if arg.endswith("/...") else ("." if arg == "..." else arg)
        # As in Go: a directory is absolute or starts with "." or ".."; else a package path.
        is_dir = os.path.isabs(base) or base == "." or base.startswith(("." + os.sep, "..", "./"))
        if is_dir:
            if not recursive:
                return [self.source_for_dir(base)]
            out = []
            for d, dirs, files in os.walk(base):
                dirs[:] = sorted(x for x in dirs if not x.startswith((".", "__")))
                if any(f.endswith(".vdl") for f in files):
                    out.append(self.source_for_dir(d))
            return out
        if recursive:
            out = []
            seen = set()
            for p in sorted(set(self.builtins)):
                if p == base or p.startswith(base + "/"):
                    out.append(self.find(p))
                    seen.add(p)
            for root in self.vdlpath:
                top = os.path.join(root, *base.split("/"))
                for d, dirs, files in os.walk(top):
                    dirs[:] = sorted(x for x in dirs if not x.startswith((".", "__")))
                    if any(f.endswith(".vdl") for f in files):
                        p = os.path.relpath(d, root).replace(os.sep, "/")
                        if p not in seen:
                            seen.add(p)
                            out.append(self.find(p))
            return out
        src = self.find(base)
        if src is None:
            if os.path.isdir(base) and vdl_files(base):
                # Go reads `src/counter` as a package path only; a directory of that name
                # here is surely what was meant (as ./src/counter)
                return [self.source_for_dir(base)]
            raise VDLError(f"can't find package {base!r}: no directory {base!r} with .vdl files "
                           f"here, and none under VDLPATH ({':'.join(self.vdlpath) or 'unset'}); "
                           "name a directory (./dir) or set VDLPATH to the directory above your "
                           "packages")
        return [src]

    # -- compiling ---------------------------------------------------------------
    def _load(self, path):
        src = self.find(path)
        if src is None:
            return None
        return src.dir, [parse_file(f) for f in vdl_files(src.dir)], src.config

    def compile(self, src: PkgSource) -> checker.Package:
        pkg = self.env.packages.get(src.path)
        if pkg is None:
            files = [parse_file(f) for f in vdl_files(src.dir)]
            pkg = self.env.compile(src.path, files, dir=src.dir, config=src.config)
        return pkg

    def module_of(self, path: str) -> Optional[str]:
        src = self.sources.get(path) or self.find(path)
        return src.module if src else None

    def generate(self, src: PkgSource) -> str:
        pkg = self.compile(src)
        return codegen.generate(pkg, self.module_of, [os.path.basename(f) for f in vdl_files(src.dir)])


def write_generated(path: str, text: str) -> bool:
    """Write ``text`` to ``path`` unless unchanged; refuse to clobber hand-written files."""
    if os.path.exists(path):
        with open(path, encoding="utf-8") as fh:
            old = fh.read()
        if old == text:
            return False
        if old.strip() and not old.startswith(codegen.HEADER):
            raise VDLError(f"{path}: exists and was not generated by vdl; refusing to overwrite "
                           f"(set 'file = ...' in {CONFIG_NAME} to write elsewhere)")
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)
    return True
