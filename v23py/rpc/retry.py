"""When the RPC client tries again, as Go v0.2.0's client does (sans-IO: no clock, no sleep).

A call has a *connection deadline*: the earliest of the context's deadline and any
``options.ConnectionTimeout``, else 60 s from the start (Go's ``defaultCallTimeout``).
Until then the client retries in two places:

* **connecting** (resolve the name, dial its servers): again after an error whose
  action is ``RetryConnection`` or ``RetryRefetch`` -- a name not (yet) mounted, or
  no server reachable -- re-resolving the name each time (the failed name's
  namespace cache entry is flushed). Not after a server failed authorization, a
  resolution that found no servers or failed otherwise, a cancelled or expired
  context, ``options.NoRetry``, ``ConnectionTimeout(0)`` (cached connections only),
  or when preresolved servers all failed (nothing new to resolve);
* **after the call was sent**: only when the error's own action is
  ``RetryBackoff`` (the server says running the call again is safe); then the whole
  call starts over. Any other error of a call that may have run is final.

Between attempts it waits ``(100..200 ms) << n`` for the n-th retry (randomized
so that clients do not retry in step), at most 60 s, and never past the deadline
less 100 ms kept for the last attempt; with less than that left it stops.
"""
import random

from v23py import verror
from v23py.naming.mount import NoSuchName

DEFAULT_CALL_TIMEOUT = 60.0   # s: connection deadline when neither ctx nor options set one
MAX_BACKOFF = 60.0            # s: the longest single wait
RESERVE = 0.1                 # s: time kept for the attempt after a wait
BASE_BACKOFF = 0.1            # s: the first wait is BASE .. 2*BASE

_RETRY_CONNECT = (verror.RetryConnection, verror.RetryRefetch)


class ConnectionPolicy:
    """The retry-relevant options of one call (Go's connectionOpts)."""

    __slots__ = ("deadline", "channel_timeout", "use_only_cached", "no_retry", "preresolved")

    def __init__(self, deadline, channel_timeout=0.0, use_only_cached=False, no_retry=False,
                 preresolved=False):
        self.deadline = deadline              # absolute, on the caller's clock
        self.channel_timeout = channel_timeout
        self.use_only_cached = use_only_cached
        self.no_retry = no_retry
        self.preresolved = preresolved

    @classmethod
    def for_call(cls, now, ctx_deadline, opts=()):
        """The policy for a call started at ``now`` (ctx_deadline absolute or None)."""
        from v23py.rpc import options
        deadline = None
        channel_timeout = 0.0
        use_only_cached = no_retry = preresolved = False
        for o in opts or ():
            if isinstance(o, options.ConnectionTimeout):
                if o.seconds == 0:
                    use_only_cached = True
                elif deadline is None or now + o.seconds < deadline:
                    deadline = now + o.seconds
            elif isinstance(o, options.ChannelTimeout):
                if channel_timeout == 0 or o.seconds < channel_timeout:
                    channel_timeout = o.seconds
            elif isinstance(o, options.NoRetry) or o is options.NoRetry:
                no_retry = True
            elif isinstance(o, options.Preresolved):
                preresolved = True
        if ctx_deadline is not None and (deadline is None or ctx_deadline < deadline):
            deadline = ctx_deadline
        if deadline is None:
            deadline = now + DEFAULT_CALL_TIMEOUT
        return cls(deadline, channel_timeout, use_only_cached, no_retry, preresolved)

    def retry_connect(self, action, now, require_resolve=False):
        """Whether to connect again after a failed attempt whose action is ``action``."""
        if self.no_retry or self.use_only_cached:
            return False
        if action not in _RETRY_CONNECT:
            return False
        if now > self.deadline:
            return False
        if require_resolve and self.preresolved:
            return False
        return True

    def retry_call(self, err, now):
        """Whether to start a call over after it failed with ``err`` once sent."""
        if self.no_retry or now > self.deadline:
            return False
        return retry_action(err) == verror.RetryBackoff

    def backoff(self, n, now, rand=random.random):
        """Seconds to wait before retry number ``n`` (0 first), or None: give up."""
        b = min((BASE_BACKOFF + BASE_BACKOFF * rand()) * (1 << min(n, 30)), MAX_BACKOFF)
        left = self.deadline - now
        if left <= RESERVE:
            return None
        return min(b, left - RESERVE)


def retry_action(err):
    """The retry action an error carries (NoRetry for anything that is not a VError)."""
    code = getattr(err, "retry_code", None)
    return code if code is not None else verror.NoRetry


def prefer_non_timeout(err, prev):
    """The error to report: a timeout that only ends a run of retries hides nothing
    useful, so the previous attempt's error is reported instead (Go's preferNonTimeout)."""
    if prev is not None and verror.Timeout.is_(err):
        return prev
    return err


# -- the outcome of one connection attempt ----------------------------------------------------

NOT_TRUSTED_IDS = frozenset((verror.NotTrusted.id,
                             "v.io/x/ref/runtime/internal/rpc.errPeerAuthorizedFailed"))


def failed_attempt(name, method, server_errors, cancelled=False, expired=False):
    """(error, action) when no server of ``name`` could be reached (Go's failedTryConnectToName).

    ``server_errors`` are the per-server errors, as ``(server, error)``, ``method`` the
    method being called (both named in the message, as Go does). A server that
    refused to be trusted makes the failure final (NotTrusted, NoRetry); otherwise it
    is NoServers (or Timeout when a dial timed out) with RetryRefetch, so the name is
    resolved and dialed again. A cancelled or expired context ends it (Canceled /
    Timeout, NoRetry).
    """
    top, action = verror.NoServers, verror.RetryRefetch
    any_error = False
    for _, e in server_errors:
        if e is None:
            continue
        any_error = True
        eid = verror.error_id(e)
        if eid in NOT_TRUSTED_IDS:
            top, action = verror.NotTrusted, verror.NoRetry
        elif eid == verror.Timeout.id and top is not verror.NotTrusted:
            top = verror.Timeout
    if not any_error:
        top = verror.BadProtocol
    if cancelled:
        top, action = verror.Canceled, verror.NoRetry
    elif expired:
        top, action = verror.Timeout, verror.NoRetry
    if top is verror.NoServers:
        msg = f"no usable servers found for {name}"
    elif top is verror.NotTrusted:
        msg = f"client does not trust server: {name}"
    elif top is verror.BadProtocol:
        msg = "bad protocol or type"
    else:
        msg = top.default_msg.lower() if top.default_msg else top.id
    # Go appends each server's error as a printed sub-error: " [server:name.Method: err]"
    for server, e in server_errors:
        if e is not None:
            msg += f" [{_sub_name(server, name, method)}: {_text(e)}]"
    if top is verror.NoServers:
        msg = with_root_hint(msg)
    return top.new(msg), action


def resolve_failure(name, err):
    """(error, action, require_resolve) after resolving ``name`` failed (Go's tryConnectToName):
    only a name that does not exist (yet) is worth resolving again."""
    eid = verror.error_id(err)
    if _bare(eid) == _bare(NoSuchName.id):
        return (verror.NoServers.new(with_root_hint(
            f"no usable servers found for: {name}: {_text(err)}")), verror.RetryRefetch, False)
    if eid in (verror.NoServers.id, verror.Timeout.id, verror.Canceled.id):
        return err, verror.NoRetry, False
    return (verror.NoServers.new(with_root_hint(
        f"no usable servers found for: {name}: {_text(err)}")), verror.NoRetry, False)


# The address of Go's default namespace root: its public mount table, long retired.
_RETIRED_ROOT = "ns.dev.v.io:8101"


def with_root_hint(msg):
    """A failure to reach Go's retired default root says what to do instead."""
    if _RETIRED_ROOT not in msg:
        return msg
    return (msg + " -- no mount table is configured: set V23_NAMESPACE to your mount "
            "table's name (the NAME=... line mounttabled prints) or pass "
            "--v23.namespace.root; the default root, " + _RETIRED_ROOT + ", is Go's retired "
            "public mount table")


def _bare(error_id):
    # naming's ids travel with or without Go's package prefix (see naming.mount)
    return error_id.rsplit(".", 1)[-1] if "/" in error_id else error_id


def _sub_name(server, name, method):
    return f"{server}.{method}" if server == name else f"{server}:{name}.{method}"


def _text(e):
    return (getattr(e, "msg", "") or getattr(e, "id", "") or str(e)) if e is not None else ""
