"""sb sh (a line per command, readline on a terminal) and running one command line
(errors and exit codes as Go's sb reports them)."""
from __future__ import annotations

from twisted.internet import threads

from v23py.cmd.sb._cmdline import UsageError, open_db, resolve, usage
from v23py.cmd._outcome import error_text, flush_quietly

# --- the shell -------------------------------------------------------------------------

async def run_sh(ctx, state, db, flags, args):
    root = state.root
    try:
        interactive = state.stdin.isatty()
    except (AttributeError, ValueError):
        interactive = False
    reader = _Reader(state.stdin, interactive, root)
    state.db = db
    try:
        while True:
            line = await reader.read()
            if line is None:
                if interactive:
                    state.out.write("\n")
                break
            line, scan_errors = scan_line(line)
            for col, msg in scan_errors:
                state.err.write(f"<input>:1:{col}: {msg}\n")
            fields = line.split()
            if not fields:
                continue
            if fields[0] in ("exit", "quit"):
                return
            if fields[0] == "help":
                _shell_help(root, fields[1:], state)
                continue
            code = await _run(root, fields, state, interactive=interactive)
            if code and not interactive:
                raise _Halt(code)
    finally:
        state.db = None


class _Halt(Exception):
    def __init__(self, code):
        super().__init__(code)
        self.code = code


def _shell_help(root, args, state):
    out = state.out
    if not args:
        out.write("Commands:\n")
        for c in root.children[1:]:
            out.write(f"\t{c.name}\t{c.short}\n")
        out.write("\thelp\tPrint a list of all commands\n")
        out.write("\texit\tEnd session (aliased to quit)\n")
    elif len(args) == 1:
        if args[0] == "help":
            out.write("Print a list of all commands, or useful information about a single "
                      "command.\n\nUsage:\n\thelp [command_name]\n")
        else:
            cmd = root.child(args[0])
            if cmd is None or cmd.name == "sh":
                raise _Halt(_report(state, RuntimeError(f'no command "{args[0]}"')))
            out.write(f"{cmd.long}\n\nUsage:\n\t{cmd.name} [flags] {cmd.args_name}\n\n"
                      f"{cmd.args_long}\n")
    else:
        raise _Halt(_report(state, RuntimeError("too many arguments")))


def _complete(root, line, text, i):
    """Go's shell completion: command names (and sub-command names) for the word typed."""
    words = line.split(" ")
    cmds = root.children[1:]
    for w in words[:-1]:
        nxt = next((c for c in cmds if c.name == w), None)
        if nxt is None:
            return None
        cmds = nxt.children
    matches = [c.name for c in cmds if c.name.startswith(text)]
    return matches[i] if i < len(matches) else None


def scan_line(text):
    """A shell line as Go's sb reads it (text/scanner with Go tokens): comments dropped,
    and (column, message) for what Go's scanner reports on stderr (bad literals)."""
    out, errs = [], []
    i, n = 0, len(text)

    def escape(j, quote):
        # j is just past the backslash; returns the index after the escape
        if j >= n:
            return j
        c = text[j]
        digits = {"x": (16, 2), "u": (16, 4), "U": (16, 8)}
        if c in "abfnrtv\\" or c == quote:
            return j + 1
        if c in "01234567":
            base, cnt, j = 8, 3, j
        elif c in digits:
            (base, cnt), j = digits[c], j + 1
        else:
            errs.append((start + 1, "invalid char escape"))
            return j + 1
        while cnt > 0 and j < n and text[j].lower() in "0123456789abcdef"[:base]:
            j += 1
            cnt -= 1
        if cnt > 0:
            errs.append((start + 1, "invalid char escape"))
        return j

    while i < n:
        c = text[i]
        start = i
        if c == "/" and i + 1 < n and text[i + 1] in "/*":
            if text[i + 1] == "/":
                break
            end = text.find("*/", i + 2)
            if end < 0:
                errs.append((start + 1, "comment not terminated"))
                break
            i = end + 2
            continue
        if c in "\"'":
            j, count = i + 1, 0
            while True:
                if j >= n:
                    errs.append((start + 1, "literal not terminated"))
                    break
                if text[j] == c:
                    j += 1
                    if c == "'" and count != 1:
                        errs.append((start + 1, "invalid char literal"))
                    break
                j = escape(j + 1, c) if text[j] == "\\" else j + 1
                count += 1
            out.append(text[i:j])
            i = j
            continue
        if c == "`":
            end = text.find("`", i + 1)
            if end < 0:
                errs.append((start + 1, "literal not terminated"))
                end = n - 1
            out.append(text[i:end + 1])
            i = end + 1
            continue
        out.append(c)
        i += 1
    return "".join(out), errs


class _Reader:
    """One line per command: readline with Go's prompts on a terminal, stdin otherwise
    (read in a thread so the reactor keeps running)."""

    def __init__(self, stdin, interactive, root=None):
        self.stdin = stdin
        self.interactive = interactive
        if interactive:
            try:
                import readline  # line editing and history for input()
            except ImportError:
                return
            if root is not None:
                readline.set_completer(lambda text, i: _complete(root, readline.get_line_buffer(),
                                                                 text, i))
                readline.set_completer_delims(" ")
                readline.parse_and_bind("tab: complete")

    def _read(self):
        if self.interactive:
            try:
                return input("? ")
            except EOFError:
                return None
        line = self.stdin.readline()
        if not line:
            return None
        return line.rstrip("\n")

    def read(self):
        return threads.deferToThread(self._read)


# --- running ---------------------------------------------------------------------------

def _report(state, e, interactive=False):
    # a terminal shell goes on after an error, saying "Error:" where sb itself exits
    state.err.write(f"{'Error' if interactive else 'ERROR'}: {error_text(e)}\n")
    return 1


async def _run(root, argv, state, interactive=False, resolved=None):
    """Run one command line; returns the exit code."""
    code = await _run1(root, argv, state, interactive, resolved)
    if interactive and code == 2:
        state.err.write("Error: exit code 2\n")
    return code


async def _run1(root, argv, state, interactive, resolved):
    try:
        if isinstance(resolved, UsageError):
            raise resolved
        cmd, flags, args, help_req = resolved or resolve(root, argv, state)
    except UsageError as e:
        cmd = e.cmd or root
        if str(e):
            state.err.write(f"ERROR: {e}\n\n")
            state.err.write(usage(cmd, state))
            return 2
        state.out.write(usage(cmd, state))
        return 0
    if help_req:
        try:
            return _help(root, cmd, args, state, state.out)
        except UsageError as e:
            state.err.write(f"ERROR: {e}\n")
            return 2
    if cmd.run is None:
        return 0
    ctx = state.ctx
    try:
        db = state.db
        if db is None and not cmd.plain:
            db = await open_db(ctx, state)
        await cmd.run(ctx, state, db, flags, args)
        return 0
    except _Halt as h:
        return h.code
    except UsageError as e:
        state.err.write(f"ERROR: {e}\n\n")
        state.err.write(usage(cmd, state, help_path=cmd.parent.path() if cmd.parent else None,
                              sub=cmd.name))
        return 2
    except Exception as e:
        return _report(state, e, interactive)
    finally:
        flush_quietly(state.out)


def _help(root, cmd, args, state, out):
    """``<path> help [command]``: the usage of ``cmd`` or of the named child."""
    target = cmd
    sub = None
    for a in args:
        if a.startswith("-"):
            continue
        nxt = target.child(a)
        if nxt is None:
            raise UsageError(f'{cmd.path()} help: unknown command or topic "{a}"', cmd)
        target = nxt
        sub = a if sub is None else f"{sub} {a}"
    out.write(usage(target, state, help_path=cmd.path(), sub=sub))
    return 0
