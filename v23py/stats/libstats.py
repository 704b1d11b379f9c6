"""The library's own counters, under ``v23py/`` (Go has no such subtree; the names are ours)::

    v23py/vom/values-encoded, bytes-encoded        value messages written (RPC streams and
    v23py/vom/values-decoded, bytes-decoded        vom.Encoder/Decoder) and read, and bytes
    v23py/vom/type-messages-encoded, -decoded      type definitions sent and received
    v23py/crypto/box-seals, box-opens              messages sealed and opened by the
                                                   connections' NaCl boxes
    v23py/security/signatures-made, signatures-verified, signature-failures,
    v23py/security/signature-cache-hits            blessing chains accepted from the cache

The counting itself is a few attribute updates where the work happens (or nothing at all:
the boxes' nonce counters already count); these statistics read the totals when asked.
"""
from v23py import security, stats, vom
from v23py.flow import crypto

PREFIX = "v23py"

_registered = False


def _box(i):
    return lambda: crypto.box_counts()[i]


def register():
    """Publish the counters (once per process)."""
    global _registered
    if _registered:
        return
    _registered = True
    c = vom.COUNTS
    for name, attr in (("values-encoded", "values_encoded"), ("bytes-encoded", "bytes_encoded"),
                       ("values-decoded", "values_decoded"), ("bytes-decoded", "bytes_decoded"),
                       ("type-messages-encoded", "types_encoded"),
                       ("type-messages-decoded", "types_decoded")):
        stats.new_integer_func(f"{PREFIX}/vom/{name}", lambda a=attr: getattr(c, a))
    stats.new_integer_func(f"{PREFIX}/crypto/box-seals", _box(0))
    stats.new_integer_func(f"{PREFIX}/crypto/box-opens", _box(1))
    s = security.SIGNATURE_COUNTS
    for name, attr in (("signatures-made", "made"), ("signatures-verified", "verified"),
                       ("signature-failures", "failed"), ("signature-cache-hits", "cache_hits")):
        stats.new_integer_func(f"{PREFIX}/security/{name}", lambda a=attr: getattr(s, a))
