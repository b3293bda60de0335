"""What-if: apply scenarios to copies of the topology and jobs, plan each with the same
engine, and compare every plan with the plan of the unchanged baseline.

Pure core: inputs are never mutated (every change builds new frozen objects), nothing is
printed; progress goes to an optional callback.

demand_factor f on a job: floor(f) whole copies (the first keeps the job's name, the
others are named `name:2`, `name:3`, ...), plus, for a fractional part r, one more copy
with hours scaled by r (for f < 1 the job itself runs r of its hours). The selected
demand in device-hours is thus scaled by exactly f.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from router.errors import FieldProblem
from router.model.jobs import Job
from router.model.scenario import SITE_SELECTORS, Change, Scenario, Sweep
from router.model.scenario import parse_scenarios as parse_scenarios
from router.model.topology import Link, Pool, Site, Topology
from router.report.stats import percentile
from router.results import JobMove, Placement, Plan, ScenarioResult, Unplaced, WhatIfResult

Planner = Callable[[Topology, Sequence[Job]], Plan]
"""Plans jobs on a topology (bind the time limit before passing it)."""

Progress = Callable[[str], None]
"""Told the name of each plan as it starts (the baseline first, then each run)."""


@dataclass(frozen=True)
class ScenarioOutcome:
    """One plan's headline figures, and how it differs from the baseline plan."""

    name: str
    plan: Plan
    jobs: int
    placed: int
    total_cost_cny: float
    stay_east_cost_cny: float
    savings_cny: float
    unlocked_jobs: int
    west_share: float  # of placed device-hours (count x run_hours)
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    cost_by_hub: dict[str, float]
    cost_by_provider: dict[str, float]
    cost_delta_cny: float = 0.0
    placed_delta: int = 0
    moves: list[JobMove] = field(default_factory=list)
    lost_jobs: list[str] = field(default_factory=list)
    new_jobs: list[str] = field(default_factory=list)
    sweep_value: float | None = None
    site_zones: dict[str, str] = field(default_factory=dict)  # every site the moves name

    @property
    def unplaced(self) -> list[Unplaced]:
        """The jobs this plan could not place, with reasons."""
        return self.plan.unplaced

    def zone_of(self, site: str) -> str:
        """The zone of a site of this plan's topology (moves name sites, people read zones)."""
        return self.site_zones.get(site, "?")


@dataclass(frozen=True, slots=True)
class Flip:
    """A job whose zone changed between two neighbouring sweep values."""

    job: str
    before_value: float
    value: float
    from_zone: str
    to_zone: str
    from_site: str
    to_site: str


@dataclass(frozen=True)
class SweepResult:
    """A swept scenario: one outcome per value, and where placements flip zone."""

    name: str
    field: str
    change: int
    outcomes: list[ScenarioOutcome]
    flips: list[Flip]

    @property
    def values(self) -> list[float]:
        """The swept values, in order."""
        return [o.sweep_value if o.sweep_value is not None else math.nan for o in self.outcomes]


@dataclass(frozen=True)
class Comparison:
    """The baseline, the plain scenarios and the sweeps, all planned by the same engine."""

    baseline: ScenarioOutcome
    results: list[ScenarioOutcome]
    sweeps: list[SweepResult]


@dataclass(frozen=True, slots=True)
class Run:
    """One plan to make: a scenario without a sweep, or one point of a sweep."""

    name: str
    scenario: Scenario
    sweep_of: str | None = None
    value: float | None = None


# --- applying scenarios -----------------------------------------------------------------------


def apply_scenario(
    scenario: Scenario, topology: Topology, jobs: Sequence[Job]
) -> tuple[Topology, list[Job]]:
    """New topology and jobs with the scenario's additions and changes (in order)."""
    sites = {**topology.sites, **{s.name: s for s in scenario.add_sites}}
    links = [*topology.links, *scenario.add_links]
    extended = replace(topology, sites=sites, links=tuple(links))
    new_jobs = list(jobs)
    for change in scenario.changes:
        kind = change.select.kind
        if kind == "link":
            links = [
                _changed_link(ln, change) if change.select.selects_link(ln) else ln for ln in links
            ]
        elif kind == "job":
            new_jobs = _scaled_demand(new_jobs, change)
        else:
            sites = {name: _changed_site(site, change, extended) for name, site in sites.items()}
    return replace(topology, sites=sites, links=tuple(links)), new_jobs


def _changed_link(link: Link, change: Change) -> Link:
    return replace(
        link,
        status=change.status or link.status,
        latency_ms=link.latency_ms if change.latency_ms is None else change.latency_ms,
        bandwidth_gbps=(
            link.bandwidth_gbps if change.bandwidth_gbps is None else change.bandwidth_gbps
        ),
    )


def _changed_site(site: Site, change: Change, topology: Topology) -> Site:
    select = change.select
    if not select.selects_site(site, topology):
        return site
    pools = tuple(
        _changed_pool(pool, change)
        if select.selects_pool(site, pool.accelerator, topology)
        else pool
        for pool in site.pools
    )
    status = change.status if change.status and select.kind in SITE_SELECTORS else site.status
    return replace(site, status=status, pools=pools)


def _changed_pool(pool: Pool, change: Change) -> Pool:
    count = pool.count
    if change.count_factor is not None:
        count = math.floor(pool.count * change.count_factor + 1e-9)
    price = pool.price_cny_per_hour
    if change.price_factor is not None:
        price = pool.price_cny_per_hour * change.price_factor
    return replace(pool, count=count, price_cny_per_hour=price)


def _scaled_demand(jobs: list[Job], change: Change) -> list[Job]:
    factor = change.demand_factor
    if factor is None:
        return jobs
    taken = {j.name for j in jobs}
    out: list[Job] = []
    for job in jobs:
        if not change.select.selects_job(job):
            out.append(job)
            continue
        whole = math.floor(factor + 1e-9)
        fraction = factor - whole if factor - whole > 1e-9 else 0.0
        if whole == 0:
            out.append(replace(job, hours=job.hours * fraction))
            continue
        out.append(job)
        extra = [job] * (whole - 1)
        if fraction:
            extra.append(replace(job, hours=job.hours * fraction))
        for copy in extra:
            name = _free_name(job.name, taken)
            taken.add(name)
            out.append(replace(copy, name=name))
    return out


def _free_name(name: str, taken: set[str]) -> str:
    k = 2
    while f"{name}:{k}" in taken:
        k += 1
    return f"{name}:{k}"


# --- sweeps -----------------------------------------------------------------------------------


def runs_of(scenarios: Sequence[Scenario]) -> list[Run]:
    """Every plan the scenarios ask for: one per plain scenario, one per sweep value."""
    runs = []
    for scenario in scenarios:
        if scenario.sweep is None:
            runs.append(Run(scenario.name, scenario))
            continue
        for value in scenario.sweep.values:
            runs.append(
                Run(
                    f"{scenario.name}@{value:g}",
                    swept(scenario, scenario.sweep, value),
                    scenario.name,
                    value,
                )
            )
    return runs


def swept(scenario: Scenario, sweep: Sweep, value: float) -> Scenario:
    """The scenario with `sweep.field` of its swept change set to `value` (and no sweep)."""
    changes = list(scenario.changes)
    settings: dict[str, Any] = {sweep.field: value}
    changes[sweep.change] = replace(changes[sweep.change], **settings)
    return replace(scenario, name=f"{scenario.name}@{value:g}", changes=tuple(changes), sweep=None)


# --- comparing --------------------------------------------------------------------------------


def compare_scenarios(
    topology: Topology,
    jobs: Sequence[Job],
    scenarios: Sequence[Scenario],
    planner: Planner,
    progress: Progress | None = None,
) -> Comparison:
    """Plan the baseline and every scenario (and sweep value) with `planner`; compare."""
    runs = runs_of(scenarios)
    baseline, outcomes = plan_runs(topology, jobs, runs, planner, progress)
    return assemble(baseline, runs, outcomes, scenarios)


def run_whatif(
    topology: Topology, jobs: Sequence[Job], scenarios: Sequence[Scenario], planner: Planner
) -> WhatIfResult:
    """The service's what-if (the WhatIf RPC): the baseline plan and one result per plain
    scenario or sweep value, in order, each diffed against the baseline."""
    baseline, outcomes = plan_runs(topology, jobs, runs_of(scenarios), planner)
    found = [
        ScenarioResult(o.name, o.plan, o.cost_delta_cny, o.placed_delta, o.moves, o.lost_jobs)
        for o in outcomes
    ]
    return WhatIfResult(baseline.plan, found)


def plan_runs(
    topology: Topology,
    jobs: Sequence[Job],
    runs: Sequence[Run],
    planner: Planner,
    progress: Progress | None = None,
) -> tuple[ScenarioOutcome, list[ScenarioOutcome]]:
    """The one scenario loop: plan the baseline, then each run on its changed copies, and
    summarise each against the baseline (outcomes in the order of `runs`)."""
    if progress:
        progress("baseline")
    baseline_plan = planner(topology, jobs)
    baseline = summarize("baseline", baseline_plan, None, topology)
    outcomes = []
    for run in runs:
        if progress:
            progress(run.name)
        changed_topology, changed_jobs = apply_scenario(run.scenario, topology, jobs)
        plan = planner(changed_topology, changed_jobs)
        outcomes.append(summarize(run.name, plan, baseline_plan, changed_topology, run.value))
    return baseline, outcomes


RPC_SETTINGS = ("status", "price_factor", "count_factor", "latency_ms", "demand_factor")


def rpc_scenario(
    scenario: Scenario, topology: Topology, jobs: Sequence[Job]
) -> tuple[dict[str, Any], list[FieldProblem]]:
    """The scenario in the WhatIf RPC's shape: one named target per change (site, hub,
    link, pool {site, accelerator} or job), so lists, zones, providers and job filters
    become one change per target; applying them gives the same topology and jobs.
    Additions and bandwidth changes have no RPC form: they come back as problems."""
    problems = []
    if scenario.add_sites or scenario.add_links:
        section = "add_sites" if scenario.add_sites else "add_links"
        problems.append(FieldProblem(section, "cannot be sent to a server (run without --server)"))
    changes: list[dict[str, Any]] = []
    for i, change in enumerate(scenario.changes):
        settings = {k: getattr(change, k) for k in RPC_SETTINGS if getattr(change, k) is not None}
        if change.bandwidth_gbps is not None:
            problems.append(
                FieldProblem(
                    f"changes[{i}].bandwidth_gbps",
                    "cannot be sent to a server: the WhatIf RPC has no bandwidth change "
                    "(run without --server)",
                )
            )
        changes += [{**target, **settings} for target in _rpc_targets(change, topology, jobs)]
    return {"name": scenario.name, "changes": changes}, problems


def _rpc_targets(change: Change, topology: Topology, jobs: Sequence[Job]) -> list[dict[str, Any]]:
    select = change.select
    if select.kind == "site":
        return [{"site": name} for name in select.names]
    if select.kind == "hub":
        return [{"hub": name} for name in select.names]
    if select.kind in ("zone", "provider"):
        return [
            {"site": s.name} for s in topology.sites.values() if select.selects_site(s, topology)
        ]
    if select.kind == "pool":
        pairs = {
            (s.name, p.accelerator)
            for s in topology.sites.values()
            for p in s.pools
            if select.selects_pool(s, p.accelerator, topology)
        }
        return [{"pool": {"site": a, "accelerator": b}} for a, b in sorted(pairs)]
    if select.kind == "link":
        return [{"link": {"a": a, "b": b}} for a, b in select.links]
    if select.names:
        return [{"job": name} for name in select.names]
    return [{"job": j.name} for j in jobs if select.selects_job(j)]


def assemble(
    baseline: ScenarioOutcome,
    runs: Sequence[Run],
    outcomes: Sequence[ScenarioOutcome],
    scenarios: Sequence[Scenario],
) -> Comparison:
    """Group outcomes (one per run, same order) into plain results and sweeps."""
    results = [o for r, o in zip(runs, outcomes, strict=True) if r.sweep_of is None]
    sweeps = []
    for scenario in scenarios:
        if scenario.sweep is None:
            continue
        points = [o for r, o in zip(runs, outcomes, strict=True) if r.sweep_of == scenario.name]
        sweeps.append(
            SweepResult(
                scenario.name, scenario.sweep.field, scenario.sweep.change, points, flips(points)
            )
        )
    return Comparison(baseline, results, sweeps)


def summarize(
    name: str,
    plan: Plan,
    baseline: Plan | None,
    topology: Topology,
    sweep_value: float | None = None,
) -> ScenarioOutcome:
    """The figures of `plan` (made on `topology`) and its differences from `baseline`."""
    device_hours = sum(p.count * p.run_hours for p in plan.placements)
    west_hours = sum(p.count * p.run_hours for p in plan.placements if p.zone == "west")
    latencies = sorted(p.latency_ms for p in plan.placements)
    by_hub: dict[str, float] = defaultdict(float)
    by_provider: dict[str, float] = defaultdict(float)
    for p in plan.placements:
        by_hub[p.hub] += p.cost_cny
        site = topology.sites.get(p.site)
        by_provider[site.provider if site else "?"] += p.cost_cny
    outcome = ScenarioOutcome(
        name=name,
        plan=plan,
        jobs=len(plan.placements) + len(plan.unplaced),
        placed=len(plan.placements),
        total_cost_cny=plan.total_cost_cny,
        stay_east_cost_cny=plan.baseline_cost_cny,
        savings_cny=plan.savings_cny,
        unlocked_jobs=plan.unlocked_jobs,
        west_share=west_hours / device_hours if device_hours else 0.0,
        latency_p50_ms=percentile(latencies, 50),
        latency_p95_ms=percentile(latencies, 95),
        cost_by_hub=dict(sorted(by_hub.items())),
        cost_by_provider=dict(sorted(by_provider.items())),
        sweep_value=sweep_value,
        site_zones={s.name: topology.zone_of(s) for s in topology.sites.values()},
    )
    if baseline is None:
        return outcome
    return _diffed(outcome, plan, baseline)


def _diffed(outcome: ScenarioOutcome, plan: Plan, baseline: Plan) -> ScenarioOutcome:
    before = {p.job: p for p in baseline.placements}
    after = {p.job: p for p in plan.placements}
    all_before = before.keys() | {u.job for u in baseline.unplaced}
    return replace(
        outcome,
        cost_delta_cny=plan.total_cost_cny - baseline.total_cost_cny,
        placed_delta=len(plan.placements) - len(baseline.placements),
        moves=[
            _move(before[job], after[job])
            for job in before
            if job in after and after[job].site != before[job].site
        ],
        lost_jobs=[job for job in before if job not in after],
        new_jobs=[job for job in after if job not in all_before],
    )


def _move(before: Placement, after: Placement) -> JobMove:
    return JobMove(before.job, before.site, after.site)


def flips(points: Sequence[ScenarioOutcome]) -> list[Flip]:
    """Jobs whose zone differs between neighbouring sweep points, in sweep order."""
    found = []
    for prev, cur in itertools.pairwise(points):
        before = {p.job: p for p in prev.plan.placements}
        for p in cur.plan.placements:
            old = before.get(p.job)
            if old is not None and old.zone != p.zone:
                found.append(
                    Flip(
                        p.job,
                        prev.sweep_value if prev.sweep_value is not None else math.nan,
                        cur.sweep_value if cur.sweep_value is not None else math.nan,
                        old.zone,
                        p.zone,
                        old.site,
                        p.site,
                    )
                )
    return found
