"""What the principal commands share: the environment, credentials, blessings I/O, caveats."""
import os
import re

from v23py import security as sec
from v23py import verror
from v23py.cmd.principal._flags import CommandError, ENV_CREDENTIALS, NO_CAVEATS, UsageError


# --- helpers ---

class Env:
    def __init__(self, values, stdin, stdout, stderr):
        self.flags = values
        self.stdin, self.stdout, self.stderr = stdin, stdout, stderr

    def out(self, text=""):
        self.stdout.write(text + "\n")

    @property
    def credentials(self):
        return self.flags.get("v23.credentials") or os.environ.get(ENV_CREDENTIALS, "")


def _read_stdin_all(env):
    data = env.stdin.read(16 << 20)  # bounded: blessings are kilobytes
    return data.decode("utf-8", "replace") if isinstance(data, bytes) else data


def read_file_or_stdin(env, name):
    if not name:
        return ""
    if name == "-":
        return _read_stdin_all(env)
    try:
        with open(name, "rb") as f:
            data = f.read(16 << 20)
    except OSError as e:
        raise CommandError("open %s: %s" % (name, (e.strerror or str(e)).lower()))
    return data.decode("utf-8", "replace")


def decode_blessings_file(env, name):
    text = read_file_or_stdin(env, name)
    try:
        return sec.decode_blessings(text)
    except verror.VError as e:
        raise CommandError("failed to decode %s: %s" % (_short(text), e))


def _short(text):
    text = text.strip()
    return text if len(text) <= 80 else text[:77] + "..."


def encode_blessings(b):
    try:
        return sec.encode_blessings(b)
    except verror.VError as e:
        raise CommandError(str(e))


def _readline(env, prompt=None):
    if prompt is not None:
        env.stdout.write(prompt + " ")
        env.stdout.flush()
    line = env.stdin.readline()
    if isinstance(line, bytes):
        line = line.decode("utf-8", "replace")
    return line.strip()


def get_passphrase(env, prompt):
    stdin = env.stdin
    try:
        tty = stdin.isatty()
    except (AttributeError, ValueError):
        tty = False
    if tty:
        import getpass
        try:
            return getpass.getpass(prompt).encode()
        except (EOFError, KeyboardInterrupt):
            raise CommandError("failed to read passphrase")
    line = stdin.readline()
    if isinstance(line, bytes):
        line = line.decode("utf-8", "replace")
    return line.rstrip("\n").encode()


def default_blessing_name():
    import getpass
    import socket
    try:
        user = getpass.getuser() or "anonymous"
    except Exception:
        user = "anonymous"
    host = socket.gethostname()
    return user + "@" + host if host else user


def _anonymous_name():
    import random
    import socket
    fruit = random.choice(["apple", "banana", "cherry", "dragonfruit", "elderberry", "fig",
                           "grape", "honeydew"])
    name = "anonymous-%s-%d" % (fruit, os.getpid())
    host = socket.gethostname()
    return name + "@" + host if host and host != "(none)" else name


def runtime_principal(env):
    """The principal the Go runtime would use: the credentials dir, read-only
    (no passphrase asked), or a fresh in-memory principal."""
    d = env.credentials
    if d:
        try:
            return sec.load_principal(d, read_only=True)
        except verror.VError as e:
            raise CommandError("failed to initialize credentials, perhaps you need to create "
                               "them with 'principal create %s': %s" % (d, e))
    p = sec.random_principal()
    p.set_default_blessings(p.bless_self(_anonymous_name()))
    return p


def mutable_principal(env):
    """Load the credentials dir for writing, asking for a passphrase if needed."""
    d = env.credentials
    if not d:
        raise CommandError("no credentials directory: set --v23.credentials or "
                           "$" + ENV_CREDENTIALS)
    try:
        return sec.load_principal(d)
    except verror.VError as e:
        if e.id != sec.PassphraseRequired.id:
            raise CommandError(str(e))
    pw = get_passphrase(env, "Passphrase required to decrypt encrypted private key file for "
                             "credentials in %s.\nEnter passphrase: " % d)
    try:
        return sec.load_principal(d, pw)
    except verror.VError as e:
        raise CommandError(str(e))


def signing_principal(env):
    """For bless/blessself: like the runtime principal but able to sign."""
    if env.credentials:
        return mutable_principal(env)
    return runtime_principal(env)


_CAVEAT_NAMES = {
    "v.io/v23/security.ConstCaveat": lambda: sec.ConstCaveat,
    "v.io/v23/security.ExpiryCaveat": lambda: sec.ExpiryCaveat,
    "v.io/v23/security.NotBeforeCaveat": lambda: sec.NotBeforeCaveat,
    "v.io/v23/security.MethodCaveat": lambda: sec.MethodCaveat,
    "v.io/v23/security.PeerBlessingsCaveat": lambda: sec.PeerBlessingsCaveat,
    "v.io/v23/security/access.AccessTagCaveat": lambda: _access().AccessTagCaveat,
}


def _access():
    from v23py.security import access
    return access


def _parse_vdl_param(text, ptype):
    """A small subset of VDL expressions: true/false, "s", {"a", "b"}, time.Time{...}."""
    from v23py import vdl
    t = text.strip()
    if ptype.kind == vdl.Kind.BOOL:
        if t in ("true", "false"):
            return t == "true"
        raise CommandError("can't build param data %s: want a bool" % text)
    if ptype.kind == vdl.Kind.LIST:
        if not (t.startswith("{") and t.endswith("}")):
            raise CommandError("can't build param data %s: want a list like {\"a\", \"b\"}"
                               % text)
        inner = t[1:-1]
        item = r'"(?:[^"\\]|\\.)*"'
        if not re.fullmatch(r"\s*(?:%s\s*(?:,\s*%s\s*)*,?)?\s*" % (item, item), inner):
            raise CommandError("can't build param data %s: only lists of strings are "
                               "supported" % text)
        import json
        try:
            return [json.loads(x) for x in re.findall(item, inner)]
        except ValueError:
            raise CommandError("can't build param data %s: bad string literal" % text)
    if ptype.kind == vdl.Kind.STRUCT and ptype.name == "time.Time":
        m = re.match(r"^(?:time\.Time)?\{\s*Seconds\s*:\s*(-?\d+)\s*(?:,\s*Nanos\s*:\s*(\d+)\s*)?,?\s*\}$", t)
        if not m:
            raise CommandError("can't build param data %s: want time.Time{Seconds: N, Nanos: N}"
                               % text)
        return vdl.class_for(ptype)(Seconds=int(m.group(1)), Nanos=int(m.group(2) or 0))
    raise CommandError("can't build param data %s" % text)


def caveat_from_flag(spec):
    """--caveat="pkg/path".Name=<VDL expression>, evaluated by our VDL compiler like Go's
    tool does (the unquoted form pkg/path.Name is accepted too)."""
    expr, eq, param = spec.partition("=")
    if not eq:
        raise UsageError("incorrect caveat format: %s" % spec)
    e = expr.strip()
    m = re.match(r"^([\w.\-]+(?:/[\w.\-]+)+)\.(\w+)$", e)
    if m:
        e = '"%s".%s' % m.groups()
    from v23py.vdl.compiler.checker import build_exprs   # (only this command needs it)
    try:
        desc = build_exprs(e, [sec.CaveatDescriptor._vdl_type])[0]
    except Exception as err:
        try:
            return _caveat_from_flag_simple(expr, param)
        except CommandError:
            raise CommandError("can't build caveat desc %s: %s" % (expr, err))
    try:
        value = build_exprs(param, [desc.ParamType])[0]
    except Exception as err:
        raise CommandError("can't build param data %s: %s" % (param, err))
    try:
        return sec.new_caveat(desc, value)
    except verror.VError as err:
        raise CommandError(str(err))


def _caveat_from_flag_simple(expr, param):
    m = re.match(r'^\s*"([^"]+)"\.(\w+)\s*$', expr) or re.match(r"^\s*([\w./-]+)\.(\w+)\s*$", expr)
    if not m:
        raise CommandError("can't build caveat desc %s" % expr)
    full = "%s.%s" % (m.group(1), m.group(2))
    get = _CAVEAT_NAMES.get(full)
    if get is None:
        raise CommandError("unsupported caveat %s (supported: %s)"
                           % (full, ", ".join(sorted(_CAVEAT_NAMES))))
    desc = get()
    return sec.new_caveat(desc, _parse_vdl_param(param, desc.ParamType))


def caveats_from_flags(env):
    cavs = [caveat_from_flag(s) for s in env.flags.get("caveat") or []]
    dur = env.flags.get("for") or 0.0
    if dur:
        import datetime
        cavs.append(sec.new_expiry_caveat(datetime.timedelta(seconds=dur)))
    return cavs


def confirm_no_caveats(env):
    text = _readline(env, "WARNING: No caveats provided\nIt is generally dangerous to bless "
                          "another principal without any caveats as\nthat gives them "
                          "unrestricted access to the blesser's credentials.\n\nCaveats can "
                          "be specified with the --for or --caveat flags.\n\nDo you really "
                          "wish to bless without caveats? (YES to confirm)")
    if text.upper() != "YES":
        raise CommandError(NO_CAVEATS)


def _fmt_or_err(fn, *a):
    try:
        return fn(*a)
    except verror.VError as e:
        raise CommandError(str(e))


def annotated_names(b):
    exp = b.expiry()
    import datetime
    mark = " [EXPIRED]" if exp is not None and exp < datetime.datetime.now(
        datetime.timezone.utc) else ""
    return "%s%s" % (b, mark)


def _chain_by_name(b, name):
    for chain in b.chains:
        if ":".join(c.Extension for c in chain) == name:
            return chain
    raise CommandError("no chains of name %s in %s" % (name, b))


def _rootkey(chain):
    if not chain:
        return "<empty certificate chain>"
    try:
        return str(sec.public_key_from_der(bytes(chain[0].PublicKey)))
    except Exception as e:
        return "<invalid PublicKey: %s>" % e


def dump_blessings_info(env, b):
    if b.is_zero():
        raise CommandError("no blessings found")
    f = env.flags
    if f.get("names"):
        env.out(str(b).replace(",", "\n"))
    elif f.get("rootkey"):
        env.out(_rootkey(_chain_by_name(b, f["rootkey"])))
    elif f.get("caveats"):
        chain = _chain_by_name(b, f["caveats"])
        for cert in chain:
            for cav in cert.Caveats:
                env.out(_fmt_or_err(sec.format_caveat, cav))
    else:
        env.out(encode_blessings(b))


def dump_blessings(env, b):
    env.out("Blessings          : %s" % annotated_names(b))
    env.out("PublicKey          : %s" % b.public_key)
    env.out("Certificate chains : %d" % len(b.chains))
    for idx, chain in enumerate(b.chains):
        env.out("Chain #%d (%d certificates). Root certificate public key: %s"
                % (idx, len(chain), _rootkey(chain)))
        for ci, cert in enumerate(chain):
            n = len(cert.Caveats)
            env.out("  Certificate #%d: %s with %s" % (ci, cert.Extension,
                                                      "1 caveat" if n == 1 else "%d caveats" % n))
            for k, cav in enumerate(cert.Caveats):
                env.out("    (%d) %s" % (k, cav))


def _nargs(args, n, what):
    if len(args) != n:
        raise CommandError("requires exactly %s, provided %d" % (what, len(args)))
