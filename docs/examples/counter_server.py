"""counter-server: serves a Counter under a name in the mount table."""
import sys
from typing import Any, Sequence

import v23py
from v23py import security
from v23py.context import Context
from v23py.rpc.stubs import ServerCall
from v23py.runtime import run_program
from v23py.security import access

from counter import CounterHistoryServerCall, CounterServer, CounterServerMethods


class Counter(CounterServerMethods):
    def __init__(self) -> None:
        self.history = [0]

    def Add(self, ctx: Context, call: ServerCall, delta: int) -> int:
        self.history.append(self.history[-1] + delta)
        return self.history[-1]

    def Get(self, ctx: Context, call: ServerCall) -> int:
        return self.history[-1]

    async def History(self, ctx: Context, call: CounterHistoryServerCall) -> None:
        for value in list(self.history):
            await call.send(value)


async def main(reactor: Any, argv: Sequence[str]) -> int:
    flags = v23py.FlagSet("counter-server")
    name = flags.string("name", "counter", "Name to mount the counter at.")
    perms = flags.string("perms", "", "Permissions file (JSON); default: Go's default policy.")
    ctx, shutdown = v23py.init(argv, flags=flags)
    stop = v23py.wait_for_signal(ctx)
    authorizer = (access.permissions_authorizer_from_file(perms()) if perms()
                  else security.default_authorizer())
    server = await v23py.with_new_server(ctx, name(), CounterServer(Counter()), authorizer)
    print(f"serving {name()} at {server.endpoints[0].name()}", flush=True)
    await stop
    await shutdown()
    return 0


if __name__ == "__main__":
    run_program(main, sys.argv[1:])
