"""Logging as Go Vanadium's programs do it (``v.io/x/lib/vlog`` over glog), on top of
the standard library's ``logging``: every module logs with
``logging.getLogger(__name__)``; :func:`configure` (called by the runtime from the
flags) installs one handler on the root logger that writes glog's lines and files.

Flags and their Go defaults: ``-v=0`` (verbosity), ``-vmodule=`` (``pattern=N,...``
on the module file name without ``.py``), ``-log_dir=`` (empty: the temp
directory), ``-logtostderr=false``, ``-alsologtostderr=true``,
``-stderrthreshold=2`` (ERROR), ``-log_backtrace_at=file.py:N``.

Levels: ``logging.INFO``/``WARNING``/``ERROR``/``CRITICAL`` are glog's I, W, E
and F.  Below INFO, ``V(n)`` is level ``11 - n``: ``logging.DEBUG`` (10) is
``V(1)``, ``V(2)`` is 9 and so on; ``-v=N`` shows ``V(1)`` to ``V(N)``.

Files, written only once something is logged, for INFO, WARNING, ERROR and FATAL (each
holding its severity and the more severe ones), with the ``<program>.<SEVERITY>``
symlink and glog's four header lines; their names::

    <dir>/<program>.<host>.<user>.log.vlog.<SEVERITY>.<yyyymmdd-hhmmss>.<pid>

Line format::

    Lmmdd hh:mm:ss.uuuuuu   <pid> file.py:line] message


Twisted's own log events (``twisted.logger``) are routed into ``logging`` under the
logger of their namespace, so there is one logging path.
"""
import logging
import os
import platform
import re
import socket
import sys
import tempfile
import threading
import time
import traceback

__all__ = ["V", "match_module", "configure", "configure_from_flags", "log_dir", "add_flags", "GlogHandler",
           "format_record", "file_name"]

INFO, WARNING, ERROR, FATAL = range(4)
_SEVERITIES = ("INFO", "WARNING", "ERROR", "FATAL")
_CHARS = "IWEF"


def V(n):
    """The ``logging`` level of glog's ``V(n)`` messages (n >= 1)."""
    return max(1, logging.DEBUG - (int(n) - 1))


def _verbosity(levelno):
    """The V level of a record below INFO (1 for DEBUG)."""
    return logging.DEBUG - levelno + 1


def _severity(levelno):
    if levelno >= logging.CRITICAL:
        return FATAL
    if levelno >= logging.ERROR:
        return ERROR
    if levelno >= logging.WARNING:
        return WARNING
    return INFO


def _short_host():
    h = socket.gethostname() or "unknownhost"
    return h.split(".", 1)[0]


def _user():
    try:
        import pwd
        return pwd.getpwuid(os.getuid()).pw_name.replace("\\", "_")
    except Exception:
        return os.environ.get("USER") or "unknownuser"


def program_name():
    """The program's name as Go's would be: the script's base name (``python -m`` runs
    give the module file's, without ``.py``)."""
    path = sys.argv[0] if sys.argv and sys.argv[0] else "python"
    name = os.path.basename(path)
    if name in ("__main__.py", "main.py"):   # python -m package(.main): the package
        name = os.path.basename(os.path.dirname(os.path.abspath(path))) or "python"
    return name[:-3] if name.endswith(".py") else name


def file_name(program, severity, t=None, pid=None):
    """glog's log file name and its symlink's name, for a severity name like "INFO"."""
    lt = time.localtime(time.time() if t is None else t)
    name = (f"{program}.{_short_host()}.{_user()}.log.vlog.{severity}."
            f"{time.strftime('%Y%m%d-%H%M%S', lt)}.{os.getpid() if pid is None else pid}")
    return name, f"{program}.{severity}"


def format_record(record, pid=None):
    """One glog line (with its newline) for a logging record."""
    t = record.created
    lt = time.localtime(t)
    us = int((t - int(t)) * 1e6)
    msg = record.getMessage()
    if record.exc_info:
        msg += "\n" + "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
    elif record.exc_text:
        msg += "\n" + record.exc_text
    if record.stack_info:
        msg += "\n" + record.stack_info
    line = (f"{_CHARS[_severity(record.levelno)]}{lt.tm_mon:02d}{lt.tm_mday:02d} "
            f"{lt.tm_hour:02d}:{lt.tm_min:02d}:{lt.tm_sec:02d}.{us:06d} "
            f"{os.getpid() if pid is None else pid:7d} "
            f"{os.path.basename(record.pathname or '???')}:{record.lineno or 0}] {msg}")
    return line if line.endswith("\n") else line + "\n"


def _header():
    now = time.localtime()
    return (f"Log file created at: {time.strftime('%Y/%m/%d %H:%M:%S', now)}\n"
            f"Running on machine: {_short_host()}\n"
            f"Binary: Built with {platform.python_implementation()} "
            f"{platform.python_version()} for {sys.platform}/{platform.machine()}\n"
            "Log line format: [IWEF]mmdd hh:mm:ss.uuuuuu threadid file:line] msg\n")


def match_module(pattern, name):
    """Whether ``name`` matches the -vmodule ``pattern`` by Go's ``filepath.Match`` rule
    (glog's): ``*`` is any run and ``?`` any one character except ``/``; ``[...]``
    and ``[^...]`` hold characters, ``\\``-escapes and ``lo-hi`` ranges (and may
    match ``/``); ``\\c`` is ``c``; the whole name must match.  A malformed pattern
    raises ValueError."""
    return _module_regex(pattern).fullmatch(name) is not None


_LEVEL = re.compile(r"[+-]?[0-9]+")


def _module_regex(pattern):
    out = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        i += 1
        if c == "*":
            if not out or out[-1] != "[^/]*":
                out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            cls, i = _class_regex(pattern, i)
            out.append(cls)
        else:
            if c == "\\":
                if i == n:
                    raise ValueError(f"syntax error in pattern {pattern!r}")
                c = pattern[i]
                i += 1
            out.append(re.escape(c))
    return re.compile("".join(out))


def _class_regex(pattern, i):
    """The regex of the class whose body starts at pattern[i]; and the index after it.
    Go's grammar: at least one range, none starting with '-' or ']', and a range's
    character must be followed by more pattern (its ']' at least)."""
    n = len(pattern)

    def char(i):
        if i >= n or pattern[i] in "-]":
            raise ValueError(f"syntax error in pattern {pattern!r}")
        if pattern[i] == "\\":
            i += 1
            if i >= n:
                raise ValueError(f"syntax error in pattern {pattern!r}")
        if i + 1 >= n:
            raise ValueError(f"syntax error in pattern {pattern!r}")
        return pattern[i], i + 1

    negated = i < n and pattern[i] == "^"
    if negated:
        i += 1
    ranges = []
    while not (ranges and pattern[i] == "]"):
        lo, i = char(i)
        hi = lo
        if pattern[i] == "-":
            hi, i = char(i + 1)
        ranges.append((lo, hi))
    # a range with lo > hi is valid and holds nothing
    body = "".join(re.escape(lo) if lo == hi else f"{re.escape(lo)}-{re.escape(hi)}"
                   for lo, hi in ranges if lo <= hi)
    if not body:
        return ("(?s:.)" if negated else "(?!)"), i + 1
    return f"[{'^' if negated else ''}{body}]", i + 1


def _parse_vmodule(spec):
    """-vmodule's ``pattern=N,...`` as glog reads it: [(pattern, compiled or None, N)],
    N > 0 (``=0`` entries are dropped, a negative N is an error).  A malformed pattern
    is kept but never matches: glog ignores filepath.Match's error."""
    out = []
    for part in (spec or "").split(","):
        if not part:
            continue
        bits = part.split("=")
        if len(bits) != 2 or not bits[0] or not _LEVEL.fullmatch(bits[1]):
            raise ValueError(f"syntax error: expect comma-separated list of filename=N: {spec}")
        pat, lvl = bits[0], int(bits[1])
        if lvl < 0:
            raise ValueError(f"negative value for vmodule level: {spec}")
        if lvl == 0:
            continue
        try:
            rx = _module_regex(pat)
        except ValueError:
            rx = None
        out.append((pat, rx, lvl))
    return out


def _parse_threshold(s):
    if s is None or s == "":
        return ERROR
    s = str(s).strip()
    if s.upper() in _SEVERITIES:
        return _SEVERITIES.index(s.upper())
    v = int(s)
    if not 0 <= v <= 3:
        raise ValueError(f"invalid stderrthreshold {s!r}")
    return v


class GlogHandler(logging.Handler):
    """Writes records as glog does: to per-severity files and/or standard error."""

    def __init__(self, program=None, log_dir="", verbosity=0, vmodule="", to_stderr=False,
                 also_to_stderr=True, stderr_threshold=ERROR, backtrace_at="", stderr=None):
        # flags first: a handler that fails here must not reach logging's handler list
        verbosity, vmodule = int(verbosity), _parse_vmodule(vmodule)
        stderr_threshold = _parse_threshold(stderr_threshold)
        super().__init__(logging.NOTSET)
        self.program = program or program_name()
        self.dir = log_dir or tempfile.gettempdir()
        self.verbosity = verbosity
        self.vmodule = vmodule
        self.to_stderr = to_stderr
        self.also_to_stderr = also_to_stderr
        self.stderr_threshold = stderr_threshold
        self.backtrace_at = backtrace_at or ""
        self._stderr = stderr
        self._files = [None] * 4
        self._paths = [None] * 4
        self._failed = False
        self._wlock = threading.Lock()

    @property
    def stderr(self):
        return self._stderr if self._stderr is not None else sys.stderr

    def min_level(self):
        """The lowest logging level any record may pass at."""
        v = max([self.verbosity] + [lvl for _, _, lvl in self.vmodule])
        return V(v) if v > 0 else logging.INFO

    def wants(self, record):
        lv = record.levelno
        if lv >= logging.INFO:
            return True
        need = _verbosity(lv)
        if need <= self.verbosity:
            return True
        # as glog: -v first, then the first -vmodule pattern matching the file's name
        mod = os.path.splitext(os.path.basename(record.pathname or ""))[0]
        for _, rx, lvl in self.vmodule:
            if rx is not None and rx.fullmatch(mod) is not None:
                return need <= lvl
        return False

    def emit(self, record):
        try:
            if not self.wants(record):
                return
            data = format_record(record)
            if self.backtrace_at:
                loc = f"{os.path.basename(record.pathname or '')}:{record.lineno}"
                if loc == self.backtrace_at:
                    data += "".join(traceback.format_stack())
            sev = _severity(record.levelno)
            with self._wlock:
                if self.to_stderr:
                    self._write_stderr(data)
                    return
                if self.also_to_stderr or sev >= self.stderr_threshold:
                    self._write_stderr(data)
                if self._failed:
                    return
                if self._files[sev] is None and not self._create(sev, data):
                    return
                b = data.encode("utf-8", "replace")
                for s in range(sev, -1, -1):
                    f = self._files[s]
                    f.write(b)
                    f.flush()
        except Exception:
            self.handleError(record)

    def _write_stderr(self, data):
        try:
            self.stderr.write(data)
            self.stderr.flush()
        except Exception:
            pass

    def _create(self, sev, data):
        """Open the files of ``sev`` and the lower severities not yet open."""
        now = time.time()
        for s in range(sev, -1, -1):
            if self._files[s] is not None:
                continue
            name, link = file_name(self.program, _SEVERITIES[s], now)
            path = os.path.join(self.dir, name)
            try:
                f = open(path, "ab", buffering=0)
            except OSError as e:
                self._failed = True
                if not (self.also_to_stderr or sev >= self.stderr_threshold):
                    self._write_stderr(data)
                self._write_stderr(f"log: cannot create log: {e}\n")
                return False
            f.write(_header().encode())
            self._files[s] = f
            self._paths[s] = path
            lpath = os.path.join(self.dir, link)
            try:
                if os.path.islink(lpath) or os.path.exists(lpath):
                    os.remove(lpath)
                os.symlink(name, lpath)
            except OSError:
                pass
        return True

    def paths(self):
        """The files written so far, by severity name."""
        return {_SEVERITIES[s]: p for s, p in enumerate(self._paths) if p}

    def close(self):
        with self._wlock:
            for i, f in enumerate(self._files):
                if f is not None:
                    try:
                        f.close()
                    except OSError:
                        pass
                    self._files[i] = None
        super().close()


_HANDLER = None
_TWISTED_ROUTED = False


def configure(program=None, log_dir="", verbosity=0, vmodule="", to_stderr=False,
              also_to_stderr=True, stderr_threshold=ERROR, backtrace_at="", stderr=None):
    """Install (or replace) the process's glog handler on the root logger."""
    global _HANDLER
    h = GlogHandler(program, log_dir, verbosity, vmodule, to_stderr, also_to_stderr,
                    stderr_threshold, backtrace_at, stderr)
    root = logging.getLogger()
    if _HANDLER is not None:
        root.removeHandler(_HANDLER)
        _HANDLER.close()
    _HANDLER = h
    root.addHandler(h)
    root.setLevel(h.min_level())
    _route_twisted()
    return h


def handler():
    return _HANDLER


def log_dir():
    """The directory this process writes its log files to (Go's LogDir): the
    configured one, else the temp directory; None while logging is not configured."""
    if _HANDLER is None:
        return None
    return _HANDLER.dir


def add_flags(fs):
    """Go's vlog flags on a v23py.runtime FlagSet."""
    fs.int("v", 0, "log level for V logs")
    fs.string("log_dir", "", "if non-empty, write log files to this directory")
    fs.bool("logtostderr", False, "log to standard error instead of files")
    fs.bool("alsologtostderr", True, "log to standard error as well as files")
    fs.string("stderrthreshold", "2", "logs at or above this threshold go to stderr")
    fs.string("vmodule", "", "comma-separated list of globpattern=N settings for "
              "filename-filtered logging (without the .py suffix)")
    fs.string("vpath", "", "comma-separated list of regexppattern=N settings for file "
              "pathname-filtered logging (without the .py suffix)")
    fs.string("log_backtrace_at", ":0", "when logging hits line file:N, emit a stack trace")
    fs.string("max_stack_buf_size", "4292608", "max size in bytes of the buffer to use for "
              "logging stack traces")
    return fs


def configure_from_flags(fs, program=None, stderr=None):
    """configure() from the flags add_flags registered (after parsing)."""
    bt = fs.get("log_backtrace_at")
    return configure(program=program, log_dir=fs.get("log_dir"), verbosity=fs.get("v"),
                     vmodule=fs.get("vmodule"), to_stderr=fs.get("logtostderr"),
                     also_to_stderr=fs.get("alsologtostderr"),
                     stderr_threshold=fs.get("stderrthreshold"),
                     backtrace_at="" if bt in ("", ":0") else bt, stderr=stderr)


def _twisted_observer(event):
    """A twisted.logger observer that hands events to ``logging``: Twisted's info
    chatter (factories starting and stopping) becomes V(2), its debug V(3)."""
    from twisted.logger import LogLevel, formatEvent
    level = event.get("log_level")
    ns = event.get("log_namespace") or "twisted"
    if level is LogLevel.critical:
        lv = logging.CRITICAL
    elif level is LogLevel.error:
        lv = logging.ERROR
    elif level is LogLevel.warn:
        lv = logging.WARNING
    elif level is LogLevel.info:
        lv = V(2)   # (our own code logs through logging; these are Twisted's notes)
    else:
        lv = V(3)
    logger = logging.getLogger(ns)
    if not logger.isEnabledFor(lv):
        return
    exc = None
    f = event.get("log_failure")
    if f is not None:
        exc = (f.type, f.value, f.getTracebackObject())
    parts = ns.split(".")
    path = parts[-2] + ".py" if len(parts) > 1 else ns + ".py"
    rec = logger.makeRecord(ns, lv, path, 0, "%s", (formatEvent(event),), exc)
    logger.handle(rec)


def _route_twisted():
    """Send twisted.logger's events into ``logging`` (once per process)."""
    global _TWISTED_ROUTED
    if _TWISTED_ROUTED:
        return
    _TWISTED_ROUTED = True
    try:
        from twisted.logger import globalLogBeginner, globalLogPublisher
    except ImportError:
        return
    if getattr(globalLogBeginner, "_temporaryObserver", None) is None:
        # logging already began (trial, twistd): add ours beside theirs
        globalLogPublisher.addObserver(_twisted_observer)
        return
    globalLogBeginner.beginLoggingTo([_twisted_observer], redirectStandardIO=False,
                                     discardBuffer=True)
