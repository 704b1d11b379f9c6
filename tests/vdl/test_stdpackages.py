"""Our .vdl declarations of Go's standard packages against Go's own .vdl files.

Go's sources are compiled with our compiler in a separate environment; every
named type must be the identical (hash-consed) vdl.Type, and every constant,
error id/retry/params and interface method (names, arg names, types, streams,
tags) must be equal.  Doc comments are ours and are not compared.
"""
import os

from twisted.trial import unittest

from v23py.vdl.compiler import checker
from v23py.vdl.compiler.build import Builder, vdl_files
from v23py.vdl.compiler.parser import parse_file
from v23py.testing import unavailable

GO = os.environ.get("V23PY_GO_SRC", "/root/go/pkg/mod/v.io@v0.2.0")

PACKAGES = ["time", "signature", "v.io/v23/uniqueid", "v.io/v23/vtrace", "v.io/v23/naming",
            "v.io/v23/security", "v.io/v23/security/access", "v.io/v23/services/permissions",
            "v.io/v23/services/watch", "v.io/v23/services/mounttable", "v.io/v23/rpc"]


def _go_loader(path):
    if "/" not in path and "." not in path:
        d = os.path.join(GO, "v23", "vdlroot", path)
    elif path.startswith("v.io/v23/"):
        d = os.path.join(GO, "v23", *path[len("v.io/v23/"):].split("/"))
    else:
        return None
    files = vdl_files(d)
    return (d, [parse_file(f) for f in files], {}) if files else None


def _method_facts(m):
    return (m.name, [(a.name, a.type) for a in m.in_args], [(a.name, a.type) for a in m.out_args],
            m.in_stream, m.out_stream, [(t.type, t.value) for t in m.tags])


class StdPackagesMatchGoTest(unittest.TestCase):
    def setUp(self):
        if not os.path.isdir(os.path.join(GO, "v23")):
            unavailable(f"Go v0.2.0 sources not found at {GO} (.ci/go-peers.sh fetches them "
                        "into the Go module cache; V23PY_GO_SRC names another copy)")
        self.go = checker.Env(_go_loader)
        self.ours = Builder(vdlpath=[], vdlroot="")

    def test_packages(self):
        for path in PACKAGES:
            gp = self.go.get(path)
            mp = self.ours.compile(self.ours.find(path))
            self.assertEqual(sorted(gp.types), sorted(mp.types), path)
            for n, info in gp.types.items():
                self.assertIs(info.type, mp.types[n].type, f"{path}.{n}")
            self.assertEqual(sorted(gp.consts), sorted(mp.consts), path)
            for n, cd in gp.consts.items():
                mc = mp.consts[n].const
                self.assertEqual((cd.const.type, cd.const.value), (mc.type, mc.value), f"{path}.{n}")
            self.assertEqual(sorted(gp.errors), sorted(mp.errors), path)
            for n, e in gp.errors.items():
                me = mp.errors[n]
                self.assertEqual((e.id, e.retry, e.params), (me.id, me.retry, me.params))
            self.assertEqual(sorted(gp.interfaces), sorted(mp.interfaces), path)
            for n, gi in gp.interfaces.items():
                mi = mp.interfaces[n]
                self.assertEqual([e.full_name for e in gi.embeds], [e.full_name for e in mi.embeds])
                self.assertEqual([_method_facts(m) for m in gi.methods],
                                 [_method_facts(m) for m in mi.methods], f"{path}.{n}")

    def test_verror_ids(self):
        """v23py.verror's standard ids and retry codes equal Go's v.io/v23/verror errors."""
        from v23py import verror
        gp = self.go.get("v.io/v23/verror")
        self.assertGreater(len(gp.errors), 10)
        for name, e in gp.errors.items():
            mine = getattr(verror, name, None)
            self.assertIsNotNone(mine, f"v23py.verror.{name} missing")
            self.assertEqual((mine.id, mine.retry_code.name), (e.id, e.retry), name)


class GoVdlTestDataTest(unittest.TestCase):
    """Go's generated VDL test corpora, compiled and evaluated by our compiler:
    vomtest.pass81 (1,395 literals with Go's VOM bytes) and vdltest's
    vAllPass/xAllPass (conversions that Go says must succeed)."""

    def setUp(self):
        if not os.path.isdir(os.path.join(GO, "v23", "vom", "vomtest")):
            unavailable(f"Go v0.2.0 sources not found at {GO} (.ci/go-peers.sh fetches them "
                        "into the Go module cache; V23PY_GO_SRC names another copy)")
        self.go = checker.Env(_go_loader)

    def test_vomtest_pass81(self):
        from v23py import vdl, vom
        pkg = self.go.get("v.io/v23/vom/vomtest")
        entries = pkg.consts["pass81"].const.value
        self.assertEqual(len(entries), 1395)
        bad = []
        for e in entries:
            t, v = vdl.unwrap(e.Value)
            want = "81" + e.HexType + e.HexValue
            if vom.encode(v, t).hex() != want:     # exact bytes, sets and maps too
                bad.append(e.ValueLabel)
        self.assertEqual(bad, [])

    def test_vdltest_conversions(self):
        from v23py import vdl, vom
        pkg = self.go.get("v.io/v23/vdl/vdltest")
        ck = checker._PackageChecker(self.go, pkg)
        n, bad = 0, []
        for name in ("vAllPass", "xAllPass"):
            for e in pkg.consts[name].const.value:
                tt, tv = vdl.unwrap(e.Target) if e.Target is not None else (vdl.AnyType, None)
                st, sv = vdl.unwrap(e.Source) if e.Source is not None else (vdl.AnyType, None)
                got = ck._conv(st, sv, tt)
                if got != tv and vom.encode(got, tt) != vom.encode(tv, tt):
                    bad.append((e.TargetLabel, e.SourceLabel))
                n += 1
        self.assertGreater(n, 4000)
        self.assertEqual(bad, [])
