"""Write the fuzz targets' seed inputs into fuzz/corpus/<target>/ (deterministic).

    python fuzz/seeds.py

Seeds are made with our own encoders (nothing is copied from ../shared): honest values,
messages and handshake transcripts, and the hostile inputs issue 12 found (named
``found-*``).  The fuzzer's own discoveries that are worth keeping are committed beside
them by ``fuzz/run.py --keep``.
"""
from __future__ import annotations

import hashlib
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from fuzz import targets as T  # noqa: E402


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    if not name.startswith("found-"):
        name = "seed-%s-%s" % (name, hashlib.sha1(data).hexdigest()[:12])
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ----------------------------------------------------------------------------- vom

def vom_seeds():
    from v23py import vdl, vom, verror
    from v23py.security import _wiretypes as W
    f = T._fixed()
    Point = vdl.struct("seed.Point", [("X", vdl.Int32Type), ("Y", vdl.Float64Type),
                                      ("Tag", vdl.StringType)])
    Color = vdl.enum_type("seed.Color", ["Red", "Green", "Blue"])
    Shape = vdl.union("seed.Shape", [("Circle", vdl.Float32Type), ("Pts", vdl.list_of(Point))])
    b = vdl.TypeBuilder()
    node = b.struct("seed.Node")
    node.append_field("V", vdl.Int64Type).append_field("Next", b.optional(node))
    b.build()
    Node = node.built
    P, C, S, N = (vdl.class_for(t) for t in (Point, Color, Shape, Node))
    values = [
        ("string", "hello, vanadium", vdl.StringType),
        ("uint64", 1 << 63, vdl.Uint64Type),
        ("int64", -12345678901, vdl.Int64Type),
        ("float", 3.25, vdl.Float64Type),
        ("bytes", bytes(range(40)), vdl.ByteListType),
        ("bool", True, vdl.BoolType),
        ("list", ["a", "bb", "ccc"], vdl.list_of(vdl.StringType)),
        ("map", {"k": 1, "kk": 2}, vdl.map_of(vdl.StringType, vdl.Int32Type)),
        ("set", {1, 2, 3}, vdl.set_of(vdl.Uint16Type)),
        ("array", (1, 2, 3), vdl.array_of(vdl.ByteType, 3)),
        ("struct", P(X=1, Y=2.5, Tag="p"), Point),
        ("enum", C("Blue"), Color),
        ("union", S("Pts", [P(X=3, Y=0.0, Tag="")]), Shape),
        ("recursive", N(V=1, Next=N(V=2, Next=None)), vdl.optional(Node)),
        ("any", [1, "x", None, P(X=9, Y=1.0, Tag="z")], vdl.list_of(vdl.AnyType)),
        ("typeobject", Point, vdl.TypeObjectType),
        ("error", verror.NoExist.new("no such thing"), vdl.ErrorType),
    ]
    out = []
    for name, v, t in values:
        data = vom.encode(v, t)
        out += [("vom", "%s-single" % name, b"\x00" + data),
                ("vom", "%s-stream" % name, b"\x01" + data)]
    te = vom.TypeEncoder()
    for _, _, t in values:
        te.encode_type(t)
    out.append(("vom", "typestream", b"\x02" + te.take_bytes()))
    # blessings: a self-blessing and a delegated one with caveats
    from v23py import security
    sp, sb = f["server"]
    cp, _ = f["client"]
    import datetime
    when = datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc)
    db = sp.bless(cp.public_key, sb, "friend", security.new_method_caveat("Get"),
                  security.new_expiry_caveat(when))
    for name, bl in (("self", sb), ("delegated", db)):
        out.append(("vom", "blessings-" + name,
                    b"\x03" + vom.encode(bl.to_wire(), W.WireBlessingsType)))
    # what issue 12 found
    from v23py.testing import hostile as H
    out.append(("vom", "found-b2-stripped-caveat-as-x509raw",
                b"\x03" + vom.encode(H.strip_last_caveat(db).to_wire(), W.WireBlessingsType)))
    t = vdl.struct("evil.a\x01b", [("X", vdl.StringType)])
    out.append(("vom", "found-b6-type-name-with-nul",
                b"\x00" + vom.encode(vdl.class_for(t)(X="hi"), t).replace(b"a\x01b", b"a\x00b")))
    t = vdl.struct("evil.S", [("Xyz", vdl.StringType)])
    out.append(("vom", "found-b6-field-name-not-an-identifier",
                b"\x00" + vom.encode(vdl.class_for(t)(Xyz="hi"), t).replace(b"Xyz", b"a b")))
    te = vom.TypeEncoder()
    prev = vdl.StringType
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 5000))
    for i in range(60):
        prev = vdl.struct(("bomb.D%d" % i).ljust(1000, "x"), [("A", prev)])
    te.encode_type(prev)
    for i in range(60):
        te.encode_type(vdl.struct("bomb.W%d" % i, [("A", prev)]))
    out.append(("vom", "found-b4-exploding-unique-strings", b"\x02" + te.take_bytes()))
    return out + peer_typed_seeds() + rpc_header_seeds()


def peer_typed_seeds():
    """Mode 4: an honest value of each of the types a peer's values are decoded as."""
    import datetime
    from v23py import security, vdl, verror, vom
    from v23py.rpc import wire
    from v23py.security import _caveats as C, _wiretypes as W
    from v23py.security import access
    from v23py.v23.vdlroot.time import native as vtime
    from v23py.v23.services.syncbase import Id as sbid
    from syncbased import interfaces as I
    f = T._fixed()
    sp, _ = f["server"]
    dp, _ = f["other"]
    when = datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc)
    tp = C.new_caveat(C.PublicKeyThirdPartyCaveat, C.PublicKeyThirdPartyCaveatParam(
        Nonce=bytes(range(16)), Caveats=[security.new_method_caveat("Get")],
        DischargerKey=dp.public_key.der, DischargerLocation="/discharger",
        DischargerRequirements=W.ThirdPartyRequirements(ReportServer=True)))
    discharge = dp.mint_discharge(tp, security.new_expiry_caveat(when))
    t0 = vtime.time_from_datetime(when)
    meta = I.LogRecMetadata(Id=7, Gen=3, RecType=0, ObjId="$row/c/k", CurVers="v2",
                            Parents=["v1"], UpdTime=t0, Delete=False, BatchId=0,
                            BatchCount=0)
    values = {
        "request": wire.request("a/b", "Get", 1, True, wire.deadline(5, 0)),
        "response": wire.response(verror.NoExist.new("gone"), True, 0),
        "caveats": vdl.class_for(T.caveats_type())(
            Caveats=[security.new_method_caveat("Get", "Put"),
                     security.new_expiry_caveat(when),
                     security.new_peer_blessings_caveat("server"), tp],
            Discharges=[discharge.wire]),
        "deltareq": I.DeltaReq("Data", I.DataDeltaReq(
            DbId=sbid(Blessing="root", Name="db"), SgIds={"g1"}, Gvs={"c1": {1: 4, 2: 9}})),
        "deltaresp": I.DeltaResp("Rec", I.LogRec(Metadata=meta, Value="v")),
        "timeresp": I.TimeResp(OrigTs=t0, RecvTs=t0, SendTs=t0, LastNtpTs=t0, NumReboots=1,
                               NumHops=2),
        "permissions": access.Permissions({"Read": access.AccessList(
            In=["server", "server:friend"], NotIn=["server:friend:bad"])}),
        "signature": [],
        "globreply": wire.glob_entry("a/b", True, [], False),
        "discharges": [discharge.wire],
        "args": vdl.class_for(T.args_type())(
            B=True, U16=7, I8=-3, F32=1.5, A4=b"abcd", Any=[1, "two"],
            M={"k": {1, 2}}, T=vdl.Int8Type, Err=verror.NoExist.new("gone"),
            Opt=vdl.class_for(T.args_type().fields[6].type.elem)(N=1, S="s")),
    }
    out = []
    for i, (name, t, _) in enumerate(T.peer_types()):
        v = values.get(name)
        if v is None:
            v = vdl.zero(t)
        out.append(("vom", "typed-" + name, b"\x04" + bytes([i]) + vom.encode(v, t)))
    return out


def rpc_header_seeds():
    """Mode 5: a connection's type flow, then flows of Request headers (plain, repeated,
    traced, traced with metadata and flags) and of Response headers."""
    from v23py.rpc import wire
    from v23py.runtime._stream import ConnTypes, ValueWriter
    from v23py.v23 import vtrace as vt
    types = ConnTypes()

    def flow(role, *headers):
        w = ValueWriter(types)
        return bytes([role]) + b"".join(
            w.encode(h, wire.RequestType if role == 0 else wire.ResponseType) for h in headers)

    def traced(span, flags=0, md=b"", method="Get"):
        r = wire.request("a", method, 0, True)
        r.TraceRequest = vt.Request(SpanId=bytes([span]) * 16, TraceId=bytes([9]) * 16,
                                    RequestMetadata=md, Flags=flags, LogLevel=0)
        return r
    flows = [flow(0, wire.request("a", "Get", 1, False)),
             flow(0, wire.request("a", "Get", 1, False)),
             flow(0, traced(1)), flow(0, traced(2)),
             flow(0, traced(3, 1, b"md")), flow(0, traced(4, 1, b"md")),
             flow(1, wire.response(None, False, 1), wire.response(None, False, 1),
                  wire.response(None, True, 0))]
    return [("vom", "rpc-headers", b"\x05" + T.join_chunks([types.enc.take_bytes()] + flows))]


# ----------------------------------------------------------------------------- flow messages

def flow_seeds():
    from v23py.flow import message as m
    msgs = [
        ("setup", T.peer_setup(False)),
        ("teardown", m.TearDown("bye")),
        ("lameduck", m.EnterLameDuck()),
        ("acklameduck", m.AckLameDuck()),
        ("hcreq", m.HealthCheckRequest()),
        ("hcresp", m.HealthCheckResponse()),
        ("auth", m.Auth(1, 0, b"S1", "SHA256", b"r" * 32, b"s" * 32, b"", b"")),
        ("auth-ed25519", m.Auth(2, 3, b"S1", "SHA512", b"", b"", b"e" * 64, b"")),
        ("openflow", m.OpenFlow(11, 1 << 20, 1, 0, 0, b"payload")),
        ("openflow-bigid", m.OpenFlow(1 << 30, 1 << 20, 200, 7, m.CLOSE_FLAG, b"x" * 300)),
        ("release", m.Release([(11, 100), (13, 1 << 20)])),
        ("data", m.Data(11, m.CLOSE_FLAG, b"data")),
    ]
    out = []
    for name, msg in msgs:
        body = msg.encode()
        out.append(("flow_message", name, b"\x00" + body))
        out.append(("flow_message", name + "-framed", b"\x01" + m.frame(body) + m.frame(body)))
    return out


# ----------------------------------------------------------------------------- handshake

def _auth_msg(conn, bkey, principal, dialer_signs):
    from v23py.flow import conn as fconn
    from v23py.flow import message as m
    tag = fconn.AUTH_DIALER_TAG if dialer_signs else fconn.AUTH_ACCEPTOR_TAG
    sig = principal.sign(tag + conn.binding)
    return m.Auth(bkey, 0, bytes(sig.Purpose), str(sig.Hash), bytes(sig.R), bytes(sig.S),
                  bytes(sig.Ed25519), bytes(sig.Rsa)).encode()


def _rpc_request_payload():
    from v23py.rpc import wire as wt
    from v23py.runtime._stream import ROLE_DATA, ConnTypes, ValueWriter
    types = ConnTypes()
    w = ValueWriter(types)
    data = bytes([ROLE_DATA]) + w.encode(wt.request("", "Get", 0, end=True), wt.RequestType)
    return data, b"t" + types.enc.take_bytes()


def handshake_seeds():
    from v23py.flow import message as m
    from v23py.flow.auth import _Encoder
    f = T._fixed()
    out = []
    req, typeflow = _rpc_request_payload()
    for dialer_under_test in (False, True):
        mode = b"\x01" if dialer_under_test else b"\x00"
        conn, _ = T.handshake_session(dialer_under_test)
        peer = "server" if dialer_under_test else "client"
        p, b = f[peer]
        op, ob = f["other"]
        fid = 11 if dialer_under_test else 10      # the peer's own flow id space
        # honest: our blessings, Auth, a type flow and a call, more data, release, close
        enc = _Encoder()
        honest = [m.Data(1, 0, enc.blessings(b, 1)).encode(),
                  _auth_msg(conn, 1, p, not dialer_under_test),
                  m.OpenFlow(fid, 1 << 20, 1, 0, m.SIDE_CHANNEL_FLAG, typeflow).encode(),
                  m.OpenFlow(fid + 2, 1 << 20, 1, 0, 0, req).encode(),
                  m.Data(fid + 2, m.CLOSE_FLAG, b"").encode(),
                  m.Release([(fid, 1000)]).encode(),
                  m.HealthCheckRequest().encode(),
                  m.EnterLameDuck().encode(),
                  m.TearDown("done").encode()]
        side = "dialer" if dialer_under_test else "acceptor"
        out.append(("handshake", "honest-" + side, mode + T.join_chunks(honest)))
        # B1: someone else's blessings first, then ours, Auth with ours, a flow naming theirs
        enc = _Encoder()
        worn = [m.Data(1, 0, enc.blessings(ob, 1)).encode(),
                m.Data(1, 0, enc.blessings(b, 2)).encode(),
                _auth_msg(conn, 2, p, not dialer_under_test),
                m.OpenFlow(fid, 1 << 20, 1, 0, 0, req).encode()]
        out.append(("handshake", "found-b1-preauth-foreign-blessings-" + side,
                    mode + T.join_chunks(worn)))
        # after Auth: the same foreign blessings must be refused too
        enc = _Encoder()
        late = [m.Data(1, 0, enc.blessings(b, 1)).encode(),
                _auth_msg(conn, 1, p, not dialer_under_test),
                m.Data(1, 0, enc.blessings(ob, 2)).encode(),
                m.OpenFlow(fid, 1 << 20, 2, 0, 0, req).encode()]
        out.append(("handshake", "postauth-foreign-blessings-" + side, mode + T.join_chunks(late)))
    out.append(("handshake", "raw-setup", b"\x02" + m.frame(T.peer_setup(False).encode())))
    return out


# ----------------------------------------------------------------------------- syncQL

QUERIES = [
    "select k, v from Customer",
    "select v.Name, v.Address.City from Customer where Type(v) like \"%.Customer\"",
    "select k from Customer where k like \"00%\" and v.Active = true limit 2 offset 1",
    "select Str(v.B), Len(v.L) from KeyIndexData where v.M[6] = \"six\"",
    "select v from Numbers where v.F64 > 1.5e0 or v.I64 <> 88 escape '^'",
    "delete from BigTable where k >= \"150\" and k < \"160\"",
    "select Now(), Split(\"a,b\", \",\"), Atoi(\"42\"), Sprintf(\"%d\", 7) from BigTable limit 1",
    "select k from BigTable where k is not nil and (k = \"101\" or k = \"102\")",
    "select v.Name from Customer where v.Name like \"%^_%\" escape '^'",
    "select k from Customer where ((((((((((k = \"1\"))))))))))",
]


def syncql_seeds():
    return [("syncql", "q%02d" % i, q.encode()) for i, q in enumerate(QUERIES)]


def main():
    for target, name, data in vom_seeds() + flow_seeds() + handshake_seeds() + syncql_seeds():
        T.run_one(target, data)   # (every seed must itself pass)
        write(target, name, data)


if __name__ == "__main__":
    main()
