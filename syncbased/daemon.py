"""The running daemon: its parts, made once and in order, and the watch wake-ups.

Parts (each typed, none attached later):

* ``service``  the Syncbase semantics over the stores (``syncbased.service``);
* ``worker``   the store thread every store operation runs on (``syncbased.worker``);
* ``blobs``    blob storage, fetching and ownership (``syncbased.blobstore``);
* ``vclockd``  the virtual clock's updates: local every second, NTP hourly (``syncbased.vclock``);
* ``sync``     peer-to-peer sync (``syncbased.vsync``), or None without a runtime context;
* ``dispatcher`` the RPC objects by suffix (``syncbased.server``), ``%%sync`` included.
"""
from __future__ import annotations

from typing import Optional

from twisted.internet import defer

from v23py import verror
from syncbased.blobstore.manager import BlobManager
from syncbased.server import Dispatcher
from syncbased.service import Service
from syncbased.vclock.daemon import VClockD
from syncbased.vsync import SyncObj, SyncService
from syncbased.worker import StoreWorker


class Daemon:
    """The running service: store thread, blobs, sync, dispatcher, watch wake-ups."""

    def __init__(self, service: Service, reactor, ctx=None, *, publish_nh: bool = True,
                 own_names=None, ntp_host: str = ""):
        self.service: Service = service
        self.reactor = reactor
        self.worker: StoreWorker = StoreWorker(service.flush, service.rollback, reactor,
                                               ready=service.stores_checked)
        self.vclockd: VClockD = VClockD(reactor, service.vclock, ntp_host, run=self.worker.call)
        self._waiters = set()
        service.commit_listeners.append(self._committed)
        self.blobs: BlobManager = BlobManager(self, service.root_dir)
        self.sync: Optional[SyncService] = None
        self.dispatcher: Dispatcher = Dispatcher(self)
        if ctx is not None:
            self.sync = SyncService(self, ctx, publish_nh=publish_nh, own_names=own_names)
            service.local_commit_listeners.append(self.sync.hints.wrote)
            self.dispatcher.sync_obj = SyncObj(self)
        # (opened without waiting for the stores' integrity checks; from here on a
        # store is used only once its check passed)
        service.gate_stores()

    def _committed(self, db_id):
        # Where store work runs, after a commit that logged ops.  Only watchers
        # wait for commits; without any, skip the wake-up of the reactor (a
        # waiter registers before it reads the log, so it misses nothing).
        # Watchers read the log once the commit's group is flushed: when the
        # reactor ran the group, at once after its replies (the change then
        # leaves in the same write as the Put's reply to a watcher on its conn).
        if self._waiters:
            self.worker.after_commit(self._wake, db_id)

    def _wake(self, db_id):
        for w in list(self._waiters):
            w.notify(db_id)

    def log_waiter(self, db_id):
        return LogWaiter(self, db_id)

    def stop(self):
        """Close the blob store, then finish the store work and close the stores."""
        self.vclockd.stop()
        self.blobs.close()
        self.worker.stop(final=self.service.close)


class LogWaiter:
    """Waits (in the reactor) until a database's watch log may have grown."""

    def __init__(self, daemon, db_id):
        self.daemon, self.db_id = daemon, db_id
        self._d = None
        self._pending = False
        daemon._waiters.add(self)

    def notify(self, db_id):
        if db_id != self.db_id:
            return
        self._pending = True
        if self._d is not None and not self._d.called:
            d, self._d = self._d, None
            d.callback(None)

    async def wait(self, ctx, seq):
        if self._pending:
            self._pending = False
            return
        d = self._d = defer.Deferred()
        remove = ctx.on_done(lambda err: d.called or d.errback(
            err or verror.Canceled.new("watch canceled")))
        try:
            await d
        finally:
            remove()
            self._pending = False

    def close(self):
        self.daemon._waiters.discard(self)
        if self._d is not None and not self._d.called:
            self._d.cancel()
