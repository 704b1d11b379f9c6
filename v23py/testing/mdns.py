"""Multicast DNS probing for tests (containers can lack multicast).

The probe uses the zeroconf package alone, not our mDNS code: a bug of ours must
fail the tests that use it, never turn them into skips."""
import uuid

from twisted.internet import defer, reactor

from v23py.testing import unavailable


def sleep(s):
    d = defer.Deferred()
    reactor.callLater(s, d.callback, None)
    return d


_MULTICAST = {}


def _probe_multicast():
    """(True, "") when one zeroconf instance of this process sees the service another
    registers, over the machine's multicast DNS; (False, why) otherwise."""
    import socket
    try:
        import zeroconf
        a = zeroconf.Zeroconf(ip_version=zeroconf.IPVersion.V4Only)
    except Exception as e:
        return False, f"multicast DNS cannot start here (zeroconf): {e}"
    try:
        b = zeroconf.Zeroconf(ip_version=zeroconf.IPVersion.V4Only)
    except Exception as e:
        a.close()
        return False, f"multicast DNS cannot start here (zeroconf): {e}"
    try:
        typ = "_v23pyprobe._tcp.local."
        name = f"p{uuid.uuid4().hex[:20]}.{typ}"
        a.register_service(zeroconf.ServiceInfo(
            typ, name, port=9, properties={b"probe": b"1"}, server="v23pyprobe.local.",
            addresses=[socket.inet_aton("127.0.0.1")]), cooperating_responders=True, strict=False)
        got = b.get_service_info(typ, name, timeout=5000)
        if got is None or got.properties.get(b"probe") != b"1":
            return False, ("multicast DNS does not deliver here: a service registered with "
                           "the zeroconf package was not seen by another zeroconf instance of "
                           "this process within 5 s")
        return True, ""
    finally:
        a.close()
        b.close()


async def multicast_works():
    """(True, "") when multicast DNS works on this machine, else (False, why)."""
    if "ok" not in _MULTICAST:
        from twisted.internet import threads
        _MULTICAST["ok"] = await threads.deferToThread(_probe_multicast)
    return _MULTICAST["ok"]


async def require_multicast():
    """Multicast DNS must work: `unavailable` (a failure in CI) when it does not."""
    ok, why = await multicast_works()
    if not ok:
        unavailable(why)
