"""``--version`` and ``help <command>`` for the tools, with nothing but the standard
library imported (a tool asked for its version or help makes no call)."""
import sys

__all__ = ["version_text", "handle_version", "summaries", "command_help"]


from v23py.flags import FlagSet, version_text


def handle_version(prog, argv, out=None):
    """Print the version and return True when ``argv`` starts with ``--version``."""
    if argv and argv[0] in ("--version", "-version"):
        (out or sys.stdout).write(version_text(prog))
        return True
    return False


def summaries(usage):
    """{command: one-line summary} from a usage text's "The <prog> commands are:" table."""
    out = {}
    lines = usage.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("The ") and line.rstrip().endswith("commands are:"):
            for row in lines[i + 1:]:
                if not row.startswith("   ") or not row.strip():
                    break
                name, _, text = row.strip().partition(" ")
                out[name] = text.strip()
    return out


def command_help(prog, usage, path, usage_lines, flag_adder=None, flagset=None):
    """Help for ``prog <path...>``: its summary, its usage line and its own flags.

    ``usage_lines`` maps a command path ("glob", "permissions get") to its arguments
    (``[flags] <pattern>``); ``flag_adder(fs)`` adds the command's flags to a FlagSet
    (``flagset``, when given, is used instead: its flags are listed).  None when the
    path names no command."""
    key = " ".join(path)
    if key not in usage_lines:
        return None
    summary = summaries(usage).get(path[0], "")
    text = f"{prog} {key}" + (f" - {summary}" if summary else "") + "\n\n"
    text += f"Usage:\n   {prog} {key} {usage_lines[key]}\n".replace("  \n", "\n")
    fs = flagset
    if fs is None and flag_adder is not None:
        fs = FlagSet(prog)
        flag_adder(fs)
    if fs is not None and fs.flags:
        text += f"\nThe {prog} {key} flags are:\n"
        for name in sorted(fs.flags):
            f = fs.flags[name]
            default = f.default
            if isinstance(default, bool):
                default = "true" if default else "false"
            elif f.kind == "duration":
                default = _go_duration(default)
            elif isinstance(default, (list, tuple)):
                default = ",".join(default)
            text += f" -{name}={default}\n   {f.help}\n"
    return text


def _go_duration(seconds):
    if seconds == 0:
        return "0s"
    if seconds % 3600 == 0:
        return f"{int(seconds // 3600)}h0m0s"
    if seconds % 60 == 0:
        return f"{int(seconds // 60)}m0s"
    return f"{seconds:g}s"
