"""Security benchmarks: sign/verify rates, blessing chain validation, credentials load.

    python benchmarks/security_bench.py [--seconds 1.0]

Target (issue 4): loading a credentials directory and validating its default
blessings in < 20 ms.
"""
import argparse
import datetime
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from v23py import security as sec  # noqa: E402
from v23py import vom  # noqa: E402
from v23py.security import _certificate  # noqa: E402


def rate(fn, seconds):
    n = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        fn()
        n += 1
        now = time.perf_counter()
        if now >= deadline:
            return n / (now - start), (now - start) / n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=1.0)
    a = ap.parse_args()
    s = a.seconds
    msg = os.urandom(64)
    print("%-52s %12s %12s" % ("operation", "ops/s", "us/op"))
    for kt in ("ecdsa256", "ed25519", "ecdsa384", "rsa2048"):
        signer = sec.new_signer(kt)
        sig = signer.sign(b"S1", msg)
        r, t = rate(lambda: signer.sign(b"S1", msg), s)
        print("%-52s %12.0f %12.1f" % ("sign (%s)" % kt, r, t * 1e6))
        r, t = rate(lambda: signer.public_key.verify(sig, msg), s)
        print("%-52s %12.0f %12.1f" % ("verify (%s)" % kt, r, t * 1e6))

    for kt in ("ecdsa256", "ed25519"):
        idp = sec.random_principal(kt)
        idp_b = idp.bless_self("idp")
        mid = sec.random_principal(kt)
        mid_b = idp.bless(mid.public_key, idp_b, "org", sec.new_expiry_caveat(
            datetime.timedelta(days=1)))
        leaf = sec.random_principal(kt)
        leaf_b = mid.bless(leaf.public_key, mid_b, "alice", sec.new_method_caveat("Get"))
        data = vom.encode(leaf_b.to_wire(), sec.WireBlessingsType)

        def validate():
            _certificate.signature_cache.clear()
            sec.blessings_from_wire(vom.decode(data, sec.WireBlessingsType))
        r, t = rate(validate, s)
        print("%-52s %12.0f %12.1f" % ("decode+validate 3-cert chain, no cache (%s)" % kt,
                                       r, t * 1e6))
        r, t = rate(lambda: sec.blessings_from_wire(vom.decode(data, sec.WireBlessingsType)), s)
        print("%-52s %12.0f %12.1f" % ("decode+validate 3-cert chain, cached (%s)" % kt,
                                       r, t * 1e6))
        server = sec.random_principal(kt)
        server.add_to_roots(idp_b)

        def names():
            call = sec.Call(local_principal=server, remote_blessings=leaf_b, method="Get")
            return sec.remote_blessing_names(call)
        assert names()[0] == ["idp:org:alice"]
        r, t = rate(names, s)
        print("%-52s %12.0f %12.1f" % ("remote_blessing_names (%s)" % kt, r, t * 1e6))

    tmp = tempfile.mkdtemp()
    try:
        d = os.path.join(tmp, "creds")
        p = sec.create_principal(d)
        p.set_default_blessings(p.bless_self("alice"))
        for i in range(5):
            other = sec.random_principal()
            p.roots.add(other.public_key, "peer%d" % i)

        def load():
            _certificate.signature_cache.clear()
            q = sec.load_principal(d)
            names = sec.default_blessing_names(q)
            assert names == ["alice"], names
        r, t = rate(load, s)
        print("%-52s %12.0f %12.1f" % ("load credentials dir + default names", r, t * 1e6))
        print("\ncredentials load + validate default blessings: %.2f ms (target < 20 ms): %s"
              % (t * 1e3, "OK" if t < 0.020 else "SLOW"))
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
