"""discharger: blessings that can be revoked, and their revocation (v23py's own tool)::

    discharger bless --revocation-db=FILE --location=NAME [--for=24h]
                     [--v23.credentials=DIR] <principal to bless> <extension>
    discharger revoke --revocation-db=FILE <caveat id or blessing name>...
    discharger list --revocation-db=FILE

``bless`` extends the default blessing of the --v23.credentials principal to the
principal in a directory (or the public key or blessings in a file, "-" for
stdin), with an expiry caveat (--for) and a revocation caveat: a third-party
caveat that the discharger at --location -- a ``dischargerd`` run by the same
principal with the same --revocation-db -- discharges until the blessing is
revoked. It prints the blessing as ``principal`` does (base64url VOM), ready for
``principal set``. ``revoke`` revokes caveats by id, or every caveat recorded for a
blessing name (the name printed by ``principal get default -names``). ``list``
prints one line per caveat: its id, the blessing name, and "revoked" or "valid".
Exit codes: 0 ok, 1 failure, 2 usage.
"""
import base64
import os
import sys

from v23py.cmd._help import handle_version


class UsageError(Exception):
    pass


def _flags(name):
    import v23py
    fs = v23py.FlagSet(f"discharger {name}")
    db = fs.string("revocation-db", "", "SQLite file of revocable caveats (shared with dischargerd).")
    return fs, db


def _open(db):
    from v23py import discharger as dis
    if not db:
        raise UsageError("--revocation-db is required")
    return dis.RevocationList(db)


def _key_to_bless(target):
    from v23py import security, vom
    if os.path.isdir(target):
        return security.load_principal(target, read_only=True).public_key
    text = sys.stdin.read() if target == "-" else open(target).read()
    raw = base64.urlsafe_b64decode(text.strip() + "=" * (-len(text.strip()) % 4))
    try:
        return security.public_key_from_der(raw)
    except Exception:
        b = security.blessings_from_wire(vom.decode(raw, security.WireBlessingsType))
        if b.is_zero():
            raise UsageError(f"no public key in the blessings in {target!r}")
        return b.public_key


def cmd_bless(argv, out):
    from v23py import security
    fs, db = _flags("bless")
    location = fs.string("location", "", "Object name of the dischargerd that discharges the "
                         "revocation caveat.")
    valid_for = fs.duration("for", 24 * 3600.0, "How long the blessing is valid (0: no expiry).")
    creds = fs.string("v23.credentials", os.environ.get("V23_CREDENTIALS", ""),
                      "Directory of the blessing (and discharging) principal.")
    args = fs.parse(argv)
    if len(args) != 2:
        raise UsageError("bless takes <principal to bless> <extension>")
    if not location():
        raise UsageError("--location is required")
    if not creds():
        raise UsageError("--v23.credentials (or V23_CREDENTIALS) is required")
    me = security.load_principal(creds())
    key = _key_to_bless(args[0])
    rl = _open(db())
    try:
        name = security.CHAIN_SEPARATOR.join(
            [n for n in me.blessing_store.default().names() if n][:1] + [args[1]])
        revocable = rl.new_caveat(me.public_key, location(), name=name)
    finally:
        rl.close()
    import datetime
    cavs = [revocable]
    if valid_for() > 0:
        cavs.insert(0, security.new_expiry_caveat(
            datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=valid_for())))
    b = me.bless(key, me.blessing_store.default(), args[1], cavs[0], *cavs[1:])
    out.write(security.encode_blessings(b) + "\n")
    return 0


def cmd_revoke(argv, out):
    fs, db = _flags("revoke")
    args = fs.parse(argv)
    if not args:
        raise UsageError("revoke takes caveat ids or blessing names")
    rl = _open(db())
    try:
        n = sum(rl.revoke(a) for a in args)
    finally:
        rl.close()
    if n == 0:
        sys.stderr.write("discharger: nothing to revoke (unknown, or revoked already)\n")
        return 1
    return 0


def cmd_list(argv, out):
    fs, db = _flags("list")
    fs.parse(argv)
    rl = _open(db())
    try:
        for cid, name, _, revoked in rl.entries():
            out.write(f"{cid} {name} {'revoked' if revoked is not None else 'valid'}\n")
    finally:
        rl.close()
    return 0


COMMANDS = {"bless": cmd_bless, "revoke": cmd_revoke, "list": cmd_list}


def run(argv, out=None):
    from v23py import verror
    from v23py.runtime import FlagError
    out = out or sys.stdout
    if handle_version("discharger", argv, out):
        return 0
    if len(argv) >= 2 and argv[0] == "help" and argv[1] in COMMANDS:
        # the command's usage lines from the docstring, then the paragraph about it
        lines = __doc__.splitlines()
        start = [i for i, ln in enumerate(lines) if ln.strip().startswith(f"discharger {argv[1]} ")][0]
        usage = [lines[start].strip()]
        for ln in lines[start + 1:]:
            if not ln.startswith("                     "):
                break
            usage.append(ln.strip())
        out.write(f"Usage:\n   " + "\n      ".join(usage) + "\n\n"
                  "Flags use Go's syntax; the runtime's --v23.* flags apply too.  "
                  "Exit codes: 0 ok, 1 failure, 2 usage.\n")
        return 0
    if not argv or argv[0] in ("-h", "--help", "help"):
        sys.stderr.write(__doc__)
        return 0 if argv else 2
    cmd = COMMANDS.get(argv[0])
    if cmd is None:
        sys.stderr.write(f"discharger: unknown command {argv[0]!r} (bless, revoke, list)\n")
        return 2
    try:
        return cmd(argv[1:], out)
    except (UsageError, FlagError) as e:
        sys.stderr.write(f"discharger {argv[0]}: {e}\n")
        return 2
    except (verror.VError, OSError, ValueError) as e:
        sys.stderr.write(f"discharger {argv[0]}: {e}\n")
        return 1


def main(argv=None):
    sys.exit(run(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    main()
