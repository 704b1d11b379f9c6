"""v23py from asyncio code.

::

    import asyncio
    import v23py
    import v23py.aio
    from fortune.ifc import FortuneClient

    async def main() -> None:
        async with v23py.aio.init(["--v23.credentials", "/path/to/creds"]) as ctx:
            print(await FortuneClient("fortune").Get(ctx))

    asyncio.run(main())

:func:`init` installs Twisted's asyncio reactor on the running event loop (so
Twisted and asyncio share one loop), initializes the runtime as
:func:`v23py.init` does, and shuts it down when the ``async with`` block ends.
Inside it:

* every asynchronous v23py API (generated client stubs, streams, servers,
  the Syncbase client, the namespace) returns a
  :class:`v23py.deferred.AwaitableDeferred`, which asyncio code awaits
  directly;
* ``async def`` methods of the objects you serve run as asyncio tasks, so they
  may await asyncio code (``asyncio.sleep``, aiohttp, ...) as well as v23py
  calls;
* a plain Twisted ``Deferred`` from elsewhere is awaited with
  ``await v23py.aio.wrap(d)``.

The reactor must not have been installed before :func:`init` runs: import
``twisted.internet.reactor`` (directly or through another library) only after
it, or call :func:`install_reactor` first thing in your ``async def main``.
One process runs one event loop with the reactor: ``asyncio.run`` once.
"""
from __future__ import annotations

import asyncio
import signal
import sys
from types import TracebackType
from typing import TYPE_CHECKING, Any, Optional, Sequence, TypeVar

from twisted.internet import defer

from v23py import deferred

if TYPE_CHECKING:
    from v23py.context import Context
    from v23py.security import Principal
    from v23py.runtime import FlagSet

__all__ = ["init", "install_reactor", "wrap", "wait_for_signal", "Init"]

_T = TypeVar("_T")


def install_reactor() -> Any:
    """Install Twisted's asyncio reactor on the running loop (once); return the reactor.

    Raises RuntimeError when another reactor, or an asyncio reactor on another loop,
    was installed already.
    """
    loop = asyncio.get_running_loop()
    if "twisted.internet.reactor" not in sys.modules:
        from twisted.internet import asyncioreactor
        asyncioreactor.install(loop)  # type: ignore[no-untyped-call]
    from twisted.internet import reactor
    if getattr(reactor, "_asyncioEventloop", None) is not loop:
        raise RuntimeError(
            "v23py.aio needs Twisted's asyncio reactor on the running event loop, but "
            f"{type(reactor).__name__} was installed first: call v23py.aio.init() (or "
            "v23py.aio.install_reactor()) before anything imports twisted.internet.reactor, "
            "and run one event loop per process")
    if not reactor.running:
        # the loop is asyncio's to run: mark the reactor started without running it
        reactor.startRunning(installSignalHandlers=False)
    deferred.set_asyncio_servers(True)
    return reactor


def wrap(d: defer.Deferred[_T]) -> deferred.AwaitableDeferred[_T]:
    """A Twisted Deferred made awaitable from asyncio (v23py's own are already)."""
    return deferred.adopt(d)


class Init:
    """``async with v23py.aio.init(...) as ctx``: the runtime for the block's duration."""

    def __init__(self, argv: Optional[Sequence[str]], flags: Optional[FlagSet],
                 principal: Optional[Principal]) -> None:
        self._argv = list(argv) if argv is not None else None
        self._flags = flags
        self._principal = principal
        self._shutdown: Any = None
        self.ctx: Optional[Context] = None

    async def __aenter__(self) -> Context:
        install_reactor()
        from v23py import runtime
        ctx, self._shutdown = runtime.init(self._argv, flags=self._flags,
                                           principal=self._principal, exit_on_error=False)
        self.ctx = ctx
        return ctx

    async def __aexit__(self, exc_type: Optional[type[BaseException]],
                        exc: Optional[BaseException], tb: Optional[TracebackType]) -> None:
        shutdown, self._shutdown = self._shutdown, None
        if shutdown is not None:
            await wrap(shutdown())


def init(argv: Optional[Sequence[str]] = (), flags: Optional[FlagSet] = None,
         principal: Optional[Principal] = None) -> Init:
    """The runtime as an async context manager (see the module's documentation).

    ``argv`` are the runtime's command-line flags (``--v23.credentials`` ...; default
    none, so that a program's own arguments are not taken for them: pass
    ``sys.argv[1:]`` to parse the command line as :func:`v23py.init` does).
    Bad flags raise ``v23py.runtime.FlagError`` instead of exiting.
    """
    return Init(argv, flags, principal)


async def wait_for_signal(signals: Sequence[int] = (signal.SIGINT, signal.SIGTERM)) -> int:
    """Until the first of ``signals`` arrives; returns its number."""
    loop = asyncio.get_running_loop()
    got: asyncio.Future[int] = loop.create_future()
    def fire(signum: int) -> None:
        if not got.done():
            got.set_result(signum)
    for s in signals:
        loop.add_signal_handler(s, fire, s)
    try:
        return await got
    finally:
        for s in signals:
            loop.remove_signal_handler(s)
