"""Callgrind instructions our RPC server spends per 1 B Echo, for Go's client and for ours.

    python benchmarks/rpc_server_instr.py [--go-bin DIR] [--calls N] [--split] [--apart]

Runs the Benchmark server of rpc_bench.py under valgrind's callgrind, then, for each
client, counts the server's instructions over one client run of N calls and over one of
1 call (the counters zeroed before and dumped after each run, with callgrind_control).
Each client run is a new process and a new connection; the difference of the two runs over
N - 1 is the server's cost of one call on a warm connection, the setup taken out alike for
both clients.  Our client is a small Python process making the calls one at a time, as
Go's benchmark client does.  Load-independent (instructions, not time).

--split adds our client sending each call as Go's client does, in two flow messages written
apart (the Request and its argument, then the end-of-arguments Request) where ours sends
one: the same bytes per call as Go's, so what differs from Go's column is Go's client
process, not its messages.  The server mostly reads the two in one go.

--apart adds our client sending the end-of-arguments message only once the response is in,
and pausing before the next call: the server reads it alone, after it answered, as it does
for some of Go's calls when the two writes of Go's client reach it in two reads (one more
reactor wake-up and read).
"""
import argparse
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

import rpc_bench  # noqa: E402
from callgrind_dumps import dump_total  # noqa: E402

OUR_CLIENT = r"""
import sys
sys.path.insert(0, %(root)r)
from twisted.internet import defer, task
from v23py import rpc, runtime, security
from benchmarks.benchmark_vdl import BenchmarkClient
AFTER_CALL = globals().get("AFTER_CALL")

async def main(reactor):
    p = security.load_principal(sys.argv[1])
    ctx, shutdown = runtime.init([], flags=runtime.FlagSet("instr-client"), principal=p)
    stub = BenchmarkClient(sys.argv[2], runtime.get_runtime(ctx).client)
    opts = (rpc.options.ServerAuthorizer(security.allow_everyone()),)
    for _ in range(int(sys.argv[3])):
        assert (await stub.Echo(ctx, b"x", *opts)) == b"x"
        if AFTER_CALL is not None:
            await AFTER_CALL()
    await shutdown()
task.react(lambda r: defer.ensureDeferred(main(r)))
"""

# (--split) our client's unary request sent as two flow messages, each written at once:
# everything up to the end-of-arguments header, then that header (Go's flowClient.start
# and closeSend each flush)
SPLIT = r"""
from v23py.runtime import _conns, _stream
_END = []
_encode_cached = _stream.ValueWriter.encode_cached
def encode_cached(self, key, make, t):
    r = _encode_cached(self, key, make, t)
    if key == "req-end" and not _END:
        _END.append(bytes(r))
    return r
_stream.ValueWriter.encode_cached = encode_cached
_post = _conns.Flow.post
def post(self, data):
    if _END and len(data) > len(_END[0]) and data.endswith(_END[0]):
        k = len(_END[0])
        _post(self, data[:-k])
        self.conn._flush_now()
        if APART:
            _HELD.append((self.conn, self._state.id))
            return
        _post(self, data[-k:])
        self.conn._flush_now()
        return
    _post(self, data)
_conns.Flow.post = post
APART = False
"""

# (--apart) as SPLIT, but the end-of-arguments message goes out after the response (on the
# flow our side has already closed, as Go's late one does), then a pause: the server reads it
# alone before the next call
APART = SPLIT + r"""
APART = True
_HELD = []
async def AFTER_CALL():
    from twisted.internet import reactor, task
    from v23py.flow import message
    while _HELD:
        mc, fid = _HELD.pop()
        mc._conn._send(message.Data(fid, 0, _END[0]).encode())
        mc._flush_now()
    await task.deferLater(reactor, 0.03, lambda: None)
"""


def our_client(tmp, creds, name, label, patch=""):
    """A runner ``run(n)`` of our client (OUR_CLIENT, with ``patch`` run before it) making n
    calls to ``name``, its script written under ``tmp``."""
    script = os.path.join(tmp, f"client_{label}.py")
    with open(script, "w") as f:
        f.write(OUR_CLIENT.replace("from benchmarks.benchmark_vdl",
                                   patch + "from benchmarks.benchmark_vdl") % {"root": ROOT})
    return lambda n: subprocess.run([sys.executable, script, creds, name, str(n)], check=True)


def measured(vg_pid, outbase, run):
    """Instructions of the server over run() (zeroed before, dumped after)."""
    subprocess.run(["callgrind_control", "-z", str(vg_pid)], check=True,
                   stdout=subprocess.DEVNULL)
    before = set(glob.glob(outbase + "*"))
    run()
    time.sleep(0.5)   # let the server finish the closing of the conn
    subprocess.run(["callgrind_control", "-d", str(vg_pid)], check=True,
                   stdout=subprocess.DEVNULL)
    for _ in range(100):
        new = sorted(set(glob.glob(outbase + "*")) - before)
        if new:
            n = dump_total(new[-1])
            if n is not None:
                return n
        time.sleep(0.1)
    raise RuntimeError("callgrind wrote no dump")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--go-bin", default=os.path.join(ROOT, ".gopeers", "bin"))
    ap.add_argument("--calls", type=int, default=501)
    ap.add_argument("--split", action="store_true",
                    help="also our client sending Go's two messages per call")
    ap.add_argument("--apart", action="store_true",
                    help="also our client sending the second one after the response")
    args = ap.parse_args()
    go = rpc_bench.go_binaries(args.go_bin)
    if isinstance(go, str):
        sys.exit(f"--go-bin {args.go_bin}: {go}")
    tmp = tempfile.mkdtemp(prefix="rpc-server-instr-")
    creds = os.path.join(tmp, "creds")
    rpc_bench.make_creds(creds)
    outbase = os.path.join(tmp, "callgrind.out")
    server = subprocess.Popen(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={outbase}",
         sys.executable, os.path.join(ROOT, "benchmarks", "rpc_bench.py"), "--serve-v23", creds],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        env=dict(os.environ, PYTHONHASHSEED="0"))
    try:
        name = server.stdout.readline().decode().strip()
        if not name:
            sys.exit("the server did not start")
        def gos(n):
            rpc_bench.run_go_client(go[1], creds, tmp, name, n, 1)
        n = args.calls
        res = {}
        clients = [("Go client", gos), ("v23py client", our_client(tmp, creds, name, "ours"))]
        if args.split:
            clients.append(("v23py split", our_client(tmp, creds, name, "split", SPLIT)))
        if args.apart:
            clients.append(("v23py apart", our_client(tmp, creds, name, "apart", APART)))
        for label, run in clients:
            run(1)   # (the server's first conn of this kind: types and caches)
            many = measured(server.pid, outbase, lambda: run(n))
            one = measured(server.pid, outbase, lambda: run(1))
            res[label] = ((many - one) / (n - 1), one)
            print(f"  {label:<13} server instructions per 1 B call {res[label][0]:10,.0f}"
                  f"   per 1-call run (conn setup + 1 call) {one:12,d}", flush=True)
        g, o = res["Go client"][0], res["v23py client"][0]
        print(f"  Go's client over ours: {g / o:.2f}x")
        if args.split:
            print(f"  ours in two messages over ours: {res['v23py split'][0] / o:.2f}x")
        if args.apart:
            print(f"  ours, the second message read alone, over ours: "
                  f"{res['v23py apart'][0] / o:.2f}x")
    finally:
        server.kill()
        server.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
