"""Public keys, signers and the Vanadium signing digest.

The signing input is built the way Go's v.io/v23/security does it: with the
hash H of the key, fields = H(DER(pubkey)) || H(message) || H(purpose), then

* ECDSA signs H(fields) as a pre-hashed digest (R and S, minimal big-endian);
* Ed25519 signs the bytes H(fields) as its message;
* RSA signs ``fields`` with PKCS#1 v1.5 over SHA-512 (the PKCS#1 hash step
  hashes ``fields`` once more).

Hash names map to functions as Go does: "SHA256", "SHA384", "SHA512", and any
other name (including "SHA1") means SHA-512.
"""

import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import (
    Prehashed, decode_dss_signature, encode_dss_signature)


def _ser():
    # cryptography's serialization package (PEM/DER/SSH codecs) costs a tool ~10 ms to
    # import: ECDSA keys, what principals hold, are read and written without it (below)
    from cryptography.hazmat.primitives import serialization
    return serialization


def _nacl_signing():
    # Ed25519 signing and verification (PyNaCl), loaded with the first Ed25519 key
    import nacl.signing
    return nacl.signing


def _rsa():
    # RSA, loaded with the first RSA key: (rsa, padding)
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
    return rsa, padding


def _is_rsa(key, public):
    mod = sys.modules.get("cryptography.hazmat.primitives.asymmetric.rsa")
    if mod is None:   # no RSA key was made or loaded: the type module is not even loaded
        if "RSA" not in type(key).__name__:
            return False
        mod = _rsa()[0]
    return isinstance(key, mod.RSAPublicKey if public else mod.RSAPrivateKey)


PURPOSE_MESSAGE = b"S1"       # Principal.Sign, channel bindings, credential files
PURPOSE_CERTIFICATE = b"B1"   # certificates (blessings)
PURPOSE_DISCHARGE = b"D1"     # third-party caveat discharges

class _Digest:
    """A hashlib-style hash object (``update``, ``digest``, ``copy``) over cryptography's
    hashes: the same OpenSSL digests, without loading hashlib's own OpenSSL (libcrypto
    and ``_hashlib``: ~11 M instructions, ~4 ms of every tool's start)."""

    __slots__ = ("_h",)

    def __init__(self, h):
        self._h = h

    def update(self, data):
        self._h.update(data)

    def digest(self):
        return self._h.copy().finalize()

    def hexdigest(self):
        return self.digest().hex()

    def copy(self):
        return _Digest(self._h.copy())


def _digest_ctor(algorithm):
    def new(data=b""):
        h = hashes.Hash(algorithm())
        if data:
            h.update(data)
        return _Digest(h)
    new.__name__ = algorithm.name
    return new


sha256 = _digest_ctor(hashes.SHA256)
sha384 = _digest_ctor(hashes.SHA384)
sha512 = _digest_ctor(hashes.SHA512)
_md5 = _digest_ctor(hashes.MD5)

_HASHLIB = {"SHA256": sha256, "SHA384": sha384, "SHA512": sha512}
_CRYPTO_HASH = {"SHA256": hashes.SHA256, "SHA384": hashes.SHA384, "SHA512": hashes.SHA512}

MAX_KEY_DER = 1 << 14  # no sane public key is this big; refuse before parsing


class KeyError_(ValueError):
    """Raised for malformed or unsupported keys."""


def hash_func(name):
    """The (hashlib-style) hash constructor for a Vanadium hash name (unknown -> SHA-512)."""
    if isinstance(name, bytes):
        name = name.decode("latin-1")
    return _HASHLIB.get(name, sha512)


def canonical_hash_name(name):
    if isinstance(name, bytes):
        name = name.decode("latin-1")
    return name if name in _HASHLIB else "SHA512"


def digest_fields(hfn, key_der, purpose, message):
    return hfn(key_der).digest() + hfn(message).digest() + hfn(purpose).digest()


def md5_fingerprint(der):
    return ":".join("%02x" % b for b in _md5(der).digest())


def _make_signature(**fields):
    from ._wiretypes import Signature
    return Signature(**fields)


def _int_bytes(n):
    return n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""


class _SigCounts:
    """Signatures this process made and checked (the stats tree's ``v23py/security/...``)."""

    __slots__ = ("made", "verified", "failed", "cache_hits")

    def __init__(self):
        self.made = self.verified = self.failed = self.cache_hits = 0


SIGNATURE_COUNTS = _SigCounts()


class PublicKey:
    """A Vanadium public key: DER PKIX bytes plus the algorithm to verify with."""

    algorithm = None  # "ecdsa" | "ed25519" | "rsa"

    def __init__(self, der, hash_name):
        self.der = bytes(der)
        self.hash_name = hash_name
        self._fingerprint = None

    @property
    def hash(self):
        return hash_func(self.hash_name)

    def __str__(self):
        if self._fingerprint is None:
            self._fingerprint = md5_fingerprint(self.der)
        return self._fingerprint

    def __repr__(self):
        return "PublicKey(%s %s)" % (self.algorithm, self)

    def __eq__(self, other):
        return isinstance(other, PublicKey) and other.der == self.der

    def __hash__(self):
        return hash(self.der)

    def message_digest(self, hash_name, purpose, message):
        hfn = hash_func(hash_name)
        return hfn(digest_fields(hfn, self.der, purpose, message)).digest()

    def verify(self, signature, message):
        """True iff ``signature`` (a security.Signature) signs ``message``."""
        try:
            ok = self._verify(signature, bytes(message))
        except (InvalidSignature, ValueError, TypeError, OverflowError):
            ok = False     # (nacl's ValueError and TypeError are these)
        except Exception as e:
            nacl_exceptions = sys.modules.get("nacl.exceptions")
            if nacl_exceptions is None or not isinstance(e, nacl_exceptions.BadSignatureError):
                raise
            ok = False
        if ok:
            SIGNATURE_COUNTS.verified += 1
        else:
            SIGNATURE_COUNTS.failed += 1
        return ok

    def to_crypto(self):
        return _ser().load_der_public_key(self.der)


class _ECDSA(ec.ECDSA):
    """``ec.ECDSA(algorithm)``, made without ``ec.ECDSA.__init__``: that constructor imports
    cryptography's whole OpenSSL backend module (RSA, ciphers: ~25 M instructions, ~8 ms of
    a tool's start) to check its deterministic-signing option, which we never set.  It is
    an ``ec.ECDSA`` with the two public properties cryptography reads; signing and checking
    are still OpenSSL's, inside cryptography."""

    def __init__(self, algorithm):   # (deliberately not calling ec.ECDSA.__init__)
        self._prehashed_algorithm = algorithm

    @property
    def algorithm(self):
        return self._prehashed_algorithm

    @property
    def deterministic_signing(self):
        return False


_ECDSA_BY_HASH = {}   # hash name -> _ECDSA(Prehashed(hash)); immutable, shared


def _prehashed_ecdsa(hname):
    a = _ECDSA_BY_HASH.get(hname)
    if a is None:
        a = _ECDSA_BY_HASH[hname] = _ECDSA(Prehashed(_CRYPTO_HASH[hname]()))
    return a


class ECDSAPublicKey(PublicKey):
    algorithm = "ecdsa"

    def __init__(self, der, key):
        bits = key.curve.key_size
        name = "SHA256" if bits <= 256 else ("SHA384" if bits <= 384 else "SHA512")
        if bits <= 160:
            name = "SHA1"  # what Go would record; it maps to SHA-512 when used
        super().__init__(der, name)
        self._key = key

    def _verify(self, sig, message):
        r = int.from_bytes(bytes(sig.R or b""), "big")
        s = int.from_bytes(bytes(sig.S or b""), "big")
        if r <= 0 or s <= 0:
            return False
        hname = canonical_hash_name(sig.Hash)
        digest = self.message_digest(hname, bytes(sig.Purpose or b""), message)
        self._key.verify(encode_dss_signature(r, s), digest, _prehashed_ecdsa(hname))
        return True


class Ed25519PublicKey(PublicKey):
    algorithm = "ed25519"

    def __init__(self, der, raw):
        super().__init__(der, "SHA512")
        self.raw = raw
        self._vk = _nacl_signing().VerifyKey(raw)

    def _verify(self, sig, message):
        value = bytes(sig.Ed25519 or b"")
        if len(value) != 64:
            return False
        digest = self.message_digest(sig.Hash, bytes(sig.Purpose or b""), message)
        self._vk.verify(digest, value)
        return True


class RSAPublicKey(PublicKey):
    algorithm = "rsa"

    def __init__(self, der, key):
        if key.key_size < 2048:
            raise KeyError_("rsa keys with less than 2048 bits are not supported")
        super().__init__(der, "SHA512")
        self._key = key

    def _verify(self, sig, message):
        hname = canonical_hash_name(sig.Hash)
        hfn = hash_func(hname)
        fields = digest_fields(hfn, self.der, bytes(sig.Purpose or b""), message)
        self._key.verify(bytes(sig.Rsa or b""), fields, _rsa()[1].PKCS1v15(),
                         _CRYPTO_HASH[hname]())
        return True


# The PKIX (SubjectPublicKeyInfo) DER of an ECDSA key on a named curve is this prefix (the
# algorithm and curve OIDs, the bit string header) and the uncompressed point 04 || X || Y.
_EC_SPKI = {
    "secp256r1": bytes.fromhex("3059301306072a8648ce3d020106082a8648ce3d030107034200"),
    "secp384r1": bytes.fromhex("3076301006072a8648ce3d020106052b81040022036200"),
    "secp521r1": bytes.fromhex("30819b301006072a8648ce3d020106052b8104002303818600"),
}
_EC_CURVES = {"secp256r1": ec.SECP256R1, "secp384r1": ec.SECP384R1, "secp521r1": ec.SECP521R1}
# (prefix, curve class, point length) by the DER's total length
_EC_SPKI_BY_LEN = {len(pre) + 2 * ((_EC_CURVES[n].key_size + 7) // 8) + 1:
                   (pre, _EC_CURVES[n], 2 * ((_EC_CURVES[n].key_size + 7) // 8) + 1)
                   for n, pre in _EC_SPKI.items()}


def _ec_spki(key):
    """The canonical PKIX DER of an ECDSA public key on one of the curves above (else None)."""
    pre = _EC_SPKI.get(key.curve.name)
    if pre is None:
        return None
    nums = key.public_numbers()
    n = (key.curve.key_size + 7) // 8
    return pre + b"\x04" + nums.x.to_bytes(n, "big") + nums.y.to_bytes(n, "big")


def _ec_from_spki(der):
    """The ECDSA public key of a canonical PKIX DER on a curve above, or None when ``der``
    has another shape (then the general DER parser decides)."""
    shape = _EC_SPKI_BY_LEN.get(len(der))
    if shape is None or not der.startswith(shape[0]):
        return None
    point = der[len(shape[0]):]
    if point[0] != 4:
        return None
    try:   # (checks that the point is on the curve)
        return ec.EllipticCurvePublicKey.from_encoded_point(shape[1](), point)
    except ValueError:
        return None


def public_key_from_crypto(key):
    """Wrap a ``cryptography`` public key object."""
    der = _ec_spki(key) if isinstance(key, ec.EllipticCurvePublicKey) else None
    if der is None:
        ser = _ser()
        der = key.public_bytes(ser.Encoding.DER, ser.PublicFormat.SubjectPublicKeyInfo)
    return _wrap(der, key)


def _wrap(der, key):
    if isinstance(key, ec.EllipticCurvePublicKey):
        return ECDSAPublicKey(der, key)
    if isinstance(key, ed25519.Ed25519PublicKey):
        ser = _ser()
        raw = key.public_bytes(ser.Encoding.Raw, ser.PublicFormat.Raw)
        return Ed25519PublicKey(der, raw)
    if _is_rsa(key, public=True):
        return RSAPublicKey(der, key)
    raise KeyError_("unrecognized PublicKey type %s" % type(key).__name__)


_KEY_CACHE = {}


def public_key_from_der(der):
    """Parse DER PKIX bytes into a PublicKey (raises ``KeyError_`` if invalid)."""
    der = bytes(der)
    cached = _KEY_CACHE.get(der)
    if cached is not None:
        return cached
    if not der or len(der) > MAX_KEY_DER:
        raise KeyError_("invalid public key: %d bytes" % len(der))
    key = _ec_from_spki(der)
    if key is not None:     # canonical already
        pk = ECDSAPublicKey(der, key)
    else:
        ser = _ser()
        try:
            key = ser.load_der_public_key(der)
        except (ValueError, TypeError) as e:
            raise KeyError_("invalid DER-encoded public key: %s" % e) from None
        except Exception as e:  # unsupported algorithm etc.
            raise KeyError_("unsupported public key: %s" % e) from None
        pk = _wrap(der, key)
        # Go re-marshals the parsed key; keep the canonical bytes as the identity.
        if pk.der != der:
            canon = key.public_bytes(ser.Encoding.DER, ser.PublicFormat.SubjectPublicKeyInfo)
            pk = _wrap(canon, key)
    if len(_KEY_CACHE) > 4096:
        _KEY_CACHE.clear()
    _KEY_CACHE[der] = pk
    return pk


class Signer:
    """Signs (purpose, message) pairs with a private key, Go-compatibly."""

    def __init__(self, private_key):
        """private_key: a ``cryptography`` private key (EC, Ed25519 or RSA)."""
        self.private_key = private_key
        self.public_key = public_key_from_crypto(private_key.public_key())
        if isinstance(private_key, ed25519.Ed25519PrivateKey):
            ser = _ser()
            seed = private_key.private_bytes(ser.Encoding.Raw, ser.PrivateFormat.Raw,
                                             ser.NoEncryption())
            self._nacl = _nacl_signing().SigningKey(seed)
        elif not (isinstance(private_key, ec.EllipticCurvePrivateKey)
                  or _is_rsa(private_key, public=False)):
            raise KeyError_("unsupported private key type %s" % type(private_key).__name__)

    @property
    def algorithm(self):
        return self.public_key.algorithm

    def sign(self, purpose, message):
        purpose = bytes(purpose)
        message = bytes(message)
        pk = self.public_key
        hname = canonical_hash_name(pk.hash_name)
        hfn = hash_func(hname)
        fields = digest_fields(hfn, pk.der, purpose, message)
        SIGNATURE_COUNTS.made += 1
        if pk.algorithm == "ecdsa":
            der_sig = self.private_key.sign(hfn(fields).digest(), _prehashed_ecdsa(hname))
            r, s = decode_dss_signature(der_sig)
            return _make_signature(Purpose=purpose, Hash=pk.hash_name,
                                   R=_int_bytes(r), S=_int_bytes(s))
        if pk.algorithm == "ed25519":
            sig = self._nacl.sign(hfn(fields).digest()).signature
            return _make_signature(Purpose=purpose, Hash=pk.hash_name, Ed25519=bytes(sig))
        sig = self.private_key.sign(fields, _rsa()[1].PKCS1v15(), _CRYPTO_HASH[hname]())
        return _make_signature(Purpose=purpose, Hash=pk.hash_name, Rsa=sig)


KEY_TYPES = ("ecdsa256", "ecdsa384", "ecdsa521", "ed25519", "rsa2048", "rsa4096")


def generate_private_key(key_type="ecdsa256"):
    kt = key_type.lower().replace("-", "")
    if kt in ("ecdsa256", "ecdsa", "p256"):
        return ec.generate_private_key(ec.SECP256R1())
    if kt in ("ecdsa384", "p384"):
        return ec.generate_private_key(ec.SECP384R1())
    if kt in ("ecdsa521", "p521"):
        return ec.generate_private_key(ec.SECP521R1())
    if kt == "ed25519":
        seed = _nacl_signing().SigningKey.generate().encode()
        return ed25519.Ed25519PrivateKey.from_private_bytes(seed)
    if kt in ("rsa2048", "rsa4096"):
        return _rsa()[0].generate_private_key(65537, int(kt[3:]))
    raise KeyError_("unsupported key type %r (want one of %s)" % (key_type, ", ".join(KEY_TYPES)))


def new_signer(key_type="ecdsa256"):
    return Signer(generate_private_key(key_type))


def new_ecdsa_signer(curve_bits=256):
    return new_signer("ecdsa%d" % curve_bits)


def new_ed25519_signer():
    return new_signer("ed25519")


def new_rsa_signer(bits=2048):
    return new_signer("rsa%d" % bits)


def verify_signature(signature, public_key, message):
    return public_key.verify(signature, message)
