"""A fake NTP server on 127.0.0.1 for virtual-clock tests (nothing leaves the machine):
it answers every request with its own time, ``base`` at start and running at real
speed since (as Go's fake_ntp_server).

The reply is built here, apart from the daemon's NTP client (syncbased.vclock), so the
client's parser is tested against a second reading of RFC 5905."""
import struct
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
        self.requests += 1
        t = self.now()
        try:
            reply = ntp_reply(data, t, t)
            self.transport.write(reply[:20] if self.broken else reply, addr)
        except ValueError:
            pass


_SECONDS_1900_TO_1970 = 2208988800


def ntp_timestamp(unix_ns: int) -> bytes:
    """RFC 5905's 64-bit timestamp: seconds since 1900 and a 32-bit binary fraction."""
    sec, ns = divmod(unix_ns, 1_000_000_000)
    return struct.pack(">II", (sec + _SECONDS_1900_TO_1970) & 0xFFFFFFFF,
                       (ns << 32) // 1_000_000_000)


def ntp_reply(request: bytes, recv: int, send: int) -> bytes:
    """A server-mode (4) NTPv4 reply to ``request``: the request's transmit time as the
    originate time, then ``recv`` and ``send`` (Unix ns)."""
    if len(request) < 48:
        raise ValueError(f"NTP request of {len(request)} bytes (want 48)")
    return b"\x24" + bytes(23) + request[40:48] + ntp_timestamp(recv) + ntp_timestamp(send)


def start_fake_ntp(reactor, base_ns: int, broken=False):
    """(``"127.0.0.1:port"``, server, listening port); stop with ``port.stopListening()``."""
    server = FakeNtpServer(base_ns, broken)
    port = reactor.listenUDP(0, server, interface="127.0.0.1")
    return f"127.0.0.1:{port.getHost().port}", server, port
