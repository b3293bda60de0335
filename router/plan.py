"""Filter -> cost -> solve -> explain: plans for batches, and the online route fast path."""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import numpy.typing as npt

from router.model.jobs import Job
from router.model.topology import Topology
from router.place.candidates import JobOptions, PoolTable, batch_options, pool_table
from router.place.costs import MILLI, work_units
from router.place.explain import explain_contention, explain_rejections, reason_counts
from router.place.filters import (
    Candidate,
    Context,
    PoolKey,
    Reason,
    candidate_at,
    screen,
    site_rejections,
)
from router.place.network import Network
from router.place.offers import best_offer
from router.results import Placement, Plan, Unplaced
from router.solve.pipeline import solve
from router.solve.problem import Problem
from router.state.quotas import BatchQuotas, refusal

MBPS_PER_GBPS = 1000
OUTPUT_SHARE = 0.02  # of the time limit kept for building the plan rows
OUTPUT_SECONDS_PER_JOB_SITE = 1.5e-6  # measured 0.6-1.5 us per job and site: rows,
# baseline, the reasons of the unplaced (a quarter) and the JSON, at 10k x 40 and 100k x 100
MIN_SOLVE_SHARE = 0.25  # of the time limit: the solver always gets this much


def make_context(
    topology: Topology,
    free: Mapping[PoolKey, int] | None = None,
    carbon_price_cny_per_kg: float = 0.0,
    network: Network | None = None,
) -> Context:
    """A filter context; pass `network` to reuse cached paths across calls."""
    if network is None or network.topology is not topology:
        network = Network(topology)
    return Context(topology, network, free or {}, carbon_price_cny_per_kg)


def placement_of(job: Job, candidate: Candidate, topology: Topology) -> Placement:
    """The plan row for `job` on `candidate`."""
    site = candidate.site
    cost = candidate.cost
    return Placement(
        job=job.name,
        site=site.name,
        hub=site.hub,
        zone=topology.zone_of(site),
        pool_index=candidate.pool_index,
        accelerator=candidate.accelerator.name,
        count=cost.devices,
        latency_ms=candidate.path.latency_ms,
        path=candidate.path.places,
        run_hours=cost.run_hours,
        compute_cny=cost.compute_cny,
        transfer_cny=cost.transfer_cny,
        carbon_kg=cost.carbon_kg,
        cost_cny=cost.cost_cny,
    )


def route_job(
    topology: Topology,
    job: Job,
    free: Mapping[PoolKey, int] | None = None,
    *,
    carbon_price_cny_per_kg: float = 0.0,
    network: Network | None = None,
) -> Placement | Unplaced:
    """The online fast path: the cheapest feasible candidate with free capacity now."""
    ctx = make_context(topology, free, carbon_price_cny_per_kg, network)
    screening = screen(job, ctx)
    best = best_offer(job, screening.candidates)
    if best is None:
        fitting = len({c.site.name for c in screening.candidates})
        return _unplaced(job, fitting, screening.rejections, len(topology.sites))
    return placement_of(job, best, topology)


def plan_jobs(
    topology: Topology,
    jobs: Sequence[Job],
    *,
    time_limit_s: float = 10.0,
    free: Mapping[PoolKey, int] | None = None,
    carbon_price_cny_per_kg: float = 0.0,
    network: Network | None = None,
    started: float | None = None,
    quotas: BatchQuotas | None = None,
    called_off: Callable[[], bool] | None = None,
) -> Plan:
    """Place a batch: most priority-weighted work first, then least total cost.

    The time limit covers screening, solving and explaining; it counts from `started`
    (a time.monotonic() reading, e.g. before the files were read) or from now. With
    `quotas`, no tenant (each job's `tenant`) gets more than its quota allows. Once
    `called_off()` is True (the caller has gone) the search stops early."""
    started = time.monotonic() if started is None else started
    ctx = make_context(topology, free, carbon_price_cny_per_kg, network)
    table = pool_table(ctx)
    options = batch_options(jobs, ctx, table)
    problem = placement_problem(jobs, options, table, ctx, quotas)
    # What is left after screening, less what explaining and the baseline will take.
    reserve = OUTPUT_SHARE * time_limit_s
    reserve += OUTPUT_SECONDS_PER_JOB_SITE * len(jobs) * len(topology.sites)
    budget = time_limit_s - (time.monotonic() - started) - reserve
    solution = solve(problem, max(budget, MIN_SOLVE_SHARE * time_limit_s), called_off=called_off)

    placements: list[Placement] = []
    left: list[tuple[Job, JobOptions]] = []
    chosen: dict[str, Placement] = {}
    governed = frozenset(quotas.policy.tenants) if quotas is not None else frozenset()
    picks = settle_ties(jobs, options, table, ctx, solution.choice.tolist(), governed)
    for job, job_options, choice in zip(jobs, options, picks, strict=True):
        if choice < 0:
            left.append((job, job_options))
            continue
        site, index = table.keys[int(job_options.pools[choice])]
        placement = placement_of(job, candidate_at(job, site, index, ctx), topology)
        placements.append(placement)
        chosen[job.name] = placement
    over_quota = _quota_reasons(jobs, left, placements, quotas, table, ctx)
    unplaced = [
        over_quota.get(job.name) or _left_out(job, job_options, table, ctx)
        for job, job_options in left
    ]

    baseline = baseline_placements(jobs, options, table, ctx)
    both = [name for name in baseline if name in chosen]
    return Plan(
        placements=placements,
        unplaced=unplaced,
        total_cost_cny=sum(p.cost_cny for p in placements),
        baseline_cost_cny=sum(p.cost_cny for p in baseline.values()),
        savings_cny=sum(baseline[n].cost_cny - chosen[n].cost_cny for n in both),
        unlocked_jobs=sum(1 for name in chosen if name not in baseline),
        lower_bound_cny=solution.cost_bound / MILLI,
        solver_status=solution.status,
        solver_seconds=solution.seconds,
        baseline_jobs=len(baseline),
        baseline_shared_cost_cny=sum(baseline[n].cost_cny for n in both),
        baseline=list(baseline.values()),
    )


def settle_ties(
    jobs: Sequence[Job],
    options: Sequence[JobOptions],
    table: PoolTable,
    ctx: Context,
    choice: list[int],
    governed: frozenset[str] = frozenset(),
) -> list[int]:
    """The solver's choices, each job moved to the lowest-latency option of exactly the
    same cost (milli-CNY) with room left, as both `prefer` rankings order equal costs: the
    plan's work and cost stay, ties no longer fall where the solver happened to leave
    them. Jobs holding link bandwidth (deadline transfers), or of `governed` tenants (whose
    quotas count per accelerator type), stay where they are."""
    left = table.free.copy()
    for job_options, pick in zip(options, choice, strict=True):
        if pick >= 0:
            left[job_options.pools[pick]] -= job_options.devices[pick]
    settled = list(choice)
    for k, (job, job_options) in enumerate(zip(jobs, options, strict=True)):
        pick = settled[k]
        if pick < 0 or (job.deadline_hours is not None and job.data_gb > 0):
            continue
        if job.tenant in governed:
            continue
        milli = np.rint(job_options.cost_cny * MILLI)
        paths = ctx.network.paths_from(job.origin)
        ties: list[tuple[float, PoolKey, int]] = []
        for n in np.flatnonzero(milli == milli[pick]).tolist():
            pool = int(job_options.pools[n])
            if n == pick or left[pool] >= job_options.devices[n]:
                key = table.keys[pool]
                ties.append((paths[key[0]].latency_ms, key, n))
        best = min(ties)[2]
        if best != pick:
            left[job_options.pools[pick]] += job_options.devices[pick]
            left[job_options.pools[best]] -= job_options.devices[best]
            settled[k] = best
    return settled


def baseline_placements(
    jobs: Sequence[Job], options: Sequence[JobOptions], table: PoolTable, ctx: Context
) -> dict[str, Placement]:
    """Status quo, "east data, east compute": each job at its cheapest feasible candidate in
    its origin's own hub, greedily in priority order, consuming capacity as it goes."""
    topology = ctx.topology
    free = table.free.copy()
    hub_of_pool = [topology.sites[site].hub for site, _ in table.keys]
    order = sorted(range(len(jobs)), key=lambda k: -jobs[k].priority)
    result: dict[str, Placement] = {}
    for k in order:
        job = jobs[k]
        home = topology.regions[job.origin].hub
        paths = ctx.network.paths_from(job.origin)
        local = [
            (float(cost), paths[table.keys[p][0]].latency_ms, table.keys[p], p, n)
            for p, n, cost in zip(
                options[k].pools.tolist(),
                options[k].devices.tolist(),
                options[k].cost_cny,
                strict=True,
            )
            if hub_of_pool[p] == home and free[p] >= n
        ]
        if local:
            _, _, (site, index), p, n = min(local)
            free[p] -= n
            result[job.name] = placement_of(job, candidate_at(job, site, index, ctx), topology)
    return result


def placement_problem(
    jobs: Sequence[Job],
    options: Sequence[JobOptions],
    table: PoolTable,
    ctx: Context,
    quotas: BatchQuotas | None = None,
) -> Problem:
    """The integer model: jobs are items, candidates their options. An option uses its
    pool's devices (the count may differ per option), for a deadline job bandwidth on
    every link of its path, and for a job of a tenant with a quota its devices of that
    quota's resources (router.state.quotas.BatchQuotas; resources after the links)."""
    sizes = np.array([len(o.pools) for o in options], dtype=np.int64)
    item_ptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    empty = np.empty(0, dtype=np.int64)
    pools = np.concatenate([o.pools for o in options] or [empty]).astype(np.int64, copy=False)
    devices = np.concatenate(
        [option_devices(job, o) for job, o in zip(jobs, options, strict=True)] or [empty]
    ).astype(np.int64, copy=False)
    extra = _extra_uses(jobs, options, item_ptr, devices, table, ctx, quotas)
    use_ptr, use_res, use_amt = _uses(pools, devices, *extra)
    bandwidth = [math.floor(link.bandwidth_gbps * MBPS_PER_GBPS) for link in ctx.topology.links]
    bandwidth += quotas.capacities if quotas is not None else []
    cost = np.concatenate([o.cost_cny for o in options] or [np.empty(0)])
    np.multiply(cost, MILLI, out=cost)  # in place: at 100,000 jobs each copy is 50 MB
    np.rint(cost, out=cost)
    return Problem(
        value=np.array([work_units(j) for j in jobs], dtype=np.int64),
        required=np.zeros(len(jobs), dtype=np.bool_),
        item_ptr=item_ptr,
        cost=cost.astype(np.int64),
        use_ptr=use_ptr,
        use_res=use_res,
        use_amt=use_amt,
        capacity=np.concatenate([table.free, np.array(bandwidth, dtype=np.int64)]),
    )


def _extra_uses(
    jobs: Sequence[Job],
    options: Sequence[JobOptions],
    item_ptr: npt.NDArray[np.int64],
    devices: npt.NDArray[np.int64],
    table: PoolTable,
    ctx: Context,
    quotas: BatchQuotas | None,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """(option, resource, amount) of every use beyond the options' main ones, by option.
    Most options use only their pool's devices; a deadline job moving data also holds
    bandwidth on each link of its path, a job of a tenant with a quota its devices of
    that quota's resources (after the links). Built as arrays per job: 100,000 deadline
    jobs have millions of these uses, and objects per use took 2.3 GB."""
    n_pools = len(table.keys)
    first_quota = n_pools + len(ctx.topology.links)
    sites = [site for site, _ in table.keys]
    links_from: dict[str, tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]] = {}
    quota_rows: dict[tuple[str, int], list[int]] = {}
    parts: list[tuple[npt.NDArray[np.int64], ...]] = []
    for k, (job, job_options) in enumerate(zip(jobs, options, strict=True)):
        moves_data = job.deadline_hours is not None and job.data_gb != 0
        governed = quotas is not None and job.tenant in quotas.policy.tenants
        if not (moves_data or governed):
            continue
        pools = job_options.pools
        option = int(item_ptr[k]) + np.arange(len(pools), dtype=np.int64)
        mine: list[tuple[npt.NDArray[np.int64], ...]] = []
        if moves_data:
            if job.origin not in links_from:
                links_from[job.origin] = _path_links(ctx, job.origin, sites)
            ptr, links = links_from[job.origin]
            mine.append(
                _spread(
                    option,
                    ptr[pools],
                    ptr[pools + 1] - ptr[pools],
                    n_pools + links,
                    transfer_rates_mbps(job, job_options.run_hours),
                )
            )
        if quotas is not None and governed:
            rows = []  # each option's quota rows, in option order
            for p in pools.tolist():
                if (job.tenant, p) not in quota_rows:
                    accelerator = _accelerator(ctx, table.keys[p])
                    quota_rows[job.tenant, p] = quotas.rows_for(job.tenant, accelerator)
                rows.append(quota_rows[job.tenant, p])
            count = np.array([len(r) for r in rows], dtype=np.int64)
            flat = first_quota + np.array([r for each in rows for r in each], dtype=np.int64)
            mine.append((np.repeat(option, count), flat, np.repeat(devices[option], count)))
        parts.append(_by_option(mine))
    if not parts:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, empty
    option, resource, amount = (np.concatenate(column) for column in zip(*parts, strict=True))
    return option, resource, amount


def _path_links(
    ctx: Context, origin: str, sites: Sequence[str]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The links on the path from `origin` to each pool's site, as (ptr, links) CSR over
    the pools (none where the site is out of reach: such pools are never options)."""
    paths = ctx.network.paths_from(origin)
    per_pool = [paths[site].links if site in paths else () for site in sites]
    ptr = np.zeros(len(sites) + 1, dtype=np.int64)
    np.cumsum([len(links) for links in per_pool], out=ptr[1:])
    links = np.fromiter(itertools.chain.from_iterable(per_pool), dtype=np.int64, count=int(ptr[-1]))
    return ptr, links


def _spread(
    option: npt.NDArray[np.int64],
    start: npt.NDArray[np.int64],
    count: npt.NDArray[np.int64],
    flat: npt.NDArray[np.int64],
    amount: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[np.int64], ...]:
    """Option k uses resources flat[start[k] : start[k] + count[k]], each `amount[k]`."""
    total = int(count.sum())
    at = np.repeat(start - (np.cumsum(count) - count), count) + np.arange(total, dtype=np.int64)
    return np.repeat(option, count), flat[at], np.repeat(amount, count)


def _by_option(parts: list[tuple[npt.NDArray[np.int64], ...]]) -> tuple[npt.NDArray[np.int64], ...]:
    """One job's extra uses from each source, merged by option (stable: links first)."""
    if len(parts) == 1:
        return parts[0]
    merged = [np.concatenate(column) for column in zip(*parts, strict=True)]
    order = np.argsort(merged[0], kind="stable")
    return tuple(column[order] for column in merged)


def _uses(
    pools: npt.NDArray[np.int64],
    devices: npt.NDArray[np.int64],
    extra_option: npt.NDArray[np.int64],
    extra_resource: npt.NDArray[np.int64],
    extra_amount: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The uses CSR: each option's pool and devices first (the main use), then its extra
    (resource, amount) uses, given sorted by option."""
    n_options = len(pools)
    if len(extra_option) == 0:
        return np.arange(n_options + 1, dtype=np.int64), pools, devices
    extra_count = np.bincount(extra_option, minlength=n_options)
    use_ptr = np.zeros(n_options + 1, dtype=np.int64)
    np.cumsum(extra_count + 1, out=use_ptr[1:])
    use_res = np.empty(int(use_ptr[-1]), dtype=np.int64)
    use_amt = np.empty(int(use_ptr[-1]), dtype=np.int64)
    use_res[use_ptr[:-1]] = pools
    use_amt[use_ptr[:-1]] = devices
    # Extra use j is the (j - first extra of its option)-th after its option's main use.
    first_extra = np.cumsum(extra_count) - extra_count
    rank = np.arange(len(extra_option), dtype=np.int64) - first_extra[extra_option]
    at = use_ptr[extra_option] + 1 + rank
    use_res[at] = extra_resource
    use_amt[at] = extra_amount
    return use_ptr, use_res, use_amt


def option_devices(job: Job, options: JobOptions) -> npt.NDArray[np.int64]:
    """Devices the job takes on each of its options (work jobs keep their count; service
    jobs scale it by the part: router.place.costs.sizing)."""
    return options.devices


def transfer_rates_mbps(job: Job, run_hours: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """Bandwidth a deadline job holds on each link of its path while its data moves, for
    each of its run times: the data over the time its deadline leaves for transfer. Jobs
    without deadlines hold none."""
    if job.deadline_hours is None or job.data_gb == 0:
        return np.zeros(len(run_hours), dtype=np.int64)
    window_hours = job.deadline_hours - run_hours
    # A window <= 0 holds none: the deadline filter has already rejected such a candidate.
    with np.errstate(divide="ignore"):
        rate = np.ceil(job.data_gb * 8 * MBPS_PER_GBPS / (window_hours * 3600))
    return np.where(window_hours > 0, rate, 0).astype(np.int64)


def _quota_reasons(
    jobs: Sequence[Job],
    left: Sequence[tuple[Job, JobOptions]],
    placements: Sequence[Placement],
    quotas: BatchQuotas | None,
    table: PoolTable,
    ctx: Context,
) -> dict[str, Unplaced]:
    """Unplaced jobs whose every option their tenant's quota refuses once the plan's own
    placements count: the quota's reason, not capacity's."""
    if quotas is None:
        return {}
    tenant_of = {job.name: job.tenant for job in jobs}
    usage = dict(quotas.usage)
    for p in placements:
        key = (tenant_of[p.job], p.accelerator)
        usage[key] = usage.get(key, 0) + p.count
    found: dict[str, Unplaced] = {}
    for job, job_options in left:
        if job.tenant not in quotas.policy.tenants or not len(job_options.pools):
            continue
        asks = sorted(
            {
                (_accelerator(ctx, table.keys[p]), n)
                for p, n in zip(
                    job_options.pools.tolist(), job_options.devices.tolist(), strict=True
                )
            }
        )
        why = [refusal(quotas.policy, usage, job.tenant, a, n) for a, n in asks]
        if all(why):
            found[job.name] = Unplaced(job.name, str(why[0]), {"quota": 1})
    return found


def _accelerator(ctx: Context, pool: PoolKey) -> str:
    return ctx.topology.sites[pool[0]].pools[pool[1]].accelerator


def _left_out(job: Job, job_options: JobOptions, table: PoolTable, ctx: Context) -> Unplaced:
    """Why a job with these options is left out; the sites its options are at fit, and
    only the others are screened for their reasons (the pools are many at 100 sites)."""
    fitting = {table.keys[p][0] for p in job_options.pools.tolist()}
    n_fitting, rejections = site_rejections(job, ctx, fitting)
    return _unplaced(job, n_fitting, rejections, len(ctx.topology.sites))


def _unplaced(
    job: Job, fitting: int, rejections: Mapping[str, Reason], total_sites: int
) -> Unplaced:
    """Why `job` is left out: contention when `fitting` sites fit, else the filters'."""
    if fitting:
        return Unplaced(
            job.name,
            explain_contention(job, fitting, total_sites),
            {"contention": fitting, **reason_counts(rejections)},
        )
    return Unplaced(
        job.name, explain_rejections(job, rejections, total_sites), reason_counts(rejections)
    )
