"""Hostile peers built from our own flow and RPC layers.

Each one is an honest v23py runtime with one thing bent: the sans-IO ``Conn`` it runs, the
blessings it names on its flows, or the bytes it writes.  They talk to real servers over
real loopback sockets; the tests assert that the servers refuse them.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile

from twisted.internet import defer, protocol, reactor, task
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol

from v23py import runtime as rtm, security, vdl, verror, vom
from v23py.flow import conn as fconn
from v23py.rpc import options, wire as wt
from v23py.rpc.stubs import MethodDesc
from v23py.testing.procs import make_creds


# ------------------------------------------------------------------------- principals

def principal(name):
    """A fresh principal self-blessed as ``name`` (its own root recognized)."""
    p = security.random_principal()
    b = p.bless_self(name)
    p.blessing_store.set_default(b)
    p.blessing_store.set(b, "...")
    p.add_to_roots(b)
    return p, b


def blessed(blesser, blesser_b, extension, *caveats, name=None):
    """A new principal blessed by ``blesser`` as <blesser_b>:<extension>, presenting it to all."""
    p = security.random_principal()
    b = blesser.bless(p.public_key, blesser_b, extension,
                      *(caveats or (security.unconstrained_use(),)))
    p.blessing_store.set_default(b)
    p.blessing_store.set(b, "...")
    p.add_to_roots(b)
    return p, b


class _WearingStore:
    """A blessing store that hands out ``worn`` (someone else's blessings) for every peer."""

    def __init__(self, real, worn):
        self._real = real
        self._worn = worn

    def for_peer(self, *names):
        return self._worn

    def default(self):
        return self._worn

    def __getattr__(self, name):
        return getattr(self._real, name)


class WearingPrincipal:
    """``real`` with its store swapped: every flow names ``worn``; signing stays ``real``'s."""

    def __init__(self, real, worn):
        self._real = real
        self.blessing_store = _WearingStore(real.blessing_store, worn)

    def __getattr__(self, name):
        return getattr(self._real, name)


# ------------------------------------------------------------------------- conns

def preauth_conn(worn):
    """A Conn class that sends ``worn`` down the blessings flow before its own Auth blessings.

    Its flows can then name ``worn`` by key although the conn authenticates with another key:
    the attack of issue 12's B1 (Go v0.2.0 accepts it).
    """

    class PreAuthBlessingsConn(fconn.Conn):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            self._worn_sent = False

        def _send_blessings(self, blessings):
            if not self._worn_sent and self._benc is not None:
                self._worn_sent = True
                for w in worn:
                    super()._send_blessings(w)
            return super()._send_blessings(blessings)

    return PreAuthBlessingsConn


def postauth_conn(worn):
    """A Conn class that sends ``worn`` right after its Auth (replay after the key is known)."""

    class PostAuthBlessingsConn(fconn.Conn):
        def _send_auth(self, bkey, dkey, sig):
            super()._send_auth(bkey, dkey, sig)
            for w in worn:
                super()._send_blessings(w)

    return PostAuthBlessingsConn


def tampered_auth_conn():
    """A Conn class whose Auth signature is over the wrong binding (one bit flipped)."""

    class TamperedConn(fconn.Conn):
        def _send_auth(self, bkey, dkey, sig):
            sig = sig.replace(R=bytes(sig.R[:-1]) + bytes([sig.R[-1] ^ 1])) if len(sig.R) else \
                sig.replace(Ed25519=bytes(sig.Ed25519[:-1]) + bytes([sig.Ed25519[-1] ^ 1]))
            super()._send_auth(bkey, dkey, sig)

    return TamperedConn


# ------------------------------------------------------------------------- runtimes

def runtime(p, conn_class=None, insecure_roots=True):
    """(ctx, shutdown) of a client runtime for principal ``p`` whose conns are ``conn_class``."""
    ctx, shutdown = rtm.init(["--v23.tcp.address=127.0.0.1:0", "--v23.tcp.protocol=tcp",
                              "--v23.namespace.root=/127.0.0.1:1"],
                             flags=rtm.FlagSet("hostile"), principal=p, exit_on_error=False)
    rt = rtm.get_runtime(ctx)
    rt.client   # (made now, so its flow manager exists)
    if conn_class is not None:
        rt._client_manager.conn_class = conn_class
    return ctx, shutdown


def wearing_runtime(real, worn, preauth=True):
    """A client that authenticates as ``real`` and names ``worn`` on every flow."""
    wp = WearingPrincipal(real, worn)
    cls = preauth_conn([worn]) if preauth else postauth_conn([worn])
    return runtime(wp, cls)


# ------------------------------------------------------------------------- raw bytes

class RawPeer(protocol.Protocol):
    """A TCP peer that writes what it is told and records what comes back."""

    def __init__(self):
        self.received = b""
        self.lost = defer.Deferred()

    def dataReceived(self, data):
        self.received += data

    def connectionLost(self, reason=None):
        if not self.lost.called:
            self.lost.callback(self.received)


def connect_raw(address):
    """Deferred RawPeer connected to ``host:port``."""
    host, _, port = address.rpartition(":")
    return connectProtocol(TCP4ClientEndpoint(reactor, host, int(port)), RawPeer())


def endpoint_address(name):
    """host:port of a "/@6@tcp@host:port@..." endpoint name."""
    s = name.lstrip("/")
    parts = s.split("@")
    return parts[3]


# ------------------------------------------------------------------------- unfinished requests

ROLE_DATA = 0x64   # the first byte of an RPC call's data flow ('d')


def _value_bytes(types, value, t, first=False):
    """One VOM value message of type ``t`` as an RPC data flow carries it (the version
    byte before the first); type definitions go to the connection's type flow."""
    msg = bytes(vom.encode_value_message(types.enc, t, value))
    return bytes([vom.VERSION_81]) + msg if first else msg


def incomplete_request_bytes(types, how):
    """What a flow sends for an unfinished request of kind ``how``:
    "open" (nothing: an empty OpenFlow), "role" (only the data-flow role byte),
    "header" (half a Request header), "args" (a Request announcing an argument never sent)."""
    if how == "open":
        return b""
    if how == "role":
        return bytes([ROLE_DATA])
    hdr = _value_bytes(types, wt.request("", "Add", 1), wt.RequestType, first=True)
    types.flush()
    if how == "header":
        return bytes([ROLE_DATA]) + hdr[:len(hdr) // 2]
    return bytes([ROLE_DATA]) + hdr


class Answers:
    """Collects what the server sends back on unfinished-request flows."""

    def __init__(self):
        self.data = {}
        self.closed = 0

    def watch(self, flow):
        self.data[flow] = b""

        def on_data(d, flow=flow):
            self.data[flow] += bytes(d)

        def on_close(reason=None):
            self.closed += 1
        flow.set_receiver(on_data, on_close)

    def responses(self, types):
        """Decoded Response headers, one per flow that got one."""
        out = []
        for data in self.data.values():
            if not data:
                continue
            dec = vom.Decoder(type_decoder=types.dec)
            dec.feed(data)
            try:
                out.append(dec.decode(wt.ResponseType))
            except (vom.NeedData, vom.NeedType):
                pass
        return out


@defer.inlineCallbacks
def open_unfinished(ctx, endpoint, n, how="args"):
    """Dial ``endpoint`` and open ``n`` flows that never finish their request.

    Returns (conn, client types, Answers)."""
    client = rtm.get_runtime(ctx).client
    conn = yield client.flow_manager.dial(endpoint)
    types = client.types_for(conn)
    ans = Answers()
    payload = incomplete_request_bytes(types, how)
    for _ in range(n):
        f = conn.open_flow()
        ans.watch(f)
        f.post(payload) if payload else f.write(b"")
    defer.returnValue((conn, types, ans))


def rss_bytes(pid):
    """Resident set size of process ``pid`` (Linux)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS for %d" % pid)


# ------------------------------------------------------------------------- forged certificates

def strip_last_caveat(b):
    """``b`` with the last caveat of its last certificate removed and replayed as X509Raw.

    The certificate's content digest (and so its signature) is unchanged: issue 12's B2,
    which Go v0.2.0 accepts.  Built without validation, as a forger would."""
    chain = list(b.chains[0])
    last = chain[-1]
    cav = last.Caveats[-1]
    h = _HASHES[str(last.Signature.Hash)]
    raw = h(bytes(cav.Id)).digest() + h(bytes(cav.ParamVom)).digest()
    chain[-1] = last.replace(Caveats=list(last.Caveats[:-1]), X509Raw=raw)
    return security.Blessings([chain], b.public_key, b.digests[:1])


def tamper_certificate_signature(b):
    """``b`` with one bit of its last certificate's signature flipped."""
    chain = list(b.chains[0])
    sig = chain[-1].Signature
    if len(sig.R):
        sig = sig.replace(S=bytes(sig.S[:-1]) + bytes([sig.S[-1] ^ 1]))
    else:
        sig = sig.replace(Ed25519=bytes(sig.Ed25519[:-1]) + bytes([sig.Ed25519[-1] ^ 1]))
    chain[-1] = chain[-1].replace(Signature=sig)
    return security.Blessings([chain], b.public_key, b.digests[:1])


@defer.inlineCallbacks
def call_with_patched_type(ctx, endpoint, method, t, value, patch_from, patch_to):
    """Call ``method`` with one argument ``value`` of type ``t`` whose type definition is
    rewritten on the wire (``patch_from`` -> ``patch_to``, same length), e.g. to give it a
    field name no honest VDL type has.  Returns the server's Response header."""
    client = rtm.get_runtime(ctx).client
    conn = yield client.flow_manager.dial(endpoint)
    types = client.types_for(conn)
    hdr = _value_bytes(types, wt.request("", method, 1, end=True), wt.RequestType, first=True)
    types.flush()
    if not types.enc.lookup(t):
        types.enc.encode_type(t)
        types.flow.post(types.enc.take_bytes().replace(patch_from, patch_to))
    arg = _value_bytes(types, value, t)
    types.flush()
    f = conn.open_flow()
    ans = Answers()
    ans.watch(f)
    f.post(bytes([ROLE_DATA]) + hdr + arg)
    for _ in range(100):
        if ans.closed:
            break
        yield deferLater(0.05)
    (resp,) = ans.responses(types)
    defer.returnValue(resp)


_HASHES = {"SHA1": hashlib.sha1, "SHA256": hashlib.sha256, "SHA384": hashlib.sha384,
           "SHA512": hashlib.sha512}


def deferLater(seconds):
    return task.deferLater(reactor, seconds, lambda: None)


# ------------------------------------------------------------------------- mount tables

MT_PERMS = {"": {"Read": {"In": ["..."]}, "Resolve": {"In": ["..."]},
                 "Admin": {"In": ["root:alice"]}, "Create": {"In": ["root:alice"]},
                 "Mount": {"In": ["root:alice"]}}}


def mount_table_people(dirpath):
    """Credentials dir "root" (the table's), and principals alice (root:alice, may mount),
    mallory (root:mallory, may only read) and bob (root:alice:bob, whose blessing only
    allows the method Glob__)."""
    root = make_creds(os.path.join(dirpath, "root"), "root")
    rb = root.blessing_store.default()
    alice, alice_b = blessed(root, rb, "alice")
    mallory, _ = blessed(root, rb, "mallory")
    bob, bob_b = blessed(alice, alice_b, "bob", security.new_method_caveat("Glob__"))
    return {"root": root, "alice": (alice, alice_b), "mallory": mallory, "bob": (bob, bob_b)}


def mount(ctx, mt, name, server="/127.0.0.1:9", ttl=300):
    """Mount ``server`` under ``mt``/``name`` (Deferred)."""
    client = rtm.get_runtime(ctx).client
    mtflag = vdl.named("v.io/v23/naming.MountFlag", vdl.Uint32Type)
    return defer.ensureDeferred(client.call(
        ctx, mt + "/" + name, "Mount", [server, ttl, 0],
        [vdl.StringType, vdl.Uint32Type, mtflag], [],
        opts=(options.NoResolve(), options.insecure()[0])))


@defer.inlineCallbacks
def glob_names(ctx, mt, pattern="*"):
    """The names ``mt`` globs for ``pattern``."""
    client = rtm.get_runtime(ctx).client
    call = yield defer.ensureDeferred(client.start_call(
        ctx, mt, "__Glob", [pattern], [vdl.StringType], [],
        desc=MethodDesc(name="__Glob", in_stream=vdl.AnyType, out_stream=wt.GlobReplyType),
        opts=(options.NoResolve(), options.insecure()[0])))
    out = []
    while True:
        try:
            item = yield call.recv()
        except verror.VError as e:
            if e.id != verror.EOF.id:
                raise
            break
        if item.name == "Entry":
            out.append(item.value.Name)
    yield call.finish()
    defer.returnValue(sorted(out))


class MountTableAttacks:
    """A TestCase mixin: B1 and B2 against a mount table whose ACL lets only root:alice
    mount; ``start_table(creds, acls)`` (Deferred) starts the table, returns its name."""

    timeout = 90

    @defer.inlineCallbacks
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="sec-mt-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.who = mount_table_people(self.dir)
        acls = os.path.join(self.dir, "acls.json")
        with open(acls, "w") as f:
            json.dump(MT_PERMS, f)
        self.mt = yield self.start_table(os.path.join(self.dir, "root"), acls)

    def ctx(self, p, conn_class=None):
        ctx, stop = runtime(p, conn_class)
        self.addCleanup(stop)
        return ctx

    @defer.inlineCallbacks
    def names(self):
        alice, _ = self.who["alice"]
        return (yield glob_names(self.ctx(alice), self.mt))

    @defer.inlineCallbacks
    def test_honest_baseline(self):
        alice, _ = self.who["alice"]
        yield mount(self.ctx(alice), self.mt, "alices")
        e = yield self.assertFailure(mount(self.ctx(self.who["mallory"]), self.mt, "mallorys"),
                                     verror.VError)
        self.assertEqual(e.id, verror.NoAccess.id)
        bob, _ = self.who["bob"]
        e = yield self.assertFailure(mount(self.ctx(bob), self.mt, "bobs"), verror.VError)
        self.assertEqual(e.id, verror.NoAccess.id)
        self.assertEqual((yield self.names()), ["alices"])

    @defer.inlineCallbacks
    def test_dots_admit_a_stranger(self):
        """``...`` in an ACL lets in a caller whose blessings the table does not recognize
        (Go's AccessList.Includes with no names); other patterns do not."""
        acls = os.path.join(self.dir, "open-acls.json")
        with open(acls, "w") as f:
            json.dump({"": {"Read": {"In": ["..."]}, "Resolve": {"In": ["..."]},
                            "Create": {"In": ["..."]}, "Mount": {"In": ["..."]},
                            "Admin": {"In": ["root:alice"]}}}, f)
        mt = yield self.start_table(os.path.join(self.dir, "root"), acls)
        stranger = self.ctx(principal("stranger")[0])   # a root the table never heard of
        yield mount(stranger, mt, "strangers")
        self.assertEqual((yield glob_names(stranger, mt)), ["strangers"])
        # the table of setUp lets the stranger read, not mount (only root:alice may)
        stranger = self.ctx(principal("stranger")[0])
        self.assertEqual((yield glob_names(stranger, self.mt)), [])
        e = yield self.assertFailure(mount(stranger, self.mt, "strangers"), verror.VError)
        self.assertEqual(e.id, verror.NoAccess.id)

    @defer.inlineCallbacks
    def attack_b1(self):
        _, alice_b = self.who["alice"]
        ctx, stop = wearing_runtime(self.who["mallory"], alice_b)
        self.addCleanup(stop)
        try:
            yield mount(ctx, self.mt, "mallory-wore-alice")
        except verror.VError as e:
            return e
        return None

    @defer.inlineCallbacks
    def attack_b2(self):
        bob, bob_b = self.who["bob"]
        ctx = self.ctx(WearingPrincipal(bob, strip_last_caveat(bob_b)))
        try:
            yield mount(ctx, self.mt, "bob-stripped-his-caveat")
        except verror.VError as e:
            return e
        return None
