"""hello-client: calls Get on the Hello server named by --server and prints
the greeting.

The tutorial's Go client ignores a failed call (it prints an empty line and
exits 0); this one reports the error on stderr and exits 1, so a tutorial
script under ``bash -e`` notices.
"""
import sys


class RelatedServer:
    """Trust a server whose blessings and ours (those we present to it) are
    extensions of one another: the default authorization policy, seen from
    the client.

    The tutorial names the server by address only (``/localhost:23000``), so
    the name carries no blessings.  Go's client insists on blessings in the
    endpoint and refuses such a server ("client does not trust server: no
    blessings in endpoint"); the tutorial's Go client hides that failure by
    printing an empty line.  This client checks the server against its own
    blessings instead, so the tutorial's greeting comes back, and a server
    with unrelated blessings is still refused (NotTrusted).
    """

    def authorize(self, call):
        from v23py import security
        p = call.local_principal
        remote, _ = security.remote_blessing_names(call)
        mine = p.blessing_store.for_peer(*remote)
        if mine is None or mine.is_zero():
            mine = p.blessing_store.default()
        ours = security.Call(local_principal=p, local_blessings=mine,
                             remote_blessings=call.remote_blessings, timestamp=call.timestamp,
                             local_endpoint=call.local_endpoint,
                             remote_endpoint=call.remote_endpoint)
        return security.default_authorizer().authorize(ours)


def trust_opts():
    from v23py.rpc import options
    auth = RelatedServer()
    return (options.ServerAuthorizer(auth), options.NameResolutionAuthorizer(auth))


async def run(reactor, argv):
    import v23py
    from v23py import verror
    from hello.ifc import HelloClient
    flags = v23py.FlagSet("hello-client")
    server = flags.string("server", "", "Name of the server to connect to")
    ctx, shutdown = v23py.init(argv, flags=flags)
    if not server():
        sys.stderr.write("--server must be specified\n")
        await shutdown()
        return 1
    ctx, cancel = ctx.with_timeout(60.0)
    code = 0
    try:
        print(await HelloClient(server()).Get(ctx, *trust_opts()), flush=True)
    except verror.VError as e:
        sys.stderr.write(f"error getting greeting: {e}\n")
        code = 1
    finally:
        cancel()
        await shutdown()
    return code


def main(argv=None):
    from twisted.internet import defer, task
    argv = sys.argv[1:] if argv is None else argv
    result = []

    def go(reactor):
        return defer.ensureDeferred(run(reactor, argv)).addCallback(result.append)
    try:
        task.react(go)
    except SystemExit as e:
        if e.code not in (0, None):
            raise
    sys.exit(result[0] if result else 1)


if __name__ == "__main__":
    main()
