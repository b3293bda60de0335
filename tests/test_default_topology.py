"""The shipped topology and example jobs make the east-west trade-off real."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from router.cli.main import main
from router.model.jobs import Job, load_jobs
from router.model.topology import Topology, default_topology, load_topology
from router.plan import plan_jobs
from router.results import Plan
from tests.conftest import ROOT

EXAMPLES = sorted((ROOT / "examples" / "jobs").glob("*.yaml"))


@pytest.fixture(scope="module")
def edwc() -> Topology:
    return default_topology()


def _plan(topology: Topology, path: Path) -> tuple[list[Job], Plan]:
    jobs = load_jobs(path, topology)
    return jobs, plan_jobs(topology, jobs, time_limit_s=10)


def test_embedded_default_is_the_shipped_file(edwc: Topology) -> None:
    shipped = load_topology(ROOT / "topology" / "china-edwc.yaml")
    assert shipped == edwc


def test_default_topology_has_the_hubs_and_clusters(edwc: Topology) -> None:
    assert len(edwc.hubs) == 8
    assert {h.zone for h in edwc.hubs.values()} == {"east", "west"}
    west = [s for s in edwc.sites.values() if edwc.zone_of(s) == "west"]
    east = [s for s in edwc.sites.values() if edwc.zone_of(s) == "east"]
    assert len(edwc.sites) >= 10 and west and east
    assert len({s.provider for s in edwc.sites.values()}) >= 4
    stacks = {edwc.accelerators[p.accelerator].stack for s in edwc.sites.values() for p in s.pools}
    assert {"cuda", "cann", "dtk"} <= stacks


def test_west_is_cheaper_for_the_same_part(edwc: Topology) -> None:
    def prices(zone: str, part: str) -> list[float]:
        return [
            p.price_cny_per_hour
            for s in edwc.sites.values()
            for p in s.pools
            if p.accelerator == part and edwc.zone_of(s) == zone
        ]

    for part in ("A800", "Ascend910B"):
        assert max(prices("west", part)) < min(prices("east", part))


def test_east_west_links_are_in_the_backbone_range(edwc: Topology) -> None:
    zones = {name: edwc.hubs[r.hub].zone for name, r in edwc.regions.items()}
    cross = [
        link.latency_ms
        for link in edwc.links
        if link.a in zones
        and zones[link.a] == "east"
        and link.b in edwc.sites
        and edwc.zone_of(edwc.sites[link.b]) == "west"
    ]
    assert cross and min(cross) >= 3 and max(cross) <= 30


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_plan_beats_staying_east(edwc: Topology, path: Path) -> None:
    jobs, plan = _plan(edwc, path)
    work = {j.name: j.work for j in jobs}
    assert sum(work[p.job] for p in plan.placements) >= sum(work[p.job] for p in plan.baseline)
    chosen = {p.job: p.cost_cny for p in plan.placements}
    shared = [p for p in plan.baseline if p.job in chosen]
    assert sum(chosen[p.job] for p in shared) <= sum(p.cost_cny for p in shared) + 1e-6
    assert plan.savings_cny >= 0


def test_tolerant_work_goes_west_and_critical_work_stays_east(edwc: Topology) -> None:
    jobs, plan = _plan(edwc, ROOT / "examples" / "jobs" / "east-west-mix.yaml")
    by_name = {j.name: j for j in jobs}
    east_regions = {n for n, r in edwc.regions.items() if edwc.hubs[r.hub].zone == "east"}
    tolerant = [
        p
        for p in plan.placements
        if by_name[p.job].max_latency_ms >= 50
        and by_name[p.job].origin in east_regions
        and not by_name[p.job].allowed_zones
    ]
    west_hours = sum(p.count * p.run_hours for p in tolerant if p.zone == "west")
    assert tolerant and west_hours / sum(p.count * p.run_hours for p in tolerant) >= 0.8
    critical = [p for p in plan.placements if by_name[p.job].max_latency_ms <= 3]
    assert critical and all(p.zone == "east" for p in critical)
    for p in plan.placements:
        job = by_name[p.job]
        assert p.latency_ms <= job.max_latency_ms
        if job.allowed_zones:
            assert p.zone in job.allowed_zones


def test_unplaceable_job_is_explained(edwc: Topology) -> None:
    _, plan = _plan(edwc, ROOT / "examples" / "jobs" / "east-west-mix.yaml")
    assert plan.unplaced
    for u in plan.unplaced:
        assert "sites fit" in u.reason and u.reasons
        assert sum(n for code, n in u.reasons.items() if code != "contention") <= len(edwc.sites)


def test_plan_json_has_the_documented_shape(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["plan", "--jobs", str(ROOT / "examples/jobs/east-west-mix.yaml"), "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {
        "placements",
        "unplaced",
        "total_cost_cny",
        "baseline_cost_cny",
        "baseline_jobs",
        "baseline_shared_cost_cny",
        "savings_cny",
        "unlocked_jobs",
        "lower_bound_cny",
        "solver",
    }
    shared = len(out["placements"]) - out["unlocked_jobs"]
    assert 0 < shared <= out["baseline_jobs"]
    assert out["baseline_shared_cost_cny"] <= out["baseline_cost_cny"]
    row = out["placements"][0]
    assert {
        "job",
        "site",
        "hub",
        "zone",
        "accelerator",
        "count",
        "latency_ms",
        "path",
        "run_hours",
        "compute_cny",
        "transfer_cny",
        "carbon_kg",
        "cost_cny",
    } <= set(row)
    assert set(out["unplaced"][0]) == {"job", "reason", "reasons"}
    assert set(out["solver"]) == {"status", "seconds"}
    assert out["total_cost_cny"] == pytest.approx(
        sum(p["cost_cny"] for p in out["placements"]), abs=1
    )


def test_plan_table_for_people(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--jobs", str(ROOT / "examples/jobs/realtime-east.yaml")]) == 0
    out = capsys.readouterr().out
    assert "JOB" in out and "SITE" in out
    assert re.search(r"Baseline \(stay east\) +[\d,]+ CNY  places \d+ of \d+ jobs", out), out
    assert re.search(r"On the \d+ jobs? both place:", out), out
