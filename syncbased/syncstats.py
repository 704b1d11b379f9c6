"""Sync progress per database and peer, in the process's stats tree (so in
``__debug/stats`` and on ``--metrics-address``):

    syncbase/sync/id                              this daemon's member name (hex)
    syncbase/sync/ticks                           ticks of the pull loop (one peer each)
    syncbase/sync/rounds-started                  rounds started (periodic and hinted)
    syncbase/sync/rounds-failed                   of those, rounds that failed (all peers)
    syncbase/sync/hints-in                        hints heard from v23py peers
    syncbase/sync/hints-known                     of those, hints that started no round
    syncbase/sync/hint-streams                    Subscribe calls made for peers' hints
    syncbase/sync/hint-streams-ended              of those, calls that ended (error or not)
    syncbase/sync/hint-stream-error               why the last of them ended
    syncbase/sync/<db>/<peer>/rounds              rounds this daemon started that succeeded
    syncbase/sync/<db>/<peer>/errors              rounds that failed
    syncbase/sync/<db>/<peer>/records-in          records received from the peer
    syncbase/sync/<db>/<peer>/records-out         records sent to the peer (its rounds)
    syncbase/sync/<db>/<peer>/last-success-unix   time of the last successful round
    syncbase/sync/<db>/<peer>/lag-seconds         seconds since then (-1: none yet)
    syncbase/sync/<db>/<peer>/last-error          the last round's error, if it failed

    syncbase/syncgroup/<db>/<sg>/rows-in          rows received in that syncgroup's collections
    syncbase/syncgroup/<db>/<sg>/rows-out         rows sent from them

``<db>`` and ``<sg>`` are ids encoded as name elements, ``<peer>`` the peer's
Syncbase name as its syncgroup membership knows it.  A round covers a whole database, so a
row counts for every syncgroup whose collections hold it.  Prometheus also gets, per
syncgroup, its member count, rows in and out, and the last successful round with any of its
members (``v23_syncbase_syncgroup_*{db, syncgroup}``).
"""
import time

from v23py import stats
from v23py.gostrings import KEEP_BYTES, UTF8
from v23py.stats import prometheus
from v23py.naming import names as _names

_peers = {}
# ticks of the pull loop (each picks at most one peer): with the per-peer rounds and
# errors, shows how often each member is contacted
TICKS = stats.new_counter("syncbase/sync/ticks")
# rounds started (periodic and hinted), hints heard, and those that started no round
# because our knowledge already reached the hinted generation
ROUNDS = stats.new_counter("syncbase/sync/rounds-started")
ROUNDS_FAILED = stats.new_counter("syncbase/sync/rounds-failed")
HINTS_IN = stats.new_counter("syncbase/sync/hints-in")
HINTS_KNOWN = stats.new_counter("syncbase/sync/hints-known")
# our Subscribe calls for peers' hints, those that ended, and why the last one did:
# a member whose stream ended is pulled at Go's cadence again (scheduler.py)
HINT_STREAMS = stats.new_counter("syncbase/sync/hint-streams")
HINT_STREAMS_ENDED = stats.new_counter("syncbase/sync/hint-streams-ended")
HINT_STREAM_ERROR = stats.new_string("syncbase/sync/hint-stream-error")
ID = stats.new_string("syncbase/sync/id")      # this daemon's name as a syncgroup member


class PeerStats:
    def __init__(self, db, peer):
        p = f"syncbase/sync/{db}/{_names.encode_as_name_element(peer)}"
        self.db, self.peer, self.prefix = db, peer, p
        self.rounds = stats.new_counter(p + "/rounds")
        self.errors = stats.new_counter(p + "/errors")
        self.records_in = stats.new_counter(p + "/records-in")
        self.records_out = stats.new_counter(p + "/records-out")
        self.last_ok = stats.new_integer(p + "/last-success-unix")
        self.last_error = stats.new_string(p + "/last-error")
        self.last_ok_t = 0.0
        stats.new_integer_func(p + "/lag-seconds", self.lag)

    def lag(self):
        return int(time.time() - self.last_ok_t) if self.last_ok_t else -1

    def succeeded(self):
        self.rounds.incr(1)
        self.last_ok_t = time.time()
        self.last_ok.set(int(self.last_ok_t))
        self.last_error.set("")

    def failed(self, err):
        self.errors.incr(1)
        ROUNDS_FAILED.incr(1)
        self.last_error.set(str(getattr(err, "msg", None) or err))


def _db_name(db_id):
    blessing, name = (db_id[0], db_id[1]) if isinstance(db_id, tuple) else \
        (db_id.Blessing, db_id.Name)
    return _names.encode_as_name_element(f"{blessing},{name}")


def peer(db_id, member):
    key = (tuple(db_id) if isinstance(db_id, tuple) else (db_id.Blessing, db_id.Name),
           str(member))
    ps = _peers.get(key)
    if ps is None:
        ps = _peers[key] = PeerStats(_db_name(db_id), str(member))
    return ps


def all_peers():
    return list(_peers.values())


class SyncgroupRows:
    """Rows of one syncgroup's collections received and sent by sync rounds."""

    def __init__(self, db, sg):
        p = f"syncbase/syncgroup/{db}/{_names.encode_as_name_element(sg)}"
        self.rows_in = stats.new_counter(p + "/rows-in")
        self.rows_out = stats.new_counter(p + "/rows-out")


_sg_rows = {}
_ROW_MARK = b"r\xfe".decode(UTF8, KEEP_BYTES)   # (object ids are Go strings)


def _id_key(i):
    return tuple(i) if isinstance(i, tuple) else (i.Blessing, i.Name)


def syncgroup_rows(db_id, sg_id):
    key = (_id_key(db_id), _id_key(sg_id))
    r = _sg_rows.get(key)
    if r is None:
        r = _sg_rows[key] = SyncgroupRows(_db_name(db_id), "{},{}".format(*key[1]))
    return r


def count_rows(sync, db_id, items, sent):
    """Adds the row records among a round's ``items`` (DeltaResp values) to the rows in
    (``sent`` false) or out of each syncgroup of ``db_id`` whose collections hold them."""
    ds = sync.dbs.get(db_id)
    if ds is None:
        return
    groups = _copied(lambda: [(e.id, tuple(p.decode(UTF8, KEEP_BYTES)
                                           for p in e.prefixes))
                              for e in list(ds.sgs.values())])
    if not groups:
        return
    # a row's object id is "r" SEP <collection's sync prefix> <key>
    oids = [oid[2:] for oid in (it.value.Metadata.ObjId for it in items
                                if getattr(it, "name", None) == "Rec")
            if oid.startswith(_ROW_MARK)]
    for sg_id, prefixes in groups:
        n = sum(1 for oid in oids if oid.startswith(prefixes)) if prefixes else 0
        if n:
            r = syncgroup_rows(db_id, sg_id)
            (r.rows_out if sent else r.rows_in).incr(n)


def _copied(copy):
    """``copy()`` of the syncgroup tables, which the store thread may change while the
    reactor thread reads them: tried again a few times, else nothing."""
    for _ in range(3):
        try:
            return copy()
        except RuntimeError:
            pass
    return []


def _collect():
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
    labels = ["db", "peer"]
    fams = {
        "rounds": CounterMetricFamily("v23_syncbase_sync_rounds", "successful sync rounds",
                                      labels=labels),
        "errors": CounterMetricFamily("v23_syncbase_sync_errors", "failed sync rounds",
                                      labels=labels),
        "in": CounterMetricFamily("v23_syncbase_sync_records_in", "records received",
                                  labels=labels),
        "out": CounterMetricFamily("v23_syncbase_sync_records_out", "records sent",
                                   labels=labels),
        "last": GaugeMetricFamily("v23_syncbase_sync_last_success_timestamp_seconds",
                                  "time of the last successful sync round", labels=labels),
        "lag": GaugeMetricFamily("v23_syncbase_sync_lag_seconds",
                                 "seconds since the last successful sync round (-1: none)",
                                 labels=labels),
    }
    for ps in all_peers():
        lv = [_names.decode_from_name_element(ps.db)[0], ps.peer]
        fams["rounds"].add_metric(lv, ps.rounds.value())
        fams["errors"].add_metric(lv, ps.errors.value())
        fams["in"].add_metric(lv, ps.records_in.value())
        fams["out"].add_metric(lv, ps.records_out.value())
        fams["last"].add_metric(lv, ps.last_ok_t)
        fams["lag"].add_metric(lv, ps.lag())
    return fams.values()


def _collect_syncgroups(sync):
    """Per syncgroup of every database: its members, and the freshest successful round this
    daemon had with any of them (the syncgroup's data is at most that old here)."""
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
    labels = ["db", "syncgroup"]
    members = GaugeMetricFamily("v23_syncbase_syncgroup_members",
                                "members of the syncgroup (joined, not left)", labels=labels)
    last = GaugeMetricFamily("v23_syncbase_syncgroup_last_success_timestamp_seconds",
                             "time of the last successful sync round with any member",
                             labels=labels)
    lag = GaugeMetricFamily("v23_syncbase_syncgroup_lag_seconds",
                            "seconds since the last successful round with any member "
                            "(-1: none)", labels=labels)
    rows_in = CounterMetricFamily("v23_syncbase_syncgroup_rows_in",
                                  "rows of the syncgroup's collections received by sync",
                                  labels=labels)
    rows_out = CounterMetricFamily("v23_syncbase_syncgroup_rows_out",
                                   "rows of the syncgroup's collections sent by sync",
                                   labels=labels)
    now = time.time()
    groups = _copied(lambda: [(db_id, e.id, set(e.joiners))
                              for db_id, ds in list(sync.dbs.items())
                              for e in list(ds.sgs.values())])
    for db_id, sg_id, joiners in sorted(groups, key=lambda g: (str(g[0]), str(g[1]))):
        key = tuple(db_id) if isinstance(db_id, tuple) else (db_id.Blessing, db_id.Name)
        lv = [f"{key[0]},{key[1]}", f"{sg_id[0]},{sg_id[1]}"]
        best = max((_peers[(key, m)].last_ok_t for m in joiners if (key, m) in _peers),
                   default=0.0)
        members.add_metric(lv, len(joiners))
        last.add_metric(lv, best)
        lag.add_metric(lv, now - best if best else -1)
        rows = _sg_rows.get((key, _id_key(sg_id)))
        rows_in.add_metric(lv, rows.rows_in.value() if rows else 0)
        rows_out.add_metric(lv, rows.rows_out.value() if rows else 0)
    return [members, last, lag, rows_in, rows_out]


def register_syncgroups(sync):
    prometheus.add_collector(lambda: _collect_syncgroups(sync))


def register_prometheus():
    if _collect not in prometheus._extra:
        prometheus.add_collector(_collect)
