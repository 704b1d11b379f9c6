"""Call options (Go's v23/options), passed in the ``opts`` tuple of client calls."""


class ServerAuthorizer:
    """Authorize the server with this authorizer instead of the endpoint authorizer."""

    def __init__(self, authorizer):
        self.authorizer = authorizer


class NameResolutionAuthorizer:
    """Authorizer for the mount tables met while resolving the name."""

    def __init__(self, authorizer):
        self.authorizer = authorizer


class Preresolved:
    """Skip resolution: call these rooted server names with this relative name."""

    def __init__(self, servers, name=""):
        self.servers = list(servers)
        self.name = name


class NoResolve:
    """Use the name's first element as the server without asking mount tables."""


class GrantedBlessings:
    """Blessings granted to the server with the call (Request.GrantedBlessings)."""

    def __init__(self, blessings):
        self.blessings = blessings


class NoRetry:
    """Do not retry the call, whatever the error (Go's options.NoRetry)."""


class ConnectionTimeout:
    """Give up connecting after this many seconds; 0 means use cached connections only
    (Go's options.ConnectionTimeout). The earliest of it and the context's deadline wins."""

    def __init__(self, seconds):
        self.seconds = float(seconds)


class ChannelTimeout:
    """The health-check timeout for a new connection (Go's options.ChannelTimeout)."""

    def __init__(self, seconds):
        self.seconds = float(seconds)


def insecure():
    """The options of ``vrpc -insecure``: trust any server and any mount table."""
    from v23py import security
    return (ServerAuthorizer(security.allow_everyone()),
            NameResolutionAuthorizer(security.allow_everyone()))


def find(opts, cls):
    for o in opts or ():
        if isinstance(o, cls):
            return o
        if o is cls:
            return o
    return None
