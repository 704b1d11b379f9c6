"""v23 discovery advertisements and their mDNS encoding (v23py.discovery), the Syncbase
advertisements built on them (syncbased.vsync.neighborhood), and multicast DNS between two
neighborhoods in this process when multicast works on this machine."""
import os
import random
import uuid

from twisted.internet import defer, reactor
from twisted.trial import unittest

from v23py import discovery as disc
from v23py.discovery import mdns
from syncbased.vsync import neighborhood as nh
from v23py.testing.mdns import require_multicast, sleep

SYNC_IF = "v.io/x/ref/services/syncbase/server/interfaces/Sync"

# An advertisement made by Go v0.2.0's discovery (mDNS plugin) and read off the network:
# its instance name and TXT strings.
GO_NAME = ("0V5B242RBR9SE0HPI2RQBDCA2G._87f957c2-f16e-5560-aeee-b8da710eb0c9"
           "._sub._v23._tcp.local.")
GO_TXTS = [bytes.fromhex(h) for h in (
    "5f693d762e696f2f782f7265662f73657276696365732f73796e63626173652f7365727665722f696e7465"
    "7266616365732f53796e63",
    "5f683d88d7fa3f46dabd31",
    "5f743df4575e4719a0eb18",
    "5f613db2d777307328492e70303432d733d033d033b43231363274703020001c721dd2f31d1c00010000ff"
    "ff01",
    "703d39306162")]
GO_ADDR = "/@6@tcp@127.0.0.1:4321@@00000000000000000000000000000000@m@go@@"


class GoVectorTest(unittest.TestCase):
    def test_decode_go_advertisement(self):
        info = mdns.decode_txt(mdns.label_of(GO_NAME), GO_TXTS)
        self.assertFalse(info.lost)
        self.assertEqual(info.ad.id.hex(), "07cab1105b5ed3c7023990b7a5b58a14")
        self.assertEqual(info.ad.interface_name, SYNC_IF)
        self.assertEqual(info.ad.addresses, [GO_ADDR])
        self.assertEqual(info.ad.attributes, {"p": "90ab"})
        self.assertEqual(info.status, disc.AD_READY)
        # our content hash is Go's
        self.assertEqual(disc.ad_hash(info), info.hash)
        self.assertEqual(info.timestamp_ns, 0x18EBA019475E57F4)

    def test_reencode_go_advertisement(self):
        info = mdns.decode_txt(mdns.label_of(GO_NAME), GO_TXTS)
        ours = mdns.encode_txt(info)
        # Same strings in the same order; the packed addresses may deflate differently.
        self.assertEqual([t for t in ours if not t.startswith(b"_a=")],
                         [t for t in GO_TXTS if not t.startswith(b"_a=")])
        self.assertEqual(mdns.decode_txt(mdns.label_of(GO_NAME), ours), info)

    def test_names(self):
        self.assertEqual(str(disc.V23_UUID), "3dd1d5a8-2eef-5816-a720-f88b9bcf6ee4")
        self.assertEqual(str(disc.V23_ATTR_UUID), "942b6164-1279-5eb6-b643-c90c4ccc8a72")
        self.assertEqual(mdns.service_type(SYNC_IF),
                         "_87f957c2-f16e-5560-aeee-b8da710eb0c9._sub._v23._tcp.local.")
        ad_id = bytes.fromhex("07cab1105b5ed3c7023990b7a5b58a14")
        self.assertEqual(mdns.instance_label(ad_id), "0V5B242RBR9SE0HPI2RQBDCA2G")
        self.assertEqual(mdns.ad_id_from_label("0v5b242rbr9se0hpi2rqbdca2g"), ad_id)
        info = disc.AdInfo(ad=disc.Advertisement(SYNC_IF, ["/a"], id=ad_id))
        self.assertEqual(mdns.instance_names(info), [
            (mdns.service_type(SYNC_IF), "0V5B242RBR9SE0HPI2RQBDCA2G._v23._tcp.local."),
            ("_v23._tcp.local.", "0V5B242RBR9SE0HPI2RQBDCA2G.any._v23._tcp.local.")])
        self.assertEqual(mdns.label_of("0V5B242RBR9SE0HPI2RQBDCA2G.any._v23._tcp.local."),
                         "0V5B242RBR9SE0HPI2RQBDCA2G")
        for bad in ("", "0V5B", "!!!!!!!!", "0V5B242RBR9SE0HPI2RQBDCA2G00"):
            self.assertRaises(disc.DiscoveryError, mdns.ad_id_from_label, bad)


class EncodingTest(unittest.TestCase):
    def ad(self, **kw):
        a = disc.Advertisement(kw.pop("interface_name", SYNC_IF),
                               kw.pop("addresses", ["/@6@tcp@127.0.0.1:1@@@@"]), **kw)
        return disc.new_ad_info(a, timestamp_ns=kw.get("ts", 12345))

    def test_round_trip(self):
        info = self.ad(attributes={"p": "abc", "k": "välue"}, attachments={"x": b"\0\xff"})
        txts = mdns.encode_txt(info)
        self.assertEqual(mdns.parse_txt_rdata(mdns.txt_rdata(txts)), txts)
        back = mdns.decode_txt(mdns.instance_label(info.ad.id), txts)
        self.assertEqual(back, info)
        self.assertEqual(disc.ad_hash(back), info.hash)
        self.assertFalse(any(t.startswith(b"_s=") for t in txts))

    def test_hash_changes_with_content(self):
        a = self.ad(attributes={"p": "1"})
        b = disc.AdInfo(ad=disc.Advertisement(SYNC_IF, a.ad.addresses, {"p": "2"}, id=a.ad.id))
        self.assertNotEqual(disc.ad_hash(b), a.hash)
        self.assertEqual(len(a.hash), 8)

    def test_long_values_are_split(self):
        long = "v" * 600
        info = self.ad(attributes={"big": long, "small": "s"})
        txts = mdns.encode_txt(info)
        self.assertTrue(all(len(t) <= 255 for t in txts))
        parts = [t for t in txts if t.startswith(b"_x")]
        self.assertEqual([t[:5] for t in parts], [b"_x00=", b"_x01=", b"_x02="])
        random.Random(1).shuffle(txts)   # order on the wire does not matter
        back = mdns.decode_txt(mdns.instance_label(info.ad.id), txts)
        self.assertEqual(back.ad.attributes, {"big": long, "small": "s"})

    def test_attachments_that_do_not_fit(self):
        info = self.ad(attachments={"a": b"1" * 300, "b": b"2" * 900})
        txts = mdns.encode_txt(info)
        back = mdns.decode_txt(mdns.instance_label(info.ad.id), txts)
        self.assertEqual(back.status, disc.AD_PARTIALLY_READY)
        self.assertEqual(back.ad.attachments, {"a": b"1" * 300})
        self.assertLessEqual(sum(map(len, txts)), mdns.MAX_TOTAL_TXT_LEN)

    def test_addresses_packing(self):
        for addrs in ([], ["/a"], ["/@6@tcp@127.0.0.1:%d@@@@" % i for i in range(20)]):
            packed = disc.pack_addresses(addrs)
            self.assertEqual(disc.unpack_addresses(packed), addrs)
        many = ["/@6@tcp@127.0.0.1:%d@@@@" % i for i in range(20)]
        self.assertEqual(disc.pack_addresses(many)[-1], 1)       # deflated: shorter
        self.assertEqual(disc.pack_addresses(["/a"])[-1], 0)

    def test_validation(self):
        bad = [dict(interface_name=""), dict(addresses=[]), dict(attributes={"_x": "1"}),
               dict(attributes={"a=b": "1"}), dict(attributes={"": "1"}),
               dict(attachments={"a": b"x" * 5000}),
               dict(attributes={f"k{i}": "v" for i in range(33)}),
               dict(attributes={"k": "v" * 1100})]
        for kw in bad:
            self.assertRaises(disc.DiscoveryError, self.ad, **kw)

    def test_malformed_input_raises_discovery_error_only(self):
        info = self.ad(attributes={"p": "abc", "big": "z" * 400})
        good = mdns.encode_txt(info)
        label = mdns.instance_label(info.ad.id)
        rnd = random.Random(7)
        for _ in range(3000):
            txts = list(good)
            i = rnd.randrange(len(txts))
            t = bytearray(txts[i])
            for _ in range(rnd.randint(1, 4)):
                op = rnd.random()
                if op < 0.4 and t:
                    t[rnd.randrange(len(t))] = rnd.randrange(256)
                elif op < 0.7:
                    del t[rnd.randrange(len(t) + 1):]
                else:
                    t += os.urandom(rnd.randint(1, 8))
            txts[i] = bytes(t)
            try:
                mdns.decode_txt(label, txts)
            except disc.DiscoveryError:
                pass
        for blob in (b"", b"\x05ab", os.urandom(64)):
            try:
                mdns.parse_txt_rdata(blob)
            except disc.DiscoveryError:
                pass
        # a deflate bomb in the addresses is refused
        import zlib
        c = zlib.compressobj(9, zlib.DEFLATED, -15)
        bomb = c.compress(b"\0" * (1 << 20)) + c.flush()
        self.assertRaises(disc.DiscoveryError, disc.unpack_addresses, bomb + b"\x01")

    def test_lost(self):
        info = mdns.decode_txt("0V5B242RBR9SE0HPI2RQBDCA2G", [])
        self.assertTrue(info.lost)


class SyncbaseAdsTest(unittest.TestCase):
    def test_syncbase_ad(self):
        ad = nh.syncbase_ad("1f2e", ["/b", "/a"])
        self.assertEqual((ad.interface_name, ad.addresses, ad.attributes),
                         (SYNC_IF, ["/a", "/b"], {"p": "1f2e"}))
        self.assertEqual(nh.peer_of(ad), "1f2e")
        self.assertIsNone(nh.syncgroup_of(ad))

    def test_syncgroup_ad(self):
        ad = nh.syncgroup_ad(("root:app", "db1"), ("root:alice", "sg1"), ["/a"],
                             ["root:alice", "root:bob"])
        self.assertEqual(ad.attributes, {"d": "db1", "db": "root:app", "s": "sg1",
                                         "sb": "root:alice", "vis": "root:alice,root:bob"})
        self.assertEqual(nh.syncgroup_of(ad), (("root:app", "db1"), ("root:alice", "sg1"),
                                               ["root:alice", "root:bob"]))
        self.assertIsNone(nh.peer_of(ad))
        self.assertNotIn("vis", nh.syncgroup_ad(("b", "d"), ("b", "s"), ["/a"]).attributes)

    def test_peer_table(self):
        t = nh.PeerTable("aaaa")
        own = disc.new_ad_info(nh.syncbase_ad("aaaa", ["/self"]))
        b1 = disc.new_ad_info(nh.syncbase_ad("bbbb", ["/b1"]), timestamp_ns=10)
        other_if = disc.new_ad_info(disc.Advertisement("x/Other", ["/o"], {"p": "cccc"}))
        sg = disc.new_ad_info(nh.syncgroup_ad(("x", "db"), ("y", "sg"), ["/b1"]))
        for i in (own, b1, other_if, sg):
            t.update(i)
        self.assertEqual(t.peers(), {"bbbb": "/b1"})
        self.assertEqual(t.syncgroup_admins(("x", "db"), ("y", "sg")), ["/b1"])
        # a newer version of b's advertisement replaces it; an older one does not
        b2 = disc.AdInfo(ad=disc.Advertisement(SYNC_IF, ["/b2"], {"p": "bbbb"}, id=b1.ad.id),
                         timestamp_ns=20)
        t.update(b2)
        t.update(b1)
        self.assertEqual(t.peers(), {"bbbb": "/b2"})
        t.update(mdns.decode_txt(mdns.instance_label(b1.ad.id), []))
        self.assertEqual(t.peers(), {})

    def test_disable(self):
        self.patch(os, "environ", {"V23PY_MDNS": "0"})
        self.assertFalse(nh.enabled())
        self.assertIsNone(nh.start(reactor, "aa", "/x", True))
        self.patch(os, "environ", {})
        self.assertTrue(nh.enabled())










class MdnsTest(unittest.TestCase):
    """Two neighborhoods in this process over the machine's multicast DNS."""
    timeout = 30

    @defer.inlineCallbacks
    def test_found_changed_lost(self):
        yield defer.ensureDeferred(require_multicast())
        from v23py.discovery.neighborhood import MdnsNeighborhood
        a = MdnsNeighborhood(reactor).start()
        self.addCleanup(a.stop)
        b = MdnsNeighborhood(reactor).start()
        self.addCleanup(b.stop)
        iface = "v23py/test/" + uuid.uuid4().hex
        seen, every = [], []
        b.scan(iface, seen.append)
        b.scan("", every.append)   # every v23 service
        info = disc.new_ad_info(disc.Advertisement(iface, ["/@6@tcp@127.0.0.1:9@@@@"],
                                                   {"p": "abc", "big": "q" * 300}))
        yield a.advertise(info)
        yield defer.ensureDeferred(self.until(lambda: seen))
        self.assertEqual(seen[0], info)
        yield defer.ensureDeferred(self.until(lambda: info in every))
        # a new version (same id, later timestamp) is seen as changed
        info2 = disc.new_ad_info(disc.Advertisement(iface, ["/@6@tcp@127.0.0.1:9@@@@"],
                                                    {"p": "abd"}, id=info.ad.id))
        yield a.advertise(info2)
        yield defer.ensureDeferred(self.until(
            lambda: any(i.ad.attributes.get("p") == "abd" for i in seen)))
        yield a.unadvertise(info.ad.id)
        yield defer.ensureDeferred(self.until(lambda: seen[-1].lost))
        self.assertEqual(seen[-1].ad.id, info.ad.id)
        yield defer.ensureDeferred(self.until(
            lambda: any(i.lost and i.ad.id == info.ad.id for i in every)))

    async def until(self, pred, timeout=10.0):
        end = reactor.seconds() + timeout
        while not pred():
            if reactor.seconds() > end:
                self.fail("not seen in time")
            await sleep(0.05)
