"""fortune-server: the tutorial's Fortune server.

Flags: --service-name (mount name, default none), --endpoint-file-name (write
"/<endpoint>" and a newline there), --perms (JSON permissions: serve the
tagged interface with a permissions authorizer), --dispatcher=registry (a
fortune service per suffix; see fortune.util), plus the v23 runtime flags.  Prints
"Wrote endpoint name to <file>." (when asked) and "Listening at: <endpoint>",
then serves until SIGINT or SIGTERM.
"""
import sys


def save_endpoint(path, ep):
    if not path:
        return
    with open(path, "w") as f:
        f.write("/" + str(ep) + "\n")
    print(f"Wrote endpoint name to {path}.", flush=True)


async def run(reactor, argv):
    import v23py
    from fortune import service, util
    flags = v23py.FlagSet("fortune-server")
    service_name = flags.string("service-name", "", "Name for service in default mount table.")
    endpoint_file = flags.string("endpoint-file-name", "", "Write endpoint address to given file.")
    sb_name = flags.string("sb-name", "", "Name of Syncbase service")
    remote_sb_name = flags.string("remote-sb-name", "", "Name of remote Syncbase service")
    util.add_flags(flags)   # --perms
    ctx, shutdown = v23py.init(argv, flags=flags)
    try:
        util.authorizer_kind(flags)
        util.make_dispatcher(flags, service.make)
    except ValueError as e:   # a bad --authorizer / --dispatcher value
        sys.stderr.write(f"fortune-server: {e}\n")
        await shutdown()
        return 2
    stop = v23py.wait_for_signal(ctx)
    if sb_name():   # the localPersist tutorial: fortunes live in Syncbase
        from fortune import sbstore
        impl = await sbstore.make(ctx, sb_name(), remote_sb_name())
    else:
        impl = service.make()
    disp = util.make_dispatcher(flags, service.make)   # --dispatcher
    if disp is not None:
        server = await v23py.with_new_dispatching_server(ctx, service_name(), disp)
    else:
        server = await v23py.with_new_server(ctx, service_name(),
                                             util.make_server_object(flags, impl),
                                             util.make_authorizer(flags))
    ep = server.endpoints[0]
    save_endpoint(endpoint_file(), ep)
    print(f"Listening at: {ep}", flush=True)
    await stop
    await shutdown()


def main(argv=None):
    from v23py.runtime import run_program
    run_program(run, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
