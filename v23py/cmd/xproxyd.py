"""xproxyd: proxies Vanadium services to the outside world (Go's xproxyd, same flags).

    xproxyd [--name=NAME] [--access-list=JSON] [--stats-access-list=JSON]
            [--healthz-address=ADDR] [--v23.tcp.address=...] [--v23.proxy=NAME]

Servers behind a NAT listen through it (``--v23.proxy=NAME``) and clients reach them through
the endpoints it gives them.  Prints ``NAME=<name of its first endpoint>`` with --name (and
mounts itself there), else ``Proxy listening on <endpoint>``; then its statistics server
(``STATS=<name>`` with --name, mounted as NAME-mon) and ``Proxy stats listening on: [...]``.
Runs until SIGINT/SIGTERM.
"""
import sys


async def _run(reactor, argv):
    import v23py
    from v23py.xproxy import Proxy, access_list_authorizer
    from v23py.xproxy.stats import StatsDispatcher

    fs = v23py.FlagSet("xproxyd")
    healthz = fs.string("healthz-address", "", "Network address on which the HTTP healthz "
                        "server runs.  It is intended to be used with a load balancer.")
    name = fs.string("name", "", "Name to mount the proxy as.")
    acl = fs.string("access-list", "", "Blessings that are authorized to listen via the "
                    "proxy.  JSON-encoded representation of access.AccessList.  An empty "
                    "string implies the default authorization policy.")
    stats_acl = fs.string("stats-access-list", "", "Blessings that are authorized to access "
                          "the proxy's statistics.  JSON-encoded representation of "
                          "access.AccessList.  An empty string implies the default "
                          "authorization policy.")
    ctx, shutdown = v23py.init(argv, flags=fs)
    rt = v23py.get_runtime(ctx)
    try:
        auth = access_list_authorizer(acl(), rt.principal)
    except v23py.verror.VError as e:
        raise SystemExit(f"failed to parse --access-list: {e.msg}") from None
    try:
        stats_auth = access_list_authorizer(stats_acl(), rt.principal)
    except v23py.verror.VError as e:
        raise SystemExit(f"failed to parse --stats-access-list: {e.msg}") from None

    mgr = rt._new_flow_manager(listening=True)

    proxy = Proxy(mgr, rt.principal, authorizer=auth,
                  resolve=lambda n: rt._resolve_endpoints(ctx, n), reactor=reactor)
    for protocol, address in rt.listen_addrs():
        await mgr.listen(address, protocol=protocol)
    if rt.flags.get("v23.proxy"):
        proxy.listen_through(rt.flags.get("v23.proxy"))
    rt.shutdown_callbacks.append(lambda: mgr.stop())
    rt.shutdown_callbacks.append(proxy.stop)
    eps = proxy.endpoints()
    if name():
        from v23py.runtime.publisher import Publisher
        pub = Publisher(ctx, rt.namespace, reactor)
        for ep in mgr.endpoints():
            pub.add_server(ep.name())
        pub.add_name(name(), serves_mount_table=False, is_leaf=True)
        rt.shutdown_callbacks.append(lambda: pub.stop(timeout=2.0))
        print(f"NAME={eps[0].name()}", flush=True)
    else:
        print(f"Proxy listening on {eps[0]}", flush=True)

    if healthz():
        _start_healthz(reactor, healthz())

    server = await v23py.with_new_dispatching_server(
        ctx, name() + "-mon" if name() else "", StatsDispatcher(proxy, stats_auth))
    if name() and len(server.endpoints) == 1:
        print(f"STATS={server.endpoints[0].name()}", flush=True)
    print("Proxy stats listening on: [%s]" % " ".join(str(e) for e in server.endpoints),
          flush=True)
    await v23py.wait_for_signal(ctx)
    await shutdown()
    return 0


def _start_healthz(reactor, address):
    """An HTTP server answering "ok" to everything (for a load balancer)."""
    from twisted.web import resource, server

    class Ok(resource.Resource):
        isLeaf = True

        def render(self, request):
            return b"ok"
    host, _, port = address.rpartition(":")
    reactor.listenTCP(int(port or 0), server.Site(Ok()), interface=host.strip("[]") or "")


def main(argv=None):
    from v23py.runtime import run_program
    run_program(_run, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
