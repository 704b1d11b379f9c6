"""Credentials directories: create/load, passphrases, legacy dirs, corruption, locking."""
import os
import shutil
import stat
import subprocess
import sys

from twisted.trial import unittest

from v23py.testing import ROOT, ObeyFilePermissions, shared_path
from v23py import security as sec
from v23py import verror
from v23py.security import _credentials as cred


def _make(d, name="alice", passphrase=None, kt="ecdsa256"):
    p = sec.create_principal(d, passphrase=passphrase, key_type=kt)
    p.set_default_blessings(p.bless_self(name))
    return p


_WRITER = """
import sys
from v23py import security as sec
d, i = sys.argv[1], int(sys.argv[2])
p = sec.load_principal(d)
other = sec.random_principal()
b = p.bless(other.public_key, p.blessing_store.default(), "x%d" % i, sec.unconstrained_use())
p.roots.add(other.public_key, "peer%d" % i)
q = sec.load_principal(d)
q.blessing_store.set(p.blessing_store.default(), "peer%d" % i)
print(b)
"""


class CreateLoadTests(unittest.TestCase):
    def test_roundtrip(self):
        for kt in ("ecdsa256", "ed25519", "ecdsa384"):
            d = os.path.join(self.mktemp(), "creds")
            p = _make(d, kt=kt)
            self.assertEqual(stat.S_IMODE(os.stat(d).st_mode), 0o700)
            self.assertEqual(stat.S_IMODE(os.stat(os.path.join(d, "privatekey.pem")).st_mode),
                             0o400)
            with open(os.path.join(d, "privatekey.pem"), "rb") as f:
                self.assertTrue(f.read().startswith(b"-----BEGIN PRIVATE KEY-----\n"))
            q = sec.load_principal(d)
            self.assertEqual(q.public_key, p.public_key)
            self.assertEqual(str(q.blessing_store.default()), "alice")
            self.assertEqual(sec.default_blessing_names(q), ["alice"])
            self.assertEqual(str(q.blessing_store.for_peer("anyone")), "alice")
            self.assertEqual(q.roots.debug_string(), p.roots.debug_string())
            for f in ("dir.lock", "blessings.lock", "blessingroots.lock", "blessingstore.data",
                      "blessingstore.sig", "blessingroots.data", "blessingroots.sig",
                      "publickey.pem"):
                self.assertTrue(os.path.exists(os.path.join(d, f)), f)

    def test_passphrase(self):
        d = os.path.join(self.mktemp(), "creds")
        p = _make(d, passphrase=b"secret")
        with open(os.path.join(d, "privatekey.pem"), "rb") as f:
            self.assertTrue(f.read().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----"))
        e = self.assertRaises(verror.VError, sec.load_principal, d)
        self.assertEqual(e.id, sec.PassphraseRequired.id)
        e = self.assertRaises(verror.VError, sec.load_principal, d, b"wrong")
        self.assertEqual(e.id, sec.BadPassphrase.id)
        self.assertEqual(sec.load_principal(d, "secret").public_key, p.public_key)

    def test_create_refuses_existing_keys(self):
        d = os.path.join(self.mktemp(), "creds")
        p = _make(d)
        self.assertRaises(verror.VError, sec.create_principal, d)
        self.assertEqual(sec.load_principal(d).public_key, p.public_key)  # nothing lost
        q = sec.create_principal(d, overwrite=True)
        self.assertNotEqual(q.public_key, p.public_key)

    def test_read_only_public_key_principal(self):
        d = os.path.join(self.mktemp(), "creds")
        _make(d, passphrase=b"pw")
        p = sec.load_principal(d, read_only=True)
        self.assertIsNone(p.signer)
        self.assertEqual(str(p.blessing_store.default()), "alice")
        self.assertRaises(verror.VError, p.sign, b"x")
        self.assertRaises(verror.VError, p.roots.add, sec.random_principal().public_key, "x")


class GoLayoutTests(unittest.TestCase):
    def test_legacy_dirs(self):
        base = shared_path("testdata", "security", "legacy")
        for name in sorted(os.listdir(base)):
            d = os.path.join(self.mktemp(), name)
            shutil.copytree(os.path.join(base, name), d)
            for f in os.listdir(d):
                os.chmod(os.path.join(d, f), 0o600)
            if "encrypted" in name:
                e = self.assertRaises(verror.VError, sec.load_principal, d)
                self.assertEqual(e.id, sec.PassphraseRequired.id, name)
                p = sec.load_principal(d, b"password")
            else:
                p = sec.load_principal(d)
            self.assertTrue(p.blessing_store.default().is_zero())
            sig = p.sign(b"hello")
            self.assertTrue(p.public_key.verify(sig, b"hello"))
            # it is writable: a blessing can be stored and read back
            p.set_default_blessings(p.bless_self("legacy"))
            self.assertEqual(str(sec.load_principal(d, b"password" if "encrypted" in name
                                                    else None).blessing_store.default()),
                             "legacy")

    def test_signed_file_format(self):
        signer = sec.new_signer()
        for size in (0, 10, 100):
            data, sig = cred.encode_signed("x" * size, None, signer, chunk_size=16)
            self.assertEqual(cred.decode_signed(data, sig, signer.public_key, None), "x" * size)
            self.assertRaises(verror.VError, cred.decode_signed, data + b"!", sig,
                              signer.public_key, None)
            self.assertRaises(verror.VError, cred.decode_signed, data, sig,
                              sec.new_signer().public_key, None)

    def test_modified_data_that_still_decodes_is_refused(self):
        """The signature covers the chunk hashes; each chunk of the data must match its
        hash, in every chunk, even when the changed data is a valid encoding."""
        signer = sec.new_signer()
        data, sig = cred.encode_signed("a" * 100, None, signer, chunk_size=16)
        for i in range(len(data) - 100, len(data)):   # every byte of the string's text
            changed = data[:i] + b"b" + data[i + 1:]
            self.assertEqual(len(changed), len(data))
            e = self.assertRaises(verror.VError, cred.decode_signed, changed, sig,
                                  signer.public_key, None)
            self.assertIn("modified", str(e))
        # a chunk dropped or added
        for changed in (data[:-16], data + b"a" * 16):
            self.assertRaises(verror.VError, cred.decode_signed, changed, sig,
                              signer.public_key, None)


class BadInputTests(unittest.TestCase):
    def setUp(self):
        self.dir = os.path.join(self.mktemp(), "creds")
        self.p = _make(self.dir)

    def _corrupt(self, name, fn):
        path = os.path.join(self.dir, name)
        os.chmod(path, 0o600)
        with open(path, "rb") as f:
            data = f.read()
        with open(path, "wb") as f:
            f.write(fn(data))

    def test_corrupt_files(self):
        for name in ("blessingstore.data", "blessingstore.sig", "blessingroots.data",
                     "blessingroots.sig", "privatekey.pem", "publickey.pem"):
            for fn in (lambda d: d[:len(d) // 2], lambda d: b"", lambda d: d[:-3] + b"xyz",
                       lambda d: bytes(x ^ 0x55 for x in d)):
                shutil.rmtree(self.dir)
                self.p = _make(self.dir)
                self._corrupt(name, fn)
                e = self.assertRaises(verror.VError, sec.load_principal, self.dir)
                self.assertTrue(str(e), name)

    def test_mismatched_public_key(self):
        other = os.path.join(self.mktemp(), "other")
        _make(other)
        os.chmod(os.path.join(self.dir, "publickey.pem"), 0o600)
        shutil.copy(os.path.join(other, "publickey.pem"), os.path.join(self.dir, "publickey.pem"))
        self.assertRaises(verror.VError, sec.load_principal, self.dir)

    def test_missing(self):
        e = self.assertRaises(verror.VError, sec.load_principal, self.dir + "-nope")
        self.assertEqual(e.id, verror.NoExist.id)

    def test_failed_write_keeps_old_state(self):
        self.p.blessing_store.set(self.p.blessing_store.default(), "bob")
        os.chmod(self.dir, 0o500)
        self.addCleanup(os.chmod, self.dir, 0o700)
        with ObeyFilePermissions():          # (root, as in CI, would write anyway)
            self.assertRaises(verror.VError, self.p.blessing_store.set,
                              self.p.blessing_store.default(), "carol")
        self.assertEqual(sorted(self.p.blessing_store.peer_blessings()), ["...", "bob"])


class ConcurrencyTests(unittest.TestCase):
    def test_concurrent_writers(self):
        # separate processes (not fork: forking a process with threads can deadlock)
        d = os.path.join(self.mktemp(), "creds")
        _make(d)
        n = 6
        root = ROOT
        env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
        procs = [subprocess.Popen([sys.executable, "-c", _WRITER, d, str(i)], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                 for i in range(n)]
        out = []
        for pr in procs:
            self.addCleanup(lambda pr=pr: pr.poll() is None and pr.kill())
        for pr in procs:
            o, e = pr.communicate(timeout=60)
            self.assertEqual(pr.returncode, 0, e.decode())
            out.append(o.decode().strip())
        self.assertEqual(sorted(out), sorted("alice:x%d" % i for i in range(n)))
        p = sec.load_principal(d)
        patterns = set(p.roots.dump())
        for i in range(n):
            self.assertIn("peer%d" % i, patterns)
            self.assertIn("peer%d" % i, p.blessing_store.peer_blessings())
