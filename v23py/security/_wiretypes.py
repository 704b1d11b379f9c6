"""Hand-built VDL wire types of package v.io/v23/security.

This module stands in for the code the VDL compiler will generate from
`security.vdl` (same package path, names, fields and field order).  Only
this module defines the wire types, so it can be swapped for the generated one.
"""

from v23py import vdl

PKG = "v.io/v23/security"


def _get_or_register(t, cls=None):
    """The class registered for `t`; register `cls` (or a generated class) if none."""
    have = vdl.registered_class(t)
    if have is not None and (cls is None or have is cls):
        return have
    if cls is None:
        return vdl.class_for(t)
    return vdl.register_type(t, cls)


# --- v.io/v23/uniqueid and time (VDL built-in packages used here) ---
UniqueIdType = vdl.array_of(vdl.ByteType, 16, name="v.io/v23/uniqueid.Id")
UniqueId = _get_or_register(UniqueIdType)

TimeType = vdl.struct("time.Time", [("Seconds", vdl.Int64Type), ("Nanos", vdl.Int32Type)])
WireTime = _get_or_register(TimeType)
DurationType = vdl.struct("time.Duration", [("Seconds", vdl.Int64Type), ("Nanos", vdl.Int32Type)])
WireDuration = _get_or_register(DurationType)

# --- named primitives ---
HashType = vdl.named(PKG + ".Hash", vdl.StringType)
Hash = _get_or_register(HashType)

BlessingPatternType = vdl.named(PKG + ".BlessingPattern", vdl.StringType)
# The BlessingPattern class (with matching methods) registers itself in _pattern.

NonceType = vdl.array_of(vdl.ByteType, 16, name=PKG + ".nonce")
Nonce = _get_or_register(NonceType)

# --- structs ---
SignatureType = vdl.struct(PKG + ".Signature", [
    ("Purpose", vdl.ByteListType),
    ("Hash", HashType),
    ("R", vdl.ByteListType),
    ("S", vdl.ByteListType),
    ("Ed25519", vdl.ByteListType),
    ("Rsa", vdl.ByteListType),
])


class Signature(vdl.Struct):
    """A digital signature (ECDSA R/S, Ed25519 or RSA) with its purpose and hash."""
    _vdl_type = SignatureType

    def verify(self, public_key, message):
        return public_key.verify(self, message)


vdl.register(Signature)

EcdsaOnlySignatureType = vdl.struct(PKG + ".EcdsaOnlySignature", [
    ("Purpose", vdl.ByteListType), ("Hash", HashType),
    ("R", vdl.ByteListType), ("S", vdl.ByteListType)])
EcdsaOnlySignature = _get_or_register(EcdsaOnlySignatureType)

ThirdPartyRequirementsType = vdl.struct(PKG + ".ThirdPartyRequirements", [
    ("ReportServer", vdl.BoolType),
    ("ReportMethod", vdl.BoolType),
    ("ReportArguments", vdl.BoolType),
])
ThirdPartyRequirements = _get_or_register(ThirdPartyRequirementsType)

DischargeImpetusType = vdl.struct(PKG + ".DischargeImpetus", [
    ("Server", vdl.list_of(BlessingPatternType)),
    ("Method", vdl.StringType),
    ("Arguments", vdl.list_of(vdl.AnyType)),
])
DischargeImpetus = _get_or_register(DischargeImpetusType)

CaveatType = vdl.struct(PKG + ".Caveat", [
    ("Id", UniqueIdType),
    ("ParamVom", vdl.ByteListType),
])
# The Caveat class (with validation helpers) registers itself in _caveats.

CaveatDescriptorType = vdl.struct(PKG + ".CaveatDescriptor", [
    ("Id", UniqueIdType),
    ("ParamType", vdl.TypeObjectType),
])
CaveatDescriptor = _get_or_register(CaveatDescriptorType)

CertificateType = vdl.struct(PKG + ".Certificate", [
    ("Extension", vdl.StringType),
    ("PublicKey", vdl.ByteListType),
    ("Caveats", vdl.list_of(CaveatType)),
    ("X509Raw", vdl.ByteListType),
    ("Signature", SignatureType),
])
Certificate = _get_or_register(CertificateType)

CertificateChainType = vdl.list_of(CertificateType)
WireBlessingsType = vdl.struct(PKG + ".WireBlessings", [
    ("CertificateChains", vdl.list_of(CertificateChainType)),
])
WireBlessings = _get_or_register(WireBlessingsType)

PublicKeyThirdPartyCaveatParamType = vdl.struct(PKG + ".publicKeyThirdPartyCaveatParam", [
    ("Nonce", NonceType),
    ("Caveats", vdl.list_of(CaveatType)),
    ("DischargerKey", vdl.ByteListType),
    ("DischargerLocation", vdl.StringType),
    ("DischargerRequirements", ThirdPartyRequirementsType),
])
PublicKeyThirdPartyCaveatParam = _get_or_register(PublicKeyThirdPartyCaveatParamType)

PublicKeyDischargeType = vdl.struct(PKG + ".PublicKeyDischarge", [
    ("ThirdPartyCaveatId", vdl.StringType),
    ("Caveats", vdl.list_of(CaveatType)),
    ("Signature", SignatureType),
])
PublicKeyDischarge = _get_or_register(PublicKeyDischargeType)

WireDischargeType = vdl.union(PKG + ".WireDischarge", [
    ("PublicKey", PublicKeyDischargeType),
])
WireDischarge = _get_or_register(WireDischargeType)

RejectedBlessingType = vdl.struct(PKG + ".RejectedBlessing", [
    ("Blessing", vdl.StringType),
    ("Err", vdl.ErrorType),
])
RejectedBlessing = _get_or_register(RejectedBlessingType)
