"""Flow-layer micro benchmarks: codecs, NaCl box, and a sans-IO conn pair (no sockets).

Run: python benchmarks/flow_bench.py
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from v23py.flow import conn as fconn, message as m  # noqa: E402
from v23py.flow.crypto import BoxCipher, KeyPair  # noqa: E402


def bench(name, fn, n):
    t = time.perf_counter()
    for _ in range(n):
        fn()
    dt = time.perf_counter() - t
    print("%-40s %10.2f us/op" % (name, dt / n * 1e6))
    return dt / n


def main():
    bench("varuint(1<<20)", lambda: m.varuint(1 << 20), 200000)
    d = m.Data(1123, 0, b"x" * 100).encode()
    bench("decode Data (100B)", lambda: m.decode(d), 200000)
    s = m.Setup(10, 14, os.urandom(32), "", "@6@tcp@127.0.0.1:1@@00000000000000000000000000000001@s@a@@",
                65536, 1 << 20).encode()
    bench("decode Setup", lambda: m.decode(s), 100000)
    a, b = KeyPair(), KeyPair()
    ca, cb = BoxCipher(a.public, a.secret, b.public), BoxCipher(b.public, b.secret, a.public)
    for size in (1, 1024, 65536):
        payload = os.urandom(size)
        n = 20000 if size < 65536 else 2000
        t = bench("seal+open %d B" % size, lambda: cb.open(ca.seal(payload)), n)
        if size == 65536:
            print("%-40s %10.1f MB/s" % ("  => seal+open throughput", size / t / 1e6))

    # sans-IO pair: one flow streaming 64 MiB with release accounting
    from v23py.testing.flow import make_pair, pump
    dl, ac = make_pair()
    dl.start()
    ac.start()
    pump(dl, ac)
    f = dl.open_flow()
    chunk = os.urandom(1 << 20)
    total = 64 << 20
    t = time.perf_counter()
    sent = 0
    got = 0
    while got < total:
        if sent < total and f.out_len < (2 << 20):
            dl.write(f, chunk)
            sent += len(chunk)
        out = dl.data_to_send()
        if out:
            for e in ac.receive_data(out):
                if e[0] is fconn.DataReceived:
                    _, flow, data = e
                    got += len(data)
                    ac.consumed(flow, len(data))
        back = ac.data_to_send()
        if back:
            dl.receive_data(back)
    dt = time.perf_counter() - t
    print("%-40s %10.1f MB/s" % ("conn pair stream (encrypt+frame+decrypt)", total / dt / 1e6))




def twisted_bench():
    """Loopback TCP: connection setup time and 1-byte / 1 KB flow echo round trips."""
    from twisted.internet import defer, reactor
    from v23py import security
    from v23py.runtime.flowmanager import FlowManager
    from v23py.flow import Identity

    @defer.inlineCallbacks
    def run():
        server = FlowManager(Identity(signer=security.new_ecdsa_signer()))

        def handler(flow):
            flow.set_receiver(lambda d: flow.write(d))
        server.set_flow_handler(handler)
        port = yield server.listen("127.0.0.1:0")
        setups = []
        for _ in range(30):
            client = FlowManager(Identity(signer=security.new_ecdsa_signer()))
            t = time.perf_counter()
            yield client.dial(port.endpoint)
            setups.append(time.perf_counter() - t)
            yield client.stop()
        setups.sort()
        print("%-40s %10.2f ms (p90 %.2f)" % ("conn setup (dial+handshake)", setups[len(setups) // 2] * 1e3,
                                             setups[int(len(setups) * 0.9)] * 1e3))
        client = FlowManager(Identity(signer=security.new_ecdsa_signer()))
        conn = yield client.dial(port.endpoint)
        for size in (1, 1024):
            f = conn.open_flow()
            payload = b"x" * size
            lat = []
            for i in range(2000):
                t = time.perf_counter()
                f.write(payload)
                got = 0
                while got < size:
                    got += len((yield f.read()))
                lat.append(time.perf_counter() - t)
            lat.sort()
            print("%-40s %10.1f us (p99 %.1f)" % ("flow echo %d B median" % size, lat[len(lat) // 2] * 1e6,
                                                 lat[int(len(lat) * 0.99)] * 1e6))
            f.close()
        # request/response "calls": a new flow per call, 16 concurrent callers on one conn
        s2 = FlowManager(Identity(signer=security.new_ecdsa_signer()))
        s2.set_flow_handler(lambda f: f.set_receiver(lambda d: f.close(d)))
        p2 = yield s2.listen("127.0.0.1:0")
        c3 = yield client.dial(p2.endpoint)
        n_calls = 4000
        count = [0]

        @defer.inlineCallbacks
        def caller():
            while count[0] < n_calls:
                count[0] += 1
                f = c3.open_flow()
                f.write(b"d" + b"x" * 60)
                yield f.read()
        t = time.perf_counter()
        yield defer.gatherResults([caller() for _ in range(16)])
        print("%-40s %10.0f calls/s" % ("flow calls, 16 callers (1 process)", n_calls / (time.perf_counter() - t)))
        yield s2.stop()
        # streaming: one flow, 64 MiB client -> server (server discards)
        sink = FlowManager(Identity(signer=security.new_ecdsa_signer()))
        total = [0]
        done = defer.Deferred()
        n = 64 << 20

        def sink_handler(flow):
            def on_data(d):
                total[0] += len(d)
                if total[0] >= n and not done.called:
                    done.callback(None)
            flow.set_receiver(on_data)
        sink.set_flow_handler(sink_handler)
        sport = yield sink.listen("127.0.0.1:0")
        c2 = yield client.dial(sport.endpoint)
        f = c2.open_flow()
        chunk = os.urandom(1 << 20)
        t = time.perf_counter()
        for _ in range(n >> 20):
            yield f.write(chunk)
        yield done
        dt = time.perf_counter() - t
        print("%-40s %10.1f MB/s" % ("flow streaming over loopback", n / dt / 1e6))
        yield client.stop()
        yield sink.stop()
        yield server.stop()
        reactor.stop()

    reactor.callWhenRunning(run)
    reactor.run()


if __name__ == "__main__":
    main()
    twisted_bench()
