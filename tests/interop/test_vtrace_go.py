"""vtrace across implementations: a Go client calls our server, which calls a Go
server with the call's context; the trace is one trace everywhere.

Go's `vrpc --v23.vtrace.sample-rate=1` samples its root trace and calls Relay on our
server (tests/_vtrace_relay.py), which calls GetPermissions on Go's mounttabled.  The
ids travel in each Request's TraceRequest and our server returns the spans it collected
(its own, its client's and the Go server's, merged from that response) in its Response:
Go's client prints (--v23.vtrace.dump-on-shutdown) one trace holding all of them, and
Go's `debug vtrace` reads the same trace from our server's __debug/vtrace.
"""
import os
import re
import subprocess
import sys

from twisted.trial import unittest

from v23py.testing import ROOT, child_env, go_binary, tempdir
from v23py.testing.names import NameDaemon as _Daemon

PY = sys.executable


class GoOursGoTrace(unittest.TestCase):
    timeout = 180

    def test_one_trace_go_client_our_server_go_server(self):
        vrpc, debug, mounttabled = go_binary("vrpc"), go_binary("debug"), go_binary("mounttabled")
        d = tempdir(self, prefix="vtrace-go-")
        creds = os.path.join(d, "creds")
        subprocess.run([go_binary("principal"), "create", "--with-passphrase=false", creds,
                        "owner"], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=30)
        env = child_env(v23_vars=False)
        common = [f"--v23.credentials={creds}", f"--log_dir={d}"]
        gomt = _Daemon(self, [mounttabled, *common, "--v23.tcp.address=127.0.0.1:0"], env, d)
        relay = _Daemon(self, [PY, "-m", "tests.interop.vtrace_relay", *common,
                               "--v23.tcp.address=127.0.0.1:0"], env, ROOT)
        p = subprocess.run([vrpc, *common, "--v23.namespace.root=/127.0.0.1:1",
                            "--v23.vtrace.sample-rate=1", "call", relay.name, "Relay",
                            f'"{gomt.name}"'], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, env=env, cwd=d, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        dump = p.stderr
        traces = re.findall(r"^Trace - (0x[0-9a-f]{32}) ", dump, re.M)
        self.assertEqual(len(traces), 1, dump)
        tid = traces[0]
        ours = re.search(r"Span - \.Relay \[id: (\w+) parent (\w+)\]", dump)
        self.assertIsNotNone(ours, dump)
        client = re.search(r'Span - <rpc\.Client>"%s"\.GetPermissions \[id: (\w+) parent (\w+)\]'
                           % re.escape(gomt.name), dump)
        self.assertIsNotNone(client, dump)
        self.assertEqual(client.group(2), ours.group(1))    # our client span under our server's
        goserver = re.search(r"Span - \.GetPermissions \[id: (\w+) parent (\w+)\]", dump)
        self.assertIsNotNone(goserver, dump)
        self.assertEqual(goserver.group(2), client.group(1))  # Go's server span under ours
        vclient = re.search(r'Span - <rpc\.Client>"%s"\.Relay \[id: (\w+) parent'
                            % re.escape(relay.name), dump)
        self.assertEqual(ours.group(2), vclient.group(1))   # ours under Go's client span
        # Go's debug reads the same trace from our server
        q = subprocess.run([debug, *common, "--v23.namespace.root=/127.0.0.1:1", "vtrace",
                            relay.name + "/__debug/vtrace"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, env=env, cwd=d, timeout=60)
        self.assertEqual(q.returncode, 0, q.stderr)
        self.assertEqual(re.findall(r"^Trace - (0x[0-9a-f]{32}) ", q.stdout, re.M), [tid],
                         q.stdout)
        for span in (ours, client, goserver):
            self.assertIn(f"[id: {span.group(1)} parent {span.group(2)}]", q.stdout)
        # and Go's debug asks for that one trace by id
        q = subprocess.run([debug, *common, "--v23.namespace.root=/127.0.0.1:1", "vtrace",
                            relay.name + "/__debug/vtrace", tid], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, env=env, cwd=d, timeout=60)
        self.assertEqual(q.returncode, 0, q.stderr)
        self.assertIn(f"Trace - {tid} ", q.stdout)
