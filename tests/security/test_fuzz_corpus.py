"""Replay the fuzz corpus (fuzz/corpus: seeds and the inputs issue 12 found) through the
fuzz targets, and any input a CI fuzzing run saved under .fuzz/crashes (see .ci/fuzz.sh):
each must be handled — accepted, or refused with a verror — without breaking an invariant.
"""
import glob
import os

from twisted.trial import unittest

from v23py.testing import ROOT

CORPUS = os.path.join(ROOT, "fuzz", "corpus")
CRASHES = os.path.join(ROOT, ".fuzz", "crashes")


def _inputs(base, target):
    return sorted(glob.glob(os.path.join(base, target, "*")))


class FuzzCorpusTest(unittest.TestCase):
    def replay(self, target, base):
        from fuzz import targets as T
        paths = _inputs(base, target)
        for path in paths:
            with open(path, "rb") as f:
                data = f.read()
            try:
                T.run_one(target, data)
            except Exception as e:
                self.fail("%s: %s: %s" % (os.path.relpath(path, ROOT), type(e).__name__, e))
        return paths

    def test_vom(self):
        self.assertTrue(self.replay("vom", CORPUS))

    def test_flow_message(self):
        self.assertTrue(self.replay("flow_message", CORPUS))

    def test_handshake(self):
        self.assertTrue(self.replay("handshake", CORPUS))

    def test_syncql(self):
        self.assertTrue(self.replay("syncql", CORPUS))

    def test_inputs_found_by_the_last_fuzzing_run(self):
        if not os.path.isdir(CRASHES):
            # (.ci/fuzz.sh makes the folder: in CI this replays whatever it found)
            raise unittest.SkipTest("no fuzzing run here (.fuzz/crashes is made by .ci/fuzz.sh)")
        from fuzz import targets as T
        for target in T.TARGETS:
            self.replay(target, CRASHES)

    def test_found_inputs_are_in_the_corpus(self):
        found = [os.path.basename(p) for p in glob.glob(os.path.join(CORPUS, "*", "found-*"))]
        for name in ("found-b1-preauth-foreign-blessings-acceptor",
                     "found-b1-preauth-foreign-blessings-dialer",
                     "found-b2-stripped-caveat-as-x509raw",
                     "found-b4-exploding-unique-strings",
                     "found-b6-type-name-with-nul",
                     "found-b6-field-name-not-an-identifier",
                     # found by the fuzzer itself
                     "found-fuzz-error-id-not-utf8",
                     "found-fuzz-teardown-with-surrogates",
                     "found-fuzz-trace-flags-over-int32",
                     "found-fuzz-peer-request-type-renamed-field",
                     "found-fuzz-type-chain-deeper-than-recursion",
                     "found-fuzz-like-many-percents"):
            self.assertIn(name, found)

    def test_b1_input_breaks_the_invariant_without_the_check(self):
        # the handshake target really does catch B1: with the pre-Auth check undone, the
        # found input is reported as a bug
        from fuzz import targets as T
        from v23py.flow import conn as fconn
        path = os.path.join(CORPUS, "handshake", "found-b1-preauth-foreign-blessings-acceptor")
        with open(path, "rb") as f:
            data = f.read()

        self.patch(fconn.Conn, "_check_preauth_blessings", lambda self: None)   # Go's order
        with self.assertRaises(T.FuzzBug):
            T.run_one("handshake", data)
