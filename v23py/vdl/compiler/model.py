"""What the VDL checker produces: packages, their constants, types, errors and
interfaces (plain data)."""
from __future__ import annotations

import struct as _struct
from dataclasses import dataclass, field
from typing import Any, Optional

from v23py import vdl
from v23py.vdl import Kind

from . import ast as A
from .lexer import Pos

__all__ = ["Package", "Const", "ConstDef", "ErrorDef", "Interface", "Method", "Arg"]


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
