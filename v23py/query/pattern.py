"""SQL LIKE patterns as Go's ``v.io/v23/query/pattern``.

``%`` matches any run of characters (lazily), ``_`` exactly one; the escape
character (``\\`` by default, none when it is ``"\\x00"``) escapes ``%``,
``_`` and itself and nothing else.  As with Go's RE2, ``.`` does not match a
newline and the match is anchored at both ends of the whole string.
"""
from __future__ import annotations

import re

from v23py.query import errors as E

DEFAULT_ESCAPE = "\\"


class Pattern:
    __slots__ = ("regex", "fixed_prefix", "no_wildcards", "_match")

    def __init__(self, regex, fixed_prefix, no_wildcards):
        self.regex = regex
        self.fixed_prefix = fixed_prefix
        self.no_wildcards = no_wildcards
        self._match = regex.match

    def match(self, s: str) -> bool:
        return self._match(s) is not None

    def FixedPrefix(self):
        return self.fixed_prefix, self.no_wildcards


def _invalid_escape(found):
    return E.InvalidEscape.new(
        f"only '%', '_', and the escape character are allowed to be escaped, found '{found}'",
        found)


def parse(pattern: str, esc: str = DEFAULT_ESCAPE) -> Pattern:
    if esc in ("%", "_"):
        raise E.IllegalEscapeChar.new("'%' and '_' cannot be used as escape characters")
    segs: list[list[str]] = [[]]   # the regex of the parts between the %s
    pending = []
    prefix = None
    escaped = False
    for c in pattern:
        if escaped:
            if c not in ("%", "_") and c != esc:
                raise _invalid_escape(c)
            pending.append(c)
            escaped = False
        elif c == "%" or c == "_":
            text = "".join(pending)
            segs[-1].append(re.escape(text))
            if prefix is None:
                prefix = text
            pending = []
            if c == "%":
                segs.append([])
            else:
                segs[-1].append(".")
        elif c == esc and esc != "\x00":
            escaped = True
        else:
            pending.append(c)
    if escaped:
        raise _invalid_escape("<end>")
    text = "".join(pending)
    segs[-1].append(re.escape(text))
    no_wild = prefix is None
    if no_wild:
        prefix = text
    # Each part between two %s is fixed-length, so the first place it fits after the
    # part before it is as good as any later one: taken atomically, as Go's RE2 (which
    # never backtracks) finds the same matches, a pattern of k %s costs O(k n) and not
    # the O(n^k) of backtracking lazy stars (found by fuzzing: "%%%%%%%%x" hung).  (A
    # lookahead is atomic, and what it captured is then taken: Python 3.10 has no (?>).)
    parts = ["".join(p) for p in segs]
    out = ["^", parts[0]]
    out += ["(?=(?P<p%d>.*?%s))(?P=p%d)" % (i, p, i) for i, p in enumerate(parts[1:-1])]
    if len(parts) > 1:
        out += [".*?", parts[-1]]
    out.append(r"\Z")
    return Pattern(re.compile("".join(out)), prefix, no_wild)


def escape(s: str, esc: str = DEFAULT_ESCAPE) -> str:
    """Escape ``%``, ``_`` and the escape character in a literal."""
    return "".join(esc + c if c in ("%", "_", esc) else c for c in s)
