"""fortune-client: calls Get (prints the fortune) or, with --add, Add on --server."""
import sys


async def run(reactor, argv):
    import v23py
    from v23py import verror
    from fortune.ifc import FortuneClient
    flags = v23py.FlagSet("fortune-client")
    server = flags.string("server", "", "Name of the server to connect to")
    add = flags.string("add", "", "A new fortune to add to the server's set")
    ctx, shutdown = v23py.init(argv, flags=flags)
    if not server():
        sys.stderr.write("--server must be specified\n")
        return 1
    ctx, cancel = ctx.with_timeout(60.0)
    stub = FortuneClient(server())
    from v23py.runtime.trust import trust_opts   # /localhost:PORT roots carry no blessings
    code = 0
    try:
        if not add():
            print(await stub.Get(ctx, *trust_opts()), flush=True)
        else:
            await stub.Add(ctx, add(), *trust_opts())
    except verror.VError as e:
        what = "getting" if not add() else "adding"
        sys.stderr.write(f"error {what} fortune: {e}\n")
        code = 1
    finally:
        cancel()
        await shutdown()
    return code


def main(argv=None):
    from v23py.runtime import run_program
    run_program(run, sys.argv[1:] if argv is None else argv)

if __name__ == "__main__":
    main()
