"""CPU per row of the receiving side of a bulk sync, in one process, no network.

    python benchmarks/sync_apply_bench.py [--rows 20000] [--engine sqlite]

Daemon A's store holds --rows rows (``"x" * 50`` each, written by PutRows-sized
commits); B pulls them in full data rounds as syncbased does: each round's GetDeltas
answer is VOM-encoded as RPC streams it (one type encoder per connection), then B
decodes the stream and applies it (``DbSync.apply``).  Prints CPU microseconds per row
for the decode and for the apply, separately (process CPU time: close to load-independent;
run under ``valgrind --tool=callgrind`` for instruction counts).  With --callgrind it also
counts A's side: writing the rows (PutRows-sized commits, without the RPC) and answering
the rounds' GetDeltas (the responder and the VOM encoding of its stream)."""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import types

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

from callgrind_dumps import new_dumps_total  # noqa: E402


def _cg(*args):
    import subprocess
    subprocess.run(["callgrind_control", *args, str(os.getpid())], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)


def _under_callgrind() -> bool:
    """This process runs under valgrind's callgrind (callgrind_control can reach it).
    Outside valgrind callgrind_control only prints an error and exits 0, so every count
    would read 0."""
    import subprocess
    try:
        r = subprocess.run(["callgrind_control", "-s", str(os.getpid())],
                           capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.SubprocessError):
        return False
    return "not detected" not in r.stdout + r.stderr and f"PID {os.getpid()}" in r.stdout


def _dumped(outdir) -> int:
    """Dump callgrind's counts so far (which resets them) and stop counting: their
    instruction total.  (Reading the dump is not counted: it cost ~40M instructions a
    round, which landed in the next part's figure.)"""
    import glob
    before = set(glob.glob(os.path.join(outdir, "callgrind.out*")))
    _cg("-d")
    _cg("-i", "off")
    return new_dumps_total(os.path.join(outdir, "callgrind.out*"), before,
                           remove=not os.environ.get("CG_KEEP")) or 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--engine", default="sqlite")
    ap.add_argument("--callgrind", action="store_true",
                    help="run under valgrind --tool=callgrind --instr-atstart=no: count the "
                         "instructions of the decode and of the apply (callgrind_control)")
    ap.add_argument("--count-from", type=int, default=0, metavar="K",
                    help="with --callgrind: count only the rounds that begin once K records "
                         "were applied (per-row instructions at a store size; A's writes "
                         "are then not counted)")
    ap.add_argument("--every", type=int, default=0, metavar="N",
                    help="also print CPU per row of each N records applied (how it grows "
                         "with B's store), A's answer (respond) beside decode and apply")
    ap.add_argument("--profile", action="store_true",
                    help="cProfile the decode and the apply, top functions by own time")
    args = ap.parse_args()
    if args.callgrind and not _under_callgrind():
        ap.error("--callgrind counts only under callgrind: run valgrind --tool=callgrind "
                 "--instr-atstart=no python benchmarks/sync_apply_bench.py --callgrind "
                 "(python itself, e.g. the venv's, not a shim that execs it: valgrind "
                 "does not follow exec)")

    from twisted.internet import reactor
    from v23py import vom
    from v23py.syncbase.util import Id
    from v23py import syncbase
    from syncbased import access
    from syncbased.common import value_in
    from syncbased.service import Service
    from syncbased.vsync import SyncService
    from syncbased import interfaces as I

    alice = ["idp:o:fortune:alice"]
    dbid = Id("idp:o:fortune", "db")
    cxid = Id("idp:o:fortune:alice", "c")
    sgid = Id("idp:o:fortune:alice", "sg")
    tmp = tempfile.mkdtemp(prefix="applybench-")

    class Peer:
        def __init__(self, name):
            self.svc = Service(os.path.join(tmp, name), args.engine, default_patterns=alice)
            self.sync = SyncService(types.SimpleNamespace(service=self.svc, reactor=reactor,
                                                          blobs=None), None,
                                    publish_nh=False, own_names=alice)
            self.svc.database(dbid).create(
                alice, None, access.perms_add({}, alice[0], *access.ALL_DATABASE_TAGS))
            self.db = self.svc.database(dbid)
            self.cx = self.db.collection(cxid)
            self.cx.create(alice, "", access.perms_add({}, alice[0],
                                                       *access.ALL_COLLECTION_TAGS))

        @property
        def ds(self):
            return self.sync.dbsync(dbid)

    try:
        a, b = Peer("a"), Peer("b")
        a.sync.create_syncgroup(alice, a.db, sgid, syncbase.SyncgroupSpec(
            Perms=syncbase.perms_for(alice[0], ["Admin", "Read"]), Collections=[cxid]),
            syncbase.SyncgroupMemberInfo(SyncPriority=10))
        sg, ver, gv = a.sync.join_at_admin(alice, dbid, sgid, b.sync.hex,
                                           syncbase.SyncgroupMemberInfo(SyncPriority=10))
        b.sync.finish_join(alice, b.db, "/admin", sg, ver, gv)
        val = value_in("x" * 50)
        cg = {"decode": 0, "apply": 0, "write": 0, "respond": 0} if args.callgrind else None
        cgdir = os.getcwd()
        if cg is not None and not args.count_from:
            _cg("-i", "on")
        for start in range(0, args.rows, 500):
            a.cx.put_rows(alice, None, [("b%07d" % i, val) for i in
                                        range(start, min(args.rows, start + 500))])
            a.db.st.flush()
        if cg is not None and not args.count_from:
            cg["write"] += _dumped(cgdir)
        t = I.DeltaResp._vdl_type
        # the syncgroup round first (not timed)
        req = b.ds.sg_request(a.sync.hex)
        items = [vom.decode(vom.encode(x, t), t) for x in a.ds.respond(alice, req, b.sync.hex)]
        b.ds.apply(True, items, a.sync.hex, alice)
        from syncbased import main as sbmain
        sbmain._tune_gc()        # (the daemon's collector settings once it serves)
        te, td = vom.TypeEncoder(), vom.TypeDecoder()
        prof = None
        if args.profile:
            import cProfile
            prof = cProfile.Profile()
        dec_cpu = apply_cpu = 0.0
        recs = counted = 0
        part = [0, 0.0, 0.0, 0.0]     # (--every: records, respond, decode, apply CPU)
        while True:
            req = b.ds.data_request(a.sync.hex)
            on = cg is not None and recs >= args.count_from
            if on:
                _cg("-i", "on")
            cr = time.process_time()
            resp = a.ds.respond(alice, req, b.sync.hex)
            enc = vom.Encoder(type_encoder=te)
            data = b"".join(enc.encode(x, t) for x in resp)
            if on:
                cg["respond"] += _dumped(cgdir)
            td.feed(te.take_bytes())
            if prof is not None:
                prof.enable()
            if on:
                _cg("-i", "on")
            c0 = time.process_time()
            dec = vom.Decoder(type_decoder=td)
            dec.keep_any_raw(t)      # (as the daemon's GetDeltas stream)
            dec.feed(data)
            items = [dec.decode(t) for _ in resp]
            c1 = time.process_time()
            if on:
                cg["decode"] += _dumped(cgdir)
                _cg("-i", "on")
            n = b.ds.apply(False, items, a.sync.hex, alice)
            b.db.st.flush()
            c2 = time.process_time()
            if on:
                cg["apply"] += _dumped(cgdir)
            if prof is not None:
                prof.disable()
            dec_cpu += c1 - c0
            apply_cpu += c2 - c1
            recs += n
            if on:
                counted += n
            if args.every:
                part[0] += n
                part[1] += c0 - cr
                part[2] += c1 - c0
                part[3] += c2 - c1
                if part[0] >= args.every or not n and part[0]:
                    k = 1e6 / part[0]
                    print(f"  records {recs - part[0]:9,d}-{recs:9,d}: CPU per row respond "
                          f"{k * part[1]:5.1f} us, decode {k * part[2]:5.1f}, apply "
                          f"{k * part[3]:5.1f} (load {os.getloadavg()[0]:.1f})", flush=True)
                    part = [0, 0.0, 0.0, 0.0]
            if not n:
                break
        got = len(list(b.cx.scan(alice, "", b"", b"")))
        assert got == args.rows, (got, args.rows)
        print(f"{recs} records applied ({got} rows on B, engine {args.engine}): CPU per row "
              f"decode {1e6 * dec_cpu / recs:.1f} us, apply {1e6 * apply_cpu / recs:.1f} us "
              f"(load average {os.getloadavg()[0]:.1f})")
        if cg is not None:
            print(f"callgrind instructions per row (records {recs - counted:,d}-{recs:,d}): "
                  f"decode {cg['decode'] / counted:,.0f}, apply {cg['apply'] / counted:,.0f}; "
                  f"A: write {cg['write'] / args.rows:,.0f}, respond (GetDeltas and its VOM "
                  f"encoding) {cg['respond'] / counted:,.0f}")
        if prof is not None:
            import pstats
            pstats.Stats(prof).sort_stats("tottime").print_stats(30)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
