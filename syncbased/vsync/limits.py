"""Timings and bounds of sync (read at use, so tests may patch them here)."""
import os

# seconds between periodic pull rounds per peer (V23PY_SYNC_TICK: a test knob, e.g. to show
# that hints alone carry writes between v23py daemons)
TICK = float(os.environ.get("V23PY_SYNC_TICK") or 0.05)
# a tick whose picked peer's rounds still run is skipped (Go's syncer works one peer at
# a time) unless they started this long ago (Go's channelTimeout)
PICK_WAIT = 2.0
# a peer that failed n times in a row is not picked for 2^min(n, FAILURES_CAP) peer-
# management rounds, PM_ROUNDS_PER_TICK to a tick (Go: peerManagementInterval is
# peerSyncInterval / 5; pingFailuresCap); a hinted retry waits 2^n BACKOFF_UNIT seconds
PM_ROUNDS_PER_TICK = 5
BACKOFF_UNIT = 0.01
FAILURES_CAP = 6
# "0": subscribe to no peer's hints (a test knob: the pull loop alone, as Go's)
HINTS = os.environ.get("V23PY_SYNC_HINTS", "1").strip() != "0"
# hinted rounds running at once (more hints wait, the one whose sender holds most of
# what we lack first, and are dropped once known).  One: hints that arrive while it
# runs are served by one round with the richest sender (30 daemons, one write each:
# ~350 rounds in all instead of ~470 with two)
HINTED_ROUNDS = int(os.environ.get("V23PY_SYNC_HINTED_ROUNDS") or 1)
# hinted rounds running at once with writers whose relay we are (hints.py): each such
# writer alone holds its rows, so they are pulled side by side
RELAYED_ROUNDS = max(HINTED_ROUNDS, int(os.environ.get("V23PY_SYNC_RELAYED_ROUNDS") or 4))
# a relay with more subscribers than this hints them through sqrt(n) relays of its own,
# one per run of consecutive ids (hints.py), instead of serving every pull itself
RELAY_DIRECT = int(os.environ.get("V23PY_SYNC_RELAY_DIRECT") or 12)
# seconds a writer waits for its relay to pull its writes (hints.py) before it hints
# every other subscriber itself (a relay whose sync of the database is paused never
# pulls; a busy one that keeps pulling is waited for again); beyond RELAY_DIRECT
# subscribers, in proportion to them (hints.Hints._pull_wait)
RELAY_PULL_WAIT = 0.5
# peers that subscribed to our hints before we knew them as members, remembered until
# we do (then we subscribe back); the oldest is forgotten beyond this many
HINT_WAITING_PEERS = 256
# (database, peer) pairs whose rounds' server authorizer is kept (initiator.py); all are
# forgotten beyond this many
AUTHORIZERS_KEPT = 1024
# a peer whose hints we receive is pulled by the tick at most once per this many seconds
# (all such peers together): its writes come as hints; this pull only brings what it
# relays from others (and the syncgroup metadata)
HINTED_PULL_INTERVAL = 1.0
# seconds between ticks while every member of our syncgroups sends us hints (or there
# is no member to pull): the tick then only makes that safety-net pull, so it need not
# wake the process every TICK; any other member brings TICK back at once
QUIET_TICK = 1.0
# seconds the pull loop reuses the members of our syncgroups it read (Go's memberViewTTL)
MEMBER_VIEW_TTL = 2.0
# seconds between GetTime exchanges with the members that hint us, all together
HINTED_TIME_INTERVAL = 10.0
# seconds between the periodic syncgroup rounds with the members that hint us, all
# together (per database): their syncgroup changes come as hints
HINTED_SG_INTERVAL = 10.0
SG_ROUND_INTERVAL = 0.25                 # seconds between syncgroup-metadata rounds per peer
TIME_INTERVAL = 2.0                      # seconds between GetTime exchanges per peer (Go: each round)
AD_INTERVAL = 1.0                        # seconds between refreshes of our admin ads
JOIN_TIMEOUT = 5.0                       # per admin tried by a join
# a received round of at most this many items (records and the knowledge item) is
# applied as a quick store call: by the reactor itself when the store thread is idle,
# without two thread hand-offs (a hinted round after one Put brings two)
QUICK_APPLY_ITEMS = 16
# a GetDeltas answer of at most this many records is made as a quick store call (see
# QUICK_APPLY_ITEMS); a larger one is found out after this many and made on the thread
QUICK_RESPOND_RECORDS = 16
# bounds one round's memory and store-thread time (the environment variable is a
# tuning knob, also used by tests to make rounds small)
MAX_RECORDS_PER_ROUND = max(1, int(os.environ.get("V23PY_SYNC_ROUND_RECORDS") or 5000))
# "0": never call a peer back over the conn it opened to us (a test knob: tests of
# the other ways of finding peers must not pass through this one)
CONN_PEERS = os.environ.get("V23PY_SYNC_CONN_PEERS", "1").strip() != "0"
SEND_CHUNK = 200                        # streamed records per flow write
MAX_CHAINED_ROUNDS = 20                 # full rounds fetched back to back with one peer
MAX_ITEMS_RECEIVED = 1_000_000          # a responder sending more is cut off
MAX_PARENTS = 2
MAX_STR = 64 * 1024
