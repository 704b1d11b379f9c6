"""The store thread: every piece of store work runs here, with group commit.

``StoreWorker.call(fn, *args)`` queues ``fn`` and returns a Deferred.  The
thread takes everything queued so far (up to ``MAX_GROUP`` calls), runs the
calls in order, then commits their writes with one ``flush`` of every dirty
store (one commit, and with V23PY_STORE_SYNC=full one fsync, per store for the
whole group), and only then hands the results back to the reactor thread.  So a
result — read or write — is never delivered before every write that preceded it
is committed, and many concurrent writers share one commit.

If the flush fails (disk full, read-only directory, I/O error) the unflushed
writes are rolled back and every call of the group fails with that error;
nothing acknowledged is lost.

Calls made on the reactor thread while it handles received bytes are handed
to the store thread together once those bytes are dispatched (``after_input``):
the calls of one read (say the puts of 16 clients) then wake the thread once
and share one group and one flush, and the thread does not compete with the
reactor for the GIL while the reactor is still decoding requests.
"""
from __future__ import annotations

import queue
import threading

from twisted.internet import defer
from twisted.python import failure

from v23py import verror
from v23py.runtime.flowmanager import after_input, output_batch

MAX_GROUP = 512
_STOP = object()


class StoreWorker:
    def __init__(self, flush, rollback, reactor=None, name="syncbase-store"):
        if reactor is None:
            from twisted.internet import reactor as _r
            reactor = _r
        self._reactor = reactor
        self._flush = flush
        self._rollback = rollback
        self._q: queue.SimpleQueue = queue.SimpleQueue()
        self._stopped = False
        self._pending = []   # calls made in this reactor turn, not yet handed over
        self._main = threading.get_ident()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def call(self, fn, *args, **kwargs) -> defer.Deferred:
        d = defer.Deferred()
        if self._stopped:
            d.errback(verror.Canceled.new("store is shut down"))
            return d
        if threading.get_ident() != self._main:
            self._q.put([(fn, args, kwargs, d)])
            return d
        self._pending.append((fn, args, kwargs, d))
        if len(self._pending) == 1:
            after_input(self._submit)
        return d

    def _submit(self):
        items, self._pending = self._pending, []
        if items:
            self._q.put(items)

    def stop(self, final=None, timeout: float | None = 10.0) -> None:
        """Run queued work, then ``final()`` (e.g. close stores) on the thread; wait for it."""
        if self._stopped:
            return
        self._stopped = True
        if threading.get_ident() == self._main:
            self._submit()
        self._q.put([(_STOP, (final,), {}, None)])
        self._thread.join(timeout)

    def _run(self):
        while True:
            group = self._q.get()
            while len(group) < MAX_GROUP:
                try:
                    group = group + self._q.get_nowait()
                except queue.Empty:
                    break
            results = []
            stop_item = None
            for item in group:
                fn, args, kwargs, d = item
                if fn is _STOP:
                    stop_item = item
                    continue
                try:
                    results.append((d, True, fn(*args, **kwargs)))
                except BaseException as e:     # delivered to the caller as a failure
                    results.append((d, False, failure.Failure(e)))
            try:
                self._flush()
            except BaseException as e:
                try:
                    self._rollback()
                except BaseException:
                    pass
                err = e if isinstance(e, verror.VError) else verror.Internal.new(
                    f"store flush failed: {e}")
                results = [(d, False, failure.Failure(err)) for d, _, _ in results]
            if results:
                self._reactor.callFromThread(_deliver, results)
            if stop_item is not None:
                final = stop_item[1][0]
                if final is not None:
                    try:
                        final()
                    except BaseException:
                        pass
                return


def _deliver(results):
    with output_batch():   # the RPC replies of the whole group leave in one write per conn
        for d, ok, value in results:
            if ok:
                d.callback(value)
            else:
                d.errback(value)
