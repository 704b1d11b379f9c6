"""sb: the Syncbase shell and management utility (Go's ``sb``: same commands, flags
and outputs).

    sb [--service=NAME] [--db=BLESSING,NAME] [--create-if-absent] [--format=table|csv|json]
       [--csv-delimiter=,] <command>
      sh                    a syncQL shell (commands one per line; readline on a terminal)
      dump                  every collection (select k, v) and syncgroup of the database
      make-demo             the demo collections
      select <fields> from <collection> [where ...]
      sg [-target=SG] create|list|inspect|join|leave|destroy|eject
      acl [-target=service|db|cx|sg] [-cx=ID] [-sg=ID] get|add|rm|dump
      watch [<blessing>,<collection>[,<row>] ...]
      destroy <blessing>,<collection>
"""
from __future__ import annotations

import json
import sys

from twisted.internet import threads

import v23py
from v23py import runtime, security, syncbase
from v23py.cmd.sb import _demo, _format as F
from v23py.security import access
from v23py.syncbase.util import Id, app_and_user_pattern_from_blessings

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
    i = 0
    while i < len(argv):
        a = argv[i]
        if len(a) < 2 or a[0] != "-":
            break
        if a == "--":
            i += 1
            break
        name = a[2:] if a.startswith("--") else a[1:]
        value = None
        if "=" in name:
            name, value = name.split("=", 1)
        if name in ("help", "h"):
            raise UsageError("", cmd)
        kind = specs.get(name)
        if kind is None:
            rf = state.fs.flags.get(name) if state.fs is not None else None
            if rf is None:
                raise UsageError(f"{cmd.path()}: flag provided but not defined: -{name}", cmd)
            i += 1
            if rf.kind != "bool" and value is None:
                if i >= len(argv):
                    raise UsageError(f"{cmd.path()}: flag needs an argument: -{name}", cmd)
                value = argv[i]
                i += 1
            try:
                state.fs._set(rf, "true" if value is None else value)
            except runtime.FlagError as e:
                raise UsageError(f"{cmd.path()}: {e}", cmd)
            continue
        i += 1
        if kind == "bool":
            v = (value if value is not None else "true").lower()
            if v not in ("1", "t", "true", "0", "f", "false"):
                raise UsageError(f'{cmd.path()}: invalid boolean value "{value}" for -{name}: '
                                 'parse error', cmd)
            values[name] = v in ("1", "t", "true")
            continue
        if value is None:
            if i >= len(argv):
                raise UsageError(f"{cmd.path()}: flag needs an argument: -{name}", cmd)
            value = argv[i]
            i += 1
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
    sb = syncbase.NewService(state.flags["service"])
    db = sb.DatabaseForId(_parse_id(state.flags["db"]))
    try:
        exists = await db.Exists(ctx)
    except Exception as e:
        raise RuntimeError(f'failed checking for db "{db.FullName()}": {_msg(e)}')
    if not exists:
        if state.flags["create-if-absent"]:
            try:
                await db.Create(ctx, None)
            except Exception as e:
                raise RuntimeError(f"{_msg(e)}\nDeveloper's note: double-check your permissions!")
        else:
            raise RuntimeError(f'db "{db.FullName()}" does not exist')
    return db


def _msg(e):
    return getattr(e, "msg", None) or str(e) or type(e).__name__


# --- commands -------------------------------------------------------------------------

def _split_error(text):
    """Go sb's splitError: the syncQL offset in ``[n]`` and the message after it."""
    i, j = text.find("["), text.find("]")
    if i == -1 or j == -1:
        return 0, text
    try:
        return int(text[i + 1:j]), text[j + 1:]
    except ValueError:
        return 0, text


async def query_exec(ctx, state, db, q):
    try:
        headers, rs = await db.Exec(ctx, q)
    except Exception as e:
        off, msg = _split_error(_msg(e))
        raise RuntimeError(f"\n{q}\n{' ' * max(off, 0)}^\n{off + 1}: {msg}")
    rows = []
    try:
        async for row in rs:
            rows.append(row)
        err = None
    except Exception as e:
        err = e
    write_results(state, headers, rows)
    if err is not None:
        raise err


def write_results(state, headers, rows):
    out = state.out
    fmt = state.flags["format"]
    if fmt == "table":
        out.write(_table(headers, rows))
    elif fmt == "csv":
        out.write(_csv(headers, rows, state.flags["csv-delimiter"]))
    else:
        out.write(_json(headers, rows))


def _table(headers, rows):
    widths = [len(h) for h in headers]
    right = [None] * len(headers)
    cells = []
    for row in rows:
        line = [""] * len(headers)
        for i, col in enumerate(row):
            if i >= len(headers):
                raise RuntimeError("more columns in result than in columnNames")
            t, v = F.unwrap(col)
            if right[i] is None:
                right[i] = F.right_justified(t)
            s = F.to_string(t, v)
            line[i] = s
            widths[i] = max(widths[i], len(s))
        cells.append(line)
    border = "+-" + "-+-".join("-" * w for w in widths) + "-+\n"
    out = [border, "| " + " | ".join(h.rjust(w) for h, w in zip(headers, widths)) + " |\n",
           border]
    for line in cells:
        out.append("| " + " | ".join(c.rjust(w) if right[i] else c.ljust(w)
                                     for i, (c, w) in enumerate(zip(line, widths))) + " |\n")
    out.append(border)
    return "".join(out)


def _csv_quote(s, delim):
    quote = delim in s or "\n" in s
    if '"' in s:
        s = s.replace('"', '""')
        quote = True
    return f'"{s}"' if quote else s


def _csv(headers, rows, delim):
    out = [delim.join(_csv_quote(h, delim) for h in headers) + "\n"]
    for row in rows:
        out.append(delim.join(_csv_quote(F.to_string(*F.unwrap(c)), delim) for c in row) + "\n")
    return "".join(out)


def _json(headers, rows):
    names = [F.json_string(h) for h in headers]
    out = ["["]
    opener = "{"
    for row in rows:
        out.append(opener)
        start = "\n  "
        for i, col in enumerate(row):
            out.append(f"{start}{names[i]}: {F.to_json(*F.unwrap(col))}")
            start = ",\n  "
        out.append("\n}")
        opener = ", {"
    out.append("]\n")
    return "".join(out)


async def run_select(ctx, state, db, flags, args):
    await query_exec(ctx, state, db, "select " + " ".join(args))


async def run_dump(ctx, state, db, flags, args):
    errors = []
    try:
        await _dump_collections(ctx, state, db)
    except Exception as e:
        errors.append(f"failed dumping collections: {_msg(e)}")
    try:
        await _dump_syncgroups(ctx, state, db)
    except Exception as e:
        errors.append(f"failed dumping syncgroups: {_msg(e)}")
    if errors:
        raise RuntimeError("\n".join(errors))


async def _dump_collections(ctx, state, db):
    try:
        cxs = await db.ListCollections(ctx)
    except Exception as e:
        raise RuntimeError(f"failed listing collections: {_msg(e)}")
    errs = []
    for cx in cxs:
        state.out.write(f"collection: {F.id_string(cx)}\n")
        try:
            await query_exec(ctx, state, db, f"select k, v from {cx.Name}")
        except Exception as e:
            errs.append(f"> {F.id_string(cx)}: {_msg(e)}")
    if errs:
        raise RuntimeError(f"failed dumping {len(errs)} of {len(cxs)} collections:\n"
                           + "\n".join(errs))


async def _dump_syncgroups(ctx, state, db):
    try:
        ids = await db.ListSyncgroups(ctx)
    except Exception as e:
        raise RuntimeError(f"failed listing syncgroups: {_msg(e)}")
    errs = []
    for sg_id in ids:
        state.out.write(f"syncgroup: {F.id_string(sg_id)}\n")
        try:
            spec, version = await db.SyncgroupForId(sg_id).GetSpec(ctx)
        except Exception as e:
            errs.append(_msg(e))
            continue
        state.out.write(f'{F.spec_plus_v(spec)} (version: "{version}")\n')
    if errs:
        raise RuntimeError(f"failed dumping {len(errs)} of {len(ids)} syncgroups:\n"
                           + "\n".join(errs))


async def run_make_demo(ctx, state, db, flags, args):
    cols = _demo.collections()
    for i, (name, rows) in enumerate(cols):
        async def fill(batch, name=name, rows=rows):
            dc = batch.Collection(ctx, name)
            try:
                await dc.Destroy(ctx)
            except Exception as e:
                raise RuntimeError(f"Destroy {F.id_string(dc.Id())} failed: {_msg(e)}")
            try:
                await dc.Create(ctx, None)
            except Exception as e:
                raise RuntimeError(f"Create {F.id_string(dc.Id())} failed: {_msg(e)}")
            for key, value in rows:
                try:
                    await dc.Put(ctx, key, value)
                except Exception as e:
                    raise RuntimeError(f'Put "{key}" into {F.id_string(dc.Id())} failed: '
                                       f"{_msg(e)}")
        try:
            await syncbase.RunInBatch(ctx, db, syncbase.BatchOptions(), fill)
        except Exception as e:
            raise RuntimeError(f"failed making demo collections: failed creating collection "
                               f"{name} ({i + 1}/{len(cols)}): {_msg(e)}")
    state.out.write("Demo collections created and populated.\n")


async def run_destroy(ctx, state, db, flags, args):
    if len(args) != 1:
        raise UsageError(f"destroy: expected 1 arg, got {len(args)}")
    await db.CollectionForId(_parse_id(args[0])).Destroy(ctx)


async def run_watch(ctx, state, db, flags, args):
    if not args:
        patterns = [syncbase.CollectionRowPattern("%", "%", "%")]
    else:
        patterns = []
        for a in args:
            parts = a.split(",", 2)
            if len(parts) < 3:        # Go indexes past the fields it got and panics
                raise RuntimeError(f"bad pattern {a!r}: want <blessing>,<collection>,<row>")
            patterns.append(syncbase.CollectionRowPattern(*parts))
    out, err = state.out, state.err
    async for ch in db.Watch(ctx, b"now", patterns):
        if ch.entity == "row":
            out.write(f"change on row {ch.row} of collection {F.id_string(Id(*ch.collection))}:"
                      "\n")
            if ch.change_type == "put":
                try:
                    t, v = F.unwrap(ch.value)
                    out.write(f"\tnew value: {F.value_string(t, v)}\n")
                except Exception as e:
                    err.write(f"\terror reading new value: {_msg(e)}\n")
            elif ch.change_type == "delete":
                out.write("\trow removed\n")
            else:
                err.write("\tbad change type\n")
        elif ch.entity == "collection":
            out.write(f"change on collection {F.id_string(Id(*ch.collection))}:\n")
            if ch.change_type == "put":
                out.write(f"\tnew info: {F.collection_info_v(ch.value)}\n")
            elif ch.change_type == "delete":
                out.write("\tcollection deleted\n")
            else:
                err.write("\tbad change type\n")
        else:
            err.write("malformed change detected\n")
        _flush(out)


def _flush(f):
    try:
        f.flush()
    except Exception:
        pass


# --- sg ------------------------------------------------------------------------------

def _user_pattern(ctx):
    return app_and_user_pattern_from_blessings(
        *security.default_blessing_names(runtime.get_principal(ctx)))[1]


async def run_sg_create(ctx, state, db, flags, args):
    cols = []
    for name in args:
        try:
            cols.append(_parse_id(name))
        except RuntimeError as e:
            raise UsageError(f'create: error parsing id {name}: "{e}"')
    user = _user_pattern(ctx)
    if not flags["perms"]:
        perms = {"Admin": {"In": [user], "NotIn": []}, "Read": {"In": [user], "NotIn": []}}
    else:
        try:
            perms = json.loads(flags["perms"])
            if not isinstance(perms, dict):
                raise ValueError("not an object")
        except ValueError as e:
            raise UsageError(f'create: bad permissions: "{e}"')
    spec = syncbase.SyncgroupSpec(Description=flags["description"], Perms=perms,
                                  Collections=cols)
    try:
        await db.Syncgroup(ctx, flags["target"]).Create(ctx, spec,
                                                        syncbase.SyncgroupMemberInfo())
    except Exception as e:
        raise RuntimeError(f'create: error creating syncgroup: "{_msg(e)}"')


async def run_sg_list(ctx, state, db, flags, args):
    ids = await db.ListSyncgroups(ctx)
    verbose = flags["verbose"]
    cols = {}
    for i in ids:
        spec, _ = await db.SyncgroupForId(i).GetSpec(ctx)
        cols[i] = spec.Collections
    out = state.out
    for n, i in enumerate(ids):
        out.write((F.id_string(i) if verbose else i.Name) + "\n")
        for c in cols[i] or ():
            out.write("\t " + (F.id_string(c) if verbose else c.Name) + "\n")
        if n < len(ids) - 1:
            out.write("\n")


async def run_sg_inspect(ctx, state, db, flags, args):
    spec, _ = await db.Syncgroup(ctx, flags["target"]).GetSpec(ctx)
    out = state.out
    out.write(f"Description:\t\t {spec.Description}\n")
    out.write(f"PublishSyncbaseName:\t {spec.PublishSyncbaseName}\n")
    out.write(f"Perms:\t\t\t {F.perms_v(spec.Perms)}\n")
    out.write(f"Collections:\t\t {F.ids_v(spec.Collections)}\n")
    out.write(f"MountTables:\t\t {F.strings_v(spec.MountTables)}\n")
    out.write(f"IsPrivate:\t\t {'true' if spec.IsPrivate else 'false'}\n")


async def run_sg_join(ctx, state, db, flags, args):
    if len(args) > 1:
        raise UsageError("join: too many args")
    admin = args[0] if args else ""
    await db.Syncgroup(ctx, flags["target"]).Join(ctx, admin, None,
                                                  syncbase.SyncgroupMemberInfo())


async def run_sg_leave(ctx, state, db, flags, args):
    await db.Syncgroup(ctx, flags["target"]).Leave(ctx)


async def run_sg_destroy(ctx, state, db, flags, args):
    await db.Syncgroup(ctx, flags["target"]).Destroy(ctx)


async def run_sg_eject(ctx, state, db, flags, args):
    if len(args) != 1:
        raise UsageError(f"eject: expected 1 argument, got {len(args)}")
    await db.Syncgroup(ctx, flags["target"]).Eject(ctx, args[0])


# --- acl -----------------------------------------------------------------------------

def _perms_dict(perms):
    out = {}
    for tag, acl in dict(perms or {}).items():
        ins, notins = F._acl_parts(acl)
        out[str(tag)] = {"In": [str(p) for p in ins], "NotIn": [str(p) for p in notins]}
    return out


async def _update_perms(ctx, state, db, flags, callback):
    target = flags["target"]
    if target in ("service", "db", "database"):
        ac = syncbase.NewService(state.flags["service"]) if target == "service" else db
        perms, version = await ac.GetPermissions(ctx)
        perms = callback(_perms_dict(perms))
        if perms is None:
            return
        try:
            await ac.SetPermissions(ctx, perms, version)
        except Exception as e:
            raise RuntimeError(f'error setting permissions: "{_msg(e)}"')
    elif target in ("cx", "collection"):
        batch = await db.BeginBatch(ctx, syncbase.BatchOptions())
        try:
            cx = batch.CollectionForId(_parse_id(flags["cx"]))
            perms = callback(_perms_dict(await cx.GetPermissions(ctx)))
            if perms is None:
                return
            await cx.SetPermissions(ctx, perms)
            await batch.Commit(ctx)
        finally:
            try:
                await batch.Abort(ctx)
            except Exception:
                pass
    elif target in ("sg", "syncgroup"):
        sg = db.SyncgroupForId(_parse_id(flags["sg"]))
        spec, version = await sg.GetSpec(ctx)
        perms = callback(_perms_dict(spec.Perms))
        if perms is None:
            return
        spec.Perms = access.permissions_from_json_object(perms)
        try:                           # Go ignores SetSpec's error here
            await sg.SetSpec(ctx, spec, version)
        except Exception:
            pass
    else:
        raise UsageError(f"target {target} not recognized")


def _parse_access_list(args):
    if len(args) % 2:
        raise ValueError(f"incorrect number of arguments {len(args)}, must be even")
    out = {}
    for i in range(0, len(args), 2):
        ins, outs = [], []
        for tag in args[i + 1].split(","):
            black = tag.startswith("!")
            if black:
                tag = tag[1:]
            if not tag:
                raise ValueError(f'empty access tag in "{args[i + 1]}"')
            (outs if black else ins).append(tag)
        out[args[i]] = (ins, outs)
    return out


async def run_acl_get(ctx, state, db, flags, args):
    if len(args) != 1:
        raise UsageError(f"get: expected 1 arg, got {len(args)}")
    blessing = args[0]

    def show(perms):
        ins = [tag for tag, acl in sorted(perms.items()) if blessing in acl["In"]]
        outs = [tag for tag, acl in sorted(perms.items()) if blessing in acl["NotIn"]]
        state.out.write("[" + ", ".join(ins) + "]\n")
        state.out.write("![" + ", ".join(outs) + "]\n")
        return None
    await _update_perms(ctx, state, db, flags, show)


async def run_acl_add(ctx, state, db, flags, args):
    if not args:
        raise UsageError("add: expected arguments")
    try:
        users = _parse_access_list(args)
    except ValueError as e:
        raise UsageError(f'add: error parsing access list: "{e}"')

    def add(perms):
        for blessing, (ins, outs) in users.items():
            for tag in ins:
                acl = perms.setdefault(tag, {"In": [], "NotIn": []})
                if blessing not in acl["In"]:
                    acl["In"] = sorted(acl["In"] + [blessing])
            for tag in outs:
                acl = perms.setdefault(tag, {"In": [], "NotIn": []})
                if blessing not in acl["NotIn"]:
                    acl["NotIn"] = sorted(acl["NotIn"] + [blessing])
        return perms
    await _update_perms(ctx, state, db, flags, add)


async def run_acl_rm(ctx, state, db, flags, args):
    if not args:
        raise UsageError("rm: expected arguments")
    try:
        users = _parse_access_list(args)
    except ValueError as e:
        raise UsageError(f'rm: failed to parse access list: "{e}"')

    def rm(perms):
        for blessing, (ins, _) in users.items():
            for tag in ins or list(perms):     # Go's Permissions.Clear
                acl = perms.get(tag) or {"In": [], "NotIn": []}
                perms[tag] = {"In": [p for p in acl["In"] if p != blessing],
                              "NotIn": [p for p in acl["NotIn"] if p != blessing]}
        return perms
    await _update_perms(ctx, state, db, flags, rm)


async def run_acl_dump(ctx, state, db, flags, args):
    def dump(perms):
        state.out.write("map[\n")
        for tag, acl in sorted(perms.items()):
            state.out.write(f"\t{tag}: {F.acl_v(acl)}\n")
        state.out.write("]\n")
        return None
    await _update_perms(ctx, state, db, flags, dump)


# --- the command tree ------------------------------------------------------------------

_SG_PERMS_HELP = [
    "Permissions for the new syncgroup. The permissions format for syncgroups is:",
    '{<tag>:{"In":[<blessing_pattern>,...],"Out":[<blessing_pattern>,...]},...}',
    "where the <tag>s Admin and Read must exist. The specified permissions must",
    "include at least one Admin."]
_VERBOSE = ["Show entire id of syncgroups and blessings"]


def _tree():
    sh = Cmd("sh", "Start a syncQL shell",
             "Connect to a database on the Syncbase service and start a syncQL shell.",
             run=run_sh)
    commands = [
        Cmd("dump", "Print a dump of the database", "Print a dump of the database.",
            run=run_dump),
        Cmd("make-demo", "Populate the db with dummy data", "Populate the db with dummy data.",
            run=run_make_demo),
        Cmd("select", "Display particular rows, or parts of rows",
            "Display particular rows, or parts of rows.",
            "<field_1,field_2,...> from <collection> [where <field> = <value>]",
            "<field_n> specifies a field in the collection <collection>.", run=run_select),
        Cmd("sg", "Manipulate syncgroups", "Manipulate syncgroups.",
            flags=[("t", "string", "", ["Syncgroup to act on."]),
                   ("target", "string", "", ["Syncgroup to act on."])],
            children=[
                Cmd("create", "Create a new syncgroup with the given spec",
                    "Create a new syncgroup with the given spec.",
                    "<collection_id>[ <collection_id>]*",
                    "Takes a space separated list of collection ids where each collection is "
                    "covered\nby this syncgroup.\n\nThe -perms flag can be used to specify a "
                    "specific set of permissions.\nAlternatively, leave the perms flag absent "
                    "for default permissions (principal\nhas Admin and Read) and use the acl "
                    "command to adjust these as desired.",
                    flags=[("description", "string", "", ["Description for the new syncgroup."]),
                           ("perms", "string", "", _SG_PERMS_HELP)],
                    run=run_sg_create),
                Cmd("list", "List all syncgroups on the database",
                    "List all syncgroups on the database.",
                    flags=[("v", "bool", False, _VERBOSE), ("verbose", "bool", False, _VERBOSE)],
                    run=run_sg_list),
                Cmd("inspect", "Show spec of a syncgroup",
                    "Show spec of the syncgroup specified by the -target flag.",
                    run=run_sg_inspect),
                Cmd("join", "Join specified syncgroup", "Join specified syncgroup.", "[<admin>]",
                    "<admin> is the name of a syncbase instance which is an Admin on the "
                    "syncgroup.\nIf <admin> is not specified join will look for syncgroups on "
                    "the local\nneighborhood.", run=run_sg_join),
                Cmd("leave", "Leave specified syncgroup", "Leave specified syncgroup.",
                    run=run_sg_leave),
                Cmd("destroy", "Destroy specified syncgroup", "Destroy specified syncgroup.",
                    run=run_sg_destroy),
                Cmd("eject", "Eject user from syncgroup", "Eject user from syncgroup.", "<user>",
                    "<user> should be the blessing of the user to eject.", run=run_sg_eject),
            ]),
        Cmd("acl", "Read or mutate the ACLs", "Read or mutate the ACLs.",
            flags=[("cx", "string", "", [
                       "The collection to act on, in format <blessing>,<collection>. (note: "
                       "requires", "-target=collection or cx)"]),
                   ("sg", "string", "", [
                       "The syncgroup to act on, in format <blessing>,<syncgroup>. (note: "
                       "requires", "-target=syncgroup or sg)"]),
                   ("target", "string", "db", [
                       "The access controller type to act on (service, db, database, cx, "
                       "collection,", "sg, syncgroup)."])],
            children=[
                Cmd("get", "Read a blessing's permissions", "Read a blessing's permissions.",
                    "<blessing>", "<blessing> is the blessing to check permissions for.",
                    run=run_acl_get),
                Cmd("add", "Add blessing to groups", "Add blessing to groups.",
                    "(<blessing> [!]<tag>(,[!]<tag>)* )+",
                    'The args are sequential pairs of the form "<blessing> <taglist>" A '
                    "taglist is\nmade up of a series of comma-separated tags. The optional "
                    'preface "!" puts the\nblessing in the blacklist instead of the whitelist. '
                    "Note that the pair\n\"dev.v.io:u:foo@google.com bar,baz,!bar\" is legal. "
                    "In such a case the blessing\nwill be added to both the blacklist and the "
                    "whitelist, with the blacklist\noverriding the whitelist.",
                    run=run_acl_add),
                Cmd("rm", "Remove specific permissions from the acl",
                    "Remove specific permissions from the acl.",
                    "(<blessing> <tag>(,<tag>)* )+",
                    'The args are sequential pairs of the form "<blessing> <taglist>" A '
                    "taglist is\nmade up of a series of comma-separated tags. rm removes all "
                    "references to each\n<blessing> from all of the tags.", run=run_acl_rm),
                Cmd("dump", "Pretty-print the whole acl", "Pretty-print the whole acl.",
                    run=run_acl_dump),
            ]),
        Cmd("watch", "Watch for updates to the database", "Watch for updates to the database.",
            "(<collection_blessing>,<collection_name>[,<row_key>] )*",
            "If no patterns are specified, watch defaults to watching for updates to any row\n"
            "of any collection.", run=run_watch),
        Cmd("destroy", "Destroy a specified collection", "Destroy a specified collection.",
            "<collection_blessing>,<collection_name>", run=run_destroy),
    ]
    root = Cmd(PROG, "Vanadium syncbase client and management utility",
               "Syncbase general-purpose client and management utility. Supports starting a\n"
               "syncQL shell and executing the commands at top level.",
               children=[sh] + commands)
    return root


def _help(root, cmd, args, state, out):
    """``<path> help [command]``: the usage of ``cmd`` or of the named child."""
    target = cmd
    sub = None
    for a in args:
        if a.startswith("-"):
            continue
        nxt = target.child(a)
        if nxt is None:
            raise UsageError(f'{cmd.path()} help: unknown command or topic "{a}"', cmd)
        target = nxt
        sub = a if sub is None else f"{sub} {a}"
    out.write(usage(target, state, help_path=cmd.path(), sub=sub))
    return 0


# --- the shell -------------------------------------------------------------------------

async def run_sh(ctx, state, db, flags, args):
    root = state.root
    try:
        interactive = state.stdin.isatty()
    except (AttributeError, ValueError):
        interactive = False
    reader = _Reader(state.stdin, interactive, root)
    state.db = db
    try:
        while True:
            line = await reader.read()
            if line is None:
                if interactive:
                    state.out.write("\n")
                break
            line, scan_errors = scan_line(line)
            for col, msg in scan_errors:
                state.err.write(f"<input>:1:{col}: {msg}\n")
            fields = line.split()
            if not fields:
                continue
            if fields[0] in ("exit", "quit"):
                return
            if fields[0] == "help":
                _shell_help(root, fields[1:], state)
                continue
            code = await _run(root, fields, state, interactive=interactive)
            if code and not interactive:
                raise _Halt(code)
    finally:
        state.db = None


class _Halt(Exception):
    def __init__(self, code):
        super().__init__(code)
        self.code = code


def _shell_help(root, args, state):
    out = state.out
    if not args:
        out.write("Commands:\n")
        for c in root.children[1:]:
            out.write(f"\t{c.name}\t{c.short}\n")
        out.write("\thelp\tPrint a list of all commands\n")
        out.write("\texit\tEnd session (aliased to quit)\n")
    elif len(args) == 1:
        if args[0] == "help":
            out.write("Print a list of all commands, or useful information about a single "
                      "command.\n\nUsage:\n\thelp [command_name]\n")
        else:
            cmd = root.child(args[0])
            if cmd is None or cmd.name == "sh":
                raise _Halt(_report(state, RuntimeError(f'no command "{args[0]}"')))
            out.write(f"{cmd.long}\n\nUsage:\n\t{cmd.name} [flags] {cmd.args_name}\n\n"
                      f"{cmd.args_long}\n")
    else:
        raise _Halt(_report(state, RuntimeError("too many arguments")))


def _complete(root, line, text, i):
    """Go's shell completion: command names (and sub-command names) for the word typed."""
    words = line.split(" ")
    cmds = root.children[1:]
    for w in words[:-1]:
        nxt = next((c for c in cmds if c.name == w), None)
        if nxt is None:
            return None
        cmds = nxt.children
    matches = [c.name for c in cmds if c.name.startswith(text)]
    return matches[i] if i < len(matches) else None


def scan_line(text):
    """A shell line as Go's sb reads it (text/scanner with Go tokens): comments dropped,
    and (column, message) for what Go's scanner reports on stderr (bad literals)."""
    out, errs = [], []
    i, n = 0, len(text)

    def escape(j, quote):
        # j is just past the backslash; returns the index after the escape
        if j >= n:
            return j
        c = text[j]
        digits = {"x": (16, 2), "u": (16, 4), "U": (16, 8)}
        if c in "abfnrtv\\" or c == quote:
            return j + 1
        if c in "01234567":
            base, cnt, j = 8, 3, j
        elif c in digits:
            (base, cnt), j = digits[c], j + 1
        else:
            errs.append((start + 1, "invalid char escape"))
            return j + 1
        while cnt > 0 and j < n and text[j].lower() in "0123456789abcdef"[:base]:
            j += 1
            cnt -= 1
        if cnt > 0:
            errs.append((start + 1, "invalid char escape"))
        return j

    while i < n:
        c = text[i]
        start = i
        if c == "/" and i + 1 < n and text[i + 1] in "/*":
            if text[i + 1] == "/":
                break
            end = text.find("*/", i + 2)
            if end < 0:
                errs.append((start + 1, "comment not terminated"))
                break
            i = end + 2
            continue
        if c in "\"'":
            j, count = i + 1, 0
            while True:
                if j >= n:
                    errs.append((start + 1, "literal not terminated"))
                    break
                if text[j] == c:
                    j += 1
                    if c == "'" and count != 1:
                        errs.append((start + 1, "invalid char literal"))
                    break
                j = escape(j + 1, c) if text[j] == "\\" else j + 1
                count += 1
            out.append(text[i:j])
            i = j
            continue
        if c == "`":
            end = text.find("`", i + 1)
            if end < 0:
                errs.append((start + 1, "literal not terminated"))
                end = n - 1
            out.append(text[i:end + 1])
            i = end + 1
            continue
        out.append(c)
        i += 1
    return "".join(out), errs


class _Reader:
    """One line per command: readline with Go's prompts on a terminal, stdin otherwise
    (read in a thread so the reactor keeps running)."""

    def __init__(self, stdin, interactive, root=None):
        self.stdin = stdin
        self.interactive = interactive
        if interactive:
            try:
                import readline  # line editing and history for input()
            except ImportError:
                return
            if root is not None:
                readline.set_completer(lambda text, i: _complete(root, readline.get_line_buffer(),
                                                                 text, i))
                readline.set_completer_delims(" ")
                readline.parse_and_bind("tab: complete")

    def _read(self):
        if self.interactive:
            try:
                return input("? ")
            except EOFError:
                return None
        line = self.stdin.readline()
        if not line:
            return None
        return line.rstrip("\n")

    def read(self):
        return threads.deferToThread(self._read)


# --- running ---------------------------------------------------------------------------

def _report(state, e, interactive=False):
    # a terminal shell goes on after an error, saying "Error:" where sb itself exits
    state.err.write(f"{'Error' if interactive else 'ERROR'}: {_msg(e)}\n")
    return 1


async def _run(root, argv, state, interactive=False, resolved=None):
    """Run one command line; returns the exit code."""
    code = await _run1(root, argv, state, interactive, resolved)
    if interactive and code == 2:
        state.err.write("Error: exit code 2\n")
    return code


async def _run1(root, argv, state, interactive, resolved):
    try:
        if isinstance(resolved, UsageError):
            raise resolved
        cmd, flags, args, help_req = resolved or resolve(root, argv, state)
    except UsageError as e:
        cmd = e.cmd or root
        if str(e):
            state.err.write(f"ERROR: {e}\n\n")
            state.err.write(usage(cmd, state))
            return 2
        state.out.write(usage(cmd, state))
        return 0
    if help_req:
        try:
            return _help(root, cmd, args, state, state.out)
        except UsageError as e:
            state.err.write(f"ERROR: {e}\n")
            return 2
    if cmd.run is None:
        return 0
    ctx = state.ctx
    try:
        db = state.db
        if db is None and not cmd.plain:
            db = await open_db(ctx, state)
        await cmd.run(ctx, state, db, flags, args)
        return 0
    except _Halt as h:
        return h.code
    except UsageError as e:
        state.err.write(f"ERROR: {e}\n\n")
        state.err.write(usage(cmd, state, help_path=cmd.parent.path() if cmd.parent else None,
                              sub=cmd.name))
        return 2
    except Exception as e:
        return _report(state, e, interactive)
    finally:
        _flush(state.out)


async def _main(reactor, argv, out=None, err=None, stdin=None):
    state = State(out or sys.stdout, err or sys.stderr, stdin)
    state.root = root = _tree()
    state.fs = runtime.add_runtime_flags(runtime.FlagSet(PROG))
    # the runtime's flags may come at any level of the command line: resolve it
    # first (errors are reported by _run, Go's way), then start the runtime
    try:
        resolved = resolve(root, argv, state)
    except UsageError as e:
        resolved = e
    ctx, shutdown = v23py.init([], flags=state.fs, reactor=reactor)
    state.ctx = ctx
    try:
        return await _run(root, argv, state, resolved=resolved)
    finally:
        await shutdown()


def main(argv=None):
    runtime.run_program(_main, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
