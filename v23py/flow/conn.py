"""Sans-IO state machine of one Vanadium flow connection (RPC version 14, dialer or acceptor).

Feed bytes from the transport with ``receive_data(data) -> [events]``, write out whatever
``data_to_send()`` returns, and drive timers with ``next_timeout()`` / ``handle_timeout(now)``.
Application calls (``open_flow``, ``write``, ``close_flow``, ``consumed``, ``close``...) queue output and
may also return events (tuples: ``(kind, *fields)``, see ``v23py.flow.events``).  Nothing here
does I/O or reads a clock on its own.

Security is reached through a small *auth* object (see ``v23py.flow.auth.SecurityAuth`` for the
real one built on ``v23py.security`` + ``v23py.vom``):

* ``auth.sign(message: bytes) -> signature``  (attributes Purpose, Hash, R, S, Ed25519, Rsa; purpose S1)
* ``auth.verify(blessings, auth_msg: message.Auth, message: bytes) -> bool``
* ``auth.public_key(blessings) -> hashable`` (the key the blessings are bound to; DER bytes)
* ``auth.is_zero(blessings) -> bool``; ``auth.unique_id(blessings) -> hashable``
* ``auth.new_encoder()`` -> ``enc.blessings(blessings, bkey) -> bytes`` (one flow-1 Data payload);
  optionally ``enc.discharges(discharges, bkey, dkey) -> bytes`` (without it, none are sent)
* ``auth.new_decoder()`` -> ``dec.feed(bytes)``; ``dec.next() -> None | ("b", bkey, blessings) |
  ("d", bkey, dkey, discharges)`` (raises VError on malformed data)

The flow-control accounting follows Go's ``flowcontrol.go`` (shared "borrowed" tokens for new
flows, per-flow released tokens, batched Release messages) so a Go peer is never overrun and
always gets its credits back.
"""
from __future__ import annotations

from v23py.naming.endpoint import Endpoint

from . import errors, message as m
from ._flowcontrol import FlowControl
from .crypto import OVERHEAD as _OVERHEAD, BoxCipher, KeyPair
from .events import (SETUP, AUTH, ACTIVE, CLOSED, Event, HandshakeComplete, FlowAccepted,  # noqa: F401
                     DataReceived, FlowClosed, FlowDrained, RemoteLameDuck, LameDuckAcknowledged,
                     BlessingsRefreshed, ConnectionClosed, FlowState)

DEFAULT_MTU = 1 << 16
DEFAULT_BYTES_BUFFERED = 1 << 20
DEFAULT_HANDSHAKE_TIMEOUT = 60.0
DEFAULT_CHANNEL_TIMEOUT = 30 * 60.0
PROXY_OVERHEAD = 32   # bytes a proxy hop may add to a message (Go's proxyOverhead)
SUPPORTED_VERSIONS = (10, 14)
BLESSINGS_FLOW_ID = 1
RESERVED_FLOWS = 10
AUTH_DIALER_TAG = b"AuthDial\x00"
AUTH_ACCEPTOR_TAG = b"AuthAcpt\x00"
_BYTES_PER_FLOW_ID = 5  # Go: size of a varuint for 1<<32
_BYTE = m._BYTE
_DATA = m.DATA
_OPEN_FLOW = m.OPEN_FLOW
_CLOSE_FLAG = m.CLOSE_FLAG
_DISABLE_ENCRYPTION_FLAG = m.DISABLE_ENCRYPTION_FLAG
# flags bytes a Data message's fast path leaves to the decoder: the first byte of a longer
# varuint (0x80 and up) or a clear-text payload
_FLAGS_NOT_FAST = 0x80 | _DISABLE_ENCRYPTION_FLAG



# ------------------------------------------------------------------------------------------ conn

_read_varuint = m.read_varuint


def _decode_open_flow(body, n, fid, p):
    """m.OpenFlow.decode_body(body, 1), quicker for the usual shape (keys and flags in one
    byte each, the counters in up to 8 bytes) given its ``n`` bytes' flow id ``fid``, read
    by Conn._handle_frame, and where what follows it begins, ``p`` (0: not read)."""
    if p:
        r = _read_varuint(body, p)
        if r is not None:
            counters, p = r
            if p + 3 <= n:
                bkey, dkey, flags = body[p], body[p + 1], body[p + 2]
                if 0 < bkey < 0x80 and dkey < 0x80 and flags < 0x80 and not flags & m.DISABLE_ENCRYPTION_FLAG:
                    return m.OpenFlow(fid, counters, bkey, dkey, flags, body[p + 3:])
    return m.OpenFlow.decode_body(body, 1)


def _canonical_endpoint(text, what):
    """Re-print an endpoint string the way Go's Endpoint.String() would ("" if zero)."""
    if not text:
        return "", None
    try:
        ep = Endpoint.parse(text)
    except Exception as e:
        raise errors.err(errors.InvalidMsg, "setup: invalid %s endpoint %r: %s", what, text, e)
    if ep.is_zero():
        return "", ep
    return str(ep), ep


class Conn(FlowControl):
    """One connection.  ``dialer=True`` for the side that dialed."""

    MAX_REMOTE_KEYS = 4096  # bound on blessings/discharges a peer may make us remember

    def __init__(self, *, dialer, auth, local_blessings, local_endpoint=None, remote_endpoint=None,
                 versions=SUPPORTED_VERSIONS, mtu=DEFAULT_MTU, bytes_buffered=DEFAULT_BYTES_BUFFERED,
                 accepts_flows=True, authorize=None, handshake_timeout=DEFAULT_HANDSHAKE_TIMEOUT,
                 channel_timeout=DEFAULT_CHANNEL_TIMEOUT, now=0.0, keypair=None, max_frame=None,
                 max_flows=20000, framed=True, encapsulated=False, local_discharges=None):
        if mtu > bytes_buffered:
            raise ValueError("mtu larger than bytes buffered per flow")
        self.dialer = dialer
        self.auth = auth
        # framed: a byte stream (TCP) carrying 3-byte length headers; otherwise the transport
        # keeps message boundaries (a WebSocket, or a flow of another conn through a proxy)
        # and every message travels alone, without a header (Go's flow.MsgReadWriteCloser).
        self.framed = framed
        # encapsulated: this conn runs inside a flow of another conn (through a proxy), whose
        # hop adds bytes to each message: our flows send at most mtu - PROXY_OVERHEAD per
        # message so that the proxy never has to split one (Go's proxyOverhead).
        self.encapsulated = encapsulated
        self.local_blessings = local_blessings
        self.local_discharges = local_discharges  # for local_blessings; an acceptor sends them in Auth
        self.local_endpoint = local_endpoint      # Endpoint object (or None)
        self.remote_endpoint = remote_endpoint    # Endpoint object: the dialed endpoint for a dialer
        self.dialed_endpoint = remote_endpoint
        self.versions = versions
        self.version = None
        self.local_mtu = mtu
        self.mtu = mtu
        self._max_chunk = mtu - PROXY_OVERHEAD if encapsulated else mtu
        self.bytes_buffered = bytes_buffered
        self.accepts_flows = accepts_flows
        self.authorize = authorize
        self.handshake_timeout = handshake_timeout
        self.channel_timeout = channel_timeout
        self.max_flows = max_flows
        self.keypair = keypair or KeyPair()
        self.cipher = None
        self.binding = None
        self.remote_blessings = None
        self.remote_discharges = None
        self.remote_public_key = None
        self.state = SETUP
        self.close_error = None
        self.closed_remotely = False
        self.remote_lame_duck = False
        self.lame_duck_sent = False
        self.lame_duck_acked = False
        self._ack_lame_duck_pending = False
        self._frames = (m.FrameReader if framed else m.MessageReader)(
            max_frame if max_frame is not None else bytes_buffered + 4096)
        self._vu_buffered = m.varuint(bytes_buffered)   # OpenFlow's initial counters, encoded
        self._out = []
        self._clear_pending = 0   # message mode: messages at the head of _out sent before Setup completed
        self._plain_pending = None
        self._local_setup = None
        self.flows = {}
        self.next_fid = RESERVED_FLOWS if dialer else RESERVED_FLOWS + 1
        # flow control (connection wide)
        self.shared = 0
        self.max_shared = 0
        self.to_release_borrowed = 0
        self.to_release_closed = []
        self.outstanding_borrowed = {}
        self.release_limit = 1
        self._blocked = {}   # flows with queued data waiting for tokens (ordered set)
        # blessings flow
        self._benc = None
        self._bdec = None
        self._next_key = 1
        self._sent_blessings = {}
        self._sent_discharges = {}   # bkey -> (dkey, discharges last sent for those blessings)
        self._bkey_last = None
        self._in_blessings = {}
        self._in_discharges = {}
        # timers (absolute times, same clock as `now`)
        self.now = now
        self.handshake_deadline = now + handshake_timeout if handshake_timeout else None
        self.hc_request_at = None
        self.hc_close_at = None
        self._timers_moved()
        self.hc_request_sent = None
        self.rtt = None
        self._started = False

    # ---------------------------------------------------------------- output

    def start(self):
        """Queue our Setup (both sides send it at once)."""
        if self._started:
            return
        self._started = True
        s = m.Setup(self.versions[0], self.versions[1], self.keypair.public,
                    str(self.remote_endpoint) if self.dialer and self.remote_endpoint is not None
                    and not self.remote_endpoint.is_zero() else "",
                    str(self.local_endpoint) if self.local_endpoint is not None
                    and not self.local_endpoint.is_zero() else "",
                    self.local_mtu, self.bytes_buffered)
        self._local_setup = s
        if self.framed:
            self._out.append(m.frame(s.encode()))
        else:
            self._out.append(s.encode())
            self._clear_pending = 1

    def data_to_send(self) -> bytes:
        out = self.take_output()
        if len(out) == 1 and type(out[0]) is bytes:
            return out[0]
        return b"".join(out)

    def take_output(self) -> list:
        """The output as buffers (bytes or bytearrays) to write in this order, unjoined:
        a transport that gathers them (sendmsg) saves data_to_send's copy."""
        out = self._out
        self._out = []
        return out

    def messages_to_send(self):
        """Message mode (``framed=False``): ``(messages, n_setup)``, the output as separate
        messages; the first ``n_setup`` of them were queued before the Setup exchange ended
        (an encapsulating flow encrypts those itself, and only those: Go turns its own
        encryption off once the inner conn encrypts)."""
        out, n = self._out, self._clear_pending
        self._out = []
        self._clear_pending = 0
        return out, n

    @property
    def has_output(self):
        return bool(self._out)

    def _send(self, body, payload=b""):
        """Queue one message: ``body``, then ``payload`` (a Data message's data, given apart:
        a long one is copied once, into the buffer it is sealed in)."""
        cipher = self.cipher
        if self.framed:
            # (frame_header checks the size; a sealed message carries its frame header in
            # front, written with it)
            n = len(body) + len(payload)
            head = m.frame_header(n + _OVERHEAD if cipher is not None else n)
            if cipher is not None:
                self._out.append(cipher.seal(body, head, payload))
                return
            self._out.append(head)
            if payload:
                body += payload
        else:
            if cipher is not None:
                body = cipher.seal(body, b"", payload)
            elif payload:
                body += payload
            if len(body) > m.MAX_FRAME:
                raise errors.err(errors.LargerThan3ByteUInt, "message of %d bytes is too large", len(body))
        self._out.append(body)

    def _send_plain(self, payload):
        """The clear-text payload that follows a message flagged DisableEncryption."""
        payload = bytes(payload)
        if self.framed:
            self._out.append(m.frame_header(len(payload)))
        self._out.append(payload)

    # ---------------------------------------------------------------- input

    def receive_data(self, data, now=None):
        """Process bytes from the transport (in message mode, ``framed=False``: one whole
        message); returns a list of events."""
        if now is not None:
            self.now = now
        events = []
        if self.state == CLOSED:
            return events
        try:
            for body in self._frames.push(data):
                if self.state == CLOSED:
                    break
                self._handle_frame(body, events)
        except errors.VError as e:
            self._close(e, events)
        except Exception as e:  # a bug or a hostile input we did not foresee: close, never crash
            self._close(errors.std("Internal").new("flow conn: %s: %s" % (type(e).__name__, e)), events)
        return events

    # message mode: what the transport hands over is one whole message (see MessageReader)
    receive_message = receive_data

    def _handle_frame(self, body, events):
        # body: bytes, or a bytearray (a frame joined from several reads) that is ours to
        # change: a long encrypted one is opened in place, and a Data message's payload
        # leaves as that same bytearray.  The message parsers get bytes.
        if self.state == SETUP:
            if type(body) is not bytes:
                body = bytes(body)
            try:
                msg = m.decode(body)
            except errors.VError as e:
                raise errors.err(errors.Recv, "conn.setup: recv: %s", e)
            if not isinstance(msg, m.Setup):
                raise errors.err(errors.Recv, "conn.setup: recv: expected a Setup message, got type %#x", body[0])
            self._handle_setup(msg, events)
            return
        if self._plain_pending is not None:
            # the clear-text payload that follows a message flagged DisableEncryption
            msg, self._plain_pending = self._plain_pending, None
            msg.payload = body
            if isinstance(msg, m.Data):
                self._handle_data(msg, events)
            else:
                self._handle_open_flow(msg, events)
            return
        if self.cipher is not None:
            plain = self.cipher.open(body)
            if plain is None:
                raise errors.err(errors.InvalidMsg, "message of size %d failed decryption", len(body))
            body = plain
        if not body:
            raise errors.err(errors.InvalidMsg, "empty message")
        typ = body[0]
        if type(body) is not bytes and (typ != _DATA or self.state != ACTIVE):
            body = bytes(body)
        if self.state == AUTH:
            if typ == m.DATA:
                msg = m.Data.decode_body(body, 1)
                if msg.id != BLESSINGS_FLOW_ID:
                    raise errors.err(errors.Recv, "conn.readRemoteAuth: unexpected data on flow %d before auth",
                                     msg.id)
                self._bdec.feed(msg.payload)
                return
            if typ in (m.AUTH, m.AUTH_ED25519, m.AUTH_RSA):
                self._handle_remote_auth(m.decode(body), events)
                return
            if typ == m.TEAR_DOWN:
                td = m.TearDown.decode_body(body, 1)
                self.closed_remotely = True
                raise errors.err(errors.ConnectionClosed, "conn.readRemoteAuth: connection closed%s",
                                 (": remote end received err: " + td.message) if td.message else "")
            raise errors.err(errors.ConnectionClosed,
                             "conn.readRemoteAuth: unexpected message type received: %#x", typ)
        # ACTIVE
        if typ == _DATA or typ == _OPEN_FLOW:
            # the flow id, read here for the fast paths when it takes up to 4 bytes (flow ids
            # grow by 2 per flow, so most take several); p: where what follows it begins
            n = len(body)
            fid = body[1] if n >= 3 else 0x100
            if fid < 0x80:
                p = 2
            elif fid >= 0xFC:
                p = 0x102 - fid
                fid = int.from_bytes(body[2:p], "big")
            else:
                p = 0
            if typ == _OPEN_FLOW:
                msg = _decode_open_flow(body, n, fid, p)
                if msg.flags & m.DISABLE_ENCRYPTION_FLAG:
                    self._plain_pending = msg
                    return
                self._handle_open_flow(msg, events)
                return
            # Data's fast path: one-byte flags (what Data.decode_body + _handle_data do)
            if p and p < n and not body[p] & _FLAGS_NOT_FAST:
                f = self.flows.get(fid)
                if f is not None:
                    if fid != BLESSINGS_FLOW_ID:
                        # (_deliver, written in line: most messages of a busy conn come here)
                        flags = body[p]
                        p += 1
                        if p < n:
                            n -= p
                            if f.unread + n > self.bytes_buffered:
                                raise errors.err(
                                    errors.CounterOverflow,
                                    "a remote process has sent more data than allowed: max bytes "
                                    "buffered is %d, current buffered is %d + received: %d",
                                    self.bytes_buffered, f.unread, n)
                            f.unread += n
                            if type(body) is bytearray:
                                del body[:p]   # (O(1): the payload is the rest, not a copy)
                                events.append((DataReceived, f, body))
                            else:
                                events.append((DataReceived, f, body[p:]))
                        if flags & _CLOSE_FLAG:
                            self._finish_flow(f, None, remote=True, events=events)
                        return
                elif fid != BLESSINGS_FLOW_ID:
                    # a flow already closed here (e.g. a Go client's EndStreamArgs read after
                    # our response closed the flow): _handle_data's part, without the decode
                    if fid in self.outstanding_borrowed:
                        self._release_outstanding_borrowed(fid, 0, True)
                        self._pump_all(events)
                    return
            msg = m.Data.decode_body(body if type(body) is bytes else bytes(body), 1)
            if msg.flags & m.DISABLE_ENCRYPTION_FLAG:
                self._plain_pending = msg
                return
            self._handle_data(msg, events)
        elif typ == m.RELEASE:
            self._handle_release(m.Release.decode_body(body, 1), events)
        elif typ == m.HEALTH_CHECK_REQUEST:
            self._send(b"\x72")
        elif typ == m.HEALTH_CHECK_RESPONSE:
            self._handle_health_response()
        elif typ in (m.AUTH, m.AUTH_ED25519, m.AUTH_RSA):
            a = m.decode(body)
            b, d = self._get_remote(a.blessings_key, a.discharge_key)
            self.remote_blessings, self.remote_discharges = b, d
            events.append((BlessingsRefreshed, b))
        elif typ == m.TEAR_DOWN:
            td = m.TearDown.decode_body(body, 1)
            err = None
            if td.message:
                err = errors.err(errors.RemoteError, "remote end received err: %s", td.message)
            self._close(err, events, remote=True)
        elif typ == m.ENTER_LAME_DUCK:
            self.remote_lame_duck = True
            events.append((RemoteLameDuck,))
            self._ack_lame_duck_pending = True
            self._maybe_ack_lame_duck()
        elif typ == m.ACK_LAME_DUCK:
            if not self.lame_duck_acked:
                self.lame_duck_acked = True
                events.append((LameDuckAcknowledged,))
        else:
            msg = m.decode(body)   # raises UnknownMsg for unknown types
            raise errors.err(errors.UnexpectedMsg, "unexpected message type: %s", type(msg).__name__)

    # ---------------------------------------------------------------- handshake

    def _handle_setup(self, rsetup, events):
        lsetup = self._local_setup
        common = min(lsetup.max_version, rsetup.max_version)
        if lsetup.min_version > common or rsetup.min_version > common:
            raise errors.err(errors.NoCompatibleVersion,
                             "there were no compatible versions between (%d,%d) and (%d,%d)",
                             lsetup.min_version, lsetup.max_version, rsetup.min_version, rsetup.max_version)
        self.version = common
        remote_str, remote_ep = _canonical_endpoint(rsetup.remote_endpoint, "remote")
        local_str, local_ep = _canonical_endpoint(rsetup.local_endpoint, "local")
        rsetup.remote_endpoint = remote_str
        rsetup.local_endpoint = local_str
        if (self.local_endpoint is None or self.local_endpoint.is_zero()) and remote_ep is not None:
            self.local_endpoint = remote_ep
        # Go puts its own MTU into the peer's Setup when the peer sent none (this feeds the binding).
        if rsetup.mtu == 0:
            rsetup.mtu = self.local_mtu
        self.mtu = min(lsetup.mtu, rsetup.mtu)
        self._max_chunk = self.mtu - PROXY_OVERHEAD if self.encapsulated else self.mtu
        shared = lsetup.shared_tokens
        if rsetup.shared_tokens and rsetup.shared_tokens < shared:
            shared = rsetup.shared_tokens
        self.shared = self.max_shared = shared
        self.release_limit = max(1, self.mtu // (_BYTES_PER_FLOW_ID + m.varuint_size(self.bytes_buffered)))
        if not rsetup.nacl_public_key or not rsetup.nacl_public_key.strip(b"\x00"):
            raise errors.err(errors.MissingSetupOption,
                             "conn.setup: missing required setup option: peerNaClPublicKey")
        if not 11 <= self.version < 15:
            raise errors.err(errors.RPCVersionMismatch, "conn.message_pipe: %d is not supported", self.version)
        self.cipher = BoxCipher(self.keypair.public, self.keypair.secret, bytes(rsetup.nacl_public_key))
        if self.version >= 14:
            if self.dialer:
                self.binding = lsetup.encode() + rsetup.encode()
            else:
                self.binding = rsetup.encode() + lsetup.encode()
        else:
            self.binding = self.cipher.channel_binding
        if self.dialer:
            if local_ep is not None and self.remote_endpoint is not None:
                self.remote_endpoint = self.remote_endpoint.replace(routing_id=local_ep.routing_id)
            elif local_ep is not None:
                self.remote_endpoint = local_ep
        else:
            self.remote_endpoint = local_ep
        self._benc = self.auth.new_encoder()
        self._bdec = self.auth.new_decoder()
        self.state = AUTH
        if not self.dialer:
            sig = self.auth.sign(AUTH_ACCEPTOR_TAG + self.binding)
            bkey = self._send_blessings(self.local_blessings)
            self._send_auth(bkey, self._send_discharges(bkey, self.local_discharges), sig)

    def _send_auth(self, bkey, dkey, sig):
        a = m.Auth(bkey, dkey, bytes(getattr(sig, "Purpose", b"") or b""), str(getattr(sig, "Hash", "") or ""),
                   bytes(getattr(sig, "R", b"") or b""), bytes(getattr(sig, "S", b"") or b""),
                   bytes(getattr(sig, "Ed25519", b"") or b""), bytes(getattr(sig, "Rsa", b"") or b""))
        self._send(a.encode())

    def _send_blessings(self, blessings):
        """Send ``blessings`` on flow 1 unless already sent; returns its key (0 for zero blessings)."""
        last = self._bkey_last
        if last is not None and last[0] is blessings:
            return last[1]   # the same object as last time (each flow of a client names one)
        key = self._send_blessings2(blessings)
        self._bkey_last = (blessings, key)
        return key

    def _send_blessings2(self, blessings):
        if blessings is None or self.auth.is_zero(blessings):
            return 0
        uid = self.auth.unique_id(blessings)
        key = self._sent_blessings.get(uid)
        if key is not None:
            return key
        key = self._next_key
        self._next_key += 1
        self._sent_blessings[uid] = key
        payload = self._benc.blessings(blessings, key)
        self._send(m.Data(BLESSINGS_FLOW_ID, 0, payload).encode())
        return key

    def _send_discharges(self, bkey, discharges):
        """Send ``discharges`` for the blessings sent as ``bkey`` on flow 1 unless the same were
        sent last for them; returns their key (0 for none), as Go's blessingsFlow.send does."""
        if not discharges or not bkey:
            return 0
        discharges = tuple(discharges)
        last = self._sent_discharges.get(bkey)
        if last is not None and last[1] == discharges:
            return last[0]
        enc = getattr(self._benc, "discharges", None)
        if enc is None:
            return 0
        dkey = self._next_key
        self._next_key += 1
        self._sent_discharges[bkey] = (dkey, discharges)
        self._send(m.Data(BLESSINGS_FLOW_ID, 0, enc(discharges, bkey, dkey)).encode())
        return dkey

    def refresh_blessings(self, blessings, discharges=None):
        """Present new conn-level blessings and/or discharges to the peer (an Auth message
        without a signature, as Go's blessings loop sends); returns events."""
        events = []
        if self.state != ACTIVE:
            return events
        self.local_blessings = blessings
        self.local_discharges = discharges
        self._bkey_last = None
        bkey = self._send_blessings(blessings)
        dkey = self._send_discharges(bkey, discharges)
        self._send(m.Auth(bkey, dkey).encode())
        return events

    def _get_remote(self, bkey, dkey):
        while True:
            b = self._in_blessings.get(bkey)
            if b is not None:
                if dkey == 0:
                    return b, None
                d = self._in_discharges.get(dkey)
                if d is not None:
                    return b, d
            item = self._bdec.next()
            if item is None:
                raise errors.err(errors.BlessingsFlowClosed,
                                 "blessings (key %d) or discharges (key %d) were referenced before being sent",
                                 bkey, dkey)
            if item[0] == "b":
                _, k, bl = item
                if self.remote_public_key is not None and self.auth.public_key(bl) != self.remote_public_key:
                    raise errors.err(errors.BlessingsNotBound,
                                     "blessings not bound to connection remote public key")
                self._in_blessings[k] = bl
            elif item[0] == "d":
                _, k, dk, dis = item
                self._in_discharges[dk] = dis
            if len(self._in_blessings) + len(self._in_discharges) > self.MAX_REMOTE_KEYS:
                raise errors.err(errors.BlessingsFlowClosed, "the peer sent more than %d blessings/discharges",
                                 self.MAX_REMOTE_KEYS)

    def _check_preauth_blessings(self):
        """Blessings that arrived before Auth were taken before the key was known; a flow
        could later name them, so they too must belong to the key that signs the binding
        (Go v0.2.0 skips this and lets a peer wear blessings it has only seen)."""
        for bl in self._in_blessings.values():
            if self.auth.public_key(bl) != self.remote_public_key:
                raise errors.err(errors.BlessingsNotBound,
                                 "blessings not bound to connection remote public key")

    def _handle_remote_auth(self, a, events):
        b, d = self._get_remote(a.blessings_key, a.discharge_key)
        self.remote_public_key = self.auth.public_key(b)
        self.remote_blessings, self.remote_discharges = b, d
        tag = AUTH_ACCEPTOR_TAG if self.dialer else AUTH_DIALER_TAG
        if self.remote_public_key is None:
            raise errors.err(errors.NoPublicKey, "conn.readRemoteAuth: no public key received")
        self._check_preauth_blessings()
        if not self.auth.verify(b, a, tag + self.binding):
            raise errors.err(errors.InvalidChannelBinding, "conn.readRemoteAuth: the channel binding was invalid")
        if self.dialer:
            if self.auth.is_zero(b):
                raise errors.err(errors.AcceptorBlessingsMissing, "dial: acceptor did not send blessings")
            dialed = self.dialed_endpoint
            if self.authorize is not None and (
                    dialed is None or dialed.routing_id.is_null()
                    or dialed.routing_id == self.remote_endpoint.routing_id):
                try:
                    self.authorize(self)
                except errors.VError:
                    raise
                except Exception as e:  # an authorizer bug must not crash the conn
                    raise errors.std("NotTrusted").new("peer not trusted: %s" % (e,))
            sig = self.auth.sign(AUTH_DIALER_TAG + self.binding)
            bkey = self._send_blessings(self.local_blessings)
            self._send_auth(bkey, 0, sig)
        self.state = ACTIVE
        self.handshake_deadline = None
        if self.channel_timeout:
            self.hc_request_at = self.now + self.channel_timeout / 2
            self.hc_close_at = self.now + self.channel_timeout
        self._timers_moved()
        events.append((HandshakeComplete, b))

    # ---------------------------------------------------------------- flows: receiving

    def _handle_data(self, msg, events):
        if msg.id == BLESSINGS_FLOW_ID:
            self._bdec.feed(msg.payload)
            return
        f = self.flows.get(msg.id)
        if f is None:
            if msg.id in self.outstanding_borrowed:
                self._release_outstanding_borrowed(msg.id, 0, True)
                self._pump_all(events)
            return
        self._deliver(f, msg.payload, msg.flags, events)

    def _deliver(self, f, payload, flags, events):
        if payload:
            n = len(payload)
            if f.unread + n > self.bytes_buffered:
                raise errors.err(errors.CounterOverflow,
                                 "a remote process has sent more data than allowed: max bytes buffered is %d, "
                                 "current buffered is %d + received: %d", self.bytes_buffered, f.unread, n)
            f.unread += n
            events.append((DataReceived, f, payload))
        if flags & m.CLOSE_FLAG:
            self._finish_flow(f, None, remote=True, events=events)

    def _handle_open_flow(self, msg, events):
        b, d = self._get_remote(msg.blessings_key, msg.discharge_key)
        if self.next_fid % 2 == msg.id % 2:
            raise errors.err(errors.InvalidPeerFlow, "peer has chosen flow id from local domain")
        if not self.accepts_flows:
            raise errors.err(errors.UnexpectedMsg, "unexpected message type: OpenFlow")
        if len(self.flows) >= self.max_flows:
            raise errors.err(errors.UnexpectedMsg, "too many flows (%d) opened by the peer", len(self.flows))
        f = FlowState(msg.id, False, bool(msg.flags & m.SIDE_CHANNEL_FLAG), self.local_blessings, b, d)
        f.released = msg.initial_counters
        f.to_release = self.bytes_buffered
        self.flows[msg.id] = f
        events.append((FlowAccepted, f))
        self._deliver(f, msg.payload, msg.flags, events)

    # ---------------------------------------------------------------- flows: sending

    def open_flow(self, blessings=None, side_channel=False, discharges=None):
        """Create a dialed flow (nothing is sent until the first write); ``discharges`` go
        with ``blessings`` in its OpenFlow."""
        if self.state != ACTIVE:
            raise errors.err(errors.ConnectionClosed, "connection closed" if self.state == CLOSED
                             else "connection not ready")
        if self.remote_lame_duck:
            raise errors.err(errors.ConnectionClosed, "connection closed: the peer is in lame duck mode")
        if self.remote_endpoint is None or self.remote_endpoint.routing_id.is_null():
            raise errors.err(errors.DialingNonServer,
                             "attempting to dial on a connection with no remote server: %s", self.remote_endpoint)
        fid = self.next_fid
        self.next_fid += 2
        f = FlowState(fid, True, side_channel, blessings if blessings is not None else self.local_blessings,
                      self.remote_blessings, self.remote_discharges)
        if discharges:
            f.local_discharges = discharges
        self.flows[fid] = f
        return f

    def write(self, f, data, close=False):
        """Queue ``data`` on ``f`` (and the close flag if ``close``); returns events."""
        events = []
        if f.closed or f.close_pending:
            raise errors.err(errors.ConnectionClosed if self.state == CLOSED else errors.std("Aborted"),
                             "write on a closed flow %d", f.id)
        n = len(data)
        if f.whole:
            if n:
                f.queue(bytes(data))
            if close:
                f.close_pending = True
            self._pump_whole(f, events)
            return events
        if n and not f.out_len and n <= self._max_chunk and self.state == ACTIVE and (
                self.shared if f.borrowing else f.released) >= n:
            # Fast path (what _pump would do): nothing queued and enough tokens, so the whole
            # write leaves now as one OpenFlow or Data message.
            if type(data) is not bytes:
                data = bytes(data)
            if f.borrowing:
                self.shared -= n
                f.borrowed += n
            else:
                f.released -= n
            if not f.opened:
                flags = (m.CLOSE_FLAG if close else 0) | (m.SIDE_CHANNEL_FLAG if f.side_channel else 0)
                bkey = self._send_blessings(f.local_blessings)
                if bkey == 0:
                    bkey = self._send_blessings(self.local_blessings)
                vu = m.varuint
                dk = b"\x00" if not f.local_discharges else \
                    vu(self._send_discharges(bkey, f.local_discharges))
                self._send(b"".join((b"\x79", vu(f.id), self._vu_buffered,
                                     _BYTE[bkey] if bkey <= 0x7F else vu(bkey), dk,
                                     _BYTE[flags], data)))
                f.opened = True
                if close:
                    f.close_pending = True
                    self._finish_flow(f, None, remote=False, events=events)
                elif self._ack_lame_duck_pending:
                    self._maybe_ack_lame_duck()
            else:
                fid = f.id
                flags = m.CLOSE_FLAG if close else 0
                self._send(bytes((m.DATA, fid, flags)) if fid <= 0x7F else
                           m.encode_data_header(fid, flags), data)
                if close:
                    f.close_pending = True
                    self._finish_flow(f, None, remote=False, events=events)
            if f.want_drained:
                events.append((FlowDrained, f))
            return events
        if data:
            f.queue(memoryview(bytes(data)) if not isinstance(data, bytes) else memoryview(data))
        if close:
            f.close_pending = True
        self._pump(f, events)
        return events

    def close_flow(self, f):
        """Close ``f`` locally (pending data is sent first, then the close flag)."""
        events = []
        if f.closed or f.close_pending:
            return events
        if not f.opened and not f.out:
            # never written: nothing on the wire (Go behaves the same)
            f.opened = True
            self._finish_flow(f, None, remote=False, events=events)
            return events
        f.close_pending = True
        self._pump(f, events)
        return events

    # ---------------------------------------------------------------- health, lame duck, close

    def _handle_health_response(self):
        if self.channel_timeout and self.state == ACTIVE:
            self.hc_request_at = self.now + self.channel_timeout / 2
            self.hc_close_at = self.now + self.channel_timeout
            self._timers_moved()
            if self.hc_request_sent is not None:
                self.rtt = self.now - self.hc_request_sent
            self.hc_request_sent = None

    def send_health_check(self):
        if self.state == ACTIVE:
            self._send(b"\x73")
            self.hc_request_sent = self.now

    def enter_lame_duck(self):
        """Tell the peer to stop opening flows (it answers AckLameDuck)."""
        if self.state == ACTIVE and not self.lame_duck_sent:
            self.lame_duck_sent = True
            self._send(b"\x7c")

    def _maybe_ack_lame_duck(self):
        if not self._ack_lame_duck_pending or self.state != ACTIVE:
            return
        for f in self.flows.values():
            if f.dialed and not f.opened:
                return
        self._ack_lame_duck_pending = False
        self._send(b"\x7b")

    def next_timeout(self):
        """Absolute time of the next timer (same clock as ``now``), or None."""
        return self.next_deadline

    def _timers_moved(self):
        """Work out ``next_deadline`` again: called wherever a timer is set or cleared (the
        driver reads it after every read and write, and the timers seldom move)."""
        best = None
        if self.state != CLOSED:
            for t in (self.handshake_deadline, self.hc_request_at, self.hc_close_at):
                if t is not None and (best is None or t < best):
                    best = t
        self.next_deadline = best

    def handle_timeout(self, now):
        self.now = now
        events = []
        if self.state == CLOSED:
            return events
        if self.handshake_deadline is not None and now >= self.handshake_deadline:
            self._close(errors.std("Timeout").new("timeout: the connection handshake did not finish in %gs"
                                                  % self.handshake_timeout), events)
            return events
        if self.hc_close_at is not None and now >= self.hc_close_at:
            self._close(errors.err(errors.ChannelTimeout, "the channel has become unresponsive"), events)
            return events
        if self.hc_request_at is not None and now >= self.hc_request_at:
            self.hc_request_at = None
            self._timers_moved()
            self.send_health_check()
        return events

    def close(self, error=None):
        """Close the conn (sends TearDown with the error text); returns events."""
        events = []
        self._close(error, events)
        return events

    def connection_lost(self, reason=None):
        """The transport went away."""
        events = []
        if self.state != CLOSED:
            err = reason if isinstance(reason, errors.VError) else errors.err(
                errors.ConnectionClosed, "connection closed: %s", reason or "the peer went away")
            self._close(err, events, remote=True)
        return events

    def _close(self, error, events, remote=False):
        if self.state == CLOSED:
            return
        was_setup = self.state == SETUP
        self.closed_remotely = self.closed_remotely or remote
        if not self.closed_remotely and not was_setup:
            # (before Setup completes nothing is sent: the peer just sees the conn drop)
            self._send(m.TearDown(str(error)[:4096] if error is not None else "").encode())
        self.state = CLOSED
        self.close_error = error
        err = error if error is not None else errors.err(errors.ConnectionClosed, "connection closed")
        for f in list(self.flows.values()):
            self._finish_flow(f, err, remote=False, events=events)
        self.flows.clear()
        self.handshake_deadline = self.hc_request_at = self.hc_close_at = None
        self._timers_moved()
        events.append((ConnectionClosed, err, self.closed_remotely))

    @property
    def closed(self):
        return self.state == CLOSED

    @property
    def is_active(self):
        return self.state == ACTIVE
