"""Decoder.keep_any_raw: an ``any`` in a message of the chosen type decodes to a RawBytes
whose bytes are the contents' single-shot encoding (what vom.encode gives for the value);
messages of other types, and decoders not asked, decode anys to values."""
from twisted.trial import unittest

from v23py import vdl, verror, vom
from v23py.rpc import wire

_REC = vdl.struct("test/raw.Rec", [("Id", vdl.Uint64Type), ("Value", vdl.AnyType)])
_POINT = vdl.struct("test/raw.Point", [("X", vdl.Int32Type), ("Tags", vdl.AnyType)])

VALUES = ["x" * 50, "", "\u00e9\udcfe" * 100, "y" * 300, 5, -7, 3.5, True,
          b"\x00\x01" * 70, ["a", "b"], vdl.value(vdl.Uint32Type, 9),
          vdl.value(vdl.named("test/raw.Name", vdl.StringType), "n"),
          vdl.convert(_POINT, {"X": 3, "Tags": ["t"]}), vdl.Int64Type]   # (the last: a typeobject)


def _stream(values, rec_type=_REC):
    te, td = vom.TypeEncoder(), vom.TypeDecoder()
    enc = vom.Encoder(type_encoder=te)
    data = b"".join(enc.encode(vdl.convert(rec_type, {"Id": i, "Value": v}), rec_type)
                    for i, v in enumerate(values))
    td.feed(te.take_bytes())
    return td, data


class RawAnyTest(unittest.TestCase):
    def _decoded(self, values, raw):
        td, data = _stream(values)
        dec = vom.Decoder(type_decoder=td)
        if raw:
            dec.keep_any_raw(_REC)
        dec.feed(data)
        return [dec.decode(_REC).Value for _ in values]

    def test_contents_kept_as_their_single_shot_encoding(self):
        values = VALUES * 2   # (the second time through, the tables' cached state)
        plain = self._decoded(values, raw=False)
        for v, got, want in zip(values, self._decoded(values, raw=True), plain):
            self.assertIs(type(got), vom.RawBytes, repr(v))
            self.assertEqual(got.encoded, vom.encode(want), repr(v))
            self.assertEqual(got.type, vdl.type_of(want), repr(v))
            self.assertEqual(got.value(), want, repr(v))

    def test_nil_any_stays_none(self):
        self.assertEqual(self._decoded([None, "a", None], raw=True)[::2], [None, None])

    def test_other_types_and_plain_decoders_decode_values(self):
        self.assertEqual(self._decoded(["a", 5], raw=False), ["a", 5])
        other = vdl.struct("test/raw.Other", [("Id", vdl.Uint64Type), ("Value", vdl.AnyType)])
        td, data = _stream(["a", 5, "b"], other)
        dec = vom.Decoder(type_decoder=td)
        dec.keep_any_raw(_REC)
        dec.feed(data)
        self.assertEqual([dec.decode(other).Value for _ in range(3)], ["a", 5, "b"])

    def test_messages_of_two_types_on_one_stream(self):
        # an RPC stream: headers (errors with any parameters) between the items, their
        # type and any-length tables the same bytes as the items'
        te, td = vom.TypeEncoder(), vom.TypeDecoder()
        enc = vom.Encoder(type_encoder=te)
        err = verror.VError("test/raw.E", 0, "m", ["v"])
        msgs = []
        for i in range(3):
            msgs.append(enc.encode(wire.Response(Error=err), wire.ResponseType))
            msgs.append(enc.encode(vdl.convert(_REC, {"Id": i, "Value": "v"}), _REC))
        td.feed(te.take_bytes())
        dec = vom.Decoder(type_decoder=td)
        dec.keep_any_raw(_REC)
        dec.feed(b"".join(msgs))
        for _ in range(3):
            self.assertEqual(list(dec.decode(wire.ResponseType).Error.params), ["v"])
            self.assertEqual(dec.decode(_REC).Value, vom.RawBytes(vdl.StringType,
                                                                  vom.encode("v")))

    def test_truncated_string_needs_data(self):
        td, data = _stream(["z" * 40])
        dec = vom.Decoder(type_decoder=td)
        dec.keep_any_raw(_REC)
        dec.feed(data[:-5])
        self.assertRaises(vom.NeedData, dec.decode, _REC)
        dec.feed(data[-5:])
        self.assertEqual(dec.decode(_REC).Value.value(), "z" * 40)

    def test_a_record_holding_raw_bytes_encodes_as_with_the_value(self):
        for v in ("v", 12, ["a"]):
            td, data = _stream([v])
            dec = vom.Decoder(type_decoder=td)
            dec.keep_any_raw(_REC)
            dec.feed(data)
            rec = dec.decode(_REC)
            self.assertIs(type(rec.Value), vom.RawBytes)
            self.assertEqual(vom.encode(rec, _REC),
                             vom.encode(vdl.convert(_REC, {"Id": 0, "Value": v}), _REC))


class AnyTypeIndexTest(unittest.TestCase):
    def test_types_found_once_per_state_and_bad_indexes_still_fail(self):
        # (a state serves every message with the same tables: an any's type is looked
        # up once per index, and an index outside the table fails however many passed)
        from v23py.vom import _codec
        st = _codec.DecodeState(vom.TypeDecoder(), [3], [2])   # string, one any length
        for _ in range(2):
            self.assertEqual(_codec._dec_any(b"\x00\x00\x02ab", 0, st), ("ab", 5))
            self.assertEqual(st.types, {0: vdl.StringType})
        self.assertRaises(verror.VError, _codec._dec_any, b"\x01\x00\x02ab", 0, st)
        st.raw_any = True
        r, end = _codec._dec_any(b"\x00\x00\x02ab", 0, st)
        self.assertEqual((r.type, r.encoded, end), (vdl.StringType, vom.encode("ab"), 5))
