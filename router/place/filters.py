"""Feasibility as small named predicates, each returning None (fits) or a Reason.

Site filters run first (status, residency, reachability, latency, pools); then pool
filters run on each pool of a site that passed. Solver variables exist only for
candidates that pass every filter. Adding a filter means adding one `Filter` below.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from router.model.jobs import Job
from router.model.topology import Accelerator, Pool, Site, Topology
from router.place.costs import Cost, Sizing, candidate_cost, sizing, transfer_hours
from router.place.network import Network, Path
from router.report.words import noun

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Floats = npt.NDArray[np.float64]
    Ints = npt.NDArray[np.int64]
    Bools = npt.NDArray[np.bool_]

PoolKey = tuple[str, int]  # (site name, pool index)


@dataclass(frozen=True, slots=True)
class Context:
    """What the filters consult besides the job: the network and the free capacity."""

    topology: Topology
    network: Network
    free: Mapping[PoolKey, int]
    carbon_price_cny_per_kg: float = 0.0
    memo: dict[Hashable, Any] = field(default_factory=dict, compare=False, repr=False)

    def free_of(self, site: Site, index: int) -> int:
        """Free devices in a pool (its whole count unless `free` says otherwise)."""
        return self.free.get((site.name, index), site.pools[index].count)


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a candidate does not fit: a code and, where useful, the figure that failed
    (for capacity also the devices the part needed and its type)."""

    code: str
    measure: float | None = None
    needed: int | None = None
    part: str | None = None


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
# What a reason code says in the "0/N sites fit" line, given the job and the reasons (with
# a measure) of the sites it rejected (None: the bare code says it).
Describe = Callable[[Job, list[Reason]], str | None]
Check = TypeVar("Check", SiteFilter, PoolFilter)


@dataclass(frozen=True, slots=True)
class BatchFigures:
    """Figures of a block of jobs (rows) on every pool (columns), for fit filters' batch forms."""

    devices: Floats  # (jobs, pools)
    free: Ints  # (pools,)
    run_hours: Floats  # (jobs, pools)
    transfer_hours: Floats  # (jobs, pools)
    deadline_hours: Floats  # (jobs, 1); inf without a deadline


@dataclass(frozen=True, slots=True)
class Filter(Generic[Check]):
    """One feasibility rule in one place: its predicate, the reason codes it gives with
    their text, where those rank among equally common reasons, and for fit filters its
    vectorised form (site and part filters are batched by sharing verdicts per ask)."""

    check: Check
    texts: Mapping[str, Describe]
    rank: int
    batch: Callable[[BatchFigures], Bools] | None = None


def site_is_up(job: Job, site: Site, ctx: Context) -> Reason | None:
    """Only sites that are up take new work (drain keeps what it runs)."""
    return None if site.status == "up" else Reason(f"site_{site.status}")


def residency(job: Job, site: Site, ctx: Context) -> Reason | None:
    """The job's allowed zones, hubs and providers, and its denied providers."""
    if job.allowed_zones and ctx.topology.zone_of(site) not in job.allowed_zones:
        return Reason("zone")
    if job.allowed_hubs and site.hub not in job.allowed_hubs:
        return Reason("hub")
    if job.allowed_providers and site.provider not in job.allowed_providers:
        return Reason("provider_not_allowed")
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


def has_pools(job: Job, site: Site, ctx: Context) -> Reason | None:
    """The site has at least one pool."""
    return None if site.pools else Reason("no_pools")


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
    size = _sizing(job, site, index, ctx)
    if path is None or size is None:
        return None
    total = transfer_hours(job, path) + size.run_hours
    return None if total <= job.deadline_hours else Reason("deadline", total)


def has_capacity(job: Job, site: Site, index: int, ctx: Context) -> Reason | None:
    """The pool has the devices the job needs on its part free now."""
    size = _sizing(job, site, index, ctx)
    free = ctx.free_of(site, index)
    if size is None or free >= size.devices:
        return None
    return Reason("capacity", free, size.devices, site.pools[index].accelerator)


def _sizing(job: Job, site: Site, index: int, ctx: Context) -> Sizing | None:
    device = ctx.topology.accelerators[site.pools[index].accelerator]
    return sizing(job, ctx.topology.accelerators[job.hours_on], device)


def _joined(names: Iterable[str]) -> str:
    return "/".join(names)


def _outside(kind: str, allowed: Sequence[str]) -> str:
    return f"outside {noun(len(allowed), kind)} {_joined(allowed)}"


def _measures(reasons: list[Reason]) -> list[float]:
    return [r.measure for r in reasons if r.measure is not None]


def _of_several(word: str, v: list[float]) -> str:
    """ "best " when several sites' figures are summed up in one, "" for one."""
    return f"{word} " if len(v) > 1 else ""


def _latency_text(job: Job, rs: list[Reason]) -> str | None:
    v = _measures(rs)
    if not v:
        return None
    return f"latency ({_of_several('best', v)}{min(v):.1f} ms > {job.max_latency_ms:g} ms)"


def _memory_text(job: Job, rs: list[Reason]) -> str | None:
    v = _measures(rs)
    if not v:
        return None
    return f"memory ({_of_several('largest', v)}{max(v):g} GB < {job.min_memory_gb:g} GB)"


def _deadline_text(job: Job, rs: list[Reason]) -> str | None:
    v = _measures(rs)
    if not v or job.deadline_hours is None:
        return None
    return f"deadline ({_of_several('best', v)}{min(v):.1f} h > {job.deadline_hours:g} h)"


def _capacity_text(job: Job, rs: list[Reason]) -> str | None:
    """The site closest to fitting: "capacity (needs 10 H800 for 8 H20, 4 free)"."""
    if not rs:
        return None
    best = max(rs, key=lambda r: (r.measure or 0.0) - (r.needed or job.count))
    return f"capacity (needs {needs_text(job, best.needed, best.part)}, {best.measure:g} free)"


def needs_text(job: Job, devices: int | None, part: str | None) -> str:
    """What a job needs on a part: "64", or for a service on another part "10 H800 for 8 H20"."""
    if devices is None or part is None or (devices == job.count and part == job.hours_on):
        return f"{job.count if devices is None else devices}"
    if not job.is_service:
        return f"{devices}"
    return f"{devices} {part} for {job.count} {job.hours_on}"


# Filters run in the order listed (site, then part, then fit); the first failure is the
# verdict. `rank` orders equally common reasons in the explanation (most telling first).
SITE_FILTERS: tuple[Filter[SiteFilter], ...] = (
    Filter(
        site_is_up,
        {"site_down": lambda job, v: "site down", "site_drain": lambda job, v: "site draining"},
        rank=8,
    ),
    Filter(
        residency,
        {
            "zone": lambda job, v: _outside("zone", job.allowed_zones),
            "hub": lambda job, v: _outside("hub", job.allowed_hubs),
            "provider_not_allowed": lambda job, v: _outside("provider", job.allowed_providers),
            "provider": lambda job, v: f"denied provider ({_joined(job.denied_providers)})",
        },
        rank=7,
    ),
    Filter(reachable, {"unreachable": lambda job, v: "unreachable (no link up)"}, rank=9),
    Filter(within_latency, {"latency": _latency_text}, rank=0),
    Filter(has_pools, {"no_pools": lambda job, v: "no pools"}, rank=10),
)
# Part filters read only the job's accelerator ask and the pool's accelerator; fit filters
# read the rest of the job.
PART_FILTERS: tuple[Filter[PoolFilter], ...] = (
    Filter(
        accepted_type,
        {
            "accelerator": lambda job, v: (
                f"no {_joined([*job.types, *map(str.upper, job.stacks)])} pool"
            )
        },
        rank=1,
    ),
    Filter(enough_memory, {"memory": _memory_text}, rank=2),
    Filter(can_train, {"training": lambda job, v: "inference-only pools"}, rank=3),
    Filter(has_precision, {"precision": lambda job, v: f"no {job.precision} support"}, rank=4),
)
FIT_FILTERS: tuple[Filter[PoolFilter], ...] = (
    Filter(
        meets_deadline,
        {"deadline": _deadline_text},
        rank=5,
        batch=lambda b: b.transfer_hours + b.run_hours <= b.deadline_hours,
    ),
    Filter(has_capacity, {"capacity": _capacity_text}, rank=6, batch=lambda b: b.devices <= b.free),
)
POOL_FILTERS = PART_FILTERS + FIT_FILTERS
FILTERS: tuple[Filter[SiteFilter] | Filter[PoolFilter], ...] = SITE_FILTERS + POOL_FILTERS


@dataclass(frozen=True, slots=True)
class Screening:
    """A job's feasible candidates, and for each site with none, why."""

    candidates: tuple[Candidate, ...]
    rejections: Mapping[str, Reason]


def screen(job: Job, ctx: Context) -> Screening:
    """Run every filter on every site and pool for `job`.

    Site and part verdicts are shared by all jobs that ask the same (batches have many
    such jobs), so they are computed once per distinct ask and kept in the context.
    """
    fitting, rejections = _sites(job, ctx)
    candidates = tuple(
        candidate_at(job, site, index, ctx) for site, indices in fitting for index in indices
    )
    return Screening(candidates, rejections)


def site_rejections(
    job: Job, ctx: Context, fitting: AbstractSet[str] = frozenset()
) -> tuple[int, dict[str, Reason]]:
    """What `screen` says of the sites, without costing the candidates: how many sites
    fit, and why each other one does not (explaining an unplaced job needs no more).
    Sites in `fitting` (known from the job's options) are not screened again."""
    others, rejections = _sites(job, ctx, fitting)
    return len(fitting) + len(others), rejections


def _sites(
    job: Job, ctx: Context, skip: AbstractSet[str] = frozenset()
) -> tuple[list[tuple[str, list[int]]], dict[str, Reason]]:
    """The sites with their fitting pool indices, and each other site's reason."""
    fitting: list[tuple[str, list[int]]] = []
    rejections: dict[str, Reason] = {}
    by_site = site_verdicts(job, ctx)
    by_pool = part_verdicts(job, ctx)
    for site in ctx.topology.sites.values():
        if site.name in skip:
            continue
        reason = by_site[site.name]
        if reason is not None:
            rejections[site.name] = reason
            continue
        best: tuple[int, Reason] | None = None
        fits: list[int] = []
        for index in range(len(site.pools)):
            failure = by_pool[(site.name, index)] or _first_fit_failure(job, site, index, ctx)
            if failure is None:
                fits.append(index)
            elif best is None or _further(failure, best):
                best = failure
        if fits:
            fitting.append((site.name, fits))
        else:
            assert best is not None  # the has_pools filter passed
            rejections[site.name] = best[1]
    return fitting, rejections


def pool_verdicts(job: Job, ctx: Context) -> list[tuple[Site, int, Reason | None]]:
    """Every (site, pool index) with its first failing filter for `job` (None: fits)."""
    by_site = site_verdicts(job, ctx)
    by_pool = part_verdicts(job, ctx)
    out: list[tuple[Site, int, Reason | None]] = []
    for site in ctx.topology.sites.values():
        for index in range(len(site.pools)):
            reason = by_site[site.name]
            if reason is None:
                failure = by_pool[(site.name, index)] or _first_fit_failure(job, site, index, ctx)
                reason = None if failure is None else failure[1]
            out.append((site, index, reason))
    return out


def candidate_at(job: Job, site_name: str, index: int, ctx: Context) -> Candidate:
    """The candidate `job` on pool `index` of `site_name`, with its path and costs."""
    site = ctx.topology.sites[site_name]
    pool = site.pools[index]
    device = ctx.topology.accelerators[pool.accelerator]
    path = ctx.network.path(job.origin, site_name)
    size = _sizing(job, site, index, ctx)
    # The solver only chooses among screened candidates, so both exist.
    assert path is not None and size is not None, f"{site_name}[{index}] not a candidate"
    cost = candidate_cost(job, site, pool, device, size, path, ctx.carbon_price_cny_per_kg)
    return Candidate(site, index, pool, device, path, cost)


def site_key(job: Job) -> Hashable:
    """What the site filters read of a job: jobs with equal keys get equal verdicts."""
    return (
        "site",
        job.origin,
        job.max_latency_ms,
        job.allowed_zones,
        job.allowed_hubs,
        job.allowed_providers,
        job.denied_providers,
    )


def part_key(job: Job) -> Hashable:
    """What the part filters read of a job: jobs with equal keys get equal verdicts."""
    return ("part", job.types, job.stacks, job.min_memory_gb, job.needs_training, job.precision)


def site_verdicts(job: Job, ctx: Context) -> dict[str, Reason | None]:
    """Each site's first failing site filter for `job` (None: passes); memoised per ask."""
    key = site_key(job)
    verdicts: dict[str, Reason | None] | None = ctx.memo.get(key)
    if verdicts is None:
        verdicts = {
            site.name: _first(f.check(job, site, ctx) for f in SITE_FILTERS)
            for site in ctx.topology.sites.values()
        }
        ctx.memo[key] = verdicts
    return verdicts


def part_verdicts(job: Job, ctx: Context) -> dict[PoolKey, tuple[int, Reason] | None]:
    """Each pool's first failing part filter for `job` (None: passes); memoised per ask."""
    key = part_key(job)
    verdicts: dict[PoolKey, tuple[int, Reason] | None] | None = ctx.memo.get(key)
    if verdicts is None:
        # Part filters read only the pool's accelerator: judge each type once.
        by_type: dict[str, tuple[int, Reason] | None] = {}
        verdicts = {}
        for site in ctx.topology.sites.values():
            for index, pool in enumerate(site.pools):
                if pool.accelerator not in by_type:
                    checks = (f.check(job, site, index, ctx) for f in PART_FILTERS)
                    by_type[pool.accelerator] = _first_stage(checks, 0)
                verdicts[(site.name, index)] = by_type[pool.accelerator]
        ctx.memo[key] = verdicts
    return verdicts


def _first_fit_failure(job: Job, site: Site, index: int, ctx: Context) -> tuple[int, Reason] | None:
    checks = (f.check(job, site, index, ctx) for f in FIT_FILTERS)
    return _first_stage(checks, len(PART_FILTERS))


def _first(reasons: Iterable[Reason | None]) -> Reason | None:
    return next((r for r in reasons if r is not None), None)


def _first_stage(reasons: Iterable[Reason | None], offset: int) -> tuple[int, Reason] | None:
    """The first failing filter, with its position in POOL_FILTERS."""
    for stage, reason in enumerate(reasons, start=offset):
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
