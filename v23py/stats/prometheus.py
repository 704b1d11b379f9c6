"""The statistics tree in Prometheus' text format (``--metrics-address``)::

    v23_rpc_server_latency_ms{routing_id, method}   histogram of call latencies (ms)
    v23_rpc_server_errors_total{routing_id, method} calls that failed
    v23py_<path>_total                              our own counters (``v23py/...``:
                                                    VOM, box and signature counts)
    v23_stat{name}                                  every other number in the tree
                                                    (the delta/rate/timeseries children
                                                    of counters are left out: Prometheus
                                                    computes those itself)

Other exporters add their own families with :func:`add_collector` (syncbased adds
per-syncgroup sync progress).
"""
import functools
import re

from v23py import stats

_extra = []


@functools.cache
def _patterns():
    """(method stat, derived stat, not a metric name character): compiled at the first
    scrape rather than at every start of a program that can export (~0.4 M instructions
    a pattern)."""
    return (re.compile(r"^rpc/server/routing-id/([^/]+)/methods/(.+)/(latency-ms|errors)$"),
            re.compile(r"/(delta|rate|timeseries)(1h|10m|1m)$"),
            re.compile(r"[^a-zA-Z0-9_]"))


def add_collector(fn):
    """``fn()`` yields prometheus_client metric families at each scrape."""
    _extra.append(fn)


class StatsCollector:
    """A prometheus_client collector over v23py.stats."""

    def collect(self):
        from prometheus_client.core import (CounterMetricFamily, GaugeMetricFamily,
                                            HistogramMetricFamily)
        from v23py.xref.services import stats as _vdl
        lat = HistogramMetricFamily("v23_rpc_server_latency_ms",
                                    "RPC server call latency in milliseconds",
                                    labels=["routing_id", "method"])
        errs = CounterMetricFamily("v23_rpc_server_errors", "RPC server calls that failed",
                                   labels=["routing_id", "method"])
        gauge = GaugeMetricFamily("v23_stat", "A number in the v23 stats tree (__debug/stats)",
                                  labels=["name"])
        own = []
        method_stat, derived_stat, own_bad = _patterns()
        for name, v in stats.glob("", "...", 0, True):
            if v is None or derived_stat.search(name):
                continue
            m = method_stat.match(name)
            if m and isinstance(v, _vdl.HistogramValue):
                buckets, acc = [], 0
                bs = v.Buckets
                for i, b in enumerate(bs):
                    acc += b.Count
                    # Go counts [low, next low); Prometheus counts values <= le
                    le = str(bs[i + 1].LowBound - 1) if i + 1 < len(bs) else "+Inf"
                    buckets.append((le, acc))
                lat.add_metric([m.group(1), m.group(2)], buckets, v.Sum)
                continue
            if m and m.group(3) == "errors" and isinstance(v, int):
                errs.add_metric([m.group(1), m.group(2)], v)
                continue
            if name.startswith("v23py/") and isinstance(v, int) and not isinstance(v, bool):
                own.append(CounterMetricFamily(
                    own_bad.sub("_", name), f"{name} in the v23 stats tree", value=v))
                continue
            if isinstance(v, bool):
                gauge.add_metric([name], 1.0 if v else 0.0)
            elif isinstance(v, (int, float)):
                gauge.add_metric([name], float(v))
        yield lat
        yield errs
        yield gauge
        yield from own
        for fn in list(_extra):
            yield from fn()


_REGISTRY = None


def registry():
    global _REGISTRY
    if _REGISTRY is None:
        from prometheus_client import CollectorRegistry
        _REGISTRY = CollectorRegistry(auto_describe=False)
        _REGISTRY.register(StatsCollector())
    return _REGISTRY


def text():
    """The current exposition, as bytes."""
    from prometheus_client import generate_latest
    return generate_latest(registry())


def serve(address, reactor=None):
    """Serve /metrics on ``address`` (``host:port``; port 0 picks one); returns the
    listening port (``.getHost().port``)."""
    from prometheus_client.twisted import MetricsResource
    from twisted.web.resource import Resource
    from twisted.web.server import Site
    if reactor is None:
        from twisted.internet import reactor
    host, _, port = address.rpartition(":")
    root = Resource()
    root.putChild(b"metrics", MetricsResource(registry()))
    root.putChild(b"", MetricsResource(registry()))
    return reactor.listenTCP(int(port or 0), Site(root), interface=host.strip("[]") or "127.0.0.1")
