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
import time

try:
    # the socket module's own C part: socket.py adds what this path never uses and costs
    # a short-lived tool ~13 M instructions to import (it builds enums of every constant)
    import _socket as socket
except ImportError:  # pragma: no cover - another Python
    import socket

from v23py import security, verror, vom
from v23py.flow import conn as fconn, events as ev
from v23py.flow.auth import Identity, SecurityAuth
from v23py.naming.endpoint import Endpoint, RoutingId
from v23py.rpc import wire

ROLE_DATA = 0x64   # 'd' (as v23py.runtime._stream)
ROLE_TYPE = 0x74   # 't'
_TCP = ("tcp", "tcp4", "tcp6", "", "wsh", "wsh4", "wsh6")   # dialed as TCP by the runtime


def _dial_host(host):
    """The address the runtime's dialer (Twisted's connectTCP) connects to: an IP literal
    as it is, a host name by its IPv4 address (gethostbyname), "" as 0.0.0.0."""
    if not host:
        return "0.0.0.0"
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
            return host
        except (OSError, ValueError):
            pass
    return socket.gethostbyname(host)


class _Fallback(Exception):
    """Not a call for this path: the runtime makes it."""


class _Closed(_Fallback):
    """The conn ended (the peer closed it or went away)."""


class CallFailed(Exception):
    """A streaming call the server answered failed part-way: ``error`` (a VError) is what
    the runtime's client reports for it (the server's own error, or BadProtocol for a
    conn that ended mid-stream), ``items`` what it streamed before; ``closed`` says the
    conn is gone.  (Go's client keeps such items, and so do the runtime and callers.)"""

    def __init__(self, error, items, closed=False):
        super().__init__(error)
        self.error, self.items, self.closed = error, items, closed


_spent = 0.0   # seconds this process's fast attempts used before falling back


def note_fallback(started):
    """A fast attempt begun at ``started`` (time.monotonic()) gave way to the runtime."""
    global _spent
    _spent += max(0.0, time.monotonic() - started)


def time_left(timeout):
    """What remains of a tool's ``timeout`` for the runtime's path after fast attempts
    fell back: a command has one timeout, as Go's tools have, so a silent server costs
    it once, not once per path."""
    if not _spent:
        return timeout
    return max(timeout - _spent, 1e-3)


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

    def __init__(self, principal, ep, deadline, authorizer=None):
        self.deadline = deadline
        host, _, port = ep.address.rpartition(":")
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        # an address literal by now (so no name lookup, which would also load the IDNA
        # codec): connect to it as socket.create_connection would
        host = _dial_host(host)
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET,
                             socket.SOCK_STREAM)
        try:
            sock.settimeout(self._left())
            sock.connect((host, int(port or 0)))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except BaseException:
            sock.close()
            raise
        self.sock = sock
        lhost, lport = self.sock.getsockname()[:2]
        laddr = "%s:%d" % (lhost, lport) if ":" not in lhost else "[%s]:%d" % (lhost, lport)
        nameless = security.nameless_blessing(principal.public_key)
        ident = Identity(principal, blessings=nameless)
        self.checked = None
        authorizer = authorizer or security.endpoint_authorizer()

        def authorize(c):
            call = security.Call(local_principal=principal,
                                 remote_blessings=c.remote_blessings,
                                 local_endpoint=c.local_endpoint, remote_endpoint=ep,
                                 remote_discharges=c.remote_discharges)
            authorizer.authorize(call)
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
                raise _Closed()
            for e in self.conn.receive_data(data, time.monotonic()):
                if e[0] is ev.DataReceived:
                    _, flow, data = e
                    self.data.setdefault(flow.id, bytearray()).extend(data)
                    self.conn.consumed(flow, len(data))
                elif e[0] is ev.ConnectionClosed:
                    raise _Closed()
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
    started = time.monotonic()
    try:
        return _call(credentials, name, method, in_types, args, out_types, timeout)
    except Exception:    # _Fallback, or anything the runtime reports better
        note_fallback(started)
        return None


def _call(credentials, name, method, in_types, args, out_types, timeout):
    ep = _endpoint(name)
    deadline = time.monotonic() + timeout
    principal = security.load_principal(credentials, read_only=True)
    sess = Session(principal, ep, deadline)
    try:
        return sess.call("", method, in_types, args, out_types)[1]
    finally:
        sess.close()


class Session:
    """One dialed conn to a server (authorized, our blessings for it chosen) and its type
    flow; :meth:`call` makes one call on it.  Raises on anything the runtime's path
    should handle (the callers fall back to it)."""

    def __init__(self, principal, ep, deadline, authorizer=None):
        self.deadline = deadline
        c = self.c = _Conn(principal, ep, deadline, authorizer)
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
            self.blessings = blessings
            self.tenc, self.tdec = vom.TypeEncoder(), vom.TypeDecoder()
            self.tflow = c.conn.open_flow(side_channel=True)
            c.conn.write(self.tflow, bytes([ROLE_TYPE]))
            self.tfed = 0
        except BaseException:
            c.close()
            raise

    def close(self):
        self.c.close()

    def call(self, suffix, method, in_types, args, out_types, stream_type=None):
        """([streamed items], [results]) of ``suffix.method(*args)``.  A streaming call
        (``stream_type``) that fails once the server has answered raises CallFailed."""
        c, conn, deadline = self.c, self.c.conn, self.deadline
        tenc, tdec, tflow = self.tenc, self.tdec, self.tflow
        dflow = conn.open_flow(blessings=self.blessings)
        rem = max(deadline - time.monotonic(), 1e-9)
        secs = int(rem)
        nanos = int(round((rem - secs) * 1e9))
        if nanos >= 1000000000:
            secs, nanos = secs + 1, nanos - 1000000000
        msg = bytearray([ROLE_DATA, vom.VERSION_81])
        msg += vom.encode_value_message(tenc, wire.RequestType, wire.request(
            suffix, method, len(args), deadline=wire.deadline(secs, nanos)))
        for t, a in zip(in_types, args):
            msg += vom.encode_value_message(tenc, t, a)
        msg += vom.encode_value_message(tenc, wire.RequestType, wire.request(end=True))
        types = tenc.take_bytes()
        if types:
            conn.write(tflow, types)
        conn.write(dflow, bytes(msg))
        dec = vom.Decoder(type_decoder=tdec)
        fed = [0]
        items, got = [], []
        header = [None]    # the stream's pending header (an item follows it)

        def done():
            tb = c.data.get(tflow.id)
            if tb is not None and len(tb) > self.tfed:
                tdec.feed(bytes(tb[self.tfed:]))
                self.tfed = len(tb)
            db = c.data.get(dflow.id)
            if db is not None and len(db) > fed[0]:
                dec.feed(bytes(db[fed[0]:]))
                fed[0] = len(db)
            try:
                while True:
                    if not got:
                        if header[0] is None:
                            r = dec.decode(wire.ResponseType)
                            if r.Error is not None:
                                if stream_type is None:
                                    raise _Fallback()   # an error: the runtime says it
                                # the runtime's client raises it as it came, after
                                # the items before it
                                raise CallFailed(r.Error, items)
                            if not r.EndStreamResults:
                                if stream_type is None:
                                    raise _Fallback()
                                header[0] = r
                                continue
                            if r.NumPosResults != len(out_types):
                                raise _Fallback()
                            got.append(r)
                        else:
                            items.append(dec.decode(stream_type))
                            header[0] = None
                    elif len(got) <= len(out_types):
                        got.append(dec.decode(out_types[len(got) - 1]))
                    else:
                        return True
            except (vom.NeedData, vom.NeedType):
                return False

        try:
            c.pump(done)
        except _Closed:
            if stream_type is None or not items or time.monotonic() >= deadline:
                raise
            # cut off mid-stream (not by our deadline): the runtime's client reads it
            # as a bad response, after the items that came
            raise CallFailed(verror.BadProtocol.new(
                "bad protocol or type: failed to decode streaming header: EOF"), items,
                closed=True)
        return items, got[1:]


def signature(credentials, name, timeout=60.0):
    """The ``__Signature`` of the server at ``name`` ([]signature.Interface), or None."""
    results = call(credentials, name, "__Signature", [], [], [wire.SigInterfaceListType],
                   timeout)
    return None if results is None else results[0]


def credentials_dir():
    """The credentials directory the runtime would use with no flags (V23_CREDENTIALS)."""
    d = os.environ.get("V23_CREDENTIALS", "")
    return d if d and os.path.isdir(d) else ""


__all__ = ["CallFailed", "Session", "call", "credentials_dir", "disabled", "note_fallback",
           "signature", "time_left"]
