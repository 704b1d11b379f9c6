"""What a call in progress is on the client side (Go's rpc.ClientCall): the Request and the
args sent at once, then the streamed items either way, then the final Response and results.

``v23py.runtime.client.Client`` opens the flow and makes the call object; it is its
``client``, used for the security call made on demand, the discharges to forget after a
NoAccess, the outstanding calls, and the retries of ``Client.call_deferred``'s fallback.
"""
import logging
import time

from twisted.internet import defer
from twisted.python import failure

from v23py import vdl, verror, vom, vtrace
from v23py.deferred import adopt as _adopt, succeed as _succeed
from v23py.rpc import options as rpcopts
from v23py.rpc import wire
from v23py.rpc.stubs import stop_at_eof as _stop_at_eof
from v23py.runtime._stream import ROLE_DATA, ValueReader
from v23py.v23.vdlroot import time as vtime

log = logging.getLogger(__name__)


class ClientCall:
    """One call in progress (Go's rpc.ClientCall).  Methods return Deferreds."""

    # (defaults of the class: a call sets only what it changes)
    _security = None
    _ep = None
    _discharges = None
    _send_closed = False
    _response = None      # last decoded Response
    _finished = False
    _unreg = None
    _span = None
    _unary = None         # see Client.call_deferred

    def __init__(self, client, ctx, conn, flow, types, method, suffix, out_types, desc,
                 server_names, secall):
        self.client = client
        self.ctx = ctx
        self.conn = conn
        self.flow = flow
        self.types = types
        self.method = method
        self.suffix = suffix
        tt = type(out_types)
        self.out_types = out_types if (tt is list or tt is tuple or out_types is None) \
            else list(out_types)
        self.desc = desc
        self._names = server_names
        if secall is not None:
            self._security = secall
        if desc is not None:
            st = _STREAM_TYPES.get(id(desc))
            if st is None or st[0] is not desc:
                st = (desc, _elem_type(getattr(desc, "in_stream", None)),
                      _elem_type(getattr(desc, "out_stream", None)))
                if len(_STREAM_TYPES) > 4096:
                    _STREAM_TYPES.clear()
                _STREAM_TYPES[id(desc)] = st
            self.in_stream_type = st[1]
            self.out_stream_type = st[2]
        else:
            self.in_stream_type = self.out_stream_type = None
        self._reader = r = ValueReader(types)
        self._writer = types.started_writer   # (_start writes the version byte)
        flow.set_receiver(r.feed, r.closed, bytearrays=True)
        client.outstanding[self] = _monotonic()

    @property
    def remote_blessing_names(self):
        """The server's validated blessing names (a list of its own)."""
        return list(self._names)

    @property
    def security(self):
        if self._security is None:
            self._security = self.client._security_call(self.conn, self._ep, self.method,
                                                        self.suffix)
        return self._security

    @property
    def remote_blessings(self):
        return self.security.remote_blessings

    def _start(self, args, in_types, opts, end_args=False):
        dl = self.ctx.deadline()
        deadline = granted = None
        if dl is not None:
            rem = max(dl - self.ctx.now(), 1e-9)
            secs = int(rem)
            nanos = int(round((rem - secs) * 1e9))
            if secs == 0 and nanos == 0:
                nanos = 1
            if nanos >= 1000000000:
                secs, nanos = secs + 1, nanos - 1000000000
            deadline = vtime.WireDeadline(FromNow=vtime.Duration(Seconds=secs,
                                                                          Nanos=nanos))
        g = rpcopts.find(opts, rpcopts.GrantedBlessings) if opts else None
        if g is not None:
            b = g.blessings
            granted = b.to_wire() if hasattr(b, "to_wire") else b
        w = self._writer
        data = bytearray(_ROLE_VERSION)
        try:
            nargs = len(args)
            if deadline is None and granted is None:
                suffix, method = self.suffix, self.method
                key = ("req", suffix, method, nargs)
                msg = self.types.msg_cache.get(key)
                if msg is None:
                    msg = _new_request(w, key)
                else:
                    _VC.values_encoded += 1
                    _VC.bytes_encoded += len(msg)
                span = self._span
                if span is not None:
                    msg = vtrace.splice_request(msg, span) or w.encode(
                        self._traced_request(nargs, None, None), wire.RequestType)
                data += msg
            else:
                data += w.encode(self._traced_request(nargs, deadline, granted), wire.RequestType)
            ntypes = len(in_types) if in_types is not None else 0
            i = 0
            for a in args:
                t = in_types[i] if i < ntypes else None
                if t is not None and t.kind is _ANY:
                    t = None   # like Go: an any-typed arg goes as a value of its own type
                data += w.encode(a, t)
                i += 1
        except verror.VError as e:
            self._abort_flow()
            raise verror.BadProtocol.new(f"bad protocol or type: failed to encode arg: {e.msg}")
        except Exception as e:
            self._abort_flow()
            raise verror.BadArg.new(f"bad argument: failed to encode arg: {e}")
        if end_args or (self.in_stream_type is None and self.out_stream_type is None
                        and self.desc is not None):
            # unary call (or nothing will be sent): the end-of-stream header goes with the args
            msg = self.types.msg_cache.get("req-end")
            if msg is None:
                msg = w.encode_cached("req-end", _end_request, wire.RequestType)
            else:
                _VC.values_encoded += 1
                _VC.bytes_encoded += len(msg)
            data += msg
            self._send_closed = True
        types = self.types
        if types.enc._out:   # type messages to send first
            types.flush()
        self.flow.post(bytes(data))
        self._unreg = self.ctx.on_done(self._ctx_done)

    def _traced_request(self, nargs, deadline, granted):
        r = wire.request(self.suffix, self.method, nargs, deadline=deadline, granted=granted)
        if self._span is not None:
            r.TraceRequest = self._span.request()
        return r

    def _ctx_done(self, err):
        if self._finished:
            return
        self._reader.abort(err)
        self._abort_flow()

    def _abort_flow(self):
        self.client.outstanding.pop(self, None)
        try:
            f = self.flow
            shut = getattr(f, "shut", None)
            (shut if shut is not None else f.close)()
        except Exception:
            pass

    def _map_error(self, e):
        if self.ctx.cancelled():
            ce = self.ctx.err()
            if e is ce:
                return e
            if getattr(ce, "id", "") in (verror.Timeout.id, verror.Canceled.id):
                return type(ce)(ce.id, ce.retry_code, f"{ce.msg}: {e.msg or e.id}", ce.params)
        return e

    # -- streaming --------------------------------------------------------------
    def send(self, item):
        if self._send_closed:
            raise verror.Aborted.new("aborted: send after close_send")
        w = self._writer
        data = w.encode_after(w.encode_cached("req-stream", wire.request, wire.RequestType),
                              item, self.in_stream_type)
        self.types.flush()
        return self.flow.write(data)

    def close_send(self):
        if self._send_closed:
            return
        self._send_closed = True
        data = self._writer.encode_cached("req-end", _end_request, wire.RequestType)
        self.types.flush()
        try:
            self.flow.post(data)
        except verror.VError:
            pass

    def recv(self):
        """Deferred: the next streamed result; errback verror.EOF at the end."""
        r = self._response
        dec = self._reader
        if (r is None or (r.Error is None and not r.EndStreamResults)) and dec._version_read:
            # Fast path: the next header and item are already buffered (streams usually
            # arrive many items per read): decode them now, without a coroutine.
            pos = dec._pos
            try:
                ok, hdr = self._reader.try_read(wire.ResponseType)
                if ok and hdr.Error is None and not hdr.EndStreamResults:
                    ok, item = self._reader.try_read(self.out_stream_type)
                    if ok:
                        self._response = hdr
                        return _succeed(item)
            except verror.VError:
                pass
            dec._pos = pos   # not the simple case: the general path below redoes it
        return _adopt(defer.ensureDeferred(self._recv()))

    def keep_any_raw(self):
        """Streamed results decode each ``any`` in them to a vom.RawBytes, not its value
        (for a reader that stores what it receives)."""
        self._reader.keep_any_raw(self.out_stream_type)

    def recv_buffered(self, limit):
        """The streamed results already buffered and decodable now, at most ``limit``
        (a list, maybe empty): recv()'s fast path in one loop, for a reader that drains a
        long stream (no Deferred, no coroutine step per item).  Anything else -- the end,
        an error, a partial or unusual message -- is left for recv()."""
        out = []
        r = self._response
        if r is not None and (r.Error is not None or r.EndStreamResults):
            return out
        reader = self._reader
        dec = reader
        if not dec._version_read:
            return out
        try_read = reader.try_read
        rt, it = wire.ResponseType, self.out_stream_type
        add = out.append
        last = None
        while len(out) < limit:
            pos = dec._pos
            try:
                ok, hdr = try_read(rt)
                if ok and hdr.Error is None and not hdr.EndStreamResults:
                    ok, item = try_read(it)
                    if ok:
                        add(item)
                        last = hdr
                        continue
            except verror.VError:
                pass
            dec._pos = pos    # (recv() redoes it)
            break
        if last is not None:
            self._response = last
        return out

    async def _recv(self):
        r = self._response
        if r is not None and r.Error is not None:
            raise verror.BadProtocol.new(f"bad protocol or type: {r.Error}")
        if r is not None and r.EndStreamResults:
            raise verror.EOF.new("EOF")
        try:
            r = self._response = await self._reader.read(wire.ResponseType)
        except verror.VError as e:
            raise self._decode_failed(e, "streaming header")
        if r.Error is not None:
            raise r.Error
        if r.EndStreamResults:
            raise verror.EOF.new("EOF")
        try:
            return await self._reader.read(self.out_stream_type)
        except verror.VError as e:
            raise self._decode_failed(e, "streaming item")

    def _decode_failed(self, e, what):
        """Go's client: a response that cannot be read (the server went away, the flow
        ended early, bad bytes) is BadProtocol, unless the call was canceled or timed out;
        a stream cut short must never look like its end (EOF)."""
        if e.id not in (verror.Timeout.id, verror.Canceled.id):
            e = verror.BadProtocol.new(
                f"bad protocol or type: failed to decode {what}: {e.msg or e.id}")
        return self._map_error(e)

    def __aiter__(self):
        return self

    def __anext__(self):
        # a Deferred rather than a coroutine: asyncio code iterates too (v23py.deferred)
        return self.recv().addErrback(_stop_at_eof)

    # -- finish -------------------------------------------------------------------
    def finish(self):
        """Deferred: the list of positional results (errback with the call's VError).

        (The generated stubs' stream objects shape them as a unary call's results.)"""
        return _adopt(defer.ensureDeferred(self._finish()))

    async def _finish(self):
        try:
            self.close_send()
            r = self._response
            rd = self._reader
            while r is None or not r.EndStreamResults:
                try:
                    ok, r = rd.try_read(wire.ResponseType)
                    if not ok:
                        r = await rd.read(wire.ResponseType)
                    self._response = r
                except verror.VError as e:
                    raise self._decode_failed(e, "response")
                if r.Error is not None:
                    break
                if not r.EndStreamResults:
                    await self._reader.read(self.out_stream_type)   # drop unread stream items
            if self._span is not None:
                self._end_span(r)
            if r.Error is not None:
                if self._discharges and verror.NoAccess.is_(r.Error):
                    # maybe a bad discharge: do not use these again (Go does the same)
                    self._forget_discharges()
                raise r.Error
            n = r.NumPosResults
            if self.out_types is not None and n != len(self.out_types):
                raise verror.BadProtocol.new(
                    f"bad protocol or type: server sent {n} results, client expected "
                    f"{len(self.out_types)}")
            out = []
            for i in range(n):
                t = self.out_types[i] if self.out_types is not None else None
                ok, v = rd.try_read(t)
                out.append(v if ok else await rd.read(t))
            return out
        except verror.VError as e:
            raise self._map_error(e)
        finally:
            self._end()

    def _end_span(self, r):
        """Close the call's span with the server's trace from response ``r``."""
        span, self._span = self._span, None
        tr = r.TraceResponse
        if tr is not None and tr.Flags & _COLLECT:
            span.store.merge(tr)
        if span.store._traces:
            span.finish()

    def _end(self):
        """The call is over: no longer outstanding, its flow closed."""
        self._finished = True
        u = self._unreg
        if u is not None:
            self._unreg = None   # (it refers back to this call)
            u()
        self._abort_flow()

    def _unary_wake(self):
        """The reader's wake-up for a call made by Client.call_deferred: the results when
        the whole of an error-free response is buffered, else call()'s path takes over."""
        rd = self._reader
        dec = rd
        if dec._pos >= len(dec._buf) and not rd.eof:
            return   # nothing yet
        rd.notify = None
        unary, self._unary = self._unary, None
        if unary is None:
            return
        d = unary[0]
        pos, ver = dec._pos, dec._version_read
        try:
            ok, r = rd.try_read(_RESPONSE_T)
            if ok and r.Error is None and r.EndStreamResults:
                n = r.NumPosResults
                ot = self.out_types
                if ot is None or n == len(ot):
                    out = []
                    for i in range(n):
                        ok, v = rd.try_read(ot[i] if ot is not None else None)
                        if not ok:
                            break
                        out.append(v)
                    else:
                        self._response = r
                        if self._span is not None:
                            self._end_span(r)
                        self._end()
                        d.callback(out[0] if unary[1] else out)
                        return
        except verror.VError:
            pass
        # not the simple case: read it again through _finish (and call()'s retries)
        dec._pos, dec._version_read = pos, ver
        self._response = None
        self._unary = f = defer.ensureDeferred(self.client._complete(self, *unary[2:]))
        if unary[1]:
            f.addCallback(first_result)
        f.addBoth(_pass_to, d)

    def _cancel_unary(self, d):
        u = self._unary
        if isinstance(u, defer.Deferred):
            u.cancel()   # the fallback's CancelledError reaches d through _pass_to
            return
        self._unary = None
        self._reader.notify = None
        self._end()

    def _forget_discharges(self):
        p = self.client.principal
        try:
            p.blessing_store.clear_discharges(*self._discharges)
        except Exception:
            log.debug("clearing discharges failed", exc_info=True)

    def cancel(self):
        """Cancel the call: closing the flow is the signal to the server."""
        self._finished = True
        self._reader.abort(verror.Canceled.new("canceled"))
        self._abort_flow()


_STREAM_TYPES = {}   # id(method desc) -> (desc, in-stream type, out-stream type)
_ROLE_VERSION = bytes([ROLE_DATA, vom.VERSION_81])


def _new_request(w, key):
    """The plain Request message of ``key`` (("req", suffix, method, nargs)), not sent on
    this connection before: as ``w.encode_cached`` makes it, but for a suffix made by
    putting it into the message of the same call without a suffix (every new row of a
    Syncbase Put is a new suffix; encoding a Request costs ten times more)."""
    _, suffix, method, nargs = key
    cache = w.types.msg_cache
    if suffix and w._started:
        tkey = ("req-template", method, nargs)
        t = cache.get(tkey)
        if t is None:
            t = _request_template(w, method, nargs)
            if len(cache) < 4096:
                cache[tkey] = t
        if t:
            msg = vom.with_first_string(t, suffix)
            if len(cache) < 4096:
                cache[key] = msg
            _VC.values_encoded += 1
            _VC.bytes_encoded += len(msg)
            return msg
    return w.encode_cached(key, lambda: wire.request(suffix, method, nargs), wire.RequestType)


def _request_template(w, method, nargs):
    """vom.first_string_template of a Request of ``method`` (Suffix is its field 0), or
    False when the encoder does not lay a Request out so."""
    return vom.first_string_template(
        w.types.enc, wire.RequestType,
        lambda suffix: wire.request(suffix, method, nargs)) or False


_VC = vom.COUNTS
_monotonic = time.monotonic
_ANY = vdl.Kind.ANY
_COLLECT = vtrace.COLLECT_IN_MEMORY
_RESPONSE_T = wire.ResponseType


def first_result(results):
    """The first of a call's results (Client.call_deferred's ``first``)."""
    return results[0]


def _pass_to(r, d):
    if not d.called:
        if isinstance(r, failure.Failure):
            d.errback(r)
        else:
            d.callback(r)


def _end_request():
    return wire.request(end=True)


def _elem_type(s):
    if s is None:
        return None
    if hasattr(s, "kind"):
        return s
    return getattr(s, "type", None)
