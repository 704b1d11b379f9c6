"""A daemon started as a subprocess that prints ``NAME=<name>`` when it serves (Go's
mounttabled, ours, and test servers), stopped (its process group) at test cleanup."""
import os
import signal
import subprocess
import threading


class NameDaemon:
    def __init__(self, test, argv, env, cwd):
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     stdin=subprocess.DEVNULL, text=True, env=env, cwd=cwd,
                                     start_new_session=True)
        test.addCleanup(self.stop)
        found = []

        def read():
            for line in self.proc.stdout:
                if line.startswith("NAME="):
                    found.append(line[5:].strip())
                    return
        t = threading.Thread(target=read, daemon=True)
        t.start()
        t.join(60)
        if not found:
            self.stop()
            test.fail(f"{argv[0]} printed no NAME= line")
        self.name = found[0]

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
