"""`westward serve --metrics-listen`: Prometheus metrics that move with the calls, and one
JSON log line for every call."""

from __future__ import annotations

import logging
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from router.client import RouterClient
from router.errors import InvalidInputError, NotFoundError
from router.model.topology import Topology
from router.service.background import BackgroundServer
from router.state.sqlite import SqliteLedger
from tests.conftest import MINI
from tests.test_cli_service import JOB, Served, westward
from tests.tools import REPO_ROOT

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(port: int) -> Samples:
    """Every sample on /metrics, by name and sorted labels."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def calls(samples: Samples, method: str, code: str) -> float:
    labels = (("code", code), ("method", f"/router.v1.RouterService/{method}"))
    return samples.get(("westward_calls_total", labels), 0.0)


def devices(samples: Samples, site: str, pool: int, state: str) -> float:
    accelerator = {("qingpu", 0): "A800", ("zhongwei", 0): "A800"}[site, pool]
    labels = (("accelerator", accelerator), ("pool", str(pool)), ("site", site), ("state", state))
    return samples[("westward_devices", labels)]


def test_metrics_move_with_calls_and_every_call_is_logged(tmp_path: Path) -> None:
    served = Served(tmp_path / "state.sqlite", "--metrics-listen", "127.0.0.1:0")
    try:
        port = int(served.serving["metrics_port"])
        before = scrape(port)
        assert calls(before, "Route", "OK") == 0
        assert devices(before, "zhongwei", 0, "free") == 32

        with RouterClient(f"127.0.0.1:{served.port}") as client:
            routed = client.route(JOB, request_id="req-metrics-1")
            client.place([dict(JOB, name="batch-job", hours=1)], dry_run=True)
            with pytest.raises(NotFoundError):
                client.release("no-such-reservation")
            assert routed.reservation is not None
            site = routed.reservation.placement.site
            client.update_site(site, status="down")

        after = scrape(port)
        assert calls(after, "Route", "OK") == 1
        assert calls(after, "Place", "OK") == 1
        assert calls(after, "Release", "NOT_FOUND") == 1
        assert calls(after, "UpdateSite", "OK") == 1
        route_latency = ("method", "/router.v1.RouterService/Route")
        assert after[("westward_call_seconds_count", (route_latency,))] == 1
        assert after[("westward_call_seconds_sum", (route_latency,))] > 0
        assert after[("westward_solver_seconds_count", ())] == 1
        assert after[("westward_solver_gap_ratio_count", ())] == 1
        assert after[("westward_placement_events_total", (("type", "placed"),))] == 1
        moved = after.get(("westward_placement_events_total", (("type", "moved"),)), 0)
        evicted = after.get(("westward_placement_events_total", (("type", "evicted"),)), 0)
        assert moved + evicted == 1, "the job on the site taken down moved or was evicted"
        # The 8 devices left the downed site: held where the job went, none held where it was.
        assert devices(after, site, 0, "held") == 0
        assert devices(after, site, 0, "down") == 32 if site == "zhongwei" else 16
        other = "qingpu" if site == "zhongwei" else "zhongwei"
        assert devices(after, other, 0, "held") == (8 if moved else 0)

        assert served.terminate() == 0
    finally:
        served.process.kill()
        served.process.wait()

    logged = [entry for entry in served.logs if entry["msg"] == "call"]
    by_method = {entry["method"].rsplit("/", 1)[1]: entry for entry in logged}
    assert {"Route", "Place", "Release", "UpdateSite"} <= set(by_method)
    assert by_method["Route"]["request_id"] == "req-metrics-1"
    assert by_method["Route"]["code"] == "OK" and by_method["Route"]["ms"] > 0
    assert by_method["Release"]["code"] == "NOT_FOUND"
    assert all({"method", "code", "ms", "time", "level"} <= set(entry) for entry in logged)


def test_bad_metrics_address_exits_2_naming_the_option(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        in_use = f"127.0.0.1:{taken.getsockname()[1]}"
        for address, expected in (
            ("no-port", "must be host:port"),
            ("127.0.0.1:99999999", "must be host:port (port 0-65535)"),
            (in_use, "cannot listen"),
        ):
            _serve_fails(tmp_path, address, expected)


def _serve_fails(tmp_path: Path, address: str, expected: str) -> None:
    done = subprocess.run(
        westward(
            "serve", "--topology", str(MINI), "--listen", "127.0.0.1:0",
            "--state", str(tmp_path / "s.sqlite"), "--metrics-listen", address,
        ),
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert f"error: --metrics-listen: {expected}" in done.stderr
    assert "Traceback" not in done.stderr


def test_streams_health_and_failed_calls_are_observed_too(
    mini: Topology, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ledger = SqliteLedger(tmp_path / "state.sqlite")
    caplog.set_level(logging.INFO, logger="westward.calls")
    with BackgroundServer(topology=mini, ledger=ledger, metrics=True) as bg:
        assert bg.server is not None and bg.server.metrics is not None
        registry = bg.server.metrics.registry
        with RouterClient(f"127.0.0.1:{bg.port}") as client:
            assert client.health() == "serving"
            events = client.watch_placements()
            _wait_for_watcher(bg)
            placed = client.route(JOB)
            assert placed.reservation is not None
            assert next(iter(events)).type == "placed"
            events.close()
            with pytest.raises(InvalidInputError):
                client.route(dict(JOB, hours=-1))
            # The server records a call just after its answer leaves: wait for both records.
            _wait_for(lambda: _logged(caplog, "WatchPlacements"))
            _wait_for(lambda: _logged(caplog, "Route", "INVALID_ARGUMENT"))
        samples = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(generate_latest(registry).decode())
            for s in family.samples
        }
    ledger.close()
    health = (("code", "OK"), ("method", "/grpc.health.v1.Health/Check"))
    assert samples[("westward_calls_total", health)] == 1
    assert calls(samples, "Route", "INVALID_ARGUMENT") == 1
    watched = _logged(caplog, "WatchPlacements")
    assert watched is not None and watched.code in ("CANCELLED", "OK")
    assert calls(samples, "WatchPlacements", watched.code) == 1
    stream_latency = ("westward_call_seconds_count", (("method", watched.method),))
    assert stream_latency not in samples, "a stream's lifetime is not a call latency"
    bad = _logged(caplog, "Route", "INVALID_ARGUMENT")
    assert bad is not None and bad.ms >= 0


def _logged(caplog: pytest.LogCaptureFixture, method: str, code: str | None = None) -> Any:
    for record in caplog.records:
        facts = record.__dict__
        if record.getMessage() != "call" or not facts["method"].endswith(f"/{method}"):
            continue
        if code is None or facts["code"] == code:
            return record
    return None


def _wait_for(ready: Callable[[], object], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not ready():
        assert time.monotonic() < deadline, "never happened"
        time.sleep(0.01)


def _wait_for_watcher(bg: BackgroundServer) -> None:
    assert bg.server is not None
    engine = bg.server.engine
    # Metrics count events through one listener of their own; the stream adds another.
    _wait_for(lambda: engine.listener_count >= 2)
