"""hello-client: calls Get on the Hello server named by --server and prints
the greeting.

The tutorial's Go client ignores a failed call (it prints an empty line and
exits 0); this one reports the error on stderr and exits 1, so a tutorial
script under ``bash -e`` notices.
"""
import sys
from typing import Any, Optional, Sequence


def trust_opts() -> list[Any]:
    """How the client authorizes the server (and mount tables on the way).

    The tutorial names the server by address only (``/localhost:23000``), so
    the name carries no blessings.  Go's client insists on blessings in the
    endpoint and refuses such a server ("client does not trust server: no
    blessings in endpoint"); the tutorial's Go client hides that failure by
    printing an empty line.  This client keeps Go's check when the endpoint
    names blessings and otherwise trusts a server whose blessings and ours are
    extensions of one another (v23py.runtime.trust), so the tutorial's greeting
    comes back and a server with unrelated blessings is still refused.
    """
    from v23py.runtime import trust
    return trust.trust_opts()


async def run(reactor: Any, argv: Sequence[str]) -> int:
    import v23py
    from v23py import verror
    from v23py.examples.hello.ifc import HelloClient
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


def main(argv: Optional[Sequence[str]] = None) -> None:
    from v23py.runtime import run_program
    run_program(run, sys.argv[1:] if argv is None else argv)

if __name__ == "__main__":
    main()
