"""Helpers for the mixed Go / v23py Syncbase tests: Go's 2017 syncbased and our
syncbased as subprocesses, our Go program ``sbinterop`` (Go's client library), and
daemons shared by the tests of one class.

The Go peers come from .ci/go-peers.sh (group "syncbase": .gopeers/go-syncbase/bin);
without them every test skips with the reason .ci/go-peers.sh recorded.
"""
import atexit
import os
import shutil
import tempfile

from twisted.internet import defer, reactor, utils

from v23py.testing import ROOT, child_env, go_binary
from v23py.testing.syncbase import (ALICE, Daemon, GoDaemon, GoMountTable,
                                    make_creds, sleep)

__all__ = ["ALICE", "BOB", "GoDaemon", "PyDaemon", "Fleet", "sbinterop", "sleep"]

BOB = "idp:o:fortune:bob"


def _trust(creds, other):
    """Let the principal in ``creds`` recognize the root of ``other``'s default blessing."""
    from v23py import security
    p = security.load_principal(creds)
    p.add_to_roots(security.load_principal(other).blessing_store.default())


class PyDaemon(Daemon):
    """Our syncbased, flagged like the Go daemon next to it."""
    kind = "py"

    def __init__(self, creds, root_dir, mount_table=None, neighborhood=False, tmpdir=None):
        extra = [f"--v23.namespace.root={mount_table or '/127.0.0.1:1'}"]
        if not neighborhood:
            extra.append("--skip-publish-in-nh")
        super().__init__(creds, root_dir=root_dir, extra=extra,
                         env={"TMPDIR": tmpdir} if tmpdir else None)


async def sbinterop(creds, *args, mount_table=None, check=True):
    """Run our Go program (Go's client library): (stdout, stderr, exit code)."""
    argv = [f"--v23.credentials={creds}",
            f"--v23.namespace.root={mount_table or '/127.0.0.1:1'}", *args]
    out, err, rc = await utils.getProcessOutputAndValue(
        go_binary("sbinterop", "syncbase"), argv, env=child_env(v23_vars=False), path=ROOT, reactor=reactor)
    out, err = out.decode(), err.decode()
    if check and rc != 0:
        raise AssertionError(f"sbinterop {' '.join(args)} failed ({rc}): {err[-1500:]}")
    return out, err, rc


class Fleet:
    """Daemons shared by the tests of one class (independent cases use their own
    databases): started by the first test that asks, stopped after the class's last
    test, or at exit when only some of its tests run."""

    def __init__(self, test_class, go=(), py=(), mount_table=True, neighborhood=False):
        self.test_class = test_class
        self.go_names, self.py_names = tuple(go), tuple(py)
        self.want_mt, self.neighborhood = mount_table, neighborhood
        self.started = False
        self.remaining = None
        self.daemons = {}

    async def get(self, test):
        """Start (once) and return self; the test's cleanup lets the fleet stop."""
        if not self.started:
            for n in self.go_names:          # skip early, before anything is started
                go_binary("syncbased", "syncbase")
                go_binary("sbinterop", "syncbase")
            self.remaining = {n for n in dir(self.test_class) if n.startswith("test")}
            await self._start()
        test.addCleanup(self._done, test._testMethodName)
        return self

    async def _start(self):
        self.started = True
        atexit.register(self.stop)
        self.tmp = tempfile.mkdtemp(prefix="gosb-mixed-")
        self.creds = make_creds(os.path.join(self.tmp, "alice"), ALICE)
        self.mt_peer = None
        # a stranger: a principal Alice's daemons recognize but that no ACL names
        self.stranger_creds = make_creds(os.path.join(self.tmp, "bob"), BOB, trust=[self.creds])
        _trust(self.creds, self.stranger_creds)
        try:
            if self.want_mt:
                self.mt_peer = await GoMountTable(self.creds).start()
            self.mt = self.mt_peer.name if self.mt_peer is not None else None
            for n in self.go_names:
                self.daemons[n] = GoDaemon(self.creds, os.path.join(self.tmp, n), self.mt,
                                           self.neighborhood)
            for n in self.py_names:
                tmpdir = os.path.join(self.tmp, n + "-tmp")
                os.makedirs(tmpdir)
                self.daemons[n] = PyDaemon(self.creds, os.path.join(self.tmp, n), self.mt,
                                           self.neighborhood, tmpdir=tmpdir)
            await defer.gatherResults([d.start() for d in self.daemons.values()],
                                      consumeErrors=True)
        except BaseException:
            self.stop()
            raise

    def __getitem__(self, name):
        return self.daemons[name]

    def _done(self, name):
        self.remaining.discard(name)
        if not self.remaining:
            self.stop()

    def stop(self):
        if not self.started:
            return
        self.started = False
        for d in self.daemons.values():
            try:
                d.stop()
            except Exception:
                pass
        self.daemons = {}
        if self.mt_peer is not None:
            self.mt_peer.stop()
        shutil.rmtree(self.tmp, True)
        atexit.unregister(self.stop)
