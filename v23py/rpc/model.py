"""Descriptions of served interfaces, and the invoker that runs their methods.

Generated server stubs describe their interfaces with :class:`InterfaceDesc`
(Go's ``rpc.InterfaceDesc``), listing for each method its argument names and
VDL types, streams and tags.  The server runtime reads those descriptions to
decode arguments with the right types, to answer ``__Signature`` and
``__MethodSignature``, and to authorize by method tags.

An object served by the runtime is one of:

* an object with ``describe__()`` returning a list of :class:`InterfaceDesc`
  (the first one is the object's own interface, then its embeds) -- what the
  generated ``XxxServer(impl)`` wrappers and ``ServerMethods`` classes have;
* an :class:`Invoker` (used as is);
* any other Python object: its public methods are served with ``any``-typed
  arguments, and its signature is the unnamed "empty interface".

Server method calling convention: ``impl.Method(ctx, call, *args)``; it
returns the single out-arg, a tuple for several, or None when there are none.
It may be a coroutine function or return a Deferred.  Raising a ``VError``
sends that error to the client; any other exception becomes
``v.io/v23/verror.Unknown``.
"""
import inspect

from twisted.internet import defer

from v23py import deferred as _deferred
from v23py import verror

__all__ = ["ArgDesc", "MethodDesc", "EmbedDesc", "InterfaceDesc", "Invoker",
           "ReflectInvoker", "object_to_invoker", "maybe_deferred", "GlobState"]


# The description classes are shared with generated code (the compiler's half
# of the seam): ArgDesc(name, type, doc), MethodDesc(name, doc, in_args,
# out_args, in_stream (a vdl.Type or None), out_stream, tags), EmbedDesc,
# InterfaceDesc(name, pkg_path, doc, embeds, methods).
from v23py.rpc.stubs import ArgDesc, EmbedDesc, InterfaceDesc, MethodDesc


def maybe_deferred(f, *args, **kw):
    """Call f; return a Deferred for its (possibly coroutine / Deferred) result."""
    try:
        r = f(*args, **kw)
    except BaseException:
        return defer.fail()
    if _deferred._asyncio_servers:
        r = _deferred.run_user_coroutine(r)   # under v23py.aio: the program's own coroutines
    if isinstance(r, defer.Deferred):
        return r
    if inspect.isawaitable(r):
        return defer.ensureDeferred(_await(r))
    return defer.succeed(r)


async def _await(a):
    return await a


class GlobState:
    """What a globbing object implements (Go's rpc.GlobState).

    ``all_globber``: callable(ctx, call, glob) yielding naming.GlobReply-like
    replies; ``children_globber``: callable(ctx, call, matcher) returning the
    child names (strings) of the object.
    """
    __slots__ = ("all_globber", "children_globber")

    def __init__(self, all_globber=None, children_globber=None):
        self.all_globber = all_globber
        self.children_globber = children_globber


class Invoker:
    """The server runtime's view of a served object."""

    def prepare(self, ctx, method, num_args):
        """Return (arg_types, tags) for method or raise VError(UnknownMethod)."""
        raise NotImplementedError

    def invoke(self, ctx, call, method, args):
        """Run method; return a Deferred firing with the list of out-args."""
        raise NotImplementedError

    def method_desc(self, method):
        return None

    def signature(self, ctx, call):
        """List of signature.Interface values."""
        raise NotImplementedError

    def method_signature(self, ctx, call, method):
        raise NotImplementedError

    def globber(self):
        return None


class ReflectInvoker(Invoker):
    """An invoker over an object described by ``describe__()`` (or plain methods)."""

    def __init__(self, obj):
        self.obj = obj
        descs = None
        d = (getattr(obj, "describe", None) if hasattr(obj, "_vdl_describe") else None) \
            or getattr(obj, "describe__", None) or getattr(obj, "Describe__", None)
        if d is not None:
            descs = list(d())
        self.descs = descs
        self.methods = {}
        self._prepared = {}   # method -> (arg types, tags), both tuples
        if descs:
            for iface in descs:
                for m in iface.methods:
                    self.methods.setdefault(m.name, m)
        else:
            for name in dir(obj):
                if name.startswith("_") or not name[:1].isupper():
                    continue
                fn = getattr(obj, name, None)
                if callable(fn):
                    self.methods[name] = _plain_desc(name, fn)
        # generated ServerStubs wrap the implementation in .impl
        self._stub_invoke = getattr(obj, "invoke", None) if hasattr(obj, "_vdl_describe") else None
        self._impl = getattr(obj, "impl", None) if self._stub_invoke else obj

    def method_desc(self, method):
        return self.methods.get(method)

    def prepare(self, ctx, method, num_args):
        hit = self._prepared.get(method)
        if hit is not None:
            return hit
        m = self.methods.get(method)
        if m is None:
            raise verror.UnknownMethod.new(f"method does not exist: {method}")
        from v23py import vdl
        hit = (tuple(a.type if a.type is not None else vdl.AnyType for a in m.in_args),
               tuple(m.tags))
        self._prepared[method] = hit
        return hit

    def _fn(self, method):
        if self._stub_invoke is not None:
            return None
        return getattr(self._impl, method, None)

    def invoke(self, ctx, call, method, args):
        m = self.methods.get(method)
        if m is None:
            return defer.fail(verror.UnknownMethod.new(f"method does not exist: {method}"))
        if self._stub_invoke is not None:
            return maybe_deferred(self._stub_invoke, ctx, call, method, list(args))
        fn = getattr(self._impl, method, None)
        if fn is None:
            return defer.fail(verror.UnknownMethod.new(f"method does not exist: {method}"))
        d = maybe_deferred(fn, ctx, call, *args)
        n = len(m.out_args)

        def results(r):
            if n == 0:
                return []
            if n == 1:
                return [r]
            if not isinstance(r, (tuple, list)) or len(r) != n:
                raise verror.Internal.new(
                    f"method {method} returned {r!r}, want {n} results")
            return list(r)
        return d.addCallback(results)

    def invoke_direct(self, ctx, call, method, args):
        """Like invoke, but returns the result list itself when the method is synchronous
        (a Deferred or awaitable otherwise): saves a Deferred per call."""
        m = self.methods.get(method)
        impl = self._impl
        fn = getattr(impl, method, None) if (m is not None and impl is not None) else None
        if fn is None:
            return self.invoke(ctx, call, method, args)
        r = fn(ctx, call, *args)
        if _deferred._asyncio_servers:
            r = _deferred.run_user_coroutine(r)   # under v23py.aio: run as an asyncio task
        n = len(m.out_args)
        if n == 1 and (r is None or type(r) in _PLAIN):
            return [r]
        if isinstance(r, defer.Deferred) or inspect.isawaitable(r):
            return maybe_deferred(lambda: r).addCallback(_shape, n, method)
        return _shape(r, n, method)

    def signature(self, ctx, call):
        from v23py.rpc import signature
        if self.descs:
            return signature.from_descs(self.descs)
        return signature.from_descs([InterfaceDesc(
            "", "", signature.EMPTY_INTERFACE_DOC,
            methods=tuple(sorted(self.methods.values(), key=lambda m: m.name)))])

    def method_signature(self, ctx, call, method):
        from v23py.rpc import signature
        m = self.methods.get(method)
        if m is None:
            raise verror.UnknownMethod.new(f"method does not exist: {method}")
        return signature.method_from_desc(m)

    def globber(self):
        g = getattr(self.obj, "globber__", None)
        if g is not None:
            return g()
        impl = self._impl if self._impl is not None else self.obj
        allg = getattr(impl, "Glob__", None)
        chg = getattr(impl, "GlobChildren__", None)
        if allg is None and chg is None:
            return None
        return GlobState(allg, chg)


_PLAIN = frozenset((list, tuple, str, bytes, int, float, bool, dict))


def _shape(r, n, method):
    if n == 0:
        return []
    if n == 1:
        return [r]
    if not isinstance(r, (tuple, list)) or len(r) != n:
        raise verror.Internal.new(f"method {method} returned {r!r}, want {n} results")
    return list(r)


def _plain_desc(name, fn):
    from v23py import vdl
    try:
        params = list(inspect.signature(fn).parameters.values())[2:]
    except (TypeError, ValueError):
        params = []
    in_args = [ArgDesc(p.name, vdl.AnyType) for p in params
               if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return MethodDesc(name, "", tuple(in_args), (ArgDesc("", vdl.AnyType),))


def object_to_invoker(obj):
    if obj is None:
        raise verror.BadArg.new("bad argument: nil object")
    if isinstance(obj, Invoker):
        return obj
    cached = getattr(obj, "_v23_invoker", None)
    if isinstance(cached, Invoker) and cached.obj is obj:
        return cached
    inv = ReflectInvoker(obj)
    try:
        obj._v23_invoker = inv
    except Exception:
        pass
    return inv
