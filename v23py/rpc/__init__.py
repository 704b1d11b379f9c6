"""v23py.rpc: Vanadium RPC over flows, wire-compatible with Go v0.2.0.

Client side::

    results = await rpc.client_call(ctx, name, "Get", [], [], [vdl.StringType])
    call = await rpc.start_call(ctx, name, "Stream", args, in_types, out_types, desc=desc)
    call.send(x); call.close_send(); item = await call.recv(); results = await call.finish()

    rpc.get_client(ctx)                     # the runtime's Client
    opts: rpc.options.ServerAuthorizer(auth), rpc.options.insecure(), Preresolved, ...

Server side (the runtime serves; see :mod:`v23py.runtime`)::

    server = await v23py.with_new_server(ctx, name, obj, authorizer)          # one object
    server = await v23py.with_new_dispatching_server(ctx, name, dispatcher)  # lookup(ctx, suffix)
    server.endpoints[0]; await server.stop()

Served objects: generated ``XxxServer(impl)`` stubs, or any object whose
methods are ``Method(ctx, call, *args)`` (plain or ``async``); see
:mod:`v23py.rpc.model`.  ``call`` is a ``v23py.runtime.server.ServerCall``
(``suffix``, ``method``, ``remote_blessings``, ``security``, ``send``,
``recv``).  Errors are ``v23py.verror.VError`` with Go's ids end to end.

The wire types (Request, Response, signature.*, naming.GlobReply ...) are the
generated classes of ``v23py.v23``, named for the runtime in :mod:`v23py.rpc.wire`.

Protocol notes (Go v0.2.0): one type flow ('t', side channel) per connection
carries VOM type definitions both ways; each call has its own data flow ('d')
with Request + args, then Response + results; the server closes the flow.
The client closes the flow to cancel; deadlines travel as Request.Deadline
(FromNow).  Errors keep Go's ids end to end; errors made by the server runtime
get Go's "<program>:<op>: " prefix.  Servers check clients with the
authorizer from the dispatcher (default authorizer when None; reserved
methods are open to everyone); clients check servers with the endpoint's
blessing patterns (``options.insecure()`` to skip, ``/name/__(pattern)``
to add a pattern).
"""
from v23py import verror
from v23py.rpc import options  # noqa: F401

# The invoker model (and with it Twisted's Deferred) is loaded on first use: a tool that
# only decodes signatures or globs (v23py.rpc.signature, v23py.rpc.wire) does not need it.
_MODEL_NAMES = ("ArgDesc", "EmbedDesc", "GlobState", "InterfaceDesc", "Invoker", "MethodDesc",
                "ReflectInvoker", "object_to_invoker")


def __getattr__(name):
    if name in _MODEL_NAMES:
        from v23py.rpc import model
        value = getattr(model, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


CLIENT_KEY = "v23py.rpc.client"
GlobMethod = "__Glob"
ReservedSignature = "__Signature"
ReservedMethodSignature = "__MethodSignature"


def get_client(ctx):
    """The client calls on ``ctx`` use: one set with CLIENT_KEY, else the runtime's."""
    from v23py.context import RUNTIME_KEY
    c = ctx.value(CLIENT_KEY)
    if c is None:
        rt = ctx.value(RUNTIME_KEY)
        if rt is None:
            raise verror.BadState.new("context not initialized: call v23py.init() first")
        c = rt.client
    return c


def client_call(ctx, name, method, args, in_types=None, out_types=None, *, desc=None, opts=(),
                client=None):
    """Deferred firing with the list of results (the seam used by generated stubs)."""
    from twisted.internet import defer
    c = client or get_client(ctx)
    cd = getattr(c, "call_deferred", None)
    if cd is not None:
        return cd(ctx, name, method, list(args), in_types, out_types, desc=desc,
                  opts=tuple(opts))
    return defer.ensureDeferred(c.call(ctx, name, method, list(args), in_types, out_types,
                                       desc=desc, opts=tuple(opts)))


def start_call(ctx, name, method, args, in_types=None, out_types=None, *, desc=None, opts=(),
               client=None):
    """Deferred firing with a ClientCall (send/close_send/recv/finish)."""
    from twisted.internet import defer
    c = client or get_client(ctx)
    return defer.ensureDeferred(c.start_call(ctx, name, method, list(args), in_types, out_types,
                                             desc=desc, opts=tuple(opts)))


def reserved_signature(ctx, name, opts=()):
    """Deferred: the ``__Signature`` of the object at name ([]signature.Interface)."""
    from v23py.rpc import wire
    return client_call(ctx, name, ReservedSignature, [], [], [wire.SigInterfaceListType],
                       opts=opts).addCallback(lambda r: r[0])


def reserved_method_signature(ctx, name, method, opts=()):
    from v23py import vdl
    from v23py.rpc import wire
    return client_call(ctx, name, ReservedMethodSignature, [method], [vdl.StringType],
                       [wire.SigMethodType], opts=opts).addCallback(lambda r: r[0])
