"""Hand-built Syncbase wire declarations (errors now; types when the VDL compiler lands).

This private module is the single swap point: once ``v23py/services/syncbase``
is generated from our ``.vdl`` files, these names are re-exported from there.
Error ids and default messages are Go's facts (package
``v.io/v23/services/syncbase`` and friends); retry codes are all NoRetry.
"""
from v23py.verror import ErrorId, NoRetry

_SB = "v.io/v23/services/syncbase."

NotInDevMode = ErrorId(_SB + "NotInDevMode", NoRetry, "not running with --dev=true")
InvalidName = ErrorId(_SB + "InvalidName", NoRetry, "invalid name")
CorruptDatabase = ErrorId(_SB + "CorruptDatabase", NoRetry, "database corrupt")
UnknownBatch = ErrorId(_SB + "UnknownBatch", NoRetry, "unknown batch, perhaps the server restarted")
NotBoundToBatch = ErrorId(_SB + "NotBoundToBatch", NoRetry, "not bound to batch")
ReadOnlyBatch = ErrorId(_SB + "ReadOnlyBatch", NoRetry, "batch is read-only")
ConcurrentBatch = ErrorId(_SB + "ConcurrentBatch", NoRetry, "concurrent batch")
BlobNotCommitted = ErrorId(_SB + "BlobNotCommitted", NoRetry, "blob is not yet committed")
SyncgroupJoinFailed = ErrorId(_SB + "SyncgroupJoinFailed", NoRetry, "syncgroup join failed")
BadExecStreamHeader = ErrorId(_SB + "BadExecStreamHeader", NoRetry,
                              "Exec stream header improperly formatted")
InvalidPermissionsChange = ErrorId(_SB + "InvalidPermissionsChange", NoRetry,
                                   "the sequence of permission changes is invalid")
UnauthorizedCreateId = ErrorId(_SB + "UnauthorizedCreateId", NoRetry,
                               "not authorized to create object with this id blessing")
InferAppBlessingFailed = ErrorId(_SB + "InferAppBlessingFailed", NoRetry,
                                 "failed to infer app blessing pattern")
InferUserBlessingFailed = ErrorId(_SB + "InferUserBlessingFailed", NoRetry,
                                  "failed to infer user blessing pattern")
InferDefaultPermsFailed = ErrorId(_SB + "InferDefaultPermsFailed", NoRetry,
                                  "failed to infer default perms for user")

_COMMON = "v.io/x/ref/services/syncbase/common."
PermsEmpty = ErrorId(_COMMON + "PermsEmpty", NoRetry, "permissions cannot be empty")
PermsNoAdmin = ErrorId(_COMMON + "PermsNoAdmin", NoRetry,
                       "permissions must include at least one admin")
PermsDisallowedTags = ErrorId(_COMMON + "PermsDisallowedTags", NoRetry,
                              "permissions tags are not allowed")

_STORE = "v.io/x/ref/services/syncbase/store."
ConcurrentTransaction = ErrorId(_STORE + "ConcurrentTransaction", NoRetry,
                                "concurrent transaction")
UnknownKey = ErrorId(_STORE + "UnknownKey", NoRetry, "unknown key")

_UTIL = "v.io/v23/syncbase/util."
FoundMultipleAppUserBlessings = ErrorId(_UTIL + "FoundMultipleAppUserBlessings", NoRetry,
                                        "found multiple app:user blessings")
FoundMultipleUserBlessings = ErrorId(_UTIL + "FoundMultipleUserBlessings", NoRetry,
                                     "found multiple user blessings")
FoundNoConventionalBlessings = ErrorId(_UTIL + "FoundNoConventionalBlessings", NoRetry,
                                       "found no blessings following conventions")

NoPermissions = ErrorId("v.io/v23/security/access.NoPermissions", NoRetry,
                        "no permissions")
