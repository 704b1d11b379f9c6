"""Types of package v.io/v23/security/access: the classes generated from
access.vdl (module `_vdl`), named for the rest of the package."""

from v23py.v23.security import access as G

PKG = "v.io/v23/security/access"

AccessListType = G.AccessList._vdl_type
PermissionsType = G.Permissions._vdl_type
TagType = G.Tag._vdl_type
