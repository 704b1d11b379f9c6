"""The access-tag caveat's validator is registered by v23py.security.access, which
v23py.security loads at the first lookup of a caveat id nobody registered yet (a tool
that only reads blessings never loads it): every lookup -- validation, a parameter's
decoding, a caveat's string -- sees the validator, in a process that never imported
the access package itself.  The discharge helpers (the RPC client's) load at their first
use too."""
import subprocess
import sys

from twisted.trial import unittest

from v23py import security as sec
from v23py import verror
from v23py.security import _caveats, _errors, access

FRESH = r"""
import sys
from v23py import security as sec
assert "v23py.security.access" not in sys.modules, "loaded by import v23py.security"
b = sec.decode_blessings(sys.stdin.read().strip())
cav = b.chains[0][-1].Caveats[0]
print(str(cav))
print("loaded:", "v23py.security.access" in sys.modules)
try:
    cav.validate(sec.Call(method_tags=["Read"]))   # a str, not an access.Tag: fails
except Exception as e:
    print("error:", e.id)
print(sec.access.AccessTagCaveat.Id.hex())
"""


class LazyAccessTagValidator(unittest.TestCase):
    def test_fresh_process_meets_an_access_tag_caveat(self):
        p = sec.random_principal()
        b = p.bless_self("alice", access.new_access_tag_caveat(access.Read, access.Write))
        r = subprocess.run([sys.executable, "-c", FRESH], input=sec.encode_blessings(b),
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual(lines[0], str(b.chains[0][-1].Caveats[0]))
        self.assertEqual(lines[0], "0xefcde3751416c73b189ce89ccc938000([]access.Tag=[Read Write])")
        self.assertEqual(lines[1], "loaded: True")
        self.assertEqual(lines[2], "error: " + _errors.CaveatValidation.id)
        self.assertEqual(lines[3], bytes(access.AccessTagCaveat.Id).hex())

    def test_loaders_run_once_at_the_first_miss(self):
        reg = _caveats._Registry()
        calls = []
        desc = sec.ConstCaveat

        def load():
            calls.append(1)
            reg.register(desc, lambda call, param: None)

        reg.add_loader(load)
        self.assertEqual(calls, [])
        self.assertIsNotNone(reg.lookup(bytes(desc.Id)))
        self.assertEqual(calls, [1])
        self.assertIsNone(reg.lookup(b"\x01" * 16))    # still unregistered: fails closed
        self.assertEqual(calls, [1])

    def test_an_unknown_id_still_fails_closed(self):
        cav = _caveats.Caveat(Id=b"\x02" * 16, ParamVom=b"")
        with self.assertRaises(verror.VError) as cm:
            cav.validate(sec.Call())
        self.assertEqual(cm.exception.id, _errors.CaveatNotRegistered.id)


class LazyDischargeHelpers(unittest.TestCase):
    def test_loaded_at_first_use(self):
        code = ("import sys\n"
                "from v23py import security as sec\n"
                "print('v23py.security._discharges' in sys.modules)\n"
                "from v23py.security import impetus_for\n"
                "from v23py.security import _discharges as d\n"
                "print(impetus_for is d.impetus_for, sec.prepare_discharges is d.prepare_discharges,"
                " sec.refresh_time is d.refresh_time)\n")
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.split(), ["False", "True", "True", "True"])
        with self.assertRaises(AttributeError):
            sec.no_such_name
