"""`westward offers`: every feasible offer ranked, devices by the service formula, and
why the other pools were rejected; allowed_providers and prefer."""

from __future__ import annotations

import dataclasses
import json
import math
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
import yaml

from router.cli.main import main
from router.model.jobs import parse_jobs
from router.model.topology import Topology, default_topology
from router.place.offers import job_offers
from router.plan import make_context, plan_jobs, route_job
from router.results import Placement

SERVING = {
    "name": "chat-serving",
    "kind": "inference",
    "origin": "shanghai",
    "max_latency_ms": 30,
    "accelerators": {"count": 8, "types": ["H20", "A800", "H800"], "hours_on": "H20"},
    "hours": 720,
}


@pytest.fixture(scope="module")
def edwc() -> Topology:
    return default_topology()


def _write(tmp_path: Path, *jobs: dict[str, Any]) -> str:
    path = tmp_path / "jobs.yaml"
    path.write_text(yaml.safe_dump({"jobs": list(jobs)}), encoding="utf-8")
    return str(path)


def _offers_json(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, Any]]:
    assert main(["offers", *args, "--json"]) == 0
    data: list[dict[str, Any]] = json.loads(capsys.readouterr().out)
    return data


def _devices(edwc: Topology, part: str) -> int:
    """8 H20 of serving on `part`, in exact fractions: enough speed and enough memory."""
    h20, device = edwc.accelerators["H20"], edwc.accelerators[part]
    speed = Fraction(str(device.tflops["fp16"])) / Fraction(str(h20.tflops["fp16"]))
    memory = Fraction(8) * Fraction(str(h20.memory_gb)) / Fraction(str(device.memory_gb))
    return max(math.ceil(8 / speed), math.ceil(memory))


def test_a_month_of_serving_keeps_720_hours_and_scales_devices(
    edwc: Topology, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    [result] = _offers_json(capsys, "--jobs", _write(tmp_path, SERVING))
    offers = result["offers"]
    assert result["job"] == "chat-serving" and result["rejected"] == []
    assert {o["accelerator"] for o in offers} == {"H20", "A800", "H800"}
    assert all(o["run_hours"] == 720 for o in offers)
    assert {o["accelerator"]: o["devices"] for o in offers} == {
        "H20": 8,
        "A800": _devices(edwc, "A800"),  # 10: memory binds (8 x 96 GB on 80 GB parts)
        "H800": _devices(edwc, "H800"),
    }
    assert _devices(edwc, "A800") == 10 == _devices(edwc, "H800")
    costs = [o["cost_cny"] for o in offers]
    assert costs == sorted(costs)
    for o in offers:
        site = edwc.sites[o["site"]]
        pool = site.pools[o["pool_index"]]
        tflops = edwc.accelerators[o["accelerator"]].tflops["fp16"]
        assert o["cny_per_pflop_hour"] == pytest.approx(pool.price_cny_per_hour / tflops * 1000)
        assert o["cost_cny"] == pytest.approx(o["devices"] * 720 * pool.price_cny_per_hour)
        assert o["free_devices"] == pool.count  # no ledger: every device is free
        assert (o["hub"], o["provider"]) == (site.hub, site.provider)
        assert o["latency_ms"] <= 30
    assert set(offers[0]) == {
        "site",
        "hub",
        "zone",
        "provider",
        "pool_index",
        "accelerator",
        "devices",
        "run_hours",
        "latency_ms",
        "cost_cny",
        "cny_per_pflop_hour",
        "free_devices",
    }


def test_all_names_why_every_other_pool_was_rejected(
    edwc: Topology, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tight = {**SERVING, "max_latency_ms": 12}
    [result] = _offers_json(capsys, "--jobs", _write(tmp_path, tight), "--all")
    offered = {(o["site"], o["pool_index"]) for o in result["offers"]}
    rejected = {(r["site"], r["pool_index"]): r["reason"] for r in result["rejected"]}
    every = {(s.name, i) for s in edwc.sites.values() for i in range(len(s.pools))}
    assert offered | set(rejected) == every and not offered & set(rejected)
    assert rejected[("wuhu", 0)] == "no H20/A800/H800 pool"  # Ascend only
    assert rejected[("zhongwei", 0)] == "latency (14.0 ms > 12 ms)"


def test_capacity_rejections_say_what_the_part_needs() -> None:
    edwc = default_topology()
    job = parse_jobs({"jobs": [{**SERVING, "max_latency_ms": 100}]}, edwc)[0]
    free = {("zhongwei", 1): 9}  # the H800 pool: 9 free, 10 needed for 8 H20's memory
    result = job_offers(job, make_context(edwc, free), include_rejected=True)
    reasons = {(r.site, r.pool_index): r.reason for r in result.rejected}
    assert reasons[("zhongwei", 1)] == "capacity (needs 10 H800 for 8 H20, 9 free)"


def test_the_table_lists_offers_then_rejections(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["offers", "--jobs", _write(tmp_path, SERVING), "--all"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("chat-serving: ")
    assert "CNY/PFLOP-H" in out and "DEVICES" in out and "Rejected (" in out


def test_an_unknown_job_name_is_a_user_mistake(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["offers", "--jobs", _write(tmp_path, SERVING), "--job", "nope"]) == 2
    err = capsys.readouterr().err
    assert "--job" in err and "chat-serving" in err and "Traceback" not in err


def test_prefer_lowest_latency_ranks_offers_and_route_buys_the_first(edwc: Topology) -> None:
    cheap = parse_jobs({"jobs": [SERVING]}, edwc)[0]
    near = parse_jobs({"jobs": [{**SERVING, "prefer": "lowest_latency"}]}, edwc)[0]
    ctx = make_context(edwc)
    by_cost = job_offers(cheap, ctx).offers
    by_latency = job_offers(near, ctx).offers
    assert {(o.site, o.pool_index) for o in by_cost} == {(o.site, o.pool_index) for o in by_latency}
    keys = [(o.latency_ms, o.cost_cny) for o in by_latency]
    assert keys == sorted(keys)
    assert by_latency[0].latency_ms < by_cost[0].latency_ms
    for job, offers in ((cheap, by_cost), (near, by_latency)):
        routed = route_job(edwc, job)
        assert isinstance(routed, Placement)
        assert (routed.site, routed.pool_index) == (offers[0].site, offers[0].pool_index)


def test_allowed_providers_keeps_only_their_sites(edwc: Topology) -> None:
    ask = {**SERVING, "allowed_providers": ["ctyun", "tencent"]}
    job = parse_jobs({"jobs": [ask]}, edwc)[0]
    result = job_offers(job, make_context(edwc), include_rejected=True)
    assert result.offers and {o.provider for o in result.offers} <= {"ctyun", "tencent"}
    allowed = ("ctyun", "tencent")
    outside = [r for r in result.rejected if edwc.sites[r.site].provider not in allowed]
    assert outside and all(r.reason == "outside providers ctyun/tencent" for r in outside)


def test_an_unknown_provider_or_preference_names_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = {**SERVING, "allowed_providers": ["ctyum"], "prefer": "fastest"}
    assert main(["offers", "--jobs", _write(tmp_path, bad)]) == 2
    err = capsys.readouterr().err
    assert "jobs[0].prefer" in err
    good_prefer = {**SERVING, "allowed_providers": ["ctyum"]}
    assert main(["offers", "--jobs", _write(tmp_path, good_prefer)]) == 2
    err = capsys.readouterr().err
    assert "jobs[0].allowed_providers[0]" in err and "ctyun" in err


def test_plans_settle_equal_costs_on_the_lower_latency_offer(edwc: Topology) -> None:
    # Two A800 pools at the same price: shanghai reaches horinger in 12.4 ms, zhongwei in 14.
    sites = dict(edwc.sites)
    for name in ("horinger", "zhongwei"):
        pools = tuple(
            dataclasses.replace(p, price_cny_per_hour=5.0) if p.accelerator == "A800" else p
            for p in sites[name].pools
        )
        sites[name] = dataclasses.replace(sites[name], pools=pools)
    cheap_twins = dataclasses.replace(edwc, sites=sites)
    rows = [
        {**SERVING, "name": f"j{k}", "accelerators": {"count": 4, "types": ["A800"]}, **extra}
        for k, extra in enumerate([{}, {"prefer": "lowest_latency"}])
    ]
    jobs = parse_jobs({"jobs": rows}, cheap_twins)
    plan = plan_jobs(cheap_twins, jobs, time_limit_s=5)
    assert [(p.site, p.accelerator) for p in plan.placements] == [("horinger", "A800")] * 2
    assert plan.total_cost_cny == pytest.approx(2 * 4 * 720 * 5.0)
