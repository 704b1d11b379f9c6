"""debug: looks inside running Vanadium servers (Go's ``debug`` command: the same
sub-commands, flags and output formats).

    debug [--timeout=10s] <command>
      glob <pattern> ...
      vtrace <name> [id ...]
      logs read [-f] [-v] [-n N] [-o POS] <name> | logs size <name>
      stats read [-raw] [-json] [-type] <name> ... | stats watch [-raw] [-type] <pattern> ...
      pprof run [-pprofcmd CMD] <name> [<profile> [passthru args]] | pprof proxy <name>
      browse [-addr HOST:PORT] [-blessings B -key K] <name> ...
      delegate [-access resolve,debug] <to> <duration> [<name>]
      discovery scan [<query>]
"""
import json
import sys

from twisted.internet import defer

from v23py.cmd._nscli import UsageError, run_main
from v23py.cmd._outcome import error_text, exit_code
from v23py.cmd._nscli import parse_or_exit_code

USAGE = """Command debug supports debugging Vanadium servers.

Usage:
   debug [flags] <command>

The debug commands are:
   glob        Returns all matching entries from the namespace.
   vtrace      Returns vtrace traces.
   logs        Accesses log files
   stats       Accesses stats
   pprof       Accesses profiling data
   browse      Starts an interactive interface for debugging
   delegate    Create credentials to delegate debugging to another user
   discovery   Scan and advertise using the v23 discovery API
   help        Display help for commands or topics

The debug flags are:
 -timeout=10s
   Time to wait for various RPCs
"""


def _global(fs):
    fs.duration("timeout", 10.0, "Time to wait for various RPCs")


def _logs_read_flags(fs):
    fs.bool("f", False, "When true, read will wait for new log entries when it reaches the "
            "end of the file.")
    fs.flags.pop("v", None)   # -v is this command's own (a bool), as in Go
    fs.bool("v", False, "When true, read will be more verbose.")
    fs.int("n", -1, "The number of log entries to read.")
    fs.int("o", 0, "The position, in bytes, from which to start reading the log file.")


def _stats_read_flags(fs):
    fs.bool("raw", False, "When true, the command will display the raw value of the object.")
    fs.bool("json", False, "When true, the command will display the raw value of the object "
            "in json format.")
    fs.bool("type", False, "When true, the type of the values will be displayed.")


def _stats_watch_flags(fs):
    fs.bool("raw", False, "When true, the command will display the raw value of the object.")
    fs.bool("type", False, "When true, the type of the values will be displayed.")


def _pprof_run_flags(fs):
    fs.string("pprofcmd", "go tool pprof", "The pprof command to use.")


def _browse_flags(fs):
    fs.string("addr", "", "Address on which the interactive HTTP server will listen. For "
              "example, localhost:14141. If empty, defaults to localhost:<some random port>")
    fs.string("blessings", "", "If non-empty, points to the blessings required to debug the "
              "process. This is typically obtained via 'debug delegate' run by the owner of "
              "the remote process")
    fs.string("key", "", "If non-empty, must be accompanied with --blessings with a value "
              "obtained via 'debug delegate' run by the owner of the remote process")
    fs.bool("log", True, "If true, log debug data obtained so that if a subsequent refresh "
            "from the browser fails, previously obtained information is available from the "
            "log file")
    fs.string("assets", "", "If non-empty, load assets from this directory.")


def _delegate_flags(fs):
    fs.string("access", "resolve,debug", "Comma-separated list of access tags on methods that "
              "can be invoked by the delegate")


COMMANDS = {
    "glob": None,
    "vtrace": None,
    "logs": {"read": _logs_read_flags, "size": None},
    "stats": {"read": _stats_read_flags, "watch": _stats_watch_flags},
    "pprof": {"run": _pprof_run_flags, "proxy": None},
    "browse": _browse_flags,
    "delegate": _delegate_flags,
    "discovery": {"scan": None},
}
USAGES = {
    "glob": "[flags] <pattern> ...",
    "vtrace": "[flags] <name> [id ...]",
    "logs": "[flags] <command>  (read | size)",
    "logs read": "[flags] <name>",
    "logs size": "[flags] <name>",
    "stats": "[flags] <command>  (read | watch)",
    "stats read": "[flags] <name> ...",
    "stats watch": "[flags] <pattern> ...",
    "pprof": "[flags] <command>  (run | proxy)",
    "pprof run": "[flags] <name> [<profile> [passthru args]]",
    "pprof proxy": "[flags] <name>",
    "browse": "[flags] <name> ...",
    "delegate": "[flags] <to> <duration> [<name>]",
    "discovery": "[flags] <command>  (scan)",
    "discovery scan": "[flags] [<query>]",
}


# ---------------------------------------------------------------------------
# value formatting, as Go's debug prints values
# ---------------------------------------------------------------------------

def go_float(f):
    """Go's %v of a float64."""
    from v23py.query.functions import go_g
    return go_g(f)


def _go_time(t):
    from v23py.v23.vdlroot.time import native as vtime
    import datetime
    ns = vtime.time_to_unix_ns(t)
    dt = datetime.datetime.fromtimestamp(ns // 1_000_000_000, datetime.timezone.utc)
    frac = ns % 1_000_000_000
    s = dt.strftime("%Y-%m-%d %H:%M:%S")
    if frac:
        s += (".%09d" % frac).rstrip("0")
    return s + " +0000 UTC"


def _go_duration(d):
    from v23py.v23.vdlroot.time import native as vtime
    from v23py.vtrace import _go_duration as fmt
    return fmt(vtime.duration_to_ns(d) / 1e9)


def histogram_text(v):
    """x/ref/services/stats HistogramValue.String()."""
    count = v.Count
    avg = (v.Sum / count) if count else float("nan")
    out = [f"Count: {count}  Min: {v.Min}  Max: {v.Max}  Avg: {_avg(avg)}\n", "-" * 60 + "\n"]
    if count <= 0:
        return "".join(out)
    b = v.Buckets
    wb = max(len(str(b[-1].LowBound)), 3)
    wc = len(str(count))
    acc = 0
    for i, bk in enumerate(b):
        hi = str(b[i + 1].LowBound) if i + 1 < len(b) else "inf"
        acc += bk.Count
        pct = bk.Count * 100 / count
        bar = "#" * int(pct * 0.1 + 0.5)
        out.append(f"[{bk.LowBound:>{wb}}, {hi:>{wb}})  {bk.Count:>{wc}}  {pct:5.1f}%  "
                   f"{acc * 100 / count:5.1f}%  {bar}\n")
    return "".join(out)


def _avg(a):
    import math
    if math.isnan(a):
        return "NaN"
    return f"{a:.2f}"


def pretty(v):
    """fmt.Sprint of the value as Go's debug converts it (numbers, strings, histograms,
    time series; other values as VDL prints them)."""
    from v23py.xref.services import stats as st
    if v is None:
        return "<nil>"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return go_float(v)
    if isinstance(v, str):
        return v
    if isinstance(v, st.HistogramValue):
        return histogram_text(v)
    if isinstance(v, st.TimeSeries):
        return (f"Start time: {_go_time(v.StartTime)}\nResolution: "
                f"{_go_duration(v.Resolution)}\nValues: [{' '.join(str(x) for x in v.Values)}]")
    if isinstance(v, (list, tuple)):
        return "[" + " ".join(pretty(x) for x in v) + "]"
    return raw(v)


def raw(v):
    from v23py import vdl
    from v23py.rpc import signature as sig
    if v is None:
        return "any(nil)"
    return sig.typed_const(vdl.type_of(v), v)


def type_name(v):
    from v23py import vdl
    if v is None:
        return "any"
    return str(vdl.type_of(v))


def _jsonable(v):
    from v23py import vdl
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, (bytes, bytearray)):
        import base64
        return base64.b64encode(bytes(v)).decode()
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    from v23py.v23.vdlroot import time as vt
    if isinstance(v, vt.Duration):          # Go converts it to time.Duration: nanoseconds
        from v23py.v23.vdlroot.time import native as vtime
        return vtime.duration_to_ns(v)
    if isinstance(v, vt.Time):              # time.Time marshals as RFC 3339
        from v23py.v23.vdlroot.time import native as vtime
        ns = vtime.time_to_unix_ns(v)
        import datetime
        dt = datetime.datetime.fromtimestamp(ns // 10**9, datetime.timezone.utc)
        frac = ("." + f"{ns % 10**9:09d}".rstrip("0")) if ns % 10**9 else ""
        return dt.strftime("%Y-%m-%dT%H:%M:%S") + frac + "Z"
    if isinstance(v, vdl.Struct):
        return {n: _jsonable(getattr(v, n)) for n in v.__slots__}
    return str(v)


def format_value(v, flags, with_json=False):
    """Go's formatValue: (text, error or None)."""
    show_type = flags.get("type")
    prefix = type_name(v) + ": " if show_type else ""
    if with_json:
        obj = {"Type": type_name(v) if show_type else "", "Value": _jsonable(v)}
        return json.dumps(obj, separators=(",", ":")), None
    if flags.get("raw"):
        return prefix + raw(v), None
    return prefix + pretty(v), None


# ---------------------------------------------------------------------------
# commands
# ---------------------------------------------------------------------------

def _timeout(ctx, fs):
    return ctx.with_timeout(fs.get("timeout"))


async def _glob(ctx, fs, pattern, on_entry, on_error):
    from v23py.cmd._nscli import namespace_for
    from v23py.runtime.namespace import GlobEntry
    gctx, cancel = _timeout(ctx, fs)
    try:
        async for r in namespace_for(gctx).glob_iter(gctx, pattern):
            if isinstance(r, GlobEntry):
                on_entry(r.entry)
            else:
                on_error(r)
    except Exception as e:
        raise RuntimeError(f"{pattern}: {error_text(e)}")
    finally:
        cancel()


def _deadline_text(expires):
    import datetime
    import math
    if expires is None or expires == math.inf:
        return "0001-01-01 00:00:00 +0000 UTC"
    dt = datetime.datetime.fromtimestamp(expires, datetime.timezone.utc)
    nanos = int(round((expires - math.floor(expires)) * 1e9)) % 1_000_000_000
    frac = f".{nanos:09d}".rstrip("0").rstrip(".")
    return dt.strftime("%Y-%m-%d %H:%M:%S") + frac + " +0000 UTC"


async def _each(coros):
    """Run coroutines concurrently; the first error, if any (after all ended)."""
    ds = [defer.ensureDeferred(c) for c in coros]
    results = await defer.DeferredList(ds, consumeErrors=True)
    return [f.value for ok, f in results if not ok]


async def cmd_glob(ctx, fs, args, out, err):
    if not args:
        raise UsageError(f"glob: incorrect number of arguments, got {len(args)}, want >=1")
    last = []

    def entry(e):
        line = e.name + "".join(f" {s.server} (Deadline {_deadline_text(s.expires)})"
                                for s in e.servers)
        out.write(line + "\n")

    def error(r):
        err.write(f"Error: {r.name}: {error_text(r.error)}\n")
    errs = await _each(_glob(ctx, fs, p, entry, error) for p in args)
    for e in errs:
        err.write(f"Error: {error_text(e)}\n")
        last.append(e)
    if last:
        raise last[-1]
    return 0


async def cmd_stats_read(ctx, fs, args, out, err):
    from v23py.v23.services import stats as svc
    if not args:
        raise UsageError(f"read: incorrect number of arguments, got {len(args)}, want >=1")
    names, errors = [], []
    as_json = fs.get("json")

    def entry(e):
        names.append(e.name)
    errs = await _each(_glob(ctx, fs, p, entry, lambda r: None) for p in args)
    for e in errs:
        err.write(f"{error_text(e)}\n")
        errors.append(e)
    outputs = []

    async def value(name):
        vctx, cancel = _timeout(ctx, fs)
        try:
            v = await svc.StatsClient(name).Value(vctx)
        except Exception as e:
            msg = f"{name}: {error_text(e)}"
            err.write(msg + "\n")
            errors.append(RuntimeError(msg))
            return
        finally:
            cancel()
        text, _ = format_value(v, fs, as_json)
        if as_json:
            outputs.append(text.replace("{", '{"Name":%s,' % json.dumps(name), 1))
        else:
            out.write(f"{name}: {text}\n")
    await _each(value(n) for n in names)
    if as_json:
        out.write("[" + ",".join(outputs) + "]")
    if errors:
        raise errors[-1]
    return 0


async def cmd_stats_watch(ctx, fs, args, out, err):
    from twisted.internet import reactor, task
    from v23py.naming import names as nm
    from v23py.naming.glob import Glob
    from v23py.v23.services import watch
    if not args:
        raise UsageError(f"watch: incorrect number of arguments, got {len(args)}, want >=1")

    async def one(pattern):
        root, gpat = nm.split_address_name(pattern)
        g = Glob.parse(gpat)
        prefix, rest = g.split_fixed_elements()
        name = nm.join(*prefix) if prefix else ""
        if root:
            name = nm.join_address_name(root, name)
        client = watch.GlobWatcherClient(name)
        retry = False
        while True:
            if retry:
                await task.deferLater(reactor, 10.0, lambda: None)
            retry = True
            try:
                call = await client.WatchGlob(ctx, watch.GlobRequest(Pattern=str(rest),
                                                                     ResumeMarker=b""))
                async for ch in call:
                    text, _ = format_value(ch.Value, fs)
                    out.write(f"{nm.join(name, ch.Name)}: {text}\n")
                    out.flush()
                await call.finish()
            except Exception as e:
                err.write(f"Error: {name}: {error_text(e)}\n")
    await _each(one(p) for p in args)
    return 0


async def cmd_logs_read(ctx, fs, args, out, err):
    from v23py import verror
    from v23py.v23.services import logreader
    if len(args) != 1:
        raise UsageError(f"read: incorrect number of arguments, got {len(args)}, want 1")
    cancel = None
    if not fs.get("f"):
        ctx, cancel = _timeout(ctx, fs)
    verbose = fs.get("v")
    try:
        call = await logreader.LogFileClient(args[0]).ReadLog(ctx, fs.get("o"), fs.get("n"),
                                                              fs.get("f"))
        async for e in call:
            out.write(f"[{e.Position}] {e.Line}\n" if verbose else f"{e.Line}\n")
            if fs.get("f"):
                out.flush()
        offset = await call.finish()
    except verror.VError:
        raise
    finally:
        if cancel is not None:
            cancel()
    if verbose:
        out.write(f"Offset: {offset}\n")
    return 0


async def cmd_logs_size(ctx, fs, args, out, err):
    from v23py.v23.services import logreader
    if len(args) != 1:
        raise UsageError(f"size: incorrect number of arguments, got {len(args)}, want 1")
    ctx, cancel = _timeout(ctx, fs)
    try:
        size = await logreader.LogFileClient(args[0]).Size(ctx)
    finally:
        cancel()
    out.write(f"{size}\n")
    return 0


async def cmd_vtrace(ctx, fs, args, out, err):
    from v23py import vtrace
    from v23py.v23.services import vtrace as svc
    if not args:
        raise UsageError(f"vtrace: incorrect number of arguments, got {len(args)} want >= 1")
    client = svc.StoreClient(args[0])
    if len(args) == 1:
        call = await client.AllTraces(ctx)
        async for rec in call:
            vtrace.format_trace(out, rec)
        await call.finish()
        return 0
    ids = [vtrace.id_from_hex(a) for a in args[1:]]
    errs = []

    async def one(i):
        try:
            vtrace.format_trace(out, await client.Trace(ctx, i))
        except Exception as e:
            errs.append(e)
    await _each(one(i) for i in ids)
    if errs:
        raise errs[0]
    return 0


async def cmd_pprof_run(ctx, fs, args, out, err):
    import shlex
    from v23py.v23.services import pprof
    if not args:
        raise UsageError(f"pprof: incorrect number of arguments, got {len(args)}, want >=1")
    name = args[0]
    if len(args) == 1:
        profiles = list(await pprof.PProfClient(name).Profiles(ctx))
        profiles.append("profile")
        out.write("Available profiles:\n" + "".join(f"  {p}\n" for p in sorted(profiles)))
        return 0
    from v23py.cmd import _pprofproxy
    port = await _pprofproxy.start(ctx, name)
    addr = f"127.0.0.1:{port.getHost().port}"
    try:
        cmd = " ".join([fs.get("pprofcmd")] + [shlex.quote(a) for a in args[2:]] +
                       [shlex.quote(f"http://{addr}/pprof/{args[1]}")])
        out.write(f"Running: {cmd}\n")
        out.flush()
        return await _run_shell(cmd, out, err)
    finally:
        await port.stopListening()


def _run_shell(cmd, out, err):
    """Deferred exit code of ``sh -c cmd``, its output passed to out and err."""
    import os
    from twisted.internet import protocol, reactor
    done = defer.Deferred()

    class P(protocol.ProcessProtocol):
        def outReceived(self, data):
            out.write(data.decode("utf-8", "replace"))
            out.flush()

        def errReceived(self, data):
            err.write(data.decode("utf-8", "replace"))

        def processEnded(self, reason):
            code = getattr(reason.value, "exitCode", 0)
            done.callback(code if code is not None else 1)
    reactor.spawnProcess(P(), "/bin/sh", ["sh", "-c", cmd], env=dict(os.environ))
    return done


async def cmd_pprof_proxy(ctx, fs, args, out, err):
    import v23py
    if len(args) != 1:
        raise UsageError(f"proxy: incorrect number of arguments, got {len(args)}, want 1")
    from v23py.cmd import _pprofproxy
    port = await _pprofproxy.start(ctx, args[0])
    out.write(f"\nThe pprof proxy is listening at http://127.0.0.1:{port.getHost().port}/pprof"
              "\n\nHit CTRL-C to exit\n")
    out.flush()
    await v23py.wait_for_signal(ctx)
    await port.stopListening()
    return 0


async def cmd_delegate(ctx, fs, args, out, err):
    import base64
    import datetime
    import v23py
    from v23py import security, vom
    from v23py.runtime import FlagError, parse_duration
    from v23py.security import access
    if len(args) < 2 or len(args) > 3:
        raise UsageError(f"got {len(args)} arguments, expecting 2 or 3")
    try:
        secs = parse_duration(args[1])
    except FlagError as e:
        raise UsageError(f"failed to parse <duration>: {e}")
    name = args[2] if len(args) == 3 else "<name>"
    tags = []
    for t in fs.get("access").split(","):
        t = t.strip()
        match = [x for x in access.all_typical_tags() if str(x).lower() == t.lower()]
        if not match:
            raise RuntimeError(f"{t} is not a valid access tag")
        tags.append(match[0])
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    priv = ec.generate_private_key(ec.SECP256R1())
    der = priv.private_bytes(serialization.Encoding.DER,
                             serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())
    pub_der = priv.public_key().public_bytes(serialization.Encoding.DER,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)
    p = v23py.get_principal(ctx)
    caveats = [access.new_access_tag_caveat(*tags),
               security.new_expiry_caveat(datetime.timedelta(seconds=secs))]
    b = p.bless(security.public_key_from_der(pub_der), p.blessing_store.default(), args[0],
                caveats[0], *caveats[1:])
    data = vom.encode(b.to_wire() if hasattr(b, "to_wire") else b)
    out.write(f"Your delegate will be seen as {b} at your server. Ask them to run:\n\n"
              f"debug browse \\\n  --key={json.dumps(base64.urlsafe_b64encode(der).decode())} \\\n"
              f"  --blessings={json.dumps(base64.urlsafe_b64encode(data).decode())} \\\n"
              f"  {json.dumps(name)}\n")
    return 0


async def cmd_discovery_scan(ctx, fs, args, out, err):
    import v23py
    from v23py.discovery import neighborhood, query
    if len(args) > 1:
        raise UsageError(f"got {len(args)} arguments, expected at most 1")
    # the query's interfaces are asked for by name (their own mDNS types); any other query
    # scans every v23 service and filters
    matcher = query.Matcher(args[0] if args else "")
    targets = sorted(matcher.target_interface_names or [""])
    nb = neighborhood.MdnsNeighborhood()
    nb.start()
    seen = {}

    def update(info):
        ad = info.ad
        key = bytes(ad.id)
        if info.lost:
            if seen.pop(key, None) is not None:
                out.write(f"LOST:{ad.id.hex()}\n\n")
                out.flush()
            return
        if seen.get(key) == info.hash:
            return
        if not matcher.match(ad):
            if seen.pop(key, None) is not None:   # a new version no longer matches
                out.write(f"LOST:{ad.id.hex()}\n\n")
                out.flush()
            return
        seen[key] = info.hash
        lines = ["FOUND:", f"Id:            {ad.id.hex()}", f"InterfaceName: {ad.interface_name}"]
        if ad.addresses:
            lines += ["Addresses:     {"] + [f"  {a}" for a in ad.addresses] + ["}"]
        if ad.attributes:
            lines += ["Attributes:    {"] + [f"  {json.dumps(k)}: {json.dumps(ad.attributes[k])}"
                                             for k in sorted(ad.attributes)] + ["}"]
        if ad.attachments:
            lines += ["Attachments:    {"] + [f"  {json.dumps(k)}: ({len(ad.attachments[k])} bytes)"
                                              for k in sorted(ad.attachments)] + ["}"]
        out.write("\n".join(lines) + "\n\n")
        out.flush()
    for name in targets:
        nb.scan(name, update)
    try:
        await v23py.wait_for_signal(ctx)
    finally:
        nb.stop()
    return 0


async def cmd_browse(ctx, fs, args, out, err):
    from v23py.cmd import _browse
    return await _browse.run(ctx, fs, args, out, err)


HANDLERS = {
    ("glob",): cmd_glob, ("vtrace",): cmd_vtrace,
    ("logs", "read"): cmd_logs_read, ("logs", "size"): cmd_logs_size,
    ("stats", "read"): cmd_stats_read, ("stats", "watch"): cmd_stats_watch,
    ("pprof", "run"): cmd_pprof_run, ("pprof", "proxy"): cmd_pprof_proxy,
    ("browse",): cmd_browse, ("delegate",): cmd_delegate,
    ("discovery", "scan"): cmd_discovery_scan,
}

_LONG_RUNNING = {("stats", "watch"), ("pprof", "proxy"), ("browse",), ("discovery", "scan"),
                 ("pprof", "run")}


async def run(reactor, argv, out=None, err=None):
    import v23py
    out = out or sys.stdout
    err = err or sys.stderr
    parsed = parse_or_exit_code("debug", USAGE, COMMANDS, USAGES, argv, out, err, _global)
    if isinstance(parsed, int):
        return parsed
    fs, path, args = parsed
    principal = None
    if path == ["browse"] and fs.get("key"):
        from v23py.cmd import _browse
        try:
            principal = _browse.principal_from_key(fs.get("key"))
        except RuntimeError as e:
            err.write(f"ERROR: {e}\n")
            return 1
    ctx, shutdown = v23py.init([], flags=fs, reactor=reactor, principal=principal)
    import v23py.xref.services.stats  # noqa: F401  (histograms and time series decode as themselves)
    return await exit_code(lambda: HANDLERS[tuple(path)](ctx, fs, args, out, err),
                           shutdown, out, err, UsageError)


def main(argv=None):
    run_main(run, sys.argv[1:] if argv is None else argv, "debug")


if __name__ == "__main__":
    main()
