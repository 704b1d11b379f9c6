"""Test doubles for the flow layer: an auth object without real crypto/VOM, and a pipe driver."""
import hashlib
import json
import socket
import types

from v23py.flow import conn as fconn


class FakeBlessings:
    def __init__(self, name, key):
        self.name = name
        self.key = key

    def __eq__(self, other):
        return isinstance(other, FakeBlessings) and (self.name, self.key) == (other.name, other.key)

    def __hash__(self):
        return hash((self.name, self.key))

    def __repr__(self):
        return "FakeBlessings(%r)" % self.name


class _Enc:
    def blessings(self, b, key):
        return json.dumps({"k": key, "n": b.name, "p": b.key}).encode() + b"\n"


class _Dec:
    def __init__(self):
        self.buf = b""

    def feed(self, data):
        self.buf += data

    def next(self):
        if b"\n" not in self.buf:
            return None
        line, self.buf = self.buf.split(b"\n", 1)
        d = json.loads(line)
        return ("b", d["k"], FakeBlessings(d["n"], d["p"]))


class FakeAuth:
    """Signs with sha256(key || msg): enough to test the binding logic without real keys."""

    def __init__(self, key, forge=False):
        self.key = key
        self.forge = forge

    def sign(self, msg):
        k = "forged" if self.forge else self.key
        return types.SimpleNamespace(Purpose=b"S1", Hash="SHA256",
                                     R=hashlib.sha256(k.encode() + msg).digest(), S=b"s")

    def verify(self, blessings, auth_msg, msg):
        return auth_msg.r == hashlib.sha256(blessings.key.encode() + msg).digest()

    def public_key(self, b):
        return b.key

    def is_zero(self, b):
        return b is None

    def unique_id(self, b):
        return (b.name, b.key)

    def new_encoder(self):
        return _Enc()

    def new_decoder(self):
        return _Dec()


def make_pair(**kw):
    from v23py.naming.endpoint import Endpoint, RoutingId
    server_ep = Endpoint("tcp", "127.0.0.1:1234", RoutingId(b"\x01" * 16), blessing_names=("server",))
    client_local = Endpoint("tcp", "127.0.0.1:5555", RoutingId(b"\x02" * 16))
    dkw = dict(kw.pop("dialer_kw", {}))
    akw = dict(kw.pop("acceptor_kw", {}))
    d = fconn.Conn(dialer=True, auth=FakeAuth("ck"), local_blessings=FakeBlessings("client", "ck"),
                   local_endpoint=client_local,
                   remote_endpoint=Endpoint("tcp", "127.0.0.1:1234", blessing_names=("server",)), **dkw, **kw)
    a = fconn.Conn(dialer=False, auth=FakeAuth("sk"), local_blessings=FakeBlessings("server", "sk"),
                   local_endpoint=server_ep, **akw, **kw)
    return d, a


def connected_pair(**kw):
    """make_pair(**kw), both started and their handshake done: (dialer, acceptor)."""
    d, a = make_pair(**kw)
    d.start()
    a.start()
    pump(d, a)
    return d, a


def pump(a, b, max_rounds=1000):
    """Move bytes both ways until quiet; returns (events_a, events_b)."""
    ea, eb = [], []
    for _ in range(max_rounds):
        x = a.data_to_send()
        y = b.data_to_send()
        if not x and not y:
            break
        if x:
            eb.extend(b.receive_data(x))
        if y:
            ea.extend(a.receive_data(y))
    return ea, eb


def kinds(events):
    """The names of the kinds of ``events``, in order."""
    return [e[0].__name__ for e in events]


def of_kind(events, kind):
    """The fields of each event of ``kind`` (a tuple per event, the kind left off)."""
    return [e[1:] for e in events if e[0] is kind]


def send_and_read_all(address, payload=b"", timeout=10):
    """Blocking (run it in a thread): a plain TCP connection to ``address`` (host, port)
    sends ``payload`` (if any) and returns all the peer sent until it closed the conn."""
    s = socket.create_connection(address, timeout=timeout)
    try:
        if payload:
            s.sendall(payload)
        got = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return got
            got += chunk
    finally:
        s.close()
