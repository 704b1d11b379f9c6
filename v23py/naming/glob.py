"""Glob patterns over object names, with Go v0.2.0's semantics (v.io/v23/glob).

A pattern is "/"-separated elements. Each element is a shell pattern in the
syntax of Go's ``path.Match``: ``*`` (any run of characters), ``?`` (one
character), ``[...]``/``[^...]`` classes with ``a-z`` ranges, and ``\\``
escapes. A final ``...`` element matches any number of further elements
(including none); a final ``***`` does the same but is "restricted" (servers
do not expand hidden/reserved children for it).
"""

import re

from v23py import verror

__all__ = ["Glob", "Element", "BadPattern", "path_match", "MAX_RECURSIVE_GLOB_DEPTH"]

# The namespace client stops recursing through mount tables at this depth.
MAX_RECURSIVE_GLOB_DEPTH = 10

_MAX_PATTERN_LEN = 64 * 1024


def BadPattern(pattern):
    return verror.BadArg.new(f"syntax error in pattern: {pattern!r}")


def _escaped(p, i):
    """(char, next index) for a class character at p[i]; None on a bad pattern."""
    if i >= len(p) or p[i] in "-]":
        return None
    if p[i] == "\\":
        i += 1
        if i >= len(p):
            return None
    return p[i], i + 1


def _translate(p):
    """A compiled regex equivalent to Go's path.Match for pattern p, or None
    when the pattern is malformed."""
    out = []
    i, n = 0, len(p)
    while i < n:
        c = p[i]
        if c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "\\":
            if i + 1 >= n:
                return None
            out.append(re.escape(p[i + 1]))
            i += 2
        elif c == "[":
            i += 1
            negate = i < n and p[i] == "^"
            if negate:
                i += 1
            ranges = []
            first = True
            while True:
                if i >= n:
                    return None
                if p[i] == "]" and not first:
                    i += 1
                    break
                first = False
                got = _escaped(p, i)
                if got is None:
                    return None
                lo, i = got
                hi = lo
                if i < n and p[i] == "-":
                    got = _escaped(p, i + 1)
                    if got is None:
                        return None
                    hi, i = got
                ranges.append((lo, hi))
            parts = "".join(re.escape(lo) if lo == hi else f"{re.escape(lo)}-{re.escape(hi)}"
                            for lo, hi in ranges if lo <= hi)
            if negate:
                out.append(f"[^{parts}]" if parts else ".")
            else:
                out.append(f"[{parts}]" if parts else "(?!)")
        else:
            out.append(re.escape(c))
            i += 1
    return re.compile("".join(out) + r"\Z", re.S)


def path_match(pattern: str, name: str) -> bool:
    """Go's ``path.Match(pattern, name)``: does the whole name match?  A malformed
    pattern raises BadPattern (Go returns ErrBadPattern), whatever the name."""
    rx = _translate(pattern)
    if rx is None:
        raise BadPattern(pattern)
    return rx.match(name) is not None


class Element:
    """One element of a pattern."""

    __slots__ = ("pattern", "always", "never", "_re")

    def __init__(self, pattern="", always=False, never=False):
        self.pattern = pattern
        self.always = always
        self.never = never
        self._re = None if (always or never) else _translate(pattern)

    def match(self, segment: str) -> bool:
        if self.never:
            return False
        if self.always:
            return True
        return self._re is not None and self._re.match(segment) is not None

    def fixed_prefix(self):
        """(literal prefix, True if the whole element is literal)."""
        if self.never:
            return "", True
        if self.always:
            return "", False
        out = []
        escape = False
        for c in self.pattern:
            if escape:
                escape = False
                out.append(c)
            elif c in "*?[":
                return "".join(out), False
            elif c == "\\":
                escape = True
            else:
                out.append(c)
        return "".join(out), True

    def _valid(self):
        if not self.pattern:
            return False
        escape = inrange = False
        for c in self.pattern:
            if escape:
                escape = False
                continue
            if c == "\\":
                escape = True
            elif c == "[":
                inrange = True
            elif c == "]":
                inrange = False
        return not (escape or inrange)

    def __repr__(self):
        return f"Element({self.pattern!r})"


class Glob:
    """A parsed glob pattern. Immutable; head()/tail() walk it element by element."""

    __slots__ = ("elems", "recursive", "restricted")

    def __init__(self, elems=(), recursive=False, restricted=False):
        self.elems = tuple(elems)
        self.recursive = recursive
        self.restricted = restricted

    @classmethod
    def parse(cls, pattern: str) -> "Glob":
        if len(pattern) > _MAX_PATTERN_LEN:
            raise verror.BadArg.new("glob pattern too long")
        if pattern.startswith("/"):
            raise BadPattern(pattern)
        if pattern == "":
            return cls()
        parts = pattern.split("/")
        recursive = restricted = False
        if parts[-1] == "...":
            parts.pop()
            recursive = True
        elif parts[-1] == "***":
            parts.pop()
            recursive = restricted = True
        elems = []
        for p in parts:
            e = Element(p)
            if not e._valid():
                raise BadPattern(pattern)
            elems.append(e)
        return cls(elems, recursive, restricted)

    def __len__(self):
        return len(self.elems)

    def empty(self) -> bool:
        """True when the pattern matches only the current name (nothing below)."""
        return not self.recursive and not self.elems

    def head(self) -> Element:
        if self.elems:
            return self.elems[0]
        return Element(always=True) if self.recursive else Element(never=True)

    def tail(self) -> "Glob":
        return Glob(self.elems[1:], self.recursive, self.restricted)

    def split_fixed_elements(self):
        """(leading literal elements, the rest of the pattern)."""
        prefix = []
        rest = self
        for e in self.elems:
            literal, fixed = e.fixed_prefix()
            if not fixed:
                break
            prefix.append(literal)
            rest = rest.tail()
        return prefix, rest

    def __str__(self):
        parts = [e.pattern for e in self.elems]
        if self.recursive:
            parts.append("***" if self.restricted else "...")
        # like path.Join: drop empty parts, collapse
        return "/".join(p for p in parts if p)

    def __repr__(self):
        return f"Glob({str(self)!r})"
