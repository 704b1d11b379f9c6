"""Blessings: validated certificate chains bound to one public key."""

import binascii

from v23py.security import _errors
from v23py.security._caveats import Caveat, ExpiryCaveat, ConstCaveat
from v23py.security._certificate import (
    MAX_CHAINS, chained_digests, validate_chain)
from v23py.security._keys import KeyError_, public_key_from_der
from v23py.security._pattern import CHAIN_SEPARATOR
from v23py.security._wiretypes import Certificate, WireBlessings, WireBlessingsType

MAX_ENCODED_BLESSINGS = 1 << 20


def chain_name(chain):
    if type(chain) is tuple:
        # (the chains of a Blessings are tuples, named again on every authorization)
        hit = _CHAIN_NAMES.get(id(chain))
        if hit is not None and hit[0] is chain:
            return hit[1]
        name = CHAIN_SEPARATOR.join(c.Extension for c in chain)
        if len(_CHAIN_NAMES) > 4096:
            _CHAIN_NAMES.clear()
        _CHAIN_NAMES[id(chain)] = (chain, name)   # (keeps the chain: its id stays unique)
        return name
    return CHAIN_SEPARATOR.join(c.Extension for c in chain)


_CHAIN_NAMES = {}


def _is_nameless_chains(chains):
    if len(chains) != 1 or len(chains[0]) != 1:
        return False
    c = chains[0][0]
    s = c.Signature
    return (not c.Extension and not c.Caveats and not len(c.X509Raw) and not len(s.Purpose)
            and not s.Hash and not len(s.R) and not len(s.S) and not len(s.Ed25519)
            and not len(s.Rsa))


def _as_cert(c):
    if type(c) is Certificate and all(isinstance(x, Caveat) for x in c.Caveats):
        return c
    return Certificate(Extension=c.Extension, PublicKey=bytes(c.PublicKey),
                       Caveats=[x if isinstance(x, Caveat) else Caveat(Id=x.Id, ParamVom=x.ParamVom)
                                for x in c.Caveats],
                       X509Raw=bytes(c.X509Raw), Signature=c.Signature)


class Blessings:
    """An immutable set of certificate chains, all ending in ``public_key``.

    The zero Blessings (no chains) has ``public_key`` None.  Build them with
    ``blessings_from_wire`` (validates), a Principal's bless methods, or
    ``nameless_blessing``."""

    __slots__ = ("chains", "public_key", "digests", "unique_id", "_wire")

    def __init__(self, chains=(), public_key=None, digests=()):
        self.chains = tuple(tuple(c) for c in chains)
        self.public_key = public_key
        self.digests = tuple(digests)
        self._wire = None
        if self.digests and public_key is not None:
            self.unique_id = public_key.hash(b"".join(self.digests)).digest()
        else:
            self.unique_id = b""

    def is_zero(self):
        return self.public_key is None

    def __bool__(self):
        return not self.is_zero()

    def is_nameless(self):
        return self.public_key is not None and _is_nameless_chains(self.chains)

    def equivalent(self, other):
        return self.unique_id == other.unique_id

    def __eq__(self, other):
        return isinstance(other, Blessings) and self.unique_id == other.unique_id

    def __hash__(self):
        return hash(self.unique_id)

    def names(self):
        """The claimed (unvalidated) names, one per chain."""
        return [chain_name(c) for c in self.chains]

    def __str__(self):
        return ",".join(self.names())

    def __repr__(self):
        return "Blessings(%s)" % self

    def to_wire(self):
        if self._wire is None:
            self._wire = WireBlessings(CertificateChains=[list(c) for c in self.chains])
        return self._wire

    def caveats(self):
        return [cav for chain in self.chains for cert in chain for cav in cert.Caveats]

    def third_party_caveats(self):
        return [c for c in self.caveats() if c.third_party_details() is not None]

    def expiry(self):
        """Earliest expiry caveat time (aware datetime), or None."""
        best = None
        for cav in self.caveats():
            if bytes(cav.Id) == bytes(ExpiryCaveat.Id):
                t = cav.expiry()
                if t is not None and (best is None or t < best):
                    best = t
        return best

    def could_have_names(self, names):
        if not self.chains:
            return len(names) == 0
        have = set()
        for chain in self.chains:
            cn = chain_name(chain)
            if cn.startswith("*.") and _wildcard_match(have, chain[0], names):
                continue
            have.add(cn)
        return all(n in have for n in names)

    def root_blessings(self):
        """One single-certificate Blessings per chain (the roots)."""
        if self.is_nameless():
            return []
        out = []
        for chain in self.chains:
            cert = chain[0]
            from v23py.security._keys import hash_func
            d, _ = chained_digests(cert, hash_func(cert.Signature.Hash), b"")
            try:
                pk = public_key_from_der(bytes(cert.PublicKey))
            except KeyError_:
                pk = None
            out.append(Blessings([[cert]], pk, [d]))
        return out

    def signing_blessings(self):
        """The chains that carry only expiry/const caveats (usable for signing)."""
        if self.is_zero() or self.is_nameless():
            return Blessings()
        keep = []
        dig = []
        for chain, d in zip(self.chains, self.digests):
            if all(_is_signing_caveat(c) for cert in chain for c in cert.Caveats):
                keep.append(chain)
                dig.append(d)
        if not keep:
            return Blessings()
        return Blessings(keep, self.public_key, dig)


def _is_signing_caveat(cav):
    return bytes(cav.Id) in (bytes(ExpiryCaveat.Id), bytes(ConstCaveat.Id))


def _wildcard_match(have, cert, names):
    suffix = cert.Extension[1:]
    found = False
    for n in names:
        if n.endswith(suffix) and len(n) > len(suffix):
            host = n[:-len(suffix)]
            if "." not in host:
                have.add(n)
                found = True
    return found


def blessings_from_wire(wire):
    """Validate a WireBlessings (every signature) and return Blessings; raises VError."""
    chains = wire.CertificateChains if not isinstance(wire, (list, tuple)) else wire
    if not chains:
        return Blessings()
    if len(chains) > MAX_CHAINS:
        raise _errors.fail("too many certificate chains in blessings (%d)" % len(chains))
    if not chains[0]:
        raise _errors.fail("empty certificate chain in blessings")
    chains = [[_as_cert(c) for c in chain] for chain in chains]
    if _is_nameless_chains(chains):
        cert = chains[0][0]
        try:
            pk = public_key_from_der(bytes(cert.PublicKey))
        except KeyError_ as e:
            raise _errors.fail("invalid public key in blessings: %s" % e) from None
        d, _ = chained_digests(cert, pk.hash, b"")
        return Blessings(chains, pk, [d])
    key_der = bytes(chains[0][-1].PublicKey)
    digests = []
    key = None
    for i, chain in enumerate(chains):
        if not chain:
            raise _errors.fail("empty certificate chain in blessings")
        if i > 0 and bytes(chain[-1].PublicKey) != key_der:
            raise _errors.fail("invalid blessings: two certificate chains that bind to "
                               "different public keys")
        k, d = validate_chain(chain)
        if key is None:
            key = k
        digests.append(d)
    return Blessings(chains, key, digests)


def nameless_blessing(public_key):
    cert = Certificate(PublicKey=public_key.der)
    d, _ = chained_digests(cert, public_key.hash, b"")
    return Blessings([[cert]], public_key, [d])


def _sort_key(item):
    chain = item[0]
    return (len(chain), [c.Extension for c in chain])


def union_of_blessings(*blessings):
    """Union of Blessings bound to the same key (chains sorted as Go sorts them)."""
    bs = list(blessings)
    while bs and bs[0].is_zero():
        bs.pop(0)
    if not bs:
        return Blessings()
    if len(bs) == 1:
        return bs[0]
    key0 = bytes(bs[0].chains[0][-1].PublicKey)
    only_nameless = bs[0].is_nameless()
    chains, digests = [], []
    for idx, b in enumerate(bs):
        if b.is_zero() or b.is_nameless():
            continue
        only_nameless = False
        if idx > 0 and bytes(b.chains[0][-1].PublicKey) != key0:
            raise _errors.fail("cannot create union of blessings bound to different public keys")
        chains.extend(b.chains)
        digests.extend(b.digests)
    if only_nameless:
        return bs[0]
    pairs = sorted(zip(chains, digests), key=_sort_key)
    return Blessings([p[0] for p in pairs], public_key_from_der(key0), [p[1] for p in pairs])


# --- the principal tool's text form: base64url(VOM(WireBlessings)) ---

def encode_blessings(blessings):
    if blessings.is_zero():
        raise _errors.fail("no blessings found")
    import base64   # (here, with vom: not on the path of a tool that only reads blessings)
    from v23py import vom
    return base64.urlsafe_b64encode(vom.encode(blessings.to_wire(), WireBlessingsType)).decode()


def decode_blessings(text):
    """Blessings from base64url-VOM text (validated); raises VError."""
    if isinstance(text, bytes):
        text = text.decode("ascii", "replace")
    text = text.strip()
    if len(text) > MAX_ENCODED_BLESSINGS:
        raise _errors.fail("encoded blessings too large")
    import base64
    try:
        clean = text.replace("\r", "").replace("\n", "").encode("ascii", "replace")
        data = base64.b64decode(clean.translate(bytes.maketrans(b"-_", b"+/")), validate=True)
    except (binascii.Error, ValueError) as e:
        raise _errors.fail("illegal base64 data: %s" % e) from None
    from v23py import vom
    try:
        wire = vom.decode(data, WireBlessingsType)
    except _errors.VError as e:
        raise _errors.fail("failed to decode blessings: %s" % e) from None
    except Exception as e:
        raise _errors.fail("failed to decode blessings: %s" % e) from None
    return blessings_from_wire(wire)
