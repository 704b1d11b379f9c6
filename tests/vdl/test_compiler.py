"""The VDL compiler: parsing, checking, the literal evaluator against Go's VOM
vectors, generated signatures against Go's __Signature replies, and errors."""
import glob
import importlib
import json
import os
import sys
import tempfile

from twisted.trial import unittest

from v23py.testing import ROOT, shared_path
from v23py import vdl, vom
from v23py.vdl.compiler import checker, codegen
from v23py.vdl.compiler.build import vdl_files
from v23py.vdl.compiler.lexer import VDLError
from v23py.vdl.compiler.parser import parse_exprs, parse_file

GO_TESTDATA = "v.io/x/ref/lib/vdl/testdata/"
VOM_TYPES = "v.io/v23/vom/testdata/types"


def _all_vdl_files():
    files = []
    for base in (shared_path("testdata", "vdl"), shared_path("testdata", "vom", "src")):
        files += glob.glob(os.path.join(base, "**", "*.vdl"), recursive=True)
    for base in ("v23py", "ifc", "fortune", "syncbased"):
        files += glob.glob(os.path.join(ROOT, base, "**", "*.vdl"), recursive=True)
    return sorted(files)


class ParseTest(unittest.TestCase):
    def test_parse_every_vdl_file(self):
        files = _all_vdl_files()
        self.assertGreater(len(files), 10)
        for f in files:
            parsed = parse_file(f)
            self.assertTrue(parsed.package, f)

    def test_parse_configs(self):
        from v23py.vdl.compiler.parser import parse_config
        files = sorted(glob.glob(os.path.join(shared_path("testdata"), "**", "vdl*.config"),
                                 recursive=True))
        self.assertEqual([os.path.basename(os.path.dirname(f)) for f in files],
                         ["nativetest", "testconfig"])
        for f in files:
            cfg = parse_config(f)
            # one unnamed constant: the vdltool.Config literal
            self.assertEqual([(c.name, c.expr.type.name) for c in cfg.consts],
                             [("", "vdltool.Config")])
        keys = [kv.key.name for kv in parse_config(files[1]).consts[0].expr.kvs]
        self.assertEqual(keys, ["GenLanguages"])

    def test_docs_attached_like_go(self):
        f = parse_file(shared_path("testdata", "vdl", "inputs", "arith", "arith.vdl"))
        calc = [i for i in f.interfaces if i.name == "Calculator"][0]
        on = [m for m in calc.methods if m.name == "On"][0]
        self.assertEqual(on.doc, "")           # the same-line comment is a suffix doc
        self.assertEqual(on.doc_suffix, " // On turns the calculator on.")
        arith = [i for i in f.interfaces if i.name == "Arith"][0]
        self.assertTrue(arith.doc.startswith("// Arith is an example"))
        self.assertTrue(arith.doc.endswith("error.\n"))


class LiteralVectorsTest(unittest.TestCase):
    """Every data81 value literal, compiled and VOM-encoded, equals Go's bytes."""

    def test_data81_literals(self):
        env = checker.Env()
        types_dir = shared_path("testdata", "vom", "src", "types")
        env.compile(VOM_TYPES, [parse_file(p) for p in vdl_files(types_dir)])
        lit = parse_file("lit.vdl", f'package lit\nimport "{VOM_TYPES}"\n')
        pkg = env.compile("lit", [lit])
        ck = checker._PackageChecker(env, pkg)
        ck.imports[id(lit)] = {"types": VOM_TYPES}
        with open(shared_path("testdata", "vom", "data81.json")) as fh:
            cases = json.load(fh)["tests"]
        self.assertEqual(len(cases), 330)
        failures = []
        for case in cases:
            [expr] = parse_exprs(case["value_vdl"])
            c = ck.eval(expr, lit, None)
            if c.type is None:
                c = ck.convert(c, checker._default_type(c.value), expr.pos)
            self.assertEqual(str(c.type), case["type_string"], case["value_vdl"])
            got = vom.encode(c.value, c.type).hex()
            if got != case["hex"]:       # exact bytes, as the README says (sets and maps too)
                failures.append((case["value_vdl"], got, case["hex"]))
        self.assertEqual(failures, [])


def _tag_literal(tag):
    t, v = vdl.unwrap(tag)
    if t == vdl.StringType:
        return json.dumps(str(v))
    name = t.name.rsplit(".", 1)[-1] if t.name else str(t)
    inner = json.dumps(str(v)) if t.kind == vdl.Kind.STRING else str(int(v))
    return f"{name}({inner})"


def _tname(t):
    return t.name or str(t)


def _sig_json(ifaces):
    def arg(a):
        return {"name": a.Name, "doc": a.Doc, "type": _tname(a.Type)}
    out = []
    for i in ifaces:
        out.append({
            "name": i.Name, "pkg_path": i.PkgPath, "doc": i.Doc,
            "embeds": [{"name": e.Name, "pkg_path": e.PkgPath, "doc": e.Doc} for e in i.Embeds],
            "methods": [{
                "name": m.Name, "doc": m.Doc,
                "in_args": [arg(a) for a in m.InArgs], "out_args": [arg(a) for a in m.OutArgs],
                "in_stream": None if m.InStream is None else arg(m.InStream),
                "out_stream": None if m.OutStream is None else arg(m.OutStream),
                "tags": [_tag_literal(t) for t in m.Tags]} for m in i.Methods]})
    return out


class GeneratedModules:
    """Generates Go's compiler test packages into a temporary import dir."""

    def __init__(self, case):
        self.names = []
        self.dir = tempfile.mkdtemp(prefix="vdlgen")
        case.addCleanup(self.cleanup)
        sys.path.insert(0, self.dir)

        def loader(path):
            if path.startswith(GO_TESTDATA):
                # Only Go's test packages need ../shared: a test of its own .vdl runs without.
                inputs = shared_path("testdata", "vdl", "inputs")
                d = os.path.join(inputs, path[len(GO_TESTDATA):])
                return d, [parse_file(f) for f in vdl_files(d)], {}
            return None
        self.env = checker.Env(loader)

    def module_name(self, path):
        return "vdlgen_" + "".join(c if c.isalnum() else "_" for c in path)

    def add(self, path, files=None):
        pkg = self.env.get(path) if files is None else self.env.compile(path, files)
        name = self.module_name(path)
        with open(os.path.join(self.dir, name + ".py"), "w") as fh:
            fh.write(codegen.generate(pkg, self.module_name))
        self.names.append(name)
        return importlib.import_module(name)

    def cleanup(self):
        sys.path.remove(self.dir)
        for n in self.names:
            sys.modules.pop(n, None)


class SignatureTest(unittest.TestCase):
    def setUp(self):
        with open(shared_path("testdata", "vdl", "signatures.json")) as fh:
            self.golden = json.load(fh)
        self.gen = GeneratedModules(self)

    def test_go_testdata_signatures(self):
        mods = {}
        for p in ("base", "arith/exp", "arith"):
            mods[GO_TESTDATA + p] = self.gen.add(GO_TESTDATA + p)
        for full, want in self.golden["signatures"].items():
            pkgpath, name = full.rsplit(".", 1)
            stub = getattr(mods[pkgpath], name + "Server")(object())
            self.assertEqual(_sig_json(stub.signature()), want, full)
            # Describe__ order: the interface, then its transitive embeds.
            order = [d.name if d.pkg_path == pkgpath else
                     d.pkg_path.rsplit("/", 1)[-1] + "." + d.name for d in stub.describe()]
            self.assertEqual(order, self.golden["describe_order"][full], full)

    def _fortune(self, src):
        return self.gen.add("fortune/ifc", [parse_file("fortune.vdl", src)])

    def test_fortune_signature(self):
        mod = self._fortune(FORTUNE_VDL)
        stub = mod.FortuneServer(object())
        self.assertEqual(_sig_json(stub.signature()), self.golden["fortune"]["signature"])
        m = stub.method_signature("Get")
        self.assertEqual(m.Name, "Get")
        self.assertEqual([a.Name for a in m.OutArgs], ["wisdom"])

    def test_fortune_tagged_signature(self):
        mod = self._fortune(FORTUNE_TAGGED_VDL)
        stub = mod.FortuneServer(object())
        self.assertEqual(_sig_json(stub.signature()),
                         self.golden["fortune"]["variant_with_tags"]["signature"])
        tag = stub.lookup("Get").tags[0]
        self.assertIsInstance(tag, mod.MyTag)
        self.assertEqual(vdl.type_of(tag).name, "fortune/ifc.MyTag")
        self.assertEqual(tag, mod.Reader)

    def test_signature_values_encode(self):
        mod = self._fortune(FORTUNE_TAGGED_VDL)
        from v23py.v23.vdlroot import signature
        sigs = mod.FortuneServer(object()).signature()
        t = vdl.list_of(signature.Interface._vdl_type)
        self.assertEqual(vom.decode(vom.encode(sigs, t)), sigs)


FORTUNE_VDL = """package ifc

type Fortune interface {
  // Returns a random fortune.
  Get() (wisdom string | error)
  // Adds a fortune to the set used by Get().
  Add(wisdom string) error
}
"""

FORTUNE_TAGGED_VDL = """package ifc

type MyTag string
const (
  Reader = MyTag("R")
  Writer = MyTag("W")
)

type Fortune interface {
  // Returns a random fortune.
  Get() (Fortune string | error) {Reader}
  // Adds a fortune to the set used by Get().
  Add(Fortune string) error {Writer}
}
"""


def _short(t):
    """A type as written in a .vdl file of its own package (for types.json)."""
    if t == vdl.ErrorType:
        return "error"
    if t.name:
        return t.name.rsplit(".", 1)[-1]
    k = t.kind
    if k == vdl.Kind.LIST:
        return "[]" + _short(t.elem)
    if k == vdl.Kind.ARRAY:
        return f"[{t.len}]" + _short(t.elem)
    if k == vdl.Kind.SET:
        return f"set[{_short(t.key)}]"
    if k == vdl.Kind.MAP:
        return f"map[{_short(t.key)}]{_short(t.elem)}"
    if k == vdl.Kind.OPTIONAL:
        return "?" + _short(t.elem)
    return str(k)


class TypesTest(unittest.TestCase):
    def test_types_json(self):
        with open(shared_path("testdata", "vdl", "types.json")) as fh:
            golden = json.load(fh)["types"]
        gen = GeneratedModules(self)
        base = gen.add(GO_TESTDATA + "base")
        from v23py.v23.vdlroot import signature
        for wire, info in golden.items():
            mod = signature if wire.startswith("signature.") else base
            cls = getattr(mod, wire.rsplit(".", 1)[-1])
            t = cls._vdl_type
            self.assertEqual(t.name, wire)
            self.assertEqual(str(t.kind), info["kind"], wire)
            if "fields_in_order" in info:
                got = [[f.name, _short(f.type)] for f in t.fields]
                want = [[n, w.rsplit(".", 1)[-1] if "/" in w else w]
                        for n, w in info["fields_in_order"]]
                self.assertEqual(got, want, wire)
            if "labels_in_order" in info:
                self.assertEqual(list(t.labels), info["labels_in_order"])
            if "len" in info:
                self.assertEqual((t.len, t.elem.name), (info["len"], info["elem"]))


class ErrorCatalogueTest(unittest.TestCase):
    """Bad inputs give one clear error naming file:line:col."""

    def compile(self, src, extra=None):
        files = {"a/a.vdl": src}
        files.update(extra or {})

        def loader(path):
            fs = [parse_file(n, s) for n, s in files.items() if n.rsplit("/", 1)[0] == path]
            return (path, fs, {}) if fs else None
        env = checker.Env(loader)
        return env.get("a")

    def check(self, src, *needles, extra=None):
        with self.assertRaises(VDLError) as cm:
            self.compile(src, extra)
        msg = str(cm.exception)
        for n in needles:
            self.assertIn(n, msg)
        return msg

    def test_missing_package(self):
        self.check("type A int32\n", "a/a.vdl:1:1", "package clause")

    def test_syntax_error(self):
        self.check("package a\ntype A struct {\n  X int32\n  Y\n}\n", "a/a.vdl:4:4", "syntax error")

    def test_bad_token(self):
        self.check("package a\nconst X = 3 @ 4\n", "a/a.vdl:2:13", "unexpected character")

    def test_unterminated_string(self):
        self.check('package a\nconst X = "abc\n', "a/a.vdl:2:11", "not terminated")

    def test_unknown_type(self):
        self.check("package a\ntype A struct {\n  X Missing\n}\n", "a/a.vdl:3:5", "Missing undefined")

    def test_duplicate_names(self):
        self.check("package a\ntype A int32\nconst A = 1\n", "a/a.vdl:3:7", "A redefined")

    def test_duplicate_field(self):
        self.check("package a\ntype A struct {\n  X int32\n  X string\n}\n", "a/a.vdl:4:3",
                   "duplicate field name X")

    def test_duplicate_enum_label(self):
        self.check("package a\ntype E enum { A; B; A }\n", "duplicate enum label A")

    def test_recursive_const(self):
        self.check("package a\nconst X = Y\nconst Y = X + 1\n", "defined in terms of itself")

    def test_type_cycle(self):
        self.check("package a\ntype A B\ntype B A\n", "defined in terms of itself")

    def test_bad_optional(self):
        self.check("package a\ntype A struct { X ?int32 }\n", "a/a.vdl:2:19", "optional type must be a named struct")

    def test_bad_map_key(self):
        self.check("package a\ntype A map[[]int32]string\n", "invalid key type")

    def test_overflow(self):
        self.check("package a\nconst X = byte(256)\n", "a/a.vdl:2:11", "overflows byte")

    def test_bad_tag(self):
        self.check("package a\ntype I interface {\n  M() error {Nope}\n}\n", "a/a.vdl:3:14",
                   "Nope undefined")

    def test_bad_error_action(self):
        self.check("package a\nerror E() {Sometimes}\n", "a/a.vdl:2:12", "unknown error action")

    def test_duplicate_method(self):
        self.check("package a\ntype I interface {\n  M() error\n  M() error\n}\n",
                   "duplicate method M")

    def test_import_cycle(self):
        msg = self.check('package a\nimport "b"\n',
                         extra={"b/b.vdl": 'package b\nimport "a"\n'}, *())
        self.assertIn("import cycle", msg)

    def test_missing_import(self):
        self.check('package a\nimport "nowhere/x"\n', "a/a.vdl:2:8", "can't find package")

    def test_unknown_struct_field_in_literal(self):
        self.check("package a\ntype S struct { X int32 }\nconst C = S{Y: 1}\n", "a/a.vdl:3:13",
                   "unknown field")

    def test_union_literal_needs_one_field(self):
        self.check("package a\ntype U union { X int32; Y string }\nconst C = U{X: 1, Y: \"\"}\n",
                   "must have a single entry")

    def test_nesting_bounded(self):
        self.check("package a\nconst X = " + "(" * 5000 + "1" + ")" * 5000 + "\n", "nesting deeper")
        self.check("package a\ntype X " + "[]" * 5000 + "int32\n", "nesting deeper")
        self.check("package a\nconst X = " + "1+" * 900 + "1\n", "nested deeper")

    def test_mixed_args(self):
        self.check("package a\ntype I interface {\n  M(a int32, string) error\n}\n", "mixed named and unnamed")


class ConstEvalTest(unittest.TestCase):
    def const(self, src, name):
        env = checker.Env()
        pkg = env.compile("c", [parse_file("c.vdl", "package c\n" + src)])
        return pkg.consts[name].const

    def test_arithmetic_and_untyped(self):
        self.assertEqual(self.const("const X = 1 << 10 + 3*4 - 6/4", "X").value, 1024 + 12 - 1)
        self.assertEqual(self.const("const X = int32(7) % 4", "X").value, 3)
        c = self.const("const X = 1.5 * 2", "X")
        self.assertIsNone(c.type)
        self.assertEqual(c.value, 3)
        self.assertEqual(self.const('const X = "a" + "b"', "X").value, "ab")
        self.assertEqual(self.const("const X = uint16(3) == 3", "X").value, True)
        self.assertEqual(self.const("const X = ^byte(1)", "X").value, 254)
        self.assertEqual(self.const("const X = !(true && false)", "X").value, True)

    def test_composites_and_index(self):
        c = self.const("type S struct { A []int32; B map[string]bool }\n"
                       "const L = []int32{3: 7}\nconst X = S{A: L, B: {\"k\": true}}\n"
                       "const Y = L[3]", "Y")
        self.assertEqual((c.type, c.value), (vdl.Int32Type, 7))
        x = self.const("type S struct { A []int32; B map[string]bool }\n"
                       "const X = S{A: {1, 2}, B: {\"k\": true}}", "X")
        self.assertEqual(x.value.A, [1, 2])
        self.assertEqual(x.value.B, {"k": True})

    def test_typeobject_and_enum(self):
        c = self.const("type E enum { A; B }\nconst X = typeobject(map[string]E)", "X")
        self.assertEqual(str(c.value), "map[string]c.E enum{A;B}")
        e = self.const("type E enum { A; B }\nconst X = E.B", "X")
        self.assertEqual(e.value.label, "B")


class GeneratedCodeTest(unittest.TestCase):
    def test_recursive_types_and_consts_roundtrip(self):
        gen = GeneratedModules(self)
        src = ("package r\n"
               "type Node struct { Name string; Kids []Node; Next ?Node }\n"
               "type Color enum { Red; Green }\n"
               "type U union { N Node; C Color }\n"
               "const Tree = Node{Name: \"root\", Kids: {{Name: \"kid\"}}, Next: {Name: \"n\"}}\n"
               "const Pick = U{C: Green}\n"
               "error NotFound(name string) {RetryBackoff, \"en\": \"{1:}{2:} not found{:3}\"}\n")
        mod = gen.add("x/r", [parse_file("r.vdl", src)])
        self.assertEqual(mod.Node._vdl_type.name, "x/r.Node")
        self.assertEqual(mod.Tree.Kids[0].Name, "kid")
        self.assertEqual(mod.Tree.Next.Name, "n")
        self.assertEqual(vom.decode(vom.encode(mod.Tree)), mod.Tree)
        self.assertEqual(mod.Pick, mod.U("C", mod.Color.Green))
        err = mod.new_NotFound("thing", component="srv", op="Get")
        self.assertEqual(err.id, "x/r.NotFound")
        self.assertEqual(int(err.retry_code), 3)
        self.assertEqual(err.msg, "srv:Get: not found thing")

    def test_error_formats_with_named_parameters(self):
        gen = GeneratedModules(self)
        src = ("package e\n"
               "type Id struct { Blessing string; Name string }\n"
               "error Offline(db string, n int32) {\"en\": \"database {db} ({:n} tries) is offline{:_}\"}\n"
               "error Denied(who, what string) {\"en\": \"{who:} may not {what}{:_}\"}\n")
        mod = gen.add("x/e", [parse_file("e.vdl", src)])
        self.assertEqual(mod.ErrOffline.default_msg, "database {3} ({:4} tries) is offline{:_}")
        self.assertEqual(mod.new_Offline("db1", 3).msg, "database db1 ( 3 tries) is offline")
        self.assertEqual(mod.new_Denied("bob", "read").msg, "bob: may not read")
        self.assertEqual(mod.new_Denied("", "read").msg, "may not read")

    def test_error_format_unknown_parameter(self):
        with self.assertRaises(VDLError) as cm:
            checker.Env().compile("x/e", [parse_file(
                "e.vdl", 'package e\nerror E(a string) {"en": "bad {b}"}\n')])
        self.assertIn("unknown parameter 'b'", str(cm.exception))

    def test_stream_call_objects_subscript_no_generic_at_import(self):
        """A streaming method's call classes and aliases carry their element types for type
        checkers only: at run time they are the plain stub bases (no typing subscript)."""
        from v23py.rpc import stubs as _rt
        gen = GeneratedModules(self)
        src = ("package s\n"
               "type Item struct { N int32 }\n"
               "type S interface {\n"
               "  Pull() stream<_, Item> (int32 | error)\n"
               "  Push() stream<Item, _> error\n"
               "  Both() stream<Item, string> error\n"
               "}\n")
        mod = gen.add("x/s", [parse_file("s.vdl", src)])
        self.assertEqual(mod.SPullClientCall.__bases__, (_rt.ClientRecvStream,))
        self.assertEqual(mod.SPushClientCall.__bases__, (_rt.ClientSendStream,))
        self.assertEqual(mod.SBothClientCall.__bases__, (_rt.ClientBidiStream,))
        for cls in (mod.SPullClientCall, mod.SPushClientCall, mod.SBothClientCall):
            self.assertNotIn("__orig_bases__", cls.__dict__)
            self.assertEqual(cls.__slots__, ())
        self.assertIs(mod.SPullServerCall, _rt.ServerSendStream)
        self.assertIs(mod.SPushServerCall, _rt.ServerRecvStream)
        self.assertIs(mod.SBothServerCall, _rt.ServerBidiStream)
        self.assertEqual(repr(mod.SPullClientCall("c", 1)), "SPullClientCall('c')")

    def test_generation_is_stable(self):
        env = checker.Env()
        pkg = env.compile("fortune/ifc", [parse_file("fortune.vdl", FORTUNE_TAGGED_VDL)])
        a = codegen.generate(pkg, lambda p: None)
        b = codegen.generate(pkg, lambda p: None)
        self.assertEqual(a, b)
        compile(a, "fortune_gen", "exec")


class BuildExprsTest(unittest.TestCase):
    """checker.build_exprs: VDL expressions as typed values (vrpc arguments)."""

    def test_args(self):
        from v23py.vdl.compiler.checker import build_exprs
        import v23py.v23.naming as naming
        vals = build_exprs('"More cowbell.", 7, {1, 2}, 2.5, "v.io/v23/naming".MT | 1',
                           [vdl.StringType, vdl.Uint32Type, vdl.list_of(vdl.Int8Type),
                            vdl.AnyType, naming.MountFlag._vdl_type])
        self.assertEqual(vals[:3], ["More cowbell.", 7, [1, 2]])
        self.assertEqual(vdl.type_of(vals[3]), vdl.Float64Type)
        self.assertEqual((type(vals[4]), vals[4]), (naming.MountFlag, 3))
        self.assertEqual(build_exprs("", []), [])

    def test_errors(self):
        from v23py.vdl.compiler.checker import build_exprs
        with self.assertRaises(VDLError) as cm:
            build_exprs("1, 2", [vdl.Int32Type])
        self.assertIn("got 2 arguments, want 1", str(cm.exception))
        with self.assertRaises(VDLError) as cm:
            build_exprs("300", [vdl.ByteType])
        self.assertIn("overflows byte", str(cm.exception))
        with self.assertRaises(VDLError):
            build_exprs('"x" +', [vdl.StringType])


class GeneratedLiteralVectorsTest(unittest.TestCase):
    """Every data81 value, emitted as Python source by the code generator and
    evaluated, still VOM-encodes to Go's bytes."""

    def test_data81_values_as_python_source(self):
        gen = GeneratedModules(self)
        types_dir = shared_path("testdata", "vom", "src", "types")
        gen.env.compile(VOM_TYPES, [parse_file(p) for p in vdl_files(types_dir)])
        tmod = gen.add(VOM_TYPES)
        lit = parse_file("lit.vdl", f'package lit\nimport "{VOM_TYPES}"\n')
        pkg = gen.env.compile("lit", [lit])
        ck = checker._PackageChecker(gen.env, pkg)
        ck.imports[id(lit)] = {"types": VOM_TYPES}
        g = codegen._Gen(pkg, gen.module_name)
        srcs = []
        with open(shared_path("testdata", "vom", "data81.json")) as fh:
            cases = json.load(fh)["tests"]
        failures = []
        for case in cases:
            [expr] = parse_exprs(case["value_vdl"])
            c = ck.eval(expr, lit, None)
            if c.type is None:
                c = ck.convert(c, checker._default_type(c.value), expr.pos)
            src = g.value(c.type, c.value)
            ns = {"vdl": vdl, g.alias(VOM_TYPES): tmod}
            value = eval(src, ns)
            srcs.append(src)
            got = vom.encode(value, c.type).hex()
            if got != case["hex"]:       # exact bytes
                failures.append((case["value_vdl"], src))
        self.assertEqual(len(srcs), 330)
        self.assertEqual(failures, [])
        self.assertIn("_types2.StructAny(Any=vdl.value(vdl.Int16Type, 1))", srcs)


class ImportsTest(unittest.TestCase):
    def test_aliases_quoted_paths_and_cross_package_refs(self):
        files = {
            "x/lib": 'package lib\ntype Color enum { Red; Blue }\nconst Max = uint16(7)\n'
                     'type Pair struct { A Color; B uint16 }\nconst hidden = 1\n',
            "x/app": 'package app\nimport (\n  l "x/lib"\n)\n'
                     'const P = l.Pair{A: Blue, B: l.Max - 2}\n'
                     'const Q = "x/lib".Color.Red\n'
                     'type Wrapper struct { P l.Pair }\n',
            "x/bad": 'package bad\nimport "x/lib"\nconst Z = lib.hidden\n',
        }

        def loader(path):
            src = files.get(path)
            return (path, [parse_file(path + "/f.vdl", src)], {}) if src else None
        env = checker.Env(loader)
        app = env.get("x/app")
        p = app.consts["P"].const
        self.assertEqual((p.value.A.label, p.value.B), ("Blue", 5))
        self.assertEqual(app.consts["Q"].const.value.label, "Red")
        self.assertEqual(app.types["Wrapper"].type.fields[0].type.name, "x/lib.Pair")
        self.assertEqual(list(app.deps), ["x/lib"])
        with self.assertRaises(VDLError) as cm:
            env.get("x/bad")
        self.assertIn("x/bad/f.vdl:3:11: lib.hidden is not exported", str(cm.exception))
