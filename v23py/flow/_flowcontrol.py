"""Flow control of a ``Conn``, as Go's flowcontrol.go counts it: the tokens each flow may
send (its own released counters, or the shared pool new flows borrow from), the queued
output pumped out as tokens arrive, and the Release messages that give the peer its
credits back.  A mixin: ``Conn`` holds the state these methods use."""
from __future__ import annotations

from . import message as m
from .events import ACTIVE, CLOSED, FlowClosed, FlowDrained


class FlowControl:
    """The sending and crediting half of ``Conn`` (see that class for the attributes)."""

    def consumed(self, f, n):
        """The application has read ``n`` bytes of ``f``: return credits to the peer as Go does."""
        if n <= 0 or self.state == CLOSED:
            return
        f.unread -= n
        if not f.closed:   # (an open flow is the one in self.flows under its id)
            f.to_release += n
        if f.remote_borrowing:
            self.to_release_borrowed += n
            trigger = self.to_release_borrowed > self.bytes_buffered // 2
        else:
            trigger = f.to_release > self.bytes_buffered // 2
        if not trigger:
            return
        counters = list(self.to_release_closed)
        for g in self.flows.values():
            if g.to_release:
                counters.append((g.id, g.to_release))
            g.to_release = 0
            g.remote_borrowing = False
        f.to_release = 0
        f.remote_borrowing = False
        self.to_release_borrowed = 0
        self.to_release_closed = []
        lim = self.release_limit
        while True:
            if len(counters) < lim:
                self._send(m.Release(counters).encode())
                break
            self._send(m.Release(counters[:lim]).encode())
            counters = counters[lim:]

    def _take(self, f, want):
        """Claim up to ``want`` tokens (at most one MTU) for ``f``."""
        mx = self._max_chunk
        if want < mx:
            mx = want
        if f.borrowing:
            if self.shared < mx:
                mx = self.shared
            self.shared -= mx
            f.borrowed += mx
        else:
            if f.released < mx:
                mx = f.released
            f.released -= mx
        return mx

    def _chunk(self, f, n):
        out = f.out
        first = out[0]
        if len(first) <= n:
            out.popleft()
            if len(first) == n or not out:
                f.out_len -= len(first)
                return first
            parts = [first]
            got = len(first)
            while out and got < n:
                p = out[0]
                need = n - got
                if len(p) <= need:
                    out.popleft()
                    parts.append(p)
                    got += len(p)
                else:
                    parts.append(p[:need])
                    out[0] = p[need:]
                    got = n
            f.out_len -= got
            return b"".join(parts)
        out[0] = first[n:]
        f.out_len -= n
        return first[:n]

    def _pump_whole(self, f, events):
        """_pump for a ``whole`` flow: one message per write, sent when the tokens cover it."""
        if self.state != ACTIVE or f.closed:
            return
        had_data = f.out_len > 0
        out = f.out
        while True:
            if not out:
                if f.close_pending:
                    if not f.opened:
                        f.opened = True
                        self._finish_flow(f, None, remote=False, events=events)
                    else:
                        self._send(m.encode_data_header(f.id, m.CLOSE_FLAG))
                        self._finish_flow(f, None, remote=False, events=events)
                break
            msg = out[0]
            n = len(msg)
            if (self.shared if f.borrowing else f.released) < n:
                if not f.opened:
                    # open it now (Go sends OpenFlow without waiting for tokens); the
                    # message follows whole once the peer released enough
                    self._open_whole(f, m.DISABLE_ENCRYPTION_FLAG if f.no_encrypt else 0, b"")
                self._blocked[f] = None
                break
            if f.borrowing:
                self.shared -= n
                f.borrowed += n
            else:
                f.released -= n
            out.popleft()
            f.out_len -= n
            flags = m.CLOSE_FLAG if (f.close_pending and not out) else 0
            if f.no_encrypt:
                flags |= m.DISABLE_ENCRYPTION_FLAG
            if not f.opened:
                self._open_whole(f, flags, msg)
            else:
                self._send(m.encode_data_header(f.id, flags), b"" if f.no_encrypt else msg)
                if f.no_encrypt:
                    self._send_plain(msg)
            if flags & m.CLOSE_FLAG:
                self._finish_flow(f, None, remote=False, events=events)
                break
        if had_data and f.out_len == 0 and f.want_drained:
            events.append((FlowDrained, f))

    def _open_whole(self, f, flags, msg):
        if f.side_channel:
            flags |= m.SIDE_CHANNEL_FLAG
        bkey = self._send_blessings(f.local_blessings)
        if bkey == 0:
            bkey = self._send_blessings(self.local_blessings)
        dkey = self._send_discharges(bkey, f.local_discharges)
        self._send(m.OpenFlow(f.id, self.bytes_buffered, bkey, dkey, flags, msg).encode())
        if flags & m.DISABLE_ENCRYPTION_FLAG:
            self._send_plain(msg)
        f.opened = True
        self._maybe_ack_lame_duck()

    def _pump(self, f, events):
        if f.whole:
            self._pump_whole(f, events)
            return
        if self.state != ACTIVE or f.closed:
            return
        had_data = f.out_len > 0
        while True:
            if not f.opened:
                n = self._take(f, f.out_len) if f.out_len else 0
                payload = self._chunk(f, n) if n else b""
                final = f.out_len == 0
                flags = (m.CLOSE_FLAG if (f.close_pending and final) else 0) | (
                    m.SIDE_CHANNEL_FLAG if f.side_channel else 0)
                bkey = self._send_blessings(f.local_blessings)
                if bkey == 0:
                    bkey = self._send_blessings(self.local_blessings)
                dkey = self._send_discharges(bkey, f.local_discharges)
                self._send(m.OpenFlow(f.id, self.bytes_buffered, bkey, dkey, flags, payload).encode())
                f.opened = True
                if flags & m.CLOSE_FLAG:
                    self._finish_flow(f, None, remote=False, events=events)
                    break
                self._maybe_ack_lame_duck()
                continue
            if f.out_len == 0:
                if f.close_pending:
                    self._send(m.encode_data_header(f.id, m.CLOSE_FLAG))
                    self._finish_flow(f, None, remote=False, events=events)
                break
            n = self._take(f, f.out_len)
            if n == 0:
                self._blocked[f] = None
                break
            payload = self._chunk(f, n)
            final = f.out_len == 0
            flags = m.CLOSE_FLAG if (final and f.close_pending) else 0
            self._send(m.encode_data_header(f.id, flags), payload)
            if flags:
                self._finish_flow(f, None, remote=False, events=events)
                break
        if had_data and f.out_len == 0 and f.want_drained:
            events.append((FlowDrained, f))

    def _pump_all(self, events):
        """Retry the flows that were waiting for tokens."""
        if not self._blocked:
            return
        blocked = list(self._blocked)
        self._blocked.clear()
        for f in blocked:
            if not f.closed:
                self._pump(f, events)

    def _handle_release(self, msg, events):
        for fid, tokens in msg.counters:
            f = self.flows.get(fid)
            if f is not None:
                self._release_counters(f, tokens)
            else:
                self._release_outstanding_borrowed(fid, tokens, False)
        self._pump_all(events)

    def _release_counters(self, f, tokens):
        f.borrowing = False
        if f.borrowed > 0:
            n = min(f.borrowed, tokens)
            tokens -= n
            self.shared += n
            f.borrowed -= n
        f.released += tokens

    def _release_outstanding_borrowed(self, fid, val, already_closed):
        borrowed = self.outstanding_borrowed.get(fid, 0)
        if not borrowed:
            return
        if already_closed:
            val = borrowed
        released = min(borrowed, val)
        self.shared += released
        if released == borrowed:
            del self.outstanding_borrowed[fid]
        else:
            self.outstanding_borrowed[fid] = borrowed - released

    def _finish_flow(self, f, error, remote, events):
        """Go's flw.close: drop ``f`` from the table and settle its tokens."""
        if f.closed:
            return
        f.closed = True
        f.remote_closed = remote
        if self.flows.get(f.id) is f:
            del self.flows[f.id]
        if self._blocked:
            self._blocked.pop(f, None)
        if f.out:
            f.out.clear()
        f.out_len = 0
        if self.state != CLOSED:
            if remote:
                self.shared += f.borrowed
            elif f.borrowed > 0:
                self.outstanding_borrowed[f.id] = f.borrowed
            f.borrowed = 0
            if not f.remote_borrowing:
                f.to_release = 0
            else:
                self.to_release_closed.append((f.id, f.to_release))
                if len(self.to_release_closed) >= self.release_limit:
                    # a peer that opens and abandons flows endlessly must not grow this list
                    # until its data would trigger a release (issue 12, B5): send one now
                    self._send(m.Release(self.to_release_closed).encode())
                    self.to_release_closed = []
        events.append((FlowClosed, f, error, remote))
        if remote and self._blocked and self.state == ACTIVE:
            # borrowed credits came back to the shared pool: let waiting borrowers proceed
            self._pump_all(events)
        if self._ack_lame_duck_pending:
            self._maybe_ack_lame_duck()
