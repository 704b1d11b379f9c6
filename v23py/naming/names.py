"""Vanadium object names: rooted and relative names, cleaning, joining and
splitting, and the %XX escaping used in endpoints and name elements.

Behaviour follows Go Vanadium v0.2.0 (package v.io/v23/naming) exactly:

* A name is *rooted* when it starts with "/". The first element of a rooted
  name is a server address: a full endpoint ``@6@...@@`` (the ``@@/``
  sequence ends it), a ``(blessing)@host:port`` form, or ``host:port``.
* Names are *cleaned*: runs of "/" collapse to one and a trailing "/" is
  dropped (except for the name "/" itself).
* Reserved names and methods start with ``__``.
"""

import re

from v23py.gostrings import go_bytes, go_string

__all__ = [
    "RESERVED_NAME_PREFIX",
    "clean",
    "rooted",
    "join",
    "join_address_name",
    "split_address_name",
    "trim_suffix",
    "is_reserved",
    "strip_reserved",
    "escape",
    "unescape",
    "encode_as_name_element",
    "decode_from_name_element",
    "split_host_port",
    "join_host_port",
]

RESERVED_NAME_PREFIX = "__"

_SLASHES = re.compile(r"/{2,}")
_HEX_DIGITS = "0123456789ABCDEF"
_HEX_OK = frozenset("0123456789abcdefABCDEF")


def clean(name: str) -> str:
    """Collapse repeated slashes and drop one trailing slash ("/" stays "/")."""
    if "//" in name:
        name = _SLASHES.sub("/", name)
    if name == "/":
        return name
    if name.endswith("/"):
        return name[:-1]
    return name


def rooted(name: str) -> bool:
    """True when the name starts with "/" (including "/" alone)."""
    return name.startswith("/")


def join(*elems: str) -> str:
    """Join name fragments with "/", skipping leading empty fragments, and clean."""
    i = 0
    while i < len(elems) and elems[i] == "":
        i += 1
    return clean("/".join(elems[i:]))


def join_address_name(address: str, name: str) -> str:
    """A rooted name for (address, relative name); relative when address is empty."""
    address = address.lstrip("/")
    if not address:
        return clean(name)
    if not name:
        return clean("/" + address)
    return clean("/" + address + "/" + name)


def _split_two(s: str, sep: str):
    head, found, tail = s.partition(sep)
    return head, (tail if found else "")


def split_address_name(name: str):
    """Split a name into (server address, name relative to that server).

    A relative name gives ("", name). The address may be a full endpoint
    string, ``(blessing)@host:port`` or ``host:port``.
    """
    name = clean(name)
    if not rooted(name):
        return "", name
    name = name[1:]
    if not name:
        return "", ""
    if name.startswith("@"):
        # A full endpoint: it ends at the first "@@/".
        addr, suffix = _split_two(name, "@@/")
        if suffix:
            addr += "@@"
        return addr, suffix
    if name.startswith("("):
        # (blessing)@host:port/suffix -- the blessing may contain "/".
        _, rest = _split_two(name, ")@")
        _, suffix = _split_two(rest, "/")
        tail = "/" + suffix
        if name.endswith(tail):
            name = name[: len(name) - len(tail)]
        return name, suffix
    return _split_two(name, "/")


def trim_suffix(name: str, suffix: str) -> str:
    """Remove suffix (and the joining "/") from the end of name, if it is a
    whole-element suffix of it; otherwise return the cleaned name."""
    name = clean(name)
    suffix = clean(suffix)
    if name == suffix:
        return ""
    if len(suffix) >= len(name) or suffix.startswith("/"):
        return name
    if name.endswith(suffix):
        prefix = name[: len(name) - len(suffix)]
        if prefix.endswith("/"):
            if len(prefix) == 1:
                return name
            return prefix[:-1]
    return name


def is_reserved(name: str) -> bool:
    return name.startswith(RESERVED_NAME_PREFIX)


def strip_reserved(name: str) -> str:
    if is_reserved(name):
        return name[len(RESERVED_NAME_PREFIX):]
    return name


def escape(s: str, special: str) -> str:
    """Replace every character of ``special`` and "%" by %XX (uppercase hex).

    ``special`` must contain only ASCII characters.
    """
    special += "%"
    if not any(c in s for c in special):
        return s
    out = []
    for c in s:
        if c in special:
            b = ord(c)
            out.append("%" + _HEX_DIGITS[b >> 4] + _HEX_DIGITS[b & 15])
        else:
            out.append(c)
    return "".join(out)


def unescape(s: str):
    """Decode %XX escapes. Returns (decoded, ok); on a bad escape (s, False).

    Escapes decode to bytes; a result that is not valid UTF-8 keeps the odd
    bytes as surrogate escapes so that escape() of it restores the original
    bytes when encoded as a Go string (``v23py.gostrings``).
    """
    if "%" not in s:
        return s, True
    raw = go_bytes(s)
    out = bytearray()
    i = 0
    n = len(raw)
    while i < n:
        c = raw[i]
        if c != 0x25:  # '%'
            out.append(c)
            i += 1
            continue
        if n <= i + 2 or chr(raw[i + 1]) not in _HEX_OK or chr(raw[i + 2]) not in _HEX_OK:
            return s, False
        out.append(int(raw[i + 1:i + 3], 16))
        i += 3
    return go_string(out), True


def encode_as_name_element(s: str) -> str:
    """Make s usable as one name element by escaping "/" (and "%")."""
    return escape(s, "/")


def decode_from_name_element(s: str):
    """Inverse of encode_as_name_element (accepts any %XX). Returns (str, ok)."""
    return unescape(s)


class HostPortError(ValueError):
    pass


def split_host_port(hostport: str):
    """(host, port) as Go's net.SplitHostPort; raises HostPortError.

    The port is not validated (it may be empty or non-numeric)."""
    i = hostport.rfind(":")
    if i < 0:
        raise HostPortError(f"address {hostport}: missing port in address")
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0:
            raise HostPortError(f"address {hostport}: missing ']' in address")
        if end + 1 == len(hostport):
            raise HostPortError(f"address {hostport}: missing port in address")
        if end + 1 != i:
            if hostport[end + 1] == ":":
                raise HostPortError(f"address {hostport}: too many colons in address")
            raise HostPortError(f"address {hostport}: missing port in address")
        host = hostport[1:end]
        j, k = 1, end + 1
    else:
        host = hostport[:i]
        if ":" in host:
            raise HostPortError(f"address {hostport}: too many colons in address")
        j, k = 0, 0
    if "[" in hostport[j:]:
        raise HostPortError(f"address {hostport}: unexpected '[' in address")
    if "]" in hostport[k:]:
        raise HostPortError(f"address {hostport}: unexpected ']' in address")
    return host, hostport[i + 1:]


def join_host_port(host: str, port) -> str:
    """host:port, with brackets around hosts that contain ':' (IPv6)."""
    if ":" in host:
        return f"[{host}]:{port}"
    return f"{host}:{port}"
