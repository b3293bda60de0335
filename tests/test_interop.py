"""Clients that share nothing with the Python SDK: Node.js (proto/ read directly) and buf curl."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from router.client import RouterClient
from router.model.topology import Topology
from router.service.background import BackgroundServer
from router.state.sqlite import SqliteLedger
from tests.tools import REPO_ROOT, require_tool

NODE_EXAMPLE = REPO_ROOT / "examples" / "node"


@pytest.fixture
def server(mini: Topology, tmp_path: Path) -> Iterator[BackgroundServer]:
    ledger = SqliteLedger(tmp_path / "state.sqlite")
    with BackgroundServer(topology=mini, ledger=ledger, default_time_limit_s=2.0) as bg:
        yield bg
    ledger.close()


def _node_modules() -> None:
    if (NODE_EXAMPLE / "node_modules" / "@grpc" / "grpc-js").is_dir():
        return
    message = "examples/node has no node_modules: run `npm ci --prefix examples/node`"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message)
    pytest.skip(message)


def test_node_client_places_routes_and_checks_health(server: BackgroundServer) -> None:
    node = require_tool("node")
    _node_modules()
    done = subprocess.run(
        [node, str(NODE_EXAMPLE / "client.js"), f"127.0.0.1:{server.port}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["health"] == "SERVING"
    assert {p["job"] for p in summary["placements"]} == {"node-train", "node-infer"}
    assert all(p["zone"] == "ZONE_WEST" for p in summary["placements"])
    assert summary["route"]["site"] == "zhongwei"
    assert summary["bad_request"] == "INVALID_ARGUMENT"
    made = [*summary["reservations"], summary["route"]["reservation_id"]]
    assert summary["released"] == made, "the example releases every reservation it made"
    # The Python SDK sees exactly the reservations the Node client made, all released.
    with RouterClient(f"127.0.0.1:{server.port}") as client:
        assert client.list_reservations() == []
        ended = client.list_reservations(include_ended=True)
    assert {r.reservation_id: r.state for r in ended} == dict.fromkeys(made, "released")
    assert sorted(r.placement.job for r in ended) == ["node-infer", "node-route", "node-train"]


def _buf_curl(port: int, method: str, data: str | None = None) -> subprocess.CompletedProcess[str]:
    buf = require_tool("buf")
    args = [buf, "curl", "--protocol", "grpc", "--http2-prior-knowledge"]
    if data is not None:
        args += ["-d", data]
    url = f"http://127.0.0.1:{port}"
    args.append(url if method == "--list-methods" else f"{url}/{method}")
    if method == "--list-methods":
        args.insert(-1, "--list-methods")
    return subprocess.run(args, capture_output=True, text=True, timeout=60)


def test_buf_curl_lists_methods_through_reflection(server: BackgroundServer) -> None:
    done = _buf_curl(server.port, "--list-methods")
    assert done.returncode == 0, done.stderr
    methods = set(done.stdout.split())
    assert {
        "router.v1.RouterService/Place",
        "router.v1.RouterService/Route",
        "router.v1.RouterService/WatchPlacements",
        "grpc.health.v1.Health/Check",
    } <= methods


def test_buf_curl_routes_a_job_and_sees_bad_request(server: BackgroundServer) -> None:
    job = {
        "name": "buf-job",
        "kind": "JOB_KIND_INFERENCE",
        "origin": "shanghai",
        "max_latency_ms": 50,
        "accelerators": {"count": 2, "types": ["A800"]},
        "hours": 1,
    }
    done = _buf_curl(server.port, "router.v1.RouterService/Route", json.dumps({"job": job}))
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["reservation"]["placement"]["site"] == "zhongwei"
    assert answer["reservation"]["state"] == "RESERVATION_STATE_ACTIVE"

    bad = dict(job, accelerators={"count": 0, "types": ["A800"]})
    done = _buf_curl(server.port, "router.v1.RouterService/Route", json.dumps({"job": bad}))
    assert done.returncode != 0
    error = json.loads(done.stderr)
    assert error["code"] == "invalid_argument"
    assert error["details"][0]["type"] == "google.rpc.BadRequest"
    assert "job.accelerators.count" in error["message"]

    health = _buf_curl(server.port, "grpc.health.v1.Health/Check", "{}")
    assert health.returncode == 0, health.stderr
    assert json.loads(health.stdout) == {"status": "SERVING"}


def test_python_sdk_quickstart_runs(server: BackgroundServer) -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "examples" / "sdk" / "quickstart.py"),
            f"127.0.0.1:{server.port}",
        ],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "health: serving"
    assert lines[1].startswith("routed chat-serving -> ")
    assert any(line.startswith("rejected: job.accelerators.count: ") for line in lines)
    assert lines[-1] == "released chat-serving"
