"""Getting the discharges a set of blessings needs (Go's x/ref/lib/security PrepareDischarges).

Each third-party caveat in the blessings names a discharger (an object name) and
what the discharger wants to know (``ThirdPartyRequirements``). For each one:
a discharge cached in the principal's blessing store is used while fresh; else
the discharger is asked (``fetch(caveat, impetus)``, an RPC the caller supplies:
this module does no I/O of its own), and what it issues is cached. Fresh means
before the refresh time: halfway through the lifetime the cache saw it for
(``REFRESH_FRACTION``), a minute before expiry if the cache time is unknown, for
ever if it never expires. Caveats that could not be discharged are asked again
in further rounds while some round makes progress (a discharger may itself need
a discharge), and left out of the result after that.
"""

from v23py.security._caveats import now as _now
from v23py.security._wiretypes import DischargeImpetus

REFRESH_FRACTION = 0.5
# (timedeltas, made where used: datetime loads only when a time is handled)
_UNKNOWN_CACHE_TIME_MARGIN_S = 60
_RETRY_AFTER_FAILURE_S = 60


def impetus_for(requirements, server_names=(), method="", args=()):
    """The DischargeImpetus a discharger asked for: only what its requirements name."""
    servers = [str(s) for s in server_names] if requirements.ReportServer else []
    method = method if requirements.ReportMethod else ""
    arguments = list(args or ()) if requirements.ReportArguments else []
    return DischargeImpetus(Server=servers, Method=method, Arguments=arguments)


def refresh_time(discharge, cache_time):
    """When a cached discharge should be fetched again (None: never)."""
    expiry = discharge.expiry()
    if expiry is None:
        return None
    if cache_time is None:
        import datetime
        return expiry - datetime.timedelta(seconds=_UNKNOWN_CACHE_TIME_MARGIN_S)
    return expiry - (expiry - cache_time) * REFRESH_FRACTION


def _earliest(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


async def prepare_discharges(store, blessings, fetch, server_names=(), method="", args=(),
                             now=_now, cache_only=False):
    """(discharges, refresh time or None) for ``blessings``' third-party caveats.

    ``store`` is the principal's BlessingStore (its discharge cache); `fetch(caveat,
    impetus)` returns a Discharge or an awaitable of one, and raises when the
    discharger refuses or cannot be reached. With ``cache_only`` nothing is fetched
    (Go skips fetching while a discharge is itself being fetched).
    """
    if blessings is None or blessings.is_zero():
        return [], None
    todo = []
    for cav in blessings.third_party_caveats():
        tp = cav.third_party_details()
        if tp is not None and tp.id():
            todo.append((cav, impetus_for(tp.requirements(), server_names, method, args)))
    if not todo:
        return [], None
    got = {}
    refresh = None
    while todo:
        t = now()
        fetching, left = [], []
        for cav, imp in todo:
            d, cached_at = store.discharge(cav, imp)
            rt = refresh_time(d, cached_at) if d is not None else None
            if d is not None and (cache_only or rt is None or t < rt):
                got[d.id()] = d
                refresh = _earliest(refresh, rt)
            elif cache_only:
                continue
            else:
                fetching.append((cav, imp, d))
        if not fetching:
            break
        results = []
        for cav, imp, _ in fetching:   # one at a time: there is rarely more than one
            try:
                r = fetch(cav, imp)
                if hasattr(r, "__await__"):
                    r = await r
                results.append((True, r))
            except Exception as e:   # refused or unreachable: try again next round
                results.append((False, e))
        progress = False
        for (cav, imp, stale), (ok, d) in zip(fetching, results):
            if ok and d is not None and d.id():
                store.cache_discharge(d, cav, imp)
                got[d.id()] = d
                refresh = _earliest(refresh, refresh_time(d, now()))
                progress = True
            else:
                if stale is not None:
                    got.setdefault(stale.id(), stale)   # still valid, just due for refresh
                left.append((cav, imp))
        if not left:
            break
        if not progress:
            import datetime
            refresh = _earliest(refresh, now() + datetime.timedelta(seconds=_RETRY_AFTER_FAILURE_S))
            break
        todo = left
    return list(got.values()), refresh

