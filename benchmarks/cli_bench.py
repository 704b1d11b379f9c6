"""Start-up cost of the command-line tools: whole-process CPU time, median of N runs.

    python benchmarks/cli_bench.py [-n 10] [--go-bin DIR]

Each command runs N times as a child process; its CPU time is the user + system
time the child (and its children) used, from getrusage(RUSAGE_CHILDREN).  Printed
beside ``python -c pass`` measured in the same run (the floor of any Python tool on
this machine at this moment) and beside Go's tools when they are built (.gopeers/bin).

The commands: ``principal get default -names`` (no RPC), ``vrpc signature`` of a
local fortune server, ``namespace glob -l '*'`` against a local mount table (three
names, two mounted).  Targets (issue 18):
60 ms, 150 ms, 150 ms.

Bytecode: Python tools start much faster with cached bytecode, which is what users
have.  This environment sets PYTHONDONTWRITEBYTECODE=1, so the project's modules
would be compiled from source on every start; the benchmark therefore first runs
every command once with that variable unset (writing the caches) and measures with
the caches present.  ``--no-warm`` skips that (and then measures whatever state the
caches are in).
"""
import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGETS = {"principal get default -names": 60.0, "vrpc signature": 150.0,
           "namespace glob": 150.0}


def cpu_ms(argv, env, n):
    xs = []
    for _ in range(n):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        p = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if p.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed ({p.returncode}): {p.stderr.decode()[-500:]}")
        xs.append((after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1e3)
    return statistics.median(xs)


def tool(name):
    here = os.path.join(os.path.dirname(sys.executable), name)
    return here if os.path.exists(here) else shutil.which(name)


def go_bin(arg):
    for d in (arg, os.environ.get("V23PY_GO_BIN"), os.path.join(ROOT, ".gopeers", "bin")):
        if d and os.path.exists(os.path.join(d, "principal")):
            return d
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, default=10)
    ap.add_argument("--go-bin", default=None)
    ap.add_argument("--no-warm", action="store_true")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="cli-bench-")
    env = dict(os.environ)
    creds = os.path.join(tmp, "creds")
    subprocess.run([tool("principal"), "create", creds, "bench"], check=True,
                   stdout=subprocess.DEVNULL)
    env["V23_CREDENTIALS"] = creds
    mt = subprocess.Popen([tool("mounttabled"), "--v23.tcp.address=127.0.0.1:0"], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    procs = [mt]
    try:
        line = mt.stdout.readline()
        while line and not line.startswith("NAME="):
            line = mt.stdout.readline()
        if not line:
            raise SystemExit("mounttabled did not start")
        root = line.strip()[len("NAME="):]
        env["V23_NAMESPACE"] = root
        srv = subprocess.Popen([tool("fortune-server"), "--service-name=fortune"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        procs.append(srv)
        line = srv.stdout.readline()
        while line and not line.startswith("Listening at:"):
            line = srv.stdout.readline()
        if not line:
            raise SystemExit("fortune-server did not start")
        server = "/" + line.split(":", 1)[1].strip()
        for name in ("a/b", "c"):
            subprocess.run([tool("namespace"), "mount", name, server, "1h"], env=env, check=True,
                           stdout=subprocess.DEVNULL)
        cmds = [
            ("python -c pass", [sys.executable, "-c", "pass"], None),
            ("principal get default -names", [tool("principal"), "get", "default", "-names"],
             "principal"),
            ("vrpc signature", [tool("vrpc"), "signature", server], "vrpc"),
            ("namespace glob", [tool("namespace"), "glob", "-l", "*"], "namespace"),
        ]
        gob = go_bin(a.go_bin)
        if not a.no_warm:
            warm = dict(env)
            warm.pop("PYTHONDONTWRITEBYTECODE", None)
            for _, argv, _ in cmds:
                subprocess.run(argv, env=warm, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        print(f"CPU per process, median of {a.n} (user+sys of the child), "
              f"PYTHONDONTWRITEBYTECODE={os.environ.get('PYTHONDONTWRITEBYTECODE', '')!r}, "
              f"bytecode caches {'left as they were' if a.no_warm else 'written first'}")
        print(f"{'command':32} {'v23py':>9} {'target':>8} {'Go':>8}")
        for label, argv, goname in cmds:
            ms = cpu_ms(argv, env, a.n)
            go = ""
            if gob and goname:
                go_argv = [os.path.join(gob, goname)] + argv[1:]
                go = f"{cpu_ms(go_argv, env, a.n):6.1f} ms"
            target = TARGETS.get(label)
            tgt = f"{target:5.0f} ms" if target else ""
            print(f"{label:32} {ms:6.1f} ms {tgt:>8} {go:>8}", flush=True)
    finally:
        for p in reversed(procs):
            p.terminate()
            p.wait(30)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
