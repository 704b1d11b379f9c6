"""Principals, blessing stores and blessing roots (in memory).

The persistent variants (credentials directories) subclass the store and
roots here and add locking, reload-before-modify and signed saving.
"""

# (_thread, not threading: the same C locks without importing threading.py)
from _thread import RLock as _RLock

from v23py.gostrings import go_bytes
from v23py.security import _errors
from v23py.security._blessings import Blessings, union_of_blessings
from v23py.security._caveats import (
    Caveat, PublicKeyThirdPartyCaveat, discharge_digest)
from v23py.security._certificate import sign_certificate
from v23py.security._keys import (
    KeyError_, PURPOSE_DISCHARGE, PURPOSE_MESSAGE, PublicKey, Signer, public_key_from_der,
    new_signer, sha256)
from v23py.security._pattern import ALL_PRINCIPALS, BlessingPattern, extension_error
from v23py.security._wiretypes import Certificate, PublicKeyDischarge, WireDischarge


def _der_of(key):
    if isinstance(key, PublicKey):
        return key.der
    return bytes(key)


# --- BlessingRoots ---

class BlessingRoots:
    """Root public keys recognized for blessing-name patterns."""

    def __init__(self):
        self._lock = _RLock()
        self._state = {}  # DER bytes -> [BlessingPattern]

    # hooks for persistence
    def _begin_write(self):
        return None

    def _end_write(self, token, changed):
        pass

    def _refresh(self):
        pass

    def add(self, root, pattern):
        pattern = BlessingPattern(pattern)
        if pattern == ALL_PRINCIPALS:
            raise _errors.fail("a root cannot be recognized for all blessing names "
                               "(i.e., the pattern '...')")
        der = _der_of(root)
        try:
            public_key_from_der(der)
        except KeyError_ as e:
            raise _errors.fail(str(e)) from None
        with self._lock:
            token = self._begin_write()
            changed = False
            try:
                pats = self._state.setdefault(der, [])
                if pattern not in pats:
                    pats.append(pattern)
                    changed = True
            finally:
                self._end_write(token, changed)

    def recognized(self, root, blessing):
        der = _der_of(root)
        self._refresh()
        for p in self._state.get(der, ()):
            if p.matched_by(blessing):
                return None
        try:
            key = public_key_from_der(der)
        except KeyError_ as e:
            raise _errors.fail(str(e)) from None
        import base64   # (only for this message: not on every tool's path)
        # (Go's text ends in ": <nil>", an accident of its formatting; ours says what to do)
        raise _errors.UnrecognizedRoot.new(
            "unrecognized public key %s in root certificate: this principal does not trust "
            "the identity provider of blessing %r; recognize it with `principal recognize "
            "%s %s` (or bless with a principal whose roots it shares)"
            % (key, blessing, blessing.split(":", 1)[0] if blessing else "<pattern>",
               base64.urlsafe_b64encode(der).decode()))

    def recognized_cert(self, cert, blessing):
        if len(cert.X509Raw):
            # x509-rooted blessings would need x509 chain verification; not supported.
            raise _errors.UnrecognizedRoot.new(
                "x509 root certificates are not supported (blessing %s)" % blessing)
        return self.recognized(bytes(cert.PublicKey), blessing)

    def dump(self):
        """{BlessingPattern: [PublicKey]}"""
        self._refresh()
        out = {}
        for der, pats in self._state.items():
            key = public_key_from_der(der)
            for p in pats:
                out.setdefault(p, []).append(key)
        return out

    def debug_string(self):
        self._refresh()
        rows = []
        for der, pats in self._state.items():
            try:
                key = str(public_key_from_der(der))
            except KeyError_ as e:
                return "failed to decode public key: %s" % e
            rows.append((key, "[" + " ".join(pats) + "]"))
        rows.sort(key=lambda r: r[1])
        out = ["%-47s   %s\n" % ("Public key", "Pattern")]
        out += ["%-47s   %s\n" % r for r in rows]
        return "".join(out)

    def state(self):
        return {k: list(v) for k, v in self._state.items()}


# --- BlessingStore ---

class BlessingStore:
    """Blessings to present: a default and per-peer-pattern entries."""

    def __init__(self, public_key):
        self.public_key = public_key
        self._lock = _RLock()
        self._peer = {}               # BlessingPattern -> Blessings
        self._default = Blessings()
        self._discharges = {}         # 32-byte key -> (WireDischarge, cache time WireTime)
        self._listeners = []

    def _begin_write(self):
        return None

    def _end_write(self, token, changed):
        pass

    def _refresh(self):
        pass

    def _check_key(self, blessings):
        if not blessings.is_zero() and blessings.public_key.der != self.public_key.der:
            raise _errors.fail("blessing's public key does not match store's public key")

    def set(self, blessings, for_peers):
        """Set blessings for peers matching the pattern; returns the previous ones."""
        pattern = BlessingPattern(for_peers)
        if not pattern.is_valid():
            raise _errors.fail("%s is an invalid BlessingPattern" % for_peers)
        self._check_key(blessings)
        with self._lock:
            token = self._begin_write()
            changed = False
            try:
                old = self._peer.get(pattern, Blessings())
                if blessings.is_zero():
                    changed = self._peer.pop(pattern, None) is not None
                else:
                    self._peer[pattern] = blessings
                    changed = True
            finally:
                self._end_write(token, changed)
        return old

    def for_peer(self, *peer_blessings):
        if len(peer_blessings) == 1 and isinstance(peer_blessings[0], (list, tuple)):
            peer_blessings = tuple(peer_blessings[0])
        self._refresh()
        ret = Blessings()
        for pattern, b in list(self._peer.items()):
            if pattern.matched_by(*peer_blessings):
                try:
                    ret = union_of_blessings(ret, b)
                except _errors.VError:
                    pass
        return ret

    def default(self):
        self._refresh()
        return self._default

    def set_default(self, blessings):
        self._check_key(blessings)
        with self._lock:
            token = self._begin_write()
            changed = False
            try:
                self._default = blessings
                changed = True
            finally:
                self._end_write(token, changed)
        for fn in list(self._listeners):
            fn(blessings)

    def on_default_change(self, fn):
        """Call fn(new_default) after each set_default (Go's Default() channel)."""
        self._listeners.append(fn)

    def peer_blessings(self):
        self._refresh()
        return dict(self._peer)

    def cache_discharge(self, discharge, caveat, impetus=None):
        """Remember a discharge, in memory only (as Go's store does: a read-only store
        caches too, and a cache never rewrites the credentials files)."""
        key = _dcache_key(caveat, impetus)
        if key is None or not discharge.id():
            return
        from v23py.security._caveats import now, to_wire_time
        with self._lock:
            self._discharges[key] = (discharge.wire, to_wire_time(now()))

    def discharge(self, caveat, impetus=None):
        """(Discharge or None, cache time or None) for a third-party caveat."""
        from v23py.security._call import Discharge
        from v23py.security._caveats import from_wire_time, now
        key = _dcache_key(caveat, impetus)
        self._refresh()
        if key is None or key not in self._discharges:
            return None, None
        wire, when = self._discharges[key]
        d = Discharge(wire)
        exp = d.expiry()
        if exp is None or exp > now():
            return d, from_wire_time(when)
        return None, None

    def clear_discharges(self, *discharges):
        from v23py.security._call import Discharge
        ids = {d.id() for d in discharges}
        with self._lock:
            for k, (wire, _) in list(self._discharges.items()):
                if Discharge(wire).id() in ids:
                    del self._discharges[k]

    def debug_string(self):
        self._refresh()
        fmt = "%-30s   %s\n"
        out = [fmt % ("Default Blessings", self._default), fmt % ("Peer pattern", "Blessings")]
        if ALL_PRINCIPALS in self._peer:
            out.append(fmt % (ALL_PRINCIPALS, self._peer[ALL_PRINCIPALS]))
        for p in sorted(k for k in self._peer if k != ALL_PRINCIPALS):
            out.append(fmt % (p, self._peer[p]))
        return "".join(out)


def _dcache_key(caveat, impetus):
    tp = caveat.third_party_details() if isinstance(caveat, Caveat) else None
    if tp is None or tp.requirements().ReportArguments:
        return None
    r = tp.requirements()
    method = impetus.Method if (impetus is not None and r.ReportMethod) else ""
    servers = ""
    if impetus is not None and r.ReportServer and impetus.Server:
        servers = ",".join(sorted(str(s) for s in impetus.Server))
    h = sha256()
    for part in (tp.id(), method, servers):
        h.update(sha256(go_bytes(part)).digest())
    return h.digest()


# --- Principal ---

class Principal:
    """A signer plus the blessing store and roots it uses."""

    def __init__(self, signer=None, blessing_store=None, roots=None, public_key=None):
        if signer is None and public_key is None:
            raise _errors.fail("a principal needs a signer or a public key")
        self.signer = signer
        self.public_key = signer.public_key if signer is not None else public_key
        self.blessing_store = blessing_store if blessing_store is not None \
            else BlessingStore(self.public_key)
        self.roots = roots if roots is not None else BlessingRoots()
        if self.blessing_store.public_key.der != self.public_key.der:
            raise _errors.fail("store's public key: %s does not match signer's public key: %s"
                               % (self.blessing_store.public_key, self.public_key))

    def _need_signer(self):
        if self.signer is None:
            raise _errors.fail("signing not supported, only public key available")

    def sign(self, message):
        """Sign ``message`` with purpose "S1" (Go Principal.Sign)."""
        self._need_signer()
        return self.signer.sign(PURPOSE_MESSAGE, message)

    def bless_self(self, name, *caveats):
        self._need_signer()
        err = extension_error(name)
        if err:
            raise _errors.BadArg.new(err)
        cert = Certificate(Extension=name, PublicKey=self.public_key.der, Caveats=list(caveats))
        chain, digest = sign_certificate(self.signer, [], cert)
        return Blessings([chain], self.public_key, [digest])

    def bless(self, key, with_blessings, extension, caveat, *additional):
        """Extend ``with_blessings`` (ours) by ``extension`` for public key ``key``."""
        if with_blessings is None or with_blessings.is_zero() or with_blessings.is_nameless():
            raise _errors.fail("the Blessings to bless 'with' must have at least one certificate")
        if with_blessings.public_key.der != self.public_key.der:
            raise _errors.fail("Principal with public key %s cannot extend blessing with "
                               "public key %s" % (self.public_key, with_blessings.public_key))
        if caveat is None:
            raise _errors.BadArg.new("a caveat is required to bless")
        if not isinstance(key, PublicKey):
            key = public_key_from_der(bytes(key))
        err = extension_error(extension)
        if err:
            raise _errors.BadArg.new(err)
        self._need_signer()
        cert = Certificate(Extension=extension, PublicKey=key.der,
                           Caveats=list(additional) + [caveat])
        chains, digests = [], []
        for chain in with_blessings.chains:
            c, d = sign_certificate(self.signer, chain, cert)
            chains.append(c)
            digests.append(d)
        return Blessings(chains, key, digests)

    def mint_discharge(self, for_caveat, caveat, *additional):
        from v23py.security._call import Discharge
        if bytes(for_caveat.Id) != bytes(PublicKeyThirdPartyCaveat.Id):
            raise _errors.fail("cannot mint discharges for %s" % for_caveat)
        self._need_signer()
        tpid = for_caveat.third_party_details().id()
        d = PublicKeyDischarge(ThirdPartyCaveatId=tpid, Caveats=list(additional) + [caveat])
        d = d.replace(Signature=self.signer.sign(
            PURPOSE_DISCHARGE, discharge_digest(d, self.public_key.hash)))
        return Discharge(WireDischarge("PublicKey", d))

    def add_to_roots(self, blessings):
        add_to_roots(self, blessings)

    def set_default_blessings(self, blessings):
        """Recognize the roots, make default and set for peers '...' (Go SetDefaultBlessings)."""
        add_to_roots(self, blessings)
        self.blessing_store.set_default(blessings)
        self.blessing_store.set(blessings, ALL_PRINCIPALS)

    def __repr__(self):
        return "Principal(%s)" % self.public_key


def add_to_roots(principal, blessings):
    if blessings.is_nameless():
        return
    for chain in blessings.chains:
        principal.roots.add(bytes(chain[0].PublicKey), BlessingPattern(chain[0].Extension))


def random_principal(key_type="ecdsa256"):
    """An in-memory principal with a fresh key and empty store and roots."""
    return Principal(new_signer(key_type))


def principal_from_signer(signer):
    if not isinstance(signer, Signer) and not hasattr(signer, "sign"):
        raise TypeError("not a signer")
    return Principal(signer)
