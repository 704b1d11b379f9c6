"""Fuzz targets: what a peer's bytes reach, each with the invariants it must keep.

Every target takes the fuzzer's bytes and returns normally when the input was handled
(accepted, or refused with a verror); anything else — another exception, or a broken
invariant (``FuzzBug``) — is a bug.  ``fuzz/run.py`` drives them with atheris (coverage
guided) or hypothesis; ``tests/security/test_fuzz_corpus.py`` replays the committed
corpus and any crash a CI run left behind.

* ``vom``: single-shot streams, the streaming decoder fed in pieces, a split (RPC) type
  stream, WireBlessings (decoded, then validated as blessings), the types a peer's
  values are decoded as (``peer_types``: RPC headers, caveats and discharges validated
  for a call, Syncbase's sync messages, ...), and RPC header streams read as a server
  and a client read them (through the connection's header cache, which must decode
  exactly what the plain decoder does).
* ``flow_message``: one frame body through the flow message parser, and a byte stream
  through the frame reader.
* ``handshake``: a real acceptor (or dialer) ``Conn`` fed an honest Setup and then the
  fuzzer's messages, sealed with the negotiated NaCl box as a peer would seal them; the
  conn must never fail with an internal error, and every flow it accepts must carry
  blessings bound to the key that authenticated the conn (issue 12, B1).
* ``syncql``: a query parsed, checked and run against a small in-memory database.
"""
from __future__ import annotations

import sys

from v23py import verror

MAX_INPUT = 1 << 16


class FuzzBug(AssertionError):
    """An input broke an invariant."""


def _expected(e):
    return isinstance(e, verror.VError)


# ----------------------------------------------------------------------------- vom

def vom(data: bytes) -> None:
    from v23py import vom as V
    if not data:
        return
    mode, body = data[0] % 6, bytes(data[1:])
    try:
        if mode == 0:
            t, v = V.decode_typed(body)
            _reencode(V, t, v)
        elif mode == 1:
            dec = V.Decoder()
            cut = len(body) // 2
            for part in (body[:cut], body[cut:]):
                dec.feed(part)
                for _ in range(64):
                    try:
                        t, v = dec.decode_typed()
                    except (V.NeedData, V.NeedType):
                        break
                    _reencode(V, t, v)
        elif mode == 2:
            td = V.TypeDecoder()
            td.feed(body)
        elif mode == 4:
            _peer_typed(V, body)
        elif mode == 5:
            _rpc_headers(V, body)
        else:
            from v23py import security
            from v23py.security import _wiretypes as W
            wb = V.decode(body, W.WireBlessingsType)
            b = security.blessings_from_wire(wb)
            if not b.is_zero():
                for chain in b.chains:
                    if bytes(chain[-1].PublicKey) != b.public_key.der and \
                            security.public_key_from_der(bytes(chain[-1].PublicKey)) != b.public_key:
                        raise FuzzBug("blessings with a chain bound to another key")
    except FuzzBug:
        raise
    except Exception as e:
        if not _expected(e):
            raise


def peer_types():
    """(name, type, check) of what a remote peer's values are decoded as (mode 4: the
    input's first byte picks one); ``check(value, data)`` uses the value as the receiver
    does."""
    if _PEER_TYPES:
        return _PEER_TYPES
    from v23py import vdl
    from v23py.rpc import wire
    from v23py.security import _wiretypes as W
    from v23py.security import access
    from syncbased import interfaces as I
    _PEER_TYPES.extend([
        ("request", wire.RequestType, None),
        ("response", wire.ResponseType, None),
        ("caveats", caveats_type(), _validate_caveats),
        ("deltareq", I.DeltaReq._vdl_type, None),
        ("deltaresp", I.DeltaResp._vdl_type, _raw_any_agrees),
        ("timeresp", I.TimeResp._vdl_type, None),
        ("permissions", access.PermissionsType, _authorize_permissions),
        ("signature", wire.SigInterfaceListType, None),
        ("globreply", wire.GlobReplyType, None),
        ("discharges", vdl.list_of(W.WireDischargeType), None),
        ("args", args_type(), None),
    ])
    return _PEER_TYPES


def args_type():
    """A typed method's arguments as a server decodes them (converted from the peer's own
    types: other names, kinds, widths), one field per kind."""
    from v23py import vdl
    inner = vdl.struct("fuzz.Inner", [("N", vdl.Int8Type), ("S", vdl.StringType)])
    return vdl.struct("fuzz.Args", [
        ("B", vdl.BoolType), ("U16", vdl.Uint16Type), ("I8", vdl.Int8Type),
        ("F32", vdl.Float32Type), ("E", vdl.enum_type("fuzz.E", ["A", "B", "C"])),
        ("A4", vdl.array_of(vdl.ByteType, 4)), ("Opt", vdl.optional(inner)),
        ("Any", vdl.AnyType), ("M", vdl.map_of(vdl.StringType, vdl.set_of(vdl.Int32Type))),
        ("L", vdl.list_of(inner)), ("T", vdl.TypeObjectType), ("Err", vdl.ErrorType),
        ("Un", vdl.union("fuzz.Un", [("X", vdl.Float64Type), ("Y", vdl.ByteListType)]))])


_PEER_TYPES: list = []
_CAVEATS_TYPE: list = []


def caveats_type():
    """Caveats a peer put on a blessing it extended (it signs what it likes), and the
    discharges it presents with them."""
    if not _CAVEATS_TYPE:
        from v23py import vdl
        from v23py.security import _wiretypes as W
        _CAVEATS_TYPE.append(vdl.struct("fuzz.Caveats", [
            ("Caveats", vdl.list_of(W.CaveatType)),
            ("Discharges", vdl.list_of(W.WireDischargeType))]))
    return _CAVEATS_TYPE[0]


def _validate_caveats(v, data):
    """The server validates the caveats of the client's blessing (the client blessed by a
    root the server recognizes, then extending it with the caveats)."""
    import datetime
    from v23py import security
    f = _fixed()
    sp, sb = f["server"]
    cp, _ = f["client"]
    try:
        b = sp.bless(cp.public_key, sb, "friend",
                     *(v.Caveats or [security.unconstrained_use()]))
    except verror.VError:
        return
    when = datetime.datetime(2026, 12, 8, tzinfo=datetime.timezone.utc)
    call = security.Call(local_principal=sp, local_blessings=sb, remote_blessings=b,
                         method="Get", suffix="x", timestamp=when,
                         remote_discharges=list(v.Discharges))
    names, rejected = security.remote_blessing_names(call)
    if len(names) + len(rejected) != 1:
        raise FuzzBug("one chain gave %d names and %d rejections" % (len(names), len(rejected)))
    for cav in v.Caveats:
        str(cav)


def _authorize_permissions(v, data):
    """A server authorizes a call against permissions a client set."""
    import datetime
    from v23py import security
    from v23py.security import access
    f = _fixed()
    sp, sb = f["server"]
    cp, _ = f["client"]
    b = sp.bless(cp.public_key, sb, "friend", security.unconstrained_use())
    when = datetime.datetime(2026, 12, 8, tzinfo=datetime.timezone.utc)
    for tag in ("Read", "Write", "Admin"):
        call = security.Call(local_principal=sp, local_blessings=sb, remote_blessings=b,
                             method="Get", method_tags=[access.Tag(tag)], timestamp=when)
        try:
            access.permissions_authorizer(v, access.TagType).authorize(call)
        except verror.VError:
            pass


def _raw_any_agrees(v, data):
    """A sync round's items are read keeping a record's value (an any) as its VOM bytes,
    which the store keeps (Decoder.keep_any_raw): those bytes decode to the value the
    plain decoder gives, of the same type."""
    from v23py import vom as V
    t = type(v)._vdl_type
    dec = V.Decoder()
    dec.keep_any_raw(t)
    dec.feed(data)
    try:
        raw = dec.decode(t)
    except V.NeedData:
        raise FuzzBug("the raw-any decoder needs more data for %r" % (v,)) from None
    except verror.VError as e:
        raise FuzzBug("the raw-any decoder refuses %r: %s" % (v, e)) from None
    if v.name != "Rec":
        if raw != v:
            raise FuzzBug("the raw-any decoder gives %r for %r" % (raw, v))
        return
    r, want = raw.value.Value, v.value.Value
    if raw.value.Metadata != v.value.Metadata:
        raise FuzzBug("the raw-any decoder gives %r for %r" % (raw, v))
    if r.__class__ is not V.RawBytes:
        # (a peer's own item type, converted: its values are decoded, not kept raw)
        if r != want and repr(r) != repr(want):
            raise FuzzBug("the raw-any decoder gives %r for %r" % (r, want))
        return
    try:
        got = r.value()
    except verror.VError as e:
        raise FuzzBug("a record's value kept as %r does not decode: %s" % (r, e)) from None
    if V.encode(got, r.type) != V.encode(want, r.type) and got != want:
        raise FuzzBug("a record's value kept as %r decodes to %r, not %r" % (r, got, want))


def _peer_typed(V, body):
    if not body:
        return
    types = peer_types()
    _, t, check = types[body[0] % len(types)]
    v = V.decode(body[1:], t)
    _reencode(V, t, v)
    if check is not None:
        check(v, body[1:])


def _rpc_headers(V, body):
    """RPC header streams: the first chunk is the connection's type flow, each other chunk
    one flow's bytes (its first byte: even, Requests as a server reads them; odd,
    Responses as a client reads them), read header after header through the
    connection's header cache (ValueReader.try_read) and, beside it, by a plain decoder:
    both must give the same values (a traced Request's trace as the server takes it)
    and consume the same bytes."""
    from v23py.rpc import wire
    from v23py.runtime import _stream as S
    chunks = split_chunks(body)
    if not chunks:
        return
    types = S.ConnTypes()
    plain_types = V.TypeDecoder()
    try:
        plain_types.feed(chunks[0])
    except verror.VError:
        return
    types.feed(chunks[0])
    for chunk in chunks[1:33]:
        if not chunk:
            continue
        t = wire.RequestType if chunk[0] % 2 == 0 else wire.ResponseType
        reader = S.ValueReader(types)
        reader.feed(chunk[1:])
        plain = V.Decoder(type_decoder=plain_types)
        plain.feed(chunk[1:])
        for _ in range(16):
            try:
                ok, got = reader.try_read(t)
            except verror.VError as e:
                ok, got = e, None
            try:
                want = plain.decode(t)
            except (V.NeedData, V.NeedType):
                want = None
            except verror.VError as e:
                want = e
            if isinstance(ok, verror.VError) or isinstance(want, verror.VError):
                if not (isinstance(ok, verror.VError) and isinstance(want, verror.VError)):
                    raise FuzzBug("the header cache decoded %r where the decoder says %r"
                                  % (got if ok is True else ok, want))
                break
            if not ok:
                if want is not None:
                    raise FuzzBug("the header cache needs more data for %r" % (want,))
                break
            if want is None:
                raise FuzzBug("the header cache decoded %r from a part of a message" % (got,))
            if t is wire.RequestType:
                got, want = _as_served(got, reader.trace), _as_served(want, None)
                reader.trace = None
            if got != want or reader._pos != plain._pos:
                raise FuzzBug("the header cache decoded %r (to %d) where the decoder "
                              "gives %r (to %d)" % (got, reader._pos, want, plain._pos))


def _as_served(req, trace):
    """A Request with the trace a server takes for it (the reader's, when the header cache
    found the message apart from its trace ids)."""
    tr = req.TraceRequest
    if trace is None:
        trace = (bytes(tr.SpanId), bytes(tr.TraceId), tr.Flags, tr.LogLevel,
                 bytes(tr.RequestMetadata))
    fields = {f.name: getattr(req, f.name) for f in req._vdl_type.fields}
    fields["TraceRequest"] = trace
    return fields


def _reencode(V, t, v):
    """A decoded value encodes again (as what it was decoded as)."""
    try:
        V.encode(v, t)
    except verror.VError as e:
        raise FuzzBug("a decoded %s value does not encode: %s" % (str(t)[:200], e))


# ----------------------------------------------------------------------------- flow messages

def flow_message(data: bytes) -> None:
    from v23py.flow import message as m
    if not data:
        return
    try:
        if data[0] & 1:
            r = m.FrameReader(1 << 16)
            for body in r.push(bytes(data[1:])):
                _one_message(m, body)
        else:
            _one_message(m, bytes(data[1:]))
    except Exception as e:
        if not _expected(e):
            raise


def _one_message(m, body):
    msg = m.decode(body)
    again = m.encode(msg) if hasattr(m, "encode") else msg.encode()
    if type(m.decode(again)) is not type(msg):
        raise FuzzBug("%s does not survive encode/decode" % type(msg).__name__)


# ----------------------------------------------------------------------------- handshake

_FIXED = {}


def _fixed():
    """Principals, keys and endpoints that are the same in every run (ed25519 signs
    deterministically), so recorded honest messages verify when replayed."""
    if _FIXED:
        return _FIXED
    from cryptography.hazmat.primitives.asymmetric import ed25519
    from v23py import security
    from v23py.flow.crypto import KeyPair
    from v23py.naming.endpoint import Endpoint, RoutingId
    from v23py.security._keys import Signer

    def principal(seed, name):
        p = security.principal_from_signer(
            Signer(ed25519.Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32)))
        b = p.bless_self(name)
        p.blessing_store.set_default(b)
        p.add_to_roots(b)
        return p, b

    _FIXED["server"] = principal(1, "server")
    _FIXED["client"] = principal(2, "client")
    _FIXED["other"] = principal(3, "other")
    _FIXED["server_kp"] = KeyPair(bytes([11]) * 32)
    _FIXED["client_kp"] = KeyPair(bytes([12]) * 32)
    _FIXED["server_ep"] = Endpoint("tcp", "127.0.0.1:1", RoutingId(bytes(range(16))))
    _FIXED["client_ep"] = Endpoint("tcp", "127.0.0.1:2", RoutingId(bytes(range(16, 32))))
    return _FIXED


def _conn(dialer):
    from v23py.flow import conn as fconn
    from v23py.flow.auth import Identity, SecurityAuth
    f = _fixed()
    me, kp = ("client", "client_kp") if dialer else ("server", "server_kp")
    p, b = f[me]
    return fconn.Conn(dialer=dialer, auth=SecurityAuth(Identity(p)), local_blessings=b,
                      local_endpoint=f["client_ep" if dialer else "server_ep"],
                      remote_endpoint=f["server_ep"] if dialer else None,
                      keypair=f[kp], now=0.0, handshake_timeout=60.0)


def peer_setup(dialer_under_test):
    """The Setup the harness (the peer of the conn under test) sends."""
    from v23py.flow import message as m
    f = _fixed()
    if dialer_under_test:   # the harness is the acceptor
        return m.Setup(10, 14, f["server_kp"].public, "", str(f["server_ep"]), 1 << 16, 1 << 20)
    return m.Setup(10, 14, f["client_kp"].public, str(f["server_ep"]), str(f["client_ep"]),
                   1 << 16, 1 << 20)


def handshake_session(dialer_under_test):
    """(conn under test, its Setup bytes, the harness's sealing cipher, binding)."""
    from v23py.flow import message as m
    from v23py.flow.crypto import BoxCipher
    f = _fixed()
    conn = _conn(dialer_under_test)
    conn.start()
    ps = peer_setup(dialer_under_test)
    events = conn.receive_data(m.frame(ps.encode()))
    _check(conn, events)
    if dialer_under_test:
        kp, peer_pub = f["server_kp"], f["client_kp"].public
    else:
        kp, peer_pub = f["client_kp"], f["server_kp"].public
    cipher = BoxCipher(kp.public, kp.secret, peer_pub)
    return conn, cipher


def split_chunks(body):
    """The fuzzer's bytes as messages: each a 2-byte big-endian length, then the bytes."""
    out, pos = [], 0
    while pos + 2 <= len(body) and len(out) < 256:
        n = int.from_bytes(body[pos:pos + 2], "big")
        pos += 2
        out.append(body[pos:pos + n])
        pos += n
    return out


def join_chunks(chunks):
    return b"".join(len(c).to_bytes(2, "big") + c for c in chunks)


def handshake(data: bytes) -> None:
    from v23py.flow import message as m
    if not data:
        return
    mode, body = data[0] % 3, bytes(data[1:])
    if mode == 2:
        # raw bytes to a fresh acceptor: framing and Setup parsing
        conn = _conn(False)
        conn.start()
        _check(conn, conn.receive_data(body))
        return
    dialer_under_test = mode == 1
    conn, cipher = handshake_session(dialer_under_test)
    for chunk in split_chunks(body):
        if conn.closed:
            break
        sealed = cipher.seal(chunk)
        _check(conn, conn.receive_data(m.frame_header(len(sealed)) + sealed))
    if not conn.closed:
        _check(conn, conn.handle_timeout(120.0))


def _check(conn, events):
    from v23py.flow import conn as fconn
    for ev in events:
        kind = ev[0]
        if kind is fconn.ConnectionClosed:
            err = ev[1]
            if getattr(err, "id", "") == verror.Internal.id:
                raise FuzzBug("the conn failed internally: %s" % err)
        elif kind is fconn.FlowAccepted:
            flow = ev[1]
            b = flow.remote_blessings
            pk = conn.auth.public_key(b) if b is not None else None
            if pk != conn.remote_public_key:
                raise FuzzBug("flow %d carries blessings %s not bound to the conn's key"
                              % (flow.id, b))
        elif kind is fconn.BlessingsRefreshed:
            if conn.auth.public_key(ev[1]) != conn.remote_public_key:
                raise FuzzBug("refreshed blessings not bound to the conn's key")


# ----------------------------------------------------------------------------- syncQL

_DB = []


def _fresh_db():
    """The syncQL tests' database, its tables copied (a delete must not leak into the
    next input)."""
    if not _DB:
        from v23py.testing.querydata import standard_db
        _DB.append(standard_db())
    import copy
    db = copy.copy(_DB[0])
    db.tables = {}
    for name, t in _DB[0].tables.items():
        t2 = copy.copy(t)
        t2.rows = dict(t.rows)
        t2.scanned = []
        db.tables[name] = t2
    return db


def syncql(data: bytes) -> None:
    from v23py import query
    text = bytes(data).decode("utf-8", "replace")
    db = _fresh_db()
    try:
        headers, rows = query.exec_query(db, text)
        n = 0
        for _ in rows:
            n += 1
            if n > 1000:
                break
    except Exception as e:
        if not _expected(e):
            raise


TARGETS = {"vom": vom, "flow_message": flow_message, "handshake": handshake, "syncql": syncql}


def run_one(name, data):
    """Run target ``name`` on ``data`` (the replay entry point)."""
    limit = sys.getrecursionlimit()
    try:
        TARGETS[name](data[:MAX_INPUT])
    finally:
        sys.setrecursionlimit(limit)
