"""The flow messages' fast paths against their construct declarations, byte for byte.

v23py.flow.layout declares every message's layout; v23py.flow.message encodes and
decodes the connection and call messages with hand-written fast paths.  For random
fields, both must give the same bytes, and each must read the other's bytes back to
the same fields.
"""
from hypothesis import HealthCheck, given, settings, strategies as st
from twisted.trial import unittest

from v23py.flow import layout as L
from v23py.flow import message as m

U64 = st.integers(min_value=0, max_value=2**64 - 1)
SMALL = st.integers(min_value=0, max_value=2**32)
BYTES = st.binary(max_size=80)
TEXT = st.text(max_size=40)
FLAGS = st.integers(min_value=0, max_value=7)
PAYLOAD = st.binary(max_size=200)


def _clean(container):
    """A construct Container as a plain dict (no private keys)."""
    return {k: v for k, v in dict(container).items() if not k.startswith("_")}


class VarUintAndFrameTests(unittest.TestCase):
    @settings(deadline=None, suppress_health_check=list(HealthCheck))
    @given(U64)
    def test_varuint(self, v):
        fast = m.varuint(v)
        self.assertEqual(fast, L.VarUint.build(v))
        self.assertEqual(L.VarUint.parse(fast), v)
        self.assertEqual(m.read_varuint(fast, 0), (v, len(fast)))
        self.assertEqual(m.varuint_size(v), len(fast))

    def test_varuint_two_and_three_bytes(self):
        # the table and shift paths (a busy conn's flow ids), every boundary
        values = set(range(0x70, 0x310)) | set(range(0x100, 0x10000, 251)) | {
            0xFFFE, 0xFFFF, 0x10000, 0x10001, 0xFFFFFF, 0x1000000}
        for v in sorted(values):
            fast = m.varuint(v)
            self.assertEqual(fast, L.VarUint.build(v), v)
            self.assertEqual(m.read_varuint(fast, 0), (v, len(fast)))
            for flags in (0, m.CLOSE_FLAG, m.CLOSE_FLAG | m.SIDE_CHANNEL_FLAG, 0x80):
                self.assertEqual(m.encode_data_header(v, flags) + b"p",
                                 L.Data.build({"id": v, "flags": flags, "payload": b"p"}))

    @settings(deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.binary(max_size=300))
    def test_frame(self, body):
        fast = m.frame(body)
        self.assertEqual(fast, L.Frame.build({"body": body}))
        r = m.FrameReader()
        self.assertEqual(r.push(fast), [body])
        self.assertEqual(L.Frame.parse(fast).body, body)


class ConnMessageTests(unittest.TestCase):
    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(SMALL, SMALL, st.binary(min_size=32, max_size=32), TEXT, TEXT, SMALL, SMALL,
           st.lists(st.tuples(st.integers(min_value=6, max_value=1000), BYTES), max_size=3))
    def test_setup(self, vmin, vmax, key, rep, lep, mtu, tokens, extra):
        msg = m.Setup(vmin, vmax, key, rep, lep, mtu, tokens, extra)
        fast = msg.encode()
        options = []
        if key.strip(b"\x00"):
            options.append({"id": m.OPT_NACL_PUBLIC_KEY, "payload": key})
        if rep:
            options.append({"id": m.OPT_REMOTE_ENDPOINT, "payload": rep.encode()})
        if lep:
            options.append({"id": m.OPT_LOCAL_ENDPOINT, "payload": lep.encode()})
        if mtu:
            options.append({"id": m.OPT_MTU, "payload": L.MtuOption.build(mtu)})
        if tokens:
            options.append({"id": m.OPT_SHARED_TOKENS, "payload": L.MtuOption.build(tokens)})
        options += [{"id": i, "payload": p} for i, p in extra]
        declared = L.Setup.build({"min_version": vmin, "max_version": vmax, "options": options})
        self.assertEqual(fast, declared)
        back = m.decode(declared)
        self.assertEqual((back.min_version, back.max_version, back.remote_endpoint,
                          back.local_endpoint, back.mtu, back.shared_tokens, back.uninterpreted),
                         (vmin, vmax, rep, lep, mtu, tokens, extra))
        parsed = L.Setup.parse(fast)
        self.assertEqual([(o.id, o.payload) for o in parsed.options],
                         [(o["id"], o["payload"]) for o in options])

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.integers(min_value=1, max_value=2**64 - 1), U64, BYTES, TEXT,
           st.sampled_from(["ecdsa", "ed25519", "rsa"]), BYTES, BYTES)
    def test_auth(self, bkey, dkey, purpose, hash_, kind, a, b):
        fields = {"blessings_key": bkey, "discharge_key": dkey, "purpose": purpose, "hash": hash_}
        if kind == "ecdsa":
            msg = m.Auth(bkey, dkey, purpose, hash_, r=a, s=b)
            declared, lay = dict(fields, r=a, s=b), L.AuthEcdsa
        elif kind == "ed25519":
            a = a or b"\x01"
            msg = m.Auth(bkey, dkey, purpose, hash_, ed25519=a)
            declared, lay = dict(fields, ed25519=a), L.AuthEd25519
        else:
            a = a or b"\x01"
            msg = m.Auth(bkey, dkey, purpose, hash_, rsa=a)
            declared, lay = dict(fields, rsa=a), L.AuthRsa
        fast = msg.encode()
        self.assertEqual(fast, lay.build(declared))
        self.assertEqual(m.decode(fast), msg)
        self.assertEqual(_clean(lay.parse(fast)), declared)

    def test_rare_messages_are_built_from_the_declarations(self):
        for msg, lay in ((m.EnterLameDuck(), L.EnterLameDuck), (m.AckLameDuck(), L.AckLameDuck),
                         (m.HealthCheckRequest(), L.HealthCheckRequest),
                         (m.HealthCheckResponse(), L.HealthCheckResponse),
                         (m.MultiProxyRequest(), L.MultiProxyRequest),
                         (m.ProxyServerRequest(), L.ProxyServerRequest)):
            self.assertEqual(msg.encode(), lay.build(None))
            self.assertEqual(m.decode(msg.encode()), msg)

    @settings(deadline=None, suppress_health_check=list(HealthCheck))
    @given(TEXT, st.lists(TEXT, max_size=4), TEXT)
    def test_teardown_and_proxy_messages(self, text, eps, err):
        for msg in (m.TearDown(text), m.ProxyResponse(eps), m.ProxyErrorResponse(err)):
            self.assertEqual(m.decode(msg.encode()), msg)
        self.assertEqual(list(L.ProxyResponse.parse(m.ProxyResponse(eps).encode()).endpoints),
                         eps)
        # TearDown is encoded by hand: the same bytes as its declaration builds
        self.assertEqual(m.TearDown(text).encode(), L.TearDown.build({"message": m._text(text)}))


class CallMessageTests(unittest.TestCase):
    @settings(deadline=None, suppress_health_check=list(HealthCheck))
    @given(U64, U64, st.integers(min_value=1, max_value=2**64 - 1), U64, FLAGS, PAYLOAD)
    def test_open_flow(self, fid, counters, bkey, dkey, flags, payload):
        msg = m.OpenFlow(fid, counters, bkey, dkey, flags, payload)
        fast = msg.encode()
        sent = b"" if flags & m.DISABLE_ENCRYPTION_FLAG else payload
        self.assertEqual(fast, L.OpenFlow.build({
            "id": fid, "initial_counters": counters, "blessings_key": bkey,
            "discharge_key": dkey, "flags": flags, "payload": sent}))
        self.assertEqual(m.decode(fast), m.OpenFlow(fid, counters, bkey, dkey, flags, sent))

    @settings(deadline=None, suppress_health_check=list(HealthCheck))
    @given(U64, FLAGS, PAYLOAD)
    def test_data(self, fid, flags, payload):
        fast = m.Data(fid, flags, payload).encode()
        sent = b"" if flags & m.DISABLE_ENCRYPTION_FLAG else payload
        self.assertEqual(fast, L.Data.build({"id": fid, "flags": flags, "payload": sent}))
        self.assertEqual(m.encode_data_header(fid, flags) + sent, fast)
        self.assertEqual(m.decode(fast), m.Data(fid, flags, sent))
        self.assertEqual(_clean(L.Data.parse(fast)), {"id": fid, "flags": flags, "payload": sent})

    @settings(deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(st.tuples(U64, U64), max_size=8))
    def test_release(self, counters):
        fast = m.Release(counters).encode()
        self.assertEqual(fast, L.Release.build(
            {"counters": [{"id": i, "tokens": t} for i, t in counters]}))
        self.assertEqual(m.decode(fast).counters, counters)
        self.assertEqual([(x.id, x.tokens) for x in L.Release.parse(fast).counters], counters)
