"""VOM against Go's golden vectors (../shared/testdata/vom)."""
import datetime
import json

from twisted.trial import unittest

from v23py.testing import shared_path
from v23py import vdl, verror, vom
from v23py.vom import _codec, _structgen, _typeenc

_cache = {}


def _load(name):
    if name not in _cache:
        with open(shared_path("testdata", "vom", name)) as f:
            _cache[name] = json.load(f)
    return _cache[name]


class Data81(unittest.TestCase):
    def cases(self):
        return _load("data81.json")["tests"]

    def test_count(self):
        self.assertEqual(len(self.cases()), 330)

    def test_round_trip_bytes(self):
        bad = []
        for i, c in enumerate(self.cases()):
            data = bytes.fromhex(c["hex"])
            out = vom.encode(vom.decode(data))
            if out != data:
                bad.append((i, c["name"], out.hex()))
        self.assertEqual(bad, [])

    def test_type_strings(self):
        bad = []
        for i, c in enumerate(self.cases()):
            t, _ = vom.decode_typed(bytes.fromhex(c["hex"]))
            if str(t) != c["type_string"]:
                bad.append((i, str(t), c["type_string"]))
        self.assertEqual(bad, [])

    def test_steady_state_value_bytes(self):
        # On a stream whose types were already sent, a value is exactly hex_value.
        bad = []
        for i, c in enumerate(self.cases()):
            val = vom.decode(bytes.fromhex(c["hex"]))
            enc = vom.Encoder()
            first = enc.encode(val)
            self.assertEqual(first.hex(), c["hex"])
            again = enc.encode(val)
            if again.hex() != c["hex_value"]:
                bad.append((i, c["name"], again.hex(), c["hex_value"]))
        self.assertEqual(bad, [])

    def test_split_streams(self):
        # Types on one stream (as RPC's type flow), values on another.
        for c in self.cases():
            val = vom.decode(bytes.fromhex(c["hex"]))
            te = vom.TypeEncoder()
            enc = vom.Encoder(type_encoder=te)
            data = enc.encode(val)
            types = te.take_bytes()
            self.assertEqual(data.hex(), c["hex_version"] + c["hex_value"])
            self.assertEqual(types.hex(), (c["hex_version"] + c["hex_type"]) if c["hex_type"] else "")
            td = vom.TypeDecoder()
            dec = vom.Decoder(type_decoder=td)
            dec.feed(data)
            if c["hex_type"]:
                self.assertRaises(vom.NeedType, dec.decode)
            td.feed(types)
            self.assertEqual(vom.encode(dec.decode()).hex(), c["hex"])

    def test_types_only_prefix(self):
        # Decoding version + type messages registers types and yields no value.
        for c in self.cases():
            dec = vom.Decoder()
            dec.feed(bytes.fromhex(c["hex_version"] + c["hex_type"]))
            self.assertRaises(vom.NeedData, dec.decode)
            dec.feed(bytes.fromhex(c["hex_value"]))
            self.assertEqual(vom.encode(dec.decode()).hex(), c["hex"])

    def test_byte_at_a_time(self):
        # A streaming decoder fed one byte at a time gives the same values.
        for c in self.cases()[::7]:
            data = bytes.fromhex(c["hex"])
            dec = vom.Decoder()
            got = None
            for i in range(len(data)):
                dec.feed(data[i:i + 1])
                try:
                    got = dec.decode()
                    self.assertEqual(i, len(data) - 1)
                except vom.NeedData:
                    pass
            self.assertEqual(vom.encode(got), data)


class Pass81(unittest.TestCase):
    def test_round_trip(self):
        entries = _load("pass81.json")["entries"]
        self.assertEqual(len(entries), 1395)
        bad = []
        for i, e in enumerate(entries):
            data = bytes.fromhex("81" + e["hex_type"] + e["hex_value"])
            out = vom.encode(vom.decode(data))
            if out != data:
                bad.append((i, e["value_label"]))
        self.assertEqual(bad, [])


class HandWrittenValues(unittest.TestCase):
    """Expected Python values for a spread of the golden cases."""

    def find(self, name):
        for c in _load("data81.json")["tests"]:
            if c["name"] == name:
                return bytes.fromhex(c["hex"])
        raise AssertionError(f"no case {name}")

    def test_primitives(self):
        self.assertIs(vom.decode(self.find("true")), True)
        self.assertEqual(vom.decode(self.find('"abc"')), "abc")
        self.assertEqual(vom.decode(self.find('[]byte("adef")')), b"adef")
        v = vom.decode(self.find("int16(-257)"))
        self.assertEqual(v, -257)
        self.assertEqual(vdl.type_of(v), vdl.Int16Type)
        self.assertEqual(vom.decode(self.find("float64(-64.5)")), -64.5)
        self.assertEqual(vom.decode(self.find("uint64(18446744073709551615)")), 2**64 - 1)

    def test_named_struct(self):
        v = vom.decode(self.find('types.NStruct{A: true, B: "abc", C: 123}'))
        self.assertEqual(vdl.type_of(v).name, "v.io/v23/vom/testdata/types.NStruct")
        self.assertEqual((v.A, v.B, v.C), (True, "abc", 123))
        self.assertEqual(vom.encode(v), self.find('types.NStruct{A: true, B: "abc", C: 123}'))

    def test_union_enum_optional(self):
        u = vom.decode(self.find('types.NUnion{B: "abc"}'))
        self.assertEqual((u.name, u.value), ("B", "abc"))
        e = vom.decode(self.find("types.NEnum.B"))
        self.assertEqual((e.label, e.index), ("B", 1))
        o = vom.decode(self.find("?types.NStruct(nil)"))
        self.assertIsInstance(o, vdl.Typed)
        self.assertIsNone(o.value)
        self.assertEqual(o.type.kind, vdl.Kind.OPTIONAL)

    def test_any_typeobject_map_set(self):
        self.assertIsNone(vom.decode(self.find("any(nil)")))
        self.assertEqual(vom.decode(self.find("typeobject(bool)")), vdl.BoolType)
        self.assertEqual(vom.decode(self.find('map[uint64]string{1: "abc"}')), {1: "abc"})
        self.assertEqual(vom.decode(self.find("set[uint64]{1}")), {1})
        sa = vom.decode(self.find("types.StructAny{Any: types.NListUint64{1}}"))
        self.assertEqual(list(sa.Any), [1])
        self.assertEqual(vdl.type_of(sa.Any).name, "v.io/v23/vom/testdata/types.NListUint64")

    def test_optional_in_any(self):
        # Go's *T in an interface (as Go's syncbased sends syncgroups): the value reads
        # like the struct, equals it, and still knows (and re-encodes) its type ?T
        data = self.find("types.StructAny{Any: ?types.NStruct{}}")
        sa = vom.decode(data)
        t = vdl.type_of(sa.Any)
        self.assertEqual(t.kind, vdl.Kind.OPTIONAL)
        self.assertEqual(t.elem.name, "v.io/v23/vom/testdata/types.NStruct")
        nstruct = vdl.class_for(t.elem)
        self.assertIsInstance(sa.Any, nstruct)
        self.assertEqual((sa.Any.A, sa.Any.B, sa.Any.C), (False, "", 0))
        self.assertEqual(sa.Any, nstruct())
        self.assertEqual(vom.encode(sa), data)
        # made by hand, the same bytes
        sa2 = type(sa)(Any=vdl.optional_value(t, nstruct()))
        self.assertEqual(vom.encode(sa2), data)
        self.assertEqual(vom.encode(type(sa)(Any=vdl.value(t, nstruct()))), data)
        # a ?T held where a T is declared is written as the T
        self.assertEqual(vom.encode(sa.Any, nstruct._vdl_type), vom.encode(nstruct()))
        nil = vom.decode(self.find("types.StructAny{Any: ?types.NStruct(nil)}"))
        self.assertEqual((vdl.type_of(nil.Any), nil.Any.value), (t, None))

    def test_recursive(self):
        v = vom.decode(self.find("types.RecA{{}, {{}}}"))
        self.assertEqual(v, [[], [[]]])
        t = vdl.type_of(v)
        self.assertIs(t.elem, t)


class PlainValues(unittest.TestCase):
    def test_inferred_types(self):
        for v, hexs in [(True, "810201"), ("abc", "810603616263"), (b"\xff\x00\x01", "814e03ff0001"),
                        (None, "811e000001e0"), (-1, "811201")]:
            self.assertEqual(vom.encode(v).hex(), hexs)
            self.assertEqual(vom.decode(bytes.fromhex(hexs)), v)

    def test_explicit_type(self):
        self.assertEqual(vom.encode(5, vdl.Int16Type).hex(), "810e0a")
        self.assertEqual(vom.encode([1, 2], vdl.list_of(vdl.Uint64Type)).hex(),
                         "815104030106e15203020102")
        self.assertEqual(vom.encode(vdl.value(vdl.Int16Type, 5)).hex(), "810e0a")


def _inside(t):
    """The types inside t (t included)."""
    out = {}
    stack = [t]
    while stack:
        x = stack.pop()
        if x is None or id(x) in out:
            continue
        out[id(x)] = x
        stack += [x.elem, x.key] + [f.type for f in x.fields]
    return list(out.values())


class LazyStructCodecs(unittest.TestCase):
    """A struct's codec runs a generic loop until its COMPILE_AFTER-th use, then its own
    compiled code (v23py.vom._structgen): Go's streams decode and re-encode to the same
    bytes both ways, truncated ones fail the same way, and the switch happens."""

    def fresh_codecs(self, t, after):
        # (the codecs of t and what it holds are made again, with this threshold; a fresh
        # Decoder and Encoder take them from the types)
        self.patch(_structgen, "COMPILE_AFTER", after)
        for t in _inside(t):
            t._cache.pop(_codec.DEC, None)
            t._cache.pop(_codec.DEC + "!", None)
            t._cache.pop(_codec.ENC, None)
            t._cache.pop(_codec.ENC + "!", None)

    def outcomes(self, data):
        out = []
        for n in list(range(len(data) + 1)):
            dec = vom.Decoder()
            dec.feed(data[:n])
            try:
                v = dec.decode()
                out.append(("ok", vom.Encoder().encode(v).hex()))
            except vom.NeedData:
                out.append("need data")
            except verror.VError as e:
                out.append((e.id, e.msg))
        return out

    def test_generic_and_compiled_agree_on_go_streams(self):
        checked = 0
        for c in _load("data81.json")["tests"]:
            data = bytes.fromhex(c["hex"])
            t = vom.decode_typed(data)[0]
            structs = [x for x in _inside(t) if x.kind == vdl.Kind.STRUCT]
            if not structs:
                continue
            self.fresh_codecs(t, 1 << 30)
            generic = self.outcomes(data)
            self.assertFalse(any(_structgen.is_compiled(_codec.decoder(t)) for t in structs))
            for t in structs:
                _structgen.compile_now(_codec.decoder(t))
                _structgen.compile_now(_codec.encoder(t))
                self.assertTrue(_structgen.is_compiled(_codec.decoder(t)))
                self.assertTrue(_structgen.is_compiled(_codec.encoder(t)))
            self.assertEqual(self.outcomes(data), generic, c["name"])
            self.assertEqual(generic[-1], ("ok", c["hex"]))
            checked += 1
        self.assertGreater(checked, 40)

    def test_compiled_on_the_nth_use(self):
        c = [c for c in _load("data81.json")["tests"]
             if c["name"] == 'types.NStruct{A: true, B: "abc", C: 123}'][0]
        data = bytes.fromhex(c["hex"])
        t = vom.decode_typed(data)[0]
        self.fresh_codecs(t, 5)
        for i in range(8):
            self.assertEqual(_structgen.is_compiled(_codec.decoder(t)), i >= 5, i)
            dec = vom.Decoder()
            dec.feed(data)
            self.assertEqual(vom.Encoder().encode(dec.decode()), data)
        self.assertTrue(_structgen.is_compiled(_codec.encoder(t)))


class KnownTypes(unittest.TestCase):
    """A peer's type definitions that match types this process has (by name, then part by
    part) resolve to those types without building; anything else is built as before."""

    def setUp(self):
        # Each stream's definitions are worked out here, not replayed from what an
        # earlier stream with the same first type messages did (vom._typeenc's trie).
        self.patch(_typeenc, "_trie", {})
        self.patch(_typeenc, "_TRIE_DEPTH", 0)

    def decode(self, data):
        dec = vom.Decoder()   # (a stream of its own: vom.decode would reuse decoded types)
        dec.feed(data)
        return dec.decode_typed()

    def built(self, data):
        self.patch(vom.TypeDecoder, "_known", lambda self, tid, group: None)
        try:
            return self.decode(data)
        finally:
            self.patch(vom.TypeDecoder, "_known", _KNOWN)

    def test_same_types_as_building(self):
        matched = [0]

        def spy(td, tid, group):
            got = _KNOWN(td, tid, group)
            matched[0] += got is not None
            return got
        for c in _load("data81.json")["tests"]:
            data = bytes.fromhex(c["hex"])
            t1, v1 = self.built(data)
            self.patch(vom.TypeDecoder, "_known", spy)
            t2, v2 = self.decode(data)
            self.assertEqual(str(t2), c["type_string"])
            self.assertIs(t2, t1)
            self.assertEqual(vom.encode(v2, t2).hex(), c["hex"])
        self.assertGreater(matched[0], 200)

    def test_blessings_match_the_generated_types(self):
        from v23py import security
        p = security.random_principal()
        b = p.bless_self("alice", security.new_expiry_caveat(datetime.timedelta(hours=1)))
        data = vom.encode(b.to_wire(), security.WireBlessingsType)
        builds = []
        self.patch(vdl.TypeBuilder, "build",
                   lambda b, *a, **k: builds.append(b) or _BUILD(b, *a, **k))
        t, v = self.decode(data)
        self.assertIs(t, security.WireBlessingsType)
        self.assertEqual(builds, [])
        self.assertEqual(vom.encode(v, t), data)
        self.assertEqual(security.blessings_from_wire(v).unique_id, b.unique_id)

    def test_a_name_with_other_contents_is_built(self):
        # a peer's v.io/v23/security.Signature with a field of its own: its own type
        from v23py import security
        other = vdl.struct(security.Signature._vdl_type.name,
                           [("Purpose", vdl.ByteListType), ("Extra", vdl.StringType)])
        data = vom.encode(vdl.convert(other, {"Purpose": b"p", "Extra": "x"}), other)
        t, v = vom.decode_typed(data)
        self.assertIsNot(t, security.Signature._vdl_type)
        self.assertEqual([f.name for f in t.fields], ["Purpose", "Extra"])
        self.assertEqual((v.Purpose, v.Extra), (b"p", "x"))
        # and the real one still resolves to the generated type
        sig = security.new_ecdsa_signer().sign(b"S1", b"m")
        t2, _ = vom.decode_typed(vom.encode(sig, security.Signature._vdl_type))
        self.assertEqual(t2, security.Signature._vdl_type)


    def test_a_later_type_of_the_same_name_does_not_hide_the_generated_one(self):
        # another v.io/v23/security.Signature made since (a peer's, still alive): the
        # blessings still resolve to the generated types, with nothing built
        from v23py import security
        other = vdl.struct(security.Signature._vdl_type.name,
                           [("Purpose", vdl.ByteListType), ("Extra", vdl.StringType)])
        self.assertIs(vdl.named_type(other.name), other)
        p = security.random_principal()
        data = vom.encode(p.bless_self("alice").to_wire(), security.WireBlessingsType)
        builds = []
        self.patch(vdl.TypeBuilder, "build",
                   lambda b, *a, **k: builds.append(b) or _BUILD(b, *a, **k))
        t, _ = self.decode(data)
        self.assertIs(t, security.WireBlessingsType)
        self.assertEqual(builds, [])


_KNOWN = vom.TypeDecoder._known
_BUILD = vdl.TypeBuilder.build
