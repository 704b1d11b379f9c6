"""DNS-SD names and TXT strings of an advertisement, as Go's mDNS discovery plugin uses them.

Go publishes an advertisement twice under one instance label: as
``<label>._<service uuid>._sub._v23._tcp.local.`` (the UUID of the interface name;
scanners of one interface ask only for this type) and as ``<label>._v23._tcp.local.``,
each with a PTR from its type, an SRV with port 0 to ``<label>.local.`` and a TXT
record.  The label is the advertisement id in RFC 4648 base32 with the extended hex
alphabet, unpadded, so a scanner learns which advertisement went away from a goodbye
that carries no TXT.  A Go scanner takes the label from the first part of whatever
name the PTR of the interface's type points to.

We publish two instances with the same records: ``<label>._v23._tcp.local.``, pointed
to by a PTR from the interface's type (the RFC 6763 subtype form, which the zeroconf
package can register; its name checks refuse Go's longer instance name), so interface
scans find it; and ``<label>.any._v23._tcp.local.``, pointed to by a PTR from
``_v23._tcp.local.``, so scans of every v23 service find it too (zeroconf keeps one
record set per instance name, so the second needs a name of its own; scanners, Go's
included, take the label from the first part of the name).  We read every form.

TXT strings are ``key=value`` with raw bytes as values: ``_i`` interface name, ``_h``
the 8-byte hash, ``_t`` the 8-byte little-endian timestamp, ``_a`` packed addresses,
``_e`` encryption, ``_d`` directory addresses, ``_s`` status (omitted when ready),
``__<name>`` attachments, and the attributes under their own keys.  A string longer
than 255 bytes is cut into ``_x<i><j>=<part>`` strings (i: which long string, j: which
part, both one byte from '0').  The total stays under 1184 bytes.

Pure functions only; ``v23py.discovery.neighborhood`` does the networking.
"""
from __future__ import annotations

import base64
import re
from typing import List, Tuple

from v23py.discovery import (
    AD_NOT_READY, AD_PARTIALLY_READY, AD_READY, NO_ENCRYPTION, AdInfo, Advertisement,
    DiscoveryError, decode_timestamp, encode_timestamp, pack_addresses, pack_encryption_keys,
    service_uuid, unpack_addresses, unpack_encryption_keys, AD_ID_LEN)

V23_SERVICE = "_v23._tcp.local."
MAX_TXT_LEN = 255
MAX_TOTAL_TXT_LEN = 1184
_MAX_LONG_STRINGS = ord("~") - ord("0") + 1
_LONG = re.compile(rb"^_x[0-~][0-~]=", re.S)

ATTR_INTERFACE = "_i"
ATTR_ADDRESSES = "_a"
ATTR_ENCRYPTION = "_e"
ATTR_HASH = "_h"
ATTR_TIMESTAMP = "_t"
ATTR_DIR_ADDRS = "_d"
ATTR_STATUS = "_s"
ATTACHMENT_PREFIX = "__"
LONG_PREFIX = "_x"


def service_type(interface_name: str) -> str:
    """The DNS-SD type that scanners of one interface ask for."""
    return f"_{service_uuid(interface_name)}._sub.{V23_SERVICE}"


def instance_label(ad_id: bytes) -> str:
    return base64.b32hexencode(ad_id).decode().rstrip("=")


def ad_id_from_label(label: str) -> bytes:
    s = label.upper()
    s += "=" * (-len(s) % 8)
    try:
        b = base64.b32hexdecode(s)
    except (ValueError, TypeError):
        raise DiscoveryError(f"not an advertisement label: {label!r}") from None
    if len(b) != AD_ID_LEN:
        raise DiscoveryError(f"not an advertisement label: {label!r}")
    return b


def instance_names(info: AdInfo) -> List[Tuple[str, str]]:
    """(type, instance name) pairs under which we publish info."""
    label = instance_label(info.ad.id)
    return [(service_type(info.ad.interface_name), f"{label}.{V23_SERVICE}"),
            (V23_SERVICE, f"{label}.any.{V23_SERVICE}")]


def label_of(instance_name: str) -> str:
    """The advertisement label of an instance name of either form."""
    return instance_name.split(".", 1)[0]


def host_name(ad_id: bytes) -> str:
    return f"{instance_label(ad_id)}.local."


# --- TXT encoding ------------------------------------------------------------------------

def _b(v) -> bytes:
    return v.encode() if isinstance(v, str) else bytes(v)


def _append(txts: List[bytes], key: str, value, seq: int):
    """Append key=value, cut into long-string parts when over 255 bytes; the next long
    string's index."""
    s = key.encode() + b"=" + _b(value)
    if len(s) <= MAX_TXT_LEN:
        txts.append(s)
        return seq
    step = MAX_TXT_LEN - 5
    for j, off in enumerate(range(0, len(s), step)):
        txts.append(b"_x" + bytes([seq + 48, j + 48]) + b"=" + s[off:off + step])
    return seq + 1


def _size(txts) -> int:
    return sum(len(t) for t in txts)


def _pack(status, *groups) -> List[bytes]:
    out: List[bytes] = []
    if status != AD_READY:
        _append(out, ATTR_STATUS, str(status), 0)
    for g in groups:
        out.extend(g)
    if _size(out) > MAX_TOTAL_TXT_LEN:
        raise DiscoveryError("advertisement does not fit the TXT records")
    return out


def encode_txt(info: AdInfo) -> List[bytes]:
    """The TXT strings of info (Go's layout and size rules).  Attachments that do not fit
    are left out (status partially ready); when even the required fields do not fit, only
    the directory addresses are sent (status not ready)."""
    ad = info.ad
    core: List[bytes] = []
    seq = _append(core, ATTR_INTERFACE, ad.interface_name, 0)
    seq = _append(core, ATTR_HASH, info.hash, seq)
    seq = _append(core, ATTR_TIMESTAMP, encode_timestamp(info.timestamp_ns), seq)
    dirs: List[bytes] = []
    seq = _append(dirs, ATTR_DIR_ADDRS, pack_addresses(info.dir_addrs), seq)
    required: List[bytes] = []
    seq = _append(required, ATTR_ADDRESSES, pack_addresses(ad.addresses), seq)
    for k, v in ad.attributes.items():
        seq = _append(required, k, v, seq)
    if info.encryption != NO_ENCRYPTION:
        seq = _append(required, ATTR_ENCRYPTION,
                      pack_encryption_keys(info.encryption, info.encryption_keys), seq)
    room = MAX_TOTAL_TXT_LEN - _size(core) - _size(required)
    if room < 0:
        return _pack(AD_NOT_READY, core, dirs)
    extra = []
    for k, v in ad.attachments.items():
        if seq >= _MAX_LONG_STRINGS:
            break
        if len(v) > room:
            continue
        t: List[bytes] = []
        seq = _append(t, ATTACHMENT_PREFIX + k, v, seq)
        extra.append(t)
    if len(extra) == len(ad.attachments) and sum(map(_size, extra)) <= room:
        return _pack(AD_READY, core, required, *extra)
    room -= _size(dirs) + 4
    if room < 0:
        return _pack(AD_NOT_READY, core, dirs)
    chosen = []
    for t in sorted(extra, key=_size):
        if room >= _size(t):
            chosen.extend(t)
            room -= _size(t)
        if room <= 0:
            break
    return _pack(AD_PARTIALLY_READY, core, dirs, required, chosen)


def _join_long(txts: List[bytes]) -> List[bytes]:
    plain, parts = [], []
    for t in txts:
        if t.startswith(b"_x"):
            if not _LONG.match(t):
                raise DiscoveryError("bad long TXT string")
            parts.append(t)
        else:
            plain.append(t)
    if not parts:
        return plain
    parts.sort()
    cur, buf = -1, bytearray()
    for t in parts:
        i = t[2] - 48
        if i > cur:
            if buf:
                plain.append(bytes(buf))
            cur, buf = i, bytearray()
        buf += t[5:]
        if len(buf) > MAX_TOTAL_TXT_LEN:
            raise DiscoveryError("long TXT string too long")
    plain.append(bytes(buf))
    return plain


def decode_txt(label: str, txts: List[bytes]) -> AdInfo:
    """The AdInfo of instance label with TXT strings txts; no strings means it was lost."""
    ad_id = ad_id_from_label(label)
    info = AdInfo(ad=Advertisement(interface_name="", addresses=[], id=ad_id))
    if not txts:
        info.lost = True
        return info
    for t in _join_long(list(txts)):
        k, sep, v = t.partition(b"=")
        if not sep:
            raise DiscoveryError(f"TXT string without '=': {t[:40]!r}")
        try:
            key = k.decode()
        except UnicodeDecodeError:
            raise DiscoveryError("TXT key is not UTF-8") from None
        if key == ATTR_INTERFACE:
            info.ad.interface_name = _text(v)
        elif key == ATTR_ADDRESSES:
            info.ad.addresses = unpack_addresses(v)
        elif key == ATTR_ENCRYPTION:
            info.encryption, info.encryption_keys = unpack_encryption_keys(v)
        elif key == ATTR_HASH:
            info.hash = (v + b"\0" * 8)[:8]
        elif key == ATTR_TIMESTAMP:
            info.timestamp_ns = decode_timestamp(v)
        elif key == ATTR_DIR_ADDRS:
            info.dir_addrs = unpack_addresses(v)
        elif key == ATTR_STATUS:
            try:
                info.status = int(v)
            except ValueError:
                raise DiscoveryError(f"bad status {v!r}") from None
        elif key.startswith(ATTACHMENT_PREFIX):
            info.ad.attachments[key[len(ATTACHMENT_PREFIX):]] = v
        else:
            info.ad.attributes[key] = _text(v)
    return info


def _text(v: bytes) -> str:
    try:
        return v.decode()
    except UnicodeDecodeError:
        raise DiscoveryError("TXT value is not UTF-8") from None


def txt_rdata(txts: List[bytes]) -> bytes:
    """The TXT record's data: each string with its length byte."""
    out = bytearray()
    for t in txts:
        if len(t) > 255:
            raise DiscoveryError("TXT string over 255 bytes")
        out.append(len(t))
        out += t
    return bytes(out)


def parse_txt_rdata(data: bytes) -> List[bytes]:
    out, i = [], 0
    while i < len(data):
        n = data[i]
        if i + 1 + n > len(data):
            raise DiscoveryError("truncated TXT record")
        out.append(data[i + 1:i + 1 + n])
        i += 1 + n
    return [t for t in out if t]


__all__ = ["service_type", "instance_label", "ad_id_from_label", "instance_names",
           "host_name", "label_of", "encode_txt", "decode_txt", "txt_rdata", "parse_txt_rdata",
           "V23_SERVICE", "AD_PARTIALLY_READY"]
