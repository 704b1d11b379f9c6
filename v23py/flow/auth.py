"""The real security hooks of a Conn: signing, channel-binding checks and the blessings flow.

``SecurityAuth(identity)`` implements the small interface ``v23py.flow.conn`` documents, on top of
``v23py.security`` (keys, Blessings) and ``v23py.vom`` (the flow-1 VOM streams, one per direction,
types inline, carrying ``v.io/x/ref/runtime/internal/flow/conn.BlessingsFlowMessage`` values).

``Identity`` adapts what the flow layer needs from a principal.
"""
from __future__ import annotations

import collections

from v23py import vom
from v23py import security

from . import errors, message as m
from v23py.xref.runtime.internal.flow import conn as connwire

_PKG = "v.io/x/ref/runtime/internal/flow/conn"


ConnBlessings = connwire.Blessings
BlessingsFlowMessage = connwire.BlessingsFlowMessage
BlessingsFlowMessageType = BlessingsFlowMessage._vdl_type
ConnDischarges = connwire.Discharges


class Identity:
    """What a conn presents and signs with.

    ``Identity(principal)``: signs with ``principal.sign`` (purpose S1); conn-level blessings are the
    principal's default blessings (nameless if it has none).  ``Identity(signer=..., blessings=...)``
    works without a full principal (a ``security`` Signer and optional Blessings).
    """

    def __init__(self, principal=None, *, signer=None, blessings=None):
        if principal is None and signer is None:
            raise ValueError("Identity needs a principal or a signer")
        self.principal = principal
        self.signer = signer if signer is not None else getattr(principal, "signer", None)
        self._blessings = blessings

    @property
    def public_key(self):
        if self.principal is not None:
            return self.principal.public_key
        return self.signer.public_key

    def sign(self, message: bytes):
        if self.principal is not None:
            return self.principal.sign(message)
        return self.signer.sign(b"S1", message)

    def nameless(self):
        return security.nameless_blessing(self.public_key)

    def default_blessings(self):
        """The blessings a listening process presents (Go: BlessingStore().Default(), else nameless)."""
        b = self._blessings
        if b is None and self.principal is not None:
            store = getattr(self.principal, "blessing_store", None)
            if store is not None:
                b = store.default()
        if b is None or b.is_zero():
            return self.nameless()
        return b

    def blessings_for_peer(self, *peer_names):
        """Per-flow blessings for a server with ``peer_names`` (Go: BlessingStore().ForPeer)."""
        store = getattr(self.principal, "blessing_store", None) if self.principal is not None else None
        if store is not None:
            b = store.for_peer(*peer_names)
            if b is not None and not b.is_zero():
                return b
        if self._blessings is not None and not self._blessings.is_zero():
            return self._blessings
        return self.nameless()


class _LRU:
    """A small bounded mapping (most recently used kept)."""

    def __init__(self, size):
        self.size = size
        self.d = collections.OrderedDict()

    def get(self, k):
        v = self.d.get(k)
        if v is not None:
            self.d.move_to_end(k)
        return v

    def put(self, k, v):
        self.d[k] = v
        self.d.move_to_end(k)
        while len(self.d) > self.size:
            self.d.popitem(last=False)


# The first message of a blessings-flow stream (version byte + type definitions + one value) is
# the same bytes every time a given process presents given blessings, and VOM type work dominates
# the handshake.  Both directions are cached by exact content; a stream that goes on past its first
# message replays that message into a real coder first, so later messages are encoded/decoded
# exactly as without the cache.
_FIRST_ENCODED = _LRU(64)   # (public key DER, blessings unique id, key) -> bytes
_FIRST_DECODED = _LRU(64)   # exact first payload -> decoded item


def _blessings_msg(blessings, key):
    return BlessingsFlowMessage("Blessings", ConnBlessings(Blessings=blessings.to_wire(), BKey=key))


class _Encoder:
    __slots__ = ("_enc", "_replay")

    def __init__(self):
        self._enc = None
        self._replay = None

    def blessings(self, blessings, key):
        if self._enc is None and self._replay is None:
            ck = (blessings.public_key.der, blessings.unique_id, key)
            hit = _FIRST_ENCODED.get(ck)
            if hit is not None:
                self._replay = (blessings, key)
                return hit
            self._enc = vom.Encoder()
            out = self._enc.encode(_blessings_msg(blessings, key), BlessingsFlowMessageType)
            _FIRST_ENCODED.put(ck, out)
            return out
        if self._enc is None:
            self._enc = vom.Encoder()
            self._enc.encode(_blessings_msg(*self._replay), BlessingsFlowMessageType)  # same state as sent
            self._replay = None
        return self._enc.encode(_blessings_msg(blessings, key), BlessingsFlowMessageType)

    def discharges(self, discharges, bkey, dkey):
        """The Discharges message for the blessings sent as ``bkey`` (never the first
        message: blessings always go first)."""
        if self._enc is None:
            self._enc = vom.Encoder()
            if self._replay is not None:
                self._enc.encode(_blessings_msg(*self._replay), BlessingsFlowMessageType)
                self._replay = None
        wires = [getattr(d, "wire", d) for d in discharges]
        msg = BlessingsFlowMessage("Discharges", ConnDischarges(Discharges=wires, DKey=dkey,
                                                                BKey=bkey))
        return self._enc.encode(msg, BlessingsFlowMessageType)


class _Decoder:
    __slots__ = ("_dec", "_ready", "_replay", "_skip", "_first", "_feeds")
    LIMIT = 4 << 20   # bound what a peer may push down the blessings flow

    def __init__(self):
        self._dec = vom.Decoder()
        self._ready = []      # items known without decoding (cache hit on the first payload)
        self._replay = None   # that first payload, fed to the real decoder only if more follows
        self._skip = 0        # items to decode and drop (the replayed first message)
        self._first = None    # the first payload, while it may still be cached
        self._feeds = 0

    def feed(self, data):
        data = bytes(data)
        self._feeds += 1
        if self._feeds == 1:
            hit = _FIRST_DECODED.get(data)
            if hit is not None:
                self._ready.append(hit)
                self._replay = data
                return
            self._first = data
        if self._replay is not None:
            self._dec.feed(self._replay)
            self._replay = None
            self._skip = 1
        if self._dec.buffered() + len(data) > self.LIMIT:
            raise errors.err(errors.BlessingsFlowClosed, "too much unconsumed data on the blessings flow")
        self._dec.feed(data)

    def next(self):
        if self._ready:
            return self._ready.pop(0)
        while self._skip:
            if self._decode() is None:
                return None
            self._skip -= 1
        item = self._decode()
        if item is not None and self._first is not None:
            if self._feeds == 1 and self._dec.buffered() == 0 and item[0] == "b":
                _FIRST_DECODED.put(self._first, item)
            self._first = None
        return item

    def _decode(self):
        try:
            v = self._dec.decode(BlessingsFlowMessageType)
        except vom.NeedData:
            return None
        except errors.VError:
            raise
        except Exception as e:  # defensive: decoding bugs must not crash the conn
            raise errors.std("BadProtocol").new("bad blessings flow message: %s" % e)
        name = v.name
        if name == "Blessings":
            b = security.blessings_from_wire(v.value.Blessings)
            return ("b", int(v.value.BKey), b)
        if name == "Discharges":
            return ("d", int(v.value.BKey), int(v.value.DKey), list(v.value.Discharges))
        raise errors.std("NotTrusted").new(
            "encrypted blessings/discharges (private-mode servers) are not supported")


class SecurityAuth:
    """Conn security hooks for one ``Identity``."""

    def __init__(self, identity: Identity):
        self.identity = identity

    def sign(self, message):
        return self.identity.sign(message)

    def verify(self, blessings, a: m.Auth, message):
        pk = blessings.public_key
        if pk is None:
            return False
        sig = security.Signature(Purpose=a.purpose, Hash=security.Hash(a.hash), R=a.r, S=a.s, Ed25519=a.ed25519, Rsa=a.rsa)
        try:
            return bool(pk.verify(sig, message))
        except Exception:
            return False

    def public_key(self, blessings):
        pk = blessings.public_key
        return pk.der if pk is not None else None

    def is_zero(self, blessings):
        return blessings is None or blessings.is_zero()

    def unique_id(self, blessings):
        return blessings.unique_id

    def new_encoder(self):
        return _Encoder()

    def new_decoder(self):
        return _Decoder()
