"""The same-host neighborhood directory (``$TMPDIR/syncbased-nh``): daemons' addresses,
and the admins of each syncgroup (Go's syncgroup ads); also where multicast DNS is
unavailable.  With the mDNS neighborhood (``neighborhood``), SyncService's part."""
from __future__ import annotations

import os
import tempfile

NH_DIR = os.path.join(tempfile.gettempdir(), "syncbased-nh")
NH_SG_DIR = os.path.join(NH_DIR, ".sg")  # .sg/<gid>/<hex>: admins of a syncgroup (Go's sg ads)


class NeighborhoodMixin:
    """Neighborhood ads and lookups: SyncService's part."""

    # --- syncgroup admin ads (Go advertises the syncgroups it administers in the
    # neighborhood; a join whose named admin fails tries those admins) ---
    @staticmethod
    def _sg_ad_dir(gid):
        return os.path.join(NH_SG_DIR, gid.replace("/", "_").replace("+", "-"))

    def _advertise_admin(self, gids):
        if not self.endpoint:
            return
        gids = set(gids)
        for gid in gids - self._ads:
            try:
                d = self._sg_ad_dir(gid)
                os.makedirs(d, exist_ok=True)
                tmp = os.path.join(d, f".{self.hex}.tmp")
                with open(tmp, "w") as f:
                    f.write(self.endpoint)
                os.replace(tmp, os.path.join(d, self.hex))
                self._ads.add(gid)
            except OSError:
                pass
        for gid in self._ads - gids:
            self._unadvertise(gid)

    def _unadvertise(self, gid):
        self._ads.discard(gid)
        try:
            p = os.path.join(self._sg_ad_dir(gid), self.hex)
            with open(p) as f:
                if f.read() == self.endpoint:
                    os.unlink(p)
        except OSError:
            pass

    def _mdns_admins(self, db_id, sg_id) -> list:
        """Addresses of the syncgroup's admins seen in mDNS ads (Go's join fallback)."""
        n = self._mdns
        if n is None:
            return []
        try:
            return n.table.syncgroup_admins((db_id.Blessing, db_id.Name),
                                            (sg_id.Blessing, sg_id.Name))
        except Exception:
            return []

    def sg_admins(self, gid) -> dict:
        """Admins of a syncgroup advertised in the neighborhood: {hex: address}."""
        out = {}
        d = self._sg_ad_dir(gid)
        try:
            for h in sorted(os.listdir(d)):
                if h.startswith(".") or h == self.hex:
                    continue
                with open(os.path.join(d, h)) as f:
                    addr = f.read().strip()
                if addr:
                    out[h] = addr
        except OSError:
            pass
        return out

    def _neighborhood(self):
        out = {}
        try:
            for h in os.listdir(NH_DIR):
                if h.startswith(".") or h == self.hex:
                    continue
                with open(os.path.join(NH_DIR, h)) as f:
                    out[h] = f.read().strip()
        except OSError:
            pass
        if self._mdns is not None:
            out.update(self._mdns.peers())
        return out
