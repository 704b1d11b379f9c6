"""Permissions as plain data, and Syncbase's access checks as pure functions.

A *Permissions* value here is a ``dict`` mapping a tag (``"Admin"``, ``"Read"``,
...) to an :class:`AccessList` with ``In`` (blessing patterns) and ``NotIn``
(blessing names) lists — the shape of Go's ``access.Permissions``.  Every check
takes the caller's validated blessing names (a list of ``str``), so it can be
unit-tested without any RPC machinery.

The rules are Go Syncbase's (``x/ref/services/syncbase/common``): a tag check
passes when any listed tag's AccessList includes one of the names; stored
Permissions must be non-empty, use only the tags allowed at their level and
name an Admin; errors that would reveal existence are "fuzzified" to
NoExistOrNoAccess unless the caller could have called Exists.
"""
from __future__ import annotations

import json

from v23py import verror
from v23py.v23.services import syncbase as sbwire
from v23py.security.access import acl_parts, includes as access_includes

ADMIN, READ, WRITE, DEBUG, RESOLVE = "Admin", "Read", "Write", "Debug", "Resolve"
# Errors of Go's x/ref/services/syncbase/common.
_COMMON = "v.io/x/ref/services/syncbase/common."
PermsEmpty = verror.ErrorId(_COMMON + "PermsEmpty", verror.NoRetry, "permissions cannot be empty")
PermsNoAdmin = verror.ErrorId(_COMMON + "PermsNoAdmin", verror.NoRetry,
                              "permissions must include at least one admin")
PermsDisallowedTags = verror.ErrorId(_COMMON + "PermsDisallowedTags", verror.NoRetry,
                                     "permissions tags are not allowed")

ALL_TYPICAL_TAGS = (ADMIN, READ, WRITE, DEBUG, RESOLVE)
ALL_DATABASE_TAGS = (ADMIN, READ, WRITE, RESOLVE)
ALL_COLLECTION_TAGS = (ADMIN, READ, WRITE)
ALL_SYNCGROUP_TAGS = (ADMIN, READ)


class AccessList:
    """``{In: [pattern...], NotIn: [name...]}``; ``includes`` is Go's AccessList.Includes."""
    __slots__ = ("In", "NotIn")

    def __init__(self, In=(), NotIn=()):
        self.In = list(In or ())
        self.NotIn = list(NotIn or ())

    def includes(self, names) -> bool:
        return access_includes(self.In, self.NotIn, names)

    def __eq__(self, other):
        return isinstance(other, AccessList) and \
            (self.In, self.NotIn) == (other.In, other.NotIn)

    def __repr__(self):
        return f"AccessList(In={self.In!r}, NotIn={self.NotIn!r})"


def perms_add(perms: dict, pattern: str, *tags) -> dict:
    """Add ``pattern`` to the In list of each tag (Go's Permissions.Add)."""
    for tag in tags:
        acl = perms.setdefault(tag, AccessList())
        acl.In.append(pattern)
    return perms


def normalize(perms: dict) -> dict:
    """Sorted, de-duplicated copy (Go's Permissions.Normalize)."""
    out = {}
    for tag in sorted(perms):
        acl = perms[tag]
        out[tag] = AccessList(sorted(set(acl.In)), sorted(set(acl.NotIn)))
    return out


def copy_perms(perms: dict) -> dict:
    return {tag: AccessList(acl.In, acl.NotIn) for tag, acl in perms.items()}


def filter_tags(perms: dict, *tags) -> dict:
    return {t: AccessList(perms[t].In, perms[t].NotIn) for t in tags if t in perms}


def from_any(obj) -> dict | None:
    """Permissions from our dicts, wire structs (``.In``/``.NotIn``) or Go's JSON dicts."""
    if obj is None:
        return None
    out = {}
    for tag, acl in dict(obj).items():
        ins, notins = acl_parts(acl)
        out[str(tag)] = AccessList([str(p) for p in ins], [str(p) for p in notins])
    return out


def to_json(perms: dict) -> str:
    """Go's JSON form ``{"Admin":{"In":[...]}}`` (NotIn omitted when empty)."""
    obj = {}
    for tag, acl in perms.items():
        entry = {"In": list(acl.In)}
        if acl.NotIn:
            entry["NotIn"] = list(acl.NotIn)
        obj[tag] = entry
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def from_json(text) -> dict:
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    obj = json.loads(text)
    if not isinstance(obj, dict):
        raise ValueError("permissions JSON must be an object")
    return from_any(obj)


def default_perms(patterns) -> dict:
    """All typical tags for each pattern (syncbased's default Service perms)."""
    perms = {}
    for p in patterns:
        perms_add(perms, p, *ALL_TYPICAL_TAGS)
    return perms


# --- checks ----------------------------------------------------------------

def allowed(perms: dict | None, tags, names) -> bool:
    """True when any of ``tags`` in ``perms`` includes one of ``names``."""
    if not perms:
        return False
    for tag in tags:
        acl = perms.get(tag)
        if acl is not None and acl.includes(names):
            return True
    return False


def no_access(names, tags) -> verror.VError:
    tagtext = " ∨ ".join(tags)
    return verror.NoAccess.new(f"access denied: {list(names)} does not have {tagtext} access")


def authorize(perms: dict | None, tags, names) -> None:
    """Raise NoAccess unless ``allowed``."""
    if not allowed(perms, tags, names):
        raise no_access(names, tags)


def validate_perms(perms, allowed_tags) -> None:
    """Go's ValidatePerms: non-empty, allowed tags only, an Admin with a pattern."""
    if not perms:
        raise PermsEmpty.new("permissions cannot be empty")
    bad = sorted(t for t in perms if t not in allowed_tags)
    if bad:
        raise PermsDisallowedTags.new(
            f"permissions tags {bad} are not allowed; only {list(allowed_tags)} are allowed",
            bad, list(allowed_tags))
    admin = perms.get(ADMIN)
    if admin is None or not admin.In:
        raise PermsNoAdmin.new("permissions must include at least one admin")


def check_implicit_perms(id_, allowed_tags, names) -> dict:
    """The creator must match the Id's blessing pattern (implicit Admin)."""
    implicit = perms_add({}, id_.Blessing, *allowed_tags)
    if not allowed(implicit, (ADMIN,), names):
        raise sbwire.ErrUnauthorizedCreateId.new(
            f"not authorized to create object with id blessing '{id_.Blessing}' "
            f"(name '{id_.Name}')", id_.Blessing, id_.Name)
    return implicit


def fuzzify(name: str, parent_perms, perms, original: verror.VError | None, names):
    """Go's fuzzifyErrorForExists: hide existence unless the caller may call Exists."""
    if allowed(parent_perms, (READ, WRITE), names):
        return original
    fuzzy = verror.NoExistOrNoAccess.new(f"{name} does not exist or access denied", name)
    if perms is None:
        return fuzzy
    if not allowed(parent_perms, (RESOLVE,), names):
        return fuzzy
    if not allowed(perms, ALL_TYPICAL_TAGS, names):
        return fuzzy
    return original
