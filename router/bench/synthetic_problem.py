"""Seeded synthetic placement problems for benchmarking the solver (not the placer).

Jobs need 1..512 devices of one pool; sites hold 2..10 pools of catalog types; an
option is a feasible (site, pool) pair within the job's latency budget; cost is
devices x hours x pool price (west cheaper) plus data transfer, in fen. Type supply is
set against demand so that some types are scarce (binding pools) and others are not.
Jobs with identical attributes share one Item object, as a placer's cache would.
"""

from __future__ import annotations

import math
import random

from router.solve.solver import Item, Option, Problem

_TYPES = 12
_MENUS = ((0,), (1,), (0, 1), (2,), (3, 4), (5,), (6, 7), (8,), (9, 10), (11,), (2, 3), (1, 5))
_COUNTS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
_COUNT_WEIGHTS = (20, 18, 16, 14, 10, 8, 6, 4, 2, 1)
_HOURS = (1, 2, 4, 8, 24, 72, 168)
_HOURS_WEIGHTS = (10, 10, 8, 8, 6, 3, 1)
_KINDS = ((10.0, 0.1), (40.0, 0.3), (200.0, 0.6))  # (max latency ms, share)
_DATA_GB = (0, 10, 100, 1000, 10000)


def synthetic_problem(n_items: int, n_sites: int, seed: int = 0, n_regions: int = 20) -> Problem:
    """A reproducible placement-like Problem with `n_items` jobs over `n_sites` sites."""
    rng = random.Random(seed)
    base_price = [rng.uniform(2.0, 30.0) for _ in range(_TYPES)]  # CNY per device-hour
    regions = [(rng.uniform(0, 30), rng.uniform(0, 20)) for _ in range(n_regions)]
    sites = []
    pools: list[tuple[int, int, float]] = []  # (site, type, price per device-hour)
    for s in range(n_sites):
        west = rng.random() < 0.6
        where = (
            (rng.uniform(0, 15), rng.uniform(0, 20))
            if west
            else (rng.uniform(15, 30), rng.uniform(0, 20))
        )
        factor = rng.uniform(0.6, 0.85) if west else rng.uniform(0.95, 1.3)
        sites.append(where)
        for t in rng.sample(range(_TYPES), rng.randint(2, 10)):
            pools.append((s, t, base_price[t] * factor * rng.uniform(0.95, 1.05)))
    latency = [[1.0 + 1.2 * math.dist(r, s) for s in sites] for r in regions]
    pools_of_type: list[list[int]] = [[] for _ in range(_TYPES)]
    for p, (_, t, _) in enumerate(pools):
        pools_of_type[t].append(p)

    cache: dict[tuple[int, ...], Item] = {}
    uses_cache: dict[tuple[int, int], tuple[tuple[int, int], ...]] = {}  # shared, saves memory
    items: list[Item] = []
    demand = [0] * _TYPES
    for _ in range(n_items):
        origin = rng.randrange(n_regions)
        menu = rng.choice(_MENUS)
        count = rng.choices(_COUNTS, _COUNT_WEIGHTS)[0]
        hours = rng.choices(_HOURS, _HOURS_WEIGHTS)[0]
        kind = rng.choices(range(len(_KINDS)), [k[1] for k in _KINDS])[0]
        data_gb = rng.choice(_DATA_GB)
        priority = rng.choices((1, 2, 3), (6, 3, 1))[0]
        key = (origin, _MENUS.index(menu), count, hours, kind, data_gb, priority)
        item = cache.get(key)
        if item is None:
            options = []
            for t in menu:
                for p in pools_of_type[t]:
                    s, _, price = pools[p]
                    ms = latency[origin][s]
                    if ms > _KINDS[kind][0]:
                        continue
                    compute_fen = count * hours * price * 100
                    transfer_fen = data_gb * 0.01 * ms * 100
                    uses = uses_cache.setdefault((p, count), ((p, count),))
                    options.append(Option(round(compute_fen + transfer_fen), uses))
            item = Item(priority * count * hours, tuple(options))
            cache[key] = item
        items.append(item)
        for t in menu:
            demand[t] += count // len(menu)
    capacities = [0] * len(pools)
    for t, members in enumerate(pools_of_type):
        supply = demand[t] * rng.uniform(0.85, 1.8)
        weights = [rng.random() + 0.1 for _ in members]
        total = sum(weights)
        for p, w in zip(members, weights, strict=True):
            capacities[p] = max(1, round(supply * w / total))
    return Problem(tuple(items), tuple(capacities))
