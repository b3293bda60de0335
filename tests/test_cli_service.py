"""`westward serve` as a real process: structured logs, SIGTERM, restart; `plan --server`."""

from __future__ import annotations

import json
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from router.client import RouterClient
from tests.conftest import MINI
from tests.tools import REPO_ROOT

JOB = {
    "name": "cli-job",
    "kind": "training",
    "origin": "shanghai",
    "max_latency_ms": 50,
    "accelerators": {"count": 8, "types": ["A800"]},
    "hours": 3,
}


def westward(*args: str) -> list[str]:
    return [sys.executable, "-m", "router.cli", *args]


class Served:
    """A `westward serve` process and the structured log lines it has written."""

    def __init__(self, state: Path, *extra: str) -> None:
        self.process = subprocess.Popen(
            westward(
                "serve", "--topology", str(MINI), "--listen", "127.0.0.1:0",
                "--state", str(state), "--grace", "5", *extra,
            ),
            cwd=REPO_ROOT,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        self.logs: list[dict[str, Any]] = []
        self.serving = self.wait_for("serving")
        self.port = int(self.serving["port"])

    def wait_for(self, msg: str, timeout_s: float = 20.0) -> dict[str, Any]:
        """Read log lines until one says `msg`; every line must be a JSON object."""
        assert self.process.stderr is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.process.stderr], [], [], 0.1)
            if not ready:
                continue
            line = self.process.stderr.readline()
            if not line:
                break
            entry = json.loads(line)
            self.logs.append(entry)
            if entry["msg"] == msg:
                return entry
        raise AssertionError(f"no {msg!r} log line; got {self.logs}")

    def terminate(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        self.wait_for("stopped")
        return self.process.wait(20)


@pytest.fixture
def state(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "state.sqlite"


def test_serve_logs_json_stops_on_sigterm_and_keeps_reservations(state: Path) -> None:
    served = Served(state)
    try:
        with RouterClient(f"127.0.0.1:{served.port}") as client:
            assert client.health() == "serving"
            routed = client.route(JOB)
        assert routed.reservation is not None
        assert served.terminate() == 0
    finally:
        served.process.kill()
        served.process.wait()
    messages = [entry["msg"] for entry in served.logs]
    assert messages[0] == "serving" and messages[-2:] == ["shutting down", "stopped"]
    assert all({"time", "level", "msg"} <= set(entry) for entry in served.logs)

    again = Served(state)
    try:
        with RouterClient(f"127.0.0.1:{again.port}") as client:
            kept = client.list_reservations()
        assert [r.reservation_id for r in kept] == [routed.reservation.reservation_id]
        assert again.terminate() == 0
    finally:
        again.process.kill()
        again.process.wait()


def test_plan_with_server_prints_the_plan_and_locates_bad_input(
    state: Path, tmp_path: Path
) -> None:
    good = tmp_path / "jobs.yaml"
    good.write_text(json.dumps({"jobs": [JOB, dict(JOB, name="other")]}))
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "jobs:\n"
        "  - name: broken\n"
        "    kind: training\n"
        "    origin: shanghai\n"
        "    max_latency_ms: 50\n"
        "    accelerators: {count: -3, types: [A800]}\n"
        "    hours: 1\n"
    )
    served = Served(state)
    try:
        address = f"127.0.0.1:{served.port}"
        command = westward("plan", "--jobs", str(good), "--server", address, "--json")
        done = subprocess.run(
            [*command, "--time-limit", "2"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        plan = json.loads(done.stdout)
        assert sorted(p["job"] for p in plan["placements"]) == ["cli-job", "other"]
        assert plan["solver"]["status"] in ("optimal", "feasible")

        failed = subprocess.run(
            westward("plan", "--jobs", str(bad), "--server", address),
            cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert failed.returncode == 2
        assert failed.stderr.startswith(f"error: {bad}:6: jobs[0].accelerators.count: ")
        assert "Traceback" not in failed.stderr

        with RouterClient(address) as client:
            assert client.list_reservations() == [], "plan --server reserves nothing"
        assert served.terminate() == 0
    finally:
        served.process.kill()
        served.process.wait()


def test_serve_rejects_bad_listen_and_state_without_traceback(tmp_path: Path) -> None:
    for args, expected in (
        (["--listen", "not-an-address", "--state", str(tmp_path / "s.sqlite")], "--listen"),
        (["--state", str(tmp_path / "missing" / "s.sqlite")], "--state"),
    ):
        done = subprocess.run(
            westward("serve", "--topology", str(MINI), *args),
            cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 2
        assert f"error: {expected}: cannot " in done.stderr
        assert "Traceback" not in done.stderr


def test_acknowledged_reservation_survives_kill_9(state: Path) -> None:
    served = Served(state)
    try:
        with RouterClient(f"127.0.0.1:{served.port}") as client:
            routed = client.route(JOB)
    finally:
        served.process.kill()  # SIGKILL: no shutdown, no checkpoint
        served.process.wait()
    assert routed.reservation is not None
    again = Served(state)
    try:
        with RouterClient(f"127.0.0.1:{again.port}") as client:
            kept = client.list_reservations()
            free = client.get_topology().free
        assert [r.reservation_id for r in kept] == [routed.reservation.reservation_id]
        assert free[("zhongwei", 0)] == 32 - 8
        assert again.terminate() == 0
    finally:
        again.process.kill()
        again.process.wait()
