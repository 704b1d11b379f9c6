"""The RPC server: accepts flows, decodes requests, dispatches, authorizes, invokes.

Per accepted flow the first byte says what it is: ``'t'`` registers the
connection's type flow, ``'d'`` carries one call.  A call runs as in Go's
``flowServer``: read the Request (1 minute deadline until it arrives); check
granted blessings; find the object (reserved methods go to the built-in
invoker); check NumPosArgs; decode the args; authorize; invoke; write the
Response and results; close the flow.  Errors before the args were read make
the server skip the remaining args first, so the client always gets the
error response.

Beside this module: ``_accepted_flows`` routes a flow by its first byte,
``_server_call`` is the ``call`` a method gets, ``_reserved`` answers the
reserved methods.
"""
import inspect
import logging
import os
import sys
from time import monotonic as _monotonic

from twisted.internet import defer

from v23py import security, verror, vtrace
from v23py.deferred import awaitable as _awaitable
from v23py.runtime._stats import ServerStats as _ServerStats
from v23py.rpc import wire
from v23py.runtime._stream import ConnTypes, ValueWriter
from v23py.rpc.model import object_to_invoker
from v23py.runtime._accepted_flows import _FlowRole
from v23py.runtime._peer import native_blessings as _native_blessings
from v23py.runtime._pending import PendingRequests, refuse
from v23py.runtime._reserved import _ReservedInvoker
from v23py.runtime._server_call import ServerCall

log = logging.getLogger(__name__)

DEFAULT_CALL_TIMEOUT = 60.0

# Ids Go builds with verror.NewID in the rpc package (package path prefix).
_RPC_PKG = "v.io/x/ref/runtime/internal/rpc."
BadNumInputArgs = verror.ErrorId(_RPC_PKG + "badNumInputArgs", verror.NoRetry,
                                 "wrong number of input arguments")
BadInputArg = verror.ErrorId(_RPC_PKG + "badInputArg", verror.NoRetry, "bad input argument")


def component_name():
    return os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "v23py"


# ---------------------------------------------------------------------------
# dispatchers and authorizers
# ---------------------------------------------------------------------------

class LeafDispatcher:
    """Serves one object at the empty suffix (Go's leaf dispatcher)."""

    def __init__(self, obj, authorizer=None):
        self.obj = obj
        self.authorizer = authorizer
        object_to_invoker(obj)   # fail early on bad objects

    def lookup(self, ctx, suffix):
        if suffix:
            raise verror.UnknownSuffix.new(f"suffix does not exist: {suffix}")
        return self.obj, self.authorizer


class _AllowEveryone:
    def authorize(self, call):
        return None


_EVERYONE = _AllowEveryone()


def _default_authorizer():
    return security.default_authorizer()


def _authorize(auth, secall, suffix, method):
    if secall is None:
        return
    if auth is None:
        auth = _default_authorizer()
    try:
        auth.authorize(secall)
    except verror.VError as e:
        raise verror.NoAccess.new(
            f"access denied: not authorized to call {suffix}.{method}: {e.msg or e.id}")
    except Exception as e:
        raise verror.NoAccess.new(f"access denied: not authorized to call {suffix}.{method}: {e}")


# ---------------------------------------------------------------------------
# the server
# ---------------------------------------------------------------------------

class Server:
    """An RPC server on a flow manager.

    ``dispatcher`` has ``lookup(ctx, suffix) -> (obj, authorizer)`` (may return
    a Deferred or be async).  Use :func:`v23py.with_new_server` /
    ``v23py.with_new_server`` for the usual setup.
    """

    def __init__(self, ctx, name, dispatcher, *, principal=None, flow_manager=None,
                 is_leaf=False, serves_mount_table=False, reserved_dispatcher=None):
        self.ctx = ctx
        self.name = name or ""
        self.names = [name] if name else []
        self.dispatcher = dispatcher
        self.reserved_dispatcher = reserved_dispatcher
        self.is_leaf = is_leaf
        self.serves_mount_table = serves_mount_table
        self.principal = principal
        self.flow_manager = flow_manager
        self.ports = []
        self.proxied = {}         # proxy endpoint (str) -> endpoints it gives us (--v23.proxy)
        self.proxy_manager = None
        self.publisher = None     # a v23py.runtime.publisher.Publisher when the server has a name
        self._types = {}
        self._stopped = False
        self._calls = {}   # Deferred of a call in progress -> its ServerCall
        if reserved_dispatcher is None:
            from v23py.services import debug
            reserved_dispatcher = self.reserved_dispatcher = debug.default_dispatcher()
        self._vstore = vtrace.get_store(ctx)
        rid = str(flow_manager.routing_id) if flow_manager is not None else ""
        self._stats = _ServerStats(self, rid)
        self._latency = self._stats._methods   # method -> latency histogram (the hot path)
        self._plans = {}   # (id(invoker), method) -> (invoker, plan), see _plan
        # flows whose request is still arriving (bounded per conn, dropped when idle)
        self.pending = PendingRequests(lambda: getattr(self.flow_manager, "reactor", None))
        if flow_manager is not None:
            flow_manager.set_flow_handler(self.handle_flow)

    # -- lifecycle ------------------------------------------------------------
    async def listen(self, address="127.0.0.1:0", protocol="tcp", blessing_names=None):
        if blessing_names is None:
            blessing_names = self._blessing_names()
        port = await self.flow_manager.listen(address, protocol=protocol,
                                              blessing_names=blessing_names)
        self.ports.append(port)
        self._stats.listening(protocol, address, ",".join(blessing_names or ()))
        return port

    def _blessing_names(self):
        p = self.principal
        if p is None:
            return []
        try:
            b = p.blessing_store.default()
            return sorted(security.blessing_names(p, b))
        except Exception:
            log.exception("cannot compute the server's blessing names")
            return []

    @property
    def endpoints(self):
        """Where clients reach us: through proxies first (as Go lists them), then our
        listeners."""
        eps = [ep for eps in self.proxied.values() for ep in eps]
        return eps + [port.endpoint for port in self.ports]

    def set_proxied(self, proxy, endpoints):
        """The endpoints the proxy ``proxy`` gives us now ([] when it went away); the
        publisher mounts the new ones and unmounts the old."""
        old = self.proxied.pop(proxy, [])
        if endpoints:
            self.proxied[proxy] = list(endpoints)
        pub = self.publisher
        if pub is not None:
            new = {ep.name() for ep in endpoints}
            for ep in old:
                if ep.name() not in new:
                    pub.remove_server(ep.name())
            for ep in endpoints:
                pub.add_server(ep.name())

    def status(self):
        return {"endpoints": self.endpoints, "names": list(self.names)}

    @_awaitable
    async def stop(self):
        """Unmount, stop listening and close the server's connections."""
        if self._stopped:
            return
        self._stopped = True
        self.pending.stop()
        self._stats.stop()
        if self.proxy_manager is not None:
            self.proxy_manager.stop()
        pub = self.publisher
        if pub is not None:
            try:
                await pub.stop(timeout=2.0)
            except Exception:
                log.exception("unpublishing")
        for port in self.ports:
            try:
                await port.stop()
            except Exception:
                log.exception("stopping a listener")
        if self.flow_manager is not None:
            try:
                await self.flow_manager.stop()
            except Exception:
                log.exception("stopping the flow manager")

    # -- per-connection type flows ----------------------------------------------
    def types_for(self, conn):
        t = self._types.get(conn)
        if t is None:
            t = self._types[conn] = ConnTypes()
            closed = getattr(conn, "closed", None)
            if isinstance(closed, defer.Deferred):
                def gone(reason, conn=conn, t=t):
                    self._types.pop(conn, None)
                    t.closed(reason if isinstance(reason, verror.VError) else None)
                    return reason
                closed.addBoth(gone)
        return t

    # -- flows ----------------------------------------------------------------
    def handle_flow(self, flow):
        """Flow handler: dispatch on the first byte of the flow."""
        state = _FlowRole(self, flow)
        err = self.pending.admit(flow, state)
        if err is not None:
            refuse(flow, self.types_for(flow.conn), err)
            return
        flow.set_receiver(state.on_data, state.on_close, bytearrays=True)   # (its targets keep them)

    def _start_call(self, flow, reader, types):
        # Run the call's coroutine at once: a synchronous method (the usual case) finishes
        # in this first step, without a Deferred or Twisted's coroutine driver; only a call
        # that really waits is handed to Twisted from where it stopped.
        call = ServerCall(self, flow, reader, ValueWriter(types), types)
        call._t0 = t0 = _monotonic()
        coro = self._serve(flow, reader, types, call, t0)
        try:
            first = next(coro.__await__(), _SERVED)   # (a return: no StopIteration, as send())
        except BaseException:
            log.exception("rpc serve failed")
            return
        if first is _SERVED:
            return
        d = defer.ensureDeferred(_resume(coro, first))
        if not d.called:
            # (only calls that wait can be seen in progress: the reactor runs one thing at a time)
            self._calls[d] = call
            d.addBoth(lambda r: (self._calls.pop(d, None), r)[1])
        d.addErrback(lambda f: log.error("rpc serve failed: %s", f.getTraceback()))

    async def _serve(self, flow, reader, types, call, t0):
        writer = call._writer
        results, out_types, err = _NO_RESULTS, (), None
        span = None
        cctx = cancel_call = unreg = None
        try:
            try:
                ok, req = reader.try_read(wire.RequestType)   # usually already here: no timer needed
            except verror.VError:
                ok = False
            if not ok:
                req = await self._read_header(reader)
            if req is None:
                return   # the client went away before sending anything
            # the call's context: the client's deadline, cancelled when the flow closes
            fromnow = req.Deadline.FromNow
            if fromnow.Seconds or fromnow.Nanos:
                secs = fromnow.Seconds + fromnow.Nanos / 1e9
            else:
                secs = 0
            if secs > 0:
                cctx, cancel_call = self.ctx.with_timeout(secs)
            else:
                cctx, cancel_call = self.ctx.with_cancel()
            reader.on_close = cancel_call   # (called with the close reason, which it ignores)
            if reader.eof:
                cancel_call()
            call.method, call.suffix = req.Method, req.Suffix.lstrip("/")
            store = self._vstore
            if store is not None:
                span = vtrace.continue_span(cctx, store, reader.trace or req.TraceRequest,
                                            self._op_name, call.suffix, call.method)
            try:
                results, out_types, unreg = await self._process(cctx, call, req)
            except _AppError as e:
                self._stats.record(call.method, _monotonic() - t0, True)
                raise e.err
            except verror.VError as e:
                raise self._prefixed(e, call.suffix, call.method)
            h = self._latency.get(call.method)
            if h is None:
                self._stats.record(call.method, _monotonic() - t0, False)
            else:
                h.add(int((_monotonic() - t0) * 1000))
        except verror.VError as e:
            err = e
        except Exception as e:  # a bug in a method or in the runtime
            log.exception("rpc call failed")
            err = verror.from_exception(e)
        finally:
            call._closed = True
            if self.pending.flows:
                self.pending.done(flow)
        if cancel_call is not None:
            # the method is done: nothing left to wake on cancellation
            reader.on_close = None
            if unreg is not None:
                unreg()
        if call._pending is not None:
            call._flush_sends()   # streamed results first, then the final response
        tresp = None
        if span is not None and span.store._traces:
            span.finish(err)
            if span.trace in span.store._traces:
                tresp = self._trace_response(call, span)
        self._respond(flow, writer, types, err, results, out_types, tresp)
        if cancel_call is not None:
            cancel_call()

    def _plan(self, invoker, stripped, nargs, ctx):
        """What a call of ``stripped`` on ``invoker`` needs, worked out once per method:
        (arg types, tags, in-stream type, out-stream type, out types, desc)."""
        key = (id(invoker), stripped)
        hit = self._plans.get(key)
        if hit is not None and hit[0] is invoker:
            return hit[1]
        arg_types, tags = invoker.prepare(ctx, stripped, nargs)
        desc = invoker.method_desc(stripped)
        ins = outs = None
        out_types = ()
        if desc is not None:
            ins = getattr(desc, "in_stream", None)
            outs = getattr(desc, "out_stream", None)
            if ins is not None and not hasattr(ins, "kind"):
                ins = ins.type
            if outs is not None and not hasattr(outs, "kind"):
                outs = outs.type
            out_types = tuple(a.type for a in desc.out_args)
        plan = (tuple(arg_types), tuple(tags), ins, outs, out_types, desc)
        if not isinstance(invoker, _ReservedInvoker):
            if len(self._plans) > 4096:
                self._plans.clear()
            self._plans[key] = (invoker, plan)
        return plan

    async def _process(self, ctx, call, req):
        """Find, authorize and invoke the method: (results, out types, unregister)."""
        reader = call._reader
        method, suffix = call.method, call.suffix   # (req's, set by _serve)
        nargs = req.NumPosArgs
        # granted blessings must be bound to our key
        gb = req.GrantedBlessings
        if gb is not None and getattr(gb, "CertificateChains", None):
            try:
                b = security.blessings_from_wire(gb)
                if self.principal is not None and b.public_key.der != self.principal.public_key.der:
                    raise verror.NoAccess.new(
                        "access denied: blessing granted not bound to this server")
                call.granted_blessings = b
            except verror.VError:
                ctx.on_done(reader.abort)
                await self._drain(reader, nargs)
                raise
        unreg = None
        try:
            found = self._lookup_now(ctx, suffix, method)
            if type(found) is not tuple:
                unreg = ctx.on_done(reader.abort)   # (pending reads fail on cancellation)
                found = await found
            invoker, auth, reserved = found
            stripped = method[2:] if reserved else method
            arg_types, tags, ins, outs, out_types, desc = self._plan(invoker, stripped, nargs, ctx)
        except verror.VError:
            if unreg is None:
                unreg = ctx.on_done(reader.abort)
            await self._drain(reader, nargs)
            raise
        if nargs != len(arg_types):
            if unreg is None:
                unreg = ctx.on_done(reader.abort)
            await self._drain(reader, nargs)
            raise BadNumInputArgs.new(
                f"wrong number of input arguments for {suffix}.{method} "
                f"(called with {{{nargs}}} args, want {{{len(arg_types)}}})")
        args = []
        i = 0
        for t in arg_types:
            try:
                ok, v = reader.try_read(t)
                if not ok:
                    if unreg is None:
                        unreg = ctx.on_done(reader.abort)
                    v = await reader.read(t)
                args.append(v)
            except verror.VError as e:
                raise BadInputArg.new(
                    f"method {suffix}.{method} has bad arg #{i}: {e.msg or e.id}")
            i += 1
        if self.pending.flows:
            self.pending.done(call.flow)   # (a streaming method may run on for long)
        call.method_tags = list(tags)
        call.in_stream_type = ins
        call.out_stream_type = outs
        if auth is not None and (auth is _EVERYONE or isinstance(auth, _AllowEveryone)
                                 or auth is security.allow_everyone()):
            call._lazy_security = (self, method, suffix, tags)   # built only if used
        else:
            call.security = self._security_call(call, method, suffix, tags)
            _authorize(auth, call.security, suffix, method)
        if reserved:
            if unreg is None:
                unreg = ctx.on_done(reader.abort)
            try:
                results = await invoker.invoke(ctx, call, stripped, args)
            except verror.VError as e:
                raise self._prefixed(e, suffix, method)
        else:
            try:
                fast = getattr(invoker, "invoke_direct", None)
                if fast is not None:
                    results = fast(ctx, call, stripped, args)
                    if type(results) is not list and _awaitable(results):
                        # (a method that goes on after returning: cancellation of its
                        # context fails its pending reads of the stream)
                        if unreg is None:
                            unreg = ctx.on_done(reader.abort)
                        results = await results
                else:
                    if unreg is None:
                        unreg = ctx.on_done(reader.abort)
                    results = await invoker.invoke(ctx, call, stripped, args)
            except verror.VError as e:
                raise _AppError(e)
        return (results if type(results) is list else list(results or [])), out_types, unreg

    async def _read_header(self, reader):
        """The Request header, waiting at most DEFAULT_CALL_TIMEOUT for it."""
        hctx, hcancel = self.ctx.with_timeout(DEFAULT_CALL_TIMEOUT)
        unreg = hctx.on_done(lambda err: reader.abort(err))
        try:
            return await reader.read(wire.RequestType)
        except verror.VError as e:
            if reader.eof and reader.close_reason is None and e.id == verror.EOF.id:
                return None
            raise self._prefixed(verror.BadProtocol.new(
                f"bad protocol or type: failed to decode request: {e.msg or e.id}"),
                "", "UNKNOWN")
        finally:
            unreg()
            hcancel()

    def _trace_response(self, call, span):
        """The collected trace for the caller, if it may see it: Go's check is whether the
        caller could call __debug/vtrace.Trace."""
        resp = vtrace.get_response(span)
        if resp is None:
            return None
        sec = call.security
        if sec is not None:
            auth = None
            if self.reserved_dispatcher is not None:
                try:
                    r = self.reserved_dispatcher.lookup(self.ctx, "__debug/vtrace")
                    if isinstance(r, tuple):
                        auth = r[1]
                except Exception:
                    auth = None
            from v23py.security import access
            sc = security.Call(local_principal=sec.local_principal,
                               local_blessings=sec.local_blessings,
                               remote_blessings=sec.remote_blessings, method="Trace",
                               method_tags=[access.Debug], suffix="__debug/vtrace",
                               local_endpoint=sec.local_endpoint,
                               remote_endpoint=sec.remote_endpoint)
            try:
                _authorize(auth, sc, "__debug/vtrace", "Trace")
            except verror.VError:
                return None
        return resp

    def _respond(self, flow, writer, types, err, results, out_types, tresp=None):
        try:
            if tresp is not None:
                r = wire.response(err, err is not None or True, 0 if err is not None else len(results))
                r.TraceResponse = tresp
                data = writer.encode(r, wire.ResponseType)
                if err is None:
                    for i, res in enumerate(results):
                        data += writer.encode(res, out_types[i] if i < len(out_types) else None)
            elif err is not None:
                data = writer.encode(wire.response(err, True, 0), wire.ResponseType)
            else:
                n = len(results)
                key, make = _RESP_END[n] if n < 8 else (("resp-end", n), _resp_end_maker(n))
                data = writer.encode_cached(key, make, wire.ResponseType)
                for i, r in enumerate(results):
                    t = out_types[i] if i < len(out_types) else None
                    data += writer.encode(r, t)
        except Exception as e:
            log.exception("encoding the response failed")
            writer = ValueWriter(types)
            e2 = verror.Internal.new(f"failed to encode the results: {e}")
            try:
                data = writer.encode(wire.response(e2, True, 0), wire.ResponseType)
            except Exception:
                data = b""
        types.flush()
        try:
            shut = getattr(flow, "shut", None)
            (shut if shut is not None else flow.close)(data)
        except Exception:
            log.debug("flow closed before the response was sent", exc_info=True)

    async def _drain(self, reader, n):
        for _ in range(n):
            try:
                await reader.skip()
            except Exception:
                return

    def _security_call(self, call, method, suffix, tags):
        p = self.principal
        if p is None:
            return None
        flow = call.flow
        remote = getattr(flow, "remote_blessings", None)
        discharges = getattr(flow, "remote_discharges", None)
        if remote is None:
            remote = getattr(flow.conn, "remote_blessings", None)
            discharges = getattr(flow.conn, "remote_discharges", None)
        remote_b = _native_blessings(remote)
        local_b = _native_blessings(getattr(flow, "local_blessings", None))
        if local_b is None or local_b.is_zero():
            try:
                local_b = p.blessing_store.default()
            except Exception:
                local_b = None
        return security.Call(local_principal=p, local_blessings=local_b,
                             remote_blessings=remote_b, method=method, method_tags=list(tags),
                             suffix=suffix,
                             local_endpoint=getattr(flow.conn, "local_endpoint", None),
                             remote_endpoint=getattr(flow.conn, "remote_endpoint", None),
                             remote_discharges=discharges)

    def _op_name(self, suffix, method):
        """Go's span name for a call: <first name>[/suffix].<method>."""
        name = self.names[0] if self.names else ""
        if suffix:
            name = name + "/" + suffix if name else suffix
        return name + "." + method

    def _prefixed(self, e, suffix, method):
        """Give a runtime-made error Go's "<component>:<op>: " message prefix."""
        if e.params[:2] not in ([], ["", ""]) or e.id == verror.EOF.id:
            return e
        comp, op = component_name(), self._op_name(suffix, method)
        rest = e.params[2:] if len(e.params) >= 2 else e.params
        return verror.VError(e.id, e.retry_code, f"{comp}:{op}: {e.msg}", [comp, op, *rest])

    def _lookup_now(self, ctx, suffix, method):
        """_lookup for a plain method whose dispatcher answers at once, without a coroutine;
        otherwise an awaitable giving _lookup's answer."""
        disp = self.dispatcher
        if (disp is None or method[:2] == "__" or suffix[:2] == "__"
                or (self.is_leaf and suffix)):
            return self._lookup(ctx, suffix, method)
        r = disp.lookup(ctx, suffix)
        if type(r) is tuple and len(r) == 2:
            obj, auth = r
        elif r is not None and _awaitable(r):
            return self._lookup_finish(r, suffix)
        else:
            obj, auth = _dispatch_result(r)
        return self._found(obj, auth, suffix)

    async def _lookup_finish(self, r, suffix):
        obj, auth = _dispatch_result(await r)
        return self._found(obj, auth, suffix)

    @staticmethod
    def _found(obj, auth, suffix):
        """What a dispatcher's answer for ``suffix`` makes: (invoker, authorizer, False),
        or the error of finding nothing (UnknownSuffix) or nothing callable (Internal)."""
        if obj is not None:
            try:
                return object_to_invoker(obj), auth, False
            except verror.VError as e:
                raise verror.Internal.new(f"invalid received object: {e}")
        raise verror.UnknownSuffix.new(f"suffix does not exist: {suffix}")

    async def _lookup(self, ctx, suffix, method):
        if method.startswith("__"):
            return _ReservedInvoker(self, suffix), _EVERYONE, True
        disp = self.dispatcher
        if suffix.startswith("__"):
            disp = self.reserved_dispatcher
        elif self.is_leaf and suffix:
            raise verror.UnknownSuffix.new(
                f"suffix does not exist: {suffix}: suffix {suffix} was not expected because "
                "either server has the option IsLeaf set to true or it served an object and "
                "not a dispatcher")
        obj, auth = (await self._dispatch(disp, ctx, suffix)) if disp is not None else (None, None)
        return self._found(obj, auth, suffix)

    async def _dispatch(self, disp, ctx, suffix):
        r = disp.lookup(ctx, suffix)
        if type(r) is not tuple and _awaitable(r):
            r = await r
        return _dispatch_result(r)


def _dispatch_result(r):
    """(obj, authorizer) from what a dispatcher's lookup returned."""
    if r is None:
        return None, None
    if isinstance(r, tuple):
        if len(r) == 2:
            return r
        return r[0], None
    return r, None


_NO_RESULTS = ()
_SERVED = object()   # Server._start_call: the call's coroutine has returned (next's default)
_RESP_END_MAKERS = {}


def _resp_end_maker(n):
    mk = _RESP_END_MAKERS.get(n)
    if mk is None:
        def mk():
            return wire.response(None, True, n)
        if len(_RESP_END_MAKERS) < 64:
            _RESP_END_MAKERS[n] = mk
    return mk


_RESP_END = [(("resp-end", n), _resp_end_maker(n)) for n in range(8)]   # (key, maker) by n


class _Resumed:
    """Awaitable that continues a coroutine which already yielded ``first`` (as the
    ``await`` inside it would have: what the awaiting driver sends or throws in is passed on)."""

    __slots__ = ("coro", "first")

    def __init__(self, coro, first):
        self.coro = coro
        self.first = first

    def __await__(self):
        coro, y = self.coro, self.first
        self.coro = self.first = None
        while True:
            try:
                v = yield y
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as e:
                try:
                    y = coro.throw(e)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    y = coro.send(v)
                except StopIteration as stop:
                    return stop.value


async def _resume(coro, first):
    return await _Resumed(coro, first)


def _awaitable(r):
    """inspect.isawaitable, quick for the plain results of synchronous methods."""
    if r is None or type(r) in _PLAIN:
        return False
    return isinstance(r, defer.Deferred) or inspect.isawaitable(r)


_PLAIN = frozenset((list, tuple, str, bytes, int, float, bool, dict))


class _AppError(Exception):
    """An error raised by the served method itself (sent unchanged)."""

    def __init__(self, err):
        super().__init__(str(err))
        self.err = err


