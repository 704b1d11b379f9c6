"""Type messages remembered across connections: a fresh TypeEncoder replays what an
earlier fresh encoder wrote for the same first roots, and a fresh TypeDecoder takes
what an earlier one built from the same first chunk.  Both must be exactly what the
work itself gives, and what they keep must stay small whatever a peer sends."""
import gc
import tracemalloc

from twisted.trial import unittest

from v23py import vdl, verror, vom
from v23py.rpc.wire import RequestType, ResponseType
from v23py.vom import _typeenc


def _clear():
    _typeenc._ENCODED.clear()
    _typeenc._trie.clear()
    _typeenc._trie_size[0] = 0
    _typeenc._trie_gen[0] += 1


def _encode(roots):
    te = vom.TypeEncoder()
    ids = [te.encode_type(t) for t in roots]
    return te.take_bytes(), ids, dict(te._ids), te._next


def _encode_unremembered(roots):
    saved = _typeenc._MAX_ROOTS
    _typeenc._MAX_ROOTS = -1      # no root is ever remembered: every type is written
    try:
        te = vom.TypeEncoder()
        te._roots = None
        ids = [te.encode_type(t) for t in roots]
        return te.take_bytes(), ids, dict(te._ids), te._next
    finally:
        _typeenc._MAX_ROOTS = saved


def _small_types(tag, n):
    return [vdl.struct(f"memo.{tag}.T{i}", [("A", vdl.StringType), ("B", vdl.Int32Type)])
            for i in range(n)]


class EncoderMemoTest(unittest.TestCase):
    def setUp(self):
        _clear()
        self.addCleanup(_clear)

    def test_replay_writes_what_encoding_writes(self):
        seqs = [[ResponseType], [RequestType], [RequestType, ResponseType],
                [ResponseType, vdl.StringListType, RequestType],
                [vdl.list_of(vdl.AnyType), ResponseType, RequestType, vdl.ByteListType,
                 vdl.map_of(vdl.StringType, vdl.AnyType)]]
        for roots in seqs:
            want = _encode_unremembered(roots)
            self.assertEqual(_encode(roots), want)   # the first time, remembered
            self.assertEqual(_encode(roots), want)   # replayed
        self.assertTrue(_typeenc._ENCODED)

    def test_replay_then_more_types(self):
        extra = vdl.struct("memo.Extra", [("R", ResponseType), ("N", vdl.Uint64Type)])
        _encode([ResponseType])
        te = vom.TypeEncoder()
        ids = [te.encode_type(ResponseType), te.encode_type(extra)]   # replayed, then written
        self.assertEqual((te.take_bytes(), ids, dict(te._ids), te._next),
                         _encode_unremembered([ResponseType, extra]))

    def test_decodes_as_written(self):
        _encode([RequestType])
        data, ids, _, _ = _encode([RequestType])
        td = vom.TypeDecoder()
        td.feed(data)
        self.assertEqual(td.lookup(ids[0]), RequestType)

    def test_big_types_are_not_remembered(self):
        big = vdl.struct("", [("F%d" % i + "X" * 100, ResponseType) for i in range(100)])
        self.assertTrue(_typeenc._all_ours(big))
        self.assertGreater(len(big.unique()), _typeenc._MAX_ENCODED_UNIQUE)
        _encode([big])
        self.assertEqual(_typeenc._ENCODED, {})

    def test_bounded(self):
        for n in range(3 * _typeenc._MAX_ENCODED):
            _encode([vdl.array_of(ResponseType, n + 1)])
        self.assertEqual(len(_typeenc._ENCODED), _typeenc._MAX_ENCODED)
        t = vdl.array_of(ResponseType, 1)
        self.assertEqual(_encode([t]), _encode_unremembered([t]))

    def test_a_peers_own_types_are_not_remembered(self):
        # e.g. a stored value of a type some client defined, sent back by Syncbase
        own = vdl.list_of(vdl.struct("memo.Theirs", [("A", vdl.StringType)]))
        for roots in ([own], [ResponseType, own]):
            self.assertEqual(_encode(roots), _encode_unremembered(roots))
        self.assertEqual(len(_typeenc._ENCODED), 1)   # only ResponseType, first


class DecoderMemoTest(unittest.TestCase):
    def setUp(self):
        _clear()
        self.addCleanup(_clear)

    def _stream(self, *roots):
        te = vom.TypeEncoder()
        ids = [te.encode_type(t) for t in roots]
        return te.take_bytes(), ids

    def _messages(self, data):
        """data (a type stream) split into its version byte and its messages."""
        out, pos, td = [data[:1]], 1, vom.TypeDecoder()
        td._node = None
        td._version_read = True
        while pos < len(data):
            end = td.read_type_message(data, pos)
            out.append(data[pos:end])
            pos = end
        return out

    def _unremembered(self, data):
        td = vom.TypeDecoder()
        td._node = None
        td.feed(data)
        return td

    def test_same_types_from_remembered_messages(self):
        data, ids = self._stream(RequestType, ResponseType)
        want = self._unremembered(data)
        first, second, third = vom.TypeDecoder(), vom.TypeDecoder(), vom.TypeDecoder()
        first.feed(data)
        self.assertEqual(_typeenc._trie_size[0], len(self._messages(data)) - 1)
        size = _typeenc._trie_size[0]
        second.feed(data)
        for part in self._messages(data):   # one flow write per message, as Go's client
            third.feed(part)
        self.assertEqual(_typeenc._trie_size[0], size)
        for td in (first, second, third):
            self.assertEqual(td._built, want._built)
            self.assertEqual(td._wire, {})
            self.assertEqual(td.lookup(ids[0]), RequestType)
            self.assertEqual(td.lookup(ids[1]), ResponseType)
        # each stream goes on independently
        more, _ = self._stream(RequestType, ResponseType,
                               vdl.struct("memo.More", [("A", vdl.StringType)]))
        second.feed(more[len(data):])
        self.assertIn("memo.More", [t.name for t in second._built.values()])
        self.assertNotIn("memo.More", [t.name for t in third._built.values()])

    def test_a_chunk_ending_mid_message(self):
        data, ids = self._stream(RequestType)
        cut = len(data) - 3
        for _ in range(2):   # once processed, once remembered
            td = vom.TypeDecoder()
            td.feed(data[:cut])
            self.assertIsNone(td.lookup(ids[0]))
            td.feed(data[cut:])
            self.assertEqual(td.lookup(ids[0]), RequestType)

    def test_bad_messages_fail_every_time(self):
        data, _ = self._stream(RequestType)
        bad = data[:-1] + b"\x7f"
        for _ in range(2):
            with self.assertRaises(verror.VError) as cm:
                vom.TypeDecoder().feed(bad)
            self.assertEqual(cm.exception.id, verror.BadProtocol.id)
        twice = data + self._messages(data)[1]    # its first definition again
        for _ in range(2):
            with self.assertRaises(verror.VError) as cm:
                vom.TypeDecoder().feed(twice)
            self.assertIn("defined twice", str(cm.exception))

    def test_a_peer_churning_streams_keeps_little(self):
        # Many distinct streams of small definitions: the trie stays within its bound
        # (it is dropped and begun again when full), and so does the memory it holds.
        streams = []
        for c in range(40):
            te = vom.TypeEncoder()
            for n in range(60):   # unnamed types: remembered, unlike a peer's named ones
                te.encode_type(vdl.array_of(ResponseType, 1000 * c + n + 1))
            streams.append(te.take_bytes())
        gc.collect()
        tracemalloc.start()
        self.addCleanup(tracemalloc.stop)
        base = tracemalloc.get_traced_memory()[0]
        for data in streams:
            vom.TypeDecoder().feed(data)
            self.assertLessEqual(_typeenc._trie_size[0], _typeenc._TRIE_NODES)
        del streams
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - base
        self.assertGreater(_typeenc._trie_gen[0], 0)
        self.assertLess(kept, 4 << 20)
        _clear()
        gc.collect()
        self.assertLess(tracemalloc.get_traced_memory()[0] - base, 256 << 10)

    def test_a_peers_own_types_are_not_remembered(self):
        te = vom.TypeEncoder()
        for t in _small_types("own", 10):
            te.encode_type(t)
        vom.TypeDecoder().feed(te.take_bytes())
        self.assertEqual(_typeenc._trie_size[0], 0)

    def test_long_streams_are_remembered_only_at_their_start(self):
        te = vom.TypeEncoder()
        for n in range(3 * _typeenc._TRIE_DEPTH):
            te.encode_type(vdl.list_of(vdl.array_of(RequestType, n + 1)))
        vom.TypeDecoder().feed(te.take_bytes())
        self.assertLessEqual(_typeenc._trie_size[0], _typeenc._TRIE_DEPTH)
