"""An HTTP proxy to a server's __debug/pprof object, with the URLs of Go's
net/http/pprof (what ``go tool pprof`` fetches): /pprof/, /pprof/cmdline,
/pprof/profile?seconds=N, /pprof/symbol, /pprof/<profile>?debug=N."""
import html

from twisted.internet import defer, reactor
from twisted.web import resource, server


class _Proxy(resource.Resource):
    isLeaf = True

    def __init__(self, ctx, name):
        super().__init__()
        self.ctx, self.name = ctx, name

    def render_GET(self, request):
        d = defer.ensureDeferred(self._serve(request))

        def failed(f):
            request.setResponseCode(503)
            request.setHeader(b"content-type", b"text/plain; charset=utf-8")
            request.write(f"{f.getErrorMessage()}\n".encode())
            request.finish()
        d.addErrback(failed)
        return server.NOT_DONE_YET

    render_POST = render_GET

    async def _serve(self, request):
        from v23py.v23.services import pprof
        client = pprof.PProfClient(self.name)
        path = request.path.decode()
        args = {k.decode(): v[0].decode() for k, v in request.args.items()}
        if path in ("", "/"):
            request.redirect(b"/pprof/")
            request.finish()
            return
        if path == "/pprof/cmdline":
            argv = await client.CmdLine(self.ctx)
            request.setHeader(b"content-type", b"text/plain; charset=utf-8")
            request.write("\x00".join(argv).encode())
        elif path == "/pprof/profile":
            secs = int(args.get("seconds", "30") or 30)
            call = await client.CpuProfile(self.ctx, secs)
            request.setHeader(b"content-type", b"application/octet-stream")
            async for chunk in call:
                request.write(bytes(chunk))
            await call.finish()
        elif path == "/pprof/symbol":
            request.setHeader(b"content-type", b"text/plain; charset=utf-8")
            request.write(b"num_symbols: 0\n")
        elif path.startswith("/pprof/") and path != "/pprof/":
            prof = path[len("/pprof/"):]
            call = await client.Profile(self.ctx, prof, int(args.get("debug", "0") or 0))
            request.setHeader(b"content-type", b"application/octet-stream"
                              if args.get("debug", "0") in ("", "0") else b"text/plain")
            async for chunk in call:
                request.write(bytes(chunk))
            await call.finish()
        else:
            profiles = await client.Profiles(self.ctx)
            request.setHeader(b"content-type", b"text/html; charset=utf-8")
            rows = "".join(f'<tr><td><a href="/pprof/{html.escape(p)}?debug=1">'
                           f'{html.escape(p)}</a></td></tr>' for p in profiles)
            request.write(f"<html><head><title>/pprof/</title></head><body>/pprof/<br>"
                          f"<table>{rows}</table></body></html>".encode())
        request.finish()


def start(ctx, name, host="127.0.0.1", port=0):
    """Deferred firing with the listening port of a proxy to the pprof object ``name``."""
    site = server.Site(_Proxy(ctx, name))
    return defer.succeed(reactor.listenTCP(port, site, interface=host))
