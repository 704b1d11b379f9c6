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


# ---------------------------------------------------------------------------
# Wire types (hand-built from the facts in v23py/services/syncbase/*.vdl)
# ---------------------------------------------------------------------------
from v23py import vdl  # noqa: E402

_PKG = "v.io/v23/services/syncbase"
_ACCESS = "v.io/v23/security/access"
_WATCH = "v.io/v23/services/watch"

BlessingPatternType = vdl.named("v.io/v23/security.BlessingPattern", vdl.StringType)
AccessListType = vdl.struct(_ACCESS + ".AccessList", [
    ("In", vdl.list_of(BlessingPatternType)), ("NotIn", vdl.StringListType)])
PermissionsType = vdl.map_of(vdl.StringType, AccessListType, name=_ACCESS + ".Permissions")
TagType = vdl.named(_ACCESS + ".Tag", vdl.StringType)
TimeType = vdl.struct("time.Time", [("Seconds", vdl.Int64Type), ("Nanos", vdl.Int32Type)])
DurationType = vdl.struct("time.Duration", [("Seconds", vdl.Int64Type),
                                            ("Nanos", vdl.Int32Type)])

ResumeMarkerType = vdl.named(_WATCH + ".ResumeMarker", vdl.ByteListType)
GlobRequestType = vdl.struct(_WATCH + ".GlobRequest", [
    ("Pattern", vdl.StringType), ("ResumeMarker", ResumeMarkerType)])
ChangeType = vdl.struct(_WATCH + ".Change", [
    ("Name", vdl.StringType), ("State", vdl.Int32Type), ("Value", vdl.AnyType),
    ("ResumeMarker", ResumeMarkerType), ("Continued", vdl.BoolType)])
WATCH_EXISTS, WATCH_DOES_NOT_EXIST, WATCH_INITIAL_STATE_SKIPPED = 0, 1, 2

IdType = vdl.struct(_PKG + ".Id", [("Blessing", vdl.StringType), ("Name", vdl.StringType)])
DevModeUpdateVClockOptsType = vdl.struct(_PKG + ".DevModeUpdateVClockOpts", [
    ("NtpHost", vdl.StringType), ("Now", TimeType), ("ElapsedTime", DurationType),
    ("DoNtpUpdate", vdl.BoolType), ("DoLocalUpdate", vdl.BoolType)])
BatchOptionsType = vdl.struct(_PKG + ".BatchOptions", [
    ("Hint", vdl.StringType), ("ReadOnly", vdl.BoolType)])
BatchHandleType = vdl.named(_PKG + ".BatchHandle", vdl.StringType)
KeyValueType = vdl.struct(_PKG + ".KeyValue", [("Key", vdl.StringType), ("Value", vdl.AnyType)])
SyncgroupSpecType = vdl.struct(_PKG + ".SyncgroupSpec", [
    ("Description", vdl.StringType), ("PublishSyncbaseName", vdl.StringType),
    ("Perms", PermissionsType), ("Collections", vdl.list_of(IdType)),
    ("MountTables", vdl.StringListType), ("IsPrivate", vdl.BoolType)])
SyncgroupMemberInfoType = vdl.struct(_PKG + ".SyncgroupMemberInfo", [
    ("SyncPriority", vdl.ByteType), ("BlobDevType", vdl.ByteType)])
ResolverTypeType = vdl.enum(_PKG + ".ResolverType", ["LastWins", "AppResolves", "Defer"])
BatchSourceType = vdl.enum(_PKG + ".BatchSource", ["Local", "Remote"])
ValueStateType = vdl.enum(_PKG + ".ValueState", ["Exists", "NoExists", "Deleted", "Unknown"])
ValueSelectionType = vdl.enum(_PKG + ".ValueSelection", ["Local", "Remote", "Other"])
ValueType = vdl.struct(_PKG + ".Value", [
    ("State", ValueStateType), ("Bytes", vdl.AnyType), ("WriteTs", TimeType)])
RowOpType = vdl.struct(_PKG + ".RowOp", [
    ("Key", vdl.StringType), ("LocalValue", vdl.optional(ValueType)),
    ("RemoteValue", vdl.optional(ValueType)), ("AncestorValue", vdl.optional(ValueType))])
ScanOpType = vdl.struct(_PKG + ".ScanOp", [("Start", vdl.StringType), ("Limit", vdl.StringType)])
OperationType = vdl.union(_PKG + ".Operation", [
    ("Read", RowOpType), ("Write", RowOpType), ("Scan", ScanOpType)])
RowInfoType = vdl.struct(_PKG + ".RowInfo", [
    ("Op", OperationType), ("BatchIds", vdl.list_of(vdl.Uint64Type))])
BatchInfoType = vdl.struct(_PKG + ".BatchInfo", [
    ("Id", vdl.Uint64Type), ("Hint", vdl.StringType), ("Source", BatchSourceType)])
ConflictDataType = vdl.union(_PKG + ".ConflictData", [("Batch", BatchInfoType),
                                                      ("Row", RowInfoType)])
ConflictInfoType = vdl.struct(_PKG + ".ConflictInfo", [
    ("Data", ConflictDataType), ("Continued", vdl.BoolType)])
ResolutionInfoType = vdl.struct(_PKG + ".ResolutionInfo", [
    ("Key", vdl.StringType), ("Selection", ValueSelectionType),
    ("Result", vdl.optional(ValueType)), ("Continued", vdl.BoolType)])
CrRuleType = vdl.struct(_PKG + ".CrRule", [
    ("CollectionId", IdType), ("KeyPrefix", vdl.StringType), ("Type", vdl.StringType),
    ("Resolver", ResolverTypeType)])
CrPolicyType = vdl.struct(_PKG + ".CrPolicy", [("Rules", vdl.list_of(CrRuleType))])
SchemaMetadataType = vdl.struct(_PKG + ".SchemaMetadata", [
    ("Version", vdl.Int32Type), ("Policy", CrPolicyType)])
BlobRefType = vdl.named(_PKG + ".BlobRef", vdl.StringType)
BlobFetchStateType = vdl.enum(_PKG + ".BlobFetchState",
                              ["Pending", "Locating", "Fetching", "Done"])
BlobFetchStatusType = vdl.struct(_PKG + ".BlobFetchStatus", [
    ("State", BlobFetchStateType), ("Received", vdl.Int64Type), ("Total", vdl.Int64Type)])
CollectionRowPatternType = vdl.struct(_PKG + ".CollectionRowPattern", [
    ("CollectionBlessing", vdl.StringType), ("CollectionName", vdl.StringType),
    ("RowKey", vdl.StringType)])
StoreChangeType = vdl.struct(_PKG + ".StoreChange", [
    ("Value", vdl.AnyType), ("FromSync", vdl.BoolType)])
StoreChangeCollectionInfoType = vdl.struct(_PKG + ".StoreChangeCollectionInfo", [
    ("Allowed", vdl.set_of(TagType)), ("Perms", PermissionsType)])


def new(t, **fields):
    """A value of struct type ``t`` (the registered or generated class)."""
    return vdl.class_for(t)(**fields)


# ---------------------------------------------------------------------------
# Interface descriptions (method names, arg names/types, streams, tags)
# ---------------------------------------------------------------------------
from v23py.rpc.stubs import ArgDesc, InterfaceDesc, MethodDesc, EmbedDesc  # noqa


def _tag(label):
    return vdl.value(TagType, label)


def _m(name, ins=(), outs=(), in_stream=None, out_stream=None, tags=()):
    return MethodDesc(name=name, doc="",
                      in_args=tuple(ArgDesc(n, t) for n, t in ins),
                      out_args=tuple(ArgDesc(n, t) for n, t in outs),
                      in_stream=in_stream, out_stream=out_stream,
                      tags=tuple(_tag(t) for t in tags))


_bh = ("bh", BatchHandleType)
_sg = ("sgId", IdType)
_br = ("br", BlobRefType)

ObjectDesc = InterfaceDesc("Object", "v.io/v23/services/permissions", "", (), (
    _m("SetPermissions", [("perms", PermissionsType), ("version", vdl.StringType)],
       tags=["Admin"]),
    _m("GetPermissions", [], [("perms", PermissionsType), ("version", vdl.StringType)],
       tags=["Admin"]),
))
GlobWatcherDesc = InterfaceDesc("GlobWatcher", _WATCH, "", (), (
    _m("WatchGlob", [("req", GlobRequestType)], out_stream=ChangeType, tags=["Resolve"]),
))
ServiceDesc = InterfaceDesc("Service", _PKG, "", (
    EmbedDesc("Object", "v.io/v23/services/permissions"),), (
    _m("DevModeUpdateVClock", [("uco", DevModeUpdateVClockOptsType)], tags=["Admin"]),
    _m("DevModeGetTime", [], [("", TimeType)], tags=["Admin"]),
    _m("DevModeGetBlobShares", [_br], [("", vdl.map_of(vdl.StringType, vdl.Int32Type))],
       tags=["Admin"]),
))
DatabaseWatcherDesc = InterfaceDesc("DatabaseWatcher", _PKG, "", (
    EmbedDesc("GlobWatcher", _WATCH),), (
    _m("GetResumeMarker", [_bh], [("", ResumeMarkerType)]),
    _m("WatchPatterns", [("resumeMarker", ResumeMarkerType),
                         ("patterns", vdl.list_of(CollectionRowPatternType))],
       out_stream=ChangeType, tags=["Read"]),
))
SyncgroupManagerDesc = InterfaceDesc("SyncgroupManager", _PKG, "", (), (
    _m("ListSyncgroups", [], [("", vdl.list_of(IdType))], tags=["Read"]),
    _m("CreateSyncgroup", [_sg, ("spec", SyncgroupSpecType),
                           ("myInfo", SyncgroupMemberInfoType)]),
    _m("JoinSyncgroup", [("remoteSyncbaseName", vdl.StringType),
                         ("expectedSyncbaseBlessings", vdl.StringListType), _sg,
                         ("myInfo", SyncgroupMemberInfoType)], [("spec", SyncgroupSpecType)]),
    _m("LeaveSyncgroup", [_sg], tags=["Write"]),
    _m("DestroySyncgroup", [_sg]),
    _m("EjectFromSyncgroup", [_sg, ("member", vdl.StringType)]),
    _m("GetSyncgroupSpec", [_sg], [("spec", SyncgroupSpecType), ("version", vdl.StringType)]),
    _m("SetSyncgroupSpec", [_sg, ("spec", SyncgroupSpecType), ("version", vdl.StringType)]),
    _m("GetSyncgroupMembers", [_sg],
       [("members", vdl.map_of(vdl.StringType, SyncgroupMemberInfoType))]),
))
BlobManagerDesc = InterfaceDesc("BlobManager", _PKG, "", (), (
    _m("CreateBlob", [], [("br", BlobRefType)], tags=["Write"]),
    _m("PutBlob", [_br], in_stream=vdl.ByteListType, tags=["Write"]),
    _m("CommitBlob", [_br], tags=["Write"]),
    _m("GetBlobSize", [_br], [("", vdl.Int64Type)]),
    _m("DeleteBlob", [_br]),
    _m("GetBlob", [_br, ("offset", vdl.Int64Type)], out_stream=vdl.ByteListType),
    _m("FetchBlob", [_br, ("priority", vdl.Uint64Type)], out_stream=BlobFetchStatusType),
    _m("PinBlob", [_br], tags=["Write"]),
    _m("UnpinBlob", [_br]),
    _m("KeepBlob", [_br, ("rank", vdl.Uint64Type)]),
))
SchemaManagerDesc = InterfaceDesc("SchemaManager", _PKG, "", (), (
    _m("GetSchemaMetadata", [], [("", SchemaMetadataType)], tags=["Read"]),
    _m("SetSchemaMetadata", [("metadata", SchemaMetadataType)], tags=["Admin"]),
))
ConflictManagerDesc = InterfaceDesc("ConflictManager", _PKG, "", (), (
    _m("StartConflictResolver", [], in_stream=ResolutionInfoType,
       out_stream=ConflictInfoType, tags=["Admin"]),
))
DatabaseDesc = InterfaceDesc("Database", _PKG, "", (
    EmbedDesc("Object", "v.io/v23/services/permissions"),
    EmbedDesc("DatabaseWatcher", _PKG), EmbedDesc("SyncgroupManager", _PKG),
    EmbedDesc("BlobManager", _PKG), EmbedDesc("SchemaManager", _PKG),
    EmbedDesc("ConflictManager", _PKG)), (
    _m("Create", [("metadata", vdl.optional(SchemaMetadataType)),
                  ("perms", PermissionsType)], tags=["Write"]),
    _m("Destroy", [], tags=["Admin"]),
    _m("Exists", [], [("", vdl.BoolType)]),
    _m("ListCollections", [_bh], [("", vdl.list_of(IdType))], tags=["Read"]),
    _m("Exec", [_bh, ("query", vdl.StringType), ("params", vdl.list_of(vdl.AnyType))],
       out_stream=vdl.list_of(vdl.AnyType)),
    _m("BeginBatch", [("bo", BatchOptionsType)], [("", BatchHandleType)]),
    _m("Commit", [_bh]),
    _m("Abort", [_bh]),
    _m("PauseSync", [], tags=["Admin"]),
    _m("ResumeSync", [], tags=["Admin"]),
))
CollectionDesc = InterfaceDesc("Collection", _PKG, "", (), (
    _m("Create", [_bh, ("perms", PermissionsType)], tags=["Write"]),
    _m("Destroy", [_bh], tags=["Admin"]),
    _m("Exists", [_bh], [("", vdl.BoolType)]),
    _m("GetPermissions", [_bh], [("", PermissionsType)], tags=["Admin"]),
    _m("SetPermissions", [_bh, ("perms", PermissionsType)], tags=["Admin"]),
    _m("DeleteRange", [_bh, ("start", vdl.ByteListType), ("limit", vdl.ByteListType)],
       tags=["Write"]),
    _m("Scan", [_bh, ("start", vdl.ByteListType), ("limit", vdl.ByteListType)],
       out_stream=KeyValueType, tags=["Read"]),
))
RowDesc = InterfaceDesc("Row", _PKG, "", (), (
    _m("Exists", [_bh], [("", vdl.BoolType)]),
    _m("Get", [_bh], [("", vdl.AnyType)], tags=["Read"]),
    _m("Put", [_bh, ("value", vdl.AnyType)], tags=["Write"]),
    _m("Delete", [_bh], tags=["Write"]),
))

# What each served object describes (own interface first, then embeds, as Go's Describe__).
SERVICE_DESCS = (ServiceDesc, ObjectDesc)
DATABASE_DESCS = (DatabaseDesc, ObjectDesc, DatabaseWatcherDesc, GlobWatcherDesc,
                  SyncgroupManagerDesc, BlobManagerDesc, SchemaManagerDesc, ConflictManagerDesc)
COLLECTION_DESCS = (CollectionDesc,)
ROW_DESCS = (RowDesc,)

# ---------------------------------------------------------------------------
# Prefer the code generated from v23py/services/syncbase/*.vdl when present
# (``vdl generate v.io/v23/services/syncbase`` writes _vdl.py there); the
# hand-built declarations above are the fallback and are checked equal to the
# generated ones by tests/test_syncbase_util.py.
# ---------------------------------------------------------------------------
HANDBUILT_DESCS = {d.name: d for d in (
    ServiceDesc, DatabaseDesc, CollectionDesc, RowDesc, SyncgroupManagerDesc, BlobManagerDesc,
    SchemaManagerDesc, ConflictManagerDesc, DatabaseWatcherDesc)}
try:
    from v23py.v23.services import syncbase as generated
except ImportError:     # pragma: no cover - generated code absent
    generated = None
if generated is not None:
    ServiceDesc = generated.ServiceDesc
    DatabaseDesc = generated.DatabaseDesc
    CollectionDesc = generated.CollectionDesc
    RowDesc = generated.RowDesc
    SyncgroupManagerDesc = generated.SyncgroupManagerDesc
    BlobManagerDesc = generated.BlobManagerDesc
    SchemaManagerDesc = generated.SchemaManagerDesc
    ConflictManagerDesc = generated.ConflictManagerDesc
    DatabaseWatcherDesc = generated.DatabaseWatcherDesc
    SERVICE_DESCS = (ServiceDesc, ObjectDesc)
    DATABASE_DESCS = (DatabaseDesc, ObjectDesc, DatabaseWatcherDesc, GlobWatcherDesc,
                      SyncgroupManagerDesc, BlobManagerDesc, SchemaManagerDesc,
                      ConflictManagerDesc)
    COLLECTION_DESCS = (CollectionDesc,)
    ROW_DESCS = (RowDesc,)
