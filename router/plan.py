"""Filter -> cost -> solve -> explain: plans for batches, and the online route fast path."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from router.model.jobs import Job
from router.model.topology import Topology
from router.place.candidates import JobOptions, PoolTable, batch_options, pool_table
from router.place.costs import MILLI, work_units
from router.place.explain import explain_contention, explain_rejections, reason_counts
from router.place.filters import Candidate, Context, PoolKey, Screening, candidate_at, screen
from router.place.network import Network
from router.results import Placement, Plan, Unplaced
from router.solve.gangsolver import GangProblem
from router.solve.plansolver import optimise

MBPS_PER_GBPS = 1000


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
        count=job.count,
        latency_ms=candidate.path.latency_ms,
        path=candidate.path.places,
        run_hours=cost.run_hours,
        compute_cny=cost.compute_cny,
        transfer_cny=cost.transfer_cny,
        carbon_kg=cost.carbon_kg,
        cost_cny=cost.cost_cny,
    )


def cheapest(candidates: Sequence[Candidate]) -> Candidate | None:
    """The cheapest candidate; ties go to lower latency, then to the name (deterministic)."""
    return min(
        candidates,
        key=lambda c: (c.cost.cost_cny, c.path.latency_ms, c.site.name, c.pool_index),
        default=None,
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
    best = cheapest(screening.candidates)
    if best is None:
        return _unplaced(job, screening, len(topology.sites))
    return placement_of(job, best, topology)


def plan_jobs(
    topology: Topology,
    jobs: Sequence[Job],
    *,
    time_limit_s: float = 10.0,
    free: Mapping[PoolKey, int] | None = None,
    carbon_price_cny_per_kg: float = 0.0,
    network: Network | None = None,
) -> Plan:
    """Place a batch: most priority-weighted work first, then least total cost."""
    ctx = make_context(topology, free, carbon_price_cny_per_kg, network)
    table = pool_table(ctx)
    options = batch_options(jobs, ctx, table)
    solution = optimise(_gang_problem(jobs, options, table, ctx), time_limit_s)

    placements: list[Placement] = []
    unplaced: list[Unplaced] = []
    chosen: dict[str, Placement] = {}
    for job, job_options, choice in zip(jobs, options, solution.choice, strict=True):
        if choice is None:
            unplaced.append(_unplaced(job, screen(job, ctx), len(topology.sites)))
            continue
        site, index = table.keys[int(job_options.pools[choice])]
        placement = placement_of(job, candidate_at(job, site, index, ctx), topology)
        placements.append(placement)
        chosen[job.name] = placement

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
            (float(cost), paths[table.keys[p][0]].latency_ms, table.keys[p], p)
            for p, cost in zip(options[k].pools.tolist(), options[k].cost_cny, strict=True)
            if hub_of_pool[p] == home and free[p] >= job.count
        ]
        if local:
            _, _, (site, index), p = min(local)
            free[p] -= job.count
            result[job.name] = placement_of(job, candidate_at(job, site, index, ctx), topology)
    return result


def _gang_problem(
    jobs: Sequence[Job], options: Sequence[JobOptions], table: PoolTable, ctx: Context
) -> GangProblem:
    """The integer model as arrays: pools are resources, candidates are options; deadline
    jobs also hold bandwidth on every link of their path (side resources)."""
    sizes = [len(o.pools) for o in options]
    option_ptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    empty = np.empty(0, dtype=np.int64)
    side_counts = np.zeros(int(option_ptr[-1]), dtype=np.int64)
    side_res: list[int] = []
    side_amt: list[int] = []
    for k, (job, job_options) in enumerate(zip(jobs, options, strict=True)):
        if job.deadline_hours is None or job.data_gb == 0:
            continue
        paths = ctx.network.paths_from(job.origin)
        for n, (p, run) in enumerate(
            zip(job_options.pools.tolist(), job_options.run_hours.tolist(), strict=True)
        ):
            links = paths[table.keys[p][0]].links
            side_counts[option_ptr[k] + n] = len(links)
            side_res.extend(links)
            side_amt.extend([transfer_rate_mbps(job, run)] * len(links))
    return GangProblem(
        value=np.array([work_units(j) for j in jobs], dtype=np.int64),
        size=np.array([j.count for j in jobs], dtype=np.int64),
        option_ptr=option_ptr,
        option_pool=np.concatenate([o.pools for o in options]) if options else empty,
        option_cost=(
            np.rint(np.concatenate([o.cost_cny for o in options]) * MILLI).astype(np.int64)
            if options
            else empty
        ),
        capacity=table.free.copy(),
        side_ptr=np.concatenate([[0], np.cumsum(side_counts)]).astype(np.int64),
        side_res=np.array(side_res, dtype=np.int64),
        side_amt=np.array(side_amt, dtype=np.int64),
        side_capacity=np.array(
            [math.floor(link.bandwidth_gbps * MBPS_PER_GBPS) for link in ctx.topology.links],
            dtype=np.int64,
        ),
    )


def transfer_rate_mbps(job: Job, run_hours: float) -> int:
    """Bandwidth a deadline job holds on each link of its path while its data moves: the
    data over the time its deadline leaves for transfer. Jobs without deadlines hold none."""
    if job.deadline_hours is None or job.data_gb == 0:
        return 0
    window_hours = job.deadline_hours - run_hours
    if window_hours <= 0:
        return 0  # the deadline filter has already rejected such a candidate
    return math.ceil(job.data_gb * 8 * MBPS_PER_GBPS / (window_hours * 3600))


def _unplaced(job: Job, screening: Screening, total_sites: int) -> Unplaced:
    if screening.candidates:
        fitting = len({c.site.name for c in screening.candidates})
        return Unplaced(
            job.name,
            explain_contention(job, fitting, total_sites),
            {"contention": fitting, **reason_counts(screening.rejections)},
        )
    return Unplaced(
        job.name,
        explain_rejections(job, screening.rejections, total_sites),
        reason_counts(screening.rejections),
    )
