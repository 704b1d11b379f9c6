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



# Go's own cases, as data: the table of the standard library's path.Match tests (the Go
# toolchain the Go peers are built with) and of v.io/v23/glob's tests at v0.2.0.  One
# matcher (v23py.naming.glob) serves every server's __Glob, the mount table, the
# namespace client and Syncbase's WatchGlob, so these hold for all of them.
_BAD = "bad pattern"
PATH_MATCH_CASES = [
    ("abc", "abc", True), ("*", "abc", True), ("*c", "abc", True), ("a*", "a", True),
    ("a*", "abc", True), ("a*", "ab/c", False), ("a*/b", "abc/b", True),
    ("a*/b", "a/c/b", False), ("a*b*c*d*e*/f", "axbxcxdxe/f", True),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/f", True), ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", False),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", False), ("a*b?c*x", "abxbbxdbxebxczzx", True),
    ("a*b?c*x", "abxbbxdbxebxczzy", False), ("ab[c]", "abc", True), ("ab[b-d]", "abc", True),
    ("ab[e-g]", "abc", False), ("ab[^c]", "abc", False), ("ab[^b-d]", "abc", False),
    ("ab[^e-g]", "abc", True), ("a\\*b", "a*b", True), ("a\\*b", "ab", False),
    ("a?b", "a\u263ab", True), ("a[^a]b", "a\u263ab", True), ("a???b", "a\u263ab", False),
    ("a[^a][^a][^a]b", "a\u263ab", False), ("[a-\u03b6]*", "\u03b1", True),
    ("*[a-\u03b6]", "A", False), ("a?b", "a/b", False), ("a*b", "a/b", False),
    ("[\\]a]", "]", True), ("[\\-]", "-", True), ("[x\\-]", "x", True), ("[x\\-]", "-", True),
    ("[x\\-]", "z", False), ("[\\-x]", "x", True), ("[\\-x]", "-", True),
    ("[\\-x]", "a", False), ("[]a]", "]", _BAD), ("[-]", "-", _BAD), ("[x-]", "x", _BAD),
    ("[x-]", "-", _BAD), ("[x-]", "z", _BAD), ("[-x]", "x", _BAD), ("[-x]", "-", _BAD),
    ("[-x]", "a", _BAD), ("\\", "a", _BAD), ("[a-b-c]", "a", _BAD), ("[", "a", _BAD),
    ("[^", "a", _BAD), ("[^bc", "a", _BAD), ("a[", "a", _BAD), ("a[", "ab", _BAD),
    ("a[", "x", _BAD), ("a/b[", "x", _BAD), ("*x", "xxx", True),
]

# (pattern, name, does the first element match)
GLOB_HEAD_CASES = [
    ("...", "", True), ("***", "", True), ("...", "a", True), ("***", "a", True),
    ("a", "", False), ("a", "a", True), ("a", "b", False), ("a*", "a", True), ("a*", "b", False),
    ("a*b", "ab", True), ("a*b", "afoob", True), ("a\\*", "a", False), ("a\\*", "a*", True),
    ("\\\\", "\\", True), ("?", "?", True), ("?", "a", True), ("?", "", False),
    ("*?", "", False), ("*?", "a", True), ("*?", "ab", True), ("*?", "abv", True),
    ("[abc]", "a", True), ("[abc]", "b", True), ("[abc]", "c", True), ("[abc]", "d", False),
    ("[a-c]", "a", True), ("[a-c]", "b", True), ("[a-c]", "c", True), ("[a-c]", "d", False),
    ("\\[abc]", "a", False), ("\\[abc]", "[abc]", True), ("a/*", "a", True), ("a/*", "b", False),
    ("a/...", "a", True), ("a/...", "b", False),
]

# (pattern, fixed prefix of the first element, is it all fixed)
FIXED_PREFIX_CASES = [
    ("", "", True), ("...", "", False), ("***", "", False), ("a", "a", True), ("*a", "", False),
    ("a*", "a", False), ("a*b", "a", False), ("a\\*", "a*", True), ("\\\\", "\\", True),
    ("?", "", False), ("\\?", "?", True), ("*?", "", False), ("[abc]", "", False),
    ("\\[abc]", "[abc]", True), ("\\[abc]*", "[abc]", False),
]

# (pattern, leading fixed elements, the rest)
SPLIT_FIXED_CASES = [
    ("*", [], "*"), ("a/b/c/*", ["a", "b", "c"], "*"), ("a/b/*/...", ["a", "b"], "*/..."),
    ("a/b/c/...", ["a", "b", "c"], "..."), ("a/the\\?rain.in\\*spain", ["a", "the?rain.in*spain"], ""),
]

GLOB_BAD_PATTERNS = ["[", "[foo", "[^foo", "\\", "a\\", "abc[foo", "a//b"]


class GoCasesTests(unittest.TestCase):
    def test_path_match(self):
        from v23py.naming.glob import path_match
        for pattern, name, want in PATH_MATCH_CASES:
            if want is _BAD:
                self.assertRaises(verror.VError, path_match, pattern, name)
            else:
                self.assertEqual(path_match(pattern, name), want, (pattern, name))

    def test_element_is_path_match(self):
        """An element matches a segment exactly when path.Match says so (bad: never)."""
        from v23py.naming.glob import Element
        for pattern, name, want in PATH_MATCH_CASES:
            self.assertEqual(Element(pattern).match(name), want is True, (pattern, name))

    def test_head_match(self):
        for pattern, name, want in GLOB_HEAD_CASES:
            self.assertEqual(Glob.parse(pattern).head().match(name), want, (pattern, name))

    def test_fixed_prefix(self):
        for pattern, prefix, full in FIXED_PREFIX_CASES:
            self.assertEqual(Glob.parse(pattern).head().fixed_prefix(), (prefix, full), pattern)

    def test_split_fixed_elements(self):
        for pattern, fixed, rest in SPLIT_FIXED_CASES:
            f, r = Glob.parse(pattern).split_fixed_elements()
            self.assertEqual((f, str(r)), (fixed, rest), pattern)

    def test_bad_patterns(self):
        for pattern in GLOB_BAD_PATTERNS:
            self.assertRaises(verror.VError, Glob.parse, pattern)
