"""RPC test fixtures: principals, a runtime on loopback, a test interface and a tree of objects."""
from twisted.internet import defer, reactor, task

from v23py import security, vdl, verror
from v23py.rpc import stubs as rt


def make_principal(name):
    p = security.random_principal()
    b = p.bless_self(name)
    p.blessing_store.set_default(b)
    p.blessing_store.set(b, "...")
    p.add_to_roots(b)
    return p, b


def new_runtime(principal):
    from v23py import runtime
    ctx, shutdown = runtime.init(["--v23.tcp.address=127.0.0.1:0", "--v23.tcp.protocol=tcp",
                                  "--v23.namespace.root=/127.0.0.1:1"],
                                 flags=runtime.FlagSet("test"), principal=principal,
                                 exit_on_error=False)
    return ctx, shutdown


class FortuneImpl:
    def __init__(self):
        self.fortunes = ["first"]

    def Get(self, ctx, call):
        return self.fortunes[-1]

    async def Add(self, ctx, call, wisdom):
        self.fortunes.append(wisdom)


# A test interface with streams, several results, errors and deadlines.
Svc_desc = rt.InterfaceDesc(name="Svc", pkg_path="v23py/tests/svc", doc="// Svc tests rpc.",
                            methods=(
    rt.MethodDesc(name="Echo", in_args=(rt.ArgDesc("s", vdl.StringType),),
                  out_args=(rt.ArgDesc("", vdl.StringType),)),
    rt.MethodDesc(name="Pair", in_args=(rt.ArgDesc("a", vdl.Int32Type),
                                        rt.ArgDesc("b", vdl.Int32Type)),
                  out_args=(rt.ArgDesc("sum", vdl.Int32Type), rt.ArgDesc("diff", vdl.Int32Type))),
    rt.MethodDesc(name="Fail", in_args=(rt.ArgDesc("plain", vdl.BoolType),)),
    rt.MethodDesc(name="Sleep", in_args=(rt.ArgDesc("secs", vdl.Float64Type),),
                  out_args=(rt.ArgDesc("", vdl.BoolType),)),
    rt.MethodDesc(name="Sum", in_stream=vdl.Int64Type, out_stream=vdl.Int64Type,
                  out_args=(rt.ArgDesc("total", vdl.Int64Type),)),
    rt.MethodDesc(name="Deadline", out_args=(rt.ArgDesc("", vdl.Float64Type),)),
))


class SvcStub(rt.ServerStub):
    _vdl_describe = (Svc_desc,)


class SvcImpl:
    def __init__(self):
        self.cancelled = defer.Deferred()

    def Echo(self, ctx, call, s):
        return s

    def Pair(self, ctx, call, a, b):
        return a + b, a - b

    def Fail(self, ctx, call, plain):
        if plain:
            raise ValueError("plain failure")
        raise verror.NoExist.new("no such thing")

    async def Sleep(self, ctx, call, secs):
        ctx.on_done(lambda e: self.cancelled.called or self.cancelled.callback(e))
        d = task.deferLater(reactor, secs, lambda: True)
        ctx.on_done(lambda e: d.called or d.cancel())
        try:
            return await d
        except defer.CancelledError:
            # the call's context ended: fail with its error (Timeout or Canceled), so a
            # client whose own deadline fires a moment after the server's -- both come
            # from the same deadline -- gets Timeout either way
            raise ctx.err() or verror.Canceled.new("sleep cancelled") from None

    async def Sum(self, ctx, call):
        total = 0
        async for x in call:
            total += x
            call.send(total)
        return total

    def Deadline(self, ctx, call):
        r = ctx.remaining()
        return -1.0 if r is None else r


class Node:
    """A tree object for the dispatcher test: Echo plus children for __Glob."""

    def __init__(self, name, children=()):
        self.name = name
        self.children = list(children)

    def describe(self):
        return [Svc_desc]

    _vdl_describe = (Svc_desc,)

    def invoke(self, ctx, call, method, args):
        if method == "Echo":
            return defer.succeed([self.name + ":" + args[0]])
        return defer.fail(verror.NotImplemented.new(method))

    def lookup(self, method):
        return Svc_desc.method(method)

    def GlobChildren__(self, ctx, call, matcher):
        return [c for c in self.children if matcher.match(c)]


class TreeDispatcher:
    def __init__(self):
        self.nodes = {"": Node("root", ["a", "b"]), "a": Node("a", ["x"]), "b": Node("b"),
                      "a/x": Node("x")}
        self.nodes["b"].GlobChildren__ = None
        self.nodes["a/x"].GlobChildren__ = None

    async def lookup(self, ctx, suffix):
        node = self.nodes.get(suffix)
        if node is None:
            raise verror.NoExist.new(f"no object at {suffix!r}")
        return node, security.allow_everyone()
