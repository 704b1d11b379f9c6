"""Trusting servers that are named by address only.

Go v0.2.0 clients authorize a server against the blessing names in its
endpoint and refuse a server whose endpoint names none -- which is every
server reached through a ``/host:port`` name, such as the tutorials'
``--v23.namespace.root /localhost:23000`` ("client does not trust server: no
blessings in endpoint"). The tutorials predate that rule.

``AddressOnlyTrust`` keeps Go's endpoint check whenever the endpoint carries
blessing names, and otherwise accepts a server only if its blessings and the
ones we present to it are extensions of one another (the default
authorization policy, seen from the client). A server with unrelated
blessings is still refused with NotTrusted.
"""

from typing import Any

__all__ = ["AddressOnlyTrust", "trust_opts"]


def _endpoint_names(call):
    ep = getattr(call, "remote_endpoint", None)
    names = getattr(ep, "blessing_names", None) if ep is not None else None
    if callable(names):
        names = names()
    return list(names or [])


class AddressOnlyTrust:
    def authorize(self, call):
        from v23py import security
        if _endpoint_names(call):
            return security.endpoint_authorizer().authorize(call)
        p = call.local_principal
        remote, _ = security.remote_blessing_names(call)
        mine = p.blessing_store.for_peer(*remote) if p is not None else None
        if (mine is None or mine.is_zero()) and p is not None:
            mine = p.blessing_store.default()
        ours = security.Call(local_principal=p, local_blessings=mine,
                             remote_blessings=call.remote_blessings,
                             timestamp=getattr(call, "timestamp", None),
                             local_endpoint=getattr(call, "local_endpoint", None),
                             remote_endpoint=getattr(call, "remote_endpoint", None))
        return security.default_authorizer().authorize(ours)


def trust_opts() -> list[Any]:
    """Call options applying AddressOnlyTrust to the server and to the mount
    tables met while resolving its name."""
    from v23py.rpc import options
    auth = AddressOnlyTrust()
    return (options.ServerAuthorizer(auth), options.NameResolutionAuthorizer(auth))
