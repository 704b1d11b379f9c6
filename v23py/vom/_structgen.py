"""Struct encoders and decoders compiled to Python source, one function per struct type.

A struct's fields are the hot loop of every RPC header, Syncbase record and blessing;
a generic closure per field costs a call, a tuple and a lookup per field.  Here the
struct's own function decodes (and encodes) its primitive fields inline -- bool, ints,
strings and short ``[]byte`` -- and calls the field's compiled closure for the rest.
What it accepts and produces is exactly what the closures in ``_codec`` do (the same
checks, the same errors); ``_codec`` passes the closures in, so this module imports
neither it nor anything that imports it.

Compiling is paid once per struct type (~0.1-0.2 ms of ``compile``), which a short-lived
process that decodes a few blessings or one signature never earns back: a struct's
function first runs a generic loop over the same field closures (``_generic_dec`` /
``_generic_enc``: the same values, bytes and errors), and compiles its own code on its
``COMPILE_AFTER``-th use.  The function object stays the same -- its code is swapped in
place -- so whoever holds it (a parent struct's compiled code, a list's closure, the
type's cache) runs the compiled code from then on, with no extra call.
"""
from __future__ import annotations

import keyword
import types

from v23py.gostrings import KEEP_BYTES, UTF8
from v23py import vdl as T
from v23py.vdl import INT_RANGES, Kind, Type
from v23py.vom._binary import CONTROL_END, Truncated, dec_uint, enc_uint, error

_SOURCES: dict = {}   # (source) -> code object, shared by structs of the same shape
# zigzag-decoded ints of one byte (b < 0x80, or the byte after 0xFF)
_ZIGZAG = tuple(~(b >> 1) if b & 1 else b >> 1 for b in range(0x100))

#: Uses of a struct type's decoder (or encoder) before its own code is compiled.
COMPILE_AFTER = 32


def _compile(src: str, ns: dict, name: str):
    code = _SOURCES.get(src)
    if code is None:
        code = _SOURCES[src] = compile(src, f"<vom {name}>", "exec")
    exec(code, ns)
    return ns[name]


def _lazy(template, ns: dict, source, name: str):
    """A function running ``template`` with ``ns`` as its globals until its
    ``COMPILE_AFTER``-th call, then ``source()``'s function ``name`` (same object, new code).

    ``source()`` returns the Python source and adds to ``ns`` what that code reads."""
    fn = types.FunctionType(template.__code__, ns, name)

    def compile_now():
        if ns["_uses"] is None:   # (compiled already)
            return
        try:
            compiled = _compile(source(), ns, name)
        except Exception:   # (a bug here): the generic code is right, so keep it
            ns["_after"] = 1 << 62
            return
        ns["_uses"] = None
        fn.__code__ = compiled.__code__
    def due():
        """Count a use of the generic code; True once compiled code replaced it."""
        uses = ns["_uses"]
        uses[0] += 1
        if uses[0] < ns["_after"]:
            return False
        compile_now()
        return True
    ns["_uses"] = [0]
    ns["_after"] = COMPILE_AFTER
    ns["_compile_now"] = compile_now
    ns["_due"] = due
    ns["_self"] = fn
    if COMPILE_AFTER <= 0:
        compile_now()
    return fn


def compile_now(fn) -> None:
    """Compile a struct codec made here now, whatever its use count (tests, and callers
    that know a type is hot)."""
    c = fn.__globals__.get("_compile_now")
    if c is not None:
        c()


def is_compiled(fn) -> bool:
    return fn.__globals__.get("_uses", True) is None


# The generic codecs.  These are templates: each runs with a struct's namespace (see
# make_decoder/make_encoder) as its globals, so the names they read are that struct's.

def _generic_dec(data, pos, st):
    if _due():   # noqa: F821 (a struct's namespace)
        return _self(data, pos, st)   # noqa: F821 (now the compiled code)
    vals = list(_ZEROS)   # noqa: F821
    nf = _NF   # noqa: F821
    fdecs = _FDECS   # noqa: F821
    while True:
        b = data[pos]
        if b == _END:   # noqa: F821
            pos += 1
            break
        if b < 0x80:
            i = b
            pos += 1
        else:
            i, pos = dec_uint(data, pos)
        if i >= nf:
            raise _error('field index %d out of range for %s' % (i, _tname))   # noqa: F821
        vals[i], pos = fdecs[i](data, pos, st)
    for i in _MUTABLE:   # noqa: F821
        if vals[i] is _UNSET:   # noqa: F821
            vals[i] = _MAKERS[i]()   # noqa: F821
    obj = _new(_cls)   # noqa: F821
    for name, x in zip(_NAMES, vals):   # noqa: F821
        _set(obj, name, x)   # noqa: F821
    return obj, pos


def _generic_enc(buf, v, st):
    if _due():   # noqa: F821 (a struct's namespace)
        return _self(buf, v, st)   # noqa: F821 (now the compiled code)
    if v.__class__ is not _cls:   # noqa: F821
        v = _check(v)   # noqa: F821
    for i, name, enc, zero in _FIELDS:   # noqa: F821
        x = _getattr(v, name)   # noqa: F821
        if (x if zero is None else not zero(x)):
            if i < 0x80:
                buf.append(i)
            else:
                enc_uint(buf, i)
            enc(buf, x, st)
    buf.append(_END)   # noqa: F821


def _plain(t: Type) -> bool:
    """A field type decoded to a plain Python value (no class to wrap it in)."""
    return not t.name


def _ident(name: str) -> bool:
    return name.isidentifier() and not keyword.iskeyword(name)


# ---------------------------------------------------------------------------
# decoding

def _dec_inline(k: int, ft: Type) -> list[str] | None:
    """Source lines decoding field k of type ft at data[pos] into f{k}, or None."""
    kind = ft.kind
    if not _plain(ft):
        return None
    if kind == Kind.BOOL:
        return [f"b = data[pos]",
                f"if b > 1: raise _error('invalid bool byte 0x%02x' % b)",
                f"f{k} = b == 1",
                f"pos += 1"]
    if kind in T.INT_KINDS:
        lo, hi = INT_RANGES[kind]
        # a one-byte value (-64..63 signed, 0..127 unsigned) fits every int kind, and so
        # does one in the two-byte form 0xFF b (-128..127 signed, 0..255 unsigned)
        lines = ["b = data[pos]",
                 "if b < 0x80:",
                 f"    f{k} = _ZZ[b]" if lo < 0 else f"    f{k} = b",
                 "    pos += 1",
                 "elif b == 0xFF:",
                 f"    f{k} = _ZZ[data[pos + 1]]" if lo < 0 else f"    f{k} = data[pos + 1]",
                 "    pos += 2",
                 "else:",
                 # (the n-byte form 0x100-n, then n bytes: in line too, one slice; a bad
                 # or cut-off count goes to dec_uint, which says what is wrong)
                 "    end = pos + 257 - b",
                 "    if b >= 0xF8 and end <= size:",
                 "        u = _from_bytes(data[pos + 1:end], 'big')",
                 "        pos = end",
                 "    else:",
                 "        u, pos = dec_uint(data, pos)"]
        if lo < 0:
            lines.append("    u = ~(u >> 1) if u & 1 else u >> 1")
            lines.append(f"    if u < {lo} or u > {hi}: raise _error('value %d out of range for {kind}' % u)")
        elif hi < 0xFFFFFFFFFFFFFFFF:
            lines.append(f"    if u > {hi}: raise _error('value %d out of range for {kind}' % u)")
        lines.append(f"    f{k} = u")
        return lines
    if kind == Kind.STRING:
        return ["b = data[pos]",
                "if b < 0x80:",
                "    pos += 1",
                "    end = pos + b",
                "else:",
                "    n, pos = dec_uint(data, pos)",
                "    end = pos + n",
                "if end > size: raise _Truncated()",
                # (Go does not require UTF-8: other bytes are kept losslessly as
                # surrogates.  One decode with the handler: ~100 instructions more than
                # a strict one for UTF-8, ~6,500 fewer than a strict one failing first --
                # every sync record's object id holds such bytes)
                f"f{k} = data[pos:end].decode({UTF8!r}, {KEEP_BYTES!r})",
                "pos = end"]
    if kind == Kind.LIST and ft.elem.kind == Kind.BYTE:
        return ["b = data[pos]",
                "if b < 0x80:",
                "    end = pos + 1 + b",
                "    if end > size: raise _Truncated()",
                f"    f{k} = bytes(data[pos + 1:end])",
                "    pos = end",
                "else:",
                f"    f{k}, pos = D{k}(data, pos, st)"]
    return None


def make_decoder(t: Type, scls, fdecs, zeros, makers, unset):
    """The decoder of struct type t: ``dec(data, pos, st) -> (obj, pos)``.

    ``fdecs[i]`` decodes field i; ``zeros[i]`` is field i's shared immutable zero, or
    ``unset`` when the field's zero is mutable and ``makers[i]()`` makes a fresh one.
    """
    fields = t.fields
    nf = len(fields)
    ns = {"_new": object.__new__, "_set": object.__setattr__, "_cls": scls, "_error": error,
          "_Truncated": Truncated, "dec_uint": dec_uint, "_from_bytes": int.from_bytes,
          "_UNSET": unset,
          "_tname": t.name or "struct", "_END": CONTROL_END,
          # (the generic loop's)
          "_ZEROS": tuple(zeros), "_NF": nf, "_FDECS": tuple(fdecs), "_MAKERS": tuple(makers),
          "_MUTABLE": tuple(i for i in range(nf) if zeros[i] is unset),
          "_NAMES": tuple(f.name for f in fields)}
    return _lazy(_generic_dec, ns, lambda: _dec_source(t, ns, fdecs, zeros, makers, unset),
                 "dec_any_order" if not 0 < nf < 0x80 else "dec")


def _dec_source(t: Type, ns, fdecs, zeros, makers, unset) -> str:
    fields = t.fields
    nf = len(fields)
    ns["_ZZ"] = _ZIGZAG
    # (the inline code below reads ``size``, the data's length, computed once a call)
    lines = ["def dec_any_order(data, pos, st):", "    size = len(data)"]
    for i in range(nf):
        if zeros[i] is unset:
            lines.append(f"    f{i} = _UNSET")
        else:
            ns[f"Z{i}"] = zeros[i]
            lines.append(f"    f{i} = Z{i}")
    lines += ["    while True:",
              "        b = data[pos]",
              f"        if b == {CONTROL_END}:",
              "            pos += 1",
              "            break",
              "        if b < 0x80:",
              "            i = b",
              "            pos += 1",
              "        else:",
              "            i, pos = dec_uint(data, pos)"]
    for i, f in enumerate(fields):
        ns[f"D{i}"] = fdecs[i]
        body = _dec_inline(i, f.type) or [f"f{i}, pos = D{i}(data, pos, st)"]
        lines.append(f"        {'if' if i == 0 else 'elif'} i == {i}:")
        lines += ["            " + s for s in body]
    if nf:
        lines.append("        else:")
        pad = "            "
    else:
        pad = "        "
    lines.append(pad + "raise _error('field index %d out of range for %s' % (i, _tname))")
    tail = []
    for i in range(nf):
        if zeros[i] is unset:
            ns[f"M{i}"] = makers[i]
            tail.append(f"    if f{i} is _UNSET: f{i} = M{i}()")
    tail.append("    obj = _new(_cls)")
    direct = ns["_cls"].__setattr__ is object.__setattr__
    for i, f in enumerate(fields):
        if direct and _ident(f.name):
            tail.append(f"    obj.{f.name} = f{i}")
        else:
            ns[f"N{i}"] = f.name
            tail.append(f"    _set(obj, N{i}, f{i})")
    tail.append("    return obj, pos")
    lines += tail
    if not 0 < nf < 0x80:
        return "\n".join(lines) + "\n"
    # Encoders (Go's and ours) write the non-zero fields in order: straight-line code
    # for that order, one test per field; anything else (an old field order, a repeated
    # field, a bad index) is decoded again from the start by the loop above.
    lines += ["def dec(data, pos, st):",
              "    p0 = pos",
              "    size = len(data)",
              "    b = data[pos]"]
    for i, f in enumerate(fields):
        body = _dec_inline(i, f.type) or [f"f{i}, pos = D{i}(data, pos, st)"]
        lines += [f"    if b == {i}:",
                  "        pos += 1"]
        lines += ["        " + s for s in body]
        lines += ["        b = data[pos]",
                  "    else:",
                  f"        f{i} = {'_UNSET' if zeros[i] is unset else f'Z{i}'}"]
    lines += [f"    if b != {CONTROL_END}:",
              "        return dec_any_order(data, p0, st)",
              "    pos += 1"]
    lines += tail
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------
# encoding

def _pairs(k: int) -> tuple:
    """bytes((k, b)) for every byte b: field index k and a one-byte value (or length, or
    the 0xFF that starts a two-byte one) written with one buffer operation."""
    p = _PAIRS.get(k)
    if p is None:
        p = _PAIRS[k] = tuple(bytes((k, b)) for b in range(0x100))
    return p


_PAIRS: dict = {}   # (shared by every struct: ~9 KB per field index in use)


def _enc_inline(k: int, ft: Type, ns) -> list[str] | None:
    """Source lines writing field k (k < 0x80) -- its index, then its non-zero value x
    of type ft -- or None.  Values the inline path does not take (subclasses, out of
    range) go to field k's closure, which raises the usual errors."""
    kind = ft.kind
    other = [f"buf.append({k})", f"E{k}(buf, x, st)"]
    if kind == Kind.BOOL:
        ns[f"P{k}"] = _pairs(k)
        return ["if x is True:",
                f"    buf += P{k}[1]",
                "else:"] + ["    " + s for s in other]
    if kind in T.INT_KINDS:
        ns[f"P{k}"] = _pairs(k)
        lo, hi = INT_RANGES[kind]
        if lo < 0:
            # zigzag maps lo..hi onto 0..2*hi+1 and any other int above it
            head = ["if type(x) is int:",
                    "    u = (x << 1) if x >= 0 else (((~x) << 1) | 1)"]
            top = 2 * hi + 1
        else:
            head = [f"if type(x) is int and 0 <= x <= {hi}:",
                    "    u = x"]
            top = hi
        return head + ["    if u < 0x80:",
                       f"        buf += P{k}[u]",
                       "    elif u < 0x100:",
                       f"        buf += P{k}[0xFF]",
                       "        buf.append(u)",
                       f"    elif u <= {top}:",
                       # (the n-byte form: the index and the count 0x100-n in one step)
                       "        n = (u.bit_length() + 7) >> 3",
                       f"        buf += P{k}[256 - n]",
                       "        buf += u.to_bytes(n, 'big')",
                       "    else:"] + ["        " + s for s in other] + \
                      ["else:"] + ["    " + s for s in other]
    if kind == Kind.STRING:
        ns[f"P{k}"] = _pairs(k)
        # (bytes a decoder kept as surrogates encode here too, as the closure does: a
        # sync record's object id holds some, and a strict encode failing first cost
        # thousands of instructions; a str not encodable at all goes to the closure)
        return ["if type(x) is str:",
                "    try:",
                f"        bx = x.encode({UTF8!r}, {KEEP_BYTES!r})",
                "    except UnicodeEncodeError:"] + ["        " + s for s in other] + [
                "    else:",
                "        n = len(bx)",
                "        if n < 0x80:",
                f"            buf += P{k}[n]",
                "        else:",
                f"            buf.append({k})",
                "            enc_uint(buf, n)",
                "        buf += bx",
                "else:"] + ["    " + s for s in other]
    if kind == Kind.LIST and ft.elem.kind == Kind.BYTE:
        ns[f"P{k}"] = _pairs(k)
        return ["if type(x) is bytes and len(x) < 0x80:",
                f"    buf += P{k}[len(x)]",
                "    buf += x",
                "else:"] + ["    " + s for s in other]
    return None


# values whose truth is their zero test's answer reversed (empty or not), for fields of
# the kinds they hold
_SIZED = frozenset((list, tuple, dict, set, frozenset, bytes, bytearray))


def _nonzero(k: int, ft: Type, ns) -> str:
    """The test that field k's value x is not zero: ``not Z{k}(x)``, answered without
    the call for the common values of some kinds."""
    kind = ft.kind
    if kind in (Kind.ANY, Kind.OPTIONAL):
        # (zero: None, or a Typed any holding None)
        ns["_Typed"] = T.Typed
        return f"x is not None and (x.__class__ is not _Typed or not Z{k}(x))"
    if kind in (Kind.LIST, Kind.SET, Kind.MAP):
        ns["_SIZED"] = _SIZED
        return f"(x if x.__class__ in _SIZED else not Z{k}(x))"
    return f"not Z{k}(x)"


def make_encoder(t: Type, fencs, fzeros, check):
    """The encoder of struct type t: ``enc(buf, v, st)``, and its namespace (the caller
    sets ``ns["_cls"]``, t's class).

    ``fencs[i]`` encodes field i; ``fzeros[i]`` tests it for zero (None: a primitive,
    zero exactly when falsy); ``check(v)`` returns v as an instance of t's class (or
    raises) when v is not already one.
    """
    ns = {"_check": check, "_cls": None, "enc_uint": enc_uint, "_getattr": getattr,
          "_END": CONTROL_END,
          "_FIELDS": tuple((i, f.name, fencs[i], fzeros[i]) for i, f in enumerate(t.fields))}
    fn = _lazy(_generic_enc, ns, lambda: _enc_source(t, ns, fencs, fzeros), "enc")
    return fn, ns


def _enc_source(t: Type, ns, fencs, fzeros) -> str:
    lines = ["def enc(buf, v, st):",
             "    if v.__class__ is not _cls:",
             "        v = _check(v)"]
    for i, f in enumerate(t.fields):
        ns[f"E{i}"] = fencs[i]
        get = f"v.{f.name}" if _ident(f.name) else f"_getattr(v, N{i})"
        ns[f"N{i}"] = f.name
        lines.append(f"    x = {get}")
        head = f"buf.append({i})" if i < 0x80 else f"enc_uint(buf, {i})"
        if fzeros[i] is None:
            lines.append("    if x:")
        else:
            ns[f"Z{i}"] = fzeros[i]
            cls = T.class_for(f.type) if f.type.kind == Kind.STRUCT else None
            if cls is not None and f.type != T.WireErrorType:
                # A value of the field's own class is written, then taken back if it
                # was zero: a struct is zero exactly when its encoder wrote no field,
                # only its end byte (no zero test: the encoding answers it)
                ns[f"C{i}"] = cls
                lines += [f"    if x.__class__ is C{i}:",
                          "        p = len(buf)",
                          f"        {head}",
                          "        q = len(buf)",
                          f"        E{i}(buf, x, st)",
                          "        if len(buf) == q + 1:",
                          "            del buf[p:]",
                          f"    elif not Z{i}(x):"]
            else:
                lines.append(f"    if {_nonzero(i, f.type, ns)}:")
        body = (_enc_inline(i, f.type, ns) if i < 0x80 and (
            fzeros[i] is None or f.type.kind == Kind.LIST) else None) or [
            head, f"E{i}(buf, x, st)"]
        lines += ["        " + s for s in body]
    lines.append(f"    buf.append({CONTROL_END})")
    return "\n".join(lines) + "\n"
