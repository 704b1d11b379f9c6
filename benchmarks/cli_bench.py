"""Start-up cost of the command-line tools: whole-process CPU time, median of N runs.

    python benchmarks/cli_bench.py [-n 10] [--go-bin DIR] [--installed]

Each command runs N times as a child process (the N rounds interleave the commands, ours
and Go's, so that load from other processes weighs on all alike); its CPU time is the
user + system time the child (and its children) used, from getrusage(RUSAGE_CHILDREN).  Printed
beside ``python -c pass`` measured in the same run (the floor of any Python tool on
this machine at this moment) and beside Go's tools when they are built (.gopeers/bin),
with the machine's load average before and after the rounds.

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

Installation: ``pip install -e`` (this tree's venv) puts an import hook in every Python
start of the venv (setuptools' editable finder: pathlib, urllib.parse, ... ~15 ms of
``python -c pass``); the benchmark says which install it measured.  setuptools gives a flat
layout like ours a plain path entry instead only by putting the whole tree on ``sys.path``
(``editable_mode=compat``: ``tests``, ``tools``, ``benchmarks`` become importable
packages everywhere) or with ``editable_mode=strict`` (a tree of links that misses every
module added later), so the dev install keeps the hook.  ``--installed`` also builds this tree's wheel, installs it into a
temporary venv whose dependencies are this environment's (a .pth line, no download) and
measures the same commands there, beside that venv's ``python -c pass``: what a user who
ran ``pip install v23py`` gets.
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


def cpu_ms_once(argv, env):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    p = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({p.returncode}): {p.stderr.decode()[-500:]}")
    return (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1e3


def cpu_ms(runs, env, n):
    """Median CPU of each argv in ``runs`` over n rounds; the rounds interleave the commands
    so that the machine's load at one moment weighs on all of them alike."""
    xs = [[] for _ in runs]
    for _ in range(n):
        for i, argv in enumerate(runs):
            xs[i].append(cpu_ms_once(argv, env))
    return [statistics.median(x) for x in xs]


def tool(name):
    here = os.path.join(os.path.dirname(sys.executable), name)
    return here if os.path.exists(here) else shutil.which(name)


def installed_venv(tmp):
    """bin directory of a venv holding this tree's wheel (dependencies: ours, by .pth)."""
    import site
    whl = os.path.join(tmp, "wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", whl, ROOT],
                   check=True, stdout=subprocess.DEVNULL)
    venv = os.path.join(tmp, "venv")
    subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    vpy = os.path.join(venv, "bin", "python")
    out = subprocess.run([vpy, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                         check=True, stdout=subprocess.PIPE, text=True).stdout.strip()
    with open(os.path.join(out, "v23py-bench-deps.pth"), "w") as f:
        f.write("\n".join(site.getsitepackages()) + "\n")
    wheels = [os.path.join(whl, n) for n in os.listdir(whl) if n.endswith(".whl")]
    subprocess.run([vpy, "-m", "pip", "install", "-q", "--no-deps", "--no-index"] + wheels,
                   check=True, stdout=subprocess.DEVNULL)
    return os.path.join(venv, "bin")


def install_kind(python):
    """How v23py is installed for ``python``: "editable" (``pip install -e``: setuptools'
    import hook runs in every start of that venv), "wheel", or "source tree"."""
    code = ("import json, importlib.metadata as m\n"
            "try:\n"
            "    d = json.loads(m.distribution('v23py').read_text('direct_url.json') or '{}')\n"
            "    print('editable' if d.get('dir_info', {}).get('editable') else 'wheel')\n"
            "except m.PackageNotFoundError:\n"
            "    print('source tree')\n")
    # (from an empty directory: in the source tree, its v23py.egg-info would answer)
    with tempfile.TemporaryDirectory() as d:
        out = subprocess.run([python, "-c", code], stdout=subprocess.PIPE, text=True, cwd=d)
    return out.stdout.strip() or "unknown"


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
    ap.add_argument("--installed", action="store_true",
                    help="also measure this tree's wheel installed in a fresh venv")
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
        if a.installed:
            vbin = installed_venv(tmp)
            cmds += [(label + " (installed)", [os.path.join(vbin, os.path.basename(argv[0]))]
                      + argv[1:], None) for label, argv, _ in cmds]
        if not a.no_warm:
            warm = dict(env)
            warm.pop("PYTHONDONTWRITEBYTECODE", None)
            for _, argv, _ in cmds:
                subprocess.run(argv, env=warm, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        print(f"CPU per process, median of {a.n} (user+sys of the child), "
              f"PYTHONDONTWRITEBYTECODE={os.environ.get('PYTHONDONTWRITEBYTECODE', '')!r}, "
              f"bytecode caches {'left as they were' if a.no_warm else 'written first'}")
        kind = install_kind(sys.executable)
        print(f"v23py installed in {os.path.dirname(os.path.dirname(sys.executable))}: {kind}"
              + (" (setuptools' editable import hook runs in every start; what users of "
                 "the wheel get is the '(installed)' rows, with --installed)"
                 if kind == "editable" else ""))
        if a.installed:
            print(f"(installed): this tree's wheel in a fresh venv: "
                  f"{install_kind(os.path.join(vbin, 'python'))}")
        print(f"{'command':42} {'v23py':>9} {'- pass':>9} {'target':>8} {'Go':>8}")
        runs, where = [], []
        for label, argv, goname in cmds:
            where.append((label, len(runs), None))
            runs.append(argv)
            if gob and goname:
                where[-1] = (label, where[-1][1], len(runs))
                runs.append([os.path.join(gob, goname)] + argv[1:])
        load0 = os.getloadavg()
        ms = cpu_ms(runs, env, a.n)
        load1 = os.getloadavg()
        print("load average (1, 5, 15 min) before the rounds %.2f %.2f %.2f, after %.2f %.2f %.2f"
              % (load0 + load1))
        floors = {False: ms[0]}   # python -c pass (of the venv the command runs in)
        for label, i, _ in where:
            if label == "python -c pass (installed)":
                floors[True] = ms[i]
        for label, i, gi in where:
            floor = floors[label.endswith("(installed)")]
            go = f"{ms[gi]:6.1f} ms" if gi is not None else ""
            target = TARGETS.get(label.replace(" (installed)", ""))
            tgt = f"{target:5.0f} ms" if target else ""
            over = f"{ms[i] - floor:6.1f} ms" if not label.startswith("python") else ""
            print(f"{label:42} {ms[i]:6.1f} ms {over:>9} {tgt:>8} {go:>8}", flush=True)
    finally:
        for p in reversed(procs):
            p.terminate()
            p.wait(30)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
