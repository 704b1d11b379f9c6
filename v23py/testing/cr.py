"""Helpers of the conflict resolution tests (e2e and interop): a resolver whose answers
the Go test program tests/interop/go/sbextra ("merge" mode) gives too, a schema with one
AppResolves rule, and waiting for peers to agree on a row."""
from v23py import syncbase
from v23py.testing.syncbase import sleep


def value_of(v):
    return v.get() if v.State == "Exists" else v.State


class Merger:
    """The resolver of the interop tests (tests/interop/go/sbextra's "merge"): equal
    values keep the newer version, different ones become "merged:<a>+<b>" (sorted), rows
    pulled in by a batch become "resolved:<row>"; other modes pick one side."""

    def __init__(self, mode="merge"):
        self.mode = mode
        self.seen = []

    def on_conflict(self, ctx, conflict):
        res = syncbase.Resolution()
        rows = []
        for key in sorted(conflict.WriteSet.ByKey):
            row = conflict.WriteSet.ByKey[key]
            rk = syncbase.row_key(key)
            rows.append((rk, value_of(row.LocalValue), value_of(row.RemoteValue),
                         value_of(row.AncestorValue)))
            if self.mode == "local":
                out = row.LocalValue
            elif self.mode == "remote":
                out = row.RemoteValue
            elif self.mode == "ancestor":
                out = row.AncestorValue
            elif self.mode == "delete":
                out = None
            elif row.LocalValue.State != "Exists" or row.RemoteValue.State != "Exists":
                out = syncbase.NewValue("resolved:" + rk)
            elif row.LocalValue.get() == row.RemoteValue.get():
                newer = (row.RemoteValue.WriteTs.Seconds, row.RemoteValue.WriteTs.Nanos) > \
                    (row.LocalValue.WriteTs.Seconds, row.LocalValue.WriteTs.Nanos)
                out = row.RemoteValue if newer else row.LocalValue
            else:
                a, b = sorted([row.LocalValue.get(), row.RemoteValue.get()])
                out = syncbase.NewValue(f"merged:{a}+{b}")
            res.ResultSet[key] = syncbase.ResolvedRow(key, out)
        self.seen.append((rows, len(conflict.Batches)))
        return res


def schema(cx_id, prefix, resolver, version=1):
    return syncbase.Schema(syncbase.SchemaMetadata(version, [
        syncbase.CrRule(cx_id, prefix, syncbase.APP_RESOLVES)]), resolver)


async def converge(ctx, cols, key, timeout=20.0):
    got = None
    for _ in range(int(timeout / 0.05)):
        got = []
        for c in cols:
            try:
                got.append(await c.Get(ctx, key))
            except Exception:
                got.append(None)
        if all(g == got[0] for g in got):
            return got[0]
        await sleep(0.05)
    raise AssertionError(f"{key} did not converge: {got}")
