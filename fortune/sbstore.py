"""The tutorial's Fortune service stored in Syncbase (``fortune-server --sb-name``).

Layout (the localPersist tutorial's): database ``fortuneDb`` (Id inferred from
the server's blessings: app pattern), collection ``fortuneCollection`` (user
pattern); fortunes at keys ``"0"``, ``"1"``, ...; their count (an int64) at key
``numFortunes``.  Creating the database or the collection fails when they
already exist, as in the tutorial (the Go version panics).
"""
from __future__ import annotations

import random

from twisted.internet import defer

from v23py import verror
from fortune.ifc import FortuneServerMethods

DB_NAME = "fortuneDb"
COLLECTION_NAME = "fortuneCollection"
NUM_FORTUNES_KEY = "numFortunes"


class SyncbaseFortune(FortuneServerMethods):
    def __init__(self, ctx, sb_name: str, seed: int = 99):
        from v23py import syncbase
        self.ctx = ctx
        self.sb_name = sb_name
        self.random = random.Random(seed)
        self.lock = defer.DeferredLock()   # serializes Add's read-modify-write
        self.service = syncbase.NewService(sb_name)
        self.db = self.service.Database(ctx, DB_NAME, None)
        self.collection = self.db.Collection(ctx, COLLECTION_NAME)

    async def init(self):
        await self.db.Create(self.ctx, None)
        await self.collection.Create(self.ctx, None)
        return self

    async def _count(self, ctx) -> int:
        try:
            return int(await self.collection.Get(ctx, NUM_FORTUNES_KEY))
        except verror.VError as e:
            if e.id == verror.NoExist.id:
                return 0
            raise

    async def Get(self, ctx, call):
        try:
            n = await self._count(ctx)
        except verror.VError:
            return "[empty]"
        if n <= 0:
            return "[empty]"
        key = str(self.random.randrange(n))
        try:
            return str(await self.collection.Get(ctx, key))
        except verror.VError:
            return "[error]"

    async def Add(self, ctx, call, wisdom):
        await self.lock.acquire()
        try:
            n = await self._count(ctx)
            await self.collection.Put(ctx, str(n), wisdom)
            await self.collection.Put(ctx, NUM_FORTUNES_KEY, n + 1)
        finally:
            self.lock.release()


async def make(ctx, sb_name: str) -> SyncbaseFortune:
    """A Fortune implementation on the Syncbase at ``sb_name`` (db and collection created)."""
    return await SyncbaseFortune(ctx, sb_name).init()
