"""Helpers of the conflict resolution tests (e2e and interop): a resolver whose answers
the Go test program tests/interop/go/sbextra ("merge" mode) gives too, a schema with one
AppResolves rule, and waiting for peers to agree on a row."""
import time

from v23py import syncbase
from v23py.testing.syncbase import sleep


def value_of(v):
    return v.get() if v.state == "Exists" else v.state


class Merger:
    """The resolver of the interop tests (tests/interop/go/sbextra's "merge"): equal
    values keep the newer version, different ones become "merged:<a>+<b>" (sorted), rows
    pulled in by a batch become "resolved:<row>".  Other modes pick one side, except
    that equal values (two resolutions of one conflict meeting) keep the newer version
    there too."""

    def __init__(self, mode="merge"):
        self.mode = mode
        self.seen = []

    def on_conflict(self, ctx, conflict):
        res = syncbase.Resolution()
        rows = []
        for key in sorted(conflict.write_set.by_key):
            row = conflict.write_set.by_key[key]
            rk = syncbase.row_key(key)
            local, remote = row.local_value, row.remote_value
            rows.append((rk, value_of(local), value_of(remote), value_of(row.ancestor_value)))
            exist = local.state == "Exists" and remote.state == "Exists"
            if value_of(local) == value_of(remote) and (exist or self.mode != "merge"):
                out = remote if _ts(remote) > _ts(local) else local
            elif self.mode == "local":
                out = local
            elif self.mode == "remote":
                out = remote
            elif self.mode == "ancestor":
                out = row.ancestor_value
            elif self.mode == "delete":
                out = None
            elif not exist:
                out = syncbase.new_value("resolved:" + rk)
            else:
                a, b = sorted([local.get(), remote.get()])
                out = syncbase.new_value(f"merged:{a}+{b}")
            res.result_set[key] = syncbase.ResolvedRow(key, out)
        self.seen.append((rows, len(conflict.batches)))
        return res


def _ts(v):
    return (v.write_ts.Seconds, v.write_ts.Nanos)


def schema(cx_id, prefix, resolver, version=1):
    return syncbase.Schema(syncbase.SchemaMetadata(version, [
        syncbase.CrRule(cx_id, prefix, syncbase.APP_RESOLVES)]), resolver)


async def converge(ctx, cols, key, timeout=20.0):
    got = None
    for _ in range(int(timeout / 0.05)):
        got = []
        for c in cols:
            try:
                got.append(await c.get(ctx, key))
            except Exception:
                got.append(None)
        if all(g == got[0] for g in got):
            return got[0]
        await sleep(0.05)
    raise AssertionError(f"{key} did not converge: {got}")


async def settle(ctx, cols, key, resolvers, quiet=2.0, timeout=30.0):
    """``converge``, then wait until no app has been asked anything for ``quiet``
    seconds: when both sides resolved one conflict, their two resolutions meet as a
    second conflict after the values already agree; a write made before that is
    resolved meets it too."""
    end = time.monotonic() + timeout
    value = await converge(ctx, cols, key)
    asked, since = sum(len(r.seen) for r in resolvers), time.monotonic()
    while time.monotonic() - since < quiet:
        if time.monotonic() > end:
            raise AssertionError(f"{key}: the apps kept being asked")
        await sleep(0.05)
        n = sum(len(r.seen) for r in resolvers)
        if n != asked:
            asked, since = n, time.monotonic()
            value = await converge(ctx, cols, key)
    return value
