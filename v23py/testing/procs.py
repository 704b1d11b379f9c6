"""Child processes for end-to-end tests: the environment, a line-waiting process protocol, credentials."""
import os
import re

from twisted.internet import defer, error, protocol, reactor

from v23py import security
from v23py.testing import ROOT, child_env
from v23py.testing.rpc import make_principal


ENV = child_env()


class Daemon(protocol.ProcessProtocol):
    """A child process whose output is collected in ``out`` and ``err`` (bytes).

    ``ready`` fires with the first stdout line containing the str ``marker``; or, when
    ``marker`` is a compiled bytes regex, with its group 1 (else the whole match) on the
    first match in ``stream`` ("out" or "err"); it errbacks if the child ends first.
    With no marker, ``ready`` fires with None at once.  ``ended`` fires with the exit
    code."""

    def __init__(self, marker=None, stream="out"):
        self.marker = marker
        self.stream = stream
        self.out = b""
        self.err = b""
        self.ready = defer.Deferred()
        self.ended = defer.Deferred()
        self.reason = None
        if marker is None:
            self.ready.callback(None)

    def text(self):
        return self.out.decode(errors="replace")

    def _look(self, buf):
        if self.ready.called:
            return
        if isinstance(self.marker, str):
            for line in buf.decode(errors="replace").splitlines():
                if self.marker in line:
                    self.ready.callback(line)
                    return
        else:
            m = self.marker.search(buf)
            if m:
                self.ready.callback((m.group(1) if m.re.groups else m.group(0)).decode())

    def outReceived(self, data):
        self.out += data
        if self.stream == "out":
            self._look(self.out)

    def errReceived(self, data):
        self.err += data
        if self.stream == "err":
            self._look(self.err)

    def processEnded(self, reason):
        code = getattr(reason.value, "exitCode", None)
        self.reason = (code, getattr(reason.value, "signal", None), getattr(reason.value, "status", None))
        if not self.ready.called:
            self.ready.errback(RuntimeError(
                "exited before %r: %s %s" % (self.marker, self.out, self.err[-4000:])))
        self.ended.callback(code)


def spawn(test, args, marker=None, stream="out", env=None):
    """Starts ``args`` (killed at the test's cleanup); returns (Daemon, process)."""
    d = Daemon(marker, stream)
    p = reactor.spawnProcess(d, args[0], args, env=ENV if env is None else env, path=ROOT)

    def stop():
        try:
            p.signalProcess("KILL")
        except error.ProcessExitedAlready:
            return None
        return d.ended
    test.addCleanup(stop)
    return d, p


def kill(proc, daemon):
    """Kills ``proc`` now; returns ``daemon.ended``."""
    try:
        proc.signalProcess("KILL")
    except error.ProcessExitedAlready:
        pass
    return daemon.ended


def make_creds(path, name):
    from v23py import security
    p = security.create_principal(path)
    b = p.bless_self(name)
    p.blessing_store.set_default(b)
    p.blessing_store.set(b, "...")
    p.add_to_roots(b)
    return p


PERMS = '''{"R": {"In": ["alice:family",
                           "alice:friend"]},
              "W": {"In": ["alice:family"]}}'''


def blessed_by(blesser, blesser_blessings, name, extension):
    """A new principal ``name``, blessed by ``blesser`` as <blesser>:<extension>
    and presenting that blessing to peers matching the blesser's name."""
    p, own = make_principal(name)
    b = blesser.bless(p.public_key, blesser_blessings, extension, security.unconstrained_use())
    p.blessing_store.set(b, str(blesser_blessings))
    p.add_to_roots(b)
    return p


def tutorial_vdl(md, heredoc_target):
    """The VDL text a tutorial transcription writes with ``cat - <<EOF >...<target>``."""
    with open(os.path.join(ROOT, "tutorials", md)) as f:
        text = f.read()
    m = re.search(r"<<EOF >\$V_TUT/src/" + re.escape(heredoc_target) + r"\n(.*?)\nEOF\n", text, re.S)
    assert m, f"no heredoc for {heredoc_target} in {md}"
    return m.group(1) + "\n"
