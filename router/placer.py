"""Filter -> cost -> solve -> explain: plans for batches, and the online route fast path."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from router.costs import to_milli_cny, work_units
from router.explain import explain_contention, explain_rejections, reason_counts
from router.filters import Candidate, Context, PoolKey, Screening, screen
from router.jobs import Job
from router.network import Network
from router.plan import Placement, Plan, Unplaced
from router.solver import Item, Option, Problem, solve
from router.topology import Topology

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
    screenings = [screen(job, ctx) for job in jobs]
    problem = _problem(jobs, screenings, ctx)
    solution = solve(problem, time_limit_s)

    placements: list[Placement] = []
    unplaced: list[Unplaced] = []
    chosen: dict[str, Placement] = {}
    for job, screening, choice in zip(jobs, screenings, solution.choice, strict=True):
        if choice is None:
            unplaced.append(_unplaced(job, screening, len(topology.sites)))
            continue
        placement = placement_of(job, screening.candidates[choice], topology)
        placements.append(placement)
        chosen[job.name] = placement

    baseline = baseline_placements(topology, jobs, screenings, ctx)
    both = [name for name in baseline if name in chosen]
    return Plan(
        placements=placements,
        unplaced=unplaced,
        total_cost_cny=sum(p.cost_cny for p in placements),
        baseline_cost_cny=sum(p.cost_cny for p in baseline.values()),
        savings_cny=sum(baseline[n].cost_cny - chosen[n].cost_cny for n in both),
        unlocked_jobs=sum(1 for name in chosen if name not in baseline),
        lower_bound_cny=solution.cost_bound / 1000,
        solver_status=solution.status,
        solver_seconds=solution.seconds,
        baseline=list(baseline.values()),
    )


def baseline_placements(
    topology: Topology, jobs: Sequence[Job], screenings: Sequence[Screening], ctx: Context
) -> dict[str, Placement]:
    """Status quo, "east data, east compute": each job at its cheapest feasible candidate in
    its origin's own hub, greedily in priority order, consuming capacity as it goes."""
    free = {
        (site.name, i): ctx.free_of(site, i)
        for site in topology.sites.values()
        for i in range(len(site.pools))
    }
    order = sorted(range(len(jobs)), key=lambda k: -jobs[k].priority)
    result: dict[str, Placement] = {}
    for k in order:
        job = jobs[k]
        home = topology.regions[job.origin].hub
        local = [
            c
            for c in screenings[k].candidates
            if c.site.hub == home and free[(c.site.name, c.pool_index)] >= job.count
        ]
        best = cheapest(local)
        if best is not None:
            free[(best.site.name, best.pool_index)] -= job.count
            result[job.name] = placement_of(job, best, topology)
    return result


def _problem(jobs: Sequence[Job], screenings: Sequence[Screening], ctx: Context) -> Problem:
    """The integer model: pools and shared links are resources; candidates are options."""
    capacities: list[int] = []
    index: dict[PoolKey, int] = {}
    for site in ctx.topology.sites.values():
        for i in range(len(site.pools)):
            index[(site.name, i)] = len(capacities)
            capacities.append(ctx.free_of(site, i))
    link_base = len(capacities)
    capacities += [math.floor(link.bandwidth_gbps * MBPS_PER_GBPS) for link in ctx.topology.links]
    items = []
    for job, screening in zip(jobs, screenings, strict=True):
        options = []
        for c in screening.candidates:
            uses = [(index[(c.site.name, c.pool_index)], job.count)]
            rate = transfer_rate_mbps(job, c)
            if rate:
                uses += [(link_base + link, rate) for link in c.path.links]
            options.append(Option(cost=to_milli_cny(c.cost.cost_cny), uses=tuple(uses)))
        items.append(Item(value=work_units(job), options=tuple(options)))
    return Problem(items=tuple(items), capacities=tuple(capacities))


def transfer_rate_mbps(job: Job, candidate: Candidate) -> int:
    """Bandwidth a deadline job holds on each link of its path while its data moves: the
    data over the time its deadline leaves for transfer. Jobs without deadlines hold none."""
    if job.deadline_hours is None or job.data_gb == 0:
        return 0
    window_hours = job.deadline_hours - candidate.cost.run_hours
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
