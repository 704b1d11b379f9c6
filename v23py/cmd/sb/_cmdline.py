"""What every sb command shares: the command tree's nodes, usage text in Go's cmdline
style, flag parsing at each level (Go's flag syntax, v23py.flags), the state of one
process or shell session, and opening the database (Go's dbutil)."""
from __future__ import annotations

import sys

from v23py import flags as goflags, syncbase
from v23py.cmd._outcome import error_text
from v23py.syncbase.util import Id

PROG = "sb"
_GLOBAL_HELP = [
    ("create-if-absent", "bool", False, ["Create the target database if it doesn't exist."]),
    ("csv-delimiter", "string", ",", ["The delimiter used for the csv output format."]),
    ("db", "string", "", ["Id of database to connect to."]),
    ("format", "string", "table", [
        "Output format. 'table': human-readable table; 'csv': comma-separated values,",
        "use -csv-delimiter to control the delimiter; 'json': JSON objects."]),
    ("service", "string", "", ["Syncbase service to connect to."]),
]
FORMATS = ("table", "csv", "json")


class UsageError(Exception):
    """A usage error of command ``cmd`` (exit 2, with its usage)."""

    def __init__(self, msg, cmd=None):
        super().__init__(msg)
        self.cmd = cmd


class Cmd:
    def __init__(self, name, short, long, args_name="", args_long="", flags=(), children=(),
                 run=None, plain=False):
        self.name = name
        self.short = short
        self.long = long
        self.args_name = args_name
        self.args_long = args_long
        self.flags = list(flags)        # (name, kind, default, help lines)
        self.children = list(children)
        self.run = run
        self.plain = plain              # runs without opening the database
        self.parent = None
        for c in self.children:
            c.parent = self

    def path(self):
        p = []
        c = self
        while c is not None:
            p.insert(0, c.name)
            c = c.parent
        return " ".join(p)

    def child(self, name):
        for c in self.children:
            if c.name == name:
                return c
        return None


# --- usage text (Go's cmdline compact style) -------------------------------------------

def _flag_text(name, default, lines):
    out = f" -{name}={default}\n"
    return out + "".join(f"   {ln}\n" for ln in lines)


def _fmt_default(kind, value):
    if kind == "bool":
        return "true" if value else "false"
    return str(value)


def usage(cmd, state, help_path=None, sub=None):
    """The usage text of ``cmd``; ``help_path``/``sub`` name the help command for the
    closing "Run ... -style=full" line."""
    out = [cmd.long, "\n\nUsage:\n   ", cmd.path(), " [flags]"]
    if cmd.children:
        out.append(" <command>")
    elif cmd.args_name:
        out.append(" " + cmd.args_name)
    out.append("\n")
    if cmd.children:
        out.append(f"\nThe {cmd.path()} commands are:\n")
        for c in cmd.children:
            out.append("   %-11s %s\n" % (c.name, c.short))
        out.append("   %-11s %s\n" % ("help", "Display help for commands or topics"))
        out.append(f'Run "{cmd.path()} help [command]" for command usage.\n')
    if cmd.args_long:
        out.append("\n" + cmd.args_long + "\n")
    if cmd.flags:
        out.append(f"\nThe {cmd.path()} flags are:\n")
        for name, kind, default, lines in sorted(cmd.flags):
            out.append(_flag_text(name, _fmt_default(kind, default), lines))
    out.append("\nThe global flags are:\n")
    for name, kind, default, lines in _GLOBAL_HELP:
        value = state.flags.get(name, default)
        out.append(_flag_text(name, _fmt_default(kind, value), lines))
    hp = help_path if help_path is not None else (cmd.parent.path() if cmd.parent else cmd.path())
    if help_path is None and cmd.parent is None:
        sub = None
    elif help_path is None:
        sub = cmd.name
    out.append(f'\nRun "{hp} help -style=full{" " + sub if sub else ""}" to show all flags.\n')
    return "".join(out)


# --- state shared by the commands of one process (and one shell session) --------------

class State:
    def __init__(self, out, err, stdin=None):
        self.out = out
        self.err = err
        self.stdin = stdin if stdin is not None else sys.stdin
        self.flags = {name: default for name, _, default, _ in _GLOBAL_HELP}
        self.ctx = None
        self.db = None
        self.fs = None

    def writer(self):
        return self.flags["format"]


def _parse_flags(argv, specs, values, cmd, state):
    """Go's flag parsing of ``argv`` against ``specs`` {name: kind} into ``values``;
    the v23 runtime flags go to ``state.fs``.  Returns the remaining arguments."""
    def is_bool(name):
        if name in ("help", "h"):
            raise UsageError("", cmd)
        kind = specs.get(name)
        if kind is None:
            rf = state.fs.flags.get(name) if state.fs is not None else None
            return None if rf is None else rf.kind == "bool"
        return kind == "bool"

    i = 0
    while i < len(argv) and goflags.is_flag(argv[i]):
        if argv[i] == "--":
            i += 1
            break
        try:
            name, value, i = goflags.take_flag(argv, i, is_bool)
            if name not in specs:                   # a runtime flag
                state.fs.parse([f"-{name}={value}"])
                continue
        except goflags.FlagError as e:
            raise UsageError(f"{cmd.path()}: {e}", cmd)
        if specs[name] == "bool":
            try:
                values[name] = goflags.parse_bool(value)
            except ValueError:
                raise UsageError(f'{cmd.path()}: invalid boolean value "{value}" for -{name}: '
                                 'parse error', cmd)
            continue
        if name == "format" and value not in FORMATS:
            raise UsageError(f'{cmd.path()}: invalid value "{value}" for flag -format: '
                             f'unsupported -format "{value}"', cmd)
        values[name] = value
    return argv[i:]


_GLOBAL_KINDS = {name: kind for name, kind, _, _ in _GLOBAL_HELP}
_ALIASES = {"t": "target", "v": "verbose"}     # flags Go binds to one variable


def resolve(root, argv, state):
    """Walk ``argv`` down the command tree, parsing flags at each level.  Returns
    (command, its flag values, positional args, help request or None)."""
    cmd = root
    cmd_flags = {}
    while True:
        specs = dict(_GLOBAL_KINDS)
        own = {}
        c = cmd
        while c is not None:           # a command's flags and its ancestors' flags
            for name, kind, default, _ in c.flags:
                specs.setdefault(name, kind)
                own.setdefault(name, default)
            c = c.parent
        for k, v in own.items():
            cmd_flags.setdefault(k, v)
        parsed = {}
        try:
            argv = _parse_flags(argv, specs, parsed, cmd, state)
        finally:                        # flags before a bad one still count (usage shows them)
            for k, v in parsed.items():
                if k in _GLOBAL_KINDS:
                    state.flags[k] = v
                else:
                    cmd_flags[_ALIASES.get(k, k)] = v
        if not cmd.children:
            return cmd, cmd_flags, argv, None
        if not argv:
            raise UsageError(f"{cmd.path()}: no command specified", cmd)
        name, argv = argv[0], argv[1:]
        if name == "help":
            return cmd, cmd_flags, argv, "help"
        nxt = cmd.child(name)
        if nxt is None:
            raise UsageError(f'{cmd.path()}: unknown command "{name}"', cmd)
        cmd = nxt


# --- opening the database (Go's dbutil) ------------------------------------------------

def _parse_id(s):
    blessing, sep, name = s.partition(",")
    if not sep:
        raise RuntimeError(f"failed to parse id: {s}")
    return Id(blessing, name)


async def open_db(ctx, state):
    sb = syncbase.new_service(state.flags["service"])
    db = sb.database_for_id(_parse_id(state.flags["db"]))
    try:
        exists = await db.exists(ctx)
    except Exception as e:
        raise RuntimeError(f'failed checking for db "{db.full_name()}": {error_text(e)}')
    if not exists:
        if state.flags["create-if-absent"]:
            try:
                await db.create(ctx, None)
            except Exception as e:
                raise RuntimeError(f"{error_text(e)}\nDeveloper's note: double-check your permissions!")
        else:
            raise RuntimeError(f'db "{db.full_name()}" does not exist')
    return db


