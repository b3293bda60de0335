"""Workload families: seeded synthetic job mixes and national topologies of any size."""

from __future__ import annotations

import dataclasses
import math
import random
from typing import Any

from router.bench.families import FAMILIES, Family
from router.model.jobs import Job, parse_jobs
from router.model.topology import Topology, parse_topology
from router.model.topology_data import topology_data

# kind: (share, device counts, hours range, one-way latency budgets in ms)
_MIX: dict[str, tuple[float, tuple[int, ...], tuple[float, float], tuple[float, ...]]] = {
    "training": (0.18, (8, 16, 32, 64, 128), (24, 240), (100, 150, 200)),
    "finetune": (0.20, (4, 8, 16, 32), (4, 48), (50, 100, 150)),
    "inference": (0.25, (1, 2, 4, 8, 16), (24, 720), (20, 30, 50)),
    "batch": (0.15, (4, 8, 16, 32), (2, 24), (100, 200)),
    "hpc": (0.07, (16, 32, 64, 128), (12, 96), (100, 150)),
    "realtime": (0.15, (1, 2, 4, 8), (24, 720), (3, 5, 8, 10)),
}
_WORK_KINDS = ("training", "finetune", "batch", "hpc")


def synthetic_rows(
    topology: Topology, n: int, seed: int = 0, family: Family | None = None
) -> list[dict[str, Any]]:
    """`n` jobs (as the jobs file would hold them) drawn from the family's mix."""
    family = family or FAMILIES["tight"]
    rng = random.Random(seed)
    regions = sorted(topology.regions)
    catalog = topology.accelerators
    trainers = sorted(a.name for a in catalog.values() if a.training and "fp16" in a.tflops)
    servers = sorted(a.name for a in catalog.values() if "fp16" in a.tflops)
    fp64 = sorted(a.name for a in catalog.values() if "fp64" in a.tflops and a.training)
    # Users ask for what the market has: types are drawn in proportion to installed devices.
    installed: dict[str, int] = {}
    for site in topology.sites.values():
        for p in site.pools:
            installed[p.accelerator] = installed.get(p.accelerator, 0) + p.count
    kinds = list(_MIX)
    weights = [
        family.kind_weights.get(k, 0.0 if family.kind_weights else _MIX[k][0]) for k in kinds
    ]
    rows: list[dict[str, Any]] = []
    for i in range(n):
        kind = rng.choices(kinds, weights)[0]
        _, counts, (lo, hi), budgets = _MIX[kind]
        pool = fp64 if kind == "hpc" else servers if kind in ("inference", "batch") else trainers
        accelerators: dict[str, Any] = {"count": rng.choice(family.counts or counts)}
        if rng.random() < 0.2 and kind != "hpc":
            # Some users ask for a software stack, not a part; hours are quoted on one part.
            reference = _weighted_sample(rng, pool, installed, 1)[0]
            accelerators |= {"stacks": [catalog[reference].stack], "hours_on": reference}
        else:
            accelerators["types"] = _weighted_sample(rng, pool, installed, rng.randint(1, 3))
        row: dict[str, Any] = {
            "name": f"job-{i:06d}",
            "kind": kind,
            "origin": rng.choice(regions),
            "max_latency_ms": float(rng.choice(budgets)),
            "accelerators": accelerators,
            "hours": round(rng.uniform(lo, hi), 1),
            "priority": rng.choice(family.priorities),
        }
        if kind in _WORK_KINDS:
            row["data_gb"] = float(rng.choice(family.data_gb))
            if rng.random() < family.deadline_share:
                row["deadline_hours"] = round(row["hours"] * rng.uniform(1.5, 4.0), 1)
        if rng.random() < 0.1:
            row["allowed_zones"] = ["east"]
        rows.append(row)
    return rows


def synthetic_jobs(
    topology: Topology, n: int, seed: int = 0, family: Family | None = None
) -> list[Job]:
    """`n` jobs of the family, parsed and checked against `topology`."""
    return parse_jobs({"jobs": synthetic_rows(topology, n, seed, family)}, topology)


def family_workload(
    base: Topology, family: Family, jobs: int, sites: int, seed: int = 0
) -> tuple[Topology, list[dict[str, Any]]]:
    """A national topology of `sites` sized to the family's capacity share, and its jobs."""
    topology = synthetic_topology(base, sites, seed, family.bandwidth_factor)
    rows = synthetic_rows(topology, jobs, seed, family)
    asked = sum(int(r["accelerators"]["count"]) for r in rows)
    return with_devices(topology, asked * family.capacity_share), rows


def _weighted_sample(
    rng: random.Random, names: list[str], weight: dict[str, int], k: int
) -> list[str]:
    """Up to k distinct names, each drawn with probability proportional to its weight."""
    left = [n for n in names if weight.get(n, 0) > 0] or list(names)
    chosen: list[str] = []
    while left and len(chosen) < k:
        pick = rng.choices(left, [weight.get(n, 1) for n in left])[0]
        chosen.append(pick)
        left.remove(pick)
    return chosen


_HUBS = [
    ("jingjinji", "east", 40.0, 116.0),
    ("yangtze-delta", "east", 31.2, 121.0),
    ("greater-bay", "east", 23.0, 113.5),
    ("chengyu", "east", 30.0, 105.0),
    ("inner-mongolia", "west", 40.8, 111.7),
    ("guizhou", "west", 26.5, 106.6),
    ("gansu", "west", 36.0, 104.0),
    ("ningxia", "west", 37.5, 106.0),
]


def synthetic_topology(
    base: Topology, sites: int, seed: int = 0, bandwidth_factor: float = 1.0
) -> Topology:
    """A national topology with `sites` datacenters spread over the eight hubs, reusing
    `base`'s accelerator catalog; latencies follow distance, western prices are lower."""
    rng = random.Random(seed)
    types = sorted(base.accelerators)
    regions: list[dict[str, Any]] = [
        {
            "name": f"city-{h}-{k}",
            "hub": h,
            "lat": lat + rng.uniform(-2, 2),
            "lon": lon + rng.uniform(-2, 2),
        }
        for h, zone, lat, lon in _HUBS
        if zone == "east"
        for k in range(2)
    ]
    site_rows: list[dict[str, Any]] = []
    for i in range(sites):
        hub, zone, lat, lon = _HUBS[i % len(_HUBS)]
        west = zone == "west"
        factor = rng.uniform(0.65, 0.85) if west else rng.uniform(0.95, 1.1)
        pools = [
            {
                "accelerator": t,
                "count": rng.choice((64, 128, 256, 512, 1024, 2048)),
                "price_cny_per_hour": round(_list_price(base, t) * factor, 2),
            }
            for t in rng.sample(types, k=min(len(types), rng.randint(2, 5)))
        ]
        site_rows.append(
            {
                "name": f"dc-{hub}-{i:03d}",
                "hub": hub,
                "provider": f"provider-{rng.randint(1, 6)}",
                "lat": lat + rng.uniform(-1.5, 1.5),
                "lon": lon + rng.uniform(-1.5, 1.5),
                "pue": round(rng.uniform(1.1, 1.2) if west else rng.uniform(1.2, 1.3), 2),
                "electricity_cny_per_kwh": 0.36 if west else 0.7,
                "carbon_g_per_kwh": 600.0 if west else 550.0,
                "pools": pools,
            }
        )
    links = []
    for r in regions:
        for s in site_rows:
            km = _km(r["lat"], r["lon"], s["lat"], s["lon"])
            same_hub = r["hub"] == s["hub"]
            links.append(
                {
                    "a": r["name"],
                    "b": s["name"],
                    "latency_ms": round(0.005 * km * 1.7 + 1.0, 2),
                    "bandwidth_gbps": (800.0 if same_hub else 400.0) * bandwidth_factor,
                    "price_cny_per_gb": 0.005 if same_hub else 0.02,
                }
            )
    data = {
        "version": 1,
        "name": f"synthetic-{sites}",
        "accelerators": topology_data(base)["accelerators"],
        "hubs": [{"name": h, "title": h, "zone": z} for h, z, _, _ in _HUBS],
        "regions": regions,
        "sites": site_rows,
        "links": links,
    }
    return parse_topology(data)


def with_load(topology: Topology, jobs: list[Job], load: float) -> Topology:
    """`topology` with every pool scaled so that the jobs ask for `load` of all devices."""
    return with_devices(topology, sum(job.count for job in jobs) / load)


def with_devices(topology: Topology, devices: float) -> Topology:
    """`topology` with every pool scaled so that about `devices` are installed in all
    (per accelerator family it still varies, so some pools bind and others do not)."""
    supply = sum(p.count for s in topology.sites.values() for p in s.pools)
    factor = devices / max(supply, 1)
    sites = {
        name: dataclasses.replace(
            site,
            pools=tuple(
                dataclasses.replace(p, count=max(1, round(p.count * factor))) for p in site.pools
            ),
        )
        for name, site in topology.sites.items()
    }
    return dataclasses.replace(topology, sites=sites)


def _list_price(base: Topology, accelerator: str) -> float:
    prices = [
        p.price_cny_per_hour
        for s in base.sites.values()
        for p in s.pools
        if p.accelerator == accelerator
    ]
    return max(prices) if prices else 8.0


def _km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371 * math.asin(math.sqrt(h))
