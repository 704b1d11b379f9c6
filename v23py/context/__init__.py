"""Contexts: an immutable chain carrying values, a deadline and cancellation.

A :class:`Context` is what every v23py API takes first (Go's ``*context.T``).
Deriving a context never changes its parent; cancelling a parent cancels all
of its descendants.  A deadline is an absolute ``time.time()`` value; when it
passes, the context is cancelled with ``verror.Timeout``.  Explicit cancel
uses ``verror.Canceled``.

The scheduler is injectable (``clock``, anything with ``callLater`` and
``seconds``), which keeps tests deterministic with ``twisted.internet.task.Clock``.
"""
from __future__ import annotations

import time as _time
from typing import Any, Callable, Optional, Protocol, Sequence


__all__ = ["Context", "root", "CANCELED", "DEADLINE_EXCEEDED", "CancelFunc"]

#: What ``with_cancel`` / ``with_timeout`` / ``with_deadline`` return beside the context:
#: call it (with or without an argument) to cancel.
CancelFunc = Callable[..., None]


class Clock(Protocol):
    """What a context schedules its deadline with (a reactor, or ``task.Clock`` in tests)."""

    def callLater(self, delay: float, f: Callable[..., Any], *args: Any) -> Any: ...

    def seconds(self) -> float: ...

CANCELED = "canceled"
DEADLINE_EXCEEDED = "deadline exceeded"


RUNTIME_KEY = "v23py.runtime"   # the value is the Runtime a context was made by (v23py.init)


def _default_clock() -> Clock:
    from twisted.internet import reactor
    return reactor  # type: ignore[return-value,unused-ignore]


class _Node:
    """Shared cancellation state of one derived context."""
    __slots__ = ("parent", "reason", "error", "callbacks", "timer", "children")

    def __init__(self, parent: Optional[_Node]) -> None:
        self.parent = parent
        self.reason: Optional[str] = None   # None while live, else CANCELED / DEADLINE_EXCEEDED
        self.error: Any = None              # the VError given to waiters
        # (made by the first on_done / child: most contexts, e.g. one per served call,
        # end with neither, and the empty containers were two objects made and freed each)
        self.callbacks: Optional[list[Callable[[Any], Any]]] = None
        self.timer: Any = None
        self.children: Optional[dict[_Node, Context]] = None


class Context:
    """An immutable context.  Use :func:`root` to make the first one."""

    __slots__ = ("_values", "_deadline", "_node", "_clock")

    _values: dict[Any, Any]
    _deadline: Optional[float]
    _node: _Node
    _clock: Optional[Clock]

    def __init__(self, *, _values: Optional[dict[Any, Any]] = None,
                 _deadline: Optional[float] = None, _node: Optional[_Node] = None,
                 clock: Optional[Clock] = None) -> None:
        self._values = _values or {}
        self._deadline = _deadline
        self._node = _node if _node is not None else _Node(None)
        self._clock = clock

    # -- values --------------------------------------------------------------
    def with_value(self, key: Any, value: Any) -> Context:
        """A child context where ``value(key)`` is ``value``."""
        values = dict(self._values)
        values[key] = value
        return Context(_values=values, _deadline=self._deadline, _node=self._node,
                       clock=self._clock)

    def value(self, key: Any, default: Any = None) -> Any:
        """The value set for ``key`` on this context or an ancestor, else ``default``."""
        return self._values.get(key, default)

    # -- time ----------------------------------------------------------------
    @property
    def clock(self) -> Clock:
        """What the deadline is scheduled with (the reactor unless a clock was given)."""
        if self._clock is None:
            self._clock = _default_clock()
        return self._clock

    def now(self) -> float:
        """The current time, in ``time.time()`` units (the clock's when one was given)."""
        if self._clock is None:
            return _time.time()
        return self._clock.seconds()

    def deadline(self) -> Optional[float]:
        """The absolute deadline (``time.time()`` units) or None."""
        return self._deadline

    def remaining(self) -> Optional[float]:
        """Seconds left before the deadline, or None without one."""
        if self._deadline is None:
            return None
        return self._deadline - self.now()

    # -- cancellation --------------------------------------------------------
    def _derive(self, deadline: Optional[float]) -> Context:
        parent = self._node
        node = _Node(parent)
        ctx = _new(Context)   # (what Context(...) does, without its keyword handling)
        ctx._values = self._values
        ctx._deadline = deadline
        ctx._node = node
        ctx._clock = self._clock
        if parent.reason is not None:
            ctx._fire(parent.reason, self.err())
        elif parent.children is None:
            parent.children = {node: ctx}
        else:
            parent.children[node] = ctx
        return ctx

    def with_cancel(self) -> tuple[Context, CancelFunc]:
        """Return ``(ctx, cancel)``; calling ``cancel()`` cancels ctx and its children
        (``cancel`` ignores an argument, so it can serve as a callback too)."""
        ctx = self._derive(self._deadline)

        def cancel(_unused: object = None) -> None:
            ctx._fire(CANCELED, None)   # (_cancel without its frame: every server call ends so)
        return ctx, cancel

    def with_deadline(self, deadline: float) -> tuple[Context, CancelFunc]:
        """Return ``(ctx, cancel)`` with an absolute deadline (never later than the parent's)."""
        if self._deadline is not None and self._deadline <= deadline:
            return self.with_cancel()
        ctx = self._derive(deadline)
        if ctx._node.reason is None:
            delay = max(0.0, deadline - self.now())
            ctx._node.timer = ctx.clock.callLater(delay, ctx._cancel, DEADLINE_EXCEEDED)

        def cancel(_unused: object = None) -> None:
            ctx._cancel(CANCELED)
        return ctx, cancel

    def with_timeout(self, seconds: float) -> tuple[Context, CancelFunc]:
        """Return ``(ctx, cancel)``; ctx is cancelled with ``verror.Timeout`` after ``seconds``."""
        return self.with_deadline(self.now() + seconds)

    def with_root_cancel(self) -> tuple[Context, CancelFunc]:
        """A context with the same values and no deadline, not cancelled with this one."""
        ctx = Context(_values=self._values, _deadline=None, _node=_Node(None), clock=self._clock)
        return ctx, lambda _unused=None: ctx._cancel(CANCELED)

    def _cancel(self, reason: str, _unused: object = None) -> None:
        self._fire(reason, None)   # (nothing if done already; the error is made when needed)

    def _fire(self, reason: str, err: Any) -> None:
        node = self._node
        if node.reason is not None:
            return
        node.reason = reason
        if err is None and (node.callbacks or node.children):
            err = _make_error(reason)
        node.error = err
        if node.timer is not None:
            try:
                if node.timer.active():
                    node.timer.cancel()
            except Exception:
                pass
            node.timer = None
        parent = node.parent
        if parent is not None and parent.children:
            # detach from the parent to let the tree be collected
            parent.children.pop(node, None)
        # (nothing is added once the reason is set: on_done and _derive fire at once then;
        # the containers are dropped to let what they hold be collected)
        callbacks: Sequence[Callable[[Any], Any]] = node.callbacks or ()
        node.callbacks = None
        children = node.children
        if children:
            node.children = None
            for child in children.values():
                child._fire(reason, err)
        for cb in callbacks:
            try:
                cb(err)
            except Exception:  # a bad callback must not break cancellation
                import logging
                logging.getLogger(__name__).exception("context done callback failed")

    def err(self) -> Any:
        """None while live; else the VError (``verror.Canceled`` or ``verror.Timeout``)."""
        node = self._node
        if node.error is None and node.reason is not None:
            node.error = _make_error(node.reason)
        return node.error

    @property
    def cancelled(self) -> _Answer:
        """``ctx.cancelled()``: whether the context was cancelled or its deadline passed.

        (A method, as ``done()`` and ``err()`` are, and as asyncio's ``Future.cancelled()``;
        ``if ctx.cancelled:`` without the call raises TypeError instead of being always true.)
        """
        return _YES if self._node.reason is not None else _NO

    @property
    def reason(self) -> Optional[str]:
        """None while live, else ``CANCELED`` or ``DEADLINE_EXCEEDED``."""
        return self._node.reason

    def on_done(self, callback: Callable[[Any], Any]) -> Callable[[], None]:
        """Call ``callback(err)`` when this context is cancelled (at once if it already is).

        Returns a function that unregisters the callback.
        """
        node = self._node
        if node.reason is not None:
            callback(self.err())
            return lambda: None
        callbacks = node.callbacks
        if callbacks is None:
            callbacks = node.callbacks = []
        callbacks.append(callback)

        def remove() -> None:
            # (the node's list now, not the one above: a cancellation being delivered has
            # taken that one and walks it, and must not see it change)
            current = node.callbacks
            if current:
                try:
                    current.remove(callback)
                except ValueError:
                    pass
        return remove

    def done(self) -> Any:
        """An (awaitable) Deferred fired with the error when the context is cancelled."""
        from v23py.deferred import AwaitableDeferred
        d: AwaitableDeferred[Any] = AwaitableDeferred()

        def fire(e: Any) -> None:
            if not d.called:
                d.callback(e)
        self.on_done(fire)
        return d

    def __repr__(self) -> str:
        return f"<Context deadline={self._deadline} reason={self._node.reason}>"


class _Answer:
    """The result of ``ctx.cancelled``: call it for the bool."""

    __slots__ = ("value",)

    def __init__(self, value: bool) -> None:
        self.value = value

    def __call__(self) -> bool:
        return self.value

    def __bool__(self) -> bool:
        raise TypeError("ctx.cancelled is a method: call ctx.cancelled()")


_YES, _NO = _Answer(True), _Answer(False)

_new = object.__new__


def _make_error(reason: str) -> Any:
    from v23py import verror
    if reason == DEADLINE_EXCEEDED:
        return verror.Timeout.new("timeout") if hasattr(verror, "Timeout") else Exception(reason)
    return verror.Canceled.new("canceled") if hasattr(verror, "Canceled") else Exception(reason)


def root(clock: Optional[Clock] = None) -> Context:
    """A fresh root context without deadline or values."""
    return Context(clock=clock)
