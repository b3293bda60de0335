"""What-if: apply scenario changes to copies of the topology and jobs, plan each, diff them.

A scenario is `{"name": ..., "changes": [...]}`; each change selects one thing
(`site`, `hub`, `link: {a, b}`, `pool: {site, accelerator}` or `job`, "*" = every job)
and sets `status`, `price_factor`, `count_factor`, `latency_ms` or `demand_factor`.
Inputs are never mutated: every change builds new frozen objects.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from router.errors import FieldProblem, InvalidInputError
from router.jobs import Job
from router.plan import Plan
from router.results import JobMove, ScenarioResult, WhatIfResult
from router.topology import SITE_STATUSES, Pool, Site, Topology

SELECTORS = ("site", "hub", "link", "pool", "job")
SETTERS: Mapping[str, tuple[str, ...]] = {
    "site": ("status", "price_factor", "count_factor"),
    "hub": ("status", "price_factor", "count_factor"),
    "pool": ("price_factor", "count_factor"),
    "link": ("status", "latency_ms"),
    "job": ("demand_factor",),
}
LINK_STATUSES = ("up", "down")

Planner = Callable[[Topology, Sequence[Job]], Plan]
"""Plans jobs on a topology (bind time limits and free capacity before passing it)."""


@dataclass(frozen=True)
class Change:
    """One selection and the values it sets (None: unchanged)."""

    kind: str
    target: tuple[str, ...]
    status: str | None = None
    price_factor: float | None = None
    count_factor: float | None = None
    latency_ms: float | None = None
    demand_factor: float | None = None


@dataclass(frozen=True)
class Scenario:
    """A named list of changes applied together."""

    name: str
    changes: tuple[Change, ...]


def parse_scenarios(
    data: Sequence[Any], topology: Topology, jobs: Sequence[Job], where: str = "scenarios"
) -> list[Scenario]:
    """Validate scenario mappings; problems name paths like scenarios[0].changes[1].site."""
    problems: list[FieldProblem] = []
    scenarios = []
    job_names = {j.name for j in jobs}
    for i, entry in enumerate(data):
        at = f"{where}[{i}]"
        name = entry.get("name") if isinstance(entry, Mapping) else None
        if not isinstance(name, str) or not name:
            problems.append(FieldProblem(f"{at}.name", "is required (a scenario name)"))
        raw = entry.get("changes", []) if isinstance(entry, Mapping) else []
        changes = []
        for k, change in enumerate(raw):
            parsed, found = _change(change, f"{at}.changes[{k}]", topology, job_names)
            problems += found
            if parsed is not None:
                changes.append(parsed)
        scenarios.append(Scenario(str(name), tuple(changes)))
    if problems:
        raise InvalidInputError(problems)
    return scenarios


def _change(
    raw: Mapping[str, Any], at: str, topology: Topology, job_names: set[str]
) -> tuple[Change | None, list[FieldProblem]]:
    kinds = [k for k in SELECTORS if k in raw]
    if len(kinds) != 1:
        return None, [FieldProblem(at, "must select exactly one of: " + ", ".join(SELECTORS))]
    kind = kinds[0]
    value = raw[kind]
    problems: list[FieldProblem] = []
    target: tuple[str, ...]
    if kind == "link":
        target = (str(value.get("a", "")), str(value.get("b", "")))
        known = {frozenset((ln.a, ln.b)) for ln in topology.links}
        if frozenset(target) not in known:
            problems.append(
                FieldProblem(f"{at}.link", f"no link between {target[0]!r} and {target[1]!r}")
            )
    elif kind == "pool":
        target = (str(value.get("site", "")), str(value.get("accelerator", "")))
        site = topology.sites.get(target[0])
        if site is None:
            problems.append(FieldProblem(f"{at}.pool.site", f"unknown site {target[0]!r}"))
        elif target[1] and all(p.accelerator != target[1] for p in site.pools):
            problems.append(
                FieldProblem(f"{at}.pool.accelerator", f"site {target[0]} has no {target[1]} pool")
            )
    else:
        target = (str(value),)
        names: set[str] = {
            "site": set(topology.sites),
            "hub": set(topology.hubs),
            "job": job_names | {"*"},
        }[kind]
        if target[0] not in names:
            problems.append(FieldProblem(f"{at}.{kind}", f"unknown {kind} {target[0]!r}"))
    for key in ("status", "price_factor", "count_factor", "latency_ms", "demand_factor"):
        if raw.get(key) is not None and key not in SETTERS[kind]:
            problems.append(FieldProblem(f"{at}.{key}", f"does not apply to a {kind}"))
    status = raw.get("status")
    allowed = LINK_STATUSES if kind == "link" else SITE_STATUSES
    if status is not None and status not in allowed:
        problems.append(
            FieldProblem(f"{at}.status", f"must be one of: {', '.join(allowed)}, got {status!r}")
        )
    for key in ("price_factor", "demand_factor", "latency_ms"):
        if raw.get(key) is not None and not float(raw[key]) > 0:
            problems.append(FieldProblem(f"{at}.{key}", f"must be a number > 0, got {raw[key]}"))
    if raw.get("count_factor") is not None and not float(raw["count_factor"]) >= 0:
        problems.append(
            FieldProblem(f"{at}.count_factor", f"must be a number >= 0, got {raw['count_factor']}")
        )
    if problems:
        return None, problems
    return Change(
        kind,
        target,
        status,
        *(
            None if raw.get(k) is None else float(raw[k])
            for k in ("price_factor", "count_factor", "latency_ms", "demand_factor")
        ),
    ), []


def apply(
    scenario: Scenario, topology: Topology, jobs: Sequence[Job]
) -> tuple[Topology, list[Job]]:
    """New topology and jobs with the scenario's changes; the inputs stay as they were."""
    sites = dict(topology.sites)
    links = list(topology.links)
    new_jobs = list(jobs)
    for change in scenario.changes:
        if change.kind in ("site", "hub", "pool"):
            for name, site in sites.items():
                if _selects(change, site):
                    sites[name] = _change_site(site, change)
        elif change.kind == "link":
            ends = frozenset(change.target)
            links = [
                replace(
                    ln,
                    status=change.status or ln.status,
                    latency_ms=ln.latency_ms if change.latency_ms is None else change.latency_ms,
                )
                if frozenset((ln.a, ln.b)) == ends
                else ln
                for ln in links
            ]
        elif change.demand_factor is not None:
            factor = change.demand_factor
            new_jobs = [
                replace(j, count=max(1, math.ceil(j.count * factor)))
                if change.target[0] in ("*", j.name)
                else j
                for j in new_jobs
            ]
    return replace(topology, sites=sites, links=tuple(links)), new_jobs


def _selects(change: Change, site: Site) -> bool:
    if change.kind == "site":
        return site.name == change.target[0]
    if change.kind == "hub":
        return site.hub == change.target[0]
    return site.name == change.target[0]


def _change_site(site: Site, change: Change) -> Site:
    pools = tuple(
        _change_pool(pool, change)
        if change.kind != "pool" or not change.target[1] or pool.accelerator == change.target[1]
        else pool
        for pool in site.pools
    )
    return replace(site, status=change.status or site.status, pools=pools)


def _change_pool(pool: Pool, change: Change) -> Pool:
    count = (
        pool.count if change.count_factor is None else math.floor(pool.count * change.count_factor)
    )
    price = pool.price_cny_per_hour * (change.price_factor or 1.0)
    return replace(pool, count=count, price_cny_per_hour=price)


def run_whatif(
    topology: Topology, jobs: Sequence[Job], scenarios: Sequence[Scenario], planner: Planner
) -> WhatIfResult:
    """Plan the baseline and every scenario with `planner`, and diff each against the baseline."""
    baseline = planner(topology, jobs)
    results = []
    for scenario in scenarios:
        changed_topology, changed_jobs = apply(scenario, topology, jobs)
        plan = planner(changed_topology, changed_jobs)
        results.append(diff(scenario.name, baseline, plan))
    return WhatIfResult(baseline, results)


def diff(name: str, baseline: Plan, plan: Plan) -> ScenarioResult:
    """How `plan` differs from `baseline`: cost, placed count, moved and lost jobs."""
    before = {p.job: p for p in baseline.placements}
    after = {p.job: p for p in plan.placements}
    moves = [
        JobMove(job, before[job].site, after[job].site)
        for job in before
        if job in after and after[job].site != before[job].site
    ]
    return ScenarioResult(
        name=name,
        plan=plan,
        cost_delta_cny=plan.total_cost_cny - baseline.total_cost_cny,
        placed_delta=len(plan.placements) - len(baseline.placements),
        moves=moves,
        lost_jobs=[job for job in before if job not in after],
    )
