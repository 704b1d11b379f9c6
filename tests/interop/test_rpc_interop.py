"""RPC interop with Go Vanadium v0.2.0.

* Go's ``vrpc`` (signature, method signature, call Get/Add, identify) against
  our ``fortune-server`` run with credentials made by Go's ``principal``.
* Our ``vrpc`` and our client library against Go's ``mounttabled``.
* NoAccess both ways: a Go client refused by our server's default
  authorizer, and our client refused by a Go mounttabled's permissions.
"""
import json
import os
import subprocess
import sys
import tempfile

from twisted.internet import defer, reactor, task, utils
from twisted.trial import unittest

from v23py.testing import ROOT, go_binary, tempdir
from v23py.testing.procs import ENV, spawn

FORTUNES = ['"You will reach the heights of success."',
            '"Conquer your fears or they will conquer you."',
            '"Today is your lucky day!"']

FORTUNE_SIGNATURE = '''type "fortune/ifc".Fortune interface {
\t// Adds a fortune to the set used by Get().
\tAdd(wisdom string) error
\t// Returns a random fortune.
\tGet() (wisdom string | error)
}
'''


def run(args, env=ENV):
    return utils.getProcessOutputAndValue(args[0], args[1:], env=env, path=ROOT)


def go_principal(*args):
    r = subprocess.run([go_binary("principal"), *args], capture_output=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError(f"principal {args} failed: {r.stderr.decode()}")
    return r.stdout


_CREDS = {}


def go_creds():
    """Credentials made once by Go's principal: basics; root; srv and cli blessed by root
    as root:server and root:client (strangers to each other for the default authorizer)."""
    if "dir" not in _CREDS:
        dir = tempfile.mkdtemp(prefix="rpc-interop-")
        for n in ("basics", "root", "srv", "cli"):
            go_principal("create", "--with-passphrase=false", os.path.join(dir, n), n)
        for blessee, ext in (("srv", "server"), ("cli", "client")):
            b = go_principal("bless", "--v23.credentials", os.path.join(dir, "root"),
                             "--for=24h", os.path.join(dir, blessee), ext)
            path = os.path.join(dir, blessee + ".blessing")
            with open(path, "wb") as f:
                f.write(b)
            creds = os.path.join(dir, blessee)
            go_principal("--v23.credentials", creds, "set", "default", path)
            go_principal("--v23.credentials", creds, "set", "forpeer", path, "...")
        _CREDS["dir"] = dir
    return _CREDS["dir"]


class GoClientOurServer(unittest.TestCase):
    timeout = 120

    @defer.inlineCallbacks
    def setUp(self):
        self.vrpc = go_binary("vrpc")
        go_binary("principal")
        self.dir = go_creds()
        self.creds = os.path.join(self.dir, "basics")
        epfile = os.path.join(tempdir(self, "rpc-ep-"), "server.txt")
        d, _ = spawn(self, [sys.executable, "-m", "fortune.server", "--v23.credentials",
                            self.creds, "--endpoint-file-name", epfile,
                            "--v23.tcp.address", "127.0.0.1:0"], "Listening at:")
        yield d.ready
        self.name = open(epfile).read().strip()

    @defer.inlineCallbacks
    def go_vrpc(self, *args, creds=None):
        out, err, code = yield run([self.vrpc, "--v23.credentials", creds or self.creds, *args])
        return out.decode(), err.decode(), code

    @defer.inlineCallbacks
    def test_signature(self):
        out, err, code = yield self.go_vrpc("signature", self.name)
        self.assertEqual((out, code), (FORTUNE_SIGNATURE, 0), err)

    @defer.inlineCallbacks
    def test_signature_insecure_without_shared_creds(self):
        out, err, code = yield run([self.vrpc, "--v23.credentials",
                                    os.path.join(self.dir, "root"), "signature", "-insecure",
                                    self.name])
        self.assertEqual((out.decode(), code), (FORTUNE_SIGNATURE, 0), err)

    @defer.inlineCallbacks
    def test_method_signatures(self):
        out, err, code = yield self.go_vrpc("signature", self.name, "Add")
        self.assertEqual((out, code), ("// Adds a fortune to the set used by Get().\n"
                                       "Add(wisdom string) error\n", 0), err)
        out, err, code = yield self.go_vrpc("signature", self.name, "Get")
        self.assertEqual((out, code), ("// Returns a random fortune.\n"
                                       "Get() (wisdom string | error)\n", 0), err)

    @defer.inlineCallbacks
    def test_show_reserved_equals_ours(self):
        out, err, code = yield self.go_vrpc("signature", "--show-reserved", self.name)
        self.assertEqual(code, 0, err)
        self.assertIn("type __Reserved interface {\n", out)
        self.assertIn('\t__Signature() ([]"signature".Interface | error)\n', out)
        ours, err2, code2 = yield run([sys.executable, "-m", "v23py.cmd.vrpc", "--v23.credentials",
                                       self.creds, "signature", "--show-reserved", self.name])
        self.assertEqual((ours.decode(), code2), (out, 0), err2)

    @defer.inlineCallbacks
    def test_call_get_and_add(self):
        out, err, code = yield self.go_vrpc("call", self.name, "Get")
        self.assertEqual(code, 0, err)
        self.assertIn(out.rstrip("\n"), FORTUNES)
        out, err, code = yield self.go_vrpc("call", self.name, "Add", '"More cowbell."')
        self.assertEqual((out, code), ("\n", 0), err)
        # our vrpc prints the same things
        out, err, code = yield run([sys.executable, "-m", "v23py.cmd.vrpc", "--v23.credentials",
                                    self.creds, "call", self.name, "Add", '"x"'])
        self.assertEqual((out, code), (b"\n", 0), err)

    @defer.inlineCallbacks
    def test_identify(self):
        out, err, code = yield self.go_vrpc("identify", self.name)
        self.assertEqual(code, 0, err)
        lines = out.splitlines()
        self.assertEqual(lines[0], "PRESENTED: basics")
        self.assertEqual(lines[1], "VALID:     [basics]")
        ours, err2, code2 = yield run([sys.executable, "-m", "v23py.cmd.vrpc", "--v23.credentials",
                                       self.creds, "identify", self.name])
        self.assertEqual((ours.decode(), code2), (out, 0), err2)

    @defer.inlineCallbacks
    def test_unauthorized_go_client_gets_noaccess(self):
        srvcreds = os.path.join(self.dir, "srv")
        epfile = os.path.join(tempdir(self, "rpc-ep-"), "srv.txt")
        d, _ = spawn(self, [sys.executable, "-m", "fortune.server", "--v23.credentials",
                            srvcreds, "--endpoint-file-name", epfile,
                            "--v23.tcp.address", "127.0.0.1:0"], "Listening at:")
        line = yield d.ready
        self.assertTrue(line.endswith("@s@root:server@@"), line)
        name = open(epfile).read().strip()
        out, err, code = yield self.go_vrpc("call", name, "Get",
                                            creds=os.path.join(self.dir, "cli"))
        self.assertEqual((out, code), ("", 1))
        self.assertIn("access denied: not authorized to call .Get", err)
        # the client blessed by the same root as "root:client" is a stranger to
        # "root:server" for the default authorizer; reserved methods stay open
        out, err, code = yield self.go_vrpc("signature", name, creds=os.path.join(self.dir, "cli"))
        self.assertEqual((out, code), (FORTUNE_SIGNATURE, 0), err)


class OurClientGoMounttable(unittest.TestCase):
    timeout = 120

    @defer.inlineCallbacks
    def setUp(self):
        mt = go_binary("mounttabled")
        self.govrpc = go_binary("vrpc")
        go_binary("principal")
        self.dir = go_creds()
        self.creds = os.path.join(self.dir, "basics")
        d, _ = spawn(self, [mt, "--v23.credentials", self.creds,
                            "--v23.tcp.address", "127.0.0.1:0"], "NAME=")
        line = yield d.ready
        self.mt = line.split("NAME=", 1)[1].strip()

    @defer.inlineCallbacks
    def test_vrpc_signature_equals_go(self):
        # (without -s, Go resolves through the table with ResolveStep(""), which fails;
        # Go's client then retries until its 1 minute timeout, we fail at once)
        for args in (["signature", "-s", self.mt], ["signature", "-s", self.mt, "Mount"],
                     ["signature", "-s", self.mt, "ResolveStep"], ["identify", "-s", self.mt]):
            go_out, go_err, go_code = yield run([self.govrpc, "--v23.credentials", self.creds,
                                                 *args])
            out, err, code = yield run([sys.executable, "-m", "v23py.cmd.vrpc",
                                        "--v23.credentials", self.creds, *args])
            self.assertEqual((out, code), (go_out, go_code), (args, err, go_err))
            if args == ["signature", "-s", self.mt]:
                self.assertIn(b'.MountTable interface {', out)

    @defer.inlineCallbacks
    def test_library_mount_resolve_glob(self):
        from v23py import runtime, security, vdl, verror
        from v23py.rpc import wire
        from v23py.rpc import options
        p = security.load_principal(self.creds)
        ctx, shutdown = runtime.init(["--v23.namespace.root", self.mt],
                                     flags=runtime.FlagSet("t"), principal=p,
                                     exit_on_error=False)
        self.addCleanup(shutdown)
        client = runtime.get_runtime(ctx).client
        target = "/@6@tcp@127.0.0.1:9@@00000000000000000000000000000009@s@basics@@"
        mtflag = vdl.named("v.io/v23/naming.MountFlag", vdl.Uint32Type)
        yield defer.ensureDeferred(client.call(
            ctx, self.mt + "/fortuneAlpha", "Mount", [target, 300, 0],
            [vdl.StringType, vdl.Uint32Type, mtflag], [], opts=(options.NoResolve(),)))
        r = yield defer.ensureDeferred(client.call(
            ctx, self.mt + "/fortuneAlpha", "ResolveStep", [], [], [wire.MountEntryType],
            opts=(options.NoResolve(),)))
        self.assertEqual([s.Server for s in r[0].Servers], [target])
        # a relative name resolves through the namespace root to our target
        servers, rest = yield defer.ensureDeferred(client.resolve(ctx, "fortuneAlpha"))
        self.assertEqual((servers, rest), ([target], ""))
        # __Glob streams the mounted name
        from v23py.rpc.stubs import MethodDesc
        call = yield defer.ensureDeferred(client.start_call(
            ctx, self.mt, "__Glob", ["*"], [vdl.StringType], [],
            desc=MethodDesc(name="__Glob", in_stream=vdl.AnyType, out_stream=wire.GlobReplyType),
            opts=(options.NoResolve(),)))
        names = []
        while True:
            try:
                item = yield call.recv()
            except verror.VError as e:
                self.assertEqual(e.id, verror.EOF.id)
                break
            if item.name == "Entry":
                names.append(item.value.Name)
        yield call.finish()
        self.assertEqual(names, ["fortuneAlpha"])

    @defer.inlineCallbacks
    def test_our_client_gets_noaccess_from_go(self):
        from v23py import runtime, security, vdl, verror
        from v23py.rpc import options
        perms = os.path.join(tempdir(self, "rpc-perms-"), "perms.json")
        with open(perms, "w") as f:
            json.dump({"": {"Read": {"In": ["nobody"]}, "Admin": {"In": ["nobody"]},
                            "Create": {"In": ["nobody"]}, "Mount": {"In": ["nobody"]},
                            "Resolve": {"In": ["nobody"]}}}, f)
        d, _ = spawn(self, [go_binary("mounttabled"), "--v23.credentials", self.creds,
                            "--v23.tcp.address", "127.0.0.1:0", "--acls", perms], "NAME=")
        line = yield d.ready
        mt = line.split("NAME=", 1)[1].strip()
        p = security.load_principal(self.creds)
        ctx, shutdown = runtime.init([], flags=runtime.FlagSet("t"), principal=p,
                                     exit_on_error=False)
        self.addCleanup(shutdown)
        client = runtime.get_runtime(ctx).client
        mtflag = vdl.named("v.io/v23/naming.MountFlag", vdl.Uint32Type)
        e = yield self.assertFailure(defer.ensureDeferred(client.call(
            ctx, mt + "/x", "Mount", ["/127.0.0.1:9", 60, 0],
            [vdl.StringType, vdl.Uint32Type, mtflag], [], opts=(options.NoResolve(),))),
            verror.VError)
        self.assertEqual(e.id, "v.io/v23/verror.NoAccess")


class PublishIntoGoMounttable(unittest.TestCase):
    """fortune-server --service-name mounts itself in Go's mounttabled (and unmounts)."""
    timeout = 120

    @defer.inlineCallbacks
    def test_publish_resolve_call_unmount(self):
        mt = go_binary("mounttabled")
        ns = go_binary("namespace")
        vrpc = go_binary("vrpc")
        creds = os.path.join(go_creds(), "basics")
        d, _ = spawn(self, [mt, "--v23.credentials", creds, "--v23.tcp.address", "127.0.0.1:0"],
                     "NAME=")
        line = yield d.ready
        root = line.split("NAME=", 1)[1].strip()
        d2, proc = spawn(self, [sys.executable, "-m", "fortune.server", "--v23.credentials", creds,
                                "--v23.namespace.root", root, "--service-name", "fortuneAlpha",
                                "--v23.tcp.address", "127.0.0.1:0"], "Listening at:")
        line = yield d2.ready
        ep = line.split("Listening at: ", 1)[1].strip()
        for _ in range(50):   # the server mounts itself in the background, as Go's does
            out, err, code = yield run([ns, "--v23.credentials", creds, "--v23.namespace.root",
                                        root, "glob", "-l", "*"])
            if out:
                break
            yield task.deferLater(reactor, 0.1, lambda: None)
        self.assertEqual(code, 0, err)
        # mounted as Go's publisher mounts: the bare endpoint, no leading "/"
        self.assertTrue(out.decode().startswith(f"fortuneAlpha {ep} (Expires in "), out)
        out, err, code = yield run([vrpc, "--v23.credentials", creds, "--v23.namespace.root",
                                    root, "call", "fortuneAlpha", "Get"])
        self.assertEqual(code, 0, err)
        self.assertIn(out.decode().strip(), FORTUNES)
        out, err, code = yield run([sys.executable, "-m", "fortune.client", "--v23.credentials",
                                    creds, "--v23.namespace.root", root, "--server",
                                    "fortuneAlpha"])
        self.assertEqual(code, 0, err)
        self.assertIn('"%s"' % out.decode().strip(), FORTUNES)
        proc.signalProcess("TERM")
        code = yield d2.ended
        self.assertEqual(code, 0, d2.err)
        out, err, code = yield run([ns, "--v23.credentials", creds, "--v23.namespace.root", root,
                                    "glob", "-l", "*"])
        self.assertEqual(out, b"", err)


def _type_tester_desc():
    from v23py import vdl
    from v23py.rpc import stubs as rt
    pkg = "v23py/tests/typetester"
    arr = vdl.array_of(vdl.Int32Type, 2, name=pkg + ".Array2Int")
    st = vdl.struct(pkg + ".Struct", [("X", vdl.Int32Type), ("Y", vdl.Int32Type)])
    un = vdl.union(pkg + ".Union", [("A", vdl.StringType), ("B", vdl.Int64Type)])
    en = vdl.enum(pkg + ".Color", ["Red", "Green"])
    one = lambda name, t: rt.MethodDesc(  # noqa: E731
        name=name, in_args=(rt.ArgDesc("I1", t),), out_args=(rt.ArgDesc("O1", t),))
    methods = [one("EchoBool", vdl.BoolType), one("EchoByte", vdl.ByteType),
               one("EchoFloat32", vdl.Float32Type), one("EchoFloat64", vdl.Float64Type),
               one("EchoInt32", vdl.Int32Type), one("EchoInt64", vdl.Int64Type),
               one("EchoString", vdl.StringType), one("EchoUint32", vdl.Uint32Type),
               one("EchoUint64", vdl.Uint64Type), one("EchoBytes", vdl.ByteListType),
               one("XEchoArray", arr), one("XEchoMap", vdl.map_of(vdl.Int32Type, vdl.StringType)),
               one("XEchoSet", vdl.set_of(vdl.Int32Type)),
               one("XEchoSlice", vdl.list_of(vdl.Int32Type)), one("XEchoStruct", st),
               one("XEchoUnion", un), one("XEchoEnum", en), one("XEchoOptional", vdl.optional(st)),
               one("XEchoAny", vdl.AnyType),
               rt.MethodDesc(name="YMultiArg", in_args=(rt.ArgDesc("I1", vdl.Int32Type),
                                                        rt.ArgDesc("I2", vdl.Int32Type)),
                             out_args=(rt.ArgDesc("O1", vdl.Int32Type),
                                       rt.ArgDesc("O2", vdl.Int32Type))),
               rt.MethodDesc(name="YNoArgs"),
               rt.MethodDesc(name="ZStream", in_args=(rt.ArgDesc("NumStreamItems", vdl.Int32Type),
                                                      rt.ArgDesc("StreamItem", vdl.BoolType)),
                             out_stream=vdl.BoolType)]
    return rt.InterfaceDesc(name="TypeTester", pkg_path=pkg,
                            doc="// TypeTester echoes its arguments.", methods=tuple(methods))


class _TypeTester:
    def __getattr__(self, name):
        if name.startswith(("Echo", "XEcho")):
            return lambda ctx, call, x: x
        raise AttributeError(name)

    def YMultiArg(self, ctx, call, a, b):
        return a, b

    def YNoArgs(self, ctx, call):
        return None

    def ZStream(self, ctx, call, n, item):
        for _ in range(n):
            call.send(item)


class GoVrpcTypesAgainstOurServer(unittest.TestCase):
    """Go's vrpc and ours call every kind of argument on our server and print the same."""
    timeout = 400   # 44 processes one after the other: on a loaded 2-core machine each takes seconds

    @defer.inlineCallbacks
    def setUp(self):
        import v23py
        from v23py import runtime, security
        from v23py.rpc import stubs as rt
        self.vrpc = go_binary("vrpc")
        self.creds = os.path.join(go_creds(), "basics")
        p = security.load_principal(self.creds)
        ctx, shutdown = runtime.init(["--v23.tcp.address=127.0.0.1:0", "--v23.tcp.protocol=tcp"],
                                     flags=runtime.FlagSet("t"), principal=p, exit_on_error=False)
        self.addCleanup(shutdown)

        class Stub(rt.ServerStub):
            _vdl_describe = (_type_tester_desc(),)
        server = yield v23py.with_new_server(ctx, "", Stub(_TypeTester()), None)
        self.name = "/" + str(server.endpoints[0])

    @defer.inlineCallbacks
    def both(self, *args):
        go = yield run([self.vrpc, "--v23.credentials", self.creds, *args])
        py = yield run([sys.executable, "-m", "v23py.cmd.vrpc", "--v23.credentials", self.creds,
                        *args])
        return go, py

    @defer.inlineCallbacks
    def test_calls_print_like_go(self):
        cases = [("EchoBool", "true", "true"), ("EchoByte", "33", "byte(33)"),
                 ("EchoFloat32", "1.2", "float32(1.2)"), ("EchoFloat64", "-3.4", "float64(-3.4)"),
                 ("EchoInt32", "11", "int32(11)"), ("EchoInt64", "-22", "int64(-22)"),
                 ("EchoString", '"abc"', '"abc"'), ("EchoUint32", "44", "uint32(44)"),
                 ("EchoUint64", "55", "uint64(55)"), ("EchoBytes", '"hi"', None),
                 ("XEchoArray", "{1,2}", None), ("XEchoMap", '{1:"a"}', 'map[int32]string{1: "a"}'),
                 ("XEchoSet", "{1}", "set[int32]{1}"), ("XEchoSlice", "{1,2}", "[]int32{1, 2}"),
                 ("XEchoStruct", "{1,2}", None), ("XEchoUnion", '{B: 7}', None),
                 ("XEchoEnum", "Green", None), ("XEchoOptional", "{X: 3}", None),
                 ("XEchoAny", "int32(5)", None), ("YMultiArg", "1,2", "int32(1) int32(2)"),
                 ("YNoArgs", None, ""), ("ZStream", "2,true", "<< true\n<< true")]
        for method, arg, want in cases:
            args = ["call", self.name, method] + ([arg] if arg is not None else [])
            (gout, gerr, gcode), (pout, perr, pcode) = yield self.both(*args)
            self.assertEqual(gcode, 0, (method, gerr))
            if want is not None:
                self.assertEqual(gout.decode().strip(), want, method)
            self.assertEqual((pout, pcode), (gout, gcode), (method, perr))
            (gout, gerr, gcode), (pout, perr, pcode) = yield self.both("-json", *args)
            self.assertEqual((pout, pcode), (gout, gcode), ("-json", method, perr, gerr))

    @defer.inlineCallbacks
    def test_signature_prints_like_go(self):
        for args in (["signature", self.name], ["signature", "--show-reserved", self.name],
                     ["signature", self.name, "XEchoStruct"]):
            (gout, gerr, gcode), (pout, perr, pcode) = yield self.both(*args)
            self.assertEqual(gcode, 0, gerr)
            self.assertEqual((pout.decode(), pcode), (gout.decode(), gcode), (args, perr))


class GoNamespaceGlobsOurServer(unittest.TestCase):
    """Go's namespace tool streams __Glob replies from our dispatching server."""
    timeout = 60

    @defer.inlineCallbacks
    def test_glob(self):
        import v23py
        from v23py import runtime, security
        from v23py.testing.rpc import TreeDispatcher
        ns = go_binary("namespace")
        creds = os.path.join(go_creds(), "basics")
        p = security.load_principal(creds)
        ctx, shutdown = runtime.init(["--v23.tcp.address=127.0.0.1:0", "--v23.tcp.protocol=tcp"],
                                     flags=runtime.FlagSet("t"), principal=p, exit_on_error=False)
        self.addCleanup(shutdown)
        server = yield v23py.with_new_dispatching_server(ctx, "", TreeDispatcher())
        name = "/" + str(server.endpoints[0])
        out, err, code = yield run([ns, "--v23.credentials", creds, "glob", name + "/..."])
        self.assertEqual(code, 0, err)
        self.assertEqual(out.decode().split(), [name, name + "/a", name + "/a/x", name + "/b"])
        out, err, code = yield run([self.vrpc_path(), "--v23.credentials", creds, "call",
                                    name + "/a/x", "Echo", '"hi"'])
        self.assertEqual((out, code), (b'"x:hi"\n', 0), err)

    def vrpc_path(self):
        return go_binary("vrpc")


class CredentialsMadeByUs(unittest.TestCase):
    """Go's vrpc runs with a credentials directory written by v23py and calls our server."""
    timeout = 60

    @defer.inlineCallbacks
    def test_go_vrpc_with_our_credentials(self):
        from v23py.testing.procs import make_creds
        vrpc = go_binary("vrpc")
        d = tempdir(self, "rpc-ourcreds-")
        creds = os.path.join(d, "creds")
        make_creds(creds, "ours")
        epfile = os.path.join(d, "ep.txt")
        dd, _ = spawn(self, [sys.executable, "-m", "fortune.server", "--v23.credentials", creds,
                             "--endpoint-file-name", epfile, "--v23.tcp.address", "127.0.0.1:0"],
                      "Listening at:")
        yield dd.ready
        name = open(epfile).read().strip()
        out, err, code = yield run([vrpc, "--v23.credentials", creds, "call", name, "Get"])
        self.assertEqual(code, 0, err)
        self.assertIn(out.decode().strip(), FORTUNES)
        out, err, code = yield run([vrpc, "--v23.credentials", creds, "identify", name])
        self.assertEqual(code, 0, err)
        self.assertTrue(out.decode().startswith("PRESENTED: ours\nVALID:     [ours]\n"), out)
