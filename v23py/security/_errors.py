"""Error ids of v.io/v23/security (same ids and retry codes as Go)."""

from v23py import verror
from v23py.verror import ErrorId, NoRetry

_P = "v.io/v23/security."

CaveatNotRegistered = ErrorId(_P + "CaveatNotRegistered", NoRetry, "no validation function registered for caveat id")
CaveatParamAny = ErrorId(_P + "CaveatParamAny", NoRetry, "caveat uses illegal param type any")
CaveatParamTypeMismatch = ErrorId(_P + "CaveatParamTypeMismatch", NoRetry, "bad caveat param type")
CaveatParamCoding = ErrorId(_P + "CaveatParamCoding", NoRetry, "unable to encode/decode caveat param")
CaveatValidation = ErrorId(_P + "CaveatValidation", NoRetry, "caveat validation failed")
ConstCaveatValidation = ErrorId(_P + "ConstCaveatValidation", NoRetry, "false const caveat always fails validation")
ExpiryCaveatValidation = ErrorId(_P + "ExpiryCaveatValidation", NoRetry, "expiry caveat failed")
NotBeforeCaveatValidation = ErrorId(_P + "NotBeforeCaveatValidation", NoRetry, "not-before caveat failed")
MethodCaveatValidation = ErrorId(_P + "MethodCaveatValidation", NoRetry, "method caveat failed")
PeerBlessingsCaveatValidation = ErrorId(_P + "PeerBlessingsCaveatValidation", NoRetry, "peer blessings caveat failed")
UnrecognizedRoot = ErrorId(_P + "UnrecognizedRoot", NoRetry, "unrecognized root")
AuthorizationFailed = ErrorId(_P + "AuthorizationFailed", NoRetry, "authorization failed")
InvalidSigningBlessingCaveat = ErrorId(_P + "InvalidSigningBlessingCaveat", NoRetry, "blessing unsuitable for signing")
PublicKeyNotAllowed = ErrorId(_P + "PublicKeyNotAllowed", NoRetry, "public key not allowed")
EndpointAuthorizationFailed = ErrorId(_P + "EndpointAuthorizationFailed", NoRetry, "endpoint authorization failed")

# Errors from x/ref/lib/security (Go: verror.NewID adds the package path).
BadPassphrase = ErrorId("v.io/x/ref/lib/security.errBadPassphrase", NoRetry, "bad passphrase")
PassphraseRequired = ErrorId("v.io/x/ref/lib/security.errPassphraseRequired", NoRetry, "passphrase required")

VError = verror.VError
BadArg = verror.BadArg
NoExist = verror.NoExist
Exist = verror.Exist
NoAccess = verror.NoAccess
Internal = verror.Internal


def fail(msg):
    """A plain failure (Go's fmt.Errorf), as a VError with id Unknown."""
    return verror.Unknown.new(msg)
