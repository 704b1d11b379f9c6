"""What generated VDL modules need from RPC: interface descriptors and stub bases.

The generated half of this seam is written down in :mod:`v23py.vdl.compiler.codegen`.

Generated modules describe every interface with :class:`InterfaceDesc` /
:class:`MethodDesc` / :class:`ArgDesc` values (plain data), and derive their
client stubs from :class:`ClientStub` and their server wrappers from
:class:`ServerStub`.  Nothing here knows about sockets.
"""
from __future__ import annotations

import inspect
from typing import (Any, AsyncIterator, Awaitable, Generic, Optional, Protocol, Sequence,
                    TypeVar, Union)

from twisted.internet import defer

from v23py import verror
from v23py.context import Context
from v23py.deferred import AwaitableDeferred, adopt, run_user_coroutine
from v23py.records import FrozenRecord
from v23py.v23.vdlroot import signature as _signature

__all__ = ["method_table", "ArgDesc", "MethodDesc", "EmbedDesc", "InterfaceDesc", "ClientStub",
           "ServerStub", "unwrap_results", "interface_signature", "method_signature",
           "Context", "Result", "Reply", "ServerCall", "ServerSendStream", "ServerRecvStream",
           "ServerBidiStream", "ClientRecvStream", "ClientSendStream", "ClientBidiStream"]

_T = TypeVar("_T")
_R = TypeVar("_R")
_In = TypeVar("_In")
_Out = TypeVar("_Out")
_In_co = TypeVar("_In_co", covariant=True)
_Out_contra = TypeVar("_Out_contra", contravariant=True)

#: What a generated client method returns: ``await`` it from Twisted or asyncio code.
Result = AwaitableDeferred
#: What a server method may return: the value itself, or an awaitable of it
#: (``async def``, a Deferred).
Reply = Union[_T, Awaitable[_T]]


class ArgDesc(FrozenRecord):
    """One in- or out-argument (or stream element) of a method."""
    _fields = ("name", "type", "doc")
    name: str
    type: Any            # v23py.vdl.Type
    doc: str

    def __init__(self, name: str, type: Any, doc: str = "") -> None:
        self._set(name=name, type=type, doc=doc)


class MethodDesc(FrozenRecord):
    """One method as declared in VDL.

    ``out_args`` never includes the final ``error``.  ``in_stream`` /
    ``out_stream`` are element types (``v23py.vdl.Type``) or None.  ``tags`` are
    the method's tag constants as typed values (instances of generated classes,
    or ``vdl.value(type, x)`` wrappers for unnamed non-default types).
    """
    _fields = ("name", "doc", "in_args", "out_args", "in_stream", "out_stream", "tags")
    name: str
    doc: str
    in_args: tuple[ArgDesc, ...]
    out_args: tuple[ArgDesc, ...]
    in_stream: Any
    out_stream: Any
    tags: tuple[Any, ...]
    _arg_types: tuple[tuple[Any, ...], tuple[Any, ...]]   # (in types, out types)

    def __init__(self, name: str, doc: str = "", in_args: tuple[ArgDesc, ...] = (),
                 out_args: tuple[ArgDesc, ...] = (), in_stream: Any = None,
                 out_stream: Any = None, tags: tuple[Any, ...] = ()) -> None:
        self._set(name=name, doc=doc, in_args=in_args, out_args=out_args,
                  in_stream=in_stream, out_stream=out_stream, tags=tags)
        # (the argument types as tuples, made once: a generated stub passes them on every call)
        self.__dict__["_arg_types"] = (tuple(a.type for a in in_args),
                                       tuple(a.type for a in out_args))

    @property
    def in_types(self) -> list[Any]:
        """The in-arguments' ``vdl.Type`` values."""
        return [a.type for a in self.in_args]

    @property
    def out_types(self) -> list[Any]:
        """The out-arguments' ``vdl.Type`` values."""
        return [a.type for a in self.out_args]

    @property
    def streaming(self) -> bool:
        """Whether the method has an input or output stream."""
        return self.in_stream is not None or self.out_stream is not None


class EmbedDesc(FrozenRecord):
    """An interface embedded in another."""
    _fields = ("name", "pkg_path", "doc")
    name: str
    pkg_path: str
    doc: str

    def __init__(self, name: str, pkg_path: str, doc: str = "") -> None:
        self._set(name=name, pkg_path=pkg_path, doc=doc)


class InterfaceDesc(FrozenRecord):
    """An interface: its own methods in declaration order, and its direct embeds."""
    _fields = ("name", "pkg_path", "doc", "embeds", "methods")
    name: str
    pkg_path: str
    doc: str
    embeds: tuple[EmbedDesc, ...]
    methods: tuple[MethodDesc, ...]

    def __init__(self, name: str, pkg_path: str, doc: str = "",
                 embeds: tuple[EmbedDesc, ...] = (), methods: tuple[MethodDesc, ...] = ()) -> None:
        self._set(name=name, pkg_path=pkg_path, doc=doc, embeds=embeds, methods=methods)

    @property
    def full_name(self) -> str:
        """``<package path>.<name>``."""
        return f"{self.pkg_path}.{self.name}" if self.pkg_path else self.name

    def method(self, name: str) -> Optional[MethodDesc]:
        """The interface's own method called ``name``, or None."""
        for m in self.methods:
            if m.name == name:
                return m
        return None


def method_signature(m: MethodDesc) -> _signature.Method:
    """The ``signature.Method`` value of ``m`` (what ``__MethodSignature`` returns)."""
    sig = _signature

    def arg(a: ArgDesc) -> _signature.Arg:
        return sig.Arg(Name=a.name, Doc=a.doc, Type=a.type)

    def stream(t: Any) -> Optional[_signature.Arg]:
        return None if t is None else sig.Arg(Name="", Doc="", Type=t)

    return sig.Method(Name=m.name, Doc=m.doc,
                      InArgs=[arg(a) for a in m.in_args],
                      OutArgs=[arg(a) for a in m.out_args],
                      InStream=stream(m.in_stream), OutStream=stream(m.out_stream),
                      Tags=list(m.tags))


def interface_signature(d: InterfaceDesc) -> _signature.Interface:
    """The ``signature.Interface`` value of ``d``: methods sorted by name."""
    sig = _signature
    methods = sorted(d.methods, key=lambda m: m.name.encode())
    return sig.Interface(Name=d.name, PkgPath=d.pkg_path, Doc=d.doc,
                         Embeds=[sig.Embed(Name=e.name, PkgPath=e.pkg_path, Doc=e.doc)
                                 for e in d.embeds],
                         Methods=[method_signature(m) for m in methods])


def method_table(*descs: InterfaceDesc) -> dict[str, MethodDesc]:
    """Method name -> MethodDesc over interfaces; the first interface listing a name wins."""
    table: dict[str, MethodDesc] = {}
    for d in descs:
        for m in d.methods:
            table.setdefault(m.name, m)
    return table


def unwrap_results(values: Sequence[Any], n: int) -> Any:
    """Client-side shape of results: None for 0, the value for 1, a tuple for more."""
    values = list(values)
    if n == 0:
        return None
    if n == 1:
        return values[0]
    return tuple(values)


def _rpc() -> Any:
    from v23py import rpc   # (v23py.rpc's model imports this module)
    return rpc


def _first(values: Sequence[Any]) -> Any:
    return values[0]   # (unwrap_results of one result)


# -- the server's view of a call ---------------------------------------------------

class ServerCall(Protocol):
    """What a server method gets as ``call`` (the runtime's ``ServerCall``)."""

    suffix: str
    method: str

    @property
    def security(self) -> Any:
        """The ``v23py.security.Call`` of this RPC (blessings, method tags, ...)."""

    @property
    def remote_blessings(self) -> Any:
        """The client's blessings (``v23py.security.Blessings``)."""


class ServerSendStream(ServerCall, Protocol[_Out_contra]):
    """``call`` of a method with an output stream: ``send`` the items."""

    def send(self, item: _Out_contra) -> Any:
        """Stream one item to the client (a Deferred: wait on it to follow flow control)."""


class ServerRecvStream(ServerCall, Protocol[_In_co]):
    """``call`` of a method with an input stream: ``recv`` or ``async for`` the items."""

    def recv(self) -> Awaitable[_In_co]:
        """The next item; fails with ``verror.EOF`` after the last one."""

    def __aiter__(self) -> AsyncIterator[_In_co]:
        """Iterate the items until the client closes its stream."""


class ServerBidiStream(ServerSendStream[_Out_contra], ServerRecvStream[_In_co],
                       Protocol[_In_co, _Out_contra]):
    """``call`` of a method with streams both ways."""


# -- the client's view of a streaming call -----------------------------------------

class _ClientStream(Generic[_R]):
    """A streaming call in progress (see the subclasses); ``finish`` ends it."""

    __slots__ = ("call", "_n")

    def __init__(self, call: Any, n_results: int) -> None:
        #: The RPC layer's call object (``v23py.runtime.client.ClientCall``).
        self.call = call
        self._n = n_results

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.call!r})"

    def finish(self) -> AwaitableDeferred[_R]:
        """Wait for the results, shaped as a unary call's: None, the value, or a tuple.

        Closes our side of the stream first; fails with the call's error.
        """
        d: AwaitableDeferred[Any] = adopt(self.call.finish())
        d.addCallback(unwrap_results, self._n)
        return d

    def cancel(self) -> None:
        """Abandon the call (the server sees it cancelled)."""
        self.call.cancel()

    @property
    def remote_blessings(self) -> Any:
        """The server's blessings."""
        return self.call.remote_blessings


class ClientRecvStream(_ClientStream[_R], Generic[_Out, _R]):
    """A call whose server streams items back: ``async for item in call``."""

    __slots__ = ()

    def recv(self) -> AwaitableDeferred[_Out]:
        """The next item; fails with ``verror.EOF`` after the last one."""
        return adopt(self.call.recv())

    def keep_any_raw(self) -> None:
        """Items received from now on hold each ``any`` as a vom.RawBytes (the contents'
        type and single-shot encoding) instead of its value, as Go's ``*vom.RawBytes`` does:
        for a reader that stores what it receives.  (A call that cannot gives values.)"""
        keep = getattr(self.call, "keep_any_raw", None)
        if keep is not None:
            keep()

    def recv_buffered(self, limit: int = 1 << 62) -> list[_Out]:
        """The items already here and decodable now, at most ``limit`` (maybe none),
        without waiting: what as many ``recv()`` calls would give, for a reader that
        drains a long stream; the end of the stream and errors are left to ``recv()``."""
        take = getattr(self.call, "recv_buffered", None)
        return take(limit) if take is not None else []

    def __aiter__(self) -> ClientRecvStream[_Out, _R]:
        return self

    def __anext__(self) -> AwaitableDeferred[_Out]:
        d: AwaitableDeferred[_Out] = adopt(self.call.recv())
        d.addErrback(stop_at_eof)
        return d


class ClientSendStream(_ClientStream[_R], Generic[_In, _R]):
    """A call that streams items to the server: ``send`` them, then ``finish``."""

    __slots__ = ()

    def send(self, item: _In) -> AwaitableDeferred[None]:
        """Stream one item; the Deferred fires once it is written (flow control)."""
        return adopt(self.call.send(item))

    def close_send(self) -> None:
        """Tell the server no more items come (``finish`` does it too)."""
        self.call.close_send()


class ClientBidiStream(ClientSendStream[_In, _R], ClientRecvStream[_Out, _R],
                       Generic[_In, _Out, _R]):
    """A call with streams both ways."""

    __slots__ = ()


async def _await(a: Awaitable[_T]) -> _T:
    return await a


def stop_at_eof(f: Any) -> Any:
    """Errback ending an ``async for`` over a stream at its ``verror.EOF``."""
    if f.check(verror.VError) and f.value.id == verror.EOF.id:
        raise StopAsyncIteration
    return f


class ClientStub:
    """Base of generated ``<Iface>ClientStub`` classes.

    Subclasses set ``_vdl_methods`` (method name -> MethodDesc, embedded
    interfaces included) and ``_vdl_interface`` (their own InterfaceDesc).
    """
    _vdl_methods: dict[str, MethodDesc] = {}
    _vdl_interface: Optional[InterfaceDesc] = None

    def __init__(self, name: str, client: Any = None) -> None:
        self.name = name
        self.client = client

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"

    def _call(self, ctx: Context, method: str, args: Sequence[Any],
              opts: Sequence[object] = ()) -> AwaitableDeferred[Any]:
        """Run a non-streaming method; fires with the unwrapped results."""
        desc = self._vdl_methods[method]
        client = self.client
        if client is None:
            client = _rpc().get_client(ctx)
        # (rpc.client_call's work, in line: this is every generated unary call)
        cd = getattr(client, "call_deferred", None)
        n = len(desc.out_args)
        if cd is not None:
            in_types, out_types = desc._arg_types
            d: AwaitableDeferred[Any] = adopt(cd(
                ctx, self.name, desc.name, list(args), in_types, out_types,
                desc=desc, opts=tuple(opts), first=n == 1))
            if n == 1:
                return d   # (the client unwrapped the one result: no callback per call)
        else:
            d = adopt(_rpc().client_call(
                ctx, self.name, desc.name, list(args), desc.in_types, desc.out_types,
                desc=desc, opts=tuple(opts), client=client))
        if n == 1:
            d.addCallback(_first)
        else:
            d.addCallback(unwrap_results, n)
        return d

    def _start(self, ctx: Context, method: str, args: Sequence[Any], opts: Sequence[object],
               stream: type[_T]) -> AwaitableDeferred[_T]:
        """Start a streaming method; fires with a ``stream`` over the RPC layer's call."""
        from v23py import rpc
        desc = self._vdl_methods[method]
        d: AwaitableDeferred[_T] = adopt(rpc.start_call(  # type: ignore[no-untyped-call]
            ctx, self.name, desc.name, list(args), desc.in_types, desc.out_types, desc=desc,
            opts=tuple(opts), client=self.client))
        d.addCallback(stream, len(desc.out_args))
        return d


class ServerStub:
    """Base of generated ``<Iface>ServerStub`` classes (what ``<Iface>Server(impl)`` returns).

    Subclasses set ``_vdl_describe``: the InterfaceDescs in Go's ``Describe__``
    order (the interface itself, then its transitive embeds, each once).
    """
    _vdl_describe: tuple[InterfaceDesc, ...] = ()

    def __init__(self, impl: Any) -> None:
        self.impl = impl
        self._methods: dict[str, MethodDesc] = {}
        for iface in self._vdl_describe:
            for m in iface.methods:
                self._methods.setdefault(m.name, m)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.impl!r})"

    def describe(self) -> list[InterfaceDesc]:
        """InterfaceDescs of the object, in Go's ``Describe__`` order."""
        return list(self._vdl_describe)

    def lookup(self, method: str) -> Optional[MethodDesc]:
        """The MethodDesc of ``method`` (in-arg types, tags, streams), or None."""
        return self._methods.get(method)

    def signature(self) -> list[_signature.Interface]:
        """``[]signature.Interface`` of the object, without the reserved interface.

        Interfaces without own methods are dropped, as Go's reflect invoker does.
        """
        return [interface_signature(d) for d in self._vdl_describe if d.methods]

    def method_signature(self, method: str) -> Optional[_signature.Method]:
        """The ``signature.Method`` of ``method``, or None."""
        m = self.lookup(method)
        return None if m is None else method_signature(m)

    def invoke(self, ctx: Context, call: Any, method: str,
               args: Sequence[Any]) -> defer.Deferred[list[Any]]:
        """Run ``impl.<method>(ctx, call, *args)``.

        Returns a Deferred firing with the list of out-values (no error);
        the implementation may return a plain value, a tuple (several
        out-args), a Deferred or a coroutine.  Errors arrive as errbacks.
        """
        m = self._methods.get(method)
        if m is None:
            return defer.fail(verror.UnknownMethod.new(method))
        fn = getattr(self.impl, m.name)

        def run() -> Any:
            r = run_user_coroutine(fn(ctx, call, *args))
            if inspect.isawaitable(r) and not isinstance(r, defer.Deferred):
                return defer.ensureDeferred(_await(r))
            return r

        n = len(m.out_args)

        def shape(r: Any) -> list[Any]:
            if n == 0:
                return []
            if n == 1:
                return [r]
            out = list(r)
            if len(out) != n:
                raise ValueError(f"{method} must return {n} values, got {len(out)}")
            return out

        return defer.maybeDeferred(run).addCallback(shape)
