"""Smoke test of an installed v23py (run by .ci/checks.sh in a fresh virtualenv that has
only the wheel and its dependencies, from a directory outside the source tree).

Checks: the distribution's version is ``v23py.__version__``; the packages and the
``py.typed`` markers are there and no stray top-level package is; the console scripts
answer ``--version``; ``principal`` makes credentials; a fortune server and client
talk over TCP; an asyncio program calls the server through ``v23py.aio``.
"""
import importlib.metadata as md
import os
import subprocess
import sys
import tempfile

BIN = os.path.dirname(sys.executable)


def check(cond, what):
    if not cond:
        raise SystemExit(f"wheel smoke: FAILED: {what}")
    print(f"ok  {what}", flush=True)


def run(*argv, env=None, **kw):
    return subprocess.run([os.path.join(BIN, argv[0]), *argv[1:]], env=env, text=True,
                          capture_output=True, timeout=120, **kw)


def main():
    import v23py
    here = os.path.dirname(v23py.__file__)
    source = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    check(not here.startswith(source + os.sep) and "site-packages" in here,
          f"v23py imported from the installed wheel ({here})")
    dist = md.distribution("v23py")
    check(dist.version == v23py.__version__, f"version {dist.version} is v23py.__version__")
    tops = {f.parts[0] for f in dist.files if f.parts[0].isidentifier()}
    check(tops == {"v23py", "syncbased", "fortune", "ifc", "fileserver"},
          f"top-level packages {sorted(tops)}")
    check(os.path.exists(os.path.join(here, "py.typed")), "v23py/py.typed")
    meta = dist.metadata
    check(meta["License-Expression"] == "BSD-3-Clause", "license BSD-3-Clause")
    check(any("Typing :: Typed" in c for c in meta.get_all("Classifier")), "classifiers")
    scripts = [ep.name for ep in dist.entry_points if ep.group == "console_scripts"]
    check(len(scripts) >= 17, f"{len(scripts)} console scripts")
    for name in scripts:
        p = run(name, "--version")
        check(p.returncode == 0 and p.stdout.endswith(f"(v23py) {v23py.__version__}\n"),
              f"{name} --version")
    tmp = tempfile.mkdtemp(prefix="wheel-smoke-")
    creds = os.path.join(tmp, "creds")
    check(run("principal", "create", creds, "smoke").returncode == 0, "principal create")
    env = dict(os.environ, V23_CREDENTIALS=creds)
    p = run("principal", "get", "default", "-names", env=env)
    check(p.stdout.strip() == "smoke", "principal get default -names")
    srv = subprocess.Popen([os.path.join(BIN, "fortune-server"), "--v23.tcp.address=127.0.0.1:0"],
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = srv.stdout.readline()
        while line and not line.startswith("Listening at:"):
            line = srv.stdout.readline()
        ep = "/" + line.split(":", 1)[1].strip()
        p = run("fortune-client", f"--server={ep}", env=env)
        check(p.returncode == 0 and p.stdout.strip(), f"fortune-client -> fortune-server: "
              f"{p.stdout.strip()!r}")
        code = ("import asyncio, v23py.aio\n"
                "from fortune.ifc import FortuneClient\n"
                "from v23py.runtime.trust import trust_opts\n"
                "async def main():\n"
                "    async with v23py.aio.init([]) as ctx:\n"
                f"        print(await FortuneClient({ep!r}).Get(ctx, *trust_opts()))\n"
                "asyncio.run(main())\n")
        p = subprocess.run([sys.executable, "-c", code], env=env, text=True,
                           capture_output=True, timeout=120)
        check(p.returncode == 0 and p.stdout.strip(), f"asyncio client: {p.stdout.strip()!r} "
              f"{p.stderr[-300:]}")
    finally:
        srv.terminate()
        srv.wait(30)
    print("wheel smoke: all ok")


if __name__ == "__main__":
    main()
