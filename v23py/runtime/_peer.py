"""The blessings a connection's peer presented, as the RPC client and server use them."""
import logging

from v23py import security

log = logging.getLogger(__name__)


def native_blessings(b):
    """security.Blessings for a peer's WireBlessings (or Blessings) value; None for None
    or for blessings that cannot be used (logged at debug level: the call then goes on as
    with no blessings, and authorization decides)."""
    if b is None:
        return None
    if hasattr(b, "is_zero") and hasattr(b, "public_key"):
        return b
    try:
        return security.blessings_from_wire(b)
    except Exception:
        log.debug("cannot use the peer's blessings", exc_info=True)
        return None
