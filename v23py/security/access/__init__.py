"""v23py.security.access: access lists, permissions, tags and the permissions
authorizer (Go's v.io/v23/security/access).

    perms = access.read_permissions('{"Read": {"In": ["..."]}, "Admin": {"In": ["alice"]}}')
    auth = access.permissions_authorizer(perms, access.TagType)
    auth.authorize(call)      # raises VError (access.NoPermissions / NoTags / MultipleTags)
    access.AccessList(In=["alice"], NotIn=["alice:guest"]).includes("alice:phone")
    access.Tag("Read") / access.Read ; access.new_access_tag_caveat(access.Read)
"""

from typing import Any

from v23py import vdl, verror
from v23py.security import _errors as _serr
from v23py.security._call import Authorizer, remote_blessing_names
from v23py.security._caveats import register_caveat_go_type, register_caveat_validator, \
    new_caveat
from v23py.security._pattern import ALL_PRINCIPALS, CHAIN_SEPARATOR, NO_EXTENSION, \
    BlessingPattern
from v23py.v23.security import access as _G
AccessListType = _G.AccessList._vdl_type
PermissionsType = _G.Permissions._vdl_type
TagType = _G.Tag._vdl_type

_P = "v.io/v23/security/access."
NoRetry = verror.NoRetry
TooBig = verror.ErrorId(_P + "TooBig", NoRetry, "AccessList is too big")
NoPermissions = verror.ErrorId(_P + "NoPermissions", NoRetry, "no permissions")
AccessListMatch = verror.ErrorId(_P + "AccessListMatch", NoRetry, "access list match failed")
UnenforceablePatterns = verror.ErrorId(_P + "UnenforceablePatterns", NoRetry, "unenforceable patterns")
InvalidOpenAccessList = verror.ErrorId(_P + "InvalidOpenAccessList", NoRetry, "invalid open access list")
AccessTagCaveatValidation = verror.ErrorId(_P + "AccessTagCaveatValidation", NoRetry, "access tag caveat failed")
MultipleTags = verror.ErrorId(_P + "MultipleTags", NoRetry, "multiple tags")
NoTags = verror.ErrorId(_P + "NoTags", NoRetry, "no tags")


class Tag(_G.Tag):
    """A method tag selecting an AccessList in Permissions."""
    __slots__ = ()

    def __repr__(self):
        return "access.Tag(%s)" % str.__repr__(self)


vdl.register_type(TagType, Tag)

Admin = Tag("Admin")
Debug = Tag("Debug")
Read = Tag("Read")
Write = Tag("Write")
Resolve = Tag("Resolve")


def typical_tag_type():
    return TagType


def all_typical_tags():
    return [Admin, Read, Write, Debug, Resolve]


def includes(in_patterns, not_in, names) -> bool:
    """Go's AccessList.Includes, the one access-list rule: drop the names a NotIn entry
    matches, then does an In pattern match what is left?  (``...`` matches even no
    names.)  Every access list in v23py (here, the mount table's, Syncbase's) uses it."""
    if not_in:
        names = [n for n in names if not any(BlessingPattern(bp).matched_by(n) for bp in not_in)]
    return any(BlessingPattern(p).matched_by(*names) for p in in_patterns)


class AccessList(_G.AccessList):
    """In: patterns granted access; NotIn: names (and their extensions) excluded."""
    __slots__ = ()

    def __init__(self, **fields: Any) -> None:
        if "In" in fields and fields["In"] is not None:
            fields["In"] = [BlessingPattern(p) for p in fields["In"]]
        if fields.get("In") is None:
            fields.pop("In", None)
        if "NotIn" in fields and fields["NotIn"] is not None:
            fields["NotIn"] = [str(p) for p in fields["NotIn"]]
        if fields.get("NotIn") is None:
            fields.pop("NotIn", None)
        super().__init__(**fields)

    def includes(self, *names):
        if len(names) == 1 and isinstance(names[0], (list, tuple, set)):
            names = tuple(names[0])
        return includes(self.In, self.NotIn, names)

    def authorize(self, call):
        names, rejected = remote_blessing_names(call)
        if self.includes(*names):
            return None
        raise AccessListMatch.new("[%s] does not match the access list (rejected blessings: %s)"
                                  % (" ".join(names), _fmt_rejected(rejected)))

    def is_open(self):
        return not self.NotIn and len(self.In) == 1 and self.In[0] == ALL_PRINCIPALS

    def enforceable(self, principal):
        if self.is_open():
            return None
        root_patterns = list(principal.roots.dump().keys())
        rejected = []
        for p in self.In:
            p = BlessingPattern(p)
            if p == ALL_PRINCIPALS:
                raise InvalidOpenAccessList.new(
                    "AccessList with the pattern ... in its In list must have no other patterns "
                    "in the In or NotIn lists")
            if not p.is_valid() or not _is_recognized(p, root_patterns):
                rejected.append(p)
        if rejected:
            raise UnenforceablePatterns.new(
                "AccessList contains the following invalid or unrecognized patterns in the In "
                "list: [%s]" % " ".join(rejected), list(rejected))
        return None


vdl.register_type(AccessListType, AccessList)


def _is_recognized(p, roots):
    if p == NO_EXTENSION:
        return True
    suffix = CHAIN_SEPARATOR + NO_EXTENSION
    s = str(p)
    non_ext = s.endswith(suffix)
    if non_ext:
        s = s[:-len(suffix)]
    for root in roots:
        if root == NO_EXTENSION:
            continue
        if not non_ext and str(root).endswith(suffix):
            continue
        if BlessingPattern(root).matched_by(s):
            return True
    return False


def _dedup(seq):
    seen = set()
    out = []
    for x in seq:
        if x not in seen:
            seen.add(x)
            out.append(x)
    return out


class Permissions(_G.Permissions):
    """map[tag name]AccessList."""
    __slots__ = ()

    def add(self, pattern, *tags):
        for t in tags:
            acl = self.get(t, AccessList())
            self[t] = acl.replace(In=sorted(_dedup(list(acl.In) + [BlessingPattern(pattern)])))
        return self

    def blacklist(self, blessing, *tags):
        for t in tags:
            acl = self.get(t, AccessList())
            self[t] = acl.replace(NotIn=sorted(_dedup(list(acl.NotIn) + [blessing])))
        return self

    def clear(self, blessing_or_pattern=None, *tags):
        if blessing_or_pattern is None:
            return dict.clear(self)
        for t in (tags or list(self.keys())):
            acl = self.get(t, AccessList())
            self[t] = AccessList(In=[p for p in acl.In if p != blessing_or_pattern],
                                 NotIn=[b for b in acl.NotIn if b != blessing_or_pattern])
        return self

    def copy(self):
        return Permissions({t: AccessList(In=list(a.In), NotIn=list(a.NotIn))
                            for t, a in self.items()})

    def normalize(self):
        for t, acl in list(self.items()):
            self[t] = AccessList(In=sorted(_dedup(acl.In)), NotIn=sorted(_dedup(acl.NotIn)))
        return self


vdl.register_type(PermissionsType, Permissions)


def acl_parts(acl: Any) -> tuple[list[Any], list[Any]]:
    """(In, NotIn) as new lists of an access list given either as a struct with In and
    NotIn (an AccessList, a wire struct) or in its JSON form {"In": [...], "NotIn": [...]}
    (in Python callers' hands); a missing or null list is empty."""
    if isinstance(acl, dict):
        return list(acl.get("In") or ()), list(acl.get("NotIn") or ())
    return list(getattr(acl, "In", None) or ()), list(getattr(acl, "NotIn", None) or ())


def as_permissions(perms: Any) -> "Permissions":
    """``perms`` as a Permissions value: itself when it is one, else built from a mapping
    of tag to access list in either form :func:`acl_parts` reads."""
    if isinstance(perms, Permissions):
        return perms
    out = Permissions()
    for tag, acl in dict(perms).items():
        ins, notins = acl_parts(acl)
        out[str(tag)] = AccessList(In=ins, NotIn=notins)
    return out


# --- JSON form (Go encoding/json of access.Permissions) ---

def _json_list(v, what):
    if v is None:
        return []
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise verror.BadArg.new("permissions: %s must be a list of strings" % what)
    return v


def permissions_from_json_object(obj):
    if obj is None:
        return Permissions()
    if not isinstance(obj, dict):
        raise verror.BadArg.new("permissions: expected a JSON object mapping tags to access lists")
    perms = Permissions()
    for tag, acl in obj.items():
        if acl is None:
            perms[tag] = AccessList()
            continue
        if not isinstance(acl, dict):
            raise verror.BadArg.new("permissions: access list for %r must be an object" % tag)
        fields = {}
        for k, v in acl.items():  # Go's JSON field matching is case-insensitive
            lk = k.lower()
            if lk == "in":
                fields["In"] = _json_list(v, tag + ".In")
            elif lk == "notin":
                fields["NotIn"] = _json_list(v, tag + ".NotIn")
        perms[tag] = AccessList(**fields)
    return perms


def read_permissions(text):
    """Permissions from Go's JSON form (str, bytes or a file object); raises VError BadArg."""
    if hasattr(text, "read"):
        text = text.read()
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    try:
        import json   # (only permissions read or written as JSON need it)
        obj = json.loads(text)
    except ValueError as e:
        raise verror.BadArg.new("failed to parse permissions: %s" % e) from None
    return permissions_from_json_object(obj)


def _go_json(obj):
    import json
    s = json.dumps(obj, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return s.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def write_permissions(perms):
    """The JSON text Go's WritePermissions writes (normalized, with a trailing newline)."""
    out = {}
    for t, acl in Permissions(perms).copy().normalize().items():
        out[t] = {"In": list(acl.In) or None, "NotIn": list(acl.NotIn) or None}
    return _go_json(out) + "\n"


# --- authorizers ---

def _fmt_rejected(rejected):
    return "[" + " ".join('{"%s": %s}' % (r.Blessing, r.Err) for r in rejected) + "]"


def _raw(tag):
    return str(getattr(tag, "value", tag))


class PermissionsAuthorizer(Authorizer):
    def __init__(self, perms, tag_type):
        self.perms = perms
        self.tag_type = tag_type

    def _perms(self):
        return self.perms

    def authorize(self, call):
        perms = self._perms()
        names, rejected = remote_blessing_names(call)
        has_tag = False
        for tag in call.method_tags:
            if vdl.type_of(tag) != self.tag_type:
                continue
            if has_tag:
                raise MultipleTags.new(
                    "authorizer on %s.%s cannot handle multiple tags of type %s; this is likely "
                    "unintentional" % (call.suffix, call.method, self.tag_type))
            has_tag = True
            acl = perms.get(_raw(tag))
            if acl is None or not acl.includes(*names):
                raise NoPermissions.new("[%s] does not have %s access (rejected blessings: %s)"
                                        % (" ".join(names), _raw(tag), _fmt_rejected(rejected)))
        if not has_tag:
            raise NoTags.new("authorizer on %s.%s has no tags of type %s; this is likely "
                             "unintentional" % (call.suffix, call.method, self.tag_type))
        return None


class _FileAuthorizer(PermissionsAuthorizer):
    def __init__(self, filename, tag_type):
        super().__init__(None, tag_type)
        self.filename = filename

    def _perms(self):
        try:
            with open(self.filename, "rb") as f:
                return read_permissions(f.read(1 << 22))
        except (OSError, verror.VError):
            raise verror.Internal.new("internal error: failed to read Permissions from file") \
                from None


def _check_tag_type(tag_type):
    if tag_type.kind != vdl.Kind.STRING:
        raise verror.BadArg.new("tag type(%s) must be backed by a string not %s"
                                % (tag_type, tag_type.kind))


def permissions_authorizer(perms: Any, tag_type: Any = TagType) -> Authorizer:
    _check_tag_type(tag_type)
    if not isinstance(perms, Permissions):
        perms = permissions_from_json_object(perms) if isinstance(perms, dict) and \
            not all(isinstance(v, AccessList) for v in perms.values()) else Permissions(perms)
    return PermissionsAuthorizer(perms, tag_type)


def typical_tag_type_permissions_authorizer(perms):
    return permissions_authorizer(perms, TagType)


def permissions_authorizer_from_file(filename: str, tag_type: Any = TagType) -> Authorizer:
    _check_tag_type(tag_type)
    return _FileAuthorizer(filename, tag_type)


def authorizer_from_spec(literal=None, files=None, name="", tag_type=TagType):
    """Go's AuthorizerFromSpec: a literal wins, else files[name]; None if neither."""
    if literal:
        try:
            perms = read_permissions(literal)
        except verror.VError as e:
            raise verror.BadArg.new("failed to parse permissions literal: %s: %s"
                                    % (literal, e)) from None
        return permissions_authorizer(perms, tag_type)
    filename = (files or {}).get(name)
    if not filename:
        return None
    return permissions_authorizer_from_file(filename, tag_type)


# --- the access tag caveat ---

AccessTagCaveat = _G.AccessTagCaveat


def _access_tag_validator(call, tags):
    want = set(str(t) for t in tags)
    for mt in call.method_tags:
        if vdl.type_of(mt) == TagType and _raw(mt) in want:
            return None
    return AccessTagCaveatValidation.new(
        "access tags on method ([%s]) do not include any of the ones in the caveat ([%s]), or "
        "the method is using a different tag type"
        % (" ".join(_raw(t) for t in call.method_tags), " ".join(tags)))


register_caveat_validator(AccessTagCaveat, _access_tag_validator)
register_caveat_go_type(AccessTagCaveat, "[]access.Tag")


def new_access_tag_caveat(*tags):
    return new_caveat(AccessTagCaveat, [Tag(t) for t in tags])


_ = _serr
