"""Patterns, caveats, certificates, blessings, names for a call and authorizers."""
import datetime

from twisted.trial import unittest

from v23py import security as sec
from v23py import vdl, verror, vom
from v23py.security import _certificate, access

HOUR = datetime.timedelta(hours=1)


def _principal(name=None, kt="ecdsa256"):
    p = sec.random_principal(kt)
    if name:
        p.set_default_blessings(p.bless_self(name))
    return p


class PatternTests(unittest.TestCase):
    def test_matching(self):
        P = sec.BlessingPattern
        cases = [
            ("alice", "alice", True), ("alice", "alice:phone", True), ("alice", "alicex", False),
            ("alice:$", "alice", True), ("alice:$", "alice:phone", False),
            ("...", "anything", True), ("...", "", True), ("$", "alice", False),
            ("", "alice", False), ("alice:", "alice", False), ("a::b", "a::b", False),
            ("alice:phone", "alice", False), ("a/b", "a/b", False),
        ]
        for pat, name, want in cases:
            self.assertEqual(P(pat).matched_by(name), want, (pat, name))
        self.assertTrue(P("bob").matched_by("alice", "bob:x"))
        self.assertFalse(P("bob").matched_by())

    def test_validity_and_helpers(self):
        P = sec.BlessingPattern
        for good in ("a", "a:b", "a:b:$", "...", "$"):
            self.assertTrue(P(good).is_valid(), good)
        for bad in ("", "a:", ":a", "a:...", "a,b", "a@@b", "a(b", "a:$:b"):
            self.assertFalse(P(bad).is_valid(), bad)
        self.assertEqual(P("a:b").make_non_extendable(), "a:b:$")
        self.assertEqual(P("a:b").prefix_patterns(), ["a:$", "a:b"])
        self.assertEqual(sec.split_pattern_name("__(a:b)/x/y"), ("a:b", "x/y"))
        self.assertEqual(sec.split_pattern_name("x/y"), ("", "x/y"))
        self.assertEqual(vdl.type_of(P("a")), sec.BlessingPattern._vdl_type)


class CaveatTests(unittest.TestCase):
    def test_standard_caveats(self):
        call = sec.Call(method="Foo")
        sec.unconstrained_use().validate(call)
        self.assertRaises(verror.VError, sec.new_const_caveat(False).validate, call)
        sec.new_expiry_caveat(HOUR).validate(call)
        e = self.assertRaises(verror.VError, sec.new_expiry_caveat(-HOUR).validate, call)
        self.assertEqual(e.id, "v.io/v23/security.CaveatValidation")
        sec.new_not_before_caveat(-HOUR).validate(call)
        self.assertRaises(verror.VError, sec.new_not_before_caveat(HOUR).validate, call)
        sec.new_method_caveat("Foo", "Bar").validate(call)
        self.assertRaises(verror.VError, sec.new_method_caveat("Bar").validate, call)

    def test_unknown_caveat_fails_closed(self):
        cav = sec.Caveat(Id=b"\x01" * 16, ParamVom=vom.encode(True))
        e = self.assertRaises(verror.VError, cav.validate, sec.Call())
        self.assertEqual(e.id, "v.io/v23/security.CaveatNotRegistered")
        self.assertIn("bytes of param", str(cav))

    def test_garbage_param_fails(self):
        cav = sec.Caveat(Id=sec.ExpiryCaveat.Id, ParamVom=b"\x81\xff\xff")
        e = self.assertRaises(verror.VError, cav.validate, sec.Call())
        self.assertEqual(e.id, "v.io/v23/security.CaveatParamCoding")

    def test_caveat_ids(self):
        self.assertEqual(bytes(sec.ExpiryCaveat.Id).hex(), "a64c2d0119fba3348071feeb2f308000")
        self.assertEqual(bytes(access.AccessTagCaveat.Id).hex(),
                         "efcde3751416c73b189ce89ccc938000")

    def test_strings(self):
        t = datetime.datetime(2026, 1, 2, 3, 4, 5, 120000, tzinfo=datetime.timezone.utc)
        cav = sec.new_expiry_caveat(t)
        self.assertEqual(str(cav), "0xa64c2d0119fba3348071feeb2f308000"
                                   "(time.Time=2026-01-02 03:04:05.12 +0000 UTC)")
        self.assertEqual(sec.format_caveat(cav), "Expires at 2026-01-02 03:04:05.12 +0000 UTC")
        self.assertEqual(sec.format_caveat(sec.unconstrained_use()), "Always validates")
        self.assertEqual(str(sec.new_method_caveat("A", "B")),
                         "0x54a676398137187ecdb26d2d69ba0003([]string=[B A])")

    def test_access_tag_caveat(self):
        cav = access.new_access_tag_caveat(access.Read)
        cav.validate(sec.Call(method_tags=[access.Read]))
        self.assertRaises(verror.VError, cav.validate, sec.Call(method_tags=[access.Write]))
        self.assertRaises(verror.VError, cav.validate, sec.Call(method_tags=["Read"]))


class BlessingsTests(unittest.TestCase):
    def test_bless_and_roundtrip(self):
        for kt in ("ecdsa256", "ed25519", "ecdsa384"):
            alice = _principal("alice", kt)
            bob = _principal(None, kt)
            b = alice.bless(bob.public_key, alice.blessing_store.default(), "friend",
                            sec.new_expiry_caveat(HOUR))
            self.assertEqual(str(b), "alice:friend")
            self.assertEqual(b.public_key, bob.public_key)
            wire = vom.decode(vom.encode(b.to_wire()))
            b2 = sec.blessings_from_wire(wire)
            self.assertEqual(b2.unique_id, b.unique_id)
            self.assertEqual(sec.decode_blessings(sec.encode_blessings(b)), b)

    def test_tampering_detected(self):
        alice = _principal("alice")
        bob = _principal()
        b = alice.bless(bob.public_key, alice.blessing_store.default(), "friend",
                        sec.unconstrained_use())
        chain = list(b.chains[0])
        tampered = [
            [chain[0], chain[1].replace(Extension="enemy")],
            [chain[0].replace(Extension="mallory"), chain[1]],
            [chain[0], chain[1].replace(Caveats=[])],
            [chain[0], chain[1].replace(PublicKey=_principal().public_key.der)],
            [chain[0], chain[1].replace(Signature=chain[1].Signature.replace(Purpose=b"S1"))],
        ]
        _certificate.signature_cache.clear()
        for t in tampered:
            self.assertRaises(verror.VError, sec.blessings_from_wire,
                              sec.WireBlessings(CertificateChains=[t]))
        self.assertRaises(verror.VError, sec.blessings_from_wire,
                          sec.WireBlessings(CertificateChains=[[]]))

    def test_chains_bound_to_different_keys_are_refused(self):
        """Blessings are chains that all end in one public key: a valid chain for
        another key next to ours must not make a holder of that other key us."""
        alice, carol = _principal("alice"), _principal("carol")
        bob, mallory = _principal(), _principal()
        for_bob = alice.bless(bob.public_key, alice.blessing_store.default(), "friend",
                              sec.unconstrained_use())
        for_mallory = carol.bless(mallory.public_key, carol.blessing_store.default(), "x",
                                  sec.unconstrained_use())
        for chains in ([for_bob.chains[0], for_mallory.chains[0]],
                       [for_mallory.chains[0], for_bob.chains[0]]):
            wire = sec.WireBlessings(CertificateChains=chains)
            e = self.assertRaises(verror.VError, sec.blessings_from_wire, wire)
            self.assertIn("different public keys", str(e))
            # the same through the text form the principal tool reads
            import base64
            data = vom.encode(wire, sec.WireBlessingsType)
            self.assertRaises(verror.VError, sec.decode_blessings,
                              base64.urlsafe_b64encode(data).decode())
        # two chains for one key are fine
        both = sec.union_of_blessings(
            for_bob, carol.bless(bob.public_key, carol.blessing_store.default(), "y",
                                 sec.unconstrained_use()))
        self.assertEqual(sec.blessings_from_wire(both.to_wire()).public_key, bob.public_key)

    def test_bad_extensions(self):
        p = _principal("alice")
        for bad in ("", "a:b:", ":x", "a...b", "a,b", "$", "a/b"):
            self.assertRaises(verror.VError, p.bless_self, bad)

    def test_union_and_for_peer(self):
        alice = _principal("alice")
        carol = _principal("carol")
        bob = _principal()
        b1 = alice.bless(bob.public_key, alice.blessing_store.default(), "friend",
                         sec.unconstrained_use())
        b2 = carol.bless(bob.public_key, carol.blessing_store.default(), "x:y",
                         sec.unconstrained_use())
        u = sec.union_of_blessings(b2, b1)
        self.assertEqual(str(u), "alice:friend,carol:x:y")  # sorted by length then names
        self.assertEqual(sec.blessings_from_wire(u.to_wire()), u)
        self.assertRaises(verror.VError, sec.union_of_blessings, b1,
                          alice.blessing_store.default())
        store = bob.blessing_store
        store.set(b1, "alice")
        store.set(b2, "...")
        self.assertEqual(str(store.for_peer("alice:server")), "alice:friend,carol:x:y")
        self.assertEqual(str(store.for_peer("dave")), "carol:x:y")
        self.assertRaises(verror.VError, store.set, alice.blessing_store.default(), "...")
        self.assertRaises(verror.VError, store.set, b1, "a:")

    def test_nameless(self):
        p = _principal()
        n = sec.nameless_blessing(p.public_key)
        self.assertTrue(n.is_nameless())
        n2 = sec.blessings_from_wire(vom.decode(vom.encode(n.to_wire())))
        self.assertTrue(n2.is_nameless())
        self.assertEqual(n2.public_key, p.public_key)
        self.assertEqual(sec.remote_blessing_names(sec.Call(local_principal=p,
                                                            remote_blessings=n2)), ([], []))

    def test_names_for_call(self):
        alice = _principal("alice")
        bob = _principal("bob")
        b = alice.bless(bob.public_key, alice.blessing_store.default(), "friend",
                        sec.new_method_caveat("Get"))
        server = _principal("server")
        call = sec.Call(local_principal=server, remote_blessings=b, method="Get")
        names, rejected = sec.remote_blessing_names(call)
        self.assertEqual(names, [])
        self.assertEqual(rejected[0].Err.id, "v.io/v23/security.UnrecognizedRoot")
        # the error says what to do (Go's ends in ": <nil>")
        self.assertIn("recognize it with `principal recognize alice ", rejected[0].Err.msg)
        self.assertNotIn("<nil>", rejected[0].Err.msg)
        server.add_to_roots(alice.blessing_store.default())
        self.assertEqual(sec.remote_blessing_names(call)[0], ["alice:friend"])
        call.method = "Put"
        names, rejected = sec.remote_blessing_names(call)
        self.assertEqual((names, rejected[0].Err.id),
                         ([], "v.io/v23/security.CaveatValidation"))
        # a root recognized for another pattern does not help
        other = _principal()
        other.roots.add(alice.public_key, "carol")
        call2 = sec.Call(local_principal=other, remote_blessings=b, method="Get")
        self.assertEqual(sec.remote_blessing_names(call2)[0], [])

    def test_expired(self):
        alice = _principal("alice")
        bob = _principal()
        b = alice.bless(bob.public_key, alice.blessing_store.default(), "old",
                        sec.new_expiry_caveat(-HOUR))
        bob.add_to_roots(b)
        call = sec.Call(local_principal=bob, remote_blessings=b)
        self.assertEqual(sec.remote_blessing_names(call)[0], [])
        self.assertTrue(b.expiry() < datetime.datetime.now(datetime.timezone.utc))
        self.assertEqual(sec.blessing_names(bob, b), ["alice:old"])
        self.assertEqual(sec.signing_blessing_names(bob, b)[0], [])

    def test_signing_names_admit_only_expiry_and_const_caveats(self):
        alice = _principal("alice")
        bob = _principal()
        bob.add_to_roots(alice.blessing_store.default())
        root = alice.blessing_store.default()
        fresh = alice.bless(bob.public_key, root, "fresh", sec.new_expiry_caveat(HOUR))
        self.assertEqual(sec.signing_blessing_names(bob, fresh), (["alice:fresh"], []))
        free = alice.bless(bob.public_key, root, "free", sec.unconstrained_use())
        self.assertEqual(sec.signing_blessing_names(bob, free)[0], ["alice:free"])
        # a method caveat holds for a call, not for signing: refused before it is checked
        get_only = alice.bless(bob.public_key, root, "get", sec.new_method_caveat("Get"))
        names, rejected = sec.signing_blessing_names(bob, get_only)
        self.assertEqual(names, [])
        self.assertEqual(rejected[0].Blessing, "alice:get")
        self.assertEqual(rejected[0].Err.id, "v.io/v23/security.InvalidSigningBlessingCaveat")
        self.assertIn("unsuitable for signing", rejected[0].Err.msg)
        # a root bob does not recognize rejects the chain with UnrecognizedRoot
        carol = _principal("carol")
        theirs = carol.bless(bob.public_key, carol.blessing_store.default(), "x",
                             sec.new_expiry_caveat(HOUR))
        names, rejected = sec.signing_blessing_names(bob, theirs)
        self.assertEqual((names, rejected[0].Err.id),
                         ([], "v.io/v23/security.UnrecognizedRoot"))

    def test_remote_names_without_a_local_principal_are_rejected(self):
        alice = _principal("alice")
        call = sec.Call(local_principal=None, remote_blessings=alice.blessing_store.default())
        names, rejected = sec.remote_blessing_names(call)
        self.assertEqual(names, [])
        self.assertEqual(rejected[0].Blessing, "alice")
        self.assertIn("recognized root certificates not configured", rejected[0].Err.msg)

    def test_third_party_caveat_and_discharge(self):
        alice = _principal("alice")
        tp = _principal("discharger")
        bob = _principal()
        tpc = sec.new_public_key_caveat(tp.public_key, "/disch", sec.ThirdPartyRequirements(),
                                        sec.unconstrained_use())
        b = alice.bless(bob.public_key, alice.blessing_store.default(), "tp", tpc)
        self.assertEqual(len(b.third_party_caveats()), 1)
        b = sec.blessings_from_wire(vom.decode(vom.encode(b.to_wire())))
        server = _principal()
        server.add_to_roots(b)
        call = sec.Call(local_principal=server, remote_blessings=b)
        self.assertEqual(sec.remote_blessing_names(call)[0], [])
        d = tp.mint_discharge(tpc, sec.new_expiry_caveat(HOUR))
        call = sec.Call(local_principal=server, remote_blessings=b, remote_discharges=[d])
        self.assertEqual(sec.remote_blessing_names(call)[0], ["alice:tp"])
        forged = _principal().mint_discharge(tpc, sec.unconstrained_use())
        call = sec.Call(local_principal=server, remote_blessings=b, remote_discharges=[forged])
        self.assertEqual(sec.remote_blessing_names(call)[0], [])
        wd = vom.decode(vom.encode(d.wire, sec.WireDischargeType))
        self.assertEqual(sec.Discharge(wd).id(), d.id())


class AuthorizerTests(unittest.TestCase):
    def setUp(self):
        self.idp = _principal("idp")
        self.server = _principal()
        self.server.set_default_blessings(self.idp.bless(
            self.server.public_key, self.idp.blessing_store.default(), "server",
            sec.unconstrained_use()))
        self.client = _principal()
        self.server.add_to_roots(self.idp.blessing_store.default())

    def _blessing(self, ext):
        return self.idp.bless(self.client.public_key, self.idp.blessing_store.default(), ext,
                              sec.unconstrained_use())

    def _call(self, ext, **kw):
        return sec.Call(local_principal=self.server,
                        local_blessings=self.server.blessing_store.default(),
                        remote_blessings=self._blessing(ext), **kw)

    def test_default_authorizer(self):
        auth = sec.default_authorizer()
        auth.authorize(self._call("server:delegate"))
        e = self.assertRaises(verror.VError, auth.authorize, self._call("other"))
        self.assertEqual(e.id, "v.io/v23/security.AuthorizationFailed")
        sec.allow_everyone().authorize(self._call("other"))

    def test_public_key_authorizer(self):
        sec.public_key_authorizer(self.client.public_key).authorize(self._call("x"))
        self.assertRaises(verror.VError, sec.public_key_authorizer(self.server.public_key)
                          .authorize, self._call("x"))

    def test_endpoint_authorizer(self):
        from v23py.naming.endpoint import Endpoint
        ep = Endpoint("tcp", "1.2.3.4:5", blessing_names=("idp:client",))
        sec.endpoint_authorizer().authorize(self._call("client", remote_endpoint=ep))
        self.assertRaises(verror.VError, sec.endpoint_authorizer().authorize,
                          self._call("other", remote_endpoint=ep))
        self.assertRaises(verror.VError, sec.endpoint_authorizer().authorize,
                          self._call("client", remote_endpoint=Endpoint("tcp", "1.2.3.4:5")))

    def test_permissions_authorizer(self):
        perms = access.read_permissions(
            '{"Read":{"In":["..."]},"Write":{"In":["idp:alice"],"NotIn":["idp:alice:guest"]}}')
        auth = access.permissions_authorizer(perms, access.TagType)
        auth.authorize(self._call("bob", method="Get", method_tags=[access.Read]))
        auth.authorize(self._call("alice:phone", method="Put", method_tags=[access.Write]))
        for ext, tags, err in (
                ("bob", [access.Write], "NoPermissions"),
                ("alice:guest", [access.Write], "NoPermissions"),
                ("alice", [access.Admin], "NoPermissions"),
                ("alice", [], "NoTags"),
                ("alice", [access.Read, access.Write], "MultipleTags")):
            e = self.assertRaises(verror.VError, auth.authorize,
                                  self._call(ext, method="M", method_tags=tags))
            self.assertEqual(e.id, "v.io/v23/security/access." + err)

    def test_custom_tag_type(self):
        MyTag = vdl.named("example.com/x.MyTag", vdl.StringType)
        cls = vdl.class_for(MyTag)
        perms = access.read_permissions('{"Reader":{"In":["idp"]}}')
        auth = access.permissions_authorizer(perms, MyTag)
        auth.authorize(self._call("bob", method_tags=[cls("Reader")]))
        self.assertRaises(verror.VError, auth.authorize,
                          self._call("bob", method_tags=[access.Read]))


class PermissionsFormsTests(unittest.TestCase):
    """Access lists handed in by Python callers: AccessList structs or Go's JSON form."""

    def test_acl_parts_reads_both_forms(self):
        self.assertEqual(access.acl_parts({"In": ["a", "b"], "NotIn": None}), (["a", "b"], []))
        self.assertEqual(access.acl_parts({}), ([], []))
        acl = access.AccessList(In=["a"], NotIn=["a:guest"])
        ins, notins = access.acl_parts(acl)
        self.assertEqual((ins, notins), (["a"], ["a:guest"]))
        ins.append("x")                          # new lists: the struct is unchanged
        self.assertEqual(list(acl.In), ["a"])

    def test_as_permissions(self):
        perms = access.as_permissions({"Read": {"In": ["alice"]},
                                       access.Tag("Admin"): access.AccessList(NotIn=["bob"])})
        self.assertIsInstance(perms, access.Permissions)
        self.assertEqual(sorted(perms), ["Admin", "Read"])
        self.assertIsInstance(perms["Read"], access.AccessList)
        self.assertTrue(perms["Read"].includes("alice:phone"))
        self.assertEqual(list(perms["Admin"].NotIn), ["bob"])
        self.assertIs(access.as_permissions(perms), perms)
        # the same bytes on the wire as the value built by hand
        self.assertEqual(vom.encode(access.as_permissions({"Read": {"In": ["alice"]}})),
                         vom.encode(access.Permissions(
                             {"Read": access.AccessList(In=["alice"])})))


class PermissionsFileTests(unittest.TestCase):
    def _read(self, name):
        from v23py.testing import shared_path
        with open(shared_path("testdata", "perms", name)) as f:
            return f.read()

    def test_go_perms_files(self):
        import json
        obj = json.loads(self._read("test.perms"))
        perms = {k: access.permissions_from_json_object(v) for k, v in obj.items()}
        self.assertEqual(list(perms[""]["Create"].In), ["root", "bob"])
        self.assertTrue(perms["users/%%"]["Resolve"].includes("anyone"))
        self.assertRaises(verror.VError, access.read_permissions, self._read("invalid.perms"))

    def test_json_roundtrip(self):
        text = '{"Admin":{"In":["alice"],"NotIn":["alice:guest"]},"Read":{"In":["..."],"NotIn":null}}\n'
        self.assertEqual(access.write_permissions(access.read_permissions(text)), text)
        for bad in ('[]', '{"Read": 3}', '{"Read": {"In": "x"}}', '{"Read": {"In": [1]}}'):
            self.assertRaises(verror.VError, access.read_permissions, bad)
        self.assertEqual(access.read_permissions("null"), {})


class RobustnessTests(unittest.TestCase):
    """Corrupt encodings give a VError (or, rarely, still-valid blessings), never a crash."""

    def test_mutated_blessings(self):
        import base64
        import random
        alice = _principal("alice")
        bob = _principal(None, "ed25519")
        b = alice.bless(bob.public_key, alice.blessing_store.default(), "friend",
                        sec.new_expiry_caveat(HOUR), sec.new_method_caveat("A"))
        data = vom.encode(b.to_wire(), sec.WireBlessingsType)
        rnd = random.Random(4)
        cases = [data[:n] for n in range(0, len(data), 7)]
        for _ in range(300):
            m = bytearray(data)
            for _ in range(rnd.randint(1, 4)):
                m[rnd.randrange(len(m))] = rnd.randrange(256)
            cases.append(bytes(m))
        for c in cases:
            _certificate.signature_cache.clear()
            text = base64.urlsafe_b64encode(c).decode()
            try:
                got = sec.decode_blessings(text)
            except verror.VError:
                continue
            # Every certificate field is signed: a mutation may only change how the same
            # value is encoded (or turn it into no blessings at all), never what it says.
            if not got.is_zero():
                self.assertEqual((got, got.unique_id, got.public_key),
                                 (b, b.unique_id, b.public_key))
        for bad in ("", "=", "!!!!", "gV0c", "a" * 10001):
            self.assertRaises(verror.VError, sec.decode_blessings, bad)

    def test_mutated_signed_files(self):
        import random
        from v23py.security import _credentials as cred
        signer = sec.new_signer()
        data, sig = cred.encode_signed({"k": ["a", "b"]}, None, signer)
        rnd = random.Random(5)
        for _ in range(200):
            d, s = bytearray(data), bytearray(sig)
            target = d if rnd.random() < 0.5 else s
            i = rnd.randrange(len(target))
            target[i] = (target[i] + rnd.randrange(1, 256)) % 256
            d, s = bytes(d), bytes(s)
            if d != data:
                # changed data is always refused, even when it still decodes
                self.assertRaises(verror.VError, cred.decode_signed, d, s,
                                  signer.public_key, None)
                continue
            try:
                got = cred.decode_signed(d, s, signer.public_key, None)
            except verror.VError:
                continue
            # a changed signature file may still verify the very same data
            self.assertEqual(got, {"k": ["a", "b"]})
        for n in range(len(sig)):
            self.assertRaises(verror.VError, cred.decode_signed, data, sig[:n],
                              signer.public_key, None)
