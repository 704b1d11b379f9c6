"""principal: create and manage Vanadium principals and blessings.

Commands, flags and output formats follow Go Vanadium's ``principal`` tool
(v0.2.0).  Flags take the forms -flag, --flag, -flag=value, --flag=value and
-flag value (booleans only with =); they may appear at every command level
before that level's arguments, and the global flags (--v23.credentials ...)
anywhere a flag may appear.  The credentials directory comes from
--v23.credentials or $V23_CREDENTIALS.  All blessings are read and printed as
base64url(VOM(WireBlessings)); ``-`` means standard input.

Errors are printed as one line ``ERROR: ...`` on stderr; the exit status is 1,
or 2 for usage errors.  ``recvblessings`` and ``bless --remote-key/--remote-token``
run the RPC runtime (like Go's); ``seekblessings`` (OAuth web service) and
``scripts`` (Go's scripting language) are not available.
"""
import sys

from v23py import verror
from v23py.gostrings import KEEP_BYTES
from v23py.cmd.principal._commands import (
    cmd_bless, cmd_blessself, cmd_create, cmd_dump, cmd_dumpblessings, cmd_dumproots, cmd_fork,
    cmd_get_default, cmd_get_forpeer, cmd_get_peermap, cmd_get_publickey,
    cmd_get_recognizedroots, cmd_recognize, cmd_set_default, cmd_set_forpeer, cmd_union,
    cmd_update_pkcs8)
from v23py.cmd.principal._common import Env
from v23py.cmd.principal._flags import (
    Command, CommandError, ENV_CREDENTIALS, F_ADD_TO_ROOTS, F_CAVEAT, F_CAVEATS, F_FOR, F_KEYS,
    F_NAMES, F_OVERWRITE, F_REQUIRE_CAVEATS, F_ROOTKEY, F_WITH, F_WITH_PASSPHRASE, Flag,
    UsageError, parse_args, parse_duration)  # noqa: F401 (parse_duration: the tool's API)
from v23py.cmd._help import handle_version



def cmd_recvblessings(env, args):
    # (the RPC runtime's half of the tool, loaded only by the commands that run it)
    from v23py.cmd.principal._remote import cmd_recvblessings as run
    return run(env, args)


def _not_available(what):
    def run(env, args):
        raise CommandError("%s is not available in this principal tool yet" % what)
    return run


def build_root():
    set_cmd = Command("set", "Mutate the principal's blessings.", children=[
        Command("default", "Set provided blessings as default", [F_ADD_TO_ROOTS],
                run=cmd_set_default, args="<file>"),
        Command("forpeer", "Set provided blessings for peer", [F_ADD_TO_ROOTS],
                run=cmd_set_forpeer, args="<file> <pattern>"),
    ])
    get_flags = [F_NAMES, F_ROOTKEY, F_CAVEATS]
    get_cmd = Command("get", "Read the principal's blessings.", children=[
        Command("default", "Return blessings marked as default", get_flags,
                run=cmd_get_default),
        Command("forpeer", "Return blessings marked for the provided peer", get_flags,
                run=cmd_get_forpeer, args="[<peer_1> ... <peer_k>]"),
        Command("publickey", "Prints the public key of the principal.",
                [Flag("pretty", "bool", False, "If true, print the key out in a more "
                      "human-readable but lossy representation.")], run=cmd_get_publickey),
        Command("recognizedroots", "Return recognized blessings, and their associated "
                "public key.", run=cmd_get_recognizedroots),
        Command("peermap", "Shows the map from peer pattern to which blessing name to "
                "present.", run=cmd_get_peermap),
    ])
    children = [
        Command("create", "Create a new principal and persist it into a directory",
                [F_OVERWRITE, F_WITH_PASSPHRASE] + F_KEYS, run=cmd_create,
                args="<directory> [<blessing>]"),
        Command("fork", "Fork a new principal from the principal that this tool is running "
                "as and persist it into a directory",
                [F_CAVEAT, F_FOR, F_WITH, F_OVERWRITE, F_WITH_PASSPHRASE, F_REQUIRE_CAVEATS]
                + F_KEYS, run=cmd_fork, args="<directory> <extension>"),
        Command("seekblessings", "Seek blessings from a web-based Vanadium blessing service",
                [F_ADD_TO_ROOTS, Flag("for-peer", "string", "..."), Flag("from", "string", ""),
                 Flag("set-default", "bool", True), Flag("browser", "bool", True)],
                run=_not_available("seekblessings (needs OAuth and the RPC runtime)")),
        Command("recvblessings", "Receive blessings sent by another principal and use them "
                "as the default",
                [Flag("for-peer", "string", "..."), Flag("set-default", "bool", True),
                 Flag("remote-arg-file", "string", "")],
                run=cmd_recvblessings),
        Command("dump", "Dump out information about the principal",
                [Flag("s", "bool", False, "If true, show only the default blessing names")],
                run=cmd_dump),
        Command("dumpblessings", "Dump out information about the provided blessings",
                run=cmd_dumpblessings, args="<file>"),
        Command("dumproots", "Dump out blessings of the identity providers of blessings",
                run=cmd_dumproots, args="<file>"),
        Command("blessself", "Generate a self-signed blessing", [F_CAVEAT, F_FOR],
                run=cmd_blessself, args="[<name>]"),
        Command("bless", "Bless another principal",
                [F_CAVEAT, F_FOR, F_WITH, F_REQUIRE_CAVEATS,
                 Flag("remote-arg-file", "string", ""), Flag("remote-key", "string", ""),
                 Flag("remote-token", "string", "")],
                run=cmd_bless, args="[<principal to bless>] [<extension>]"),
        set_cmd, get_cmd,
        Command("recognize", "Add to the set of identity providers recognized by this "
                "principal", run=cmd_recognize, args="<blessing pattern|blessing> [<key>]"),
        Command("union", "Merge multiple blessings into one", run=cmd_union,
                args="[<blessing> | <blessing file>...]"),
        Command("update-pkcs8", "Update an existing principal to pkcs8 format and encryption",
                run=cmd_update_pkcs8, args="<directory>..."),
        Command("scripts", "Run one or more scripts",
                [Flag("documentation", "bool", False), Flag("compile-only", "bool", False)],
                run=_not_available("scripts (the Go scripting language)")),
    ]
    return Command("principal", "creates and manages Vanadium principals and blessings",
                   children=children)


def usage(cmd, path):
    lines = ["Usage:"]
    if cmd.children:
        lines.append("   %s [flags] <command>" % path)
        lines.append("")
        lines.append("The %s commands are:" % path)
        for c in cmd.children.values():
            lines.append("   %-13s %s" % (c.name, c.short))
    else:
        lines.append("   %s [flags] %s" % (path, cmd.args))
        if cmd.flags:
            lines.append("")
            lines.append("The %s flags are:" % path)
            for f in cmd.flags.values():
                d = f.default
                if f.kind == "bool":
                    d = "true" if d else "false"
                elif f.kind == "multi":
                    d = "[]"
                elif f.kind == "duration":
                    d = "0s"
                lines.append(" -%s=%s" % (f.name, d))
                if f.help:
                    lines.append("   " + f.help)
    lines.append("")
    lines.append("The global flags are:")
    lines.append(" -v23.credentials=")
    lines.append("   Directory for vanadium credentials (default $%s)." % ENV_CREDENTIALS)
    return "\n".join(lines) + "\n"


def run(argv, stdin=None, stdout=None, stderr=None):
    """Run the tool; returns the exit status."""
    stdin = stdin if stdin is not None else sys.stdin
    stdout = stdout if stdout is not None else sys.stdout
    stderr = stderr if stderr is not None else sys.stderr
    root = build_root()
    try:
        chain, cmd, values, args = parse_args(root, list(argv))
    except UsageError as e:
        stderr.write("ERROR: %s\n" % e)
        return 2
    if cmd is None:  # help
        target = chain[-1]
        path = [c.name for c in chain]
        for name in args:
            if name in target.children:
                target = target.children[name]
                path.append(name)
            else:
                stderr.write('ERROR: %s: unknown command or topic "%s"\n' % (" ".join(path), name))
                return 2
        stdout.write(("%s - %s\n\n" % (" ".join(path), target.short)) + usage(target, " ".join(path)))
        return 0
    env = Env(values, stdin, stdout, stderr)
    try:
        cmd.run(env, args)
    except UsageError as e:
        stderr.write("ERROR: %s\n" % e)
        return 2
    except CommandError as e:
        stderr.write("ERROR: %s\n" % _one_line(str(e)))
        return 1
    except verror.VError as e:
        stderr.write("ERROR: %s\n" % _one_line(str(e)))
        return 1
    except KeyboardInterrupt:
        stderr.write("ERROR: interrupted\n")
        return 1
    except BrokenPipeError:
        return 1
    try:
        stdout.flush()
    except (BrokenPipeError, ValueError):
        pass
    return 0


def _one_line(s):
    return " ".join(s.split("\n")).strip()


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if handle_version("principal", argv):
        sys.exit(0)
    for stream in (sys.stdout, sys.stderr):  # Go strings may hold any bytes: print them as-is
        try:
            stream.reconfigure(errors=KEEP_BYTES)
        except (AttributeError, ValueError):
            pass
    try:
        code = run(argv)
    except Exception as e:  # last resort: never a traceback for the user
        sys.stderr.write("ERROR: internal error: %s: %s\n" % (type(e).__name__, e))
        code = 1
    sys.exit(code)
