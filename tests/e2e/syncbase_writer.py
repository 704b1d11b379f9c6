"""Helper process for the durability test: a stream of acknowledged puts.

Usage: python -m tests.e2e.syncbase_writer ROOT_DIR [PREFIX]
Opens a sqlite-backed Service in ROOT_DIR, creates db/collection if needed,
then puts rows "<PREFIX>k<n>" = "value-<PREFIX>k<n>" with 16 outstanding calls,
printing "ACK <key>" (flushed) when the put is acknowledged by the store thread.
Runs until killed.
"""
import sys

from twisted.internet import reactor

from v23py.syncbase.util import Id
from syncbased import access
from syncbased.service import Service
from syncbased.worker import StoreWorker

ALICE = ["idp:o:fortune:alice"]
DB = Id("idp:o:fortune", "fortuneDb")
CX = Id("idp:o:fortune:alice", "c")


def main():
    root = sys.argv[1]
    prefix = sys.argv[2] if len(sys.argv) > 2 else ""
    svc = Service(root, "sqlite", default_patterns=ALICE)
    w = StoreWorker(svc.flush, svc.rollback, reactor)
    counter = [0]

    def setup():
        d = svc.database(DB)
        if not d.exists:
            d.create(ALICE, None, access.perms_add({}, ALICE[0], *access.ALL_DATABASE_TAGS))
        c = svc.database(DB).collection(CX)
        if not c.exists_(ALICE, ""):
            c.create(ALICE, "", access.perms_add({}, ALICE[0], *access.ALL_COLLECTION_TAGS))

    def one(_=None):
        n = counter[0]
        counter[0] += 1
        key = "%sk%d" % (prefix, n)
        row = svc.database(DB).collection(CX).row(key)
        d = w.call(row.put, ALICE, "", b"value-" + key.encode())

        def acked(_):
            sys.stdout.write("ACK %s\n" % key)
            sys.stdout.flush()
            one()
        d.addCallback(acked)

    def started(_):
        sys.stdout.write("READY\n")
        sys.stdout.flush()
        for _ in range(16):
            one()

    w.call(setup).addCallback(started)
    reactor.run()


if __name__ == "__main__":
    main()
