"""Twisted adapter for the sans-IO ``Conn``: the FlowManager (listening, dialing, proxies);
its connections and flows (ManagedConn, Flow) are in ``_conns``.

See the docstring of ``v23py.flow`` for the API contract.
"""
from __future__ import annotations

import logging

from twisted.internet import defer, error as terror, protocol
from twisted.python import failure

from v23py.naming.endpoint import Endpoint, RoutingId

from v23py.flow import conn as fconn, errors
from v23py.flow.auth import Identity, SecurityAuth

from ._conns import (Flow, ManagedConn, _batch, _verror,  # noqa: F401
                     after_input, output_batch)
from .links import FlowLink, ProxyListener, blessing_names as _blessing_names
from .websocket import WS_PROTOCOLS, WSH_PROTOCOLS, WSLink

log = logging.getLogger(__name__)

_TCP_PROTOCOLS = ("tcp", "tcp4", "tcp6", "")
_PROTOCOLS = _TCP_PROTOCOLS + WS_PROTOCOLS + WSH_PROTOCOLS


def _kind(protocol, dialer):
    """How a conn of ``protocol`` travels: "tcp" (framed bytes), "ws" (a WebSocket) or, for a
    listener, "wsh" (both on one port).  Go dials ``wsh`` endpoints with plain TCP."""
    if protocol in WS_PROTOCOLS:
        return "ws"
    if protocol in WSH_PROTOCOLS and not dialer:
        return "wsh"
    return "tcp"




class _ConnProtocol(protocol.Protocol):
    is_stream = True

    def __init__(self, manager, dialer, remote_endpoint=None, authorize=None):
        self.manager = manager
        self.dialer = dialer
        self.remote_ep = remote_endpoint
        self.authorize = authorize
        self.mconn = None
        self.lost = False

    def connectionMade(self):
        m = self.manager
        try:
            self.transport.setTcpNoDelay(True)   # as Go's net package does by default
        except Exception:
            pass
        host = self.transport.getHost()
        addr = "%s:%d" % (host.host, host.port) if ":" not in host.host else "[%s]:%d" % (host.host, host.port)
        if self.dialer:
            local = Endpoint("tcp", addr, m.routing_id)
            blessings = (m.identity.default_blessings() if m._listeners or m._proxy_listeners
                         else m.identity.nameless())
        else:
            local = self.listen_endpoint
            blessings = m.identity.default_blessings()
        # an acceptor sends the discharges of its blessings with its Auth
        discharges = m.local_discharges if not self.dialer else None
        authorize = None
        if self.authorize is not None:
            user = self.authorize

            def authorize(c, _u=user):
                return _u(self.mconn)
        c = m.conn_class(dialer=self.dialer, auth=m._auth, local_blessings=blessings,
                       local_endpoint=local, remote_endpoint=self.remote_ep,
                       accepts_flows=(m._flow_handler is not None) or not self.dialer,
                       authorize=authorize, handshake_timeout=m.handshake_timeout,
                       channel_timeout=m.channel_timeout, now=m.reactor.seconds(),
                       mtu=m.mtu, bytes_buffered=m.bytes_buffered, local_discharges=discharges)
        self.mconn = ManagedConn(m, self, c)
        # from now on the bytes read go straight to the conn (no call in between)
        self.dataReceived = self.mconn._receive
        m._conn_made(self.mconn)
        self.mconn._call(c.start)

    def connectionLost(self, reason=protocol.connectionDone):
        self.lost = True
        mc = self.mconn
        if mc is None:
            return
        err = None
        if not reason.check(terror.ConnectionDone):
            err = errors.err(errors.ConnectionClosed, "connection closed: %s", reason.getErrorMessage())
        mc._call(mc._conn.connection_lost, err)


class _ConnFactory(protocol.ClientFactory):
    def __init__(self, manager, dialer, endpoint=None, authorize=None, listen_endpoint=None,
                 kind="tcp"):
        self.manager = manager
        self.dialer = dialer
        self.kind = kind
        self.endpoint = endpoint
        self.authorize = authorize
        self.listen_endpoint = listen_endpoint
        self.connect_failed = defer.Deferred()
        self.on_made = None

    def buildProtocol(self, addr):
        if self.kind == "tcp":
            return self.stream_protocol()
        if self.dialer:
            p = WSLink(self.manager, "client", self.endpoint, self.authorize)
        else:
            p = WSLink(self.manager, "server" if self.kind == "ws" else "hybrid")
        p.factory = self
        return p

    def stream_protocol(self):
        """A framed TCP conn (also what a ``wsh`` listener makes of a non-HTTP client)."""
        p = _ConnProtocol(self.manager, self.dialer, self.endpoint, self.authorize)
        p.listen_endpoint = self.listen_endpoint
        p.factory = self
        return p

    def clientConnectionFailed(self, connector, reason):
        if not self.connect_failed.called:
            self.connect_failed.callback([reason])  # wrapped: a bare Failure would take the errback path


class ListeningPort:
    def __init__(self, manager, port, endpoint):
        self.manager = manager
        self.port = port
        self.endpoint = endpoint

    def stop(self):
        if self in self.manager._listeners:
            self.manager._listeners.remove(self)
        return defer.maybeDeferred(self.port.stopListening)


# ------------------------------------------------------------------------------------------ manager

def _publishable_host(host):
    """An address peers can dial for a wildcard listen address (Go publishes interface addresses)."""
    if host not in ("0.0.0.0", "::", ""):
        return host
    import socket
    fam, probe, fallback = ((socket.AF_INET6, "2001:4860:4860::8888", "::1") if host == "::"
                            else (socket.AF_INET, "192.0.2.1", "127.0.0.1"))
    try:
        with socket.socket(fam, socket.SOCK_DGRAM) as s:
            s.connect((probe, 9))      # no packet is sent: this only picks the outgoing interface
            return s.getsockname()[0]
    except OSError:
        return fallback


def _split_host_port(address):
    host, _, port = address.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host or "0.0.0.0", int(port or 0)


class FlowManager:
    """Dials and accepts flow connections for one identity (see the package docstring)."""

    conn_class = fconn.Conn   # the sans-IO conn each connection runs (tests swap in hostile ones)

    def __init__(self, identity, reactor=None, routing_id=None, handshake_timeout=fconn.DEFAULT_HANDSHAKE_TIMEOUT,
                 channel_timeout=fconn.DEFAULT_CHANNEL_TIMEOUT, mtu=fconn.DEFAULT_MTU,
                 bytes_buffered=fconn.DEFAULT_BYTES_BUFFERED):
        if reactor is None:
            from twisted.internet import reactor as _r
            reactor = _r
        if not isinstance(identity, Identity):
            identity = Identity(identity)
        self.identity = identity
        self._auth = SecurityAuth(identity)
        self.reactor = reactor
        if routing_id is None:
            routing_id = RoutingId.random()
        elif not isinstance(routing_id, RoutingId):
            routing_id = RoutingId(routing_id)
        self.routing_id = routing_id
        self.handshake_timeout = handshake_timeout
        self.channel_timeout = channel_timeout
        self.mtu = mtu
        self.bytes_buffered = bytes_buffered
        self._flow_handler = None
        self._listeners = []
        self._conns = set()
        self.local_discharges = None   # for the default blessings, sent by accepted conns
        self._cache = {}       # key -> ManagedConn (handshaking or up)
        self._pending = {}     # key -> [Deferred] of dials waiting for a dial in progress
        self._proxy_listeners = []
        self._stopped = False
        self._export_stats()

    def _export_stats(self):
        """Go's rpc/flow/<rid>/conn-cache/{cache,reserved} texts, and ours: num-conns.
        (Weakly held: a manager nobody stopped does not live on in the stats tree.)"""
        import weakref
        from v23py import stats
        ref = weakref.ref(self)
        self._stats_prefix = p = f"rpc/flow/{self.routing_id}"

        def cache():
            m = ref()
            if m is None or m._stopped:
                return "conncache closed"
            lines = ["Cached:"] + [f"{k}: {c!r}" for k, c in list(m._cache.items())]
            return "\n".join(lines) + "\n"

        def reserved():
            m = ref()
            lines = ["Reserved:"] + ([f"{k}: {len(w)} waiting" for k, w in
                                      list(m._pending.items())] if m is not None else [])
            return "\n".join(lines) + "\n"
        stats.new_string_func(p + "/conn-cache/cache", cache)
        stats.new_string_func(p + "/conn-cache/reserved", reserved)
        stats.new_integer_func(p + "/num-conns",
                               lambda: len(ref()._conns) if ref() is not None else 0)

    # --- configuration
    def set_flow_handler(self, handler):
        self._flow_handler = handler

    def endpoints(self):
        return [lp.endpoint for lp in self._listeners]

    def set_local_discharges(self, discharges):
        """The discharges of our default blessings changed: accepted conns send them
        (Go's blessings loop); new ones send them with their Auth."""
        self.local_discharges = list(discharges) if discharges else None
        for mc in list(self._conns):
            if not mc._conn.dialer and mc.is_usable:
                mc.refresh_blessings(mc._conn.local_blessings, self.local_discharges)

    @property
    def conns(self):
        return set(self._conns)

    # --- listening
    def listen(self, address="127.0.0.1:0", protocol="tcp", blessing_names=None, serves_mount_table=False):
        """Listen for connections; Deferred[ListeningPort] (``.endpoint`` carries rid + blessing names)."""
        try:
            if self._stopped:
                raise errors.err(errors.ManagerClosed, "manager is already closed")
            if protocol not in _PROTOCOLS:
                raise errors.err(errors.UnknownProtocol, "unknown protocol: %s", protocol)
            host, port = _split_host_port(address)
            if blessing_names is None:
                b = self.identity.default_blessings()
                blessing_names = _blessing_names(b)
            factory = _ConnFactory(self, False, kind=_kind(protocol, False))
            lport = self.reactor.listenTCP(port, factory, interface=host)
            h = lport.getHost()
            shown = _publishable_host(h.host)
            shown = shown if ":" not in shown else "[%s]" % shown
            ep = Endpoint(protocol or "tcp", "%s:%d" % (shown, h.port), self.routing_id,
                          blessing_names=tuple(blessing_names), serves_mount_table=serves_mount_table)
            factory.listen_endpoint = ep
            lp = ListeningPort(self, lport, ep)
            self._listeners.append(lp)
            return defer.succeed(lp)
        except Exception as e:
            return defer.fail(_verror(e, errors.std("BadArg")))

    # --- dialing
    def dial(self, endpoint, authorize=None, timeout=60.0):
        """Deferred[ManagedConn]: a cached usable conn to ``endpoint`` or a new one."""
        try:
            if self._stopped:
                raise errors.err(errors.ManagerClosed, "manager is already closed")
            if isinstance(endpoint, str):
                endpoint = Endpoint.parse(endpoint[1:] if endpoint.startswith("/") else endpoint)
            if endpoint.protocol not in _PROTOCOLS:
                raise errors.err(errors.UnknownProtocol, "unknown protocol: %s", endpoint.protocol)
            host, port = _split_host_port(endpoint.address)
        except Exception as e:
            return defer.fail(_verror(e, errors.std("BadArg")))
        key = (host, port, endpoint.routing_id)
        mc = self._cache.get(key)
        if mc is None and endpoint.routing_id.is_null():
            # a dial without a routing id may reuse any conn to that address
            for k, c in self._cache.items():
                if k[0] == host and k[1] == port and not c.is_closed and not c.remote_lame_duck:
                    mc = c
                    break
        elif mc is None and endpoint.routing_id != self.routing_id:
            # any conn with that peer, also one the peer dialed (Go finds conns by the
            # peer's routing id): a server can call back a client that has no
            # listening address over the client's own conn
            mc = self._conn_to(endpoint.routing_id)
            if mc is None and key not in self._pending:
                px = self._conn_at(host, port)
                if px is not None:
                    # a peer with another routing id answers at that address: a proxy
                    # (Go's rule); reach the server through it
                    return self._dial_via(px, endpoint, key, authorize, timeout)
        def check(c):
            # a shared conn is re-checked with this dial's authorizer (as Go's conn cache does)
            try:
                authorize(c)
            except errors.VError:
                raise
            except Exception as e:
                raise errors.std("NotTrusted").new("peer not trusted: %s" % (e,))
            return c

        if mc is not None and not mc.is_closed and not mc.remote_lame_duck:
            d = mc.when_ready()
            if authorize is not None:
                d.addCallback(check)
            return d
        waiters = self._pending.get(key)
        if waiters is not None:
            # the same peer is being dialed already: share that conn
            d = defer.Deferred()
            waiters.append(d)
            if authorize is not None:
                d.addCallback(check)
            return d
        result = self._reserve(key)
        factory = _ConnFactory(self, True, endpoint, authorize, kind=_kind(endpoint.protocol, True))
        state = {"mconn": None}

        def made(mconn):
            state["mconn"] = mconn
            mconn.cache_key = key
            mconn.cache_keys.append(key)
            self._cache[key] = mconn
            mconn.when_ready().addCallbacks(ok, bad)

        def ok(mconn):
            rep = mconn.remote_endpoint
            if rep is not None and not rep.routing_id.is_null():
                alias = (host, port, rep.routing_id)
                if alias != key and alias not in self._cache:
                    self._cache[alias] = mconn
                    mconn.cache_keys.append(alias)
                if not endpoint.routing_id.is_null() and rep.routing_id != endpoint.routing_id:
                    # not the server we asked for: a proxy in front of it
                    if self._cache.get(key) is mconn:
                        del self._cache[key]
                    mconn.cache_keys.remove(key)
                    if not result.called:
                        cancel_timer()
                        self._proxied(mconn, endpoint, key, authorize).chainDeferred(result)
                    return mconn
            if not result.called:
                cancel_timer()
                result.callback(mconn)
            return mconn

        def bad(f):
            if not result.called:
                cancel_timer()
                result.errback(_verror(f, errors.DialFailed))
            return None

        def connect_failed(wrapped):
            reason = wrapped[0]
            if not result.called:
                cancel_timer()
                result.errback(errors.err(errors.DialFailed, "dial %s failed: %s", endpoint.address,
                                          reason.getErrorMessage()))

        def on_timeout():
            if result.called:
                return
            mconn = state["mconn"]
            err = errors.std("Timeout").new("timeout dialing %s after %gs" % (endpoint, timeout))
            if mconn is not None:
                mconn.close(err)
            else:
                connector.disconnect()
            if not result.called:
                result.errback(err)

        timer = self.reactor.callLater(timeout, on_timeout) if timeout else None

        def cancel_timer():
            if timer is not None and timer.active():
                timer.cancel()

        factory.on_made = made
        factory.connect_failed.addCallback(connect_failed)
        connector = self.reactor.connectTCP(host, port, factory, timeout=timeout or 30)
        return result

    def _reserve(self, key):
        """The Deferred a new dial of ``key`` fires: dials of the same key meanwhile wait
        in ``_pending[key]`` (see dial) and get its result too."""
        self._pending[key] = []
        result = defer.Deferred()
        result.addBoth(self._fire_pending, key)
        return result

    def _fire_pending(self, r, key):
        for w in self._pending.pop(key, ()):
            if isinstance(r, failure.Failure):
                w.errback(r.value)
            else:
                w.callback(r)
        return r

    def _conn_at(self, host, port):
        """A usable conn (handshake done) dialed to host:port, whatever its routing id."""
        for k, c in self._cache.items():
            if (k[0] == host and k[1] == port and c._hs_done and not c.is_closed
                    and not c.remote_lame_duck and c.proxy_listener is None):
                return c
        return None

    # --- through a proxy
    def _dial_via(self, proxy_conn, endpoint, key, authorize, timeout):
        """dial() through the proxy at the other end of ``proxy_conn`` (shared by dials of
        the same endpoint meanwhile)."""
        result = self._reserve(key)
        d = self._proxied(proxy_conn, endpoint, key, authorize)
        timer = self.reactor.callLater(timeout, d.cancel) if timeout else None

        def done(r):
            if timer is not None and timer.active():
                timer.cancel()
            if isinstance(r, failure.Failure) and r.check(defer.CancelledError):
                r = failure.Failure(errors.std("Timeout").new(
                    "timeout dialing %s after %gs" % (endpoint, timeout)))
            return r
        d.addBoth(done).chainDeferred(result)
        return result

    def _proxied(self, proxy_conn, endpoint, key, authorize):
        """A conn to ``endpoint`` inside a new flow of ``proxy_conn`` (Go's dialProxyConn):
        the proxy reads our Setup from the flow and forwards the flow to the server."""
        try:
            outer = proxy_conn.open_flow(blessings=self.identity.nameless())
        except errors.VError as e:
            return defer.fail(errors.err(errors.DialFailed, "dial %s through %s failed: %s",
                                         endpoint, proxy_conn.remote_endpoint, e))
        link = FlowLink(outer)
        mc = self._message_conn(link, dialer=True, local=proxy_conn.local_endpoint,
                                remote=endpoint, authorize=authorize, encapsulated=True)
        mc.cache_key = key
        mc.cache_keys.append(key)
        self._cache[key] = mc
        d = mc.when_ready()

        def failed(f):
            mc.close(f.value if isinstance(f.value, errors.VError) else None)
            if f.check(defer.CancelledError):
                return f
            return failure.Failure(_verror(f, errors.DialFailed))
        d.addErrback(failed)
        return d

    def _message_conn(self, link, dialer, local, remote=None, authorize=None, encapsulated=False,
                      blessings=None):
        """A ManagedConn over a message link (its Setup is queued at once)."""
        user_auth = None
        if authorize is not None:
            def user_auth(c, _u=authorize):
                return _u(mc)
        if blessings is None:
            blessings = (self.identity.default_blessings()
                         if not dialer or self._listeners or self._proxy_listeners
                         else self.identity.nameless())
        c = self.conn_class(dialer=dialer, auth=self._auth, local_blessings=blessings,
                            local_endpoint=local, remote_endpoint=remote,
                            accepts_flows=(self._flow_handler is not None) or not dialer,
                            authorize=user_auth, handshake_timeout=self.handshake_timeout,
                            channel_timeout=self.channel_timeout, now=self.reactor.seconds(),
                            mtu=self.mtu, bytes_buffered=self.bytes_buffered, framed=False,
                            encapsulated=encapsulated,
                            local_discharges=self.local_discharges if not dialer else None)
        mc = ManagedConn(self, link, c)
        self._conns.add(mc)
        link.mconn = mc
        mc._call(c.start)     # our Setup first: input may already be waiting in the link
        link.start(mc)
        return mc

    def _accept_proxied(self, proxy_conn, flow):
        """A flow the proxy opened on our conn to it: a client's conn inside (Go's
        proxyFlowHandler)."""
        if self._stopped or proxy_conn.proxy_listener is None or proxy_conn.proxy_listener.stopped:
            flow.close()
            return
        self._message_conn(FlowLink(flow), dialer=False, local=proxy_conn.local_endpoint,
                           encapsulated=True)

    def proxy_listen(self, endpoint, on_update=None, timeout=60.0):
        """Listen through the proxy at ``endpoint`` (Go's ProxyListen).

        Deferred[ProxyListener] once the proxy answered with the endpoints it gives us (a
        VError when it refused or could not be reached).  ``on_update(endpoints)`` is called
        whenever they change afterwards, with [] when the proxy went away; then
        ``listener.done`` fires and the caller may try again."""
        if self._stopped:
            return defer.fail(errors.err(errors.ManagerClosed, "manager is already closed"))
        pl = ProxyListener(self, endpoint, on_update)
        self._proxy_listeners.append(pl)
        d = defer.ensureDeferred(pl._start(timeout))

        def failed(f):
            pl._finish(f.value)
            return f
        return d.addErrback(failed)

    def _conn_to(self, rid):
        for c in self._conns:
            rep = c.remote_endpoint
            if (rep is not None and rep.routing_id == rid and not c.is_closed
                    and not c.remote_lame_duck):
                return c
        return None

    # --- shutdown
    def _listen_names(self):
        try:
            return _blessing_names(self.identity.default_blessings())
        except Exception:
            return ()

    def stop(self, lame_duck_timeout=1.0):
        """Stop listening; put active conns in lame duck (wait for the peers' acks, at most
        ``lame_duck_timeout`` seconds), then TearDown every conn.  Deferred fires when all are closed."""
        self._stopped = True
        try:
            from v23py import stats
            stats.delete(self._stats_prefix)
        except Exception:
            pass
        for pl in list(self._proxy_listeners):
            pl.stop()
        ds = [lp.stop() for lp in list(self._listeners)]
        conns = list(self._conns)
        lame = [mc.enter_lame_duck() for mc in conns if mc._conn.is_active and lame_duck_timeout]
        done = defer.Deferred()
        state = {"timer": None}

        def close_all(_=None):
            t = state["timer"]
            if t is not None and t.active():
                t.cancel()
            for mc in conns:
                mc.close(None)
            closing = [mc.closed for mc in conns] + ds
            defer.DeferredList(closing, consumeErrors=True).addBoth(lambda _: done.callback(None))

        if lame:
            acks = defer.DeferredList(lame, consumeErrors=True)
            state["timer"] = self.reactor.callLater(
                lame_duck_timeout, lambda: acks.cancel() if not acks.called else None)
            acks.addBoth(close_all)
        else:
            close_all()
        return done

    # --- callbacks from conns
    def _conn_made(self, mconn):
        self._conns.add(mconn)
        proto = mconn._proto
        factory_cb = getattr(getattr(proto, "factory", None), "on_made", None)
        if factory_cb is not None:
            factory_cb(mconn)

    def _uncache(self, mconn):
        for k in mconn.cache_keys:
            if self._cache.get(k) is mconn:
                del self._cache[k]

    def _conn_closed(self, mconn):
        self._conns.discard(mconn)
        self._uncache(mconn)
        if mconn.close_reason is not None and not errors.ConnectionClosed.is_(mconn.close_reason):
            log.debug("flow conn %r closed: %s", mconn, mconn.close_reason)

    def _conn_lame_duck(self, mconn):
        self._uncache(mconn)

    def _accepted_flow(self, flow):
        h = self._flow_handler
        if h is None:
            flow.close()
            return
        try:
            r = h(flow)
            # (Deferred's isinstance goes through ABCMeta in Python: not for the usual None)
            if r is not None and (isinstance(r, defer.Deferred) or hasattr(r, "__await__")):
                d = defer.ensureDeferred(r) if not isinstance(r, defer.Deferred) else r
                d.addErrback(lambda f: log.error("flow handler failed: %s", f.getTraceback()))
        except Exception:
            log.exception("flow handler failed")
