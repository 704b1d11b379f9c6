"""``debug browse``: a local web page per server, reading what it serves under
__debug (and, for Syncbase, its databases) through this process's credentials.

Pages (each takes the object name in the ``n`` query parameter, as Go's):

    /name      the server: endpoints, the blessings it presents, links
    /stats     the stats tree below ``s``, values updated live (server-sent events)
    /logs      the log files, or one file's contents (``f``)
    /vtrace    the traces the server holds
    /profiles  the threads' stacks (pprof's goroutine profile)
    /glob      the namespace below the name, each child linked
    /syncbase  databases and collections; /collection: rows and a live Watch feed;
               /syncgroups: members and the daemon's sync statistics
"""
import html
import json
import urllib.parse

from twisted.internet import defer, reactor
from twisted.web import resource, server

from v23py.cmd._outcome import error_text

LIVE_PERIOD = 1.0

_STYLE = """
body{font-family:sans-serif;margin:0;background:#fafafa;color:#222}
header{background:#00838f;color:#fff;padding:8px 16px}
header a{color:#fff;margin-right:14px;text-decoration:none;font-weight:bold}
main{padding:12px 16px}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;
vertical-align:top}pre{background:#fff;border:1px solid #ddd;padding:8px;overflow:auto}
.err{color:#b00020;font-weight:bold}.name{font-family:monospace}
"""


def q(v):
    return urllib.parse.quote(v, safe="")


def page(title, name, body):
    n = q(name)
    nav = "".join(f'<a href="/{p}?n={n}">{label}</a>' for p, label in (
        ("name", "Server"), ("stats", "Stats"), ("logs", "Logs"), ("vtrace", "Traces"),
        ("profiles", "Profiles"), ("glob", "Namespace"), ("syncbase", "Syncbase")))
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
            f"</title><style>{_STYLE}</style></head><body><header>{nav}</header><main>"
            f"<h2>{html.escape(title)}</h2><p class='name'>{html.escape(name)}</p>{body}"
            f"</main></body></html>").encode()


def err_html(e):
    return f"<p class='err'>ERROR: {html.escape(error_text(e))}</p>"


async def _collect(call):
    out = []
    async for x in call:
        out.append(x)
    await call.finish()
    return out


class Browser(resource.Resource):
    isLeaf = True

    def __init__(self, ctx, names):
        super().__init__()
        self.ctx, self.names = ctx, names

    def render_GET(self, request):
        path = request.path.decode().strip("/") or "name"
        args = {k.decode(): v[0].decode() for k, v in request.args.items()}
        name = args.get("n") or self.names[0]
        handler = getattr(self, "page_" + path.replace("/", "_"), None)
        if handler is None:
            request.setResponseCode(404)
            return page("Not found", name, f"<p class='err'>no page {html.escape(path)}</p>")
        if path.startswith("live"):
            request.setHeader(b"content-type", b"text/event-stream")
            request.setHeader(b"cache-control", b"no-cache")
            defer.ensureDeferred(handler(request, name, args))
            return server.NOT_DONE_YET
        request.setHeader(b"content-type", b"text/html; charset=utf-8")
        d = defer.ensureDeferred(handler(name, args))

        def done(body):
            if not request.finished:
                request.write(body)
                request.finish()

        def failed(f):
            if not request.finished:
                request.write(page("Error", name, err_html(f.value)))
                request.finish()
        d.addCallbacks(done, failed)
        return server.NOT_DONE_YET

    def ctx_timeout(self, seconds=10.0):
        return self.ctx.with_timeout(seconds)

    # -- pages -----------------------------------------------------------------
    async def page_name(self, name, args):
        from v23py import rpc
        ctx, cancel = self.ctx_timeout()
        rows = []
        try:
            client = rpc.get_client(ctx)
            from v23py.rpc import options
            opts = (options.NoResolve(),) if name.startswith("/@") else ()
            call = await client.start_call(ctx, name, "", [], [], [], opts=opts)
            b = call.remote_blessings
            rows.append(("Blessings presented", str(b)))
            rows.append(("Blessing names we accept", " ".join(call.remote_blessing_names)))
            rows.append(("Public key", str(b.public_key) if b is not None else ""))
            call.cancel()
        except Exception as e:
            return page("Server", name, err_html(e))
        finally:
            cancel()
        try:
            from v23py.cmd._nscli import namespace_for
            ctx, cancel = self.ctx_timeout()
            me = await namespace_for(ctx).resolve(ctx, name)
            rows.append(("Resolves to", " ".join(s.server for s in me.servers)))
            cancel()
        except Exception as e:
            rows.append(("Resolves to", "(" + error_text(e) + ")"))
        body = "<table>" + "".join(f"<tr><th>{html.escape(k)}</th><td class='name'>"
                                   f"{html.escape(v)}</td></tr>" for k, v in rows) + "</table>"
        return page("Server", name, body)

    async def page_stats(self, name, args):
        from v23py.cmd._nscli import namespace_for
        from v23py.runtime.namespace import GlobEntry
        from v23py.cmd.debug import pretty
        from v23py.v23.services import stats as svc
        import v23py.xref.services.stats  # noqa: F401
        sub = args.get("s", "")
        base = f"{name}/__debug/stats" + (f"/{sub}" if sub else "")
        ctx, cancel = self.ctx_timeout()
        children = []
        try:
            async for r in namespace_for(ctx).glob_iter(ctx, base + "/*"):
                if isinstance(r, GlobEntry):
                    children.append(r.entry.name[len(base) + 1:])
        except Exception as e:
            return page("Stats", name, err_html(e))
        finally:
            cancel()
        rows = []
        for c in sorted(children):
            if c.rsplit("/", 1)[-1] in _DERIVED:
                continue
            full = f"{sub}/{c}" if sub else c
            ctx, cancel = self.ctx_timeout()
            try:
                v = await svc.StatsClient(f"{base}/{c}").Value(ctx)
                text = pretty(v)
                live = True
            except Exception:
                text, live = "", False   # a directory
            finally:
                cancel()
            link = f"<a href='/stats?n={q(name)}&s={q(full)}'>{html.escape(c)}</a>"
            cell = (f"<pre id='v-{html.escape(full)}' data-stat='{html.escape(full)}'>"
                    f"{html.escape(text)}</pre>" if live else "")
            rows.append(f"<tr><td class='name'>{link}</td><td>{cell}</td></tr>")
        script = ("<script>var es=new EventSource('/live/stats?n=" + q(name) + "&s=" + q(sub) +
                  "');es.onmessage=function(m){var vals=JSON.parse(m.data);"
                  "document.querySelectorAll('[data-stat]').forEach(function(el){"
                  "if(el.dataset.stat in vals){el.textContent=vals[el.dataset.stat];"
                  "el.dataset.updated=(parseInt(el.dataset.updated||'0')+1);}});};</script>")
        body = (f"<p>Below <span class='name'>{html.escape(sub or '/')}</span>; values update "
                f"live.</p><table id='stats'>{''.join(rows)}</table>{script}")
        return page("Stats", name, body)

    async def page_live_stats(self, request, name, args):
        """Server-sent events: every LIVE_PERIOD seconds, the values of the statistics
        directly below ``s`` (one stream per page: browsers allow few connections)."""
        from v23py.cmd.debug import pretty
        from v23py.cmd._nscli import namespace_for
        from v23py.runtime.namespace import GlobEntry
        from v23py.v23.services import stats as svc
        import v23py.xref.services.stats  # noqa: F401
        from twisted.internet import task
        sub = args.get("s", "")
        base = f"{name}/__debug/stats" + (f"/{sub}" if sub else "")
        gone = []
        request.notifyFinish().addBoth(lambda _: gone.append(True))
        while not gone:
            vals = {}
            ctx, cancel = self.ctx_timeout()
            try:
                children = []
                async for r in namespace_for(ctx).glob_iter(ctx, base + "/*"):
                    if isinstance(r, GlobEntry):
                        children.append(r.entry.name[len(base) + 1:])
                for c in children:
                    if c in _DERIVED:
                        continue
                    try:
                        v = await svc.StatsClient(f"{base}/{c}").Value(ctx)
                    except Exception:
                        continue
                    vals[f"{sub}/{c}" if sub else c] = pretty(v)
            except Exception as e:
                vals = {"": "ERROR: " + error_text(e)}
            finally:
                cancel()
            if gone:
                break
            request.write(f"data: {json.dumps(vals)}\n\n".encode())
            await task.deferLater(reactor, LIVE_PERIOD, lambda: None)

    async def page_logs(self, name, args):
        from v23py.cmd._nscli import namespace_for
        from v23py.runtime.namespace import GlobEntry
        from v23py.v23.services import logreader
        f = args.get("f")
        base = f"{name}/__debug/logs"
        ctx, cancel = self.ctx_timeout()
        try:
            if not f:
                files = []
                async for r in namespace_for(ctx).glob_iter(ctx, base + "/*"):
                    if isinstance(r, GlobEntry):
                        files.append(r.entry.name.rsplit("/", 1)[1])
                items = "".join(f"<li><a href='/logs?n={q(name)}&f={q(x)}'>{html.escape(x)}"
                                f"</a></li>" for x in sorted(files))
                return page("Logs", name, f"<ul id='logs'>{items}</ul>")
            call = await logreader.LogFileClient(f"{base}/{f}").ReadLog(ctx, 0, -1, False)
            lines = [e.Line for e in await _collect(call)]
            return page(f"Log {f}", name, f"<pre id='log'>{html.escape(chr(10).join(lines))}"
                                          "</pre>")
        except Exception as e:
            return page("Logs", name, err_html(e))
        finally:
            cancel()

    async def page_vtrace(self, name, args):
        import io
        from v23py import vtrace
        from v23py.v23.services import vtrace as svc
        ctx, cancel = self.ctx_timeout()
        try:
            recs = await _collect(await svc.StoreClient(f"{name}/__debug/vtrace").AllTraces(ctx))
        except Exception as e:
            return page("Traces", name, err_html(e))
        finally:
            cancel()
        parts = []
        for r in recs:
            out = io.StringIO()
            vtrace.format_trace(out, r)
            parts.append(f"<pre class='trace'>{html.escape(out.getvalue())}</pre>")
        body = "".join(parts) or "<p id='notraces'>No traces collected.</p>"
        return page("Traces", name, f"<p>{len(recs)} trace(s)</p>{body}")

    async def page_profiles(self, name, args):
        from v23py.v23.services import pprof
        ctx, cancel = self.ctx_timeout()
        try:
            c = pprof.PProfClient(f"{name}/__debug/pprof")
            argv = await c.CmdLine(ctx)
            chunks = await _collect(await c.Profile(ctx, "goroutine", 2))
        except Exception as e:
            return page("Profiles", name, err_html(e))
        finally:
            cancel()
        text = b"".join(bytes(x) for x in chunks).decode("utf-8", "replace")
        return page("Profiles", name, f"<p class='name'>{html.escape(' '.join(argv))}</p>"
                                      f"<pre id='stacks'>{html.escape(text)}</pre>")

    async def page_glob(self, name, args):
        from v23py.cmd._nscli import namespace_for
        from v23py.runtime.namespace import GlobEntry
        ctx, cancel = self.ctx_timeout()
        rows, errs = [], []
        try:
            async for r in namespace_for(ctx).glob_iter(ctx, name.rstrip("/") + "/*"):
                if isinstance(r, GlobEntry):
                    e = r.entry
                    servers = " ".join(s.server for s in e.servers)
                    rows.append(f"<tr><td class='name'><a href='/glob?n={q(e.name)}'>"
                                f"{html.escape(e.name)}</a></td><td class='name'>"
                                f"{html.escape(servers)}</td><td><a href='/name?n={q(e.name)}'>"
                                f"server</a></td></tr>")
                else:
                    errs.append(f"<li>{html.escape(r.name)}: {html.escape(error_text(r.error))}"
                                "</li>")
        except Exception as e:
            return page("Namespace", name, err_html(e))
        finally:
            cancel()
        body = (f"<table id='glob'><tr><th>Name</th><th>Servers</th><th></th></tr>"
                f"{''.join(rows)}</table>" + (f"<ul class='err'>{''.join(errs)}</ul>"
                                              if errs else ""))
        return page("Namespace", name, body)

    # -- syncbase ----------------------------------------------------------------
    async def page_syncbase(self, name, args):
        from v23py.cmd import _browse_syncbase as sb
        return await sb.databases(self, name, args)

    async def page_collection(self, name, args):
        from v23py.cmd import _browse_syncbase as sb
        return await sb.collection(self, name, args)

    async def page_syncgroups(self, name, args):
        from v23py.cmd import _browse_syncbase as sb
        return await sb.syncgroups(self, name, args)

    async def page_live_watch(self, request, name, args):
        from v23py.cmd import _browse_syncbase as sb
        await sb.live_watch(self, request, name, args)


_DERIVED = frozenset(f"{k}{p}" for k in ("delta", "rate", "timeseries") for p in ("1h", "10m", "1m"))


def listen(ctx, names, addr=""):
    host, _, port = (addr or "localhost:0").rpartition(":")
    site = server.Site(Browser(ctx, names))
    return reactor.listenTCP(int(port or 0), site, interface=host or "127.0.0.1")


async def run(ctx, fs, args, out, err):
    import v23py
    from v23py.cmd._nscli import UsageError
    if not args:
        raise UsageError("must provide at least a single vanadium object name")
    if bool(fs.get("key")) != bool(fs.get("blessings")):
        raise UsageError("either both --key and --blessings should be set, or neither should be")
    if fs.get("blessings"):
        _use_blessings(ctx, fs.get("blessings"))
    out.write("selecting from [" + " ".join(args) + "]\n")
    port = listen(ctx, list(args), fs.get("addr"))
    h = port.getHost()
    host = "localhost" if h.host in ("127.0.0.1", "::1") else h.host
    out.write(f"Visit http://{host}:{h.port} and Ctrl-C to quit\n")
    out.flush()
    await v23py.wait_for_signal(ctx)
    await port.stopListening()
    return 0


def _use_blessings(ctx, text):
    import base64
    import v23py
    from v23py import security, vom
    try:
        b = vom.decode(base64.urlsafe_b64decode(text))
        b = security.blessings_from_wire(b) if not hasattr(b, "public_key") else b
    except Exception as e:
        raise RuntimeError(f"bad value for --blessings: {e}")
    p = v23py.get_principal(ctx)
    try:
        p.blessing_store.set(b, "...")
    except Exception as e:
        raise RuntimeError(f"cannot use --blessings: {e}")
    p.add_to_roots(b)


def principal_from_key(text):
    """The principal of a ``debug delegate`` key (base64 DER, EC)."""
    import base64
    from cryptography.hazmat.primitives import serialization
    from v23py import security
    try:
        key = serialization.load_der_private_key(base64.urlsafe_b64decode(text), None)
    except Exception as e:
        raise RuntimeError(f"bad value for --key: {e}")
    return security.principal_from_signer(security.Signer(key))
