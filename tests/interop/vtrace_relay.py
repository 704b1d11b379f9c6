"""A v23py server for the vtrace interop test: Relay(name) calls GetPermissions on
`name` (a Go mount table) with the call's own context, so the trace goes on."""
import sys

from twisted.internet import defer, task

import v23py
from v23py import rpc


class Relay:
    async def Relay(self, ctx, call, name):
        from v23py.rpc import options
        perms, version = await rpc.get_client(ctx).call(ctx, name, "GetPermissions", [],
                                                        opts=(options.NoResolve(),))
        return str(version)


async def main(reactor):
    flags = v23py.FlagSet("vtrace-relay")
    ctx, shutdown = v23py.init(sys.argv[1:], flags=flags, reactor=reactor)
    server = await v23py.with_new_server(ctx, "", Relay())
    print("NAME=/" + str(server.endpoints[0]), flush=True)
    await v23py.wait_for_signal(ctx)
    await shutdown()


if __name__ == "__main__":
    task.react(lambda r: defer.ensureDeferred(main(r)))
