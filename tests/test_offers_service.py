"""ListOffers over a real gRPC server with a real SQLite ledger: live free devices, pages,
bad tokens, and `westward offers --server`."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from router.cli.main import main
from router.client import AsyncRouterClient, RouterClient
from router.errors import InvalidInputError
from router.model.jobs import parse_jobs
from router.model.topology import Topology, default_topology
from router.place.offers import job_offers
from router.plan import make_context
from router.service.background import BackgroundServer
from router.service.convert import job_message, pb, pb_grpc
from router.state.sqlite import SqliteLedger
from tests.test_offers import SERVING


@pytest.fixture(scope="module")
def edwc() -> Topology:
    return default_topology()


@pytest.fixture
def server(edwc: Topology, tmp_path: Path) -> Iterator[BackgroundServer]:
    ledger = SqliteLedger(tmp_path / "state.sqlite")
    with BackgroundServer(topology=edwc, ledger=ledger, default_time_limit_s=2.0) as bg:
        yield bg
    ledger.close()


@pytest.fixture
def client(server: BackgroundServer) -> Iterator[RouterClient]:
    with RouterClient(f"127.0.0.1:{server.port}") as c:
        yield c


def test_offers_over_grpc_match_the_local_ones_with_live_free_devices(
    edwc: Topology, client: RouterClient
) -> None:
    bought = client.route(SERVING)
    assert bought.reservation is not None
    first = bought.reservation.placement
    remote = client.list_offers(SERVING, include_rejected=True)
    job = parse_jobs({"jobs": [SERVING]}, edwc)[0]
    local = job_offers(job, make_context(edwc, client.get_topology().free), True)
    assert remote == local
    # Route bought the best offer; the same pool now shows its devices taken.
    top = remote.offers[0]
    assert (top.site, top.pool_index) == (first.site, first.pool_index)
    pool = edwc.sites[first.site].pools[first.pool_index]
    assert top.free_devices == pool.count - first.count


def test_async_client_lists_the_same_offers(server: BackgroundServer, client: RouterClient) -> None:
    async def listed() -> object:
        async with AsyncRouterClient(f"127.0.0.1:{server.port}") as aclient:
            return await aclient.list_offers(SERVING, include_rejected=True)

    remote = asyncio.run(listed())
    assert remote == client.list_offers(SERVING, include_rejected=True)
    assert remote.offers and remote.rejected  # type: ignore[attr-defined]


def test_pages_join_up_and_bad_pages_are_invalid_arguments(server: BackgroundServer) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = pb_grpc.RouterServiceStub(channel)
        ask = pb.ListOffersRequest(job=job_message(SERVING), include_rejected=True)
        whole = stub.ListOffers(ask)
        assert whole.next_page_token == ""  # 20 offers + 21 rejected fit one default page
        seen: list[Any] = []
        token = ""
        while True:
            page = stub.ListOffers(
                pb.ListOffersRequest(
                    job=job_message(SERVING), include_rejected=True, page_size=7, page_token=token
                )
            )
            assert len(page.offers) + len(page.rejected) <= 7
            seen += [*page.offers, *page.rejected]
            token = page.next_page_token
            if not token:
                break
        assert seen == [*whole.offers, *whole.rejected]
        for bad in (
            pb.ListOffersRequest(job=job_message(SERVING), page_token="zzz"),
            pb.ListOffersRequest(job=job_message(SERVING), page_token="999999"),
            pb.ListOffersRequest(job=job_message(SERVING), page_size=100000),
            pb.ListOffersRequest(),
        ):
            with pytest.raises(grpc.RpcError) as exc:
                stub.ListOffers(bad)
            call: Any = exc.value
            assert call.code() == grpc.StatusCode.INVALID_ARGUMENT
            status = rpc_status.from_call(call)
            assert status is not None
            details = error_details_pb2.BadRequest()
            status.details[0].Unpack(details)
            field = details.field_violations[0].field
            assert field in {"page_token", "page_size", "job"}


def test_a_bad_job_names_its_field(client: RouterClient) -> None:
    with pytest.raises(InvalidInputError) as exc:
        client.list_offers({**SERVING, "accelerators": {"count": 0, "types": ["H20"]}})
    assert any(p.path == "job.accelerators.count" for p in exc.value.problems)


def test_offers_cli_with_server(
    server: BackgroundServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    jobs = tmp_path / "jobs.yaml"
    jobs.write_text(yaml.safe_dump({"jobs": [SERVING]}), encoding="utf-8")
    address = f"127.0.0.1:{server.port}"
    assert main(["offers", "--jobs", str(jobs), "--json"]) == 0
    local = json.loads(capsys.readouterr().out)
    assert main(["offers", "--jobs", str(jobs), "--json", "--server", address]) == 0
    assert json.loads(capsys.readouterr().out) == local  # nothing reserved: all free
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"jobs": [{**SERVING, "hours": -1}]}), encoding="utf-8")
    assert main(["offers", "--jobs", str(bad), "--server", address]) == 2
    err = capsys.readouterr().err
    assert "bad.yaml" in err and "jobs[0].hours" in err
