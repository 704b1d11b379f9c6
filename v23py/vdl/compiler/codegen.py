"""Python code generation for checked VDL packages.

The seam between generated code and the RPC layer
=================================================

One generated module per VDL package (written next to the .vdl files, by
default as ``__init__.py``; a package's ``vdl.config``-style file may name a
different module, e.g. ``_vdl.py``).  For ``fortune/ifc`` (the tutorial's
``Fortune`` interface) the module contains, in this order::

    from v23py import vdl
    from v23py.vdl.compiler import runtime as _rt

    # types: one class per named type, registered under the Go wire name
    # (struct -> vdl.Struct subclass, union -> vdl.Union, enum -> vdl.Enum,
    #  named scalars/lists/maps/sets -> subclasses of int/str/list/dict/...)
    # consts: module-level values; error ids: verror.ErrorId objects

    Fortune_desc = _rt.InterfaceDesc(name="Fortune", pkg_path="fortune/ifc", doc="",
        embeds=(), methods=(
            _rt.MethodDesc(name="Get", doc="// Returns a random fortune.",
                           out_args=(_rt.ArgDesc("wisdom", vdl.StringType),)),
            _rt.MethodDesc(name="Add", doc="// Adds a fortune to the set used by Get().",
                           in_args=(_rt.ArgDesc("wisdom", vdl.StringType),)),
        ))

    class FortuneClientStub(_rt.ClientStub):
        def Get(self, ctx, *opts) -> Deferred:            # fires with str
            return self._call(ctx, "Get", (), opts)
        def Add(self, ctx, wisdom: str, *opts) -> Deferred:  # fires with None
            return self._call(ctx, "Add", (wisdom,), opts)

    def FortuneClient(name, client=None) -> FortuneClientStub

    class FortuneServerMethods:       # subclass it; methods may be `async def`
        def Get(self, ctx, call) -> str
        def Add(self, ctx, call, wisdom: str) -> None

    class FortuneServerStub(_rt.ServerStub): _vdl_describe = (Fortune_desc,)
    def FortuneServer(impl) -> FortuneServerStub

Client side (what the RPC layer must provide in ``v23py.rpc``):

* ``client_call(ctx, name, method, args, in_types, out_types, *, desc, opts, client)``
  -> Deferred firing with the **list** of out-values (never the final error;
  ``[]`` when the method returns only an error); errback with a VError.
  ``method`` is the method name, ``args`` the in-values in order, ``in_types``
  / ``out_types`` lists of ``vdl.Type``, ``desc`` the full MethodDesc, ``opts``
  a tuple of call options (passed through untouched), ``client`` an optional
  client object given to ``FortuneClient(name, client)``, else None.
  The stub unwraps: 0 results -> None, 1 -> the value, n -> a tuple.
* ``start_call(...)`` (same arguments), used for methods with a stream:
  Deferred firing with a call object that has ``send(item)``,
  ``close_send()``, ``recv()`` (Deferred; errback ``verror.EOF`` at the end),
  and ``finish()`` (Deferred firing with the list of out-values).
  Generated streaming client methods return exactly that Deferred.

Server side (what the RPC layer may use on ``FortuneServer(impl)``, an
``_rt.ServerStub``):

* ``describe()`` -> list of ``InterfaceDesc`` in Go's ``Describe__`` order
  (the interface, then its transitive embeds, each once).
* ``lookup(method)`` -> ``MethodDesc`` or None: in-arg types to decode the
  arguments, ``tags`` (typed values) for authorizers, stream element types.
* ``invoke(ctx, call, method, args)`` -> Deferred firing with the list of
  out-values; it calls ``impl.<Method>(ctx, call, *args)``, which may return a
  value / tuple / Deferred / coroutine.  For streaming methods ``call`` is
  the RPC layer's server call object (``send``/``recv``), passed through.
* ``signature()`` -> ``[signature.Interface]`` for the object (methods sorted,
  methodless interfaces dropped); the RPC layer appends ``__Reserved`` and
  merges duplicates (CleanInterfaces).  ``method_signature(m)`` ->
  ``signature.Method`` or None.  The ``signature`` classes come from the
  generated ``v23py.vdlroot.signature`` module.
"""
