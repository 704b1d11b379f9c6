"""``vdl``: compile VDL packages and generate Python code for them.

    vdl generate [--lang python] [--status=false] DIR|PKG...
    vdl compile  DIR|PKG...          check only, write nothing
    vdl audit    [--lang python] DIR|PKG...   exit 1 when generated files are stale
    vdl list     DIR|PKG...          print the package paths and directories

Packages are found through $VDLPATH and the standard packages shipped with
v23py; $VDLROOT is used only when it names an existing directory (see
v23py.vdl.compiler.build).  Flags use Go's syntax: -flag, --flag, -flag=value,
-flag value; they may come before or after the command.  With -status (the
default, as in Go) generate and audit print the path of each package whose
generated code changed (or would change), compile each package it checked.
"""
from __future__ import annotations

import sys

from v23py.flags import FlagError, is_flag, parse_bool, take_flag
from v23py.cmd._help import handle_version

USAGE = __doc__

_BOOL_FLAGS = {"status", "v", "verbose", "help", "h", "exts-only"}
_VALUE_FLAGS = {"lang", "python-out-dir", "exts", "max-errors", "go-out-dir",
                "java-out-dir", "js-out-dir", "ignore-unknown", "builtin-vdlroot"}


def _parse(argv):
    """({flag: value}, [args]): Go's flag syntax, flags anywhere among the arguments."""
    flags, args = {}, []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--":
            args.extend(argv[i + 1:])
            break
        if not is_flag(a):
            args.append(a)
            i += 1
            continue

        def kind(name):
            return True if name in _BOOL_FLAGS else False if name in _VALUE_FLAGS else None
        try:
            name, value, i = take_flag(argv, i, kind)
        except FlagError as e:
            extra = f"\n\n{USAGE}" if "not defined" in str(e) else ""
            raise SystemExit(f"vdl: {e}{extra}") from None
        if name in _BOOL_FLAGS:
            try:
                value = parse_bool(value)
            except ValueError:
                raise SystemExit(f"vdl: invalid boolean value {value!r} for -{name}") from None
        flags[name] = value
    return flags, args


_SUMMARIES = {
    "generate": ("generate code for the packages", "[--lang python] [--status=false] DIR|PKG...",
                 "Compiles the packages and writes each one's generated Python module "
                 "(__init__.py beside its .vdl files, or under --python-out-dir)."),
    "compile": ("compile the packages, write nothing", "DIR|PKG...",
                "Checks the packages and reports their errors."),
    "audit": ("exit 1 when generated files are stale", "[--lang python] DIR|PKG...",
              "Generates in memory and compares with the files on disk."),
    "list": ("print the packages' paths and directories", "DIR|PKG...",
             "Resolves the arguments as generate would and prints what they name."),
}


def _command_help(cmd):
    if cmd not in _SUMMARIES:
        return None
    summary, line, text = _SUMMARIES[cmd]
    return (f"vdl {cmd} - {summary}\n\nUsage:\n   vdl {cmd} {line}\n\n{text}\n"
            "A DIR is a directory (src/pkg and ./src/pkg alike); a PKG is a package path "
            "found through $VDLPATH or the standard packages; DIR/... and PKG/... include "
            "the packages below.\n")


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if handle_version("vdl", argv):
        return 0
    if len(argv) >= 2 and argv[0] == "help":
        text = _command_help(argv[1])
        if text is None:
            print(f"vdl: unknown command {argv[1]!r}\n\n{USAGE}", file=sys.stderr)
            return 2
        print(text, end="")
        return 0
    try:
        flags, args = _parse(argv)
    except SystemExit as e:
        print(e, file=sys.stderr)
        return 2
    if flags.get("help") or flags.get("h") or not args or args[0] == "help":
        print(USAGE)
        return 0 if (flags.get("help") or flags.get("h") or (args and args[0] == "help")) else 2
    cmd, targets = args[0], args[1:]
    if cmd not in ("generate", "compile", "audit", "list"):
        print(f"vdl: unknown command {cmd!r}\n\n{USAGE}", file=sys.stderr)
        return 2
    langs = [x.strip() for x in flags.get("lang", "python").split(",") if x.strip()]
    if cmd in ("generate", "audit"):
        bad = [x for x in langs if x not in ("python", "py")]
        if bad:
            print(f"vdl: --lang {','.join(bad)} is not supported by v23py; use --lang python",
                  file=sys.stderr)
            return 2
    if not targets:
        print(f"vdl: {cmd}: no packages given", file=sys.stderr)
        return 2

    from v23py.vdl.compiler.build import Builder, write_generated
    from v23py.vdl.compiler.lexer import VDLError

    # As Go's vdl: -status (default true) prints the path of each package that
    # is compiled (compile) or whose generated code changed (generate, audit).
    status = flags.get("status", True)
    verbose = flags.get("v") or flags.get("verbose")
    try:
        b = Builder()
        srcs = []
        for t in targets:
            srcs.extend(b.resolve_arg(t))
        stale = []
        for src in srcs:
            if cmd == "list":
                b.compile(src)
                print(f"{src.path}\t{src.dir}")
                continue
            if cmd == "compile":
                b.compile(src)
                if status:
                    print(src.path)
                continue
            if src.module is None and cmd == "generate":
                raise VDLError(f"{src.dir}: package {src.path} has no importable Python module name; "
                               f"put 'module = ...' in its vdlpy.config")
            text = b.generate(src)
            if cmd == "generate":
                changed = write_generated(src.out_file, text)
                if changed and status:
                    print(src.path)
                if verbose:
                    print(f"{'wrote' if changed else 'unchanged'} {src.out_file}", file=sys.stderr)
            else:
                try:
                    with open(src.out_file, encoding="utf-8") as fh:
                        cur = fh.read()
                except OSError:
                    cur = None
                if cur != text:
                    stale.append(src)
                    if status:
                        print(src.path)
                    print(f"vdl: stale: {src.out_file} (package {src.path}); "
                          f"run `vdl generate --lang python {src.dir}`", file=sys.stderr)
        if stale:
            return 1
    except VDLError as e:
        print(e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
