"""Active reservations a topology cannot hold (after a reload), each with the reason."""

from __future__ import annotations

from collections.abc import Sequence

from router.model.topology import Topology
from router.place.filters import PoolKey
from router.state.ledger import HeldReservation


def unheld(
    topology: Topology, held: Sequence[HeldReservation]
) -> list[tuple[HeldReservation, str]]:
    """Reservations `topology` cannot hold and why (oldest first; newest over a count first)."""
    out: list[tuple[HeldReservation, str]] = []
    by_pool: dict[PoolKey, list[HeldReservation]] = {}
    for h in held:
        site = topology.sites.get(h.site)
        was = str(h.details.get("accelerator", ""))
        if site is None:
            out.append((h, f"site {h.site} is not in topology {topology.name}"))
        elif not 0 <= h.pool_index < len(site.pools):
            out.append((h, f"site {h.site} has no pool {h.pool_index} any more"))
        elif was and site.pools[h.pool_index].accelerator != was:
            now = site.pools[h.pool_index].accelerator
            out.append((h, f"pool {h.pool_index} of site {h.site} is now {now}, not {was}"))
        elif site.status == "down":
            out.append((h, f"site {h.site} is down"))
        else:
            by_pool.setdefault(h.pool, []).append(h)
    for (name, index), here in by_pool.items():
        count = topology.sites[name].pools[index].count
        total = sum(h.count for h in here)
        for h in sorted(here, key=lambda h: -h.created_unix_s):  # newest over the count first
            if total <= count:
                break
            out.append((h, f"pool {index} of site {name} has {count} devices, holds {total}"))
            total -= h.count
    return sorted(out, key=lambda pair: pair[0].created_unix_s)
