"""v23py from asyncio: programs run with ``asyncio.run`` in a child process.

Each program is a user's: its own ``.vdl`` compiled with ``vdl generate``, then a
server whose ``async def`` methods await asyncio code and a client that awaits the
generated stubs, streams and the runtime's calls from asyncio tasks, all inside
``async with v23py.aio.init(...)``.
"""
import os
import subprocess
import sys
import tempfile
import textwrap

from twisted.internet import defer, threads
from twisted.trial import unittest

from v23py.testing import ROOT
from v23py.testing.procs import ENV, make_creds

VDL = """package counter

type Counter interface {
  // Add adds delta to the count and returns the new count.
  Add(delta int32) (int32 | error)
  // Count streams 0 .. upto-1 and returns upto.
  Count(upto int32) stream<_, int32> (int32 | error)
  // Sum adds the streamed numbers.
  Sum() stream<int32, _> (int32 | error)
  // Slow sleeps for ms milliseconds.
  Slow(ms int32) error
}
"""

PROGRAM = r'''
import asyncio, sys
import v23py, v23py.aio
from v23py import verror
from counter import CounterClient, CounterServer, CounterServerMethods

class Counter(CounterServerMethods):
    def __init__(self):
        self.n = 0

    async def Add(self, ctx, call, delta):
        await asyncio.sleep(0.001)                # asyncio inside a server method
        assert asyncio.current_task() is not None
        self.n += delta
        return self.n

    async def Count(self, ctx, call, upto):
        for i in range(upto):
            await call.send(i)
        return upto

    async def Sum(self, ctx, call):
        return sum([x async for x in call])

    async def Slow(self, ctx, call, ms):
        await asyncio.sleep(ms / 1000)

async def main():
    async with v23py.aio.init(["--v23.credentials", sys.argv[1]]) as ctx:
        server = await v23py.with_new_server(ctx, "", CounterServer(Counter()), None)
        name = server.endpoints[0].name()
        c = CounterClient(name)
        print("add", await c.Add(ctx, 2), await c.Add(ctx, 3))
        # concurrent calls from asyncio tasks
        print("gather", sorted(await asyncio.gather(*[c.Add(ctx, 1) for _ in range(5)])))
        call = await c.Count(ctx, 4)
        print("count", [x async for x in call], await call.finish())
        s = await c.Sum(ctx)
        for i in range(5):
            await s.send(i)
        print("sum", await s.finish())
        try:
            await c.Slow(ctx.with_timeout(0.2)[0], 5000)
        except verror.VError as e:
            print("timeout", e.id)
        try:
            await asyncio.wait_for(c.Slow(ctx, 5000), 0.2)
        except asyncio.TimeoutError:
            print("cancelled by asyncio")
        try:
            await CounterClient(name + "/x").Add(ctx, 1)
        except verror.VError as e:
            print("error", e.id)
        await server.stop()
    print("done")

asyncio.run(main())
'''


class AsyncioProgramTest(unittest.TestCase):
    timeout = 180

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="v23py-aio-")
        self.creds = os.path.join(self.tmp, "creds")
        make_creds(self.creds, "alice")
        pkg = os.path.join(self.tmp, "src", "counter")
        os.makedirs(pkg)
        with open(os.path.join(pkg, "counter.vdl"), "w") as f:
            f.write(VDL)
        subprocess.run([sys.executable, "-m", "v23py.cmd.vdl", "generate", "--lang", "python",
                        "src/counter"], cwd=self.tmp, check=True, timeout=120, capture_output=True,
                       env=dict(ENV, VDLPATH=os.path.join(self.tmp, "src")))

    def run_program(self, text):
        path = os.path.join(self.tmp, "src", "main.py")
        with open(path, "w") as f:
            f.write(textwrap.dedent(text))
        return threads.deferToThread(
            subprocess.run, [sys.executable, path, self.creds], cwd=os.path.join(self.tmp, "src"),
            env=ENV, capture_output=True, text=True, timeout=150)

    @defer.inlineCallbacks
    def test_server_and_client_under_asyncio(self):
        p = yield self.run_program(PROGRAM)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.splitlines(), [
            "add 2 5",
            "gather [6, 7, 8, 9, 10]",
            "count [0, 1, 2, 3] 4",
            "sum 10",
            "timeout v.io/v23/verror.Timeout",
            "cancelled by asyncio",
            "error v.io/v23/verror.UnknownSuffix",
            "done",
        ])

    @defer.inlineCallbacks
    def test_reactor_installed_first_is_a_clear_error(self):
        p = yield self.run_program('''
            import asyncio, sys
            from twisted.internet import reactor   # the default reactor, installed too early
            import v23py.aio

            async def main():
                async with v23py.aio.init(["--v23.credentials", sys.argv[1]]):
                    pass
            asyncio.run(main())
        ''')
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("v23py.aio needs Twisted's asyncio reactor", p.stderr)

    @defer.inlineCallbacks
    def test_plain_deferreds_are_wrapped(self):
        p = yield self.run_program('''
            import asyncio, sys
            import v23py.aio

            async def main():
                async with v23py.aio.init(["--v23.credentials", sys.argv[1]]):
                    from twisted.internet import reactor, task
                    d = task.deferLater(reactor, 0.01, lambda: "later")
                    print(await v23py.aio.wrap(d))
            asyncio.run(main())
        ''')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.strip(), "later")
