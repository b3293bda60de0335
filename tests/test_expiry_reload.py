"""Reservation ttl, topology reload (RPC and SIGHUP), and the ledger audit's teeth."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from router.client import AsyncRouterClient, RouterClient
from router.errors import FieldProblem, InvalidInputError, NotFoundError
from router.model.topology import Topology, load_topology, parse_topology
from router.results import PlacementEvent, RouteResult
from router.service import convert
from router.service.background import BackgroundServer
from router.state.audit import audit
from router.state.engine import Engine
from router.state.ledger import HeldReservation as Held
from router.state.sqlite import SqliteLedger
from tests.conftest import MINI
from tests.load import ServeProcess, client, free_port
from tests.tools import REPO_ROOT


def job(name: str, count: int, **extra: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": name,
        "kind": "training",
        "origin": "shanghai",
        "max_latency_ms": 50,
        "accelerators": {"count": count, "types": ["A800"]},
        "hours": 2,
    }
    entry.update(extra)
    return entry


def encode(result: RouteResult) -> bytes:
    return convert.serialize(convert.route_response(result))


def mini_data() -> dict[str, Any]:
    data = yaml.safe_load(MINI.read_text())
    assert isinstance(data, dict)
    return data


def without_qingpu_and_smaller_zhongwei(count: int) -> dict[str, Any]:
    data = mini_data()
    data["sites"] = [s for s in data["sites"] if s["name"] != "qingpu"]
    data["links"] = [link for link in data["links"] if "qingpu" not in (link["a"], link["b"])]
    data["sites"][0]["pools"][0]["count"] = count
    return data


# --- ttl ------------------------------------------------------------------------------------


def test_engine_expires_due_reservations_lazily_before_routing(
    mini: Topology, tmp_path: Path
) -> None:
    now = [1000.0]
    ledger = SqliteLedger(tmp_path / "state.sqlite")
    engine = Engine(mini, ledger, clock=lambda: now[0])
    events: list[PlacementEvent] = []
    engine.subscribe(events.append)
    specs = [job("big", 32), job("big-again", 32)]
    first, second = engine.parse(specs)
    answer = convert.route_result(
        convert.pb.RouteResponse.FromString(engine.route(first, specs[0], ttl_s=60, encode=encode))
    )
    assert answer.reservation is not None and answer.reservation.placement.site == "zhongwei"
    assert answer.reservation.expires_unix_s == pytest.approx(1060.0)
    blocked = convert.pb.RouteResponse.FromString(engine.route(second, specs[1], encode=encode))
    assert blocked.HasField("unplaced"), "zhongwei's 32 A800 are held; qingpu has 16"

    now[0] = 1061.0  # past the ttl: the next Route first ends the expired reservation
    routed = convert.pb.RouteResponse.FromString(engine.route(second, specs[1], encode=encode))
    assert routed.reservation.placement.site == "zhongwei"
    assert [(e.type, e.reservation.reservation_id) for e in events if e.type == "expired"] == [
        ("expired", answer.reservation.reservation_id)
    ]
    gone = ledger.get(answer.reservation.reservation_id)
    assert (gone.state.value, gone.ended_unix_s is not None) == ("expired", True)
    assert ledger.next_expiry() is None
    checked = audit(tmp_path / "state.sqlite")
    assert (checked.overbooked, checked.mismatched, checked.active) == ([], [], 1)
    ledger.close()


@pytest.fixture
def server(mini: Topology, tmp_path: Path) -> Iterator[BackgroundServer]:
    ledger = SqliteLedger(tmp_path / "state.sqlite")
    source: list[Topology | Exception] = [mini]

    def current() -> Topology:  # what the "file" holds now
        if isinstance(source[-1], Exception):
            raise source[-1]
        return source[-1]

    with BackgroundServer(
        topology=mini,
        ledger=ledger,
        default_time_limit_s=2.0,
        expiry_sweep_s=0.05,
        topology_source=current,
    ) as bg:
        bg.sources = source  # type: ignore[attr-defined]
        yield bg
    ledger.close()


def test_ttl_ends_a_reservation_on_the_timer_with_an_expired_event(
    server: BackgroundServer,
) -> None:
    events: list[PlacementEvent] = []
    with RouterClient(f"127.0.0.1:{server.port}") as c:
        stream = c.watch_placements(timeout_s=10)
        watching = threading.Thread(
            target=lambda: events.extend(e for e in stream if e.type != "placed"), daemon=True
        )
        watching.start()
        short = c.route(job("short", 6), ttl_s=0.3).reservation
        kept = c.route(job("kept", 6)).reservation
        assert short is not None and kept is not None
        assert short.expires_unix_s == pytest.approx(short.created_unix_s + 0.3, abs=1e-3)
        assert kept.expires_unix_s is None
        deadline = time.monotonic() + 5
        while not events and time.monotonic() < deadline:
            time.sleep(0.02)
        listed = {r.reservation_id: r.state for r in c.list_reservations(include_ended=True)}
        free = c.get_topology().free[("zhongwei", 0)]
    assert [(e.type, e.reservation.reservation_id) for e in events] == [
        ("expired", short.reservation_id)
    ]
    assert listed == {short.reservation_id: "expired", kept.reservation_id: "active"}
    assert free == 32 - 6


def test_negative_ttl_is_refused_naming_the_field(server: BackgroundServer) -> None:
    with RouterClient(f"127.0.0.1:{server.port}") as c:
        with pytest.raises(InvalidInputError) as caught:
            c.route(job("bad", 1), ttl_s=-5)
        assert [p.path for p in caught.value.problems] == ["ttl_s"]
        with pytest.raises(InvalidInputError) as caught:
            c.place([job("bad", 1)], ttl_s=-1)
        assert [p.path for p in caught.value.problems] == ["ttl_s"]
        assert c.list_reservations() == []


# --- topology reload ------------------------------------------------------------------------


def test_reload_keeps_every_reservation_and_reports_what_it_cannot_hold(
    server: BackgroundServer,
) -> None:
    with RouterClient(f"127.0.0.1:{server.port}") as c:
        old = c.route(job("old", 20)).reservation
        new = c.route(job("new", 10)).reservation
        east = c.route(job("east", 4, allowed_zones=["east"])).reservation
        assert old and new and east
        assert (old.placement.site, new.placement.site, east.placement.site) == (
            "zhongwei",
            "zhongwei",
            "qingpu",
        )
        server.sources.append(  # type: ignore[attr-defined]
            parse_topology(without_qingpu_and_smaller_zhongwei(24))
        )
        result = c.reload_topology()
        assert (result.topology, result.sites) == ("mini", 1)
        unheld = {u.reservation.reservation_id: u.reason for u in result.unheld}
        assert unheld == {
            new.reservation_id: "pool 0 of site zhongwei has 24 devices, holds 30",
            east.reservation_id: "site qingpu is not in topology mini",
        }
        kept = {r.reservation_id for r in c.list_reservations()}
        assert kept == {old.reservation_id, new.reservation_id, east.reservation_id}
        view = c.get_topology()
        assert set(view.topology.sites) == {"zhongwei"}
        assert view.free[("zhongwei", 0)] == 0
        assert c.route(job("more", 1)).reservation is None, "the smaller pool is full"

        server.sources.append(  # type: ignore[attr-defined]
            InvalidInputError([FieldProblem("sites", "must be a list")])
        )
        with pytest.raises(InvalidInputError):
            c.reload_topology()
        assert set(c.get_topology().topology.sites) == {"zhongwei"}, (
            "a failed reload changes nothing"
        )


def test_reload_without_a_source_is_not_found(mini: Topology, tmp_path: Path) -> None:
    ledger = SqliteLedger(tmp_path / "state.sqlite")
    with (
        BackgroundServer(topology=mini, ledger=ledger) as bg,
        RouterClient(f"127.0.0.1:{bg.port}") as c,
        pytest.raises(NotFoundError),
    ):
        c.reload_topology()
    ledger.close()


def test_sighup_reloads_the_topology_file_and_survives_a_broken_one(tmp_path: Path) -> None:
    topology = tmp_path / "topology.yaml"
    topology.write_text(MINI.read_text())
    served = ServeProcess(tmp_path / "state.sqlite", topology, free_port(), tmp_path / "log")
    served.start()
    try:
        with client(f"127.0.0.1:{served.port}") as c:
            held = c.route(job("held", 8)).reservation
            assert held is not None and held.placement.site == "zhongwei"
            smaller = mini_data()
            smaller["sites"][1]["pools"][0]["count"] = 4
            topology.write_text(yaml.safe_dump(smaller))
            served.signal(signal.SIGHUP)
            logged = served.wait_for("topology reloaded")
            assert logged["unheld"] == [
                {
                    "reservation_id": held.reservation_id,
                    "reason": "pool 0 of site zhongwei has 4 devices, holds 8",
                }
            ]
            assert c.get_topology().topology.sites["zhongwei"].pools[0].count == 4
            assert [r.reservation_id for r in c.list_reservations()] == [held.reservation_id]

            topology.write_text("version: 1\nname: broken\n")
            served.signal(signal.SIGHUP)
            failed = served.wait_for("topology reload failed")
            assert "sites" in failed["error"] or "accelerators" in failed["error"]
            assert c.health() == "serving"
            topology.write_text(MINI.read_text())
            assert c.reload_topology().unheld == []
            assert load_topology(topology).sites["zhongwei"].pools[0].count == 32
        assert served.stop() == 0
        topology.write_text(yaml.safe_dump(smaller))  # changed while the server was down
        served.start()
        warned = served.wait_for("reservations the topology cannot hold")
        assert [u["reservation_id"] for u in warned["unheld"]] == [held.reservation_id]
        assert served.stop() == 0
    finally:
        if served.process is not None and served.process.poll() is None:
            served.kill()


# --- the audit catches what it is meant to catch ------------------------------------------


def test_audit_flags_an_overbooking_and_a_reservation_without_history(tmp_path: Path) -> None:
    state = tmp_path / "state.sqlite"
    ledger = SqliteLedger(state)
    ledger.set_capacity({("zhongwei", 0): 10})
    ledger.reserve([Held("a", "job-a", "zhongwei", 0, 6), Held("b", "job-b", "zhongwei", 0, 4)])
    ledger.release("a")
    ledger.close()
    clean = audit(state)
    assert (clean.changes, clean.overbooked, clean.mismatched, clean.active) == (3, [], [], 1)

    db = sqlite3.connect(state)
    with db:  # a grant written behind the ledger's back, past the pool's 10 devices
        db.execute(
            "INSERT INTO history (time_unix_s, event, reservation_id, site, pool_index, delta, "
            "used_after, capacity) VALUES (0, 'placed', 'c', 'zhongwei', 0, 9, 13, 10)"
        )
        db.execute(
            "INSERT INTO reservations (reservation_id, job, site, pool_index, count, spec, "
            "details, state, request_id, created_unix_s) "
            "VALUES ('d', 'job-d', 'guian', 0, 2, '{}', '{}', 'active', '', 0)"
        )
    db.close()
    dirty = audit(state)
    assert dirty.overbooked == ["#4 placed c: zhongwei/0 at 13 of 10"]
    assert dirty.mismatched == [
        "guian/0: history sums to 0, active reservations hold 2",
        "zhongwei/0: history sums to 13, active reservations hold 4",
    ]


def test_ledger_audit_command_reports_and_fails_on_problems(tmp_path: Path) -> None:
    state = tmp_path / "state.sqlite"
    ledger = SqliteLedger(state)
    ledger.set_capacity({("zhongwei", 0): 10})
    ledger.reserve([Held("a", "job-a", "zhongwei", 0, 6)])
    ledger.close()
    command = [sys.executable, "-m", "router.cli", "ledger", "audit", "--state", str(state)]
    ok = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.splitlines() == [
        "1 change replayed, 1 active reservation",
        "ok: no pool was ever over its count; use matches the reservations",
    ]
    db = sqlite3.connect(state)
    with db:
        db.execute("UPDATE reservations SET count = 7")
    db.close()
    bad = subprocess.run([*command, "--json"], cwd=REPO_ROOT, capture_output=True, text=True)
    assert bad.returncode == 1
    assert json.loads(bad.stdout)["mismatched"] == [
        "zhongwei/0: history sums to 6, active reservations hold 7"
    ]
    missing = subprocess.run(
        [*command[:-1], str(tmp_path / "nope.sqlite")], cwd=REPO_ROOT, capture_output=True,
        text=True,
    )  # fmt: skip
    assert missing.returncode == 2, "a missing file is the user's mistake"
    assert missing.stderr.startswith("error: --state: no state file")
    not_state = tmp_path / "notes.txt"
    not_state.write_text("not a database")
    wrong = subprocess.run(
        [*command[:-1], str(not_state)], cwd=REPO_ROOT, capture_output=True, text=True
    )
    assert wrong.returncode == 2 and "is not a westward state file" in wrong.stderr
    assert "Traceback" not in missing.stderr + wrong.stderr


def test_async_client_sends_ttl_and_reloads(server: BackgroundServer) -> None:
    async def scenario() -> tuple[float | None, int, list[str]]:
        async with AsyncRouterClient(f"127.0.0.1:{server.port}") as c:
            routed = await c.route(job("async", 2), ttl_s=30)
            placed = await c.place([job("async-batch", 2)], ttl_s=60)
            reloaded = await c.reload_topology()
        assert routed.reservation is not None
        expires = [r.expires_unix_s for r in placed.reservations]
        assert expires and all(
            e == pytest.approx(r.created_unix_s + 60, abs=1e-3)
            for e, r in zip(expires, placed.reservations, strict=True)
        )
        return (
            routed.reservation.expires_unix_s,
            reloaded.sites,
            [u.reason for u in reloaded.unheld],
        )

    expires, sites, unheld = asyncio.run(scenario())
    assert expires is not None and sites == 2 and unheld == []
