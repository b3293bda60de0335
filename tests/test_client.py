"""SDK details without the real service: retries by service config, request building, errors."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
import pytest

from router.client import RouterClient, place_request, route_request
from router.errors import InvalidInputError, ServerError
from router.model.jobs import parse_jobs
from router.model.topology import Topology
from router.service import convert
from router.service.convert import pb, pb_grpc

ENTRY = {
    "name": "train",
    "kind": "training",
    "origin": "shanghai",
    "max_latency_ms": 80,
    "accelerators": {"count": 8, "types": ["A800"], "min_memory_gb": 40, "hours_on": "A800"},
    "hours": 12,
    "data_gb": 500,
    "deadline_hours": 48,
    "allowed_zones": ["west"],
    "priority": 3,
    "precision": "fp16",
}


class Flaky(grpc.GenericRpcHandler):
    """GetTopology answers UNAVAILABLE `failures` times, then succeeds."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    def service(self, details: Any) -> Any:
        if details.method != "/router.v1.RouterService/GetTopology":
            return None
        return grpc.unary_unary_rpc_method_handler(
            self.handle,
            request_deserializer=pb.GetTopologyRequest.FromString,
            response_serializer=pb.GetTopologyResponse.SerializeToString,
        )

    def handle(self, request: Any, context: grpc.ServicerContext) -> pb.GetTopologyResponse:
        self.calls += 1
        if self.calls <= self.failures:
            context.abort(grpc.StatusCode.UNAVAILABLE, "warming up")
        return pb.GetTopologyResponse(topology=pb.Topology(name="flaky"))


@pytest.fixture
def flaky() -> Iterator[tuple[Flaky, int]]:
    handler = Flaky(failures=2)
    server = grpc.server(ThreadPoolExecutor(2), handlers=[handler])
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield handler, port
    server.stop(None)


def test_unavailable_is_retried_by_the_channel_service_config(flaky: tuple[Flaky, int]) -> None:
    handler, port = flaky
    with RouterClient(f"127.0.0.1:{port}") as client:
        assert client.get_topology().topology.name == "flaky"
    assert handler.calls == 3


def test_without_the_service_config_the_first_failure_surfaces(flaky: tuple[Flaky, int]) -> None:
    handler, port = flaky
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = pb_grpc.RouterServiceStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            stub.GetTopology(pb.GetTopologyRequest(), timeout=5)
    assert caught.value.code() is grpc.StatusCode.UNAVAILABLE
    assert handler.calls == 1


def test_unimplemented_method_maps_to_server_error(flaky: tuple[Flaky, int]) -> None:
    _, port = flaky
    with RouterClient(f"127.0.0.1:{port}") as client, pytest.raises(ServerError):
        client.list_reservations()


def test_job_entry_survives_proto_and_matches_parse(mini: Topology) -> None:
    message = convert.job_message(ENTRY)
    assert convert.job_entry(message) == ENTRY
    job = parse_jobs({"jobs": [ENTRY]}, mini)[0]
    assert convert.job_entry(convert.job_message(job)) == convert.job_spec(job)
    assert parse_jobs({"jobs": [convert.job_spec(job)]}, mini)[0] == job


def test_requests_get_a_request_id_unless_dry_run() -> None:
    placed = place_request(
        [ENTRY], dry_run=False, request_id=None, time_limit_s=0, carbon_price_cny_per_kg=0
    )
    dry = place_request(
        [ENTRY], dry_run=True, request_id=None, time_limit_s=0, carbon_price_cny_per_kg=0
    )
    assert len(placed.request_id) == 32 and dry.request_id == ""
    assert route_request(ENTRY, "mine").request_id == "mine"
    assert route_request(ENTRY, None).request_id != route_request(ENTRY, None).request_id


def test_wrong_shapes_fail_in_the_client_with_paths() -> None:
    typo = dict(ENTRY, acelerators={"count": 1})
    with pytest.raises(InvalidInputError) as caught:
        place_request(
            [ENTRY, typo], dry_run=True, request_id=None, time_limit_s=0, carbon_price_cny_per_kg=0
        )
    assert [p.path for p in caught.value.problems] == ["jobs[1].acelerators"]
    with pytest.raises(InvalidInputError) as caught:
        convert.job_message(dict(ENTRY, kind="quantum"))
    assert caught.value.problems[0].path == "job.kind"
    assert "training" in caught.value.problems[0].message
    with pytest.raises(InvalidInputError) as caught:
        convert.job_message(dict(ENTRY, hours="long"))
    assert caught.value.problems[0].path == "job"
