"""Keys, signing digests and signatures against Go's golden vectors."""
import base64
import json
import os

from cryptography.hazmat.primitives import serialization
from twisted.trial import unittest

from v23py.testing import shared_path
from v23py import security
from v23py.security import _keys, pem as _pem


def _b64raw(s):
    return base64.b64decode(s + "=" * (-len(s) % 4))


def _vectors():
    with open(shared_path("testdata", "security", "vectors.json")) as f:
        return json.load(f)


def _keysjson():
    with open(shared_path("testdata", "security", "keys.json")) as f:
        return json.load(f)


def _read(*parts):
    with open(shared_path("testdata", "security", *parts), "rb") as f:
        return f.read()


class DigestTests(unittest.TestCase):
    def test_message_digest_vectors(self):
        v = _vectors()["message_digest"]
        for case in v["cases"]:
            key = serialization.load_pem_private_key(case["private_key_pem"].encode(), None)
            signer = _keys.Signer(key)
            pk = signer.public_key
            self.assertEqual(pk.hash_name, case["hash"])
            got = pk.message_digest(case["hash"], v["purpose"].encode(), v["message"].encode())
            if pk.algorithm == "rsa":
                # RSA signs the fields; the digest is their hash.
                hfn = _keys.hash_func("SHA512")
                got = hfn(_keys.digest_fields(hfn, pk.der, v["purpose"].encode(),
                                              v["message"].encode())).digest()
            self.assertEqual(got, _b64raw(case["digest_b64_raw"]), case["key"])

    def test_deterministic_signatures(self):
        vec = _vectors()
        keys = {c["key"]: c["private_key_pem"] for c in vec["message_digest"]["cases"]}
        purpose = b"testing"
        message = b"a stable message to hash"
        for case in vec["signatures"]["cases"]:
            key = serialization.load_pem_private_key(keys[case["key"]].encode(), None)
            signer = _keys.Signer(key)
            sig = signer.sign(purpose, message)
            want = _b64raw(case["signature_b64_raw"])
            self.assertEqual(getattr(sig, case["field"]), want, case["key"])
            self.assertEqual(sig.Hash, "SHA512")
            self.assertTrue(signer.public_key.verify(sig, message))
            self.assertFalse(signer.public_key.verify(sig, message + b"x"))

    def test_ecdsa_roundtrip_all_curves(self):
        for kt in ("ecdsa256", "ecdsa384", "ecdsa521", "ed25519"):
            s = _keys.new_signer(kt)
            sig = s.sign(b"S1", b"hello")
            self.assertTrue(s.public_key.verify(sig, b"hello"), kt)
            self.assertFalse(s.public_key.verify(sig, b"hellO"), kt)
            other = _keys.new_signer(kt)
            self.assertFalse(other.public_key.verify(sig, b"hello"), kt)
            # purpose is part of the signed digest
            sig2 = sig.replace(Purpose=b"B1")
            self.assertFalse(s.public_key.verify(sig2, b"hello"), kt)
        self.assertEqual(_keys.new_signer("ecdsa384").sign(b"S1", b"").Hash, "SHA384")
        self.assertEqual(_keys.new_signer("ecdsa521").sign(b"S1", b"").Hash, "SHA512")

    def test_rsa_roundtrip(self):
        s = _keys.new_signer("rsa2048")
        sig = s.sign(b"S1", b"m")
        self.assertTrue(sig.Rsa and not sig.R and not sig.Ed25519)
        self.assertTrue(s.public_key.verify(sig, b"m"))

    def test_garbage_signatures_do_not_verify(self):
        s = _keys.new_signer("ecdsa256")
        Sig = security.Signature
        for bad in (Sig(), Sig(R=b"\x00", S=b"\x01"), Sig(R=b"\xff" * 200, S=b"\x01" * 3),
                    Sig(Ed25519=b"x" * 64, Hash="SHA512")):
            self.assertFalse(s.public_key.verify(bad, b"m"))
        e = _keys.new_signer("ed25519")
        self.assertFalse(e.public_key.verify(Sig(Ed25519=b"short"), b"m"))

    def test_digests_are_hashlibs(self):
        # (hash objects over cryptography's hashes: hashlib's results, hashlib's interface)
        import hashlib
        for ours, theirs in ((_keys.sha256, hashlib.sha256), (_keys.sha384, hashlib.sha384),
                             (_keys.sha512, hashlib.sha512), (_keys._md5, hashlib.md5)):
            for data in (b"", b"a", bytes(range(256)) * 4099):
                self.assertEqual(ours(data).digest(), theirs(data).digest())
                h, g = ours(), theirs()
                h.update(data[:7])
                g.update(data[:7])
                h2, g2 = h.copy(), g.copy()
                h.update(data[7:])
                g.update(data[7:])
                self.assertEqual(h.digest(), g.digest())
                self.assertEqual(h.digest(), g.digest())   # (digest does not finish it)
                self.assertEqual(h2.hexdigest(), g2.hexdigest())

    def test_ecdsa_without_its_constructor_is_cryptographys(self):
        # what _keys signs and checks with is cryptography's ec.ECDSA, both ways
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
        from cryptography.exceptions import InvalidSignature
        for curve, hname, h in ((ec.SECP256R1, "SHA256", hashes.SHA256),
                                (ec.SECP384R1, "SHA384", hashes.SHA384),
                                (ec.SECP521R1, "SHA512", hashes.SHA512)):
            key = ec.generate_private_key(curve())
            digest = _keys.hash_func(hname)(b"message").digest()
            ours = _keys._prehashed_ecdsa(hname)
            self.assertIsInstance(ours, ec.ECDSA)
            self.assertFalse(ours.deterministic_signing)
            theirs = ec.ECDSA(Prehashed(h()))
            key.public_key().verify(key.sign(digest, ours), digest, theirs)
            key.public_key().verify(key.sign(digest, theirs), digest, ours)
            bad = bytes([digest[0] ^ 1]) + digest[1:]
            for alg in (ours, theirs):
                self.assertRaises(InvalidSignature, key.public_key().verify,
                                  key.sign(digest, alg), bad, ours)

    def test_unknown_hash_name_means_sha512(self):
        self.assertIs(_keys.hash_func("SHA1"), _keys.hash_func("SHA512"))
        self.assertIs(_keys.hash_func("nonsense"), _keys.hash_func("SHA512"))


class KeyFileTests(unittest.TestCase):
    def test_all_v23_keys_load_and_match_fingerprints(self):
        kj = _keysjson()
        n = 0
        for name, info in sorted(kj.items()):
            if not name.startswith(("v23-private-", "v23-encrypted-", "legacy/")):
                continue
            if name.endswith("publickey.pem"):
                continue
            data = _read(*name.split("/"))
            enc = "encrypted" in name
            key = _pem.parse_private_key(data, b"password" if enc else None)
            if enc:
                self.assertRaises(_pem.PassphraseRequired, _pem.parse_private_key, data)
                self.assertRaises(_pem.BadPassphrase, _pem.parse_private_key, data, b"wrong")
            signer = _keys.Signer(key)
            self.assertEqual(str(signer.public_key), info["v23_public_key_string_md5"], name)
            self.assertEqual(signer.public_key.der, base64.b64decode(info["public_key_der_b64"]))
            n += 1
        self.assertGreater(n, 60)

    def test_public_key_files(self):
        kj = _keysjson()
        for name, info in kj.items():
            if not (name.startswith("v23-public-") or name.endswith("publickey.pem")):
                continue
            der = _pem.parse_public_key_der(_read(*name.split("/")))
            pk = security.public_key_from_der(der)
            self.assertEqual(str(pk), info["v23_public_key_string_md5"], name)

    def test_fingerprint_vectors(self):
        kj = _keysjson()
        for case in _vectors()["public_key_fingerprints"]["cases"]:
            fname = case["file"].split("/", 1)[1].split(" ")[0]
            info = kj.get(fname)
            if info is None or "public_key_der_b64" not in info:
                continue
            der = base64.b64decode(info["public_key_der_b64"])
            self.assertEqual(str(security.public_key_from_der(der)), case["v23_string"])

    def test_indirect_key(self):
        d = self.mktemp()
        os.makedirs(d)
        target = os.path.join(d, "real.pem")
        with open(target, "wb") as f:
            f.write(_read("v23-private-a-ed25519.key"))
        ind = _pem.encode_block(_pem.INDIRECT_TYPE, target.encode(),
                                {_pem.INDIRECT_HEADER: "filename"})
        key = _pem.parse_private_key(ind)
        self.assertEqual(str(_keys.Signer(key).public_key),
                         _keysjson()["v23-private-a-ed25519.key"]["v23_public_key_string_md5"])
        golden = _vectors()["indirect_private_key_pem"]["pem"].encode()
        self.assertEqual(_pem.encode_block(_pem.INDIRECT_TYPE, b"doesnt-exist",
                                           {_pem.INDIRECT_HEADER: "filename"}), golden)
        self.assertRaises(_pem.PEMError, _pem.parse_private_key, golden)

    def test_write_and_read_back(self):
        for kt in ("ecdsa256", "ed25519"):
            key = _keys.generate_private_key(kt)
            plain = _pem.marshal_private_key(key)
            self.assertTrue(plain.startswith(b"-----BEGIN PRIVATE KEY-----\n"))
            enc = _pem.marshal_private_key(key, b"secret")
            self.assertTrue(enc.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----\n"))
            for data, pw in ((plain, None), (enc, b"secret")):
                k2 = _pem.parse_private_key(data, pw)
                self.assertEqual(_keys.Signer(k2).public_key, _keys.Signer(key).public_key)
            self.assertRaises(_pem.BadPassphrase, _pem.parse_private_key, enc, b"nope")
            self.assertRaises(_pem.PassphraseRequired, _pem.parse_private_key, enc)

    def test_bad_inputs(self):
        for bad in (b"", b"garbage", b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
                    b"-----BEGIN PRIVATE KEY-----\n!!!\n-----END PRIVATE KEY-----\n",
                    b"-----BEGIN PRIVATE KEY-----\nAAAA\n"):
            self.assertRaises(_pem.PEMError, _pem.parse_private_key, bad)
        for bad in (b"", b"\x30\x00", b"\x30" * 100, os.urandom(50)):
            self.assertRaises(_keys.KeyError_, security.public_key_from_der, bad)


class SSHKeyTests(unittest.TestCase):
    def test_openssh_private_keys(self):
        kj = _keysjson()
        n = 0
        for name, info in sorted(kj.items()):
            if not name.startswith("ssh-") or "." in name:
                continue
            data = _read(name)
            if name.startswith("ssh-encrypted-"):
                self.assertRaises(_pem.PassphraseRequired, _pem.parse_private_key, data)
                continue
            key = _pem.parse_private_key(data)
            self.assertEqual(str(_keys.Signer(key).public_key),
                             info["v23_public_key_string_md5"], name)
            n += 1
        self.assertEqual(n, 7)
