"""The proxy's statistics server (Go's statslib service over the proxy's counters).

Each counter is an object named by its stat name below the stats server
(``<rid>/requests``, ``<rid>/to/msgs``...): ``Value`` gives its int64 value, ``__Glob`` lists
them, ``WatchGlob`` sends the matching counters every 100 ms, as Go's service does.
"""
from twisted.internet import task

from v23py import vdl, verror
from v23py.naming.glob import Glob
from v23py.v23.services import stats as vstats, watch as vwatch

WATCH_PERIOD = 0.1


class _Stat(vstats.StatsServerMethods):
    def __init__(self, proxy, suffix):
        self.proxy = proxy
        self.suffix = suffix.strip("/")

    def _names(self):
        return sorted(self.proxy.stat_values())

    def GlobChildren__(self, ctx, call, matcher):
        prefix = self.suffix + "/" if self.suffix else ""
        kids = set()
        for n in self._names():
            if n.startswith(prefix):
                kids.add(n[len(prefix):].split("/", 1)[0])
        return sorted(kids)

    def Value(self, ctx, call):
        values = self.proxy.stat_values()
        if self.suffix in values:
            return vdl.value(vdl.Int64Type, values[self.suffix])
        # (as Go's: a name that only groups others does not exist either)
        raise verror.NoExist.new("does not exist: %s" % self.suffix)

    async def WatchGlob(self, ctx, call, req):
        from twisted.internet import reactor
        g = Glob.parse(req.Pattern)
        prefix = self.suffix + "/" if self.suffix else ""
        while not ctx.cancelled():
            for n, v in sorted(self.proxy.stat_values().items()):
                if n.startswith(prefix) and _matches(g, n[len(prefix):].split("/")):
                    call.send(vwatch.Change(Name=n[len(prefix):], State=vwatch.Exists,
                                            Value=vdl.value(vdl.Int64Type, v)))
            await task.deferLater(reactor, WATCH_PERIOD, lambda: None)


def _matches(g, parts):
    elems = g.elems
    if len(parts) < len(elems) or (len(parts) > len(elems) and not g.recursive):
        return False
    return all(e.match(p) for e, p in zip(elems, parts))


class StatsDispatcher:
    """Serves the proxy's counters, with ``authorizer`` (None: the default authorizer)."""

    def __init__(self, proxy, authorizer=None):
        self.proxy = proxy
        self.authorizer = authorizer

    def lookup(self, ctx, suffix):
        return vstats.StatsServer(_Stat(self.proxy, suffix)), self.authorizer
