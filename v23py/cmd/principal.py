"""principal: create and manage Vanadium principals and blessings.

Commands, flags and output formats follow Go Vanadium's `principal` tool
(v0.2.0).  Flags take the forms -flag, --flag, -flag=value, --flag=value and
-flag value (booleans only with =); they may appear at every command level
before that level's arguments, and the global flags (--v23.credentials ...)
anywhere a flag may appear.  The credentials directory comes from
--v23.credentials or $V23_CREDENTIALS.  All blessings are read and printed as
base64url(VOM(WireBlessings)); `-` means standard input.

Errors are printed as one line `ERROR: ...` on stderr; the exit status is 1,
or 2 for usage errors.  `recvblessings` and `bless --remote-key/--remote-token`
run the RPC runtime (like Go's); `seekblessings` (OAuth web service) and
`scripts` (Go's scripting language) are not available.
"""

import base64
import binascii
import contextlib
import datetime
import getpass
import json
import os
import random
import re
import socket
import sys

from v23py import security as sec
from v23py import verror
from v23py.security import _caveats, _pem

ENV_CREDENTIALS = "V23_CREDENTIALS"

NO_CAVEATS = ("no caveats provided: it is generally dangerous to bless another principal "
              "without any caveats as that gives them almost unrestricted access to the "
              "blesser's credentials. If you really want to do this, set "
              "--require-caveats=false")


class UsageError(Exception):
    pass


class CommandError(Exception):
    pass


# --- flags ---

class Flag:
    def __init__(self, name, kind, default, help_text=""):
        self.name, self.kind, self.default, self.help = name, kind, default, help_text


def _bool(text, name):
    t = text.strip()
    if t in ("1", "t", "T", "true", "TRUE", "True"):
        return True
    if t in ("0", "f", "F", "false", "FALSE", "False"):
        return False
    raise UsageError('invalid boolean value "%s" for -%s: parse error' % (text, name))


_DUR_UNITS = {"ns": 1e-9, "us": 1e-6, "\u00b5s": 1e-6, "\u03bcs": 1e-6, "ms": 1e-3, "s": 1.0,
              "m": 60.0, "h": 3600.0}
_DUR_RE = re.compile(r"([0-9]*\.?[0-9]*)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)")


def parse_duration(text):
    """Go's time.ParseDuration -> seconds (float)."""
    s = text.strip()
    if s in ("0", "+0", "-0"):
        return 0.0
    sign = 1
    if s and s[0] in "+-":
        sign = -1 if s[0] == "-" else 1
        s = s[1:]
    if not s:
        raise ValueError("parse error")
    total = 0.0
    pos = 0
    while pos < len(s):
        m = _DUR_RE.match(s, pos)
        if not m or m.group(1) in ("", "."):
            raise ValueError("parse error")
        total += float(m.group(1)) * _DUR_UNITS[m.group(2)]
        pos = m.end()
    return sign * total


def _duration_value(text, name):
    try:
        return parse_duration(text)
    except ValueError:
        raise UsageError('invalid value "%s" for flag -%s: parse error' % (text, name)) from None


GLOBAL_FLAGS = [
    Flag("v23.credentials", "string", "", "Directory for vanadium credentials."),
    Flag("v23.namespace.root", "multi", [], "Local namespace root (ignored here)."),
    Flag("v23.proxy", "string", "", "(ignored here)"),
    Flag("v23.tcp.address", "string", "", "(ignored here)"),
    Flag("v23.tcp.protocol", "string", "", "(ignored here)"),
    Flag("v23.permissions.file", "multi", [], "(ignored here)"),
    Flag("v23.permissions.literal", "string", "", "(ignored here)"),
    Flag("v23.i18n-catalogue", "string", "", "(ignored here)"),
    Flag("v23.vtrace.sample-rate", "string", "", "(ignored here)"),
    Flag("v23.vtrace.dump-on-shutdown", "bool", False, "(ignored here)"),
    Flag("v23.vtrace.cache-size", "string", "", "(ignored here)"),
    Flag("v23.vtrace.collect-regexp", "string", "", "(ignored here)"),
    Flag("v", "string", "0", "log level (ignored)"),
    Flag("vmodule", "string", "", "(ignored)"),
    Flag("alsologtostderr", "bool", False, "(ignored)"),
    Flag("logtostderr", "bool", False, "(ignored)"),
    Flag("log_dir", "string", "", "(ignored)"),
    Flag("stderrthreshold", "string", "", "(ignored)"),
    Flag("max_stack_buf_size", "string", "", "(ignored)"),
    Flag("time", "bool", False, "(ignored)"),
]

F_CAVEAT = Flag("caveat", "multi", [], '"package/path".CaveatName:VDLExpressionParam to attach '
                                       'to this blessing')
F_FOR = Flag("for", "duration", 0.0, "Duration of blessing validity (zero implies no "
                                     "expiration)")
F_WITH = Flag("with", "string", "", "Path to file containing blessing to extend")
F_ADD_TO_ROOTS = Flag("add-to-roots", "bool", True, "If true, the root certificate of the "
                      "blessing will be added to the principal's set of recognized root "
                      "certificates")
F_OVERWRITE = Flag("overwrite", "bool", False, "If true, any existing principal data in the "
                   "directory will be overwritten")
F_WITH_PASSPHRASE = Flag("with-passphrase", "bool", True, "If true, the user is prompted for a "
                         "passphrase to encrypt the principal. Otherwise, the principal is "
                         "stored unencrypted.")
F_KEY_TYPE = Flag("key-type", "string", "ecdsa256", "The type of key to be created, allowed "
                  "values are ecdsa256, ecdsa384, ecdsa521, ed25519, rsa2048, rsa4096.")
F_KEYS = [F_KEY_TYPE, Flag("ssh-public-key", "string", "", "(not supported: ssh-agent keys)"),
          Flag("ssh-key", "string", "", "If set, use the ssh private key from the specified "
               "file"),
          Flag("ssl-key", "string", "", "(not supported: x509 principals)"),
          Flag("ssl-cert", "string", "", "(not supported: x509 principals)"),
          Flag("copy-private-key", "bool", False, "If set, the private key will be copied into "
               "the newly created principal rather than being referred to in its current "
               "location.")]
F_REQUIRE_CAVEATS = Flag("require-caveats", "bool", True, "If false, allow blessing without any "
                         "caveats. This is typically not advised as the principal wielding "
                         "the blessing will be almost as powerful as its blesser")
F_NAMES = Flag("names", "bool", False, "If true, shows the value of the blessing name to be "
               "presented to the peer")
F_ROOTKEY = Flag("rootkey", "string", "", "Shows the value of the root key of the provided "
                 "certificate chain name.")
F_CAVEATS = Flag("caveats", "string", "", "Shows the caveats on the provided certificate "
                 "chain name.")


class Command:
    def __init__(self, name, short, flags=(), children=(), run=None, args=""):
        self.name, self.short, self.run, self.args = name, short, run, args
        self.flags = {f.name: f for f in flags}
        self.children = {c.name: c for c in children}


def _lookup_flag(cmd_chain, name):
    for cmd in reversed(cmd_chain):
        if name in cmd.flags:
            return cmd.flags[name]
    for f in GLOBAL_FLAGS:
        if f.name == name:
            return f
    return None


def parse_args(root, argv):
    """(command path, leaf command, flag values, positional args)."""
    values = {f.name: (list(f.default) if f.kind == "multi" else f.default)
              for f in GLOBAL_FLAGS}
    chain = [root]
    cmd = root
    for f in root.flags.values():
        values[f.name] = f.default
    i = 0
    while True:
        while i < len(argv):
            a = argv[i]
            if a == "--":
                i += 1
                break
            if not a.startswith("-") or a == "-":
                break
            body = a[2:] if a.startswith("--") else a[1:]
            name, eq, val = body.partition("=")
            f = _lookup_flag(chain, name)
            if f is None and name in ("h", "help"):
                return chain, None, values, []
            if f is None or not name:
                raise UsageError("%s: flag provided but not defined: -%s"
                                 % (" ".join(c.name for c in chain), name))
            i += 1
            if f.kind == "bool":
                values[f.name] = _bool(val, name) if eq else True
                continue
            if not eq:
                if i >= len(argv):
                    raise UsageError("%s: flag needs an argument: -%s"
                                     % (" ".join(c.name for c in chain), name))
                val = argv[i]
                i += 1
            if f.kind == "duration":
                values[f.name] = _duration_value(val, name)
            elif f.kind == "multi":
                values[f.name] = list(values.get(f.name) or []) + [val]
            else:
                values[f.name] = val
        if not cmd.children:
            return chain, cmd, values, argv[i:]
        if i >= len(argv):
            raise UsageError("%s: no command specified" % " ".join(c.name for c in chain))
        name = argv[i]
        i += 1
        if name == "help":
            return chain, None, values, argv[i:]
        child = cmd.children.get(name)
        if child is None:
            raise UsageError('%s: unknown command "%s"' % (" ".join(c.name for c in chain), name))
        cmd = child
        chain.append(cmd)
        for f in cmd.flags.values():
            values[f.name] = list(f.default) if f.kind == "multi" else f.default


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
        try:
            return getpass.getpass(prompt).encode()
        except (EOFError, KeyboardInterrupt):
            raise CommandError("failed to read passphrase")
    line = stdin.readline()
    if isinstance(line, bytes):
        line = line.decode("utf-8", "replace")
    return line.rstrip("\n").encode()


def default_blessing_name():
    try:
        user = getpass.getuser() or "anonymous"
    except Exception:
        user = "anonymous"
    host = socket.gethostname()
    return user + "@" + host if host else user


def _anonymous_name():
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
    try:
        from v23py.vdl.compiler.checker import build_exprs
        from v23py.security._wiretypes import CaveatDescriptorType
    except ImportError:  # pragma: no cover - compiler unavailable: the small parser below
        return _caveat_from_flag_simple(expr, param)
    try:
        desc = build_exprs(e, [CaveatDescriptorType])[0]
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


# --- commands ---

def cmd_dump(env, args):
    p = runtime_principal(env)
    d = p.blessing_store.default()
    if env.flags.get("s"):
        env.out(annotated_names(d))
        return
    env.out("Public key : %s" % p.public_key)
    env.out("Default Blessings : %s" % annotated_names(d))
    env.out("---------------- BlessingStore ----------------")
    env.stdout.write(p.blessing_store.debug_string())
    env.out("---------------- BlessingRoots ----------------")
    env.stdout.write(p.roots.debug_string())


def cmd_dumpblessings(env, args):
    _nargs(args, 1, "one argument, <file>")
    try:
        b = decode_blessings_file(env, args[0])
    except CommandError as e:
        raise CommandError("failed to decode provided blessings: %s" % e)
    dump_blessings(env, b)


def cmd_dumproots(env, args):
    _nargs(args, 1, "one argument, <file>")
    try:
        b = decode_blessings_file(env, args[0])
    except CommandError as e:
        raise CommandError("failed to decode provided blessings: %s" % e)
    for root in b.root_blessings():
        env.out(encode_blessings(root))


def cmd_blessself(env, args):
    if len(args) > 1:
        raise CommandError("requires at most one argument, provided %d" % len(args))
    name = args[0] if args else default_blessing_name()
    cavs = caveats_from_flags(env)
    p = signing_principal(env)
    try:
        b = p.bless_self(name, *cavs)
    except verror.VError as e:
        raise CommandError('failed to create self-signed blessing for name "%s": %s' % (name, e))
    env.out(encode_blessings(b))


def _key_to_bless(env, target):
    if os.path.isdir(target):
        try:
            return sec.load_principal(target, read_only=True).public_key
        except verror.VError as e:
            raise CommandError('failed to read principal in directory "%s": %s' % (target, e))
    text = read_file_or_stdin(env, target).strip()
    try:
        raw = base64.b64decode(text.replace("\n", "").replace("\r", "")
                               .translate(str.maketrans("-_", "+/")), validate=True)
    except (binascii.Error, ValueError) as e:
        raise CommandError('failed to decode base64url encoded bytes in "%s": %s' % (target, e))
    try:
        return sec.public_key_from_der(raw)
    except Exception as kerr:
        try:
            from v23py import vom
            b = sec.blessings_from_wire(vom.decode(raw, sec.WireBlessingsType))
        except Exception as berr:
            raise CommandError('failed to decode blessings (%s) or public key (%s) from "%s"'
                               % (berr, kerr, target))
        if b.is_zero():
            raise CommandError('no public key in the blessings in "%s"' % target)
        return b.public_key


def _bless_args(env, args):
    """(target, extension, remote key, remote token) as Go's blessArgs finds them."""
    f = env.flags
    arg_file = f.get("remote-arg-file") or ""
    if arg_file:
        try:
            with open(arg_file, "rb") as fh:
                info = json.loads(fh.read(1 << 16).decode("utf-8", "replace"))
            key, token, target = info["remote_key"], info["remote_token"], info["name"]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise CommandError("failed to read %s: %s" % (arg_file, e))
        has_ext = len(args) > 0
    else:
        if not args:
            raise CommandError("no remote-arg-file flag and no arguments")
        target, key, token = args[0], f.get("remote-key") or "", f.get("remote-token") or ""
        has_ext = len(args) > 1
    ext = args[-1] if has_ext else _readline(env, "Extension to use for blessing:")
    return target, ext, key, token


def cmd_bless(env, args):
    f = env.flags
    if f.get("remote-arg-file"):
        if len(args) > 1:
            raise CommandError("when --remote-arg-file is provided, only <extension> is "
                               "expected, provided %d" % len(args))
        if f.get("remote-key") or f.get("remote-token"):
            raise CommandError("--remote-key and --remote-token should not be specified when "
                               "--remote-arg-file is")
    elif len(args) > 2:
        raise CommandError("got %d arguments, require at most 2" % len(args))
    elif bool(f.get("remote-key")) != bool(f.get("remote-token")):
        raise CommandError("either both --remote-key and --remote-token should be set, or "
                           "neither should")
    cavs = caveats_from_flags(env)
    if not cavs:
        if f.get("require-caveats", True):
            confirm_no_caveats(env)
        cavs = [sec.unconstrained_use()]
    target, ext, remote_key, remote_token = _bless_args(env, args)
    p = signing_principal(env)
    if f.get("with"):
        try:
            with_b = decode_blessings_file(env, f["with"])
        except CommandError as e:
            raise CommandError('failed to read blessings from --with="%s": %s' % (f["with"], e))
    else:
        with_b = p.blessing_store.default()
    if remote_key:
        _run_reactor(lambda reactor: _bless_over_network(
            env, reactor, p, target, with_b, ext, cavs, remote_key, remote_token))
        return
    key = _key_to_bless(env, target)
    try:
        b = p.bless(key, with_b, ext, cavs[0], *cavs[1:])
    except verror.VError as e:
        raise CommandError(str(e))
    env.out(encode_blessings(b))


# --- commands that need the RPC runtime ---

def _run_reactor(fn):
    """Run async fn(reactor) on the Twisted reactor; re-raise its error here."""
    from twisted.internet import defer, task
    box = {}

    async def main(reactor):
        try:
            await fn(reactor)
        except BaseException as e:  # carried out of the reactor
            box["err"] = e

    try:
        task.react(lambda reactor: defer.ensureDeferred(main(reactor)))
    except SystemExit:
        pass
    if "err" in box:
        raise box["err"]


def _runtime_argv(env):
    argv = []
    for name in ("v23.tcp.address", "v23.tcp.protocol", "v23.proxy"):
        if env.flags.get(name):
            argv.append("--%s=%s" % (name, env.flags[name]))
    for root in env.flags.get("v23.namespace.root") or []:
        argv.append("--v23.namespace.root=%s" % root)
    return argv


async def _bless_over_network(env, reactor, p, target, with_b, ext, cavs, remote_key, token):
    from v23py import runtime, rpc, vdl
    from v23py.rpc import options as rpcopts

    class KeyCheck(sec.Authorizer):
        key = None

        def authorize(self, call):
            pk = call.remote_blessings.public_key if call.remote_blessings else None
            got = str(pk) if pk is not None else ""
            if got != remote_key:
                raise verror.NotTrusted.new("key mismatch: Remote end has public key %s, want %s"
                                            % (got, remote_key))
            KeyCheck.key = pk

    class Granted(rpcopts.GrantedBlessings):
        def __init__(self):
            pass

        @property
        def blessings(self):
            return p.bless(KeyCheck.key, with_b, ext, cavs[0], *cavs[1:])

    ctx, shutdown = runtime.init(_runtime_argv(env), principal=p, reactor=reactor,
                                 exit_on_error=False)
    try:
        await rpc.client_call(ctx, target, "Grant", [token], [vdl.StringType], [],
                              opts=(rpcopts.ServerAuthorizer(KeyCheck()),
                                    rpcopts.NameResolutionAuthorizer(sec.allow_everyone()),
                                    Granted()))
    except verror.VError as e:
        raise CommandError('failed to make RPC to "%s": %s' % (target, e))
    finally:
        await shutdown()


def cmd_recvblessings(env, args):
    if args:
        raise CommandError("command accepts no arguments")
    p = mutable_principal(env)
    token = base64.urlsafe_b64encode(os.urandom(24)).decode()
    _run_reactor(lambda reactor: _recv_blessings(env, reactor, p, token))


async def _recv_blessings(env, reactor, p, token):
    import hmac
    from twisted.internet import defer
    from v23py import runtime, rpc
    done = defer.Deferred()
    f = env.flags
    for_peer = f.get("for-peer", "...")
    set_default = f.get("set-default", True)

    class Receiver:
        def describe__(self):
            from v23py import vdl
            from v23py.rpc.model import ArgDesc, InterfaceDesc, MethodDesc
            return [InterfaceDesc("recvBlessingsService", "", methods=(
                MethodDesc("Grant", in_args=(ArgDesc("token", vdl.StringType),)),))]

        def Grant(self, ctx, call, got):
            b = getattr(call, "granted_blessings", None)
            if b is None or b.is_zero():
                raise verror.Unknown.new("no blessings granted by sender")
            if not isinstance(got, str) or not hmac.compare_digest(got.encode(), token.encode()):
                raise verror.Unknown.new("blessings received from unexpected sender")
            try:
                if set_default:
                    p.blessing_store.set_default(b)
                if for_peer:
                    p.blessing_store.set(b, sec.BlessingPattern(for_peer))
                sec.add_to_roots(p, b)
            except verror.VError as e:
                raise verror.Unknown.new("failed to store blessings %s: %s" % (b, e))
            env.out("Received blessings: %s" % b)
            env.stdout.flush()
            if not done.called:
                reactor.callLater(0.05, done.callback, None)
            return None

    ctx, shutdown = runtime.init(_runtime_argv(env), principal=p, reactor=reactor,
                                 exit_on_error=False)
    try:
        server = await runtime.with_new_server(ctx, "", Receiver(), sec.allow_everyone())
        ep = server.endpoints[0]
        name = ep.name() if callable(getattr(ep, "name", None)) else str(ep)
        env.out("Run the following command on behalf of the principal that will send "
                "blessings:")
        env.out("You may want to adjust flags affecting the caveats on this blessing, for "
                "example using")
        env.out("the --for flag")
        env.out()
        arg_file = f.get("remote-arg-file")
        if arg_file:
            try:
                with open(arg_file, "w") as fh:
                    json.dump({"remote_key": str(p.public_key), "remote_token": token,
                               "name": name}, fh, separators=(",", ":"))
            except OSError as e:
                raise CommandError("failed to write recvblessings info to %s: %s"
                                   % (arg_file, e))
            env.out('make "%s" accessible to the blesser, possibly by copying the file over '
                    'and then run:' % arg_file)
            env.stdout.write("principal bless --remote-arg-file=%s" % arg_file)
        else:
            env.out("principal bless --remote-key=%s --remote-token=%s %s"
                    % (p.public_key, token, name))
        env.out()
        env.out("...waiting for sender..")
        env.stdout.flush()
        await done
    finally:
        await shutdown()


def cmd_get_default(env, args):
    dump_blessings_info(env, runtime_principal(env).blessing_store.default())


def cmd_get_forpeer(env, args):
    dump_blessings_info(env, runtime_principal(env).blessing_store.for_peer(*args))


def cmd_get_publickey(env, args):
    pk = runtime_principal(env).public_key
    if env.flags.get("pretty"):
        env.out(str(pk))
    else:
        env.out(base64.urlsafe_b64encode(pk.der).decode())


def cmd_get_recognizedroots(env, args):
    env.stdout.write(runtime_principal(env).roots.debug_string())


def cmd_get_peermap(env, args):
    env.stdout.write(runtime_principal(env).blessing_store.debug_string())


def _decode_provided(env, name):
    try:
        return decode_blessings_file(env, name)
    except CommandError as e:
        raise CommandError("failed to decode provided blessings: %s" % e)


def cmd_set_default(env, args):
    _nargs(args, 1, "one argument, <file>")
    b = _decode_provided(env, args[0])
    p = mutable_principal(env)
    try:
        p.blessing_store.set_default(b)
    except verror.VError as e:
        raise CommandError("failed to set blessings %s as default: %s" % (b, e))
    if env.flags.get("add-to-roots", True):
        try:
            sec.add_to_roots(p, b)
        except verror.VError as e:
            raise CommandError("AddToRoots failed: %s" % e)


def cmd_set_forpeer(env, args):
    _nargs(args, 2, "two arguments <file>, <pattern>")
    b = _decode_provided(env, args[0])
    pattern = sec.BlessingPattern(args[1])
    p = mutable_principal(env)
    try:
        p.blessing_store.set(b, pattern)
    except verror.VError as e:
        raise CommandError("failed to set blessings %s for peers %s: %s" % (b, pattern, e))
    if env.flags.get("add-to-roots", True):
        try:
            sec.add_to_roots(p, b)
        except verror.VError as e:
            raise CommandError("AddToRoots failed: %s" % e)


def cmd_recognize(env, args):
    if len(args) not in (1, 2):
        raise CommandError("requires either one argument <file>, or two arguments <blessing "
                           "pattern> <key>, provided %d" % len(args))
    if len(args) == 1:
        b = _decode_provided(env, args[0])
        p = mutable_principal(env)
        try:
            sec.add_to_roots(p, b)
        except verror.VError as e:
            raise CommandError("AddToRoots failed: %s" % e)
        return
    try:
        der = base64.b64decode(args[1].translate(str.maketrans("-_", "+/")), validate=True)
    except (binascii.Error, ValueError) as e:
        raise CommandError("invalid base64url encoding of public key: %s" % e)
    p = mutable_principal(env)
    try:
        p.roots.add(der, sec.BlessingPattern(args[0]))
    except verror.VError as e:
        raise CommandError(str(e))


def cmd_union(env, args):
    ret = sec.Blessings()
    for a in args:
        if os.path.exists(a):
            b = decode_blessings_file(env, a)
        else:
            try:
                b = sec.decode_blessings(a)
            except verror.VError as e:
                raise CommandError("failed to decode %s: %s" % (_short(a), e))
        try:
            ret = sec.union_of_blessings(ret, b)
        except verror.VError as e:
            raise CommandError(str(e))
    env.out(encode_blessings(ret))


def _check_key_flags(env):
    for name in ("ssh-public-key", "ssl-key", "ssl-cert"):
        if env.flags.get(name):
            raise CommandError("--%s is not supported by this principal tool" % name)
    kt = (env.flags.get("key-type") or "ecdsa256").lower()
    if kt not in sec.KEY_TYPES:
        raise CommandError("unsupported keytype: %s is not one of %s"
                           % (env.flags.get("key-type"), ", ".join(sorted(sec.KEY_TYPES))))
    return kt


def _import_ssh_key(env, path):
    """(private key, privatekey.pem bytes) for --ssh-key, as Go imports it: an indirect
    key naming the file, or with --copy-private-key the key itself (PKCS#8)."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(1 << 20)
    except OSError as e:
        raise CommandError("failed to read %s: %s" % (path, e.strerror or e))
    try:
        key = _pem.parse_private_key(data)
    except _pem.PassphraseRequired:
        pw = get_passphrase(env, "Enter passphrase for %s: " % path)
        try:
            key = _pem.parse_private_key(data, pw)
        except _pem.PEMError as e:
            raise CommandError("%s: %s" % (path, e))
    except _pem.PEMError as e:
        raise CommandError("%s: %s" % (path, e))
    if env.flags.get("copy-private-key"):
        return key, None
    return key, _pem.encode_block(_pem.INDIRECT_TYPE, os.path.abspath(path).encode(),
                                  {_pem.INDIRECT_HEADER: "filename"})


def _create(env, directory):
    kt = _check_key_flags(env)
    ssh_key = env.flags.get("ssh-key")
    key = key_pem = None
    if ssh_key:
        key, key_pem = _import_ssh_key(env, ssh_key)
    pw = None
    if env.flags.get("with-passphrase", True) and (not ssh_key or
                                                   env.flags.get("copy-private-key")):
        pw = get_passphrase(env, "Enter passphrase (entering nothing will store the principal "
                                 "key unencrypted): ") or None
    if not env.flags.get("overwrite") and sec.principal_exists(directory):
        raise CommandError("failed to create principal: a principal already exists in %s "
                           "(use --overwrite to replace it)" % directory)
    try:
        return sec.create_principal(directory, passphrase=pw, key_type=kt,
                                    overwrite=bool(env.flags.get("overwrite")),
                                    private_key=key, private_key_pem=key_pem)
    except verror.VError as e:
        raise CommandError("failed to create principal: %s" % e)
    except OSError as e:
        raise CommandError("failed to create principal: %s" % e)


def cmd_create(env, args):
    if len(args) not in (1, 2):
        raise CommandError("requires one or two arguments: <directory> [and optional "
                           "<blessing>], provided %d" % len(args))
    if len(args) == 2:
        err = sec._pattern.extension_error(args[1])
        if err:
            raise CommandError('BlessSelf("%s") failed: %s' % (args[1], err))
    p = _create(env, args[0])
    if len(args) == 2:
        try:
            b = p.bless_self(args[1])
        except verror.VError as e:
            raise CommandError('BlessSelf("%s") failed: %s' % (args[1], e))
        try:
            p.set_default_blessings(b)
        except verror.VError as e:
            raise CommandError("could not set blessings %s as default: %s" % (b, e))


def cmd_fork(env, args):
    _nargs(args, 2, "two arguments: <directory> and <extension>")
    directory, ext = args
    cavs = caveats_from_flags(env)
    if not env.flags.get("require-caveats", True) and not cavs:
        cavs = [sec.unconstrained_use()]
    if not cavs:
        raise CommandError(NO_CAVEATS)
    rp = signing_principal(env)
    if env.flags.get("with"):
        try:
            with_b = decode_blessings_file(env, env.flags["with"])
        except CommandError as e:
            raise CommandError('failed to read blessings from --with="%s": %s'
                               % (env.flags["with"], e))
    else:
        with_b = rp.blessing_store.default()
    err = sec._pattern.extension_error(ext)
    if err:
        raise CommandError(err)
    p = _create(env, directory)
    try:
        b = rp.bless(p.public_key, with_b, ext, cavs[0], *cavs[1:])
    except verror.VError as e:
        raise CommandError('Bless(%s, %s, "%s", ...) failed: %s' % (p.public_key, with_b, ext, e))
    try:
        p.set_default_blessings(b)
    except verror.VError as e:
        raise CommandError("could not set blessings %s as default: %s" % (b, e))


def cmd_update_pkcs8(env, args):
    for d in args:
        pw = get_passphrase(env, "Enter passphrase for %s: " % d)
        if not pw:
            raise CommandError("A passphrase is required for %s" % d)
        from v23py.security import _credentials
        path = os.path.join(d, "privatekey.pem")
        try:
            with _credentials.file_lock(os.path.join(d, "dir.lock")):
                with open(path, "rb") as fh:
                    key = _pem.parse_private_key(fh.read(1 << 20), pw)
                data = _pem.marshal_private_key(key, pw)
                tmp = os.path.join(d, "new-privatekey.pem")
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                os.replace(tmp, path)
        except OSError as e:
            raise CommandError("%s: %s" % (path, e.strerror or e))
        except _pem.PEMError as e:
            raise CommandError("%s: %s" % (path, e))


def _not_available(what):
    def run(env, args):
        raise CommandError("%s is not available in this principal tool yet" % what)
    return run


def build_root():
    set_cmd = Command("set", "Mutate the principal's blessings.", children=[
        Command("default", "Set provided blessings as default", [F_ADD_TO_ROOTS],
                run=cmd_set_default, args="<file>"),
        Command("forpeer", "Set provided blessings for peer", [F_ADD_TO_ROOTS],
                run=cmd_set_forpeer, args="<file> <pattern>"),
    ])
    get_flags = [F_NAMES, F_ROOTKEY, F_CAVEATS]
    get_cmd = Command("get", "Read the principal's blessings.", children=[
        Command("default", "Return blessings marked as default", get_flags,
                run=cmd_get_default),
        Command("forpeer", "Return blessings marked for the provided peer", get_flags,
                run=cmd_get_forpeer, args="[<peer_1> ... <peer_k>]"),
        Command("publickey", "Prints the public key of the principal.",
                [Flag("pretty", "bool", False, "If true, print the key out in a more "
                      "human-readable but lossy representation.")], run=cmd_get_publickey),
        Command("recognizedroots", "Return recognized blessings, and their associated "
                "public key.", run=cmd_get_recognizedroots),
        Command("peermap", "Shows the map from peer pattern to which blessing name to "
                "present.", run=cmd_get_peermap),
    ])
    children = [
        Command("create", "Create a new principal and persist it into a directory",
                [F_OVERWRITE, F_WITH_PASSPHRASE] + F_KEYS, run=cmd_create,
                args="<directory> [<blessing>]"),
        Command("fork", "Fork a new principal from the principal that this tool is running "
                "as and persist it into a directory",
                [F_CAVEAT, F_FOR, F_WITH, F_OVERWRITE, F_WITH_PASSPHRASE, F_REQUIRE_CAVEATS]
                + F_KEYS, run=cmd_fork, args="<directory> <extension>"),
        Command("seekblessings", "Seek blessings from a web-based Vanadium blessing service",
                [F_ADD_TO_ROOTS, Flag("for-peer", "string", "..."), Flag("from", "string", ""),
                 Flag("set-default", "bool", True), Flag("browser", "bool", True)],
                run=_not_available("seekblessings (needs OAuth and the RPC runtime)")),
        Command("recvblessings", "Receive blessings sent by another principal and use them "
                "as the default",
                [Flag("for-peer", "string", "..."), Flag("set-default", "bool", True),
                 Flag("remote-arg-file", "string", "")],
                run=cmd_recvblessings),
        Command("dump", "Dump out information about the principal",
                [Flag("s", "bool", False, "If true, show only the default blessing names")],
                run=cmd_dump),
        Command("dumpblessings", "Dump out information about the provided blessings",
                run=cmd_dumpblessings, args="<file>"),
        Command("dumproots", "Dump out blessings of the identity providers of blessings",
                run=cmd_dumproots, args="<file>"),
        Command("blessself", "Generate a self-signed blessing", [F_CAVEAT, F_FOR],
                run=cmd_blessself, args="[<name>]"),
        Command("bless", "Bless another principal",
                [F_CAVEAT, F_FOR, F_WITH, F_REQUIRE_CAVEATS,
                 Flag("remote-arg-file", "string", ""), Flag("remote-key", "string", ""),
                 Flag("remote-token", "string", "")],
                run=cmd_bless, args="[<principal to bless>] [<extension>]"),
        set_cmd, get_cmd,
        Command("recognize", "Add to the set of identity providers recognized by this "
                "principal", run=cmd_recognize, args="<blessing pattern|blessing> [<key>]"),
        Command("union", "Merge multiple blessings into one", run=cmd_union,
                args="[<blessing> | <blessing file>...]"),
        Command("update-pkcs8", "Update an existing principal to pkcs8 format and encryption",
                run=cmd_update_pkcs8, args="<directory>..."),
        Command("scripts", "Run one or more scripts",
                [Flag("documentation", "bool", False), Flag("compile-only", "bool", False)],
                run=_not_available("scripts (the Go scripting language)")),
    ]
    return Command("principal", "creates and manages Vanadium principals and blessings",
                   children=children)


def usage(cmd, path):
    lines = ["Usage:"]
    if cmd.children:
        lines.append("   %s [flags] <command>" % path)
        lines.append("")
        lines.append("The %s commands are:" % path)
        for c in cmd.children.values():
            lines.append("   %-13s %s" % (c.name, c.short))
    else:
        lines.append("   %s [flags] %s" % (path, cmd.args))
        if cmd.flags:
            lines.append("")
            lines.append("The %s flags are:" % path)
            for f in cmd.flags.values():
                d = f.default
                if f.kind == "bool":
                    d = "true" if d else "false"
                elif f.kind == "multi":
                    d = "[]"
                elif f.kind == "duration":
                    d = "0s"
                lines.append(" -%s=%s" % (f.name, d))
                if f.help:
                    lines.append("   " + f.help)
    lines.append("")
    lines.append("The global flags are:")
    lines.append(" -v23.credentials=")
    lines.append("   Directory for vanadium credentials (default $%s)." % ENV_CREDENTIALS)
    return "\n".join(lines) + "\n"


def run(argv, stdin=None, stdout=None, stderr=None):
    """Run the tool; returns the exit status."""
    stdin = stdin if stdin is not None else sys.stdin
    stdout = stdout if stdout is not None else sys.stdout
    stderr = stderr if stderr is not None else sys.stderr
    root = build_root()
    try:
        chain, cmd, values, args = parse_args(root, list(argv))
    except UsageError as e:
        stderr.write("ERROR: %s\n" % e)
        return 2
    if cmd is None:  # help
        target = chain[-1]
        path = [c.name for c in chain]
        for name in args:
            if name in target.children:
                target = target.children[name]
                path.append(name)
            else:
                stderr.write('ERROR: %s: unknown command or topic "%s"\n' % (" ".join(path), name))
                return 2
        stdout.write(("%s - %s\n\n" % (" ".join(path), target.short)) + usage(target, " ".join(path)))
        return 0
    env = Env(values, stdin, stdout, stderr)
    try:
        cmd.run(env, args)
    except UsageError as e:
        stderr.write("ERROR: %s\n" % e)
        return 2
    except CommandError as e:
        stderr.write("ERROR: %s\n" % _one_line(str(e)))
        return 1
    except verror.VError as e:
        stderr.write("ERROR: %s\n" % _one_line(str(e)))
        return 1
    except KeyboardInterrupt:
        stderr.write("ERROR: interrupted\n")
        return 1
    except BrokenPipeError:
        return 1
    try:
        stdout.flush()
    except (BrokenPipeError, ValueError):
        pass
    return 0


def _one_line(s):
    return " ".join(s.split("\n")).strip()


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    for stream in (sys.stdout, sys.stderr):  # Go strings may hold any bytes: print them as-is
        try:
            stream.reconfigure(errors="surrogateescape")
        except (AttributeError, ValueError):
            pass
    try:
        code = run(argv)
    except Exception as e:  # last resort: never a traceback for the user
        sys.stderr.write("ERROR: internal error: %s: %s\n" % (type(e).__name__, e))
        code = 1
    sys.exit(code)


if __name__ == "__main__":
    main()
