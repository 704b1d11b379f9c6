"""The pull loop: every tick one peer, picked at random as Go's syncer does, and a round
with it per shared database, at the address we have for it (learned, neighborhood,
mount table), with Go's exponential backoff for a peer that fails.

While every member of our syncgroups sends us hints (v23py daemons, see hints.py), or
there is no member to pull, the loop is quiet: it ticks every QUIET_TICK seconds instead
of every TICK, since its only work is then the rare safety-net pull.  A member that does
not hint us (Go's daemon, or one whose hint stream ended) brings Go's cadence back."""
from __future__ import annotations

import logging
import random
import time

from twisted.internet import defer
from twisted.python.failure import Failure

import v23py
from v23py.runtime.publisher import Publisher
from syncbased import syncstats
from syncbased.vsync import limits
from syncbased.vsync.hints import wider_relay, know_of

log = logging.getLogger(__name__)


class Ticker:
    """Calls ``fn`` every ``interval`` seconds at a fixed rate (a tick that runs late
    does not shift the next ones, as LoopingCall and Go's time.Ticker); ``quiet(delay)``
    puts the next tick off to ``delay`` from now, ``wake()`` brings it back within one
    interval."""

    def __init__(self, reactor, fn):
        self.reactor, self.fn = reactor, fn
        self.running = False
        self.interval = None
        self._call = None
        self._due = 0.0
        self._quiet_at = None

    def start(self, interval):
        self.interval, self.running = interval, True
        self._schedule(self.reactor.seconds() + interval)

    def stop(self):
        self.running = False
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None

    def _schedule(self, due):
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._due = due
        self._call = self.reactor.callLater(max(0.0, due - self.reactor.seconds()), self._fire)

    def _fire(self):
        self._call = None
        self._quiet_at = None
        now = self.reactor.seconds()
        try:
            self.fn()
        except Exception:
            log.exception("sync tick failed")
        if self.running and self._call is None:
            due = self._due + self.interval
            if due <= now:          # (late: the missed ticks are skipped)
                due = now + self.interval - (now - self._due) % self.interval
            if self._quiet_at is not None:
                due = max(due, self._quiet_at)
            self._schedule(due)

    def quiet(self, delay):
        if not self.running:
            return
        at = self.reactor.seconds() + delay
        if self._call is None:        # (asked by the tick running now)
            self._quiet_at = at
        elif at > self._due:
            self._schedule(at)

    def wake(self):
        if self.running and self._call is not None:
            soon = self.reactor.seconds() + self.interval
            if self._due > soon:
                self._schedule(soon)


class SchedulerMixin:
    """The pull loop: SyncService's part (reactor thread)."""

    # --- the pull loop (reactor thread) ---
    def _tick(self, prefer=None):
        """Each tick (Go's syncer): pick one peer and pull from it every database shared
        with it.  ``prefer``: an address whose member is picked first (a new joiner's
        admin)."""
        self._ticks += 1
        syncstats.TICKS.incr(1)
        if self._picked is not None and prefer is None:
            member, started = self._picked
            if (any((db_id, member) in self._inflight for db_id in self.dbs)
                    and time.monotonic() - started < limits.PICK_WAIT):
                return           # Go's syncer is busy with its last peer: this tick is lost
            self._picked = None
        ads = self.publish_nh and time.monotonic() - self._last_ad >= limits.AD_INTERVAL
        try:
            idle = not any(ds.sgs for ds in list(self.dbs.values()))
        except RuntimeError:      # (changed on the store thread meanwhile)
            idle = False
        if idle and not self._ads and not self._mt_names:
            self._loop.quiet(limits.QUIET_TICK)
            return               # nothing to sync, advertise or unmount: no store hop
        now = time.monotonic()
        if (prefer is None and not ads and self._view is not None
                and now - self._view[0] < limits.MEMBER_VIEW_TTL):
            # Go's memberView: the members and mount tables of every database, read
            # from the store at most once per TTL (a round with a paused or unshared
            # database does nothing)
            self._start_rounds(self._view[1])
            return
        w = self.daemon.worker
        if ads:
            self._last_ad = now

        def work():
            if ads:
                self._advertise_admin([g for ds in list(self.dbs.values())
                                       if not ds.paused and ds.db.id in self.service.dbs
                                       for g in ds.admin_gids(self.own_names)])
            return [(db_id, ds.members(), ds.mount_tables())
                    for db_id, ds in list(self.dbs.items())
                    if ds.sgs and not ds.paused and db_id in self.service.dbs]
        def fresh(view):
            self._view = (now, view)
            return view
        d = w.call(work)
        d.addCallback(fresh)
        d.addCallback(self._start_rounds, prefer)
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

    def _start_rounds(self, work, prefer=None):
        """Go's pickPeer: one member at random among those we can try now (an address
        known, not failing within its backoff, no round running), then a round with it
        for every database it shares with us."""
        now = time.monotonic()
        nh = []
        all_mts = set()
        ready = {}          # member -> [(key, address)] of the rounds to start
        for db_id, members, mts in work:
            all_mts.update(mts)
            for m in members:
                key = (db_id, m)
                if key in self._inflight or self._skip_until.get(key, 0) > self._ticks:
                    continue
                fails = self._fails.get(key, 0)
                addr = self.member_address(m, fails, nh)
                if mts and (not addr or fails >= 2 and fails % 2 == 0):
                    # through a mount table of a shared syncgroup
                    addr = f"{mts[(fails // 2) % len(mts)].rstrip('/')}/{m}"
                if addr:
                    ready.setdefault(m, []).append((key, addr))
        hinting = self.hints.subscribed
        if prefer is None and self._loop is not None and all(
                m in hinting for _, members, _ in work for m in members):
            # every member hints us (or there is none): tick rarely
            self._loop.quiet(limits.QUIET_TICK)
        if ready:
            pick = None
            if prefer is not None:
                pick = next((m for m, rounds in ready.items()
                             if any(a == prefer for _, a in rounds)), None)
            if pick is None:
                pick = random.choice(list(ready))
                if pick in hinting:
                    # its writes come as hints: pulling it is only the safety net for
                    # what it relays (_safety_pull_due)
                    if not self._safety_pull_due(now):
                        # not due: a member that may serve hints but does not hint us
                        # yet (a v23py daemon we have not synced with) is pulled
                        # instead, so that it soon does; a Go peer (no Hints object)
                        # keeps its share of the picks, as with Go's syncer
                        new = [m for m in ready
                               if m not in hinting and m not in self.hints.not_served]
                        pick = random.choice(new) if new else None
                    else:
                        self._hinted_pull = now
            if pick is not None:
                self._picked = (pick, now)
                for key, addr in ready[pick]:
                    self._start_round(key, addr)
        try:
            self._mount(all_mts)
        except Exception:
            pass

    def resumed(self, db_id):
        """Sync of ``db_id`` resumed (reactor thread), while members hint us: the hints
        dropped while it was paused are lost, so the safety-net pull is due at once, and
        the member view read while it was paused (which left it out) is read again."""
        self._hinted_pull = self._hinting_data = -1e9
        self._view = None
        if self._loop is not None:
            self._loop.wake()

    def _safety_pull_due(self, now):
        """Whether the tick's safety-net pull of a member that hints us is due:
        HINTED_PULL_INTERVAL seconds after the last such pull and after the last data
        round that succeeded with any member that hints us (that round brought all its
        member held, which is what the safety pull brings: so while hinted rounds run,
        as when every daemon of a syncgroup writes at once, no daemon adds the safety
        pull to them), and in any case once per HINTED_SG_INTERVAL or
        HINTED_TIME_INTERVAL, whichever is shorter (the safety pull carries the periodic
        syncgroup round and GetTime with those members, initiator.py)."""
        since = now - self._hinted_pull
        return (since >= limits.HINTED_PULL_INTERVAL
                and now - self._hinting_data >= limits.HINTED_PULL_INTERVAL
                or since >= min(limits.HINTED_SG_INTERVAL, limits.HINTED_TIME_INTERVAL))

    def member_address(self, m, fails, nh):
        """The address of member ``m`` other than through a mount table: the one we
        learned, else the conn it opened to us, else the neighborhood's (which comes
        first once its rounds failed ``fails`` >= 2 times: it is fresher).  ``nh``: a
        list holding the neighborhood once read (read when first needed, once for
        many members)."""
        addr = self.peers.get(m) or self.conn_peers.get(m)
        if addr is None or fails >= 2:
            if not nh:
                nh.append(self._neighborhood())
            addr = nh[0].get(m) or self.conn_peers.get(m) or addr
        return addr

    def _start_round(self, key, addr, parts=None):
        syncstats.ROUNDS.incr(1)
        self._inflight.add(key)
        self._addr[key] = addr
        defer.ensureDeferred(self._round(key[0], key[1], addr, parts)).addBoth(
            lambda r: self._done(key, r, addr))

    def hinted(self, db_id, peer, addr=None, claim=None, sgs=None, relay=None):
        """A hint from ``peer`` (vsync/hints.py): it holds writes to ``db_id`` of the
        devices in ``claim`` (device -> generation; its own among them), and of the
        metadata of its syncgroups those in ``sgs`` (syncgroup id -> device ->
        generation).  Pull now, unless our knowledge already reaches all of them
        (through others), or once more after the round running now.  At most
        HINTED_ROUNDS hinted rounds run at once; the others wait, the one whose peer
        holds most of what we lack first, and are dropped once our knowledge catches
        up (many writers hinting at once then cost far fewer rounds than one per
        writer and reader).  The round has the syncgroup part only if we lack some of
        ``sgs``, the data part only if we lack some of ``claim`` (None: pull anyway).
        ``relay`` (not None: the hint's Until): we are the writer's relay (hints.py):
        once we hold its writes and no hinted round runs or waits, our subscribers (or
        our share of them) are hinted (``_relay_if_idle``)."""
        key = (db_id, peer)
        sg = bool(sgs) and self._sg_lacking(db_id, sgs) > 0
        data = claim is None or not self._knows(db_id, claim)
        if not sg and not data:
            syncstats.HINTS_KNOWN.incr(1)
            if relay is not None:
                self._relay_later(db_id, peer, relay)
                self._relay_if_idle()
            return
        if relay is not None:
            self._relay_keys[key] = wider_relay(self._relay_keys.get(key, None), relay)
        if key in self._inflight:
            self.hints.again[key] = _merge_claims(self.hints.again[key], (claim, sgs)) \
                if key in self.hints.again else (claim, sgs)
            return
        if len(self._hinted) >= self._hinted_slots(key):
            if key in self._hint_queue:
                old_addr, old_claim, old_sgs = self._hint_queue[key]
                self._hint_queue[key] = (addr or old_addr,
                                         *_merge_claims((old_claim, old_sgs), (claim, sgs)))
            else:
                self._hint_queue[key] = (addr, claim, sgs)
            return
        addr = self._addr.get(key) or addr
        ds = self.dbs.get(db_id)
        if (addr is None or ds is None or ds.paused or self._loop is None
                or not self._loop.running or self._retry_at.get(key, 0) > time.monotonic()):
            return
        self._hinted.add(key)
        # (no GetTime: the clock comes with the periodic rounds)
        self._start_round(key, addr, ("sg",) * sg + ("data",) * data)

    def peer_knew(self, db_id, peer, claim):
        """``peer`` pulled ``db_id`` from us holding ``claim`` (device -> generation,
        from its data request).  A queued hint from it gains that claim: the hints it
        sent describe only what it knew when it wrote, and a peer that has since
        gathered others' writes is the one whose round brings most (so one round
        gathers many writers' rows).  Peers with no queued hint (Go's among them) are
        left alone."""
        key = (db_id, peer)
        queued = self._hint_queue.get(key)
        if queued is not None:
            addr, old_claim, sgs = queued
            self._hint_queue[key] = (addr, _merge(old_claim, claim), sgs)

    def _lacking(self, db_id, claim):
        """How many devices of ``claim`` our knowledge of ``db_id`` does not reach in
        every prefix we sync (0: a round with its sender would bring none of them;
        None: unknown)."""
        ds = self.dbs.get(db_id)
        try:
            gvs = list(ds.genvecs.values()) if ds is not None else []
        except RuntimeError:
            return None
        if not gvs:
            return None
        me = self.id
        return sum(1 for d, g in claim.items()
                   if d != me and any(gv.get(d, 0) < g for gv in gvs))

    def _knows(self, db_id, claim):
        return self._lacking(db_id, claim) == 0

    def _sg_lacking(self, db_id, sgs):
        """How many (syncgroup, device) entries of ``sgs`` the metadata we hold of
        ``db_id``'s syncgroups does not reach (syncgroups we are no member of, or whose
        join is pending, do not count: their rounds are not the hint's business)."""
        ds = self.dbs.get(db_id)
        me = self.id
        n = 0
        try:
            for gid, gv in sgs.items():
                e = ds.sgs.get(gid) if ds is not None else None
                if e is None or e.pending:
                    continue
                have = ds.sg_genvec(gid)
                n += sum(1 for d, g in gv.items() if d != me and have.get(d, 0) < g)
        except RuntimeError:     # (changed on the store thread meanwhile)
            return 0
        return n

    def _next_hints(self):
        while self._hint_queue and len(self._hinted) < limits.RELAYED_ROUNDS:
            # the waiting hint whose peer holds most of what we lack; those that bring
            # nothing now are dropped
            best, score = None, -1
            for key, (addr, claim, sgs) in list(self._hint_queue.items()):
                n = None if claim is None else self._lacking(key[0], claim)
                if n is not None and sgs:
                    n += self._sg_lacking(key[0], sgs)
                if n == 0:
                    del self._hint_queue[key]
                    syncstats.HINTS_KNOWN.incr(1)
                    continue
                n = 1 << 30 if n is None else n
                if n > score:
                    best, score = key, n
            if best is None or len(self._hinted) >= self._hinted_slots(best):
                return
            addr, claim, sgs = self._hint_queue.pop(best)
            self.hinted(best[0], best[1], addr, claim, sgs)

    def _done(self, key, result, addr=None):
        self._inflight.discard(key)
        self._hinted.discard(key)
        if isinstance(result, Failure):
            syncstats.peer(*key).failed(result.value)
            if addr is not None and self.conn_peers.get(key[1]) == addr:
                del self.conn_peers[key[1]]      # that conn is gone
            n = self._fails[key] = min(self._fails.get(key, 0) + 1, limits.FAILURES_CAP)
            # Go's roundsToBackoff: not tried again for 2^n peer-management rounds, of
            # which a tick holds PM_ROUNDS_PER_TICK
            self._skip_until[key] = self._ticks + -(-(2 ** n) // limits.PM_ROUNDS_PER_TICK)
            delay = limits.BACKOFF_UNIT * 2 ** n
            self._retry_at[key] = time.monotonic() + delay
            self._last_sg.pop(key, None)
            self.hints.again.pop(key, None)
            if key[1] in self.hints.subscribed:
                # a hinted peer's writes must not wait for a (maybe long) tick: retry
                self.daemon.reactor.callLater(delay + 0.001, self.hinted, *key)
        else:
            syncstats.peer(*key).succeeded()
            self._fails.pop(key, None)
            self._skip_until.pop(key, None)
            self._retry_at.pop(key, None)
            self.hints.round_succeeded(key[1], addr)
            if key in self.hints.again:
                self.daemon.reactor.callLater(0, self.hinted, *key, None,
                                              *self.hints.again.pop(key))
            elif result is True:
                # the peer truncated the round: continue with it right away
                self.daemon.reactor.callLater(0, self.hinted, *key)
            elif key in self._relay_keys:
                # (a round that runs again or continues relays once it is over)
                self._relay_later(*key, self._relay_keys.pop(key))
        self._next_hints()
        self._relay_if_idle()

    def _hinted_slots(self, key):
        """How many hinted rounds may run for ``key``'s to start: RELAYED_ROUNDS for a
        writer whose relay we are (each brings only that writer's rows: nothing to gain
        from waiting for a richer peer), else HINTED_ROUNDS."""
        return limits.RELAYED_ROUNDS if key in self._relay_keys else limits.HINTED_ROUNDS

    def relay_own(self, db_id):
        """A local write to ``db_id`` when we are the relay (hints.py): hinted with the
        writes we gather, once they are in (at once if we gather none)."""
        self._relay_later(db_id, self.hex, 0)
        self._relay_if_idle()

    def _relay_later(self, db_id, writer, until):
        writers, old = self._relay_due.get(db_id, (set(), None))
        writers.add(writer)
        self._relay_due[db_id] = (writers, wider_relay(old, until))

    def _relay_if_idle(self):
        """Once no hinted round runs or waits, hint our subscribers about the databases
        whose writers made us their relay and whose writes we now hold: one hint each
        for all the writes gathered meanwhile.  A lone writer is not hinted back about
        its own writes (what we gathered since the last relay came from it)."""
        if self._hinted or self._hint_queue or not self._relay_due:
            return
        due, self._relay_due = self._relay_due, {}
        for db_id, (writers, until) in due.items():
            self.hints.relay(db_id, writers if len(writers) == 1 else (), until)


def _merge(old, new):
    """Two hints' claims as one: the larger generation of each device; None (pull
    anyway) wins."""
    if old is None or new is None:
        return None
    return know_of((old, new))


def _merge_claims(old, new):
    """Two hints' (claim, syncgroup claims) as one: the claims merged (``_merge``),
    the syncgroup claims per syncgroup (none claimed: an empty one)."""
    sgs = dict(old[1] or {})
    for gid, gv in (new[1] or {}).items():
        sgs[gid] = _merge(sgs.get(gid, {}), gv)
    return _merge(old[0], new[0]), sgs
