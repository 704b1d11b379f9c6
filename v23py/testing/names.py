"""A daemon started as a subprocess that prints ``NAME=<name>`` when it serves (Go's
mounttabled, ours, and test servers), stopped (its process group) at test cleanup."""
import os
import signal
import subprocess

from v23py.testing import StartError, read_line


class NameDaemon:
    def __init__(self, test, argv, env, cwd):
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     stdin=subprocess.DEVNULL, text=True, env=env, cwd=cwd,
                                     start_new_session=True)
        test.addCleanup(self.stop)
        try:
            self.name = read_line(self.proc, 60, argv[0], prefix="NAME=")[5:].strip()
        except StartError as e:
            self.stop()
            test.fail(str(e))

    def stop(self):
        p = self.proc
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        p.stdout.close()
