"""The real security hooks of a Conn: signing, channel-binding checks and the blessings flow.

``SecurityAuth(identity)`` implements the small interface ``v23py.flow.conn`` documents, on top of
``v23py.security`` (keys, Blessings) and ``v23py.vom`` (the flow-1 VOM streams, one per direction,
types inline, carrying ``v.io/x/ref/runtime/internal/flow/conn.BlessingsFlowMessage`` values).

``Identity`` adapts what the flow layer needs from a principal.
"""
from __future__ import annotations

from v23py import vdl, vom
from v23py import security
from v23py.security import _wiretypes as W

from . import errors, message as m

_PKG = "v.io/x/ref/runtime/internal/flow/conn"


def _sec(name):
    """A security function, from the package or (while it is being written) its private module."""
    f = getattr(security, name, None)
    if f is None:
        from v23py.security import _blessings
        f = getattr(_blessings, name)
    return f

WireCiphertextType = vdl.struct("v.io/x/ref/lib/security/bcrypter.WireCiphertext", [
    ("PatternId", vdl.StringType),
    ("Bytes", vdl.map_of(vdl.StringType, vdl.ByteListType)),
])
ConnBlessingsType = vdl.struct(_PKG + ".Blessings", [
    ("Blessings", W.WireBlessingsType), ("BKey", vdl.Uint64Type)])
EncryptedBlessingsType = vdl.struct(_PKG + ".EncryptedBlessings", [
    ("Ciphertexts", vdl.list_of(WireCiphertextType)), ("BKey", vdl.Uint64Type)])
ConnDischargesType = vdl.struct(_PKG + ".Discharges", [
    ("Discharges", vdl.list_of(W.WireDischargeType)), ("DKey", vdl.Uint64Type), ("BKey", vdl.Uint64Type)])
EncryptedDischargesType = vdl.struct(_PKG + ".EncryptedDischarges", [
    ("Ciphertexts", vdl.list_of(WireCiphertextType)), ("DKey", vdl.Uint64Type), ("BKey", vdl.Uint64Type)])
BlessingsFlowMessageType = vdl.union(_PKG + ".BlessingsFlowMessage", [
    ("Blessings", ConnBlessingsType),
    ("Discharges", ConnDischargesType),
    ("EncryptedBlessings", EncryptedBlessingsType),
    ("EncryptedDischarges", EncryptedDischargesType),
])
ConnBlessings = vdl.class_for(ConnBlessingsType)
BlessingsFlowMessage = vdl.class_for(BlessingsFlowMessageType)


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
        return _sec("nameless_blessing")(self.public_key)

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


class _Encoder:
    __slots__ = ("_enc",)

    def __init__(self):
        self._enc = vom.Encoder()

    def blessings(self, blessings, key):
        msg = BlessingsFlowMessage("Blessings", ConnBlessings(Blessings=blessings.to_wire(), BKey=key))
        return self._enc.encode(msg, BlessingsFlowMessageType)


class _Decoder:
    __slots__ = ("_dec", "_total")
    LIMIT = 4 << 20   # bound what a peer may push down the blessings flow

    def __init__(self):
        self._dec = vom.Decoder()
        self._total = 0

    def feed(self, data):
        self._total += len(data)
        if self._dec.buffered() + len(data) > self.LIMIT:
            raise errors.err(errors.BlessingsFlowClosed, "too much unconsumed data on the blessings flow")
        self._dec.feed(data)

    def next(self):
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
            b = _sec("blessings_from_wire")(v.value.Blessings)
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
        sig = W.Signature(Purpose=a.purpose, Hash=W.Hash(a.hash), R=a.r, S=a.s, Ed25519=a.ed25519, Rsa=a.rsa)
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
