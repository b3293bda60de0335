"""The gRPC service end to end: a real server on 127.0.0.1:0, a real SQLite ledger, the SDK."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.rpc import code_pb2, error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

import router.state.engine
from router.client import AsyncRouterClient, RouterClient
from router.errors import (
    DeadlineExceededError,
    InvalidInputError,
    NotFoundError,
    ServiceUnavailableError,
)
from router.model.topology import Topology
from router.results import PlacementEvent
from router.service.background import BackgroundServer
from router.service.convert import pb, pb_grpc
from router.service.servicer import solver_budget
from router.state.site_changes import PoolChange
from router.state.sqlite import SqliteLedger


def job(name: str = "chat", count: int = 4, **extra: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": name,
        "kind": "inference",
        "origin": "shanghai",
        "max_latency_ms": 50,
        "accelerators": {"count": count, "types": ["A800"]},
        "hours": 2,
    }
    entry.update(extra)
    return entry


@pytest.fixture
def server(mini: Topology, tmp_path: Path) -> Iterator[BackgroundServer]:
    ledger = SqliteLedger(tmp_path / "state.sqlite")
    with BackgroundServer(topology=mini, ledger=ledger, default_time_limit_s=2.0) as bg:
        yield bg
    ledger.close()


@pytest.fixture
def client(server: BackgroundServer) -> Iterator[RouterClient]:
    with RouterClient(f"127.0.0.1:{server.port}") as c:
        yield c


def test_health_reports_serving(client: RouterClient) -> None:
    assert client.health() == "serving"
    assert client.health("router.v1.RouterService") == "serving"


def test_route_reserves_the_cheapest_pool_and_release_frees_it(client: RouterClient) -> None:
    free_before = client.get_topology().free
    result = client.route(job(count=6))
    assert result.placed and result.reservation is not None
    placement = result.reservation.placement
    # zhongwei's A800 costs 8.0 CNY/h against qingpu's 11.0, and 14 ms fits 50 ms.
    assert (placement.site, placement.pool_index, placement.zone) == ("zhongwei", 0, "west")
    assert placement.cost_cny == pytest.approx(6 * 2 * 8.0)
    assert result.reservation.job["name"] == "chat"
    free_after = client.get_topology().free
    assert free_after[("zhongwei", 0)] == free_before[("zhongwei", 0)] - 6
    listed = client.list_reservations()
    assert [r.reservation_id for r in listed] == [result.reservation.reservation_id]

    released = client.release(result.reservation.reservation_id)
    assert released.state == "released"
    assert client.get_topology().free == free_before
    assert client.release(result.reservation.reservation_id).state == "released"
    assert client.list_reservations() == []
    assert len(client.list_reservations(include_ended=True)) == 1
    with pytest.raises(NotFoundError):
        client.release("no-such-reservation")


def test_route_fills_cheap_pool_then_moves_on(client: RouterClient) -> None:
    sites = [client.route(job(f"j{i}", count=16)) for i in range(4)]
    placed = [r.reservation.placement.site for r in sites if r.reservation is not None]
    assert placed == ["zhongwei", "zhongwei", "qingpu"]  # 32 west, then 16 east
    last = sites[3]
    assert not last.placed and last.unplaced is not None
    assert last.unplaced.reasons == {"capacity": 2}
    assert "capacity" in last.unplaced.reason


def test_unplaceable_job_is_an_answer_not_an_error(client: RouterClient) -> None:
    result = client.route(job(max_latency_ms=1))
    assert not result.placed and result.unplaced is not None
    assert result.unplaced.reasons == {"latency": 2}
    assert result.unplaced.reason.startswith("0/2 sites fit")


def test_retried_route_returns_first_answer_and_reserves_once(client: RouterClient) -> None:
    first = client.route(job(), request_id="launch-42")
    again = client.route(job(), request_id="launch-42")
    assert first == again
    assert len(client.list_reservations()) == 1
    with pytest.raises(InvalidInputError) as reused:  # same id, another body: the caller's error
        client.route(job(count=8), request_id="launch-42")
    assert [p.path for p in reused.value.problems] == ["request_id"]
    assert len(client.list_reservations()) == 1


def test_place_reserves_batch_atomically_and_dry_run_reserves_nothing(
    client: RouterClient,
) -> None:
    # zhongwei has 32 A800, qingpu 16: one of the two 20-device jobs cannot fit.
    batch = [job("a", count=20), job("b", count=16), job("c", count=20)]
    dry = client.place(batch, dry_run=True, time_limit_s=1)
    assert dry.reservations == [] and client.list_reservations() == []
    assert len(dry.plan.placements) == 2 and len(dry.plan.unplaced) == 1
    assert dry.plan.unplaced[0].job in ("a", "c")
    assert dry.plan.solver_status in ("optimal", "feasible")

    done = client.place(batch, request_id="batch-1", time_limit_s=1)
    by_job = {r.placement.job: r.placement.site for r in done.reservations}
    assert len(by_job) == 2 and by_job["b"] == "qingpu"
    assert client.place(batch, request_id="batch-1", time_limit_s=1) == done
    assert len(client.list_reservations()) == 2
    free = client.get_topology().free
    assert free[("zhongwei", 0)] == 12 and free[("qingpu", 0)] == 0


def test_bad_jobs_fail_with_field_paths(client: RouterClient) -> None:
    bad = job("b", accelerators={"count": 0, "types": ["A800"]})
    with pytest.raises(InvalidInputError) as caught:
        client.place([job("a"), bad])
    assert [p.path for p in caught.value.problems] == ["jobs[1].accelerators.count"]
    assert "got 0" in caught.value.problems[0].message

    with pytest.raises(InvalidInputError) as caught:
        client.route(job(origin="atlantis"))
    assert [p.path for p in caught.value.problems] == ["job.origin"]

    with pytest.raises(InvalidInputError) as caught:
        client.update_site("qingpu", pools=[PoolChange(7, count=4), PoolChange(0, count=-1)])
    assert [p.path for p in caught.value.problems] == ["pools[1].count"]  # bounds come first

    with pytest.raises(InvalidInputError) as caught:
        client.what_if([{"name": "s", "changes": [{"site": "atlantis", "status": "down"}]}])
    assert [p.path for p in caught.value.problems] == ["scenarios[0].changes[0].site"]

    with pytest.raises(NotFoundError):
        client.update_site("atlantis", status="down")


def test_bad_request_carries_google_rpc_bad_request(server: BackgroundServer) -> None:
    """What any gRPC client sees on the wire: INVALID_ARGUMENT + BadRequest details."""
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = pb_grpc.RouterServiceStub(channel)
        request = pb.PlaceRequest(jobs=[pb.Job(name="x", origin="shanghai", hours=1)])
        with pytest.raises(grpc.RpcError) as caught:
            stub.Place(request, timeout=5)
        status = rpc_status.from_call(caught.value)
        assert status is not None and status.code == code_pb2.INVALID_ARGUMENT
        bad = error_details_pb2.BadRequest()
        assert status.details[0].Unpack(bad)
        fields = {v.field for v in bad.field_violations}
        assert {"jobs[0].kind", "jobs[0].accelerators", "jobs[0].max_latency_ms"} <= fields


def test_solver_never_runs_past_the_call_deadline(
    client: RouterClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    limits: list[float] = []
    real = router.state.engine.plan_jobs

    def recording(*args: Any, **kwargs: Any) -> Any:
        limits.append(kwargs["time_limit_s"])
        return real(*args, **kwargs)

    monkeypatch.setattr(router.state.engine, "plan_jobs", recording)
    started = time.monotonic()
    result = client.place([job("a")], time_limit_s=10, timeout_s=2.0)
    assert time.monotonic() - started < 2.0
    assert result.plan.solver_seconds < 2.0
    assert len(limits) == 1 and 0 < limits[0] < 1.7  # 80% of the 2 s deadline

    with pytest.raises(DeadlineExceededError):
        client.place([job("b")], time_limit_s=10, timeout_s=0.02)


def test_solver_budget_keeps_a_margin() -> None:
    assert solver_budget(10.0, 5.0, None) == 10.0
    assert solver_budget(0.0, 5.0, None) == 5.0
    assert solver_budget(10.0, 5.0, 2.0) == pytest.approx(1.6)
    assert solver_budget(0.5, 5.0, 2.0) == 0.5
    assert solver_budget(10.0, 5.0, 0.04) == 0.0


def test_site_down_moves_its_jobs_and_evicts_what_fits_nowhere(client: RouterClient) -> None:
    west = [client.route(job(f"w{i}", count=12)).reservation for i in range(2)]
    east = client.route(job("e", count=12, allowed_zones=["east"])).reservation
    assert [r.placement.site for r in west if r] == ["zhongwei", "zhongwei"]
    assert east is not None and east.placement.site == "qingpu"

    result = client.update_site("zhongwei", status="down")
    assert result.site.status == "down"
    # qingpu's A800 pool has 16 - 12 = 4 free: neither 12-device job fits there.
    assert result.moved == []
    assert sorted(e.reservation.placement.job for e in result.evicted) == ["w0", "w1"]
    assert all("site zhongwei down" in e.reason for e in result.evicted)
    assert {r.placement.job for r in client.list_reservations()} == {"e"}

    client.update_site("zhongwei", status="up")
    client.release(east.reservation_id)
    moving = client.route(job("m", count=8)).reservation
    assert moving is not None and moving.placement.site == "zhongwei"
    result = client.update_site("zhongwei", status="down")
    assert [e.reservation.reservation_id for e in result.moved] == [moving.reservation_id]
    moved = result.moved[0]
    assert moved.previous is not None and moved.previous.site == "zhongwei"
    assert moved.reservation.placement.site == "qingpu"


def test_shrinking_a_pool_moves_the_fewest_jobs(client: RouterClient) -> None:
    small = client.route(job("small", count=4)).reservation
    big = client.route(job("big", count=20)).reservation
    assert small and big and small.placement.site == big.placement.site == "zhongwei"
    result = client.update_site("zhongwei", pools=[PoolChange(0, count=10, price_cny_per_hour=9.0)])
    assert result.site.pools[0].count == 10 and result.site.pools[0].price_cny_per_hour == 9.0
    assert [e.reservation.placement.job for e in result.evicted] == ["big"]  # 20 > qingpu's 16
    assert result.moved == []
    assert [r.placement.job for r in client.list_reservations()] == ["small"]


def _subscribed(server: BackgroundServer, count: int) -> None:
    assert server.server is not None
    deadline = time.monotonic() + 5
    while server.server.engine.listener_count < count:
        assert time.monotonic() < deadline, "watcher never subscribed"
        time.sleep(0.01)


def test_watch_placements_streams_every_change(
    server: BackgroundServer, client: RouterClient
) -> None:
    events: list[PlacementEvent] = []
    stream = client.watch_placements()

    def collect() -> None:
        for event in stream:
            events.append(event)
            if len(events) == 4:
                return

    reader = threading.Thread(target=collect)
    reader.start()
    _subscribed(server, 1)
    first = client.route(job("one", count=4)).reservation
    second = client.route(job("two", count=28)).reservation
    assert first and second
    client.release(first.reservation_id)
    client.update_site("zhongwei", status="down")
    reader.join(10)
    assert [(e.type, e.reservation.placement.job) for e in events] == [
        ("placed", "one"),
        ("placed", "two"),
        ("released", "one"),
        ("evicted", "two"),
    ]
    assert events[0].reservation.reservation_id == first.reservation_id
    assert events[3].reservation.state == "evicted"


def test_watch_filters_by_site(server: BackgroundServer, client: RouterClient) -> None:
    seen: list[str] = []
    stream = client.watch_placements(site="qingpu")

    def collect() -> None:
        for event in stream:
            seen.append(event.reservation.placement.job)
            return

    reader = threading.Thread(target=collect)
    reader.start()
    _subscribed(server, 1)
    client.route(job("west", count=4))
    client.route(job("east", count=4, allowed_zones=["east"]))
    reader.join(10)
    assert seen == ["east"]


def test_get_topology_round_trips(client: RouterClient, mini: Topology) -> None:
    view = client.get_topology()
    assert view.topology.name == mini.name
    assert view.topology.sites == mini.sites
    assert view.topology.links == mini.links
    assert view.topology.accelerators == mini.accelerators
    assert view.free == {
        (s.name, i): p.count for s in mini.sites.values() for i, p in enumerate(s.pools)
    }


def test_what_if_diffs_scenarios_against_live_jobs(client: RouterClient) -> None:
    client.route(job("a", count=8))
    result = client.what_if(
        [
            {"name": "west-down", "changes": [{"site": "zhongwei", "status": "down"}]},
            {"name": "double", "changes": [{"job": "*", "demand_factor": 3}]},
        ],
        time_limit_s=2,
    )
    assert [p.site for p in result.baseline.placements] == ["zhongwei"]
    down, double = result.results
    assert [(m.job, m.from_site, m.to_site) for m in down.moves] == [("a", "zhongwei", "qingpu")]
    assert down.cost_delta_cny == pytest.approx(8 * 2 * (11.0 - 8.0))
    # demand_factor 3: the job and two copies (router.whatif.compare's semantics).
    assert sorted((p.job, p.count) for p in double.plan.placements) == [
        ("a", 8),
        ("a:2", 8),
        ("a:3", 8),
    ]
    assert len(client.list_reservations()) == 1, "what-if reserves nothing"


def test_async_client(server: BackgroundServer) -> None:
    async def scenario() -> tuple[str, list[str], str]:
        async with AsyncRouterClient(f"127.0.0.1:{server.port}") as c:
            health = await c.health()
            events: list[str] = []

            async def watch() -> None:
                async for event in c.watch_placements():
                    events.append(event.type)
                    return

            watcher = asyncio.create_task(watch())
            await asyncio.to_thread(_subscribed, server, 1)
            routed = await c.route(job())
            await asyncio.wait_for(watcher, 10)
            assert routed.reservation is not None
            listed = await c.list_reservations()
            with pytest.raises(InvalidInputError):
                await c.place([job(origin="atlantis")])
            return health, events, listed[0].placement.site

    assert asyncio.run(scenario()) == ("serving", ["placed"], "zhongwei")


def test_graceful_shutdown_finishes_in_flight_calls(
    mini: Topology, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    in_solver = threading.Event()
    real = router.state.engine.plan_jobs

    def slow(*args: Any, **kwargs: Any) -> Any:
        in_solver.set()
        time.sleep(0.5)
        return real(*args, **kwargs)

    monkeypatch.setattr(router.state.engine, "plan_jobs", slow)
    bg = BackgroundServer(topology=mini, ledger=SqliteLedger(tmp_path / "s.sqlite")).start()
    target = f"127.0.0.1:{bg.port}"
    statuses: list[int] = []
    channel = grpc.insecure_channel(target)
    health = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest())

    def watch_health() -> None:
        try:
            for answer in health:
                statuses.append(answer.status)
                if answer.status == health_pb2.HealthCheckResponse.NOT_SERVING:
                    health.cancel()  # a prober that saw NOT_SERVING goes away
        except grpc.RpcError:
            pass

    watcher = threading.Thread(target=watch_health)
    watcher.start()
    deadline = time.monotonic() + 5
    while not statuses:
        assert time.monotonic() < deadline, "health watch never answered"
        time.sleep(0.01)
    outcome: list[Any] = []

    def place() -> None:
        with RouterClient(target) as c:
            outcome.append(c.place([job("late")], time_limit_s=1))

    caller = threading.Thread(target=place)
    caller.start()
    assert in_solver.wait(5)
    bg.stop(grace_s=5)
    caller.join(10)
    watcher.join(10)
    channel.close()
    serving, not_serving = (
        health_pb2.HealthCheckResponse.SERVING,
        health_pb2.HealthCheckResponse.NOT_SERVING,
    )
    assert statuses[:1] == [serving] and not_serving in statuses
    assert len(outcome) == 1 and [p.job for p in outcome[0].plan.placements] == ["late"]
    with RouterClient(target) as c, pytest.raises(ServiceUnavailableError):
        c.health(timeout_s=1)


def test_concurrency_is_bounded(
    mini: Topology, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    in_solver = threading.Event()
    release = threading.Event()
    real = router.state.engine.plan_jobs

    def held(*args: Any, **kwargs: Any) -> Any:
        in_solver.set()
        release.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(router.state.engine, "plan_jobs", held)
    ledger = SqliteLedger(tmp_path / "s.sqlite")
    with BackgroundServer(topology=mini, ledger=ledger, max_concurrent_rpcs=1) as bg:
        target = f"127.0.0.1:{bg.port}"
        results: list[Any] = []
        with RouterClient(target) as first:
            caller = threading.Thread(target=lambda: results.append(first.plan([job("a")])))
            caller.start()
            assert in_solver.wait(5)
            with RouterClient(target) as second, pytest.raises(ServiceUnavailableError):
                second.get_topology()
            release.set()
            caller.join(10)
        assert [p.job for p in results[0].placements] == ["a"]


def test_concurrent_routes_never_overbook(server: BackgroundServer) -> None:
    """60 callers race for 48 A800s (32 west, 16 east) in 8-device jobs: exactly 6 win."""

    async def race() -> list[bool]:
        async with AsyncRouterClient(f"127.0.0.1:{server.port}") as c:
            results = await asyncio.gather(*(c.route(job(f"r{i}", count=8)) for i in range(60)))
            return [r.placed for r in results]

    placed = asyncio.run(race())
    assert placed.count(True) == 6
    with RouterClient(f"127.0.0.1:{server.port}") as client:
        held = client.list_reservations()
        free = client.get_topology().free
    assert len(held) == 6
    assert free[("zhongwei", 0)] == 0 and free[("qingpu", 0)] == 0
    assert sum(r.placement.count for r in held if r.placement.site == "zhongwei") == 32


def test_site_changes_outlive_a_restart(mini: Topology, tmp_path: Path) -> None:
    state = tmp_path / "state.sqlite"
    ledger = SqliteLedger(state)
    with BackgroundServer(topology=mini, ledger=ledger) as bg:
        client = RouterClient(f"127.0.0.1:{bg.port}")
        client.update_site("zhongwei", status="down")
        client.update_site("qingpu", pools=[PoolChange(1, count=2)])
        client.update_site("qingpu", pools=[PoolChange(0, price_cny_per_hour=12.5)])
        client.close()
    ledger.close()

    reopened = SqliteLedger(state)
    with BackgroundServer(topology=mini, ledger=reopened) as bg:
        client = RouterClient(f"127.0.0.1:{bg.port}")
        view = client.get_topology()
        routed = client.route(job(count=4))
        client.close()
    reopened.close()
    sites = view.topology.sites
    assert sites["zhongwei"].status == "down"
    assert [(p.count, p.price_cny_per_hour) for p in sites["qingpu"].pools] == [
        (16, 12.5),
        (2, 8.0),
    ]
    assert view.free[("zhongwei", 0)] == 0 and view.free[("qingpu", 1)] == 2
    assert routed.reservation is not None and routed.reservation.placement.site == "qingpu"


def test_async_client_covers_every_call(server: BackgroundServer) -> None:
    async def scenario() -> None:
        async with AsyncRouterClient(f"127.0.0.1:{server.port}") as c:
            placed = await c.place([job("p1"), job("p2")], time_limit_s=1)
            assert len(placed.reservations) == 2
            topology = await c.get_topology()
            assert topology.free[("zhongwei", 0)] == 32 - 8
            released = await c.release(placed.reservations[0].reservation_id)
            assert released.state == "released"
            assert len(await c.list_reservations(include_ended=True)) == 2
            update = await c.update_site("zhongwei", status="down")
            assert [e.reservation.placement.site for e in update.moved] == ["qingpu"]
            whatif = await c.what_if(
                [{"name": "up", "changes": [{"site": "zhongwei", "status": "up"}]}]
            )
            assert [m.to_site for m in whatif.results[0].moves] == ["zhongwei"]
            with pytest.raises(NotFoundError):
                await c.release("nope")

    asyncio.run(scenario())


def test_route_checks_every_name_even_for_a_known_job_shape(client: RouterClient) -> None:
    first = client.route(job("first"))
    assert first.reservation is not None and first.reservation.job["name"] == "first"
    with pytest.raises(InvalidInputError) as caught:
        client.route(job("bad name!"))
    assert [p.path for p in caught.value.problems] == ["job.name"]
    second = client.route(job("second"))
    assert second.reservation is not None
    assert second.reservation.placement.job == "second"
    assert second.reservation.job["name"] == "second"
    assert {r.placement.job for r in client.list_reservations()} == {"first", "second"}
