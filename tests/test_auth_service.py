"""Tenants against a real TLS server: roles, ownership, quotas with borrowing, reclaim, rate."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from router.cli.main import main
from router.client import RouterClient
from router.errors import AuthenticationError, NotFoundError, PermissionDeniedError
from router.model.topology import Topology
from router.service.background import BackgroundServer
from router.service.convert import pb, pb_grpc
from router.service.credentials import ClientTls
from router.service.tenants import Tenants, hash_token, load_tenants
from router.service.tls import ServerCertificates, TlsFiles
from router.state.sqlite import SqliteLedger
from tests.certs import Authority
from tests.conftest import MINI
from tests.test_service import job

TENANTS_FILE = """\
tenants:
  - {name: ops, role: admin, token_sha256: %(ops)s}
  - {name: auditor, role: viewer, token_sha256: %(auditor)s}
  - name: research
    role: tenant
    token_sha256: %(research)s
    cohort: ai-lab
    quota:
      A800: {nominal: 8, borrowing_limit: 8, lending_limit: 8}
  - name: serving
    role: tenant
    token_sha256: %(serving)s
    cohort: ai-lab
    reclaim_within_cohort: true
    quota:
      A800: {nominal: 16, lending_limit: 8}
  - {name: bursty, role: tenant, token_sha256: %(bursty)s, rate_limit_per_s: 2}
"""
NAMES = ("ops", "auditor", "research", "serving", "bursty")


def tenants_file(tmp_path: Path) -> Tenants:
    path = tmp_path / "tenants.yaml"
    path.write_text(TENANTS_FILE % {n: hash_token(f"{n}-token") for n in NAMES})
    return load_tenants(path)


class Tls:
    """A TLS server with the tenants file, and clients for each tenant."""

    def __init__(self, server: BackgroundServer, ca: Path) -> None:
        self.server = server
        self.address = f"localhost:{server.port}"
        self.ca = ca

    def client(self, tenant: str | None) -> RouterClient:
        token = f"{tenant}-token" if tenant else None
        return RouterClient(self.address, token=token, tls=ClientTls(ca=self.ca))


@pytest.fixture
def tls(mini: Topology, tmp_path: Path) -> Iterator[Tls]:
    pki = Authority(tmp_path / "pki")
    pair = pki.server()
    credentials = ServerCertificates(TlsFiles(pair.cert, pair.key)).credentials()
    ledger = SqliteLedger(tmp_path / "state.sqlite")
    server = BackgroundServer(
        topology=mini, ledger=ledger, credentials=credentials, tenants=tenants_file(tmp_path)
    ).start()
    yield Tls(server, pki.pem)
    server.stop()
    ledger.close()


def a800(name: str, count: int = 4, **extra: Any) -> dict[str, Any]:
    return job(name, count, **extra)


def test_no_or_a_wrong_token_is_unauthenticated(tls: Tls) -> None:
    with tls.client(None) as anonymous, pytest.raises(AuthenticationError):
        anonymous.route(a800("a"))
    with RouterClient(tls.address, token="guess", tls=ClientTls(ca=tls.ca)) as wrong:
        with pytest.raises(AuthenticationError, match="unknown or malformed bearer token"):
            wrong.get_topology()
        assert wrong.health() == "serving"


def test_roles_limit_what_each_tenant_may_call(tls: Tls) -> None:
    with tls.client("research") as research, tls.client("auditor") as viewer:
        with pytest.raises(PermissionDeniedError, match="research \\(tenant\\) may not call"):
            research.update_site("qingpu", status="down")
        with pytest.raises(PermissionDeniedError):
            research.reload_topology()
        assert viewer.get_topology().topology.name == "mini"
        with pytest.raises(PermissionDeniedError):
            viewer.route(a800("v"))
        with pytest.raises(PermissionDeniedError):
            viewer.list_reservations()
    with tls.client("ops") as admin:
        assert admin.update_site("qingpu", status="drain").site.status == "drain"


def test_a_tenant_sees_and_releases_only_its_own_reservations(tls: Tls) -> None:
    with tls.client("research") as research, tls.client("serving") as serving:
        mine = research.route(a800("mine")).reservation
        theirs = serving.route(a800("theirs")).reservation
        assert mine is not None and theirs is not None
        assert [r.reservation_id for r in research.list_reservations()] == [mine.reservation_id]
        with pytest.raises(NotFoundError, match="no reservation"):
            research.release(theirs.reservation_id)
        assert research.release(mine.reservation_id).state == "released"
    with tls.client("ops") as admin:
        listed = admin.list_reservations(include_ended=True)
        assert {r.reservation_id for r in listed} == {mine.reservation_id, theirs.reservation_id}
        assert {r.job["name"] for r in listed if r.state == "active"} == {"theirs"}


def test_watch_shows_a_tenant_only_its_own_events(tls: Tls) -> None:
    with tls.client("research") as research, tls.client("serving") as serving:
        events = research.watch_placements(timeout_s=30)
        research.route(a800("sync"))  # once seen, the stream is surely open
        assert next(events).reservation.job["name"] == "sync"
        serving.route(a800("theirs"))
        research.route(a800("mine-2"))
        assert next(events).reservation.job["name"] == "mine-2"  # "theirs" never shows


def test_a_tenant_borrows_up_to_its_limit_then_gets_a_quota_reason(tls: Tls) -> None:
    with tls.client("research") as research:
        placed = [research.route(a800(f"r{i}")).reservation for i in range(4)]
        assert all(p is not None for p in placed)  # 8 nominal + 8 borrowed from serving
        refused = research.route(a800("r4"))
        assert refused.reservation is None and refused.unplaced is not None
        assert refused.unplaced.reason == (
            "quota: research holds 16 of 8 A800; cohort ai-lab has 0 to lend; "
            "borrowing limit 8 reached"
        )
        assert refused.unplaced.reasons == {"quota": 1}


def test_a_quota_reason_says_when_devices_free_up(tls: Tls) -> None:
    with tls.client("research") as research:
        for i in range(4):
            assert research.route(a800(f"r{i}"), ttl_s=3600 * (i + 1)).reservation is not None
        first_end = time.gmtime(time.time() + 3600)
        refused = research.route(a800("r4")).unplaced
    assert refused is not None
    assert refused.reason.endswith("next frees at " + time.strftime("%Y-%m-%dT%H:%MZ", first_end))


def test_a_lender_reclaims_its_nominal_by_evicting_the_newest_borrowed_reservation(
    tls: Tls,
) -> None:
    with tls.client("research") as research, tls.client("serving") as serving:
        serving_first = serving.route(a800("s0")).reservation
        borrowed = [research.route(a800(f"r{i}")).reservation for i in range(4)]
        assert serving_first is not None and all(b is not None for b in borrowed)
        with tls.client("ops") as admin:
            events = admin.watch_placements(timeout_s=30)
            admin.route(a800("sync", count=1))  # once seen, the stream is surely open
            assert next(events).reservation.job["name"] == "sync"
            back = serving.route(a800("s1", count=8)).reservation
            assert back is not None  # 4 + 8 = 12 of its 16 nominal
            kinds = [next(events) for _ in range(2)]
        assert [e.type for e in kinds] == ["evicted", "placed"]
        evicted = kinds[0].reservation
        newest = borrowed[-1]
        assert newest is not None and evicted.reservation_id == newest.reservation_id
        assert kinds[0].reason.startswith("reclaimed by serving within its nominal quota (quota:")
        states = {r.reservation_id: r.state for r in research.list_reservations(include_ended=True)}
        assert list(states.values()).count("evicted") == 1  # one was enough: never more
        # beyond its nominal, serving may not reclaim: 12 + 8 > 16
        assert serving.route(a800("s2", count=8)).reservation is None


def test_a_burst_over_the_rate_limit_gets_resource_exhausted_with_retry_info(tls: Tls) -> None:
    channel = grpc.secure_channel(tls.address, grpc.ssl_channel_credentials(tls.ca.read_bytes()))
    stub = pb_grpc.RouterServiceStub(channel)
    metadata = (("authorization", "Bearer bursty-token"),)
    codes = []
    error: Any = None
    for _ in range(6):  # 2/s, burst of 2 s: four go through
        try:
            stub.GetTopology(pb.GetTopologyRequest(), metadata=metadata, timeout=5)
            codes.append("OK")
        except grpc.RpcError as exc:
            codes.append(exc.code().name)
            error = exc
    channel.close()
    assert codes[:4] == ["OK"] * 4 and codes[4:] == ["RESOURCE_EXHAUSTED"] * 2
    status = rpc_status.from_call(error)
    assert status is not None
    kinds = {d.TypeName(): d for d in status.details}
    retry = error_details_pb2.RetryInfo()
    kinds["google.rpc.RetryInfo"].Unpack(retry)
    assert 0 < retry.retry_delay.seconds + retry.retry_delay.nanos / 1e9 <= 0.5
    failure = error_details_pb2.QuotaFailure()
    kinds["google.rpc.QuotaFailure"].Unpack(failure)
    assert failure.violations[0].subject == "tenant:bursty"


def test_the_sdk_waits_out_retry_info(tls: Tls) -> None:
    with tls.client("bursty") as bursty:
        started = time.monotonic()
        for _ in range(6):
            bursty.get_topology()  # the last two wait for their tokens instead of failing
        assert time.monotonic() - started >= 0.5


def test_every_call_is_logged_with_tenant_method_status_and_duration(tls: Tls) -> None:
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    calls = logging.getLogger("westward.calls")
    calls.addHandler(handler)
    level = calls.level
    calls.setLevel(logging.INFO)
    try:
        with tls.client("research") as research, tls.client("auditor") as viewer:
            research.route(a800("logged"))
            with pytest.raises(PermissionDeniedError):
                viewer.route(a800("refused"))
        deadline = time.monotonic() + 5  # the server logs just after it answers
        while len(records) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        calls.removeHandler(handler)
        calls.setLevel(level)
    logged = [(r.method, r.tenant, r.code) for r in records]  # type: ignore[attr-defined]
    route = "/router.v1.RouterService/Route"
    assert logged == [(route, "research", "OK"), (route, "auditor", "PERMISSION_DENIED")]
    assert all(r.ms >= 0 for r in records)  # type: ignore[attr-defined]


def test_place_plans_within_the_callers_quota(tls: Tls) -> None:
    with tls.client("research") as research:
        result = research.place([a800(f"p{i}") for i in range(5)], time_limit_s=2)
    assert len(result.reservations) == 4  # 8 nominal + 8 borrowed = 16 devices
    assert all(r.tenant == "research" for r in result.reservations)
    (left,) = result.plan.unplaced
    assert left.reason.startswith("quota: research holds 16 of 8 A800")
    assert left.reasons == {"quota": 1}


def _jobs_file(tmp_path: Path, jobs: list[dict[str, Any]]) -> Path:
    path = tmp_path / "jobs.yaml"
    path.write_text(yaml.safe_dump({"jobs": jobs}))
    return path


def test_plan_with_tenants_keeps_each_tenant_within_its_quota(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tenants = tmp_path / "tenants.yaml"
    tenants.write_text(TENANTS_FILE % {n: hash_token(f"{n}-token") for n in NAMES})
    jobs = [a800(f"r{i}", tenant="research") for i in range(5)] + [a800("free"), a800("x")]
    path = _jobs_file(tmp_path, jobs)
    argv = ["plan", "--jobs", str(path), "--topology", str(MINI), "--json", "--time-limit", "2"]
    assert main([*argv, "--tenants", str(tenants)]) == 0
    plan = json.loads(capsys.readouterr().out)
    placed = {p["job"] for p in plan["placements"]}
    assert {"free", "x"} <= placed and len(placed & {f"r{i}" for i in range(5)}) == 4
    assert [u["reasons"] for u in plan["unplaced"]] == [{"quota": 1}]
    assert main(argv) == 0  # without --tenants, nothing limits research
    assert len(json.loads(capsys.readouterr().out)["placements"]) == 7
    unknown = _jobs_file(tmp_path, [a800("a", tenant="nobody")])
    bad = ["plan", "--jobs", str(unknown), "--topology", str(MINI), "--tenants", str(tenants)]
    assert main(bad) == 2
    assert "jobs[0].tenant: 'nobody' is not a tenant of" in capsys.readouterr().err


def test_server_commands_take_token_file_ca_and_westward_token(
    tls: Tls, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _jobs_file(tmp_path, [a800("remote")])
    token = tmp_path / "token"
    token.write_text("research-token\n")
    argv = ["plan", "--jobs", str(path), "--server", tls.address, "--ca", str(tls.ca), "--json"]
    assert main([*argv, "--token-file", str(token)]) == 0
    assert json.loads(capsys.readouterr().out)["placements"][0]["job"] == "remote"
    monkeypatch.setenv("WESTWARD_TOKEN", "research-token")
    assert main(argv) == 0
    monkeypatch.setenv("WESTWARD_TOKEN", "wrong")
    assert main(argv) == 1
    assert "unknown or malformed bearer token" in capsys.readouterr().err
    assert main([*argv, "--token-file", str(tmp_path / "missing")]) == 2
    assert "--token-file: cannot read" in capsys.readouterr().err


def test_reflection_stays_open_and_the_async_client_sends_its_token(tls: Tls) -> None:
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    from router.client import AsyncRouterClient

    channel = grpc.secure_channel(tls.address, grpc.ssl_channel_credentials(tls.ca.read_bytes()))
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    (answer,) = list(stub.ServerReflectionInfo(iter([request]), timeout=5))
    channel.close()
    names = {s.name for s in answer.list_services_response.service}
    assert "router.v1.RouterService" in names

    async def route() -> str:
        tls_config = ClientTls(ca=tls.ca)
        async with AsyncRouterClient(tls.address, token="research-token", tls=tls_config) as c:
            result = await c.route(a800("async"))
            assert result.reservation is not None
            return result.reservation.tenant

    assert asyncio.run(route()) == "research"
