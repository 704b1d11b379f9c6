"""Timings and bounds of sync (read at use, so tests may patch them here)."""
import os

# seconds between periodic pull rounds per peer (V23PY_SYNC_TICK: a test knob, e.g. to show
# that hints alone carry writes between v23py daemons)
TICK = float(os.environ.get("V23PY_SYNC_TICK") or 0.05)
SG_ROUND_INTERVAL = 0.25                 # seconds between syncgroup-metadata rounds per peer
TIME_INTERVAL = 2.0                      # seconds between GetTime exchanges per peer (Go: each round)
AD_INTERVAL = 1.0                        # seconds between refreshes of our admin ads
JOIN_TIMEOUT = 5.0                       # per admin tried by a join
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
