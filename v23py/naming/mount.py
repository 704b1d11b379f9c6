"""What a name resolves to (mount entries, mount flags) and naming's errors.

Shared by the namespace client, the mount table and the tools; plain data, no I/O.
"""
from v23py import verror

__all__ = ["REPLACE", "MT", "LEAF", "MountedServer", "MountEntry", "NameExists", "NoSuchName",
           "NoSuchNameRoot", "ResolutionDepthExceeded", "NoMountTable"]

# naming.MountFlag bits
REPLACE = 1
MT = 2
LEAF = 4

# Error ids of v.io/v23/naming. Go declares them with short ids and, in the
# v0.2.0 binaries, sends them without a package prefix (observed on the wire
# from Go's mounttabled: "nameDoesntExist", "rootNameDoesntExist").
NameExists = verror.ErrorId("nameExists")
NoSuchName = verror.ErrorId("nameDoesntExist")
NoSuchNameRoot = verror.ErrorId("rootNameDoesntExist")
ResolutionDepthExceeded = verror.ErrorId("resolutionDepthExceeded")
NoMountTable = verror.ErrorId("noMounttable")


# Plain records written out (what @dataclass would make: the same __init__, __repr__ and
# __eq__, unhashable): dataclasses costs every program that names an endpoint ~8 ms to import.

class MountedServer:
    __match_args__ = ("server", "expires")
    __hash__ = None

    def __init__(self, server: str, expires: float):
        self.server = server
        self.expires = expires     # absolute time (clock units); the wire form is "from now"

    def __repr__(self):
        return f"MountedServer(server={self.server!r}, expires={self.expires!r})"

    def __eq__(self, other):
        if other.__class__ is not self.__class__:
            return NotImplemented
        return (self.server, self.expires) == (other.server, other.expires)


class MountEntry:
    __match_args__ = ("name", "servers", "serves_mount_table", "is_leaf")
    __hash__ = None

    def __init__(self, name: str, servers: list | None = None, serves_mount_table: bool = False,
                 is_leaf: bool = False):
        self.name = name
        self.servers = [] if servers is None else servers   # MountedServer
        self.serves_mount_table = serves_mount_table
        self.is_leaf = is_leaf

    def __repr__(self):
        return (f"MountEntry(name={self.name!r}, servers={self.servers!r}, "
                f"serves_mount_table={self.serves_mount_table!r}, is_leaf={self.is_leaf!r})")

    def __eq__(self, other):
        if other.__class__ is not self.__class__:
            return NotImplemented
        return ((self.name, self.servers, self.serves_mount_table, self.is_leaf)
                == (other.name, other.servers, other.serves_mount_table, other.is_leaf))
