"""Recursive-descent parser for VDL files, config files and expression lists."""
from __future__ import annotations

import os

from . import ast as A
from .lexer import CommentMap, Pos, Token, VDLError, error, tokenize

__all__ = ["parse_file", "parse_config", "parse_exprs", "parse_type_string"]

# Operator precedence, lowest first (as in Go's vdl grammar).
_BINARY_PREC = {
    "||": 1, "&&": 2,
    "<": 3, ">": 3, "<=": 3, ">=": 3, "!=": 3, "==": 3,
    "+": 4, "-": 4, "|": 4, "^": 4,
    "*": 5, "/": 5, "%": 5, "&": 5, "<<": 5, ">>": 5,
}


MAX_DEPTH = 100  # nesting bound for types and expressions


class _Parser:
    def __init__(self, toks, file):
        self.toks = toks
        self.i = 0
        self.file = file
        self.depth = 0

    def _enter(self):
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise error(self.tok.pos, f"nesting deeper than {MAX_DEPTH} levels")

    def _leave(self):
        self.depth -= 1

    # -- token helpers -------------------------------------------------------
    @property
    def tok(self) -> Token:
        return self.toks[self.i]

    def peek(self, k=1) -> Token:
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def next(self) -> Token:
        t = self.toks[self.i]
        if self.i < len(self.toks) - 1:
            self.i += 1
        return t

    def at(self, s: str) -> bool:
        return self.tok.is_(s)

    def accept(self, s: str):
        if self.at(s):
            return self.next()
        return None

    def fail(self, what: str, tok: Token | None = None):
        tok = tok or self.tok
        if tok.kind == "eof":
            got = "end of file"
        elif tok.auto:
            got = "newline"
        elif tok.kind in ("punct", "keyword"):
            got = repr(tok.text)
        else:
            got = f"{tok.kind} {tok.text}"
        raise error(tok.pos, f"syntax error: expected {what}, found {got}")

    def expect(self, s: str, what: str | None = None) -> Token:
        if not self.at(s):
            self.fail(what or repr(s))
        return self.next()

    def ident(self, what="identifier") -> Token:
        if self.tok.kind != "ident":
            self.fail(what)
        return self.next()

    def end_of_item(self, closer: str):
        """After a grouped item: ';' or the group's closer."""
        if self.accept(";"):
            return
        if not self.at(closer):
            self.fail(f"';' or {closer!r}")

    # -- file ----------------------------------------------------------------
    def parse_file(self, f: A.File, config=False):
        if config:
            t = self.tok
            if not (t.kind == "ident" and t.text == "config"):
                raise error(t.pos, "config file must start with config clause")
            self.next()
            self.expect("=")
            f.package, f.package_pos = "config", t.pos
            f.consts.append(A.ConstDef("", self.expr(), t.pos))
            self.expect(";", "';' or newline")
        else:
            if not self.at("package"):
                raise error(self.tok.pos if self.tok.pos.valid else Pos(self.file),
                            "vdl file must start with package clause")
            self.next()
            t = self.ident("package name")
            f.package, f.package_pos = t.text, t.pos
            self.expect(";", "';' or newline")
        while self.at("import"):
            self.next()
            if self.accept("("):
                while not self.at(")"):
                    f.imports.append(self.import_spec())
                    self.end_of_item(")")
                self.next()
            else:
                f.imports.append(self.import_spec())
            self.expect(";", "';' or newline")
        while not self.tok.kind == "eof":
            if self.at("type"):
                self.next()
                if self.accept("("):
                    while not self.at(")"):
                        self.type_spec(f)
                        self.end_of_item(")")
                    self.next()
                else:
                    self.type_spec(f)
            elif self.at("const"):
                self.next()
                if self.accept("("):
                    while not self.at(")"):
                        self.const_spec(f)
                        self.end_of_item(")")
                    self.next()
                else:
                    self.const_spec(f)
            elif self.at("error"):
                self.next()
                if self.accept("("):
                    while not self.at(")"):
                        self.error_spec(f)
                        self.end_of_item(")")
                    self.next()
                else:
                    self.error_spec(f)
            elif self.at("import"):
                raise error(self.tok.pos, "imports must appear before other definitions")
            else:
                self.fail("type, const, error or end of file")
            self.expect(";", "';' or newline")

    def import_spec(self) -> A.Import:
        name = ""
        pos = self.tok.pos
        if self.tok.kind == "ident":
            name = self.next().text
        if self.tok.kind != "string":
            self.fail("import path string")
        t = self.next()
        return A.Import(t.value, name, pos if name else t.pos)

    def type_spec(self, f: A.File):
        name = self.ident("type name")
        if self.at("interface"):
            self.next()
            f.interfaces.append(self.interface_body(name))
        else:
            f.types.append(A.TypeDef(name.text, self.type(), name.pos))

    def const_spec(self, f: A.File):
        name = self.ident("constant name")
        self.expect("=")
        f.consts.append(A.ConstDef(name.text, self.expr(), name.pos))

    def error_spec(self, f: A.File):
        name = self.ident("error name")
        params = self.in_args()
        actions, formats = [], []
        if self.accept("{"):
            while not self.at("}"):
                if self.tok.kind == "ident":
                    t = self.next()
                    actions.append((t.text, t.pos))
                elif self.tok.kind == "string":
                    lang = self.next()
                    self.expect(":")
                    if self.tok.kind != "string":
                        self.fail("format string")
                    fmt = self.next()
                    formats.append((lang.value, fmt.value, lang.pos))
                else:
                    self.fail("error action or \"lang\": \"format\"")
                if not self.accept(","):
                    break
            self.expect("}")
        f.errors.append(A.ErrorDef(name.text, params, actions, formats, name.pos))

    # -- interfaces ----------------------------------------------------------
    def interface_body(self, name: Token) -> A.InterfaceDef:
        iface = A.InterfaceDef(name.text, [], [], name.pos)
        self.expect("{")
        while not self.at("}"):
            if self.tok.kind == "ident" and self.peek().is_("("):
                iface.methods.append(self.method())
            elif self.tok.kind in ("ident", "string"):
                pos = self.tok.pos
                iface.embeds.append(A.Embed(self.nameref(), pos))
            else:
                self.fail("method or embedded interface")
            self.end_of_item("}")
        self.next()
        return iface

    def method(self) -> A.Method:
        name = self.next()
        in_args = self.in_args()
        in_stream = out_stream = None
        if self.accept("stream"):
            self.expect("<")
            if not self.at(">"):
                in_stream = self.type()
                if self.accept(","):
                    out_stream = self.type()
            self.expect(">")
        # `_` stands for "no stream" in that position.
        if isinstance(in_stream, A.TNamed) and in_stream.name == "_":
            in_stream = None
        if isinstance(out_stream, A.TNamed) and out_stream.name == "_":
            out_stream = None
        # out-args: `error` or `(args | error)`
        out_args = []
        if self.accept("error"):
            pass
        elif self.at("("):
            self.next()
            out_args = self.arg_list(closers=("|",))
            self.expect("|", "'|' before error in out-args")
            self.expect("error", "error as the last out-arg")
            self.expect(")")
        else:
            self.fail("out-args: 'error' or '(... | error)'")
        tags = []
        if self.accept("{"):
            while not self.at("}"):
                tags.append(self.expr())
                if not self.accept(","):
                    break
            self.expect("}")
        return A.Method(name.text, in_args, out_args, in_stream, out_stream, tags, name.pos)

    def in_args(self):
        self.expect("(", "'(' starting arguments")
        args = self.arg_list(closers=(")",))
        self.expect(")")
        return args

    def arg_list(self, closers):
        """Named ``a, b T, c U`` or unnamed ``T, U`` arguments (trailing comma ok)."""
        named, pending, out = False, [], []
        while not any(self.at(c) for c in closers):
            t = self.type()
            if self._starts_type():
                typ = self.type()
                for n in pending + [t]:
                    out.append(A.FieldDef(self._type_as_name(n), typ, n.pos))
                pending = []
                named = True
            else:
                pending.append(t)
            if not self.accept(","):
                break
        if named and pending:
            raise error(pending[0].pos, "mixed named and unnamed arguments")
        if not named:
            out = [A.FieldDef("", t, t.pos) for t in pending]
        return out

    def _type_as_name(self, t: A.TypeExpr) -> str:
        if isinstance(t, A.TNamed) and "." not in t.name and '"' not in t.name \
                and t.name not in ("error", "typeobject"):
            return t.name
        raise error(t.pos, "invalid name: perhaps you forgot a comma?")

    def _starts_type(self) -> bool:
        t = self.tok
        if t.kind in ("ident", "string"):
            return True
        return t.kind in ("punct", "keyword") and t.text in (
            "[", "?", "map", "set", "struct", "union", "enum", "error", "typeobject")

    # -- types ---------------------------------------------------------------
    def nameref(self) -> str:
        t = self.tok
        if t.kind == "string":
            self.next()
            self.expect(".")
            name = '"' + t.value + '".' + self.ident().text
        else:
            name = self.ident("name").text
        while self.at(".") and self.peek().kind == "ident":
            self.next()
            name += "." + self.next().text
        return name

    def type(self, allow_typeobject=True) -> A.TypeExpr:
        self._enter()
        try:
            return self._type(allow_typeobject)
        finally:
            self._leave()

    def _type(self, allow_typeobject=True) -> A.TypeExpr:
        t = self.tok
        pos = t.pos
        if t.kind in ("ident", "string"):
            return A.TNamed(pos, self.nameref())
        if t.is_("error"):
            self.next()
            return A.TNamed(pos, "error")
        if t.is_("typeobject") and allow_typeobject:
            self.next()
            return A.TNamed(pos, "typeobject")
        if t.is_("["):
            self.next()
            if self.accept("]"):
                return A.TList(pos, self.type())
            if self.tok.kind != "int":
                self.fail("array length or ']'")
            n = self.next().value
            self.expect("]")
            return A.TArray(pos, n, self.type())
        if t.is_("?"):
            self.next()
            return A.TOptional(pos, self.type())
        if t.is_("set"):
            self.next()
            self.expect("[")
            k = self.type()
            self.expect("]")
            return A.TSet(pos, k)
        if t.is_("map"):
            self.next()
            self.expect("[")
            k = self.type()
            self.expect("]")
            return A.TMap(pos, k, self.type())
        if t.is_("enum"):
            self.next()
            self.expect("{")
            labels = []
            while not self.at("}"):
                lt = self.ident("enum label")
                labels.append(A.Label(lt.text, lt.pos))
                self.end_of_item("}")
            self.next()
            if not labels:
                raise error(pos, "syntax error: enum must have at least one label")
            return A.TEnum(pos, labels)
        if t.is_("struct") or t.is_("union"):
            self.next()
            self.expect("{")
            fields = []
            while not self.at("}"):
                fields.extend(self.field_spec())
                self.end_of_item("}")
            self.next()
            return (A.TStruct if t.text == "struct" else A.TUnion)(pos, fields)
        self.fail("type")

    def field_spec(self):
        types = [self.type()]
        while self.accept(","):
            types.append(self.type())
        if not self._starts_type():
            self.fail("field type")
        typ = self.type()
        return [A.FieldDef(self._type_as_name(n), typ, n.pos) for n in types]

    # -- expressions ---------------------------------------------------------
    def expr(self, min_prec=1) -> A.Expr:
        self._enter()
        try:
            return self._expr(min_prec)
        finally:
            self._leave()

    def _expr(self, min_prec) -> A.Expr:
        left = self.unary()
        chain = 0
        while True:
            chain += 1
            if chain > MAX_DEPTH * 10:
                raise error(self.tok.pos, f"expression has more than {MAX_DEPTH * 10} operators")
            t = self.tok
            prec = _BINARY_PREC.get(t.text) if t.kind == "punct" else None
            if prec is None or prec < min_prec:
                return left
            self.next()
            right = self.expr(prec + 1)
            left = A.EBinary(t.pos, t.text, left, right)

    def unary(self) -> A.Expr:
        t = self.tok
        if t.kind == "punct" and t.text in ("!", "+", "-", "^"):
            self.next()
            self._enter()
            try:
                return A.EUnary(t.pos, t.text, self.unary())
            finally:
                self._leave()
        return self.operand()

    def operand(self) -> A.Expr:
        t = self.tok
        pos = t.pos
        if t.kind == "string" and not self.peek().is_("."):
            self.next()
            return A.ELit(pos, t.value)
        if t.kind in ("int", "float"):
            self.next()
            return A.ELit(pos, t.value)
        if t.is_("("):
            self.next()
            e = self.expr()
            self.expect(")")
            return e
        if t.is_("typeobject"):
            self.next()
            self.expect("(")
            typ = self.type()
            self.expect(")")
            return A.ETypeObject(pos, typ)
        if t.is_("{"):
            return self.composite(None, pos)
        if t.kind in ("ident", "string"):
            name = self.nameref()
            if self.at("("):
                self.next()
                e = self.expr()
                self.expect(")")
                return A.EConvert(pos, A.TNamed(pos, name), e)
            if self.at("{"):
                return self.composite(A.TNamed(pos, name), pos)
            if self.at("["):
                self.next()
                idx = self.expr()
                self.expect("]")
                return A.EIndex(pos, A.ENamed(pos, name), idx)
            return A.ENamed(pos, name)
        if self._starts_type():
            typ = self.type(allow_typeobject=False)
            if self.at("("):
                self.next()
                e = self.expr()
                self.expect(")")
                return A.EConvert(pos, typ, e)
            if self.at("{"):
                return self.composite(typ, pos)
            self.fail("'(' or '{' after type in expression")
        self.fail("expression")

    def composite(self, typ, pos) -> A.Expr:
        brace = self.expect("{")
        kvs = []
        while not self.at("}"):
            e = self.expr()
            if self.accept(":"):
                kvs.append(A.KV(e, self.expr()))
            else:
                kvs.append(A.KV(None, e))
            if not self.accept(","):
                break
        self.expect("}")
        lit = A.EComposite(pos, typ, kvs)
        if self.at(".") or self.at("["):
            raise error(self.tok.pos, "cannot apply selector or index operator to unnamed constant")
        return lit


def _attach_docs(f: A.File, cm: CommentMap):
    """Go vdl's rules: suffix docs first (same line), then docs (line before)."""
    def type_docs(t, suffix):
        if isinstance(t, A.TEnum):
            for lab in t.labels:
                if suffix:
                    lab.doc_suffix = cm.doc_suffix(lab.pos)
                else:
                    lab.doc = cm.doc(lab.pos)
        elif isinstance(t, (A.TArray, A.TList)):
            type_docs(t.elem, suffix)
        elif isinstance(t, A.TSet):
            type_docs(t.key, suffix)
        elif isinstance(t, A.TMap):
            type_docs(t.key, suffix)
            type_docs(t.elem, suffix)
        elif isinstance(t, (A.TStruct, A.TUnion)):
            for fd in t.fields:
                if suffix:
                    fd.doc_suffix = cm.doc_suffix(fd.pos)
                else:
                    fd.doc = cm.doc(fd.pos)
                type_docs(fd.type, suffix)
        elif isinstance(t, A.TOptional):
            type_docs(t.base, suffix)

    for suffix in (True, False):
        get = cm.doc_suffix if suffix else cm.doc
        attr = "doc_suffix" if suffix else "doc"
        if suffix:
            cm.doc_suffix(f.package_pos)
        else:
            f.package_doc = cm.doc(f.package_pos)
        for x in f.imports + f.errors:
            setattr(x, attr, get(x.pos))
        for x in f.types:
            setattr(x, attr, get(x.pos))
            type_docs(x.type, suffix)
        for x in f.consts:
            setattr(x, attr, get(x.pos))
        for x in f.interfaces:
            setattr(x, attr, get(x.pos))
            for y in x.embeds + x.methods:
                setattr(y, attr, get(y.pos))
    f.doc = cm.file_doc()


def parse_file(path: str, src: str | None = None, config: bool = False) -> A.File:
    """Parse one .vdl file (or a vdl.config file with ``config=True``)."""
    if src is None:
        with open(path, encoding="utf-8") as fh:
            src = fh.read()
    f = A.File(os.path.basename(path), path)
    cm = CommentMap()
    toks = tokenize(src, path, cm)
    _Parser(toks, path).parse_file(f, config=config)
    _attach_docs(f, cm)
    return f


def parse_config(path: str, src: str | None = None) -> A.File:
    f = parse_file(path, src, config=True)
    if f.types or f.errors or f.interfaces:
        raise VDLError(f"{path}: config files may not contain error, type or interface definitions")
    return f


def parse_exprs(src: str, file: str = "exprs") -> list:
    """Comma-separated VDL expressions (e.g. vrpc arguments)."""
    toks = tokenize(src, file)
    p = _Parser(toks, file)
    out = []
    while p.tok.kind != "eof" and not p.at(";"):
        out.append(p.expr())
        if not p.accept(","):
            break
    p.accept(";")
    if p.tok.kind != "eof":
        p.fail("',' or end of expressions")
    return out


def parse_type_string(src: str, file: str = "type") -> A.TypeExpr:
    toks = tokenize(src, file)
    p = _Parser(toks, file)
    t = p.type()
    p.accept(";")
    if p.tok.kind != "eof":
        p.fail("end of type")
    return t
