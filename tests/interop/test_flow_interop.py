"""Flow layer against real Go v0.2.0 peers.

* dial Go's mounttabled (credentials from Go's `principal create`): Setup, NaCl encryption, Auth with
  the channel binding and blessings flow; then a minimal __Signature RPC on a type flow + data flow
  proves OpenFlow/Data/Release/close work both ways.
* accept a Go `vrpc` client: it completes the handshake with us and opens its type and data flows.
* faults against the Go server: garbage bytes and a wrong version make Go drop the conn; we survive.
"""
import os
import signal
import subprocess

from twisted.internet import defer, threads
from twisted.trial import unittest

from v23py.testing import go_binary, read_line, tempdir
from v23py import security, vdl, vom
from v23py.runtime.flowmanager import FlowManager
from v23py.flow import Identity
from v23py.flow import message as fm
from v23py.testing.flow import send_and_read_all


def _go_credentials(tmp, name, key_type="ecdsa256"):
    d = os.path.join(tmp, name)
    subprocess.run([go_binary("principal"), "create", "--with-passphrase=false", "--key-type=" + key_type,
                    d, name],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
    return d


def _start_mounttabled(creds):
    proc = subprocess.Popen(
        [go_binary("mounttabled"), "--v23.tcp.address=127.0.0.1:0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True,
        env={"V23_CREDENTIALS": creds, "PATH": os.environ.get("PATH", "")})
    line = read_line(proc, 30, "Go's mounttabled")
    if not line.startswith("NAME="):
        _kill(proc)
        raise RuntimeError("mounttabled did not start: %r" % line)
    return proc, line.strip()[len("NAME="):]


def _kill(proc):
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait()
    if proc.stdout:
        proc.stdout.close()


# Minimal RPC wire types, only what this test needs (the rpc package owns the real ones).
_dur = vdl.struct("time.Duration", [("Seconds", vdl.Int64Type), ("Nanos", vdl.Int32Type)])
_deadline = vdl.struct("time.WireDeadline", [("FromNow", _dur)])
_uid = vdl.array_of(vdl.ByteType, 16, name="v.io/v23/uniqueid.Id")
_tflags = vdl.named("v.io/v23/vtrace.TraceFlags", vdl.Int32Type)
_treq = vdl.struct("v.io/v23/vtrace.Request", [
    ("SpanId", _uid), ("TraceId", _uid), ("RequestMetadata", vdl.ByteListType),
    ("Flags", _tflags), ("LogLevel", vdl.Int32Type)])
RequestType = vdl.struct("v.io/v23/rpc.Request", [
    ("Suffix", vdl.StringType), ("Method", vdl.StringType), ("NumPosArgs", vdl.Uint64Type),
    ("EndStreamArgs", vdl.BoolType), ("Deadline", _deadline), ("GrantedBlessings", security.WireBlessingsType),
    ("TraceRequest", _treq), ("Language", vdl.StringType)])


class _Stream:
    """Collects a flow's bytes; `wait(pred)` fires when pred(bytes so far) is true or at EOF."""

    def __init__(self, flow):
        self.data = bytearray()
        self.eof = None
        self.waiters = []
        flow.set_receiver(self._on_data, self._on_close)

    def _on_data(self, b):
        self.data += b
        self._check()

    def _on_close(self, reason):
        self.eof = reason if reason is not None else True
        self._check()

    def _check(self):
        for pred, d in list(self.waiters):
            if self.eof is not None or pred(bytes(self.data)):
                self.waiters.remove((pred, d))
                d.callback(bytes(self.data))

    def wait(self, pred=lambda b: False):
        d = defer.Deferred()
        self.waiters.append((pred, d))
        self._check()
        return d


@defer.inlineCallbacks
def _signature_call(conn):
    """__Signature on a fresh type flow + data flow; returns (Response, results)."""
    te = vom.TypeEncoder()
    enc = vom.Encoder(type_encoder=te)
    body = enc.encode(vdl.class_for(RequestType)(Method="__Signature", EndStreamArgs=True), RequestType)
    tflow = conn.open_flow(side_channel=True)
    tstream = _Stream(tflow)
    tflow.write(b"t" + te.take_bytes())
    dflow = conn.open_flow()
    dstream = _Stream(dflow)
    dflow.write(b"d" + body)
    data = yield dstream.wait()
    td = vom.TypeDecoder()
    td.feed(bytes(tstream.data))
    dec = vom.Decoder(type_decoder=td)
    dec.feed(data)
    resp = dec.decode()
    results = dec.decode() if resp.NumPosResults else None
    return resp, results


class GoMountTableFlowTest(unittest.TestCase):
    timeout = 60

    @defer.inlineCallbacks
    def setUp(self):
        self.tmp = tempdir(self, prefix="v23py-flow-")
        creds = yield threads.deferToThread(_go_credentials, self.tmp, "gomt")
        self.proc, self.name = yield threads.deferToThread(_start_mounttabled, creds)
        self.addCleanup(_kill, self.proc)
        self.mgr = FlowManager(Identity(signer=security.new_ecdsa_signer()))
        self.addCleanup(self.mgr.stop)

    @defer.inlineCallbacks
    def test_handshake_and_signature_call(self):
        conn = yield self.mgr.dial(self.name, timeout=20)
        self.assertEqual(conn.version, 14)
        self.assertEqual(conn.remote_blessings.names(), ["gomt"])
        self.assertEqual(str(conn.remote_endpoint.routing_id), self.name.split("@")[5])
        # type flow + data flow, as a Go client does
        te = vom.TypeEncoder()
        enc = vom.Encoder(type_encoder=te)
        req = vdl.class_for(RequestType)(Method="__Signature", EndStreamArgs=True)
        body = enc.encode(req, RequestType)
        tflow = conn.open_flow(side_channel=True)
        tstream = _Stream(tflow)
        tflow.write(b"t" + te.take_bytes())
        dflow = conn.open_flow()
        dstream = _Stream(dflow)
        dflow.write(b"d" + body)
        data = yield dstream.wait()
        self.assertIs(dstream.eof, True, "the server closes the data flow after its response")
        td = vom.TypeDecoder()
        td.feed(bytes(tstream.data))
        dec = vom.Decoder(type_decoder=td)
        dec.feed(data)
        resp = dec.decode()
        self.assertEqual(type(resp)._vdl_type.name, "v.io/v23/rpc.Response")
        self.assertIsNone(resp.Error)
        self.assertEqual(resp.NumPosResults, 1)
        sigs = dec.decode()
        names = sorted(i.Name for i in sigs)
        self.assertIn("MountTable", names)
        # the conn is still healthy and reused
        again = yield self.mgr.dial(self.name)
        self.assertIs(again, conn)
        self.assertFalse(conn.is_closed)

    @defer.inlineCallbacks
    def test_dial_host_port_shorthand(self):
        # null routing id and "" protocol in the dialed endpoint: both sides must still agree on
        # the channel binding (Go re-prints our PeerRemoteEndpoint before hashing it)
        hostport = self.name.split("@")[3]
        conn = yield self.mgr.dial(hostport, timeout=20)
        self.assertEqual(conn.version, 14)
        self.assertEqual(str(conn.remote_endpoint.routing_id), self.name.split("@")[5])
        resp, _ = yield _signature_call(conn)
        self.assertIsNone(resp.Error)

    @defer.inlineCallbacks
    def test_many_flows_on_one_conn(self):
        conn = yield self.mgr.dial(self.name, timeout=20)
        te = vom.TypeEncoder()
        tflow = conn.open_flow(side_channel=True)
        tstream = _Stream(tflow)
        first = True
        streams = []
        for i in range(20):
            enc = vom.Encoder(type_encoder=te)
            body = enc.encode(vdl.class_for(RequestType)(Method="__Signature", EndStreamArgs=True), RequestType)
            tb = te.take_bytes()
            if first or tb:
                tflow.write((b"t" if first else b"") + tb)
                first = False
            f = conn.open_flow()
            streams.append(_Stream(f))
            f.write(b"d" + body)
        results = yield defer.gatherResults([s.wait() for s in streams])
        self.assertEqual(len(results), 20)
        for s in streams:
            self.assertIs(s.eof, True)
            self.assertGreater(len(s.data), 10)
        # every borrowed token came back, except those the still-open type flow holds
        self.assertEqual(conn._conn.shared + tflow._state.borrowed, conn._conn.max_shared)

    @defer.inlineCallbacks
    def test_large_request_respects_go_flow_control(self):
        # 3 MiB of argument bytes: 3x Go's per-flow buffer.  Go reads (and discards) the declared
        # args before answering, releasing tokens as it reads; we must never overrun it.
        conn = yield self.mgr.dial(self.name, timeout=20)
        te = vom.TypeEncoder()
        enc = vom.Encoder(type_encoder=te)
        req = vdl.class_for(RequestType)(Suffix="big", Method="ResolveStep", NumPosArgs=1, EndStreamArgs=True)
        body = enc.encode(req, RequestType) + enc.encode("x" * (3 << 20))
        tflow = conn.open_flow(side_channel=True)
        tstream = _Stream(tflow)
        tflow.write(b"t" + te.take_bytes())
        dflow = conn.open_flow()
        dstream = _Stream(dflow)
        yield dflow.write(b"d" + body)
        data = yield dstream.wait()
        self.assertIs(dstream.eof, True)
        td = vom.TypeDecoder()
        td.feed(bytes(tstream.data))
        dec = vom.Decoder(type_decoder=td)
        dec.feed(data)
        resp = dec.decode()
        self.assertIsNotNone(resp.Error)   # wrong arg count, reported after reading the args
        self.assertFalse(conn.is_closed)
        self.assertEqual(conn._conn.shared + tflow._state.borrowed, conn._conn.max_shared)

    @defer.inlineCallbacks
    def test_health_checks_with_go(self):
        # a short channel timeout: we send HealthCheckRequest every 0.2s and close the conn if Go
        # does not answer within 0.4s.  Go answers, so the conn survives several periods.
        from twisted.internet import reactor, task
        mgr = FlowManager(Identity(signer=security.new_ecdsa_signer()), channel_timeout=0.4)
        self.addCleanup(mgr.stop)
        conn = yield mgr.dial(self.name, timeout=20)
        yield task.deferLater(reactor, 1.5, lambda: None)
        self.assertFalse(conn.is_closed, conn.close_reason)
        self.assertIsNotNone(conn.rtt)
        resp, _ = yield _signature_call(conn)
        self.assertIsNone(resp.Error)

    @defer.inlineCallbacks
    def test_go_peer_disappears(self):
        conn = yield self.mgr.dial(self.name, timeout=20)
        f = conn.open_flow()
        f.write(b"d")
        pending = f.read()
        _kill(self.proc)
        reason = yield conn.closed
        self.assertIsNotNone(reason)
        self.assertTrue(hasattr(reason, "id"))
        try:
            yield pending
        except Exception as e:
            self.assertTrue(e.id.endswith("ConnectionClosed"), e.id)
        else:
            self.fail("read on a dead conn succeeded")
        try:
            yield self.mgr.dial(self.name, timeout=5)
        except Exception as e:
            self.assertEqual(e.id, "v.io/v23/flow.DialFailed")
        else:
            self.fail("dial to a dead server succeeded")

    def _raw(self, payload):
        host, port = self.name.split("@")[3].rsplit(":", 1)
        return send_and_read_all((host, int(port)), payload)

    @defer.inlineCallbacks
    def test_go_drops_garbage_and_wrong_version(self):
        # a well-framed garbage message: Go closes the TCP connection (recv returns EOF, no hang)
        yield threads.deferToThread(self._raw, fm.frame(b"\x99" * 64))
        # a Setup offering only version 20: Go answers with its own Setup then drops the conn
        bad = fm.frame(fm.Setup(20, 20, os.urandom(32), mtu=65536, shared_tokens=1 << 20).encode())
        got = yield threads.deferToThread(self._raw, bad)
        r = fm.FrameReader()
        r.feed(got)
        setup = fm.decode(r.next_frame())
        self.assertEqual((setup.min_version, setup.max_version), (10, 14))
        # the server is unharmed
        conn = yield self.mgr.dial(self.name, timeout=20)
        self.assertEqual(conn.version, 14)


class KeyTypesTest(unittest.TestCase):
    """Auth messages with Ed25519 (0x70) and RSA (0x6F) signatures, both directions."""
    timeout = 90

    @defer.inlineCallbacks
    def check(self, go_key, our_signer):
        tmp = tempdir(self, prefix="v23py-flow-")
        creds = yield threads.deferToThread(_go_credentials, tmp, "gomt", go_key)
        proc, name = yield threads.deferToThread(_start_mounttabled, creds)
        self.addCleanup(_kill, proc)
        mgr = FlowManager(Identity(signer=our_signer))
        self.addCleanup(mgr.stop)
        conn = yield mgr.dial(name, timeout=30)
        self.assertEqual(conn.remote_blessings.names(), ["gomt"])
        resp, _ = yield _signature_call(conn)      # Go accepted our Auth too
        self.assertIsNone(resp.Error)

    def test_ed25519_both_sides(self):
        return self.check("ed25519", security.new_ed25519_signer())

    def test_rsa_go_ecdsa_ours(self):
        return self.check("rsa2048", security.new_ecdsa_signer())

    def test_ecdsa_go_rsa_ours(self):
        return self.check("ecdsa256", security.new_rsa_signer())


class GoClientFlowTest(unittest.TestCase):
    """Go's vrpc dials our listener and completes the handshake."""
    timeout = 60

    @defer.inlineCallbacks
    def test_vrpc_handshake_and_flows(self):
        tmp = tempdir(self, prefix="v23py-flow-")
        creds = yield threads.deferToThread(_go_credentials, tmp, "goclient")
        mgr = FlowManager(Identity(signer=security.new_ecdsa_signer()))
        self.addCleanup(mgr.stop)
        accepted = []
        got_all = defer.Deferred()

        def handler(flow):
            st = _Stream(flow)
            accepted.append((flow, st))

            def check(_):
                roles = sorted(bytes(s.data[:1]) for _, s in accepted)
                if roles == [b"d", b"t"] and not got_all.called:
                    got_all.callback(None)
            st.wait(lambda b: len(b) > 1).addCallback(check)
        mgr.set_flow_handler(handler)
        port = yield mgr.listen("127.0.0.1:0", blessing_names=[])
        ep = str(port.endpoint)
        proc = subprocess.Popen(
            [go_binary("vrpc"), "signature", "-insecure", "-timeout=20s", "/" + ep],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
            env={"V23_CREDENTIALS": creds, "PATH": os.environ.get("PATH", "")})
        self.addCleanup(_kill, proc)
        yield got_all
        conns = list(mgr.conns)
        self.assertEqual(len(conns), 1)
        c = conns[0]
        self.assertEqual(c.version, 14)
        # Go's pure client presents a nameless blessing at the conn level, bound to its key
        self.assertEqual(c.remote_blessings.names(), [""])
        self.assertTrue(c.remote_public_key)
        flows = {bytes(s.data[:1]): (f, s) for f, s in accepted}
        tflow, _ = flows[b"t"]
        dflow, dst = flows[b"d"]
        # (v0.2.0 does not put SideChannelFlag on the wire: the flag stays local to Go)
        self.assertEqual(tflow.id % 2, 0)
        self.assertEqual(dst.data[1], 0x81)   # VOM version byte of the Request
        # per-flow blessings from Go's OpenFlow: the real ones on the data flow, nameless on the type flow
        self.assertEqual(dflow.remote_blessings.names(), ["goclient"])
        self.assertEqual(tflow.remote_blessings.names(), [""])
