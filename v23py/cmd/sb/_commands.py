"""The sb commands that talk to the database: select, dump, make-demo, destroy, watch,
sg and acl (their output is Go's, byte for byte)."""
from __future__ import annotations

import json

from v23py import runtime, security, syncbase
from v23py.cmd.sb import _demo, _format as F
from v23py.cmd.sb._cmdline import UsageError, _parse_id
from v23py.cmd._outcome import error_text, flush_quietly
from v23py.security import access
from v23py.syncbase.util import Id, app_and_user_pattern_from_blessings

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
        headers, rs = await db.exec(ctx, q)
    except Exception as e:
        off, msg = _split_error(error_text(e))
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
        errors.append(f"failed dumping collections: {error_text(e)}")
    try:
        await _dump_syncgroups(ctx, state, db)
    except Exception as e:
        errors.append(f"failed dumping syncgroups: {error_text(e)}")
    if errors:
        raise RuntimeError("\n".join(errors))


async def _dump_collections(ctx, state, db):
    try:
        cxs = await db.list_collections(ctx)
    except Exception as e:
        raise RuntimeError(f"failed listing collections: {error_text(e)}")
    errs = []
    for cx in cxs:
        state.out.write(f"collection: {F.id_string(cx)}\n")
        try:
            await query_exec(ctx, state, db, f"select k, v from {cx.Name}")
        except Exception as e:
            errs.append(f"> {F.id_string(cx)}: {error_text(e)}")
    if errs:
        raise RuntimeError(f"failed dumping {len(errs)} of {len(cxs)} collections:\n"
                           + "\n".join(errs))


async def _dump_syncgroups(ctx, state, db):
    try:
        ids = await db.list_syncgroups(ctx)
    except Exception as e:
        raise RuntimeError(f"failed listing syncgroups: {error_text(e)}")
    errs = []
    for sg_id in ids:
        state.out.write(f"syncgroup: {F.id_string(sg_id)}\n")
        try:
            spec, version = await db.syncgroup_for_id(sg_id).get_spec(ctx)
        except Exception as e:
            errs.append(error_text(e))
            continue
        state.out.write(f'{F.spec_plus_v(spec)} (version: "{version}")\n')
    if errs:
        raise RuntimeError(f"failed dumping {len(errs)} of {len(ids)} syncgroups:\n"
                           + "\n".join(errs))


async def run_make_demo(ctx, state, db, flags, args):
    cols = _demo.collections()
    for i, (name, rows) in enumerate(cols):
        async def fill(batch, name=name, rows=rows):
            dc = batch.collection(ctx, name)
            try:
                await dc.destroy(ctx)
            except Exception as e:
                raise RuntimeError(f"Destroy {F.id_string(dc.id())} failed: {error_text(e)}")
            try:
                await dc.create(ctx, None)
            except Exception as e:
                raise RuntimeError(f"Create {F.id_string(dc.id())} failed: {error_text(e)}")
            for key, value in rows:
                try:
                    await dc.put(ctx, key, value)
                except Exception as e:
                    raise RuntimeError(f'Put "{key}" into {F.id_string(dc.id())} failed: '
                                       f"{error_text(e)}")
        try:
            await syncbase.run_in_batch(ctx, db, syncbase.BatchOptions(), fill)
        except Exception as e:
            raise RuntimeError(f"failed making demo collections: failed creating collection "
                               f"{name} ({i + 1}/{len(cols)}): {error_text(e)}")
    state.out.write("Demo collections created and populated.\n")


async def run_destroy(ctx, state, db, flags, args):
    if len(args) != 1:
        raise UsageError(f"destroy: expected 1 arg, got {len(args)}")
    await db.collection_for_id(_parse_id(args[0])).destroy(ctx)


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
    async for ch in db.watch(ctx, b"now", patterns):
        if ch.entity == "row":
            out.write(f"change on row {ch.row} of collection {F.id_string(Id(*ch.collection))}:"
                      "\n")
            if ch.change_type == "put":
                try:
                    t, v = F.unwrap(ch.value)
                    out.write(f"\tnew value: {F.value_string(t, v)}\n")
                except Exception as e:
                    err.write(f"\terror reading new value: {error_text(e)}\n")
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
        flush_quietly(out)


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
        await db.Syncgroup(ctx, flags["target"]).create(ctx, spec,
                                                        syncbase.SyncgroupMemberInfo())
    except Exception as e:
        raise RuntimeError(f'create: error creating syncgroup: "{error_text(e)}"')


async def run_sg_list(ctx, state, db, flags, args):
    ids = await db.list_syncgroups(ctx)
    verbose = flags["verbose"]
    cols = {}
    for i in ids:
        spec, _ = await db.syncgroup_for_id(i).get_spec(ctx)
        cols[i] = spec.Collections
    out = state.out
    for n, i in enumerate(ids):
        out.write((F.id_string(i) if verbose else i.Name) + "\n")
        for c in cols[i] or ():
            out.write("\t " + (F.id_string(c) if verbose else c.Name) + "\n")
        if n < len(ids) - 1:
            out.write("\n")


async def run_sg_inspect(ctx, state, db, flags, args):
    spec, _ = await db.Syncgroup(ctx, flags["target"]).get_spec(ctx)
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
    await db.Syncgroup(ctx, flags["target"]).join(ctx, admin, None,
                                                  syncbase.SyncgroupMemberInfo())


async def run_sg_leave(ctx, state, db, flags, args):
    await db.Syncgroup(ctx, flags["target"]).leave(ctx)


async def run_sg_destroy(ctx, state, db, flags, args):
    await db.Syncgroup(ctx, flags["target"]).destroy(ctx)


async def run_sg_eject(ctx, state, db, flags, args):
    if len(args) != 1:
        raise UsageError(f"eject: expected 1 argument, got {len(args)}")
    await db.Syncgroup(ctx, flags["target"]).eject(ctx, args[0])


# --- acl -----------------------------------------------------------------------------

def _perms_dict(perms):
    out = {}
    for tag, acl in dict(perms or {}).items():
        ins, notins = access.acl_parts(acl)
        out[str(tag)] = {"In": [str(p) for p in ins], "NotIn": [str(p) for p in notins]}
    return out


async def _update_perms(ctx, state, db, flags, callback):
    target = flags["target"]
    if target in ("service", "db", "database"):
        ac = syncbase.new_service(state.flags["service"]) if target == "service" else db
        perms, version = await ac.get_permissions(ctx)
        perms = callback(_perms_dict(perms))
        if perms is None:
            return
        try:
            await ac.set_permissions(ctx, perms, version)
        except Exception as e:
            raise RuntimeError(f'error setting permissions: "{error_text(e)}"')
    elif target in ("cx", "collection"):
        batch = await db.begin_batch(ctx, syncbase.BatchOptions())
        try:
            cx = batch.collection_for_id(_parse_id(flags["cx"]))
            perms = callback(_perms_dict(await cx.get_permissions(ctx)))
            if perms is None:
                return
            await cx.set_permissions(ctx, perms)
            await batch.commit(ctx)
        finally:
            try:
                await batch.abort(ctx)
            except Exception:
                pass
    elif target in ("sg", "syncgroup"):
        sg = db.syncgroup_for_id(_parse_id(flags["sg"]))
        spec, version = await sg.get_spec(ctx)
        perms = callback(_perms_dict(spec.Perms))
        if perms is None:
            return
        spec.Perms = access.permissions_from_json_object(perms)
        try:                           # Go ignores SetSpec's error here
            await sg.set_spec(ctx, spec, version)
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
            for field, tags in (("In", ins), ("NotIn", outs)):
                for tag in tags:
                    acl = perms.setdefault(tag, {"In": [], "NotIn": []})
                    if blessing not in acl[field]:
                        acl[field] = sorted(acl[field] + [blessing])
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
