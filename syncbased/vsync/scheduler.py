"""The pull loop: every tick, which peers of which databases to sync with, at which
address (learned, neighborhood, mount table), with per-peer backoff."""
from __future__ import annotations

import time

from twisted.internet import defer
from twisted.python.failure import Failure

import v23py
from v23py.runtime.publisher import Publisher
from syncbased.vsync import limits

class SchedulerMixin:
    """The pull loop: SyncService's part (reactor thread)."""

    # --- the pull loop (reactor thread) ---
    def _tick(self):
        w = self.daemon.worker
        ads = self.publish_nh and time.monotonic() - self._last_ad >= limits.AD_INTERVAL
        if ads:
            self._last_ad = time.monotonic()

        def work():
            if ads:
                self._advertise_admin([g for ds in list(self.dbs.values())
                                       if not ds.paused and ds.db.id in self.service.dbs
                                       for g in ds.admin_gids(self.own_names)])
            return [(db_id, ds.members(), ds.mount_tables())
                    for db_id, ds in list(self.dbs.items())
                    if ds.sgs and not ds.paused and db_id in self.service.dbs]
        d = w.call(work)
        d.addCallback(self._start_rounds)
        d.addErrback(lambda f: None)

    def _mount(self, mts):
        """Publish ``<mt>/<our hex name>`` in the mount tables of our syncgroups (Go's
        way for peers to find each other across machines)."""
        want = {f"{mt.rstrip('/')}/{self.hex}" for mt in mts}
        if want == self._mt_names or not self.endpoint:
            return
        if self._mt_pub is None:
            self._mt_pub = Publisher(self.ctx, v23py.get_runtime(self.ctx).namespace,
                                     self.daemon.reactor)
            self._mt_pub.add_server(self.endpoint)
        for n in want - self._mt_names:
            self._mt_pub.add_name(n)
        for n in self._mt_names - want:
            self._mt_pub.remove_name(n)
        self._mt_names = want

    def _start_rounds(self, work):
        now = time.monotonic()
        nh = None
        all_mts = set()
        for db_id, members, mts in work:
            all_mts.update(mts)
            for m in members:
                key = (db_id, m)
                fails = self._backoff.get(("n",) + key, 0)
                addr = self.peers.get(m) or self.conn_peers.get(m)
                if addr is None or fails >= 2:
                    # unknown, or failing: a neighborhood entry is fresher
                    if nh is None:
                        nh = self._neighborhood()
                    addr = nh.get(m) or self.conn_peers.get(m) or addr
                if mts and (not addr or fails >= 2 and fails % 2 == 0):
                    # through a mount table of a shared syncgroup
                    addr = f"{mts[(fails // 2) % len(mts)].rstrip('/')}/{m}"
                if not addr:
                    continue
                if key in self._inflight or self._backoff.get(key, 0) > now:
                    continue
                self._start_round(key, addr)
        try:
            self._mount(all_mts)
        except Exception:
            pass

    def _start_round(self, key, addr):
        self._inflight.add(key)
        self._addr[key] = addr
        defer.ensureDeferred(self._round(key[0], key[1], addr)).addBoth(
            lambda r: self._done(key, r, addr))

    def hinted(self, db_id, peer, addr=None):
        """A hint from ``peer`` (vsync/hints.py): it committed writes to ``db_id``; pull
        now (or once more after the round running now)."""
        key = (db_id, peer)
        if key in self._inflight:
            self.hints.again.add(key)
            return
        addr = self._addr.get(key) or addr
        ds = self.dbs.get(db_id)
        if (addr is None or ds is None or ds.paused or self._loop is None
                or not self._loop.running or self._backoff.get(key, 0) > time.monotonic()):
            return
        self._start_round(key, addr)

    def _done(self, key, result, addr=None):
        self._inflight.discard(key)
        from syncbased import syncstats
        from twisted.python.failure import Failure as _F
        if isinstance(result, _F):
            syncstats.peer(*key).failed(result.value)
        else:
            syncstats.peer(*key).succeeded()
        if isinstance(result, Failure):
            if addr is not None and self.conn_peers.get(key[1]) == addr:
                del self.conn_peers[key[1]]      # that conn is gone
            n = self._backoff.get(("n",) + key, 0) + 1
            self._backoff[("n",) + key] = min(n, 6)
            self._backoff[key] = time.monotonic() + 0.05 * (2 ** min(n, 6))
            self._last_sg.pop(key, None)
            self.hints.again.discard(key)
            if key[1] in self.hints.subscribed:
                # a hinted peer's writes must not wait for a (maybe long) tick: retry
                self.daemon.reactor.callLater(self._backoff[key] - time.monotonic() + 0.001,
                                              self.hinted, *key)
        else:
            self._backoff.pop(key, None)
            self._backoff.pop(("n",) + key, None)
            self.hints.round_succeeded(key[1], addr)
            if key in self.hints.again:
                self.hints.again.discard(key)
                self.daemon.reactor.callLater(0, self.hinted, *key)
            if result is True and self._loop is not None and self._loop.running:
                # the peer truncated the round: continue right away
                self.daemon.reactor.callLater(0, self._tick)
