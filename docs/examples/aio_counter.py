"""The counter from asyncio: ``asyncio.run`` drives v23py through ``v23py.aio``."""
import asyncio
import sys

import v23py.aio

from counter import CounterClient


async def main(name: str) -> None:
    async with v23py.aio.init([]) as ctx:          # flags and V23_* variables as usual
        counter = CounterClient(name)
        # calls are awaitables: run ten at once from asyncio tasks
        results = await asyncio.gather(*(counter.Add(ctx, 1) for _ in range(10)))
        print("largest:", max(results))
        # and mix with asyncio's own tools: a deadline on a call
        count = await asyncio.wait_for(counter.Get(ctx), timeout=10)
        print("count:", count)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "counter"))
