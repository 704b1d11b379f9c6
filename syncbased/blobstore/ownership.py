"""Blob ownership shares and per-syncgroup blob priorities (Go's vsync model).

A device that writes a row referencing a blob it holds, in a synced
collection, takes ``INITIAL_SHARES`` ownership shares of that blob in each
syncgroup covering the row: it promises to keep the blob until other devices
accept the shares.  Each device keeps, per syncgroup, a priority
(``SgPriority``: device type, mean sync distance from a blob server, time of
the freshest server data seen); peers exchange priorities at the end of every
data round (``DeltaFinalResp.SgPriorities``) and a device adopts a better
peer's distance and server time.  When a peer fetches a blob, the holder
offers shares in each syncgroup where the fetcher has a higher priority (all
of them to a blob server, else one); the fetcher takes them (a non-server at
most one per syncgroup) and reports it with ``AcceptedBlobOwnership``, after
which the holder gives up that many shares (one, unless the taker is a
blob server in that syncgroup).  ``DevModeGetBlobShares`` and the peer ``GetBlobShares``
report a blob's shares.

Records live in the blob store's small table: ``bmd/<ref>`` (a blob's shares
and when it was last referenced) and ``psg/<gid>`` (this device's priority in
a syncgroup), as JSON.
"""
from __future__ import annotations

import json
import time

from v23py import verror
from v23py.v23.vdlroot.time import Time
from syncbased import interfaces as I
from syncbased.common import now_time, time_ns

INITIAL_SHARES = 2            # Go's initialBlobOwnerShares
RECENCY_SLOP_NS = 120 * 10**9  # Go's blobRecencyTimeSlop (2 minutes)
DISTANCE_DECAY = 5.0          # Go's blobSyncDistanceDecay
DEV_NORMAL, DEV_SERVER, DEV_LEAF = 0, 1, 2


# --- priorities: plain dicts {"DevType", "Distance", "ServerTime" (ns since 1970)} -------------

def default_priority(blob_dev_type=None) -> dict:
    """The priority a device starts with in a syncgroup (Go's addSyncgroup)."""
    if blob_dev_type is None:
        return {"DevType": DEV_NORMAL, "Distance": 1.0, "ServerTime": 0}
    return {"DevType": int(blob_dev_type), "Distance": float(blob_dev_type), "ServerTime": 0}


def lower_than(a: dict, b: dict) -> bool:
    """Whether priority ``a`` is lower than ``b`` (Go's sgPriorityLowerThan)."""
    if a["DevType"] == DEV_SERVER:
        return False
    if a["DevType"] != b["DevType"]:
        return b["DevType"] in (DEV_SERVER, DEV_NORMAL)
    if b["ServerTime"] > a["ServerTime"] + RECENCY_SLOP_NS:
        return True
    return b["ServerTime"] > a["ServerTime"] - RECENCY_SLOP_NS and b["Distance"] < a["Distance"]


def updated(local: dict, remote: dict, now_ns=None) -> dict | None:
    """The local priority after hearing ``remote``, or None when unchanged."""
    if not lower_than(local, remote):
        return None
    out = dict(local)
    out["Distance"] = (local["Distance"] * (DISTANCE_DECAY - 1) + (remote["Distance"] + 1)) \
        / DISTANCE_DECAY
    out["ServerTime"] = (time.time_ns() if now_ns is None else now_ns) \
        if remote["DevType"] == DEV_SERVER else remote["ServerTime"]
    return out


def to_wire(p: dict):
    """A wire SgPriority; ServerTime 0 ("never heard from a server") is Go's zero time."""
    t = int(p["ServerTime"])
    return I.SgPriority(DevType=int(p["DevType"]), Distance=float(p["Distance"]),
                        ServerTime=now_time(t) if t > 0 else Time(Seconds=0, Nanos=0))


def from_wire(p) -> dict:
    t = time_ns(p.ServerTime) if p.ServerTime is not None else 0
    return {"DevType": int(p.DevType), "Distance": float(p.Distance), "ServerTime": max(t, 0)}


# --- records in the blob store ---------------------------------------------------------------

PRIORITY_WRITE_INTERVAL = 10.0   # seconds: priorities are hints, persisted at most this often


class Ownership:
    def __init__(self, store):
        self.store = store
        self._pri = {}        # gid -> priority (cache of psg/<gid>)
        self._written = {}    # gid -> monotonic time of the last write

    # per-syncgroup priority (updated after every data round: cached, written lazily)
    def priority(self, gid, my_blob_dev_type=None) -> dict:
        p = self._pri.get(gid)
        if p is not None:
            return dict(p)
        raw = self.store.get_kv("psg/" + gid)
        if raw is not None:
            try:
                p = json.loads(raw)
            except ValueError:
                p = None
        if p is None:
            p = default_priority(my_blob_dev_type)
            self._write(gid, p)
        self._pri[gid] = p
        return dict(p)

    def set_priority(self, gid, p: dict) -> None:
        self._pri[gid] = dict(p)
        if time.monotonic() - self._written.get(gid, -1e9) >= PRIORITY_WRITE_INTERVAL:
            self._write(gid, p)

    def _write(self, gid, p):
        self._written[gid] = time.monotonic()
        self.store.set_kv("psg/" + gid, json.dumps(p).encode())

    def flush(self) -> None:
        """Persist every cached priority (at close)."""
        for gid, p in list(self._pri.items()):
            self._write(gid, p)

    def hear(self, remote_priorities: dict, my_dev_types: dict) -> None:
        """Adopt better priorities from a peer: {gid: wire SgPriority} (Go's
        updateAllSyncgroupPriorities); only syncgroups this device is in."""
        for gid, rp in remote_priorities.items():
            gid = str(gid)
            if gid not in my_dev_types:
                continue
            new = updated(self.priority(gid, my_dev_types[gid]), from_wire(rp))
            if new is not None:
                self.set_priority(gid, new)

    def handoff(self, remote_priorities: dict, my_dev_types: dict) -> dict:
        """{ref: {gid: 1}}: blobs a leaf device asks a non-leaf peer to take, in the
        syncgroups where this device is a leaf and the peer is not (Go's
        updateAllSyncgroupPriorities)."""
        groups = set()
        for gid, rp in remote_priorities.items():
            gid = str(gid)
            if gid in my_dev_types and \
                    self.priority(gid, my_dev_types[gid])["DevType"] == DEV_LEAF and \
                    int(rp.DevType) != DEV_LEAF:
                groups.add(gid)
        out = {}
        if groups:
            for k, raw in self.store.kv_prefix("bmd/"):
                try:
                    shares = json.loads(raw).get("OwnerShares", {})
                except ValueError:
                    continue
                give = {g: 1 for g in groups if int(shares.get(g, 0)) > 0}
                if give:
                    out[k[4:]] = give
        return out

    # per-blob metadata
    def metadata(self, ref) -> dict | None:
        raw = self.store.get_kv("bmd/" + ref)
        if raw is None:
            return None
        try:
            md = json.loads(raw)
        except ValueError:
            return None
        md["OwnerShares"] = {str(g): int(n) for g, n in md.get("OwnerShares", {}).items()}
        return md

    def set_metadata(self, ref, md: dict) -> None:
        self.store.set_kv("bmd/" + ref, json.dumps(md).encode())

    def shares(self, ref) -> dict:
        md = self.metadata(ref)
        if md is None:
            raise verror.NoExist.new(f"no ownership record for blob {ref}")
        return dict(md["OwnerShares"])

    def created_reference(self, ref, gids) -> None:
        """This device put ``ref`` (a blob it holds) into rows of syncgroups ``gids``."""
        md = self.metadata(ref)
        now = time.time_ns()
        changed = False
        if md is None:
            md = {"OwnerShares": {}, "Referenced": now, "Accessed": now}
            changed = True
        for g in gids:
            if g not in md["OwnerShares"]:
                md["OwnerShares"][g] = INITIAL_SHARES
                changed = True
        if changed:
            self.set_metadata(ref, md)

    def offer(self, ref, remote_priorities: dict, my_dev_types: dict) -> dict:
        """Shares to offer a fetcher with these priorities (Go's sync FetchBlob)."""
        md = self.metadata(ref)
        if md is None or not any(n > 0 for n in md["OwnerShares"].values()):
            return {}
        out = {}
        for gid, rp in remote_priorities.items():
            gid = str(gid)
            mine = md["OwnerShares"].get(gid, 0)
            if mine <= 0 or gid not in my_dev_types:
                continue
            remote = from_wire(rp)
            if lower_than(self.priority(gid, my_dev_types[gid]), remote):
                out[gid] = mine if remote["DevType"] == DEV_SERVER else 1
        return out

    def take(self, ref, offered: dict, my_priorities: dict) -> dict:
        """After a fetch: the shares this device takes (a non-server at most one)."""
        taking = {}
        for gid, n in offered.items():
            gid, n = str(gid), int(n)
            p = my_priorities.get(gid)
            if n > 0 and p is not None:
                taking[gid] = n if p["DevType"] == DEV_SERVER else 1
        if taking:
            md = self.metadata(ref) or {"OwnerShares": {}, "Referenced": time.time_ns(),
                                        "Accessed": time.time_ns()}
            for gid, n in taking.items():
                md["OwnerShares"][gid] = md["OwnerShares"].get(gid, 0) + n
            self.set_metadata(ref, md)
        return taking

    def accepted(self, ref, accepted: dict, caller_server_gids: set):
        """A peer accepted shares: give them up (Go's AcceptedBlobOwnership).
        Returns (shares kept in total, whether anything changed)."""
        md = self.metadata(ref)
        if md is None:
            raise verror.NoExist.new(f"no ownership record for blob {ref}")
        total, changed = 0, False
        for gid, have in list(md["OwnerShares"].items()):
            acc = int(accepted.get(gid, 0))
            if acc > 0 and have > 0:
                if gid not in caller_server_gids:
                    acc = 1
                if acc >= have:
                    have = 0
                    del md["OwnerShares"][gid]
                else:
                    have -= acc
                    md["OwnerShares"][gid] = have
                changed = True
            total += have
        if changed:
            self.set_metadata(ref, md)
        return total, changed
