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


from v23py.security import AddressOnlyTrust  # noqa: E402 (its home; named here too)


def trust_opts() -> list[Any]:
    """Call options applying AddressOnlyTrust to the server and to the mount
    tables met while resolving its name."""
    from v23py.rpc import options
    auth = AddressOnlyTrust()
    return (options.ServerAuthorizer(auth), options.NameResolutionAuthorizer(auth))
