"""Syncgroup invites, Syncbase peers and app peers in the neighborhood (Go's
``x/ref/services/syncbase/discovery`` for applications), over multicast DNS with
Go's v23 discovery advertisements.

    async for invite in syncbase.listen_for_invites(ctx, db.id()):
        await db.syncgroup_for_id(invite.syncgroup).join(ctx, invite.addresses[0], None, info)

* ``listen_for_invites(ctx, db_id)``: the syncgroups of that database whose admin
  daemons advertise them (every syncgroup a daemon administers is advertised,
  ``--skip-publish-in-nh`` aside) and whose Read access list admits us;
* ``listen_for_peers(ctx)``: Syncbase daemons, found and lost (``Peer.lost``);
* ``advertise_app(ctx, visibility)`` / ``listen_for_app_peers(ctx)``: this app and user
  (from our blessings) running here, and the others found near us.

Each function and field also answers to its Go name (``ListenForInvites``,
``invite.Syncgroup``): deprecated aliases, each use warns.

Each listener first gets what is already known, then what comes; it ends when its
context is cancelled or ``cancel()`` is called.  Visibility is checked on our side,
as Go does: an advertisement naming patterns (``vis``) none of our blessing names
match is ignored.  One scan serves every listener of the process.

Go fills ``Invite.BlessingNames`` with nothing (a reversed error check); here it
holds the blessing names in the advertised endpoints.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Iterable, List, Optional, Sequence, Union

from twisted.internet import defer

from v23py import naming
from v23py.discovery import Advertisement, new_ad_info
from v23py.discovery.neighborhood import MdnsNeighborhood
from v23py.records import NamedTuple
from v23py.syncbase._common import _go_camel, _principal_names, go_alias, go_property
from v23py.security import BlessingPattern
from v23py.syncbase.util import (
    Id, app_and_user_pattern_from_blessings, parse_blessing_names)
from v23py.v23.services import syncbase as sbwire
from v23py.deferred import AwaitableDeferred, adopt

if TYPE_CHECKING:
    from v23py.context import Context

_Item = Union["Invite", "Peer", "AppPeer"]

INTERFACE_NAME = "v.io/x/ref/services/syncbase/server/interfaces/Sync"
ATTR_PEER, ATTR_SG_NAME, ATTR_SG_BLESSING = (
    sbwire.DiscoveryAttrPeer, sbwire.DiscoveryAttrSyncgroupName,
    sbwire.DiscoveryAttrSyncgroupBlessing)
ATTR_DB_NAME, ATTR_DB_BLESSING = sbwire.DiscoveryAttrDatabaseName, sbwire.DiscoveryAttrDatabaseBlessing
ATTR_VISIBILITY, ATTR_APP, ATTR_BLESSINGS = "vis", "appName", "blessings"


class Invite(NamedTuple):
    """A syncgroup advertised near us: join it through one of ``addresses``."""
    syncgroup: Id
    addresses: List[str]
    blessing_names: List[str]
    lost: bool = False


def _go_names(cls: Any) -> None:
    # each field also answers to its Go name (``syncgroup`` -> ``Syncgroup``)
    for f in cls._fields:
        setattr(cls, _go_camel(f), go_property(f, _go_camel(f)))


_go_names(Invite)


class Peer(NamedTuple):
    """A Syncbase daemon near us (``lost``: it went away)."""
    name: str
    addresses: List[str]
    lost: bool = False


_go_names(Peer)


class AppPeer(NamedTuple):
    """Another instance of this app near us (``lost``: it went away)."""
    app_name: str
    blessings: str
    lost: bool = False


_go_names(AppPeer)


# --- advertisements -> items (pure) -----------------------------------------------------

def _endpoint_blessings(addresses: Iterable[str]) -> List[str]:
    names: set[str] = set()
    for a in addresses:
        try:
            ep = naming.parse_endpoint(  # type: ignore[attr-defined]
                naming.split_address_name(a)[0])  # type: ignore[attr-defined]
        except Exception:
            continue
        names.update(getattr(ep, "blessing_names", None) or ())
    return sorted(names)


def invite_of(attrs: Dict[str, str], addresses: Iterable[str]) -> Optional[tuple[Id, Invite]]:
    """(database Id, Invite) of a syncgroup advertisement, or None."""
    try:
        db = Id(attrs[ATTR_DB_BLESSING], attrs[ATTR_DB_NAME])
        sg = Id(attrs[ATTR_SG_BLESSING], attrs[ATTR_SG_NAME])
    except KeyError:
        return None
    addrs = sorted(addresses)
    return db, Invite(sg, addrs, _endpoint_blessings(addrs))


def peer_of(attrs: Dict[str, str], addresses: Iterable[str]) -> Optional[Peer]:
    name = attrs.get(ATTR_PEER)
    return None if name is None else Peer(name, sorted(addresses))


def app_peer_of(attrs: Dict[str, str], addresses: Iterable[str]) -> Optional[AppPeer]:
    if ATTR_APP not in attrs or ATTR_BLESSINGS not in attrs:
        return None
    return AppPeer(attrs[ATTR_APP], attrs[ATTR_BLESSINGS])


def visible(attrs: Dict[str, str], names: Sequence[str]) -> bool:
    pats = [p for p in attrs.get(ATTR_VISIBILITY, "").split(",") if p]
    return not pats or any(BlessingPattern(p).matched_by(names) for p in pats)


def _key(item: _Item) -> tuple[Any, ...]:
    return tuple(tuple(x) if isinstance(x, list) else x for x in item._replace(lost=False))


# --- listeners ---------------------------------------------------------------------------

class Listener:
    """An async iterator of items; ``cancel()`` (or the context's end) stops it."""

    def __init__(self, ctx: Optional[Context], scan: _Scan, topic: tuple[Any, ...],
                 lost_too: bool) -> None:
        self._scan = scan
        self._topic = topic
        self._lost_too = lost_too
        self._items: list[Any] = []
        self._waiter: Optional[defer.Deferred[Any]] = None
        self._done = False
        self._ctx = ctx
        self._unhook = ctx.on_done(self.cancel) if ctx is not None else None

    def _offer(self, item: _Item) -> None:
        if self._done or (item.lost and not self._lost_too):
            return
        if self._waiter is not None:
            w, self._waiter = self._waiter, None
            w.callback(item)
        else:
            self._items.append(item)

    def cancel(self, *_: Any) -> None:
        """Stop listening (an ``async for`` over it ends)."""
        if self._done:
            return
        self._done = True
        self._scan.remove(self._topic, self)
        if self._unhook is not None:
            self._unhook()
        if self._waiter is not None:
            w, self._waiter = self._waiter, None
            w.errback(StopAsyncIteration())

    def __aiter__(self) -> Listener:
        return self

    def __anext__(self) -> AwaitableDeferred[Any]:
        # run by Twisted whoever iterates, so that asyncio tasks may ``async for`` too
        return adopt(defer.ensureDeferred(self._anext()))

    async def _anext(self) -> Any:
        if self._items:
            return self._items.pop(0)
        if self._done or (self._ctx is not None and self._ctx.cancelled()):
            self.cancel()
            raise StopAsyncIteration
        d: defer.Deferred[Any] = defer.Deferred()
        self._waiter = d
        return await d

    def next(self, timeout: Optional[float] = None) -> AwaitableDeferred[Any]:
        """A Deferred of the next item (errback StopAsyncIteration once cancelled)."""
        return self.__anext__()


class _Scan:
    """The one neighborhood scan of this process: what is known per topic, and the
    listeners of each topic.  Topics: ("invites", db Id), ("peers",), ("apps", app)."""

    def __init__(self, reactor: Any, names: list[str]) -> None:
        self.reactor = reactor
        self.names = names
        self.known: Dict[tuple[Any, ...], Dict[tuple[Any, ...], Any]] = {}
        self.listeners: Dict[tuple[Any, ...], list[Listener]] = {}
        self.ads: Dict[bytes, tuple[Any, Any]] = {}          # ad id -> (topic, item)
        self.nh: Any = None

    def start(self) -> _Scan:
        nh: Any = MdnsNeighborhood(self.reactor)  # type: ignore[no-untyped-call]
        self.nh = nh.start()
        self.nh.scan(INTERFACE_NAME, self._update)
        return self

    def stop(self) -> None:
        nh, self.nh = self.nh, None
        if nh is not None:
            self.reactor.callInThread(nh.stop)

    def _classify(self, ad: Any) -> Optional[tuple[tuple[Any, ...], _Item]]:
        attrs, addrs = ad.attributes, ad.addresses
        if not visible(attrs, self.names):
            return None
        inv = invite_of(attrs, addrs)
        if inv is not None:
            return ("invites", inv[0]), inv[1]
        p = peer_of(attrs, addrs)
        if p is not None:
            return ("peers",), p
        a = app_peer_of(attrs, addrs)
        if a is not None:
            return ("apps", a.app_name), a
        return None

    def _update(self, info: Any) -> None:
        prev = self.ads.pop(info.ad.id, None)
        if prev is not None:
            self._lose(*prev)
        if info.lost:
            return
        got = self._classify(info.ad)
        if got is None:
            return
        topic, item = got
        self.ads[info.ad.id] = (topic, item)
        known = self.known.setdefault(topic, {})
        k = _key(item)
        if k in known:
            return
        known[k] = item
        for lst in list(self.listeners.get(topic, ())):
            lst._offer(item)

    def _lose(self, topic: tuple[Any, ...], item: _Item) -> None:
        known = self.known.get(topic, {})
        if known.pop(_key(item), None) is None:
            return
        lost = item._replace(lost=True)
        for lst in list(self.listeners.get(topic, ())):
            lst._offer(lost)

    def add(self, topic: tuple[Any, ...], lst: Listener) -> None:
        self.listeners.setdefault(topic, []).append(lst)
        for item in self.known.get(topic, {}).values():
            lst._offer(item)

    def remove(self, topic: tuple[Any, ...], lst: Listener) -> None:
        ls = self.listeners.get(topic, [])
        if lst in ls:
            ls.remove(lst)


_scans: Dict[object, _Scan] = {}


def _scan_for(ctx: Context) -> _Scan:
    from twisted.internet import reactor    # the default reactor, when it runs
    names = tuple(_principal_names(ctx))
    s = _scans.get(names)
    if s is None or s.nh is None:
        s = _scans[names] = _Scan(reactor, list(names)).start()
    return s


def stop_all() -> None:
    """Stop the neighborhood scans (tests, or before the process ends)."""
    for s in list(_scans.values()):
        s.stop()
    _scans.clear()


def _listen(ctx: Context, topic: tuple[Any, ...], lost_too: bool) -> Listener:
    scan = _scan_for(ctx)
    lst = Listener(ctx, scan, topic, lost_too)
    scan.add(topic, lst)
    return lst


def listen_for_invites(ctx: Context, db_id: Union[Id, Sequence[str]]) -> Listener:
    """Invites to the syncgroups of database ``db_id`` (never lost ones)."""
    return _listen(ctx, ("invites", Id(*db_id)), lost_too=False)


def listen_for_peers(ctx: Context) -> Listener:
    """Syncbase daemons in the neighborhood, found and lost."""
    return _listen(ctx, ("peers",), lost_too=True)


def _user_and_app(ctx: Context) -> tuple[str, str]:
    _, user = app_and_user_pattern_from_blessings(*_principal_names(ctx))
    parsed = parse_blessing_names(user)
    app = parsed[0].app if parsed else ""
    if not app:
        raise ValueError("context's user blessing did not specify an application")
    return user, app


def listen_for_app_peers(ctx: Context) -> Listener:
    """Others running this app (as our blessings name it), found and lost."""
    _, app = _user_and_app(ctx)
    return _listen(ctx, ("apps", app), lost_too=True)


class _AppAd:
    def __init__(self, nh: Any, ad_id: bytes) -> None:
        self.nh = nh
        self.ad_id = ad_id

    def stop(self) -> AwaitableDeferred[Any]:
        """Withdraw the advertisement (a Deferred)."""
        nh = self.nh

        def close(result: Any) -> Any:
            nh.reactor.callInThread(nh.stop)
            return result
        return adopt(nh.unadvertise(self.ad_id).addBoth(close))


def advertise_app(ctx: Context, visibility: Iterable[str] = ()) -> AwaitableDeferred[_AppAd]:
    """Advertise that this app runs here for this user; a Deferred firing with a handle
    whose ``stop()`` withdraws it."""
    from twisted.internet import reactor    # the default reactor, when it runs
    user, app = _user_and_app(ctx)
    attrs = {ATTR_APP: app, ATTR_BLESSINGS: user}
    visibility = list(visibility)
    if visibility:
        attrs[ATTR_VISIBILITY] = ",".join(visibility)
    info: Any = new_ad_info(Advertisement(INTERFACE_NAME, [""], attrs))
    nh: Any = MdnsNeighborhood(reactor).start()  # type: ignore[no-untyped-call]
    d: AwaitableDeferred[Any] = adopt(nh.advertise(info))
    d.addCallback(lambda _: _AppAd(nh, info.ad.id))
    return d


# Go's names (deprecated)
ListenForInvites = go_alias(listen_for_invites, "ListenForInvites")
ListenForPeers = go_alias(listen_for_peers, "ListenForPeers")
ListenForAppPeers = go_alias(listen_for_app_peers, "ListenForAppPeers")
AdvertiseApp = go_alias(advertise_app, "AdvertiseApp")
