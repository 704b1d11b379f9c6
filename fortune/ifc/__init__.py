"""fortune/ifc: the tutorial's Fortune interface (VDL package path "fortune/ifc").

Written by hand in the shape the VDL compiler generates (see
v23py.vdl.compiler.codegen); regenerate from fortune.vdl with
``vdl generate --lang python fortune/ifc`` once the generator is available.
"""
from v23py import vdl
from v23py.vdl.compiler import runtime as _rt

Fortune_desc = _rt.InterfaceDesc(
    name="Fortune", pkg_path="fortune/ifc", doc="", embeds=(), methods=(
        _rt.MethodDesc(name="Get", doc="// Returns a random fortune.",
                       out_args=(_rt.ArgDesc("wisdom", vdl.StringType),)),
        _rt.MethodDesc(name="Add", doc="// Adds a fortune to the set used by Get().",
                       in_args=(_rt.ArgDesc("wisdom", vdl.StringType),)),
    ))


class FortuneClientStub(_rt.ClientStub):
    _vdl_methods = {m.name: m for m in Fortune_desc.methods}
    _vdl_interface = Fortune_desc

    def Get(self, ctx, *opts):
        return self._call(ctx, "Get", (), opts)

    def Add(self, ctx, wisdom, *opts):
        return self._call(ctx, "Add", (wisdom,), opts)


def FortuneClient(name, client=None):
    return FortuneClientStub(name, client)


class FortuneServerMethods:
    def Get(self, ctx, call):
        raise NotImplementedError

    def Add(self, ctx, call, wisdom):
        raise NotImplementedError


class FortuneServerStub(_rt.ServerStub):
    _vdl_describe = (Fortune_desc,)


def FortuneServer(impl):
    return FortuneServerStub(impl)
