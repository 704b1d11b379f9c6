"""The client-library scenario of tests/interop/go/sbinterop (``sbinterop trace``),
step for step with v23py's client library, printing the same lines.

Values print as VDL constants the way Go's vdlgen.TypedConst does
(v23py.rpc.signature.typed_const); errors as ``err <verror id>``.
"""
from v23py import vdl, verror
from v23py.rpc.signature import go_quote, typed_const
from v23py.v23.security import access as accesswire
from v23py.v23.services import syncbase as sbwire
ALL_ROWS = None  # set lazily (needs the syncbase package)


def _hex_id(n):
    """A member name is a daemon's 64-bit id in lower-case hex without leading zeros (1 id
    in 16 has fewer than 16 digits)."""
    return 0 < len(n) <= 16 and all(c in "0123456789abcdef" for c in n)


def _b(x):
    return "true" if x else "false"


def _tc(t, v):
    return typed_const(t, v)


def _tca(v):
    return typed_const(vdl.AnyType, v)


def _ids(ids):
    return _tc(vdl.list_of(sbwire.Id._vdl_type),
               [sbwire.Id(Blessing=i.Blessing, Name=i.Name) for i in ids])


async def _es(d):
    """'ok' or 'err <id>' for an awaitable."""
    try:
        await d
    except verror.VError as e:
        return "err " + e.id
    return "ok"


async def _res(d):
    """(result, 'ok' | 'err <id>')."""
    try:
        return await d, "ok"
    except verror.VError as e:
        return None, "err " + e.id


async def _getv(ctx, cx, key):
    v, e = await _res(cx.get(ctx, key))
    return _tca(v) if e == "ok" else e


def _change(c):
    kind = c.change_type
    val = "-"
    if c.entity == "collection" and kind == "put":
        ci = c.value
        tags = sorted(str(t) for t in ci.Allowed)
        val = f"allowed={','.join(tags)} perms={_tc(accesswire.Permissions._vdl_type, ci.Perms)}"
    elif c.entity == "row" and kind == "put":
        val = _tca(c.value)
    cx = str(c.collection) if c.collection is not None else ""
    return (f"{c.entity} {go_quote(cx)} {go_quote(c.row)} {kind} {val} "
            f"fromSync={_b(c.from_sync)} continued={_b(c.continued)}")


async def _scan(ctx, cx, r, prefix, lines):
    try:
        async for k, v in cx.scan(ctx, r):
            lines.append(f"{prefix}{k} = {_tca(v)}")
    except verror.VError as e:
        lines.append(f"{prefix}err {e.id}")


async def _read_blob(ctx, bl, offset):
    try:
        return go_quote(bytes(await bl.get(ctx, offset).read()))
    except verror.VError as e:
        return "err " + e.id


async def _watch(ctx, db, marker, patterns, n, stop_at_batch_end=False):
    """Up to n changes (or through the first batch end), then the stream's status."""
    out = []
    ws = db.watch(ctx, marker, patterns)
    status = "ok"
    try:
        async for c in ws:
            out.append(c)
            if len(out) >= n or (stop_at_batch_end and not c.continued):
                break
    except verror.VError as e:
        status = "err " + e.id
    ws.cancel()
    return out, status


async def py_trace(ctx, sb_name, dbname):
    from v23py import syncbase
    from v23py.syncbase import CollectionRowPattern, Prefix, Range, perms_for
    from v23py.syncbase.util import app_and_user_pattern_from_blessings
    from v23py.syncbase._common import _principal_names
    user = app_and_user_pattern_from_blessings(*_principal_names(ctx))[1]
    lines = []
    p = lines.append
    all_rows = [CollectionRowPattern("%", "%", "%")]
    info = syncbase.SyncgroupMemberInfo(SyncPriority=10)

    def spec(desc, cxs):
        return syncbase.SyncgroupSpec(Description=desc, Perms=perms_for(user, ["Admin", "Read"]),
                                      Collections=cxs)

    sb = syncbase.new_service(sb_name)
    db = sb.database(ctx, dbname, None)
    ok, e = await _res(db.exists(ctx))
    p(f"db exists {_b(ok)} {e}")
    p(f"db create {await _es(db.create(ctx, None))}")
    p(f"db create again {await _es(db.create(ctx, None))}")
    ids = await sb.list_databases(ctx)
    p(f"listdatabases has db {_b(db.id() in ids)}")
    cx = db.collection(ctx, "cx")
    p(f"cx create {await _es(cx.create(ctx, None))}")
    p(f"cx2 create {await _es(db.collection(ctx, 'cx2').create(ctx, None))}")
    p(f"cx create again {await _es(cx.create(ctx, None))}")
    p(f"listcollections {_ids(await db.list_collections(ctx))}")

    opt_id = vdl.optional(sbwire.Id._vdl_type)
    puts = [("a", "va"), ("b", 7), ("c", sbwire.Id(Blessing="x", Name="y")),
            ("d", vdl.optional_value(opt_id, sbwire.Id(Blessing="p", Name="q"))),
            ("e", b"\x01\x02\x03"), ("f", vdl.value(vdl.Uint32Type, 9)), ("g", ["s1", "s2"]),
            ("h", 1.5), ("i", True), ("k/x%y", "escaped")]
    for k, v in puts:
        p(f"put {k} {await _es(cx.put(ctx, k, v))}")
    for k, _ in puts:
        p(f"get {k} = {await _getv(ctx, cx, k)}")
    p(f"get missing = {await _getv(ctx, cx, 'zz')}")
    for k in ("a", "zz"):
        ok, e = await _res(cx.row(k).exists(ctx))
        p(f"row {k} exists {_b(ok)} {e}")
    await _scan(ctx, cx, Prefix(""), "scan ", lines)
    await _scan(ctx, cx, Range("b", "e"), "scan b-e ", lines)
    await _scan(ctx, cx, Prefix("k/"), "scan k/ ", lines)

    # batches
    b1 = await db.begin_batch(ctx)
    p(f"batch put j {await _es(b1.collection(ctx, 'cx').put(ctx, 'j', 'in-batch'))}")
    p(f"get j outside the batch = {await _getv(ctx, cx, 'j')}")
    p(f"batch get j = {await _getv(ctx, b1.collection(ctx, 'cx'), 'j')}")
    p(f"batch commit {await _es(b1.commit(ctx))}")
    p(f"batch commit again {await _es(b1.commit(ctx))}")
    p(f"get j = {await _getv(ctx, cx, 'j')}")
    ro = await db.begin_batch(ctx, syncbase.BatchOptions(ReadOnly=True))
    p(f"readonly put {await _es(ro.collection(ctx, 'cx').put(ctx, 'k', 'x'))}")
    p(f"readonly commit {await _es(ro.commit(ctx))}")
    p(f"readonly abort {await _es(ro.abort(ctx))}")
    ab = await db.begin_batch(ctx)
    p(f"aborted put l {await _es(ab.collection(ctx, 'cx').put(ctx, 'l', 'x'))}")
    p(f"abort {await _es(ab.abort(ctx))}")
    p(f"get l = {await _getv(ctx, cx, 'l')}")
    p(f"commit after abort {await _es(ab.commit(ctx))}")
    c1 = await db.begin_batch(ctx)
    p(f"conflict read a = {await _getv(ctx, c1.collection(ctx, 'cx'), 'a')}")
    p(f"put a outside {await _es(cx.put(ctx, 'a', 'va2'))}")
    p(f"conflict put a {await _es(c1.collection(ctx, 'cx').put(ctx, 'a', 'c1'))}")
    p(f"conflict commit {await _es(c1.commit(ctx))}")

    # deletes
    p(f"delete b {await _es(cx.delete(ctx, 'b'))}")
    p(f"get b = {await _getv(ctx, cx, 'b')}")
    p(f"delete b again {await _es(cx.delete(ctx, 'b'))}")
    p(f"deleterange g-i {await _es(cx.delete_range(ctx, Range('g', 'i')))}")
    await _scan(ctx, cx, Prefix(""), "after deletes ", lines)

    # syncQL
    for q, params in [("select k, v from cx", ()),
                      ('select k, v.Name from cx where Type(v) like "%Id"', ()),
                      ("select k from cx where k = ?", ("c",)),
                      ("select k, v from cx where v = ?", (9,)),
                      ('delete from cx where k = "e"', ()),
                      ("select k from cx", ()),
                      ("select k from nosuch", ()),
                      ("selec k from cx", ())]:
        try:
            headers, rs = await db.exec(ctx, q, *params)
        except verror.VError as e:
            p(f"exec {q} err {e.id}")
            continue
        p(f"exec {q} headers {_tc(vdl.list_of(vdl.StringType), headers)}")
        try:
            async for row in rs:
                p("  row " + ", ".join(_tca(c) for c in row))
        except verror.VError as e:
            p(f"  end err {e.id}")

    # watch
    m = await db.get_resume_marker(ctx)
    p(f"put w1 {await _es(cx.put(ctx, 'w1', 'x1'))}")
    p(f"delete a {await _es(cx.delete(ctx, 'a'))}")

    async def w23(b):
        await b.collection(ctx, "cx").put(ctx, "w2", "x2")
        await b.collection(ctx, "cx").put(ctx, "w3", 3)
    p(f"batch w2 w3 {await _es(syncbase.run_in_batch(ctx, db, syncbase.BatchOptions(), w23))}")
    changes, status = await _watch(ctx, db, m, all_rows, 4)
    for c in changes:
        p(f"watch {_change(c)} marker {_b(len(c.resume_marker) > 0)}")
    p(f"watch {status}")
    if len(changes) == 4:
        again, status = await _watch(ctx, db, changes[1].resume_marker, all_rows, 2)
        for c in again:
            p(f"rewatch {_change(c)}")
        p(f"rewatch {status}")
    initial, status = await _watch(ctx, db, b"", [CollectionRowPattern("%", "cx%", "w%")], 1000,
                                   stop_at_batch_end=True)
    for c in initial:
        p(f"initial {_change(c)}")
    p(f"initial {status}")

    # permissions
    (perms, version), e = await _res(db.get_permissions(ctx))
    p(f"db perms {_tc(accesswire.Permissions._vdl_type, perms)} {go_quote(version)} {e}")
    p(f"db setperms {await _es(db.set_permissions(ctx, perms, version))}")
    p(f"db setperms stale {await _es(db.set_permissions(ctx, perms, version))}")
    _, version2 = await db.get_permissions(ctx)
    p(f"db perms version {go_quote(version2)}")
    p(f"db setperms no version {await _es(db.set_permissions(ctx, perms, ''))}")
    p(f"db setperms no admin {await _es(db.set_permissions(ctx, perms_for(user, ['Read']), ''))}")
    cperms, e = await _res(cx.get_permissions(ctx))
    p(f"cx perms {_tc(accesswire.Permissions._vdl_type, cperms)} {e}")
    p("cx setperms read-only "
      f"{await _es(cx.set_permissions(ctx, perms_for(user, ['Admin', 'Read'])))}")
    p(f"put when read-only {await _es(cx.put(ctx, 'n', 'x'))}")
    p(f"cx setperms back {await _es(cx.set_permissions(ctx, cperms))}")
    p("cx setperms bad tag "
      f"{await _es(cx.set_permissions(ctx, perms_for(user, ['Admin', 'Debug'])))}")
    (sperms, sversion), e = await _res(sb.get_permissions(ctx))
    p(f"service perms {_tc(accesswire.Permissions._vdl_type, sperms)} {go_quote(sversion)} {e}")

    # syncgroups
    sg = db.Syncgroup(ctx, "sg1")
    p(f"sg create {await _es(sg.create(ctx, spec('d1', [cx.id()]), info))}")
    p(f"sg create again {await _es(sg.create(ctx, spec('d1', [cx.id()]), info))}")
    nosuch = spec("d", [(user, "nosuch")])
    p("sg create no collection "
      f"{await _es(db.Syncgroup(ctx, 'sg2').create(ctx, nosuch, info))}")
    (got, sv), e = await _res(sg.get_spec(ctx))
    p(f"sg spec {_tc(sbwire.SyncgroupSpec._vdl_type, got)} version-set {_b(sv != '')} {e}")
    p(f"sg setspec {await _es(sg.set_spec(ctx, spec('d2', [cx.id()]), sv))}")
    p(f"sg setspec stale {await _es(sg.set_spec(ctx, spec('d2', [cx.id()]), sv))}")
    got, _ = await sg.get_spec(ctx)
    p(f"sg spec description {go_quote(got.Description)}")
    two = spec("d2", [cx.id(), db.collection(ctx, "cx2").id()])
    p(f"sg setspec collections {await _es(sg.set_spec(ctx, two, ''))}")
    members, e = await _res(sg.get_members(ctx))
    p(f"sg members {len(members or {})} {e}")
    for n in sorted(members or {}):
        p(f"  member hex {_b(_hex_id(n))} info "
          f"{_tc(sbwire.SyncgroupMemberInfo._vdl_type, members[n])}")
    sgs, e = await _res(db.list_syncgroups(ctx))
    p(f"listsyncgroups {_ids(sgs)} {e}")
    p(f"sg leave {await _es(sg.leave(ctx))}")
    p(f"sg destroy {await _es(sg.destroy(ctx))}")
    p(f"sg eject {await _es(sg.eject(ctx, 'abc'))}")
    p(f"sg join nowhere {await _es(db.Syncgroup(ctx, 'nosg').join(ctx, '', None, info))}")

    # blobs
    bl = await db.create_blob(ctx)
    p(f"blob ref form {_b(bl.ref().startswith('blob/'))}")
    w = await bl.put(ctx)
    p(f"blob send {await _es(w.send(b'hello '))}")
    p(f"blob send {await _es(w.send(b'blob'))}")
    p(f"blob close {await _es(w.close())}")
    n, e = await _res(bl.size(ctx))
    p(f"blob size {n or 0} {e}")
    p(f"blob get uncommitted {await _read_blob(ctx, bl, 0)}")
    p(f"blob commit {await _es(bl.commit(ctx))}")
    p(f"blob commit again {await _es(bl.commit(ctx))}")
    p(f"blob get {await _read_blob(ctx, bl, 0)}")
    p(f"blob get 6 {await _read_blob(ctx, bl, 6)}")
    p(f"blob get 11 {await _read_blob(ctx, bl, 11)}")
    p(f"blob row put {await _es(cx.put(ctx, 'blobrow', syncbase.BlobRef(bl.ref())))}")
    br, e = await _res(cx.get(ctx, "blobrow"))
    p(f"blob row get {e}")
    p(f"blob row ref same {_b(str(br) == bl.ref())}")
    p("blob row = " + (await _getv(ctx, cx, "blobrow")).replace(bl.ref(), "REF", 1))
    st = bl.fetch(ctx, 100)
    async for s in st:
        p(f"blob fetch {s.State}")
        if str(s.State) == "Done":
            break
    st.cancel()
    p(f"blob pin {await _es(bl.pin(ctx))}")
    p(f"blob keep {await _es(bl.keep(ctx, 2))}")
    p(f"blob unpin {await _es(bl.unpin(ctx))}")
    p(f"blob delete {await _es(bl.delete(ctx))}")
    p(f"blob size deleted {await _es(bl.size(ctx))}")
    p(f"blob bad ref {await _es(db.blob('blob/nonsense').size(ctx))}")

    # destroy
    p(f"cx2 destroy {await _es(db.collection(ctx, 'cx2').destroy(ctx))}")
    ok, e = await _res(db.collection(ctx, "cx2").exists(ctx))
    p(f"cx2 exists {_b(ok)} {e}")
    p(f"db destroy {await _es(db.destroy(ctx))}")
    ok, e = await _res(db.exists(ctx))
    p(f"db exists {_b(ok)} {e}")
    p(f"db destroy again {await _es(db.destroy(ctx))}")
    return lines
