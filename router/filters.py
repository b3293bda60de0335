"""Feasibility as small named predicates, each returning None (fits) or a Reason.

Site filters run first (status, residency, reachability, latency); then pool filters
run on each pool of a site that passed. Solver variables exist only for candidates
that pass every filter.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from router.costs import Cost, candidate_cost, run_hours, transfer_hours
from router.jobs import Job
from router.network import Network, Path
from router.topology import Accelerator, Pool, Site, Topology

PoolKey = tuple[str, int]  # (site name, pool index)


@dataclass(frozen=True, slots=True)
class Context:
    """What the filters consult besides the job: the network and the free capacity."""

    topology: Topology
    network: Network
    free: Mapping[PoolKey, int]
    carbon_price_cny_per_kg: float = 0.0

    def free_of(self, site: Site, index: int) -> int:
        """Free devices in a pool (its whole count unless `free` says otherwise)."""
        return self.free.get((site.name, index), site.pools[index].count)


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a candidate does not fit: a code and, where useful, the figure that failed."""

    code: str
    measure: float | None = None


@dataclass(frozen=True, slots=True)
class Candidate:
    """A feasible (site, pool) for a job, with its path and costs."""

    site: Site
    pool_index: int
    pool: Pool
    accelerator: Accelerator
    path: Path
    cost: Cost


SiteFilter = Callable[[Job, Site, Context], Reason | None]
PoolFilter = Callable[[Job, Site, int, Context], Reason | None]


def site_is_up(job: Job, site: Site, ctx: Context) -> Reason | None:
    """Only sites that are up take new work (drain keeps what it runs)."""
    return None if site.status == "up" else Reason(f"site_{site.status}")


def residency(job: Job, site: Site, ctx: Context) -> Reason | None:
    """The job's allowed zones and hubs, and its denied providers."""
    if job.allowed_zones and ctx.topology.zone_of(site) not in job.allowed_zones:
        return Reason("zone")
    if job.allowed_hubs and site.hub not in job.allowed_hubs:
        return Reason("hub")
    if site.provider in job.denied_providers:
        return Reason("provider")
    return None


def reachable(job: Job, site: Site, ctx: Context) -> Reason | None:
    """Some path of links that are up leads from the origin to the site."""
    return None if ctx.network.path(job.origin, site.name) is not None else Reason("unreachable")


def within_latency(job: Job, site: Site, ctx: Context) -> Reason | None:
    """The minimum-latency path fits the job's one-way budget."""
    path = ctx.network.path(job.origin, site.name)
    if path is not None and path.latency_ms > job.max_latency_ms:
        return Reason("latency", path.latency_ms)
    return None


def accepted_type(job: Job, site: Site, index: int, ctx: Context) -> Reason | None:
    """The pool's type is listed in `types`, or its stack in `stacks`."""
    device = ctx.topology.accelerators[site.pools[index].accelerator]
    ok = device.name in job.types or device.stack in job.stacks
    return None if ok else Reason("accelerator")


def enough_memory(job: Job, site: Site, index: int, ctx: Context) -> Reason | None:
    """Each device has at least `min_memory_gb`."""
    device = ctx.topology.accelerators[site.pools[index].accelerator]
    return None if device.memory_gb >= job.min_memory_gb else Reason("memory", device.memory_gb)


def can_train(job: Job, site: Site, index: int, ctx: Context) -> Reason | None:
    """Inference-only parts run only inference and batch jobs."""
    device = ctx.topology.accelerators[site.pools[index].accelerator]
    return None if device.training or not job.needs_training else Reason("training")


def has_precision(job: Job, site: Site, index: int, ctx: Context) -> Reason | None:
    """The part has a throughput figure for the job's precision."""
    device = ctx.topology.accelerators[site.pools[index].accelerator]
    return None if job.precision in device.tflops else Reason("precision")


def meets_deadline(job: Job, site: Site, index: int, ctx: Context) -> Reason | None:
    """Moving the data and running the job fit before the deadline."""
    if job.deadline_hours is None:
        return None
    path = ctx.network.path(job.origin, site.name)
    device = ctx.topology.accelerators[site.pools[index].accelerator]
    hours = run_hours(job, ctx.topology.accelerators[job.hours_on], device)
    if path is None or hours is None:
        return None
    total = transfer_hours(job, path) + hours
    return None if total <= job.deadline_hours else Reason("deadline", total)


def has_capacity(job: Job, site: Site, index: int, ctx: Context) -> Reason | None:
    """The pool has `count` free devices now."""
    free = ctx.free_of(site, index)
    return None if free >= job.count else Reason("capacity", free)


SITE_FILTERS: tuple[SiteFilter, ...] = (site_is_up, residency, reachable, within_latency)
POOL_FILTERS: tuple[PoolFilter, ...] = (
    accepted_type,
    enough_memory,
    can_train,
    has_precision,
    meets_deadline,
    has_capacity,
)


@dataclass(frozen=True, slots=True)
class Screening:
    """A job's feasible candidates, and for each site with none, why."""

    candidates: tuple[Candidate, ...]
    rejections: Mapping[str, Reason]


def screen(job: Job, ctx: Context) -> Screening:
    """Run every filter on every site and pool for `job`."""
    candidates: list[Candidate] = []
    rejections: dict[str, Reason] = {}
    reference = ctx.topology.accelerators[job.hours_on]
    for site in ctx.topology.sites.values():
        reason = _first_failure(job, site, ctx)
        if reason is not None:
            rejections[site.name] = reason
            continue
        path = ctx.network.path(job.origin, site.name)
        assert path is not None  # the reachable filter passed
        best: tuple[int, Reason] | None = None
        fits = False
        for index, pool in enumerate(site.pools):
            failure = _first_pool_failure(job, site, index, ctx)
            if failure is None:
                fits = True
                device = ctx.topology.accelerators[pool.accelerator]
                hours = run_hours(job, reference, device)
                assert hours is not None  # the precision filter passed
                cost = candidate_cost(
                    job, site, pool, device, hours, path, ctx.carbon_price_cny_per_kg
                )
                candidates.append(Candidate(site, index, pool, device, path, cost))
            elif best is None or _further(failure, best):
                best = failure
        if not fits:
            rejections[site.name] = best[1] if best is not None else Reason("no_pools")
    return Screening(tuple(candidates), rejections)


def _first_failure(job: Job, site: Site, ctx: Context) -> Reason | None:
    for check in SITE_FILTERS:
        reason = check(job, site, ctx)
        if reason is not None:
            return reason
    return None


def _first_pool_failure(
    job: Job, site: Site, index: int, ctx: Context
) -> tuple[int, Reason] | None:
    for stage, check in enumerate(POOL_FILTERS):
        reason = check(job, site, index, ctx)
        if reason is not None:
            return stage, reason
    return None


def _further(failure: tuple[int, Reason], best: tuple[int, Reason]) -> bool:
    """The pool that got further through the filters explains the site best."""
    if failure[0] != best[0]:
        return failure[0] > best[0]
    a, b = failure[1].measure, best[1].measure
    if a is None or b is None:
        return False
    # capacity and memory: more is closer to fitting; deadline: less is closer.
    return a < b if failure[1].code == "deadline" else a > b
