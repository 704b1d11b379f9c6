"""Syncbase blob throughput: local put and get through RPC, and a peer-to-peer fetch.

    python benchmarks/blob_bench.py [--mb 64] [--chunk-kb 64]

Starts two syncbased daemons A and B (one syncgroup), then:
  put    one blob of --mb MiB written to A (PutBlob stream of --chunk-kb items) + commit
  get    the same blob read back from A (GetBlob stream)
  fetch  B fetches it from A (FetchBlob on B: HaveBlob + the peer FetchBlob stream)
  get-b  B reads its fetched copy
Prints MB/s (wall clock) and the CPU seconds per MiB of the client and of each daemon
during that step, then the peak resident memory of each process.
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

ALICE = "idp:o:fortune:alice"


def proc_cpu(pid):
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) >> 10
    return -1


def self_cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def bench(reactor, args):
    import v23py
    from v23py import syncbase
    from v23py.testing.syncbase import Daemon, make_creds
    tmp = tempfile.mkdtemp(prefix="blobbench-")
    creds = make_creds(os.path.join(tmp, "alice"), ALICE)
    ctx, shutdown = v23py.init([f"--v23.credentials={creds}"], reactor=reactor)
    a, b = await Daemon(creds).start(), await Daemon(creds).start()
    try:
        dbs = []
        for i, d in enumerate((a, b)):
            db = syncbase.new_service(d.endpoint).database(ctx, "blobDb", None)
            await db.create(ctx, None)
            c = db.collection(ctx, "cx")
            await c.create(ctx, None)
            sg = db.Syncgroup(ctx, "sg")
            info = syncbase.SyncgroupMemberInfo()
            if i == 0:
                await sg.create(ctx, syncbase.SyncgroupSpec(
                    Perms=syncbase.perms_for(ALICE, ["Admin", "Read"]),
                    Collections=[c.id()]), info)
            else:
                await sg.join(ctx, a.endpoint, None, info)
            dbs.append((db, c))
        (dba, ca), (dbb, cb) = dbs
        size = args.mb << 20
        chunk = os.urandom(args.chunk_kb << 10)

        def measure(label, t0, c0, pa0, pb0):
            dt = time.perf_counter() - t0
            mib = size / (1 << 20)
            print(f"{label:6s} {mib / dt:8.1f} MB/s   CPU s/MiB: client "
                  f"{(self_cpu() - c0) / mib:.4f}  A {(proc_cpu(a.proc.pid) - pa0) / mib:.4f}  "
                  f"B {(proc_cpu(b.proc.pid) - pb0) / mib:.4f}", flush=True)

        def mark():
            return time.perf_counter(), self_cpu(), proc_cpu(a.proc.pid), proc_cpu(b.proc.pid)

        m = mark()
        blob = await dba.create_blob(ctx)
        w = await blob.put(ctx)
        sent = 0
        while sent < size:
            await w.send(chunk)
            sent += len(chunk)
        await w.close()
        await blob.commit(ctx)
        measure("put", *m)

        m = mark()
        got = 0
        async for part in blob.get(ctx, 0):
            got += len(part)
        assert got == size, got
        measure("get", *m)

        await ca.put(ctx, "blob", syncbase.BlobRef(blob.ref()))
        while True:
            try:
                ref = await cb.get(ctx, "blob")
                break
            except v23py.verror.VError:
                await _sleep(reactor, 0.02)
        m = mark()
        last = None
        async for st in dbb.blob(ref).fetch(ctx, 1):
            last = st
        assert str(last.State) == "Done", last
        measure("fetch", *m)

        m = mark()
        got = 0
        async for part in dbb.blob(ref).get(ctx, 0):
            got += len(part)
        assert got == size, got
        measure("get-b", *m)
        print(f"peak RSS MiB: client {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss >> 10}"
              f"  A {peak_rss(a.proc.pid)}  B {peak_rss(b.proc.pid)}", flush=True)
    finally:
        a.stop()
        b.stop()
        await shutdown()


def _sleep(reactor, s):
    from twisted.internet import defer
    d = defer.Deferred()
    reactor.callLater(s, d.callback, None)
    return d


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=64)
    ap.add_argument("--chunk-kb", type=int, default=64)
    args = ap.parse_args()
    from twisted.internet import defer, task
    task.react(lambda reactor: defer.ensureDeferred(bench(reactor, args)))


if __name__ == "__main__":
    main()
