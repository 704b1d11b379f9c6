"""What our RPC server's kernel and scheduler do per 1 B Echo, for Go's client and for ours.

    python benchmarks/rpc_server_perf.py [--go-bin DIR] [--calls N] [--rounds R] [--apart]
                                         [--pin SERVER_CPU,CLIENT_CPU]

The companion of rpc_server_instr.py (instructions under callgrind, which sees neither the
kernel nor the scheduler): the Benchmark server of rpc_bench.py runs natively, and for each
client a run of N calls minus a run of 1 (each a new process and conn) gives, per call, the
server's user and system CPU time, its voluntary context switches (sleeps in epoll_wait)
and involuntary ones (preempted while runnable), all from /proc, and, when `perf` can trace
the server, its recvfrom / epoll_wait / sendto system calls (one recvfrom is one read: Go's
two writes per call sometimes arrive as two).  The clients take turns, R rounds.  Times
depend on the load (report it); the counts much less.  --pin keeps the server on one CPU and
the clients on another (the same one for both: they share it), since where the scheduler
puts them decides how often Go's two writes come apart and who preempts the server.
"""
import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

import rpc_bench  # noqa: E402
import rpc_server_instr  # noqa: E402

SYSCALLS = ("recvfrom", "epoll_wait", "sendto")
_PREFIX = "syscalls:sys_enter_"


def proc_counts(pid):
    """user, system CPU seconds; voluntary, involuntary context switches of pid."""
    stat = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    r = {"user": int(stat[11]) / tick, "sys": int(stat[12]) / tick}
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("voluntary_ctxt_switches"):
            r["vol"] = int(line.split(":")[1])
        elif line.startswith("nonvoluntary_ctxt_switches"):
            r["invol"] = int(line.split(":")[1])
    return r


def measured(pid, run, use_perf):
    """Counts of the server over run()."""
    out = tempfile.mktemp(prefix="rpc-server-perf-")
    perf = None
    if use_perf:
        events = ",".join(_PREFIX + s for s in SYSCALLS)
        perf = subprocess.Popen(["perf", "stat", "-x,", "-o", out, "-e", events, "-p", str(pid)],
                                stderr=subprocess.DEVNULL)
        time.sleep(0.3)
    before = proc_counts(pid)
    run()
    time.sleep(0.3)   # the server's end of the conn
    after = proc_counts(pid)
    r = {k: after[k] - before[k] for k in after}
    if perf is not None:
        perf.send_signal(signal.SIGINT)
        perf.wait()
        for line in open(out):
            parts = line.split(",")
            if len(parts) > 2 and parts[2].startswith(_PREFIX):
                try:
                    r[parts[2][len(_PREFIX):]] = float(parts[0])
                except ValueError:
                    pass
        os.unlink(out)
    return r


def perf_works(pid):
    try:
        p = subprocess.run(["perf", "stat", "-e", "syscalls:sys_enter_recvfrom", "-p", str(pid),
                            "--", "sleep", "0.1"], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return p.returncode == 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--go-bin", default=os.path.join(ROOT, ".gopeers", "bin"))
    ap.add_argument("--calls", type=int, default=2001)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--apart", action="store_true",
                    help="also our client sending the end of arguments after the response")
    ap.add_argument("--pin", metavar="S,C", help="the server on CPU S, the clients on CPU C")
    args = ap.parse_args()
    go = rpc_bench.go_binaries(args.go_bin)
    if isinstance(go, str):
        sys.exit(f"--go-bin {args.go_bin}: {go}")
    tmp = tempfile.mkdtemp(prefix="rpc-server-perf-")
    creds = os.path.join(tmp, "creds")
    rpc_bench.make_creds(creds)
    server = subprocess.Popen(
        [sys.executable, os.path.join(ROOT, "benchmarks", "rpc_bench.py"), "--serve-v23", creds],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        name = server.stdout.readline().decode().strip()
        if not name:
            sys.exit("the server did not start")
        if args.pin:
            scpu, ccpu = (int(x) for x in args.pin.split(","))
            for tid in os.listdir(f"/proc/{server.pid}/task"):   # (each of its threads)
                os.sched_setaffinity(int(tid), {scpu})
            os.sched_setaffinity(0, {ccpu})   # the clients are started from here
        use_perf = perf_works(server.pid)

        def client(label, patch=""):
            return rpc_server_instr.our_client(tmp, creds, name, label, patch)

        clients = [("Go client", lambda n: rpc_bench.run_go_client(go[1], creds, tmp, name, n, 1)),
                   ("v23py client", client("ours"))]
        if args.apart:
            clients.append(("v23py apart", client("apart", rpc_server_instr.APART)))
        n = args.calls
        print(f"our server per 1 B call ({n - 1} calls; load {os.getloadavg()[0]:.1f}"
              f"{'; pinned server,clients ' + args.pin if args.pin else ''}"
              f"{'' if use_perf else '; no perf: system calls not counted'})", flush=True)
        for _ in range(args.rounds):
            for label, run in clients:
                run(1)
                many = measured(server.pid, lambda: run(n), use_perf)
                one = measured(server.pid, lambda: run(1), use_perf)
                per = {k: (many[k] - one.get(k, 0)) / (n - 1) for k in many}
                line = (f"  {label:<13} CPU user {per['user'] * 1e6:5.0f} + sys "
                        f"{per['sys'] * 1e6:4.0f} us   context switches: voluntary "
                        f"{per['vol']:.2f}, involuntary {per['invol']:.2f}")
                if use_perf:
                    line += "   " + ", ".join(f"{s} {per.get(s, 0):.2f}" for s in SYSCALLS)
                print(line, flush=True)
        print(f"  (load at the end {os.getloadavg()[0]:.1f})")
    finally:
        server.kill()
        server.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
