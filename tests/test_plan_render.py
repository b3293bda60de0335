"""Plan totals a reader cannot misread: every figure says which jobs it covers."""

from __future__ import annotations

from router.cli.main import render_totals
from router.results import Placement, Plan, Unplaced


def placement(job: str, cost: float, zone: str = "west") -> Placement:
    return Placement(
        job, "zhongwei", "ningxia", zone, 0, "A800", 8, 14.0, ("shanghai", "zhongwei"),
        10.0, cost, 0.0, 0.0, cost,
    )  # fmt: skip


def test_a_cheaper_baseline_that_places_fewer_jobs_says_so() -> None:
    # The plan places 3 jobs (one only by moving); the baseline places 2 of them at
    # 1,000 and 600, and the plan does those two for 700 and 500: 400 saved of 1,600.
    plan = Plan(
        placements=[placement("a", 700), placement("b", 500), placement("big", 9_000)],
        unplaced=[Unplaced("lost", "0/2 sites fit: 2 capacity (needs 64, 40 free)")],
        total_cost_cny=10_200,
        baseline_cost_cny=1_600,
        savings_cny=400,
        unlocked_jobs=1,
        lower_bound_cny=10_200,
        solver_status="optimal",
        solver_seconds=0.1,
        baseline_jobs=2,
        baseline_shared_cost_cny=1_600,
    )
    lines = render_totals(plan)
    assert lines[0].startswith("Plan") and "10,200 CNY  places 3 of 4 jobs;" in lines[0]
    assert "1,600 CNY  places 2 of 4 jobs" in lines[1]
    assert lines[2] == "On the 2 jobs both place:"
    assert lines[3].split() == ["baseline", "1,600", "CNY"]
    assert lines[4].split() == ["plan", "1,200", "CNY"]
    assert lines[5].split()[:3] == ["savings", "400", "CNY"]
    assert lines[5].endswith("25.0% of the baseline's cost")
    assert lines[6].split()[:3] == ["Unlocked", "jobs", "1"]


def test_a_plan_dearer_on_shared_jobs_shows_extra_cost_not_negative_savings() -> None:
    plan = Plan(
        placements=[placement("a", 1_100, zone="east")],
        unplaced=[],
        total_cost_cny=1_100,
        baseline_cost_cny=1_000,
        savings_cny=-100,
        unlocked_jobs=0,
        lower_bound_cny=1_100,
        solver_status="optimal",
        solver_seconds=0.1,
        baseline_jobs=1,
        baseline_shared_cost_cny=1_000,
    )
    lines = render_totals(plan)
    assert lines[2] == "On the 1 job both place:"
    assert lines[5].split()[:4] == ["extra", "cost", "100", "CNY"]
    assert lines[5].endswith("10.0% of the baseline's cost")


def test_nouns_agree_with_their_numbers() -> None:
    from router.report.words import noun, plural

    assert plural(1, "region") == "1 region"
    assert plural(0, "region") == "0 regions"
    assert plural(1500, "job") == "1,500 jobs"
    assert plural(1, "link latency", "link latencies") == "1 link latency"
    assert plural(2, "link latency", "link latencies") == "2 link latencies"
    assert noun(1, "zone") == "zone" and noun(3, "zone") == "zones"
