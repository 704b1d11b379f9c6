"""The publisher keeps mounts alive in the background."""
from twisted.internet import defer, task
from twisted.trial import unittest

from v23py import verror
from v23py.runtime.publisher import Publisher


class FakeNamespace:
    def __init__(self):
        self.mounts = []
        self.unmounts = []
        self.fail = False
        self.hang = None

    async def mount(self, ctx, name, server, ttl, serves_mount_table=False, is_leaf=False):
        self.mounts.append((name, server, ttl, serves_mount_table, is_leaf))
        if self.hang is not None:
            await self.hang
        if self.fail:
            raise verror.NoServers.new("no usable servers found for ns.dev.v.io:8101")

    async def unmount(self, ctx, name, server):
        self.unmounts.append((name, server))


class PublisherTests(unittest.TestCase):
    def setUp(self):
        self.clock = task.Clock()
        self.ns = FakeNamespace()
        self.pub = Publisher(None, self.ns, self.clock)

    def test_mounts_now_and_every_period(self):
        self.pub.add_server("/@6@tcp@h:1@@@s@x@@")
        self.assertEqual(self.ns.mounts, [])          # nothing to publish without a name
        self.pub.add_name("tutorial/fortune", is_leaf=True)
        # Go's publisher mounts the endpoint string itself, with no leading "/"
        self.assertEqual(self.ns.mounts, [("tutorial/fortune", "@6@tcp@h:1@@@s@x@@", 80, False, True)])
        self.clock.advance(59)
        self.assertEqual(len(self.ns.mounts), 1)
        self.clock.advance(1)
        self.assertEqual(len(self.ns.mounts), 2)
        self.pub.add_name("other", serves_mount_table=True)
        self.assertEqual(len(self.ns.mounts), 4)   # an immediate extra round
        self.assertEqual(self.pub.status[("other", "@6@tcp@h:1@@@s@x@@")], (True, None))

    def test_failures_do_not_block_and_are_retried(self):
        self.ns.fail = True
        self.pub.add_server("/s:1")
        self.pub.add_name("n")
        ok, err = self.pub.status[("n", "/s:1")]
        self.assertFalse(ok)
        self.assertEqual(err.id, verror.NoServers.id)
        self.ns.fail = False
        self.clock.advance(60)
        self.assertEqual(self.pub.status[("n", "/s:1")], (True, None))

    def test_a_hung_round_is_not_stacked(self):
        self.ns.hang = defer.Deferred()
        self.pub.add_server("/s:1")
        self.pub.add_name("n")
        self.clock.advance(60)
        self.clock.advance(60)
        self.assertEqual(len(self.ns.mounts), 1)
        self.ns.hang.callback(None)
        self.ns.hang = None
        self.clock.advance(60)
        self.assertEqual(len(self.ns.mounts), 2)

    def test_a_server_added_during_a_round_is_mounted_at_once(self):
        # A proxy's endpoint arrives while the server's first mount is still in flight
        # (CI saw it then wait a whole period, 60 s, before being published).
        self.ns.hang = defer.Deferred()
        self.pub.add_server("/s:1")
        self.pub.add_name("n")
        self.assertEqual([m[:2] for m in self.ns.mounts], [("n", "/s:1")])
        self.pub.add_server("/proxied:2")
        self.assertEqual([m[:2] for m in self.ns.mounts], [("n", "/s:1"), ("n", "/proxied:2")])
        self.pub.add_server("/proxied:2")        # no change: nothing more is mounted
        self.assertEqual(len(self.ns.mounts), 2)
        round_done = self.pub.wait_round()
        self.assertNoResult(round_done)
        self.ns.hang.callback(None)
        self.ns.hang = None
        self.successResultOf(round_done)
        self.assertEqual(self.pub.status[("n", "/proxied:2")], (True, None))
        self.clock.advance(60)                   # the next period remounts both
        self.assertEqual(len(self.ns.mounts), 4)

    def test_stop_unmounts(self):
        self.pub.add_server("/s:1")
        self.pub.add_server("/s:2")
        self.pub.add_name("n")
        d = defer.ensureDeferred(self.pub.stop())
        self.successResultOf(d)
        self.assertEqual(sorted(self.ns.unmounts), [("n", "/s:1"), ("n", "/s:2")])
        self.clock.advance(120)
        self.assertEqual(len(self.ns.mounts), 2)   # no more rounds after stop

    def test_remove_name_unmounts(self):
        self.pub.add_server("/s:1")
        self.pub.add_name("n")
        self.pub.remove_name("n")
        self.assertEqual(self.ns.unmounts, [("n", "/s:1")])
