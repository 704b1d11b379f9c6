"""System statistics under ``system/`` (Go's ``x/ref/lib/stats/sysstats``), with what
a Python process can truthfully report::

    system/start-time-unix, start-time-rfc1123, cmdline, num-cpu, pid, hostname,
    version (the Python implementation and version), uptime (ours, seconds),
    num-threads (ours: Python has no goroutines), environ/<NAME>, metadata/<key>
    system/memstats/<field>   this process: RSS, VMS (bytes), HeapObjects (allocated
                              blocks), NumGC and per-generation GC counts, Collected,
                              Uncollectable
    system/sysmem/<field>     the machine's memory (/proc/meminfo, bytes)
    system/syscpu/<field>     the machine's CPU: Percent since the last refresh and the
                              seconds spent per state (/proc/stat)

The counters are refreshed when the tree is read, at most every 10 s (Go's
period), instead of by a background loop.
"""
import gc
import os
import platform
import socket
import sys
import threading
import time

from v23py import stats
from v23py.stats import libstats

REFRESH_PERIOD = 10.0

_registered = False
_last = [0.0]
_counters = {}
_cpu_prev = [None]


def register():
    """Publish the system statistics (once per process)."""
    global _registered
    if _registered:
        return
    _registered = True
    libstats.register()
    now = time.time()
    stats.new_integer("system/start-time-unix").set(int(now))
    stats.new_string("system/start-time-rfc1123").set(
        time.strftime("%a, %d %b %Y %H:%M:%S ", time.localtime(now)) + time.strftime(
            "%Z", time.localtime(now)))
    stats.new_string("system/cmdline").set(" ".join(sys.argv))
    stats.new_integer("system/num-cpu").set(os.cpu_count() or 1)
    stats.new_integer("system/pid").set(os.getpid())
    stats.new_string("system/version").set(
        f"{platform.python_implementation()} {platform.python_version()}")
    try:
        stats.new_string("system/hostname").set(socket.gethostname())
    except OSError:
        pass
    stats.new_integer_func("system/uptime", lambda: int(time.time() - now))
    stats.new_integer_func("system/num-threads", threading.active_count)
    stats.new_map("system/environ").set(
        [(k, v) for k, v in os.environ.items()])
    from v23py.rpc import wire  # noqa: F401  (the RPC version range is a runtime fact)
    stats.new_map("system/metadata").set([
        ("python.Version", platform.python_version()),
        ("python.Implementation", platform.python_implementation()),
        ("python.OS", sys.platform), ("python.Arch", platform.machine()),
        ("v23.RPCVersionMin", "14"), ("v23.RPCVersionMax", "14")])
    # (the figures are first read when someone reads the tree: a client that never serves
    # its statistics never gathers them)
    stats.add_refresh_hook(_refresh)


def register_principal(principal):
    """The principal's blessing store and roots as text, as Go's runtime publishes them."""
    if principal is None:
        return
    try:
        key = str(principal.public_key)
    except Exception:
        return
    prefix = f"security/principal/{key}"
    store = principal.blessing_store
    roots = getattr(principal, "roots", None) or getattr(principal, "blessing_roots", None)
    n = sum(1 for _ in _counters_for(prefix)) + 1
    if hasattr(store, "debug_string"):
        stats.new_string_func(f"{prefix}/blessingstore/{n}", store.debug_string)
    if roots is not None and hasattr(roots, "debug_string"):
        stats.new_string_func(f"{prefix}/blessingroots/{n}", roots.debug_string)


def _counters_for(prefix):
    """The names under ``prefix``/blessingstore, read from the tree as it stands: not
    through stats.glob, which first runs the refresh hooks (for a start, reading /proc and
    making the ~50 system counters that nobody has asked for yet)."""
    with stats._lock:
        node = stats._find(prefix + "/blessingstore")
        return [] if node is None else list(node.children)


def _set(root, values):
    for name, v in values.items():
        key = f"{root}/{name}"
        c = _counters.get(key)
        if c is None:
            c = _counters[key] = stats.new_counter(key)
        c.set(int(v))


def _refresh(force=False):
    now = time.monotonic()
    if not force and _last[0] and now - _last[0] < REFRESH_PERIOD:
        return
    _last[0] = now
    _set("system/memstats", _memstats())
    mem = _meminfo()
    if mem:
        _set("system/sysmem", mem)
    cpu = _cpu()
    if cpu:
        _set("system/syscpu", cpu)


def _memstats():
    out = {}
    try:
        with open("/proc/self/statm") as f:
            vms, rss = f.read().split()[:2]
        page = os.sysconf("SC_PAGE_SIZE")
        out["VMS"] = int(vms) * page
        out["RSS"] = int(rss) * page
    except (OSError, ValueError, AttributeError):
        try:
            import resource
            out["RSS"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        except Exception:
            pass
    out["HeapObjects"] = sys.getallocatedblocks()
    gs = gc.get_stats()
    out["NumGC"] = sum(g.get("collections", 0) for g in gs)
    for i, g in enumerate(gs):
        out[f"NumGC{i}"] = g.get("collections", 0)
    out["Collected"] = sum(g.get("collected", 0) for g in gs)
    out["Uncollectable"] = sum(g.get("uncollectable", 0) for g in gs)
    out["EnableGC"] = 1 if gc.isenabled() else 0
    return out


_MEMINFO = {
    "MemTotal": "Total", "MemAvailable": "Available", "MemFree": "Free", "Buffers": "Buffers",
    "Cached": "Cached", "Active": "Active", "Inactive": "Inactive", "Dirty": "Dirty",
    "Writeback": "WriteBack", "WritebackTmp": "WriteBackTmp", "Shmem": "Shared",
    "Slab": "Slab", "SReclaimable": "Sreclaimable", "SUnreclaim": "Sunreclaim",
    "PageTables": "PageTables", "SwapCached": "SwapCached", "CommitLimit": "CommitLimit",
    "Committed_AS": "CommittedAS", "SwapTotal": "SwapTotal", "SwapFree": "SwapFree",
    "Mapped": "Mapped", "VmallocTotal": "VmallocTotal", "VmallocUsed": "VmallocUsed",
    "VmallocChunk": "VmallocChunk", "HugePages_Total": "HugePagesTotal",
    "HugePages_Free": "HugePagesFree", "HugePages_Rsvd": "HugePagesRsvd",
    "HugePages_Surp": "HugePagesSurp", "Hugepagesize": "HugePageSize",
}


def _meminfo():
    try:
        with open("/proc/meminfo") as f:
            lines = f.read().splitlines()
    except OSError:
        return {}
    out = {}
    for line in lines:
        k, _, rest = line.partition(":")
        name = _MEMINFO.get(k.strip())
        if name is None:
            continue
        parts = rest.split()
        if not parts:
            continue
        v = int(parts[0])
        if len(parts) > 1 and parts[1] == "kB":
            v *= 1024
        out[name] = v
    if "Total" in out and "Available" in out:
        out["Used"] = out["Total"] - out["Available"]
        out["UsedPercent"] = int(100 * out["Used"] / out["Total"]) if out["Total"] else 0
    return out


_CPU_FIELDS = ("User", "Nice", "System", "Idle", "Iowait", "Irq", "Softirq", "Steal",
               "Guest", "GuestNice")


def _cpu():
    try:
        with open("/proc/stat") as f:
            first = f.readline().split()
    except OSError:
        return {}
    if not first or first[0] != "cpu":
        return {}
    hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    ticks = [int(x) for x in first[1:1 + len(_CPU_FIELDS)]]
    out = {name: t / hz for name, t in zip(_CPU_FIELDS, ticks)}
    total = sum(ticks[:8])
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)
    prev = _cpu_prev[0]
    _cpu_prev[0] = (total, idle)
    if prev is not None and total > prev[0]:
        out["Percent"] = 100.0 * (1 - (idle - prev[1]) / (total - prev[0]))
    else:
        out["Percent"] = 0
    return out
