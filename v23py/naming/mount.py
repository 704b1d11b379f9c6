"""What a name resolves to (mount entries, mount flags) and naming's errors.

Shared by the namespace client, the mount table and the tools; plain data, no I/O.
"""
from dataclasses import dataclass, field

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


@dataclass
class MountedServer:
    server: str
    expires: float     # absolute time (clock units); the wire form is "from now"


@dataclass
class MountEntry:
    name: str
    servers: list = field(default_factory=list)   # MountedServer
    serves_mount_table: bool = False
    is_leaf: bool = False
