"""Go's proxy protocol, sans-IO: what a server, a client and a proxy say on their flows.

A proxy is a flow manager that forwards flows.  Three kinds of flow reach it, told apart by
their first message:

* ``ProxyServerRequest`` -- a server asks to be reachable through the proxy.  The proxy
  answers with ``ProxyResponse`` (its own endpoints, carrying the server's routing id), again
  whenever its endpoints change, or with ``ProxyErrorResponse`` when it refuses.  Later the
  proxy opens flows to the server on that same connection: each carries one whole client
  conn (a conn inside a flow, messages without length headers).
* ``MultiProxyRequest`` -- another proxy asks the same; its endpoints get the asking proxy's
  routing id appended to their routes.
* ``Setup`` -- a client's conn, dialed through the proxy to an endpoint whose routing id is
  not the proxy's.  The proxy finds the next hop (the first route, else the endpoint's
  routing id), opens a flow to it, writes the Setup there (routes shortened) and then copies
  messages both ways, one by one.

Nothing here does I/O; ``v23py.flow.manager`` and the ``xproxyd`` daemon use it.
"""
from __future__ import annotations

from v23py.naming.endpoint import Endpoint, RoutingId

from . import errors, message as m

# Go's proxies name the conns of servers that listen through them with this protocol: such
# an endpoint is reached over a conn the server dialed, never by dialing an address.
BIDI_PROTOCOL = "bidi"


def __getattr__(name):
    # SERVER_REQUEST, MULTI_PROXY_REQUEST: the encoded requests, built on first use (their
    # layouts load construct, which a program that never meets a proxy does not need)
    if name == "SERVER_REQUEST":
        value = m.ProxyServerRequest().encode()
    elif name == "MULTI_PROXY_REQUEST":
        value = m.MultiProxyRequest().encode()
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def first_message(data):
    """Decode the first message of a flow a proxy accepted.

    Returns ``("setup", Setup)``, ``("server", None)``, ``("proxy", None)`` or
    ``("other", message)``; raises VError for bytes that are no message."""
    msg = m.decode(data)
    if isinstance(msg, m.Setup):
        return "setup", msg
    if isinstance(msg, m.ProxyServerRequest):
        return "server", None
    if isinstance(msg, m.MultiProxyRequest):
        return "proxy", None
    return "other", msg


def next_hop(setup):
    """Where a client's Setup goes next: ``(routing_id, setup_to_forward)``.

    The next hop is the first route of the endpoint the client dialed (a chain of proxies),
    else its routing id; the Setup forwarded names the endpoint without that route."""
    if not setup.remote_endpoint:
        raise errors.err(errors.BadArg, "proxy: the client's setup names no endpoint")
    try:
        ep = Endpoint.parse(setup.remote_endpoint)
    except Exception as e:
        raise errors.err(errors.BadArg, "proxy: invalid endpoint in the client's setup: %s", e)
    fwd = m.Setup(setup.min_version, setup.max_version, setup.nacl_public_key,
                  setup.remote_endpoint, setup.local_endpoint, setup.mtu, setup.shared_tokens,
                  setup.uninterpreted)
    if ep.routes:
        try:
            rid = RoutingId.from_string(ep.routes[0])
        except Exception as e:
            raise errors.err(errors.BadArg, "proxy: invalid route %r: %s", ep.routes[0], e)
        fwd.remote_endpoint = str(ep.with_routes(ep.routes[1:]))
    else:
        rid = ep.routing_id
    if rid.is_null():
        raise errors.err(errors.BadArg, "proxy: the client's setup names no routing id")
    return rid, fwd


def server_endpoints(own, rid):
    """A proxy's answer to a server with routing id ``rid``: its endpoints, with that id."""
    if not own:
        raise _not_listening()
    return [ep.replace(routing_id=rid) for ep in own]


def proxy_endpoints(own, route):
    """A proxy's answer to another proxy: its endpoints with ``route`` appended to the routes
    (a later proxy puts its server's routing id in)."""
    if not own:
        raise _not_listening()
    return [ep.with_routes(tuple(ep.routes) + (route,)) for ep in own]


def _not_listening():
    return errors.VError(NOT_LISTENING, errors.NoRetry, "proxy has already been closed")


def response(endpoints):
    return m.ProxyResponse([str(ep) for ep in endpoints]).encode()


def error_response(text):
    return m.ProxyErrorResponse(text).encode()


def read_response(data):
    """A proxy's reply to a ``ProxyServerRequest``/``MultiProxyRequest``: its endpoints, or
    VError (``ProxyResponse`` when it refused, ``InvalidProxyResponse``/``BadArg`` else)."""
    try:
        msg = m.decode(data)
    except errors.VError as e:
        raise errors.err(errors.BadArg, "%s", e)
    if isinstance(msg, m.ProxyResponse):
        try:
            return [Endpoint.parse(e) for e in msg.endpoints]
        except Exception as e:
            raise errors.err(errors.BadArg, "invalid endpoint in the proxy's response: %s", e)
    if isinstance(msg, m.ProxyErrorResponse):
        raise errors.err(errors.ProxyResponse, "proxy returned: %s", msg.error)
    raise errors.err(errors.InvalidProxyResponse, "invalid proxy response: %s", type(msg).__name__)


# Go's xproxy package error ids (v.io/x/ref/services/xproxy/xproxy).
_XPROXY = "v.io/x/ref/services/xproxy/xproxy."
NOT_LISTENING = errors._id(_XPROXY + "NotListening", "proxy is not listening")
UNEXPECTED_MESSAGE = errors._id(_XPROXY + "UnexpectedMessage", "unexpected message")
FAILED_TO_RESOLVE = errors._id(_XPROXY + "FailedToResolveToEndpoint", "failed to resolve to endpoint")
PROXY_CLOSED = errors._id(_XPROXY + "ProxyAlreadyClosed", "proxy has already been closed")
XPROXY_RESPONSE = errors._id(_XPROXY + "ProxyResponse", "proxy returned")
