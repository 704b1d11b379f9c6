"""Helpers for end-to-end Syncbase tests: credentials and a real syncbased subprocess."""
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def make_creds(dirpath, blessing, trust=()):
    """A credentials directory whose default blessing is ``blessing`` (self-signed).

    ``trust``: other credentials directories whose default blessings' roots this
    principal recognizes."""
    from v23py import security
    p = security.create_principal(dirpath, overwrite=True)
    b = p.bless_self(blessing)
    p.blessing_store.set_default(b)
    p.blessing_store.set(b, "...")
    p.add_to_roots(b)
    for other in trust:
        op = security.load_principal(other)
        p.add_to_roots(op.blessing_store.default())
    return dirpath


def env():
    e = dict(os.environ)
    e["PYTHONPATH"] = ROOT + os.pathsep + e.get("PYTHONPATH", "")
    return e


class Daemon:
    """A syncbased subprocess; ``endpoint`` is the name from its ENDPOINT= line."""

    def __init__(self, creds, root_dir=None, extra=(), engine="sqlite", env=None):
        self.root_dir = root_dir or tempfile.mkdtemp(prefix="sbe2e-")
        self.env = env or {}
        self.creds = creds
        self.args = [sys.executable, "-m", "syncbased.main", "--v23.tcp.address=127.0.0.1:0",
                     f"--v23.credentials={creds}", f"--root-dir={self.root_dir}",
                     f"--engine={engine}", *extra]
        self.proc = None
        self.endpoint = None

    def start(self, timeout=20.0):
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=self.stderr,
                                     cwd=ROOT, env={**env(), **self.env})
        line = self.proc.stdout.readline().decode()
        if not line.startswith("ENDPOINT="):
            self.proc.wait(timeout)
            self.stderr.seek(0)
            raise RuntimeError(f"syncbased did not start: {line!r} "
                               f"{self.stderr.read().decode()[-2000:]}")
        self.endpoint = line.strip().split("=", 1)[1]
        return self

    def stop(self, sig=None):
        import signal
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig or signal.SIGTERM)
        try:
            return self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()
        finally:
            self.proc.stdout.close()

    def kill9(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
            self.proc.stdout.close()


def wait_for(pred, timeout=10.0, interval=0.05):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(interval)
    return False
