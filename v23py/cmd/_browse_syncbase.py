"""The Syncbase pages of ``debug browse``, over the Syncbase client library (what
any client with Read access sees) and the daemon's sync statistics under
``__debug/stats/syncbase/sync``."""
import html
import json

from twisted.internet import reactor, task

from v23py.cmd._browse import err_html, page, q
from v23py.cmd._outcome import error_text

MAX_ROWS = 1000


def _db(name, d):
    from v23py import syncbase
    from v23py.syncbase.util import parse_id
    return syncbase.new_service(name).database_for_id(parse_id(d))


def _val(v):
    from v23py.cmd.debug import pretty
    try:
        return pretty(v)
    except Exception:
        return repr(v)


async def databases(b, name, args):
    from v23py import syncbase
    ctx, cancel = b.ctx_timeout()
    rows = []
    try:
        svc = syncbase.new_service(name)
        for db_id in await svc.list_databases(ctx):
            d = f"{db_id.Blessing},{db_id.Name}"
            db = svc.database_for_id(db_id)
            cxs = []
            try:
                for cx in await db.list_collections(ctx):
                    c = f"{cx.Blessing},{cx.Name}"
                    cxs.append(f"<li><a href='/collection?n={q(name)}&d={q(d)}&c={q(c)}'>"
                               f"{html.escape(c)}</a></li>")
            except Exception as e:
                cxs.append(f"<li class='err'>{html.escape(error_text(e))}</li>")
            rows.append(f"<tr><td class='name'>{html.escape(d)}</td><td><ul>{''.join(cxs)}"
                        f"</ul></td><td><a href='/syncgroups?n={q(name)}&d={q(d)}'>syncgroups"
                        f"</a></td></tr>")
    except Exception as e:
        return page("Syncbase", name, err_html(e))
    finally:
        cancel()
    return page("Syncbase", name, "<table id='databases'><tr><th>Database</th>"
                                  "<th>Collections</th><th></th></tr>" + "".join(rows) +
                "</table>")


async def collection(b, name, args):
    from v23py import syncbase
    from v23py.syncbase.util import parse_id
    d, c = args.get("d", ""), args.get("c", "")
    ctx, cancel = b.ctx_timeout()
    rows = []
    try:
        coll = _db(name, d).collection_for_id(parse_id(c))
        async for k, v in coll.scan(ctx, syncbase.Prefix("")):
            rows.append(f"<tr><td class='name'>{html.escape(k)}</td><td><pre>"
                        f"{html.escape(_val(v))}</pre></td></tr>")
            if len(rows) >= MAX_ROWS:
                break
    except Exception as e:
        return page(f"Collection {c}", name, err_html(e))
    finally:
        cancel()
    script = ("<script>var es=new EventSource('/live/watch?n=" + q(name) + "&d=" + q(d) +
              "&c=" + q(c) + "');es.onmessage=function(m){var li=document.createElement('li');"
              "li.textContent=JSON.parse(m.data);document.getElementById('watch')"
              ".appendChild(li);};</script>")
    body = (f"<h3>Rows ({len(rows)}{'+' if len(rows) >= MAX_ROWS else ''})</h3>"
            f"<table id='rows'><tr><th>Key</th><th>Value</th></tr>{''.join(rows)}</table>"
            "<h3>Watch (changes from now on)</h3><ul id='watch'></ul>" + script)
    return page(f"Collection {c} in {d}", name, body)


async def live_watch(b, request, name, args):
    """Server-sent events: each change to the collection, as it happens."""
    from v23py import syncbase
    from v23py.syncbase.util import parse_id
    d, c = args.get("d", ""), args.get("c", "")
    gone = []
    ctx, cancel = b.ctx.with_cancel()
    request.notifyFinish().addBoth(lambda _: (gone.append(True), cancel()))
    try:
        db = _db(name, d)
        cx = parse_id(c)
        marker = await db.get_resume_marker(ctx)
        pat = syncbase.CollectionRowPattern(cx.Blessing, cx.Name, "%")
        async for ch in db.watch(ctx, marker, [pat]):
            if gone:
                break
            if ch.entity != "row":
                continue
            text = (f"{ch.change_type} {ch.row}" +
                    (f" = {_val(ch.value)}" if ch.change_type == "put" else "") +
                    (" (from sync)" if ch.from_sync else ""))
            request.write(f"data: {json.dumps(text)}\n\n".encode())
    except Exception as e:
        if not gone:
            request.write(f"data: {json.dumps('ERROR: ' + error_text(e))}\n\n".encode())
            await task.deferLater(reactor, 1.0, lambda: None)
    finally:
        cancel()
        if not gone and not request.finished:
            request.finish()


async def syncgroups(b, name, args):
    d = args.get("d", "")
    # the daemon's own record of its sync rounds with each peer of this database
    prog, by_peer = await _progress(b, name, d)
    ctx, cancel = b.ctx_timeout()
    parts = []
    try:
        db = _db(name, d)
        for sg_id in await db.list_syncgroups(ctx):
            sg = db.syncgroup_for_id(sg_id)
            spec = await sg.get_spec(ctx)
            spec = spec[0] if isinstance(spec, (list, tuple)) else spec
            members = await sg.get_members(ctx)
            # per syncgroup: each member's info and this daemon's sync progress with it
            mrows = "".join(
                f"<tr><td class='name'>{html.escape(str(m))}</td><td>"
                f"{html.escape(_val(info))}</td>" +
                "".join(f"<td class='sync-{c}'>{html.escape(by_peer.get(str(m), {}).get(c, ''))}"
                        f"</td>" for c in _MEMBER_PROGRESS) + "</tr>"
                for m, info in sorted(dict(members).items()))
            heads = "".join(f"<th>{c}</th>" for c in _MEMBER_PROGRESS)
            colls = ", ".join(f"{x.Blessing},{x.Name}" for x in spec.Collections)
            parts.append(
                f"<h3 class='syncgroup'>{html.escape(f'{sg_id.Blessing},{sg_id.Name}')}</h3>"
                f"<p>{html.escape(spec.Description)}</p><p>Collections: "
                f"<span class='name'>{html.escape(colls)}</span></p>"
                f"<table class='members'><tr><th>Member</th><th>Info</th>{heads}</tr>{mrows}"
                f"</table>")
    except Exception as e:
        return page(f"Syncgroups of {d}", name, err_html(e))
    finally:
        cancel()
    body = "".join(parts) or "<p>No syncgroups.</p>"
    body += ("<h3>Sync progress</h3><table id='progress'><tr><th>Peer</th><th>Statistic</th>"
             f"<th>Value</th></tr>{''.join(prog)}</table>")
    return page(f"Syncgroups of {d}", name, body)


async def _progress(b, name, d):
    """(rows of the progress table, {peer: {statistic: value}}) from the daemon's
    ``__debug/stats/syncbase/sync/<db>/<peer>/...``."""
    from v23py.cmd.debug import pretty
    from v23py.cmd._nscli import namespace_for
    from v23py.naming import names as nm
    from v23py.runtime.namespace import GlobEntry
    from v23py.v23.services import stats as svc
    base = f"{name}/__debug/stats/syncbase/sync/{nm.encode_as_name_element(d)}"
    prog, by_peer = [], {}
    ctx, cancel = b.ctx_timeout()
    try:
        found = []
        async for r in namespace_for(ctx).glob_iter(ctx, base + "/*/*"):
            if isinstance(r, GlobEntry):
                found.append(r.entry.name)
        for full in sorted(found):
            if full.rsplit("/", 1)[1] not in _PROGRESS:
                continue
            try:
                v = pretty(await svc.StatsClient(full).Value(ctx))
            except Exception as e:
                v = "ERROR: " + error_text(e)
            peer, stat = full[len(base) + 1:].split("/", 1)
            peer = nm.decode_from_name_element(peer)[0]
            by_peer.setdefault(peer, {})[stat] = v
            prog.append(f"<tr><td class='name'>{html.escape(peer)}"
                        f"</td><td>{html.escape(stat)}</td><td>{html.escape(v)}</td></tr>")
    except Exception:
        pass   # no rounds yet (or no access to the daemon's stats)
    finally:
        cancel()
    return prog, by_peer


_MEMBER_PROGRESS = ("rounds", "errors", "records-in", "records-out", "lag-seconds")
_PROGRESS = ("rounds", "errors", "records-in", "records-out", "last-success-unix",
             "lag-seconds", "last-error")
