"""Syncgroup invites and the neighborhood in the client (v23py.syncbase.discovery), over
multicast DNS with Go's advertisements, against Go's 2017 daemon and client library.

* our client's ListenForInvites sees the syncgroups Go's daemon and ours administer,
  but not one whose Read access list leaves us out (Go's client-side visibility);
* an invite is enough to join: a second daemon of ours joins through its address;
* Go's client library (tests/interop/go/sbextra, ListenForInvites) sees our daemon's;
* ListenForPeers sees both daemons; AdvertiseApp / ListenForAppPeers find each other;
* our `debug discovery scan` prints Go's daemon's syncgroup advertisement exactly as Go's
  v0.2.0 `debug` tool does.
"""
import os
import re
import sys
import uuid

from twisted.internet import defer, reactor
from twisted.trial import unittest

from v23py.testing import child_env, go_binary, tempdir
from v23py.testing.procs import spawn
from v23py.testing.syncbase import Daemon, GoDaemon, make_creds
from tests.interop._go_syncbase import go_sb_binary, run, sbextra

ALICE = "idp:o:fortune:alice"
BOB = "idp:o:fortune:bob"
APP = "idp:o:fortune"


async def first(listener, timeout, pred=lambda x: True):
    """The first item of ``listener`` satisfying pred, or None after ``timeout`` s."""
    timer = reactor.callLater(timeout, listener.cancel)
    try:
        async for item in listener:
            if pred(item):
                return item
        return None
    finally:
        if timer.active():
            timer.cancel()
        listener.cancel()


class InvitesTest(unittest.TestCase):
    timeout = 120

    def setUp(self):
        import v23py
        self.tmp = tempdir(self, prefix="sbinv-")
        self.creds = make_creds(os.path.join(self.tmp, "alice"), ALICE)
        self.ctx, shutdown = v23py.init([f"--v23.credentials={self.creds}"], reactor=reactor)
        self.addCleanup(shutdown)
        from v23py.syncbase import discovery
        self.addCleanup(discovery.stop_all)
        self.tag = uuid.uuid4().hex[:8]         # other tests' daemons advertise too

    async def daemon(self, kind, name):
        """A started daemon advertising in the neighborhood: Go's or ours."""
        root = os.path.join(self.tmp, name)
        d = (GoDaemon(self.creds, root, neighborhood=True) if kind == "go"
             else Daemon(self.creds, root))
        self.addCleanup(d.stop)
        return await d.start()

    async def group(self, d, db_name, sg_name, readers=(ALICE,)):
        from v23py import syncbase
        db = syncbase.new_service(d.endpoint).database_for_id((APP, db_name))
        await db.create(self.ctx, None)
        c = db.collection_for_id((ALICE, "cx"))
        await c.create(self.ctx, None)
        perms = {"Admin": {"In": [ALICE]}, "Read": {"In": list(readers)}}
        await db.syncgroup_for_id((ALICE, sg_name)).create(
            self.ctx, syncbase.SyncgroupSpec(Perms=perms, Collections=[c.id()]),
            syncbase.SyncgroupMemberInfo(SyncPriority=10))
        return db

    @defer.inlineCallbacks
    def test_invites_both_ways(self):
        from v23py.testing.mdns import require_multicast
        yield defer.ensureDeferred(require_multicast())
        go_sb_binary("syncbased")
        yield defer.ensureDeferred(self._invites())

    async def _invites(self):
        from v23py import syncbase
        from v23py.syncbase import discovery as sd
        t = self.tag
        go = await self.daemon("go", "go")
        ours = await self.daemon("ours", "ours")
        await self.group(go, f"godb{t}", f"gosg{t}")
        await self.group(ours, f"ourdb{t}", f"oursg{t}")

        for d, db, sg in ((go, f"godb{t}", f"gosg{t}"), (ours, f"ourdb{t}", f"oursg{t}")):
            inv = await first(sd.listen_for_invites(self.ctx, (APP, db)), 30)
            self.assertIsNotNone(inv, f"no invite for {db}")
            self.assertEqual((inv.syncgroup, inv.addresses, inv.blessing_names, inv.lost),
                             ((ALICE, sg), [d.endpoint], [ALICE], False))
        # Bob (not in the Read access list) does not see Alice's groups
        import v23py
        bob, shutdown = v23py.init([f"--v23.credentials="
                                    f"{make_creds(os.path.join(self.tmp, 'bob'), BOB)}"],
                                   reactor=reactor)
        self.addCleanup(shutdown)
        got = await first(sd.listen_for_invites(bob, (APP, f"ourdb{t}")), 4)
        self.assertIsNone(got)

        # an invite is all a joiner needs
        joiner = await self.daemon("ours", "joiner")
        inv = await first(sd.listen_for_invites(self.ctx, (APP, f"ourdb{t}")), 30)
        db = syncbase.new_service(joiner.endpoint).database_for_id((APP, f"ourdb{t}"))
        await db.create(self.ctx, None)
        await db.collection_for_id((ALICE, "cx")).create(self.ctx, None)
        spec = await db.syncgroup_for_id(inv.syncgroup).join(
            self.ctx, inv.addresses[0], None, syncbase.SyncgroupMemberInfo(SyncPriority=10))
        self.assertEqual([(c.Blessing, c.Name) for c in spec.Collections], [(ALICE, "cx")])

        # Go's client library finds our daemon's syncgroup (and the joiner's: an admin too)
        out, err, code = await run([sbextra(), f"--v23.credentials={self.creds}", "-n=2",
                                    "-wait=30s", "invites", "x", f"{APP},ourdb{t}"])
        self.assertEqual(code, 0, err[-2000:])
        self.assertIn(f"INVITE {ALICE},oursg{t} {ours.endpoint}\n", out)
        self.assertIn(f"INVITE {ALICE},oursg{t} {joiner.endpoint}\n", out)

        # both daemons as peers
        names = {}
        peers = sd.listen_for_peers(self.ctx)
        timer = reactor.callLater(30, peers.cancel)
        async for p in peers:
            if not p.lost and p.addresses and p.addresses[0] in (go.endpoint, ours.endpoint):
                names[p.addresses[0]] = p.name
                if len(names) == 2:
                    break
        if timer.active():
            timer.cancel()
        peers.cancel()
        self.assertEqual(set(names), {go.endpoint, ours.endpoint})
        # a daemon's 64-bit id in hex without leading zeros (1 in 16 is shorter than 16)
        self.assertTrue(all(re.fullmatch("[0-9a-f]{1,16}", n) for n in names.values()), names)

    @defer.inlineCallbacks
    def test_app_peers(self):
        from v23py.testing.mdns import require_multicast
        yield defer.ensureDeferred(require_multicast())
        from v23py.syncbase import discovery as sd
        listener = sd.listen_for_app_peers(self.ctx)
        ad = yield sd.advertise_app(self.ctx, [ALICE])
        got = yield defer.ensureDeferred(first(listener, 30, lambda p: not p.lost))
        self.assertEqual(got, sd.AppPeer("fortune", ALICE, False))
        yield ad.stop()

    @defer.inlineCallbacks
    def test_our_debug_scan_finds_go_daemon(self):
        from v23py.testing.mdns import require_multicast
        debug = go_binary("debug")
        go_sb_binary("syncbased")
        yield defer.ensureDeferred(require_multicast())
        blocks = yield defer.ensureDeferred(self._scan_go_daemon(debug))
        go_block, our_block = blocks
        self.assertEqual(our_block, go_block)

    async def _scan_go_daemon(self, debug):
        """Go's daemon administers a syncgroup; Go's and our `debug discovery scan` for
        its name each print one FOUND block; returns (Go's, ours)."""
        from v23py.testing.mdns import sleep
        t = self.tag
        go = await self.daemon("go", "go")
        await self.group(go, f"scandb{t}", f"scansg{t}")
        env = child_env(v23_vars=False)
        query = f'v.Attributes["s"] = "scansg{t}"'
        scans = []
        for argv in ([debug], [sys.executable, "-m", "v23py.cmd.debug"]):
            out, _ = spawn(self, argv + [
                f"--v23.credentials={self.creds}", f"--log_dir={self.tmp}",
                "--v23.namespace.root=/127.0.0.1:1", "discovery", "scan", query], env=env)
            scans.append(out)
        end = reactor.seconds() + 40
        while not all(go.endpoint in s.text() for s in scans):
            if reactor.seconds() > end:
                self.fail("a scan did not print Go's advertisement: "
                          + repr([s.text() for s in scans]))
            await sleep(0.1)
        await sleep(1.0)   # (anything else they would print by now)
        found = []
        for s in scans:
            blocks = [b.strip().splitlines() for b in s.text().split("\n\n")
                      if b.startswith("FOUND:")]
            self.assertEqual(len(blocks), 1, s.text())
            found.append(blocks[0])
        self.assertIn(f'  "s": "scansg{t}"', found[0])
        self.assertIn(f'  "d": "scandb{t}"', found[0])
        return found
