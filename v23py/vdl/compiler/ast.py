"""Syntax tree of VDL files, as produced by :mod:`.parser`."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, List, Optional

from .lexer import Pos


# -- types -------------------------------------------------------------------

@dataclass
class TypeExpr:
    pos: Pos


@dataclass
class TNamed(TypeExpr):
    name: str          # "int32", "Foo", "pkg.Foo", '"a/b".Foo', "error", "typeobject"


@dataclass
class TArray(TypeExpr):
    len: int
    elem: TypeExpr


@dataclass
class TList(TypeExpr):
    elem: TypeExpr


@dataclass
class TSet(TypeExpr):
    key: TypeExpr


@dataclass
class TMap(TypeExpr):
    key: TypeExpr
    elem: TypeExpr


@dataclass
class FieldDef:
    name: str
    type: TypeExpr
    pos: Pos
    doc: str = ""
    doc_suffix: str = ""


@dataclass
class TStruct(TypeExpr):
    fields: List[FieldDef]


@dataclass
class TUnion(TypeExpr):
    fields: List[FieldDef]


@dataclass
class Label:
    name: str
    pos: Pos
    doc: str = ""
    doc_suffix: str = ""


@dataclass
class TEnum(TypeExpr):
    labels: List[Label]


@dataclass
class TOptional(TypeExpr):
    base: TypeExpr


# -- constant expressions ----------------------------------------------------

@dataclass
class Expr:
    pos: Pos


@dataclass
class ELit(Expr):
    value: Any          # str, int or Fraction


@dataclass
class ENamed(Expr):
    name: str


@dataclass
class KV:
    key: Optional[Expr]
    value: Expr


@dataclass
class EComposite(Expr):
    type: Optional[TypeExpr]
    kvs: List[KV]


@dataclass
class EIndex(Expr):
    base: ENamed
    index: Expr


@dataclass
class EConvert(Expr):
    type: TypeExpr
    expr: Expr


@dataclass
class ETypeObject(Expr):
    type: TypeExpr


@dataclass
class EUnary(Expr):
    op: str
    expr: Expr


@dataclass
class EBinary(Expr):
    op: str
    left: Expr
    right: Expr


# -- definitions -------------------------------------------------------------

@dataclass
class Import:
    path: str
    name: str           # alias, or "" (then the last path element)
    pos: Pos
    doc: str = ""
    doc_suffix: str = ""

    @property
    def local_name(self) -> str:
        return self.name or self.path.rsplit("/", 1)[-1]


@dataclass
class TypeDef:
    name: str
    type: TypeExpr
    pos: Pos
    doc: str = ""
    doc_suffix: str = ""


@dataclass
class ConstDef:
    name: str
    expr: Expr
    pos: Pos
    doc: str = ""
    doc_suffix: str = ""


@dataclass
class ErrorDef:
    name: str
    params: List[FieldDef]
    actions: List[tuple]        # (name, pos)
    formats: List[tuple]        # (lang, fmt, pos)
    pos: Pos
    doc: str = ""
    doc_suffix: str = ""


@dataclass
class Method:
    name: str
    in_args: List[FieldDef]
    out_args: List[FieldDef]
    in_stream: Optional[TypeExpr]
    out_stream: Optional[TypeExpr]
    tags: List[Expr]
    pos: Pos
    doc: str = ""
    doc_suffix: str = ""


@dataclass
class Embed:
    name: str
    pos: Pos
    doc: str = ""
    doc_suffix: str = ""


@dataclass
class InterfaceDef:
    name: str
    embeds: List[Embed]
    methods: List[Method]
    pos: Pos
    doc: str = ""
    doc_suffix: str = ""


@dataclass
class File:
    name: str               # base file name
    path: str               # path as given
    package: str = ""
    package_pos: Pos = field(default_factory=Pos)
    package_doc: str = ""
    doc: str = ""
    imports: List[Import] = field(default_factory=list)
    types: List[TypeDef] = field(default_factory=list)
    consts: List[ConstDef] = field(default_factory=list)
    errors: List[ErrorDef] = field(default_factory=list)
    interfaces: List[InterfaceDef] = field(default_factory=list)
