"""Vanadium discovery: advertisements and their byte encodings (sans-IO).

The model of Go's ``v.io/v23/discovery`` and ``v.io/x/ref/lib/discovery``
(v0.2.0): an advertisement has a 16-byte random id, an interface name, object
names (addresses) where the advertised service is served, string attributes
and byte attachments.  The advertiser adds an 8-byte hash of the content and a
creation time in Unix nanoseconds (``AdInfo``), which scanners use to tell a
changed advertisement from a repeated one.

Everything here is pure: ``v23py.discovery.mdns`` maps an ``AdInfo`` to DNS-SD
names and TXT strings the way Go's mDNS plugin does, and
``v23py.discovery.neighborhood`` puts those on the network.

Not implemented: encrypted advertisements (Go's IBE visibility), the directory
service that serves advertisements too large for one packet, BLE.
"""
from __future__ import annotations

import hashlib
import os
import struct
import time
import uuid
import zlib
from dataclasses import dataclass, field
from typing import Dict, List, Optional

AD_ID_LEN = 16
MAX_AD_SIZE = 1024           # interface name + packed addresses + attributes, in bytes
MAX_ATTACHMENT_SIZE = 4096
MAX_ATTRIBUTES = 32
MAX_ATTACHMENTS = 32

# Go's encryption algorithm numbers; only the first is produced or accepted here.
NO_ENCRYPTION = 0

# Advertisement status, as carried by a scan (Go's AdStatus).
AD_READY = 0                 # everything is in the advertisement
AD_NOT_READY = 1             # only a directory address: fetch it from there
AD_PARTIALLY_READY = 2       # everything but some attachments

# UUID5 namespaces of Vanadium service and attribute UUIDs: UUID5(nil, "v.io") and
# UUID5(nil, "v.io/attrs").
V23_UUID = uuid.uuid5(uuid.UUID(int=0), "v.io")
V23_ATTR_UUID = uuid.uuid5(uuid.UUID(int=0), "v.io/attrs")


class DiscoveryError(ValueError):
    """A malformed or invalid advertisement."""


def new_ad_id() -> bytes:
    return os.urandom(AD_ID_LEN)


def ad_id_valid(ad_id: bytes) -> bool:
    return len(ad_id) == AD_ID_LEN and any(ad_id)


def service_uuid(interface_name: str) -> uuid.UUID:
    """The UUID that stands for an interface name on the wire (UUID5 in the v23 namespace)."""
    return uuid.uuid5(V23_UUID, interface_name)


def attribute_uuid(name: str) -> uuid.UUID:
    return uuid.uuid5(V23_ATTR_UUID, name)


@dataclass
class Advertisement:
    interface_name: str
    addresses: List[str]
    attributes: Dict[str, str] = field(default_factory=dict)
    attachments: Dict[str, bytes] = field(default_factory=dict)
    id: bytes = b""


@dataclass
class AdInfo:
    ad: Advertisement
    hash: bytes = b"\0" * 8
    timestamp_ns: int = 0
    dir_addrs: List[str] = field(default_factory=list)
    status: int = AD_READY
    encryption: int = NO_ENCRYPTION
    encryption_keys: List[bytes] = field(default_factory=list)
    lost: bool = False


# --- content hash ----------------------------------------------------------------------

def _sha(b: bytes) -> bytes:
    return hashlib.sha256(b).digest()


def ad_hash(info: AdInfo) -> bytes:
    """8 bytes identifying the content of an advertisement (Go's hashAd): SHA-256 over the
    digests of the id, the interface name, and per field (addresses in order; attributes
    and attachments sorted by key; the encryption algorithm and keys) a digest of the
    digests of its parts; the first 8 bytes of the result."""
    ad = info.ad
    h = hashlib.sha256()
    h.update(_sha(ad.id))
    h.update(_sha(ad.interface_name.encode()))
    h.update(_sha(b"".join(_sha(a.encode()) for a in ad.addresses)))
    h.update(_sha(b"".join(_sha(k.encode()) + _sha(ad.attributes[k].encode())
                           for k in sorted(ad.attributes))))
    h.update(_sha(b"".join(_sha(k.encode()) + _sha(bytes(ad.attachments[k]))
                           for k in sorted(ad.attachments))))
    h.update(_sha(_sha(struct.pack("<i", info.encryption)) +
                  b"".join(_sha(bytes(k)) for k in info.encryption_keys)))
    return h.digest()[:8]


# --- small binary encodings ------------------------------------------------------------

def _uvarint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _read_uvarint(b: bytes, i: int):
    n = shift = 0
    while True:
        if i >= len(b) or shift > 63:
            raise DiscoveryError("truncated varint")
        c = b[i]
        i += 1
        n |= (c & 0x7F) << shift
        if c < 0x80:
            return n, i
        shift += 7


_ADDRS_PLAIN, _ADDRS_DEFLATE = 0, 1
MAX_UNPACKED_ADDRESSES = 64 << 10    # bound on inflated address bytes we accept


def pack_addresses(addrs: List[str]) -> bytes:
    """Length-prefixed (uvarint) names, raw-deflated when that is shorter; a trailing
    byte says which (0 plain, 1 deflated).  No addresses: empty."""
    if not addrs:
        return b""
    plain = b"".join(_uvarint(len(a.encode())) + a.encode() for a in addrs)
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    packed = c.compress(plain) + c.flush()
    if len(packed) < len(plain):
        return packed + bytes([_ADDRS_DEFLATE])
    return plain + bytes([_ADDRS_PLAIN])


def unpack_addresses(data: bytes) -> List[str]:
    if not data:
        return []
    body, kind = data[:-1], data[-1]
    if kind == _ADDRS_DEFLATE:
        d = zlib.decompressobj(-15)
        try:
            body = d.decompress(body, MAX_UNPACKED_ADDRESSES)
        except zlib.error as e:
            raise DiscoveryError(f"bad compressed addresses: {e}") from None
        if d.unconsumed_tail:
            raise DiscoveryError("compressed addresses too large")
    elif kind != _ADDRS_PLAIN:
        raise DiscoveryError(f"unknown address packing {kind}")
    out, i = [], 0
    while i < len(body):
        n, i = _read_uvarint(body, i)
        if i + n > len(body):
            raise DiscoveryError("truncated address")
        try:
            out.append(body[i:i + n].decode())
        except UnicodeDecodeError:
            raise DiscoveryError("address is not UTF-8") from None
        i += n
    return out


def encode_timestamp(ns: int) -> bytes:
    return struct.pack("<q", ns)


def decode_timestamp(b: bytes) -> int:
    if len(b) != 8:
        raise DiscoveryError("timestamp must be 8 bytes")
    return struct.unpack("<q", b)[0]


def pack_encryption_keys(algo: int, keys: List[bytes]) -> bytes:
    return _uvarint(algo) + b"".join(_uvarint(len(k)) + bytes(k) for k in keys)


def unpack_encryption_keys(data: bytes):
    algo, i = _read_uvarint(data, 0)
    keys = []
    while i < len(data):
        n, i = _read_uvarint(data, i)
        if i + n > len(data):
            raise DiscoveryError("truncated encryption key")
        keys.append(data[i:i + n])
        i += n
    return algo, keys


# --- validation and construction -------------------------------------------------------

def _check_key(k: str):
    if not k:
        raise DiscoveryError("empty key")
    if k.startswith("_"):
        raise DiscoveryError(f"key starts with '_': {k!r}")
    if any(c < " " or c > "~" or c == "=" for c in k):
        raise DiscoveryError(f"key must be printable ASCII without '=': {k!r}")


def ad_size(ad: Advertisement) -> int:
    return (len(ad.interface_name.encode()) + len(pack_addresses(ad.addresses)) +
            sum(len(k.encode()) + len(v.encode()) for k, v in ad.attributes.items()))


def validate_ad(ad: Advertisement):
    """Go's rules for an advertisement before it is sent."""
    if not ad_id_valid(ad.id):
        raise DiscoveryError("id not valid")
    if not ad.interface_name:
        raise DiscoveryError("interface name not provided")
    if not ad.addresses:
        raise DiscoveryError("address not provided")
    if len(ad.attributes) > MAX_ATTRIBUTES:
        raise DiscoveryError(f"too many attributes: {len(ad.attributes)}")
    for k, v in ad.attributes.items():
        _check_key(k)
        if not isinstance(v, str):
            raise DiscoveryError(f"attribute {k!r} is not a string")
    if len(ad.attachments) > MAX_ATTACHMENTS:
        raise DiscoveryError(f"too many attachments: {len(ad.attachments)}")
    for k, v in ad.attachments.items():
        _check_key(k)
        if len(v) > MAX_ATTACHMENT_SIZE:
            raise DiscoveryError(f"attachment {k!r} too large: {len(v)}")
    if ad_size(ad) > MAX_AD_SIZE:
        raise DiscoveryError(f"advertisement too large: {ad_size(ad)} > {MAX_AD_SIZE}")


def new_ad_info(ad: Advertisement, timestamp_ns: Optional[int] = None) -> AdInfo:
    """What an advertiser sends for ad (an id is chosen when it has none): validated,
    hashed and stamped."""
    if not ad.id:
        ad.id = new_ad_id()
    validate_ad(ad)
    info = AdInfo(ad=ad, timestamp_ns=time.time_ns() if timestamp_ns is None else timestamp_ns)
    info.hash = ad_hash(info)
    return info
