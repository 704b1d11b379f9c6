"""The security Call, validated blessing names and the standard authorizers."""

from v23py.security import _errors
from v23py.security._blessings import Blessings, chain_name
from v23py.security._caveats import ConstCaveat, ExpiryCaveat, now
from v23py.security._pattern import BlessingPattern


class Discharge:
    """A discharge for a third-party caveat (wraps a WireDischarge union)."""

    __slots__ = ("wire",)

    def __init__(self, wire):
        self.wire = wire

    def id(self):
        if self.wire is not None and self.wire.name == "PublicKey":
            return self.wire.value.ThirdPartyCaveatId
        return ""

    def expiry(self):
        best = None
        if self.wire is not None and self.wire.name == "PublicKey":
            from v23py.security._caveats import _as_caveat
            for c in self.wire.value.Caveats:
                t = _as_caveat(c).expiry()
                if t is not None and (best is None or t < best):
                    best = t
        return best

    def __eq__(self, other):
        return isinstance(other, Discharge) and self.wire == other.wire

    def __hash__(self):
        return hash(self.id())


class Call:
    """The security-relevant state of one RPC (Go's security.Call).

    ``timestamp`` is an aware datetime (now if None); ``method_tags`` a list of
    VDL values (e.g. access.Tag("Read")); discharges map caveat id -> Discharge."""

    def __init__(self, local_principal=None, local_blessings=None, remote_blessings=None,
                 method="", method_tags=(), suffix="", timestamp=None, local_endpoint=None,
                 remote_endpoint=None, local_discharges=None, remote_discharges=None):
        self.local_principal = local_principal
        self.local_blessings = local_blessings if local_blessings is not None else Blessings()
        self.remote_blessings = remote_blessings if remote_blessings is not None else Blessings()
        self.method = method
        self.method_tags = list(method_tags or ())
        self.suffix = suffix
        self.timestamp = timestamp if timestamp is not None else now()
        self.local_endpoint = local_endpoint
        self.remote_endpoint = remote_endpoint
        self.local_discharges = _discharge_map(local_discharges)
        self.remote_discharges = _discharge_map(remote_discharges)

    def __repr__(self):
        return "Call(method=%r, suffix=%r, remote=%s)" % (self.method, self.suffix,
                                                          self.remote_blessings)


def _discharge_map(ds):
    if not ds:
        return {}
    if isinstance(ds, dict):
        return ds
    out = {}
    for d in ds:
        if not isinstance(d, Discharge):
            d = Discharge(d)
        out[d.id()] = d
    return out


def _roots_of(principal):
    return getattr(principal, "roots", None) if principal is not None else None


def remote_blessing_names(call):
    """(validated remote names, [RejectedBlessing]) for the call."""
    b = call.remote_blessings
    if b is None or b.is_zero() or b.is_nameless():
        return [], []
    return _validated_names(call, b.chains, _roots_of(call.local_principal))


def _validated_names(call, chains, roots, admit_caveat=None):
    """(names, [RejectedBlessing]) of ``chains``: a chain's name is valid when ``roots``
    recognize its root and each of its caveats passes ``admit_caveat`` (raising a VError
    to refuse it) and validates against ``call``; else it is rejected with the error."""
    from v23py.security._wiretypes import RejectedBlessing
    names, rejected = [], []
    for chain in chains:
        name = chain_name(chain)
        try:
            if roots is None:
                raise _errors.fail("recognized root certificates not configured")
            roots.recognized_cert(chain[0], name)
            for cert in chain:
                for cav in cert.Caveats:
                    if admit_caveat is not None:
                        admit_caveat(cav)
                    cav.validate(call)
        except _errors.VError as e:
            rejected.append(RejectedBlessing(Blessing=name, Err=e))
            continue
        names.append(name)
    return names, rejected


def blessing_names(principal, blessings):
    """Names of ``blessings`` (held by ``principal``) whose roots it recognizes (no caveat check)."""
    if principal is None or blessings is None or not blessings.chains:
        return []
    if bytes(blessings.chains[0][-1].PublicKey) != principal.public_key.der:
        return []
    out = []
    for chain in blessings.chains:
        name = chain_name(chain)
        try:
            principal.roots.recognized_cert(chain[0], name)
        except _errors.VError:
            continue
        out.append(name)
    return out


def local_blessing_names(call):
    return blessing_names(call.local_principal, call.local_blessings)


def default_blessing_names(principal):
    return blessing_names(principal, principal.blessing_store.default())


def signing_blessing_names(principal, blessings):
    """Recognized names usable for signing: only expiry/const caveats, all valid now."""
    if principal is None or blessings is None or blessings.is_zero() or blessings.is_nameless():
        return [], []
    return _validated_names(Call(local_principal=principal, remote_blessings=blessings),
                            blessings.chains, principal.roots, _admit_for_signing)


_SIGNING_CAVEAT_IDS = (bytes(ExpiryCaveat.Id), bytes(ConstCaveat.Id))


def _admit_for_signing(cav):
    if bytes(cav.Id) not in _SIGNING_CAVEAT_IDS:
        raise _errors.InvalidSigningBlessingCaveat.new(
            "blessing has caveat with UUID %s which makes it unsuitable for "
            "signing -- please use blessings with just Expiry caveats" % bytes(cav.Id).hex())


def _fmt_rejected(rejected):
    return "[" + " ".join('{"%s": %s}' % (r.Blessing, r.Err) for r in rejected) + "]"


def _fmt_names(names):
    return "[" + " ".join(names) + "]"


class Authorizer:
    """Base class: authorize(call) returns None or raises a VError."""

    def authorize(self, call):
        raise NotImplementedError


class _DefaultAuthorizer(Authorizer):
    def authorize(self, call):
        local = local_blessing_names(call)
        remote, rejected = remote_blessing_names(call)
        for l in local:
            if BlessingPattern(l).matched_by(*remote):
                return None
        for r in remote:
            if BlessingPattern(r).matched_by(*local):
                return None
        raise _errors.AuthorizationFailed.new(
            "principal with blessings %s (rejected %s) is not authorized by principal with "
            "blessings %s" % (_fmt_names(remote), _fmt_rejected(rejected), _fmt_names(local)))


class _AllowEveryone(Authorizer):
    def authorize(self, call):
        return None


class _PublicKeyAuthorizer(Authorizer):
    def __init__(self, key):
        self.key = key

    def authorize(self, call):
        remote = call.remote_blessings.public_key if call.remote_blessings else None
        if remote is None:
            raise _errors.PublicKeyNotAllowed.new(
                "peer has no public key, the authorized public key %s" % self.key)
        if remote.der != self.key.der:
            raise _errors.PublicKeyNotAllowed.new(
                "peer has public key %s, not the authorized public key %s" % (remote, self.key))
        return None


class _EndpointAuthorizer(Authorizer):
    def authorize(self, call):
        ep = call.remote_endpoint
        names_attr = getattr(ep, "blessing_names", None) if ep is not None else None
        if callable(names_attr):
            names_attr = names_attr()
        patterns = list(names_attr or [])
        if not patterns:
            raise _errors.EndpointAuthorizationFailed.new("no blessings in endpoint %s" % (ep,))
        names, rejected = remote_blessing_names(call)
        for p in patterns:
            if BlessingPattern(p).matched_by(*names):
                return None
        raise _errors.EndpointAuthorizationFailed.new(
            "blessings in endpoint %s not matched by blessings presented: %s (rejected %s)"
            % (ep, _fmt_names(names), _fmt_rejected(rejected)))


def _endpoint_names(call):
    ep = getattr(call, "remote_endpoint", None)
    names = getattr(ep, "blessing_names", None) if ep is not None else None
    if callable(names):
        names = names()
    return list(names or [])


class AddressOnlyTrust(Authorizer):
    """Go's endpoint check when the server's endpoint names blessings; for a server
    named by address only (``/localhost:23000``, as the tutorials name their mount
    tables) its blessings and the ones we present to it must be extensions of one
    another (the default policy, seen from the client).  See v23py.runtime.trust."""

    def authorize(self, call):
        if _endpoint_names(call):
            return _ENDPOINT.authorize(call)
        p = call.local_principal
        remote, _ = remote_blessing_names(call)
        mine = p.blessing_store.for_peer(*remote) if p is not None else None
        if (mine is None or mine.is_zero()) and p is not None:
            mine = p.blessing_store.default()
        ours = Call(local_principal=p, local_blessings=mine,
                    remote_blessings=call.remote_blessings,
                    timestamp=getattr(call, "timestamp", None),
                    local_endpoint=getattr(call, "local_endpoint", None),
                    remote_endpoint=getattr(call, "remote_endpoint", None))
        return _DEFAULT.authorize(ours)


_DEFAULT = _DefaultAuthorizer()
_EVERYONE = _AllowEveryone()
_ENDPOINT = _EndpointAuthorizer()


def default_authorizer() -> Authorizer:
    """Go's default policy: a caller whose blessings and ours are extensions of one
    another (or who is us)."""
    return _DEFAULT


def allow_everyone() -> Authorizer:
    return _EVERYONE


def endpoint_authorizer():
    return _ENDPOINT


def public_key_authorizer(key):
    return _PublicKeyAuthorizer(key)


def authorize(authorizer, call):
    """Run an authorizer that may be an object with authorize(), or a plain callable."""
    if authorizer is None:
        authorizer = _DEFAULT
    fn = getattr(authorizer, "authorize", None) or authorizer
    return fn(call)
