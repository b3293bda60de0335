"""Fuzzing the trust boundary: hostile requests at a real `westward serve`, hostile files at
the loaders. Every answer must be a documented status (docs/service.md) or a clean
InvalidInputError, and the server must stay healthy. Examples are bounded so CI stays fast.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from router.errors import InvalidInputError
from router.model.jobs import parse_jobs
from router.model.scenario import parse_scenario
from router.model.sourcefile import read_yaml
from router.model.topology import default_topology, parse_topology
from router.service.convert import pb, pb_grpc
from tests.conftest import MINI
from tests.load import ServeProcess, free_port

DOCUMENTED = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.ABORTED,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.UNAVAILABLE,
}
"""Every code docs/service.md says a call can end with (never UNKNOWN or INTERNAL)."""
FUZZ = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
TOPOLOGY = default_topology()

numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -1.0, 1e308, -1e308, 5e-324, 1.0, 24.0, 100.0]),
)
counts = st.integers(min_value=-(2**31), max_value=2**31 - 1)
texts = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", "shanghai", "A800", "zhongwei", "*", "\u0000", "名字", "x" * 300]),
)


@st.composite
def jobs(draw: st.DrawFn) -> pb.Job:
    return pb.Job(
        name=draw(texts),
        kind=draw(st.integers(0, 8)),
        origin=draw(texts),
        max_latency_ms=draw(numbers),
        accelerators=pb.AcceleratorRequest(
            count=draw(counts),
            types=draw(st.lists(texts, max_size=3)),
            stacks=draw(st.lists(texts, max_size=2)),
        ),
        hours=draw(numbers),
        data_gb=draw(numbers),
        priority=draw(counts),
    )


changes = st.builds(
    pb.Change,
    job=texts,
    status=st.integers(0, 5),
    price_factor=numbers,
    count_factor=numbers,
    demand_factor=numbers,
)
requests: st.SearchStrategy[tuple[str, Message]] = st.one_of(
    st.tuples(
        st.just("Place"),
        st.builds(
            pb.PlaceRequest,
            jobs=st.lists(jobs(), max_size=3),
            request_id=texts,
            time_limit_s=numbers,
            carbon_price_cny_per_kg=numbers,
            ttl_s=numbers,
            dry_run=st.booleans(),
        ),
    ),
    st.tuples(
        st.just("Route"), st.builds(pb.RouteRequest, job=jobs(), request_id=texts, ttl_s=numbers)
    ),
    st.tuples(
        st.just("WhatIf"),
        st.builds(
            pb.WhatIfRequest,
            jobs=st.lists(jobs(), max_size=2),
            scenarios=st.lists(
                st.builds(pb.Scenario, name=texts, changes=st.lists(changes, max_size=2)),
                max_size=2,
            ),
            time_limit_s=numbers,
        ),
    ),
    st.tuples(
        st.just("UpdateSite"),
        st.builds(
            pb.UpdateSiteRequest,
            site=st.sampled_from(["", "qingpu", "nowhere"]),
            status=st.sampled_from([0, 1, 2]),  # never down: keep capacity for the others
            pools=st.lists(
                st.builds(
                    pb.PoolUpdate,
                    pool_index=counts,
                    count=st.integers(0, 10**9),
                    price_cny_per_hour=numbers,
                ),
                max_size=2,
            ),
            electricity_cny_per_kwh=numbers,
        ),
    ),
    st.tuples(
        st.just("ListReservations"),
        st.builds(
            pb.ListReservationsRequest,
            site=texts,
            page_size=counts,
            page_token=texts,
            include_ended=st.booleans(),
        ),
    ),
    st.tuples(st.just("Release"), st.builds(pb.ReleaseRequest, reservation_id=texts)),
)


@pytest.fixture(scope="module")
def channel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[grpc.Channel]:
    where = tmp_path_factory.mktemp("fuzz")
    process = ServeProcess(where / "state.sqlite", MINI, free_port(), where / "serve.log").start()
    with grpc.insecure_channel(f"127.0.0.1:{process.port}") as open_channel:
        yield open_channel
    assert process.stop() == 0


def _healthy(channel: grpc.Channel) -> None:
    answer = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=2)
    assert answer.status == health_pb2.HealthCheckResponse.SERVING


@FUZZ
@given(call=requests)
def test_hostile_messages_get_documented_codes(
    channel: grpc.Channel, call: tuple[str, Message]
) -> None:
    method, request = call
    try:
        getattr(pb_grpc.RouterServiceStub(channel), method)(request, timeout=3)
    except grpc.RpcError as exc:
        assert exc.code() in DOCUMENTED, (method, exc.code(), exc.details())
    _healthy(channel)


@FUZZ
@given(
    method=st.sampled_from(list(pb.DESCRIPTOR.services_by_name["RouterService"].methods)),
    raw=st.binary(max_size=200),
)
def test_random_bytes_at_every_method_get_documented_codes(
    channel: grpc.Channel, method: Any, raw: bytes
) -> None:
    path = f"/router.v1.RouterService/{method.name}"
    try:
        if method.server_streaming:  # a watch that starts is fine: stop it at once
            call = channel.unary_stream(path)(raw, timeout=0.5)
            next(iter(call), None)
        else:
            channel.unary_unary(path)(raw, timeout=3)
    except grpc.RpcError as exc:
        assert exc.code() in DOCUMENTED, (method.name, exc.code(), exc.details())
    _healthy(channel)


yaml_values = st.recursive(
    st.one_of(st.none(), st.booleans(), numbers, counts, texts),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(texts, inner, max_size=3)),
    max_leaves=12,
)
JOB = {
    "name": "j",
    "kind": "training",
    "origin": "shanghai",
    "max_latency_ms": 50,
    "accelerators": {"count": 8, "types": ["A800"]},
    "hours": 10,
}


@FUZZ
@given(field=st.sampled_from([*JOB, "data_gb", "deadline_hours"]), value=yaml_values)
def test_hostile_jobs_files_fail_cleanly(tmp_path: Path, field: str, value: Any) -> None:
    path = tmp_path / "jobs.yaml"
    path.write_text(yaml.safe_dump({"jobs": [{**JOB, field: value}]}, allow_unicode=True))
    try:
        loaded = parse_jobs(read_yaml(path).data, TOPOLOGY)
    except InvalidInputError as exc:
        assert all(p.path for p in exc.problems)
        return
    assert all(math.isfinite(j.hours) and math.isfinite(j.max_latency_ms) for j in loaded)


@FUZZ
@given(data=yaml_values)
def test_hostile_topology_and_scenario_data_fail_cleanly(data: Any) -> None:
    for parse in (parse_topology, lambda d: parse_scenario(d, TOPOLOGY)):
        with contextlib.suppress(InvalidInputError):
            parse(data)


@FUZZ
@given(factor=numbers, field=st.sampled_from(["demand_factor", "price_factor", "count_factor"]))
def test_hostile_scenario_factors_are_bounded(factor: float, field: str) -> None:
    data = {
        "name": "s",
        "changes": [
            {
                "job" if field == "demand_factor" else "site": "*"
                if field == "demand_factor"
                else "zhongwei",
                field: factor,
            }
        ],
    }
    try:
        parse_scenario(data, TOPOLOGY)
    except InvalidInputError:
        return
    assert math.isfinite(factor) and 0 <= factor <= 1000
