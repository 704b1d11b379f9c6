"""Value streams over flows: the connection-wide type flow and per-call data flows.

RPC sends VOM *type* definitions on one side-channel flow per connection (the
``'t'`` flow) and VOM *values* on one flow per call (the ``'d'`` flow).  The
two classes below adapt a flow (anything with ``write(bytes)`` and a push
receiver, see :mod:`v23py.flow`) to that scheme:

* :class:`ConnTypes` -- one per connection: the TypeEncoder whose output goes
  to the type flow (buffered until the type flow exists), and the TypeDecoder
  fed from it.  Value readers blocked on an unknown type id wait on it.
* :class:`ValueReader` -- one per data flow: a VOM Decoder fed with the flow's
  bytes; ``await read(type)`` returns the next value.

Neither does any I/O itself besides calling ``flow.write``; tests drive them
with in-memory pipes.
"""
from twisted.internet import defer

from v23py import verror, vom, vtrace

from v23py.vdl import Kind as _Kind  # noqa: E402
from v23py.runtime.flowmanager import after_input as _after_input  # noqa: E402

_ANY = _Kind.ANY
MAX_BUFFERED = 64 << 20   # undecoded bytes a data flow may hold
ROLE_DATA = 0x64   # 'd'
ROLE_TYPE = 0x74   # 't'


class ConnTypes:
    """Type encoder/decoder shared by all calls on one connection."""

    def __init__(self):
        self.enc = vom.TypeEncoder()
        self.dec = vom.TypeDecoder()
        self.flow = None
        self.error = None
        self._waiters = []
        self.generation = 0   # bumps on every type-flow chunk
        self.msg_cache = {}   # constant value messages, see ValueWriter.encode_cached
        # header cache, see ValueReader._decode_memo: _REQUEST_KEY or _RESPONSE_KEY ->
        # [(message bytes, decoded value)], and _TRACED -> [(head, core, value, lead)]
        self.hdr_cache = {}
        # the writer of the flows whose first bytes carry the version byte already (a
        # client's calls: see ClientCall._start), one for all of them (it keeps no state)
        self.started_writer = ValueWriter(self, True)

    # -- outgoing --------------------------------------------------------------
    def attach(self, flow):
        """Use ``flow`` as the type flow (its role byte already handled)."""
        self.flow = flow
        self.flush()

    def flush(self):
        """Write pending type definitions to the type flow (if there is one yet)."""
        if self.flow is None or not self.enc._out:
            return   # (the usual call: no new types, and no take_bytes frame)
        data = self.enc.take_bytes()
        if data:
            try:
                post = getattr(self.flow, "post", None)   # a write without a Deferred
                (post if post is not None else self.flow.write)(data)
            except Exception as e:  # closed flow: the calls will notice on their own flows
                self.fail(e if isinstance(e, verror.VError) else verror.from_exception(e))

    # -- incoming --------------------------------------------------------------
    def feed(self, data):
        if not data:
            return
        try:
            self.dec.feed(data)
        except Exception as e:
            self.fail(verror.BadProtocol.new(f"bad protocol or type: bad type flow data: {e}"))
            return
        self.generation += 1
        self._wake(None)

    def fail(self, err):
        if self.error is None:
            self.error = err or verror.BadProtocol.new("type flow closed")
        self._wake(self.error)

    def closed(self, reason=None):
        self.fail(reason if isinstance(reason, verror.VError) else
                  verror.BadProtocol.new("bad protocol or type: type flow closed"))

    def _wake(self, err):
        waiters, self._waiters = self._waiters, []
        for d in waiters:
            if not d.called:
                d.callback(err)

    def wait(self):
        """Deferred fired (with None or the error) when more type data arrives."""
        if self.error is not None:
            return defer.succeed(self.error)
        d = defer.Deferred()
        self._waiters.append(d)
        return d


class ValueReader(vom.Decoder):
    """Decodes the values arriving on one data flow: the flow's VOM decoder itself (one
    object per flow, not a reader and its decoder: two flows and readers per call)."""

    # (all set by __init__: a reader reads most of them on every feed and wake-up, and an
    # attribute left to a class default is looked up the slow way each time)
    __slots__ = ("types", "eof", "close_reason", "_waiter", "_wake_pending",
                 "on_close", "notify", "trace")

    def __init__(self, types):
        _decoder_init(self, types.dec)
        self.types = types
        self.eof = False
        self.close_reason = None
        self._waiter = None
        self._wake_pending = False
        self.on_close = None   # callback(reason) when the peer closes the flow
        # callback() instead of a waiter Deferred, for a reader driven without a coroutine
        # (the client's unary calls): called as a waiter would be woken, until cleared
        self.notify = None
        # (span id, trace id, flags, log level, metadata) of the last Request read through
        # the header cache, when the cached value's own TraceRequest is not this call's
        self.trace = None

    def feed(self, data):
        """Bytes of the flow: bytes, or a bytearray given to the reader (its decoder keeps
        it: no copy)."""
        if data:
            if self.eof:
                return
            if _decoder_feed(self, data, True) > MAX_BUFFERED:
                # a value bigger than anything sane: refuse rather than grow without bound
                self.abort(verror.BadProtocol.new(
                    f"bad protocol or type: more than {MAX_BUFFERED} bytes of undecoded data"))
                return
            if (self._waiter is not None or self.notify is not None) and not self._wake_pending:
                # wake the reader once all of this read is fed (it then decodes a batch)
                self._wake_pending = True
                _after_input(self._wake_later)

    def _wake_later(self):
        if self._wake_pending:   # (else woken since, e.g. by the close that came with the data)
            self._wake()

    def closed(self, reason=None):
        """The flow was closed by the peer (reason None) or died (a VError)."""
        if self.eof:
            return
        self.eof = True
        self.close_reason = reason
        self._wake()
        cb = self.on_close
        if cb is not None:
            cb(reason)

    def abort(self, err):
        """Make pending and future reads fail with ``err`` (e.g. a deadline)."""
        if not self.eof or self.close_reason is None:
            self.eof = True
            self.close_reason = err
        self._wake()

    def _wake(self):
        self._wake_pending = False
        d, self._waiter = self._waiter, None
        if d is not None and not d.called:
            d.callback(None)
        n = self.notify
        if n is not None:
            n()

    def _wait_data(self):
        d = self._waiter = defer.Deferred()
        return d

    def try_read(self, type=None):
        """Decode one value now: returns (True, value) or (False, None) if more input is needed."""
        dec = self   # (its decoder's state)
        if dec._pos >= len(dec._buf):
            return False, None   # nothing buffered (no exception round trip)
        try:
            if type is _REQUEST_T or type is _RESPONSE_T:
                return True, self._decode_memo(type)
            if type is not None and type.kind == _ANY:
                type = None    # keep the exact wire type of what the peer sent
            return True, dec.decode(type)
        except (vom.NeedData, vom.NeedType):
            return False, None

    def _decode_memo(self, type):
        """dec.decode(type) for an RPC header type, through the connection's cache of header
        messages seen before.  VOM messages are self-delimiting and a connection's type ids
        never change meaning, so bytes equal to an earlier message decode to an equal value,
        consuming exactly those bytes: the decoded value is shared (headers are read only)."""
        dec = self   # (its decoder's state)
        buf = dec._buf
        pos = dec._pos
        if not dec._version_read:
            if buf[pos] != _VERSION_81 or pos + 1 >= len(buf):
                return dec.decode(type)
            pos += 1
        cache = self.types.hdr_cache
        key = _REQUEST_KEY if type is _REQUEST_T else _RESPONSE_KEY   # (a vdl Type hashes in Python)
        seen = cache.get(key)
        if seen is not None:
            for entry in seen:
                raw, value = entry
                if buf.startswith(raw, pos):
                    if entry is not seen[0]:
                        # (to the front: a stream's item header then matches first)
                        seen.remove(entry)
                        seen.insert(0, entry)
                    dec._version_read = True
                    n = len(raw)
                    dec._pos = pos + n
                    c = _COUNTS
                    c.values_decoded += 1
                    c.bytes_decoded += n
                    return value
        if type is _REQUEST_T:
            traced = cache.get(_TRACED)
            if traced is not None:
                hit = traced.hit(buf, pos)
                if hit is not None:
                    end, value, self.trace = hit
                    dec._version_read = True
                    dec._pos = end
                    c = _COUNTS
                    c.values_decoded += 1
                    c.bytes_decoded += end - pos
                    return value
        value = dec.decode(type)
        end = dec._pos
        if end - pos <= _MEMO_MAX_BYTES and (
                _plain_request if type is _REQUEST_T else _plain_response)(value):
            tr = value.TraceRequest if type is _REQUEST_T else None
            if tr is not None and (any(tr.TraceId) or any(tr.SpanId)):
                # each call's trace ids differ: remember the message up to its trace field
                # (while there is room: calls to ever new names, e.g. a Put per row, never
                # repeat one, and cutting up each message for nothing costs)
                traced = cache.get(_TRACED)
                if traced is None:
                    traced = cache[_TRACED] = _TracedRequests()
                if len(traced.entries) < _MEMO_MAX_ENTRIES:
                    entry = _traced_entry(buf, pos, end, value, self.types.dec)
                    if entry is not None:
                        traced.add(entry)
                return value
            if seen is None:
                seen = cache[key] = []
            if len(seen) < _MEMO_MAX_ENTRIES:
                seen.append((bytes(buf[pos:end]), value))
        return value

    async def read(self, type=None):
        """The next value (converted to ``type`` if given).

        Raises ``verror.EOF`` when the peer closed the flow cleanly before a
        whole value arrived, the close reason if the flow died, and
        BadProtocol for undecodable data.
        """
        if type is not None and type.kind == _ANY:
            type = None
        dec = self   # (its decoder's state)
        memo = type is _REQUEST_T or type is _RESPONSE_T
        while True:
            if dec._pos >= len(dec._buf) and not self.eof:
                await self._wait_data()   # (nothing buffered: wait without an exception)
                continue
            try:
                if dec._pos >= len(dec._buf):
                    raise vom.NeedData()
                if memo:
                    return self._decode_memo(type)
                return dec.decode(type)
            except vom.NeedData:
                if self.eof:
                    if isinstance(self.close_reason, verror.VError):
                        raise self.close_reason
                    raise verror.EOF.new("EOF")
                await self._wait_data()
            except vom.NeedType:
                if self.types.error is not None:
                    raise self.types.error
                if self.eof and isinstance(self.close_reason, verror.VError):
                    raise self.close_reason
                # wake on more type data, on more data-flow input, or on abort
                d = self._wait_data()
                self.types._waiters.append(d)
                err = await d
                if err is not None:
                    raise err
            except verror.VError:
                raise
            except Exception as e:
                raise verror.BadProtocol.new(f"bad protocol or type: {e}")

    async def skip(self):
        await self.read(None)


class ValueWriter:
    """Encodes values for one data flow (type definitions go to ``types``)."""

    __slots__ = ("types", "_started")

    def __init__(self, types, started=False):
        self.types = types
        self._started = started   # the version byte was written (each flow sends it once)

    def encode(self, value, type=None):
        """One value message; an ``any`` type means the value's own type, as Go sends it."""
        if type is None or type.kind == _ANY:
            type, value = _resolve(value)
        msg = vom.encode_value_message(self.types.enc, type, value)
        c = _COUNTS
        c.values_encoded += 1
        c.bytes_encoded += len(msg)
        if not self._started:
            self._started = True
            return VERSION + msg
        return msg

    def encode_after(self, prefix, value, type=None) -> bytes:
        """``prefix`` + encode(value, type), as bytes; a long []byte value is copied once
        (see vom.encode_value_bytes)."""
        if type is None or type.kind == _ANY:
            type, value = _resolve(value)
        if not self._started:
            self._started = True
            prefix += VERSION
        out = vom.encode_value_bytes(self.types.enc, type, value, prefix)
        c = _COUNTS
        c.values_encoded += 1
        c.bytes_encoded += len(out) - len(prefix)
        return out

    def encode_cached(self, key, make, type):
        """Like encode(make(), type), reusing the bytes of an earlier identical message.

        Only for values fully determined by ``key``: a value message's bytes
        depend on the value and on the connection's type ids, which never change.
        """
        cache = self.types.msg_cache
        msg = cache.get(key)
        if msg is None:
            msg = bytes(vom.encode_value_message(self.types.enc, type, make()))
            if len(cache) < 4096:
                cache[key] = msg
        c = _COUNTS
        c.values_encoded += 1
        c.bytes_encoded += len(msg)
        if not self._started:
            self._started = True
            return VERSION + msg
        return msg


VERSION = bytes([vom.VERSION_81])
_VERSION_81 = vom.VERSION_81
_decoder_init, _decoder_feed = vom.Decoder.__init__, vom.Decoder.feed
_dec_uint, _dec_int = vom.dec_uint, vom.dec_int
_plain_trace_ids = vtrace.plain_trace_ids
_PLAIN_AFTER_HEAD = vtrace.PLAIN_AFTER_HEAD
_PLAIN_TRACE_TAIL = vtrace.PLAIN_TRACE_TAIL
_TRACE_FIELD_HEAD = vtrace.TRACE_FIELD_HEAD
_COUNTS = vom.COUNTS   # what the RPC streams write and read counts as VOM's work too


def _plain_request(r):
    """A Request worth remembering: no deadline (those differ per call), nothing granted."""
    fn = r.Deadline.FromNow
    return not fn.Seconds and not fn.Nanos and not r.GrantedBlessings.CertificateChains


def _plain_response(r):
    return r.Error is None


_TRACED = "traced-request"   # hdr_cache key of the _TracedRequests of a connection
_REQUEST_KEY, _RESPONSE_KEY = "request", "response"   # hdr_cache keys of plain headers


def _traced_entry(buf, pos, end, value, td):
    """(message head, body up to the TraceRequest field, value, the bytes before the span
    id of such a message with a plain TraceRequest (vtrace.traced_request_lead)) for a
    traced request message at buf[pos:end], or None when it is not laid out as expected:
    its type (``td`` has the conn's types) must be our Request type, whose TraceRequest
    field vtrace reads by hand (a peer's own Request type may differ: a field renamed,
    another type, then the decoder converts it)."""
    try:
        tid, p = _dec_int(buf, pos)
        n, q = _dec_uint(buf, p)
    except Exception:
        return None
    if q + n != end or td.lookup(tid) != _REQUEST_T:
        return None
    tr = value.TraceRequest
    i = bytes(buf[q:end]).rfind(vtrace.TRACE_FIELD_HEAD + bytes(tr.SpanId))
    if i < 0:
        return None
    head, core = bytes(buf[pos:p]), bytes(buf[q:q + i])
    got = vtrace.read_trace_field(buf, q + i, end)
    if got is None or got[1] != bytes(tr.TraceId):
        return None
    return head, core, value, vtrace.traced_request_lead(head, core)


class _TracedRequests:
    """The traced request messages a connection has read (ValueReader._decode_memo), each
    kept as _traced_entry's (head, core, value, lead).  Those with a lead are also found by
    it: a request laid out as the usual one (a TraceRequest with only its ids) is looked up
    at once, hit or miss, however many are kept.  (A Syncbase Put per row names a new row
    each time: its request matches none of them.)  The one matched last is tried first, by
    its lead alone: a caller repeating its call then costs no more than with one kept."""

    __slots__ = ("entries", "by_lead", "last")

    def __init__(self):
        self.entries = []
        self.by_lead = {}
        self.last = (None, None)   # (lead, value) of the entry matched or kept last

    def add(self, entry):
        self.entries.append(entry)
        lead = entry[3]
        if lead is not None:
            self.by_lead.setdefault(lead, entry)
            self.last = (lead, entry[2])

    def hit(self, buf, pos):
        """(end, value, trace) for a traced request at buf[pos:] matching a kept one."""
        lead, value = self.last
        if lead is not None and buf.startswith(lead, pos):
            i = pos + len(lead)
            ids = _plain_trace_ids(buf, i)
            if ids is not None:
                return i + _PLAIN_AFTER_HEAD, value, ids
        try:
            p = pos + 1 if buf[pos] < 0x80 else _dec_uint(buf, pos)[1]   # (after its type id)
            n = buf[p]
        except Exception:   # (cut short, or no uint: the general decoder says what is wrong)
            return None
        if n >= 0x80:
            return None   # a long message: the general decoder takes it
        i = p + 1 + n - _PLAIN_AFTER_HEAD   # the span id's start if the trace has only ids
        if n >= _PLAIN_TRACE_TAIL and buf.startswith(_TRACE_FIELD_HEAD, i - 3):
            ids = _plain_trace_ids(buf, i)
            if ids is not None:
                # laid out as the usual request: kept or not, its lead says
                entry = self.by_lead.get(bytes(buf[pos:i]))
                if entry is None:
                    return None
                self.last = (entry[3], entry[2])
                return i + _PLAIN_AFTER_HEAD, entry[2], ids
        return self._hit_with_more(buf, pos, p, n)

    def _hit_with_more(self, buf, pos, p, n):
        """hit() for a TraceRequest with more than its ids (metadata, flags, a level)."""
        head = bytes(buf[pos:p])
        q = p + 1
        end = q + n
        if end > len(buf):
            return None
        for h, core, value, _ in self.entries:
            if h == head and buf.startswith(core, q):
                t = vtrace.read_trace_field(buf, q + len(core), end)
                if t is not None:
                    return end, value, t
        return None


# the header types decoded through ConnTypes.hdr_cache (see ValueReader._decode_memo)
_REQUEST_T = _RESPONSE_T = None
_MEMO_MAX_BYTES = 256
_MEMO_MAX_ENTRIES = 8


def _init_memo():
    global _REQUEST_T, _RESPONSE_T
    from v23py.rpc import wire
    _REQUEST_T, _RESPONSE_T = wire.RequestType, wire.ResponseType


def _resolve(value):
    from v23py import vdl
    if isinstance(value, vdl.Typed):
        return value.type, value.value
    return vdl.type_of(value), value


_init_memo()
