"""Blessing extensions and blessing patterns (Go's matching rules)."""

import re
from typing import Any

from v23py import vdl
from v23py.v23 import security as _G

CHAIN_SEPARATOR = ":"
ALL_PRINCIPALS = "..."
NO_EXTENSION = "$"

_FORBIDDEN = ("...", "::", ",", "@@", "(", ")", "<", ">", "/")


def extension_error(extension):
    """None if ``extension`` is a valid blessing extension, else the reason."""
    if not extension:
        return "invalid blessing extension(empty string)"
    if extension.startswith(CHAIN_SEPARATOR):
        return "invalid blessing extension(starts with (:)"
    if extension.endswith(CHAIN_SEPARATOR):
        return "invalid blessing extension(ends with (:)"
    if extension == NO_EXTENSION:
        return "invalid blessing extension(%s)" % extension
    for bad in _FORBIDDEN:
        if bad in extension:
            return "invalid blessing extension(%s) has (%s) as a substring)" % (extension, bad)
    return None


def _strip_no_extension(pattern):
    """(pattern without a trailing ':$', whether extensions also match)."""
    if pattern == NO_EXTENSION:
        return "", False
    if pattern.endswith(CHAIN_SEPARATOR + NO_EXTENSION):
        return pattern[:-2], False
    return pattern, True


class BlessingPattern(_G.BlessingPattern):
    """A pattern matched by blessing names: "a:b" matches "a:b" and "a:b:..." names,
    "a:b:$" only "a:b", "..." everything."""

    __slots__ = ()

    def is_valid(self) -> bool:
        if not self:
            return False
        if self == ALL_PRINCIPALS:
            return True
        core, _ = _strip_no_extension(str(self))
        if core.endswith(CHAIN_SEPARATOR):
            return False
        for part in core.split(CHAIN_SEPARATOR) if core else ():
            if extension_error(part) is not None:
                return False
        return True

    def matched_by(self, *names: Any) -> bool:
        if len(names) == 1 and isinstance(names[0], (list, tuple, set)):
            names = tuple(names[0])
        plan = _MATCH_PLANS.get(self)
        if plan is None:
            plan = _match_plan(self)
        if plan is True or plan is False:
            return plan
        core, prefix = plan
        for n in names:
            if n == core or (prefix is not None and n.startswith(prefix)):
                return True
        return False

    def make_non_extendable(self):
        if not self or self == NO_EXTENSION:
            return BlessingPattern(NO_EXTENSION)
        if self.endswith(CHAIN_SEPARATOR + NO_EXTENSION):
            return self
        return BlessingPattern(self + CHAIN_SEPARATOR + NO_EXTENSION)

    def prefix_patterns(self):
        if self == NO_EXTENSION:
            return [self]
        parts = self.split(CHAIN_SEPARATOR)
        parts = parts[:-2] if parts[-1] == NO_EXTENSION else parts[:-1]
        out = [BlessingPattern(CHAIN_SEPARATOR.join(parts[:i + 1])).make_non_extendable()
               for i in range(len(parts))]
        return out + [self]

    def __repr__(self):
        return "BlessingPattern(%s)" % str.__repr__(self)


vdl.register_type(BlessingPattern._vdl_type, BlessingPattern)

_PATTERN_NAME = r"^__\(([^)]*)\)($|/)(.*)"   # (compiled by re's cache on first use)


def split_pattern_name(name):
    """("__(pattern)/rest" or "/addr/__(pattern)/rest") -> (BlessingPattern, name without it)."""
    from v23py.naming import names as _n
    rooted = _n.rooted(name)
    ep, rel = _n.split_address_name(name)
    m = re.match(_PATTERN_NAME, rel, re.S)
    if not m:
        return BlessingPattern(""), name
    pattern = BlessingPattern(m.group(1))
    rest = _n.clean(m.group(3))
    if rooted:
        rest = _n.join_address_name(ep, rest)
    return pattern, rest


def join_pattern_name(pattern, name):
    if not pattern:
        return name
    from v23py.naming import names as _n
    ep, rel = _n.split_address_name(name)
    return _n.join_address_name(ep, "__(%s)/%s" % (pattern, rel))


# pattern text -> True/False (matches everything/nothing) or (core, prefix or None): the
# parsing matched_by does, kept per pattern (patterns are few and repeat on every call)
_MATCH_PLANS = {}


def _match_plan(pattern):
    text = str(pattern)
    if not text or not BlessingPattern.is_valid(pattern):
        plan = False
    elif text == ALL_PRINCIPALS:
        plan = True
    else:
        core, glob = _strip_no_extension(text)
        plan = (core, core + CHAIN_SEPARATOR if glob else None) if core else False
    if len(_MATCH_PLANS) > 4096:
        _MATCH_PLANS.clear()
    _MATCH_PLANS[text] = plan
    return plan
