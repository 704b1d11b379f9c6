"""The virtual clock's Twisted edge (Go's VClockD and NTP source): a local update
every second, an NTP sync at start and every hour (none when the host is empty, as
under ``--dev`` unless DevModeUpdateVClock names one), NTP over UDP.

``run(fn)`` runs ``fn`` where the clock's data may be written (the daemon's store
worker) and returns a Deferred of its result.
"""
from __future__ import annotations

from twisted.internet import defer, protocol, task

from syncbased import vclock as V


class NtpError(Exception):
    pass


class _Reply(protocol.DatagramProtocol):
    def __init__(self):
        self.got = defer.Deferred()

    def datagramReceived(self, data, addr):
        if not self.got.called:
            self.got.callback(data)

    def connectionRefused(self):
        # the port is closed (ICMP): fail now, as Go's connected UDP socket does
        if not self.got.called:
            self.got.errback(NtpError("NTP server refused the connection"))


def _split_host(host: str):
    h, sep, port = host.rpartition(":")
    if not sep:
        return host, 123
    return h.strip("[]"), int(port)


async def ntp_sample(reactor, host: str, clock: V.VClock, timeout=V.NTP_TIMEOUT):
    """One NTP exchange with ``host`` (``name:port``) timed by ``clock``'s system clock."""
    name, port = _split_host(host)
    ip = await reactor.resolve(name)
    proto = _Reply()
    listener = reactor.listenUDP(0, proto, interface="0.0.0.0" if ":" not in ip else "::")
    try:
        proto.transport.connect(ip, port)
        orig_now, orig_elapsed = clock.sys_vals()
        proto.transport.write(V.ntp_request(orig_now))
        timer = reactor.callLater(timeout, lambda: proto.got.called or proto.got.errback(
            NtpError(f"no reply from NTP server {host}")))
        try:
            reply = await proto.got
        finally:
            if timer.active():
                timer.cancel()
        recv_now, _ = clock.sys_vals_if_not_changed(orig_now, orig_elapsed)
        return V.ntp_sample(reply, recv_now)
    finally:
        await defer.maybeDeferred(listener.stopListening)


async def ntp_sync(reactor, host: str, clock: V.VClock, samples=V.NTP_SAMPLES, timeout=V.NTP_TIMEOUT):
    """The sample with the smallest delay out of ``samples`` exchanges (Go's NtpSync)."""
    if not host:
        raise NtpError("vclock: NtpSync: no NTP server")
    best = None
    for _ in range(samples):
        try:
            s = await ntp_sample(reactor, host, clock, timeout)
        except Exception:
            continue
        if best is None or s.delay < best.delay:
            best = s
    if best is None:
        raise NtpError(f"vclock: NtpSync: failed to get sample from NTP server: {host}")
    return best


class VClockD:
    def __init__(self, reactor, clock: V.VClock, ntp_host: str, run=None):
        self.reactor = reactor
        self.clock = clock
        self.ntp_host = ntp_host
        self.run = run or (lambda fn: defer.maybeDeferred(fn))
        self._loop = None
        self._ticks = 0
        self._ntp_busy = None

    def start(self):
        self._loop = task.LoopingCall(self._tick)
        self._loop.clock = self.reactor
        self._loop.start(V.LOCAL_INTERVAL, now=True).addErrback(lambda f: None)
        return self

    def stop(self):
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self._loop = None

    def _tick(self):
        d = self.do_local_update()
        d.addErrback(lambda f: None)
        if self._ticks == 0 and self.ntp_host and self._ntp_busy is None:
            self._ntp_busy = self.do_ntp_update()
            self._ntp_busy.addBoth(self._ntp_done)
        self._ticks = (self._ticks + 1) % int(V.NTP_INTERVAL / V.LOCAL_INTERVAL)
        return None

    def _ntp_done(self, result):
        self._ntp_busy = None
        return None

    def inject_ntp_host(self, host: str) -> None:
        self.ntp_host = host

    def do_local_update(self):
        return self.run(self.clock.local_update)

    def do_ntp_update(self, samples=V.NTP_SAMPLES):
        """Sync with the NTP host now (a Deferred failing when NTP gives no sample)."""
        async def go():
            sample = await ntp_sync(self.reactor, self.ntp_host, self.clock, samples)
            return await self.run(lambda: self.clock.ntp_update(sample))
        return defer.ensureDeferred(go())
