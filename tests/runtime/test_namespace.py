"""The namespace client over in-memory mount tables (no network)."""
import math

from twisted.internet.defer import Deferred
from twisted.trial import unittest

from v23py import verror
from v23py.mounttable import core as mtl
from v23py.naming import names
from v23py.naming.glob import Glob
from v23py.runtime.namespace import GlobEntry, GlobErrorReply, Namespace, ResolutionDepthExceeded

ME = mtl.Caller(names=("dev.v.io:u:alice",))


class Clock:
    def __init__(self):
        self.now = 5000.0

    def __call__(self):
        return self.now


class FakeTransport:
    """Servers by address: mount tables (MountTable objects) or plain leaves."""

    def __init__(self, clock):
        self.tables = {}
        self.leaves = set()
        self.dead = set()
        self.calls = []

    def table(self, addr, clock):
        self.tables[addr] = mtl.MountTable(clock=clock)
        return self.tables[addr]

    def _target(self, servers, name):
        errors = []
        for server in servers:
            addr, rest = names.split_address_name(server)
            addr = addr.rstrip("#")
            suffix = names.join(rest, name) if rest else name
            if addr in self.dead or (addr not in self.tables and addr not in self.leaves):
                errors.append(addr)
                continue
            return addr, suffix
        raise verror.NoServers.new(f"no usable servers found: {errors}")

    async def call(self, ctx, servers, name, method, args):
        addr, suffix = self._target(servers, name)
        self.calls.append((addr, suffix, method))
        table = self.tables.get(addr)
        if table is None:
            raise verror.UnknownMethod.new(f"method does not exist: {method}")
        if method == "ResolveStep":
            return [table.resolve_step(suffix, ME)]
        if method == "Mount":
            return table.mount(suffix, args[0], args[1], args[2], ME) or []
        if method == "Unmount":
            return table.unmount(suffix, args[0], ME) or []
        if method == "Delete":
            return table.delete(suffix, args[0], ME) or []
        if method == "SetPermissions":
            return table.set_permissions(suffix, args[0], args[1], ME) or []
        if method == "GetPermissions":
            return list(table.get_permissions(suffix, ME))
        raise verror.UnknownMethod.new(method)

    async def glob(self, ctx, servers, name, pattern):
        addr, suffix = self._target(servers, name)
        self.calls.append((addr, suffix, "__Glob"))
        table = self.tables.get(addr)
        if table is None:   # a leaf answers with itself for an empty pattern
            if pattern == "":
                yield mtl.MountEntry("", [], False, True)
                return
            raise verror.VError("v.io/v23/rpc/reserved.GlobNotImplemented", 0, "glob not implemented")
        for r in table.glob(suffix, Glob.parse(pattern), ME):
            yield r


def _d(coro):
    return Deferred.fromCoroutine(coro)


class NamespaceTests(unittest.TestCase):
    def setUp(self):
        self.clock = Clock()
        self.t = FakeTransport(self.clock)
        self.home = self.t.table("home:1", self.clock)
        self.meters = self.t.table("meters:1", self.clock)
        self.utility = self.t.table("utility:1", self.clock)
        self.t.leaves.update(["tv:1", "gas:1", "tv:2"])
        self.ns = Namespace(["/home:1"], self.t, clock=self.clock)
        # the namespace tutorial's layout
        self.home.mount("television", "/tv:1", 7200, 0, ME)
        self.home.mount("meters", "/meters:1", 7200, mtl.MT, ME)
        self.meters.mount("gas", "/gas:1", 7200, 0, ME)
        self.utility.mount("12345", "/meters:1", 7200, mtl.MT, ME)
        self.home.mount("cityUtilities", "/utility:1", 7200, mtl.MT, ME)
        self.meters.mount("x", "/utility:1", 7200, mtl.MT, ME)    # a cycle

    def test_resolve(self):
        async def go():
            self.assertEqual(await self.ns.resolve_names(None, "television"), ["/tv:1"])
            self.assertEqual(await self.ns.resolve_names(None, "meters/gas"), ["/gas:1"])
            self.assertEqual(await self.ns.resolve_names(None, "cityUtilities/12345/gas"), ["/gas:1"])
            long = "meters/x/12345/x/12345/x/12345/x/12345/gas"
            self.assertEqual(await self.ns.resolve_names(None, long), ["/gas:1"])
            self.assertEqual(await self.ns.resolve_names(None, "television/channel/7"),
                             ["/tv:1/channel/7"])
            # a rooted name at a non-mount-table endpoint is not resolved further
            self.assertEqual(await self.ns.resolve_names(None, "/tv:1#/x"), ["/tv:1#/x"])
            # as Go: resolving a mount table's own mount point asks that table for ""
            # and fails; resolve_to_mount_table is the way to reach it
            with self.assertRaises(verror.VError) as cm:
                await self.ns.resolve(None, "meters")
            self.assertEqual(cm.exception.id, mtl.NoSuchName.id)
            self.assertEqual(cm.exception.msg, "name meters doesn't exist")
            with self.assertRaises(verror.VError) as cm:
                await self.ns.resolve(None, "nothing/here")
            self.assertEqual(cm.exception.id, mtl.NoSuchName.id)
        return _d(go())

    def test_resolution_depth_limit(self):
        async def go():
            self.home.mount("loop", "/home:1/loop", 0, mtl.MT, ME)
            with self.assertRaises(verror.VError) as cm:
                await self.ns.resolve(None, "loop/a")
            self.assertEqual(cm.exception.id, ResolutionDepthExceeded.id)
            ns = Namespace(["/home:1"], self.t, clock=self.clock, cache=False, max_resolve_depth=3)
            with self.assertRaises(verror.VError):
                await ns.resolve(None, "meters/x/12345/gas")   # 4 tables
        return _d(go())

    def test_not_a_mount_table(self):
        async def go():
            # mounted as a mount table, but the server is a leaf: resolution stops there
            self.home.mount("fake", "/tv:2", 0, mtl.MT, ME)
            self.assertEqual(await self.ns.resolve_names(None, "fake/a/b"), ["/tv:2/a/b"])
            self.assertTrue(self.ns.cache.is_not_mt("/tv:2"))
        return _d(go())

    def test_cache(self):
        async def go():
            await self.ns.resolve(None, "meters/gas")
            n = len(self.t.calls)
            self.assertEqual(await self.ns.resolve_names(None, "meters/gas"), ["/gas:1"])
            self.assertEqual(len(self.t.calls), n, "a cached resolve makes no calls")
            self.clock.now += 7201
            self.meters.mount("gas", "/gas:1", 7200, 0, ME)
            self.home.mount("meters", "/meters:1", 7200, mtl.MT, ME)
            self.assertEqual(await self.ns.resolve_names(None, "meters/gas"), ["/gas:1"])
            self.assertGreater(len(self.t.calls), n, "expired entries are fetched again")
            self.assertTrue(self.ns.flush_cache_entry("meters/gas"))
        return _d(go())

    def test_resolve_to_mount_table_and_mount(self):
        async def go():
            me = await self.ns.resolve_to_mount_table(None, "meters/gas")
            self.assertEqual(([s.server for s in me.servers], me.name), (["/meters:1"], "gas"))
            me = await self.ns.resolve_to_mount_table(None, "new/name")
            self.assertEqual(([s.server for s in me.servers], me.name), (["/home:1"], "new/name"))
            await self.ns.mount(None, "meters/electric", "/tv:2", 7200)
            self.assertEqual(self.meters.resolve_step("electric", ME).servers[0].server, "/tv:2")
            # mounting again on an existing name through HOME lands in METERS, idempotently
            await self.ns.mount(None, "meters/gas", "/gas:1", 7200)
            self.assertEqual([s.server for s in self.meters.resolve_step("gas", ME).servers], ["/gas:1"])
            await self.ns.unmount(None, "meters/electric", "/tv:2")
            self.assertRaises(verror.VError, self.meters.resolve_step, "electric", ME)
            await self.ns.mount(None, "a/b", "/tv:2", 60, serves_mount_table=False)
            await self.ns.delete(None, "a", delete_subtree=True)
            self.assertRaises(verror.VError, self.home.resolve_step, "a/b", ME)
            await self.ns.set_permissions(None, "meters/gas", {"Admin": {"In": ["dev.v.io:u:alice"]}}, "")
            perms, version = await self.ns.get_permissions(None, "meters/gas")
            self.assertEqual((perms["Admin"].In, version), (["dev.v.io:u:alice"], "1"))
        return _d(go())

    def test_glob(self):
        async def go():
            got = await self.ns.glob(None, "*")
            self.assertTrue(all(isinstance(r, GlobEntry) for r in got))
            # mount tables appear twice, as Go's: once as the mount point (with its
            # servers), once as the root of the mounted table
            self.assertEqual(sorted(r.entry.name for r in got),
                             ["cityUtilities", "cityUtilities", "meters", "meters", "television"])
            tv = [r.entry for r in got if r.entry.name == "television"][0]
            self.assertEqual([s.server for s in tv.servers], ["/tv:1"])
            got = await self.ns.glob(None, "meters/*")
            self.assertEqual(sorted(set(r.entry.name for r in got)), ["meters/gas", "meters/x"])
        return _d(go())

    def test_recursive_glob_with_a_cycle_terminates(self):
        async def go():
            got = await self.ns.glob(None, "...")
            entries = sorted(r.entry.name for r in got if isinstance(r, GlobEntry))
            self.assertIn("", entries)
            self.assertIn("television", entries)
            # each (table, pattern) is globbed once, so METERS' children appear under
            # whichever path reached it first, and the cycle ends
            self.assertTrue({"meters/gas", "cityUtilities/12345/gas"} & set(entries))
            globbed = [c for c in self.t.calls if c[2] == "__Glob"]
            self.assertEqual(len(globbed), len(set(globbed)))
            self.assertLessEqual(len(globbed), 5)   # 3 tables + 2 leaf servers
        return _d(go())

    def test_recursive_glob_depth_bound(self):
        async def go():
            # a chain of 15 distinct tables: c0/next -> c1, c1/next -> c2, ...
            for i in range(15):
                self.t.table(f"c{i}:1", self.clock).mount("next", f"/c{i + 1}:1", 0, mtl.MT, ME)
            self.t.table("c15:1", self.clock)

            async def deepest(depth):
                ns = Namespace(["/c0:1"], self.t, clock=self.clock, max_glob_depth=depth)
                got = [r.entry.name for r in await ns.glob(None, "...") if isinstance(r, GlobEntry)]
                return max(n.count("next") for n in got)
            self.assertEqual(await deepest(10), 10)
            self.assertEqual(await deepest(3), 3)
        return _d(go())

    def test_glob_errors_from_dead_servers(self):
        async def go():
            self.home.mount("dead", "/nowhere:1", 60, mtl.MT, ME)
            got = await self.ns.glob(None, "dead/*")
            self.assertEqual(len(got), 1)
            self.assertIsInstance(got[0], GlobErrorReply)
            self.assertEqual(got[0].name, "dead")
        return _d(go())

    def test_glob_calls_run_at_once(self):
        # Go globs each mount table in its own goroutine: a server that takes its time
        # (here, one that has not answered yet) holds up only the names under it; what
        # it finally fails with is reported, not dropped
        gate = Deferred()
        inner = self.t

        class Slow:
            async def glob(self, ctx, servers, name, pattern):
                if servers[0].startswith("/utility:1") and pattern == "*":
                    await gate
                async for r in inner.glob(ctx, servers, name, pattern):
                    yield r
        ns = Namespace(["/home:1"], Slow(), clock=self.clock)
        got = []

        async def go():
            async for r in ns.glob_iter(None, "*/*"):
                got.append(r)
                if isinstance(r, GlobEntry) and r.entry.name == "meters/gas":
                    gate.errback(verror.Timeout.new("timeout"))
        d = _d(go())
        # everything but cityUtilities' children came while /utility:1 was silent
        self.successResultOf(d)
        names = [r.entry.name if isinstance(r, GlobEntry) else ("error", r.name) for r in got]
        self.assertEqual(names[:2], ["meters/gas", "meters/x"])
        self.assertIn(("error", "television"), names)   # a leaf that cannot glob
        # (the gate failed once meters/gas was out: the rest of meters/'s calls ended
        # around it, each walked as it arrived)
        i = names.index(("error", "cityUtilities"))
        self.assertGreater(i, 0)
        self.assertTrue(verror.Timeout.is_(got[i].error))

    def test_glob_reports_calls_failed_by_an_expired_context(self):
        # a context that is done fails the calls still to make (Timeout); each is
        # reported under its name, as Go's client does, and none is skipped silently
        class Done:
            def cancelled(self):
                return True
        inner = self.t

        class Expiring:
            async def glob(self, ctx, servers, name, pattern):
                if servers[0].startswith("/home:1"):
                    async for r in inner.glob(ctx, servers, name, pattern):
                        yield r
                    return
                raise verror.Timeout.new("timeout")
        ns = Namespace(["/home:1"], Expiring(), clock=self.clock)

        async def go():
            got = await ns.glob(Done(), "*/*")
            errors = sorted(r.name for r in got if isinstance(r, GlobErrorReply))
            self.assertEqual(errors, ["cityUtilities", "meters", "television"])
            self.assertTrue(all(verror.Timeout.is_(r.error) for r in got))
        return _d(go())

    def test_resolve_passes_call_options(self):
        seen = []
        inner = self.t

        class Recording:
            async def call(self, ctx, servers, name, method, args, opts=()):
                seen.append(opts)
                return await inner.call(ctx, servers, name, method, args)
        ns = Namespace(["/home:1"], Recording(), clock=self.clock, cache=False)

        async def go():
            self.assertEqual(await ns.resolve_names(None, "meters/gas", opts=("auth",)), ["/gas:1"])
            self.assertEqual(seen, [("auth",), ("auth",)])
        return _d(go())

    def test_roots_must_be_rooted(self):
        self.assertRaises(verror.VError, Namespace, ["relative"], self.t)
        e, rooted = self.ns.root_entry("/(dev.v.io:r:x)@ns.example.com:8101/a/b")
        self.assertTrue(rooted)
        self.assertEqual((e.name, e.servers[0].server), ("a/b", "/(dev.v.io:r:x)@ns.example.com:8101"))
        self.assertTrue(e.serves_mount_table)
        self.assertLess(e.servers[0].expires, math.inf)
