"""Multicast DNS probing for tests (containers can lack multicast)."""
import uuid

from twisted.internet import defer, reactor
from twisted.trial import unittest

from v23py import discovery as disc


def sleep(s):
    d = defer.Deferred()
    reactor.callLater(s, d.callback, None)
    return d


_MULTICAST = {}


async def multicast_works():
    """(True, "") when two zeroconf instances in this process see each other's
    advertisement; (False, why) otherwise (containers can lack multicast)."""
    if "ok" in _MULTICAST:
        return _MULTICAST["ok"]
    from v23py.discovery.neighborhood import MdnsNeighborhood, NeighborhoodUnavailable
    try:
        a = MdnsNeighborhood(reactor).start()
        b = MdnsNeighborhood(reactor).start()
    except NeighborhoodUnavailable as e:
        _MULTICAST["ok"] = (False, str(e))
        return _MULTICAST["ok"]
    try:
        iface = "v23py/probe/" + uuid.uuid4().hex
        seen = []
        b.scan(iface, seen.append)
        await a.advertise(disc.new_ad_info(disc.Advertisement(iface, ["/probe"])))
        for _ in range(60):
            if seen:
                break
            await sleep(0.05)
        _MULTICAST["ok"] = (True, "") if seen else (
            False, "multicast DNS does not deliver here: an advertisement was not seen by "
            "another zeroconf instance on this machine within 3 s")
    finally:
        a.stop()
        b.stop()
    return _MULTICAST["ok"]


async def require_multicast():
    ok, why = await multicast_works()
    if not ok:
        raise unittest.SkipTest(why)
