"""``__debug/vtrace``: Go's vtrace Store service over the process's traces."""
from v23py import verror
from v23py import vtrace
from v23py.v23.services import vtrace as _svc


class _Store(_svc.StoreServerMethods):
    def __init__(self, store):
        self.store = store

    def _get(self, ctx):
        st = vtrace.get_store(ctx) or self.store
        if st is None:
            raise verror.NoExist.new("no vtrace store")
        return st

    def Trace(self, ctx, call, id):
        st = self._get(ctx)
        if not st.has(id):
            raise verror.NoExist.new(f"no trace with id {bytes(id).hex()}")
        return st.trace_record(id)

    async def AllTraces(self, ctx, call):
        recs = self._get(ctx).trace_records()
        if recs:
            await call.send_many(recs)


def VtraceServer(store):
    return _svc.StoreServer(_Store(store))
