"""Tokens of the VDL language.

The token rules follow Go's: identifiers, integer literals (decimal, 0x, 0o,
0b, legacy leading-0 octal, ``_`` separators), float literals (kept exact as
``fractions.Fraction``), interpreted "..." and raw ``...`` strings, ``//`` and
``/* */`` comments, and automatic semicolons at the end of a line whose last
token is an identifier, a literal, or one of ``) ] } >``.

Comments are not tokens; they are grouped into blocks (adjacent lines, or
abutting on one line) so the parser can attach doc comments the way Go's
``vdl`` does: a block whose last line is right before a declaration is its
doc; a block starting on the declaration's line is its suffix doc.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from v23py.gostrings import go_string

__all__ = ["Pos", "Token", "VDLError", "tokenize", "KEYWORDS", "CommentMap"]


class VDLError(Exception):
    """A compile error; ``str()`` is ``file:line:col: message`` (one per line)."""

    def __init__(self, messages):
        if isinstance(messages, str):
            messages = [messages]
        self.messages = list(messages)
        super().__init__("\n".join(self.messages))


@dataclass(frozen=True)
class Pos:
    file: str = ""
    line: int = 0
    col: int = 0

    def __str__(self):
        if self.line <= 0:
            return self.file or "?"
        return f"{self.file}:{self.line}:{self.col}"

    @property
    def valid(self):
        return self.line > 0


def error(pos: Pos, msg: str) -> VDLError:
    return VDLError(f"{pos}: {msg}" if pos.valid or pos.file else msg)


KEYWORDS = frozenset({"const", "enum", "error", "import", "interface", "map", "package",
                      "set", "stream", "struct", "type", "typeobject", "union"})

TWO_CHAR = {"||", "&&", "<=", ">=", "!=", "==", "<<", ">>"}
ONE_CHAR = set(";:,.()[]{}<>=!+-*/%|&^?")
AUTO_SEMI_PUNCT = {")", "]", "}", ">"}


@dataclass
class Token:
    kind: str      # "ident", "int", "float", "string", "punct", "keyword", "eof"
    text: str      # keyword/punct text, identifier name, or literal source
    value: object  # int / Fraction / str for literals
    pos: Pos
    auto: bool = False  # an automatic semicolon

    def __repr__(self):
        return f"Token({self.kind},{self.text!r}@{self.pos.line}:{self.pos.col})"

    def is_(self, kind_or_text: str) -> bool:
        if self.kind in ("punct", "keyword"):
            return self.text == kind_or_text
        return self.kind == kind_or_text


class CommentMap:
    """Comment blocks by first and last line (Go vdl's doc-attachment rules)."""

    def __init__(self):
        self.by_first = {}
        self.by_last = {}
        self._parts = []     # text pieces of the current block
        self._first = 0
        self._last = 0
        self.prev_token_line = 0

    def add(self, text: str, line: int) -> None:
        if not self._update(text, line):
            self.end_block()
            self._update(text, line)
        if self.prev_token_line == line:
            self.end_block()

    def _update(self, text, line):
        if not self._parts:
            self._parts.append(text)
            self._first = line
            self._last = line + text.count("\n")
            return True
        if self._last >= line - 1:
            if self._last == line - 1:
                self._parts.append("\n")
                self._last += 1
            self._parts.append(text)
            self._last += text.count("\n")
            return True
        return False

    def token(self, line: int) -> None:
        if self._parts:
            self.end_block()
        self.prev_token_line = line

    def end_block(self) -> None:
        text = "".join(self._parts)
        if text and self._first not in self.by_first and self._last not in self.by_last:
            block = (text, self._first, self._last)
            self.by_first[self._first] = block
            self.by_last[self._last] = block
        self._parts = []
        self._first = self._last = 0

    def _take(self, block):
        del self.by_first[block[1]]
        del self.by_last[block[2]]
        return block[0]

    def doc(self, pos: Pos) -> str:
        """Block ending on the line before ``pos`` (newline-terminated), or ''."""
        block = self.by_last.get(pos.line - 1)
        return self._take(block) + "\n" if block else ""

    def doc_suffix(self, pos: Pos) -> str:
        block = self.by_first.get(pos.line)
        return " " + self._take(block) if block else ""

    def file_doc(self) -> str:
        block = self.by_first.get(1)
        return self._take(block) + "\n" if block else ""


_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t",
            "v": "\v", "\\": "\\", '"': '"'}


def _unquote(body: str, pos: Pos) -> str:
    """Go's interpreted-string unquoting; \\x and octal escapes are bytes (UTF-8 decoded)."""
    out = bytearray()
    i, n = 0, len(body)
    while i < n:
        c = body[i]
        if c != "\\":
            out += c.encode("utf-8")
            i += 1
            continue
        if i + 1 >= n:
            raise error(pos, "invalid escape at end of string literal")
        e = body[i + 1]
        if e in _ESCAPES:
            out += _ESCAPES[e].encode()
            i += 2
        elif e == "x":
            h = body[i + 2:i + 4]
            if len(h) != 2 or not all(ch in "0123456789abcdefABCDEF" for ch in h):
                raise error(pos, f"invalid \\x escape in string literal")
            out.append(int(h, 16))
            i += 4
        elif e in "01234567":
            o = body[i + 1:i + 4]
            if len(o) != 3 or not all(ch in "01234567" for ch in o) or int(o, 8) > 255:
                raise error(pos, "invalid octal escape in string literal")
            out.append(int(o, 8))
            i += 4
        elif e in "uU":
            k = 4 if e == "u" else 8
            h = body[i + 2:i + 2 + k]
            if len(h) != k or not all(ch in "0123456789abcdefABCDEF" for ch in h):
                raise error(pos, f"invalid \\{e} escape in string literal")
            cp = int(h, 16)
            if cp > 0x10FFFF or 0xD800 <= cp < 0xE000:
                raise error(pos, f"invalid unicode code point in string literal")
            out += chr(cp).encode("utf-8")
            i += 2 + k
        else:
            raise error(pos, f"unknown escape sequence \\{e} in string literal")
    return go_string(out)


def _parse_int(text: str, pos: Pos) -> int:
    t = text.replace("_", "")
    try:
        if len(t) > 1 and t[0] == "0" and t[1] not in "xXbBoO":
            return int(t, 8)
        return int(t, 0)
    except ValueError:
        raise error(pos, f"can't convert token [{text}] to integer literal") from None


def _parse_float(text: str, pos: Pos) -> Fraction:
    t = text.replace("_", "")
    try:
        if t[:2] in ("0x", "0X"):
            return Fraction(float.fromhex(t))
        return Fraction(t)
    except (ValueError, ZeroDivisionError, OverflowError):
        raise error(pos, f"can't convert token [{text}] to float literal") from None


_TOKEN_RE = re.compile(r"""
    (?P<ws>[ \t\r]+)
  | (?P<nl>\n)
  | (?P<lcomment>//[^\n]*)
  | (?P<bcomment>/\*.*?\*/)
  | (?P<ident>[^\W\d]\w*)
  | (?P<hex>0[xX][0-9a-fA-F_]*(?:\.[0-9a-fA-F_]*)?(?:[pP][+-]?[0-9]+)?)
  | (?P<binoct>0[bBoO][0-9_]+)
  | (?P<dec>(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)(?:[eE][+-]?[0-9]+)?)
  | (?P<string>"(?:[^"\\\n]|\\[^\n])*")
  | (?P<raw>`[^`]*`)
  | (?P<punct2>\|\||&&|<=|>=|!=|==|<<|>>)
  | (?P<punct1>[;:,.()\[\]{}<>=!+\-*/%|&^?])
""", re.VERBOSE | re.DOTALL)


_COMMENT_RUN = re.compile(r"(?:\n[ \t]*//[^\n]*)+")


def tokenize(src: str, file: str = "", comments: CommentMap | None = None) -> list:
    """The token list of ``src``, ending with an ``eof`` token."""
    toks = []
    cm = comments if comments is not None else CommentMap()
    n = len(src)
    line, col0 = 1, 0  # col0: index of the first char of the current line
    i = 0
    match = _TOKEN_RE.match
    auto_kinds = ("ident", "int", "float", "string", "keyword")

    def need_semi():
        if not toks:
            return False
        t = toks[-1]
        if t.kind in auto_kinds:
            return True
        return t.kind == "punct" and t.text in AUTO_SEMI_PUNCT and not t.auto

    def emit(tok):
        toks.append(tok)
        cm.token(tok.pos.line)

    while i < n:
        m = match(src, i)
        if m is None:
            pos = Pos(file, line, i - col0 + 1)
            c = src[i]
            if c in "\"`":
                raise error(pos, "literal not terminated")
            if src.startswith("/*", i):
                raise error(pos, "comment not terminated")
            raise error(pos, f"unexpected character {c!r}")
        kind = m.lastgroup
        j = m.end()
        text = m.group()
        if kind == "ws":
            i = j
            continue
        pos = Pos(file, line, i - col0 + 1)
        if kind == "nl":
            if need_semi():
                emit(Token("punct", ";", None, pos, auto=True))
            line, col0 = line + 1, j
        elif kind == "lcomment":
            cm.add(text, line)
            if j < n and src[j] == "\n" and not need_semi():
                # Fast path: a run of whole-line // comments adds no tokens.
                run = _COMMENT_RUN.match(src, j)
                if run is not None:
                    for piece in run.group().split("\n")[1:]:
                        line += 1
                        cm.add(piece.lstrip(" \t"), line)
                    j = run.end()
                    col0 = src.rfind("\n", 0, j) + 1
        elif kind == "bcomment":
            cm.add(text, line)
            nl = text.count("\n")
            if nl:
                # A multi-line comment acts like a newline for semicolons.
                if need_semi():
                    emit(Token("punct", ";", None, pos, auto=True))
                line += nl
                col0 = i + text.rfind("\n") + 1
        elif kind == "ident":
            if text in KEYWORDS:
                emit(Token("keyword", text, None, pos))
            else:
                emit(Token("ident", text, text, pos))
        elif kind in ("hex", "binoct", "dec"):
            if j < n and (src[j].isalnum() or src[j] == "_"):
                raise error(pos, f"bad number literal {src[i:j + 1]!r}")
            if kind == "hex":
                is_float = "." in text or "p" in text or "P" in text
            else:
                is_float = kind == "dec" and any(ch in text for ch in ".eE")
            if is_float:
                emit(Token("float", text, _parse_float(text, pos), pos))
            else:
                emit(Token("int", text, _parse_int(text, pos), pos))
        elif kind == "string":
            emit(Token("string", text, _unquote(text[1:-1], pos) if "\\" in text else text[1:-1], pos))
        elif kind == "raw":
            emit(Token("string", text, text[1:-1].replace("\r", ""), pos))
            nl = text.count("\n")
            if nl:
                line += nl
                col0 = i + text.rfind("\n") + 1
        else:
            emit(Token("punct", text, None, pos))
        i = j
    if need_semi():
        emit(Token("punct", ";", None, Pos(file, line, i - col0 + 1), auto=True))
    cm.end_block()
    toks.append(Token("eof", "EOF", None, Pos(file, line, i - col0 + 1)))
    return toks
