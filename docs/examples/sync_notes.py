"""sync_notes: share the notes collection between two Syncbases through a syncgroup.

    python sync_notes.py create <syncbase name>    # on the first device
    python sync_notes.py join <syncbase name> <first device's syncbase name>
    python sync_notes.py wait <syncbase name> <key>  # until <key> has arrived by sync
"""
import os
import sys
from typing import Any, Sequence

from twisted.internet import task

import v23py
from v23py import syncbase, verror
from v23py.runtime import run_program


async def main(reactor: Any, argv: Sequence[str]) -> int:
    flags = v23py.FlagSet("sync_notes")
    ctx, shutdown = v23py.init(argv, flags=flags)
    command, sb_name = flags.args[0], flags.args[1]
    try:
        db = syncbase.new_service(sb_name).database(ctx, "notes")
        await db.create(ctx, exist_ok=True)
        sg = db.syncgroup(ctx, "shared-notes")
        me = syncbase.SyncgroupMemberInfo(SyncPriority=10)
        if command == "create":
            mine = db.collection(ctx, "mine")
            await mine.create(ctx, exist_ok=True)
            user = mine.id().Blessing     # the user pattern, <idp>:o:<app>:<user>
            spec = syncbase.SyncgroupSpec(
                Description="my notes on all my devices",
                PublishSyncbaseName=sb_name,                  # where joiners ask to join
                Perms=syncbase.perms_for(user, syncbase.ALL_SYNCGROUP_TAGS),
                Collections=[mine.id()],
                MountTables=[os.environ["V23_NAMESPACE"]])    # where members find each other
            await sg.create(ctx, spec, me, exist_ok=True)
            print("created", sg.id().Name)
        elif command == "join":
            await sg.join(ctx, flags.args[2], None, me)
            print("joined", sg.id().Name)
        elif command == "wait":
            mine = db.collection(ctx, "mine")
            for _ in range(600):
                try:
                    print(flags.args[2], "=", await mine.get(ctx, flags.args[2]))
                    return 0
                except verror.VError as e:   # not synced yet
                    if e.id != verror.NoExist.id:
                        raise
                await task.deferLater(reactor, 0.1, lambda: None)
            print("timed out", file=sys.stderr)
            return 1
        return 0
    finally:
        await shutdown()


if __name__ == "__main__":
    run_program(main, sys.argv[1:])
