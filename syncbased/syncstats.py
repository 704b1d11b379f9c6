"""Sync progress per database and peer, in the process's stats tree (so in
``__debug/stats`` and on ``--metrics-address``):

    syncbase/sync/<db>/<peer>/rounds              rounds this daemon started that succeeded
    syncbase/sync/<db>/<peer>/errors              rounds that failed
    syncbase/sync/<db>/<peer>/records-in          records received from the peer
    syncbase/sync/<db>/<peer>/records-out         records sent to the peer (its rounds)
    syncbase/sync/<db>/<peer>/last-success-unix   time of the last successful round
    syncbase/sync/<db>/<peer>/lag-seconds         seconds since then (-1: none yet)
    syncbase/sync/<db>/<peer>/last-error          the last round's error, if it failed

``<db>`` is the database id encoded as a name element, ``<peer>`` the peer's
Syncbase name as its syncgroup membership knows it.  Prometheus also gets, per
syncgroup, its member count and the last successful round with any of its members
(``v23_syncbase_syncgroup_*{db, syncgroup}``).
"""
import time

from v23py import stats
from v23py.stats import prometheus
from v23py.naming import names as _names

_peers = {}


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
    from prometheus_client.core import GaugeMetricFamily
    labels = ["db", "syncgroup"]
    members = GaugeMetricFamily("v23_syncbase_syncgroup_members",
                                "members of the syncgroup (joined, not left)", labels=labels)
    last = GaugeMetricFamily("v23_syncbase_syncgroup_last_success_timestamp_seconds",
                             "time of the last successful sync round with any member",
                             labels=labels)
    lag = GaugeMetricFamily("v23_syncbase_syncgroup_lag_seconds",
                            "seconds since the last successful round with any member "
                            "(-1: none)", labels=labels)
    now = time.time()
    for _ in range(3):   # (the store thread may change the tables while we copy them)
        try:
            groups = [(db_id, e.id, set(e.joiners))
                      for db_id, ds in list(sync.dbs.items())
                      for e in list(ds.sgs.values())]
            break
        except RuntimeError:
            groups = []
    for db_id, sg_id, joiners in sorted(groups, key=lambda g: (str(g[0]), str(g[1]))):
        key = tuple(db_id) if isinstance(db_id, tuple) else (db_id.Blessing, db_id.Name)
        lv = [f"{key[0]},{key[1]}", f"{sg_id[0]},{sg_id[1]}"]
        best = max((_peers[(key, m)].last_ok_t for m in joiners if (key, m) in _peers),
                   default=0.0)
        members.add_metric(lv, len(joiners))
        last.add_metric(lv, best)
        lag.add_metric(lv, now - best if best else -1)
    return [members, last, lag]


def register_syncgroups(sync):
    prometheus.add_collector(lambda: _collect_syncgroups(sync))


def register_prometheus():
    if _collect not in prometheus._extra:
        prometheus.add_collector(_collect)
