"""Finding sync peers in the neighborhood over multicast DNS, with Go Syncbase's advertisements.

Go's Syncbase advertises through v23 discovery (mDNS plugin) under the interface
name of the peer protocol, ``v.io/x/ref/services/syncbase/server/interfaces/Sync``:

* one advertisement per daemon: attribute ``p`` = the daemon's member name (its id in
  lowercase hex), addresses = the daemon's endpoint names;
* one per syncgroup the daemon administers: ``d``/``db`` the database id (name,
  blessing), ``s``/``sb`` the syncgroup id, and, when the spec's Read access lists
  patterns, ``vis`` = those patterns joined with ',' (readers filter on it; Go leaves
  the advertisement unencrypted).

Scanning keeps member name -> addresses (and syncgroup -> admin addresses), which
peer selection consults next to the same-host directory (``$TMPDIR/syncbased-nh``).
The advertisement encodings are pure functions (``syncbase_ad``, ``syncgroup_ad``,
``peer_of``, ``syncgroup_of``); ``Neighborhood`` is the edge.

Set ``V23PY_MDNS=0`` to run without multicast DNS.  When multicast DNS cannot start,
the daemon logs why and keeps using the same-host directory.
"""
from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Dict, List, Optional, Tuple

if TYPE_CHECKING:
    from v23py.discovery import AdInfo, Advertisement


def _discovery():
    """v23py.discovery, imported on first use: mDNS starts after the ENDPOINT= line (not
    at all with --skip-publish-in-nh), and the module with its records cost ~1 % of the
    instructions of a daemon's start."""
    import v23py.discovery
    return v23py.discovery

log = logging.getLogger(__name__)

INTERFACE_NAME = "v.io/x/ref/services/syncbase/server/interfaces/Sync"
ATTR_PEER = "p"
ATTR_SG_NAME = "s"
ATTR_SG_BLESSING = "sb"
ATTR_DB_NAME = "d"
ATTR_DB_BLESSING = "db"
ATTR_VISIBILITY = "vis"


def enabled() -> bool:
    return os.environ.get("V23PY_MDNS", "1").strip().lower() not in ("0", "false", "no", "off")


# --- the advertisements (pure) -----------------------------------------------------------

def syncbase_ad(member: str, addresses: List[str]) -> Advertisement:
    return _discovery().Advertisement(INTERFACE_NAME, sorted(addresses), {ATTR_PEER: member})


def syncgroup_ad(db_id: Tuple[str, str], sg_id: Tuple[str, str], addresses: List[str],
                 read_patterns: List[str] = ()) -> Advertisement:
    """db_id and sg_id are (blessing, name) pairs."""
    attrs = {ATTR_DB_NAME: db_id[1], ATTR_DB_BLESSING: db_id[0],
             ATTR_SG_NAME: sg_id[1], ATTR_SG_BLESSING: sg_id[0]}
    if read_patterns:
        attrs[ATTR_VISIBILITY] = ",".join(read_patterns)
    return _discovery().Advertisement(INTERFACE_NAME, sorted(addresses), attrs)


def peer_of(ad: Advertisement) -> Optional[str]:
    """The member name a daemon's advertisement carries, if it is one."""
    return ad.attributes.get(ATTR_PEER) or None


def syncgroup_of(ad: Advertisement):
    """((db blessing, db name), (sg blessing, sg name), visibility patterns) of a syncgroup
    advertisement, or None."""
    a = ad.attributes
    if ATTR_SG_NAME not in a:
        return None
    vis = [p for p in a.get(ATTR_VISIBILITY, "").split(",") if p]
    return ((a.get(ATTR_DB_BLESSING, ""), a.get(ATTR_DB_NAME, "")),
            (a.get(ATTR_SG_BLESSING, ""), a[ATTR_SG_NAME]), vis)


class PeerTable:
    """What scanning learned, by advertisement id (sans-IO: fed AdInfos)."""

    def __init__(self, own_member: str):
        self.own = own_member
        self._ads: Dict[bytes, AdInfo] = {}

    def update(self, info: AdInfo):
        if info.lost:
            self._ads.pop(info.ad.id, None)
            return
        if info.ad.interface_name != INTERFACE_NAME or peer_of(info.ad) == self.own:
            return
        prev = self._ads.get(info.ad.id)
        if prev is None or prev.timestamp_ns <= info.timestamp_ns:
            self._ads[info.ad.id] = info

    def peers(self) -> Dict[str, str]:
        """member name -> an address (the first in sorted order) of each daemon seen."""
        out = {}
        for info in self._ads.values():
            p = peer_of(info.ad)
            if p and info.ad.addresses:
                out[p] = sorted(info.ad.addresses)[0]
        return out

    def syncgroup_admins(self, db_id, sg_id) -> List[str]:
        out = []
        for info in self._ads.values():
            sg = syncgroup_of(info.ad)
            if sg and sg[0] == tuple(db_id) and sg[1] == tuple(sg_id):
                out.extend(info.ad.addresses)
        return sorted(set(out))


class Neighborhood:
    """This daemon's mDNS presence: its own advertisement and a scan for the others."""

    def __init__(self, reactor, member: str, publish: bool = True, interfaces=None):
        self.reactor = reactor
        self.member = member
        self.publish = publish
        self.interfaces = interfaces
        self.table = PeerTable(member)
        self._mdns = None
        self._ad: Optional[AdInfo] = None
        self._sg_ads: Dict[tuple, AdInfo] = {}
        self._sg_loop = None
        self._sg_failed = False

    def start(self, endpoint: str) -> "Neighborhood":
        """Raises v23py.discovery.neighborhood.NeighborhoodUnavailable when mDNS can't run."""
        from v23py.discovery.neighborhood import MdnsNeighborhood
        self._mdns = MdnsNeighborhood(self.reactor, self.interfaces).start()
        self._mdns.scan(INTERFACE_NAME, self.table.update)
        if self.publish:
            self._ad = _discovery().new_ad_info(syncbase_ad(self.member, [endpoint]))
            self._mdns.advertise(self._ad).addErrback(
                lambda f: log.warning("neighborhood advertisement failed: %s", f.value))
        self.endpoint = endpoint
        return self

    def advertise_syncgroup(self, db_id, sg_id, read_patterns=()):
        """Advertise a syncgroup this daemon administers (replaces an earlier version)."""
        if self._mdns is None or not self.publish:
            return
        key = (tuple(db_id), tuple(sg_id))
        ad = syncgroup_ad(db_id, sg_id, [self.endpoint], list(read_patterns))
        prev = self._sg_ads.get(key)
        if prev is not None:
            if prev.ad.attributes == ad.attributes:
                return
            ad.id = prev.ad.id
        discovery = _discovery()
        try:
            info = self._sg_ads[key] = discovery.new_ad_info(ad)
        except discovery.DiscoveryError as e:
            log.warning("syncgroup %s not advertised: %s", sg_id, e)
            return
        self._mdns.advertise(info).addErrback(
            lambda f: log.warning("syncgroup advertisement failed: %s", f.value))

    def watch_syncgroups(self, source, interval=1.0):
        """Keep the advertisements of syncgroups in step with source(), which returns
        (db id, syncgroup id, Read patterns) of each syncgroup this daemon administers."""
        from twisted.internet import task
        if not self.publish or self._mdns is None:
            return
        self._sg_loop = task.LoopingCall(self._refresh_syncgroups, source)
        self._sg_loop.clock = self.reactor
        self._sg_loop.start(interval, now=True).addErrback(
            lambda f: log.warning("syncgroup advertising stopped: %s", f.value))

    def _refresh_syncgroups(self, source):
        try:
            want = {(tuple(db), tuple(sg)): list(vis) for db, sg, vis in source()}
        except Exception as e:   # never let a bad read stop the loop; say it once
            if not self._sg_failed:
                log.warning("cannot list syncgroups to advertise: %r", e)
                self._sg_failed = True
            return
        for (db, sg), vis in want.items():
            self.advertise_syncgroup(db, sg, vis)
        for key in [k for k in self._sg_ads if k not in want]:
            info = self._sg_ads.pop(key)
            if self._mdns is not None:
                self._mdns.unadvertise(info.ad.id)

    def peers(self) -> Dict[str, str]:
        return self.table.peers()

    def stop(self):
        if self._sg_loop is not None and self._sg_loop.running:
            self._sg_loop.stop()
        m, self._mdns = self._mdns, None
        if m is not None:
            m.stop()


def admin_syncgroups(sync):
    """(db id, syncgroup id, Read "In" patterns) of the syncgroups that the daemon of
    SyncService sync administers (its own blessings have Admin in the spec, as Go checks
    before advertising one); ids as (blessing, name)."""
    from syncbased import access
    out = []
    for db_id, ds in list(sync.dbs.items()):
        for e in list(ds.sgs.values()):
            if sync.own_names is not None and \
                    not access.allowed(e.perms, (access.ADMIN,), sync.own_names):
                continue
            read = e.perms.get(access.READ)
            out.append(((db_id.Blessing, db_id.Name), (e.id.Blessing, e.id.Name),
                        list(read.In) if read is not None else []))
    return out


def start(reactor, member: str, endpoint: str, publish: bool,
          sync=None) -> Optional[Neighborhood]:
    """A running Neighborhood, or None (disabled, or multicast DNS unavailable: logged).
    With sync (the SyncService), the syncgroups it administers are advertised too."""
    if not enabled():
        return None
    from v23py.discovery.neighborhood import NeighborhoodUnavailable
    try:
        n = Neighborhood(reactor, member, publish).start(endpoint)
        if sync is not None:
            n.watch_syncgroups(lambda: admin_syncgroups(sync))
        return n
    except NeighborhoodUnavailable as e:
        log.warning("no mDNS neighborhood (peers found through the same-host directory, "
                    "joins and mount tables only): %s", e)
        return None
