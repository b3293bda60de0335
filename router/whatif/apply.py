"""Scenarios on copies: apply a scenario's changes to new topology and jobs, expand sweeps
into runs, and write a scenario in the WhatIf RPC's shape.

Inputs are never mutated (every change builds new frozen objects).

demand_factor f on a job: floor(f) whole copies (the first keeps the job's name, the
others are named `name:2`, `name:3`, ...), plus, for a fractional part r, one more copy
with hours scaled by r (for f < 1 the job itself runs r of its hours). The selected
demand in device-hours is thus scaled by exactly f.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from router.errors import FieldProblem, InvalidInputError
from router.model.jobs import Job
from router.model.scenario import SITE_SELECTORS, Change, Scenario, Sweep
from router.model.topology import Link, Pool, Site, Topology


@dataclass(frozen=True, slots=True)
class Run:
    """One plan to make: a scenario without a sweep, or one point of a sweep."""

    name: str
    scenario: Scenario
    sweep_of: str | None = None
    value: float | None = None


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


# --- the WhatIf RPC's form ---------------------------------------------------------------------


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


def check_growth(jobs: Sequence[Job], scenarios: Sequence[Scenario], most: int) -> None:
    """Refuse a scenario whose demand scaling could grow the batch past `most` jobs.

    Checked on the factors before any copy is made: a factor f makes at most ceil(f)
    copies of each job it selects, and copies are selected by no more changes than
    their original.
    """
    for i, scenario in enumerate(scenarios):
        factors = [change.demand_factor or 1.0 for change in scenario.changes]
        sweep = scenario.sweep
        if sweep is not None and sweep.field == "demand_factor":
            factors[sweep.change] = max(sweep.start, sweep.stop)
        total = 0
        for job in jobs:
            copies = 1
            for change, factor in zip(scenario.changes, factors, strict=True):
                if factor != 1.0 and change.select.selects_job(job):
                    copies *= max(1, math.ceil(factor))
            total += min(copies, most + 1)
            if total > most:
                raise InvalidInputError(
                    [
                        FieldProblem(
                            f"scenarios[{i}].changes",
                            f"demand scaling would grow {len(jobs)} jobs past {most:,}; scale less",
                        )
                    ]
                )
