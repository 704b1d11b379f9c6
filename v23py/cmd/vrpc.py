"""vrpc: sends and receives Vanadium remote procedure calls (Go's vrpc, same outputs)::

    vrpc [flags] signature [-insecure] [-show-reserved] <server> [method]
    vrpc [flags] call <server> <method> [args...]      (args are VDL expressions)
    vrpc [flags] identify [-insecure] <server>

Global flags: -s (shallow resolve), -json, -timeout=1m, and the v23 runtime flags.
Errors print ``ERROR: ...`` on stderr (exit 1; usage errors exit 2).
"""
import sys

from v23py.cmd import _entry
from v23py.cmd._help import command_help, handle_version
from v23py.cmd._outcome import error_text, exit_code

USAGE = """Command vrpc sends and receives Vanadium remote procedure calls.  It is used as
a generic client to interact with any Vanadium server.

Usage:
   vrpc [flags] <command>

The vrpc commands are:
   signature   Describe the interfaces of a Vanadium server
   call        Call a method of a Vanadium server
   identify    Reveal blessings presented by a Vanadium server
"""


_CMD_USAGE = {
    "signature": "Usage:\n   vrpc signature [flags] <server> [method]\n",
    "call": "Usage:\n   vrpc call [flags] <server> <method> [args...]\n",
    "identify": "Usage:\n   vrpc identify [flags] <server>\n",
}


_USAGE_LINES = {"signature": "[flags] <server> [method]",
                "call": "[flags] <server> <method> [args...]",
                "identify": "[flags] <server>"}
_OWN_FLAGS = {"signature": ("s", "json", "timeout", "insecure", "show-reserved"),
              "call": ("s", "json", "timeout"),
              "identify": ("s", "json", "timeout", "insecure")}


class UsageError(Exception):
    pass


def _global_flags(fs):
    fs.bool("s", False, "if true, perform a shallow resolve")
    fs.bool("json", False, "if true, output a JSON representation of the response")
    fs.duration("timeout", 60.0, "time to wait for response to succeed before failing with a "
                "timeout error")
    return fs


def _parse(argv):
    from v23py import runtime
    top = runtime.add_runtime_flags(_global_flags(runtime.FlagSet("vrpc")))
    rest = top.parse(argv)
    if not rest:
        raise UsageError("no command specified")
    cmd, rest = rest[0], rest[1:]
    if cmd not in ("signature", "call", "identify", "help"):
        raise UsageError(f'vrpc: unknown command "{cmd}"')
    if cmd == "help":
        return top, cmd, rest
    # the sub-command accepts the global flags as well as its own
    if cmd in ("signature", "identify"):
        top.bool("insecure", False, "If true, skip server authentication.")
    if cmd == "signature":
        top.bool("show-reserved", False, "if true, also show the signatures of reserved methods")
    args = top.parse(rest)
    return top, cmd, args


def _opts(flags):
    from v23py.rpc import options
    opts = ()
    if flags.flags.get("insecure") is not None and flags.get("insecure"):
        opts += options.insecure()
    else:   # servers named by /host:port only must be related to our blessings
        from v23py.runtime.trust import trust_opts
        opts += trust_opts()
    if flags.get("s"):
        opts += (options.NoResolve(),)
    return opts


async def run_signature(ctx, flags, args, out):
    from v23py import rpc
    from v23py.rpc import signature as sig
    if len(args) not in (1, 2):
        raise UsageError("wrong number of arguments")
    server = args[0]
    method = args[1] if len(args) == 2 else ""
    opts = _opts(flags)
    ctx, cancel = ctx.with_timeout(_entry.runtime_timeout(flags.get("timeout")))
    try:
        if method:
            types = sig.NamedTypes()
            try:
                m = await rpc.reserved_method_signature(ctx, server, method, opts=opts)
            except Exception as e:
                raise RuntimeError(f"MethodSignature failed: {error_text(e)}")
            sig.print_method(out, m, types)
            out.write("\n")
            types.print(out)
            return
        try:
            ifaces = await rpc.reserved_signature(ctx, server, opts=opts)
        except Exception as e:
            raise RuntimeError(f"Signature failed: {error_text(e)}")
        print_signature(out, ifaces, flags.get("show-reserved"))
    finally:
        cancel()


def print_signature(out, ifaces, show_reserved=False):
    """What ``vrpc signature <server>`` prints for the server's interfaces."""
    from v23py import naming
    from v23py.rpc import signature as sig
    types = sig.NamedTypes()
    for i, iface in enumerate(ifaces):
        if not show_reserved and naming.is_reserved(iface.Name):
            continue
        if i > 0:
            out.write("\n")
        sig.print_interface(out, iface, types)
        out.write("\n")
    types.print(out)


def build_args(src, in_types):
    """Parse comma-separated VDL expressions into values of the given types."""
    from v23py.vdl.compiler import checker
    builder = getattr(checker, "build_exprs", None)
    if builder is not None:
        return builder(src, in_types)
    from v23py.vdl.compiler import parser
    exprs = parser.parse_exprs(src) if src.strip() else []
    if len(exprs) != len(in_types):
        raise ValueError(f"got {len(exprs)} args, want {len(in_types)}")
    return [_eval(e, t) for e, t in zip(exprs, in_types)]


def _eval(e, t):
    """A small evaluator for literal VDL expressions (used until the compiler has one)."""
    from fractions import Fraction
    from v23py import vdl
    from v23py.vdl.compiler import ast as A
    K = vdl.Kind
    if isinstance(e, A.ELit):
        v = e.value
        if isinstance(v, Fraction):
            v = float(v) if v.denominator != 1 or t.kind in (K.FLOAT32, K.FLOAT64) else int(v)
        if t.kind in (K.FLOAT32, K.FLOAT64) and isinstance(v, int):
            v = float(v)
        if t.kind == K.ANY:
            return v
        return vdl.convert(t, v)
    if isinstance(e, A.ENamed):
        consts = {"true": True, "false": False, "nil": None}
        if e.name in consts:
            v = consts[e.name]
            return v if t.kind in (K.ANY, K.OPTIONAL) else vdl.convert(t, v)
        if t.kind == K.ENUM:
            return vdl.convert(t, e.name.rsplit(".", 1)[-1])
        raise ValueError(f"undefined name {e.name}")
    if isinstance(e, A.EUnary) and e.op in ("-", "+"):
        v = _eval(e.expr, t if t.kind != K.ANY else vdl.Float64Type)
        return vdl.convert(t, -v if e.op == "-" else v) if t.kind != K.ANY else (
            -v if e.op == "-" else v)
    if isinstance(e, A.EComposite):
        if t.kind == K.OPTIONAL:
            t = t.elem
        if t.kind in (K.LIST, K.ARRAY):
            items = [_eval(kv.value, t.elem) for kv in e.kvs]
            if t.is_bytes():
                items = bytes(items)
            return vdl.convert(t, items)
        if t.kind == K.SET:
            return vdl.convert(t, {_eval(kv.value if kv.key is None else kv.key, t.key)
                                   for kv in e.kvs})
        if t.kind == K.MAP:
            return vdl.convert(t, {_eval(kv.key, t.key): _eval(kv.value, t.elem)
                                   for kv in e.kvs})
        if t.kind == K.STRUCT:
            vals = {}
            for i, kv in enumerate(e.kvs):
                if kv.key is not None and isinstance(kv.key, A.ENamed):
                    f = t.fields[t.field_index(kv.key.name)]
                else:
                    f = t.fields[i]
                vals[f.name] = _eval(kv.value, f.type)
            return vdl.class_for(t)(**vals)
        if t.kind == K.UNION and e.kvs and isinstance(e.kvs[0].key, A.ENamed):
            name = e.kvs[0].key.name
            f = t.fields[t.field_index(name)]
            return vdl.class_for(t)(name, _eval(e.kvs[0].value, f.type))
    if isinstance(e, A.EConvert):
        return _eval(e.expr, t)
    raise ValueError(f"unsupported expression {e!r}")


async def run_call(ctx, flags, args, out):
    from v23py import rpc, verror
    from v23py.rpc import signature as sig
    if len(args) < 2:
        raise UsageError("must specify <server> and <method>")
    server, method = args[0], args[1]
    argsdata = ""
    for a in args[2:]:
        a = a.strip()
        if argsdata == "" or argsdata.endswith(",") or a.startswith(","):
            argsdata += a
        else:
            argsdata += "," + a
    opts = _opts(flags)
    ctx, cancel = ctx.with_timeout(flags.get("timeout"))
    try:
        try:
            msig = await rpc.reserved_method_signature(ctx, server, method, opts=opts)
        except Exception as e:
            raise RuntimeError(f"MethodSignature failed: {error_text(e)}")
        in_types = [a.Type for a in msig.InArgs]
        if in_types:
            try:
                inargs = build_args(argsdata, in_types)
            except Exception as e:
                raise RuntimeError(f"can't parse in-args:\n{e}")
            if len(inargs) != len(in_types):
                raise RuntimeError(f"got {len(inargs)} args, want {len(in_types)}")
        else:
            inargs = []
        out_types = [a.Type for a in msig.OutArgs]
        from v23py.rpc.stubs import MethodDesc
        desc = MethodDesc(name=method,
                          in_stream=msig.InStream.Type if msig.InStream is not None else None,
                          out_stream=msig.OutStream.Type if msig.OutStream is not None else None)
        try:
            call = await rpc.start_call(ctx, server, method, inargs, in_types, out_types,
                                        desc=desc, opts=opts)
        except Exception as e:
            raise RuntimeError(f"StartCall failed: {error_text(e)}")
        stream_t = desc.out_stream
        while True:
            try:
                item = await call.recv()
            except verror.VError as e:
                if e.id == verror.EOF.id:
                    break
                raise RuntimeError(f"call.Recv failed: {error_text(e)}")
            fmt = sig.json_const if flags.get("json") else sig.typed_const
            out.write("<< %s\n" % fmt(stream_t or _type_of(item), item))
        try:
            results = await call.finish()
        except Exception as e:
            raise RuntimeError(f"call.Finish failed: {error_text(e)}")
        fmt = sig.json_const if flags.get("json") else sig.typed_const
        parts = [fmt(t, v) for t, v in zip(out_types, results)]
        out.write(" ".join(parts) + "\n")
    finally:
        cancel()


def _type_of(v):
    from v23py import vdl
    return vdl.type_of(v)


async def run_identify(ctx, flags, args, out):
    import base64
    from v23py import rpc
    if len(args) != 1:
        raise UsageError("wrong number of arguments")
    server = args[0]
    opts = _opts(flags)
    ctx, cancel = ctx.with_timeout(flags.get("timeout"))
    try:
        client = rpc.get_client(ctx)
        try:
            call = await client.start_call(ctx, server, "", [], [], [], opts=opts)
        except Exception as e:
            raise RuntimeError(f'client.StartCall({_goquote(server)}, "", nil) failed with '
                               f'{error_text(e)}')
        presented = call.remote_blessings
        valid = call.remote_blessing_names
        call.cancel()
        pk = presented.public_key if presented is not None else None
        der = pk.der if pk is not None else b""
        out.write("PRESENTED: %s\nVALID:     [%s]\nPUBLICKEY: %s\n           %s\n" % (
            presented, " ".join(valid), pk, base64.urlsafe_b64encode(der).decode()))
    finally:
        cancel()


def _goquote(s):
    from v23py.rpc.signature import go_quote
    return go_quote(s)


async def _main(reactor, argv, out, err):
    from v23py import runtime
    try:
        flags, cmd, args = _parse(argv)
    except (UsageError, runtime.FlagError) as e:
        if str(e) == "help requested":  # -h/-help: usage on stdout, exit 0, as Go
            out.write(USAGE)
            return 0
        err.write(f"ERROR: {e}\n\n{USAGE}")
        return 2
    if cmd == "help":
        if not args:
            out.write(USAGE)
            return 0
        text = None
        if args[0] in _CMD_USAGE:
            sub = _parse([args[0]])[0]
            own = {n: f for n, f in sub.flags.items() if n in _OWN_FLAGS[args[0]]}
            sub.flags = own
            text = command_help("vrpc", USAGE, args[:1], _USAGE_LINES, flagset=sub)
        if text is None:
            err.write(f'vrpc: unknown command "{args[0]}"\n\n{USAGE}')
            return 2
        out.write(text)
        return 0
    try:
        ctx, shutdown = runtime.init([], flags=flags)
    except Exception as e:
        err.write(f"ERROR: {error_text(e)}\n")
        return 1
    fn = {"signature": run_signature, "call": run_call, "identify": run_identify}[cmd]
    return await exit_code(lambda: fn(ctx, flags, args, out), shutdown, out, err, UsageError,
                           usage=_CMD_USAGE.get(cmd, USAGE))


def _fast_signature(argv, out):
    """``vrpc signature /<endpoint>`` (no flags) made without the runtime when it can be
    (v23py.cmd._fastcall); False when the runtime's path must make it."""
    if len(argv) != 2 or argv[0] != "signature" or not argv[1].startswith("/@"):
        return False
    from v23py.cmd import _fastcall
    creds = _fastcall.credentials_dir()
    if not creds or _fastcall.disabled():
        return False
    ifaces = _fastcall.signature(creds, argv[1])
    if ifaces is None:
        return False
    print_signature(out, ifaces)
    out.flush()
    return True


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if handle_version("vrpc", argv):
        return
    if _fast_signature(argv, sys.stdout):
        sys.exit(0)
    _entry.resume_gc()   # (the runtime: a call may stream for long)
    from v23py.runtime import run_program

    def run(reactor, argv):
        return _main(reactor, argv, sys.stdout, sys.stderr)
    run_program(run, argv)

if __name__ == "__main__":
    main()
