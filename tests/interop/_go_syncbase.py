"""Go's 2017 Syncbase peers for interop tests, driven from the reactor: the daemon (and
ours beside it) as subprocesses started without blocking, and one-shot commands (Go's
``sb``, our ``sbextra``).  The programs come from .ci/go-peers.sh (group "syncbase")."""
import os
import sys
import tempfile

from twisted.internet import defer, error, protocol, reactor, utils

from tests._support import ROOT, go_binary


def go_sb_binary(name):
    """Path of a Go Syncbase program (syncbased, sb, sbextra, ...), or SkipTest saying why."""
    return go_binary(name, "syncbase")


def env():
    e = {k: v for k, v in os.environ.items() if not k.startswith("V23_")}
    e["PYTHONPATH"] = ROOT + os.pathsep + e.get("PYTHONPATH", "")
    return e


class _Lines(protocol.ProcessProtocol):
    """Collects a process's output; ``first`` fires with the ENDPOINT= line."""

    def __init__(self):
        self.out = b""
        self.err = b""
        self.first = defer.Deferred()
        self.ended = defer.Deferred()

    def outReceived(self, data):
        self.out += data
        if not self.first.called and b"\n" in self.out:
            self.first.callback(self.out.split(b"\n", 1)[0].decode())

    def errReceived(self, data):
        self.err += data[-20000:]

    def processEnded(self, reason):
        if not self.first.called:
            self.first.errback(RuntimeError(
                f"exited before ENDPOINT=: {self.err.decode(errors='replace')[-2000:]}"))
        self.ended.callback(None)


class Process:
    """A daemon subprocess (Go's or ours) printing ENDPOINT=<name> when ready."""

    def __init__(self, argv, env_=None):
        self.argv = argv
        self.env = env_ or env()
        self.pp = _Lines()
        self.proc = None
        self.endpoint = None

    async def start(self, timeout=30.0):
        self.proc = reactor.spawnProcess(self.pp, self.argv[0], self.argv, env=self.env,
                                         path=ROOT)
        timer = reactor.callLater(timeout, self._timeout)
        try:
            line = await self.pp.first
        finally:
            if timer.active():
                timer.cancel()
        if not line.startswith("ENDPOINT="):
            await self.stop()
            raise RuntimeError(f"{self.argv[0]} printed {line!r}")
        self.endpoint = line.split("=", 1)[1].strip()
        return self

    def _timeout(self):
        if not self.pp.first.called:
            self.pp.first.errback(RuntimeError(f"{self.argv[0]} did not start in time"))
            self.kill()

    def kill(self):
        try:
            self.proc.signalProcess("KILL")
        except (error.ProcessExitedAlready, AttributeError):
            pass

    async def stop(self):
        if self.proc is None or self.pp.ended.called:
            return
        try:
            self.proc.signalProcess("TERM")
        except error.ProcessExitedAlready:
            return
        timer = reactor.callLater(15, self.kill)
        await self.pp.ended
        if timer.active():
            timer.cancel()


def go_daemon(creds, root_dir, *extra):
    """Go's syncbased (not yet started)."""
    return Process([go_sb_binary("syncbased"), "--v23.tcp.address=127.0.0.1:0",
                    f"--v23.credentials={creds}", f"--root-dir={root_dir}",
                    f"--log_dir={root_dir}", *extra])


def our_daemon(creds, root_dir, *extra):
    """Our syncbased (not yet started)."""
    return Process([sys.executable, "-m", "syncbased.main", "--v23.tcp.address=127.0.0.1:0",
                    f"--v23.credentials={creds}", f"--root-dir={root_dir}", *extra])


async def run(argv, stdin=None, timeout=60.0):
    """(stdout, stderr, exit code) of a command run to its end."""
    if stdin is not None:
        fd, path = tempfile.mkstemp(prefix="sbin-")
        with os.fdopen(fd, "w") as f:
            f.write(stdin)
        argv = ["/bin/sh", "-c", 'exec "$0" "$@" < "$SBX_STDIN"', *argv]
        e = dict(env(), SBX_STDIN=path)
    else:
        e = env()
    try:
        d = utils.getProcessOutputAndValue(argv[0], argv[1:], env=e, path=ROOT)
        timer = reactor.callLater(timeout, d.cancel)
        try:
            out, err, code = await d
        finally:
            if timer.active():
                timer.cancel()
    finally:
        if stdin is not None:
            os.unlink(path)
    return out.decode("utf-8", "replace"), err.decode("utf-8", "replace"), code
