"""v23py.security: keys, signatures, blessings, caveats and principals.

Wire-compatible with Go Vanadium v0.2.0 (``v.io/v23/security``). Public names
live here; the implementation is in private modules (``_keys``, ``_wiretypes``,
``_blessings``, ``_caveats``, ``_principal``, ``_call``, ``_credentials`` ...).

API used by the flow / RPC layers
=================================

Keys and signatures::

    from v23py import security
    pk = security.public_key_from_der(der)   # PublicKey (ECDSA P-256/384/521, Ed25519, RSA)
    pk.der                                   # DER PKIX SubjectPublicKeyInfo bytes
    pk.hash_name                             # "SHA256" / "SHA384" / "SHA512"
    str(pk)                                  # Go's PublicKey.String(): md5 hex "xx:xx:..."
    pk.verify(signature, message) -> bool    # signature: security.Signature (wire struct)
    signer = security.new_ecdsa_signer()     # or new_ed25519_signer(), new_rsa_signer()
    signer.sign(purpose: bytes, message: bytes) -> Signature
    signer.public_key

``security.Signature`` is the VDL wire struct ``v.io/v23/security.Signature``
with attributes ``Purpose Hash R S Ed25519 Rsa`` (bytes / str).
``security.verify_signature(sig, public_key, message) -> bool`` is the same
as ``public_key.verify(sig, message)``.

Principals::

    p = security.random_principal()                  # in-memory, fresh ECDSA P-256 key
    p = security.random_principal("ed25519")
    p = security.load_principal(dir, passphrase=None) # Go credentials directory (read/write)
    p = security.load_principal(dir, read_only=True)  # never writes; key optional (Go runtime)
    p = security.create_principal(dir, passphrase=None, key_type="ecdsa256", overwrite=False)
    # errors: VError ids security.PassphraseRequired.id / security.BadPassphrase.id,
    #         verror.NoExist (no such dir/key), others for corrupt files
    p.public_key                    # PublicKey
    p.sign(message) -> Signature    # purpose "S1" (Go Principal.Sign). The flow handshake signs
                                    # b"AuthDial\\x00" + binding / b"AuthAcpt\\x00" + binding with it.
    p.signer                        # the raw Signer (sign(purpose, message))
    p.bless_self(name, *caveats) -> Blessings
    p.bless(public_key, with_blessings, extension, caveat, *additional) -> Blessings
    p.blessing_store                # BlessingStore
    p.roots                         # BlessingRoots
    p.add_to_roots(blessings)       # recognize the roots of blessings
    p.set_default_blessings(b)      # add_to_roots + default + for peers "..." (principal create)
    p.mint_discharge(third_party_caveat, caveat, *more) -> Discharge

    store = p.blessing_store
    store.default() -> Blessings    ; store.set_default(b)
    store.for_peer(*peer_names) -> Blessings   (union of matching entries; zero if none)
    store.set(blessings, pattern) -> previous  ; store.peer_blessings() -> {pattern: Blessings}
    store.debug_string()            ; store.on_default_change(fn)  (fn(new_default))
    roots = p.roots
    roots.add(root_der, pattern)    ; roots.recognized(root_der, name) (raises VError if not)
    roots.dump() -> {BlessingPattern: [PublicKey]}; roots.debug_string()

Blessings::

    b = security.blessings_from_wire(wire)  # validates all chains, raises VError
    b.to_wire() -> WireBlessings            # VDL struct, VOM-encodable
    b.public_key ; b.chains ; b.unique_id ; b.is_zero() ; str(b) (names joined by ",")
    b.expiry() -> datetime | None
    security.nameless_blessing(public_key)  # for pure clients in the handshake
    security.union_of_blessings(*bs)
    security.encode_blessings(b) -> base64url(VOM(WireBlessings)) (principal tool format)
    security.decode_blessings(text) -> Blessings

Names and authorization for a call::

    call = security.Call(local_principal=p, local_blessings=..., remote_blessings=...,
                         method="Echo", method_tags=[...], suffix="", timestamp=None,
                         local_endpoint=None, remote_endpoint=None,
                         local_discharges={}, remote_discharges={})
    names, rejected = security.remote_blessing_names(call)  # validated, recognized names
    security.local_blessing_names(call)
    security.blessing_names(principal, blessings)         # recognized names, no caveat check
    security.signing_blessing_names(principal, blessings) # for signing (no expiry etc. needed)
    security.default_authorizer().authorize(call)   # raises VError(NoAccess) on failure
    security.allow_everyone(); security.endpoint_authorizer(); security.public_key_authorizer(pk)
    security.BlessingPattern("alice:friend").matched_by(*names)
    security.split_pattern_name("__(a:b)/rest") -> (pattern, rest)

Authorizers have ``authorize(call)`` that returns None or raises a VError;
``access.permissions_authorizer(perms, tag_type)`` builds one from Permissions.

Caveats::

    security.new_expiry_caveat(datetime), new_method_caveat("M", ...),
    security.unconstrained_use(), new_const_caveat(bool), new_not_before_caveat(dt),
    security.new_caveat(descriptor, param), caveat.validate(call)

Third-party caveats: a chain carrying one is valid only with a matching discharge in
the call's ``remote_discharges`` (Go's behaviour). ``Discharge(wire_discharge)`` wraps a
``WireDischarge``; ``p.mint_discharge`` issues one (v23py.discharger serves
that); ``await security.prepare_discharges(store, blessings, fetch, server_names,
method, args)`` gets what blessings need, from the store's cache or by ``fetch``.

Wire types (``Signature``, ``Certificate``, ``Caveat``, ``WireBlessings``,
``WireDischarge`` ...) are the classes generated from ``security.vdl``
(``_vdl.py``), named in ``_wiretypes``.  The credentials-file types of
``v.io/x/ref/lib/security`` are declared in ``_credentials``.
"""

import sys as _sys  # noqa: E402
from typing import TYPE_CHECKING as _TYPE_CHECKING  # noqa: E402

from v23py.security._keys import (  # noqa: E402,F401
    PURPOSE_CERTIFICATE, PURPOSE_DISCHARGE, PURPOSE_MESSAGE, KEY_TYPES, PublicKey, Signer,
    generate_private_key, new_ecdsa_signer, new_ed25519_signer, new_rsa_signer, new_signer,
    public_key_from_der, verify_signature, SIGNATURE_COUNTS)
from v23py.security._wiretypes import (  # noqa: E402,F401
    Certificate, CaveatDescriptor, DischargeImpetus, Hash, PublicKeyDischarge, RejectedBlessing,
    Signature, ThirdPartyRequirements, WireBlessings, WireBlessingsType, WireDischarge,
    WireDischargeType)
from v23py.security._pattern import (  # noqa: E402,F401
    ALL_PRINCIPALS, CHAIN_SEPARATOR, NO_EXTENSION, BlessingPattern, join_pattern_name,
    split_pattern_name)
from v23py.security._caveats import (  # noqa: E402,F401
    Caveat, ConstCaveat, ExpiryCaveat, MethodCaveat, NotBeforeCaveat, PeerBlessingsCaveat,
    PublicKeyThirdPartyCaveat, ThirdPartyCaveat, caveat_string, format_caveat, new_caveat,
    new_const_caveat, new_expiry_caveat, new_method_caveat, new_not_before_caveat,
    new_peer_blessings_caveat, new_public_key_caveat, register_caveat_validator,
    unconstrained_use)
from v23py.security._blessings import (  # noqa: E402,F401
    Blessings, blessings_from_wire, decode_blessings, encode_blessings, nameless_blessing,
    union_of_blessings)
from v23py.security._call import (  # noqa: E402,F401
    AddressOnlyTrust, Authorizer, Call, Discharge, allow_everyone, authorize, blessing_names,
    default_authorizer, default_blessing_names, endpoint_authorizer, local_blessing_names,
    public_key_authorizer, remote_blessing_names, signing_blessing_names)
from v23py.security._principal import (  # noqa: E402,F401
    BlessingRoots, BlessingStore, Principal, add_to_roots, principal_from_signer,
    random_principal)
from v23py.security._credentials import (  # noqa: E402,F401
    create_principal, file_lock, load_principal, principal_exists)
from v23py.security._errors import BadPassphrase, PassphraseRequired  # noqa: E402,F401
from v23py.security._caveats import register_caveat_loader  # noqa: E402


# The access-tag caveat's validator (Go links the access package almost always; without
# it, blessings carrying that caveat would fail closed everywhere) is registered by
# v23py.security.access, loaded at the first lookup of a caveat id nobody registered yet:
# a tool that only reads blessings never loads the access machinery.
def _load_access():
    # (not ``from v23py.security import access``: its check for an attribute named
    # access would call this module's __getattr__, which calls this)
    import v23py.security.access
    return _sys.modules["v23py.security.access"]


register_caveat_loader(_load_access)


if _TYPE_CHECKING:
    from v23py.security import access  # noqa: F401
    from v23py.security._discharges import impetus_for, prepare_discharges, refresh_time
else:
    def __getattr__(name):
        # ``security.access`` as before, loaded now if nothing has yet; the discharge
        # helpers (the RPC client's) loaded at their first use
        if name == "access":
            return _load_access()
        if name in ("impetus_for", "prepare_discharges", "refresh_time"):
            from v23py.security import _discharges
            value = globals()[name] = getattr(_discharges, name)
            return value
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ['PURPOSE_CERTIFICATE', 'PURPOSE_DISCHARGE', 'PURPOSE_MESSAGE', 'KEY_TYPES',
    'PublicKey', 'Signer', 'generate_private_key', 'new_ecdsa_signer', 'new_ed25519_signer',
    'new_rsa_signer', 'new_signer', 'public_key_from_der', 'verify_signature', 'Certificate',
    'CaveatDescriptor', 'DischargeImpetus', 'Hash', 'PublicKeyDischarge', 'RejectedBlessing',
    'Signature', 'ThirdPartyRequirements', 'WireBlessings', 'WireBlessingsType',
    'WireDischarge', 'WireDischargeType', 'ALL_PRINCIPALS', 'CHAIN_SEPARATOR', 'NO_EXTENSION',
    'BlessingPattern', 'join_pattern_name', 'split_pattern_name', 'Caveat', 'ConstCaveat',
    'ExpiryCaveat', 'MethodCaveat', 'NotBeforeCaveat', 'PeerBlessingsCaveat',
    'PublicKeyThirdPartyCaveat', 'ThirdPartyCaveat', 'caveat_string', 'format_caveat',
    'new_caveat', 'new_const_caveat', 'new_expiry_caveat', 'new_method_caveat',
    'new_not_before_caveat', 'new_peer_blessings_caveat', 'new_public_key_caveat',
    'register_caveat_validator', 'unconstrained_use', 'Blessings', 'blessings_from_wire',
    'decode_blessings', 'encode_blessings', 'nameless_blessing', 'union_of_blessings',
    'Authorizer', 'Call', 'Discharge', 'allow_everyone', 'authorize', 'blessing_names',
    'default_authorizer', 'default_blessing_names', 'endpoint_authorizer',
    'local_blessing_names', 'public_key_authorizer', 'remote_blessing_names',
    'signing_blessing_names', 'BlessingRoots', 'BlessingStore', 'Principal', 'add_to_roots',
    'principal_from_signer', 'random_principal', 'create_principal', 'load_principal',
    'principal_exists', 'BadPassphrase', 'PassphraseRequired', 'access']
