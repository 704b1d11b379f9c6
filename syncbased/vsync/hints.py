"""Write-triggered sync hints between v23py daemons (``v23py.syncbase.ext.Hints``).

Rounds are Go's protocol and nothing here changes them: a hint only makes a peer start
its usual round (pull) with the writer now instead of at its next periodic tick.

* Serving: a peer calls ``<us>/%%v23py-hints``.Subscribe(its id) and keeps the stream
  open; after each commit of local writes to a database (its rows, or a syncgroup's
  metadata: a join at us as admin) we send that database's id, our generation in it,
  what we know of other devices' writes to it (the most of each device we hold) and
  the same for the metadata of its syncgroups, on every stream whose caller may Read a
  syncgroup of it.
* Receiving: a peer whose knowledge already reaches all the hint names (it got those
  writes through others) skips the round; so do queued hints once it does
  (scheduler.py runs a few hinted rounds at a time, the richest hint first).  One
  that lacks some of the syncgroups' metadata runs the syncgroup round first: a new
  member is known everywhere one hinted round after its join, not a periodic one.
* Subscribing: after a successful round with a peer we subscribe to its hints, once;
  a peer that answers that it has no such object (Go's daemon: InvalidName) is never
  asked again.  A peer that subscribes to us is a v23py daemon, so we subscribe back
  at once (a joiner's first round thus gets both directions going); if it is no member
  we know yet (it joined after our last syncgroup round), once we learn it is.
* A hint for a database and peer whose round is running makes that round run again
  when it ends (a write during a round is not lost).
* Relaying: a commit of local rows is hinted to one subscriber only, the relay (the
  least sync id among ours and those of the subscribers that are members of, and may
  Read, every syncgroup of the database), flagged Relay; the relay pulls it and, once
  its hinted rounds are all done, hints its own subscribers (scheduler.py).  With N
  daemons writing at once, each write thus costs one hint and one round at the relay,
  and each daemon one relayed hint and about one round from the relay per burst,
  instead of N - 1 hints per write and rounds per daemon growing with N.  A daemon
  that is the least id of its group (or has no such subscriber) hints every
  subscriber, as do syncgroup changes; a relay whose stream ends has the databases
  it was told about hinted again (to the next relay), and one that neither pulls our
  writes nor is seen to hold them (a hint whose Know does) within RELAY_PULL_WAIT
  seconds (longer with more than RELAY_DIRECT subscribers: _pull_wait) (its sync of
  the database paused, say) has every other subscriber hinted directly.

So a Go peer in the syncgroup never receives a hint and syncs exactly as Go does; it
gets one failed Subscribe call per v23py daemon that syncs with it (per daemon run).
"""
from __future__ import annotations

import logging
import math

from twisted.internet import defer

from v23py import verror
from v23py.rpc import options as rpcopts
from v23py.syncbase import ext
from v23py.syncbase.util import Id
from syncbased import access, syncstats
from syncbased.access import READ
from syncbased.common import PeerAuthorizer, caller_names, id_out, send
from syncbased.vsync import limits

log = logging.getLogger(__name__)

# what a daemon without the Hints object answers (Go's: the name is no database id)
_NOT_SERVED = frozenset(("v.io/v23/services/syncbase.InvalidName",
                         verror.UnknownSuffix.id, verror.UnknownMethod.id))


def know_of(genvecs):
    """A claim (device -> the largest generation of it) from per-prefix genvecs: what a
    hint's Know says, and what a peer's data request tells us it held."""
    out = {}
    for gv in genvecs:
        for d, g in gv.items():
            d, g = int(d), int(g)
            if g > out.get(d, 0):
                out[d] = g
    return out


class _Subscriber:
    __slots__ = ("peer", "names", "call", "pending", "sending", "relayed")

    def __init__(self, peer, names, call):
        self.peer, self.names, self.call = peer, names, call
        self.pending = {}         # db id -> (our generation in it to send, relay: None
        #                           for a plain hint, else Until: see _queue)
        self.sending = False
        self.relayed = set()      # db ids whose writes it was asked to relay


class Hints:
    """Both halves for one SyncService (reactor thread unless said otherwise)."""

    def __init__(self, sync):
        self.sync = sync
        self.subscribers = set()      # _Subscriber: peers listening to our commits
        self.subscribed = {}          # peer hex -> cancel function of our Subscribe call
        self.not_served = set()       # peer hexes whose daemon has no Hints object
        self.again = {}               # (db id, peer hex) -> claims: rounds to run once more
        # peer hex -> address: peers that subscribed to us before we knew them as
        # members; we subscribe back once a syncgroup round tells us they are
        self.waiting = {}
        self.received = 0             # hints received (for tests and stats)
        # (db id, relay's id) -> [our generation it is to pull, pulled meanwhile, the
        # DelayedCall of _relay_missed]
        self._relay_wait = {}

    # --- serving -------------------------------------------------------------
    def committed(self, db_id):
        """Where store work runs (the store thread, or the reactor running quick calls):
        a commit of local writes to ``db_id`` (rows, or a syncgroup version made here).
        The hint leaves once the commit's group is flushed: right after it when the
        reactor ran it, else on the reactor's next turn."""
        if self.subscribers:
            ds = self.sync.dbs.get(db_id)
            if ds is not None:
                self.sync.daemon.worker.after_commit(self._notify, db_id, ds.gen)

    def wrote(self, db_id):
        """As ``committed``, for a commit of local rows: hinted through the relay."""
        if self.subscribers:
            ds = self.sync.dbs.get(db_id)
            if ds is not None:
                self.sync.daemon.worker.after_commit(self._notify, db_id, ds.gen, None,
                                                     True)

    def relay(self, db_id, exclude=(), until=0):
        """Hint our subscribers but those in ``exclude`` about ``db_id`` (reactor
        thread): what a relay does once it holds the writes it was told about.  With
        ``until`` only those whose id is greater than ours and at most ``until`` (our
        share of another relay's); else all, and beyond RELAY_DIRECT of them in about
        sqrt(n) runs of consecutive ids, whose first is hinted as the relay of its run
        (it pulls from us, then hints the rest): we serve sqrt(n) pulls, not n."""
        ds = self.sync.dbs.get(db_id)
        heard = self._hearers(db_id, [s for s in self.subscribers if s.peer not in exclude])
        if ds is None or heard is None:
            return
        sgs, to = heard
        if until:
            me = _id_order(self.sync.hex)
            to = [s for s in to if me < _id_order(s.peer) <= until]
        if until or len(to) <= limits.RELAY_DIRECT:
            for s in to:
                self._queue(s, db_id, ds.gen, None)
            return
        to.sort(key=lambda s: _id_order(s.peer))
        size = -(-len(to) // (math.isqrt(len(to) - 1) + 1))      # ceil(n / ceil(sqrt(n)))
        runs = [to[i:i + size] for i in range(0, len(to), size)]
        for i, run in enumerate(runs):
            head = run[0]
            if len(run) > 1 and _may_relay(head, sgs):
                last = _id_order(runs[i + 1][0].peer) - 1 if i + 1 < len(runs) else _MAX_ID
                self._queue(head, db_id, ds.gen, last)
                head.relayed.add(db_id)
            else:
                for s in run:
                    self._queue(s, db_id, ds.gen, None)

    def _hearers(self, db_id, subscribers):
        """(the syncgroups of ``db_id``, those of ``subscribers`` that may hear about
        it), or None (none to tell now)."""
        ds = self.sync.dbs.get(db_id)
        if ds is None or ds.paused or not ds.sgs:
            return None
        try:
            sgs, members = list(ds.sgs.values()), ds.members()
        except RuntimeError:       # (changed on the store thread meanwhile: next commit)
            return None
        return sgs, [s for s in subscribers if s.peer in members
                     and any(access.allowed(e.perms, (READ,), s.names) for e in sgs)]

    def _notify(self, db_id, gen, subscribers=None, via_relay=False):
        """Hint ``subscribers`` (all by default) that may hear about ``db_id``;
        ``via_relay``: only the relay among them, if there is one (``_relay_of``)."""
        heard = self._hearers(db_id, self.subscribers if subscribers is None else subscribers)
        if heard is None:
            return
        sgs, to = heard
        relay = _relay_of(to, sgs) if via_relay and len(to) > 1 else None
        if relay is not None and _id_order(relay.peer) > _id_order(self.sync.hex):
            # we are the relay: our write joins those we are gathering, if any (all
            # hinted once they are in), else is hinted now
            self.sync.relay_own(db_id)
            return
        if relay is not None:
            self._queue(relay, db_id, gen, 0)
            relay.relayed.add(db_id)
            self._expect_pull(db_id, relay.peer, gen)
            return
        for s in to:
            self._queue(s, db_id, gen, None)

    def _expect_pull(self, db_id, peer, gen):
        """We made ``peer`` the relay of our writes to ``db_id`` up to generation ``gen``.
        A relay that does not pull (its sync of the database paused, or stuck) would leave
        them to the others' rare safety-net pulls: unless it pulls within ``_pull_wait``
        seconds, or keeps pulling towards them, every other subscriber is hinted
        directly (``_relay_missed``)."""
        key = (db_id, peer)
        wait = self._relay_wait.get(key)
        if wait is not None:
            wait[0] = max(wait[0], gen)
            return
        self._relay_wait[key] = [gen, False, self.sync.daemon.reactor.callLater(
            self._pull_wait(), self._relay_missed, key)]

    def _pull_wait(self):
        """Seconds to wait for a relay to pull our writes: RELAY_PULL_WAIT, and beyond
        RELAY_DIRECT subscribers in proportion to them.  The relay pulls the writers that
        hinted it RELAYED_ROUNDS at a time: with as many writers as subscribers writing at
        once, a writer's turn may come after most of theirs (50 daemons on 2 loaded
        cores: over 0.5 s for the last ones, who then hinted all 48 others directly,
        most of whom had their writes by then through the relays)."""
        return limits.RELAY_PULL_WAIT * max(1.0, len(self.subscribers) / limits.RELAY_DIRECT)

    def pulled(self, db_id, peer, gen):
        """``peer`` pulled ``db_id`` from us, answered with our writes up to ``gen``."""
        wait = self._relay_wait.get((db_id, peer))
        if wait is not None:
            if gen >= wait[0]:
                self._end_wait((db_id, peer))
            else:
                wait[1] = True

    def _end_wait(self, key):
        """No more waiting for relay ``key`` ((db id, its id)) to pull."""
        wait = self._relay_wait.pop(key, None)
        if wait is not None and wait[2].active():
            wait[2].cancel()

    def _spreading(self, db_id, claim):
        """A hint whose sender holds our writes to ``db_id`` up to ``claim``'s generation
        of our device: they are on their way through the relays (a relay that had them
        from another peer never pulls them from us), so no relay need be waited for."""
        ours = claim.get(_id_order(self.sync.hex), 0)
        for key, wait in list(self._relay_wait.items()):
            if key[0] == db_id and ours >= wait[0]:
                self._end_wait(key)

    def _relay_missed(self, key):
        wait = self._relay_wait.get(key)
        if wait is None:
            return
        if wait[1]:          # it pulls, behind our writes: give it another wait
            wait[1] = False
            wait[2] = self.sync.daemon.reactor.callLater(
                self._pull_wait(), self._relay_missed, key)
            return
        del self._relay_wait[key]
        db_id, peer = key
        others = [s for s in self.subscribers if s.peer != peer]
        if others:
            self._notify(db_id, wait[0], others)

    def _queue(self, s, db_id, gen, relay):
        """Queue a hint about ``db_id`` to ``s``: ``relay`` None for a plain one, else
        its Until (0: relay to all); merged with one still waiting (the larger share)."""
        old_gen, old_relay = s.pending.get(db_id, (0, None))
        s.pending[db_id] = (max(gen, old_gen), wider_relay(old_relay, relay))
        if not s.sending:
            defer.ensureDeferred(self._drain(s)).addErrback(lambda f: None)

    def _sg_know(self, db_id):
        """What we hold of the metadata of ``db_id``'s syncgroups: syncgroup id ->
        device -> generation (ours included)."""
        ds = self.sync.dbs.get(db_id)
        try:
            return {gid: ds.sg_genvec(gid) for gid in list(ds.sgs)} if ds is not None else {}
        except RuntimeError:
            return {}

    def _know(self, db_id):
        """What we hold of other devices' writes to ``db_id``: device -> the largest
        generation of it in any prefix."""
        ds = self.sync.dbs.get(db_id)
        try:
            return know_of(ds.genvecs.values() if ds is not None else ())
        except RuntimeError:
            return {}

    async def _drain(self, s):
        s.sending = True
        try:
            while s.pending and s in self.subscribers:
                db_id, (gen, relay) = s.pending.popitem()
                await send(s.call, ext.Hint(Db=id_out(db_id), Gen=gen,
                                            Know=self._know(db_id), Sgs=self._sg_know(db_id),
                                            Relay=relay is not None, Until=relay or 0))
        finally:
            s.sending = False

    async def serve(self, ctx, call, initiator):
        """Subscribe: the stream of hints for peer ``initiator``, until the call ends."""
        names = caller_names(call)
        sync = self.sync
        if not await sync.daemon.worker.call(sync.reads_any_syncgroup, names):
            raise verror.NoAccess.new(f"access denied: {names} may not read any syncgroup "
                                      "of this syncbase")
        peer = str(initiator)
        sync.learn_conn_peer(peer, call)
        s = _Subscriber(peer, names, call)
        self.subscribers.add(s)
        # one hint per shared database at once: the peer pulls what we wrote before it
        # listened (or while it was away)
        for db_id, ds in list(sync.dbs.items()):
            self._notify(db_id, ds.gen, (s,))
        # a v23py peer: hear its writes too
        self.subscribe(peer)
        try:
            await ctx.done()
        finally:
            self._gone(s)

    def _gone(self, s):
        """Subscriber ``s``'s stream ended.  Writes it was to relay may not have left it:
        hinted again (to the next relay, or to all)."""
        self.subscribers.discard(s)
        for db_id in s.relayed:
            self._end_wait((db_id, s.peer))      # (the next relay has a wait of its own)
            ds = self.sync.dbs.get(db_id)
            if ds is not None and self.subscribers:
                self._notify(db_id, ds.gen, None, True)

    # --- subscribing ---------------------------------------------------------
    def round_succeeded(self, peer, addr=None):
        if peer not in self.subscribed and peer not in self.not_served:
            self.subscribe(peer, addr)

    def subscribe(self, peer, addr=None):
        sync = self.sync
        self.waiting.pop(peer, None)
        if (peer in self.subscribed or peer in self.not_served or peer == sync.hex
                or not limits.HINTS):
            return
        addr = addr or sync.peers.get(peer) or sync.conn_peers.get(peer)
        if not addr or sync._loop is None:
            return
        ctx, cancel = sync.ctx.with_cancel()
        self.subscribed[peer] = cancel
        defer.ensureDeferred(self._listen(ctx, peer, addr)).addBoth(
            lambda _: self._ended(peer, cancel))

    def members_learned(self):
        """A syncgroup round applied (reactor thread): subscribe to the waiting peers
        that we now know as members, and to every other member we hear nothing from
        yet whose address we have (a member that joined since: otherwise each member
        pulled it at Go's cadence until a round with it succeeded, N - 1 rounds per
        join; now one Subscribe each, and it subscribes back at once)."""
        sync = self.sync
        try:
            members = set().union(*(ds.members() for ds in list(sync.dbs.values())))
        except RuntimeError:      # (changed on the store thread meanwhile: next round)
            return
        for peer in [p for p in self.waiting if p in members]:
            self.subscribe(peer, self.waiting.pop(peer))
        nh = []
        for peer in members:
            if (peer not in self.subscribed and peer not in self.not_served
                    and peer != sync.hex):
                addr = sync.member_address(peer, 0, nh)
                if addr:
                    self.subscribe(peer, addr)

    def _ended(self, peer, cancel):
        cancel()
        if self.subscribed.get(peer) is cancel:
            del self.subscribed[peer]
            loop = self.sync._loop
            if loop is not None and peer not in self.waiting:
                loop.wake()      # its writes no longer come as hints: Go's cadence

    async def _listen(self, ctx, peer, addr):
        sync = self.sync
        # talk only to a daemon whose blessings may Read a syncgroup it shares with us
        perms = await sync.daemon.worker.call(
            lambda: [p for ds in list(sync.dbs.values()) for p in ds.read_perms(peer)])
        if not perms:
            # no member we know (yet): wait until a syncgroup round tells us it is
            # (bounded: the oldest waiting peer is forgotten)
            if len(self.waiting) >= limits.HINT_WAITING_PEERS:
                self.waiting.pop(next(iter(self.waiting)))
            self.waiting[peer] = addr
            return
        opts = (rpcopts.ServerAuthorizer(PeerAuthorizer(perms)), rpcopts.NoRetry())
        try:
            dev = int(peer, 16)
        except ValueError:
            return
        syncstats.HINT_STREAMS.incr(1)
        why = "ended"
        try:
            call = await ext.HintsClient(f"{addr}/{ext.HintsSuffix}").Subscribe(
                ctx, sync.hex, *opts)
            while True:
                hint = await call.recv()
                self.received += 1
                syncstats.HINTS_IN.incr(1)
                claim = {int(d): int(g) for d, g in dict(hint.Know or {}).items()}
                claim[dev] = max(int(hint.Gen), claim.get(dev, 0))
                sgs = {str(gid): {int(d): int(g) for d, g in dict(gv).items()}
                       for gid, gv in dict(hint.Sgs or {}).items()}
                db_id = Id(hint.Db.Blessing, hint.Db.Name)
                if self._relay_wait:
                    self._spreading(db_id, claim)
                sync.hinted(db_id, peer, addr, claim, sgs,
                            int(hint.Until) if hint.Relay else None)
        except verror.VError as e:
            why = e.id
            if e.id in _NOT_SERVED:
                self.not_served.add(peer)
            elif e.id not in (verror.EOF.id, verror.Canceled.id):
                log.debug("hints from %s ended: %s", peer, e)
        finally:
            syncstats.HINT_STREAMS_ENDED.incr(1)
            syncstats.HINT_STREAM_ERROR.set(why)

    def stop(self):
        for key in list(self._relay_wait):
            self._end_wait(key)
        for s in self.subscribers:
            s.relayed.clear()
        for cancel in list(self.subscribed.values()):
            cancel()
        self.subscribed.clear()
        self.subscribers.clear()


def _relay_of(subscribers, sgs):
    """The relay of a local write among ``subscribers`` (those that may hear about the
    database whose syncgroups are ``sgs``): the one with the least sync id among those
    that are members of, and may Read, every syncgroup (so whatever it pulls from us
    its own subscribers may pull from it), or None (we hint them all).  Ours is the
    relay if it is less.  Every writer of a group whose daemons all hear each other
    picks the same relay."""
    best = None
    for s in subscribers:
        if (best is None or _id_order(s.peer) < _id_order(best.peer)) and _may_relay(s, sgs):
            best = s
    return best


def _may_relay(s, sgs):
    """Whether subscriber ``s`` is a member of, and may Read, every syncgroup ``sgs``."""
    return all(s.peer in e.joiners and access.allowed(e.perms, (READ,), s.names)
               for e in sgs)


_MAX_ID = (1 << 64) - 1


def wider_relay(a, b):
    """Two relays asked of one subscriber as one (None: a plain hint; 0: to all; else
    up to that id): the wider."""
    if a is None or b is None:
        return b if a is None else a
    return 0 if a == 0 or b == 0 else max(a, b)


def _id_order(hex_id):
    try:
        return int(hex_id, 16)
    except ValueError:
        return -1
