"""Shared plumbing for the ``namespace`` and ``mounttable`` commands: Go-style
sub-command flag parsing (flags may come before or after each sub-command
level), running under the Twisted reactor, Go's output conventions."""

import math
import sys
import time

from v23py.cmd._entry import runtime_timeout
from v23py.cmd._help import command_help, handle_version
from v23py.cmd._outcome import exit_code

_START = time.monotonic()


class UsageError(Exception):
    pass


def parse_command(prog, argv, commands, global_flags=None):
    """Parse ``prog [flags] cmd [sub] [flags] args``.

    ``commands`` maps a command name to either a dict of its sub-commands or a
    callable adding the command's own flags to the FlagSet (or None). Returns
    (flags, [command path], positional args)."""
    from v23py import runtime
    fs = runtime.add_runtime_flags(runtime.FlagSet(prog))
    if global_flags:
        global_flags(fs)
    rest = fs.parse(argv)
    path = []
    table = commands
    while True:
        if not rest:
            if path:
                raise UsageError(f"{' '.join(path)}: no command specified")
            raise UsageError("no command specified")
        cmd, rest = rest[0], rest[1:]
        if cmd == "help" and not path:
            return fs, ["help"], rest
        if cmd not in table:
            raise UsageError(f"unknown command {cmd!r}")
        path.append(cmd)
        entry = table[cmd]
        if isinstance(entry, dict):
            rest = fs.parse(rest)
            table = entry
            continue
        if entry is not None:
            entry(fs)
        rest = fs.parse(rest)
        return fs, path, rest


def help_text(prog, usage, commands, usages, args):
    """``prog help [command [sub]]``: the tool's usage, or one command's (its summary,
    usage line and own flags).  (text, exit code)."""
    if not args:
        return usage, 0
    entry = commands.get(args[0], False)
    if isinstance(entry, dict) and len(args) > 1:
        entry = entry.get(args[1], False)
        path = args[:2]
    else:
        path = args[:1]
    text = None
    if entry is not False:
        text = command_help(prog, usage, path, usages,
                            entry if callable(entry) else None)
    if text is None:
        return f"{prog}: unknown command {' '.join(args)!r}\n\n{usage}", 2
    return text, 0


def run_main(coro_fn, argv, prog=None):
    """Run ``await coro_fn(reactor, argv)`` under the reactor; exit with its code.
    ``prog --version`` prints the version without starting anything."""
    if prog is not None and handle_version(prog, argv):
        raise SystemExit(0)
    from v23py.runtime import run_program
    run_program(coro_fn, argv)


def parse_or_exit_code(prog, usage, commands, usages, argv, out, err, global_flags=None):
    """(flags, command path, args) of a command line, or the exit code when there is nothing
    to run: -h/-help or ``prog help ...`` (the usage written, 0 or help's own code) or a
    wrong line (the error and the usage on stderr, 2), as Go's tools answer them."""
    from v23py import runtime
    try:
        fs, path, args = parse_command(prog, argv, commands, global_flags)
    except (UsageError, runtime.FlagError) as e:
        if str(e) == "help requested":
            out.write(usage)
            return 0
        err.write(f"ERROR: {e}\n\n{usage}")
        return 2
    if path == ["help"]:
        text, code = help_text(prog, usage, commands, usages or {}, args)
        (out if code == 0 else err).write(text)
        return code
    return fs, path, args


async def run_command(prog, usage, commands, invoke, reactor, argv, out=None, err=None,
                      usages=None):
    """The body shared by ``namespace`` and ``mounttable``: parse, init the runtime,
    run ``await invoke(ctx, flags, path, args, out, err)`` within Go's one-minute
    timeout, and map failures to Go's messages and exit codes."""
    import v23py
    out = out or sys.stdout
    err = err or sys.stderr
    parsed = parse_or_exit_code(prog, usage, commands, usages, argv, out, err)
    if isinstance(parsed, int):
        return parsed
    fs, path, args = parsed
    ctx, shutdown = v23py.init([], flags=fs, reactor=reactor)
    ctx, cancel = ctx.with_timeout(runtime_timeout(60.0))

    async def body():
        try:
            return await invoke(ctx, fs, path, args, out, err)
        finally:
            cancel()
    return await exit_code(body, shutdown, out, err, UsageError)


def expires_in(expires, now):
    """Go's int(time.Until(deadline).Seconds()); a missing deadline is the zero time."""
    if expires == math.inf:
        return -9223372036
    return int(expires - now)


def go_time(expires):
    """A deadline the way Go prints a time.Time with a monotonic reading."""
    if expires == math.inf:
        return "0001-01-01 00:00:00 +0000 UTC"
    import datetime     # (not at import: namespace glob's fast path never needs it)
    dt = datetime.datetime.fromtimestamp(expires, datetime.timezone.utc)
    nanos = int(round((expires - math.floor(expires)) * 1e9)) % 1_000_000_000
    frac = f".{nanos:09d}".rstrip("0").rstrip(".")
    mono = expires - time.time() + (time.monotonic() - _START)
    return dt.strftime("%Y-%m-%d %H:%M:%S") + frac + f" +0000 UTC m=+{mono:.9f}"


def go_json(value):
    """encoding/json's Encoder output: compact, sorted map keys, HTML-escaped, newline."""
    import json         # (not at import: its regexes cost every tool's start)
    text = json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026") + "\n"


def perms_to_json(perms):
    """access.Permissions as Go marshals it ({"Tag":{"In":[...],"NotIn":null}}).
    An empty map is null: Go's VOM decoder yields a nil map for it."""
    from v23py.security import access
    if not perms:
        return None
    out = {}
    for tag, acl in dict(perms).items():
        ins, notins = access.acl_parts(acl)
        out[str(tag)] = {"In": [str(p) for p in ins] or None,
                         "NotIn": [str(n) for n in notins] or None}
    return out


def namespace_for(ctx, insecure=False):
    import v23py
    from v23py.runtime.namespace import Namespace, RpcTransport
    from v23py.runtime.trust import trust_opts
    rt = v23py.get_runtime(ctx)
    if insecure:
        from v23py.rpc import options
        opts = options.insecure()
    else:
        # Go's endpoint check, except for tables named by address only
        # (/localhost:23000), which must be related to our blessings
        opts = trust_opts()
    return Namespace(rt.namespace_roots, RpcTransport(rt.client, opts))
