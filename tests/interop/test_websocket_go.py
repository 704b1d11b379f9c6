"""The ws and wsh transports against Go Vanadium v0.2.0, both directions.

* Go's ``vrpc`` -> our fortune server listening with ``--v23.tcp.protocol=ws`` (Go dials a
  WebSocket); -> our server on the default ``wsh`` (Go dials plain TCP), and the same port
  dialed as ``ws`` (a WebSocket into the hybrid listener).
* Our ``mounttable`` tool -> Go's ``mounttabled`` listening with ``--v23.tcp.protocol=ws``,
  and -> Go's default ``wsh`` listener dialed as ``ws``.
"""
import os
import sys

from twisted.internet import defer, utils
from twisted.trial import unittest

from v23py.testing import ROOT, go_binary, tempdir
from v23py.testing.procs import ENV, make_creds, spawn


def run(args):
    return utils.getProcessOutputAndValue(args[0], args[1:], env=ENV, path=ROOT)


class WebSocketInterop(unittest.TestCase):
    timeout = 60

    def setUp(self):
        self.dir = tempdir(self, "ws-interop-")
        self.creds = os.path.join(self.dir, "creds")
        make_creds(self.creds, "wsuser")

    @defer.inlineCallbacks
    def start(self, args, marker):
        d, _ = spawn(self, args, marker)
        line = yield d.ready
        return line.split(marker, 1)[1].strip()

    @defer.inlineCallbacks
    def call(self, args):
        out, err, code = yield run(args)
        self.assertEqual(code, 0, (args, out, err.decode()[-3000:]))
        return out.decode()

    @defer.inlineCallbacks
    def test_go_vrpc_calls_our_ws_and_wsh_servers(self):
        fortune = [sys.executable, "-m", "fortune.server", "--v23.credentials", self.creds,
                   "--v23.tcp.address", "127.0.0.1:0"]
        ws, wsh = yield defer.gatherResults([
            self.start(fortune + ["--v23.tcp.protocol", "ws"], "Listening at: "),
            self.start(fortune, "Listening at: ")])
        self.assertTrue(ws.startswith("@6@ws@127.0.0.1:"), ws)
        self.assertTrue(wsh.startswith("@6@wsh@127.0.0.1:"), wsh)   # Go's default protocol
        vrpc = [go_binary("vrpc"), "--v23.credentials", self.creds, "call"]
        yield self.call(vrpc + ["/" + ws, "Add", '"over a websocket"'])
        out = yield self.call(vrpc + ["/" + ws, "Get"])
        self.assertEqual(out, '"over a websocket"\n')
        yield self.call(vrpc + ["/" + wsh, "Add", '"over tcp on wsh"'])
        out = yield self.call(vrpc + ["/" + wsh, "Get"])
        self.assertEqual(out, '"over tcp on wsh"\n')
        out = yield self.call(vrpc + ["/" + wsh.replace("@wsh@", "@ws@", 1), "Get"])
        self.assertEqual(out, '"over tcp on wsh"\n')

    @defer.inlineCallbacks
    def test_our_client_calls_go_ws_and_wsh_mounttables(self):
        # (Go gives --v23.tcp.address the protocol set before it: the protocol comes first)
        mt = [go_binary("mounttabled"), "--v23.credentials", self.creds]
        ws, wsh = yield defer.gatherResults([
            self.start(mt + ["--v23.tcp.protocol", "ws", "--v23.tcp.address", "127.0.0.1:0"],
                       "NAME="),
            self.start(mt + ["--v23.tcp.address", "127.0.0.1:0"], "NAME=")])
        self.assertIn("@ws@", ws)
        self.assertIn("@wsh@", wsh)
        ours = [sys.executable, "-m", "v23py.cmd.mounttable", "--v23.credentials", self.creds]
        for name in (ws, wsh.replace("@wsh@", "@ws@", 1)):
            yield self.call(ours + ["mount", name + "/x", "/@6@tcp@10.1.2.3:4@@@s@@@", "1m"])
            out = yield self.call(ours + ["glob", name, "*"])
            self.assertTrue(out.startswith("x /@6@tcp@10.1.2.3:4@@@s@@@ (Deadline "), out)
