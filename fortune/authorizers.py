"""The custom authorizers the advanced tutorials write in Go, for fortune-server.

``fortune-server --authorizer=NAME`` picks one (see fortune.util):

* ``consultants`` (naming/suffix-part2): per-suffix access for a company's
  consultants.  With the server's first blessing name ``S`` and a suffix ``x``:
  anyone may use the root object (the empty suffix, which lists the services);
  ``S:consultant:x`` exactly, and anyone blessed under ``S:consultant:x:intern``,
  may do anything on ``x``; anyone blessed under ``S:consultant:x:cust`` may call
  the methods tagged Reader (or resolve/glob ``x``, tag ``access.Resolve``).
* ``friend-window`` (security/custom-authorizer): ``alice:family`` may always
  call; ``alice:friend`` only while the local hour is in
  ``[--start, --start + --length)``; nobody else.
"""
import time

from v23py import security, verror
from v23py.security import access


def _tagged(call, tag):
    """Whether the method being called carries `tag` (Go: mTag.RawString() == tag)."""
    want = _raw(tag)
    return any(_raw(t) == want for t in call.method_tags or ())


def _raw(tag):
    v = getattr(tag, "value", tag)
    return v if isinstance(v, str) else str(v)


def _denied(msg):
    # The Go authorizers return a plain error (errors.New / fmt.Errorf), which the
    # server reports as an unknown-id error, not NoAccess.
    return verror.Unknown.new(msg)


class ConsultantsAuthorizer(security.Authorizer):
    """Consultants own their suffix, their interns share it, their customers read it."""

    def __init__(self, reader_tag):
        self.reader_tag = reader_tag

    def authorize(self, call):
        if call.suffix == "":
            return None
        server = security.local_blessing_names(call)
        client, _ = security.remote_blessing_names(call)
        if not server:
            raise _denied("access denied.")
        consultant = security.CHAIN_SEPARATOR.join((server[0], "consultant", call.suffix))
        intern = consultant + security.CHAIN_SEPARATOR + "intern"
        customer = consultant + security.CHAIN_SEPARATOR + "cust"
        if security.BlessingPattern(consultant).make_non_extendable().matched_by(*client):
            return None
        if security.BlessingPattern(intern).matched_by(*client):
            return None
        if ((_tagged(call, self.reader_tag) or _tagged(call, access.Resolve))
                and security.BlessingPattern(customer).matched_by(*client)):
            return None
        raise _denied("access denied.")


class FriendWindowAuthorizer(security.Authorizer):
    """Family at any time, friends during a window of hours (local time)."""

    FRIENDS = security.BlessingPattern("alice:friend")
    FAMILY = security.BlessingPattern("alice:family")

    def __init__(self, start, length, clock=time.localtime):
        self.start = start
        self.length = length
        self.clock = clock

    def authorize(self, call):
        client, _ = security.remote_blessing_names(call)
        hour = self.clock().tm_hour
        if self.FAMILY.matched_by(*client):
            return None
        if self.FRIENDS.matched_by(*client):
            if self.start <= hour < self.start + self.length:
                return None
            raise _denied(f"friends like {_go_list(client)} not authorized at this hour ({hour})")
        raise _denied("not friend nor family, not authorized")


def _go_list(names):
    """A []string as Go's %v prints it."""
    return "[" + " ".join(names) + "]"
