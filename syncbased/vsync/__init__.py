"""Peer-to-peer sync between syncbased daemons, on Go's peer protocol.

Daemons talk to each other through Go's ``interfaces.Sync`` at
``<daemon>/%%sync`` (package ``v.io/x/ref/services/syncbase/server/interfaces``,
declared in ``syncbased/interfaces/*.vdl``): ``GetTime``, ``GetDeltas``
(a ``DeltaReq`` in, a stream of ``DeltaResp`` out: log records, then the
responder's knowledge), ``JoinSyncgroupAtAdmin``.

The model is Go's vsync:

* Every daemon has a random 64-bit id (service key ``y``); its member name is
  the id in lowercase hex.
* Every change to a synced object is a log record (``LogRecMetadata``: origin
  device, generation, object id, version, parents, update time, delete flag)
  and a node of that object's version DAG.  Local writes become records in
  the same durable commit as the write (a pre-commit hook of the store), so a
  record is never served before its data is on disk.  Deletes are nodes.
* Syncgroups are objects too (oid ``y\\xfes\\xfe<gid>``): their versions have
  their own logs and DAGs and are pulled first in each round (``SgDeltaReq``).
* Knowledge is a generation vector per sync prefix (data, keyed by the
  collection prefix) or per syncgroup oid; the initiator sends its knowledge,
  the responder streams what is missing in its log order, then its own
  knowledge, which the initiator merges once the records are applied.
* Conflicts (two heads after a round) resolve last-writer-wins on the update
  time (the virtual clock's, ``syncbased.vclock``: skew-corrected by NTP and by
  peers' times exchanged with GetTime each round), ties to the larger version
  string; the loser becomes a parent of the winner through a link record, so
  every peer ends with the same head.  Where the database's schema gives a
  conflict to the application (``AppResolves`` CR rules by collection and key
  prefix), the conflicts go to the app's StartConflictResolver stream grouped by
  batch and its answers become new versions (``cr``, ``appcr``).
* A commit of several operations is a batch (Go's BatchInfo at
  ``y\\xfec\\xfe<id>``, kept by every peer); a responder never cuts a batch
  across rounds and a round is applied in one transaction, so a peer sees a
  batch whole or not at all.
* Peers are found through the admin named in a join, addresses learned before
  (persisted), multicast DNS with Go's discovery advertisements
  (``syncbased/vsync/neighborhood.py``), a same-host neighborhood directory
  (``$TMPDIR/syncbased-nh``, also the fallback where multicast is unavailable;
  admins also advertise their syncgroups there, and a join whose named admin
  fails tries those), and the conn a peer opened to us (our sync RPCs use the
  server's flow manager, so such a conn can be dialed back by routing id).

Rounds are bounded: a responder sends at most ``MAX_RECORDS_PER_ROUND`` records
(more only to finish a batch) and then knowledge that claims exactly what was
sent; the initiator continues at once when a round was full, fetching the next
round while it applies the last.

Modules: ``service`` (SyncService) and ``dbsync`` (DbSync, one per database), made of
mixins by concern: ``syncgroups``, ``dag``, ``responder`` (with SyncObj, the peer object
at ``%%sync``), ``initiator``, ``scheduler``, ``_nhdir`` (the same-host neighborhood
directory) beside ``neighborhood`` (mDNS), ``cr`` (conflict resolution by rules and by the
app, plain objects) and ``appcr`` (its part of a round, and the app's streams); ``_log`` is
the store layout, ``limits`` the timings and bounds.
"""
from syncbased.vsync.dbsync import DbSync  # noqa: F401
from syncbased.vsync.responder import SyncObj  # noqa: F401
from syncbased.vsync.service import SyncService  # noqa: F401
