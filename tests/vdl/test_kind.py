"""vdl.Kind behaves as the enum.IntEnum it was (names, values, str as Go's Kind.String(),
iteration, lookups, pickling) without being an enum class (v23py.vdl._types.Kind)."""
import copy
import pickle

from twisted.trial import unittest

from v23py.vdl import Kind

GO_NAMES = ["any", "optional", "bool", "byte", "uint16", "uint32", "uint64", "int8", "int16",
            "int32", "int64", "float32", "float64", "string", "enum", "typeobject", "array",
            "list", "set", "map", "struct", "union"]


class KindTest(unittest.TestCase):
    def test_values_names_and_strings(self):
        self.assertEqual([str(k) for k in Kind], GO_NAMES)
        self.assertEqual([int(k) for k in Kind], list(range(22)))
        self.assertEqual(len(Kind), 22)
        for k in Kind:
            self.assertIs(Kind(int(k)), k)
            self.assertIs(Kind[k.name], k)
            self.assertIs(getattr(Kind, k.name), k)
            self.assertEqual(k.value, int(k))
            self.assertEqual(k, int(k))
            self.assertEqual(hash(k), hash(int(k)))
            self.assertIs(pickle.loads(pickle.dumps(k)), k)
            self.assertIs(copy.deepcopy(k), k)

    def test_formats(self):
        k = Kind.LIST
        self.assertEqual((f"{k}", "%s" % k, "%d" % k, repr(k), k.name),
                         ("list", "list", "17", "<Kind.LIST: 17>", "LIST"))
        self.assertEqual(f"{k:>6}", "  list")

    def test_bad_values(self):
        for v in (22, -1, "LIST", None, 1.0):
            self.assertRaises(ValueError, Kind, v)
        with self.assertRaises(KeyError):
            Kind["NOPE"]
