"""The namespace client's Glob, without I/O: which mount tables to ask, with which
pattern, and what the answers mean.

:class:`GlobWalk` is a state machine.  Each of its methods returns a list of *steps*
in order:

- :class:`GlobCall` -- "call ``__Glob(pattern)`` on these servers (pre-resolved, name
  relative to them)".  The driver starts the call, hands its stream's items
  (GlobReply-like values) to :meth:`GlobWalk.received` as they arrive, and its end to
  :meth:`GlobWalk.replied` (the call succeeded; any items not yet handed over may
  come with it) or :meth:`GlobWalk.failed` (the VError it failed with).  As Go's
  client does, what a server streamed before its call failed counts: those items
  go to ``received`` first;
- :class:`GlobEntry` / :class:`GlobErrorReply` -- a result, in discovery order.

Calls are independent of each other: a driver may run them all at once and report
their outcomes in any order (the runtime does, as Go's client runs each mount
table's Glob in its own goroutine, so one slow or dead server does not hold up the
others), or one at a time.  The walk is over when :attr:`GlobWalk.done`.

The runtime's namespace client (v23py.runtime.namespace) drives it over v23py.rpc, and
``namespace glob``'s runtime-free path (v23py.cmd._fastglob) over a blocking socket,
so both follow exactly one set of rules:

    Pattern elements are matched mount table by mount table; recursion through
    mount tables stops at depth 10, and a (server, pattern) pair is visited at
    most once, so cycles terminate.  A call that fails because the server is not
    a mount table is skipped; any other failure (an unreachable server, a
    timeout, a cancelled context) is reported as an error reply named after the
    entry being globbed.
"""
import math
import time

from v23py import verror
from v23py.naming import names as _names
from v23py.naming.endpoint import parse_endpoint
from v23py.naming.glob import Glob
from v23py.naming.mount import MountEntry, MountedServer, NoMountTable

__all__ = ["GlobCall", "GlobEntry", "GlobErrorReply", "GlobWalk", "NoServers",
           "root_entry", "from_wire_entry", "deadline_to_abs", "not_a_mount_table",
           "MAX_RECURSIVE_GLOB_DEPTH"]

MAX_RECURSIVE_GLOB_DEPTH = 10

NoServers = verror.ErrorId("errNoServers", verror.NoRetry, "no servers found to resolve query")

_NOT_MT_IDS = frozenset([verror.BadArg.id, verror.NoExist.id, verror.UnknownMethod.id,
                         verror.UnknownSuffix.id, NoServers.id, verror.BadProtocol.id,
                         "v.io/x/ref/runtime/internal/naming/namespace.errNoServers"])


def not_a_mount_table(err):
    """Errors that mean "that server is not a mount table"."""
    return isinstance(err, verror.VError) and err.id in _NOT_MT_IDS


class GlobEntry:
    """A name Glob found (its MountEntry, the name relative to the glob's root)."""
    __slots__ = ("entry",)

    def __init__(self, entry):
        self.entry = entry

    def __eq__(self, other):
        return type(other) is GlobEntry and other.entry == self.entry

    def __repr__(self):
        return f"GlobEntry(entry={self.entry!r})"


class GlobErrorReply:
    """An error Glob met under ``name``."""
    __slots__ = ("name", "error")

    def __init__(self, name, error):
        self.name = name
        self.error = error

    def __eq__(self, other):
        return type(other) is GlobErrorReply and (other.name, other.error) == \
            (self.name, self.error)

    def __repr__(self):
        return f"GlobErrorReply(name={self.name!r}, error={self.error!r})"


class GlobCall:
    """Call ``__Glob(pattern)`` on ``servers`` (tried in order) with ``name`` as suffix."""
    __slots__ = ("servers", "name", "pattern", "_task")

    def __init__(self, servers, name, pattern):
        self.servers = servers
        self.name = name
        self.pattern = pattern
        self._task = None     # the walk's own: (entry, depth, pattern left)

    def __repr__(self):
        return f"GlobCall({self.servers!r}, {self.name!r}, {self.pattern!r})"


def root_entry(roots, name, clock=time.time):
    """(MountEntry to start resolving or globbing name from, whether name was rooted).
    ``name`` is clean and has no blessing pattern (``__(...)``) left in it: the
    namespace client (v23py.runtime.namespace) splits that off first."""
    far = clock() + 3600.0
    address, suffix = _names.split_address_name(name)
    if not address:
        return MountEntry(name, [MountedServer(r, far) for r in roots], True), False
    mt = True
    try:
        mt = parse_endpoint(address).serves_mount_table
    except verror.VError:
        pass
    return MountEntry(suffix, [MountedServer(_names.join_address_name(address, ""), far)], mt), True


def deadline_to_abs(deadline, now):
    """Absolute expiry from a wire time.WireDeadline (FromNow 0 = none)."""
    if deadline is None:
        return math.inf
    d = getattr(deadline, "FromNow", deadline)
    secs = getattr(d, "Seconds", 0) + getattr(d, "Nanos", 0) / 1e9
    if secs == 0:
        return math.inf
    return now + secs


def from_wire_entry(wire, now):
    """A MountEntry from a wire naming.MountEntry (server deadlines made absolute)."""
    if isinstance(wire, MountEntry):
        return wire
    servers = []
    for s in wire.Servers or ():
        servers.append(MountedServer(s.Server, deadline_to_abs(s.Deadline, now)))
    return MountEntry(wire.Name, servers, bool(wire.ServesMountTable), bool(wire.IsLeaf))


def _depth(name):
    name = _names.clean(name).strip("/")
    return name.count("/") + 1 if name else 0


def _glob_reply(r, clock):
    """("entry", MountEntry) or ("error", (name, VError)) from a reply."""
    if isinstance(r, GlobEntry):
        return "entry", r.entry
    if isinstance(r, GlobErrorReply):
        return "error", (r.name, r.error)
    if isinstance(r, MountEntry):
        return "entry", r
    name = getattr(r, "name", None)
    value = getattr(r, "value", None)
    if name == "Error" or (name is None and hasattr(value, "Error")):
        err = value.Error if isinstance(value.Error, verror.VError) else \
            verror.Unknown.new(str(value.Error))
        return "error", (value.Name, err)
    return "entry", from_wire_entry(value, clock())


class GlobWalk:
    """The Glob of ``start.name`` (a pattern) from ``start``'s servers (see the
    module's doc); ``(start, rooted)`` is :func:`root_entry`'s answer.  Raises
    NoMountTable when there is no server to start from."""

    def __init__(self, start, rooted, clock=time.time, max_depth=MAX_RECURSIVE_GLOB_DEPTH):
        if not start.servers:
            raise NoMountTable.new("no mounttable")
        self._pattern = Glob.parse(start.name)
        self._prefix = start.servers[0].server if rooted else ""
        self._root = MountEntry("", list(start.servers), start.serves_mount_table,
                                start.is_leaf)
        self._clock = clock
        self._max_depth = max_depth
        self._visited = set()
        self.pending = 0          # calls started and not yet answered

    @property
    def done(self):
        """No call is outstanding: every step has been returned."""
        return self.pending == 0

    def begin(self):
        """The first steps."""
        return self._visit(self._root, 0, [])

    def replied(self, call, replies=()):
        """The steps that follow the end of ``call`` (it succeeded), the last of its
        stream's items ``replies``."""
        self.pending -= 1
        return self.received(call, replies)

    def received(self, call, replies):
        """The steps that follow items ``replies`` of ``call``'s stream; the call goes
        on (its end comes to :meth:`replied` or :meth:`failed`)."""
        steps = []
        me, depth, suffix = call._task
        for r in replies:
            # past the last pattern element, only so many tables deep
            if len(suffix) == 0 and depth + 1 > self._max_depth:
                continue
            kind, value = _glob_reply(r, self._clock)
            if kind == "error":
                # as Go: a server's error names are relative to that server
                steps.append(GlobErrorReply(_names.join(self._prefix, value[0]), value[1]))
                continue
            self._visit(MountEntry(_names.join(me.name, value.name), value.servers,
                                   value.serves_mount_table, value.is_leaf), depth + 1, steps)
        return steps

    def failed(self, call, error):
        """The steps that follow ``call`` failing with ``error`` (a VError), after the
        items it streamed before (given to :meth:`received`)."""
        self.pending -= 1
        if not_a_mount_table(error):
            return []
        me = call._task[0]
        return [GlobErrorReply(_names.join(self._prefix, me.name), error)]

    def _visit(self, me, depth, steps):
        # me: an entry named relative to the glob's root, ``depth`` tables down
        suffix = self._pattern
        for _ in range(_depth(me.name)):
            suffix = suffix.tail()
        if len(suffix) == 0 and depth != 0:
            steps.append(GlobEntry(MountEntry(_names.join(self._prefix, me.name), me.servers,
                                              me.serves_mount_table, me.is_leaf)))
        if suffix.empty() and not me.serves_mount_table:
            return steps
        if suffix.restricted and len(suffix) == 0 and not me.serves_mount_table:
            return steps
        if not me.servers:
            return steps
        pstr = str(suffix)
        seen = False
        for s in me.servers:   # each (server, pattern) is globbed once: cycles end
            key = _names.join_address_name(s.server, "") + "!" + pstr
            if key in self._visited:
                seen = True
            self._visited.add(key)
        if seen:
            return steps
        call = GlobCall([s.server for s in me.servers], "", pstr)
        call._task = (me, depth, suffix)
        self.pending += 1
        steps.append(call)
        return steps
