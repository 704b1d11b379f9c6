"""Finding the BlobRefs inside a row value (Go's extractBlobRefs, in our words).

A value holds a blob reference where a value of type
``v.io/v23/services/syncbase.BlobRef`` appears: as a field, element, key,
union arm or inside ``any`` / optional.  Whether a *type* can hold one at all
is decided once per type and cached, so values of plain types (strings,
numbers, structs of those) cost one dictionary lookup.
"""
from __future__ import annotations

from v23py import vdl, vom
from v23py.v23.services import syncbase as sbwire
K = vdl.Kind
BLOB_REF_TYPE = sbwire.BlobRef._vdl_type
MAX_DEPTH = 64
_may_hold: dict = {}


def _type_may_hold(t, seen=None) -> bool:
    r = _may_hold.get(t)
    if r is not None:
        return r
    if t == BLOB_REF_TYPE:
        r = True
    elif t.kind in (K.ANY, K.TYPEOBJECT):
        r = t.kind == K.ANY
    elif t.kind in (K.STRUCT, K.UNION, K.LIST, K.ARRAY, K.MAP, K.SET, K.OPTIONAL):
        seen = set() if seen is None else seen
        if t in seen:          # a recursive type: decided by the outer call
            return False
        seen.add(t)
        subs = []
        if t.kind in (K.STRUCT, K.UNION):
            subs = [f.type for f in t.fields]
        else:
            if t.kind in (K.MAP, K.SET):
                subs.append(t.key)
            if t.kind != K.SET:
                subs.append(t.elem)
        r = any(_type_may_hold(s, seen) for s in subs if s is not None)
    else:
        r = False
    if len(_may_hold) < 10000:
        _may_hold[t] = r
    return r


def blob_refs(value) -> set:
    """The non-empty BlobRefs in a decoded VDL value or a vom.RawBytes, as a received
    record's value is (never raises)."""
    out: set = set()
    try:
        if value.__class__ is vom.RawBytes:
            t = value.type
            if t is vdl.StringType or not _type_may_hold(t):   # (the type says: none)
                return out
            value = value.value()
        t = vdl.type_of(value)
        if _type_may_hold(t):
            _walk(value, t, out, 0)
    except Exception:      # an odd value: no refs rather than a broken sync round
        pass
    return out


def _walk(v, t, out, depth):
    if v is None or depth > MAX_DEPTH:
        return
    if isinstance(v, vdl.Typed):
        v = v.value
    if t == BLOB_REF_TYPE:
        s = str(v)
        if s:
            out.add(s)
        return
    k = t.kind
    if k == K.ANY:
        it = vdl.type_of(v)
        if it is not None and it.kind != K.ANY and _type_may_hold(it):
            _walk(v, it, out, depth + 1)
        return
    if not _type_may_hold(t):
        return
    if k == K.OPTIONAL:
        _walk(v, t.elem, out, depth + 1)
    elif k == K.STRUCT:
        for f in t.fields:
            if _type_may_hold(f.type):
                _walk(getattr(v, f.name, None), f.type, out, depth + 1)
    elif k == K.UNION:
        name = getattr(v, "name", None)
        for f in t.fields:
            if f.name == name:
                _walk(getattr(v, "value", None), f.type, out, depth + 1)
                break
    elif k in (K.LIST, K.ARRAY):
        for x in v:
            _walk(x, t.elem, out, depth + 1)
    elif k == K.SET:
        for x in v:
            _walk(x, t.key, out, depth + 1)
    elif k == K.MAP:
        hk, hv = _type_may_hold(t.key), _type_may_hold(t.elem)
        for key, x in dict(v).items():
            if hk:
                _walk(key, t.key, out, depth + 1)
            if hv:
                _walk(x, t.elem, out, depth + 1)
