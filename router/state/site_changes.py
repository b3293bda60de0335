"""Run-time site changes (UpdateSite): validate them, apply them, keep them, and pick the
reservations that must leave a site that went down or shrank."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from router.errors import FieldProblem, InvalidInputError, NotFoundError
from router.model.topology import SITE_STATUSES, Pool, Site, Topology
from router.state.ledger import HeldReservation


@dataclass(frozen=True)
class PoolChange:
    """New count and/or price of one pool (None: unchanged)."""

    pool_index: int
    count: int | None = None
    price_cny_per_hour: float | None = None


@dataclass(frozen=True)
class SiteChange:
    """An update to one site (None / empty: unchanged)."""

    site: str
    status: str | None = None
    pools: tuple[PoolChange, ...] = ()
    electricity_cny_per_kwh: float | None = None


def changed_site(topology: Topology, change: SiteChange) -> Site:
    site = topology.sites.get(change.site)
    if site is None:
        raise NotFoundError(f"no site {change.site!r}")
    problems: list[FieldProblem] = []
    if change.status is not None and change.status not in SITE_STATUSES:
        problems.append(FieldProblem("status", f"must be one of: {', '.join(SITE_STATUSES)}"))
    if change.electricity_cny_per_kwh is not None and not change.electricity_cny_per_kwh > 0:
        problems.append(
            FieldProblem(
                "electricity_cny_per_kwh",
                f"must be a number > 0, got {change.electricity_cny_per_kwh}",
            )
        )
    pools = list(site.pools)
    seen: set[int] = set()
    for k, pc in enumerate(change.pools):
        where = f"pools[{k}]"
        if not 0 <= pc.pool_index < len(pools):
            problems.append(
                FieldProblem(
                    f"{where}.pool_index",
                    f"site {site.name} has pools 0..{len(pools) - 1}, got {pc.pool_index}",
                )
            )
            continue
        if pc.pool_index in seen:
            problems.append(
                FieldProblem(f"{where}.pool_index", f"pool {pc.pool_index} is updated twice")
            )
        seen.add(pc.pool_index)
        if pc.count is not None and pc.count < 0:
            problems.append(
                FieldProblem(f"{where}.count", f"must be a whole number >= 0, got {pc.count}")
            )
        if pc.price_cny_per_hour is not None and not pc.price_cny_per_hour > 0:
            problems.append(
                FieldProblem(
                    f"{where}.price_cny_per_hour",
                    f"must be a number > 0, got {pc.price_cny_per_hour}",
                )
            )
        old = pools[pc.pool_index]
        pools[pc.pool_index] = Pool(
            old.accelerator,
            old.count if pc.count is None else pc.count,
            old.price_cny_per_hour if pc.price_cny_per_hour is None else pc.price_cny_per_hour,
        )
    if problems:
        raise InvalidInputError(problems)
    return replace(
        site,
        status=change.status or site.status,
        pools=tuple(pools),
        electricity_cny_per_kwh=change.electricity_cny_per_kwh or site.electricity_cny_per_kwh,
    )


def merged(kept: Mapping[str, Any], change: SiteChange) -> dict[str, Any]:
    """A site's kept run-time changes with `change` on top (JSON values)."""
    merged: dict[str, Any] = {**kept, "pools": dict(kept.get("pools", {}))}
    if change.status is not None:
        merged["status"] = change.status
    if change.electricity_cny_per_kwh is not None:
        merged["electricity_cny_per_kwh"] = change.electricity_cny_per_kwh
    for pc in change.pools:
        pool = dict(merged["pools"].get(str(pc.pool_index), {}))
        if pc.count is not None:
            pool["count"] = pc.count
        if pc.price_cny_per_hour is not None:
            pool["price_cny_per_hour"] = pc.price_cny_per_hour
        merged["pools"][str(pc.pool_index)] = pool
    return merged


def restored(topology: Topology, kept: Mapping[str, Mapping[str, Any]]) -> Topology:
    """The topology with the run-time site changes kept by the ledger; changes that no
    longer fit the topology (unknown site, pool index out of range) are skipped."""
    sites = dict(topology.sites)
    for name, saved in kept.items():
        if name not in sites:
            continue
        pools = tuple(
            PoolChange(int(index), p.get("count"), p.get("price_cny_per_hour"))
            for index, p in saved.get("pools", {}).items()
            if 0 <= int(index) < len(sites[name].pools)
        )
        change = SiteChange(name, saved.get("status"), pools, saved.get("electricity_cny_per_kwh"))
        try:
            sites[name] = changed_site(replace(topology, sites=sites), change)
        except InvalidInputError:
            continue
    return replace(topology, sites=sites) if kept else topology


def displaced(site: Site, held: Sequence[HeldReservation]) -> list[HeldReservation]:
    """Reservations that must leave: all on a down site, else the fewest per shrunk pool."""
    if site.status == "down":
        return list(held)
    out: list[HeldReservation] = []
    for index, pool in enumerate(site.pools):
        here = sorted(
            (h for h in held if h.pool_index == index), key=lambda h: (-h.count, h.created_unix_s)
        )
        excess = sum(h.count for h in here) - pool.count
        for h in here:
            if excess <= 0:
                break
            out.append(h)
            excess -= h.count
    return out
