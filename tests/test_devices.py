"""Work jobs scale hours, service jobs scale devices (DESIGN.md section 1), by hand."""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router.client import RouterClient
from router.model.jobs import Job, parse_jobs
from router.model.topology import Accelerator, Topology, default_topology
from router.place.costs import sizing
from router.place.filters import screen
from router.plan import make_context, plan_jobs, route_job
from router.results import Placement, Unplaced
from router.service.background import BackgroundServer
from router.state.audit import audit
from router.state.sqlite import SqliteLedger

# fp16 TFLOPS and memory of the default catalog: H20 148 / 96 GB, A800 312 / 80 GB,
# H800 989 / 80 GB, V100 125 / 32 GB.


@pytest.fixture(scope="module")
def edwc() -> Topology:
    return default_topology()


def _job(topology: Topology, kind: str, count: int, types: list[str], **extra: object) -> Job:
    row: dict[str, object] = {
        "name": "j",
        "kind": kind,
        "origin": "shanghai",
        "max_latency_ms": 100,
        "accelerators": {"count": count, "types": types},
        "hours": 720,
        **extra,
    }
    return parse_jobs({"jobs": [row]}, topology)[0]


def _size(topology: Topology, job: Job, part: str) -> tuple[int, float]:
    accelerators = topology.accelerators
    size = sizing(job, accelerators[job.hours_on], accelerators[part])
    assert size is not None
    return size.devices, size.run_hours


def test_service_job_keeps_hours_and_scales_devices_by_memory(edwc: Topology) -> None:
    job = _job(edwc, "inference", 8, ["H20", "A800", "H800"])
    assert _size(edwc, job, "H20") == (8, 720)
    # speed: ceil(8 * 148 / 989) = 2; memory: ceil(8 * 96 / 80) = ceil(9.6) = 10
    assert _size(edwc, job, "H800") == (10, 720)
    # speed: ceil(8 * 148 / 312) = ceil(3.79) = 4; memory 10
    assert _size(edwc, job, "A800") == (10, 720)


def test_service_job_scales_devices_by_speed_when_that_binds(edwc: Topology) -> None:
    job = _job(edwc, "realtime", 2, ["H800", "A800", "V100"])
    # speed: ceil(2 * 989 / 312) = ceil(6.34) = 7; memory: ceil(2 * 80 / 80) = 2
    assert _size(edwc, job, "A800") == (7, 720)
    # speed: ceil(2 * 989 / 125) = ceil(15.8) = 16; memory: ceil(2 * 80 / 32) = 5
    assert _size(edwc, job, "V100") == (16, 720)


def test_work_jobs_keep_devices_and_scale_hours(edwc: Topology) -> None:
    for kind in ("training", "finetune", "batch"):
        job = _job(edwc, kind, 4, ["A800", "H800"])
        devices, hours = _size(edwc, job, "H800")
        assert devices == 4
        assert hours == pytest.approx(720 * 312 / 989)
    hpc = _job(edwc, "hpc", 4, ["A800", "H800"])  # fp64: 9.7 on A800, 1 on H800
    assert _size(edwc, hpc, "H800") == (4, pytest.approx(720 * 9.7))


def test_whole_device_counts_survive_float_noise() -> None:
    # 0.1 + 0.2 is 0.30000000000000004: 8 / (x / x) must still be 8, not 9.
    noisy = Accelerator("noisy", "v", "s", 0.1 + 0.2, 0.3, True, {"fp16": 0.1 + 0.2})
    plain = Accelerator("plain", "v", "s", 0.3, 0.3, True, {"fp16": 0.3})
    job = Job("j", "inference", "o", 10, 8, ("noisy",), (), 0, "noisy", "fp16", 720)
    size = sizing(job, noisy, plain)
    assert size is not None and size.devices == 8
    # and a real excess still rounds up
    bigger = Accelerator("big", "v", "s", 0.3, 0.3, True, {"fp16": 0.3 * 0.999})
    size = sizing(job, plain, bigger)
    assert size is not None and size.devices == 9


def test_plan_and_route_show_devices_on_the_part_and_cost_them(edwc: Topology) -> None:
    ask = _job(
        edwc,
        "inference",
        8,
        ["H800"],
        accelerators={"count": 8, "types": ["H800"], "hours_on": "H20"},
    )
    routed = route_job(edwc, ask)
    assert isinstance(routed, Placement)
    assert (routed.accelerator, routed.count, routed.run_hours) == ("H800", 10, 720)
    site = edwc.sites[routed.site]
    price = site.pools[routed.pool_index].price_cny_per_hour
    assert routed.compute_cny == pytest.approx(10 * 720 * price)
    plan = plan_jobs(edwc, [ask], time_limit_s=5)
    assert [(p.accelerator, p.count, p.run_hours) for p in plan.placements] == [("H800", 10, 720)]
    assert plan.baseline == [] or plan.baseline[0].count == 10


def test_capacity_is_checked_and_explained_in_devices_of_the_part(edwc: Topology) -> None:
    job = _job(
        edwc,
        "inference",
        8,
        ["H800"],
        accelerators={"count": 8, "types": ["H800"], "hours_on": "H20"},
    )
    # Every H800 pool has 9 free: enough for 8 H20's worth of requests, not for their memory.
    free = {
        (site.name, i): 9
        for site in edwc.sites.values()
        for i, pool in enumerate(site.pools)
        if pool.accelerator == "H800"
    }
    result = route_job(edwc, job, free)
    assert isinstance(result, Unplaced)
    assert "capacity (needs 10 H800 for 8 H20, 9 free)" in result.reason
    free = {key: 10 for key in free}
    assert isinstance(route_job(edwc, job, free), Placement)
    screened = screen(job, make_context(edwc, free)).candidates
    assert {c.cost.devices for c in screened} == {10}


def test_plans_share_pools_in_devices_of_the_part(edwc: Topology) -> None:
    # Two services of 8 H20 each need 10 H800 each: 20 fit in a pool of 20, 19 do not.
    jobs = [
        _job(
            edwc,
            "inference",
            8,
            ["H800"],
            name=name,
            accelerators={"count": 8, "types": ["H800"], "hours_on": "H20"},
        )
        for name in ("a", "b")
    ]
    only = {
        (site.name, i): (20 if site.name == "zhongwei" else 0)
        for site in edwc.sites.values()
        for i, pool in enumerate(site.pools)
        if pool.accelerator == "H800"
    }
    assert len(plan_jobs(edwc, jobs, free=only, time_limit_s=5).placements) == 2
    fewer = {key: (19 if value else 0) for key, value in only.items()}
    plan = plan_jobs(edwc, jobs, free=fewer, time_limit_s=5)
    assert len(plan.placements) == 1 and plan.placements[0].count == 10


def test_a_moved_service_takes_the_devices_of_its_new_part(mini: Topology, tmp_path: Path) -> None:
    # 2 A800 of serving: 2 A800 at zhongwei; when zhongwei goes down and qingpu's A800 are
    # taken, it moves to qingpu's H20 as max(ceil(2 * 312 / 148), ceil(2 * 80 / 96)) = 5.
    state = tmp_path / "state.sqlite"
    ledger = SqliteLedger(state)
    serving = {
        "name": "serving",
        "kind": "inference",
        "origin": "shanghai",
        "max_latency_ms": 50,
        "accelerators": {"count": 2, "types": ["A800", "H20"]},
        "hours": 2,
    }
    filler = {
        **serving,
        "name": "filler",
        "kind": "training",
        "accelerators": {"count": 16, "types": ["A800"]},
        "allowed_zones": ["east"],
    }
    with BackgroundServer(topology=mini, ledger=ledger) as bg:
        client = RouterClient(f"127.0.0.1:{bg.port}")
        first = client.route(serving).reservation
        assert first is not None and first.placement.site == "zhongwei"
        assert first.placement.count == 2
        assert client.route(filler).placed
        [moved] = client.update_site("zhongwei", status="down").moved
        now = moved.reservation.placement
        assert (now.site, now.accelerator, now.count) == ("qingpu", "H20", 5)
        assert client.get_topology().free[("qingpu", 1)] == 8 - 5
        listed = {r.reservation_id: r for r in client.list_reservations()}
        assert listed[first.reservation_id].placement.count == 5
        client.close()
    ledger.close()
    checked = audit(state)
    assert checked.overbooked == [] and checked.mismatched == [] and checked.active == 2


@settings(max_examples=300, deadline=None)
@given(
    count=st.integers(1, 64),
    reference=st.tuples(st.integers(1, 1_000_000), st.integers(1, 2000)),
    device=st.tuples(st.integers(1, 1_000_000), st.integers(1, 2000)),
)
def test_service_sizes_match_exact_arithmetic(
    count: int, reference: tuple[int, int], device: tuple[int, int]
) -> None:
    # TFLOPS with two decimals (0.01 to 10,000) and whole GB, as topology files write them.
    ref_tflops, dev_tflops = Fraction(reference[0], 100), Fraction(device[0], 100)
    ref = Accelerator("ref", "v", "s", reference[1], 0.3, True, {"fp16": float(ref_tflops)})
    dev = Accelerator("dev", "v", "s", device[1], 0.3, True, {"fp16": float(dev_tflops)})
    job = Job("j", "inference", "o", 10, count, ("ref",), (), 0, "ref", "fp16", 720)
    size = sizing(job, ref, dev)
    exact = max(
        math.ceil(count * ref_tflops / dev_tflops),
        math.ceil(Fraction(count * reference[1], device[1])),
    )
    assert size is not None and size.devices == exact and size.run_hours == 720
