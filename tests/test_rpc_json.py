"""docs/rpc-json.md runs: every `buf curl` command on the page, in order, against a live
server on the default topology, and each answer is the one the page describes."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from router.model.topology import default_topology
from router.service.background import BackgroundServer
from router.state.sqlite import SqliteLedger
from tests.tools import REPO_ROOT, require_tool

PAGE = REPO_ROOT / "docs" / "rpc-json.md"
DOC_URL = "http://127.0.0.1:50051"


def page_commands() -> list[list[str]]:
    """The `buf curl` commands of the page's bash blocks, as argument lists."""
    blocks = re.findall(r"```bash\n(.*?)```", PAGE.read_text(encoding="utf-8"), re.DOTALL)
    commands = [shlex.split(block.replace("\\\n", " ")) for block in blocks]
    assert all(c[:2] == ["buf", "curl"] for c in commands), "every bash block is a buf curl"
    return commands


def method_of(command: list[str]) -> str:
    return command[-1].rsplit("/", 1)[-1]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackgroundServer]:
    ledger = SqliteLedger(tmp_path_factory.mktemp("rpc-json") / "state.sqlite")
    with BackgroundServer(
        topology=default_topology(),
        ledger=ledger,
        topology_source=default_topology,
        default_time_limit_s=5.0,
    ) as bg:
        yield bg
    ledger.close()


def test_the_page_shows_every_rpc_of_the_service() -> None:
    proto = (REPO_ROOT / "proto" / "router" / "v1" / "router.proto").read_text(encoding="utf-8")
    rpcs = set(re.findall(r"^\s*rpc (\w+)\(", proto, re.MULTILINE))
    shown = {method_of(c) for c in page_commands()}
    assert rpcs <= shown, f"no example for {sorted(rpcs - shown)}"


def test_every_example_on_the_page_works_on_a_live_server(server: BackgroundServer) -> None:
    buf = require_tool("buf")
    url = f"http://127.0.0.1:{server.port}"
    answers: dict[str, list[Any]] = {}
    watcher: subprocess.Popen[str] | None = None
    try:
        for command in page_commands():
            argv = [buf, *command[1:-1], command[-1].replace(DOC_URL, url)]
            method = method_of(command)
            if method == "WatchPlacements":
                watcher = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
                time.sleep(2)  # let the stream open before the events below happen
                continue
            if method == "Release":
                held = answers["Route"][0]["reservation"]["reservationId"]
                argv = [arg.replace("RESERVATION_ID", held) for arg in argv]
            done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
            assert done.returncode == 0, f"{method}: {done.stderr}"
            answers.setdefault(method, []).append(json.loads(done.stdout))
    finally:
        if watcher is not None:
            watcher.terminate()
    assert watcher is not None
    stream = watcher.communicate(timeout=30)[0]
    check_answers(answers, stream)


def check_answers(answers: dict[str, list[Any]], stream: str) -> None:
    """What the page says each call returns."""
    topology = answers["GetTopology"][0]["topology"]
    assert topology["name"] == "china-edwc" and len(topology["sites"]) == 13
    dry_run, reserved = answers["Place"]
    assert {p["job"] for p in dry_run["plan"]["placements"]} == {"pretrain-13b", "trading-risk"}
    assert "reservations" not in dry_run
    assert [r["placement"]["job"] for r in reserved["reservations"]] == ["nightly-embeddings"]
    route = answers["Route"][0]["reservation"]
    assert route["state"] == "RESERVATION_STATE_ACTIVE"
    assert route["placement"]["latencyMs"] <= 40
    offers = answers["ListOffers"][0]
    assert len(offers["offers"]) + len(offers["rejected"]) == 20 and offers["nextPageToken"] == "20"
    best = offers["offers"][0]  # what Route bought just before, 4 devices fewer free now
    assert (best["site"], best["accelerator"], best["devices"], best["runHours"]) == (
        route["placement"]["site"],
        route["placement"]["accelerator"],
        4,
        8,
    )
    listed = {r["reservationId"] for r in answers["ListReservations"][0]["reservations"]}
    assert route["reservationId"] in listed and len(listed) == 2
    released = answers["Release"][0]["reservation"]
    assert (released["reservationId"], released["state"]) == (
        route["reservationId"],
        "RESERVATION_STATE_RELEASED",
    )
    site = answers["UpdateSite"][0]["site"]
    assert (site["name"], site["status"]) == ("wuhu", "STATUS_DRAIN")
    assert site["pools"][0]["count"] == 512
    whatif = answers["WhatIf"][0]
    assert [r["name"] for r in whatif["results"]] == ["zhongwei-down", "west-prices-up"]
    assert answers["ReloadTopology"][0]["topologyName"] == "china-edwc"
    assert answers["Check"][0] == {"status": "SERVING"}
    assert '"type": "EVENT_TYPE_RELEASED"' in stream, stream
