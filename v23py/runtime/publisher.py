"""Keeps a server's endpoints mounted under its names (Go's publisher).

Every ``period`` seconds each (name, server) pair is mounted again with a TTL of
period + slack (Go: 60 s + 20 s = 80 s), so mounts vanish soon after a server
dies. Mounting runs in the background: an unreachable namespace root never
blocks or fails the server's start, it is just retried on the next round.
``stop()`` unmounts everything (best effort, bounded by a timeout).

    pub = Publisher(ctx, namespace, reactor)
    pub.add_server(endpoint)          # mounted as "@6@tcp@...@@", as Go's publisher does
    pub.add_name("tutorial/fortune", serves_mount_table=False, is_leaf=True)
    ...
    await pub.stop()
"""
import logging

from twisted.internet import defer, task

from v23py.naming import names as _names

log = logging.getLogger(__name__)

PUBLISH_PERIOD = 60.0
PUBLISH_SLACK = 20.0


class Publisher:
    def __init__(self, ctx, namespace, reactor=None, period=PUBLISH_PERIOD, slack=PUBLISH_SLACK):
        if reactor is None:
            from twisted.internet import reactor as _r
            reactor = _r
        self.ctx = ctx
        self.ns = namespace
        self.reactor = reactor
        self.period = period
        self.ttl = int(period + slack)
        self.names = {}       # name -> (serves_mount_table, is_leaf)
        self.servers = []
        self.status = {}      # (name, server) -> (ok: bool, error or None)
        self._loop = None
        self._inflight = None
        self._inflight_pairs = set()   # (name, server) pairs the running round mounts
        self._stopped = False

    # -- configuration ---------------------------------------------------

    @staticmethod
    def _server(server):
        """What to mount for a server: Go's publisher mounts each endpoint's String(),
        with no leading "/"; a rooted name with no suffix is taken as that endpoint."""
        server = str(server)
        if _names.rooted(server):
            addr, suffix = _names.split_address_name(server)
            if addr.startswith("@") and not suffix:
                return addr
        return server

    def add_server(self, server):
        server = self._server(server)
        if server not in self.servers:
            self.servers.append(server)
            self._kick()

    def remove_server(self, server):
        server = self._server(server)
        if server in self.servers:
            self.servers.remove(server)
            for name in list(self.names):
                self._inflight_pairs.discard((name, server))
                self._background(self._unmount(name, server))

    def add_name(self, name, serves_mount_table=False, is_leaf=False):
        self.names[name] = (bool(serves_mount_table), bool(is_leaf))
        self._kick()

    def remove_name(self, name):
        if self.names.pop(name, None) is not None:
            for server in list(self.servers):
                self._inflight_pairs.discard((name, server))
                self._background(self._unmount(name, server))

    # -- running ---------------------------------------------------------

    def _kick(self):
        if self._stopped or not self.names or not self.servers:
            return
        if self._loop is None:
            self._loop = task.LoopingCall(self._round)
            self._loop.clock = self.reactor
            self._loop.start(self.period, now=True)
        else:
            self._round()

    def _background(self, coro):
        d = defer.ensureDeferred(coro)
        d.addErrback(lambda f: log.debug("publisher: %s", f.getErrorMessage()))
        return d

    def _pairs(self):
        return [(name, server) for name in list(self.names) for server in list(self.servers)]

    def _round(self):
        """One refresh of every mount (never raises; returns a Deferred).

        While a round is still running (a slow or hung mount table) no second round is
        stacked on it, but pairs added since it began (a proxied endpoint arriving while
        the first mount is in flight) are mounted at once and join it, as Go's publisher
        mounts a new server immediately."""
        running = self._inflight is not None and not self._inflight.called
        fresh = [p for p in self._pairs() if not running or p not in self._inflight_pairs]
        if running and not fresh:
            return self._inflight
        if not running:
            self._inflight_pairs = set()
        self._inflight_pairs.update(fresh)
        ds = [self._background(self._mount(name, server)) for name, server in fresh]
        if running:
            ds.insert(0, self._inflight)
        self._inflight = defer.DeferredList(ds, consumeErrors=True)
        return self._inflight

    async def _mount(self, name, server):
        mt, leaf = self.names.get(name, (False, False))
        try:
            await self.ns.mount(self.ctx, name, server, self.ttl,
                                serves_mount_table=mt, is_leaf=leaf)
        except Exception as e:
            if self.status.get((name, server), (None,))[0] is not False:
                log.info("publishing %s -> %s failed (will retry): %s", name, server,
                         getattr(e, "msg", None) or e)
            self.status[(name, server)] = (False, e)
            return
        self.status[(name, server)] = (True, None)

    async def _unmount(self, name, server):
        try:
            await self.ns.unmount(self.ctx, name, server)
        except Exception as e:
            log.debug("unmounting %s -> %s failed: %s", name, server, e)
        self.status.pop((name, server), None)

    def wait_round(self):
        """A Deferred that fires when the current round of mounts has finished."""
        if self._inflight is None:
            return defer.succeed(None)
        return defer.maybeDeferred(lambda: self._inflight).addCallback(lambda _: None)

    async def stop(self, timeout=5.0):
        """Stop refreshing and unmount every name (waits at most ``timeout`` seconds)."""
        self._stopped = True
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        ds = [self._background(self._unmount(name, server))
              for name in list(self.names) for server in list(self.servers)]
        if not ds:
            return
        done = defer.DeferredList(ds, consumeErrors=True)
        timer = self.reactor.callLater(timeout, lambda: done.called or done.cancel())
        try:
            await done
        except defer.CancelledError:
            pass
        finally:
            if timer.active():
                timer.cancel()
