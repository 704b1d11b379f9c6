"""``__debug``: the objects every server serves for looking inside its process,
with Go's names and interfaces (``x/ref/services/debug/debuglib``):

    __debug/stats/<name>   v.io/v23/services/stats.Stats over v23py.stats
    __debug/logs/<file>    v.io/v23/services/logreader.LogFile over --log_dir
    __debug/pprof          v.io/v23/services/pprof.PProf (Python's profiles)
    __debug/vtrace         v.io/v23/services/vtrace.Store over the process's traces

Their methods carry the ``Debug`` tag.  One authorizer guards them all: the
runtime's permissions (``--v23.permissions.literal`` or the ``runtime`` entry of
``--v23.permissions.file``) when given, else the default authorizer, as Go's
runtime sets up its reserved-name dispatcher.
"""
import os

from v23py import verror

ROOT = "__debug"

__all__ = ["DebugDispatcher", "ROOT"]


class _Children:
    """An object whose only content is a fixed list of children (for Glob)."""

    def __init__(self, *names):
        self._names = names

    def GlobChildren__(self, ctx, call, matcher):
        return [n for n in self._names if matcher.match(n)]


class DebugDispatcher:
    """The reserved-name dispatcher of a server: ``__debug`` and what is below it.

    ``log_dir`` is a callable giving the directory the logs service reads (None:
    no logs); ``store`` the vtrace store, used when a call's context has none."""

    def __init__(self, authorizer=None, log_dir=None, store=None):
        self.authorizer = authorizer
        self.log_dir = log_dir
        self.store = store
        self._root = _Children(ROOT)
        self._top = _Children("logs", "pprof", "stats", "vtrace")
        self._pprof = None
        self._vtrace = None

    def lookup(self, ctx, suffix):
        auth = self.authorizer
        if suffix == "":
            return self._root, auth
        if not suffix.startswith(ROOT):
            return None
        rest = suffix[len(ROOT):]
        if rest and rest[0] != "/":
            return None
        rest = rest.lstrip("/")
        if rest == "":
            return self._top, auth
        kind, _, sub = rest.partition("/")
        if kind == "stats":
            from v23py.services.debug import _stats
            return _stats.StatsServer(sub), auth
        if kind == "logs":
            from v23py.services.debug import _logs
            d = self.log_dir() if self.log_dir is not None else None
            if not d:
                raise verror.NoExist.new("does not exist: this process writes no log files")
            return _logs.LogFileServer(d, sub), auth
        if kind == "pprof":
            if self._pprof is None:
                from v23py.services.debug import _pprof
                self._pprof = _pprof.PProfServer()
            return self._pprof, auth
        if kind == "vtrace":
            if self._vtrace is None:
                from v23py.services.debug import _vtrace
                self._vtrace = _vtrace.VtraceServer(self.store)
            return self._vtrace, auth
        return None


_DEFAULT = None


def default_dispatcher():
    """The debug dispatcher of servers made without one (the default authorizer)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = DebugDispatcher(None, log_dir=default_log_dir)
    return _DEFAULT


def default_log_dir():
    from v23py import vlog
    return vlog.log_dir()


def dispatcher_for_runtime(runtime_permissions=None, store=None):
    """The debug dispatcher a runtime gives its servers (see the module doc)."""
    from v23py.security import access
    auth = None
    perms = runtime_permissions or {}
    if perms:
        lit = perms.get("runtime") if "runtime" in perms else None
        if lit:
            auth = access.permissions_authorizer(access.read_permissions(lit))
    return DebugDispatcher(auth, log_dir=default_log_dir, store=store)


def _exists_dir(d):
    return bool(d) and os.path.isdir(d)
