"""The RPC client: resolve a name, dial, open a flow, send the Request, read the Response.

One :class:`Client` per runtime.  It keeps one type flow per connection (the
first call on a connection opens it) and one data flow per call.  The server
is checked before anything is sent: by default its validated blessing names
must match a blessing pattern in the endpoint (Go's endpoint authorizer),
and the ``__(pattern)/name`` form adds a pattern of the caller's choosing.
The call in progress, with its streams, is ``_client_call.ClientCall``.
"""
import logging
import time

from twisted.internet import defer

from v23py import vtrace
from v23py import naming, security, verror
from v23py.deferred import AwaitableDeferred as _AwaitableDeferred
from v23py.runtime._client_call import ClientCall, first_result
from v23py.runtime._peer import native_blessings as _native_blessings
from v23py.runtime._stream import ROLE_TYPE, ConnTypes
from v23py.rpc import options as rpcopts
from v23py.rpc import retry
from v23py.runtime.namespace import Namespace, RpcTransport

log = logging.getLogger(__name__)

DEFAULT_CALL_TIMEOUT = 60.0


# A context carrying this value fetches no discharges (the call fetching one must not
# fetch discharges itself: Go's skipDischargesKey).
SKIP_DISCHARGES = "v23py.runtime.client.skip-discharges"


class _AttemptFailed(Exception):
    """One attempt to connect failed: the error, and the retry action it implies."""

    def __init__(self, err, action, require_resolve=False):
        super().__init__(str(err))
        self.err = err
        self.action = action
        self.require_resolve = require_resolve


class Client:
    def __init__(self, ctx, principal, flow_manager, namespace_roots=()):
        self.ctx = ctx
        self.principal = principal
        self.flow_manager = flow_manager
        self.namespace_roots = list(namespace_roots)
        self._types = {}
        self._trust_cache = {}
        self._root_cache = {}
        self._bless_cache = {}
        self._conn_cache = {}     # server name -> conn (skips the manager's lookup per call)
        self.namespace_provider = None   # callable -> v23py.runtime.namespace.Namespace, set by the runtime
        self._split_cache = {}
        self._ep_cache = {}
        self._closed = False
        self.outstanding = {}     # ClientCall in progress -> its start (monotonic seconds)

    # -- names ------------------------------------------------------------------
    def _root_entry(self, name):
        r = self._root_cached(name)
        return list(r[0]), r[1], r[2]

    def _root_cached(self, name):
        """(servers, suffix, whether to resolve) of ``name`` before any mount table, as
        the cache holds it (do not change it)."""
        r = self._root_cache.get(name)
        if r is None:
            r = self._root_entry2(name)
            if len(self._root_cache) > 1024:
                self._root_cache.clear()
            self._root_cache[name] = r
        return r

    def _root_entry2(self, name):
        addr, suffix = naming.split_address_name(name)
        if not addr:
            return [naming.join_address_name(r, "") if not r.startswith("/") else r
                    for r in self.namespace_roots], name, True
        server = naming.join_address_name(addr, "")
        # (every new name of a server, a new row's say, would parse the same address)
        ep = self._ep_cache.get(server)
        if ep is not None:
            return [server], suffix, ep.serves_mount_table
        mt = True
        try:
            mt = naming.parse_endpoint(addr).serves_mount_table
        except Exception:
            pass
        return [server], suffix, mt

    async def resolve(self, ctx, name, opts=()):
        """(servers, suffix): rooted server names and the name relative to them.

        The one resolution loop is the namespace client's: the runtime's (cached), or,
        when the caller checks the mount tables with its own authorizer or the client
        has no runtime, an uncached one over this client."""
        pre = rpcopts.find(opts, rpcopts.Preresolved)
        if pre is not None:
            return list(pre.servers), pre.name
        servers, rest, mt = self._root_entry(name)
        if rpcopts.find(opts, rpcopts.NoResolve) is not None or not mt:
            return servers, rest
        auth = rpcopts.find(opts, rpcopts.NameResolutionAuthorizer)
        ns = self.namespace_provider() if self.namespace_provider is not None else None
        extra = ()
        if ns is None or auth is not None:
            ns = Namespace(self.namespace_roots, RpcTransport(self), cache=False)
            if auth is not None:
                extra = (rpcopts.ServerAuthorizer(auth.authorizer),)
        e = await ns.resolve(ctx, name, extra)
        return [s.server for s in e.servers], e.name

    # -- connections ----------------------------------------------------------------
    def types_for(self, conn):
        t = self._types.get(conn)
        if t is not None:
            return t
        t = self._types[conn] = ConnTypes()
        try:
            tflow = conn.open_flow(side_channel=True)
            tflow.set_receiver(t.feed, t.closed)
            tflow.write(bytes([ROLE_TYPE]))
            t.attach(tflow)
        except verror.VError as e:
            t.fail(e)
        closed = getattr(conn, "closed", None)
        if isinstance(closed, defer.Deferred):
            def gone(reason, conn=conn, t=t):
                self._types.pop(conn, None)
                for k in [k for k in self._trust_cache if k[0] is conn]:
                    self._trust_cache.pop(k, None)
                t.closed(reason if isinstance(reason, verror.VError) else None)
                return reason
            closed.addBoth(gone)
        return t

    def _server_authorizer(self, opts):
        o = rpcopts.find(opts, rpcopts.ServerAuthorizer)
        if o is not None:
            return o.authorizer
        return security.endpoint_authorizer()

    def _security_call(self, conn, endpoint, method="", suffix=""):
        remote = _native_blessings(getattr(conn, "remote_blessings", None))
        return security.Call(local_principal=self.principal, remote_blessings=remote,
                             method=method, suffix=suffix,
                             local_endpoint=getattr(conn, "local_endpoint", None),
                             remote_endpoint=endpoint,
                             remote_discharges=getattr(conn, "remote_discharges", None))

    def _check_server(self, conn, endpoint, pattern, opts):
        """Raise NotTrusted unless the server passes the authorizer (and the name's pattern)."""
        auth = self._server_authorizer(opts)
        secall = self._security_call(conn, endpoint)
        try:
            auth.authorize(secall)
            if pattern is not None and str(pattern):
                names, _ = security.remote_blessing_names(secall)
                if not pattern.matched_by(*names):
                    raise verror.NotTrusted.new(
                        f"server blessings {names} do not match pattern {pattern}")
        except verror.VError as e:
            raise verror.NotTrusted.new(f"client does not trust server: {e.msg or e.id}")
        return secall

    async def _dial(self, ctx, server, pattern, opts):
        ep = self._ep_cache.get(server)
        if ep is None:
            addr, _ = naming.split_address_name(server)
            if not addr:
                raise verror.NoServers.new(f"{server} does not appear to contain an address")
            try:
                ep = naming.parse_endpoint(addr)
            except Exception as e:
                raise verror.NoServers.new(f"failed to parse endpoint {addr}: {e}")
            if len(self._ep_cache) > 1024:
                self._ep_cache.clear()
            self._ep_cache[server] = ep
        conn = self._conn_cache.get(server)
        if conn is not None:
            if getattr(conn, "is_usable", False):
                names = self._trusted(conn, ep, pattern, opts)
                return conn, ep, names
            self._conn_cache.pop(server, None)
        ct = rpcopts.find(opts, rpcopts.ConnectionTimeout) if opts else None
        if ct is not None and ct.seconds == 0:
            # Go's ConnectionTimeout(0): use a connection we have, never dial a new one
            raise verror.NoServers.new(f"no cached connection to {server}")
        timeout = DEFAULT_CALL_TIMEOUT
        rem = ctx.remaining()
        if rem is not None:
            timeout = max(0.001, min(timeout, rem))

        checked = []

        def authorize(conn):
            checked.append(self._trusted(conn, ep, pattern, opts))

        conn = await self.flow_manager.dial(ep, authorize=authorize, timeout=timeout)
        if len(self._conn_cache) > 1024:
            self._conn_cache.clear()
        self._conn_cache[server] = conn
        return conn, ep, (checked[-1] if checked else None)

    # -- calls ---------------------------------------------------------------------
    async def start_call(self, ctx, name, method, args, in_types=None, out_types=None, *,
                         desc=None, opts=(), _end_args=False, _policy=None):
        """A ClientCall once a server of `name` is connected; connecting is retried as Go's
        client does (see v23py.rpc.retry) until the call's connection deadline."""
        if self._closed:
            raise verror.Aborted.new("client closed")
        pattern, name = security.split_pattern_name(naming.clean(name)) \
            if "__(" in name else (None, name)
        policy = _policy or retry.ConnectionPolicy.for_call(ctx.now(), ctx.deadline(), opts)
        prev = None
        n = 0
        while True:
            try:
                conn, ep, full_suffix, server_names = await self._try_connect(
                    ctx, name, method, pattern, opts)
                break
            except _AttemptFailed as a:
                err = a.err
                if not policy.retry_connect(a.action, ctx.now(), a.require_resolve):
                    raise retry.prefer_non_timeout(err, prev)
            await self._back_off(ctx, policy, n, err, prev, f"retrying {name}.{method}")
            prev = err
            n += 1
        blessings = self._bless_entry(server_names)[0]
        discharges = None
        if blessings is not None and blessings.third_party_caveats():
            discharges = await self._discharges_for(ctx, blessings, server_names, method, args)
        return self._open_call(ctx, conn, ep, full_suffix, method, args, in_types,
                               out_types, desc, opts, server_names, _end_args,
                               blessings=blessings, discharges=discharges, name=name)

    async def _back_off(self, ctx, policy, n, err, prev, what):
        """Wait out the ``n``-th backoff of ``policy`` after an attempt failed with ``err``
        (``prev``: the error of the attempt before it, or None).  Raises the error to report
        when the deadline leaves no room for another attempt or ends the wait: of two,
        the one that is not a timeout (an attempt the deadline cut short says less than the
        one before it)."""
        delay = policy.backoff(n, ctx.now())
        if delay is None:
            raise retry.prefer_non_timeout(err, prev)
        log.debug("%s in %.2fs after: %s", what, delay, err)
        try:
            await self._sleep(ctx, delay)
        except verror.VError as e:
            raise retry.prefer_non_timeout(e, err)

    async def _try_connect(self, ctx, name, method, pattern, opts):
        """(conn, endpoint, suffix, server names) of one server of `name`: resolve it, dial
        its servers at once, take the first that answers and is trusted (Go's
        tryConnectToName); raise _AttemptFailed saying whether to try again."""
        if ctx.cancelled():
            raise _AttemptFailed(ctx.err(), verror.NoRetry)
        try:
            servers, suffix = await self.resolve(ctx, name, opts)
        except verror.VError as e:
            if ctx.cancelled():
                raise _AttemptFailed(ctx.err(), verror.NoRetry)
            raise _AttemptFailed(*retry.resolve_failure(name, e))
        if not servers:
            raise _AttemptFailed(verror.Internal.new(f"internal error: no servers for {name}"),
                                 verror.NoRetry, True)
        # as Go's JoinAddressName: a mounted server is an address with or without the
        # leading "/" (Go's publisher mounts "@6@...@@")
        servers = [s if s[:1] == "/" else naming.join_address_name(s, "") for s in servers]
        dials = [defer.ensureDeferred(self._dial(ctx, server, pattern, opts))
                 for server in servers]
        index, got, errors = await _first_success(ctx, dials)
        if got is not None:
            conn, ep, server_names = got
            server = servers[index]
            ssuffix = self._split_cache.get(server)
            if ssuffix is None:
                ssuffix = naming.split_address_name(server)[1]
                if len(self._split_cache) > 1024:
                    self._split_cache.clear()
                self._split_cache[server] = ssuffix
            full_suffix = naming.join(ssuffix, suffix) if ssuffix else suffix
            if server_names is None:
                server_names = self._trusted(conn, ep, pattern, opts)
            return conn, ep, full_suffix, server_names
        # none answered: forget the name's resolution, so that a retry asks the mount
        # tables again (the name may have moved)
        ns = self.namespace_provider() if self.namespace_provider is not None else None
        if ns is not None and not rpcopts.find(opts, rpcopts.Preresolved):
            try:
                ns.flush_cache_entry(name)
            except Exception:
                log.debug("flushing the namespace cache failed", exc_info=True)
        expired = ctx.cancelled() and verror.Timeout.is_(ctx.err())
        err, action = retry.failed_attempt(name, method, list(zip(servers, errors)),
                                           cancelled=ctx.cancelled() and not expired,
                                           expired=expired)
        raise _AttemptFailed(err, action)

    def _sleep(self, ctx, seconds):
        """A Deferred firing after `seconds`, or failing when ctx is done first."""
        reactor = getattr(self.flow_manager, "reactor", None)
        if reactor is None:
            from twisted.internet import reactor
        d = defer.Deferred()
        timer = reactor.callLater(seconds, lambda: d.called or d.callback(None))

        def done(err):
            if timer.active():
                timer.cancel()
            if not d.called:
                d.errback(err if isinstance(err, BaseException) else ctx.err())
        unreg = ctx.on_done(done)

        def cleanup(r):
            if unreg is not None:
                unreg()
            return r
        return d.addBoth(cleanup)

    # -- discharges ------------------------------------------------------------------
    async def _discharges_for(self, ctx, blessings, server_names, method, args):
        """The discharges `blessings` need for this call (Go's PrepareDischarges)."""
        p = self.principal
        if p is None:
            return None
        skip = bool(ctx.value(SKIP_DISCHARGES))

        async def fetch(cav, impetus):
            return await self.fetch_discharge(ctx, cav, impetus)
        ds, _ = await security.prepare_discharges(
            p.blessing_store, blessings, fetch, server_names, method, args, cache_only=skip)
        return ds or None

    async def own_discharges(self, ctx, blessings, timeout):
        """(discharges, earliest expiry or None) for a server's own ``blessings``, each
        fetch bounded by ``timeout`` s (a server presents them on every accepted conn)."""
        async def fetch(cav, impetus):
            fctx, cancel = ctx.with_timeout(timeout)
            try:
                return await self.fetch_discharge(fctx, cav, impetus)
            finally:
                cancel()
        return await security.prepare_discharges(self.principal.blessing_store, blessings,
                                                 fetch)

    async def fetch_discharge(self, ctx, caveat, impetus):
        """Ask the discharger named in a third-party caveat for a discharge."""
        tp = caveat.third_party_details()
        dctx = ctx.with_value(SKIP_DISCHARGES, True)
        (wire,) = await self.call(dctx, tp.location(), "Discharge", [caveat, impetus],
                                  [_CAVEAT_TYPE, security.DischargeImpetus._vdl_type],
                                  [security.WireDischargeType])
        return security.Discharge(wire)

    def _trusted(self, conn, ep, pattern, opts):
        """The server's validated names, after checking it (cached per conn and policy)."""
        auth = self._server_authorizer(opts)
        key = (conn, id(auth), pattern, id(ep))
        hit = self._trust_cache.get(key)
        # The entry holds auth and ep themselves: while it lives their ids cannot be
        # reused by other objects, and the identity check makes that explicit.
        names = hit[2] if hit is not None and hit[0] is auth and hit[1] is ep else None
        if names is None:
            secall = self._check_server(conn, ep, pattern, opts)
            try:
                names, _ = security.remote_blessing_names(secall)
            except Exception:
                names = []
            names = tuple(names)
            if len(self._trust_cache) > 1000:
                self._trust_cache.clear()
            self._trust_cache[key] = (auth, ep, names)
        return names

    def _bless_entry(self, server_names):
        """(our blessings for a server with these names, when found, whether they carry
        third-party caveats): BlessingStore.ForPeer, else nameless; cached briefly, since
        the store rarely changes."""
        p = self.principal
        if p is None:
            return _NO_BLESSINGS
        now = time.monotonic()
        hit = self._bless_cache.get(server_names)
        if hit is not None and now - hit[1] < 5.0:
            return hit
        b = None
        try:
            b = p.blessing_store.for_peer(*server_names)
            if b is None or b.is_zero():
                b = security.nameless_blessing(p.public_key)
        except Exception:
            log.debug("no blessings for the peer", exc_info=True)
        if len(self._bless_cache) > 256:
            self._bless_cache.clear()
        tp = False
        if b is not None:
            try:
                tp = bool(b.third_party_caveats())
            except Exception:
                tp = False
        hit = self._bless_cache[server_names] = (b, now, tp)
        return hit

    def _open_call(self, ctx, conn, ep, suffix, method, args, in_types, out_types, desc, opts,
                   server_names, end_args=False, blessings=None, discharges=None, name=None):
        types = self.types_for(conn)
        secall = None   # made on demand (ClientCall.security)
        if type(server_names) is not tuple:
            server_names = tuple(server_names)
        if blessings is None:
            blessings = self._bless_entry(server_names)[0]
        try:
            if discharges:
                flow = conn.open_flow(blessings=blessings, discharges=discharges)
            elif blessings is not None:
                flow = conn.open_flow(blessings=blessings)
            else:
                flow = conn.open_flow()
        except TypeError:
            flow = conn.open_flow()
        call = ClientCall(self, ctx, conn, flow, types, method, suffix, out_types, desc,
                          server_names, secall)
        call._ep = ep
        if discharges:
            call._discharges = discharges
        parent = ctx._values.get(vtrace.SPAN_KEY)
        if parent is not None and parent.store is not None:
            call._span = vtrace.client_span(parent, name, method)
        call._start(args, in_types, opts, end_args)
        return call

    async def call(self, ctx, name, method, args, in_types=None, out_types=None, *, desc=None,
                   opts=()):
        """The results of a call, made as Go's Client.Call makes it: connecting is retried
        (start_call), and a call that failed once sent is made again only when its error
        says so (RetryBackoff), with backoff, until the connection deadline."""
        # nothing is streamed after the args here, so their end goes out with them
        c = self._start_now(ctx, name, method, args, in_types, out_types, desc, opts)
        return await self._complete(c, ctx, name, method, args, in_types, out_types, desc,
                                    opts)

    def call_deferred(self, ctx, name, method, args, in_types=None, out_types=None, *,
                      desc=None, opts=(), first=False):
        """call() as a Deferred.  The usual repeated call (_start_now's case) is finished
        from its reader's wake-up, without a coroutine, when the whole response is there
        and is not an error; anything else goes on through call()'s path from where it is
        (the same results, errors and retries).  ``first``: fire with the first result
        itself instead of the list (a generated stub's method of one result)."""
        try:
            c = self._start_now(ctx, name, method, args, in_types, out_types, desc, opts)
        except Exception:
            return defer.fail()
        if c is None:
            d = defer.ensureDeferred(self._complete(None, ctx, name, method, args, in_types,
                                                    out_types, desc, opts))
            return d.addCallback(first_result) if first else d
        d = _AwaitableDeferred(c._cancel_unary)   # (what adopt() would make of it)
        c._unary = (d, first, ctx, name, method, args, in_types, out_types, desc, opts)
        rd = c._reader
        rd.notify = c._unary_wake
        if rd.eof or rd._pos < len(rd._buf):
            c._unary_wake()   # (already answered: not over a real transport)
        return d

    async def _complete(self, c, ctx, name, method, args, in_types, out_types, desc, opts):
        policy = None
        prev = None
        n = 0
        while True:
            if c is None:
                if policy is None:
                    policy = retry.ConnectionPolicy.for_call(ctx.now(), ctx.deadline(), opts)
                try:
                    c = await self.start_call(ctx, name, method, args, in_types, out_types,
                                              desc=desc, opts=opts, _end_args=True,
                                              _policy=policy)
                except verror.VError as e:
                    raise retry.prefer_non_timeout(e, prev)
            try:
                return await c._finish()
            except verror.VError as e:
                if retry.retry_action(e) != verror.RetryBackoff:
                    raise retry.prefer_non_timeout(e, prev)
                if policy is None:
                    policy = retry.ConnectionPolicy.for_call(ctx.now(), ctx.deadline(), opts)
                if not policy.retry_call(e, ctx.now()):
                    raise retry.prefer_non_timeout(e, prev)
                await self._back_off(ctx, policy, n, e, prev, f"calling {name}.{method} again")
                prev = e
                n += 1
                c = None

    def _start_now(self, ctx, name, method, args, in_types, out_types, desc, opts):
        """start_call(..., _end_args=True) without a coroutine, for the usual repeated call:
        a name naming its server directly, whose conn is up and whose trust was checked
        before (the cached verdict of the same authorizer); None to take start_call."""
        if self._closed or ctx.cancelled() or "__(" in name:
            return None
        no_resolve = False
        for o in opts or ():
            t = type(o)
            if t is rpcopts.NoResolve or o is rpcopts.NoResolve:
                no_resolve = True
            elif t is not rpcopts.ServerAuthorizer and t is not rpcopts.GrantedBlessings:
                return None
        # (a name not called before, a new row's, is made the entry start_call would
        # make: what counts below is its server)
        r = self._root_cached(name)
        if len(r[0]) != 1 or (r[2] and not no_resolve):
            return None
        server = r[0][0]
        conn = self._conn_cache.get(server)
        ep = self._ep_cache.get(server)
        ssuffix = self._split_cache.get(server)
        if conn is None or ep is None or ssuffix is None or not conn.is_usable:
            return None
        names = self._trusted(conn, ep, None, opts)
        blessings, _, third_party = self._bless_entry(names)
        if third_party:
            return None   # the discharges may have to be fetched: take start_call
        suffix = r[1]
        full_suffix = naming.join(ssuffix, suffix) if ssuffix else suffix
        return self._open_call(ctx, conn, ep, full_suffix, method, args, in_types, out_types,
                               desc, opts, names, True, blessings=blessings, name=name)

    def close(self):
        self._closed = True


async def _first_success(ctx, dials):
    """(index, result, errors) of the first of `dials` (Deferreds) to succeed; with no
    success, index and result are None and errors has each dial's error (None for those
    still running when ctx ended)."""
    errors = [None] * len(dials)
    outcome = defer.Deferred()
    left = [len(dials)]

    def ok(r, i):
        if not outcome.called:
            outcome.callback((i, r))

    def bad(f, i):
        errors[i] = f.value if isinstance(f.value, verror.VError) else verror.from_exception(f.value)
        left[0] -= 1
        if left[0] == 0 and not outcome.called:
            outcome.callback((None, None))

    for i, d in enumerate(dials):
        d.addCallbacks(ok, bad, callbackArgs=(i,), errbackArgs=(i,))
    if not dials:
        outcome.callback((None, None))
    unreg = ctx.on_done(lambda _err=None: outcome.called or outcome.callback((None, None)))
    try:
        index, result = await outcome
    finally:
        if unreg is not None:
            unreg()
    return index, result, errors


_CAVEAT_TYPE = security.Caveat._vdl_type   # v.io/v23/security.Caveat


_NO_BLESSINGS = (None, 0.0, False)   # Client._bless_entry without a principal

