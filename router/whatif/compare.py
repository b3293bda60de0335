"""What-if: plan the baseline and each scenario (router.whatif.apply makes the changed
copies) with the same engine, and compare every plan with the baseline's.

Pure core: nothing is printed; progress goes to an optional callback.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from router.model.jobs import Job
from router.model.scenario import Scenario
from router.model.scenario import parse_scenarios as parse_scenarios
from router.model.topology import Topology
from router.report.stats import percentile
from router.results import JobMove, Placement, Plan, ScenarioResult, Unplaced, WhatIfResult
from router.whatif.apply import Run, apply_scenario, runs_of

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
