"""One RPC made without the runtime: a blocking socket driving the sans-IO flow conn.

A command-line tool that makes one call to a server named by its endpoint spends most of
its start-up importing Twisted (~200 ms of CPU here) for a reactor it runs once.  For the
common case this module makes the call over a plain socket instead, with the same wire
pieces the runtime uses (v23py.flow.conn, v23py.flow.auth, VOM, the v.io/v23/rpc
headers) and the same client rules (the endpoint's blessing names authorize the server;
our blessings for it are the store's ForPeer, else a nameless blessing).

It is a fast path only: :func:`call` returns None whenever the call is not one it makes
exactly as the runtime would (a name to resolve, a proxy, no blessings in the endpoint,
discharges to send, no credentials) and whenever anything fails (the server refuses, an
error comes back, a timeout, a bug), before anything was printed.  The caller then runs
the runtime's path, which makes the call again and reports exactly what the tool always
reported.  Only side-effect-free calls (``__Signature``) are made this way.
"""
from __future__ import annotations

import os
import socket
import time

from v23py import security, vom
from v23py.flow import conn as fconn, events as ev
from v23py.flow.auth import Identity, SecurityAuth
from v23py.naming.endpoint import Endpoint, RoutingId
from v23py.rpc import wire

ROLE_DATA = 0x64   # 'd' (as v23py.runtime._stream)
ROLE_TYPE = 0x74   # 't'
_TCP = ("tcp", "tcp4", "tcp6", "", "wsh", "wsh4", "wsh6")   # dialed as TCP by the runtime


class _Fallback(Exception):
    """Not a call for this path: the runtime makes it."""


def disabled():
    """V23PY_NO_FAST_CALL=1 turns the fast path off (tests compare both paths)."""
    return os.environ.get("V23PY_NO_FAST_CALL", "") not in ("", "0")


def _endpoint(name):
    if not name.startswith("/@") or name.count("@@") < 1:
        raise _Fallback()
    ep = Endpoint.parse(name[1:])
    if str(ep) != name[1:].rstrip("/"):
        raise _Fallback()     # a suffix after the endpoint, or an unusual spelling
    if ep.protocol not in _TCP or ep.routes or ep.serves_mount_table or \
            not ep.blessing_names or ep.routing_id.is_null():
        raise _Fallback()
    return ep


class _Conn:
    """A dialed flow conn over a blocking socket."""

    def __init__(self, principal, ep, deadline):
        self.deadline = deadline
        host, _, port = ep.address.rpartition(":")
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        self.sock = socket.create_connection((host or "0.0.0.0", int(port or 0)),
                                             timeout=self._left())
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        lhost, lport = self.sock.getsockname()[:2]
        laddr = "%s:%d" % (lhost, lport) if ":" not in lhost else "[%s]:%d" % (lhost, lport)
        nameless = security.nameless_blessing(principal.public_key)
        ident = Identity(principal, blessings=nameless)
        self.checked = None

        def authorize(c):
            call = security.Call(local_principal=principal,
                                 remote_blessings=c.remote_blessings,
                                 local_endpoint=c.local_endpoint, remote_endpoint=ep,
                                 remote_discharges=c.remote_discharges)
            security.endpoint_authorizer().authorize(call)
            names, _ = security.remote_blessing_names(call)
            self.checked = tuple(names)

        self.conn = fconn.Conn(dialer=True, auth=SecurityAuth(ident), local_blessings=nameless,
                               local_endpoint=Endpoint("tcp", laddr, RoutingId.random()),
                               remote_endpoint=ep, accepts_flows=False, authorize=authorize,
                               now=time.monotonic())
        self.data = {}     # flow id -> bytearray received
        self.conn.start()

    def _left(self):
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise _Fallback()
        return left

    def flush(self):
        out = self.conn.data_to_send()
        if out:
            self.sock.settimeout(self._left())
            self.sock.sendall(out)

    def pump(self, done):
        """Read and process input until ``done()``."""
        self.flush()
        while not done():
            self.sock.settimeout(self._left())
            data = self.sock.recv(1 << 16)
            if not data:
                raise _Fallback()
            for e in self.conn.receive_data(data, time.monotonic()):
                if isinstance(e, ev.DataReceived):
                    self.data.setdefault(e.flow.id, bytearray()).extend(e.data)
                    self.conn.consumed(e.flow, len(e.data))
                elif isinstance(e, ev.ConnectionClosed):
                    raise _Fallback()
            self.flush()

    def close(self):
        try:
            self.conn.close()
            self.flush()
        except Exception:
            pass
        finally:
            self.sock.close()


def call(credentials, name, method, in_types, args, out_types, timeout):
    """The results of ``name.method(*args)``, or None for the runtime's path."""
    if disabled() or not credentials:
        return None
    try:
        return _call(credentials, name, method, in_types, args, out_types, timeout)
    except Exception:    # _Fallback, or anything the runtime reports better
        return None


def _call(credentials, name, method, in_types, args, out_types, timeout):
    ep = _endpoint(name)
    start = time.monotonic()
    deadline = start + timeout
    principal = security.load_principal(credentials, read_only=True)
    c = _Conn(principal, ep, deadline)
    try:
        c.pump(lambda: c.conn.state == ev.ACTIVE)
        names = c.checked
        if names is None:
            raise _Fallback()
        blessings = principal.blessing_store.for_peer(*names)
        if blessings is None or blessings.is_zero():
            blessings = security.nameless_blessing(principal.public_key)
        if blessings.third_party_caveats():
            raise _Fallback()    # discharges to fetch: the runtime's business
        conn = c.conn
        tenc, tdec = vom.TypeEncoder(), vom.TypeDecoder()
        tflow = conn.open_flow(side_channel=True)
        conn.write(tflow, bytes([ROLE_TYPE]))
        dflow = conn.open_flow(blessings=blessings)
        rem = max(deadline - time.monotonic(), 1e-9)
        secs = int(rem)
        nanos = int(round((rem - secs) * 1e9))
        if nanos >= 1000000000:
            secs, nanos = secs + 1, nanos - 1000000000
        msg = bytearray([ROLE_DATA, vom.VERSION_81])
        msg += vom.encode_value_message(tenc, wire.RequestType, wire.request(
            "", method, len(args), deadline=wire.deadline(secs, nanos)))
        for t, a in zip(in_types, args):
            msg += vom.encode_value_message(tenc, t, a)
        msg += vom.encode_value_message(tenc, wire.RequestType, wire.request(end=True))
        types = tenc.take_bytes()
        if types:
            conn.write(tflow, types)
        conn.write(dflow, bytes(msg))
        dec = vom.Decoder(type_decoder=tdec)
        fed = [0, 0]
        got = []

        def done():
            tb = c.data.get(tflow.id)
            if tb is not None and len(tb) > fed[0]:
                tdec.feed(bytes(tb[fed[0]:]))
                fed[0] = len(tb)
            db = c.data.get(dflow.id)
            if db is not None and len(db) > fed[1]:
                dec.feed(bytes(db[fed[1]:]))
                fed[1] = len(db)
            try:
                while True:
                    if not got:
                        r = dec.decode(wire.ResponseType)
                        if r.Error is not None or not r.EndStreamResults or \
                                r.NumPosResults != len(out_types):
                            raise _Fallback()   # an error, or a stream: the runtime says it
                        got.append(r)
                    elif len(got) <= len(out_types):
                        got.append(dec.decode(out_types[len(got) - 1]))
                    else:
                        return True
            except (vom.NeedData, vom.NeedType):
                return False

        c.pump(done)
        return got[1:]
    finally:
        c.close()


def signature(credentials, name, timeout=60.0):
    """The ``__Signature`` of the server at ``name`` ([]signature.Interface), or None."""
    results = call(credentials, name, "__Signature", [], [], [wire.SigInterfaceListType],
                   timeout)
    return None if results is None else results[0]


def credentials_dir():
    """The credentials directory the runtime would use with no flags (V23_CREDENTIALS)."""
    d = os.environ.get("V23_CREDENTIALS", "")
    return d if d and os.path.isdir(d) else ""


__all__ = ["call", "credentials_dir", "disabled", "signature"]
