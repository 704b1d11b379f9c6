"""The namespace client: resolve names through mount tables, mount and unmount
servers, glob, delete, and get/set permissions -- Go v0.2.0's namespace
semantics (x/ref/runtime/internal/naming/namespace).

The logic is independent of the RPC machinery: it talks to mount tables
through a *transport* with two coroutines,

    await transport.call(ctx, servers, name, method, args) -> [results]
    async for r in transport.glob(ctx, servers, name, pattern)  -> GlobReply-like

where ``servers`` are rooted server names tried in order and ``name`` is the
name relative to them (a "pre-resolved" call); ``glob`` yields the stream's items as
they arrive and raises the call's VError after the items streamed before it (they
count, as in Go's client). ``RpcTransport`` implements it
over v23py.rpc; tests use in-memory tables.

Resolution
    A relative name starts at the namespace roots (which serve mount tables);
    a rooted name at its own server (a mount table if its endpoint says "m").
    While the current entry is a mount table, ask it for ``ResolveStep`` on the
    remaining name; stop when the answer is not a mount table, or when the
    server says it is not one (BadArg, NoExist, UnknownMethod, UnknownSuffix,
    BadProtocol, no servers). At most 32 steps.
Caching
    ResolveStep answers are cached by name prefix until a server's deadline
    passes; servers that said "not a mount table" are remembered for a minute
    (unless their names are full endpoints). Lookups rotate the servers of a
    cached entry. ``V23_DISABLE_NS_CACHE`` (any value) or ``cache=False``
    disables it.
Glob
    Pattern elements are matched mount table by mount table; recursion through
    mount tables stops at depth 10, and a (server, pattern) pair is visited at
    most once, so cycles terminate.  The walk itself is sans-IO
    (v23py.naming.globwalk), shared with ``namespace glob``'s runtime-free path.
"""

import math
import os
import random
import time

from twisted.internet import defer
from twisted.python import failure

from v23py import verror
from v23py.deferred import adopt
from v23py.v23.services import mounttable as mtwire

from v23py.naming import names as _names
from v23py.naming.mount import (
    LEAF, MT, REPLACE, MountEntry, MountedServer, NoMountTable, NoSuchName, NoSuchNameRoot,
    ResolutionDepthExceeded,
)
from v23py.naming.globwalk import (  # noqa: F401 (their historical home)
    MAX_RECURSIVE_GLOB_DEPTH, GlobCall, GlobEntry, GlobErrorReply, NoServers, _depth,
    deadline_to_abs as _deadline_to_abs, from_wire_entry, GlobWalk, not_a_mount_table,
    root_entry,
)
from v23py.naming import globwalk as _globwalk

__all__ = ["Namespace", "RpcTransport", "GlobEntry", "GlobErrorReply", "NoServers",
           "MAX_RESOLVE_DEPTH", "MAX_RECURSIVE_GLOB_DEPTH", "DEFAULT_NAMESPACE_ROOT"]

MAX_RESOLVE_DEPTH = 32
CALL_TIMEOUT = 30.0
MAX_CACHE_ENTRIES = 4000
CACHE_HYSTERESIS = (3 * MAX_CACHE_ENTRIES) // 4
NOT_MT_SECONDS = 60.0
DEFAULT_NAMESPACE_ROOT = "/(dev.v.io:r:vprod:service:mounttabled)@ns.dev.v.io:8101"


def _bare(error_id):
    return error_id.rsplit(".", 1)[-1] if "/" in error_id else error_id


def is_error(err, error_id):
    """err has error_id's id, with or without a Go package prefix."""
    return isinstance(err, verror.VError) and _bare(err.id) == _bare(error_id.id)


def _entry_names(e):
    return [_names.join_address_name(s.server, e.name) for s in e.servers]


class _Cache:
    """Resolution cache keyed by name prefix (Go's ttlCache)."""

    def __init__(self, clock):
        self.clock = clock
        self.entries = {}       # prefix -> (servers [MountedServer], serves_mt)
        self.not_mt = {}        # server -> expiry

    def remember(self, prefix, entry):
        prefix = _names.trim_suffix(_names.clean(prefix), _names.clean(entry.name))
        if len(self.entries) >= MAX_CACHE_ENTRIES and prefix not in self.entries:
            self._clean()
        self.entries[prefix] = (list(entry.servers), entry.serves_mount_table)

    def _clean(self):
        now = self.clock()
        for k, (servers, _) in list(self.entries.items()):
            if len(self.entries) < CACHE_HYSTERESIS:
                return
            if any(s.expires < now for s in servers):
                del self.entries[k]
        while len(self.entries) >= CACHE_HYSTERESIS:
            del self.entries[random.choice(list(self.entries))]

    def forget(self, names):
        prefixes = [_names.clean(n) for n in names]
        for key in list(self.entries):
            if any(key.startswith(p) for p in prefixes):
                del self.entries[key]

    def lookup(self, name):
        """The cached MountEntry for name (its Name = the unresolved rest), or None."""
        name = _names.clean(name)
        prefix, suffix = name, ""
        now = self.clock()
        while prefix:
            hit = self.entries.get(prefix)
            if hit is not None:
                servers, mt = hit
                if any(s.expires < now for s in servers):
                    return None
                if len(servers) > 1:   # rotate, so the next caller starts elsewhere
                    self.entries[prefix] = (servers[1:] + servers[:1], mt)
                return MountEntry(suffix, list(servers), mt)
            i = prefix.rfind("/")
            if i <= 0:
                break
            suffix = _names.join(prefix[i + 1:], suffix)
            prefix = prefix[:i]
        return None

    def set_not_mt(self, server):
        if "@@" not in server:
            self.not_mt[server] = self.clock() + NOT_MT_SECONDS

    def is_not_mt(self, server):
        if "@@" in server:
            return False
        exp = self.not_mt.get(server)
        if exp is None:
            return False
        if not self.clock() > exp:
            return True
        del self.not_mt[server]
        return False


class _NoCache(_Cache):
    def remember(self, prefix, entry):
        pass

    def lookup(self, name):
        return None

    def set_not_mt(self, server):
        pass


class Namespace:
    """A namespace client bound to a list of roots and a transport."""

    def __init__(self, roots, transport, clock=time.time, cache=None,
                 max_resolve_depth=MAX_RESOLVE_DEPTH, max_glob_depth=MAX_RECURSIVE_GLOB_DEPTH):
        self.set_roots(roots)
        self.transport = transport
        self.clock = clock
        if cache is None:
            cache = not os.environ.get("V23_DISABLE_NS_CACHE")
        self.cache = _Cache(clock) if cache else _NoCache(clock)
        self.max_resolve_depth = max_resolve_depth
        self.max_glob_depth = max_glob_depth

    # -- roots -----------------------------------------------------------

    def set_roots(self, roots):
        roots = list(roots)
        for r in roots:
            if not _names.split_address_name(r)[0]:
                raise verror.BadArg.new("at least one root is not a rooted name: " + ", ".join(roots))
        self.roots = roots

    def root_entry(self, name):
        """(MountEntry to start from, whether the name was rooted)."""
        from v23py.security import split_pattern_name
        _, name = split_pattern_name(_names.clean(name))
        return root_entry(self.roots, name, self.clock)

    # -- resolution ------------------------------------------------------

    async def _call(self, ctx, servers, name, method, args, opts=()):
        if opts:
            return await self.transport.call(ctx, servers, name, method, args, opts=tuple(opts))
        return await self.transport.call(ctx, servers, name, method, args)

    async def _resolve_against_mt(self, ctx, e, opts=()):
        usable = []
        for s in e.servers:
            if self.cache.is_not_mt(s.server):
                continue
            usable.append(s)
            hit = self.cache.lookup(_names.join_address_name(s.server, e.name))
            if hit is not None:
                return hit
        if not usable:
            raise NoServers.new("no servers found to resolve query")
        e = MountEntry(e.name, usable, e.serves_mount_table, e.is_leaf)
        try:
            (wire,) = await self._call(ctx, [s.server for s in e.servers], e.name,
                                       "ResolveStep", [], opts)
        except verror.VError as err:
            if not_a_mount_table(err) and not e.name.startswith("__"):
                for s in e.servers:
                    self.cache.set_not_mt(s.server)
            raise
        entry = self._from_wire_entry(wire)
        for s in e.servers:
            self.cache.remember(_names.join_address_name(s.server, e.name), entry)
        return entry

    def _from_wire_entry(self, wire):
        return from_wire_entry(wire, self.clock())

    async def resolve(self, ctx, name, opts=()):
        """The MountEntry for name: its servers and the name relative to them.
        ``opts`` are extra call options for the ResolveStep calls (e.g. a
        ServerAuthorizer for the mount tables met on the way)."""
        e, _ = self.root_entry(name)
        if not e.servers:
            raise NoSuchName.new(f"name {name} doesn't exist", name)
        for _ in range(self.max_resolve_depth):
            if not e.serves_mount_table:
                return e
            cur = e
            try:
                e = await self._resolve_against_mt(ctx, cur, opts)
            except verror.VError as err:
                if not_a_mount_table(err):
                    return cur
                if is_error(err, NoSuchNameRoot):
                    raise NoSuchName.new(f"name {name} doesn't exist", name) from None
                raise
        raise ResolutionDepthExceeded.new("resolution depth exceeded")

    async def resolve_names(self, ctx, name, opts=()):
        """resolve(), as the rooted names a client would call."""
        return _entry_names(await self.resolve(ctx, name, opts))

    async def resolve_to_mount_table(self, ctx, name, opts=()):
        """The entry of the mount table that holds name (its Name is the name there)."""
        e, _ = self.root_entry(name)
        if not e.servers:
            raise NoMountTable.new("no mounttable")
        last = e
        for _ in range(self.max_resolve_depth):
            cur = e
            if not e.serves_mount_table or not e.name:
                return last
            try:
                e = await self._resolve_against_mt(ctx, e, opts)
            except verror.VError as err:
                if is_error(err, NoSuchNameRoot):
                    return last
                if is_error(err, NoSuchName):
                    return cur
                if not_a_mount_table(err):
                    return last
                raise
            last = cur
        raise ResolutionDepthExceeded.new("resolution depth exceeded")

    def flush_cache_entry(self, name):
        flushed = False
        for n in self._root_names(name):
            hit = self.cache.lookup(n)
            if hit is not None:
                self.cache.forget([_names.trim_suffix(n, hit.name)])
                flushed = True
        return flushed

    def _root_names(self, name):
        name = _names.clean(name)
        if not _names.split_address_name(name)[0]:
            return [_names.join(r, name) for r in self.roots]
        return [name]

    def _forget(self, me):
        self.cache.forget(_entry_names(me))

    # -- mount table operations -----------------------------------------

    async def mount(self, ctx, name, server, ttl_seconds, replace=False, serves_mount_table=False,
                    is_leaf=False):
        flags = (REPLACE if replace else 0) | (MT if serves_mount_table else 0) | \
            (LEAF if is_leaf else 0)
        me = await self.resolve_to_mount_table(ctx, name)
        self._forget(me)
        err = None
        for s in me.servers:   # every replica of the table; the last answer decides
            try:
                await self.transport.call(ctx, [s.server], me.name, "Mount",
                                          [server, int(ttl_seconds), flags])
                err = None
            except verror.VError as e:
                err = e
        if err is not None:
            raise err

    async def unmount(self, ctx, name, server):
        me = await self.resolve_to_mount_table(ctx, name)
        try:
            await self.transport.call(ctx, [s.server for s in me.servers], me.name, "Unmount",
                                      [server])
        finally:
            self._forget(me)

    async def delete(self, ctx, name, delete_subtree=False):
        me = await self.resolve_to_mount_table(ctx, name)
        try:
            await self.transport.call(ctx, [s.server for s in me.servers], me.name, "Delete",
                                      [bool(delete_subtree)])
        finally:
            self._forget(me)

    async def set_permissions(self, ctx, name, perms, version):
        me = await self.resolve_to_mount_table(ctx, name)
        try:
            await self.transport.call(ctx, [s.server for s in me.servers], me.name,
                                      "SetPermissions", [perms, version])
        finally:
            self._forget(me)

    async def get_permissions(self, ctx, name):
        """(perms, version)."""
        me = await self.resolve_to_mount_table(ctx, name)
        try:
            perms, version = await self.transport.call(
                ctx, [s.server for s in me.servers], me.name, "GetPermissions", [])
        finally:
            self._forget(me)
        return perms, version

    # -- glob ------------------------------------------------------------

    async def glob(self, ctx, pattern):
        """All replies (GlobEntry / GlobErrorReply) for pattern, in discovery order."""
        out = []
        async for r in self.glob_iter(ctx, pattern):
            out.append(r)
        return out

    async def glob_iter(self, ctx, pattern):
        """The replies (GlobEntry / GlobErrorReply) for pattern as they are found: the
        sans-IO walk of v23py.naming.globwalk, its __Glob calls made by the transport
        all at once (as Go's client does: a dead or slow server holds up only the
        names under it).  Each call's items are walked as they arrive; a call that
        fails keeps what it streamed before its error, as in Go's client.  A cancelled
        or expired context fails the calls still to come, and each failure is reported
        (Canceled / Timeout), never dropped."""
        e, rooted = self.root_entry(pattern)
        walk = GlobWalk(e, rooted, self.clock, self.max_glob_depth)
        outcomes = defer.DeferredQueue()
        transport = self.transport

        async def run(call):
            async for item in transport.glob(ctx, call.servers, call.name, call.pattern):
                outcomes.put((call, True, item))

        def start(call):
            d = defer.ensureDeferred(run(call))
            d.addBoth(lambda r: outcomes.put((call, False, r)))

        steps = walk.begin()
        while True:
            for step in steps:      # the calls first: none waits for our consumer
                if isinstance(step, GlobCall):
                    start(step)
            for step in steps:
                if not isinstance(step, GlobCall):
                    yield step
            if walk.done:
                return
            call, item, r = await adopt(outcomes.get())
            if item:
                steps = walk.received(call, (r,))
            elif not isinstance(r, failure.Failure):
                steps = walk.replied(call)
            elif isinstance(r.value, verror.VError):
                steps = walk.failed(call, r.value)
            else:
                r.raiseException()


def _glob_reply(r, ns):
    """("entry", MountEntry) or ("error", (name, VError)) from a reply."""
    return _globwalk._glob_reply(r, ns.clock)


def deadline_to_wire_seconds(expires, now):
    """(Seconds, Nanos) from now until expires; (0, 0) for no deadline, never 0 otherwise."""
    if expires == math.inf:
        return 0, 0
    delta = expires - now
    secs = math.floor(delta)
    nanos = int(round((delta - secs) * 1e9))
    if nanos >= 1_000_000_000:
        secs, nanos = secs + 1, nanos - 1_000_000_000
    if secs < 0 and nanos > 0:   # Go's Duration keeps Seconds and Nanos with the same sign
        secs, nanos = secs + 1, nanos - 1_000_000_000
    if secs == 0 and nanos == 0:
        nanos = 1
    return int(secs), nanos


class RpcTransport:
    """The namespace transport over v23py.rpc (pre-resolved calls)."""

    def __init__(self, client, call_opts=()):
        self.client = client
        self.call_opts = tuple(call_opts)

    @staticmethod
    def _types(method):
        """(in types, out types) of a MountTable method, from the generated interface."""
        m = mtwire.MountTableClientStub._vdl_methods[method]
        return m.in_types, m.out_types

    def _ctx(self, ctx):
        """(ctx with the default call timeout if it had no deadline, cancel function)."""
        try:
            if ctx.deadline() is None:
                return ctx.with_timeout(CALL_TIMEOUT)
        except AttributeError:
            pass
        return ctx, lambda: None

    async def call(self, ctx, servers, name, method, args, opts=()):
        from v23py.rpc import options as rpcopts
        in_types, out_types = self._types(method)
        if method == "SetPermissions":
            args = [_perms_value(args[0]), args[1]]
        opts = (rpcopts.Preresolved(servers, name),) + tuple(opts) + self.call_opts
        cctx, cancel = self._ctx(ctx)
        try:
            return await self.client.call(cctx, name, method, list(args), in_types,
                                          out_types, opts=opts)
        finally:
            cancel()   # release the timeout timer

    async def glob(self, ctx, servers, name, pattern):
        from v23py import vdl
        from v23py.rpc import wire
        from v23py.rpc import options as rpcopts
        from v23py.rpc.model import ArgDesc, MethodDesc
        desc = MethodDesc("__Glob", "", (ArgDesc("pattern", vdl.StringType),), (),
                          None, wire.GlobReplyType)
        opts = (rpcopts.Preresolved(servers, name),) + self.call_opts
        cctx, cancel = self._ctx(ctx)
        try:
            call = await self.client.start_call(cctx, name, "__Glob", [pattern],
                                                [vdl.StringType], [], desc=desc, opts=opts)
            try:
                async for r in call:
                    yield r
            except verror.VError:
                # the items before it are out already; the call's own error is the
                # one that counts (as Go's Recv's), finish only releases the call
                try:
                    await call.finish()
                except verror.VError:
                    pass
                raise
            await call.finish()
        finally:
            cancel()   # release the timeout timer


def _perms_value(perms):
    """A VDL access.Permissions value from a dict / JSON-shaped mapping (None: empty)."""
    from v23py.security import access
    return access.Permissions() if perms is None else access.as_permissions(perms)
