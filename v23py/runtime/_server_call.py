"""What a served method gets as ``call`` (Go's rpc.StreamServerCall): who is calling,
and the call's streams.  Streamed results sent in one burst of work leave in one flow
write (see ``ServerCall.send``).
"""
import logging

from twisted.internet import defer

from v23py import verror
from v23py.deferred import adopt as _adopt
from v23py.rpc import wire
from v23py.rpc.stubs import stop_at_eof as _stop_at_eof
from v23py.runtime.flowmanager import _batch, after_input as _after_input

log = logging.getLogger(__name__)

_COALESCE_MAX = 8192   # streamed results smaller than this are coalesced (see ServerCall.send)


class ServerCall:
    """What a server method gets as ``call`` (Go's rpc.StreamServerCall)."""

    # (defaults of the class: a call sets only what it changes)
    suffix = ""
    method = ""
    granted_blessings = None
    _security = None         # security.Call for authorizers
    _lazy_security = None
    in_stream_type = None
    out_stream_type = None
    _t0 = 0.0
    _end_stream_args = False
    _closed = False
    _pending = None          # streamed results waiting for the end of this reactor turn
    _sent = None             # Deferred of the last flow write of streamed results

    def __init__(self, server, flow, reader, writer, types):
        self.server = server
        self.flow = flow
        self._reader = reader
        self._writer = writer
        self._types = types
        self.method_tags = []

    # -- identity -------------------------------------------------------------
    @property
    def security(self):
        """The security.Call of this RPC (names, blessings, method tags)."""
        if self._security is None and self._lazy_security is not None:
            server, method, suffix, tags = self._lazy_security
            self._lazy_security = None
            self._security = server._security_call(self, method, suffix, tags)
        return self._security

    @security.setter
    def security(self, value):
        self._security = value

    @property
    def remote_blessings(self):
        return self.security.remote_blessings if self.security is not None else None

    @property
    def local_blessings(self):
        return self.security.local_blessings if self.security is not None else None

    @property
    def remote_endpoint(self):
        return getattr(self.flow.conn, "remote_endpoint", None)

    @property
    def local_endpoint(self):
        return getattr(self.flow.conn, "local_endpoint", None)

    # -- streaming ------------------------------------------------------------
    def send(self, item):
        """Send one streamed result (a zero Response header, then the item)."""
        if self._closed:
            raise verror.Aborted.new("aborted: call finished")
        w = self._writer
        data = w.encode_after(w.encode_cached("resp-stream", wire.response, wire.ResponseType), item, self.out_stream_type)
        self._types.flush()
        flow = self.flow
        if _batch[0] and len(data) < _COALESCE_MAX and not getattr(flow, "is_closed", True):
            # Inside a burst of work (a read being handled, an output_batch): the items sent
            # until its end leave in one flow write, i.e. in as few Data messages as the MTU
            # and the peer's flow-control credits allow, instead of one message per item.
            pend = self._pending
            if pend is None:
                self._pending = bytearray(data)
                _after_input(self._flush_sends)
            else:
                pend += data
            sent = self._sent
            if sent is not None and not sent.called:
                return sent   # the previous write still waits for credits: so does this one
            return defer.succeed(None)
        if self._pending is not None:
            self._flush_sends()
        return flow.write(data)

    def _flush_sends(self):
        pend = self._pending
        if pend is None:
            return
        self._pending = None
        try:
            self._sent = self.flow.write(bytes(pend))
        except Exception:
            log.debug("flow closed before streamed results were sent", exc_info=True)

    def send_many(self, items, encode=None):
        """``send`` each of ``items``, all in one flow write (so in as few messages as fit).

        ``encode(type_encoder, item)``, if given, returns an item's value message
        (for servers that keep values VOM-encoded)."""
        if self._closed:
            raise verror.Aborted.new("aborted: call finished")
        w, t, parts = self._writer, self.out_stream_type, []
        for item in items:
            parts.append(w.encode_cached("resp-stream", wire.response, wire.ResponseType))
            parts.append(w.encode(item, t) if encode is None else encode(self._types.enc, item))
        self._types.flush()
        if self._pending is not None:
            self._flush_sends()   # items given to send() earlier in this turn go first
        return self.flow.write(b"".join(parts))

    def recv(self):
        """Deferred: the next streamed argument; errback verror.EOF at the end."""
        return _adopt(defer.ensureDeferred(self._recv()))

    async def _recv(self):
        if self._end_stream_args:
            raise verror.EOF.new("EOF")
        req = await self._reader.read(wire.RequestType)
        if req.EndStreamArgs:
            self._end_stream_args = True
            raise verror.EOF.new("EOF")
        return await self._reader.read(self.in_stream_type)

    def __aiter__(self):
        return self

    def __anext__(self):
        # a Deferred rather than a coroutine: asyncio code iterates too (v23py.deferred)
        return self.recv().addErrback(_stop_at_eof)
