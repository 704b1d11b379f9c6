"""Glob patterns with Go's v.io/v23/glob and path.Match semantics."""
from twisted.trial import unittest

from v23py import verror
from v23py.naming.glob import Glob


class GlobTests(unittest.TestCase):
    def test_parse_and_shape(self):
        g = Glob.parse("a/b*/...")
        self.assertEqual(len(g), 2)
        self.assertTrue(g.recursive)
        self.assertFalse(g.restricted)
        self.assertEqual(str(g), "a/b*/...")
        self.assertTrue(Glob.parse("").empty())
        self.assertFalse(Glob.parse("...").empty())
        self.assertEqual(len(Glob.parse("...")), 0)
        self.assertTrue(Glob.parse("x/***").restricted)
        t = g.tail().tail()
        self.assertEqual(len(t), 0)
        self.assertTrue(t.recursive)
        self.assertTrue(t.head().match("anything"))
        self.assertFalse(Glob.parse("a").tail().head().match("a"))

    def test_bad_patterns(self):
        for bad in ["/a", "a//b", "[abc", "a\\", "x/[", ""[:0] + "a/"]:
            self.assertRaises(verror.VError, Glob.parse, bad)

    def test_element_matching(self):
        cases = [("*", "abc", True), ("*", "", True), ("a?c", "abc", True), ("a?c", "ac", False),
                 ("[a-c]x", "bx", True), ("[a-c]x", "dx", False), ("[^a-c]x", "dx", True),
                 ("[^a-c]x", "ax", False), ("\\*", "*", True), ("\\*", "a", False),
                 ("a[\\]]b", "a]b", True), ("fortune*", "fortuneAlpha", True),
                 ("fortune*", "Fortune", False), ("[z-a]", "m", False), ("ü*", "über", True)]
        for pattern, name, want in cases:
            self.assertEqual(Glob.parse(pattern).head().match(name), want, (pattern, name))

    def test_fixed_elements(self):
        fixed, rest = Glob.parse("a/b\\*c/d*/e").split_fixed_elements()
        self.assertEqual(fixed, ["a", "b*c"])
        self.assertEqual(str(rest), "d*/e")
        self.assertEqual(Glob.parse("*").split_fixed_elements()[0], [])

    def test_matches_name(self):
        self.assertTrue(Glob.parse("a/*").matches_name("a/b"))
        self.assertFalse(Glob.parse("a/*").matches_name("a/b/c"))
        self.assertTrue(Glob.parse("a/...").matches_name("a/b/c"))
        self.assertTrue(Glob.parse("a/...").matches_name("a"))
        self.assertTrue(Glob.parse("").matches_name(""))
