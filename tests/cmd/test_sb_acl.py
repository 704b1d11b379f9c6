"""The sb shell's acl commands read permissions in either form a daemon's answer or a
Python caller gives (the Go shell's output is compared in tests.interop.test_sb_go)."""
from twisted.trial import unittest

from v23py.cmd.sb import _commands
from v23py.security import access


class PermsDictTest(unittest.TestCase):
    def test_wire_permissions_and_json_form_read_alike(self):
        wire = access.Permissions({"Read": access.AccessList(In=["alice"], NotIn=["alice:x"]),
                                   "Admin": access.AccessList(In=["alice"])})
        as_json = {"Read": {"In": ["alice"], "NotIn": ["alice:x"]}, "Admin": {"In": ["alice"]}}
        want = {"Read": {"In": ["alice"], "NotIn": ["alice:x"]},
                "Admin": {"In": ["alice"], "NotIn": []}}
        self.assertEqual(_commands._perms_dict(wire), want)
        self.assertEqual(_commands._perms_dict(as_json), want)
        self.assertEqual(_commands._perms_dict(None), {})

    def test_access_list_arguments(self):
        self.assertEqual(_commands._parse_access_list(["bob", "Read,!Write", "carol", "Admin"]),
                         {"bob": (["Read"], ["Write"]), "carol": (["Admin"], [])})
        self.assertRaises(ValueError, _commands._parse_access_list, ["bob"])
        self.assertRaises(ValueError, _commands._parse_access_list, ["bob", "Read,"])
