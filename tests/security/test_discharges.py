"""Preparing the discharges blessings need (security.prepare_discharges), and the
discharger service with its revocation list (v23py.discharger), without
the network; tests.interop.test_discharges_go runs them against Go."""
import datetime
import os

from twisted.internet import defer
from twisted.trial import unittest

from v23py import security, verror
from v23py import discharger as dis
from v23py.testing import tempdir

UTC = datetime.timezone.utc
class Clock:
    """Starts at the real time: the blessing store stamps cache times with it."""

    def __init__(self):
        self.t = datetime.datetime.now(UTC)

    def __call__(self):
        return self.t

    def advance(self, seconds):
        self.t += datetime.timedelta(seconds=seconds)


def _principal(name):
    p = security.random_principal()
    p.set_default_blessings(p.bless_self(name))
    return p


class World:
    """A discharger principal, and a client blessed with a third-party caveat of it."""

    def __init__(self, requirements=None, lifetime=3600, ncaveats=1):
        self.idp = _principal("idp")
        self.client = security.random_principal()
        self.lifetime = lifetime
        self.caveats = [security.new_public_key_caveat(
            self.idp.public_key, f"/discharger{i}", requirements, security.unconstrained_use())
            for i in range(ncaveats)]
        self.blessings = self.idp.bless(self.client.public_key, self.idp.blessing_store.default(),
                                        "u:alice", self.caveats[0], *self.caveats[1:])
        self.asked = []
        self.refuse = set()
        self.clock = Clock()

    def fetch(self, cav, impetus):
        self.asked.append((cav.third_party_details().location(), impetus))
        if cav.third_party_details().location() in self.refuse:
            raise verror.NoAccess.new("refused")
        exp = security.new_expiry_caveat(self.clock() + datetime.timedelta(seconds=self.lifetime))
        return defer.succeed(self.idp.mint_discharge(cav, exp))

    def prepare(self, **kw):
        return defer.ensureDeferred(security.prepare_discharges(
            self.client.blessing_store, self.blessings, self.fetch, now=self.clock, **kw))


class PrepareTests(unittest.TestCase):
    async def _fetch_then_cache(self):
        w = World()
        got, refresh = await w.prepare(server_names=["srv"], method="Get")
        self.assertEqual([d.id() for d in got], [w.caveats[0].third_party_details().id()])
        self.assertEqual(len(w.asked), 1)
        # no requirements: the discharger learns nothing about the call
        imp = w.asked[0][1]
        self.assertEqual((list(imp.Server), imp.Method, list(imp.Arguments)), ([], "", []))
        # the discharge verifies as a server would check it
        call = security.Call(local_principal=w.idp, remote_blessings=w.blessings,
                             remote_discharges=got)
        names, rejected = security.remote_blessing_names(call)
        self.assertEqual((names, rejected), (["idp:u:alice"], []))
        # cached: not fetched again until the refresh time
        self.assertIsNotNone(refresh)
        w.clock.advance(1000)
        await w.prepare()
        self.assertEqual(len(w.asked), 1)
        self.assertEqual(len(got), 1)

    def test_fetch_then_cache(self):
        return defer.ensureDeferred(self._fetch_then_cache())

    async def _refresh_at_half_life(self):
        w = World(lifetime=100)
        _, refresh = await w.prepare()
        self.assertAlmostEqual((refresh - w.clock()).total_seconds(), 50, delta=2)
        w.clock.advance(40)
        await w.prepare()
        self.assertEqual(len(w.asked), 1)
        w.clock.advance(15)   # past half its life: fetched again
        await w.prepare()
        self.assertEqual(len(w.asked), 2)

    def test_refresh_at_half_life(self):
        return defer.ensureDeferred(self._refresh_at_half_life())

    async def _refused_and_cache_only(self):
        w = World(ncaveats=2)
        w.refuse.add("/discharger1")
        got, refresh = await w.prepare()
        # one of two: the refused one is asked again while another round made progress
        self.assertEqual([d.id() for d in got], [w.caveats[0].third_party_details().id()])
        self.assertEqual(sorted(a[0] for a in w.asked),
                         ["/discharger0", "/discharger1", "/discharger1"])
        self.assertLessEqual(refresh, w.clock() + datetime.timedelta(minutes=1))
        # cache only (fetching a discharge must not fetch discharges): no calls at all
        w.asked.clear()
        got, _ = await w.prepare(cache_only=True)
        self.assertEqual(len(got), 1)
        self.assertEqual(w.asked, [])

    def test_refused_and_cache_only(self):
        return defer.ensureDeferred(self._refused_and_cache_only())

    async def _impetus_as_required(self):
        req = security.ThirdPartyRequirements(ReportServer=True, ReportMethod=True)
        w = World(requirements=req)
        await w.prepare(server_names=["srv:a", "srv:b"], method="Add", args=["x"])
        imp = w.asked[0][1]
        self.assertEqual(([str(s) for s in imp.Server], imp.Method, list(imp.Arguments)),
                         (["srv:a", "srv:b"], "Add", []))
        # cached per (method, servers): another method asks again
        await w.prepare(server_names=["srv:b", "srv:a"], method="Add")
        self.assertEqual(len(w.asked), 1)
        await w.prepare(server_names=["srv:a", "srv:b"], method="Get")
        self.assertEqual(len(w.asked), 2)

    def test_impetus_as_required(self):
        return defer.ensureDeferred(self._impetus_as_required())

    def test_impetus_arguments_and_nothing_to_do(self):
        req = security.ThirdPartyRequirements(ReportArguments=True)
        imp = security.impetus_for(req, ["s"], "M", ["a", 3])
        self.assertEqual((list(imp.Server), imp.Method, len(imp.Arguments)), ([], "", 2))
        p = _principal("plain")
        got = self.successResultOf(defer.ensureDeferred(security.prepare_discharges(
            p.blessing_store, p.blessing_store.default(), lambda c, i: self.fail("fetched"))))
        self.assertEqual(got, ([], None))


class _Call:
    def __init__(self, principal, remote=None):
        self.security = security.Call(local_principal=principal,
                                      local_blessings=principal.blessing_store.default(),
                                      remote_blessings=remote)


class DischargerTests(unittest.TestCase):
    def setUp(self):
        self.idp = _principal("idp")
        self.dir = tempdir(self, "revocation-")
        self.rl = dis.RevocationList(os.path.join(self.dir, "rev.db"))
        dis.use_revocation_list(self.rl)
        self.addCleanup(dis.use_revocation_list, None)
        self.addCleanup(self.rl.close)

    def test_discharges_until_revoked(self):
        cav = self.rl.new_caveat(self.idp.public_key, "/here", name="idp:u:alice")
        svc = dis.Discharger(expiry=60)
        wire = svc.Discharge(None, _Call(self.idp), cav, security.DischargeImpetus())
        d = security.Discharge(wire)
        self.assertEqual(d.id(), cav.third_party_details().id())
        left = (d.expiry() - datetime.datetime.now(UTC)).total_seconds()
        self.assertTrue(55 < left <= 60, left)
        # another process (the command-line tool) revokes by name, through the file
        other = dis.RevocationList(self.rl.path)
        self.assertEqual(other.revoke("idp:u:alice"), 1)
        self.assertEqual(other.revoke("idp:u:alice"), 0)
        other.close()
        with self.assertRaises(verror.VError) as cm:
            svc.Discharge(None, _Call(self.idp), cav, security.DischargeImpetus())
        self.assertIn("revoked", str(cm.exception))
        [(cid, name, _, revoked)] = self.rl.entries()
        self.assertEqual((cid, name), (cav.third_party_details().id(), "idp:u:alice"))
        self.assertIsNotNone(revoked)

    def test_refusals(self):
        svc = dis.Discharger()
        # not a third-party caveat
        with self.assertRaises(verror.VError) as cm:
            svc.Discharge(None, _Call(self.idp), security.unconstrained_use(),
                          security.DischargeImpetus())
        self.assertEqual(cm.exception.id, dis.ErrNotAThirdPartyCaveat.id)
        # a caveat for another discharger's key
        other = _principal("other")
        cav = security.new_public_key_caveat(other.public_key, "/x", None,
                                             security.unconstrained_use())
        with self.assertRaises(verror.VError) as cm:
            svc.Discharge(None, _Call(self.idp), cav, security.DischargeImpetus())
        self.assertEqual(cm.exception.id, verror.NoAccess.id)
        # a NotRevoked key this list never issued
        cav = security.new_public_key_caveat(
            self.idp.public_key, "/x", None, security.new_caveat(dis.NotRevokedCaveat, b"k" * 16))
        with self.assertRaises(verror.VError):
            svc.Discharge(None, _Call(self.idp), cav, security.DischargeImpetus())
        # the caveat's own conditions are checked against the caller: method caveat
        cav = security.new_public_key_caveat(self.idp.public_key, "/x", None,
                                             security.new_method_caveat("Other"))
        with self.assertRaises(verror.VError) as cm:
            svc.Discharge(None, _Call(self.idp), cav, security.DischargeImpetus())
        self.assertIn("cannot be discharged", str(cm.exception))
