"""Filters, explanations, the route fast path and the batch screening agree with the model."""

from __future__ import annotations

import dataclasses

import pytest

from router.bench.synthetic import synthetic_jobs
from router.model.jobs import Job, parse_jobs
from router.model.topology import Topology, default_topology
from router.place.candidates import batch_options, pool_table
from router.place.filters import FILTERS, FIT_FILTERS, screen
from router.place.network import Network
from router.plan import make_context, plan_jobs, route_job
from router.results import Placement, Unplaced


def _job(topology: Topology, **fields: object) -> Job:
    row: dict[str, object] = {
        "name": "j",
        "kind": "training",
        "origin": "shanghai",
        "max_latency_ms": 100,
        "accelerators": {"count": 4, "types": ["A800"]},
        "hours": 10,
    }
    row.update(fields)
    return parse_jobs({"jobs": [row]}, topology)[0]


def test_network_paths_are_minimum_latency(mini: Topology) -> None:
    path = Network(mini).path("shanghai", "zhongwei")
    assert path is not None
    assert path.places == ("shanghai", "zhongwei")
    assert (
        path.latency_ms == 14 and path.bottleneck_gbps == 100 and path.transfer_cny_per_gb == 0.02
    )


def test_a_link_down_reroutes_or_disconnects(mini: Topology) -> None:
    links = tuple(
        dataclasses.replace(ln, status="down") if ln.b == "zhongwei" else ln for ln in mini.links
    )
    cut = dataclasses.replace(mini, links=links)
    assert Network(cut).path("shanghai", "zhongwei") is None
    job = _job(cut)
    reasons = screen(job, make_context(cut)).rejections
    assert reasons["zhongwei"].code == "unreachable"


def test_route_picks_the_cheapest_feasible_pool(mini: Topology) -> None:
    result = route_job(mini, _job(mini))
    assert isinstance(result, Placement)
    assert (result.site, result.accelerator) == ("zhongwei", "A800")  # 8.0 < 11.0 CNY/h
    assert result.cost_cny == pytest.approx(4 * 10 * 8.0)


def test_route_respects_free_capacity(mini: Topology) -> None:
    result = route_job(mini, _job(mini), free={("zhongwei", 0): 3})
    assert isinstance(result, Placement) and result.site == "qingpu"
    nothing = route_job(mini, _job(mini), free={("zhongwei", 0): 3, ("qingpu", 0): 2})
    assert isinstance(nothing, Unplaced)
    assert nothing.reason == "0/2 sites fit: 2 capacity (needs 4, 3 free)"
    assert nothing.reasons == {"capacity": 2}


def test_latency_budget_keeps_work_east(mini: Topology) -> None:
    result = route_job(mini, _job(mini, max_latency_ms=5, kind="realtime"))
    assert isinstance(result, Placement) and result.site == "qingpu"


def test_explanations_name_each_reason(mini: Topology) -> None:
    job = _job(
        mini, max_latency_ms=1, accelerators={"count": 2, "stacks": ["cann"], "hours_on": "A800"}
    )
    result = route_job(mini, job)
    assert isinstance(result, Unplaced)
    assert result.reason == "0/2 sites fit: 2 latency (best 2.0 ms > 1 ms)"
    job = _job(
        mini,
        accelerators={"count": 2, "stacks": ["cann"], "hours_on": "A800"},
        allowed_zones=["east"],
    )
    result = route_job(mini, job)
    assert isinstance(result, Unplaced)
    assert result.reason == "0/2 sites fit: 1 no CANN pool, 1 outside zone east"


def test_inference_only_parts_take_no_training(mini: Topology) -> None:
    job = _job(mini, accelerators={"count": 2, "types": ["H20"]})
    result = route_job(mini, job)
    assert isinstance(result, Unplaced) and "inference-only" in result.reason
    serving = _job(mini, kind="inference", accelerators={"count": 2, "types": ["H20"]})
    assert isinstance(route_job(mini, serving), Placement)


def test_deadline_counts_transfer_and_run_time(mini: Topology) -> None:
    # 100 Gbps to zhongwei: 45,000 GB take 1 h; 400 Gbps to qingpu: 0.25 h.
    job = _job(mini, data_gb=45000, deadline_hours=10.5)
    result = route_job(mini, job)
    assert isinstance(result, Placement) and result.site == "qingpu"


def test_slower_parts_run_longer_and_cost_accordingly(mini: Topology) -> None:
    job = _job(mini, accelerators={"count": 4, "types": ["Ascend910B"], "hours_on": "A800"})
    result = route_job(mini, job)
    assert isinstance(result, Placement)
    assert result.run_hours == pytest.approx(10 * 312 / 280)


def test_batch_screening_matches_the_scalar_filters() -> None:
    topology = default_topology()
    jobs = synthetic_jobs(topology, 300, seed=7)
    ctx = make_context(
        topology, free={("zhongwei", 1): 50, ("horinger", 0): 0}, carbon_price_cny_per_kg=0.2
    )
    table = pool_table(ctx)
    for job, options in zip(jobs, batch_options(jobs, ctx, table), strict=True):
        scalar = screen(job, ctx)
        expected = {(c.site.name, c.pool_index): c.cost.cost_cny for c in scalar.candidates}
        got = {
            table.keys[p]: cost
            for p, cost in zip(options.pools.tolist(), options.cost_cny, strict=True)
        }
        assert got.keys() == expected.keys(), job.name
        for key, cost in got.items():
            assert cost == pytest.approx(expected[key], rel=1e-12)


def test_plan_does_not_mutate_its_inputs(mini: Topology) -> None:
    jobs = [_job(mini)]
    before = (dataclasses.astuple(jobs[0]), mini)
    free = {("zhongwei", 0): 10}
    plan_jobs(mini, jobs, free=free, time_limit_s=2)
    assert (dataclasses.astuple(jobs[0]), mini) == before
    assert free == {("zhongwei", 0): 10}


def test_every_filter_carries_its_text_rank_and_batch_form() -> None:
    codes = [code for f in FILTERS for code in f.texts]
    assert len(codes) == len(set(codes)), "a reason code belongs to one filter"
    assert sorted(f.rank for f in FILTERS) == list(range(len(FILTERS)))
    assert all(f.batch is not None for f in FIT_FILTERS)


def test_a_site_without_pools_is_explained(mini: Topology) -> None:
    bare_site = dataclasses.replace(mini.sites["zhongwei"], pools=())
    bare = dataclasses.replace(mini, sites={**mini.sites, "zhongwei": bare_site})
    result = route_job(bare, _job(bare, max_latency_ms=20, allowed_hubs=["ningxia"]))
    assert isinstance(result, Unplaced)
    assert "1 no pools" in result.reason
