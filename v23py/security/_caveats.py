"""Caveats: descriptors, the validator registry and the standard validators.

A caveat is (16-byte id, VOM-encoded parameter).  Validation looks the id up
in a registry; an id nobody registered fails (closed), as in Go.  The
standard validators (const, expiry, not-before, method, peer blessings,
public-key third-party) are registered at import time; the access-tag validator by
``v23py.security.access``, which ``v23py.security`` loads at the first lookup of an
id not registered yet (``register_caveat_loader``).
"""

from _thread import RLock as _RLock
from _thread import allocate_lock as _allocate_lock

from v23py import vdl
from v23py.gostrings import go_bytes
from v23py.v23.vdlroot.time import native as vtime
from v23py.v23.vdlroot.time.native import UNIX_EPOCH_SECONDS
from v23py.security import _errors
from v23py.v23 import security as _G
from v23py.security._wiretypes import (
    PublicKeyThirdPartyCaveatParamType, TimeType, PublicKeyThirdPartyCaveatParam,
    ThirdPartyRequirements)

MAX_PARAM_VOM = 1 << 20


def _vom():
    from v23py import vom
    return vom


# --- time.Time <-> datetime ---
# (datetime is imported where a time is converted: reading credentials and printing
# blessing names never does, and short-lived tools should not pay for loading it)

def _unix_epoch():
    import datetime
    return datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def to_wire_time(dt):
    """A VDL time.Time; a naive datetime is taken as UTC."""
    import datetime
    return vtime.time_from_datetime(
        dt if dt.tzinfo is not None else dt.replace(tzinfo=datetime.timezone.utc))


def from_wire_time(wt):
    import datetime
    secs = int(wt.Seconds) - UNIX_EPOCH_SECONDS
    nanos = int(wt.Nanos)
    try:
        return _unix_epoch() + datetime.timedelta(seconds=secs, microseconds=nanos // 1000)
    except OverflowError:
        return (datetime.datetime.max if secs > 0 else datetime.datetime.min).replace(
            tzinfo=datetime.timezone.utc)


def now():
    import datetime
    return datetime.datetime.now(datetime.timezone.utc)


# --- descriptors ---

# The standard descriptors, as declared in security.vdl.
ConstCaveat = _G.ConstCaveat
ExpiryCaveat = _G.ExpiryCaveat
NotBeforeCaveat = _G.NotBeforeCaveat
MethodCaveat = _G.MethodCaveat
PublicKeyThirdPartyCaveat = _G.PublicKeyThirdPartyCaveat
PeerBlessingsCaveat = _G.PeerBlessingsCaveat


class Caveat(_G.Caveat):
    """A condition on a blessing or discharge: (Id, ParamVom)."""
    __slots__ = ()

    def validate(self, call):
        """Raise a VError unless the caveat holds for ``call``."""
        _registry.validate(self, call)

    def param(self):
        """The decoded parameter (for registered ids), else raise."""
        entry = _registry.lookup(bytes(self.Id))
        if entry is None:
            raise _errors.CaveatNotRegistered.new(
                "no validation function registered for caveat id: %s" % bytes(self.Id).hex())
        return _decode_param(self, entry[0])

    def third_party_details(self):
        """A ThirdPartyCaveat view for a public-key third-party caveat, else None."""
        if bytes(self.Id) != bytes(PublicKeyThirdPartyCaveat.Id):
            return None
        try:
            p = _decode_param(self, PublicKeyThirdPartyCaveatParamType)
        except _errors.VError:
            p = PublicKeyThirdPartyCaveatParam()
        return ThirdPartyCaveat(p)

    def expiry(self):
        """The expiry time of an expiry caveat, else None."""
        if bytes(self.Id) != bytes(ExpiryCaveat.Id):
            return None
        try:
            return from_wire_time(_decode_param(self, TimeType))
        except _errors.VError:
            return None

    def digest(self, hfn):
        return hfn(hfn(bytes(self.Id)).digest() + hfn(bytes(self.ParamVom)).digest()).digest()

    def __str__(self):
        return caveat_string(self)


vdl.register_type(Caveat._vdl_type, Caveat)


_PARAM_CACHE = {}
_PARAM_CACHE_MAX = 512


def _decode_param(cav, param_type):
    data = bytes(cav.ParamVom)
    key = (param_type, data)
    hit = _PARAM_CACHE.get(key)
    if hit is not None:
        return hit
    v = _decode_param_uncached(cav, param_type, data)
    if len(_PARAM_CACHE) >= _PARAM_CACHE_MAX:
        _PARAM_CACHE.clear()
    if not isinstance(v, (list, dict, set)):   # only immutable-enough values are shared
        _PARAM_CACHE[key] = v
    else:
        _PARAM_CACHE[key] = tuple(v) if isinstance(v, list) else v
        v = _PARAM_CACHE[key]
    return v


def _decode_param_uncached(cav, param_type, data):
    if len(data) > MAX_PARAM_VOM:
        raise _errors.CaveatParamCoding.new("caveat param too large (%d bytes)" % len(data))
    try:
        return _vom().decode(data, param_type)
    except Exception as e:  # any decoding failure is a coding error
        raise _errors.CaveatParamCoding.new(
            "unable to decode caveat param(type=%s) for caveat %s: %s"
            % (param_type, bytes(cav.Id).hex(), e)) from None


def new_caveat(descriptor, param):
    """A caveat for ``descriptor`` with ``param`` (converted to the descriptor's param type)."""
    ptype = descriptor.ParamType
    try:
        value = vdl.convert(ptype, param)
        data = _vom().encode(value, ptype)
    except Exception as e:
        raise _errors.CaveatParamCoding.new(
            "unable to encode caveat param(type=%s) for caveat %s: %s"
            % (ptype, bytes(descriptor.Id).hex(), e)) from None
    return Caveat(Id=descriptor.Id, ParamVom=data)


_UNCONSTRAINED = None


def unconstrained_use():
    global _UNCONSTRAINED
    if _UNCONSTRAINED is None:
        _UNCONSTRAINED = new_caveat(ConstCaveat, True)
    return _UNCONSTRAINED


def new_const_caveat(valid):
    return new_caveat(ConstCaveat, bool(valid))


def new_expiry_caveat(when):
    """``when``: an aware datetime, or a timedelta from now."""
    import datetime
    if isinstance(when, datetime.timedelta):
        when = now() + when
    return new_caveat(ExpiryCaveat, to_wire_time(when))


def new_not_before_caveat(when):
    import datetime
    if isinstance(when, datetime.timedelta):
        when = now() + when
    return new_caveat(NotBeforeCaveat, to_wire_time(when))


def new_method_caveat(method, *additional):
    return new_caveat(MethodCaveat, list(additional) + [method])


def new_peer_blessings_caveat(pattern, *additional):
    return new_caveat(PeerBlessingsCaveat, [pattern] + list(additional))


def new_public_key_caveat(discharger, location, requirements, caveat, *additional):
    """A third-party caveat dischargeable by the principal with key ``discharger``."""
    import os
    param = PublicKeyThirdPartyCaveatParam(
        Nonce=os.urandom(16), Caveats=list(additional) + [caveat],
        DischargerKey=discharger.der, DischargerLocation=location,
        DischargerRequirements=requirements or ThirdPartyRequirements())
    return new_caveat(PublicKeyThirdPartyCaveat, param)


# --- third-party caveats and discharges ---

class ThirdPartyCaveat:
    """The public-key third-party caveat parameter, with Go's ID()."""

    def __init__(self, param):
        self.param = param

    def discharger_key(self):
        from v23py.security._keys import public_key_from_der, KeyError_
        try:
            return public_key_from_der(bytes(self.param.DischargerKey))
        except KeyError_ as e:
            raise _errors.fail("invalid third-party caveat: failed to unmarshal discharger's "
                               "public key: %s" % e) from None

    def id(self):
        try:
            key = self.discharger_key()
        except _errors.VError:
            return ""
        import base64
        h = key.hash
        data = h(bytes(self.param.Nonce)).digest() + h(bytes(self.param.DischargerKey)).digest()
        for cav in self.param.Caveats:
            data += _as_caveat(cav).digest(h)
        return base64.b64encode(h(data).digest()).decode("ascii")

    def location(self):
        return self.param.DischargerLocation

    def requirements(self):
        return self.param.DischargerRequirements

    def dischargeable(self, call):
        for cav in self.param.Caveats:
            _as_caveat(cav).validate(call)

    def __str__(self):
        r = self.requirements()
        return "%s@%s [{ReportServer:%s ReportMethod:%s ReportArguments:%s}]" % (
            self.id(), self.location(), _gobool(r.ReportServer), _gobool(r.ReportMethod),
            _gobool(r.ReportArguments))


def _gobool(b):
    return "true" if b else "false"


def _as_caveat(c):
    return c if isinstance(c, Caveat) else Caveat(Id=c.Id, ParamVom=c.ParamVom)


def discharge_digest(d, hfn):
    msg = hfn(go_bytes(d.ThirdPartyCaveatId)).digest()
    for cav in d.Caveats:
        msg += _as_caveat(cav).digest(hfn)
    return hfn(msg).digest()


# --- registry ---

class _Registry:
    def __init__(self):
        self._lock = _allocate_lock()
        self._by_id = {}
        self._loaders = []
        self._loading = _RLock()    # (a lookup made while a loader runs, in its thread)

    def add_loader(self, load):
        """load() imports a module that registers validators; it runs at the first lookup
        of an id not registered yet (before that id is called unregistered)."""
        with self._loading:
            self._loaders.append(load)

    def register(self, descriptor, validator):
        """validator(call, param) -> None or raise/return an error."""
        key = bytes(descriptor.Id)
        with self._lock:
            if key in self._by_id:
                raise _errors.fail("caveat with UUID %s registered twice" % key.hex())
            self._by_id[key] = (descriptor.ParamType, validator)

    def lookup(self, key):
        entry = self._by_id.get(key)
        if entry is None:
            # Another thread's miss may be running the loaders: wait for it to finish.
            with self._loading:
                while self._loaders:
                    self._loaders.pop(0)()
            entry = self._by_id.get(key)
        return entry

    def validate(self, cav, call):
        key = bytes(cav.Id)
        entry = self.lookup(key)
        if entry is None:
            raise _errors.CaveatNotRegistered.new(
                "no validation function registered for caveat id: %s" % key.hex())
        param = _decode_param(cav, entry[0])
        try:
            err = entry[1](call, param)
        except _errors.VError as e:
            err = e
        except Exception as e:  # a validator bug must not let the caveat pass
            err = _errors.fail(str(e) or type(e).__name__)
        if err is not None:
            raise _errors.CaveatValidation.new("caveat validation failed: %s" % err,
                                               str(err)) from None


_registry = _Registry()


def register_caveat_validator(descriptor, validator):
    _registry.register(descriptor, validator)


def register_caveat_loader(load):
    """Validators registered by a module loaded on first need: ``load()`` imports it, at
    the first lookup of a caveat id that is not registered yet (every lookup -- validation,
    a parameter's decoding, a caveat's string -- sees it registered)."""
    _registry.add_loader(load)


def _const(call, valid):
    if not valid:
        return _errors.ConstCaveatValidation.new("false const caveat always fails validation")
    return None


def _call_time(call):
    t = getattr(call, "timestamp", None)
    return t if t is not None else now()


def _expiry(call, wt):
    current = _call_time(call)
    expiry = from_wire_time(wt)
    if current > expiry:
        return _errors.ExpiryCaveatValidation.new(
            "now(%s) is after expiry(%s)" % (format_time(current), format_time(expiry)))
    return None


def _not_before(call, wt):
    current = _call_time(call)
    start = from_wire_time(wt)
    if not current > start:
        return _errors.ExpiryCaveatValidation.new(
            "now(%s) is not before(%s)" % (format_time(current), format_time(start)))
    return None


def _method(call, methods):
    m = getattr(call, "method", "")
    if m in list(methods):
        return None
    return _errors.MethodCaveatValidation.new("method %s not in list [%s]" % (m, " ".join(methods)))


def _peer_blessings(call, patterns):
    from v23py.security._call import local_blessing_names
    from v23py.security._pattern import BlessingPattern
    lnames = local_blessing_names(call)
    for p in patterns:
        if BlessingPattern(p).matched_by(*lnames):
            return None
    return _errors.PeerBlessingsCaveatValidation.new(
        "patterns in peer blessings caveat [%s] not matched by the peer [%s]"
        % (" ".join(patterns), " ".join(lnames)))


def _public_key_third_party(call, param):
    tp = ThirdPartyCaveat(param)
    tpid = tp.id()
    discharges = getattr(call, "remote_discharges", None) or {}
    d = discharges.get(tpid) if isinstance(discharges, dict) else None
    if d is None and not isinstance(discharges, dict):
        for x in discharges:
            if x.id() == tpid:
                d = x
                break
    if d is None:
        return _errors.fail("missing discharge for third party caveat(id=%s)" % tpid)
    wire = d.wire if hasattr(d, "wire") else d
    if getattr(wire, "name", "") != "PublicKey":
        return _errors.fail("invalid discharge for caveat")
    pkd = wire.value
    key = tp.discharger_key()
    from v23py.security._keys import PURPOSE_DISCHARGE
    if bytes(pkd.Signature.Purpose) != PURPOSE_DISCHARGE:
        return _errors.fail("signature on discharge for caveat %s was not intended for "
                            "discharges" % tpid)
    if not key.verify(pkd.Signature, discharge_digest(pkd, key.hash)):
        return _errors.fail("signature verification on discharge for caveat %s failed" % tpid)
    for cav in pkd.Caveats:
        try:
            _as_caveat(cav).validate(call)
        except _errors.VError as e:
            return _errors.fail("a caveat on the discharge failed to validate: %s" % e)
    return None


register_caveat_validator(ConstCaveat, _const)
register_caveat_validator(ExpiryCaveat, _expiry)
register_caveat_validator(NotBeforeCaveat, _not_before)
register_caveat_validator(MethodCaveat, _method)
register_caveat_validator(PeerBlessingsCaveat, _peer_blessings)
register_caveat_validator(PublicKeyThirdPartyCaveat, _public_key_third_party)

_GO_PARAM_TYPES = {
    bytes(ConstCaveat.Id): "bool",
    bytes(ExpiryCaveat.Id): "time.Time",
    bytes(NotBeforeCaveat.Id): "time.Time",
    bytes(MethodCaveat.Id): "[]string",
    bytes(PeerBlessingsCaveat.Id): "[]security.BlessingPattern",
    bytes(PublicKeyThirdPartyCaveat.Id): "security.publicKeyThirdPartyCaveatParam",
}


def register_caveat_go_type(descriptor, go_type_name):
    _GO_PARAM_TYPES[bytes(descriptor.Id)] = go_type_name


def format_wire_time(wt):
    """Go's time.Time String() of a VDL time (UTC): '2006-01-02 15:04:05.999999999 +0000 UTC'."""
    secs = int(wt.Seconds) - UNIX_EPOCH_SECONDS
    nanos = int(wt.Nanos)
    secs += nanos // 1000000000
    nanos %= 1000000000
    try:
        import datetime
        dt = _unix_epoch() + datetime.timedelta(seconds=secs)
        s = dt.strftime("%Y-%m-%d %H:%M:%S")
        if dt.year < 1000:
            s = "%04d" % dt.year + s[s.index("-"):]
    except OverflowError:
        return "<time out of range>"
    if nanos:
        s += ("." + "%09d" % nanos).rstrip("0")
    return s + " +0000 UTC"


def format_time(dt):
    return format_wire_time(to_wire_time(dt))


def _go_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return "[" + " ".join(_go_value(x) for x in v) + "]"
    if getattr(type(v), "_vdl_type", None) == TimeType:
        return format_wire_time(v)
    return str(v)


def caveat_string(cav):
    """Go's Caveat.String(): 0x<id hex>(<Go type>=<value>) or (<n> bytes of param)."""
    key = bytes(cav.Id)
    entry = _registry.lookup(key)     # (first: it may load the module that names the type)
    gotype = _GO_PARAM_TYPES.get(key)
    if gotype and entry is not None:
        try:
            param = _decode_param(cav, entry[0])
            if key == bytes(PublicKeyThirdPartyCaveat.Id):
                return "0x%s(%s=%s)" % (key.hex(), gotype, ThirdPartyCaveat(param))
            return "0x%s(%s=%s)" % (key.hex(), gotype, _go_value(param))
        except _errors.VError:
            pass
    return "0x%s(%d bytes of param)" % (key.hex(), len(bytes(cav.ParamVom)))


def format_caveat(cav):
    """One line per caveat as ``principal get ... -caveats=CHAIN`` prints it."""
    key = bytes(cav.Id)
    if key == bytes(PublicKeyThirdPartyCaveat.Id):
        tp = cav.third_party_details()
        return 'ThirdPartyCaveat: Requires discharge from %s (ID="%s")' % (tp.location(), tp.id())
    if key == bytes(ConstCaveat.Id):
        return "Always validates" if _decode_param(cav, vdl.BoolType) else "Never validates"
    if key == bytes(ExpiryCaveat.Id):
        return "Expires at %s" % format_wire_time(_decode_param(cav, TimeType))
    if key == bytes(MethodCaveat.Id):
        return "Restricted to methods %s" % _go_value(_decode_param(cav, MethodCaveat.ParamType))
    if key == bytes(PeerBlessingsCaveat.Id):
        return "Restricted to peers with blessings %s" % _go_value(
            _decode_param(cav, PeerBlessingsCaveat.ParamType))
    return caveat_string(cav)
