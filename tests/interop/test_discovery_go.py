"""Go v0.2.0's discovery reads a syncbased daemon's mDNS advertisement.

Go's ``debug discovery scan`` (v.io/x/ref/services/debug/debug, v0.2.0) scans the
neighborhood for the Syncbase peer interface and must print our daemon's advertisement:
its endpoint as the address and its member name under the ``p`` attribute, and the
advertisement of a syncgroup it administers (database and syncgroup ids, visibility).  Needs the
``debug`` binary among the Go peers (.gopeers/bin) and working multicast; skips otherwise.
"""
import os
import re
import shutil
import subprocess
import sys

from twisted.internet import defer, reactor
from twisted.trial import unittest

from v23py.testing import ROOT, child_env, go_binary, tempdir
from v23py.testing.syncbase import make_creds
from v23py.testing.mdns import require_multicast, sleep
from v23py.testing.procs import spawn
from v23py.testing.syncbase import OwnTmpDaemon

SYNC_IF = "v.io/x/ref/services/syncbase/server/interfaces/Sync"


class GoScansOurAdvertisement(unittest.TestCase):
    timeout = 60

    @defer.inlineCallbacks
    def test_go_debug_discovery_scan_finds_syncbased(self):
        debug = go_binary("debug")
        yield defer.ensureDeferred(require_multicast())
        tmp = tempdir(self, prefix="disc-go-")
        creds = make_creds(os.path.join(tmp, "creds"), "idp:o:fortune:alice")
        d = OwnTmpDaemon(creds, root_dir=os.path.join(tmp, "root"))
        yield d.start()
        self.addCleanup(shutil.rmtree, d.own_tmp, True)
        self.addCleanup(d.stop)
        env = child_env(v23_vars=False)
        pp, _ = spawn(self, [
            debug, f"--v23.credentials={creds}", f"--log_dir={tmp}",
            "--v23.namespace.root=/127.0.0.1:1", "discovery", "scan",
            f'v.InterfaceName="{SYNC_IF}"'], env=env)
        # a syncgroup administered by the daemon: advertised too
        import v23py
        from v23py import syncbase
        ctx, shutdown = v23py.init([f"--v23.credentials={creds}"], reactor=reactor)
        self.addCleanup(shutdown)
        db = syncbase.new_service(d.endpoint).database(ctx, "godb", None)
        yield db.create(ctx, None)
        c = db.collection(ctx, "c")
        yield c.create(ctx, None)
        spec = syncbase.SyncgroupSpec(Description="go", Collections=[c.id()],
                                      Perms=syncbase.perms_for("idp:o:fortune:alice", ["Admin", "Read"]))
        yield db.Syncgroup(ctx, "gosg").create(ctx, spec, syncbase.SyncgroupMemberInfo())
        end = reactor.seconds() + 20
        while d.endpoint.encode() not in pp.out or b'"gosg"' not in pp.out:
            if reactor.seconds() > end or pp.ended.called:
                self.fail(f"Go's scan did not print our advertisement: {pp.out.decode()!r}")
            yield sleep(0.1)
        text = pp.out.decode()
        block = text[text.rindex("FOUND:", 0, text.index(d.endpoint)):]
        self.assertIn(f"InterfaceName: {SYNC_IF}", block)
        self.assertRegex(block, r'"p": "[0-9a-f]+"')
        self.assertTrue(re.search(r"Id:\s+[0-9a-f]{32}", block), block)
        sg = text[text.rindex("FOUND:", 0, text.index('"gosg"')):]
        for attr in ('"d": "godb"', '"s": "gosg"', '"vis": "idp:o:fortune:alice"', '"db": ', '"sb": '):
            self.assertIn(attr, sg)
        self.assertIn(d.endpoint, sg)



def _found_blocks(text):
    """The FOUND blocks of a scan's output, as lists of lines."""
    return [b.strip().splitlines() for b in text.split("\n\n") if b.startswith("FOUND:")]


class GeneralQueries(unittest.TestCase):
    """Scan queries over attributes, not only the interface name, with Go's and our
    `debug discovery scan`.  A query without an interface name makes Go scan every v23
    service (the ``_v23._tcp`` type), so this also proves that our advertisements are
    listed there."""
    timeout = 120

    @defer.inlineCallbacks
    def test_attribute_queries_go_and_ours(self):
        debug = go_binary("debug")
        yield defer.ensureDeferred(require_multicast())
        tmp = tempdir(self, prefix="disc-q-")
        creds = make_creds(os.path.join(tmp, "creds"), "idp:o:fortune:alice")
        d = OwnTmpDaemon(creds, root_dir=os.path.join(tmp, "root"))
        yield d.start()
        self.addCleanup(shutil.rmtree, d.own_tmp, True)
        self.addCleanup(d.stop)
        import v23py
        from v23py import syncbase
        ctx, shutdown = v23py.init([f"--v23.credentials={creds}"], reactor=reactor)
        self.addCleanup(shutdown)
        db = syncbase.new_service(d.endpoint).database(ctx, "qdb", None)
        yield db.create(ctx, None)
        c = db.collection(ctx, "c")
        yield c.create(ctx, None)
        sg = "sg" + os.urandom(4).hex()   # (other runs' advertisements may be around)
        spec = syncbase.SyncgroupSpec(Description="q", Collections=[c.id()],
                                      Perms=syncbase.perms_for("idp:o:fortune:alice",
                                                               ["Admin", "Read"]))
        yield db.Syncgroup(ctx, sg).create(ctx, spec, syncbase.SyncgroupMemberInfo())
        env = child_env(v23_vars=False)
        queries = [f'v.Attributes["s"] = "{sg}"',                       # every interface
                   f'v.InterfaceName = "{SYNC_IF}" AND v.Attributes["s"] = "{sg}"',
                   f'v.Attributes["d"] = "qdb" AND v.Attributes["s"] LIKE "{sg}%"']
        scans = []
        for q in queries:
            for argv in ([debug], [sys.executable, "-m", "v23py.cmd.debug"]):
                pp, p = spawn(self, argv + [
                    f"--v23.credentials={creds}", f"--log_dir={tmp}",
                    "--v23.namespace.root=/127.0.0.1:1", "discovery", "scan", q], env=env)
                scans.append((q, argv[0], pp, p))
        end = reactor.seconds() + 40
        while not all(f'"s": "{sg}"' in pp.out.decode() for _, _, pp, _ in scans):
            if reactor.seconds() > end:
                self.fail("not every scan printed the syncgroup's advertisement: " +
                          repr([(q, tool, pp.out.decode()) for q, tool, pp, _ in scans]))
            yield sleep(0.1)
        yield sleep(1.0)   # (anything else they would print by now)
        want = None
        for q, tool, pp, _ in scans:
            blocks = _found_blocks(pp.out.decode())
            # only the syncgroup's advertisement: the daemon's own has no "s"
            self.assertEqual(len(blocks), 1, (q, tool, pp.out.decode()))
            if want is None:
                want = blocks[0]
            self.assertEqual(blocks[0], want, (q, tool))
        self.assertIn(f'  "s": "{sg}"', want)
        self.assertIn(f"InterfaceName: {SYNC_IF}", want)
        # attachments cannot be queried: both tools refuse the query
        from twisted.internet import threads
        for argv in ([debug], [sys.executable, "-m", "v23py.cmd.debug"]):
            r = yield threads.deferToThread(
                subprocess.run, argv + [f"--v23.credentials={creds}", f"--log_dir={tmp}",
                                        "--v23.namespace.root=/127.0.0.1:1", "discovery",
                                        "scan", 'v.Attachments["a"] = "b"'],
                env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                timeout=60)
            self.assertNotEqual(r.returncode, 0, argv[0])
            self.assertIn(b"v.Attachments cannot be queried", r.stdout, argv[0])
