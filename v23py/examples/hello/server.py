"""hello-server: the hello-world tutorial's server.

Serves the Hello object (hello/ifc) at the root of its endpoint, under no
mount name, with the default authorizer (a client is allowed when its
blessings and the server's are extensions of one another).  Flags: the v23
runtime flags (the tutorial passes --v23.credentials and --v23.tcp.address).
Like the tutorial's Go server it prints nothing; it serves until SIGINT or
SIGTERM.
"""
import sys
from typing import Any, Optional, Sequence


async def run(reactor: Any, argv: Sequence[str]) -> None:
    import v23py
    from v23py import security
    from v23py.examples.hello import service
    from v23py.examples.hello.ifc import HelloServer
    flags = v23py.FlagSet("hello-server")
    ctx, shutdown = v23py.init(argv, flags=flags)
    stop = v23py.wait_for_signal(ctx)
    await v23py.with_new_server(ctx, "", HelloServer(service.make()),
                                security.default_authorizer())
    await stop
    await shutdown()


def main(argv: Optional[Sequence[str]] = None) -> None:
    from twisted.internet import defer, task
    argv = sys.argv[1:] if argv is None else argv
    task.react(lambda reactor: defer.ensureDeferred(run(reactor, argv)))


if __name__ == "__main__":
    main()
