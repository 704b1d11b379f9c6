"""A fake NTP server on 127.0.0.1 for virtual-clock tests (nothing leaves the machine):
it answers every request with its own time, ``base`` at start and running at real
speed since (as Go's fake_ntp_server)."""
import time

from twisted.internet import protocol


class FakeNtpServer(protocol.DatagramProtocol):
    def __init__(self, base_ns: int, broken=False):
        self.broken = broken          # answer with a truncated packet
        self.base = base_ns
        self.start = time.monotonic_ns()
        self.requests = 0

    def now(self) -> int:
        return self.base + (time.monotonic_ns() - self.start)

    def datagramReceived(self, data, addr):
        from syncbased.vclock import ntp_reply
        self.requests += 1
        t = self.now()
        try:
            reply = ntp_reply(data, t, t)
            self.transport.write(reply[:20] if self.broken else reply, addr)
        except ValueError:
            pass


def start_fake_ntp(reactor, base_ns: int, broken=False):
    """(``"127.0.0.1:port"``, server, listening port); stop with ``port.stopListening()``."""
    server = FakeNtpServer(base_ns, broken)
    port = reactor.listenUDP(0, server, interface="127.0.0.1")
    return f"127.0.0.1:{port.getHost().port}", server, port
