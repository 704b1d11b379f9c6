"""Property tests of the flow-control accounting between two sans-IO Conns.

Random writes / partial reads / closes on several flows, with the wire bytes delivered in random
chunk sizes.  Invariants: no CounterOverflow, the shared pool never exceeds its maximum, every byte
arrives in order, and once everything is read and closed all borrowed tokens are back.
"""
from hypothesis import given, settings, strategies as st, HealthCheck
from twisted.trial import unittest

from v23py.testing.flow import connected_pair
from v23py.flow import conn as fconn

_sizes = st.one_of(st.integers(0, 300000),
                   st.sampled_from([1, 65535, 65536, 65537, 300000, 524289, 1 << 20, 1500000]))
ops = st.lists(st.tuples(st.sampled_from(["write", "read", "close", "deliver"]),
                         st.integers(0, 4), _sizes), min_size=1, max_size=40)


class FlowControlProperties(unittest.TestCase):
    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(ops, st.one_of(st.integers(1, 70000), st.sampled_from([3, 1 << 16, 1 << 20])))
    def test_random_traffic(self, script, chunk):
        d, a = connected_pair()
        flows = [d.open_flow() for _ in range(5)]
        sent = {f.id: bytearray() for f in flows}
        got = {f.id: bytearray() for f in flows}
        unread = {}          # acceptor-side flow -> bytes received but not yet "read"
        wire = bytearray()
        counter = [0]

        def deliver(n):
            wire.extend(d.data_to_send())
            part, rest = bytes(wire[:n]), wire[n:]
            wire[:] = rest
            for e in a.receive_data(part):
                if e[0] is fconn.DataReceived:
                    _, e_flow, e_data = e
                    got[e_flow.id] += e_data
                    unread[e_flow] = unread.get(e_flow, 0) + len(e_data)
            back = a.data_to_send()
            if back:
                d.receive_data(back)
            self.assertFalse(a.closed, a.close_error)
            self.assertFalse(d.closed, d.close_error)
            self.assertLessEqual(d.shared, d.max_shared)
            for fs, n_unread in unread.items():
                self.assertLessEqual(n_unread, a.bytes_buffered)

        for op, i, n in script:
            f = flows[i]
            if op == "write" and not f.closed and not f.close_pending:
                data = bytes([counter[0] % 251]) * n
                counter[0] += 1
                d.write(f, data)
                sent[f.id] += data
            elif op == "close":
                d.close_flow(f)
            elif op == "read":
                for fs in list(unread):
                    k = min(unread[fs], n)
                    if k:
                        unread[fs] -= k
                        a.consumed(fs, k)
            else:
                deliver(chunk)
        # drain: read everything, deliver everything
        for f in flows:
            d.close_flow(f)
        for _ in range(10000):
            for fs in list(unread):
                if unread[fs]:
                    a.consumed(fs, unread[fs])
                    unread[fs] = 0
            deliver(1 << 30)
            if not d.has_output and not a.has_output and not wire and all(
                    f.closed for f in flows):
                break
        for f in flows:
            self.assertTrue(f.closed)
            self.assertEqual(bytes(got[f.id]), bytes(sent[f.id]))
        # every token borrowed by the closed flows came back (outstanding ones via Data/Release)
        self.assertEqual(d.shared + sum(d.outstanding_borrowed.values()), d.max_shared)
