"""`westward bench synthetic` on small sizes: real plans, feasible, bound below cost."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from router.bench.families import FAMILIES
from router.bench.synthetic import (
    family_workload,
    synthetic_jobs,
    synthetic_topology,
    with_load,
)
from router.cli.main import main
from router.model.jobs import parse_jobs
from router.model.topology import default_topology
from router.plan import plan_jobs


def test_bench_synthetic_reports_a_consistent_plan(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "bench",
            "synthetic",
            "--family",
            "tight",
            "--jobs",
            "300",
            "--sites",
            "12",
            "--time-limit",
            "2",
            "--json",
        ]
    )
    assert code == 0
    (out,) = json.loads(capsys.readouterr().out)
    assert out["family"] == "tight" and out["jobs"] == 300 and out["sites"] == 12
    assert 0 < out["placed"] <= 300
    assert 0 <= out["lower_bound_cny"] <= out["total_cost_cny"]
    assert out["gap_pct"] == pytest.approx(
        100 * (out["total_cost_cny"] - out["lower_bound_cny"]) / out["total_cost_cny"], abs=1e-3
    )
    assert 0 < out["work_placed_pct"] <= 100.0 + 1e-6
    # Over the LP of the very jobs placed: never below it (the LP relaxes the plan).
    assert out["over_placed_lp_pct"] >= -1e-6
    assert out["peak_memory_mb"] > 0 and out["wall_s"] > 0 and not out["from_files"]


def test_bench_from_files_runs_the_real_command(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "bench",
            "synthetic",
            "--family",
            "deadline-heavy",
            "--jobs",
            "60",
            "--sites",
            "6",
            "--time-limit",
            "2",
            "--from-files",
        ]
    )
    assert code == 0
    table = capsys.readouterr().out
    assert "deadline-heavy" in table and "WORK % LP" in table


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_every_family_plans_feasibly_with_a_valid_bound(name: str) -> None:
    topology, rows = family_workload(default_topology(), FAMILIES[name], 80, 6, seed=2)
    jobs = parse_jobs({"jobs": rows}, topology)
    plan = plan_jobs(topology, jobs, time_limit_s=1.5)
    used: Counter[tuple[str, int]] = Counter()
    for p in plan.placements:
        used[(p.site, p.pool_index)] += p.count
    for (site, index), count in used.items():
        assert count <= topology.sites[site].pools[index].count
    assert plan.placements
    assert plan.lower_bound_cny <= plan.total_cost_cny + 1e-6


def test_families_differ_as_documented() -> None:
    base = default_topology()
    scarce_topology, scarce_rows = family_workload(base, FAMILIES["scarce"], 400, 8)
    installed = sum(p.count for s in scarce_topology.sites.values() for p in s.pools)
    asked = sum(r["accelerators"]["count"] for r in scarce_rows)
    assert installed / asked == pytest.approx(0.6, rel=0.05)
    _, tiny = family_workload(base, FAMILIES["many-tiny-jobs"], 200, 8)
    assert {r["accelerators"]["count"] for r in tiny} <= {1, 2}
    _, urgent = family_workload(base, FAMILIES["priority-heavy"], 400, 8)
    high = sum(r["priority"] >= 10 for r in urgent) / len(urgent)
    assert 0.3 < high < 0.5


def test_synthetic_plans_are_feasible_when_checked_independently() -> None:
    base = default_topology()
    topology = synthetic_topology(base, 10, seed=3)
    jobs = synthetic_jobs(topology, 400, seed=3)
    topology = with_load(topology, jobs, 0.9)
    plan = plan_jobs(topology, jobs, time_limit_s=3)
    by_name = {j.name: j for j in jobs}
    used: Counter[tuple[str, int]] = Counter()
    for p in plan.placements:
        job = by_name[p.job]
        site = topology.sites[p.site]
        pool = site.pools[p.pool_index]
        assert site.status == "up" and p.latency_ms <= job.max_latency_ms
        assert (
            pool.accelerator in job.types
            or topology.accelerators[pool.accelerator].stack in job.stacks
        )
        # count is the devices on that part: work jobs keep theirs, services keep hours.
        assert p.compute_cny == pytest.approx(p.count * p.run_hours * pool.price_cny_per_hour)
        assert p.run_hours == job.hours if job.is_service else p.count == job.count
        if job.allowed_zones:
            assert topology.zone_of(site) in job.allowed_zones
        used[(p.site, p.pool_index)] += p.count
    for (site, index), count in used.items():
        assert count <= topology.sites[site].pools[index].count
    assert plan.lower_bound_cny <= plan.total_cost_cny + 1e-6
    assert plan.total_cost_cny == pytest.approx(sum(p.cost_cny for p in plan.placements))


def test_with_load_sizes_the_network_to_the_batch() -> None:
    base = default_topology()
    topology = synthetic_topology(base, 8, seed=1)
    jobs = synthetic_jobs(topology, 200, seed=1)
    loaded = with_load(topology, jobs, 0.5)
    devices = sum(p.count for s in loaded.sites.values() for p in s.pools)
    asked = sum(j.count for j in jobs)
    assert asked / devices == pytest.approx(0.5, rel=0.05)
