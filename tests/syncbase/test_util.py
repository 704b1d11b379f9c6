"""Syncbase naming helpers: escaping, Ids, validation, prefix limits, conventions."""
from twisted.trial import unittest

from v23py.gostrings import go_string
from v23py.syncbase.util import (
    Id, encode, decode, encode_id, decode_id, parse_id, validate_id, validate_row_key,
    prefix_range_limit, InvalidNameError,
    app_and_user_pattern_from_blessings, ConventionError)


class UtilTest(unittest.TestCase):
    def test_encode_decode(self):
        self.assertEqual(encode("a/b%c@d:e,f"), "a%2Fb%25c@d:e,f")
        for s in ["", "plain", "/", "%", "%%sync", "a/b/c", "ü/€", "numFortunes/@6@tcp@@"]:
            self.assertEqual(decode(encode(s)), s)
        self.assertEqual(decode("%2f%2F%41"), "//A")
        for bad in ["%", "%4", "%zz", "abc%", "%g0"]:
            self.assertRaises(InvalidNameError, decode, bad)

    def test_ids(self):
        i = Id("idp:o:fortune", "fortuneDb")
        self.assertEqual(str(i), "idp:o:fortune,fortuneDb")
        self.assertEqual(encode_id(i), "idp:o:fortune,fortuneDb")
        self.assertEqual(parse_id("a,b,c"), Id("a", "b,c"))
        self.assertEqual(decode_id(encode_id(Id("a", "x/y"))), Id("a", "x/y"))
        self.assertRaises(InvalidNameError, parse_id, "nocomma")

    def test_validate_id(self):
        validate_id(Id("idp:o:fortune", "fortuneDb"))
        validate_id(Id("...", "ü and spaces, commas"))
        for bad in [Id("", "x"), Id("a", ""), Id("$", "x"), Id("a::b", "x"), Id("a:", "x"),
                    Id("a", "x\x00y"), Id("a", "tab\there"), Id("a", "c1\x85"),
                    Id("a" * 1025, "x"), Id("a", "x" * 1025), Id("a/b", "x")]:
            self.assertRaises(InvalidNameError, validate_id, bad)

    def test_validate_row_key(self):
        validate_row_key("numFortunes/@6@tcp@127.0.0.1:1@@00@s@idp:o:fortune:alice@@")
        validate_row_key("üñíçødé")
        for bad in ["", "a\x00", "\x7f", "new\nline"]:
            self.assertRaises(InvalidNameError, validate_row_key, bad)

    def test_prefix_range_limit(self):
        self.assertEqual(prefix_range_limit(b"numFortunes"), b"numFortunet")
        self.assertEqual(prefix_range_limit(b"a\xff\xff"), b"b")
        self.assertEqual(prefix_range_limit(b"\xff\xff"), b"")
        self.assertEqual(prefix_range_limit(b""), b"")
        self.assertEqual(prefix_range_limit("ab"), "ac")
        # a str is a Go string: its bytes that are not UTF-8 count as themselves
        self.assertEqual(prefix_range_limit(go_string(b"a\xfe")), go_string(b"a\xff"))

    def test_patterns(self):
        # Syncbase's access checks use security's one matcher
        from syncbased.access import AccessList
        self.assertTrue(AccessList(["idp:o:fortune"]).includes(["idp:o:fortune:alice"]))
        self.assertTrue(AccessList(["idp:o:fortune:alice"]).includes(["idp:o:fortune:alice"]))
        self.assertFalse(AccessList(["idp:o:fortune:$"]).includes(["idp:o:fortune:alice"]))
        self.assertTrue(AccessList(["idp:o:fortune:$"]).includes(["idp:o:fortune"]))
        self.assertFalse(AccessList(["idp:o:fort"]).includes(["idp:o:fortune"]))
        self.assertTrue(AccessList(["..."]).includes([]))
        self.assertFalse(AccessList(["$"]).includes(["x"]))
        self.assertFalse(AccessList(["a,b"]).includes(["a,b"]))
        self.assertFalse(AccessList(["alice"], ["alice:phone"]).includes(["alice:phone"]))
        self.assertTrue(AccessList(["alice"], ["alice:phone"]).includes(["alice:tv"]))

    def test_conventions(self):
        self.assertEqual(app_and_user_pattern_from_blessings("idp:o:fortune:alice"),
                         ("idp:o:fortune", "idp:o:fortune:alice"))
        self.assertEqual(app_and_user_pattern_from_blessings("idp:o:fortune:alice:phone"),
                         ("idp:o:fortune", "idp:o:fortune:alice"))
        self.assertEqual(app_and_user_pattern_from_blessings("dev.v.io:u:bob@x.com"),
                         ("...", "dev.v.io:u:bob@x.com"))
        self.assertEqual(app_and_user_pattern_from_blessings(
            "dev.v.io:u:bob", "idp:o:app:carol"), ("idp:o:app", "idp:o:app:carol"))
        e = self.assertRaises(ConventionError, app_and_user_pattern_from_blessings, "alice")
        self.assertEqual(e.id, "v.io/v23/syncbase/util.FoundNoConventionalBlessings")
        e = self.assertRaises(ConventionError, app_and_user_pattern_from_blessings,
                              "i:o:a:x", "i:o:b:y")
        self.assertEqual(e.id, "v.io/v23/syncbase/util.FoundMultipleAppUserBlessings")
