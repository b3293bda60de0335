"""TLS and mTLS end to end: a real server on a port with certificates made in the test."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from router.client import RouterClient
from router.errors import (
    AuthenticationError,
    InvalidInputError,
    ServiceUnavailableError,
)
from router.model.topology import Topology
from router.service.background import BackgroundServer
from router.service.credentials import ClientTls
from router.service.tenants import Role, Tenant, Tenants, hash_token
from router.service.tls import ServerCertificates, TlsFiles, check_exposure, is_loopback
from router.state.sqlite import SqliteLedger
from tests.certs import Authority

TENANTS = Tenants(
    (
        Tenant("ops", Role.ADMIN, token_sha256=hash_token("ops-token")),
        Tenant("research", Role.TENANT, cert_san="research.example"),
    )
)


def _cannot_connect(address: str, **credentials: Any) -> None:
    """The TLS handshake fails: the call never reaches the service."""
    with RouterClient(address, **credentials) as client, pytest.raises(ServiceUnavailableError):
        client.get_topology(timeout_s=3)


@pytest.fixture
def pki(tmp_path: Path) -> Authority:
    return Authority(tmp_path)


def _serve(
    mini: Topology, tmp_path: Path, files: TlsFiles
) -> tuple[BackgroundServer, ServerCertificates]:
    certificates = ServerCertificates(files)
    ledger = SqliteLedger(tmp_path / "state.sqlite")
    server = BackgroundServer(
        topology=mini, ledger=ledger, credentials=certificates.credentials(), tenants=TENANTS
    )
    return server.start(), certificates


@pytest.fixture
def tls_server(mini: Topology, tmp_path: Path, pki: Authority) -> Iterator[BackgroundServer]:
    pair = pki.server()
    server, _ = _serve(mini, tmp_path, TlsFiles(pair.cert, pair.key))
    yield server
    server.stop()


def test_tls_client_with_token_is_served_and_plaintext_fails(
    tls_server: BackgroundServer, pki: Authority
) -> None:
    address = f"localhost:{tls_server.port}"
    with RouterClient(address, token="ops-token", tls=ClientTls(ca=pki.pem)) as client:
        assert client.health() == "serving"
        assert client.get_topology().topology.name
    _cannot_connect(address, token="ops-token")  # plaintext
    with RouterClient(address, tls=ClientTls(ca=pki.pem)) as anonymous:
        assert anonymous.health() == "serving"  # health stays open
        with pytest.raises(AuthenticationError, match="no credentials"):
            anonymous.get_topology()


def test_a_client_that_does_not_trust_the_server_ca_fails(
    tls_server: BackgroundServer, tmp_path: Path
) -> None:
    stranger = Authority(tmp_path / "other")
    _cannot_connect(
        f"localhost:{tls_server.port}", token="ops-token", tls=ClientTls(ca=stranger.pem)
    )


def test_mtls_names_the_tenant_by_certificate_and_refuses_clients_without_one(
    mini: Topology, tmp_path: Path, pki: Authority
) -> None:
    pair = pki.server()
    client_pair = pki.issue("research", ["research.example"])
    server, _ = _serve(mini, tmp_path, TlsFiles(pair.cert, pair.key, pki.pem))
    address = f"localhost:{server.port}"
    try:
        mtls = ClientTls(ca=pki.pem, cert=client_pair.cert, key=client_pair.key)
        with RouterClient(address, tls=mtls) as client:
            assert client.list_reservations() == []  # research, named by its SAN
        _cannot_connect(address, token="ops-token", tls=ClientTls(ca=pki.pem))  # no cert
    finally:
        server.stop()


def test_sighup_reload_serves_renewed_certificates(
    mini: Topology, tmp_path: Path, pki: Authority
) -> None:
    pair = pki.server()
    server, certificates = _serve(mini, tmp_path, TlsFiles(pair.cert, pair.key))
    address = f"localhost:{server.port}"
    try:
        renewed_ca = Authority(tmp_path / "renewed", "renewed CA")
        renewed = renewed_ca.server()
        pair.cert.write_bytes(renewed.cert.read_bytes())
        pair.key.write_bytes(renewed.key.read_bytes())
        with RouterClient(address, token="ops-token", tls=ClientTls(ca=pki.pem)) as old:
            assert old.get_topology().topology.name  # not reloaded yet: the old certificate
        certificates.reload()
        with RouterClient(address, token="ops-token", tls=ClientTls(ca=renewed_ca.pem)) as new:
            assert new.get_topology().topology.name
        _cannot_connect(address, token="ops-token", tls=ClientTls(ca=pki.pem))
    finally:
        server.stop()


def test_serve_refuses_a_public_address_without_tls_and_auth(tmp_path: Path) -> None:
    assert is_loopback("127.0.0.1:50051") and is_loopback("[::1]:1") and is_loopback("localhost:1")
    assert not is_loopback("0.0.0.0:50051") and not is_loopback("[::]:1")
    check_exposure("0.0.0.0:1", tls=True, auth=True, insecure=False)
    check_exposure("0.0.0.0:1", tls=False, auth=False, insecure=True)
    with pytest.raises(InvalidInputError, match="give --tls-cert/--tls-key and --auth"):
        check_exposure("0.0.0.0:1", tls=False, auth=False, insecure=False)
    with pytest.raises(InvalidInputError, match="give --auth, listen on a loopback"):
        check_exposure("10.0.0.1:1", tls=True, auth=False, insecure=False)


def test_serve_cli_exits_2_on_exposure_and_unreadable_certificates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from router.cli.main import main

    state = str(tmp_path / "s.sqlite")
    assert main(["serve", "--listen", "0.0.0.0:0", "--state", state]) == 2
    assert "--listen: 0.0.0.0:0 is reachable from other machines" in capsys.readouterr().err
    missing = str(tmp_path / "missing.pem")
    assert main(["serve", "--tls-cert", missing, "--tls-key", missing, "--state", state]) == 2
    assert "--tls-cert: cannot read" in capsys.readouterr().err
    assert main(["serve", "--tls-cert", missing, "--state", state]) == 2
    assert "--tls-cert: needs --tls-key" in capsys.readouterr().err


def test_grpc_channel_is_not_left_plaintext_by_default() -> None:
    assert isinstance(ClientTls().credentials(), grpc.ChannelCredentials)


def test_westward_serve_with_tls_and_auth_logs_calls_and_reloads_on_sighup(
    tmp_path: Path, pki: Authority
) -> None:
    from tests.test_cli_service import Served

    pair = pki.server()
    tenants = tmp_path / "tenants.yaml"
    tenants.write_text(
        f"tenants:\n  - {{name: ops, role: admin, token_sha256: {hash_token('t')}}}\n"
    )
    served = Served(
        tmp_path / "state.sqlite",
        *("--tls-cert", str(pair.cert), "--tls-key", str(pair.key), "--auth", str(tenants)),
    )
    address = f"localhost:{served.port}"
    try:
        with RouterClient(address, token="t", tls=ClientTls(ca=pki.pem)) as client:
            assert client.get_topology().topology.name == "mini"
        call = served.wait_for("call")
        assert (call["method"], call["tenant"], call["code"]) == (
            "/router.v1.RouterService/GetTopology",
            "ops",
            "OK",
        )
        renewed_ca = Authority(tmp_path / "renewed", "renewed CA")
        renewed = renewed_ca.server()
        pair.cert.write_bytes(renewed.cert.read_bytes())
        pair.key.write_bytes(renewed.key.read_bytes())
        served.process.send_signal(signal.SIGHUP)
        time.sleep(0.5)  # the signal is handled on the server's loop
        with RouterClient(address, token="t", tls=ClientTls(ca=renewed_ca.pem)) as client:
            assert client.get_topology().topology.name == "mini"
        _cannot_connect(address, token="t", tls=ClientTls(ca=pki.pem))
    finally:
        assert served.terminate() == 0
    assert "certificates reloaded" in [line["msg"] for line in served.logs]
