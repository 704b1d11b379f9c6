"""VOM speed: prints ns per operation and MB/s (CPU time of this process, so
that other load on the machine disturbs it less).  Not a test; numbers go in the README.

    python benchmarks/vom_bench.py
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from v23py import vdl, vom  # noqa: E402

SmallStruct = vdl.class_for(vdl.struct("v23py/bench.SmallStruct", [
    ("A", vdl.Int32Type), ("B", vdl.StringType), ("C", vdl.BoolType)]))


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


def main():
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

    rows = []
    rows.append(("small struct encode (types sent)", bench(lambda: enc.encode(small)) * 1e9, "ns"))
    rows.append(("small struct decode (types sent)", bench(decode_many) * 1e9, "ns"))
    one = vom.encode(small)
    rows.append(("small struct encode one-shot", bench(lambda: vom.encode(small)) * 1e9, "ns"))
    rows.append(("small struct decode one-shot", bench(lambda: vom.decode(one)) * 1e9, "ns"))

    blob = os.urandom(1 << 20)
    t = bench(lambda: vom.encode(blob))
    rows.append(("[]byte 1 MiB encode", (1 << 20) / t / 1e6, "MB/s"))
    blob_msg = vom.encode(blob)
    t = bench(lambda: vom.decode(blob_msg))
    rows.append(("[]byte 1 MiB decode", (1 << 20) / t / 1e6, "MB/s"))

    strs = [f"s{i:05d}" for i in range(10000)]
    st = vdl.list_of(vdl.StringType)
    size = len(vom.encode(strs, st))
    t = bench(lambda: vom.encode(strs, st))
    rows.append(("[]string x10000 encode", size / t / 1e6, "MB/s"))
    smsg = vom.encode(strs, st)
    t = bench(lambda: vom.decode(smsg))
    rows.append(("[]string x10000 decode", size / t / 1e6, "MB/s"))

    for name, val, unit in rows:
        print(f"{name:40s} {val:12.1f} {unit}")


if __name__ == "__main__":
    main()
