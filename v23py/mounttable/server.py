"""The mount table as an RPC service: Go's v.io/v23/services/mounttable
MountTable interface (with permissions.Object embedded) and ``__Glob``,
served by a dispatcher over a ``MountTable`` core.
"""

import time

from v23py import security, stats, verror
from v23py.mounttable import core
from v23py.naming.glob import Glob
from v23py.runtime.namespace import _perms_value, deadline_to_wire_seconds
from v23py.v23 import naming as vnaming
from v23py.v23.services import mounttable as mtwire
from v23py.v23.vdlroot import time as vtime



def descs():
    """What every name of the table describes: MountTable, then permissions.Object."""
    return list(mtwire.MountTableServerStub._vdl_describe)


def wire_entry(entry, now):
    """A core MountEntry as the wire naming.MountEntry."""
    servers = []
    for s in entry.servers:
        secs, nanos = deadline_to_wire_seconds(s.expires, now)
        servers.append(vnaming.MountedServer(Server=s.server, Deadline=vtime.WireDeadline(
            FromNow=vtime.Duration(Seconds=secs, Nanos=nanos))))
    return vnaming.MountEntry(Name=entry.name, Servers=servers,
                      ServesMountTable=bool(entry.serves_mount_table), IsLeaf=bool(entry.is_leaf))


def caller_of(call):
    """The core Caller for an RPC call (remote blessing names as validated)."""
    sec = getattr(call, "security", None)
    if sec is None:
        return core.Caller()
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

    def _caller(self, call):
        c = caller_of(call)
        rpcs = self.service.rpcs_per_user   # (Go counts every call by its creator)
        rpcs[c.creator] = rpcs.get(c.creator, 0) + 1
        return c

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
            self.table.mount(self.name, server, int(ttl), int(flags), self._caller(call))
        except verror.VError as e:
            raise self._wrap("Mount", e) from None

    def Unmount(self, ctx, call, server):
        self._log(1, f"Unmount {self.name!r}, {server}")
        try:
            self.table.unmount(self.name, server, self._caller(call))
        except verror.VError as e:
            raise self._wrap("Unmount", e) from None

    def Delete(self, ctx, call, delete_subtree):
        self._log(1, f"Delete {self.name!r}, {delete_subtree}")
        try:
            self.table.delete(self.name, bool(delete_subtree), self._caller(call))
        except verror.VError as e:
            raise self._wrap("Delete", e) from None

    def ResolveStep(self, ctx, call):
        self._log(2, f"ResolveStep {self.name!r}")
        try:
            entry = self.table.resolve_step(self.name, self._caller(call))
        except verror.VError as e:
            raise self._wrap("ResolveStep", e) from None
        return wire_entry(entry, self.service.clock())

    def SetPermissions(self, ctx, call, perms, version):
        self._log(1, f"SetPermissions {self.name!r}")
        try:
            self.table.set_permissions(self.name, perms, version, self._caller(call))
        except verror.VError as e:
            raise self._wrap("SetPermissions", e) from None

    def GetPermissions(self, ctx, call):
        try:
            perms, version = self.table.get_permissions(self.name, self._caller(call))
        except verror.VError as e:
            raise self._wrap("GetPermissions", e) from None
        return _perms_value(perms or {}), version

    def Glob__(self, ctx, call, pattern):
        g = pattern if isinstance(pattern, Glob) else Glob.parse(str(pattern))
        now = self.service.clock()
        return [vnaming.GlobReply("Entry", wire_entry(e, now))
                for e in self.table.glob(self.name, g, self._caller(call))]


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
        self.rpcs_per_user = {}   # creator -> calls made

    def export_stats(self, prefix="mounttable"):
        """Publish the table's figures in the stats tree under Go's names:
        ``<prefix>/num-nodes``, ``num-mounted-servers``, ``num-nodes-per-user/<creator>``
        and ``num-rpcs-per-user/<creator>``.  They are read from the table when asked.
        Returns a function that withdraws them."""
        table = self.table
        stats.new_integer_func(prefix + "/num-nodes", lambda: table.num_nodes)
        stats.new_integer_func(prefix + "/num-mounted-servers",
                               lambda: _count_servers(table.root))
        nodes = stats.new_map(prefix + "/num-nodes-per-user")
        rpcs = stats.new_map(prefix + "/num-rpcs-per-user")

        def refresh():
            # like Go's maps, a creator once seen stays listed (at 0 when nothing is left)
            now = dict.fromkeys(nodes.keys(), 0)
            now.update(table.nodes_per_user)
            nodes.set({k: v for k, v in now.items() if nodes.get(k) != v})
            rpcs.set({k: v for k, v in self.rpcs_per_user.items()
                      if rpcs.get(k) != v})
        stats.add_refresh_hook(refresh)

        def withdraw():
            stats.remove_refresh_hook(refresh)
            try:
                stats.delete(prefix)
            except Exception:
                pass
        return withdraw

    def lookup(self, ctx, suffix):
        return MountContext(self, suffix), security.allow_everyone()


def _count_servers(root):
    """Servers mounted anywhere in the tree (expired ones too until a call drops them,
    as Go counts them)."""
    n, todo = 0, [root]
    while todo:
        node = todo.pop()
        if node.mount is not None:
            n += len(node.mount.servers)
        todo.extend(node.children.values())
    return n
