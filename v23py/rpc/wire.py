"""The RPC protocol's wire types, all from the generated ``v.io/v23`` packages.

``Request``/``Response`` (``v23py.v23.rpc``) head every call; ``__Signature``
answers ``[]signature.Interface`` (``v23py.v23.vdlroot.signature``); ``__Glob``
streams ``naming.GlobReply`` (``v23py.v23.naming``).  The ``*Type`` names are the
``vdl.Type`` objects the codec takes; ``request``/``response`` build headers with
shared zero sub-values, as the hot path wants.
"""
from v23py import vdl
from v23py.v23 import naming as _naming
from v23py.v23 import rpc as _rpc
from v23py.v23 import security as _security
from v23py.v23 import vtrace as _vtrace
from v23py.v23.vdlroot import signature as _signature
from v23py.v23.vdlroot import time as _time

__all__ = ["RequestType", "ResponseType", "MountEntryType", "GlobReplyType", "SigMethodType",
           "SigInterfaceType", "SigInterfaceListType", "request", "response", "deadline",
           "glob_entry", "glob_error"]

Request, Response = _rpc.Request, _rpc.Response
RequestType, ResponseType = Request._vdl_type, Response._vdl_type
MountEntryType = _naming.MountEntry._vdl_type
GlobReplyType = _naming.GlobReply._vdl_type
SigMethodType = _signature.Method._vdl_type
SigInterfaceType = _signature.Interface._vdl_type
SigInterfaceListType = vdl.list_of(SigInterfaceType)

# Shared zero values (never mutated) for the parts of a header a call rarely sets.
_ZERO_DEADLINE = vdl.zero(_time.WireDeadline._vdl_type)
_ZERO_BLESSINGS = vdl.zero(_security.WireBlessings._vdl_type)
_ZERO_TRACE_REQUEST = vdl.zero(_vtrace.Request._vdl_type)
_ZERO_TRACE_RESPONSE = vdl.zero(_vtrace.Response._vdl_type)


def request(suffix="", method="", nargs=0, end=False, deadline=None, granted=None):
    """A Request header."""
    return Request(Suffix=suffix, Method=method, NumPosArgs=nargs, EndStreamArgs=end,
                   Deadline=deadline if deadline is not None else _ZERO_DEADLINE,
                   GrantedBlessings=granted if granted is not None else _ZERO_BLESSINGS,
                   TraceRequest=_ZERO_TRACE_REQUEST, Language="")


def response(error=None, end=False, nresults=0):
    """A Response header."""
    return Response(Error=error, EndStreamResults=end, NumPosResults=nresults,
                    TraceResponse=_ZERO_TRACE_RESPONSE, AckBlessings=False)


def glob_entry(name, is_leaf=False, servers=(), mt=False):
    """A ``naming.GlobReply`` entry (what ``__Glob`` streams for a name found)."""
    return _naming.GlobReply("Entry", _naming.MountEntry(
        Name=name, Servers=list(servers), ServesMountTable=mt, IsLeaf=is_leaf))


def glob_error(name, err):
    """A ``naming.GlobReply`` error for ``name``."""
    return _naming.GlobReply("Error", _naming.GlobError(Name=name, Error=err))


def deadline(seconds, nanos):
    """A time.WireDeadline that is ``seconds`` + ``nanos`` from now."""
    return _time.WireDeadline(FromNow=_time.Duration(Seconds=seconds, Nanos=nanos))
