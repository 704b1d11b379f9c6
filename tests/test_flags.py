"""Go's command-line syntax, once (v23py.flags): flag tokens, booleans, durations."""
from twisted.trial import unittest

from v23py.flags import FlagError, FlagSet, parse_bool, parse_duration, take_flag


class DurationTests(unittest.TestCase):
    def test_go_parse_duration_cases(self):
        # (text, seconds) as Go's time.ParseDuration reads them
        good = [("0", 0), ("+0", 0), ("-0", 0), ("5s", 5), ("-5s", -5), ("+5s", 5),
                ("5.0s", 5), ("5.6s", 5.6), ("5.s", 5), (".5s", 0.5), ("1.004s", 1.004),
                ("10ns", 1e-8), ("11us", 11e-6), ("12\u00b5s", 12e-6), ("12\u03bcs", 12e-6),
                ("13ms", 0.013), ("15m", 900), ("16h", 57600), ("3h30m", 12600),
                ("10.5s4m", 250.5), ("-2m3.4s", -123.4), ("1h2m3s4ms5us6ns", 3723.004005006)]
        for text, want in good:
            self.assertAlmostEqual(parse_duration(text), want, places=9, msg=text)
        for bad in ("", "3", "-", "s", ".", "-.", ".s", "+.s", "1d", " 1s", "1h-2m"):
            self.assertRaises(FlagError, parse_duration, bad)


class BoolTests(unittest.TestCase):
    def test_go_parse_bool(self):
        for t in ("1", "t", "T", "true", "TRUE", "True"):
            self.assertIs(parse_bool(t), True)
        for f in ("0", "f", "F", "false", "FALSE", "False"):
            self.assertIs(parse_bool(f), False)
        for bad in ("", "yes", "tRuE", "2"):
            self.assertRaises(ValueError, parse_bool, bad)


class FlagTokenTests(unittest.TestCase):
    def test_forms(self):
        kinds = {"b": True, "v": False}.get
        self.assertEqual(take_flag(["-b"], 0, kinds), ("b", "true", 1))
        self.assertEqual(take_flag(["--b=false", "x"], 0, kinds), ("b", "false", 1))
        self.assertEqual(take_flag(["-b", "false"], 0, kinds), ("b", "true", 1))
        self.assertEqual(take_flag(["-v", "x"], 0, kinds), ("v", "x", 2))
        self.assertEqual(take_flag(["--v=x=y"], 0, kinds), ("v", "x=y", 1))
        for argv, msg in ((["-v"], "flag needs an argument: -v"),
                          (["-z"], "flag provided but not defined: -z"),
                          (["---v"], "bad flag syntax: ---v"), (["-=v"], "bad flag syntax: -=v")):
            e = self.assertRaises(FlagError, take_flag, argv, 0, kinds)
            self.assertEqual(str(e), msg)

    def test_flagset(self):
        fs = FlagSet("t")
        name, on, d = fs.string("name", ""), fs.bool("on", False), fs.duration("d", 0.0)
        self.assertEqual(fs.parse(["-name", "x", "--on", "-d=1m", "arg", "-name=y"]),
                         ["arg", "-name=y"])
        self.assertEqual((name(), on(), d()), ("x", True, 60.0))
        self.assertEqual(fs.parse(["--", "-on"]), ["-on"])
        e = self.assertRaises(FlagError, fs.parse, ["-d", "1x"])
        self.assertIn('invalid value "1x" for flag -d', str(e))
        self.assertRaises(FlagError, fs.parse, ["-help"])
