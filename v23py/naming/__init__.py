"""Vanadium naming: endpoints, routing ids, object names, glob patterns, mount entries
(Go v0.2.0 compatible).  A leaf: it imports nothing of v23py but verror.  The namespace
client is :mod:`v23py.runtime.namespace`; the mount table is :mod:`v23py.mounttable`."""

from .endpoint import (  # noqa: F401
    DEFAULT_ENDPOINT_VERSION,
    NULL_ROUTING_ID,
    UNKNOWN_PROTOCOL,
    Endpoint,
    RoutingId,
    format_endpoint,
    parse_endpoint,
)
from .names import (  # noqa: F401
    RESERVED_NAME_PREFIX,
    clean,
    decode_from_name_element,
    encode_as_name_element,
    escape,
    is_reserved,
    join,
    join_address_name,
    join_host_port,
    rooted,
    split_address_name,
    split_host_port,
    strip_reserved,
    trim_suffix,
    unescape,
)
from .glob import Glob  # noqa: F401
from .mount import (  # noqa: F401
    LEAF, MT, REPLACE, MountEntry, MountedServer, NameExists, NoMountTable, NoSuchName,
    NoSuchNameRoot, ResolutionDepthExceeded,
)
