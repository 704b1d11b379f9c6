"""SyncService: the daemon's sync module (syncgroups, peers, the pull loop), by concern
in the mixins it is made of."""
from __future__ import annotations

import json
import os
import random

from twisted.internet import defer

import v23py
from v23py import verror
from v23py.rpc import CLIENT_KEY
from v23py.runtime.client import Client
from syncbased import access, interfaces as I, syncstats
from syncbased.access import READ
from syncbased.vsync import appcr, limits, neighborhood
from syncbased.vsync._log import PEERS, prefix_limit
from syncbased.vsync._nhdir import NH_DIR, NeighborhoodMixin
from syncbased.vsync.dbsync import DbSync
from syncbased.vsync.hints import Hints
from syncbased.vsync.initiator import RoundsMixin
from syncbased.vsync.scheduler import SchedulerMixin, Ticker
from syncbased.vsync.syncgroups import SyncgroupOpsMixin


class SyncService(SyncgroupOpsMixin, RoundsMixin, SchedulerMixin, NeighborhoodMixin):
    """The daemon's sync module: syncgroups, the %%sync object, the pull loop."""

    def __init__(self, daemon, ctx, publish_nh=True, own_names=None):
        self.daemon = daemon
        self.service = daemon.service
        self.ctx = ctx
        self.publish_nh = publish_nh
        self.own_names = own_names
        raw = self.service.st.get(b"y")
        if raw is None:
            self.id = random.getrandbits(64)
            tx = self.service.st.transaction()
            tx.raw_put(b"y", json.dumps({"Id": self.id}).encode())
            tx.commit()
            self.service.flush()
        else:
            self.id = json.loads(raw)["Id"]
        self.hex = "%x" % self.id
        syncstats.ID.set(self.hex)
        self.peers = {}
        # peers we know only by the conn they opened to us: {hex: endpoint name}; not
        # persisted (the address is good only while that conn lives)
        self.conn_peers = {}
        self._client = None
        for k, v in self.service.st.engine.scan(PEERS, prefix_limit(PEERS)):
            self.peers[k[len(PEERS):].decode()] = v.decode()
        self.endpoint = ""
        self.dbs = {}
        for d in list(self.service.dbs.values()):
            self._open(d)
        self.service.db_open_hooks.append(self._open)
        self._inflight = set()
        self._ticks = 0          # ticks so far (the unit of a failing peer's backoff)
        self._fails = {}         # (db id, peer hex) -> failed rounds in a row (capped)
        self._skip_until = {}    # (db id, peer hex) -> tick before which it is not picked
        self._retry_at = {}      # (db id, peer hex) -> time before which no hinted retry
        self._hinted = set()     # (db id, peer hex) of the hinted rounds running
        self._hint_queue = {}    # (db id, peer hex) -> (address, claim): hints waiting
        # (db id, peer hex) whose writes we are to relay -> to whom (a hint's Until)
        self._relay_keys = {}
        # db id -> (writers whose writes we hold, to whom): relays to make once idle
        self._relay_due = {}
        self._hinted_pull = -1e9   # when the tick last pulled a hinting peer
        self._hinting_data = -1e9  # when a data round with a hinting peer last succeeded
        self._view = None        # (when, [(db id, members, mount tables)]) read last
        self._last_sg = {}
        self._last_time = {}
        self._peer_names = {}    # peer hex -> the blessing names it presented last round
        self._authorizers = {}   # (db id, peer hex) -> PeerAuthorizer of its rounds (initiator)
        self._loop = None
        self._picked = None      # (member, when): the peer the last tick picked
        self._last_ad = -1e9
        self._ads = set()        # gids whose admin ad we wrote
        self._mt_pub = None
        self._mt_names = set()
        self._mdns = None       # the mDNS neighborhood (neighborhood.py), once started
        self._mdns_start = None   # its pending start (a DelayedCall), until it ran
        self.cr = appcr.Streams()  # the apps' conflict resolution streams (StartConflictResolver)
        self._addr = {}          # (db id, peer hex) -> the address its last round used
        self.hints = Hints(self)  # write-triggered rounds between v23py daemons

    def _open(self, d):
        try:
            self.dbs[d.id] = DbSync(self, d)
        except Exception as e:    # (a store too damaged to read its sync state)
            if d.st is None or d.id not in self.service.dbs:
                raise
            self.service.mark_broken(d.id, e if isinstance(e, verror.VError) else
                                     verror.Internal.new(
                                         f"database {d.id.Blessing},{d.id.Name}: its sync "
                                         f"state cannot be read ({e})"))

    def dbsync(self, db_id):
        ds = self.dbs.get(db_id)
        if ds is None or ds.db is not self.service.dbs.get(db_id):
            d = self.service.dbs.get(db_id)
            if d is None:
                raise verror.NoExist.new(f"database {db_id} does not exist")
            ds = self.dbs[db_id] = DbSync(self, d)
        return ds

    def reads_any_syncgroup(self, names):
        """Whether ``names`` may Read some syncgroup here: what a peer must be for the
        %%sync methods that name no syncgroup (store thread)."""
        return any(access.allowed(e.perms, (READ,), names)
                   for ds in list(self.dbs.values()) for e in ds.sgs.values())

    # --- addresses ---
    def learn_conn_peer(self, hex_name, call):
        """A peer that called us: remember the endpoint of its conn (dialing it by
        routing id reuses that conn) when we know no other address for it."""
        if (not limits.CONN_PEERS or not hex_name or hex_name == self.hex
                or hex_name in self.peers):
            return
        rep = getattr(call, "remote_endpoint", None)
        if rep is None or rep.routing_id.is_null():
            return
        self.conn_peers[hex_name] = rep.name()

    def with_client(self, ctx):
        """``ctx`` whose RPCs go through our server's flow manager (see ``start``)."""
        if self._client is None:
            return ctx
        return ctx.with_value(CLIENT_KEY, self._client)

    def learn_peers(self, book):
        changed = {}
        for h, addr in book.items():
            if h != self.hex and addr and self.peers.get(h) != addr:
                self.peers[h] = addr
                changed[h] = addr
        if changed:
            tx = self.service.st.transaction()
            for h, addr in changed.items():
                tx.raw_put(PEERS + h.encode(), addr.encode())
            tx.commit()

    def start(self, endpoint, server=None):
        self.endpoint = endpoint
        if server is not None and getattr(server, "flow_manager", None) is not None:
            # Our sync RPCs go out through the server's flow manager (as Go's
            # WithNewServer context does): peers can then call us back over the conns
            # we open, even when they know no address of ours.
            rt = v23py.get_runtime(self.ctx)
            self._client = Client(None, rt.principal, server.flow_manager, rt.namespace_roots)
            self._client.namespace_provider = lambda: rt.namespace
            self.ctx = self.ctx.with_value(CLIENT_KEY, self._client)
        if self.publish_nh:
            try:
                os.makedirs(NH_DIR, exist_ok=True)
                tmp = os.path.join(NH_DIR, f".{self.hex}.tmp")
                with open(tmp, "w") as f:
                    f.write(endpoint)
                os.replace(tmp, os.path.join(NH_DIR, self.hex))
            except OSError:
                pass
        # mDNS (zeroconf's import, sockets and thread) starts on the reactor's next turn:
        # after the ENDPOINT= line, which does not wait for the neighborhood
        self._mdns_start = self.daemon.reactor.callLater(0, self._start_mdns, endpoint)
        self._loop = Ticker(self.daemon.reactor, self._tick)
        self._loop.start(limits.TICK)
        # syncgroups created here and not yet published: try again
        for db_id, ds in list(self.dbs.items()):
            for gid, e in list(ds.sgs.items()):
                if (e.sg.Spec.PublishSyncbaseName and e.sg.Creator == self.hex
                        and e.sg.Status == I.SyncgroupStatus.PublishPending):
                    self._publish_later(db_id, gid, 0)

    def _start_mdns(self, endpoint):
        self._mdns_start = None
        self._mdns = neighborhood.start(self.daemon.reactor, self.hex, endpoint, self.publish_nh,
                                        sync=self)

    def stop(self):
        if self._mdns_start is not None and self._mdns_start.active():
            self._mdns_start.cancel()
        self._mdns_start = None
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self.hints.stop()
        if self._mt_pub is not None:
            defer.ensureDeferred(self._mt_pub.stop(timeout=1.0)).addErrback(lambda f: None)
        if self._mdns is not None:
            self._mdns.stop()
            self._mdns = None
        if self.publish_nh:
            try:
                p = os.path.join(NH_DIR, self.hex)
                with open(p) as f:
                    if f.read() == self.endpoint:
                        os.unlink(p)
            except OSError:
                pass
            for gid in list(self._ads):
                self._unadvertise(gid)
