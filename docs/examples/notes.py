"""notes: a Syncbase quick start -- keep notes in a collection, in a batch, and query them.

    python notes.py <syncbase name> [note ...]
"""
import sys
from typing import Any, Sequence

import v23py
from v23py import syncbase
from v23py.runtime import run_program


async def main(reactor: Any, argv: Sequence[str]) -> int:
    flags = v23py.FlagSet("notes")
    ctx, shutdown = v23py.init(argv, flags=flags)
    sb_name, new_notes = flags.args[0], flags.args[1:]
    try:
        db = syncbase.new_service(sb_name).database(ctx, "notes")
        await db.create(ctx, exist_ok=True)           # a second run finds it there
        mine = db.collection(ctx, "mine")
        await mine.create(ctx, exist_ok=True)

        async def add(batch: syncbase.BatchDatabase) -> None:
            # all or nothing, and retried if another writer got in between
            c = batch.collection(ctx, "mine")
            n = len([key async for key, _ in c.scan(ctx, syncbase.Prefix("note-"))])
            for i, note in enumerate(new_notes, start=n):
                await c.put(ctx, f"note-{i:03d}", note)
        await syncbase.run_in_batch(ctx, db, syncbase.BatchOptions(), add)

        headers, rows = await db.exec(ctx, "select k, v from mine where k like ?", "note-%")
        async for key, value in rows:
            print(key, value)
        return 0
    finally:
        await shutdown()


if __name__ == "__main__":
    run_program(main, sys.argv[1:])
