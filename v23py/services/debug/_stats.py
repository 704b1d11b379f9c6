"""``__debug/stats``: Go's Stats service over the v23py.stats tree."""
from v23py import stats as libstats
from v23py import verror
from v23py.v23.services import stats as _svc
from v23py.v23.services import watch as _watch

from ._util import sleep

# Go's statslib sends a round of changes every 10 s.
WATCH_PERIOD = 10.0


class _Stats(_svc.StatsServerMethods):
    def __init__(self, suffix):
        self.suffix = suffix

    def Value(self, ctx, call):
        try:
            return libstats.value(self.suffix)
        except verror.VError as e:
            if e.id == verror.NoExist.id:
                raise verror.NoExist.new(f"does not exist: {self.suffix}")
            raise

    async def WatchGlob(self, ctx, call, req):
        since = 0.0
        while True:
            now = libstats.clock()
            try:
                found = libstats.glob(self.suffix, req.Pattern, since, True)
            except verror.VError as e:
                if e.id == verror.NoExist.id:
                    raise verror.NoExist.new(f"does not exist: {self.suffix}")
                raise verror.Unknown.new(f"operation failed for {self.suffix}")
            since = now
            changes = [_watch.Change(Name=k, State=_watch.Exists, Value=v, ResumeMarker=b"",
                                     Continued=False) for k, v in found]
            if changes:
                await call.send_many(changes)
            if await sleep(ctx, WATCH_PERIOD):
                return

    def Glob__(self, ctx, call, g):
        from v23py.rpc.wire import glob_entry as _entry
        try:
            found = libstats.glob(self.suffix, str(g), 0.0, False)
        except verror.VError:
            return []   # Go logs the failure and ends the glob without entries
        return [_entry(k) for k, _ in found]


def StatsServer(suffix):
    return _svc.StatsServer(_Stats(suffix))
