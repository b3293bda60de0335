"""Bulk screening for batches: every job's feasible pools and their costs, vectorised.

The scalar filters in router.place.filters decide which (site, pool) pairs an ask can use at
all, and jobs with the same ask share that verdict. What differs per job (the fit
filters' figures and the cost) is computed here with numpy for a block of jobs at once,
with the formulas of router.place.costs in the same order of operations, so the figures
agree; each fit filter's own batch form then judges them.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from router.model.jobs import Job
from router.model.topology import PRECISIONS
from router.place.costs import ceil_whole
from router.place.filters import (
    FIT_FILTERS,
    BatchFigures,
    Context,
    PoolKey,
    part_key,
    part_verdicts,
    site_key,
    site_verdicts,
)

BLOCK = 4096  # jobs per vectorised block: bounds the (jobs x pools) arrays to a few MB

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class JobOptions:
    """One job's feasible pools (indices into PoolTable.keys), with the devices the job
    takes on each, its cost and its run time there."""

    pools: Ints
    devices: Ints
    cost_cny: Floats
    run_hours: Floats


@dataclass(frozen=True)
class PoolTable:
    """Every pool of the topology as parallel arrays, in a fixed order."""

    keys: tuple[PoolKey, ...]
    price: Floats
    tdp_kw: Floats
    memory_gb: Floats
    pue: Floats
    carbon_g: Floats
    free: Ints


def pool_table(ctx: Context) -> PoolTable:
    """The static per-pool figures the cost formulas need, and the free devices."""
    keys: list[PoolKey] = []
    rows: list[tuple[float, float, float, float, float, int]] = []
    for site in ctx.topology.sites.values():
        for i, pool in enumerate(site.pools):
            device = ctx.topology.accelerators[pool.accelerator]
            keys.append((site.name, i))
            rows.append(
                (
                    pool.price_cny_per_hour,
                    device.tdp_kw,
                    device.memory_gb,
                    site.pue,
                    site.carbon_g_per_kwh,
                    ctx.free_of(site, i),
                )
            )
    columns = list(zip(*rows, strict=True)) if rows else [()] * 6
    return PoolTable(
        keys=tuple(keys),
        price=np.array(columns[0], dtype=np.float64),
        tdp_kw=np.array(columns[1], dtype=np.float64),
        memory_gb=np.array(columns[2], dtype=np.float64),
        pue=np.array(columns[3], dtype=np.float64),
        carbon_g=np.array(columns[4], dtype=np.float64),
        free=np.array(columns[5], dtype=np.int64),
    )


def batch_options(jobs: Sequence[Job], ctx: Context, table: PoolTable) -> list[JobOptions]:
    """Feasible pools and costs for every job, in vectorised blocks of (jobs x pools)."""
    topology = ctx.topology
    origins = {name: k for k, name in enumerate(topology.regions)}
    size = (len(origins), len(table.keys))
    price_per_gb, bottleneck = np.full(size, np.nan), np.full(size, np.nan)
    for name, k in origins.items():
        for p, (site, _) in enumerate(table.keys):
            path = ctx.network.path(name, site)
            if path is not None:
                price_per_gb[k, p] = path.transfer_cny_per_gb
                bottleneck[k, p] = path.bottleneck_gbps
    precisions = {name: k for k, name in enumerate(PRECISIONS)}
    speed = np.array(
        [
            [
                topology.accelerators[topology.sites[site].pools[i].accelerator].tflops.get(
                    precision, np.nan
                )
                for site, i in table.keys
            ]
            for precision in PRECISIONS
        ]
    ).reshape(len(PRECISIONS), len(table.keys))
    site_of_pool = [site for site, _ in table.keys]
    masks: dict[Hashable, npt.NDArray[np.bool_]] = {}

    def static_mask(job: Job) -> npt.NDArray[np.bool_]:
        """Pools that pass the site filters and the part filters (cached per ask)."""
        by_site_key, by_part_key = site_key(job), part_key(job)
        sites = masks.get(by_site_key)
        if sites is None:
            verdicts = site_verdicts(job, ctx)
            sites = masks[by_site_key] = np.array([verdicts[s] is None for s in site_of_pool])
        parts = masks.get(by_part_key)
        if parts is None:
            verdicts_p = part_verdicts(job, ctx)
            parts = masks[by_part_key] = np.array([verdicts_p[k] is None for k in table.keys])
        return sites & parts

    result: list[JobOptions] = []
    for start in range(0, len(jobs), BLOCK):
        block = jobs[start : start + BLOCK]
        allowed = np.stack([static_mask(j) for j in block]).reshape(len(block), len(table.keys))
        origin = np.array([origins[j.origin] for j in block], dtype=np.int64)
        precision = np.array([precisions[j.precision] for j in block], dtype=np.int64)
        reference = np.array([topology.accelerators[j.hours_on].tflops[j.precision] for j in block])
        reference_memory = np.array([topology.accelerators[j.hours_on].memory_gb for j in block])
        service = np.array([j.is_service for j in block])[:, None]
        count = np.array([j.count for j in block], dtype=np.float64)[:, None]
        hours = np.array([j.hours for j in block])[:, None]
        data = np.array([j.data_gb for j in block])[:, None]
        deadline = np.array(
            [np.inf if j.deadline_hours is None else j.deadline_hours for j in block]
        )
        with np.errstate(invalid="ignore", divide="ignore"):
            # Same formulas and order of operations as router.place.costs.sizing and
            # candidate_cost (a part without the precision gives NaN and is filtered out).
            slowdown = reference[:, None] / speed[precision]
            run = np.where(service, hours, hours * slowdown)
            by_memory = count * reference_memory[:, None] / table.memory_gb
            scaled = np.maximum(ceil_whole(count * slowdown), ceil_whole(by_memory))
            devices = np.where(service, scaled, count)
            device_hours = devices * run
            compute = device_hours * table.price
            energy = device_hours * table.tdp_kw * table.pue
            carbon_cny = energy * table.carbon_g / 1000 * ctx.carbon_price_cny_per_kg
            cost = compute + data * price_per_gb[origin] + carbon_cny
            transfer_hours = np.where(data == 0, 0.0, data * 8 / bottleneck[origin] / 3600)
            figures = BatchFigures(devices, table.free, run, transfer_hours, deadline[:, None])
            fits = allowed
            for fit in FIT_FILTERS:
                assert fit.batch is not None  # every fit filter has its vectorised form
                fits = fits & fit.batch(figures)
        for k in range(len(block)):
            pools = np.flatnonzero(fits[k])
            sizes = devices[k, pools].astype(np.int64)
            result.append(JobOptions(pools, sizes, cost[k, pools], run[k, pools]))
    return result
