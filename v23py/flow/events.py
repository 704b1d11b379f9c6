"""What a ``Conn`` reports to its adapter (events), the state of each of its flows, and the
states of the conn itself."""
from __future__ import annotations

import collections

# conn states
SETUP, AUTH, ACTIVE, CLOSED = range(4)

# ------------------------------------------------------------------------------------------ events
# An event is a plain tuple: its kind (one of the classes below, never instantiated) and
# then the fields that kind lists, e.g. ``(DataReceived, flow, data)``.  (A tuple costs a
# fraction of an object made through an __init__, and a busy conn reports several events
# per RPC: issue 19.)  Read one by unpacking it: ``kind, flow, data = ev``.

class Event:
    """A kind of event; ``fields`` names what follows the kind in the event's tuple."""
    fields: tuple = ()


class HandshakeComplete(Event):
    """Setup, encryption and Auth are done; flows may be opened."""
    fields = ("remote_blessings",)


class FlowAccepted(Event):
    """The peer opened ``flow`` (a ``FlowState``)."""
    fields = ("flow",)


class DataReceived(Event):
    """``data`` arrived on ``flow``; call ``conn.consumed(flow, len)`` once the app has read it.

    ``data`` is bytes, or a bytearray that is the receiver's to keep or change (the conn
    never touches it again): a long message's payload, opened in place."""
    fields = ("flow", "data")


class FlowClosed(Event):
    """``flow`` is closed: ``error`` is None for a clean close (by either side), else a VError;
    ``remote``: the peer closed it."""
    fields = ("flow", "error", "remote")


class FlowDrained(Event):
    """Everything written to ``flow`` has been handed to the transport."""
    fields = ("flow",)


class RemoteLameDuck(Event):
    """The peer asks for no new flows on this conn."""


class LameDuckAcknowledged(Event):
    """The peer acknowledged our lame duck."""


class BlessingsRefreshed(Event):
    """The peer presented new conn-level blessings."""
    fields = ("remote_blessings",)


class ConnectionClosed(Event):
    """The conn is closed; ``error`` is a VError (ConnectionClosed id for a clean close);
    ``remote``: closed by the peer."""
    fields = ("error", "remote")


# ------------------------------------------------------------------------------------------ flows

class FlowState:
    """Per-flow state inside a Conn (the Twisted layer wraps it in a ``Flow``)."""

    __slots__ = ("id", "dialed", "side_channel", "local_blessings", "local_discharges",
                 "remote_blessings", "remote_discharges", "opened", "closed", "close_pending", "out", "out_len",
                 "released", "borrowed", "borrowing", "remote_borrowing", "to_release",
                 "unread", "user", "remote_closed", "want_drained", "whole", "no_encrypt")

    def __init__(self, fid, dialed, side_channel, local_blessings, remote_blessings, remote_discharges):
        self.id = fid
        self.dialed = dialed
        self.side_channel = side_channel
        self.local_blessings = local_blessings
        self.remote_blessings = remote_blessings
        self.remote_discharges = remote_discharges
        self.local_discharges = None   # sent with the OpenFlow of a dialed flow
        self.opened = not dialed
        self.closed = False
        self.remote_closed = False
        self.close_pending = False
        self.out = None   # deque of queued output, made by queue() (most flows never queue)
        self.out_len = 0
        self.released = 0
        self.borrowed = 0
        self.borrowing = dialed
        self.remote_borrowing = not dialed
        self.to_release = 0
        self.unread = 0
        self.user = None  # slot for the adapter's Flow object
        self.want_drained = True   # emit FlowDrained events (an adapter may turn them off)
        # whole: every write leaves as one message, waiting for enough tokens rather than
        # splitting it (a flow carrying another conn's messages, or a proxy's forwarding flow:
        # Go's DisableFragmentation); no_encrypt: its payloads go in the clear after their
        # header (they are already sealed by the conn inside: Go's disableEncryption)
        self.whole = False
        self.no_encrypt = False

    def queue(self, chunk):
        """Add ``chunk`` (a non-empty bytes or memoryview) to the output waiting for tokens."""
        out = self.out
        if out is None:
            out = self.out = collections.deque()
        out.append(chunk)
        self.out_len += len(chunk)

    def __repr__(self):
        return "<FlowState %d%s%s>" % (self.id, " dialed" if self.dialed else "", " closed" if self.closed else "")
