"""The proxy service (Go's ``x/ref/services/xproxy/xproxy``), run by the ``xproxyd`` command.

A proxy makes servers that cannot be dialed (behind a NAT, a firewall) reachable: such a
server dials the proxy and asks to listen through it; the proxy gives it endpoints with the
proxy's address and the server's routing id; a client dialing one of them reaches the proxy,
which forwards the client's conn, message by message, over the server's own conn.  The
messages and the rules are in ``v23py.flow.proxy``; this module runs them over a flow manager.

* Servers must pass the proxy's authorizer (``--access-list``; by default Go's default
  authorizer: blessings related to the proxy's) to listen through it, and again whenever a
  client's conn is forwarded to them.
* A proxy may itself listen through another proxy (``--v23.proxy``): its endpoints then also
  include the other proxy's, with a route to it, and it tells its servers.
* Counters per server routing id, as Go names them: ``<rid>/requests``, ``<rid>/to/msgs``,
  ``<rid>/to/bytes``, ``<rid>/from/msgs``, ``<rid>/from/bytes``.
"""
from __future__ import annotations

import logging

from twisted.internet import defer, task

from v23py import security, verror
from v23py.flow import errors as ferrors, proxy as fproxy
from v23py.naming.endpoint import Endpoint

log = logging.getLogger(__name__)

RECONNECT_DELAY = 0.05    # first wait before dialing an upstream proxy again (Go: 50 ms)
MAX_BACKOFF = 60.0        # longest wait between two attempts (Go: a minute)


class Counters:
    """Go's per-server stats of a proxy."""

    __slots__ = ("requests", "to_msgs", "to_bytes", "from_msgs", "from_bytes")

    def __init__(self):
        self.requests = self.to_msgs = self.to_bytes = self.from_msgs = self.from_bytes = 0

    def items(self, rid):
        return {rid + "/requests": self.requests,
                rid + "/to/msgs": self.to_msgs, rid + "/to/bytes": self.to_bytes,
                rid + "/from/msgs": self.from_msgs, rid + "/from/bytes": self.from_bytes}


class Proxy:
    """A proxy over ``manager`` (a listening FlowManager; this takes its flow handler).

    ``authorizer`` decides which servers may listen through us (None: the default
    authorizer); ``principal`` is ours; ``resolve(name) -> Deferred[[Endpoint]]`` is needed
    only for an upstream proxy."""

    def __init__(self, manager, principal, authorizer=None, resolve=None, reactor=None):
        if reactor is None:
            from twisted.internet import reactor as _r
            reactor = _r
        self.manager = manager
        self.principal = principal
        self.authorizer = authorizer
        self.resolve = resolve
        self.reactor = reactor
        self.stats = {}            # routing id (hex) -> Counters
        self.upstream = {}         # upstream proxy name -> [Endpoint]
        self._servers = []         # flows of servers listening through us
        self._proxies = []         # flows of proxies listening through us
        self._upstream_flows = set()
        self._closing = False
        self._loops = []
        manager.set_flow_handler(self.handle_flow)

    # -- endpoints -------------------------------------------------------------------------
    def endpoints(self):
        """Where clients reach us: our listeners, then what upstream proxies gave us."""
        eps = list(self.manager.endpoints())
        for up in self.upstream.values():
            eps.extend(up)
        return eps

    def _counters(self, rid):
        key = str(rid)
        c = self.stats.get(key)
        if c is None:
            c = self.stats[key] = Counters()
        return c

    def stat_values(self):
        """{stat name: value} of every counter (Go's stats names)."""
        out = {}
        for rid, c in self.stats.items():
            out.update(c.items(rid))
        return out

    # -- accepted flows --------------------------------------------------------------------
    def handle_flow(self, flow):
        if self._closing:
            flow.close()
            return
        flow.read().addCallbacks(lambda data: self._first(flow, data),
                                 lambda f: flow.close())

    def _first(self, flow, data):
        if not data:
            flow.close()
            return
        try:
            kind, msg = fproxy.first_message(data)
        except verror.VError as e:
            log.info("proxy: flow from %s: %s", flow.remote_endpoint, e)
            flow.close()
            return
        if kind == "setup":
            d = defer.ensureDeferred(self._route(flow, msg))
            d.addErrback(lambda f: self._refuse_route(flow, f))
        elif kind == "server":
            self._serve(flow, self._servers)
        elif kind == "proxy":
            self._serve(flow, self._proxies)
        else:
            log.info("proxy: ignoring an unexpected first message %r", msg)
            flow.close()

    def _authorize(self, flow):
        call = security.Call(local_principal=self.principal, local_blessings=flow.local_blessings,
                             remote_blessings=flow.remote_blessings,
                             local_endpoint=flow.local_endpoint, remote_endpoint=flow.remote_endpoint,
                             remote_discharges=flow.remote_discharges)
        security.authorize(self.authorizer, call)

    def _answer(self, flow, servers):
        rid = flow.remote_endpoint.routing_id
        if servers is self._servers:
            return fproxy.response(fproxy.server_endpoints(self.endpoints(), rid))
        return fproxy.response(fproxy.proxy_endpoints(self.endpoints(), str(rid)))

    def _serve(self, flow, servers):
        """A server (or proxy) asks to listen through us."""
        if servers is self._servers:
            self._counters(flow.remote_endpoint.routing_id).requests += 1
        try:
            if servers is self._servers:
                self._authorize(flow)
            reply = self._answer(flow, servers)
        except verror.VError as e:
            log.info("proxy: refusing %s at %s: %s", "server" if servers is self._servers
                     else "proxy", flow.remote_endpoint, e)
            flow.close(fproxy.error_response(str(e)))
            return
        flow.post(reply)
        servers.append(flow)
        log.info("proxying %s at %s", "server" if servers is self._servers else "proxy",
                 flow.remote_endpoint)

        def gone(_):
            if flow in servers:
                servers.remove(flow)
        flow.closed.addBoth(gone)
        # a server never writes again on this flow; reading keeps the flow's credits flowing
        flow.set_receiver(lambda data: None)

    def _send_updates(self):
        for servers in (self._servers, self._proxies):
            for flow in list(servers):
                if flow.is_closed:
                    continue
                try:
                    flow.post(self._answer(flow, servers))
                except verror.VError as e:
                    log.info("proxy: cannot update %s: %s", flow.remote_endpoint, e)

    async def _route(self, flow, setup):
        """A client's conn: forward it to the next hop and copy messages both ways."""
        rid, fwd = fproxy.next_hop(setup)
        conn = self.manager._conn_to(rid)
        if conn is None:
            raise ferrors.err(ferrors.DialFailed, "proxy: no server with routing id %s is "
                              "listening through this proxy", rid)
        out = conn.open_flow(blessings=self.manager.identity.blessings_for_peer())
        try:
            self._authorize(out)
        except verror.VError:
            out.close()
            raise
        if self._closing:
            out.close()
            raise verror.VError(fproxy.PROXY_CLOSED, verror.NoRetry, "proxy has already been closed")
        stats = self._counters(setup_rid(setup, rid))
        flow._state.whole = True     # forwarded messages stay whole (Go: DisableFragmentation)
        out._state.whole = True
        out.post(fwd.encode())
        self._copy(flow, out, stats, "to")
        self._copy(out, flow, stats, "from")

    def _refuse_route(self, flow, f):
        log.info("proxy: cannot route a client's conn from %s: %s", flow.remote_endpoint,
                 f.getErrorMessage())
        flow.close()

    def _copy(self, fin, fout, stats, direction):
        """Go's framedCopy: one message read, one message written, until either side ends."""
        total = [0]

        def step(_=None):
            d = fin.read()
            d.addCallback(got)
            return d

        def got(data):
            if not data:
                return None
            total[0] += len(data)
            return fout.write(data).addCallback(step)

        def done(result):
            if direction == "to":
                stats.to_msgs += 1
                stats.to_bytes += total[0]
            else:
                stats.from_msgs += 1
                stats.from_bytes += total[0]
            fin.close()
            fout.close()
        step().addBoth(done)

    # -- upstream proxies ------------------------------------------------------------------
    def listen_through(self, name):
        """Listen through the proxy named ``name`` too, reconnecting until stop()."""
        self._loops.append(defer.ensureDeferred(self._upstream_loop(name)))

    async def _upstream_loop(self, name):
        delay = RECONNECT_DELAY
        while not self._closing:
            if delay > RECONNECT_DELAY:
                await task.deferLater(self.reactor, delay - RECONNECT_DELAY, lambda: None)
            if self._closing:
                return
            ok = False
            try:
                eps = await self.resolve(name)
                for ep in eps:
                    try:
                        await self._upstream_once(name, ep)
                        ok = True
                        break
                    except verror.VError as e:
                        log.info("proxy: listening through %s (%s) failed: %s", name, ep, e)
            except verror.VError as e:
                log.info("proxy: cannot resolve %s: %s", name, e)
            delay = RECONNECT_DELAY / 2 if ok else min(delay * 2, MAX_BACKOFF)
            delay = max(delay, RECONNECT_DELAY)

    async def _upstream_once(self, name, ep):
        conn = await self.manager.dial(ep)
        flow = conn.open_flow(blessings=self.manager.identity.blessings_for_peer())
        self._upstream_flows.add(flow)
        try:
            flow.post(fproxy.MULTI_PROXY_REQUEST)
            while True:
                data = await flow.read()
                if not data:
                    return
                eps = fproxy.read_response(data)
                self.upstream[name] = eps
                self._send_updates()
        finally:
            self._upstream_flows.discard(flow)
            flow.close()
            if self.upstream.pop(name, None):
                self._send_updates()

    # -- shutdown --------------------------------------------------------------------------
    def stop(self):
        self._closing = True
        for f in list(self._upstream_flows):
            f.close()
        for f in self._servers + self._proxies:
            f.close()
        return defer.DeferredList(self._loops, consumeErrors=True)


def setup_rid(setup, default):
    """The routing id of the server a client's Setup names (the key of Go's stats)."""
    try:
        return Endpoint.parse(setup.remote_endpoint).routing_id
    except Exception:
        return default


def access_list_authorizer(text, principal):
    """``--access-list``: a JSON access.AccessList; our own default blessing patterns are
    added, as Go's xproxyd does.  "" means the default authorizer (None)."""
    if not text:
        return None
    import json
    from v23py.security import access
    try:
        obj = json.loads(text)
    except ValueError as e:
        raise verror.BadArg.new("invalid access list %r: %s" % (text, e))
    if not isinstance(obj, dict):
        raise verror.BadArg.new("invalid access list %r: not a JSON object" % (text,))
    ins = obj.get("In") or []
    not_in = obj.get("NotIn") or []
    if not isinstance(ins, list) or not isinstance(not_in, list) or not all(
            isinstance(x, str) for x in ins + not_in):
        raise verror.BadArg.new("invalid access list %r: In and NotIn are lists of strings"
                                % (text,))
    ins = list(ins) + list(security.default_blessing_names(principal))
    return access.AccessList(In=ins, NotIn=not_in)
