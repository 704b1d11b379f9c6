"""Accepted flows: the first byte of a flow says what it is -- ``'t'`` the connection's
type flow, ``'d'`` one call -- and routes its bytes to the connection's types or to a
new call's reader (the server starts the call).
"""
import logging

from v23py.runtime._pending import refuse
from v23py.runtime._stream import ROLE_DATA, ROLE_TYPE, ValueReader

log = logging.getLogger(__name__)


class _FlowRole:
    """Receives an accepted flow's first bytes and routes it as a type or data flow."""

    __slots__ = ("server", "flow", "target", "pending", "deadline")

    def __init__(self, server, flow):
        self.server = server
        self.flow = flow
        self.target = None
        self.pending = True     # the request has not fully arrived (see Server.pending)
        self.deadline = 0.0

    def expire(self, err):
        """The request stayed idle too long: a started call answers ``err``; else close."""
        if isinstance(self.target, ValueReader):
            self.target.abort(err)   # the call answers with the error and closes the flow
        else:
            self.target = _Discard()
            refuse(self.flow, None, err)

    def on_data(self, data):
        if self.pending:
            self.server.pending.progress(self)
        t = self.target
        if t is not None:
            t.feed(data)
            return
        if not data:
            return
        role, rest = data[0], data[1:]
        if role == ROLE_TYPE:
            self.server.pending.done(self.flow)
            types = self.server.types_for(self.flow.conn)
            self.target = types
            types.attach(self.flow)
            types.feed(bytes(rest))
        elif role == ROLE_DATA:
            types = self.server.types_for(self.flow.conn)
            reader = ValueReader(types)
            self.target = reader
            reader.feed(rest)   # (a slice: bytes, or a bytearray of its own, as feed takes)
            self.server._start_call(self.flow, reader, types)
        else:
            log.info("closing a flow with unknown role byte %r", role)
            self.server.pending.done(self.flow)
            self.target = _Discard()
            try:
                self.flow.close()
            except Exception:
                pass

    def on_close(self, reason=None):
        if self.pending:
            self.server.pending.done(self.flow)
        t = self.target
        if t is not None:
            t.closed(reason)


class _Discard:
    def feed(self, data):
        pass

    def closed(self, reason=None):
        pass

