"""The principal commands that work on local credentials."""
import binascii
import contextlib
import os

from v23py import security as sec
from v23py import verror
from v23py.security import pem as _pem
from v23py.cmd.principal._common import (
    _nargs, _readline, _short, annotated_names, caveats_from_flags, confirm_no_caveats,
    decode_blessings_file, default_blessing_name, dump_blessings, dump_blessings_info,
    encode_blessings, get_passphrase, mutable_principal, read_file_or_stdin, runtime_principal,
    signing_principal)
from v23py.cmd.principal._flags import CommandError, NO_CAVEATS


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
    import base64   # (in the commands that use it: not on get default's path)
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
                import json
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
        # (the RPC runtime's half of the tool, loaded only by the commands that run it)
        from v23py.cmd.principal._remote import _bless_over_network, _run_reactor
        _run_reactor(lambda reactor: _bless_over_network(
            env, reactor, p, target, with_b, ext, cavs, remote_key, remote_token))
        return
    key = _key_to_bless(env, target)
    try:
        b = p.bless(key, with_b, ext, cavs[0], *cavs[1:])
    except verror.VError as e:
        raise CommandError(str(e))
    env.out(encode_blessings(b))


def cmd_get_default(env, args):
    dump_blessings_info(env, runtime_principal(env).blessing_store.default())


def cmd_get_forpeer(env, args):
    dump_blessings_info(env, runtime_principal(env).blessing_store.for_peer(*args))


def cmd_get_publickey(env, args):
    pk = runtime_principal(env).public_key
    if env.flags.get("pretty"):
        env.out(str(pk))
    else:
        import base64
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
    import base64
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
        path = os.path.join(d, "privatekey.pem")
        try:
            with sec.file_lock(os.path.join(d, "dir.lock")):
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
