"""The mount table, as a plain object: Go v0.2.0's mounttablelib semantics
without any I/O (the RPC server in v23py.mounttable.server wraps it).

The table is a tree of nodes named by path elements. A node may be a *mount
point*: it holds a list of servers (rooted object names), each with an expiry
time, plus two flags -- the servers are mount tables themselves (M) and/or
leaves (L). Resolution stops at the first active mount point on the path.
Every node may carry versioned permissions (tags Admin, Mount, Read, Create,
Resolve); new nodes inherit their parent's permissions with the creator added
as Admin, or are built from a parent's template (a perms-file entry ending in
"/%%"). Nodes that are neither mount points, nor parents, nor explicitly
permissioned vanish.

Callers are described by a ``Caller`` (the remote blessing names the RPC layer
validated). Every operation raises ``VError``\ s with Go's ids and messages.
"""

import json
import os
import re
import time
from dataclasses import dataclass, field

from v23py import verror
from v23py.security.access import acl_parts, includes as access_includes
from v23py.naming import names as _names
from v23py.naming.endpoint import parse_endpoint
from v23py.naming.mount import (  # noqa: F401 (part of this module's surface)
    LEAF, MT, REPLACE, MountedServer, MountEntry, NameExists, NoMountTable, NoSuchName,
    NoSuchNameRoot, ResolutionDepthExceeded)

__all__ = [
    "MountTable", "Caller", "MountedServer", "MountEntry", "AccessList", "Permissions",
    "REPLACE", "MT", "LEAF", "NoSuchName", "NoSuchNameRoot", "NameExists",
    "ResolutionDepthExceeded", "NoMountTable", "TAGS",
]

# mounttable.Tag values
ADMIN, MOUNT, READ, CREATE, RESOLVE = "Admin", "Mount", "Read", "Create", "Resolve"
TAGS = (ADMIN, MOUNT, READ, CREATE, RESOLVE)

_TRAVERSE = (READ, RESOLVE, CREATE, ADMIN)
_CREATE = (CREATE, ADMIN)
_REMOVE = (ADMIN,)
_MOUNT = (MOUNT, ADMIN)
_RESOLVE = (READ, RESOLVE, ADMIN)
_GLOB = (READ, ADMIN)
_SET = (ADMIN,)
_GET = (ADMIN, READ)
_ALL = (READ, RESOLVE, ADMIN, MOUNT, CREATE)

MAX_NAME_ELEMENT_LEN = 512
DEFAULT_MAX_NODES_PER_USER = 1000
FOREVER_SECONDS = 10 * 365 * 24 * 60 * 60   # what a TTL of 0 means
TEMPLATE_VAR = "%%"

_INT = re.compile(r"[+-]?[0-9]+")

SERVER_USER = "self:?:ServerUser"
UNAUTHENTICATED_USER = "self:?:Unauthenticated"


def _go_list(items):
    return "[" + " ".join(str(i) for i in items) + "]"


# ---------------------------------------------------------------------------
# Permissions (access.AccessList / access.Permissions semantics)

@dataclass
class AccessList:
    In: list = field(default_factory=list)      # blessing patterns
    NotIn: list = field(default_factory=list)   # blessing names (patterns) denied

    def includes(self, names):
        return access_includes(self.In, self.NotIn, list(names))

    def copy(self):
        return AccessList(list(self.In), list(self.NotIn))


class Permissions(dict):
    """tag -> AccessList."""

    @classmethod
    def from_value(cls, value):
        """From a VDL access.Permissions, or the JSON form {"Tag": {"In": [...], "NotIn": [...]}}."""
        if value is None:
            return None
        out = cls()
        for tag, acl in dict(value).items():
            ins, notins = acl_parts(acl)
            out[str(tag)] = AccessList([str(p) for p in ins], [str(n) for n in notins])
        return out

    def to_json(self):
        """The JSON form Go writes (nil lists are null)."""
        return {tag: {"In": list(acl.In) or None, "NotIn": list(acl.NotIn) or None}
                for tag, acl in self.items()}

    def copy(self):
        return Permissions({t: a.copy() for t, a in self.items()})

    def add(self, pattern, *tags):
        for tag in tags:
            acl = self.get(tag) or AccessList()
            acl.In = sorted(set(acl.In) | {str(pattern)})
            self[tag] = acl
        return self

    def normalize(self):
        for tag, acl in self.items():
            self[tag] = AccessList(sorted(set(acl.In)), sorted(set(acl.NotIn)))
        return self


class VersionedPermissions:
    __slots__ = ("version", "perms")

    def __init__(self, version=0, perms=None):
        self.version = version
        self.perms = perms if perms is not None else Permissions()

    def set(self, version_str, perms):
        """Replace the permissions if version_str is "" or the current version."""
        if version_str:
            gen = int(version_str, 10) if _INT.fullmatch(version_str) else None
            if gen is None or not -2 ** 31 <= gen < 2 ** 31:
                raise verror.BadVersion.new("version is out of date")
            if gen >= 0 and gen != self.version:
                raise verror.BadVersion.new("version is out of date")
        self.perms = perms
        self.version += 1
        if self.version >= 2 ** 31:   # int32 wrap, then clamp at 0
            self.version = 0
        return self

    def get(self):
        return str(self.version), self.perms

    def copy(self):
        return VersionedPermissions(self.version, self.perms.copy())


# ---------------------------------------------------------------------------
# Callers, entries

@dataclass
class Caller:
    """Who is calling: remote blessing names (validated), rejected ones (for
    messages), and flags used internally for loading configuration."""
    names: tuple = ()
    rejected: tuple = ()
    is_self: bool = False          # the caller has our public key
    ignore_perms: bool = False
    ignore_limits: bool = False
    creator: str = None            # computed from names unless given

    def __post_init__(self):
        self.names = tuple(self.names or ())
        if self.creator is None:
            self.creator = _pick_creator(self.names, self.is_self)


def _pick_creator(names, is_self):
    ids = []
    for n in names:
        parts = n.split(":")
        ids.append(":".join(parts[:3] if len(parts) >= 3 and len(parts[1]) == 1 else parts[:1]))
    if is_self:
        ids.append(SERVER_USER)
    first = ids[0] if ids else UNAUTHENTICATED_USER
    return first.replace("/", "\\")


ADMIN_CALLER = Caller(ignore_perms=True, ignore_limits=True, creator="")


# ---------------------------------------------------------------------------
# The tree

class _Mount:
    __slots__ = ("servers", "mt", "leaf")

    def __init__(self, mt, leaf):
        self.servers = []   # most recently (re)mounted first
        self.mt = mt
        self.leaf = leaf


class _Node:
    __slots__ = ("parent", "mount", "children", "vperms", "template", "explicit", "creator")

    def __init__(self, parent=None, creator=""):
        self.parent = parent
        self.mount = None
        self.children = {}
        self.vperms = None
        self.template = None
        self.explicit = False
        self.creator = creator


class MountTable:
    """The mount table state. ``clock()`` returns seconds (default time.time).

    Hooks for persistence: ``persist_perms(name, creator, vperms)`` and
    ``persist_delete(name)`` (see ``PermsLog``)."""

    def __init__(self, clock=time.time, max_nodes_per_user=DEFAULT_MAX_NODES_PER_USER):
        self.clock = clock
        self.root = _Node(parent=_Node())
        self.super_users = None            # AccessList from the perms file's root Admin
        self.max_nodes_per_user = max_nodes_per_user
        self.nodes_per_user = {}
        self.num_nodes = 1
        self.persist = None                # a PermsLog, or None

    # -- helpers ---------------------------------------------------------

    @staticmethod
    def _elems(name):
        return name.split("/") if name else []

    def _active(self, node):
        """Does node have a mount with unexpired servers? (Drops expired ones.)"""
        m = node.mount
        if m is None:
            return False
        now = self.clock()
        m.servers = [s for s in m.servers if not now > s.expires]
        return bool(m.servers)

    def _satisfies(self, node, caller, tags):
        if caller.ignore_perms or tags is None or node.vperms is None:
            return None
        perms = node.vperms.perms
        for tag in tags:
            acl = perms.get(tag)
            if acl is not None and acl.includes(caller.names):
                return None
        if self.super_users is not None and self.super_users.includes(caller.names):
            return None
        if caller.rejected:
            return verror.NoAccess.new(f"access denied: {_go_list(caller.names)}: "
                                       f"rejected blessings: {_go_list(caller.rejected)}")
        return verror.NoAccess.new(f"access denied: {_go_list(caller.names)}")

    def _satisfies_template(self, node, caller, tags, elem):
        if caller.ignore_perms or node.template is None:
            return None
        for tag in tags:
            acl = node.template.get(tag)
            if acl is not None and _expand(acl, elem).includes(caller.names):
                return None
        return verror.NoAccess.new(f"access denied: {_go_list(caller.names)}: "
                                   f"rejected blessings: {_go_list(caller.rejected)}")

    def _debit(self, caller):
        count = self.nodes_per_user.get(caller.creator, 0) + 1
        if count > self.max_nodes_per_user and not caller.ignore_limits:
            raise verror.Unknown.new("user has exceeded their node limit")
        self.nodes_per_user[caller.creator] = count

    def _credit(self, node):
        c = self.nodes_per_user.get(node.creator, 0) - 1
        if c > 0:
            self.nodes_per_user[node.creator] = c
        else:
            self.nodes_per_user.pop(node.creator, None)

    def _delete_child(self, parent, elem):
        first = parent.children.pop(elem, None)
        if first is None:
            return
        stack = [first]
        while stack:
            n = stack.pop()
            self._credit(n)
            self.num_nodes -= 1
            stack.extend(n.children.values())
            n.children = {}

    def _traverse(self, caller, elems, create):
        """(node, remaining elems) for the path; stops at an active mount point.
        Returns (None, None) if the path is missing and create is False."""
        cur = self.root
        for i, e in enumerate(elems):
            err = self._satisfies(cur, caller, _TRAVERSE)
            if err:
                raise err
            if self._active(cur):
                return cur, elems[i:]
            child = cur.children.get(e)
            if child is not None:
                cur = child
                continue
            if not create:
                return None, None
            err = self._satisfies(cur, caller, _CREATE) or \
                self._satisfies_template(cur, caller, _CREATE, e)
            if err:
                raise err
            self._debit(caller)
            nxt = _Node(parent=cur, creator=caller.creator)
            if cur.template is not None:
                nxt.vperms = VersionedPermissions(0, Permissions(
                    {t: _expand(a, e) for t, a in cur.template.items()}))
            elif cur.vperms is not None:
                nxt.vperms = cur.vperms.copy()
                if caller.names:
                    for n in caller.names:
                        nxt.vperms.perms.add(n, ADMIN)
                    nxt.vperms.perms.normalize()
            cur.children[e] = nxt
            self.num_nodes += 1
            cur = nxt
        return cur, []

    def _find_node(self, caller, elems, tags, parent_tags, create=False):
        n, rest = self._traverse(caller, elems, create)
        if n is None or rest:
            return None
        err = self._satisfies(n, caller, tags)
        if err:
            if parent_tags is None:
                raise err
            perr = self._satisfies(n.parent, caller, parent_tags)
            if perr:
                raise perr
        return n

    def _remove_useless(self, n):
        """Drop n (and report True) if it is neither a parent, an active mount,
        nor explicitly permissioned."""
        if n.children or self._active(n) or n.explicit:
            return False
        parent = n.parent
        for k, c in list(parent.children.items()):
            if c is n:
                self._delete_child(parent, k)
                break
        return True

    def _remove_useless_up(self, caller, elems):
        for i in range(len(elems), 0, -1):
            try:
                n, rest = self._traverse(caller, elems[:i], False)
            except verror.VError:
                return
            if n is None or rest:
                return
            if not self._remove_useless(n):
                return

    def _find_mount_point(self, caller, elems):
        n, rest = self._traverse(caller, elems, False)
        if n is None:
            return None, None
        err = self._satisfies(n, caller, _RESOLVE)
        if err:
            raise err
        if not self._active(n):
            removed = self._remove_useless(n)
            if removed and elems:
                self._remove_useless_up(caller, elems[:-1])
            return None, None
        return n, rest

    # -- the MountTable interface ---------------------------------------

    def mount(self, name, server, ttl_seconds, flags, caller):
        elems = self._elems(name)
        for e in elems:
            if len(e) > MAX_NAME_ELEMENT_LEN:
                raise verror.Unknown.new(f"path element {e[:32]}...: too long "
                                         f"(max len is {MAX_NAME_ELEMENT_LEN})")
        if not ttl_seconds:
            ttl_seconds = FOREVER_SECONDS
        address = server
        if _names.rooted(server):
            address, _ = _names.split_address_name(server)
        try:
            parse_endpoint(address)
        except verror.VError:
            raise verror.Unknown.new(f"malformed address {address} for mounted server {server}") from None
        n = self._find_node(caller, elems, _MOUNT, None, create=True)
        if n is None:
            raise NoSuchNameRoot.new(f"namespace root name {name} doesn't exist", name)
        want_mt = bool(flags & MT)
        want_leaf = bool(flags & LEAF)
        if n.mount is not None:
            if want_mt != n.mount.mt:
                raise verror.Unknown.new("mount table doesn't match")
            if want_leaf != n.mount.leaf:
                raise verror.Unknown.new("leaf doesn't match")
        for child in list(n.children):
            self._delete_child(n, child)
        if flags & REPLACE:
            n.mount = None
        if n.mount is None:
            n.mount = _Mount(want_mt, want_leaf)
        expires = self.clock() + ttl_seconds
        servers = [s for s in n.mount.servers if s.server != server]
        n.mount.servers = [MountedServer(server, expires)] + servers

    def unmount(self, name, server, caller):
        elems = self._elems(name)
        n = self._find_node(caller, elems, _MOUNT, None)
        if n is None:
            return
        if not server:
            n.mount = None
        elif n.mount is not None:
            n.mount.servers = [s for s in n.mount.servers if s.server != server]
            if not n.mount.servers:
                n.mount = None
        if self._remove_useless(n) and elems:
            self._remove_useless_up(caller, elems[:-1])

    def delete(self, name, delete_subtree, caller):
        elems = self._elems(name)
        if not elems:
            raise verror.Unknown.new("cannot delete root node")
        n = self._find_node(caller, elems, _REMOVE, _REMOVE)
        if n is None:
            return
        if not delete_subtree and n.children:
            raise verror.Unknown.new(f"cannot delete {name}: has children")
        self._delete_child(n.parent, elems[-1])
        if self.persist is not None:
            self.persist.persist_delete(name)

    def resolve_step(self, name, caller):
        elems = self._elems(name)
        n, rest = self._find_mount_point(caller, elems)
        if n is None:
            if not elems:
                raise NoSuchNameRoot.new(f"namespace root name {name} doesn't exist", name)
            raise NoSuchName.new(f"name {name} doesn't exist", name)
        return MountEntry("/".join(rest), [MountedServer(s.server, s.expires) for s in n.mount.servers],
                          n.mount.mt, n.mount.leaf)

    def glob(self, name, pattern, caller):
        """The MountEntry replies of ``Glob__`` on ``name`` for a parsed ``pattern``
        (naming.glob.Glob), in a deterministic order (children sorted)."""
        elems = self._elems(name)
        out = []
        try:
            n = self._find_node(caller, elems, None, None)
        except verror.VError:
            return out
        if n is None:
            self._link_to_leaf(caller, elems, out)
            return out
        self._glob_step(caller, n, "", pattern, out)
        return out

    def _link_to_leaf(self, caller, elems, out):
        try:
            n, rest = self._find_mount_point(caller, elems)
        except verror.VError:
            return
        if n is None:
            return
        suffix = "/".join(rest)
        out.append(MountEntry("", [MountedServer(_names.join(s.server, suffix), s.expires)
                                   for s in n.mount.servers]))

    def _glob_step(self, caller, n, name, pattern, out):
        if n.mount is not None:
            if self._remove_useless(n):
                return
            entry = MountEntry(name)
            if self._satisfies(n, caller, _RESOLVE) is None:
                entry.servers = [MountedServer(s.server, s.expires) for s in n.mount.servers]
                entry.serves_mount_table = n.mount.mt
                entry.is_leaf = n.mount.leaf
            out.append(entry)
            return
        if not pattern.empty():
            allowed = True
            if self._satisfies(n, caller, _GLOB) is not None:
                fixed, _ = pattern.split_fixed_elements()
                if self._satisfies(n, caller, _TRAVERSE) is not None or not fixed:
                    allowed = False
            if allowed:
                head, rest = pattern.head(), pattern.tail()
                for k in sorted(n.children):
                    c = n.children.get(k)
                    if c is None or not head.match(k):
                        continue
                    if self._satisfies(c, caller, _ALL) is not None:
                        continue
                    self._glob_step(caller, c, _names.join(name, k), rest, out)
        if self._remove_useless(n) or len(pattern) != 0:
            return
        if self._satisfies(n, caller, _ALL) is not None:
            return
        out.append(MountEntry(name, [], True, False))

    def set_permissions(self, name, perms, version, caller):
        elems = self._elems(name)
        for e in elems:
            if len(e) > MAX_NAME_ELEMENT_LEN:
                raise verror.Unknown.new(f"path element {e[:32]}...: too long "
                                         f"(max len is {MAX_NAME_ELEMENT_LEN})")
        perms = Permissions.from_value(perms) or Permissions()
        n = self._find_node(caller, elems, _SET, None, create=True)
        if n is None:
            raise NoSuchName.new(f"name {name} doesn't exist", name)
        admin = perms.get(ADMIN)
        if admin is None or not admin.includes(caller.names):
            if n.vperms is None:
                for b in caller.names:
                    perms.add(b, ADMIN)
            else:
                old = n.vperms.perms.get(ADMIN) or AccessList()
                for b in caller.names:
                    if old.includes([b]):
                        perms.add(b, ADMIN)
        perms.normalize()
        vp = n.vperms if n.vperms is not None else VersionedPermissions()
        vp.set(version, perms)
        n.vperms = vp
        n.explicit = True
        if self.persist is not None:
            self.persist.persist_perms(name, n.creator, vp)

    def get_permissions(self, name, caller):
        """(Permissions or None, version string)."""
        n = self._find_node(caller, self._elems(name), _GET, None)
        if n is None:
            raise NoSuchName.new(f"name {name} doesn't exist", name)
        if n.vperms is None:
            return None, ""
        version, perms = n.vperms.get()
        return perms, version

    # -- configuration ---------------------------------------------------

    def load_permissions_file(self, path):
        """Apply a Go-style permissions file: JSON objects mapping node names
        to Permissions. A root ("") Admin entry makes its members super users;
        a name ending in "/%%" sets a template for the children of its parent.
        A missing file is ignored; a malformed one raises BadArg."""
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except FileNotFoundError:
            return
        dec = json.JSONDecoder()
        pos = 0
        while True:
            while pos < len(text) and text[pos].isspace():
                pos += 1
            if pos >= len(text):
                break
            try:
                obj, pos = dec.raw_decode(text, pos)
            except ValueError as e:
                raise verror.BadArg.new(f"perms file {path} invalid: {e}") from None
            if not isinstance(obj, dict):
                raise verror.BadArg.new(f"perms file {path} invalid: not an object")
            self.load_permissions(obj)

    def load_permissions(self, mapping):
        for name in sorted(mapping):
            perms = Permissions.from_value(mapping[name]) or Permissions()
            template = False
            elems = []
            if not name:
                if ADMIN in perms:
                    self.super_users = perms[ADMIN]
            else:
                elems = name.split("/")
                if elems[-1] == TEMPLATE_VAR:
                    template = True
                    elems = elems[:-1]
            caller = Caller(ignore_perms=True, ignore_limits=True, creator=SERVER_USER)
            n = self._find_node(caller, elems, None, None, create=True)
            if n is None:
                continue
            if template:
                n.template = perms
            else:
                n.vperms = (n.vperms or VersionedPermissions()).set("", perms)
                n.explicit = True

    # -- persistence -----------------------------------------------------

    def persisted_state(self):
        """[(name, creator, VersionedPermissions)] for explicitly permissioned
        nodes, parents first."""
        out = []

        def walk(node, name):
            if node.explicit and node.vperms is not None:
                out.append((name, node.creator, node.vperms))
            for k in sorted(node.children):
                walk(node.children[k], _names.join(name, k) if name else k)
        walk(self.root, "")
        return out


def _expand(acl, elem):
    return AccessList([p.replace(TEMPLATE_VAR, elem) for p in acl.In],
                      [p.replace(TEMPLATE_VAR, elem) for p in acl.NotIn])


class PermsLog:
    """Persist explicitly set permissions and deletions in ``dir``, in the
    format Go's mounttabled uses: a JSON log ``persistent.permslog`` of
    {"N": name, "V": {"V": version, "P": perms}, "D": deleted, "C": creator}.
    On open the log is replayed into the table and compacted. (Unlike Go's,
    the root is stored under "" and compaction keeps every node.)"""

    def __init__(self, table, directory):
        self.table = table
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        path = os.path.join(directory, "persistent.permslog")
        tmp = os.path.join(directory, "tmp.permslog")
        old = os.path.join(directory, "old.permslog")
        if not os.path.exists(path) and os.path.exists(tmp):
            os.replace(tmp, path)
        if os.path.exists(path):
            self._replay(path)
        with open(tmp, "w", encoding="utf-8") as f:
            for name, creator, vp in table.persisted_state():
                f.write(self._line(name, creator, vp, False))
            f.flush()
            os.fsync(f.fileno())
        if os.path.exists(path):
            os.replace(path, old)
        os.replace(tmp, path)
        self._f = open(path, "a", encoding="utf-8")
        table.persist = self

    @staticmethod
    def _line(name, creator, vp, deleted):
        return json.dumps({"N": name,
                           "V": {"V": vp.version if vp else 0,
                                 "P": vp.perms.to_json() if vp else None},
                           "D": deleted, "C": creator}) + "\n"

    def _replay(self, path):
        t = self.table
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                try:
                    e = json.loads(line)
                    name = e.get("N", "")
                    elems = name.split("/") if name else []   # "" is the root
                    caller = Caller(ignore_perms=True, ignore_limits=True, creator=e.get("C", ""))
                    n = t._find_node(caller, elems, None, None, create=True)
                except (ValueError, AttributeError, verror.VError):
                    continue   # a torn last line, like Go we keep what we have
                if n is None:
                    continue
                if e.get("D"):
                    if elems:
                        t._delete_child(n.parent, elems[-1])
                else:
                    v = e.get("V") or {}
                    n.vperms = VersionedPermissions(int(v.get("V") or 0),
                                                    Permissions.from_value(v.get("P") or {}))
                    n.explicit = True

    def persist_perms(self, name, creator, vp):
        self._f.write(self._line(name, creator, vp, False))
        self._f.flush()

    def persist_delete(self, name):
        self._f.write(self._line(name, "", None, True))
        self._f.flush()

    def close(self):
        self._f.close()
