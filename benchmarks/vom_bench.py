"""VOM speed: prints ns per operation and MB/s (CPU time of this process, so
that other load on the machine disturbs it less), with Go Vanadium's figures for the same
values beside them when Go's counterpart is built.  Not a test; numbers go in the README.

    python benchmarks/vom_bench.py [--quick] [--go-bin DIR]

Go's side is benchmarks/go/vombench (v.io v0.2.0's vom, the struct with the codec
methods Go's VDL compiler would give it), built into .gopeers/bin by
``bash .ci/go-programs.sh``; ``--go-bin DIR`` (or $V23PY_GO_VOMBENCH_BIN) points elsewhere.
It runs after ours, not at the same time, so the two do not share the CPU.  The bytes
each side encodes the values to are compared and the result printed.
"""
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from v23py import vdl, vom  # noqa: E402

SmallStruct = vdl.class_for(vdl.struct("v23py/bench.SmallStruct", [
    ("A", vdl.Int32Type), ("B", vdl.StringType), ("C", vdl.BoolType)]))
GO_BIN_ENV = "V23PY_GO_VOMBENCH_BIN"
GOPEERS_BIN = os.path.join(os.environ.get("V23PY_GOPEERS", os.path.join(ROOT, ".gopeers")), "bin")


def bench(fn, min_time=0.5):
    n = 1
    while True:
        t0 = time.process_time()
        for _ in range(n):
            fn()
        dt = time.process_time() - t0
        if dt >= min_time:
            return dt / n
        n *= 2 if dt < min_time / 10 else max(2, int(min_time / max(dt, 1e-9)))


def mixed(i):
    """The i-th number of the mixed-length list (1 to 12 digits), as vombench makes it."""
    m = (1 << 64) - 1
    x = (i * 6364136223846793005 + 1442695040888963407) & m
    x ^= x >> 33
    return (x >> 7) % 10 ** (1 + x % 12)


def ours(min_time):
    rows, encoded = [], {}
    small = SmallStruct(A=123, B="hello", C=True)
    # Steady state: types already sent on the stream.
    enc = vom.Encoder()
    enc.encode(small)
    msg = enc.encode(small)
    dec = vom.Decoder()
    dec.feed(vom.encode(small))
    dec.decode()

    def decode_many():
        dec.feed(msg)
        dec.decode()

    rows.append(("small struct encode (types sent)",
                 bench(lambda: enc.encode(small), min_time) * 1e9, "ns"))
    rows.append(("small struct decode (types sent)", bench(decode_many, min_time) * 1e9, "ns"))
    one = encoded["small struct"] = vom.encode(small)
    rows.append(("small struct encode one-shot",
                 bench(lambda: vom.encode(small), min_time) * 1e9, "ns"))
    rows.append(("small struct decode one-shot",
                 bench(lambda: vom.decode(one), min_time) * 1e9, "ns"))

    blob = os.urandom(1 << 20)
    t = bench(lambda: vom.encode(blob), min_time)
    rows.append(("[]byte 1 MiB encode", (1 << 20) / t / 1e6, "MB/s"))
    blob_msg = vom.encode(blob)
    t = bench(lambda: vom.decode(blob_msg), min_time)
    rows.append(("[]byte 1 MiB decode", (1 << 20) / t / 1e6, "MB/s"))

    st = vdl.list_of(vdl.StringType)
    for name, strs in (("[]string x10000", [f"s{i:05d}" for i in range(10000)]),
                       ("[]string x10000 mixed lengths", [f"k{mixed(i)}" for i in range(10000)])):
        smsg = encoded[name] = vom.encode(strs, st)
        t = bench(lambda: vom.encode(strs, st), min_time)
        rows.append((name + " encode", len(smsg) / t / 1e6, "MB/s"))
        t = bench(lambda: vom.decode(smsg), min_time)
        rows.append((name + " decode", len(smsg) / t / 1e6, "MB/s"))
    return rows, encoded


def go_bin(argv):
    for i, a in enumerate(argv):
        if a == "--go-bin" and i + 1 < len(argv):
            return os.path.join(argv[i + 1], "vombench")
        if a.startswith("--go-bin="):
            return os.path.join(a.split("=", 1)[1], "vombench")
    if os.environ.get(GO_BIN_ENV):
        return os.path.join(os.environ[GO_BIN_ENV], "vombench")
    return os.path.join(GOPEERS_BIN, "vombench")


def go(path, min_time):
    out = subprocess.run([path, f"-min-time={int(min_time * 1000)}ms"], check=True,
                         capture_output=True, text=True).stdout
    figures, encoded = {}, {}
    for line in out.splitlines():
        d = json.loads(line)
        if "hex" in d:
            encoded[d["name"]] = bytes.fromhex(d["hex"])
        else:
            figures[d["name"]] = d["value"]
    return figures, encoded


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    min_time = 0.2 if "--quick" in argv else 0.5
    rows, encoded = ours(min_time)
    path = go_bin(argv)
    gofig, goenc = ({}, {})
    if os.access(path, os.X_OK):
        gofig, goenc = go(path, min_time)
    else:
        print(f"(Go's figures: {path} is not built; `bash .ci/go-programs.sh` builds it)")
    print(f"{'':40s} {'v23py':>12s} {'Go v0.2.0':>12s}  {'':5s} {'v23py/Go':>9s}")
    for name, val, unit in rows:
        g = gofig.get(name)
        if g is None:
            print(f"{name:40s} {val:12.1f} {'':>12s}  {unit:5s}")
            continue
        # a ratio above 1 means v23py is slower (time) or faster (MB/s): say it one way
        ratio = val / g if unit == "ns" else g / val
        print(f"{name:40s} {val:12.1f} {g:12.1f}  {unit:5s} {ratio:8.2f}x time")
    for name, b in goenc.items():
        mine = encoded.get(name)
        same = "same bytes" if mine == b else "DIFFERENT BYTES"
        print(f"encoded {name}: {same} as Go ({len(b)} bytes)")


if __name__ == "__main__":
    main()
