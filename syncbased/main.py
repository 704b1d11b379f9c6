"""syncbased: the Syncbase daemon.

Flags (Go's): ``--name`` (mount name), ``--root-dir`` (empty: a fresh
temporary directory per start), ``--engine`` (``sqlite`` default, ``leveldb``
accepted as its alias, ``memstore``), ``--skip-publish-in-nh``, ``--dev``,
``--cpuprofile`` (a cProfile dump at exit), ``--initial-db blessing,name``,
plus every v23 runtime flag (``--v23.credentials``, ``--v23.tcp.address``,
``--v23.permissions.literal`` / ``--v23.permissions.file=runtime:<file>`` for
the initial service permissions, ...).

Outside ``--dev`` the virtual clock syncs with NTP at ``pool.ntp.org:123`` every
hour, as Go's does; the environment variable ``V23PY_NTP_HOST`` names another
``host:port`` (empty: no NTP).

Stdout receives exactly one line, ``ENDPOINT=<rooted endpoint name>``,
flushed, once the dispatcher serves.  Logs go to stderr.  SIGTERM/SIGINT:
in-flight store work finishes, stores close, exit status 0.  SIGUSR1 writes every
thread's stack to stderr and the daemon goes on (Go's runtime dumps its goroutines on
SIGQUIT, and exits).  A second daemon
on the same root directory fails at once (a lock file) with a clear error.
"""
from __future__ import annotations

import gc

# Start-up makes objects that live as long as the process (modules, classes, codecs):
# the cyclic collector would scan them again and again for nothing.  Off from here, before
# the imports (from main() on, it still took ~1 % of the instructions to ENDPOINT=);
# _tune_gc switches it back on once the daemon serves.
gc.disable()

from syncbased import _lazyimports  # noqa: E402

# (first: logging, Twisted and the daemon's modules import what it defers)
_lazyimports.install()

import faulthandler  # noqa: E402
import fcntl  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402

from v23py import verror  # noqa: E402
from syncbased.store import engine as store_engine  # noqa: E402


_log = logging.getLogger("syncbased.main")   # (this module runs as __main__)


def log(msg):
    _log.info(msg)


def _stacks_on_sigusr1():
    """``kill -USR1`` shows where every thread of a daemon that stopped answering is."""
    faulthandler.register(signal.SIGUSR1, file=sys.stderr, all_threads=True, chain=False)


def _log_to_stderr():
    """The daemon's own messages (and its modules') go to stderr as "syncbased: ...";
    others' warnings as before.  (Go-style log flags and formats come from the runtime.)"""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("syncbased: %(message)s"))
    ours = logging.getLogger("syncbased")
    ours.addHandler(handler)
    ours.setLevel(logging.INFO)
    ours.propagate = False


class RootLock:
    """An exclusive, non-blocking flock on <root>/LOCK held for the daemon's lifetime."""

    def __init__(self, root):
        self.path = os.path.join(root, "LOCK")
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self.fd)
            raise verror.BadState.new(
                f"root dir {root} is in use by another syncbased (lock {self.path} held)")
        os.ftruncate(self.fd, 0)
        os.write(self.fd, f"{os.getpid()}\n".encode())

    def release(self):
        try:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
        except OSError:
            pass


def _service_perms(rt):
    from syncbased import access
    perms = rt.permissions().get("runtime")
    if perms is None:
        return None
    return access.from_json(perms)


async def run(reactor, argv):
    import v23py
    from v23py import security
    from v23py.syncbase.util import parse_id, validate_id, InvalidNameError
    from syncbased.daemon import Daemon
    from syncbased.service import Service

    flags = v23py.FlagSet("syncbased")
    name = flags.string("name", "", "Name to mount at.")
    root_dir = flags.string("root-dir", "", "Root dir for storage engines and other data.")
    engine = flags.string("engine", "", "Storage engine to use: sqlite (default), "
                          "leveldb (alias of sqlite) or memstore.")
    skip_nh = flags.bool("skip-publish-in-nh", False,
                         "Whether to skip publishing in the neighborhood.")
    flags.bool("publish-nh", True, "Deprecated; see --skip-publish-in-nh.")
    dev = flags.bool("dev", False, "Whether to run in development mode; required for RPCs "
                     "such as Service.DevModeUpdateVClock.")
    cpuprofile = flags.string("cpuprofile", "", "If specified, write the cpu profile to the "
                              "given filename.")
    initial_db = flags.string("initial-db", "", "If specified, create a database with the "
                              "given id (blessing,name) on a brand-new root dir.")
    ctx, shutdown = v23py.init(argv, flags=flags, reactor=reactor)
    from syncbased import syncstats
    syncstats.register_prometheus()   # per-peer sync progress beside the runtime's metrics
    # The store thread and the reactor hand work back and forth; a short GIL
    # switch interval keeps each hand-off from waiting a full default 5 ms slice.
    sys.setswitchinterval(0.0002)

    profiler = None
    if cpuprofile():
        import cProfile
        profiler = cProfile.Profile()
        profiler.enable()

    stop = v23py.wait_for_signal(ctx)
    rt = v23py.get_runtime(ctx)
    root = root_dir()
    if not root:
        import tempfile   # (only here: a start without --root-dir)
        root = tempfile.mkdtemp(prefix="syncbased-")
        log(f"Created new root dir: {root}")
    os.makedirs(root, exist_ok=True)
    lock = RootLock(root)
    idb = None
    if initial_db():
        try:
            idb = parse_id(initial_db())
            validate_id(idb)
        except InvalidNameError as e:
            raise verror.BadArg.new(f"bad --initial-db {initial_db()!r}: {e}") from None
    principal = rt.principal
    patterns = security.default_blessing_names(principal)
    store_engine.hold_checks()       # (released once ENDPOINT= is out)
    service = Service(root, engine() or "sqlite", perms=_service_perms(rt),
                      default_patterns=patterns, initial_db=idb, dev=dev(), log=log,
                      defer_sync=True)
    from syncbased.vclock import NTP_DEFAULT_HOST
    # Go syncs with pool.ntp.org except in dev mode; V23PY_NTP_HOST replaces that host
    # ("" turns NTP off, as the tests do so that nothing leaves the machine)
    ntp_host = "" if dev() else os.environ.get("V23PY_NTP_HOST", NTP_DEFAULT_HOST)
    daemon = Daemon(service, reactor, ctx, publish_nh=not skip_nh(), own_names=patterns,
                    ntp_host=ntp_host)
    if daemon.sync is not None:
        syncstats.register_syncgroups(daemon.sync)   # per-syncgroup progress, ditto
    try:
        server = await v23py.with_new_dispatching_server(ctx, name(), daemon.dispatcher)
        if name():
            log(f"Mounted at: {name()}")
        eps = server.endpoints
        daemon.vclockd.start()
        if eps:
            daemon.sync.start(eps[0].name(), server)
            sys.stdout.write(f"ENDPOINT={eps[0].name()}\n")
            sys.stdout.flush()
            _tune_gc()
        store_engine.release_checks()
        await stop
        daemon.sync.stop()
        log("shutting down")
        await shutdown()
    finally:
        daemon.stop()
        lock.release()
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(cpuprofile())


def _tune_gc():
    """The cyclic collector, for a long-running daemon (profiled on a receiving daemon:
    ~20% of a synced row's CPU went to collections).  What start-up made (modules,
    types, codecs) lives as long as the process, so it is frozen out of every later
    scan; and a collection waits for 10,000 new objects instead of 700, so decoding a
    round's thousands of records does not start one every few rows.  Garbage in
    cycles is still collected, a little later.  (The collector is off until here, from
    this module's first lines.)"""
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)
    gc.enable()


def main(argv=None):
    from twisted.internet import defer, task
    argv = sys.argv[1:] if argv is None else argv
    _log_to_stderr()
    _stacks_on_sigusr1()

    def start(reactor):
        d = defer.ensureDeferred(run(reactor, argv))

        def failed(f):
            sys.stdout.flush()
            if f.check(SystemExit):
                code = f.value.code
                sys.stderr.flush()
                os._exit(code if isinstance(code, int) else 0 if code is None else 1)
            log(f"error: {f.getErrorMessage()}")
            os._exit(1)
        d.addErrback(failed)
        return d
    task.react(start)


if __name__ == "__main__":
    main()
