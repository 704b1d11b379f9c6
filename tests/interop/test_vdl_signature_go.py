"""Go's `vrpc` (v0.2.0) against a v23py server built from generated VDL code.

The server serves arith.Calculator from Go's compiler test packages (embeds
across files and packages, tags, streams, named out-args); Go's vrpc must
decode our __Signature / __MethodSignature replies and print the interfaces,
docs and methods that the Go-generated stub would give, and call methods.
"""
import os
import subprocess
import sys
import time

from twisted.trial import unittest

from v23py.testing import ROOT, go_binary, shared_path, start_process, tempdir
from v23py.vdl.compiler import checker, codegen
from v23py.vdl.compiler.build import vdl_files
from v23py.vdl.compiler.parser import parse_file

PFX = "v.io/x/ref/lib/vdl/testdata/"

SERVER = r'''
import sys
from twisted.internet import defer, task
import v23py
from v23py import security
import vdlgen_arith as arith


class Impl:
    def Add(self, ctx, call, a, b):
        return a + b

    def DivMod(self, ctx, call, a, b):
        return divmod(a, b)

    def Sub(self, ctx, call, args):
        return args.A - args.B

    def Mul(self, ctx, call, nested):
        return nested.Args.A * nested.Args.B

    def GenError(self, ctx, call):
        raise v23py.verror.BadArg.new("generated")

    def On(self, ctx, call):
        return None

    def Off(self, ctx, call):
        return None

    def Sine(self, ctx, call, angle):
        return 0.0

    def Cosine(self, ctx, call, angle):
        return 1.0

    def Exp(self, ctx, call, x):
        return 2.0


async def run(reactor, argv):
    ctx, shutdown = v23py.init(argv, flags=v23py.FlagSet("calc"))
    stop = v23py.wait_for_signal(ctx)
    server = await v23py.with_new_server(ctx, "", arith.CalculatorServer(Impl()),
                                         security.default_authorizer())
    print("Listening at: " + str(server.endpoints[0]), flush=True)
    await stop
    await shutdown()


task.react(lambda reactor: defer.ensureDeferred(run(reactor, sys.argv[1:])))
'''


def _module_name(path):
    return "vdlgen_" + path[len(PFX):].replace("/", "_") if path.startswith(PFX) else None


class VrpcSignatureTest(unittest.TestCase):
    async def setUp(self):
        self.vrpc = go_binary("vrpc")
        self.principal = go_binary("principal")
        inputs = shared_path("testdata", "vdl", "inputs")
        self.dir = tempdir(self, "vdlsig")

        def loader(path):
            if path.startswith(PFX):
                d = os.path.join(inputs, path[len(PFX):])
                return d, [parse_file(f) for f in vdl_files(d)], {}
            return None
        env = checker.Env(loader)
        for p in ("base", "arith/exp", "arith"):
            pkg = env.get(PFX + p)
            with open(os.path.join(self.dir, _module_name(PFX + p) + ".py"), "w") as fh:
                fh.write(codegen.generate(pkg, _module_name))
        with open(os.path.join(self.dir, "calc_server.py"), "w") as fh:
            fh.write(SERVER)
        self.creds = os.path.join(self.dir, "creds")
        subprocess.run([self.principal, "create", "--with-passphrase=false", "--overwrite",
                        self.creds, "tester"], check=True, capture_output=True, timeout=60)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([self.dir, ROOT]))
        env.pop("V23_CREDENTIALS", None)
        import shutil
        self.addCleanup(shutil.rmtree, self.dir, True)    # after the server stopped
        _, addr = await start_process(
            self, [sys.executable, os.path.join(self.dir, "calc_server.py"),
                   "--v23.credentials=" + self.creds, "--v23.tcp.address=127.0.0.1:0"],
            "Listening at: ", "calc_server", env=env, text=True)
        self.name = "/" + addr

    def vrpc_run(self, *args):
        p = subprocess.run([self.vrpc, "--v23.credentials=" + self.creds, *args],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        return p.stdout

    def test_signature_and_calls(self):
        out = self.vrpc_run("signature", self.name)
        for needle in (
                'type "v.io/x/ref/lib/vdl/testdata/arith".Calculator interface {',
                'type "v.io/x/ref/lib/vdl/testdata/arith".Arith interface {',
                'type "v.io/x/ref/lib/vdl/testdata/arith".Trigonometry interface {',
                'type "v.io/x/ref/lib/vdl/testdata/arith/exp".Exp interface {',
                "// Trigonometry is an interface that specifies a couple trigonometric functions.",
                "// Add is a typical method with multiple input and output arguments.",
                "Add(a int32, b int32) (int32 | error)",
                "DivMod(a int32, b int32) (quot int32, rem int32 | error)",
                "Count(start int32) stream<_, int32> error",
                "StreamingAdd() stream<int32, int32> (total int32 | error)",
                'Off() error {"offtag"}',
                "Exp(x float64) (float64 | error)"):
            self.assertIn(needle, out)
        self.assertNotIn("AdvancedMath interface", out)   # no own methods: dropped
        self.assertIn("Add(a int32, b int32) (int32 | error)",
                      self.vrpc_run("signature", self.name, "Add"))
        self.assertEqual(self.vrpc_run("call", self.name, "Add", "3", "4").strip(), "int32(7)")
        self.assertEqual(self.vrpc_run("call", self.name, "DivMod", "17", "5").split(),
                         ["int32(3)", "int32(2)"])
