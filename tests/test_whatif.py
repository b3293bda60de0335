"""What-if scenarios: changes apply to copies, each selector does what it says."""

from __future__ import annotations

import pytest

from router.errors import InvalidInputError
from router.jobs import parse_jobs
from router.placer import plan_jobs
from router.topology import Topology
from router.whatif import apply, parse_scenarios, run_whatif

JOB = {
    "name": "train",
    "kind": "training",
    "origin": "shanghai",
    "max_latency_ms": 50,
    "accelerators": {"count": 10, "types": ["A800"]},
    "hours": 2,
}


def test_changes_apply_to_copies(mini: Topology) -> None:
    jobs = parse_jobs({"jobs": [JOB]}, mini)
    (scenario,) = parse_scenarios(
        [
            {
                "name": "stress",
                "changes": [
                    {"hub": "ningxia", "price_factor": 1.5},
                    {"pool": {"site": "qingpu", "accelerator": "H20"}, "count_factor": 0.5},
                    {"link": {"a": "zhongwei", "b": "shanghai"}, "latency_ms": 30},
                    {"site": "qingpu", "status": "drain"},
                    {"job": "*", "demand_factor": 1.25},
                ],
            }
        ],
        mini,
        jobs,
    )
    topology, changed_jobs = apply(scenario, mini, jobs)
    assert topology.sites["zhongwei"].pools[0].price_cny_per_hour == pytest.approx(12.0)
    assert topology.sites["qingpu"].pools[1].count == 4
    assert topology.sites["qingpu"].pools[0].count == 16
    assert topology.sites["qingpu"].status == "drain"
    assert [ln.latency_ms for ln in topology.links if "zhongwei" in (ln.a, ln.b)] == [30]
    assert changed_jobs[0].count == 13
    # The inputs are untouched.
    assert mini.sites["zhongwei"].pools[0].price_cny_per_hour == 8.0
    assert mini.sites["qingpu"].status == "up" and jobs[0].count == 10


def test_run_whatif_diffs_against_the_baseline(mini: Topology) -> None:
    jobs = parse_jobs({"jobs": [JOB]}, mini)
    scenarios = parse_scenarios(
        [{"name": "west-down", "changes": [{"site": "zhongwei", "status": "down"}]}], mini, jobs
    )
    result = run_whatif(mini, jobs, scenarios, lambda t, js: plan_jobs(t, js, time_limit_s=2))
    assert [p.site for p in result.baseline.placements] == ["zhongwei"]
    (down,) = result.results
    assert [(m.job, m.from_site, m.to_site) for m in down.moves] == [
        ("train", "zhongwei", "qingpu")
    ]
    assert down.cost_delta_cny == pytest.approx(10 * 2 * (11.0 - 8.0))
    assert down.placed_delta == 0 and down.lost_jobs == []


def test_bad_scenarios_name_their_fields(mini: Topology) -> None:
    jobs = parse_jobs({"jobs": [JOB]}, mini)
    with pytest.raises(InvalidInputError) as caught:
        parse_scenarios(
            [
                {"name": "", "changes": [{"site": "qingpu", "hub": "ningxia"}]},
                {"name": "b", "changes": [{"job": "nope", "demand_factor": -1}]},
            ],
            mini,
            jobs,
        )
    assert [p.path for p in caught.value.problems] == [
        "scenarios[0].name",
        "scenarios[0].changes[0]",
        "scenarios[1].changes[0].job",
        "scenarios[1].changes[0].demand_factor",
    ]
