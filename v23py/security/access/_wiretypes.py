"""Hand-built VDL types of package v.io/v23/security/access (to be replaced by
code generated from access.vdl)."""

from v23py import vdl
from v23py.security._wiretypes import BlessingPatternType

PKG = "v.io/v23/security/access"

AccessListType = vdl.struct(PKG + ".AccessList", [
    ("In", vdl.list_of(BlessingPatternType)),
    ("NotIn", vdl.list_of(vdl.StringType)),
])
PermissionsType = vdl.map_of(vdl.StringType, AccessListType, name=PKG + ".Permissions")
TagType = vdl.named(PKG + ".Tag", vdl.StringType)
