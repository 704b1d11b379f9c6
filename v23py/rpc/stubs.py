"""What generated VDL modules need from RPC: interface descriptors and stub bases.

The generated half of this seam is written down in :mod:`v23py.vdl.compiler.codegen`.

Generated modules describe every interface with :class:`InterfaceDesc` /
:class:`MethodDesc` / :class:`ArgDesc` values (plain data), and derive their
client stubs from :class:`ClientStub` and their server wrappers from
:class:`ServerStub`.  Nothing here knows about sockets.
"""
from __future__ import annotations

import inspect
import re
from dataclasses import dataclass
from typing import Any, Optional, Sequence

from twisted.internet import defer

from v23py import verror
from v23py.v23.vdlroot import signature as _signature

__all__ = ["method_table", "ArgDesc", "MethodDesc", "EmbedDesc", "InterfaceDesc", "ClientStub",
           "ServerStub", "unwrap_results", "interface_signature", "method_signature"]


@dataclass(frozen=True)
class ArgDesc:
    """One in- or out-argument (or stream element) of a method."""
    name: str
    type: Any            # v23py.vdl.Type
    doc: str = ""


@dataclass(frozen=True)
class MethodDesc:
    """One method as declared in VDL.

    ``out_args`` never includes the final ``error``.  ``in_stream`` /
    ``out_stream`` are element types (``v23py.vdl.Type``) or None.  ``tags`` are
    the method's tag constants as typed values (instances of generated classes,
    or ``vdl.value(type, x)`` wrappers for unnamed non-default types).
    """
    name: str
    doc: str = ""
    in_args: tuple = ()
    out_args: tuple = ()
    in_stream: Any = None
    out_stream: Any = None
    tags: tuple = ()

    @property
    def in_types(self) -> list:
        return [a.type for a in self.in_args]

    @property
    def out_types(self) -> list:
        return [a.type for a in self.out_args]

    @property
    def streaming(self) -> bool:
        return self.in_stream is not None or self.out_stream is not None


@dataclass(frozen=True)
class EmbedDesc:
    name: str
    pkg_path: str
    doc: str = ""


@dataclass(frozen=True)
class InterfaceDesc:
    """An interface: its own methods in declaration order, and its direct embeds."""
    name: str
    pkg_path: str
    doc: str = ""
    embeds: tuple = ()
    methods: tuple = ()

    @property
    def full_name(self) -> str:
        return f"{self.pkg_path}.{self.name}" if self.pkg_path else self.name

    def method(self, name: str) -> Optional[MethodDesc]:
        for m in self.methods:
            if m.name == name:
                return m
        return None


def _sig_module():
    return _signature


def method_signature(m: MethodDesc):
    """The ``signature.Method`` value of ``m`` (what ``__MethodSignature`` returns)."""
    sig = _sig_module()

    def arg(a: ArgDesc):
        return sig.Arg(Name=a.name, Doc=a.doc, Type=a.type)

    def stream(t):
        return None if t is None else sig.Arg(Name="", Doc="", Type=t)

    return sig.Method(Name=m.name, Doc=m.doc,
                      InArgs=[arg(a) for a in m.in_args],
                      OutArgs=[arg(a) for a in m.out_args],
                      InStream=stream(m.in_stream), OutStream=stream(m.out_stream),
                      Tags=list(m.tags))


def interface_signature(d: InterfaceDesc):
    """The ``signature.Interface`` value of ``d``: methods sorted by name."""
    sig = _sig_module()
    methods = sorted(d.methods, key=lambda m: m.name.encode())
    return sig.Interface(Name=d.name, PkgPath=d.pkg_path, Doc=d.doc,
                         Embeds=[sig.Embed(Name=e.name, PkgPath=e.pkg_path, Doc=e.doc)
                                 for e in d.embeds],
                         Methods=[method_signature(m) for m in methods])


def method_table(*descs) -> dict:
    """Method name -> MethodDesc over interfaces; the first interface listing a name wins."""
    table = {}
    for d in descs:
        for m in d.methods:
            table.setdefault(m.name, m)
    return table


def unwrap_results(values: Sequence, n: int):
    """Client-side shape of results: None for 0, the value for 1, a tuple for more."""
    values = list(values)
    if n == 0:
        return None
    if n == 1:
        return values[0]
    return tuple(values)


class ClientStub:
    """Base of generated ``<Iface>ClientStub`` classes.

    Subclasses set ``_vdl_methods`` (method name -> MethodDesc, embedded
    interfaces included) and ``_vdl_interface`` (their own InterfaceDesc).
    """
    _vdl_methods: dict = {}
    _vdl_interface: Optional[InterfaceDesc] = None

    def __init__(self, name: str, client=None):
        self.name = name
        self.client = client

    def __repr__(self):
        return f"{type(self).__name__}({self.name!r})"

    def _call(self, ctx, method: str, args: Sequence, opts: Sequence = ()):
        """Run a non-streaming method; Deferred firing with the unwrapped results."""
        from v23py import rpc
        desc = self._vdl_methods[method]
        d = rpc.client_call(ctx, self.name, desc.name, list(args), desc.in_types,
                            desc.out_types, desc=desc, opts=tuple(opts), client=self.client)
        return d.addCallback(unwrap_results, len(desc.out_args))

    def _start(self, ctx, method: str, args: Sequence, opts: Sequence = ()):
        """Start a streaming method; Deferred firing with the RPC layer's ClientCall."""
        from v23py import rpc
        desc = self._vdl_methods[method]
        return rpc.start_call(ctx, self.name, desc.name, list(args), desc.in_types,
                              desc.out_types, desc=desc, opts=tuple(opts), client=self.client)


class ServerStub:
    """Base of generated ``<Iface>ServerStub`` classes (what ``<Iface>Server(impl)`` returns).

    Subclasses set ``_vdl_describe``: the InterfaceDescs in Go's Describe__
    order (the interface itself, then its transitive embeds, each once).
    """
    _vdl_describe: tuple = ()

    def __init__(self, impl):
        self.impl = impl
        self._methods = {}
        for iface in self._vdl_describe:
            for m in iface.methods:
                self._methods.setdefault(m.name, m)

    def __repr__(self):
        return f"{type(self).__name__}({self.impl!r})"

    def describe(self) -> list:
        """InterfaceDescs of the object, in Go's Describe__ order."""
        return list(self._vdl_describe)

    def lookup(self, method: str) -> Optional[MethodDesc]:
        """The MethodDesc of ``method`` (in-arg types, tags, streams), or None."""
        return self._methods.get(method)

    def signature(self) -> list:
        """``[]signature.Interface`` of the object, without the reserved interface.

        Interfaces without own methods are dropped, as Go's reflect invoker does.
        """
        return [interface_signature(d) for d in self._vdl_describe if d.methods]

    def method_signature(self, method: str):
        m = self.lookup(method)
        return None if m is None else method_signature(m)

    def invoke(self, ctx, call, method: str, args: Sequence):
        """Run ``impl.<method>(ctx, call, *args)``.

        Returns a Deferred firing with the list of out-values (no error);
        the implementation may return a plain value, a tuple (several
        out-args), a Deferred or a coroutine.  Errors arrive as errbacks.
        """
        m = self._methods.get(method)
        if m is None:
            return defer.fail(verror.UnknownMethod.new(method))
        fn = getattr(self.impl, m.name)

        def run():
            r = fn(ctx, call, *args)
            if inspect.isawaitable(r) and not isinstance(r, defer.Deferred):
                return defer.ensureDeferred(r)
            return r

        n = len(m.out_args)

        def shape(r):
            if n == 0:
                return []
            if n == 1:
                return [r]
            r = list(r)
            if len(r) != n:
                raise ValueError(f"{method} must return {n} values, got {len(r)}")
            return r

        return defer.maybeDeferred(run).addCallback(shape)
