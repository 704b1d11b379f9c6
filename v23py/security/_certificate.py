"""Certificate digests, chain validation and certificate signing (Go's scheme).

For a certificate c hashed with H (the hash named by c's own signature)::

  content(c) = H( H(PublicKey) || H(Extension) || caveatDigest... || [H(X509Raw)] )
  sig(c)     = H( H(Hash) || H(Purpose) || H(alg) || H(value)... )
  digest     = H( content || sig );  with a parent digest p:
  content'   = H( H(p) || content ),  digest' = H( H(p) || digest )

Each certificate signs its (chained) content digest with purpose "B1" using the
previous certificate's key (the root signs itself).
"""

# (_thread, not threading: the same C locks without importing threading.py)
from _thread import allocate_lock as _Lock

from v23py.gostrings import KEEP_BYTES, UTF8
from v23py.security import _errors
from v23py.security._keys import (
    KeyError_, PURPOSE_CERTIFICATE, SIGNATURE_COUNTS, hash_func, public_key_from_der, sha256)
from v23py.security._pattern import extension_error

MAX_CHAIN_LENGTH = 128
MAX_CHAINS = 128


def _b(s):
    """A Go string's bytes (VOM keeps non-UTF-8 bytes as surrogate escapes)."""
    return s.encode(UTF8, KEEP_BYTES)


def signature_digest(sig, hfn):
    parts = [hfn(_b(str(sig.Hash))).digest(), hfn(bytes(sig.Purpose)).digest()]
    if len(sig.R) > 0:
        parts += [hfn(b"ECDSA").digest(), hfn(bytes(sig.R)).digest(), hfn(bytes(sig.S)).digest()]
    elif len(sig.Ed25519) > 0:
        parts += [hfn(b"ED25519").digest(), hfn(bytes(sig.Ed25519)).digest()]
    else:
        parts += [hfn(b"RSA").digest(), hfn(bytes(sig.Rsa)).digest()]
    return hfn(b"".join(parts)).digest()


def caveat_digest(cav, hfn):
    return hfn(hfn(bytes(cav.Id)).digest() + hfn(bytes(cav.ParamVom)).digest()).digest()


def content_digest(cert, hfn):
    parts = [hfn(bytes(cert.PublicKey)).digest(), hfn(_b(cert.Extension)).digest()]
    for cav in cert.Caveats:
        parts.append(caveat_digest(cav, hfn))
    if len(cert.X509Raw) > 0:
        parts.append(hfn(bytes(cert.X509Raw)).digest())
    return hfn(b"".join(parts)).digest()


def chained_digests(cert, hfn, parent):
    """(digest, content digest) of ``cert`` chained after a parent digest (b"" for a root)."""
    cd = content_digest(cert, hfn)
    d = hfn(cd + signature_digest(cert.Signature, hfn)).digest()
    if parent:
        hp = hfn(parent).digest()
        cd = hfn(hp + cd).digest()
        d = hfn(hp + d).digest()
    return d, cd


def chain_digest(chain):
    d = b""
    for cert in chain:
        d, _ = chained_digests(cert, hash_func(cert.Signature.Hash), d)
    return d


class _SigCache:
    """Digests of chains already verified (bounded), as Go keeps one."""

    MAX = 1 << 10

    def __init__(self):
        self._lock = _Lock()
        self._m = {}
        self.enabled = True

    def has(self, digest):
        return sha256(digest).digest() in self._m

    def add(self, digests):
        if not self.enabled:
            return
        keys = [sha256(d).digest() for d in digests]
        with self._lock:
            for k in keys:
                self._m[k] = True
            while len(self._m) > self.MAX:
                self._m.pop(next(iter(self._m)))

    def clear(self):
        with self._lock:
            self._m.clear()


signature_cache = _SigCache()


def check_x509(cert):
    """Refuse a certificate whose X509Raw is not an X.509 certificate for its own key.

    The content digest hashes X509Raw as one more 32/48/64-byte block after the caveat
    digests, so without this check a caveat can be dropped and its digest replayed as
    X509Raw with the signature still valid (Go v0.2.0 has that hole).  An X.509
    certificate cannot be chosen to hash to a given caveat digest, and Go only ever
    puts the certificate of the blessed key there.
    """
    # (cryptography's x509 costs ~50 ms to import: loaded only for such a certificate)
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    raw = bytes(cert.X509Raw)
    try:
        xc = x509.load_der_x509_certificate(raw)
        spki = xc.public_key().public_bytes(serialization.Encoding.DER,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
    except Exception as e:
        raise _errors.fail("certificate(for %s) carries X509Raw that is not an X.509 "
                           "certificate: %s" % (cert.Extension, e)) from None
    try:
        same = public_key_from_der(spki).der == _key(bytes(cert.PublicKey), "certificate").der
    except KeyError_ as e:
        raise _errors.fail("certificate(for %s) carries an X.509 certificate with an unusable "
                           "key: %s" % (cert.Extension, e)) from None
    if not same:
        raise _errors.fail("certificate(for %s) carries an X.509 certificate for another key"
                           % cert.Extension)


def _key(der, what):
    try:
        return public_key_from_der(der)
    except KeyError_ as e:
        raise _errors.fail("invalid public key in %s: %s" % (what, e)) from None


def validate_chain(chain):
    """Verify every signature of a certificate chain.

    Returns (public key of the last certificate, chain digest); raises a VError.
    """
    if not chain:
        raise _errors.fail("empty certificate chain in blessings")
    if len(chain) > MAX_CHAIN_LENGTH:
        raise _errors.fail("certificate chain too long (%d)" % len(chain))
    pubkey = _key(bytes(chain[-1].PublicKey), "certificate")
    for cert in chain:
        # (before the cache: a stripped certificate has the digest of the one it came from)
        if len(cert.X509Raw) > 0:
            check_x509(cert)
    digests, contents = [], []
    parent = b""
    for cert in chain:
        d, cd = chained_digests(cert, hash_func(cert.Signature.Hash), parent)
        digests.append(d)
        contents.append(cd)
        parent = d
    for i in range(len(chain) - 1, -1, -1):
        cert = chain[i]
        if signature_cache.has(digests[i]):
            signature_cache.add(digests[i:])
            SIGNATURE_COUNTS.cache_hits += 1
            return pubkey, digests[-1]
        if bytes(cert.Signature.Purpose) != PURPOSE_CERTIFICATE:
            raise _errors.fail("signature on certificate(for %s) was not intended for "
                               "certification (purpose=%r)" % (cert.Extension,
                                                               bytes(cert.Signature.Purpose)))
        err = extension_error(cert.Extension)
        if err:
            raise _errors.fail("invalid blessing extension in certificate(for %s): %s"
                               % (cert.Extension, err))
        signer_der = bytes(chain[i - 1].PublicKey) if i > 0 else bytes(chain[0].PublicKey)
        signer = _key(signer_der, "certificate")
        if not signer.verify(cert.Signature, contents[i]):
            raise _errors.fail('invalid Signature in certificate(for "%s"), signing key: %s'
                               % (cert.Extension, signer))
    signature_cache.add(digests)
    return pubkey, digests[-1]


def sign_certificate(signer, chain, cert):
    """Append ``cert`` to ``chain``, signed by ``signer``; returns (new chain, digest)."""
    hfn = hash_func(signer.public_key.hash_name)
    parent = chain_digest(chain)
    _, cd = chained_digests(cert, hfn, parent)
    cert = cert.replace(Signature=signer.sign(PURPOSE_CERTIFICATE, cd))
    d, _ = chained_digests(cert, hfn, parent)
    return list(chain) + [cert], d
