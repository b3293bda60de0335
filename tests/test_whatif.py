"""What-if: scenarios change copies of the topology and jobs; plans match the engine's."""

from __future__ import annotations

import contextlib
import copy
import io
import itertools
import json
import math
import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from router.cli.main import main
from router.model.jobs import Job, load_jobs
from router.model.scenario import Scenario, load_scenario, parse_scenario
from router.model.topology import Topology, default_topology
from router.place.network import Network
from router.plan import plan_jobs
from router.report.stats import percentile
from router.results import Plan
from router.service.background import BackgroundServer
from router.state.sqlite import SqliteLedger
from router.whatif.apply import apply_scenario, rpc_scenario, runs_of
from router.whatif.compare import compare_scenarios, summarize
from tests.conftest import ROOT

JOBS = ROOT / "examples" / "jobs" / "east-west-mix.yaml"
SCENARIOS = ROOT / "examples" / "scenarios"
TIME_LIMIT_S = 2.0


def planner(topology: Topology, jobs: Sequence[Job]) -> Plan:
    return plan_jobs(topology, jobs, time_limit_s=TIME_LIMIT_S)


@pytest.fixture(scope="module")
def topology() -> Topology:
    return default_topology()


@pytest.fixture(scope="module")
def jobs(topology: Topology) -> list[Job]:
    return load_jobs(JOBS, topology)


@pytest.fixture(scope="module")
def baseline(topology: Topology, jobs: list[Job]) -> Plan:
    return planner(topology, jobs)


def scenario(data: dict[str, object], topology: Topology) -> Scenario:
    return parse_scenario({"name": "s", **data}, topology)


def west_device_hours(plan: Plan) -> float:
    return sum(p.count * p.run_hours for p in plan.placements if p.zone == "west")


def test_applying_a_scenario_never_mutates_its_inputs(topology: Topology, jobs: list[Job]) -> None:
    before_topology, before_jobs = copy.deepcopy(topology), copy.deepcopy(jobs)
    s = scenario(
        {
            "changes": [
                {"zone": "west", "price_factor": 2, "count_factor": 0.5},
                {"site": "zhongwei", "status": "down"},
                {"link": {"a": "shanghai", "b": "zhongwei"}, "latency_ms": 50},
                {"job": "*", "demand_factor": 2},
            ]
        },
        topology,
    )
    new_topology, new_jobs = apply_scenario(s, topology, jobs)
    assert topology == before_topology and jobs == before_jobs
    assert new_topology.sites["zhongwei"].status == "down"
    assert len(new_jobs) == 2 * len(jobs)


def test_a_site_taken_down_receives_no_work(
    topology: Topology, jobs: list[Job], baseline: Plan
) -> None:
    assert any(p.site == "zhongwei-cmcc" for p in baseline.placements), "test needs work there"
    s = scenario({"changes": [{"site": "zhongwei-cmcc", "status": "down"}]}, topology)
    result = compare_scenarios(topology, jobs, [s], planner)
    outcome = result.results[0]
    assert all(p.site != "zhongwei-cmcc" for p in outcome.plan.placements)
    moved = {m.job for m in outcome.moves}
    assert moved == {p.job for p in baseline.placements if p.site == "zhongwei-cmcc"} - set(
        outcome.lost_jobs
    )
    # The same engine on a topology built by hand gives the same plan.
    by_hand = replace(
        topology,
        sites={
            **topology.sites,
            "zhongwei-cmcc": replace(topology.sites["zhongwei-cmcc"], status="down"),
        },
    )
    expected = planner(by_hand, jobs)
    assert outcome.total_cost_cny == pytest.approx(expected.total_cost_cny)
    assert outcome.placed == len(expected.placements)


def test_doubled_western_prices_move_work_east(
    topology: Topology, jobs: list[Job], baseline: Plan
) -> None:
    s = scenario({"changes": [{"zone": "west", "price_factor": 2}]}, topology)
    outcome = compare_scenarios(topology, jobs, [s], planner).results[0]
    sites = {
        name: replace(
            site,
            pools=tuple(
                replace(p, price_cny_per_hour=2 * p.price_cny_per_hour) for p in site.pools
            ),
        )
        if topology.zone_of(site) == "west"
        else site
        for name, site in topology.sites.items()
    }
    expected = planner(replace(topology, sites=sites), jobs)
    assert outcome.total_cost_cny == pytest.approx(expected.total_cost_cny)
    assert west_device_hours(outcome.plan) < west_device_hours(baseline)
    zones = [(outcome.zone_of(m.from_site), outcome.zone_of(m.to_site)) for m in outcome.moves]
    assert ("west", "east") in zones
    assert ("east", "west") not in zones


def test_west_price_sweep_is_monotone(topology: Topology, jobs: list[Job]) -> None:
    s = load_scenario(SCENARIOS / "west-price-sweep.yaml", topology, jobs)
    sweep = compare_scenarios(topology, jobs, [s], planner).sweeps[0]
    assert sweep.values == pytest.approx([0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.4])
    placed_work = {sum(p.count for p in o.plan.placements) for o in sweep.outcomes}
    assert len(placed_work) == 1, "price never changes how much work fits"
    costs = [o.total_cost_cny for o in sweep.outcomes]
    assert all(a <= b + 1e-6 for a, b in itertools.pairwise(costs))
    # Optimal plans at factors f1 < f2 satisfy W(f2) <= W(f1), where W is the western
    # compute cost at today's prices (swap argument on the two optimality conditions).
    base_west = [
        sum(p.compute_cny for p in o.plan.placements if p.zone == "west") / o.sweep_value
        for o in sweep.outcomes
        if o.sweep_value
    ]
    assert all(b <= a * (1 + 1e-6) + 1 for a, b in itertools.pairwise(base_west))
    assert sweep.flips, "somewhere in 0.6-1.4 work must come east"
    assert all(f.value > f.before_value for f in sweep.flips)
    # Every flip is between neighbouring points and matches the plans at those points.
    by_value = {o.sweep_value: o for o in sweep.outcomes}
    for flip in sweep.flips:
        before = {p.job: p.zone for p in by_value[flip.before_value].plan.placements}
        after = {p.job: p.zone for p in by_value[flip.value].plan.placements}
        assert (before[flip.job], after[flip.job]) == (flip.from_zone, flip.to_zone)


def test_demand_factor_scales_device_hours_exactly(topology: Topology, jobs: list[Job]) -> None:
    training = [j for j in jobs if j.kind == "training"]
    others = [j for j in jobs if j.kind != "training"]
    for factor in (0.5, 1.5, 2.0, 3.0):
        s = scenario(
            {"changes": [{"job": {"kind": "training"}, "demand_factor": factor}]}, topology
        )
        _, new_jobs = apply_scenario(s, topology, jobs)
        selected = [j for j in new_jobs if j.kind == "training"]
        hours = sum(j.count * j.hours for j in selected)
        assert hours == pytest.approx(factor * sum(j.count * j.hours for j in training))
        assert [j for j in new_jobs if j.kind != "training"] == others
        assert len({j.name for j in new_jobs}) == len(new_jobs)
        assert len(selected) == max(1, math.ceil(factor)) * len(training)


def test_a_slow_link_moves_latency_bound_work(
    topology: Topology, jobs: list[Job], baseline: Plan
) -> None:
    ends = [{"a": r, "b": "guian-qixing"} for r in topology.regions]
    s = scenario({"changes": [{"link": ends, "latency_ms": 60}]}, topology)
    new_topology, _ = apply_scenario(s, topology, jobs)
    old_path = Network(topology).path("shanghai", "guian-qixing")
    new_path = Network(new_topology).path("shanghai", "guian-qixing")
    assert old_path is not None and new_path is not None
    assert new_path.latency_ms >= 60 > old_path.latency_ms
    budget = {j.name: j.max_latency_ms for j in jobs if j.origin == "shanghai"}
    bitten = [
        p.job
        for p in baseline.placements
        if p.site == "guian-qixing" and budget.get(p.job, math.inf) < new_path.latency_ms
    ]
    assert bitten, "the test needs a Shanghai job at guian-qixing that the detour rules out"
    plan = planner(new_topology, jobs)
    for p in plan.placements:
        if p.site == "guian-qixing" and p.job in budget:
            assert budget[p.job] >= new_path.latency_ms
    assert all(p.site != "guian-qixing" for p in plan.placements if p.job in bitten)


def test_count_factor_zero_empties_a_pool(topology: Topology, jobs: list[Job]) -> None:
    s = scenario({"changes": [{"pool": {"accelerator": "A800"}, "count_factor": 0}]}, topology)
    new_topology, _ = apply_scenario(s, topology, jobs)
    plan = planner(new_topology, jobs)
    assert all(p.accelerator != "A800" for p in plan.placements)
    assert all(
        pool.count == 0
        for site in new_topology.sites.values()
        for pool in site.pools
        if pool.accelerator == "A800"
    )


def test_a_new_cheap_site_takes_work(topology: Topology, jobs: list[Job]) -> None:
    s = scenario(
        {
            "add_sites": [
                {
                    "name": "karamay",
                    "hub": "ningxia",
                    "provider": "newco",
                    "lat": 45.6,
                    "lon": 84.9,
                    "pue": 1.1,
                    "electricity_cny_per_kwh": 0.3,
                    "carbon_g_per_kwh": 600,
                    "pools": [{"accelerator": "A800", "count": 2048, "price_cny_per_hour": 3.0}],
                }
            ],
            "add_links": [
                {
                    "a": r,
                    "b": "karamay",
                    "latency_ms": 30,
                    "bandwidth_gbps": 400,
                    "price_cny_per_gb": 0.02,
                }
                for r in topology.regions
            ],
        },
        topology,
    )
    outcome = compare_scenarios(topology, jobs, [s], planner).results[0]
    assert any(p.site == "karamay" for p in outcome.plan.placements)
    assert outcome.cost_by_provider.get("newco", 0) > 0
    assert outcome.total_cost_cny < planner(topology, jobs).total_cost_cny


def test_summary_figures_follow_the_plan(baseline: Plan, topology: Topology) -> None:
    o = summarize("b", baseline, None, topology)
    hours = sum(p.count * p.run_hours for p in baseline.placements)
    assert o.west_share == pytest.approx(west_device_hours(baseline) / hours)
    assert sum(o.cost_by_hub.values()) == pytest.approx(baseline.total_cost_cny)
    assert sum(o.cost_by_provider.values()) == pytest.approx(baseline.total_cost_cny)
    latencies = sorted(p.latency_ms for p in baseline.placements)
    assert o.latency_p50_ms in latencies and o.latency_p95_ms in latencies
    assert sum(v <= o.latency_p50_ms for v in latencies) >= len(latencies) / 2
    assert sum(v <= o.latency_p95_ms for v in latencies) >= 0.95 * len(latencies)


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 50) is None
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 95) == 4.0
    assert percentile([7.0], 5) == 7.0


# --- the command: `westward whatif` on the default topology and the example scenarios -----

EXAMPLES = sorted(SCENARIOS.glob("*.yaml"))


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    argv = ["whatif", "--jobs", str(JOBS), "--time-limit", str(TIME_LIMIT_S), "--json"]
    for path in EXAMPLES:
        argv += ["--scenario", str(path)]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(argv) == 0
    data: dict[str, Any] = json.loads(out.getvalue())
    return data


def by_name(report: dict[str, Any], name: str) -> dict[str, Any]:
    found = [s for s in report["scenarios"] if s["name"] == name]
    assert len(found) == 1, f"no scenario {name!r} in the report"
    return found[0]


def west_pools_priced(topology: Topology, factor: float) -> Topology:
    sites = {
        name: replace(
            site,
            pools=tuple(
                replace(p, price_cny_per_hour=p.price_cny_per_hour * factor) for p in site.pools
            ),
        )
        if topology.zone_of(site) == "west"
        else site
        for name, site in topology.sites.items()
    }
    return replace(topology, sites=sites)


def test_every_example_scenario_is_reported(report: dict[str, Any]) -> None:
    names = {s["name"] for s in report["scenarios"]} | {s["scenario"] for s in report["sweeps"]}
    assert names == {"zhongwei-down", "west-prices-up", "demand-doubles",
                     "backbone-slows", "west-price-sweep"}  # fmt: skip


def test_cli_baseline_is_the_engines_plan(
    report: dict[str, Any], baseline: Plan, topology: Topology
) -> None:
    b = report["baseline"]
    assert b["total_cost_cny"] == pytest.approx(baseline.total_cost_cny, abs=0.01)
    assert b["savings_cny"] == pytest.approx(baseline.savings_cny, abs=0.01)
    assert b["placed"] == len(baseline.placements)
    assert [u["job"] for u in b["unplaced"]] == [u.job for u in baseline.unplaced]
    assert all(u["reason"] for u in b["unplaced"])
    hours = sum(p.count * p.run_hours for p in baseline.placements)
    assert b["west_share"] == pytest.approx(west_device_hours(baseline) / hours, abs=1e-6)
    assert sum(b["cost_by_hub"].values()) == pytest.approx(b["total_cost_cny"], abs=0.1)
    assert sum(b["cost_by_provider"].values()) == pytest.approx(b["total_cost_cny"], abs=0.1)


def test_cli_zhongwei_down(report: dict[str, Any], topology: Topology, jobs: list[Job]) -> None:
    s = by_name(report, "zhongwei-down")
    down = ("zhongwei", "zhongwei-cmcc")
    assert not [p for p in s["plan"]["placements"] if p["site"] in down]
    assert "ningxia" not in s["cost_by_hub"]
    sites = {**topology.sites, **{n: replace(topology.sites[n], status="down") for n in down}}
    expected = planner(replace(topology, sites=sites), jobs)
    assert s["total_cost_cny"] == pytest.approx(expected.total_cost_cny, abs=0.01)
    assert s["cost_delta_cny"] == pytest.approx(
        expected.total_cost_cny - report["baseline"]["total_cost_cny"], abs=0.02
    )
    moved_from = {m["from_site"] for m in s["moves"]}
    assert moved_from and moved_from <= set(down)


def test_cli_west_prices_up(report: dict[str, Any], topology: Topology, jobs: list[Job]) -> None:
    s = by_name(report, "west-prices-up")
    expected = planner(west_pools_priced(topology, 1.4), jobs)
    assert s["total_cost_cny"] == pytest.approx(expected.total_cost_cny, abs=0.01)
    assert s["west_share"] < report["baseline"]["west_share"]
    assert any(m["from_zone"] == "west" and m["to_zone"] == "east" for m in s["moves"])
    # The sweep's 1.4 point is the same scenario, and its 1.0 point is the baseline.
    points = {p["sweep_value"]: p for p in report["sweeps"][0]["points"]}
    assert points[1.4]["total_cost_cny"] == pytest.approx(s["total_cost_cny"], abs=0.01)
    assert points[1.0]["total_cost_cny"] == pytest.approx(
        report["baseline"]["total_cost_cny"], abs=0.01
    )


def test_cli_demand_doubles(report: dict[str, Any], topology: Topology, jobs: list[Job]) -> None:
    s = by_name(report, "demand-doubles")
    doubled = [j for j in jobs if j.kind in ("training", "finetune")]
    assert s["jobs"] == len(jobs) + len(doubled)
    assert sorted(s["new_jobs"]) == sorted(f"{j.name}:2" for j in doubled if s["new_jobs"])
    by_hand = jobs + [replace(j, name=f"{j.name}:2") for j in doubled]
    expected = planner(topology, by_hand)
    assert s["total_cost_cny"] == pytest.approx(expected.total_cost_cny, abs=0.01)
    assert s["placed"] == len(expected.placements)


def test_cli_backbone_slows(report: dict[str, Any], topology: Topology, jobs: list[Job]) -> None:
    s = by_name(report, "backbone-slows")
    west = ("zhongwei", "zhongwei-cmcc", "qingyang", "guian", "guian-qixing")
    slow = {frozenset((r, t)) for r in ("shanghai", "hangzhou") for t in west}
    links = tuple(
        replace(ln, latency_ms=35.0, bandwidth_gbps=200.0)
        if frozenset((ln.a, ln.b)) in slow
        else ln
        for ln in topology.links
    )
    expected = planner(replace(topology, links=links), jobs)
    assert s["total_cost_cny"] == pytest.approx(expected.total_cost_cny, abs=0.01)
    budget = {j.name: j.max_latency_ms for j in jobs}
    for p in s["plan"]["placements"]:
        assert p["latency_ms"] <= budget[p["job"]]
        hops = {frozenset(h) for h in itertools.pairwise(p["path"])}
        assert not hops & slow, "at 35 ms the congested links lose to detours"
    assert s["latency_p95_ms"] > report["baseline"]["latency_p95_ms"]


def test_cli_sweep_flips_west_to_east_and_is_monotone(report: dict[str, Any]) -> None:
    sweep = report["sweeps"][0]
    assert sweep["field"] == "price_factor"
    assert sweep["values"] == pytest.approx([0.6 + 0.1 * k for k in range(9)])
    costs = [p["total_cost_cny"] for p in sweep["points"]]
    assert all(a <= b + 0.01 for a, b in itertools.pairwise(costs))
    shares = [p["west_share"] for p in sweep["points"]]
    assert shares[0] > shares[-1]
    assert sweep["flips"] and all(
        f["from_zone"] == "west" and f["to_zone"] == "east" for f in sweep["flips"]
    )
    # On this job mix every flip goes east: the east has room for what comes home.
    k = sweep["values"].index(sweep["flips"][0]["value"])
    assert shares[k] < shares[k - 1]


def test_cli_text_report_shows_everything(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["whatif", "--jobs", str(JOBS), "--time-limit", "1"]
    for name in ("zhongwei-down.yaml", "west-price-sweep.yaml"):
        argv += ["--scenario", str(SCENARIOS / name)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    for needle in (
        "baseline",
        "zhongwei-down",
        "Jobs that moved",
        "Unplaced jobs and why:",
        "hft-colo-shenzhen: 0/13 sites fit",
        "Cost by hub (CNY):",
        "Cost by provider (CNY):",
        "Sweep west-price-sweep: price_factor of changes[0]",
        "Where placements flip zone:",
    ):
        assert needle in out, needle


# --- through the service: `westward whatif --server` ----------------------------------------


def _json(argv: list[str]) -> dict[str, Any]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(argv) == 0
    data: dict[str, Any] = json.loads(out.getvalue())
    return data


def _figures(outcome: dict[str, Any]) -> dict[str, Any]:
    """An outcome without the solver's timing (the only part that may differ)."""
    return {k: v for k, v in outcome.items() if k != "plan"} | {
        "placements": outcome["plan"]["placements"]
    }


def test_server_gives_the_same_comparison_as_local(
    tmp_path: Path, topology: Topology, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["whatif", "--jobs", str(JOBS), "--time-limit", str(TIME_LIMIT_S), "--json"]
    for name in ("zhongwei-down", "west-price-sweep", "demand-doubles"):
        argv += ["--scenario", str(SCENARIOS / f"{name}.yaml")]
    local = _json(argv)
    with BackgroundServer(topology=topology, ledger=SqliteLedger(tmp_path / "ledger.db")) as server:
        remote = _json([*argv, "--server", f"127.0.0.1:{server.port}"])
        code = main(
            [
                "whatif",
                "--jobs",
                str(JOBS),
                "--scenario",
                str(SCENARIOS / "backbone-slows.yaml"),
                "--server",
                f"127.0.0.1:{server.port}",
            ]
        )
    assert _figures(remote["baseline"]) == _figures(local["baseline"])
    assert [_figures(s) for s in remote["scenarios"]] == [_figures(s) for s in local["scenarios"]]
    remote_points = [_figures(p) for p in remote["sweeps"][0]["points"]]
    assert remote_points == [_figures(p) for p in local["sweeps"][0]["points"]]
    assert remote["sweeps"][0]["flips"] == local["sweeps"][0]["flips"]
    assert code == 2, "bandwidth changes have no RPC form"
    err = capsys.readouterr().err
    assert re.search(r"backbone-slows.yaml:\d+: changes\[0\].bandwidth_gbps: cannot be sent", err)


def test_the_rpc_form_of_a_scenario_applies_identically(
    topology: Topology, jobs: list[Job]
) -> None:
    """--server sends one change per named target; applied, it must change the same things."""
    custom = scenario(
        {
            "changes": [
                {"pool": {"accelerator": ["A800", "H800"]}, "price_factor": 1.3},
                {"provider": ["ctyun", "tencent"], "count_factor": 0.5},
                {"hub": ["gansu", "guizhou"], "status": "drain"},
                {
                    "job": {"kind": "inference", "origin": ["shanghai", "beijing"]},
                    "demand_factor": 1.5,
                },
                {"link": [{"a": "beijing", "b": "horinger"}], "status": "down"},
            ]
        },
        topology,
    )
    examples = [load_scenario(path, topology, jobs) for path in EXAMPLES]
    refused = []
    for run in runs_of([custom, *examples]):
        entry, problems = rpc_scenario(run.scenario, topology, jobs)
        if problems:
            refused.append(run.name)
            continue
        assert all(sum(k in c for k in ("site", "hub", "link", "pool", "job")) == 1
                   for c in entry["changes"])  # fmt: skip
        assert all(not isinstance(v, list) for c in entry["changes"] for v in c.values())
        lowered = parse_scenario(entry, topology, jobs)
        assert apply_scenario(lowered, topology, jobs) == apply_scenario(
            run.scenario, topology, jobs
        )
    assert refused == ["backbone-slows"], "only bandwidth changes and additions have no RPC form"


def test_progress_counts_every_plan(topology: Topology, jobs: list[Job]) -> None:
    sweep = load_scenario(SCENARIOS / "west-price-sweep.yaml", topology, jobs)
    down = load_scenario(SCENARIOS / "zhongwei-down.yaml", topology, jobs)
    seen: list[str] = []
    compare_scenarios(topology, jobs[:5], [down, sweep], planner, seen.append)
    assert seen[0] == "baseline"
    assert seen[1] == "zhongwei-down"
    assert seen[-1] == "west-price-sweep@1.4"
    assert len(seen) == 11
