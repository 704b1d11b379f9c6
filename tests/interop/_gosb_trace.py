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
    v, e = await _res(cx.Get(ctx, key))
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
        async for k, v in cx.Scan(ctx, r):
            lines.append(f"{prefix}{k} = {_tca(v)}")
    except verror.VError as e:
        lines.append(f"{prefix}err {e.id}")


async def _read_blob(ctx, bl, offset):
    try:
        return go_quote(bytes(await bl.Get(ctx, offset).read()))
    except verror.VError as e:
        return "err " + e.id


async def _watch(ctx, db, marker, patterns, n, stop_at_batch_end=False):
    """Up to n changes (or through the first batch end), then the stream's status."""
    out = []
    ws = db.Watch(ctx, marker, patterns)
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

    sb = syncbase.NewService(sb_name)
    db = sb.Database(ctx, dbname, None)
    ok, e = await _res(db.Exists(ctx))
    p(f"db exists {_b(ok)} {e}")
    p(f"db create {await _es(db.Create(ctx, None))}")
    p(f"db create again {await _es(db.Create(ctx, None))}")
    ids = await sb.ListDatabases(ctx)
    p(f"listdatabases has db {_b(db.Id() in ids)}")
    cx = db.Collection(ctx, "cx")
    p(f"cx create {await _es(cx.Create(ctx, None))}")
    p(f"cx2 create {await _es(db.Collection(ctx, 'cx2').Create(ctx, None))}")
    p(f"cx create again {await _es(cx.Create(ctx, None))}")
    p(f"listcollections {_ids(await db.ListCollections(ctx))}")

    opt_id = vdl.optional(sbwire.Id._vdl_type)
    puts = [("a", "va"), ("b", 7), ("c", sbwire.Id(Blessing="x", Name="y")),
            ("d", vdl.optional_value(opt_id, sbwire.Id(Blessing="p", Name="q"))),
            ("e", b"\x01\x02\x03"), ("f", vdl.value(vdl.Uint32Type, 9)), ("g", ["s1", "s2"]),
            ("h", 1.5), ("i", True), ("k/x%y", "escaped")]
    for k, v in puts:
        p(f"put {k} {await _es(cx.Put(ctx, k, v))}")
    for k, _ in puts:
        p(f"get {k} = {await _getv(ctx, cx, k)}")
    p(f"get missing = {await _getv(ctx, cx, 'zz')}")
    for k in ("a", "zz"):
        ok, e = await _res(cx.Row(k).Exists(ctx))
        p(f"row {k} exists {_b(ok)} {e}")
    await _scan(ctx, cx, Prefix(""), "scan ", lines)
    await _scan(ctx, cx, Range("b", "e"), "scan b-e ", lines)
    await _scan(ctx, cx, Prefix("k/"), "scan k/ ", lines)

    # batches
    b1 = await db.BeginBatch(ctx)
    p(f"batch put j {await _es(b1.Collection(ctx, 'cx').Put(ctx, 'j', 'in-batch'))}")
    p(f"get j outside the batch = {await _getv(ctx, cx, 'j')}")
    p(f"batch get j = {await _getv(ctx, b1.Collection(ctx, 'cx'), 'j')}")
    p(f"batch commit {await _es(b1.Commit(ctx))}")
    p(f"batch commit again {await _es(b1.Commit(ctx))}")
    p(f"get j = {await _getv(ctx, cx, 'j')}")
    ro = await db.BeginBatch(ctx, syncbase.BatchOptions(ReadOnly=True))
    p(f"readonly put {await _es(ro.Collection(ctx, 'cx').Put(ctx, 'k', 'x'))}")
    p(f"readonly commit {await _es(ro.Commit(ctx))}")
    p(f"readonly abort {await _es(ro.Abort(ctx))}")
    ab = await db.BeginBatch(ctx)
    p(f"aborted put l {await _es(ab.Collection(ctx, 'cx').Put(ctx, 'l', 'x'))}")
    p(f"abort {await _es(ab.Abort(ctx))}")
    p(f"get l = {await _getv(ctx, cx, 'l')}")
    p(f"commit after abort {await _es(ab.Commit(ctx))}")
    c1 = await db.BeginBatch(ctx)
    p(f"conflict read a = {await _getv(ctx, c1.Collection(ctx, 'cx'), 'a')}")
    p(f"put a outside {await _es(cx.Put(ctx, 'a', 'va2'))}")
    p(f"conflict put a {await _es(c1.Collection(ctx, 'cx').Put(ctx, 'a', 'c1'))}")
    p(f"conflict commit {await _es(c1.Commit(ctx))}")

    # deletes
    p(f"delete b {await _es(cx.Delete(ctx, 'b'))}")
    p(f"get b = {await _getv(ctx, cx, 'b')}")
    p(f"delete b again {await _es(cx.Delete(ctx, 'b'))}")
    p(f"deleterange g-i {await _es(cx.DeleteRange(ctx, Range('g', 'i')))}")
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
            headers, rs = await db.Exec(ctx, q, *params)
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
    m = await db.GetResumeMarker(ctx)
    p(f"put w1 {await _es(cx.Put(ctx, 'w1', 'x1'))}")
    p(f"delete a {await _es(cx.Delete(ctx, 'a'))}")

    async def w23(b):
        await b.Collection(ctx, "cx").Put(ctx, "w2", "x2")
        await b.Collection(ctx, "cx").Put(ctx, "w3", 3)
    p(f"batch w2 w3 {await _es(syncbase.RunInBatch(ctx, db, syncbase.BatchOptions(), w23))}")
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
    (perms, version), e = await _res(db.GetPermissions(ctx))
    p(f"db perms {_tc(accesswire.Permissions._vdl_type, perms)} {go_quote(version)} {e}")
    p(f"db setperms {await _es(db.SetPermissions(ctx, perms, version))}")
    p(f"db setperms stale {await _es(db.SetPermissions(ctx, perms, version))}")
    _, version2 = await db.GetPermissions(ctx)
    p(f"db perms version {go_quote(version2)}")
    p(f"db setperms no version {await _es(db.SetPermissions(ctx, perms, ''))}")
    p(f"db setperms no admin {await _es(db.SetPermissions(ctx, perms_for(user, ['Read']), ''))}")
    cperms, e = await _res(cx.GetPermissions(ctx))
    p(f"cx perms {_tc(accesswire.Permissions._vdl_type, cperms)} {e}")
    p("cx setperms read-only "
      f"{await _es(cx.SetPermissions(ctx, perms_for(user, ['Admin', 'Read'])))}")
    p(f"put when read-only {await _es(cx.Put(ctx, 'n', 'x'))}")
    p(f"cx setperms back {await _es(cx.SetPermissions(ctx, cperms))}")
    p("cx setperms bad tag "
      f"{await _es(cx.SetPermissions(ctx, perms_for(user, ['Admin', 'Debug'])))}")
    (sperms, sversion), e = await _res(sb.GetPermissions(ctx))
    p(f"service perms {_tc(accesswire.Permissions._vdl_type, sperms)} {go_quote(sversion)} {e}")

    # syncgroups
    sg = db.Syncgroup(ctx, "sg1")
    p(f"sg create {await _es(sg.Create(ctx, spec('d1', [cx.Id()]), info))}")
    p(f"sg create again {await _es(sg.Create(ctx, spec('d1', [cx.Id()]), info))}")
    nosuch = spec("d", [(user, "nosuch")])
    p("sg create no collection "
      f"{await _es(db.Syncgroup(ctx, 'sg2').Create(ctx, nosuch, info))}")
    (got, sv), e = await _res(sg.GetSpec(ctx))
    p(f"sg spec {_tc(sbwire.SyncgroupSpec._vdl_type, got)} version-set {_b(sv != '')} {e}")
    p(f"sg setspec {await _es(sg.SetSpec(ctx, spec('d2', [cx.Id()]), sv))}")
    p(f"sg setspec stale {await _es(sg.SetSpec(ctx, spec('d2', [cx.Id()]), sv))}")
    got, _ = await sg.GetSpec(ctx)
    p(f"sg spec description {go_quote(got.Description)}")
    two = spec("d2", [cx.Id(), db.Collection(ctx, "cx2").Id()])
    p(f"sg setspec collections {await _es(sg.SetSpec(ctx, two, ''))}")
    members, e = await _res(sg.GetMembers(ctx))
    p(f"sg members {len(members or {})} {e}")
    for n in sorted(members or {}):
        p(f"  member hex {_b(_hex_id(n))} info "
          f"{_tc(sbwire.SyncgroupMemberInfo._vdl_type, members[n])}")
    sgs, e = await _res(db.ListSyncgroups(ctx))
    p(f"listsyncgroups {_ids(sgs)} {e}")
    p(f"sg leave {await _es(sg.Leave(ctx))}")
    p(f"sg destroy {await _es(sg.Destroy(ctx))}")
    p(f"sg eject {await _es(sg.Eject(ctx, 'abc'))}")
    p(f"sg join nowhere {await _es(db.Syncgroup(ctx, 'nosg').Join(ctx, '', None, info))}")

    # blobs
    bl = await db.CreateBlob(ctx)
    p(f"blob ref form {_b(bl.Ref().startswith('blob/'))}")
    w = await bl.Put(ctx)
    p(f"blob send {await _es(w.Send(b'hello '))}")
    p(f"blob send {await _es(w.Send(b'blob'))}")
    p(f"blob close {await _es(w.Close())}")
    n, e = await _res(bl.Size(ctx))
    p(f"blob size {n or 0} {e}")
    p(f"blob get uncommitted {await _read_blob(ctx, bl, 0)}")
    p(f"blob commit {await _es(bl.Commit(ctx))}")
    p(f"blob commit again {await _es(bl.Commit(ctx))}")
    p(f"blob get {await _read_blob(ctx, bl, 0)}")
    p(f"blob get 6 {await _read_blob(ctx, bl, 6)}")
    p(f"blob get 11 {await _read_blob(ctx, bl, 11)}")
    p(f"blob row put {await _es(cx.Put(ctx, 'blobrow', syncbase.BlobRef(bl.Ref())))}")
    br, e = await _res(cx.Get(ctx, "blobrow"))
    p(f"blob row get {e}")
    p(f"blob row ref same {_b(str(br) == bl.Ref())}")
    p("blob row = " + (await _getv(ctx, cx, "blobrow")).replace(bl.Ref(), "REF", 1))
    st = bl.Fetch(ctx, 100)
    async for s in st:
        p(f"blob fetch {s.State}")
        if str(s.State) == "Done":
            break
    st.Cancel()
    p(f"blob pin {await _es(bl.Pin(ctx))}")
    p(f"blob keep {await _es(bl.Keep(ctx, 2))}")
    p(f"blob unpin {await _es(bl.Unpin(ctx))}")
    p(f"blob delete {await _es(bl.Delete(ctx))}")
    p(f"blob size deleted {await _es(bl.Size(ctx))}")
    p(f"blob bad ref {await _es(db.Blob('blob/nonsense').Size(ctx))}")

    # destroy
    p(f"cx2 destroy {await _es(db.Collection(ctx, 'cx2').Destroy(ctx))}")
    ok, e = await _res(db.Collection(ctx, "cx2").Exists(ctx))
    p(f"cx2 exists {_b(ok)} {e}")
    p(f"db destroy {await _es(db.Destroy(ctx))}")
    ok, e = await _res(db.Exists(ctx))
    p(f"db exists {_b(ok)} {e}")
    p(f"db destroy again {await _es(db.Destroy(ctx))}")
    return lines
