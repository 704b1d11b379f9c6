"""The statistics an RPC server publishes, under Go's names:

    rpc/server/routing-id/<rid>/methods/<method>/latency-ms   histogram (ms)
    rpc/server/routing-id/<rid>/methods/<method>/errors       calls that failed (ours)
    rpc/server/routing-id/<rid>/listenspec, security/blessings, status/...
    rpc/server/outstanding/<rid>                               calls in progress

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
            lines.append(f"{c.method} age:{age:.6f}s from:{c.remote_endpoint}\n")
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
