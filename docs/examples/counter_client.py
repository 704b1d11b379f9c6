"""counter-client: adds to the counter and prints what it holds.

    python counter_client.py [--name counter] [delta]
"""
import sys
from typing import Any, Sequence

import v23py
from v23py import verror
from v23py.runtime import run_program

from counter import CounterClient


async def main(reactor: Any, argv: Sequence[str]) -> int:
    flags = v23py.FlagSet("counter-client")
    name = flags.string("name", "counter", "Name of the counter.")
    ctx, shutdown = v23py.init(argv, flags=flags)
    counter = CounterClient(name())
    try:
        if flags.args:
            print("added:", await counter.Add(ctx, int(flags.args[0])))
        print("count:", await counter.Get(ctx))
        call = await counter.History(ctx)
        print("history:", [value async for value in call])
        await call.finish()
        return 0
    except verror.VError as e:
        print(f"counter-client: {e}", file=sys.stderr)
        return 1
    finally:
        await shutdown()


if __name__ == "__main__":
    run_program(main, sys.argv[1:])
