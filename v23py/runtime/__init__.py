"""The v23py runtime: Go's runtime flags, credentials, the client, servers, shutdown.

    import v23py
    flags = v23py.FlagSet("fortune-server")
    name = flags.string("service-name", "", "Name for service in default mount table.")
    ctx, shutdown = v23py.init(flags=flags)        # parses sys.argv[1:] with Go's flag syntax
    server = await v23py.with_new_server(ctx, "", FortuneServer(impl), None)
    await v23py.wait_for_signal(ctx)               # SIGINT / SIGTERM
    await shutdown()

Flags follow Go's ``flag`` package: ``-f``, ``--f``, ``-f=v``, ``-f v``; a bool
flag never takes the next argument (``-f=false``); parsing stops at the first
positional argument, a lone ``-``, or ``--``.  The runtime registers Go's
``--v23.*`` flags (and accepts the vlog flags); values fall back to the
environment (V23_CREDENTIALS, V23_NAMESPACE*).  Without credentials the
runtime makes an in-memory principal blessed as ``anonymous-<fruit>-<pid>@<host>``.
"""
from __future__ import annotations

import logging
import os
import random
import signal
import socket
import sys
import time
from typing import TYPE_CHECKING, Any, Awaitable, Callable, NoReturn, Optional, Sequence

from twisted.internet import defer

from v23py import context as v23context
from v23py.deferred import adopt as _adopt
from v23py import verror
from v23py.flags import (  # noqa: F401 (the runtime's API)
    FlagError as FlagError, FlagSet as FlagSet, parse_duration, version_text)
from v23py.naming.endpoint import Endpoint
from v23py.naming.names import split_address_name

from .proxymgr import ProxyManager, check_policy
from ._stats import ClientStats

if TYPE_CHECKING:
    from v23py.context import Context
    from v23py.deferred import AwaitableDeferred
    from v23py.runtime.server import Server

log = logging.getLogger(__name__)

RUNTIME_KEY = v23context.RUNTIME_KEY
PUBLISH_PERIOD = 60      # seconds between re-mounts, as Go's publisher
PUBLISH_TTL = 80         # mount TTL in seconds: the period plus 20 s of slack
DEFAULT_NAMESPACE_ROOT = "/(dev.v.io:r:vprod:service:mounttabled)@ns.dev.v.io:8101"


def add_runtime_flags(fs):
    """Register Go's v23 runtime flags (and the vlog flags) on ``fs``."""
    fs.string("v23.credentials", "", "directory to use for storing security credentials")
    fs.list("v23.namespace.root", [], "local namespace root; can be repeated to provided "
            "multiple roots")
    fs.string("v23.tcp.protocol", "wsh", "protocol to listen with")
    fs.list("v23.tcp.address", [], "address to listen on")
    fs.string("v23.proxy", "", "object name of proxy service to use to export services "
              "across network boundaries")
    fs.string("v23.proxy.policy", "first", "policy for choosing from a set of available proxy "
              "instances")
    fs.int("v23.proxy.limit", 0, "max number of proxies to connect to")
    fs.list("v23.permissions.file", [], "specify a perms file as <name>:<permsfile>")
    fs.string("v23.permissions.literal", "", "explicitly specify the runtime perms as a "
              "JSON-encoded access.Permissions")
    fs.string("v23.i18n-catalogue", "", "i18n catalogue files (ignored)")
    fs.float("v23.vtrace.sample-rate", 0.0, "Rate (from 0.0 to 1.0) to sample vtrace traces")
    fs.bool("v23.vtrace.dump-on-shutdown", True, "If true, dump all stored traces on runtime "
            "shutdown")
    fs.int("v23.vtrace.cache-size", 1024, "The number of vtrace traces to store in memory")
    fs.int("v23.vtrace.v", 0, "The verbosity level of the log messages to be captured in traces")
    fs.string("v23.vtrace.collect-regexp", "", "Spans and annotations that match this regular "
              "expression will trigger trace collection")
    fs.bool("v23.vtrace.enable-aws-xray", False, "Enable the use of AWS x-ray integration with "
            "vtrace")
    fs.string("v23.vtrace.root-span-name", "", "Set the name of the root vtrace span created by "
              "the runtime at startup")
    fs.string("metrics-address", "", "if non-empty, serve the process's statistics in "
              "Prometheus' text format on this host:port (/metrics)")
    from v23py import vlog
    vlog.add_flags(fs)
    for name, kind in (("v23.virtualized.docker", "bool"), ("v23.virtualized.provider", "string"),
                       ("v23.virtualized.disallow-native-fallback", "bool"),
                       ("v23.virtualized.tcp.public-protocol", "string"),
                       ("v23.virtualized.tcp.public-address", "string"),
                       ("v23.virtualized.dns.public-name", "string"),
                       ("v23.virtualized.advertise-private-addresses", "bool"),
                       ("v23.metadata", "bool"), ("time", "bool")):
        getattr(fs, kind)(name, False if kind == "bool" else (0 if kind in ("int", "float")
                                                              else ""), "")
    return fs


def _accepts_read_only(fn):
    import inspect
    try:
        return "read_only" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def _default_blessing_name():
    fruit = random.Random(int(time.time())).choice(
        ["apple", "banana", "cherry", "dragonfruit", "elderberry", "fig", "grape", "honeydew"])
    name = f"anonymous-{fruit}-{os.getpid()}"
    host = socket.gethostname()
    if not host or host == "(none)":
        return name
    return name + "@" + host


def _namespace_roots(fs):
    from v23py.flags import namespace_roots
    return namespace_roots(fs, DEFAULT_NAMESPACE_ROOT)


class Runtime:
    """Holds the principal, flags, client and servers of one process."""

    def __init__(self, flags, principal=None, reactor=None):
        self.flags = flags
        self.reactor = reactor
        self.principal = principal or self._load_principal()
        self.namespace_roots = _namespace_roots(flags)
        self.servers = []
        self._client = None
        self._client_manager = None
        self.shutdown_callbacks = []
        self._shutdown = None
        self._namespace = None

    # -- flags -----------------------------------------------------------------
    @property
    def credentials(self):
        return self.flags.get("v23.credentials") or os.environ.get("V23_CREDENTIALS", "")

    def listen_spec(self):
        """(protocol, [addresses]) from --v23.tcp.*; default tcp on 127.0.0.1:0... as Go (:0)."""
        protocol = self.flags.get("v23.tcp.protocol") or "wsh"
        addrs = list(self.flags.get("v23.tcp.address")) or [":0"]
        return protocol, addrs

    def listen_addrs(self):
        """[(protocol, "host:port")] to listen on, from --v23.tcp.* (":0" listens on
        127.0.0.1, ":PORT" on every interface); the protocol is Go's default, ``wsh``
        (plain TCP and WebSockets on one port), unless --v23.tcp.protocol says otherwise."""
        protocol, addrs = self.listen_spec()
        out = []
        for a in addrs:
            host, _, port = a.rpartition(":")
            if not host:
                host = "0.0.0.0" if port not in ("", "0") else "127.0.0.1"
            out.append((protocol, f"{host}:{port or 0}"))
        return out

    def permissions(self):
        """Runtime permissions from --v23.permissions.* as {name: json text}."""
        out = {}
        lit = self.flags.get("v23.permissions.literal")
        if lit:
            out["runtime"] = lit
            return out
        for spec in self.flags.get("v23.permissions.file"):
            name, _, path = spec.partition(":")
            with open(path) as f:
                out[name] = f.read()
        return out

    def _load_principal(self):
        from v23py import security
        creds = self.credentials
        if creds:
            try:
                return security.load_principal(creds, read_only=True) \
                    if _accepts_read_only(security.load_principal) \
                    else security.load_principal(creds)
            except verror.VError as e:
                raise verror.VError(e.id, e.retry_code,
                                    "failed to initialize credentials, perhaps you need to "
                                    f"create them with 'principal create {creds}': {e.msg}",
                                    e.params)
        p = security.random_principal()
        b = p.bless_self(_default_blessing_name())
        p.blessing_store.set_default(b)
        try:
            p.blessing_store.set(b, "...")
        except Exception:
            pass
        p.add_to_roots(b)
        return p

    # -- observability ---------------------------------------------------------
    def _observability(self, ctx):
        """Logging from the vlog flags, the vtrace store and root trace, the process's
        statistics and the __debug dispatcher its servers share."""
        from v23py import vlog, vtrace
        from v23py.services import debug
        from v23py.stats import sysstats
        f = self.flags
        if "v" in f.flags:
            try:
                vlog.configure_from_flags(f)
            except ValueError as e:
                raise FlagError(str(e))
        ctx, self.vtrace_store = vtrace.init(
            ctx, sample_rate=f.get("v23.vtrace.sample-rate"),
            collect_regexp=f.get("v23.vtrace.collect-regexp"),
            cache_size=f.get("v23.vtrace.cache-size"), log_level=f.get("v23.vtrace.v"),
            root_span_name=f.get("v23.vtrace.root-span-name"),
            aws_xray=f.get("v23.vtrace.enable-aws-xray"))
        sysstats.register()
        sysstats.register_principal(self.principal)
        self.shutdown_callbacks.append(
            ClientStats(lambda: self._client, id(self)).stop)
        self.debug_dispatcher = debug.dispatcher_for_runtime(self.permissions(),
                                                             self.vtrace_store)
        self.metrics_port = None
        addr = f.get("metrics-address") if "metrics-address" in f.flags else ""
        if addr:
            from v23py.stats import prometheus
            self.metrics_port = prometheus.serve(addr, self.reactor)
            self.shutdown_callbacks.append(self.metrics_port.stopListening)
            logging.getLogger(__name__).info(
                "metrics at http://%s:%d/metrics", self.metrics_port.getHost().host,
                self.metrics_port.getHost().port)
        logging.getLogger(__name__).log(
            vlog.V(1), "RuntimeFlags: %s",
            {k: v.value for k, v in sorted(f.flags.items()) if v.set})
        return ctx

    def dump_traces(self, out=None):
        """Print the collected traces (Go's --v23.vtrace.dump-on-shutdown)."""
        from v23py import vtrace
        store = getattr(self, "vtrace_store", None)
        if store is not None:
            vtrace.format_traces(out or sys.stderr, store.trace_records())

    # -- client ------------------------------------------------------------------
    def _new_flow_manager(self, listening=False):
        from v23py.runtime.flowmanager import FlowManager
        from v23py.flow.auth import Identity
        from v23py import security
        if listening:
            ident = Identity(self.principal)
        else:
            try:
                nb = security.nameless_blessing(self.principal.public_key)
                ident = Identity(self.principal, blessings=nb)
            except Exception:
                ident = Identity(self.principal)
        return FlowManager(ident, reactor=self.reactor)

    @property
    def client(self):
        if self._client is None:
            from v23py.runtime.client import Client
            self._client_manager = self._new_flow_manager(listening=False)
            self._client = Client(None, self.principal, self._client_manager,
                                  self.namespace_roots)
            self._client.namespace_provider = lambda: self.namespace
        return self._client

    # -- servers -----------------------------------------------------------------
    async def _start_server(self, ctx, name, dispatcher, is_leaf, **kw):
        from v23py.runtime.server import Server
        mgr = self._new_flow_manager(listening=True)
        kw.setdefault("reserved_dispatcher", getattr(self, "debug_dispatcher", None))
        server = Server(ctx, name, dispatcher, principal=self.principal, flow_manager=mgr,
                        is_leaf=is_leaf, **kw)
        await self._keep_discharges(ctx, mgr)
        for protocol, address in self.listen_addrs():
            await server.listen(address, protocol=protocol)
        self.servers.append(server)
        if name:
            self._publish(ctx, server, name)
        proxy = self.flags.get("v23.proxy")
        if proxy:
            pm = ProxyManager(ctx, server, proxy, self.flags.get("v23.proxy.policy"),
                              self.flags.get("v23.proxy.limit"), self._resolve_endpoints,
                              reactor=self.reactor)
            server.proxy_manager = pm
            pm.start()
        return server

    async def _keep_discharges(self, ctx, mgr, first_wait=10.0):
        """If our blessings carry third-party caveats, get their discharges before serving
        (waiting at most `first_wait` s) and keep them fresh, so that every connection we
        accept presents them (Go prepares them per accepted connection, from its cache)."""
        p = self.principal
        b = p.blessing_store.default()
        if b is None or b.is_zero() or not b.third_party_caveats():
            return
        reactor = self.reactor
        if reactor is None:
            from twisted.internet import reactor
        state = {"timer": None, "stopped": False}

        async def refresh():
            try:
                ds, when = await self.client.own_discharges(ctx, b, first_wait)
            except Exception:
                log.debug("preparing our discharges failed", exc_info=True)
                ds, when = None, None
            if state["stopped"]:
                return
            mgr.set_local_discharges(ds)
            delay = 60.0
            if when is not None:
                import datetime
                now = datetime.datetime.now(datetime.timezone.utc)
                delay = max(1.0, (when - now).total_seconds())
            state["timer"] = reactor.callLater(delay, lambda: defer.ensureDeferred(refresh()))

        def stop():
            state["stopped"] = True
            t = state["timer"]
            if t is not None and t.active():
                t.cancel()
        self.shutdown_callbacks.append(stop)
        first = defer.ensureDeferred(refresh())
        await _bounded(first, first_wait)

    async def _resolve_endpoints(self, ctx, name):
        """The endpoints ``name`` resolves to (names with a suffix are skipped), for
        dialing proxies; VError when there is none."""
        self.namespace.flush_cache_entry(name)
        eps = []
        for full in await self.namespace.resolve_names(ctx, name):
            addr, suffix = split_address_name(full)
            if suffix:
                continue
            try:
                eps.append(Endpoint.parse(addr))
            except Exception:
                continue
        if not eps:
            raise verror.NoServers.new(f"failed to resolve {name} to an endpoint")
        return eps

    @property
    def namespace(self):
        """The namespace client (v23py.runtime.namespace.Namespace) over this runtime's RPC client."""
        if self._namespace is None:
            from v23py.runtime.namespace import Namespace, RpcTransport
            from v23py.runtime.trust import trust_opts   # /host:port roots carry no blessings
            self._namespace = Namespace(self.namespace_roots,
                                        RpcTransport(self.client, trust_opts()))
        return self._namespace

    def _publish(self, ctx, server, name):
        """Keep the server mounted under name (Go's publisher: in the background, every
        60 s with an 80 s TTL; unmounted when the server stops)."""
        from v23py.runtime.publisher import Publisher
        pub = Publisher(ctx, self.namespace, self.reactor, period=PUBLISH_PERIOD,
                        slack=PUBLISH_TTL - PUBLISH_PERIOD)
        for ep in server.endpoints:
            pub.add_server(ep)
        pub.add_name(name, serves_mount_table=server.serves_mount_table,
                     is_leaf=server.is_leaf)
        server.publisher = pub
        return pub

    def new_server(self, ctx, name, obj, authorizer=None, **kw):
        from v23py.runtime.server import LeafDispatcher
        return _adopt(defer.ensureDeferred(self._start_server(
            ctx, name, LeafDispatcher(obj, authorizer), True, **kw)))

    def new_dispatching_server(self, ctx, name, dispatcher, **kw):
        return _adopt(defer.ensureDeferred(self._start_server(ctx, name, dispatcher, False, **kw)))

    async def shutdown(self, timeout=1.0):
        """Stop servers and connections (once); each step is bounded by ``timeout`` seconds."""
        if self._shutdown is not None:
            d = defer.Deferred()
            self._shutdown.addBoth(lambda r: (d.callback(None), r)[1])
            await d
            return
        self._shutdown = defer.Deferred()
        try:
            await self._shutdown_steps(timeout)
        finally:
            self._shutdown.callback(None)

    async def _shutdown_steps(self, timeout):
        for cb in reversed(self.shutdown_callbacks):
            await _bounded(defer.maybeDeferred(cb), timeout)
        for s in self.servers:
            await _bounded(defer.ensureDeferred(s.stop()), timeout)
        self.servers = []
        if self._client_manager is not None:
            await _bounded(defer.maybeDeferred(self._client_manager.stop), timeout)
            self._client_manager = None
            self._client = None
        if self.flags.get("v23.vtrace.dump-on-shutdown") if "v23.vtrace.dump-on-shutdown" \
                in self.flags.flags else False:
            self.dump_traces()


async def _bounded(d, timeout):
    """Wait for d, at most timeout seconds; errors are swallowed (shutdown is best effort)."""
    from twisted.internet import reactor
    done = defer.Deferred()

    def fire(_=None):
        if not done.called:
            done.callback(None)
    d.addBoth(lambda r: (fire(), None)[1])
    timer = reactor.callLater(timeout, fire)
    await done
    if timer.active():
        timer.cancel()


def _check_proxy_policy(fs):
    v = fs.get("v23.proxy.policy")
    try:
        check_policy(v)
    except verror.VError as e:
        raise FlagError(f'invalid value "{v}" for flag -v23.proxy.policy: {e.msg}') from None


def init(argv: Optional[Sequence[str]] = None, flags: Optional[FlagSet] = None,
         principal: Any = None, reactor: Any = None, exit_on_error: bool = True,
         ) -> tuple[Context, Callable[[], AwaitableDeferred[None]]]:
    """Parse the runtime flags; return ``(ctx, shutdown)``.

    ``shutdown()`` returns a Deferred that stops servers and connections.
    The positional arguments are left in ``flags.args``.
    """
    fs = flags if flags is not None else FlagSet()
    add_runtime_flags(fs)
    if argv is None:
        argv = sys.argv[1:]
    try:
        fs.parse(argv)
        _check_proxy_policy(fs)
    except FlagError as e:
        if str(e) == "version requested" and exit_on_error:
            sys.stdout.write(version_text(fs.name))
            sys.exit(0)
        if not exit_on_error:
            raise
        if str(e) != "help requested":
            sys.stderr.write(f"{e}\n")
        fs.usage()
        sys.exit(2 if str(e) != "help requested" else 0)
    try:
        rt = Runtime(fs, principal=principal, reactor=reactor)
    except verror.VError as e:
        if not exit_on_error:
            raise
        # Go's v23.Init panics here; a clear line and a non-zero exit serve users better.
        sys.stderr.write(f"v23.Init failed: {e}\n")
        sys.exit(1)
    ctx = v23context.root(clock=reactor).with_value(RUNTIME_KEY, rt)
    ctx = rt._observability(ctx)
    rt.client.ctx = ctx
    from twisted.internet import reactor as default_reactor
    r = reactor or default_reactor
    # a reactor stopping (e.g. Twisted's own SIGINT/SIGTERM handling) shuts the runtime down
    trigger = r.addSystemEventTrigger("before", "shutdown",
                                      lambda: defer.ensureDeferred(rt.shutdown()))

    def shutdown() -> AwaitableDeferred[None]:
        try:
            r.removeSystemEventTrigger(trigger)
        except (ValueError, KeyError, TypeError):
            pass
        return _adopt(defer.ensureDeferred(rt.shutdown()))
    return ctx, shutdown


def get_runtime(ctx: Context) -> Runtime:
    rt = ctx.value(RUNTIME_KEY)
    if rt is None:
        raise verror.BadState.new("context not initialized: call v23py.init() first")
    return rt


def get_principal(ctx: Context) -> Any:
    return get_runtime(ctx).principal


def with_new_server(ctx: Context, name: str, obj: object, authorizer: Any = None,
                    **kw: Any) -> AwaitableDeferred[Server]:
    """Deferred firing with a Server serving obj (Go's v23.WithNewServer, without the ctx)."""
    return get_runtime(ctx).new_server(ctx, name, obj, authorizer, **kw)


def with_new_dispatching_server(ctx: Context, name: str, dispatcher: Any,
                                **kw: Any) -> AwaitableDeferred[Server]:
    return get_runtime(ctx).new_dispatching_server(ctx, name, dispatcher, **kw)


def wait_for_signal(ctx: Optional[Context] = None,
                    signals: Sequence[int] = (signal.SIGINT, signal.SIGTERM),
                    ) -> defer.Deferred[Optional[int]]:
    """Deferred fired at the first SIGINT/SIGTERM (with the signal number), or when the
    reactor starts shutting down for any other reason (with None).

    The handlers are installed once the reactor runs, after Twisted's own.
    """
    from twisted.internet import reactor
    d = defer.Deferred()

    def fire(value):
        if not d.called:
            d.callback(value)

    def handler(signum, frame):
        reactor.callFromThread(fire, signum)

    def install():
        for s in signals:
            signal.signal(s, handler)
    install()                            # at once: a signal may come before the reactor turns
    if not reactor.running:
        reactor.callWhenRunning(install)  # and again after Twisted installed its own
    reactor.addSystemEventTrigger("before", "shutdown", fire, None)
    return d


def run_program(coro_fn: Callable[[Any, Sequence[str]], Awaitable[Optional[int]]],
                argv: Sequence[str], default_code: int = 1) -> NoReturn:
    """Run ``await coro_fn(reactor, argv)`` under the reactor and exit with the
    code it returns.  A SystemExit inside gives its code; any other error is one
    ``ERROR:`` line and exit 1; ``default_code`` when the reactor stopped first."""
    from twisted.internet import task
    result = []

    def go(reactor):
        d = defer.ensureDeferred(coro_fn(reactor, argv))
        d.addCallback(result.append)

        def failed(f):
            if f.check(SystemExit):
                result.append(f.value.code if isinstance(f.value.code, int) else 0)
                return None
            sys.stderr.write(f"ERROR: {f.getErrorMessage()}\n")
            result.append(1)
        return d.addErrback(failed)
    try:
        task.react(go)
    except SystemExit as e:
        if e.code not in (0, None):
            raise
    sys.exit(result[0] if result else default_code)
