"""The Counter service tested in one process: ``python -m twisted.trial test_counter``."""
from twisted.internet import reactor
from twisted.trial import unittest

import v23py
from v23py import security

from counter import CounterClient, CounterClientStub, CounterServer
from counter_server import Counter


class CounterTest(unittest.TestCase):
    async def start(self) -> CounterClientStub:
        # no --v23.credentials: an in-memory principal, so no files and no mount table
        ctx, shutdown = v23py.init([], reactor=reactor)
        self.addCleanup(shutdown)
        self.ctx = ctx
        server = await v23py.with_new_server(ctx, "", CounterServer(Counter()),
                                             security.default_authorizer())
        return CounterClient(server.endpoints[0].name())

    async def test_add_get_history(self) -> None:
        counter = await self.start()
        self.assertEqual(await counter.Add(self.ctx, 2), 2)
        self.assertEqual(await counter.Add(self.ctx, 3), 5)
        self.assertEqual(await counter.Get(self.ctx), 5)
        call = await counter.History(self.ctx)
        self.assertEqual([v async for v in call], [0, 2, 5])
        await call.finish()                   # the call ends without error
