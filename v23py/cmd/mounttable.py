"""mounttable: sends commands to Vanadium mount table services (Go's
``mounttable`` command: same sub-commands and outputs). It talks directly to one
table -- a relative <mount name> is relative to the first namespace root,
without resolution.

    mounttable [--v23.namespace.root=NAME] <command>
      glob [<mount name>] <pattern>
      mount <mount name> <name> [<ttl> [L|M|R]]
      unmount <mount name> <name>
      resolvestep <mount name>
"""
import sys

from v23py.cmd._nscli import UsageError, go_time, namespace_for, run_command, run_main

USAGE = """Command mounttable sends commands to Vanadium mounttable services.

Usage:
   mounttable [flags] <command>

The mounttable commands are:
   glob        returns all matching entries in the mount table
   mount       Mounts a server <name> onto a mount table
   unmount     removes server <name> from the mount table
   resolvestep takes the next step in resolving a name.
"""

COMMANDS = {"glob": None, "mount": None, "unmount": None, "resolvestep": None}
USAGES = {
    "glob": "[flags] [<mount name>] <pattern>",
    "mount": "[flags] <mount name> <name> [<ttl> [L|M|R]]",
    "unmount": "[flags] <mount name> <name>",
    "resolvestep": "[flags] <mount name>",
}


def _direct(ns, name):
    """(servers, name there) for a name, without resolution (Go's Preresolved{})."""
    e, _ = ns.root_entry(name)
    return [s.server for s in e.servers], e.name


async def cmd_glob(ctx, ns, args, out, err):
    from v23py.runtime.namespace import _glob_reply
    if len(args) == 1:
        if not ns.roots:
            raise RuntimeError("no namespace root")
        args = [ns.roots[0]] + args
    if len(args) != 2:
        raise UsageError(f"glob: incorrect number of arguments, expected 2, got {len(args)}")
    servers, name = _direct(ns, args[0])
    # each entry as it arrives: a call that fails part-way prints those, then its error
    async for r in ns.transport.glob(ctx, servers, name, args[1]):
        kind, value = _glob_reply(r, ns)
        if kind != "entry":
            continue
        out.write(value.name + "".join(f" {s.server} (Deadline {go_time(s.expires)})"
                                       for s in value.servers) + "\n")
    return 0


async def cmd_mount(ctx, ns, args, out, err):
    from v23py.mounttable.core import LEAF, MT, REPLACE
    from v23py.flags import FlagError, parse_duration
    if not 2 <= len(args) <= 4:
        raise UsageError(f"mount: incorrect number of arguments, expected 2, 3, or 4, got {len(args)}")
    name, server = args[0], args[1]
    seconds, flags = 0, 0
    if len(args) >= 3:
        try:
            seconds = int(parse_duration(args[2]))
        except FlagError as e:
            raise RuntimeError(f"TTL parse error: {e}")
    if len(args) >= 4:
        for c in args[3]:
            flags |= {"L": LEAF, "M": MT, "R": REPLACE}.get(c, 0)
    servers, suffix = _direct(ns, name)
    await ns.transport.call(ctx, servers, suffix, "Mount", [server, seconds & 0xFFFFFFFF, flags])
    out.write("Name mounted successfully.\n")
    return 0


async def cmd_unmount(ctx, ns, args, out, err):
    if len(args) != 2:
        raise UsageError(f"unmount: incorrect number of arguments, expected 2, got {len(args)}")
    servers, suffix = _direct(ns, args[0])
    await ns.transport.call(ctx, servers, suffix, "Unmount", [args[1]])
    out.write("Unmount successful or name not mounted.\n")
    return 0


async def cmd_resolvestep(ctx, ns, args, out, err):
    from v23py.rpc.signature import go_quote
    if len(args) != 1:
        raise UsageError(f"mount: incorrect number of arguments, expected 1, got {len(args)}")
    servers, suffix = _direct(ns, args[0])
    (wire,) = await ns.transport.call(ctx, servers, suffix, "ResolveStep", [])
    e = ns._from_wire_entry(wire)
    listing = " ".join("{%s %s}" % (s.server, go_time(s.expires)) for s in e.servers)
    out.write(f"Servers: [{listing}] Suffix: {go_quote(e.name)} "
              f"MT: {'true' if e.serves_mount_table else 'false'}\n")
    return 0


HANDLERS = {"glob": cmd_glob, "mount": cmd_mount, "unmount": cmd_unmount,
            "resolvestep": cmd_resolvestep}


async def run(reactor, argv, out=None, err=None):
    def invoke(ctx, fs, path, args, out, err):
        return HANDLERS[path[0]](ctx, namespace_for(ctx), args, out, err)
    return await run_command("mounttable", USAGE, COMMANDS, invoke, reactor, argv, out, err,
                             usages=USAGES)


def main(argv=None):
    run_main(run, sys.argv[1:] if argv is None else argv, "mounttable")


if __name__ == "__main__":
    main()
