"""The syncQL tokenizer: Go's ``text/scanner`` in its default Go-token mode.

Go's parser feeds queries through ``text/scanner``, so its quirks are part of
the language: identifiers are Unicode letters/digits/``_``; numbers are Go
literals (``0x1F``, ``0o17``, ``017``, ``1_000``, ``1.5e3``, ``.5``); string
(``"..."``) and char (``'x'``) literals keep their escapes *unprocessed* (the
parser only strips the quotes); ``//`` and ``/* */`` comments are skipped;
any other character is a token of its own.  Once a malformed literal has been
seen, every later token is an error token, as Go's scanner's error count.
Offsets are byte offsets into the UTF-8 statement.
"""
from __future__ import annotations

from v23py.records import NamedTuple

# token kinds (Go's TokenType)
CHAR, COMMA, EOF, EQUAL, FLOAT, IDENT, INT, LEFTANGLE, LEFTBRACKET, LEFTPAREN, MINUS, \
    PARAM, PERIOD, RIGHTANGLE, RIGHTBRACKET, RIGHTPAREN, STRING, ERROR = range(1, 19)
OTHER = 0   # a character the parser has no token for (its text is the value)

_PUNCT = {".": PERIOD, ",": COMMA, "-": MINUS, "(": LEFTPAREN, ")": RIGHTPAREN, "=": EQUAL,
          "<": LEFTANGLE, ">": RIGHTANGLE, "[": LEFTBRACKET, "]": RIGHTBRACKET, "?": PARAM}
_WS = " \t\n\r"


class Token(NamedTuple):
    tok: int
    value: str
    off: int


def _is_ident(ch: str, i: int) -> bool:
    return ch == "_" or ch.isalpha() or (i > 0 and ch.isdecimal())


def _lower(ch: str) -> str:
    return ch.lower() if ch.isascii() else ch


class Scanner:
    def __init__(self, src: str):
        self.src = src
        self.n = len(src)
        self.pos = 0
        self.errors = 0
        if src.isascii():
            self._boff = None
        else:
            offs, b = [], 0
            for c in src:
                offs.append(b)
                b += len(c.encode("utf-8", "surrogatepass"))
            offs.append(b)
            self._boff = offs

    def byte_off(self, i: int) -> int:
        return i if self._boff is None else self._boff[i]

    def _ch(self, i):
        return self.src[i] if i < self.n else ""

    def next(self) -> Token:
        src, n = self.src, self.n
        i = self.pos
        while True:
            while i < n and src[i] in _WS:
                i += 1
            if i + 1 < n and src[i] == "/" and src[i + 1] in "/*":
                if src[i + 1] == "/":
                    j = src.find("\n", i + 2)
                    i = n if j < 0 else j
                else:
                    j = src.find("*/", i + 2)
                    if j < 0:
                        self.errors += 1
                        i = n
                    else:
                        i = j + 2
                continue
            break
        start = i
        if i >= n:
            self.pos = n
            return Token(ERROR if self.errors else EOF, "", self.byte_off(n))
        ch = src[i]
        kind = OTHER
        if _is_ident(ch, 0):
            i += 1
            while i < n and _is_ident(src[i], 1):
                i += 1
            kind = IDENT
        elif ch.isascii() and ch.isdigit():
            kind, i = self._number(i, False)
        elif ch == '"' or ch == "'":
            i, count = self._quoted(i, ch)
            if ch == "'" and count != 1:
                self.errors += 1
            kind = STRING if ch == '"' else CHAR
        elif ch == "." and i + 1 < n and src[i + 1].isascii() and src[i + 1].isdigit():
            kind, i = self._number(i + 1, True)
        elif ch == "`":
            j = src.find("`", i + 1)
            if j < 0:
                self.errors += 1
                i = n
            else:
                i = j + 1
            kind = OTHER
        else:
            i += 1
            kind = _PUNCT.get(ch, OTHER)
        self.pos = i
        text = src[start:i]
        off = self.byte_off(start)
        if self.errors:
            return Token(ERROR, text, off)
        if kind in (STRING, CHAR):
            text = text[1:-1]
        return Token(kind, text, off)

    def _quoted(self, i, quote):
        """Scan a string/char literal from its opening quote; (end index, rune count)."""
        src, n = self.src, self.n
        i += 1
        count = 0
        while True:
            if i >= n:
                self.errors += 1
                return n, count
            c = src[i]
            if c == quote:
                return i + 1, count
            if c == "\n":
                self.errors += 1
                return i + 1, count     # Go consumes the newline into the token
            if c == "\\":
                i = self._escape(i + 1, quote)
            else:
                i += 1
            count += 1

    def _escape(self, i, quote):
        c = self._ch(i)
        if c and c in "abfnrtv\\" or c == quote:
            return i + 1
        if c in "01234567" and c:
            return self._digits(i, 8, 3)
        if c == "x":
            return self._digits(i + 1, 16, 2)
        if c == "u":
            return self._digits(i + 1, 16, 4)
        if c == "U":
            return self._digits(i + 1, 16, 8)
        self.errors += 1
        return i

    def _digits(self, i, base, count):
        while count > 0 and i < self.n and _digit_val(self.src[i]) < base:
            i += 1
            count -= 1
        if count > 0:
            self.errors += 1
        return i

    def _number(self, i, seen_dot):
        """Go's scanNumber from index i (after the '.' when seen_dot); (kind, end)."""
        src = self.src
        base, prefix, digsep, invalid = 10, "", 0, ""
        start = i - 1 if seen_dot else i
        kind = INT
        if not seen_dot:
            if src[i] == "0":
                i += 1
                c = _lower(self._ch(i))
                if c == "x":
                    i += 1
                    base, prefix = 16, "x"
                elif c == "o":
                    i += 1
                    base, prefix = 8, "o"
                elif c == "b":
                    i += 1
                    base, prefix = 2, "b"
                else:
                    base, prefix, digsep = 8, "0", 1
            i, ds, invalid = self._digit_run(i, base, invalid)
            digsep |= ds
            if self._ch(i) == ".":
                i += 1
                seen_dot = True
        if seen_dot:
            kind = FLOAT
            if prefix in ("o", "b"):
                self.errors += 1
            i, ds, invalid = self._digit_run(i, base, invalid)
            digsep |= ds
        if not digsep & 1:
            self.errors += 1
        e = _lower(self._ch(i))
        if e in ("e", "p") and e:
            if (e == "e" and prefix not in ("", "0")) or (e == "p" and prefix != "x"):
                self.errors += 1
            i += 1
            kind = FLOAT
            if self._ch(i) in ("+", "-") and self._ch(i):
                i += 1
            i, ds, _ = self._digit_run(i, 10, "")
            digsep |= ds
            if not ds & 1:
                self.errors += 1
        elif prefix == "x" and kind == FLOAT:
            self.errors += 1
        if kind == INT and invalid:
            self.errors += 1
        if digsep & 2 and _invalid_sep(src[start:i]) >= 0:
            self.errors += 1
        return kind, i

    def _digit_run(self, i, base, invalid):
        src, n = self.src, self.n
        ds = 0
        if base <= 10:
            mx = chr(ord("0") + base)
            while i < n and (src[i] == "_" or (src[i].isascii() and src[i].isdigit())):
                if src[i] == "_":
                    ds |= 2
                else:
                    ds |= 1
                    if src[i] >= mx and not invalid:
                        invalid = src[i]
                i += 1
        else:
            while i < n and (src[i] == "_" or _digit_val(src[i]) < 16):
                ds |= 2 if src[i] == "_" else 1
                i += 1
        return i, ds, invalid


def _digit_val(c: str) -> int:
    if "0" <= c <= "9":
        return ord(c) - 48
    lc = _lower(c)
    if "a" <= lc <= "f" and len(c) == 1:
        return ord(lc) - 87
    return 16


def _invalid_sep(x: str) -> int:
    """Index of the first misplaced '_' in a number literal, or -1 (Go's invalidSep)."""
    x1, d, i = " ", ".", 0
    if len(x) >= 2 and x[0] == "0":
        x1 = _lower(x[1])
        if x1 in "xob":
            d, i = "0", 2
    while i < len(x):
        p, d = d, x[i]
        if d == "_":
            if p != "0":
                return i
        elif (d.isascii() and d.isdigit()) or (x1 == "x" and _digit_val(d) < 16):
            d = "0"
        else:
            if p == "_":
                return i - 1
            d = "."
        i += 1
    return len(x) - 1 if d == "_" else -1


def parse_go_int(text: str) -> int:
    """strconv.ParseInt(text, 0, 64); raises ValueError when out of range or malformed."""
    s = text.replace("_", "") if "_" in text else text
    neg = s.startswith("-")
    body = s[1:] if neg or s.startswith("+") else s
    if len(body) > 1 and body[0] == "0" and body[1] in "xXoObB":
        v = int(body[2:], {"x": 16, "o": 8, "b": 2}[body[1].lower()])
    elif len(body) > 1 and body[0] == "0":
        v = int(body[1:], 8)
    else:
        if not body.isdigit() or not body.isascii():
            raise ValueError(text)
        v = int(body)
    if "_" in text and _invalid_sep(text.lstrip("+-")) >= 0:
        raise ValueError(text)
    if neg:
        v = -v
    if not -(1 << 63) <= v < (1 << 63):
        raise ValueError(text)
    return v


def parse_go_float(text: str) -> float:
    """strconv.ParseFloat(text, 64) for the literals the scanner yields."""
    s = text.replace("_", "")
    neg = s.startswith("-")
    body = s[1:] if neg else s
    if body[:2].lower() == "0x":
        v = float.fromhex(body)
    else:
        v = float(body)
    if v in (float("inf"), float("-inf")):
        raise ValueError(text)
    return -v if neg else v
