"""The VDL types of the RPC protocol, by name.

``rpc.vdl`` is compiled to ``_vdl.py`` (Request, Response); the signature and
naming types come from the generated ``v23py.vdlroot.signature`` and
``v23py.vdlstd.naming``.  The structures are also spelled out below, which
checks them (types are hash-consed, so both routes give the same objects) and
keeps the RPC layer working when a generated module is missing.

Every type here has Go's wire name, field names and field order, so the VOM
bytes match Go v0.2.0.  Types are hash-consed by ``v23py.vdl``, so building
the same structure elsewhere (security, naming, generated code) yields the
same ``Type`` object.  Where another package already provides the class we
reuse it; otherwise values are made through ``vdl.class_for``.

Names are resolved lazily (module ``__getattr__``) so importing this module
never needs the type system to be complete.
"""
import threading

_lock = threading.Lock()
_built = None


def _import_generated():
    """Register the generated classes first, so class_for() hands out those."""
    for mod in ("v23py.rpc._vdl", "v23py.vdlroot.signature", "v23py.vdlstd.naming",
                "v23py.vdlstd.vtrace", "v23py.vdlroot.time"):
        try:
            __import__(mod)
        except ImportError:
            pass


def _build():
    from v23py import vdl
    _import_generated()

    t = {}
    # time (VDL package "time")
    duration = vdl.struct("time.Duration", [("Seconds", vdl.Int64Type), ("Nanos", vdl.Int32Type)])
    t["Duration"] = duration
    # time.Time is declared as "type Time Duration": same fields, its own name
    t["Time"] = vdl.struct("time.Time", [("Seconds", vdl.Int64Type), ("Nanos", vdl.Int32Type)])
    t["WireDeadline"] = vdl.struct("time.WireDeadline", [("FromNow", duration)])

    # uniqueid
    uid = vdl.array_of(vdl.ByteType, 16, name="v.io/v23/uniqueid.Id")
    t["UniqueId"] = uid

    # security wire types (shared with v23py.security)
    bytes_t = vdl.ByteListType
    hash_t = vdl.named("v.io/v23/security.Hash", vdl.StringType)
    sig = vdl.struct("v.io/v23/security.Signature", [
        ("Purpose", bytes_t), ("Hash", hash_t), ("R", bytes_t), ("S", bytes_t),
        ("Ed25519", bytes_t), ("Rsa", bytes_t)])
    caveat = vdl.struct("v.io/v23/security.Caveat", [("Id", uid), ("ParamVom", bytes_t)])
    cert = vdl.struct("v.io/v23/security.Certificate", [
        ("Extension", vdl.StringType), ("PublicKey", bytes_t),
        ("Caveats", vdl.list_of(caveat)), ("X509Raw", bytes_t), ("Signature", sig)])
    wb = vdl.struct("v.io/v23/security.WireBlessings", [
        ("CertificateChains", vdl.list_of(vdl.list_of(cert)))])
    t["WireBlessings"] = wb

    # vtrace
    flags = vdl.named("v.io/v23/vtrace.TraceFlags", vdl.Int32Type)
    t["TraceFlags"] = flags
    t["TraceRequest"] = vdl.struct("v.io/v23/vtrace.Request", [
        ("SpanId", uid), ("TraceId", uid), ("RequestMetadata", bytes_t),
        ("Flags", flags), ("LogLevel", vdl.Int32Type)])
    annotation = vdl.struct("v.io/v23/vtrace.Annotation", [
        ("When", t["Time"]), ("Message", vdl.StringType)])
    span = vdl.struct("v.io/v23/vtrace.SpanRecord", [
        ("Id", uid), ("Parent", uid), ("Name", vdl.StringType), ("Start", t["Time"]),
        ("End", t["Time"]), ("Annotations", vdl.list_of(annotation)),
        ("RequestMetadata", bytes_t)])
    record = vdl.struct("v.io/v23/vtrace.TraceRecord", [("Id", uid), ("Spans", vdl.list_of(span))])
    t["TraceResponse"] = vdl.struct("v.io/v23/vtrace.Response", [
        ("Flags", flags), ("Trace", record)])

    # rpc
    t["Request"] = vdl.struct("v.io/v23/rpc.Request", [
        ("Suffix", vdl.StringType), ("Method", vdl.StringType), ("NumPosArgs", vdl.Uint64Type),
        ("EndStreamArgs", vdl.BoolType), ("Deadline", t["WireDeadline"]),
        ("GrantedBlessings", wb), ("TraceRequest", t["TraceRequest"]),
        ("Language", vdl.StringType)])
    t["Response"] = vdl.struct("v.io/v23/rpc.Response", [
        ("Error", vdl.ErrorType), ("EndStreamResults", vdl.BoolType),
        ("NumPosResults", vdl.Uint64Type), ("TraceResponse", t["TraceResponse"]),
        ("AckBlessings", vdl.BoolType)])

    # signature (VDL package path "signature")
    arg = vdl.struct("signature.Arg", [
        ("Name", vdl.StringType), ("Doc", vdl.StringType), ("Type", vdl.TypeObjectType)])
    embed = vdl.struct("signature.Embed", [
        ("Name", vdl.StringType), ("PkgPath", vdl.StringType), ("Doc", vdl.StringType)])
    method = vdl.struct("signature.Method", [
        ("Name", vdl.StringType), ("Doc", vdl.StringType), ("InArgs", vdl.list_of(arg)),
        ("OutArgs", vdl.list_of(arg)), ("InStream", vdl.optional(arg)),
        ("OutStream", vdl.optional(arg)), ("Tags", vdl.list_of(vdl.AnyType))])
    iface = vdl.struct("signature.Interface", [
        ("Name", vdl.StringType), ("PkgPath", vdl.StringType), ("Doc", vdl.StringType),
        ("Embeds", vdl.list_of(embed)), ("Methods", vdl.list_of(method))])
    t["SigArg"], t["SigEmbed"], t["SigMethod"], t["SigInterface"] = arg, embed, method, iface
    t["SigInterfaceList"] = vdl.list_of(iface)

    # naming
    mounted = vdl.struct("v.io/v23/naming.MountedServer", [
        ("Server", vdl.StringType), ("Deadline", t["WireDeadline"])])
    entry = vdl.struct("v.io/v23/naming.MountEntry", [
        ("Name", vdl.StringType), ("Servers", vdl.list_of(mounted)),
        ("ServesMountTable", vdl.BoolType), ("IsLeaf", vdl.BoolType)])
    gerr = vdl.struct("v.io/v23/naming.GlobError", [
        ("Name", vdl.StringType), ("Error", vdl.ErrorType)])
    t["MountedServer"], t["MountEntry"], t["GlobError"] = mounted, entry, gerr
    t["GlobReply"] = vdl.union("v.io/v23/naming.GlobReply", [("Entry", entry), ("Error", gerr)])
    t["GlobChildrenReply"] = vdl.union("v.io/v23/naming.GlobChildrenReply", [
        ("Name", vdl.StringType), ("Error", gerr)])
    return t


def types():
    """dict name -> vdl.Type of every wire type above."""
    global _built
    if _built is None:
        with _lock:
            if _built is None:
                _built = _build()
                # plain module attributes from now on (module __getattr__ is slow)
                globals().update(_built)
    return _built


def cls(name):
    """The Python class for the named wire type."""
    from v23py import vdl
    return vdl.class_for(types()[name])


def __getattr__(name):
    t = types()
    if name in t:
        return t[name]
    if name.endswith("Class") and name[:-5] in t:
        return cls(name[:-5])
    raise AttributeError(name)


_zeros = {}


def _zero(name):
    """A shared zero value of a wire type (never mutate it)."""
    z = _zeros.get(name)
    if z is None:
        from v23py import vdl
        z = _zeros[name] = vdl.zero(types()[name])
    return z


def request(suffix="", method="", nargs=0, end=False, deadline=None, granted=None):
    """A Request value built without re-making the zero sub-structs each time."""
    return cls("Request")(Suffix=suffix, Method=method, NumPosArgs=nargs, EndStreamArgs=end,
                          Deadline=deadline if deadline is not None else _zero("WireDeadline"),
                          GrantedBlessings=granted if granted is not None
                          else _zero("WireBlessings"),
                          TraceRequest=_zero("TraceRequest"), Language="")


def response(error=None, end=False, nresults=0):
    return cls("Response")(Error=error, EndStreamResults=end, NumPosResults=nresults,
                           TraceResponse=_zero("TraceResponse"), AckBlessings=False)
