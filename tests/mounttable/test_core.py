"""The sans-IO mount table: Go mounttablelib semantics."""
import os

from twisted.trial import unittest

from v23py import verror
from v23py.mounttable import core as mtl
from v23py.mounttable.core import LEAF, MT, REPLACE, Caller, MountTable, PermsLog
from v23py.naming.glob import Glob
from v23py.testing import tempdir

EP1 = "/@6@tcp@127.0.0.1:1001@@" + "0" * 28 + "0001@s@alice@@"
EP2 = "/@6@tcp@127.0.0.1:1002@@" + "0" * 28 + "0002@s@alice@@"
MTEP = "/@6@tcp@127.0.0.1:1003@@" + "0" * 28 + "0003@m@root@@"
ANYONE = Caller(names=("dev.v.io:u:alice",))
BOB = Caller(names=("dev.v.io:u:bob",))
NOBODY = Caller()


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def names(entries):
    """Entry names, sorted (Go emits children before parents, in map order)."""
    return sorted(e.name for e in entries)


class MountTableTests(unittest.TestCase):
    def setUp(self):
        self.clock = Clock()
        self.mt = MountTable(clock=self.clock)

    def glob(self, pattern, name="", caller=ANYONE):
        return self.mt.glob(name, Glob.parse(pattern), caller)

    def assertVError(self, error_id, f, *args):
        e = self.assertRaises(verror.VError, f, *args)
        self.assertEqual(e.id, error_id.id, str(e))
        return e

    def test_mount_and_resolve_step(self):
        self.mt.mount("a/b", EP1, 60, 0, ANYONE)
        e = self.mt.resolve_step("a/b/c/d", ANYONE)
        self.assertEqual(e.name, "c/d")
        self.assertEqual([s.server for s in e.servers], [EP1])
        self.assertEqual(e.servers[0].expires, 1060.0)
        self.assertFalse(e.serves_mount_table)
        self.assertEqual(self.mt.resolve_step("a/b", ANYONE).name, "")
        self.assertVError(mtl.NoSuchName, self.mt.resolve_step, "a", ANYONE)
        self.assertVError(mtl.NoSuchName, self.mt.resolve_step, "x/y", ANYONE)
        self.assertVError(mtl.NoSuchNameRoot, MountTable().resolve_step, "", ANYONE)

    def test_flags_and_multiple_servers(self):
        self.mt.mount("m", MTEP, 60, MT, ANYONE)
        self.assertTrue(self.mt.resolve_step("m/x", ANYONE).serves_mount_table)
        self.mt.mount("s", EP1, 60, LEAF, ANYONE)
        self.assertTrue(self.mt.resolve_step("s", ANYONE).is_leaf)
        self.assertVError(verror.Unknown, self.mt.mount, "m", EP1, 60, 0, ANYONE)
        self.assertVError(verror.Unknown, self.mt.mount, "s", EP1, 60, 0, ANYONE)
        # a second server is added in front; re-mounting moves it to the front again
        self.mt.mount("f", EP1, 60, 0, ANYONE)
        self.mt.mount("f", EP2, 60, 0, ANYONE)
        self.assertEqual([s.server for s in self.mt.resolve_step("f", ANYONE).servers], [EP2, EP1])
        self.clock.now += 10
        self.mt.mount("f", EP1, 60, 0, ANYONE)
        servers = self.mt.resolve_step("f", ANYONE).servers
        self.assertEqual([(s.server, s.expires) for s in servers], [(EP1, 1070.0), (EP2, 1060.0)])
        self.mt.mount("f", EP2, 60, REPLACE, ANYONE)
        self.assertEqual([s.server for s in self.mt.resolve_step("f", ANYONE).servers], [EP2])

    def test_server_address_forms(self):
        for server in [EP1, EP1 + "/suffix", "/localhost:23001", "/(alice)@h:1/x", "h:1"]:
            self.mt.mount("ok", server, 0, 0, ANYONE)
        for bad in ["/not an endpoint", "", "/@7@tcp@h:1@@@@@@"]:
            self.assertVError(verror.Unknown, self.mt.mount, "bad", bad, 0, 0, ANYONE)
        self.assertVError(verror.Unknown, self.mt.mount, "x" * 513, EP1, 0, 0, ANYONE)

    def test_ttl_expiry_and_zero_ttl(self):
        self.mt.mount("short", EP1, 5, 0, ANYONE)
        self.mt.mount("forever", EP2, 0, 0, ANYONE)
        self.clock.now += 5
        self.mt.resolve_step("short", ANYONE)   # expires strictly after the deadline
        self.clock.now += 0.5
        self.assertVError(mtl.NoSuchName, self.mt.resolve_step, "short", ANYONE)
        self.clock.now += 9 * 365 * 24 * 3600
        self.mt.resolve_step("forever", ANYONE)
        self.assertEqual(names(self.glob("*")), ["forever"])

    def test_mount_below_mount_point_and_children_removed(self):
        self.mt.mount("a/b/c", EP1, 60, 0, ANYONE)
        self.mt.mount("a", MTEP, 60, MT, ANYONE)      # removes the subtree
        self.assertEqual(names(self.glob("...")), ["", "a"])
        self.assertVError(mtl.NoSuchNameRoot, self.mt.mount, "a/x", EP1, 60, 0, ANYONE)
        e = self.mt.resolve_step("a/x/y", ANYONE)
        self.assertEqual((e.name, e.servers[0].server), ("x/y", MTEP))

    def test_unmount_and_garbage_collection(self):
        self.mt.mount("a/b/c", EP1, 60, 0, ANYONE)
        self.mt.mount("a/b/c", EP2, 60, 0, ANYONE)
        self.mt.unmount("a/b/c", EP1, ANYONE)
        self.assertEqual([s.server for s in self.mt.resolve_step("a/b/c", ANYONE).servers], [EP2])
        self.mt.unmount("a/b/c", "", ANYONE)
        self.assertEqual(self.glob("..."), [])
        self.assertEqual(self.mt.num_nodes, 1)
        self.mt.unmount("never/there", EP1, ANYONE)   # no error

    def test_delete(self):
        self.mt.mount("a/b", EP1, 60, 0, ANYONE)
        self.assertVError(verror.Unknown, self.mt.delete, "", False, ANYONE)
        self.assertVError(verror.Unknown, self.mt.delete, "a", False, ANYONE)
        self.mt.delete("a", True, ANYONE)
        self.assertEqual(self.glob("..."), [])
        self.mt.delete("nothing", False, ANYONE)

    def test_glob(self):
        self.mt.mount("fortuneAlpha", EP1, 60, 0, ANYONE)
        self.mt.mount("fortuneBeta", EP2, 60, 0, ANYONE)
        self.mt.mount("meters", MTEP, 60, MT, ANYONE)
        self.mt.mount("home/tv", EP1, 60, 0, ANYONE)
        self.assertEqual(names(self.glob("*")), ["fortuneAlpha", "fortuneBeta", "home", "meters"])
        entries = {e.name: e for e in self.glob("*")}
        self.assertTrue(entries["home"].serves_mount_table)   # an interior node
        self.assertEqual(entries["home"].servers, [])
        self.assertTrue(entries["meters"].serves_mount_table)
        self.assertEqual([s.server for s in entries["fortuneAlpha"].servers], [EP1])
        self.assertEqual(names(self.glob("...")),
                         ["", "fortuneAlpha", "fortuneBeta", "home", "home/tv", "meters"])
        self.assertEqual(names(self.glob("fortune*")), ["fortuneAlpha", "fortuneBeta"])
        # mount points matched by the first element are returned as they are: the
        # client continues the glob on their servers
        self.assertEqual(names(self.glob("*/t?")), ["fortuneAlpha", "fortuneBeta", "home/tv", "meters"])
        self.assertEqual(names(self.glob("")), [""])
        self.assertEqual(names(self.glob("*", name="home")), ["tv"])
        # globbing below a mount point answers with the mount point's servers + the rest
        below = self.glob("*", name="meters/gas/x")
        self.assertEqual([(e.name, [s.server for s in e.servers]) for e in below],
                         [("", [MTEP + "/gas/x"])])
        self.assertEqual(self.glob("*", name="nothing/here"), [])

    def test_permissions_and_inheritance(self):
        self.mt.load_permissions({
            "": {"Admin": {"In": ["root"]}, "Read": {"In": ["..."]}, "Resolve": {"In": ["..."]},
                 "Create": {"In": ["..."]}},
            "private": {"Read": {"In": ["dev.v.io:u:alice"]}, "Resolve": {"In": ["dev.v.io:u:alice"]},
                        "Admin": {"In": ["dev.v.io:u:alice"]}, "Mount": {"In": ["dev.v.io:u:alice"]},
                        "Create": {"In": ["dev.v.io:u:alice"]}},
            "open": {"Read": {"In": ["..."]}, "Resolve": {"In": ["..."]}, "Mount": {"In": ["..."]},
                     "Create": {"In": ["..."]}, "Admin": {"In": ["nobody-at-all"]},
                     },
        })
        self.mt.mount("private/x", EP1, 60, 0, ANYONE)
        e = self.assertVError(verror.NoAccess, self.mt.mount, "private/y", EP1, 60, 0, BOB)
        self.assertIn("dev.v.io:u:bob", e.msg)
        self.assertVError(verror.NoAccess, self.mt.resolve_step, "private/x", BOB)
        self.assertEqual(self.mt.resolve_step("private/x", ANYONE).servers[0].server, EP1)
        self.mt.resolve_step("private/x", Caller(names=("root",)))        # super user
        self.assertNotIn("private", names(self.glob("*", caller=BOB)))
        self.assertIn("private", names(self.glob("*", caller=ANYONE)))
        # a node created by bob under "open" inherits its parent's permissions + bob as Admin
        self.mt.mount("open/bobs", EP2, 60, 0, BOB)
        perms, version = self.mt.get_permissions("open/bobs", BOB)
        self.assertEqual(perms["Admin"].In, ["dev.v.io:u:bob", "nobody-at-all"])
        self.assertEqual(version, "2")   # copied from "open": root's Set made 1, open's own Set 2
        self.assertVError(verror.NoAccess, self.mt.get_permissions, "private", Caller(names=("x",)))
        self.assertVError(mtl.NoSuchName, self.mt.get_permissions, "open/none", BOB)

    def test_set_permissions_versions_and_lockout(self):
        self.mt.mount("n", EP1, 60, 0, ANYONE)
        self.assertEqual(self.mt.get_permissions("n", ANYONE), (None, ""))
        # the caller keeps Admin even when setting perms without themselves
        self.mt.set_permissions("n", {"Read": {"In": ["..."]}}, "", ANYONE)
        perms, version = self.mt.get_permissions("n", ANYONE)
        self.assertEqual(version, "1")
        self.assertEqual(perms["Admin"].In, ["dev.v.io:u:alice"])
        self.assertVError(verror.BadVersion, self.mt.set_permissions, "n", {}, "7", ANYONE)
        self.assertVError(verror.BadVersion, self.mt.set_permissions, "n", {}, "x", ANYONE)
        self.mt.set_permissions("n", {"Admin": {"In": ["dev.v.io:u:alice"]}}, "1", ANYONE)
        self.assertEqual(self.mt.get_permissions("n", ANYONE)[1], "2")
        self.assertVError(verror.NoAccess, self.mt.set_permissions, "n", {}, "", BOB)
        # explicit permissions keep a node alive after its mount is gone
        self.mt.unmount("n", "", ANYONE)
        self.assertEqual(names(self.glob("*")), ["n"])

    def test_not_in(self):
        self.mt.load_permissions({"t": {"Read": {"In": ["dev.v.io:u"], "NotIn": ["dev.v.io:u:bob"]},
                                        "Resolve": {"In": ["dev.v.io:u"], "NotIn": ["dev.v.io:u:bob"]}}})
        self.mt.mount("t/x", EP1, 60, 0, mtl.ADMIN_CALLER)
        self.mt.resolve_step("t/x", ANYONE)
        self.assertVError(verror.NoAccess, self.mt.resolve_step, "t/x", BOB)

    def test_everyone_includes_a_caller_without_names(self):
        """As Go's AccessList.Includes: "..." matches even a caller whose blessings gave
        no names (the mount table once refused such callers everywhere)."""
        self.mt.load_permissions({"": {"Admin": {"In": ["root"]}, "Read": {"In": ["..."]},
                                       "Resolve": {"In": ["..."]}}})
        self.mt.mount("x", EP1, 60, 0, mtl.ADMIN_CALLER)
        self.assertEqual(self.mt.resolve_step("x", NOBODY).servers[0].server, EP1)
        self.mt.load_permissions({"y": {"Admin": {"In": ["root"]},
                                        "Resolve": {"In": ["dev.v.io:u"]}}})
        self.mt.mount("y", EP2, 60, 0, mtl.ADMIN_CALLER)
        self.assertVError(verror.NoAccess, self.mt.resolve_step, "y", NOBODY)

    def test_templates(self):
        self.mt.load_permissions({
            "users": {"Read": {"In": ["..."]}, "Resolve": {"In": ["..."]}, "Create": {"In": ["..."]}},
            "users/%%": {"Create": {"In": ["dev.v.io:u:%%"]}, "Mount": {"In": ["dev.v.io:u:%%"]},
                         "Admin": {"In": ["dev.v.io:u:%%"]}, "Read": {"In": ["..."]},
                         "Resolve": {"In": ["..."]}},
        })
        self.mt.mount("users/alice/phone", EP1, 60, 0, ANYONE)
        self.assertVError(verror.NoAccess, self.mt.mount, "users/alice/laptop", EP1, 60, 0, BOB)
        self.assertVError(verror.NoAccess, self.mt.mount, "users/carol", EP1, 60, 0, BOB)
        perms, _ = self.mt.get_permissions("users/alice", ANYONE)
        self.assertEqual(perms["Admin"].In, ["dev.v.io:u:alice"])

    def test_node_limit(self):
        mt = MountTable(clock=self.clock, max_nodes_per_user=3)
        mt.mount("a/b/c", EP1, 60, 0, ANYONE)
        e = self.assertVError(verror.Unknown, mt.mount, "a/b/x", EP1, 60, 0, ANYONE)
        self.assertIn("node limit", e.msg)
        mt.mount("x", EP1, 60, 0, BOB)        # another user has their own budget
        mt.delete("a", True, ANYONE)
        mt.mount("p/q", EP1, 60, 0, ANYONE)

    def test_perms_file_and_log(self):
        d = tempdir(self)
        path = os.path.join(d, "perms.json")
        with open(path, "w") as f:
            f.write('{"": {"Admin": {"In": ["root"]}, "Create": {"In": ["..."]}}}\n'
                    '{"a": {"Read": {"In": ["..."]}}}\n')
        mt = MountTable(clock=self.clock)
        mt.load_permissions_file(path)
        self.assertEqual(mt.super_users.In, ["root"])
        mt.load_permissions_file(os.path.join(d, "missing.json"))
        with open(path, "w") as f:
            f.write("{not json")
        self.assertRaises(verror.VError, mt.load_permissions_file, path)

        log = PermsLog(mt, os.path.join(d, "state"))
        mt.set_permissions("x/y", {"Admin": {"In": ["dev.v.io:u:alice"]}}, "", ANYONE)
        mt.set_permissions("gone", {"Admin": {"In": ["dev.v.io:u:alice"]}}, "", ANYONE)
        mt.delete("gone", False, ANYONE)
        log.close()
        again = MountTable(clock=self.clock)
        log2 = PermsLog(again, os.path.join(d, "state"))
        self.addCleanup(log2.close)
        perms, version = again.get_permissions("x/y", ANYONE)
        self.assertEqual((perms["Admin"].In, version), (["dev.v.io:u:alice"], "2"))
        self.assertVError(mtl.NoSuchName, again.get_permissions, "gone", ANYONE)
        self.assertEqual(names(again.glob("", Glob.parse("..."), mtl.ADMIN_CALLER)), ["", "a", "x", "x/y"])
