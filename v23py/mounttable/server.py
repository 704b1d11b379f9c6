"""The mount table as an RPC service: Go's v.io/v23/services/mounttable
MountTable interface (with permissions.Object embedded) and ``__Glob``,
served by a dispatcher over a `MountTable` core.
"""

import time

from v23py import verror

from v23py.mounttable import core
from v23py.naming.glob import Glob
from v23py.runtime.namespace import deadline_to_wire_seconds

MOUNTTABLE_PKG = "v.io/v23/services/mounttable"
PERMISSIONS_PKG = "v.io/v23/services/permissions"


def _descs():
    from v23py import vdl
    from v23py.rpc import _wiretypes as wt
    from v23py.rpc.model import ArgDesc, EmbedDesc, InterfaceDesc, MethodDesc
    from v23py.security import access
    from v23py.security.access._wiretypes import PermissionsType
    flag = vdl.named("v.io/v23/naming.MountFlag", vdl.Uint32Type)
    mt = InterfaceDesc(
        "MountTable", MOUNTTABLE_PKG,
        "MountTable defines the interface to talk to a mounttable.\n\n"
        "In all methods of MountTable, the receiver is the name bound to.",
        embeds=(EmbedDesc("Object", PERMISSIONS_PKG,
                          "Object provides access control for Vanadium objects."),),
        methods=(
            MethodDesc("Mount", "Mount Server (a global name) onto the receiver.",
                       (ArgDesc("server", vdl.StringType), ArgDesc("ttl", vdl.Uint32Type),
                        ArgDesc("flags", flag)), ()),
            MethodDesc("Unmount", "Unmount removes server from the receiver.",
                       (ArgDesc("server", vdl.StringType),), ()),
            MethodDesc("Delete", "Delete removes the receiver.",
                       (ArgDesc("deleteSubtree", vdl.BoolType),), ()),
            MethodDesc("ResolveStep", "ResolveStep takes the next step in resolving a name.",
                       (), (ArgDesc("", wt.MountEntry),)),
        ))
    admin = (access.Admin,)
    obj = InterfaceDesc(
        "Object", PERMISSIONS_PKG,
        "Object provides access control for Vanadium objects.",
        methods=(
            MethodDesc("SetPermissions", "SetPermissions replaces the current Permissions for "
                       "an object.", (ArgDesc("perms", PermissionsType),
                                      ArgDesc("version", vdl.StringType)), (), tags=admin),
            MethodDesc("GetPermissions", "GetPermissions returns the complete, current "
                       "Permissions for an object.", (),
                       (ArgDesc("perms", PermissionsType), ArgDesc("version", vdl.StringType)),
                       tags=admin),
        ))
    return [mt, obj]


_DESCS = None


def descs():
    global _DESCS
    if _DESCS is None:
        _DESCS = _descs()
    return _DESCS


_CLASSES = None


def _classes():
    global _CLASSES
    if _CLASSES is None:
        from v23py.rpc import _wiretypes as wt
        _CLASSES = tuple(wt.cls(n) for n in ("Duration", "WireDeadline", "MountedServer",
                                             "MountEntry", "GlobReply"))
    return _CLASSES


def wire_entry(entry, now):
    """A core MountEntry as the wire naming.MountEntry."""
    Duration, WireDeadline, MountedServer, MountEntry, _ = _classes()
    servers = []
    for s in entry.servers:
        secs, nanos = deadline_to_wire_seconds(s.expires, now)
        servers.append(MountedServer(Server=s.server, Deadline=WireDeadline(
            FromNow=Duration(Seconds=secs, Nanos=nanos))))
    return MountEntry(Name=entry.name, Servers=servers,
                      ServesMountTable=bool(entry.serves_mount_table), IsLeaf=bool(entry.is_leaf))


def caller_of(call):
    """The core Caller for an RPC call (remote blessing names as validated)."""
    sec = getattr(call, "security", None)
    if sec is None:
        return core.Caller()
    from v23py import security
    try:
        names, rejected = security.remote_blessing_names(sec)
    except Exception:
        names, rejected = [], []
    is_self = False
    try:
        local = sec.local_principal.public_key
        remote = sec.remote_blessings.public_key
        is_self = local is not None and remote is not None and \
            bytes(local.der() if hasattr(local, "der") else local) == \
            bytes(remote.der() if hasattr(remote, "der") else remote)
    except Exception:
        pass
    return core.Caller(names=tuple(names),
                       rejected=tuple(getattr(r, "Blessing", str(r)) for r in rejected),
                       is_self=is_self)


class MountContext:
    """The object served for one name (suffix) of the table."""

    def __init__(self, service, suffix):
        self.service = service
        self.table = service.table
        self.name = suffix

    def describe__(self):
        return descs()

    def _wrap(self, method, err):
        """Prefix the message like a Go server: "<program>:/<suffix>.<Method>: ..."."""
        if not isinstance(err, verror.VError):
            err = verror.from_exception(err)
        comp = self.service.component
        op = ("/" + self.name if self.name else "") + "." + method
        return verror.VError(err.id, err.retry_code, f"{comp}:{op}: {err.msg}",
                             [comp, op] + list(err.params[2:] if len(err.params) >= 2 else err.params))

    def _log(self, level, text):
        if self.service.log_level >= level:
            self.service.log(text)

    def Mount(self, ctx, call, server, ttl, flags):
        self._log(1, f"Mount {self.name!r} -> {server}")
        try:
            self.table.mount(self.name, server, int(ttl), int(flags), caller_of(call))
        except verror.VError as e:
            raise self._wrap("Mount", e) from None

    def Unmount(self, ctx, call, server):
        self._log(1, f"Unmount {self.name!r}, {server}")
        try:
            self.table.unmount(self.name, server, caller_of(call))
        except verror.VError as e:
            raise self._wrap("Unmount", e) from None

    def Delete(self, ctx, call, delete_subtree):
        self._log(1, f"Delete {self.name!r}, {delete_subtree}")
        try:
            self.table.delete(self.name, bool(delete_subtree), caller_of(call))
        except verror.VError as e:
            raise self._wrap("Delete", e) from None

    def ResolveStep(self, ctx, call):
        self._log(2, f"ResolveStep {self.name!r}")
        try:
            entry = self.table.resolve_step(self.name, caller_of(call))
        except verror.VError as e:
            raise self._wrap("ResolveStep", e) from None
        return wire_entry(entry, self.service.clock())

    def SetPermissions(self, ctx, call, perms, version):
        self._log(1, f"SetPermissions {self.name!r}")
        try:
            self.table.set_permissions(self.name, perms, version, caller_of(call))
        except verror.VError as e:
            raise self._wrap("SetPermissions", e) from None

    def GetPermissions(self, ctx, call):
        try:
            perms, version = self.table.get_permissions(self.name, caller_of(call))
        except verror.VError as e:
            raise self._wrap("GetPermissions", e) from None
        from v23py.runtime.namespace import _perms_value
        return _perms_value(perms or {}), version

    def Glob__(self, ctx, call, pattern):
        g = pattern if isinstance(pattern, Glob) else Glob.parse(str(pattern))
        now = self.service.clock()
        GlobReply = _classes()[4]
        return [GlobReply("Entry", wire_entry(e, now))
                for e in self.table.glob(self.name, g, caller_of(call))]


class MountTableDispatcher:
    """Dispatcher serving a MountTable core at every suffix. Authorization is
    done per node by the table itself, so the RPC-level authorizer allows all."""

    def __init__(self, table=None, clock=time.time, component="mounttabled", log_level=0,
                 log=None):
        self.table = table if table is not None else core.MountTable(clock=clock)
        self.clock = clock
        self.component = component
        self.log_level = log_level
        self.log = log or (lambda text: None)

    def lookup(self, ctx, suffix):
        from v23py import security
        return MountContext(self, suffix), security.allow_everyone()
