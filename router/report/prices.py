"""The price index: every pool's effective price (CNY per effective PFLOP-hour at one
precision) and the east-west spread, per accelerator type and overall. Pure.

The effective price is the unified conversion across chips: a raw CNY/device-hour says
nothing about how much computation it buys, CNY per PFLOP-hour does.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from router.model.topology import Topology
from router.place.costs import effective_price

ALL_TYPES = "all"


@dataclass(frozen=True, slots=True)
class PoolPrice:
    """One pool's raw and effective price (None: the part has no figure at the precision)."""

    site: str
    pool_index: int
    provider: str
    hub: str
    zone: str
    accelerator: str
    price_cny_per_hour: float
    cny_per_pflop_hour: float | None


@dataclass(frozen=True, slots=True)
class Spread:
    """Median effective prices east and west, and how much cheaper the west is (percent)."""

    accelerator: str  # a type, or "all"
    east_cny_per_pflop_hour: float | None
    west_cny_per_pflop_hour: float | None
    west_discount_pct: float | None


@dataclass(frozen=True, slots=True)
class PriceIndex:
    """The pools, cheapest effective price first, and the spreads (per type, then overall)."""

    precision: str
    pools: tuple[PoolPrice, ...]
    spreads: tuple[Spread, ...]


def price_index(topology: Topology, precision: str = "fp16") -> PriceIndex:
    """Every pool's effective price at `precision`, and the east-west spreads."""
    pools = [
        PoolPrice(
            site=site.name,
            pool_index=index,
            provider=site.provider,
            hub=site.hub,
            zone=topology.zone_of(site),
            accelerator=pool.accelerator,
            price_cny_per_hour=pool.price_cny_per_hour,
            cny_per_pflop_hour=effective_price(
                pool.price_cny_per_hour, topology.accelerators[pool.accelerator], precision
            ),
        )
        for site in topology.sites.values()
        for index, pool in enumerate(site.pools)
    ]
    pools.sort(key=lambda p: (p.cny_per_pflop_hour is None, p.cny_per_pflop_hour or 0.0, p.site))
    types = sorted({p.accelerator for p in pools})
    spreads = [_spread(t, [p for p in pools if p.accelerator == t]) for t in types]
    spreads.append(_spread(ALL_TYPES, pools))
    return PriceIndex(precision, tuple(pools), tuple(spreads))


def _spread(accelerator: str, pools: list[PoolPrice]) -> Spread:
    east = _median(pools, "east")
    west = _median(pools, "west")
    discount = None if east is None or west is None else 100 * (east - west) / east
    return Spread(accelerator, east, west, discount)


def _median(pools: list[PoolPrice], zone: str) -> float | None:
    prices = [p.cny_per_pflop_hour for p in pools if p.zone == zone]
    known = [x for x in prices if x is not None]
    return statistics.median(known) if known else None
