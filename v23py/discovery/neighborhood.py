"""Advertising and scanning in the neighborhood over multicast DNS (the ``zeroconf`` package).

``MdnsNeighborhood`` publishes ``AdInfo`` s with the names and TXT strings of
``v23py.discovery.mdns`` (Go's mDNS plugin layout) and scans for the
advertisements of one interface.  zeroconf runs its own thread and event loop;
results are handed to the Twisted reactor with ``callFromThread``.

``start()`` raises ``NeighborhoodUnavailable`` when multicast DNS cannot run here
(zeroconf missing, no multicast-capable interface, port 5353 refused); callers
then fall back to another way of finding peers.
"""
from __future__ import annotations

import asyncio
import logging
import threading
from typing import Callable, Dict

from v23py.discovery import AdInfo, DiscoveryError
from v23py.discovery import mdns as enc

log = logging.getLogger(__name__)

TTL = 120            # seconds, for every record (Go's mDNS library uses 120 for all)
_TYPE_TXT = 16
_CLASS_IN = 1


class NeighborhoodUnavailable(RuntimeError):
    """Multicast DNS cannot run on this machine."""


class MdnsNeighborhood:
    def __init__(self, reactor=None, interfaces=None):
        if reactor is None:
            from twisted.internet import reactor
        self.reactor = reactor
        self.interfaces = interfaces
        self.zc = None
        self._ads: Dict[bytes, list] = {}
        self._browsers = []
        self._lock = threading.Lock()

    def start(self):
        try:
            import zeroconf
        except ImportError as e:
            raise NeighborhoodUnavailable(f"the zeroconf package is not installed: {e}")
        kw = {"ip_version": zeroconf.IPVersion.V4Only}
        if self.interfaces is not None:
            kw["interfaces"] = self.interfaces
        try:
            self.zc = zeroconf.Zeroconf(**kw)
        except (OSError, ValueError, RuntimeError) as e:
            raise NeighborhoodUnavailable(f"multicast DNS cannot start: {e}") from None
        return self

    def stop(self):
        """Goodbyes for our advertisements, then close (blocks up to about a second)."""
        zc, self.zc = self.zc, None
        if zc is None:
            return
        for b in self._browsers:
            try:
                b.cancel()
            except Exception:
                pass
        self._browsers = []
        try:
            zc.close()
        except Exception as e:
            log.debug("zeroconf close: %s", e)

    # --- advertising ---
    def advertise(self, info: AdInfo):
        """Publish info under both of its names (replacing an earlier version with its id);
        returns a Deferred that fires once zeroconf took it."""
        from zeroconf import ServiceInfo
        from twisted.internet import defer
        rdata = enc.txt_rdata(enc.encode_txt(info))
        infos = [ServiceInfo(t, name, port=0, properties=rdata,
                             server=enc.host_name(info.ad.id), host_ttl=TTL, other_ttl=TTL)
                 for t, name in enc.instance_names(info)]
        zc = self.zc
        if zc is None:
            return defer.fail(NeighborhoodUnavailable("not started"))
        old = self._ads.pop(info.ad.id, None)
        self._ads[info.ad.id] = infos

        async def run():
            for si in old or ():
                await zc.async_unregister_service(si)
            for si in infos:
                await zc.async_register_service(si, allow_name_change=False,
                                                cooperating_responders=True, strict=False)
        return self._on_loop(run())

    def unadvertise(self, ad_id: bytes):
        from twisted.internet import defer
        infos = self._ads.pop(ad_id, None)
        zc = self.zc
        if not infos or zc is None:
            return defer.succeed(None)

        async def run():
            for si in infos:
                await zc.async_unregister_service(si)
        return self._on_loop(run())

    def _on_loop(self, coro):
        from twisted.internet import defer
        d = defer.Deferred()
        fut = asyncio.run_coroutine_threadsafe(coro, self.zc.loop)

        def done(f):
            e = f.exception()
            if e is None:
                self.reactor.callFromThread(d.callback, None)
            else:
                self.reactor.callFromThread(d.errback, e)
        fut.add_done_callback(done)
        return d

    # --- scanning ---
    def scan(self, interface_name: str, on_update: Callable[[AdInfo], None]):
        """Call on_update (in the reactor thread) with each advertisement of interface_name
        (of every interface when it is empty) found, changed or lost (``info.lost``) in the
        neighborhood."""
        from zeroconf import ServiceBrowser, ServiceStateChange
        zc = self.zc
        if zc is None:
            raise NeighborhoodUnavailable("not started")
        type_ = enc.service_type(interface_name) if interface_name else enc.V23_SERVICE

        def handler(zeroconf, service_type, name, state_change):
            label = enc.label_of(name)
            try:
                if state_change is ServiceStateChange.Removed:
                    info = enc.decode_txt(label, [])
                else:
                    txts = self._txt(zc, service_type, name)
                    if txts is None:
                        return
                    info = enc.decode_txt(label, txts)
                    if interface_name and info.ad.interface_name != interface_name:
                        return
            except DiscoveryError as e:
                log.info("ignoring a malformed advertisement %s: %s", name, e)
                return
            self.reactor.callFromThread(on_update, info)

        b = ServiceBrowser(zc, [type_], handlers=[handler])
        self._browsers.append(b)
        return b

    @staticmethod
    def _txt(zc, type_, name):
        """The TXT strings of instance name: from the cache, else asked for (this runs in
        the browser's own thread, where waiting is allowed)."""
        def cached():
            recs = zc.cache.get_all_by_details(name, _TYPE_TXT, _CLASS_IN)
            live = [r for r in recs if getattr(r, "ttl", 1) > 0]
            return enc.parse_txt_rdata(live[-1].text) if live else None
        txts = cached()
        if txts is None:
            from zeroconf import ServiceInfo
            ServiceInfo(type_, name).request(zc, 1500)
            txts = cached()
        return txts
