"""Deferreds that Twisted code and asyncio code can both ``await``.

Every asynchronous v23py API returns an :class:`AwaitableDeferred`: a Twisted
``Deferred`` (``addCallback``, ``yield`` in ``inlineCallbacks``, ``await`` in a
coroutine that Twisted drives) which an asyncio task may ``await`` as well.  A
plain ``Deferred`` cannot be awaited by asyncio (``Task got bad yield``).

Which of the two is awaiting is found from the awaiting coroutine's stack: the
frames of the chain of coroutines awaiting one another end either in Twisted's
coroutine driver (``twisted.internet.defer``) or somewhere else (asyncio's task
step); only in the second case is the Deferred bridged to an asyncio Future, on
the running loop.  That is why one object serves both, and why a coroutine that
Twisted runs inside an asyncio program still awaits Deferreds as Twisted does.

:func:`run_user_coroutine` is the other half, for servers: under
:mod:`v23py.aio`, an ``async def`` method of a served object that the program
itself wrote runs as an asyncio task, so it may await asyncio code too.
"""
from __future__ import annotations

import inspect
import sys
from types import FrameType
from typing import TYPE_CHECKING, Any, Callable, Coroutine, Generator, Optional, TypeVar, cast

from twisted.internet import defer

if TYPE_CHECKING:
    from asyncio import AbstractEventLoop

__all__ = ["AwaitableDeferred", "adopt", "awaitable", "succeed", "fail", "ensure", "run_user_coroutine",
           "set_asyncio_servers"]

_T = TypeVar("_T")

_TWISTED_DEFER = defer.__name__
_COROUTINE_FLAGS = inspect.CO_COROUTINE | inspect.CO_ITERABLE_COROUTINE | inspect.CO_ASYNC_GENERATOR


def _running_loop_once_asyncio_runs() -> Optional[AbstractEventLoop]:
    """asyncio's running loop, or None.  No asyncio loop can run before asyncio's event
    module has (syncbased's start defers asyncio until something uses it); once it has,
    its own function (C, never raises) answers, in this one's place."""
    global _get_running_loop
    get = getattr(sys.modules.get("asyncio.events"), "_get_running_loop", None)
    if get is None:
        return None
    _get_running_loop = get
    return cast("Optional[AbstractEventLoop]", get())


_get_running_loop: Callable[[], Optional[AbstractEventLoop]] = _running_loop_once_asyncio_runs


def _asyncio_is_awaiting() -> bool:
    """True when the coroutine awaiting us (two frames up) is run by an asyncio task."""
    if _get_running_loop() is None:
        return False      # no asyncio loop: Twisted's own reactor, the common case
    f: Optional[FrameType] = sys._getframe(2)
    while f is not None and f.f_code.co_flags & _COROUTINE_FLAGS:
        f = f.f_back
    if f is None:
        return False
    return f.f_globals.get("__name__") != _TWISTED_DEFER


class AwaitableDeferred(defer.Deferred[_T]):
    """A Twisted Deferred that an asyncio task may also await."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, _T]:
        if _asyncio_is_awaiting():
            loop = _get_running_loop()
            assert loop is not None
            return self.asFuture(loop).__await__()
        return super().__await__()


def adopt(d: defer.Deferred[_T]) -> AwaitableDeferred[_T]:
    """``d`` made awaitable from asyncio.

    A plain Deferred is returned itself (only its class changes, which costs nothing and
    keeps its callbacks and cancellation); another subclass gets a new AwaitableDeferred
    that follows it.
    """
    t = type(d)
    if t is AwaitableDeferred:
        return cast(AwaitableDeferred[_T], d)
    if t is defer.Deferred:
        d.__class__ = AwaitableDeferred
        return cast(AwaitableDeferred[_T], d)
    r: AwaitableDeferred[_T] = AwaitableDeferred(lambda _: d.cancel())
    d.addBoth(_relay, r)
    return r


def _relay(result: Any, target: defer.Deferred[Any]) -> None:
    if not target.called:          # (a cancelled target has fired already)
        target.callback(result)    # a Failure goes to the errbacks


def succeed(value: _T) -> AwaitableDeferred[_T]:
    """An AwaitableDeferred that has already fired with ``value``."""
    return adopt(defer.succeed(value))


def fail(error: BaseException | None = None) -> AwaitableDeferred[Any]:
    """An AwaitableDeferred that has already failed with ``error`` (the current one if None)."""
    return adopt(defer.fail(error))


def ensure(r: Any) -> AwaitableDeferred[Any]:
    """An AwaitableDeferred for a Deferred, a coroutine (run by Twisted) or a plain value."""
    if isinstance(r, defer.Deferred):
        return adopt(r)
    if inspect.isawaitable(r):
        return adopt(defer.ensureDeferred(_await(r)))
    return succeed(r)


async def _await(a: Any) -> Any:
    return await a


def awaitable(fn: Callable[..., Coroutine[Any, Any, _T]]) -> Callable[..., AwaitableDeferred[_T]]:
    """Decorate an ``async def`` API: calls run under Twisted and return an AwaitableDeferred."""
    def call(*args: Any, **kw: Any) -> AwaitableDeferred[_T]:
        return adopt(defer.ensureDeferred(fn(*args, **kw)))
    call.__name__, call.__qualname__, call.__doc__ = fn.__name__, fn.__qualname__, fn.__doc__
    call.__module__ = fn.__module__
    call.__wrapped__ = fn  # type: ignore[attr-defined]
    return call


# -- servers under asyncio ------------------------------------------------------

_asyncio_servers = False
_LIBRARY = ("v23py.", "syncbased.")


def set_asyncio_servers(on: bool) -> None:
    """Run the program's own ``async def`` server methods as asyncio tasks (v23py.aio)."""
    global _asyncio_servers
    _asyncio_servers = on


def run_user_coroutine(r: Any) -> Any:
    """What a server invoker should await for a method's result ``r``.

    Under :mod:`v23py.aio`, a coroutine of the program's own code becomes a Deferred of
    an asyncio task running it; anything else (and every coroutine of v23py itself,
    written for Twisted) is returned unchanged.
    """
    if not _asyncio_servers or not inspect.iscoroutine(r):
        return r
    module = r.cr_frame.f_globals.get("__name__", "") if r.cr_frame is not None else ""
    if module.startswith(_LIBRARY):
        return r
    loop = _get_running_loop()
    if loop is None:
        return r
    return defer.Deferred.fromFuture(loop.create_task(r))
