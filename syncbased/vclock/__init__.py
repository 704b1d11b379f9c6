"""The Syncbase virtual clock (Go's ``x/ref/services/syncbase/vclock``), sans-IO.

Every commit timestamp, and so every last-writer-wins decision, comes from
``VClock.now()``: the system clock plus a *skew*, our estimate of true time minus
system time.  The skew is learned from

* NTP (``ntp_request``/``ntp_sample``; the daemon samples ``NTP_SAMPLES`` times and
  keeps the sample with the smallest round trip): adopted when it moves the clock
  by more than ``NTP_SKEW_DELTA``;
* peers, through the ``GetTime`` exchange of every sync round (``peer_update``):
  adopted only from a peer whose time came from NTP more recently than ours, at
  most ``MAX_HOPS`` hops from that NTP sync, off by at least ``PEER_SKEW_THRESHOLD``,
  and (if it rebooted since) by no more than ``REBOOT_SKEW_THRESHOLD``;
* the system clock itself (``local_update``, every second): a reboot (elapsed time
  since boot went down) is counted; a jump of the system clock (its time moved
  unlike the elapsed time) is cancelled by the skew, so the virtual clock runs on.

Times are integer nanoseconds since the Unix epoch, durations integer nanoseconds;
``Data`` is the persisted ``VClockData`` in that form (``to_wire``/``from_wire``).
Nothing here reads a clock or a socket: callers pass the system clock's readings.
"""
from __future__ import annotations

import struct
from collections import namedtuple
import time as _time

from v23py import vom
from v23py.v23.vdlroot.time.native import (
    duration_from_ns, duration_to_ns, time_from_unix_ns, time_to_unix_ns)
from syncbased.vclock._vdl import VClockData

NS = 1_000_000_000
NTP_SAMPLES = 15
NTP_SKEW_DELTA = 2 * NS                    # an NTP skew this far from ours replaces it
SYSTEM_CLOCK_DRIFT = 1 * NS                # a system clock jump larger than this is noticed
PEER_SKEW_THRESHOLD = NTP_SKEW_DELTA
REBOOT_SKEW_THRESHOLD = 60 * NS
MAX_HOPS = 2
CHANGE_ERROR = 2 * NS                      # two elapsed-time samples may disagree this much
LOCAL_INTERVAL = 1.0                       # seconds between local updates (daemon)
NTP_INTERVAL = 3600.0                      # seconds between NTP syncs (daemon)
NTP_DEFAULT_HOST = "pool.ntp.org:123"
NTP_TIMEOUT = 5.0                          # seconds to wait for one NTP reply

_NTP_EPOCH_OFFSET = 2208988800             # seconds from 1900-01-01 to 1970-01-01
_TIME_ZERO = -62135596800 * NS             # Go's zero time.Time (0001-01-01) in Unix ns


# The records below are immutable, compared and hashed by value, and shown as
# "Data(boot_time=..., ...)", as frozen dataclasses were; as named tuples they cost
# ~0.7 M instructions each at import instead of ~4.5 M (a dataclass's generated
# methods were compiled at every daemon start).

class Data(namedtuple("Data", ("boot_time", "skew", "elapsed", "last_ntp", "reboots", "hops"),
                      defaults=(0, 0, 0, None, 0, 0))):
    """VClockData with times in Unix ns (``last_ntp`` None: never synced to NTP):
    boot_time (SystemTimeAtBoot), skew (Skew), elapsed (ElapsedTimeSinceBoot),
    last_ntp (LastNtpTs), reboots (NumReboots), hops (NumHops)."""
    __slots__ = ()


def to_wire(d: Data):
    return VClockData(SystemTimeAtBoot=time_from_unix_ns(d.boot_time),
                      Skew=duration_from_ns(d.skew), ElapsedTimeSinceBoot=duration_from_ns(d.elapsed),
                      LastNtpTs=time_from_unix_ns(_TIME_ZERO if d.last_ntp is None else d.last_ntp),
                      NumReboots=d.reboots & 0xFFFF, NumHops=d.hops & 0xFFFF)


def from_wire(w) -> Data:
    last = time_to_unix_ns(w.LastNtpTs)
    return Data(boot_time=time_to_unix_ns(w.SystemTimeAtBoot), skew=duration_to_ns(w.Skew),
                elapsed=duration_to_ns(w.ElapsedTimeSinceBoot),
                last_ntp=None if last == _TIME_ZERO else last,
                reboots=int(w.NumReboots), hops=int(w.NumHops))


def encode(d: Data) -> bytes:
    return vom.encode(to_wire(d))


def decode(raw: bytes) -> Data:
    return from_wire(vom.decode(raw, VClockData._vdl_type))


# --- the system clock ------------------------------------------------------------------

class SystemClock:
    """The real clock: UTC now and the time elapsed since boot (both ns)."""

    def now(self) -> int:
        return _time.time_ns()

    def elapsed(self) -> int:
        try:
            return _time.clock_gettime_ns(_time.CLOCK_BOOTTIME)
        except (AttributeError, OSError):
            return _time.monotonic_ns()


class FakeSystemClock(SystemClock):
    """A system clock that read ``now``/``elapsed`` when made and runs at real speed
    since (Go's fake clock for DevModeUpdateVClock)."""

    def __init__(self, now: int, elapsed: int, real: SystemClock = None):
        self.real = real or SystemClock()
        self.base_real = self.real.elapsed()
        self.base_now = now
        self.base_elapsed = elapsed

    def _since(self):
        return self.real.elapsed() - self.base_real

    def now(self) -> int:
        return self.base_now + self._since()

    def elapsed(self) -> int:
        return self.base_elapsed + self._since()


class ClockChanged(Exception):
    """The system clock was set while a measurement was running."""


def sys_clock_changed(t1: int, t2: int, e1: int, e2: int) -> bool:
    """Whether the system clock was set between readings (t1, e1) and (t2, e2): its
    time went back, or moved unlike the elapsed time."""
    if t2 < t1:
        return True
    return abs((e2 - e1) - (t2 - t1)) > CHANGE_ERROR


# --- updates (pure) ----------------------------------------------------------------------

def fresh(now: int, elapsed: int) -> Data:
    """The data of a brand new clock."""
    return Data(boot_time=now - elapsed, elapsed=elapsed)


def local_update(d: Data, now: int, elapsed: int) -> Data:
    """Go's DoLocalUpdate: count a reboot, or absorb a system clock jump in the skew."""
    skew, reboots = d.skew, d.reboots
    if elapsed < d.elapsed:
        reboots += 1
    else:
        delta = (d.boot_time + elapsed) - now
        if abs(delta) > SYSTEM_CLOCK_DRIFT:
            skew += delta
    return d._replace(boot_time=now - elapsed, elapsed=elapsed, skew=skew, reboots=reboots)


class NtpSample(namedtuple("NtpSample", ("skew", "delay", "ntp_time"))):
    """One NTP reply: skew (NTP time minus our clock's, the "offset"), delay (the round
    trip, less the server's own time), ntp_time (the server's transmit time)."""
    __slots__ = ()


def ntp_update(d: Data, s: NtpSample, now: int, elapsed: int) -> Data:
    """Go's DoNtpUpdate: a sample far enough from our skew replaces it; NTP resets the
    reboot and hop counts."""
    skew = s.skew if abs(s.skew - d.skew) > NTP_SKEW_DELTA else d.skew
    return Data(boot_time=now - elapsed, skew=skew, elapsed=elapsed, last_ntp=s.ntp_time,
                reboots=0, hops=0)


class PeerTime(namedtuple("PeerTime", ("my_send", "recv", "send", "my_recv", "last_ntp",
                                        "reboots", "hops"))):
    """One GetTime exchange: our send/receive times and the peer's, all virtual."""
    __slots__ = ()


class NoUpdate(Exception):
    """The peer's time is not adopted (the message says why)."""


def _half(x: int) -> int:
    """x / 2 rounded toward zero, as Go divides durations."""
    return -(-x // 2) if x < 0 else x // 2


def peer_skew(p: PeerTime) -> int:
    """The NTP offset formula over one exchange: how far the peer's clock is ahead."""
    return _half((p.recv - p.my_send) + (p.send - p.my_recv))


def peer_update(d: Data, p: PeerTime, now: int, elapsed: int) -> Data:
    """Go's MaybeUpdateFromPeerData: the new data, or NoUpdate."""
    skew = peer_skew(p)
    if abs(skew) < PEER_SKEW_THRESHOLD:
        raise NoUpdate("abs(skew) is less than PeerSyncSkewThreshold")
    if p.last_ntp is None:
        raise NoUpdate("peer's clock has not synced to NTP")
    if d.last_ntp is not None and p.last_ntp < d.last_ntp:
        raise NoUpdate("peer's NTP is less recent than local")
    if p.reboots > 0 and abs(skew) > REBOOT_SKEW_THRESHOLD:
        raise NoUpdate("peer's vclock exceeds reboot tolerance")
    if p.hops + 1 > MAX_HOPS:
        raise NoUpdate("peer's NTP is from too many hops away")
    return Data(boot_time=now - elapsed, skew=d.skew + skew, elapsed=elapsed,
                last_ntp=p.last_ntp, reboots=p.reboots, hops=p.hops + 1)


# --- NTP packets -----------------------------------------------------------------------

def _ntp_ts(ns: int) -> bytes:
    """An NTP timestamp (seconds since 1900, 32.32 fixed point) of Unix ns."""
    total = ns + _NTP_EPOCH_OFFSET * NS
    sec, rem = divmod(total, NS)
    return struct.pack(">II", sec & 0xFFFFFFFF, (rem << 32) // NS)


def _ntp_ns(b: bytes) -> int:
    sec, frac = struct.unpack(">II", b)
    return sec * NS + ((frac * NS) >> 32) - _NTP_EPOCH_OFFSET * NS


def ntp_request(now: int) -> bytes:
    """A 48-byte NTPv4 client request carrying our transmit time ``now``."""
    return b"\x23" + bytes(39) + _ntp_ts(now)


def ntp_times(packet: bytes):
    """(originate, receive, transmit) times of an NTP reply, Unix ns."""
    if len(packet) < 48:
        raise ValueError(f"NTP packet of {len(packet)} bytes (want 48)")
    return _ntp_ns(packet[24:32]), _ntp_ns(packet[32:40]), _ntp_ns(packet[40:48])


def ntp_sample(reply: bytes, recv: int) -> NtpSample:
    """The skew and delay of one exchange, from the reply and our receive time."""
    client_tx, server_rx, server_tx = ntp_times(reply)
    skew = _half((server_rx - client_tx) + (server_tx - recv))
    delay = (recv - client_tx) - (server_tx - server_rx)
    return NtpSample(skew=skew, delay=delay, ntp_time=server_tx)


# --- the clock ---------------------------------------------------------------------------

class VClock:
    """The clock and its data.  ``load()`` returns the persisted bytes (or None) and
    ``save(bytes)`` persists them; both run wherever the caller runs updates."""

    def __init__(self, load, save, sysclock: SystemClock = None):
        self.sys = sysclock or SystemClock()
        self._load = load
        self._save = save
        raw = load()
        if raw is None:
            now, elapsed = self.sys_vals()
            self.data = fresh(now, elapsed)
            save(encode(self.data))
        else:
            self.data = decode(raw)

    def now(self) -> int:
        """Our estimate of true time: the system clock plus the skew."""
        return self.sys.now() + self.data.skew

    def apply_skew(self, sys_time: int, data: Data = None) -> int:
        return sys_time + (data or self.data).skew

    def sys_vals(self):
        """(now, elapsed) of the system clock; elapsed is read first (Go's order)."""
        elapsed = self.sys.elapsed()
        return self.sys.now(), elapsed

    def sys_vals_if_not_changed(self, orig_now: int, orig_elapsed: int):
        now = self.sys.now()
        elapsed = self.sys.elapsed()
        if sys_clock_changed(orig_now, now, orig_elapsed, elapsed):
            raise ClockChanged("the system clock changed")
        return now, elapsed

    def inject_fake_sys_clock(self, now: int, elapsed: int) -> None:
        self.sys = FakeSystemClock(now, elapsed)

    def set(self, data: Data) -> None:
        self._save(encode(data))
        self.data = data

    def local_update(self) -> Data:
        now, elapsed = self.sys_vals()
        self.set(local_update(self.data, now, elapsed))
        return self.data

    def ntp_update(self, sample: NtpSample) -> Data:
        now, elapsed = self.sys_vals()
        self.set(ntp_update(self.data, sample, now, elapsed))
        return self.data

    def peer_update(self, p: PeerTime) -> Data:
        """Adopt a peer's time if Go's rules allow (NoUpdate otherwise)."""
        now, elapsed = self.sys_vals()
        self.set(peer_update(self.data, p, now, elapsed))
        return self.data

    def time_response(self, recv_sys: int, send_sys: int):
        """(recv, send, last_ntp, reboots, hops) for a GetTime reply, virtual times."""
        d = self.data
        return (recv_sys + d.skew, send_sys + d.skew, d.last_ntp, d.reboots, d.hops)
