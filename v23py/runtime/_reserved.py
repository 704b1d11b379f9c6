"""The reserved methods every server answers: __Signature, __MethodSignature and __Glob
(a suffix's object is found through the server's dispatchers)."""
from twisted.internet import defer

from v23py import verror
from v23py.rpc import signature as sigmod
from v23py.rpc import wire
from v23py.rpc.model import maybe_deferred, object_to_invoker
from v23py.runtime import _glob as _globmod


class _ReservedInvoker:
    def __init__(self, server, suffix):
        self.server = server
        self.suffix = suffix

    _ARGS = {"Signature": 0, "MethodSignature": 1, "Glob": 1}

    def prepare(self, ctx, method, num_args):
        from v23py import vdl
        if method not in self._ARGS:
            raise verror.UnknownMethod.new(f"method does not exist: __{method}")
        return [vdl.StringType] * self._ARGS[method], []

    def method_desc(self, method):
        from v23py.rpc.model import ArgDesc, MethodDesc
        from v23py import vdl
        if method == "Signature":
            return MethodDesc("Signature", out_args=(ArgDesc("", wire.SigInterfaceListType),))
        if method == "MethodSignature":
            return MethodDesc("MethodSignature", in_args=(ArgDesc("method", vdl.StringType),),
                              out_args=(ArgDesc("", wire.SigMethodType),))
        if method == "Glob":
            return MethodDesc("Glob", in_args=(ArgDesc("pattern", vdl.StringType),),
                              in_stream=vdl.AnyType, out_stream=wire.GlobReplyType)
        return None

    def invoke(self, ctx, call, method, args):
        if method == "Signature":
            return defer.ensureDeferred(self._signature(ctx, call))
        if method == "MethodSignature":
            return defer.ensureDeferred(self._method_signature(ctx, call, args[0]))
        if method == "Glob":
            return defer.ensureDeferred(self._glob(ctx, call, args[0]))
        return defer.fail(verror.UnknownMethod.new(f"method does not exist: __{method}"))

    def _disp(self):
        s = self.server
        return s.reserved_dispatcher if self.suffix.startswith("__") else s.dispatcher

    async def _object(self, ctx, err):
        disp = self._disp()
        if disp is None:
            raise err
        obj, _ = await self.server._dispatch(disp, ctx, self.suffix)
        if obj is None:
            raise err
        return object_to_invoker(obj)

    async def _signature(self, ctx, call):
        inv = await self._object(ctx, verror.UnknownSuffix.new(
            f"suffix does not exist: {self.suffix}"))
        sig = await maybe_deferred(inv.signature, ctx, call)
        ifaces = list(sig) + [sigmod.reserved_interface()]
        return [sigmod.clean_interfaces(ifaces)]

    async def _method_signature(self, ctx, call, method):
        if method.startswith("__"):
            name = method[2:]
            for m in sigmod.reserved_methods():
                if m.Name == name:
                    return [m]
            raise verror.UnknownMethod.new(f"method does not exist: {method}")
        inv = await self._object(ctx, verror.UnknownMethod.new(
            "method does not exist: __MethodSignature"))
        m = await maybe_deferred(inv.method_signature, ctx, call, method)
        if m is None:
            raise verror.UnknownMethod.new(f"method does not exist: {method}")
        return [m]

    async def _glob(self, ctx, call, pattern):
        await _globmod.serve_glob(self.server, ctx, call, self.suffix, pattern)
        return []

    def signature(self, ctx, call):
        return [sigmod.reserved_interface()]

    def method_signature(self, ctx, call, method):
        for m in sigmod.reserved_methods():
            if m.Name == method:
                return m
        return None

    def globber(self):
        return None
