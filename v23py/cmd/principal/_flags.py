"""The principal tool's command tree and Go-syntax flags."""
from v23py.flags import FlagError, parse_bool, parse_duration, take_flag



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
    try:
        return parse_bool(text.strip())
    except ValueError:
        raise UsageError('invalid boolean value "%s" for -%s: parse error' % (text, name)) from None


def _duration_value(text, name):
    try:
        return parse_duration(text.strip())
    except FlagError:
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
            name = body.partition("=")[0]
            if name in ("h", "help") and _lookup_flag(chain, name) is None:
                return chain, None, values, []
            try:
                name, val, i = take_flag(argv, i, lambda n: None if _lookup_flag(chain, n) is None
                                         else _lookup_flag(chain, n).kind == "bool")
            except FlagError as e:
                if "flag provided but not defined" in str(e) or "bad flag syntax" in str(e):
                    raise UsageError("%s: flag provided but not defined: -%s"
                                     % (" ".join(c.name for c in chain), name)) from None
                raise UsageError("%s: %s" % (" ".join(c.name for c in chain), e)) from None
            f = _lookup_flag(chain, name)
            if f.kind == "bool":
                values[f.name] = _bool(val, name)
                continue
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
