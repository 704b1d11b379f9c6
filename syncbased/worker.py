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

A short call (``call_quick``: a row's Put/Get/Delete, a batch's Begin/Commit,
the next records of a watch) made alone skips the thread when it is idle: if
this turn and the one before each made one call (callers take turns, as one
client does), and every call handed over so far is done (flushed, so nothing
queued could be overtaken), the reactor runs it itself, under the same lock
the thread holds while it works, flushes and delivers the result -- as Go's
daemon runs a Put in the goroutine of its RPC.  A single client's Put then
costs no thread hand-off either way (a futex wake, a GIL hand-over, the waker
pipe back): at a loaded host each was a wait for a core.  The flush is the
same as on the thread, so is durability.  Turns with several calls (many
concurrent callers) keep the thread: it commits one group while the reactor
reads and decodes the next, which gave more calls/s than doing both in turn.
``call_now`` (a row's Put) goes one step further in that case: it runs the call as
it is made and returns its result, so the RPC method answers without a Deferred and
its call is never suspended.
"""
from __future__ import annotations

import logging
import queue
import threading

from twisted.internet import defer
from twisted.python import failure

from v23py import verror
from v23py.runtime.flowmanager import after_input, output_batch

log = logging.getLogger(__name__)

MAX_GROUP = 512
_STOP = object()


class StoreWorker:
    def __init__(self, flush, rollback, reactor=None, name="syncbase-store", ready=None):
        if reactor is None:
            from twisted.internet import reactor as _r
            reactor = _r
        self._reactor = reactor
        # () -> bool: the stores can serve without waiting (their integrity checks are
        # done); until then quick calls go to the thread, which may wait, not the reactor
        self._ready = ready
        self._flush = flush
        self._rollback = rollback
        self._q: queue.SimpleQueue = queue.SimpleQueue()
        self._stopped = False
        self._pending = []   # calls made in this reactor turn, not yet handed over
        self._slow = 0       # how many of them are not quick
        self._alone = True   # the last turn had one call (one caller at a time)
        self._busy = threading.Lock()       # held by whoever runs store work
        self._count = threading.Lock()      # guards _outstanding
        self._outstanding = 0               # calls handed to the thread, not yet done
        self._after = None   # while the reactor runs a group: [(fn, args)] for after it
        self._thread_after = None   # the same while the store thread runs one
        self._main = threading.get_ident()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def call(self, fn, *args, **kwargs) -> defer.Deferred:
        return self._call(False, fn, args, kwargs)

    def call_quick(self, fn, *args, **kwargs) -> defer.Deferred:
        """``call`` for short work (a row, a batch's begin/commit): the reactor runs it
        itself when the thread is idle (see the module's doc)."""
        return self._call(True, fn, args, kwargs)

    def _call(self, quick, fn, args, kwargs) -> defer.Deferred:
        d = defer.Deferred()
        if self._stopped:
            d.errback(verror.Canceled.new("store is shut down"))
            return d
        if threading.get_ident() != self._main:
            self._hand_over([(fn, args, kwargs, d)])
            return d
        self._pending.append((fn, args, kwargs, d))
        if not quick:
            self._slow += 1
        if len(self._pending) == 1:
            after_input(self._submit)
        return d

    def call_now(self, fn, *args):
        """``call_quick(fn, *args)``, except when the reactor would run it itself (one caller
        at a time: the last turn made one call, this turn none so far, nothing handed to
        the thread undone): then it runs here at once, flushed as _submit flushes, and its
        result is returned (its error raised) instead of a Deferred -- an RPC method
        returning that answers without suspending its call.  A call made later in the same
        turn goes the usual way, after this one (which is committed already)."""
        if self._pending or not self._alone or threading.get_ident() != self._main \
                or not self._may_run_here():
            return self._call(True, fn, args, {})
        results, after = self._run_here([(fn, args, {}, None)])
        _, ok, value = results[0]
        _run_after(after)
        if not ok:
            value.raiseException()
        return value

    def _hand_over(self, items):
        with self._count:
            self._outstanding += len(items)
        self._q.put(items)

    def _submit(self):
        items, self._pending = self._pending, []
        slow, self._slow = self._slow, 0
        if not items:
            return
        alone = len(items) == 1
        was_alone, self._alone = self._alone, alone
        if alone and was_alone and not slow and self._may_run_here():
            _deliver(*self._run_here(items))
            return
        self._hand_over(items)

    def _may_run_here(self):
        """(reactor thread) Whether the reactor may run store work itself now: not
        stopped, nothing handed to the thread undone, the stores ready; if so the store
        lock is taken (``_run_here`` releases it).  (Nothing handed over is undone:
        whatever is queued came from another thread after that check, and the thread
        waits for the lock to run it.)"""
        return (not self._stopped and not self._outstanding
                and (self._ready is None or self._ready())
                and self._busy.acquire(blocking=False))

    def _run_here(self, items):
        """(reactor thread, the lock taken by ``_may_run_here``) ``items`` as one group,
        flushed as the thread flushes: (results, after_commit's callbacks to run)."""
        after = self._after = []
        try:
            results, _ = self._process(items)
        finally:
            self._after = None
            self._busy.release()
        return results, after

    def after_commit(self, fn, *args) -> None:
        """Call ``fn(*args)`` on the reactor once the group running now (which made a
        commit) is flushed: right after its results when the reactor runs it, else in
        a later reactor turn, with the results of the thread's group)."""
        me = threading.get_ident()
        if me == self._main:
            if self._after is not None:
                self._after.append((fn, args))
                return
        elif self._thread_after is not None and me == self._thread.ident:
            self._thread_after.append((fn, args))
            return
        self._reactor.callFromThread(fn, *args)

    def stop(self, final=None, timeout: float | None = 10.0) -> None:
        """Run queued work, then ``final()`` (e.g. close stores) on the thread; wait for it."""
        if self._stopped:
            return
        self._stopped = True
        if threading.get_ident() == self._main:
            self._submit()
        self._hand_over([(_STOP, (final,), {}, None)])
        self._thread.join(timeout)

    def _run(self):
        while True:
            group = self._q.get()
            while len(group) < MAX_GROUP:
                try:
                    group = group + self._q.get_nowait()
                except queue.Empty:
                    break
            with self._busy:
                self._thread_after = []
                try:
                    results, stop_item = self._process(group)
                finally:
                    after, self._thread_after = self._thread_after, None
            with self._count:   # (done: a caller woken by these results sees it)
                self._outstanding -= len(group)
            if results or after:
                self._reactor.callFromThread(_deliver, results, after)
            if stop_item is not None:
                final = stop_item[1][0]
                if final is not None:
                    with self._busy:
                        try:
                            final()
                        except BaseException:
                            pass
                return

    def _process(self, group):
        """Run a group's calls in order, then flush: ([(d, ok, value)], stop item)."""
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
        return results, stop_item


def _deliver(results, after=()):
    """(reactor thread) A group's results, then its after_commit callbacks."""
    with output_batch():   # the RPC replies of the whole group leave in one write per conn
        for d, ok, value in results:
            if ok:
                d.callback(value)
            else:
                d.errback(value)
    _run_after(after)


def _run_after(after):
    """(reactor thread) after_commit's callbacks of a group, in order."""
    for fn, args in after:
        try:
            fn(*args)
        except Exception:   # (as a callFromThread call's would: logged, no harm)
            log.exception("after_commit callback failed")
