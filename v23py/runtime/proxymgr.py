"""A server listening through proxies (``--v23.proxy``; Go's rpc proxyManager).

The proxy name is resolved to endpoints (several proxies may be mounted under one name);
``--v23.proxy.policy`` picks which to use: ``first`` (the first one found), ``random`` (one
at random) or ``all`` (up to ``--v23.proxy.limit`` of them, 0 meaning all).  Each chosen
proxy is kept: when its flow ends the server dials it again at once, and after a failure
with a backoff from 50 ms doubling to a minute, re-resolving the name each time; a proxy no
longer mounted under the name is dropped.  Every second the name is resolved again, so that
new proxies are used when the policy wants more.  The endpoints each proxy gives are added
to the server's (and published); they go when the proxy does.
"""
from __future__ import annotations

import logging
import random

from twisted.internet import defer, task

from v23py import verror

log = logging.getLogger(__name__)

RECONNECT_DELAY = 0.05
RERESOLVE_DELAY = 1.0
MAX_BACKOFF = 60.0
POLICIES = ("first", "random", "all")


def check_policy(policy):
    """Go's --v23.proxy.policy values ("" is first)."""
    if policy and policy not in POLICIES:
        raise verror.BadArg.new("unsupported proxy policy: %s, must be one of 'first', "
                                "'random' or 'all'" % policy)
    return policy or "first"


class ProxyManager:
    """Keeps ``server`` listening through the proxies named ``name``.

    ``resolve(ctx, name) -> Deferred/awaitable [Endpoint]``."""

    def __init__(self, ctx, server, name, policy, limit, resolve, reactor=None):
        if reactor is None:
            from twisted.internet import reactor as _r
            reactor = _r
        self.ctx = ctx
        self.server = server
        self.name = name
        self.policy = check_policy(policy)
        self.limit = 1 if self.policy in ("first", "random") else max(0, int(limit or 0))
        self.resolve = resolve
        self.reactor = reactor
        self.available = []      # endpoints the name resolves to
        self.active = {}         # str(endpoint) -> Deferred of its connection loop
        self.listeners = {}      # str(endpoint) -> ProxyListener
        self.errors = {}         # str(endpoint) -> last error (Go's ProxyErrors)
        self._stopped = False
        self._watch = None
        self._rand = random.Random()

    # -- lifecycle -------------------------------------------------------------------------
    def start(self):
        self._watch = task.LoopingCall(lambda: defer.ensureDeferred(self._tick()))
        self._watch.clock = self.reactor
        self._watch.start(RERESOLVE_DELAY, now=True).addErrback(
            lambda f: log.error("proxy manager: %s", f.getErrorMessage()))

    def stop(self):
        self._stopped = True
        if self._watch is not None and self._watch.running:
            self._watch.stop()
        for pl in list(self.listeners.values()):
            pl.stop()

    # -- choosing --------------------------------------------------------------------------
    async def _update(self):
        try:
            self.available = list(await self.resolve(self.ctx, self.name))
        except verror.VError as e:
            log.debug("resolving proxy %s: %s", self.name, e)

    def _wanted(self):
        """The idle proxies to connect to now."""
        idle = [ep for ep in self.available if str(ep) not in self.active]
        if not idle:
            return []
        if self.policy == "first":
            return idle[:1] if not self.active else []
        if self.policy == "random":
            return [self._rand.choice(idle)] if not self.active else []
        if self.limit == 0:
            return idle
        needed = self.limit - len(self.active)
        if needed <= 0:
            return []
        return idle if needed >= len(idle) else self._rand.sample(idle, needed)

    async def _tick(self):
        if self._stopped:
            return
        await self._update()
        for ep in self._wanted():
            if self._stopped:
                return
            key = str(ep)
            d = defer.ensureDeferred(self._keep(ep))
            self.active[key] = d
            d.addBoth(lambda _, k=key: self.active.pop(k, None))

    # -- one proxy -------------------------------------------------------------------------
    def _is_available(self, ep):
        key = str(ep)
        return any(str(e) == key for e in self.available)

    async def _keep(self, ep):
        key = str(ep)
        mgr = self.server.flow_manager
        delay = RECONNECT_DELAY
        while not self._stopped and self._is_available(ep):
            if delay > RECONNECT_DELAY:
                await task.deferLater(self.reactor, delay - RECONNECT_DELAY, lambda: None)
                if self._stopped:
                    return
            try:
                pl = await mgr.proxy_listen(
                    ep, on_update=lambda eps, k=key: self.server.set_proxied(k, eps))
            except verror.VError as e:
                self.errors[key] = e
                log.error("listening through proxy %s failed: %s. Reconnecting..", ep, e)
                delay = min(delay * 2, MAX_BACKOFF)
                await self._update()
                continue
            self.errors.pop(key, None)
            self.listeners[key] = pl
            self.server.set_proxied(key, pl.endpoints)
            err = await pl.done
            self.listeners.pop(key, None)
            self.server.set_proxied(key, [])
            if err is not None:
                self.errors[key] = err
            delay = RECONNECT_DELAY / 2
            delay = max(delay, RECONNECT_DELAY)
