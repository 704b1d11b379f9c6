"""Generated stubs and the runtime seam (v23py.vdl.compiler.runtime) in-process."""
from twisted.internet import defer
from twisted.trial import unittest

from v23py import vdl, verror
from v23py.vdl.compiler import checker, codegen
from v23py.vdl.compiler.parser import parse_file

SRC = """package calc

type Tag string
const Reader = Tag("R")

// Calc does sums.
type Calc interface {
	// Add adds.
	Add(a, b int32) (int32 | error) {Reader}
	DivMod(a, b int32) (quot, rem int32 | error)
	Reset() error
	Count(start int32) stream<_, int32> error
}
"""


def _module():
    env = checker.Env()
    pkg = env.compile("example/calc", [parse_file("calc.vdl", SRC)])
    ns = {"__name__": "example_calc"}
    exec(compile(codegen.generate(pkg, lambda p: None), "example_calc", "exec"), ns)
    return ns


class FakeClient:
    def __init__(self, results):
        self.results = results
        self.calls = []

    async def call(self, ctx, name, method, args, in_types, out_types, desc=None, opts=()):
        self.calls.append((name, method, args, in_types, out_types, desc, opts))
        return self.results

    async def start_call(self, ctx, name, method, args, in_types, out_types, desc=None, opts=()):
        self.calls.append((name, method, args))
        return FakeCall(self.results)


class FakeCall:
    """The RPC layer's streaming call: recv() gives items then fails with EOF; finish()
    gives the list of results."""

    def __init__(self, results, items=(1, 2, 3)):
        self.results = results
        self.items = list(items)

    def recv(self):
        if self.items:
            return defer.succeed(self.items.pop(0))
        return defer.fail(verror.EOF.new("EOF"))

    def finish(self):
        return defer.succeed(self.results)


class ClientStubTest(unittest.TestCase):
    def setUp(self):
        self.m = _module()

    @defer.inlineCallbacks
    def test_single_result(self):
        fake = FakeClient([5])
        c = self.m["CalcClient"]("/host:1/calc", fake)
        r = yield c.Add(None, 2, 3)
        self.assertEqual(r, 5)
        name, method, args, in_types, out_types, desc, opts = fake.calls[0]
        self.assertEqual((name, method, args), ("/host:1/calc", "Add", [2, 3]))
        self.assertEqual(in_types, [vdl.Int32Type, vdl.Int32Type])
        self.assertEqual(out_types, [vdl.Int32Type])
        self.assertEqual(desc.tags, (self.m["Reader"],))

    @defer.inlineCallbacks
    def test_result_shapes(self):
        c = self.m["CalcClient"]("n", FakeClient([7, 1]))
        self.assertEqual((yield c.DivMod(None, 15, 2)), (7, 1))
        c = self.m["CalcClient"]("n", FakeClient([]))
        self.assertIsNone((yield c.Reset(None)))

    @defer.inlineCallbacks
    def test_streaming_uses_start_call(self):
        fake = FakeClient([])
        c = self.m["CalcClient"]("n", fake)
        call = yield c.Count(None, 3)
        self.assertIsInstance(call, self.m["CalcCountClientCall"])
        self.assertEqual(fake.calls, [("n", "Count", [3])])

    @defer.inlineCallbacks
    def test_stream_items_and_finish_shaped_as_unary_results(self):
        # finish() gives what a unary call would: the value itself for one result,
        # None for none (the RPC layer's call gives a list)
        m = self.m
        for results, want in (([11], 11), ([], None), ([7, 1], (7, 1))):
            call = m["CalcCountClientCall"](FakeCall(results), len(results))
            got = yield defer.ensureDeferred(_collect(call))
            self.assertEqual(got, [1, 2, 3])
            self.assertEqual((yield call.finish()), want)

    def test_stream_types_are_named_per_method(self):
        from v23py.rpc import stubs
        self.assertTrue(issubclass(self.m["CalcCountClientCall"], stubs.ClientRecvStream))
        self.assertIn("CalcCountServerCall", self.m["__all__"])


async def _collect(call):
    return [x async for x in call]


class Impl:
    def Add(self, ctx, call, a, b):
        return a + b

    async def DivMod(self, ctx, call, a, b):
        return divmod(a, b)

    def Reset(self, ctx, call):
        raise verror.NoAccess.new("no")

    def Count(self, ctx, call, start):
        return defer.succeed(None)


class ServerStubTest(unittest.TestCase):
    def setUp(self):
        self.m = _module()
        self.s = self.m["CalcServer"](Impl())

    @defer.inlineCallbacks
    def test_invoke(self):
        self.assertEqual((yield self.s.invoke(None, None, "Add", [2, 3])), [5])
        self.assertEqual((yield self.s.invoke(None, None, "DivMod", [7, 2])), [3, 1])
        self.assertEqual((yield self.s.invoke(None, None, "Count", [1])), [])

    @defer.inlineCallbacks
    def test_errors(self):
        with self.assertRaises(verror.VError) as cm:
            yield self.s.invoke(None, None, "Reset", [])
        self.assertEqual(cm.exception.id, verror.NoAccess.id)
        with self.assertRaises(verror.VError) as cm:
            yield self.s.invoke(None, None, "Nope", [])
        self.assertEqual(cm.exception.id, verror.UnknownMethod.id)

    def test_describe_lookup_signature(self):
        self.assertEqual([d.name for d in self.s.describe()], ["Calc"])
        m = self.s.lookup("Count")
        self.assertEqual((m.in_stream, m.out_stream), (None, vdl.Int32Type))
        sig = self.s.signature()
        self.assertEqual([x.Name for x in sig[0].Methods], ["Add", "Count", "DivMod", "Reset"])
        self.assertEqual(sig[0].Doc, "// Calc does sums.")
        self.assertEqual([a.Name for a in sig[0].Methods[2].OutArgs], ["quot", "rem"])
        self.assertEqual(self.s.method_signature("Add").Tags, [self.m["Reader"]])
        self.assertIsNone(self.s.method_signature("Nope"))

    def test_server_methods_base(self):
        base = self.m["CalcServerMethods"]()
        with self.assertRaises(verror.VError):
            base.Reset(None, None)
