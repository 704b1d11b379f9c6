"""Object names: clean/join/split/trim/escape as Go v0.2.0's v.io/v23/naming."""
from hypothesis import given, strategies as st
from twisted.trial import unittest

from v23py import naming
from v23py.naming import (
    clean, decode_from_name_element, encode_as_name_element, is_reserved, join,
    join_address_name, rooted, split_address_name, split_host_port, strip_reserved,
    trim_suffix,
)

EP = "@6@tcp@127.0.0.1:8101@@" + "0" * 28 + "ab12@m@dev.v.io:u:alice@example.com@@"


class NameTests(unittest.TestCase):
    def test_clean(self):
        for given_, want in [("", ""), ("/", "/"), ("//", "/"), ("///x//y/", "/x/y"),
                             ("x//y", "x/y"), ("x/y/", "x/y"), ("x////y//", "x/y")]:
            self.assertEqual(clean(given_), want, given_)

    def test_rooted(self):
        for name in ["/", "/x", "/x/y", "/" + EP + "/"]:
            self.assertTrue(rooted(name))
        for name in ["", "x", "x//y"]:
            self.assertFalse(rooted(name))

    def test_split_address_name(self):
        cases = [
            ("", "", ""), ("/", "", ""), ("//", "", ""), ("x", "", "x"),
            ("x/y", "", "x/y"), ("/x", "x", ""), ("/x/", "x", ""), ("/x/y//z", "x", "y/z"),
            ("/h:8101/fortune", "h:8101", "fortune"),
            ("/[fe80::1]:9/a", "[fe80::1]:9", "a"),
            ("/10.0.0.1:9", "10.0.0.1:9", ""),
            ("/me@example.com@h:1/a/b", "me@example.com@h:1", "a/b"),
            ("/(dev.v.io/x/mounttabled)@h:1/a/b", "(dev.v.io/x/mounttabled)@h:1", "a/b"),
            ("/(dev.v.io/x/mounttabled)@h:1/", "(dev.v.io/x/mounttabled)@h:1", ""),
            ("/" + EP, EP, ""),
            ("/" + EP + "/", EP, ""),
            ("/" + EP + "/tutorial/fortune", EP, "tutorial/fortune"),
            ("/" + EP + "//a//b/", EP, "a/b"),
            # a malformed endpoint (no closing @@) keeps its slashes in the address
            ("/@6@tcp@h:1@@@s@a/b", "@6@tcp@h:1@@@s@a/b", ""),
            ("x@@/y", "", "x@@/y"),
        ]
        for name, addr, rel in cases:
            self.assertEqual(split_address_name(name), (addr, rel), name)

    def test_join_address_name(self):
        cases = [("", "", ""), ("", "x", "x"), ("", "//x", "/x"), ("/", "", ""), ("//", "", ""),
                 ("/x", "", "/x"), ("x", "", "/x"), ("/x", "y", "/x/y"), ("x", "//y", "/x/y"),
                 (EP, "a/b", "/" + EP + "/a/b")]
        for addr, name, want in cases:
            self.assertEqual(join_address_name(addr, name), want, (addr, name))

    def test_split_join_round_trip(self):
        for name in ["/a/b", "/a//b", "/a:10//b/c", "/" + EP + "/x/y"]:
            addr, rel = split_address_name(name)
            self.assertEqual(join_address_name(addr, rel), clean(name))

    def test_join(self):
        cases = [((), ""), (("",), ""), (("", ""), ""), (("a",), "a"), (("a", ""), "a"),
                 (("a/",), "a"), (("a", "/"), "a"), (("", "a"), "a"), (("", "/a"), "/a"),
                 (("a", "b"), "a/b"), (("a/", "/b"), "a/b"), (("/a", "b", "c"), "/a/b/c"),
                 (("a", "", "c"), "a/c"), (("a//", "//b//", "//c//"), "a/b/c"),
                 (("////a", "b"), "/a/b"), (("/ep//", ""), "/ep"), (("/ep//", "//a"), "/ep/a"),
                 (("", "//a/b"), "/a/b"), (("/a", "//"), "/a")]
        for elems, want in cases:
            self.assertEqual(join(*elems), want, elems)

    def test_trim_suffix(self):
        cases = [("", "", ""), ("a", "", "a"), ("a", "a", ""), ("/a", "a", "/a"),
                 ("a/b", "b", "a"), ("a/b", "/b", "a/b"), ("a/b/", "b/", "a"),
                 ("/a/b/c", "c", "/a/b"), ("/a/b//c/d", "c/d", "/a/b"),
                 ("/a/b//c/d", "/c/d", "/a/b/c/d"), ("//a/b", "//a/b", ""), ("//a", "a", "/a"),
                 ("a/bc", "c", "a/bc")]
        for name, suffix, want in cases:
            self.assertEqual(trim_suffix(name, suffix), want, (name, suffix))

    def test_reserved(self):
        self.assertTrue(is_reserved("__debug"))
        self.assertFalse(is_reserved("_debug"))
        self.assertEqual(strip_reserved("__Glob"), "Glob")
        self.assertEqual(strip_reserved("Glob"), "Glob")
        self.assertEqual(naming.RESERVED_NAME_PREFIX, "__")

    def test_name_element_escaping(self):
        cases = [("", ""), ("/", "%2F"), ("%", "%25"), ("a/b%c", "a%2Fb%25c"),
                 ("/%/%", "%2F%25%2F%25"), ("ü/ß%é", "ü%2Fß%25é")]
        for raw, enc in cases:
            self.assertEqual(encode_as_name_element(raw), enc)
            self.assertEqual(decode_from_name_element(enc), (raw, True))
        for bad in ["%2", "%aqq", "x%", "%%"]:
            self.assertEqual(decode_from_name_element(bad), (bad, False))
        self.assertEqual(decode_from_name_element("%2f%41"), ("/A", True))

    @given(st.text(max_size=30))
    def test_escape_round_trip(self, s):
        self.assertEqual(decode_from_name_element(encode_as_name_element(s)), (s, True))
        self.assertNotIn("/", encode_as_name_element(s))

    def test_split_host_port(self):
        self.assertEqual(split_host_port("h:1"), ("h", "1"))
        self.assertEqual(split_host_port("[::1]:80"), ("::1", "80"))
        self.assertEqual(split_host_port(":0"), ("", "0"))
        self.assertEqual(split_host_port("h:"), ("h", ""))
        for bad in ["h", "h:1:2", "[::1]", "[::1]x:1", "[::1]:1:2", "a]:1", "a[:1", "[a:1"]:
            self.assertRaises(ValueError, split_host_port, bad)
