"""Vanadium endpoints and routing ids (string format version 6), byte-exact
with Go Vanadium v0.2.0.

String form::

    @6@<protocol>@<address>@<route>,<route>...@<routing id>@<m|s>@<blessing>,<blessing>...@@

* address and each route are %XX-escaped ("@" in the address, "," in routes,
  and "%" in both); blessings are written as they are;
* the routing id is 32 lowercase hex digits (an empty one parses as the null id);
* the mount-table flag parses "" and "m" as True, "s" and "l" as False, and is
  always written as "m" or "s";
* an empty address parses as ":0".

The shorthand ``[(blessing)@]host:port[#]`` is also accepted: no protocol, the
null routing id, at most one blessing; it serves a mount table unless the
address ends in "#".
"""

import os
import re

from v23py import verror

from .names import escape, unescape, join_address_name, split_host_port, HostPortError

__all__ = [
    "RoutingId",
    "NULL_ROUTING_ID",
    "Endpoint",
    "parse_endpoint",
    "format_endpoint",
    "UNKNOWN_PROTOCOL",
    "DEFAULT_ENDPOINT_VERSION",
]

UNKNOWN_PROTOCOL = ""
DEFAULT_ENDPOINT_VERSION = 6
ROUTING_ID_LENGTH = 16
FIRST_UNRESERVED_ROUTING_ID = 1024

# [(blessing)@]host:port -- anything without a bare "@" outside the parentheses.
_HOSTPORT = re.compile(r"(?:\((.*)\)@)?([^@]+)\Z")
_HEX = frozenset("0123456789abcdefABCDEF")


def _make_error(msg):
    """Malformed endpoints and routing ids are BadArg errors."""
    return verror.BadArg.new(msg)


class RoutingId:
    """A 16-byte routing id. Printed as 32 lowercase hex digits."""

    __slots__ = ("_value",)

    def __init__(self, value: bytes = bytes(ROUTING_ID_LENGTH)):
        value = bytes(value)
        if len(value) != ROUTING_ID_LENGTH:
            raise _make_error(f"routing id must be {ROUTING_ID_LENGTH} bytes, got {len(value)}")
        self._value = value

    @classmethod
    def fixed(cls, i: int) -> "RoutingId":
        """A routing id holding the 64-bit integer i big-endian in its last 8 bytes."""
        return cls(bytes(8) + int(i).to_bytes(8, "big"))

    @classmethod
    def random(cls) -> "RoutingId":
        """A fresh random routing id outside the reserved range."""
        while True:
            rid = cls(os.urandom(ROUTING_ID_LENGTH))
            if not rid.is_reserved():
                return rid

    @classmethod
    def from_string(cls, s: str) -> "RoutingId":
        """Parse hex (either case); the empty string is the null id."""
        if not s:
            return NULL_ROUTING_ID
        if len(s) % 2 or not set(s) <= _HEX:
            raise _make_error(f"invalid routing id: bad hex {s!r}")
        if len(s) != 2 * ROUTING_ID_LENGTH:
            raise _make_error("invalid routing id: string is of the wrong format and/or size")
        return cls(bytes.fromhex(s))

    @property
    def bytes(self) -> bytes:
        return self._value

    def __bytes__(self):
        return self._value

    def is_reserved(self) -> bool:
        v = self._value
        return not any(v[:14]) and int.from_bytes(v[14:], "big") < FIRST_UNRESERVED_ROUTING_ID

    def is_null(self) -> bool:
        return not any(self._value)

    def __str__(self):
        return self._value.hex()

    def __repr__(self):
        return f"RoutingId({self._value.hex()!r})"

    def __eq__(self, other):
        if isinstance(other, RoutingId):
            return self._value == other._value
        return NotImplemented

    def __hash__(self):
        return hash(self._value)


NULL_ROUTING_ID = RoutingId()


class Endpoint:
    """An immutable endpoint. Fields: protocol, address, routing_id, routes
    (tuple of str), blessing_names (tuple of str), serves_mount_table (bool)."""

    __slots__ = ("protocol", "address", "routing_id", "routes", "blessing_names",
                 "serves_mount_table", "_str")

    def __init__(self, protocol: str = "", address: str = "", routing_id: RoutingId = NULL_ROUTING_ID,
                 routes=(), blessing_names=(), serves_mount_table: bool = False):
        s = object.__setattr__
        s(self, "protocol", protocol)
        s(self, "address", address)
        s(self, "routing_id", routing_id if routing_id is not None else NULL_ROUTING_ID)
        s(self, "routes", tuple(routes or ()))
        s(self, "blessing_names", tuple(blessing_names or ()))
        s(self, "serves_mount_table", bool(serves_mount_table))
        s(self, "_str", None)

    def __setattr__(self, name, value):
        raise AttributeError("Endpoint is immutable; use replace()")

    # -- parsing ---------------------------------------------------------

    @classmethod
    def parse(cls, text: str) -> "Endpoint":
        """Parse a v6 endpoint string or the [(blessing)@]host:port[#] shorthand."""
        if not isinstance(text, str):
            raise _make_error(f"invalid endpoint string: not a string ({type(text).__name__})")
        m = _HOSTPORT.match(text)
        if m is not None:
            return cls._parse_host_port(m.group(1) or "", m.group(2))
        body = text[:-2] if text.endswith("@@") else text
        if body.startswith("@"):
            body = body[1:]
        version, sep, rest = body.partition("@")
        if not sep or version != "6":
            raise _make_error(f"invalid endpoint string: {text!r}")
        return cls._parse_v6(rest, text)

    @classmethod
    def _parse_host_port(cls, blessing: str, hostport: str) -> "Endpoint":
        try:
            split_host_port(hostport)
        except HostPortError:
            raise _make_error(f"invalid endpoint string: {hostport!r}") from None
        mt = True
        if hostport.endswith("#"):
            hostport = hostport[:-1]
            mt = False
        return cls(UNKNOWN_PROTOCOL, hostport, NULL_ROUTING_ID, (),
                   (blessing,) if blessing else (), mt)

    @classmethod
    def _parse_v6(cls, rest: str, text: str) -> "Endpoint":
        fields = []
        for _ in range(5):  # protocol, address, routes, routing id, mt flag
            head, sep, rest = rest.partition("@")
            if not sep:
                raise _make_error(f"invalid endpoint string: {text!r}")
            fields.append(head)
        protocol, raw_addr, raw_routes, raw_rid, flag = fields
        address, ok = unescape(raw_addr)
        if not ok:
            raise _make_error(f"invalid address: bad escape {raw_addr}")
        if not address:
            address = ":0"
        routes = []
        if raw_routes:
            for r in raw_routes.split(","):
                u, ok = unescape(r)
                if not ok:
                    raise _make_error(f"invalid route: bad escape {r}")
                routes.append(u)
        rid = RoutingId.from_string(raw_rid)
        if flag in ("", "m"):
            mt = True
        elif flag in ("s", "l"):
            mt = False
        else:
            raise _make_error(f"invalid mount table flag ({flag})")
        blessings = tuple(rest.split(",")) if rest else ()
        return cls(protocol, address, rid, routes, blessings, mt)

    # -- formatting ------------------------------------------------------

    def versioned_string(self, version: int = DEFAULT_ENDPOINT_VERSION) -> str:
        # Only version 6 exists; any other version prints as the default.
        s = self._str
        if s is None:
            s = "".join([
                "@6@", self.protocol, "@", escape(self.address, "@"), "@",
                ",".join(escape(r, ",") for r in self.routes), "@",
                str(self.routing_id),
                "@m@" if self.serves_mount_table else "@s@",
                ",".join(self.blessing_names), "@@",
            ])
            object.__setattr__(self, "_str", s)
        return s

    def __str__(self):
        return self.versioned_string()

    def name(self) -> str:
        """The rooted object name of this endpoint: "/" + str(self)."""
        return join_address_name(str(self), "")

    def addr(self):
        """(network, address) -- the underlying network address."""
        return (self.protocol, self.address)

    def is_zero(self) -> bool:
        return (self.protocol == "" and self.address == "" and self.routing_id.is_null()
                and not self.routes and not self.blessing_names and not self.serves_mount_table)

    def replace(self, **changes) -> "Endpoint":
        kw = {k: getattr(self, k) for k in
              ("protocol", "address", "routing_id", "routes", "blessing_names", "serves_mount_table")}
        for k in changes:
            if k not in kw:
                raise TypeError(f"Endpoint has no field {k!r}")
        kw.update(changes)
        return Endpoint(**kw)

    def with_blessing_names(self, names) -> "Endpoint":
        return self.replace(blessing_names=tuple(names))

    def with_routes(self, routes) -> "Endpoint":
        return self.replace(routes=tuple(routes))

    # -- value semantics -------------------------------------------------

    def _key(self):
        return (self.protocol, self.address, self.routing_id, self.routes,
                self.blessing_names, self.serves_mount_table)

    def __eq__(self, other):
        if isinstance(other, Endpoint):
            return self._key() == other._key()
        return NotImplemented

    def __hash__(self):
        return hash(self._key())

    def __repr__(self):
        return f"Endpoint({str(self)!r})"

    def __reduce__(self):
        return (Endpoint, self._key())


def parse_endpoint(text: str) -> Endpoint:
    return Endpoint.parse(text)


def format_endpoint(network: str, address: str, routing_id=None, serves_mount_table=None,
                    routes=(), blessings=()) -> str:
    """Format an endpoint string from parts, leaving unspecified fields empty
    (unlike str(Endpoint), which always fills every field)."""
    rid = "" if routing_id is None else str(routing_id)
    mt = "" if serves_mount_table is None else ("m" if serves_mount_table else "s")
    return (f"@6@{network}@{address}@{','.join(routes)}@{rid}@{mt}@"
            f"{','.join(blessings)}@@")
