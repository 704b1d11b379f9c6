"""Go's command-line syntax, once: the flag tokens of Go's ``flag`` package, its
booleans (``strconv.ParseBool``) and durations (``time.ParseDuration``), and
``FlagSet`` for programs.  The runtime adds Go's ``--v23.*`` flags to a FlagSet;
the principal and vdl tools parse their own command trees with ``take_flag``.

Syntax: ``-f``, ``--f``, ``-f=v``, ``--f=v`` and ``-f v``; a bool flag never takes
the next argument (``-f=false``); ``--`` ends the flags; ``-`` alone is an argument.
"""
from __future__ import annotations

import builtins
import os
import re
import sys
from typing import Any, Callable, Optional, Sequence, TextIO, TypeVar, cast

from v23py._version import __version__

_T = TypeVar("_T")

__all__ = ["FlagError", "FlagSet", "version_text", "is_flag", "take_flag", "parse_bool",
           "parse_duration", "namespace_roots"]


class FlagError(ValueError):
    """Bad command-line flags; the message is Go's ("flag provided but not defined: -x")."""


def version_text(prog: str) -> str:
    """What ``prog --version`` prints: ``<prog> (v23py) <version>``."""
    return f"{prog} (v23py) {__version__}\n"


def is_flag(arg: str) -> bool:
    """Does ``arg`` start a flag (or is it ``--``, the end of the flags)?"""
    return len(arg) >= 2 and arg[0] == "-"


def take_flag(argv: Sequence[str], i: int,
              is_bool: Callable[[str], Optional[bool]]) -> tuple[str, str, int]:
    """(name, value, next index) for the flag at ``argv[i]``.

    ``is_bool(name)``: True for a bool flag (its value is "true" unless given with
    "="), False for a flag taking a value (from "=" or the next argument), None for
    a flag that does not exist."""
    arg = argv[i]
    name = arg[2:] if arg.startswith("--") else arg[1:]
    if not name or name[0] in "-=":
        raise FlagError(f"bad flag syntax: {arg}")
    value = None
    if "=" in name:
        name, value = name.split("=", 1)
    kind = is_bool(name)
    if kind is None:
        raise FlagError(f"flag provided but not defined: -{name}")
    i += 1
    if kind:
        return name, "true" if value is None else value, i
    if value is None:
        if i >= len(argv):
            raise FlagError(f"flag needs an argument: -{name}")
        value = argv[i]
        i += 1
    return name, value, i


def parse_bool(text: str) -> bool:
    """Go's strconv.ParseBool."""
    if text in ("1", "t", "T", "true", "TRUE", "True"):
        return True
    if text in ("0", "f", "F", "false", "FALSE", "False"):
        return False
    raise ValueError(f"invalid boolean {text!r}")


_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "\u00b5s": 1e-6, "\u03bcs": 1e-6, "ms": 1e-3,
                   "s": 1.0, "m": 60.0, "h": 3600.0}
# (compiled on first use, not at import: most runs of a tool parse no duration)
_DURATION_PART = r"([0-9]*(?:\.[0-9]*)?)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)"


def parse_duration(text: str) -> float:
    """Go's time.ParseDuration, in seconds (float): ``[-+]?(number unit)+`` or ``0``."""
    s = text
    sign = 1.0
    if s[:1] in ("+", "-"):
        sign = -1.0 if s[0] == "-" else 1.0
        s = s[1:]
    if s == "0":
        return 0.0
    if not s:
        raise FlagError(f"time: invalid duration {text!r}")
    total, pos = 0.0, 0
    while pos < len(s):
        m = re.compile(_DURATION_PART).match(s, pos)
        if not m or m.group(1) in ("", "."):
            raise FlagError(f"time: invalid duration {text!r}")
        total += float(m.group(1)) * _DURATION_UNITS[m.group(2)]
        pos = m.end()
    return sign * total


class _Flag:
    __slots__ = ("name", "kind", "default", "help", "value", "set")

    def __init__(self, name: str, kind: str, default: Any, help: str) -> None:
        self.name, self.kind, self.default, self.help = name, kind, default, help
        self.value: Any = list(default) if kind == "list" else default
        self.set = False


class FlagSet:
    """A Go-syntax flag set.  ``string/bool/int/float/duration/list`` return a getter."""

    def __init__(self, name: Optional[str] = None) -> None:
        self.name = name or os.path.basename(sys.argv[0] if sys.argv else "v23py")
        self.flags: dict[str, _Flag] = {}
        self.args: builtins.list[str] = []

    def _add(self, name: str, kind: str, default: _T, help: str) -> Callable[[], _T]:
        f = self.flags.get(name)
        if f is None:
            f = self.flags[name] = _Flag(name, kind, default, help)
        flag = f

        def value() -> _T:
            return cast(_T, flag.value)
        return value

    def string(self, name: str, default: str = "", help: str = "") -> Callable[[], str]:
        return self._add(name, "string", default, help)

    def bool(self, name: str, default: builtins.bool = False,
             help: str = "") -> Callable[[], builtins.bool]:
        return self._add(name, "bool", default, help)

    def int(self, name: str, default: builtins.int = 0,
            help: str = "") -> Callable[[], builtins.int]:
        return self._add(name, "int", default, help)

    def float(self, name: str, default: builtins.float = 0.0,
              help: str = "") -> Callable[[], builtins.float]:
        return self._add(name, "float", default, help)

    def duration(self, name: str, default: builtins.float = 0.0,
                 help: str = "") -> Callable[[], builtins.float]:
        """A Go duration (``1m30s``), in seconds."""
        return self._add(name, "duration", default, help)

    def list(self, name: str, default: Sequence[str] = (),
             help: str = "") -> Callable[[], builtins.list[str]]:
        """A repeatable string flag (each use appends)."""
        return self._add(name, "list", list(default), help)

    def get(self, name: str) -> Any:
        return self.flags[name].value

    def is_set(self, name: str) -> builtins.bool:
        f = self.flags.get(name)
        return f is not None and f.set

    def _set(self, f: _Flag, value: str) -> None:
        try:
            if f.kind == "string":
                f.value = value
            elif f.kind == "bool":
                f.value = parse_bool(value)
            elif f.kind == "int":
                f.value = int(value, 0)
            elif f.kind == "float":
                f.value = float(value)
            elif f.kind == "duration":
                f.value = parse_duration(value)
            elif f.kind == "list":
                if not f.set:
                    f.value = []
                f.value.append(value)
        except (ValueError, FlagError):
            raise FlagError(f'invalid value "{value}" for flag -{f.name}: parse error')
        f.set = True

    def parse(self, argv: Sequence[str]) -> builtins.list[str]:
        """Parse argv (without the program name); returns the positional arguments."""
        argv = list(argv)
        i = 0
        while i < len(argv) and is_flag(argv[i]):
            if argv[i] == "--":
                i += 1
                break

            def kind(name: str) -> Optional[builtins.bool]:
                f = self.flags.get(name)
                if f is None:
                    if name in ("help", "h"):
                        raise FlagError("help requested")
                    if name == "version":
                        raise FlagError("version requested")
                    return None
                return f.kind == "bool"
            name, value, i = take_flag(argv, i, kind)
            self._set(self.flags[name], value)
        self.args = argv[i:]
        return self.args

    def usage(self, out: Optional[TextIO] = None) -> None:
        out = out or sys.stderr
        out.write(f"Usage of {self.name}:\n")
        for name in sorted(self.flags):
            f = self.flags[name]
            kind = "" if f.kind == "bool" else " " + ("duration" if f.kind == "duration"
                                                      else "value" if f.kind == "list"
                                                      else f.kind)
            out.write(f"  -{name}{kind}\n    \t{f.help}")
            if f.default not in ("", False, 0, 0.0, [], ()):
                out.write(f" (default {f.default!r})")
            out.write("\n")


def namespace_roots(fs: FlagSet, default: str) -> builtins.list[str]:
    """The namespace roots a program uses: its ``--v23.namespace.root`` flags if any,
    else the values of the environment variables named ``V23_NAMESPACE*`` (sorted by
    name), else ``[default]``."""
    if fs.is_set("v23.namespace.root"):
        return list(fs.get("v23.namespace.root"))
    env = sorted((k, v) for k, v in os.environ.items() if k.startswith("V23_NAMESPACE") and v)
    if env:
        return [v for _, v in env]
    return [default]
