"""namespace: resolves and manages names in the Vanadium namespace (Go's
``namespace`` command: same sub-commands, flags and outputs).

    namespace [--v23.namespace.root=NAME ...] <command>
      glob [-l] [-fail-on-any-error] <pattern>
      mount <name> <server> <ttl>          (ttl: Go duration, 0s = forever)
      unmount <name> <server>
      resolve [-insecure] [-s] <name>
      resolvetomt [-insecure] <name>
      permissions get <name> | permissions set <name> <file|->
      delete [-r] <name>
"""
import sys

from v23py.naming.globwalk import GlobEntry
from v23py.cmd._nscli import (
    UsageError, expires_in, go_json, namespace_for, perms_to_json, run_command, run_main)
from v23py.cmd._outcome import error_text

USAGE = """Command namespace resolves and manages names in the Vanadium namespace.

The namespace roots are set from the command line via --v23.namespace.root
command line option or from environment variables that have a name starting
with V23_NAMESPACE, e.g.  V23_NAMESPACE, V23_NAMESPACE_2, V23_NAMESPACE_GOOGLE,
etc.  The command line options override the environment.

Usage:
   namespace [flags] <command>

The namespace commands are:
   glob        Returns all matching entries from the namespace
   mount       Adds a server to the namespace
   unmount     Removes a server from the namespace
   resolve     Translates a object name to its object address(es)
   resolvetomt Finds the address of the mounttable that holds an object name
   permissions Manipulates permissions on an entry in the namespace
   delete      Deletes a name from the namespace
"""


def _glob_flags(fs):
    fs.bool("l", False, "Long listing format.")
    fs.bool("fail-on-any-error", False, "exit on any error, by default glob will report errors "
            "but not return a non-zero exit code")


def _resolve_flags(fs):
    fs.bool("insecure", False, "Insecure mode: May return results from untrusted servers and "
            "invoke Resolve on untrusted mounttables")
    fs.bool("s", False, "True to perform a shallow resolution")


def _resolvetomt_flags(fs):
    fs.bool("insecure", False, "Insecure mode: May return results from untrusted servers and "
            "invoke Resolve on untrusted mounttables")


def _delete_flags(fs):
    fs.bool("r", False, "Delete all children of the name in addition to the name itself.")


COMMANDS = {
    "glob": _glob_flags,
    "mount": None,
    "unmount": None,
    "resolve": _resolve_flags,
    "resolvetomt": _resolvetomt_flags,
    "permissions": {"get": None, "set": None},
    "delete": _delete_flags,
}


USAGES = {
    "glob": "[flags] <pattern>",
    "mount": "[flags] <name> <server> <ttl>",
    "unmount": "[flags] <name> <server>",
    "resolve": "[flags] <name>",
    "resolvetomt": "[flags] <name>",
    "permissions": "[flags] <command>  (get <name> | set <name> <permissions file or ->)",
    "permissions get": "[flags] <name>",
    "permissions set": "[flags] <name> <permissions file or ->",
    "delete": "[flags] <name>",
}


def _nargs(cmd, args, n):
    if len(args) != n:
        raise UsageError(f"{cmd}: incorrect number of arguments, expected {n}, got {len(args)}")


class GlobPrinter:
    """``namespace glob``'s output from the replies (GlobEntry / GlobErrorReply) in the
    order found: with -l each entry as it comes, else the sorted names at the end; then
    the errors.  :meth:`finish` returns the exit code, or raises the error the command
    fails with.  Both the runtime's path and the runtime-free one print through it."""

    def __init__(self, long, fail_on_any_error, out, err, clock):
        self.long, self.fail_on_any_error = long, fail_on_any_error
        self.out, self.err, self.clock = out, err, clock
        self.errors = []
        self.successes = 0
        self.names = set()

    def add(self, r):
        if isinstance(r, GlobEntry):
            self.successes += 1
            e = r.entry
            if self.long:
                now = self.clock()
                line = e.name + "".join(f" {s.server} (Expires in {expires_in(s.expires, now)} sec)"
                                        for s in e.servers)
                self.out.write(line + "\n")
            elif e.name:
                self.names.add(e.name)
        else:
            self.errors.append(r)

    def finish(self):
        if not self.long:
            for n in sorted(self.names):
                self.out.write(n + "\n")
        errors = self.errors
        if errors:
            if not self.fail_on_any_error and self.successes > 0:
                for r in errors:
                    self.err.write(f"{r.name or chr(34) * 2}: {error_text(r.error)}\n")
                return 0
            raise RuntimeError("\n".join(f"{r.name or chr(34) * 2}: {error_text(r.error)}"
                                         for r in errors))
        return 0


async def cmd_glob(ctx, fs, args, out, err):
    _nargs("glob", args, 1)
    ns = namespace_for(ctx)
    printer = GlobPrinter(fs.get("l"), fs.get("fail-on-any-error"), out, err, ns.clock)
    async for r in ns.glob_iter(ctx, args[0]):
        printer.add(r)
    return printer.finish()


async def cmd_mount(ctx, fs, args, out, err):
    from v23py.flags import parse_duration, FlagError
    _nargs("mount", args, 3)
    name, server, ttl_arg = args
    try:
        ttl = parse_duration(ttl_arg)
    except FlagError as e:
        raise RuntimeError(f"TTL parse error: {e}")
    await namespace_for(ctx).mount(ctx, name, server, int(ttl))
    out.write("Server mounted successfully.\n")
    return 0


async def cmd_unmount(ctx, fs, args, out, err):
    _nargs("unmount", args, 2)
    await namespace_for(ctx).unmount(ctx, args[0], args[1])
    out.write("Server unmounted successfully.\n")
    return 0


async def cmd_resolve(ctx, fs, args, out, err):
    from v23py.naming import names as _names
    _nargs("resolve", args, 1)
    ns = namespace_for(ctx, insecure=fs.get("insecure"))
    name = args[0]
    if fs.get("s"):
        me = await ns.resolve_to_mount_table(ctx, name)
        if me.name:
            (wire,) = await ns.transport.call(ctx, [s.server for s in me.servers], me.name,
                                              "ResolveStep", [])
            me = ns._from_wire_entry(wire)
    else:
        me = await ns.resolve(ctx, name)
    for s in me.servers:
        out.write(_names.join_address_name(s.server, me.name) + "\n")
    return 0


async def cmd_resolvetomt(ctx, fs, args, out, err):
    from v23py.naming import names as _names
    _nargs("resolvetomt", args, 1)
    ns = namespace_for(ctx, insecure=fs.get("insecure"))
    me = await ns.resolve_to_mount_table(ctx, args[0])
    for s in me.servers:
        out.write(_names.join_address_name(s.server, me.name) + "\n")
    return 0


async def cmd_permissions_get(ctx, fs, args, out, err):
    _nargs("get", args, 1)
    perms, _ = await namespace_for(ctx).get_permissions(ctx, args[0])
    out.write(go_json(perms_to_json(perms)))
    return 0


async def cmd_permissions_set(ctx, fs, args, out, err):
    import json
    from v23py import verror
    from v23py.runtime.namespace import is_error
    from v23py.mounttable.core import NoSuchName
    _nargs("set", args, 2)
    name, source = args
    try:
        text = sys.stdin.read() if source == "-" else open(source, encoding="utf-8").read()
        perms = json.loads(text)
        if not isinstance(perms, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as e:
        raise RuntimeError(str(e))
    ns = namespace_for(ctx)
    for _ in range(100):
        version = ""
        try:
            _, version = await ns.get_permissions(ctx, name)
        except verror.VError as e:
            if not is_error(e, NoSuchName):
                raise
        try:
            await ns.set_permissions(ctx, name, perms, version)
            return 0
        except verror.VError as e:
            if e.id != verror.BadVersion.id:
                raise
    raise RuntimeError("SetPermissions kept failing with a bad version")


async def cmd_delete(ctx, fs, args, out, err):
    _nargs("delete", args, 1)
    await namespace_for(ctx).delete(ctx, args[0], fs.get("r"))
    return 0


HANDLERS = {
    ("glob",): cmd_glob, ("mount",): cmd_mount, ("unmount",): cmd_unmount,
    ("resolve",): cmd_resolve, ("resolvetomt",): cmd_resolvetomt,
    ("permissions", "get"): cmd_permissions_get, ("permissions", "set"): cmd_permissions_set,
    ("delete",): cmd_delete,
}


async def run(reactor, argv, out=None, err=None):
    def invoke(ctx, fs, path, args, out, err):
        return HANDLERS[tuple(path)](ctx, fs, args, out, err)
    return await run_command("namespace", USAGE, COMMANDS, invoke, reactor, argv, out, err,
                             usages=USAGES)


def main(argv=None):
    from v23py.cmd import _entry, _fastglob
    argv = sys.argv[1:] if argv is None else argv
    code = _fastglob.glob(argv, COMMANDS, sys.stdout, sys.stderr)
    if code is not None:
        sys.exit(code)
    _entry.resume_gc()   # (the runtime: a command may wait for long)
    run_main(run, argv, "namespace")


if __name__ == "__main__":
    main()
