"""A hostile client process: dials a server and defines many types on its type flow.

    python -m v23py.testing.hostile_types <endpoint> <count>

It prints "SENT" once the types are written, then waits for a line on stdin and exits
(closing its connection).  Run as a separate process so that the server's memory holds
only what the server made of the stream.
"""
import sys

from twisted.internet import defer, reactor, stdio
from twisted.protocols import basic

from v23py import naming, runtime as rtm, vdl
from v23py.testing import hostile as H


class _Quit(basic.LineReceiver):
    delimiter = b"\n"

    def lineReceived(self, line):
        reactor.stop()

    def connectionLost(self, reason=None):
        if reactor.running:
            reactor.stop()


@defer.inlineCallbacks
def main(endpoint, count):
    ctx, _ = H.runtime(H.principal("types")[0])
    client = rtm.get_runtime(ctx).client
    conn = yield client.flow_manager.dial(naming.parse_endpoint(endpoint.lstrip("/")))
    types = client.types_for(conn)
    for i in range(count):
        types.enc.encode_type(vdl.struct("evil.T%d" % i, [("A", vdl.StringType),
                                                          ("B", vdl.Int64Type)]))
        if i % 1000 == 999:
            types.flush()
    types.flush()
    sys.stdout.write("SENT\n")
    sys.stdout.flush()
    stdio.StandardIO(_Quit())


if __name__ == "__main__":
    reactor.callWhenRunning(main, sys.argv[1], int(sys.argv[2]))
    reactor.run()
