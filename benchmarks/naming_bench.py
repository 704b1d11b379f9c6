"""Naming benchmarks: mount table core, cached/uncached Resolve, Glob, and the
cost of refreshing 1,000 mounts -- in memory and over real RPC to our
mounttabled daemons on loopback.

    python benchmarks/naming_bench.py [--quick]

Targets (issue 8): a cached Resolve < 50 us, one uncached level < 1 ms.
"""
import asyncio
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from v23py.mounttable import core as mtl  # noqa: E402
from v23py.naming.glob import Glob  # noqa: E402
from v23py.runtime.namespace import Namespace  # noqa: E402

ME = mtl.Caller(names=("bench",))


def per_op(fn, n):
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n * 1e6


class MemTransport:
    def __init__(self, tables):
        self.tables = tables

    async def call(self, ctx, servers, name, method, args):
        from v23py.naming import names
        addr, rest = names.split_address_name(servers[0])
        t = self.tables[addr]
        assert method == "ResolveStep"
        return [t.resolve_step(names.join(rest, name) if rest else name, ME)]

    async def glob(self, ctx, servers, name, pattern):
        from v23py.naming import names
        addr, rest = names.split_address_name(servers[0])
        return self.tables[addr].glob(names.join(rest, name) if rest else name,
                                      Glob.parse(pattern), ME)


def run_coro(coro):
    return asyncio.new_event_loop().run_until_complete(coro)


def bench_memory(n):
    print("== in memory (no RPC)")
    t1, t2, t3 = mtl.MountTable(), mtl.MountTable(), mtl.MountTable()
    t1.mount("a", "/t2:1", 0, mtl.MT, ME)
    t2.mount("b", "/t3:1", 0, mtl.MT, ME)
    for i in range(1000):
        t3.mount(f"s{i}", f"/127.0.0.1:{10000 + i}", 0, 0, ME)
    print(f"MountTable.resolve_step (1 level)       {per_op(lambda: t3.resolve_step('s500', ME), n):8.2f} us")
    g = Glob.parse("*")
    print(f"MountTable.glob '*' over 1000 entries   {per_op(lambda: t3.glob('', g, ME), 20):8.0f} us")
    ns = Namespace(["/t1:1"], MemTransport({"t1:1": t1, "t2:1": t2, "t3:1": t3}))
    run_coro(ns.resolve(None, "a/b/s1"))

    async def many():
        t0 = time.perf_counter()
        for _ in range(n):
            await ns.resolve(None, "a/b/s1")
        return (time.perf_counter() - t0) / n * 1e6
    print(f"Namespace.resolve, cached, 3 levels     {run_coro(many()):8.2f} us   (target < 50 us)")
    nc = Namespace(["/t1:1"], MemTransport({"t1:1": t1, "t2:1": t2, "t3:1": t3}), cache=False)

    async def uncached():
        t0 = time.perf_counter()
        for _ in range(n // 10):
            await nc.resolve(None, "a/b/s1")
        return (time.perf_counter() - t0) / (n // 10) * 1e6
    print(f"Namespace.resolve, uncached, 3 levels   {run_coro(uncached()):8.2f} us   (no network)")

    t = mtl.MountTable()   # 1000 nodes: exactly Go's default per-user node limit
    t0 = time.perf_counter()
    for i in range(1000):
        t.mount(f"s{i}", f"/127.0.0.1:{10000 + i}", 80, 0, ME)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    for i in range(1000):
        t.mount(f"s{i}", f"/127.0.0.1:{10000 + i}", 80, 0, ME)
    print(f"1000 mounts / 1000 refreshes (core)     {first * 1e3:8.2f} ms / {(time.perf_counter() - t0) * 1e3:.2f} ms")


def bench_rpc(n):
    print("== over RPC to our mounttabled (loopback, encrypted, authenticated)")
    work = tempfile.mkdtemp(prefix="naming-bench-")
    procs = []
    try:
        creds = os.path.join(work, "cred")
        subprocess.run([sys.executable, "-m", "v23py.cmd.principal", "create",
                        "--with-passphrase=false", "--overwrite", creds, "bench"], check=True,
                       stdout=subprocess.DEVNULL, cwd=ROOT)
        from v23py.testing import child_env
        env = dict(child_env(v23_vars=False), V23_CREDENTIALS=creds)
        names = []
        for _ in range(4):
            p = subprocess.Popen([sys.executable, "-m", "v23py.cmd.mounttabled",
                                  "--v23.tcp.address=127.0.0.1:0", "--mounttable-logging=0"],
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                 env=env, cwd=work, start_new_session=True)
            procs.append(p)
            got = []
            t = threading.Thread(target=lambda: got.extend(
                line[5:].strip() for line in p.stdout if line.startswith("NAME=")), daemon=True)
            t.start()
            deadline = time.time() + 30
            while not got and time.time() < deadline:
                time.sleep(0.05)
            names.append(got[0])
        os.environ["V23_CREDENTIALS"] = creds
        _rpc_part(names, n)
    finally:
        for p in procs:
            try:
                os.killpg(p.pid, signal.SIGTERM)
                p.wait(10)
            except Exception:
                pass
        shutil.rmtree(work, ignore_errors=True)


def _rpc_part(mts, n):
    from twisted.internet import defer, task
    import v23py
    from v23py.runtime.namespace import RpcTransport

    async def main(reactor):
        ctx, shutdown = v23py.init([], reactor=reactor)
        rt = v23py.get_runtime(ctx)
        tr = RpcTransport(rt.client)
        ns = Namespace([mts[0]], tr)   # mts[3] is kept empty for the 1000-mount test
        nc = Namespace([mts[0]], tr, cache=False)
        await ns.mount(ctx, "a", mts[1], 0, serves_mount_table=True)
        await ns.mount(ctx, "a/b", mts[2], 0, serves_mount_table=True)
        for i in range(10):
            await ns.mount(ctx, f"a/b/s{i}", f"/127.0.0.1:{20000 + i}", 0)
            await ns.mount(ctx, f"top{i}", f"/127.0.0.1:{21000 + i}", 0)

        async def lat(fn, k):
            samples = []
            for _ in range(k):
                t0 = time.perf_counter()
                await fn()
                samples.append((time.perf_counter() - t0) * 1e6)
            samples.sort()
            return statistics.median(samples), samples[int(len(samples) * 0.99) - 1]

        for label, fn in [
            ("resolve uncached, 1 level", lambda: nc.resolve(ctx, "top1")),
            ("resolve uncached, 3 levels", lambda: nc.resolve(ctx, "a/b/s1")),
            ("resolve cached, 3 levels", lambda: ns.resolve(ctx, "a/b/s1")),
            ("glob '*' (10 entries, 1 table)", lambda: nc.glob(ctx, "*")),
            ("glob 'a/b/*' (3 tables)", lambda: nc.glob(ctx, "a/b/*")),
        ]:
            await fn()
            med, p99 = await lat(fn, max(20, n // 50))
            print(f"{label:<36} median {med:9.1f} us   p99 {p99:9.1f} us")
        t0 = time.perf_counter()
        for i in range(1000):
            await tr.call(ctx, [mts[3]], f"s{i}", "Mount", [f"/127.0.0.1:{30000 + i}", 80, 0])
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        for i in range(1000):
            await tr.call(ctx, [mts[3]], f"s{i}", "Mount", [f"/127.0.0.1:{30000 + i}", 80, 0])
        again = time.perf_counter() - t0
        t0 = time.perf_counter()
        await defer.gatherResults([defer.ensureDeferred(tr.call(
            ctx, [mts[3]], f"s{i}", "Mount", [f"/127.0.0.1:{30000 + i}", 80, 0]))
            for i in range(1000)])
        conc = time.perf_counter() - t0
        print(f"1000 mounts: first {first:.2f} s, refresh {again:.2f} s sequential "
              f"({again:.3f} ms per Mount), refresh {conc:.2f} s concurrent")
        await shutdown()

    task.react(lambda reactor: defer.ensureDeferred(main(reactor)))


if __name__ == "__main__":
    n = 2000 if "--quick" in sys.argv else 20000
    bench_memory(n)
    try:
        bench_rpc(n)
    except SystemExit:
        pass
