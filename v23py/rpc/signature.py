"""Interface signatures (``signature.Interface`` values) and their VDL-text form.

* :func:`from_descs` turns ``v23py.rpc.model.InterfaceDesc`` lists into
  the ``[]signature.Interface`` that ``__Signature`` returns, following Go's
  rules (methods sorted by name, out-args without the final error, streams
  as args without names, methodless interfaces dropped).
* :func:`clean_interfaces` merges entries of the same interface.
* :func:`print_interface`, :func:`print_method`, :class:`NamedTypes`,
  :func:`typed_const` print signatures and values the way Go's ``vrpc`` does.
"""
import math
import struct as _struct

from v23py.rpc import wire
from v23py.v23.vdlroot import signature

EMPTY_INTERFACE_DOC = "The empty interface contains methods not attached to any interface."

RESERVED_DOC = ('Reserved methods implemented by the RPC framework.  Each method name is '
                'prefixed with a double underscore "__".')


def _sarg(name, doc, t):
    return signature.Arg(Name=name, Doc=doc, Type=t)


def reserved_methods(prefix=""):
    """signature.Method values of the reserved methods, sorted by name."""
    from v23py import vdl
    M = signature.Method
    return [
        M(Name=prefix + "Glob", Doc="Glob returns all entries matching the pattern.",
          InArgs=[_sarg("pattern", "", vdl.StringType)], OutArgs=[],
          InStream=_sarg("", "", vdl.AnyType),
          OutStream=_sarg("", "Streams matching entries back to the client.", vdl.AnyType),
          Tags=[]),
        M(Name=prefix + "MethodSignature",
          Doc="MethodSignature returns the signature for the given method.",
          InArgs=[_sarg("method", "Method name whose signature will be returned.",
                        vdl.StringType)],
          OutArgs=[_sarg("", "Method signature for the given method.", wire.SigMethodType)],
          InStream=None, OutStream=None, Tags=[]),
        M(Name=prefix + "Signature",
          Doc="Signature returns all interface signatures implemented by the object.",
          InArgs=[], OutArgs=[_sarg("", "All interface signatures implemented by the object.",
                                    wire.SigInterfaceListType)],
          InStream=None, OutStream=None, Tags=[]),
    ]


def reserved_interface():
    """The ``__Reserved`` signature.Interface appended to every ``__Signature`` reply."""
    return signature.Interface(Name="__Reserved", PkgPath="", Doc=RESERVED_DOC, Embeds=[],
                                  Methods=reserved_methods("__"))


def _arg(a):
    from v23py import vdl
    return signature.Arg(Name=a.name, Doc=a.doc, Type=a.type if a.type is not None
                            else vdl.AnyType)


def _stream(t):
    if t is None:
        return None
    if hasattr(t, "kind"):
        return signature.Arg(Name="", Doc="", Type=t)
    return _arg(t)


def method_from_desc(m, prefix=""):
    """signature.Method value for one MethodDesc."""
    tags = []
    for tag in m.tags:
        tags.append(tag)
    return signature.Method(
        Name=prefix + m.name, Doc=m.doc,
        InArgs=[_arg(a) for a in m.in_args], OutArgs=[_arg(a) for a in m.out_args],
        InStream=_stream(m.in_stream), OutStream=_stream(m.out_stream),
        Tags=tags)


def from_descs(descs, prefix=""):
    """[]signature.Interface for the descriptions (dropping those without methods)."""
    out = []
    Iface, Embed = signature.Interface, signature.Embed
    for d in descs:
        if not d.methods:
            continue
        methods = sorted((method_from_desc(m, prefix) for m in d.methods),
                         key=lambda m: m.Name.encode())
        out.append(Iface(Name=d.name, PkgPath=d.pkg_path, Doc=d.doc,
                         Embeds=[Embed(Name=e.name, PkgPath=e.pkg_path, Doc=e.doc)
                                 for e in d.embeds],
                         Methods=methods))
    return out


def clean_interfaces(ifaces):
    """Merge interfaces with the same PkgPath.Name (first-seen order), dedup, sort methods."""
    Iface = signature.Interface
    order, merged = [], {}
    for iface in ifaces:
        key = iface.PkgPath + "." + iface.Name
        cur = merged.get(key)
        if cur is None:
            cur = merged[key] = {"Name": iface.Name, "PkgPath": iface.PkgPath, "Doc": iface.Doc,
                                 "Embeds": [], "Methods": {}, "embed_keys": set()}
            order.append(key)
        elif not cur["Doc"]:
            cur["Doc"] = iface.Doc
        for e in iface.Embeds:
            ek = e.PkgPath + "." + e.Name
            if ek not in cur["embed_keys"]:
                cur["embed_keys"].add(ek)
                cur["Embeds"].append(e)
        for m in iface.Methods:
            cur["Methods"].setdefault(m.Name, m)
    out = []
    for key in order:
        c = merged[key]
        out.append(Iface(Name=c["Name"], PkgPath=c["PkgPath"], Doc=c["Doc"], Embeds=c["Embeds"],
                         Methods=[c["Methods"][n] for n in sorted(c["Methods"], key=str.encode)]))
    return out


# ---------------------------------------------------------------------------
# VDL text, as Go's vdlgen prints it (used by vrpc)
# ---------------------------------------------------------------------------

def split_ident(name):
    """'a/b.C' -> ('a/b', 'C'); 'C' -> ('', 'C')."""
    i = name.rfind(".")
    slash = name.rfind("/")
    if i < 0 or i < slash:
        return "", name
    return name[:i], name[i + 1:]


def _qualified(pkg, name):
    if not pkg:
        return name or "<empty>"
    return go_quote(pkg) + "." + name


def type_string(t):
    if t.name:
        path, name = split_ident(t.name)
        if not path and not name:
            return "<empty>"
        if not path:
            return name
        return go_quote(path) + "." + name
    return base_type_string(t)


def base_type_string(t):
    from v23py import vdl
    K = vdl.Kind
    if t == vdl.ErrorType:
        return "error"
    k = t.kind
    if k == K.OPTIONAL:
        return "?" + type_string(t.elem)
    if k == K.ENUM:
        return "enum{" + ";".join(t.labels) + "}"
    if k == K.ARRAY:
        return f"[{t.len}]{type_string(t.elem)}"
    if k == K.LIST:
        return "[]" + type_string(t.elem)
    if k == K.SET:
        return f"set[{type_string(t.key)}]"
    if k == K.MAP:
        return f"map[{type_string(t.key)}]{type_string(t.elem)}"
    if k in (K.STRUCT, K.UNION):
        s = ("struct" if k == K.STRUCT else "union") + " {\n"
        for f in t.fields:
            s += "\t%s %s\n" % (f.name, type_string(f.type).replace("\n", "\n\t"))
        return s + "}"
    return _kind_name(k)


def _kind_name(k):
    return k.name.lower()


class NamedTypes:
    """Collects the named types seen while printing, then prints their definitions."""

    def __init__(self):
        self.types = {}

    def add(self, t):
        if t is None:
            return
        for x in t.walk():
            if x.name:
                self.types[x] = True

    def print(self, out):
        def key(t):
            return split_ident(t.name)
        for t in sorted(self.types, key=key):
            path, name = split_ident(t.name)
            out.write("\ntype %s %s\n" % (_qualified(path, name), base_type_string(t)))


def _doc(out, doc):
    if not doc:
        return
    if not doc.startswith("//"):
        out.write("// " + doc + "\n")
    else:
        out.write(doc + "\n")


class _Indent:
    def __init__(self, out):
        self.out = out

    def write(self, s):
        self.out.write(s.replace("\n", "\n\t"))


def print_interface(out, iface, types):
    _doc(out, iface.Doc)
    out.write("type %s interface {" % _qualified(iface.PkgPath, iface.Name))
    ind = _Indent(out)
    for e in iface.Embeds:
        ind.write("\n")
        _doc(ind, e.Doc)
        ind.write(_qualified(e.PkgPath, e.Name))
    for m in iface.Methods:
        ind.write("\n")
        print_method(ind, m, types)
    out.write("\n}")


def _arg_str(a, types):
    types.add(a.Type)
    return (a.Name + " " if a.Name else "") + type_string(a.Type)


def _stream_str(a, types):
    if a is None:
        return "_"
    types.add(a.Type)
    return type_string(a.Type)


def print_method(out, m, types):
    _doc(out, m.Doc)
    ins = ", ".join(_arg_str(a, types) for a in m.InArgs)
    streams = ""
    if m.InStream is not None or m.OutStream is not None:
        streams = " stream<%s, %s>" % (_stream_str(m.InStream, types),
                                       _stream_str(m.OutStream, types))
    if not m.OutArgs:
        outs = " error"
    else:
        outs = " (%s | error)" % ", ".join(_arg_str(a, types) for a in m.OutArgs)
    tags = ""
    if m.Tags:
        parts = []
        for tag in m.Tags:
            from v23py import vdl
            t, v = vdl.unwrap(tag)
            types.add(t)
            parts.append(typed_const(t, v))
        tags = " {%s}" % ", ".join(parts)
    out.write("%s(%s)%s%s%s" % (m.Name, ins, streams, outs, tags))


# -- values ------------------------------------------------------------------

def go_quote(s):
    """Go's strconv.Quote (for str, or bytes treated as a Go string)."""
    out = ['"']
    if isinstance(s, (bytes, bytearray)):
        data = bytes(s)
        i = 0
        while i < len(data):
            # decode one UTF-8 rune or emit \x for a bad byte
            for n in (1, 2, 3, 4):
                try:
                    ch = data[i:i + n].decode("utf-8")
                    break
                except UnicodeDecodeError:
                    ch = None
            if ch is None or len(ch) != 1:
                out.append("\\x%02x" % data[i])
                i += 1
                continue
            out.append(_quote_rune(ch))
            i += n
    else:
        for ch in s:
            out.append(_quote_rune(ch))
    out.append('"')
    return "".join(out)


_ESC = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t",
        "\v": "\\v", "\\": "\\\\", '"': '\\"'}


def _quote_rune(ch):
    e = _ESC.get(ch)
    if e:
        return e
    o = ord(ch)
    if 0xD800 <= o <= 0xDFFF:
        return "\\ufffd"
    if ch == " " or (ch.isprintable() and o != 0x7F):
        return ch
    if o < 0x80 or o < 0x100 and o < 0x20:
        return "\\x%02x" % o
    if o < 0x10000:
        return "\\u%04x" % o
    return "\\U%08x" % o


def format_float(x, bits=64):
    """Go's strconv.FormatFloat(x, 'g', -1, bits)."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    if x == 0:
        return "-0" if math.copysign(1, x) < 0 else "0"
    neg = x < 0
    ax = -x if neg else x
    if bits == 32:
        f32 = _struct.unpack("f", _struct.pack("f", ax))[0]
        for p in range(1, 10):
            s = "%.*e" % (p - 1, f32)
            if _struct.unpack("f", _struct.pack("f", float(s)))[0] == f32:
                break
    else:
        s = "%.*e" % (16, ax)
        for p in range(1, 18):
            s2 = "%.*e" % (p - 1, ax)
            if float(s2) == ax:
                s = s2
                break
    mant, exp = s.split("e")
    exp = int(exp)
    digits = mant.replace(".", "").rstrip("0") or "0"
    if exp < -4 or exp >= 6:
        r = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        r += "e%s%02d" % ("-" if exp < 0 else "+", abs(exp))
    else:
        dp = exp + 1  # digits before the decimal point
        if dp <= 0:
            r = "0." + "0" * (-dp) + digits
        elif dp >= len(digits):
            r = digits + "0" * (dp - len(digits))
        else:
            r = digits[:dp] + "." + digits[dp:]
    return ("-" if neg else "") + r


def _is_zero(t, v):
    from v23py import vdl
    if v is None:
        return True
    try:
        return v == vdl.zero(t)
    except Exception:
        return False


def typed_const(t, v):
    """Go's vdlgen.TypedConst for value v of type t."""
    from v23py import vdl
    K = vdl.Kind
    if t is None:
        return "nil"
    if isinstance(v, vdl.Typed):
        t, v = v.type, v.value
    k = t.kind
    ts = type_string(t)
    if k == K.ANY:
        if v is None:
            return "nil"
        it, iv = vdl.unwrap(v)
        return typed_const(it, iv)
    if k == K.OPTIONAL:
        if v is None:
            return ts + "(nil)"
        return ts + untyped_const(t.elem, v)
    vs = untyped_const(t, v)
    if k == K.TYPEOBJECT or t == vdl.BoolType or t == vdl.StringType:
        return vs
    if k in (K.ARRAY, K.LIST, K.SET, K.MAP, K.STRUCT, K.UNION):
        if not t.is_bytes():
            return ts + vs
    elif k == K.ENUM:
        return ts + "." + vs if t.name else vs
    return ts + "(" + vs + ")"


def untyped_const(t, v):
    from v23py import vdl
    K = vdl.Kind
    if isinstance(v, vdl.Typed) and t.kind not in (K.ANY,):
        v = v.value
    k = t.kind
    if t.is_bytes():
        return go_quote(bytes(v or b""))
    if k == K.ANY:
        if v is None:
            return "nil"
        it, iv = vdl.unwrap(v)
        return typed_const(it, iv)
    if k == K.OPTIONAL:
        if v is None:
            return "nil"
        return untyped_const(t.elem, v)
    if k == K.BOOL:
        return "true" if v else "false"
    if k in (K.BYTE, K.UINT16, K.UINT32, K.UINT64, K.INT8, K.INT16, K.INT32, K.INT64):
        return str(int(v))
    if k in (K.FLOAT32, K.FLOAT64):
        return format_float(float(v), 32 if k == K.FLOAT32 else 64)
    if k == K.STRING:
        return go_quote(str(v))
    if k == K.ENUM:
        return v.label if hasattr(v, "label") else str(v)
    if k == K.TYPEOBJECT:
        return "typeobject(" + type_string(v) + ")"
    if k in (K.ARRAY, K.LIST):
        items = list(v or ())
        if not items or _is_zero(t, v):
            return "{}"
        return "{" + ", ".join(untyped_const(t.elem, x) for x in items) + "}"
    if k in (K.SET, K.MAP):
        keys = [(untyped_const(t.key, key), key) for key in (v or ())]
        keys.sort(key=lambda p: p[0])
        parts = []
        for ks, key in keys:
            if k == K.MAP:
                parts.append(ks + ": " + untyped_const(t.elem, v[key]))
            else:
                parts.append(ks)
        return "{" + ", ".join(parts) + "}"
    if k == K.STRUCT:
        parts = []
        for f in t.fields:
            fv = getattr(v, f.name, None)
            if _is_zero(f.type, fv):
                continue
            parts.append(f.name + ": " + untyped_const(f.type, fv))
        return "{" + ", ".join(parts) + "}"
    if k == K.UNION:
        idx = v.index
        return "{" + t.fields[idx].name + ": " + untyped_const(t.fields[idx].type, v.value) + "}"
    return repr(v)


def json_const(t, v):
    """The JSON text Go's vrpc prints with -json for value v of type t."""
    from v23py import vdl
    K = vdl.Kind
    if isinstance(v, vdl.Typed) and t.kind != K.ANY:
        v = v.value
    k = t.kind
    if k == K.BOOL:
        return "true" if v else "false"
    if k in (K.BYTE, K.UINT16, K.UINT32, K.INT8, K.INT16, K.INT32):
        return str(int(v))
    if k in (K.UINT64, K.INT64):
        return '"%d"' % int(v)
    if k in (K.FLOAT32, K.FLOAT64):
        return format_float(float(v), 32 if k == K.FLOAT32 else 64)
    if k == K.STRING:
        return go_quote(str(v))
    if k in (K.ANY, K.OPTIONAL):
        if v is None:
            return "null"
        if k == K.ANY:
            it, iv = vdl.unwrap(v)
            return json_const(it, iv)
        return json_const(t.elem, v)
    if k == K.ENUM:
        return go_quote(v.label if hasattr(v, "label") else str(v))
    if k in (K.ARRAY, K.LIST):
        items = list(v or ())
        return "[" + ",".join(json_const(t.elem, x) for x in items) + "]"
    if k == K.SET:
        keys = sorted(v or (), key=lambda x: untyped_const(t.key, x))
        return "[" + ",".join(json_const(t.key, x) for x in keys) + "]"
    if k == K.MAP:
        keys = sorted(v or (), key=lambda x: untyped_const(t.key, x))
        parts = []
        for key in keys:
            ks = json_const(t.key, key)
            if not (len(ks) >= 2 and ks[0] == '"' and ks[-1] == '"'):
                ks = '"%s"' % ks
            parts.append("%s: %s" % (ks, json_const(t.elem, v[key])))
        return "{" + ",".join(parts) + "}"
    if k == K.STRUCT:
        return "{" + ",".join('"%s": %s' % (_lower_first(f.name),
                                            json_const(f.type, getattr(v, f.name, None)))
                              for f in t.fields) + "}"
    if k == K.UNION:
        f = t.fields[v.index]
        return "{ %s: %s }" % (go_quote(_lower_first(f.name)), json_const(f.type, v.value))
    if k == K.TYPEOBJECT:
        return type_string(v)
    return repr(v)


def _lower_first(s):
    return s[:1].lower() + s[1:]
