"""The statistics an RPC server publishes, under Go's names:

    rpc/server/routing-id/<rid>/methods/<method>/latency-ms   histogram (ms)
    rpc/server/routing-id/<rid>/methods/<method>/errors       calls that failed (ours)
    rpc/server/routing-id/<rid>/listenspec, security/blessings, status/...
    rpc/server/outstanding/<rid>                               calls in progress
    rpc/client/outstanding/<0x id of the client>               a client's calls in progress

A call's latency is recorded as Go does: from the first byte of the call to
the end of the method (lookup and authorization failures are not counted).
"""
from time import monotonic

from v23py import stats

# Go's per-method latency histogram: 25 buckets of doubling width from 0 ms.
_LATENCY = dict(num_buckets=25, growth_factor=1.0, smallest_bucket_size=1.0, min_value=0)


class ServerStats:
    def __init__(self, server, rid):
        self.server = server
        self.rid = rid
        self.prefix = "rpc/server/routing-id/" + rid if rid else ""
        self._methods = {}
        self._errors = {}
        if not rid:
            return
        p = self.prefix
        stats.new_counter(p + "/security/blessings/cache/attempts")
        stats.new_counter(p + "/security/blessings/cache/hits")
        stats.new_string_func(p + "/status/endpoints",
                              lambda: "[" + " ".join(str(e) for e in server.endpoints) + "]")
        stats.new_string_func(p + "/status/publisher", self._publisher)
        stats.new_string_func(p + "/status/proxy-errors", lambda: "map[]")
        stats.new_string_func(p + "/status/listen-errors", lambda: "map[]")
        self._listenspec = stats.new_string(p + "/listenspec")
        self._blessings = stats.new_string(p + "/security/blessings")
        stats.new_string_func("rpc/server/outstanding/" + rid, self._outstanding)

    def listening(self, protocol, address, blessings):
        if self.rid:
            specs = getattr(self, "_specs", [])
            specs.append(f'("{protocol}", "{address}")')
            self._specs = specs
            self._listenspec.set(" ".join(specs))
            if blessings:
                self._blessings.set(blessings)

    def _publisher(self):
        pub = self.server.publisher
        if pub is None:
            return "[]"
        try:
            return str(pub.status())
        except Exception:
            return repr(pub)

    def _outstanding(self):
        calls = list(self.server._calls.values())
        if not calls:
            return "No outstanding calls."
        now = monotonic()
        lines = []
        for c in sorted(calls, key=lambda c: getattr(c, "_t0", 0.0)):
            age = now - getattr(c, "_t0", now)
            lines.append(f"{c.method} age:{go_duration(age)} from:{c.remote_endpoint}\n")
        return "".join(lines)

    def record(self, method, seconds, failed):
        h = self._methods.get(method)
        if h is None:
            if not self.rid:
                return
            h = self._methods[method] = stats.new_histogram(
                f"{self.prefix}/methods/{method}/latency-ms", **_LATENCY)
        h.add(int(seconds * 1000))
        if failed:
            c = self._errors.get(method)
            if c is None:
                c = self._errors[method] = stats.new_counter(
                    f"{self.prefix}/methods/{method}/errors")
            c.incr(1)

    def stop(self):
        if self.rid:
            for name in (self.prefix, "rpc/server/outstanding/" + self.rid):
                try:
                    stats.delete(name)
                except Exception:
                    pass


class ClientStats:
    """The calls in progress of a runtime's client, as Go's client publishes them (the
    name carries an identity as Go's carries a pointer).  ``get_client()`` is the client or
    None while the runtime has not made one (it is made on first use; Go's always exists).
    The client keeps ``outstanding`` (call -> start time) itself; this formats it when read."""

    def __init__(self, get_client, key):
        self.get_client = get_client
        self.name = "rpc/client/outstanding/0x%x" % key
        stats.new_string_func(self.name, self._outstanding)

    def _outstanding(self):
        client = self.get_client()
        calls = list(client.outstanding.items()) if client is not None else []
        if not calls:
            return "No outstanding calls."
        now = monotonic()
        lines = []
        for call, t0 in sorted(calls, key=lambda ct: ct[1]):
            conn = call.conn
            remote = getattr(conn, "remote_endpoint", "") if conn is not None else ""
            lines.append(f"{call.method} age:{go_duration(now - t0)} from:{remote}\n")
        return "".join(lines)

    def stop(self):
        try:
            stats.delete(self.name)
        except Exception:
            pass


def go_duration(seconds):
    """``seconds`` as Go prints a time.Duration (``1.5ms``, ``2m3.25s``, ``0s``)."""
    ns = int(round(seconds * 1e9))
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    if ns < 1000:
        return f"{sign}{ns}ns"
    if ns < 1_000_000_000:
        unit, suffix = (1000, "µs") if ns < 1_000_000 else (1_000_000, "ms")
        return sign + _frac(ns, unit) + suffix
    h, rest = divmod(ns, 3600 * 1_000_000_000)
    m, rest = divmod(rest, 60 * 1_000_000_000)
    out = sign
    if h:
        out += f"{h}h{m}m"
    elif m:
        out += f"{m}m"
    return out + _frac(rest, 1_000_000_000) + "s"


def _frac(n, unit):
    whole, part = divmod(n, unit)
    if not part:
        return str(whole)
    digits = len(str(unit)) - 1
    return f"{whole}." + f"{part:0{digits}d}".rstrip("0")
