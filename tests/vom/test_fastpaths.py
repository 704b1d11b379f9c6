"""The decoder's shortcuts (zero makers, shared per-type-stream plans) give the same values
as the general path."""
from twisted.trial import unittest

from v23py import vdl, verror, vom
from v23py.rpc import wire
from v23py.vdl import _values as V


class ZeroMakerTest(unittest.TestCase):
    def test_same_as_zero_walk(self):
        b = vdl.TypeBuilder()
        node = b.struct("test/fast.Node")
        node.append_field("Name", vdl.StringType)
        kids = b.list()
        kids.elem = node
        node.append_field("Kids", kids)
        b.build()
        rec = node.built
        arr = vdl.array_of(vdl.struct("test/fast.P", [("X", vdl.Int32Type)]), 3)
        u = vdl.union("test/fast.U", [("A", vdl.list_of(vdl.StringType)), ("B", vdl.Int64Type)])
        types = [wire.RequestType, wire.ResponseType, rec, arr, u, vdl.map_of(vdl.StringType, rec),
                 vdl.optional(rec), vdl.AnyType, vdl.enum("test/fast.E", ["One", "Two"]),
                 vdl.named("test/fast.S", vdl.StringType), vdl.ByteListType,
                 vdl.array_of(vdl.ByteType, 4)]
        for t in types:
            self.assertEqual(V.zero_maker(t)(), V._zero_slow(t), str(t))
            self.assertEqual(vdl.zero(t), V._zero_slow(t), str(t))
        # fresh mutable values each time
        a, b2 = V.zero_maker(wire.RequestType)(), V.zero_maker(wire.RequestType)()
        self.assertIsNot(a.GrantedBlessings, b2.GrantedBlessings)
        a.GrantedBlessings.CertificateChains.append([])
        self.assertEqual(b2.GrantedBlessings.CertificateChains, [])

    def test_registration_rebuilds(self):
        t = vdl.struct("test/fast.Reg", [("In", vdl.struct("test/fast.Inner", [("V", vdl.Int64Type)]))])
        before = vdl.zero(t)

        class Inner(vdl.Struct):
            __slots__ = ("V",)
            _vdl_type = t.fields[0].type
        vdl.register(Inner)
        after = vdl.zero(t)
        self.assertIsInstance(after.In, Inner)
        self.assertNotIsInstance(before.In, Inner)


class SharedPlansTest(unittest.TestCase):
    def pipe(self):
        te, td = vom.TypeEncoder(), vom.TypeDecoder()
        return te, td

    def test_response_with_and_without_any_params(self):
        te, td = self.pipe()
        ok = wire.response(None, True, 1)
        bad_params = verror.VError("a.b/c", 0, "boom", ["comp", "op", 7, "x"])
        msgs = [vom.encode_value_message(te, wire.ResponseType, v)
                for v in (ok, ok, wire.response(bad_params, True, 0), ok)]
        td.feed(te.take_bytes())
        got = []
        for m in msgs:   # one Decoder per message, as RPC uses one per flow
            d = vom.Decoder(type_decoder=td)
            d.feed(bytes([vom.VERSION_81]) + bytes(m))
            got.append(d.decode(wire.ResponseType))
        self.assertEqual(got[0], ok)
        self.assertEqual(got[1], ok)
        self.assertEqual(got[3], ok)
        e = got[2].Error
        self.assertEqual((e.id, e.msg, e.params), ("a.b/c", "boom", ["comp", "op", 7, "x"]))
        self.assertTrue(td.value_plans)

    def test_tables_of_the_last_message_reused_only_when_the_same(self):
        # a split stream of values holding anys: the type-id and any-length tables of a
        # message are reused from the message before only when their bytes are the same
        te, td = self.pipe()
        t = vdl.struct("test/fast.Holder", [("A", vdl.AnyType), ("B", vdl.AnyType)])
        point = vdl.struct("test/fast.Point", [("X", vdl.Int64Type)])
        vals = [{"A": "ab", "B": None}, {"A": "cd", "B": None}, {"A": "abc", "B": None},
                {"A": 5, "B": None}, {"A": "ab", "B": None}, {"A": "ab", "B": 7},
                {"A": 7, "B": "ab"}, {"A": vdl.value(point, {"X": 3}), "B": None},
                {"A": "ab", "B": None}, {"A": 7, "B": "ab"}, {"A": 7, "B": "ab"}]
        vals = [vdl.value(t, v) for v in vals]
        msgs = [bytes(vom.encode_value_message(te, t, v)) for v in vals]
        d = vom.Decoder(type_decoder=td)
        d.feed(bytes([vom.VERSION_81]))
        got = []
        for i, m in enumerate(msgs):
            td.feed(te.take_bytes()) if i in (0, 7) else None   # (Point's type comes late)
            d.feed(m)
            got.append(d.decode(t))
        self.assertEqual(got, vals)
        self.assertEqual([type(v.A) for v in got[3:8]],
                         [int, str, str, int, vdl.class_for(point)])
        # one any-length table short of the last message's: read, not reused
        d2 = vom.Decoder(type_decoder=td)
        d2.feed(bytes([vom.VERSION_81]) + msgs[6] + msgs[0])
        self.assertEqual([d2.decode(t), d2.decode(t)], [vals[6], vals[0]])

    def test_feed_returns_what_is_buffered(self):
        # (what ValueReader holds a flow's undecoded bytes to) in each of feed's cases:
        # after everything was read, onto bytes, onto a bytearray
        te, td = self.pipe()
        m = bytes(vom.encode_value_message(te, vdl.StringType, "abc"))
        td.feed(te.take_bytes())
        d = vom.Decoder(type_decoder=td)
        self.assertEqual(d.buffered(), 0)
        self.assertEqual(d.feed(bytes([vom.VERSION_81]) + m[:2]), 3)
        self.assertEqual(d.feed(m[2:]), len(m) + 1)
        self.assertEqual(d.feed(m), 2 * len(m) + 1)
        self.assertEqual(d.buffered(), 2 * len(m) + 1)
        self.assertEqual([d.decode(vdl.StringType), d.buffered()], ["abc", len(m)])
        self.assertEqual(d.feed(m[:1]), len(m) + 1)
        self.assertEqual(d.decode(vdl.StringType), "abc")
        self.assertEqual(d.feed(m[1:]), len(m))
        self.assertEqual([d.decode(vdl.StringType), d.buffered()], ["abc", 0])
        self.assertEqual(d.feed(bytearray(m[:1]), True), 1)

    def test_many_types_two_byte_ids_and_truncation(self):
        te, td = self.pipe()
        types = [vdl.struct("test/fast.T%d" % i, [("A", vdl.Int64Type), ("B", vdl.AnyType)])
                 for i in range(80)]
        vals = [vdl.value(t, {"A": i, "B": None}) for i, t in enumerate(types)]
        msgs = [bytes(vom.encode_value_message(te, t, v)) for t, v in zip(types, vals)]
        td.feed(te.take_bytes())
        for rnd in range(2):
            d = vom.Decoder(type_decoder=td)
            d.feed(bytes([vom.VERSION_81]))
            for t, m, v in zip(types, msgs, vals):
                # byte by byte: NeedData until the message is complete
                for i in range(len(m) - 1):
                    d.feed(m[i:i + 1])
                    self.assertRaises(vom.NeedData, d.decode, t)
                d.feed(m[-1:])
                self.assertEqual(d.decode(t), v)
        self.assertTrue(any(k >= 0x100 for k in td.value_plans))


class TypeCacheTest(unittest.TestCase):
    """Type streams share parsed definitions and built types: a second stream defining the
    same types (under other ids, recursive ones included) gets the same Types, and a
    stream defining other types under the same ids gets those."""

    def stream(self, types, skip=0):
        te = vom.TypeEncoder()
        for t in [vdl.struct("test/cache.Pad%d" % i, [("P", vdl.Int8Type)])
                  for i in range(skip)] + types:
            te.encode_type(t)
        td = vom.TypeDecoder()
        td.feed(te.take_bytes())
        return te, td

    def test_same_types_any_ids(self):
        b = vdl.TypeBuilder()
        node = b.struct("test/cache.Node")
        kids = b.list()
        kids.elem = node
        node.append_field("Name", vdl.StringType)
        node.append_field("Kids", kids)
        b.build()
        types = [wire.RequestType, node.built, vdl.map_of(vdl.StringType, node.built)]
        te1, td1 = self.stream(types)
        te2, td2 = self.stream(types, skip=3)
        for t in types:
            i1, i2 = te1.encode_type(t), te2.encode_type(t)
            self.assertNotEqual(i1, i2)
            self.assertIs(td1.lookup(i1), td2.lookup(i2))
            self.assertEqual(td1.lookup(i1), t)

    def test_same_ids_other_types(self):
        a = vdl.struct("test/cache.A", [("X", vdl.list_of(vdl.StringType))])
        b = vdl.struct("test/cache.A", [("X", vdl.list_of(vdl.Int64Type))])
        te1, td1 = self.stream([a])
        te2, td2 = self.stream([b])
        self.assertEqual(te1.encode_type(a), te2.encode_type(b))
        self.assertEqual(td1.lookup(te1.encode_type(a)), a)
        self.assertEqual(td2.lookup(te2.encode_type(b)), b)


class StringListTest(unittest.TestCase):
    """[]string's whole-list paths (ASCII strings under 128 bytes) write and read the same
    bytes as the element loop, and hand every other list to it."""

    def expected(self, v):
        from v23py.vom import enc_uint
        out = bytearray()
        enc_uint(out, len(v))
        for s in v:
            b = s.encode("utf-8", "surrogateescape")
            enc_uint(out, len(b))
            out += b
        return bytes(out)

    def test_same_bytes_both_ways(self):
        from v23py.vom._codec import decoder, encoder
        t = vdl.list_of(vdl.StringType)
        enc, dec = encoder(t), decoder(t)
        cases = [["a"] * 8, [f"k{i}" for i in range(1000)], ["", "x" * 127] * 5,
                 ["é"] * 9, ["x" * 128] * 9, ["a\udcff"] * 9, ["a"] * 7 + ["\x7f" * 200],
                 [], ["\x00", "\x7f"] * 8,
                 # all of one length: joined with that length's character
                 [f"s{i:05d}" for i in range(300)], ["\x06" * 6] * 9, [""] * 9,
                 ["\x01a", "a\x01"] * 5,
                 ["a", "\x01\x01", ""] + ["a"] * 6,   # right total, joints misplaced
                 ["ab"] * 20000,   # runs marked beyond one 4096-byte fill
                 # runs and singles mixed; NULs inside strings (split at 0xFF instead)
                 ["ab"] * 40 + ["xyz", "q"] * 40 + ["1234"] * 100 + ["\x7f" * 127] * 9,
                 ["a\x00b"] * 20 + ["cd"] * 3, [f"k{i}" for i in range(0, 100000, 7)]]
        for v in cases:
            buf = bytearray()
            enc(buf, v, None)
            self.assertEqual(bytes(buf), self.expected(v), repr(v)[:40])
            got, end = dec(bytes(buf) + b"\xe1", 0, None)
            self.assertEqual((got, end), (v, len(buf)), repr(v)[:40])

    def test_bad_elements_and_truncation(self):
        from v23py.vom._codec import decoder, encoder
        t = vdl.list_of(vdl.StringType)
        enc, dec = encoder(t), decoder(t)
        for v in (["a"] * 8 + [1], [b"ab"] * 9, ["a"] * 8 + [None]):
            self.assertRaises(verror.VError, enc, bytearray(), v, None)
        buf = bytearray()
        enc(buf, [f"s{i}" for i in range(20)], None)
        for cut in (len(buf) - 1, len(buf) // 2, 2):
            self.assertRaises((vom.Truncated, IndexError), dec, bytes(buf[:cut]), 0, None)
        # as a message: NeedData until whole
        msg = vom.encode([f"s{i}" for i in range(20)], t)
        d = vom.Decoder()
        d.feed(msg[:-3])
        self.assertRaises(vom.NeedData, d.decode)
        d.feed(msg[-3:])
        self.assertEqual(d.decode(), [f"s{i}" for i in range(20)])


class StructOrderTest(unittest.TestCase):
    """A struct's generated decoder reads fields in order in one pass and hands any
    other layout (Go's encoders never write one, but a peer may) to its loop."""

    def test_any_order_same_value(self):
        from v23py.vom._codec import decoder
        cls = vdl.class_for(vdl.struct("v23py/test.Ordered", [
            ("A", vdl.Int32Type), ("B", vdl.StringType), ("C", vdl.BoolType),
            ("D", vdl.list_of(vdl.StringType))]))
        dec = decoder(cls._vdl_type)
        in_order = b"\x00\xff\xf6\x01\x02hi\x02\x01\x03\x01\x01x\xe1"
        for data, want in [
                (in_order, cls(A=123, B="hi", C=True, D=["x"])),
                (b"\x02\x01\x00\x05\xe1", cls(A=-3, C=True)),            # out of order
                (b"\x01\x01a\x01\x01b\xe1", cls(B="b")),                 # repeated: last
                (b"\x03\x00\x00\x7f\xe1", cls(A=-64)),                   # zero list sent
                (b"\xe1", cls()),
                (b"\x00\xfb\x01\x00\x00\x00\x00\xe1", None),             # out of range
                (b"\x04\x00\xe1", None), (b"\x02\x02\xe1", None)]:       # bad index, bool
            if want is None:
                self.assertRaises(verror.VError, dec, data + b"?", 0, None)
                continue
            got, end = dec(data + b"?", 0, None)
            self.assertEqual((got, end), (want, len(data)), data)
        for cut in range(1, len(in_order)):
            self.assertRaises((vom.Truncated, IndexError), dec, in_order[:cut], 0, None)


_SEQ = [0]
_INT_KINDS = [vdl.ByteType, vdl.Uint16Type, vdl.Uint32Type, vdl.Uint64Type, vdl.Int8Type,
              vdl.Int16Type, vdl.Int32Type, vdl.Int64Type]


class SteadyStateTest(unittest.TestCase):
    """The shortcuts of a long-lived Encoder/Decoder pair (the struct codecs' two-byte
    ints, the message length written into place, plans by class, the decoder reading fed
    bytes in place) give the bytes and values of the general path."""

    def ints_type(self, name):
        return vdl.struct(f"v23py/test.{name}",
                          [(f"F{i}", t) for i, t in enumerate(_INT_KINDS)])

    def test_ints_near_the_one_and_two_byte_forms(self):
        from v23py.vom import _codec, _structgen
        self.patch(_structgen, "COMPILE_AFTER", 1 << 30)   # (for the codecs made now)
        _SEQ[0] += 1   # (fresh types: no codec cached on them by an earlier run)
        generic = self.ints_type(f"IntsGeneric{_SEQ[0]}")
        compiled = self.ints_type(f"IntsCompiled{_SEQ[0]}")
        for f in (_codec.decoder(compiled), _codec.encoder(compiled)):
            _structgen.compile_now(f)
        self.assertTrue(_structgen.is_compiled(_codec.encoder(compiled)))
        cases = []
        for t in _INT_KINDS:
            lo, hi = vdl.INT_RANGES[t.kind]
            cases += [(t, x) for x in (-129, -128, -127, -65, -64, -63, -1, 1, 63, 64, 127,
                                       128, 255, 256, 32767, hi, lo) if lo <= x <= hi and x]
        for ft, x in cases:
            field = _INT_KINDS.index(ft)
            # the field's bytes by the general varint rule (to_bytes, not the shortcuts)
            u = (x << 1 if x >= 0 else ~x << 1 | 1) if vdl.INT_RANGES[ft.kind][0] < 0 else x
            m = (u.bit_length() + 7) >> 3
            want = bytes([field]) + (bytes([u]) if u < 0x80 else
                                     bytes([256 - m]) + u.to_bytes(m, "big")) + b"\xe1"
            for t in (generic, compiled):
                v = vdl.value(t, {f"F{field}": x})
                buf = bytearray()
                _codec.encoder(t)(buf, v, None)
                self.assertEqual(bytes(buf), bytes(want), (t.name, ft, x))
                got, end = _codec.decoder(t)(bytes(want) + b"?", 0, None)
                self.assertEqual((getattr(got, f"F{field}"), end), (x, len(want)))
                for cut in range(1, len(want)):
                    self.assertRaises((vom.Truncated, IndexError),
                                      _codec.decoder(t), bytes(want[:cut]), 0, None)
        self.assertFalse(_structgen.is_compiled(_codec.encoder(generic)))
        self.assertFalse(_structgen.is_compiled(_codec.decoder(generic)))

    def test_bad_values_fail_alike_generic_and_compiled(self):
        from v23py.vom import _codec, _structgen
        self.patch(_structgen, "COMPILE_AFTER", 1 << 30)   # (for the codecs made now)
        _SEQ[0] += 1
        fields = [(f"F{i}", t) for i, t in enumerate(_INT_KINDS)] + [
            ("S", vdl.StringType), ("Y", vdl.BoolType), ("L", vdl.ByteListType)]
        generic = vdl.struct(f"v23py/test.BadGeneric{_SEQ[0]}", fields)
        compiled = vdl.struct(f"v23py/test.BadCompiled{_SEQ[0]}", fields)
        for f in (_codec.decoder(compiled), _codec.encoder(compiled)):
            _structgen.compile_now(f)

        def outcome(t, name, x):
            v = vdl.value(t, {})
            object.__setattr__(v, name, x)
            buf = bytearray()
            try:
                _codec.encoder(t)(buf, v, None)
                return bytes(buf)
            except verror.VError as e:
                return e.id
            except Exception as e:
                return type(e).__name__
        cases = [("S", "\udcff"), ("S", "\ud800"), ("S", "é" * 70), ("S", 3), ("Y", 1),
                 ("Y", 2), ("Y", "yes"), ("L", b"\x00" * 200), ("L", bytearray(b"ab"))]
        for i, t in enumerate(_INT_KINDS):
            lo, hi = vdl.INT_RANGES[t.kind]
            cases += [(f"F{i}", x) for x in (lo - 1, hi + 1, -1, True, 1.5, 2 ** 70, -2 ** 70)]
        for name, x in cases:
            self.assertEqual(outcome(compiled, name, x), outcome(generic, name, x), (name, x))
        self.assertFalse(_structgen.is_compiled(_codec.encoder(generic)))
        self.assertEqual(outcome(compiled, "S", "\udcff"), b"\x08\x01\xff\xe1")
        self.assertEqual(outcome(compiled, "F4", -1), b"\x04\x01\xe1")

    def test_bad_and_long_ints_decode_alike_generic_and_compiled(self):
        from v23py.vom import _codec, _structgen
        self.patch(_structgen, "COMPILE_AFTER", 1 << 30)   # (for the codecs made now)
        _SEQ[0] += 1
        generic = self.ints_type(f"DecGeneric{_SEQ[0]}")
        compiled = self.ints_type(f"DecCompiled{_SEQ[0]}")
        _structgen.compile_now(_codec.decoder(compiled))

        def outcome(t, data):
            try:
                v, end = _codec.decoder(t)(data, 0, None)
                return {f.name: getattr(v, f.name) for f in t.fields}, end
            except verror.VError as e:
                return e.id, str(e)
            except Exception as e:
                return type(e).__name__
        # (a bad count byte, with and without the bytes it would count; 2**64-1; a long
        # form of small values; too large for the narrower kinds; cut off)
        bodies = [b"\xf7\x01", b"\xf7" + b"\x01" * 12, b"\x80" + b"\x00" * 140,
                  b"\xf0\x01\x02", b"\xf8" + b"\xff" * 8, b"\xf8" + b"\xff" * 7,
                  b"\xfc\x00\x00\x01\x00", b"\xfd\x01\x00\x00", b"\xfe\x7f\xff",
                  b"\xf9" + b"\x01" * 7, b"\xfa\x80\x00\x00\x00\x00\x00", b"\xfe\x01", b"\xfe"]
        for i in range(len(_INT_KINDS)):
            for body in bodies:
                for tail in (b"\xe1", b""):
                    data = bytes([i]) + body + tail
                    self.assertEqual(outcome(compiled, data), outcome(generic, data),
                                     (_INT_KINDS[i], data))
        self.assertEqual(outcome(compiled, b"\x03\xf8" + b"\xff" * 8 + b"\xe1")[0]["F3"],
                         2 ** 64 - 1)
        self.assertFalse(_structgen.is_compiled(_codec.decoder(generic)))

    def test_strings_of_any_bytes_decode_alike_generic_and_compiled(self):
        # (Go strings need not be UTF-8: a sync record's object id holds 0xfe bytes)
        from v23py.vom import _codec, _structgen
        self.patch(_structgen, "COMPILE_AFTER", 1 << 30)   # (for the codecs made now)
        _SEQ[0] += 1
        fields = [("S", vdl.StringType), ("T", vdl.StringType)]
        generic = vdl.struct(f"v23py/test.StrGeneric{_SEQ[0]}", fields)
        compiled = vdl.struct(f"v23py/test.StrCompiled{_SEQ[0]}", fields)
        for f in (_codec.decoder(compiled), _codec.encoder(compiled)):
            _structgen.compile_now(f)
        for raw in (b"r\xfecx\x00\xferow", b"\xff", b"caf\xc3\xa9", b"\xc3", b"ok",
                    b"\xed\xa0\x80"):
            data = b"\x00" + bytes([len(raw)]) + raw + b"\x01\x02ok\xe1"
            want = raw.decode("utf-8", "surrogateescape")
            for t in (generic, compiled):
                v, end = _codec.decoder(t)(data, 0, None)
                self.assertEqual((v.S, v.T, end), (want, "ok", len(data)), (t.name, raw))
                buf = bytearray()
                _codec.encoder(t)(buf, v, None)
                self.assertEqual(bytes(buf), data)
        self.assertFalse(_structgen.is_compiled(_codec.decoder(generic)))

    def test_composite_fields_zero_or_not_encode_alike_generic_and_compiled(self):
        # (the compiled encoder writes a struct field and takes it back if it was zero,
        # and answers any, optional and collection fields' zero tests in line)
        from v23py.vom import _codec, _structgen
        self.patch(_structgen, "COMPILE_AFTER", 1 << 30)   # (for the codecs made now)
        _SEQ[0] += 1
        inner = vdl.struct(f"v23py/test.Inner{_SEQ[0]}",
                           [("N", vdl.Uint64Type), ("S", vdl.StringType),
                            ("L", vdl.list_of(vdl.StringType))])
        deep = vdl.struct(f"v23py/test.Deep{_SEQ[0]}", [("In", inner), ("B", vdl.BoolType)])
        fields = [("In", inner), ("D", deep), ("A", vdl.AnyType), ("O", vdl.optional(inner)),
                  ("L", vdl.list_of(vdl.StringType)), ("Set", vdl.set_of(vdl.StringType)),
                  ("M", vdl.map_of(vdl.StringType, vdl.Int32Type)), ("Y", vdl.ByteListType),
                  ("E", vdl.WireErrorType)]
        generic = vdl.struct(f"v23py/test.CompGeneric{_SEQ[0]}", fields)
        compiled = vdl.struct(f"v23py/test.CompCompiled{_SEQ[0]}", fields)
        _structgen.compile_now(_codec.encoder(compiled))
        Inner, Deep = vdl.class_for(inner), vdl.class_for(deep)
        zero_in, some_in = Inner(), Inner(N=300, S="s", L=["x"])
        cases = [
            {}, {"In": zero_in}, {"In": some_in}, {"In": Inner(L=["x"])},
            {"In": Inner(N=2 ** 64 - 1)}, {"In": {"S": "d"}}, {"In": {}},
            {"D": Deep()}, {"D": Deep(In=zero_in)}, {"D": Deep(In=Inner(S="z"))},
            {"D": Deep(B=True)}, {"A": None}, {"A": vdl.Typed(vdl.AnyType, None)},
            {"A": "s"}, {"A": 0}, {"A": some_in}, {"A": vdl.Typed(vdl.Int32Type, 0)},
            {"O": None}, {"O": zero_in}, {"O": some_in}, {"L": []}, {"L": ["a"]},
            {"L": ("a", "b")}, {"Set": set()}, {"Set": {"a"}}, {"Set": frozenset()},
            {"M": {}}, {"M": {"k": 1}}, {"Y": b""}, {"Y": b"\x00"}, {"Y": bytearray(b"ab")},
            {"E": None},
        ]

        def outcome(t, fields):
            v = vdl.value(t, {})
            for name, x in fields.items():
                object.__setattr__(v, name, x)
            buf = bytearray()
            try:
                _codec.encoder(t)(buf, v, vom.EncodeState(vom.TypeEncoder()))
                return bytes(buf)
            except verror.VError as e:
                return e.id
            except Exception as e:
                return type(e).__name__
        for fields in cases:
            self.assertEqual(outcome(compiled, fields), outcome(generic, fields), fields)
        self.assertFalse(_structgen.is_compiled(_codec.encoder(generic)))
        # a zero struct field is left out, a non-zero one kept (the error field, never
        # zero, is written: index 8, an empty WireError)
        self.assertEqual(outcome(compiled, {"In": zero_in, "D": Deep(In=zero_in)}),
                         b"\x08\xe1\xe1")
        self.assertEqual(outcome(compiled, {"D": Deep(In=Inner(N=1))}),
                         b"\x01\x00\x00\x01\xe1\xe1\x08\xe1\xe1")

    def test_stream_of_values_large_and_small(self):
        t = vdl.struct("v23py/test.Steady", [("A", vdl.Int32Type), ("B", vdl.StringType)])
        cls = vdl.class_for(t)
        vals = [cls(A=i * 37 - 500, B="x" * (i * 7 % 300)) for i in range(80)]
        enc = vom.Encoder()
        stream = [enc.encode(v) for v in vals]
        for v, m in zip(vals, stream):   # each message as a fresh encoder writes it
            self.assertIsInstance(m, bytes)
            one = vom.encode(v)
            self.assertTrue(one.endswith(m), (v, m))
        self.assertIn(cls, enc._class_plans)
        # the same values with the type given, and as Typed
        enc2 = vom.Encoder()
        self.assertEqual([enc2.encode(vdl.Typed(t, v) if i % 2 else v, t)
                          for i, v in enumerate(vals)], stream)
        whole = b"".join(stream)
        # fed one message at a time, all at once, and in odd pieces (bytes and bytearray)
        for pieces in ([bytes(m) for m in stream], [whole],
                       [whole[i:i + 13] for i in range(0, len(whole), 13)],
                       [bytearray(whole[i:i + 500]) for i in range(0, len(whole), 500)]):
            dec = vom.Decoder()
            got = []
            for p in pieces:
                dec.feed(p)
                if isinstance(p, bytearray):
                    p[:] = b"\xe0" * len(p)   # the caller reuses its buffer
                while True:
                    try:
                        got.append(dec.decode(t if len(got) % 2 else None))
                    except vom.NeedData:
                        break
            self.assertEqual(got, vals)
            self.assertEqual(dec.buffered(), 0)

    def test_decode_with_another_type_converts(self):
        t = vdl.struct("v23py/test.SteadyA", [("A", vdl.Int32Type)])
        other = vdl.struct("v23py/test.SteadyB", [("A", vdl.Int64Type)])
        enc, dec = vom.Encoder(), vom.Decoder()
        for i in range(3):
            dec.feed(enc.encode(vdl.value(t, {"A": 200 + i})))
            got = dec.decode(other if i else None)
            self.assertEqual(got.A, 200 + i)
            self.assertIs(type(got)._vdl_type if i else got._vdl_type, other if i else t)

    def test_bad_messages_after_the_plan_is_made(self):
        t = vdl.struct("v23py/test.SteadyBad", [("A", vdl.Int32Type), ("B", vdl.StringType)])
        enc = vom.Encoder()
        first = enc.encode(vdl.value(t, {"A": 1, "B": "ok"}))
        msg = enc.encode(vdl.value(t, {"A": 300, "B": "hello"}))
        for bad, err in [(msg[:1] + b"\x7f" + msg[2:], vom.NeedData),     # length past end
                         (msg[:1] + bytes([msg[1] - 1]) + msg[2:], verror.VError),
                         (msg[:-1] + b"\x00\xe1", verror.VError),          # leftover byte
                         (msg[:1] + b"\xff" + msg[2:], verror.VError)]:    # length too big
            dec = vom.Decoder()
            dec.feed(first)
            dec.decode()
            dec.feed(bad)
            self.assertRaises(err, dec.decode)
        for cut in range(len(msg)):
            dec = vom.Decoder()
            dec.feed(first + msg[:cut])
            dec.decode()
            self.assertRaises(vom.NeedData, dec.decode)


class LongByteListTest(unittest.TestCase):
    """A streamed []byte chunk: encoded with one copy, decoded from a buffer given over."""

    def test_encode_value_bytes_is_prefix_and_the_message(self):
        named = vdl.named("v23py.test.Blob", vdl.ByteListType)
        for t, v in ((vdl.ByteListType, b"x" * 70000), (vdl.ByteListType, bytes(range(256)) * 5),
                     (vdl.ByteListType, b"short"), (vdl.ByteListType, b""), (named, b"y" * 3000),
                     (vdl.StringType, "s" * 2000), (vdl.ByteListType, bytearray(b"z" * 2000))):
            te1, te2 = vom.TypeEncoder(), vom.TypeEncoder()
            got = vom.encode_value_bytes(te1, t, v, b"PRE")
            self.assertIs(type(got), bytes)
            self.assertEqual(got, b"PRE" + bytes(vom.encode_value_message(te2, t, v)))
            self.assertEqual(te1.take_bytes(), te2.take_bytes())   # the same type messages too
            self.assertEqual(vom.encode_value_bytes(te1, t, v), bytes(vom.encode_value_message(te2, t, v)))

    def test_decoder_keeps_an_owned_bytearray_and_copies_any_other(self):
        te = vom.TypeEncoder()
        msg = bytes(vom.encode_value_message(te, vdl.ByteListType, b"q" * 5000))
        td = vom.TypeDecoder()
        td.feed(te.take_bytes())
        dec = vom.Decoder(type_decoder=td)
        dec._version_read = True
        given = bytearray(msg)
        dec.feed(given, owned=True)
        self.assertIs(dec._buf, given)   # no copy
        self.assertEqual(dec.decode(), b"q" * 5000)
        lent = bytearray(msg)
        dec.feed(lent)
        lent[:] = b"\x00" * len(lent)    # the caller's still: the decoder took a copy
        self.assertEqual(dec.decode(), b"q" * 5000)


class TablesMessageTest(unittest.TestCase):
    """A value message with type or any-length tables, from the plan a type encoder keeps
    per type, has the bytes of its tables written one number at a time; and once a type
    has an id, the encoder finds it again without hashing the type."""

    @staticmethod
    def written_out(te, t, v):
        # the message as the tables' definition gives it: id, each table (count first),
        # then the body's length where the type has one
        from v23py.vom._codec import EncodeState, encoder, has_chunk_len
        out = bytearray()
        vom.enc_int(out, te.encode_type(t))
        st = EncodeState(te)
        body = bytearray()
        encoder(t)(body, v, st)
        vom.enc_uint(out, len(st.tids))
        for i in st.tids:
            vom.enc_uint(out, i)
        if t.has_any:
            vom.enc_uint(out, len(st.anylens))
            for n in st.anylens:
                vom.enc_uint(out, n)
        if has_chunk_len(t):
            vom.enc_uint(out, len(body))
        return bytes(out + body)

    def test_same_bytes_as_the_tables_written_out(self):
        rec = vdl.struct("test/tables.Rec", [("Id", vdl.Uint64Type), ("Value", vdl.AnyType)])
        anys = vdl.list_of(vdl.AnyType)
        objs = vdl.struct("test/tables.Objs", [("T", vdl.TypeObjectType), ("N", vdl.Int64Type)])
        # more than 0x80 types in one message: two-byte indexes and ids
        many = [vdl.named("test/tables.N%d" % i, vdl.Int64Type) for i in range(200)]
        values = [
            (rec, vdl.zero(rec)),
            (rec, vdl.convert(rec, {"Id": 7, "Value": "short"})),
            (rec, vdl.convert(rec, {"Id": 1 << 40, "Value": "x" * 0x90})),
            (rec, vdl.convert(rec, {"Id": 2, "Value": "y" * 0x1234})),
            (rec, vdl.convert(rec, {"Id": 3, "Value": None})),
            (anys, [vdl.Typed(t, i) for i, t in enumerate(many)]),
            (anys, ["a", 1, None, "b" * 300]),
            (objs, vdl.convert(objs, {"T": vdl.StringType, "N": 5})),
            (objs, vdl.convert(objs, {"T": many[150], "N": 5})),
        ]
        te, ref = vom.TypeEncoder(), vom.TypeEncoder()
        td = vom.TypeDecoder()
        for _ in range(2):   # the first time makes the plans, the second uses them
            for t, v in values:
                got = bytes(vom.encode_value_message(te, t, v))
                self.assertEqual(got, self.written_out(ref, t, v), str(t))
                td.feed(te.take_bytes())
                dec = vom.Decoder(type_decoder=td)
                dec.feed(b"\x81" + got)
                back = dec.decode(t)
                if t is not anys:
                    self.assertEqual(back, v, str(t))
        self.assertEqual(te.take_bytes(), b"")

    def test_uints_in_one_step_or_one_by_one(self):
        for vs in ([], [0], [0x7F, 0, 5], [0x80], [0x7F, 0x80], [0xFF, 1], [0x100],
                   [1, 1 << 63, 2], [(1 << 64) - 1]):
            one_by_one = bytearray()
            for x in vs:
                vom.enc_uint(one_by_one, x)
            buf = bytearray(b"\x09")
            vom.enc_uints(buf, vs)
            self.assertEqual(bytes(buf), b"\x09" + bytes(one_by_one), vs)
        for vs in ([-1], [3, -1], [1 << 64]):
            with self.assertRaises(verror.VError):
                vom.enc_uints(bytearray(), vs)

    def test_known_type_ids_found_without_hashing(self):
        from unittest import mock
        rec = vdl.struct("test/tables.Hashed", [("Value", vdl.AnyType)])
        kept = vdl.named("test/tables.Kept", vdl.StringType)
        te = vom.TypeEncoder()
        v = vdl.convert(rec, {"Value": vdl.Typed(kept, "v")})
        first = bytes(vom.encode_value_message(te, rec, v))
        calls = []
        real_hash, real_eq = vdl.Type.__hash__, vdl.Type.__eq__

        def counted_hash(t):
            calls.append("hash")
            return real_hash(t)

        def counted_eq(a, b):
            calls.append("eq")
            return real_eq(a, b)
        with mock.patch.object(vdl.Type, "__hash__", counted_hash), \
                mock.patch.object(vdl.Type, "__eq__", counted_eq):
            again = bytes(vom.encode_value_message(te, rec, v))
            self.assertEqual(te.encode_type(kept), te.encode_type(kept))
        self.assertEqual(again, first)
        self.assertEqual(calls, [])


class FirstStringTest(unittest.TestCase):
    """vom.with_first_string (a new RPC suffix put into a cached Request) makes the
    encoder's bytes."""

    T = vdl.struct("test/fast.Named", [("Name", vdl.StringType), ("N", vdl.Int64Type),
                                       ("Tags", vdl.list_of(vdl.StringType))])

    def make(self, name):
        v = vdl.zero(self.T)
        v.Name, v.N, v.Tags = name, 7, ["a", "b"]
        return v

    def test_spliced_messages_are_the_encoders(self):
        te = vom.TypeEncoder()
        template = vom.first_string_template(te, self.T, self.make)
        self.assertIsNotNone(template)
        # (lengths around the one-byte limit, in the string and in the whole message)
        for s in ("a", "x" * 100, "x" * 126, "x" * 127, "x" * 128, "y" * 300,
                  "\u00e9/\U0001f600", "bad\udcff", "z" * 20000):
            want = bytes(vom.encode_value_message(te, self.T, self.make(s)))
            self.assertEqual(vom.with_first_string(template, s), want, s[:10])

    def test_no_template_when_field_0_is_not_left_out(self):
        # a maker that fills field 0 whatever it is given: the cut would duplicate it
        te = vom.TypeEncoder()
        self.assertIsNone(vom.first_string_template(te, self.T,
                                                    lambda s: self.make("fixed")))

    def test_no_template_when_the_maker_ignores_the_string(self):
        # field 0 left out when empty, but the probe's message has no such field
        te = vom.TypeEncoder()
        self.assertIsNone(vom.first_string_template(te, self.T, lambda s: self.make("")))
