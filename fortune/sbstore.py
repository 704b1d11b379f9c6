"""The tutorial's Fortune service stored in Syncbase (``fortune-server --sb-name``).

Layout (the Syncbase tutorials'): database ``fortuneDb`` (Id inferred from the
server's blessings: app pattern), collection ``fortuneCollection`` (user
pattern), syncgroup ``fortuneSyncgroup`` over that collection (Admin and Read
for the user pattern), created by a server started with ``--sb-name`` only and
joined through ``--remote-sb-name`` otherwise.

Keys carry the local Syncbase name so that servers on different daemons never
write the same key (Syncbase resolves conflicts last-writer-wins per key):
fortune ``i`` of this server is at ``str(i) + sb_name`` and the count at
``"numFortunes" + sb_name`` (an int64).  ``Get`` scans the ``numFortunes``
prefix, picks a server with fortunes at random, then one of its fortunes.
(The localPersist tutorial's single-daemon flow works unchanged with it.)
Creating the database or collection fails when they already exist, as in the
tutorial (the Go version panics).
"""
from __future__ import annotations

import random

from twisted.internet import defer

from v23py import verror
from fortune.ifc import FortuneServerMethods

DB_NAME = "fortuneDb"
COLLECTION_NAME = "fortuneCollection"
SYNCGROUP_NAME = "fortuneSyncgroup"
NUM_FORTUNES_KEY = "numFortunes"


class SyncbaseFortune(FortuneServerMethods):
    def __init__(self, ctx, sb_name: str, remote_sb_name: str = "", seed: int = 99):
        from v23py import syncbase
        self.ctx = ctx
        self.sb_name = sb_name
        self.remote_sb_name = remote_sb_name
        self.random = random.Random(seed)
        self.lock = defer.DeferredLock()   # serializes Add's read-modify-write
        self.service = syncbase.new_service(sb_name)
        self.db = self.service.database(ctx, DB_NAME, None)
        self.collection = self.db.collection(ctx, COLLECTION_NAME)

    async def init(self):
        from v23py import syncbase
        await self.db.create(self.ctx, None)
        await self.collection.create(self.ctx, None)
        sg = self.db.syncgroup(self.ctx, SYNCGROUP_NAME)
        info = syncbase.SyncgroupMemberInfo(SyncPriority=10)
        if self.remote_sb_name:
            await sg.join(self.ctx, self.remote_sb_name, None, info)
        else:
            perms = syncbase.perms_for(sg.id().Blessing, syncbase.ALL_SYNCGROUP_TAGS)
            spec = syncbase.SyncgroupSpec(Description="FortuneSyncgroup", Perms=perms,
                                          Collections=[self.collection.id()])
            await sg.create(self.ctx, spec, info)
        return self

    async def _count(self, ctx) -> int:
        try:
            return int(await self.collection.get(ctx, NUM_FORTUNES_KEY + self.sb_name))
        except verror.VError as e:
            if e.id == verror.NoExist.id:
                return 0
            raise

    async def Get(self, ctx, call):
        from v23py import syncbase
        counts = {}
        try:
            async for key, value in self.collection.scan(ctx, syncbase.Prefix(NUM_FORTUNES_KEY)):
                n = int(value)
                if n > 0:
                    counts[key[len(NUM_FORTUNES_KEY):]] = n
        except verror.VError:
            return "[error]"
        if not counts:
            return "[empty]"
        devices = sorted(counts)
        device = devices[self.random.randrange(len(devices))]
        key = str(self.random.randrange(counts[device])) + device
        try:
            return str(await self.collection.get(ctx, key))
        except verror.VError:
            return "[error]"

    async def Add(self, ctx, call, wisdom):
        await self.lock.acquire()
        try:
            n = await self._count(ctx)
            await self.collection.put(ctx, str(n) + self.sb_name, wisdom)
            await self.collection.put(ctx, NUM_FORTUNES_KEY + self.sb_name, n + 1)
        finally:
            self.lock.release()


async def make(ctx, sb_name: str, remote_sb_name: str = "") -> SyncbaseFortune:
    """A Fortune implementation on the Syncbase at ``sb_name`` (db, collection and syncgroup
    created, or the syncgroup joined through ``remote_sb_name``)."""
    return await SyncbaseFortune(ctx, sb_name, remote_sb_name).init()
