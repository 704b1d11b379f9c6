"""v23py.flow: Vanadium's connection ("flow") layer, wire-compatible with Go v0.2.0 (RPC version 14).

Layout
------
* ``v23py.flow.message``  sans-IO codecs: 3-byte inverted-length framing, varuint, every control
  message (Setup, TearDown, EnterLameDuck, AckLameDuck, Auth, OpenFlow, Release, Data,
  HealthCheckRequest/Response, proxy messages) with Go's exact byte layout.
* ``v23py.flow.crypto``   NaCl box (X25519 + crypto_box_beforenm + XSalsa20-Poly1305) with Go's
  per-direction nonce scheme, and the channel-binding bytes.
* ``v23py.flow.conn``     ``Conn``: the sans-IO connection state machine (dialer or acceptor role):
  ``conn.receive_data(bytes) -> [events]``, ``conn.data_to_send() -> bytes``, timers via
  ``conn.next_timeout()/handle_timeout(now)``.  Setup, version negotiation, encryption, Auth with the
  blessings flow (flow id 1), OpenFlow/Data/Release with Go's flow-control accounting, health
  checks, lame duck, teardown, many multiplexed flows on one connection.
* ``v23py.flow.auth``     ``Identity``: what a conn signs with and presents (from a principal).
* ``v23py.flow.proxy``    Go's proxy protocol, sans-IO (the runtime's ``links``/``websocket``
  modules run conns in message mode over a flow through a proxy or a WebSocket).

The Twisted adapter (``FlowManager``, ``ManagedConn``, ``Flow``) is the runtime's transport:
:mod:`v23py.runtime.flowmanager`.  Its API, as the RPC client and server use it:
::

    from v23py.runtime.flowmanager import FlowManager, Flow, ManagedConn
    from v23py.flow import Identity

    ident = Identity(principal)          # what the conn signs with / presents (see below)
    mgr = FlowManager(ident, reactor=None, routing_id=None,   # routing_id: RoutingId/16 bytes, random
                      handshake_timeout=60, channel_timeout=1800, mtu=65536, bytes_buffered=1 << 20)

    # --- server side ---
    mgr.set_flow_handler(handler)        # handler(flow: Flow) for every flow a peer opens (on
                                         # accepted AND dialed conns; bidirectional RPC).  May be
                                         # a plain function; exceptions are logged.
    port = await mgr.listen("127.0.0.1:0", protocol="tcp", blessing_names=None,
                            serves_mount_table=False)   # names default to the default blessings
    # protocol: "tcp", "ws" (WebSockets) or "wsh" (both on one port; dialing wsh is TCP)
    port.endpoint      # v23py.naming endpoint of this listener (carries routing id + blessing names)
    port.port          # the Twisted IListeningPort
    mgr.endpoints()    # list of endpoints of all listeners
    await port.stop()  # stop accepting
    pl = await mgr.proxy_listen(proxy_endpoint, on_update=None)   # listen through a proxy
    pl.endpoints       # what the proxy gives us; on_update(eps) on changes, pl.done when it ends

    # --- client side ---
    conn = await mgr.dial(endpoint, authorize=None, timeout=60.0)
        # endpoint: a v23py.naming endpoint object or its string ("@6@tcp@host:port@@rid@s@names@@")
        #           or "host:port".  An endpoint whose routing id is not that of the peer at
        #           its address is reached through that peer, a proxy (as Go does).
        #           Conns are cached per (address, routing id) and reused (a
        #           rid-less dial reuses any conn to the address; concurrent dials share one);
        #           a dead/lame-duck conn is replaced.  Fails with a VError (v.io/v23/flow.DialFailed
        #           when the TCP connect fails, verror.Timeout, NotTrusted, conn.* handshake errors)
        #           -- never hangs past ``timeout``.
        # authorize: optional callable(conn) -> None, raising VError(NotTrusted) to refuse the
        #           server (called after the server's Auth was verified, before our Auth is sent;
        #           on a cached conn it is called again and only this dial fails).
    conn.remote_blessings      # the peer's conn-level security.Blessings (nameless for a pure client)
    conn.remote_public_key     # DER bytes of the peer's public key (bound to the channel)
    conn.remote_endpoint / conn.local_endpoint     # naming endpoints (remote RID filled in)
    conn.version               # negotiated RPC version (14)
    conn.closed                # Deferred fired with the close reason (a VError or None) when closed

    flow = conn.open_flow(side_channel=False, blessings=None)
        # Synchronous; returns a Flow.  Nothing goes on the wire until the first write (OpenFlow).
        # blessings: security.Blessings to present for this flow (default: the conn-level ones).

    # --- Flow (both dialed and accepted flows) ---
    flow.id, flow.conn, flow.dialed (bool), flow.side_channel (bool)
    flow.remote_blessings      # per-flow blessings of the peer (for accepted flows: from OpenFlow)
    flow.local_blessings
    flow.write(data)           # bytes-like; queues immediately (never blocks); split into MTU-sized
                               # OpenFlow/Data messages as flow-control tokens allow.  Returns a
                               # Deferred that fires when all bytes went to the transport (use it for
                               # backpressure when streaming; ignoring it is fine; if the flow dies
                               # first it fires with None).  Raises VError if the flow is closed.
    flow.close(data=b"")       # optional final data + CloseFlag; idempotent.  Returns a Deferred.
                               # Go semantics: a close ends the flow in BOTH directions.  After the
                               # peer closed, writes raise and pending output is dropped; after a
                               # local close, late incoming data is dropped.  So an RPC client must
                               # read the whole response before closing, and a server closes last.
    # receiving -- pick ONE style per flow:
    flow.set_receiver(on_data, on_close=None, bytearrays=False)
        # push: on_data(bytes) for every chunk (buffered chunks are delivered immediately);
        #       on_close(reason) once: reason None for a clean remote close, else a VError.
        #       bytearrays=True: a long message's payload may come as a bytearray instead,
        #       the receiver's to keep and change (it was decrypted in place: no copy).
    d = flow.read()            # pull: Deferred[bytes]; b"" at EOF (remote close); errbacks VError
                               # if the conn died.
    flow.closed                # Deferred fired (with None or VError) when the flow is closed either way
    # Flow-control "release" credits are returned to the peer automatically when data is delivered
    # to on_data / read(), so a flow that is never read back-pressures the peer (never overflows it).

    conn.when_ready()          # Deferred[ManagedConn] once the handshake is done (dial() already waits)
    conn.close(error=None)     # TearDown (error text sent to the peer) and drop; returns conn.closed
    conn.enter_lame_duck()     # EnterLameDuck; Deferred fires on the peer's AckLameDuck
    conn.is_usable / conn.is_closed / conn.remote_lame_duck / conn.mtu / conn.rtt

    await mgr.stop(lame_duck_timeout=1.0)  # stop listeners, lame duck (bounded wait), TearDown all

Identity (what the flow layer needs from security)
--------------------------------------------------
``Identity(principal)`` (or ``Identity(signer=security_signer, blessings=None)`` without a full
principal) adapts ``v23py.security``.  FlowManager also accepts a bare principal.  It provides
``identity.sign(msg)`` (purpose "S1"), ``identity.public_key``, ``identity.nameless()``,
``identity.default_blessings()`` (BlessingStore default, else nameless; presented by listeners and
by dialers of a manager that listens -- a pure client presents a nameless blessing, as Go does) and
``identity.blessings_for_peer(*server_names)`` (BlessingStore.for_peer, else nameless): the RPC
client passes that as ``open_flow(blessings=...)``.  Remote blessings are ``security.Blessings``
objects (validated by ``security.blessings_from_wire``); ``conn.remote_public_key`` is DER bytes.

Output: what flows write while the reactor handles received bytes (or inside
``with output_batch():``) leaves in one socket write per connection at the end of that work.

Errors: all failures are ``v23py.verror.VError`` with Go ids (flow message errors use
``v.io/v23/flow/message.InvalidMsg`` etc., conn errors ``v.io/x/ref/runtime/internal/flow/conn.*``).
"""

__all__ = ["Identity", "SecurityAuth"]


def __getattr__(name):  # lazy: importing v23py.flow does not pull in security
    if name in ("Identity", "SecurityAuth"):
        from . import auth
        return getattr(auth, name)
    raise AttributeError(name)
