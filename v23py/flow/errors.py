"""Error ids of the flow layer (Go's ids, our own wording), as ``v23py.verror`` ErrorIds."""
from v23py.verror import ErrorId as _ErrorId, NoRetry, RetryConnection, VError  # noqa: F401
from v23py import verror as _verror

_MSG = "v.io/v23/flow/message."
_CONN = "v.io/x/ref/runtime/internal/flow/conn."
_MGR = "v.io/x/ref/runtime/internal/flow/manager."


def _id(name, fmt, retry=NoRetry):
    return _ErrorId(name, retry, fmt)


def std(name):
    """A standard verror id object (``verror.EOF``, ``verror.Timeout``...)."""
    return getattr(_verror, name)


def err(eid, fmt, *args):
    """``eid`` with Go's Errorf-style message ``fmt % args`` (args kept as params)."""
    return eid.errorf("", "", fmt, *args)


# message codec errors
InvalidMsg = _id(_MSG + "InvalidMsg", "message of type {3} and size {4} failed decoding at field {5}")
InvalidSetupOption = _id(_MSG + "InvalidSetupOption", "setup option failed decoding")
UnknownMsg = _id(_MSG + "UnknownMsg", "unknown message type")
MissingBlessings = _id(_MSG + "MissingBlessings", "message received with no blessings")
# framer
LargerThan3ByteUInt = _id("v.io/x/ref/runtime/protocols/lib/framer.LargerThan3ByteUInt",
                          "integer too large to represent in 3 bytes")
# conn errors
MissingSetupOption = _id(_CONN + "MissingSetupOption", "missing required setup option")
UnexpectedMsg = _id(_CONN + "UnexpectedMsg", "unexpected message type")
ConnectionClosed = _id(_CONN + "ConnectionClosed", "connection closed")
RemoteError = _id(_CONN + "RemoteError", "remote end received err")
Send = _id(_CONN + "Send", "failure sending message")
Recv = _id(_CONN + "Recv", "error reading from connection")
CounterOverflow = _id(_CONN + "CounterOverflow", "a remote process has sent more data than allowed")
BlessingsFlowClosed = _id(_CONN + "BlessingsFlowClosed", "the blessings flow was closed")
InvalidChannelBinding = _id(_CONN + "InvalidChannelBinding", "the channel binding was invalid")
NoPublicKey = _id(_CONN + "NoPublicKey", "no public key received")
DialingNonServer = _id(_CONN + "DialingNonServer", "dialing a non-server")
AcceptorBlessingsMissing = _id(_CONN + "AcceptorBlessingsMissing", "the acceptor did not send blessings")
DialerBlessingsMissing = _id(_CONN + "DialerBlessingsMissing", "the dialer did not send blessings")
BlessingsNotBound = _id(_CONN + "BlessingsNotBound", "blessings not bound to connection remote public key")
InvalidPeerFlow = _id(_CONN + "InvalidPeerFlow", "peer has chosen flow id from local domain")
ChannelTimeout = _id(_CONN + "ChannelTimeout", "the channel has become unresponsive")
IdleConnKilled = _id(_CONN + "IdleConnKilled", "connection killed because idle expiry")
RPCVersionMismatch = _id(_CONN + "RPCVersionMismatch", "conn.Version mismatch")
# manager
ManagerClosed = _id(_MGR + "ManagerClosed", "manager is already closed")
NoCompatibleVersion = _id("v.io/v23/rpc/version.NoCompatibleVersion", "there were no compatible versions")
# v.io/v23/flow
DialFailed = _id("v.io/v23/flow.DialFailed", "dial failed")
Network = _id("v.io/v23/flow.Network", "network error")
ListeningWithNullRid = _id(_MGR + "ListeningWithNullRid", "manager cannot listen with a null routing id")
UnknownProtocol = _id(_MGR + "UnknownProtocol", "unknown protocol")
ProxyResponse = _id(_MGR + "ProxyResponse", "proxy returned")
InvalidProxyResponse = _id(_MGR + "InvalidProxyResponse", "invalid proxy response")
BadArg = _id("v.io/v23/flow.BadArg", "bad argument")
