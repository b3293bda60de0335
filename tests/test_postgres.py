"""The PostgreSQL ledger beyond the shared protocol tests: replicas sharing one database
(fan-out in commit order, topology versions, expiry split between sweepers), connection
loss, schema versions, and `ledger migrate` / `ledger audit` (real PostgreSQL: tests/pg.py)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from router.errors import CapacityError, InvalidInputError, ServiceUnavailableError
from router.model.topology import Topology
from router.results import PlacementEvent, RouteResult
from router.state.engine import Engine
from router.state.ledger import HeldReservation as Reservation
from router.state.ledger import RequestKey, ReservationState, SiteState
from router.state.postgres import PostgresLedger
from router.state.site_changes import SiteChange
from router.state.sqlite import SqliteLedger
from router.state.store import audit_state, migrate
from tests.conftest import ROOT


def _hold(
    rid: str, site: str = "zhongwei", pool: int = 0, count: int = 1, **kw: Any
) -> Reservation:
    return Reservation(rid, f"job-{rid}", site, pool, count, {"name": rid}, {"cost_cny": 1.0}, **kw)


def _key(request_id: str, body: str = "body", method: str = "Route") -> RequestKey:
    return RequestKey(method, request_id, body)


def _wait(condition: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


@pytest.fixture
def two(pg_url: str) -> Iterator[tuple[PostgresLedger, PostgresLedger]]:
    """Two ledgers on one database: two replicas' views."""
    one, other = PostgresLedger(pg_url), PostgresLedger(pg_url)
    one.set_capacity({("zhongwei", 0): 10, ("qingpu", 0): 4})
    yield one, other
    one.close()
    other.close()


def test_reservations_survive_a_new_connection(pg_url: str) -> None:
    led = PostgresLedger(pg_url)
    led.set_capacity({("zhongwei", 0): 10})
    led.reserve([_hold("a", count=7)], request=_key("r"), answer=b"ok")
    led.close()
    again = PostgresLedger(pg_url)
    assert again.free() == {("zhongwei", 0): 3}
    assert again.get("a").spec == {"name": "a"}
    assert again.answer(_key("r")) == b"ok"
    again.close()


def test_replicas_racing_for_one_pool_never_overbook(
    two: tuple[PostgresLedger, PostgresLedger],
) -> None:
    wins: list[str] = []
    lock = threading.Lock()

    def worker(led: PostgresLedger, prefix: str) -> None:
        for i in range(12):
            try:
                led.reserve([_hold(f"{prefix}{i}"), _hold(f"{prefix}{i}q", site="qingpu")])
            except CapacityError:
                continue
            with lock:
                wins.append(prefix)

    threads = [
        threading.Thread(target=worker, args=(led, p)) for led, p in zip(two, "xy", strict=True)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 4, "qingpu's 4 devices limit the batches; each batch is all or nothing"
    one, other = two
    other.refresh()
    assert one.free() == other.free() == {("zhongwei", 0): 6, ("qingpu", 0): 0}
    assert audit_state(one._url).overbooked == []


def test_a_request_id_retried_on_another_replica_gets_the_first_answer(
    two: tuple[PostgresLedger, PostgresLedger],
) -> None:
    one, other = two
    assert one.reserve([_hold("a")], request=_key("req"), answer=b"first") == b"first"
    assert other.reserve([_hold("b")], request=_key("req"), answer=b"second") == b"first"
    with pytest.raises(InvalidInputError, match="request_id: 'req' was used for a different"):
        other.reserve([_hold("c")], request=_key("req", body="other"), answer=b"third")
    assert [r.reservation_id for r in other.reservations()] == ["a"]


def test_expiry_sweepers_on_two_replicas_end_each_reservation_once(
    two: tuple[PostgresLedger, PostgresLedger],
) -> None:
    one = two[0]
    past = time.time() - 1
    one.reserve([_hold(f"e{i}", expires_unix_s=past) for i in range(10)])
    ended: list[list[Reservation]] = [[], []]
    threads = [
        threading.Thread(target=lambda i=i, led=led: ended[i].extend(led.expire(time.time())))
        for i, led in enumerate(two)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids = [r.reservation_id for part in ended for r in part]
    assert sorted(ids) == sorted(f"e{i}" for i in range(10)), "each expired exactly once"
    assert all(r.state is ReservationState.EXPIRED for part in ended for r in part)
    result = audit_state(one._url)
    assert (result.overbooked, result.mismatched, result.active) == ([], [], 0)


def test_a_lost_connection_is_unavailable_then_recovers(pg_url: str) -> None:
    led = PostgresLedger(pg_url)
    led.set_capacity({("zhongwei", 0): 10})
    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    with pytest.raises(ServiceUnavailableError, match="unavailable"):
        led.reserve([_hold("a")])
    led.reserve([_hold("b")])  # the pool replaced the broken connection
    assert [r.reservation_id for r in led.reservations()] == ["b"]
    led.close()


def test_schema_is_versioned_and_a_newer_one_is_refused(pg_url: str) -> None:
    led = PostgresLedger(pg_url)
    version = led.schema_version
    led.close()
    assert PostgresLedger(pg_url).schema_version == version  # migrating again changes nothing
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("INSERT INTO schema_version VALUES (%s)", (version + 1,))
    with pytest.raises(InvalidInputError, match="--state: the database has schema version"):
        PostgresLedger(pg_url)


def test_serve_on_an_unreachable_database_exits_2_without_the_password() -> None:
    out = _westward(
        "serve", "--state", "postgres://u:secret@127.0.0.1:1/db", "--listen", "127.0.0.1:0"
    )
    assert out.returncode == 2
    assert "error: --state: cannot connect to postgres://u:***@127.0.0.1:1/db" in out.stderr
    assert "secret" not in out.stderr and "Traceback" not in out.stderr


def test_unreachable_database_names_the_option() -> None:
    with pytest.raises(
        InvalidInputError, match="--state: cannot connect to postgresql://x:\\*\\*\\*@"
    ):
        PostgresLedger("postgresql://x:secret@127.0.0.1:1/none")


# --- replicas: engines on one database --------------------------------------------------


@pytest.fixture
def engines(pg_url: str, mini: Topology) -> Iterator[tuple[Engine, Engine]]:
    ledgers = [PostgresLedger(pg_url), PostgresLedger(pg_url)]
    yield Engine(mini, ledgers[0]), Engine(mini, ledgers[1])
    for led in ledgers:
        led.close()


def _route(engine: Engine, name: str, *, count: int = 2) -> RouteResult:
    spec = {
        "name": name,
        "kind": "training",
        "origin": "shanghai",
        "max_latency_ms": 100,
        "accelerators": {"count": count, "types": ["A800"]},
        "hours": 1,
    }
    seen: list[RouteResult] = []

    def keep(result: RouteResult) -> bytes:
        seen.append(result)
        return name.encode()

    engine.route(engine.parse([spec])[0], spec, encode=keep)
    return seen[-1]


def test_a_watcher_on_one_replica_sees_every_replica_in_commit_order(
    engines: tuple[Engine, Engine], pg_url: str
) -> None:
    a, b = engines
    seen: list[PlacementEvent] = []
    a.subscribe(seen.append)
    first = _route(b, "from-b")
    _route(a, "from-a")
    assert first.reservation is not None
    b.release(first.reservation.reservation_id)
    assert _wait(lambda: len(seen) == 3)
    assert [(e.type, e.reservation.job["name"]) for e in seen] == [
        ("placed", "from-b"),
        ("placed", "from-a"),
        ("released", "from-b"),
    ]
    # the follower's connection dies: it reconnects and resumes after its last event
    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name = 'westward-follow'"
        )
    for i in range(5):
        _route(b, f"later-{i}")
    assert _wait(lambda: len(seen) == 8)
    assert [e.reservation.job["name"] for e in seen[3:]] == [f"later-{i}" for i in range(5)]


def test_a_site_taken_down_on_one_replica_is_replaced_once_and_down_everywhere(
    engines: tuple[Engine, Engine], pg_url: str
) -> None:
    a, b = engines
    seen: list[PlacementEvent] = []
    b.subscribe(seen.append)
    placed = [_route(a, f"job-{i}", count=4) for i in range(3)]
    sites = {p.reservation.placement.site for p in placed if p.reservation}
    assert sites == {"zhongwei"}
    assert _wait(lambda: len(seen) == 3)
    del seen[:]
    result = a.update_site(SiteChange("zhongwei", status="down"), time_limit_s=2)
    assert len(result.moved) + len(result.evicted) == 3
    assert _wait(lambda: b.topology.sites["zhongwei"].status == "down", 1.0)
    assert _wait(lambda: len(seen) == 3)
    assert sorted(e.type for e in seen) == sorted(
        ["moved"] * len(result.moved) + ["evicted"] * len(result.evicted)
    )
    assert all(e.reason.startswith("site zhongwei down") for e in seen)
    with psycopg.connect(pg_url) as conn:
        (moves,) = conn.execute(
            "SELECT count(*) FROM history WHERE event = 'moved' AND delta > 0"
        ).fetchone()
    assert moves == len(result.moved), "re-placed once, not once per replica"
    assert not [r for r in b.reservations() if r.placement.site == "zhongwei"]


def test_one_site_taken_down_through_two_replicas_at_once_moves_each_job_once(
    engines: tuple[Engine, Engine], pg_url: str
) -> None:
    for i in range(3):
        _route(engines[i % 2], f"job-{i}", count=4)
    results: list[Any] = []
    threads = [
        threading.Thread(
            target=lambda e=e: results.append(
                e.update_site(SiteChange("zhongwei", status="down"), time_limit_s=2)
            )
        )
        for e in engines
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    moved = [len(r.moved) + len(r.evicted) for r in results]
    assert sorted(moved) == [0, 3], "the second change found nothing left to re-place"
    with psycopg.connect(pg_url) as conn:
        (moves,) = conn.execute(
            "SELECT count(*) FROM history WHERE event IN ('moved', 'evicted') AND delta < 0"
        ).fetchone()
    assert moves == 3


def test_a_reload_on_one_replica_reaches_the_others(
    engines: tuple[Engine, Engine], mini: Topology
) -> None:
    from dataclasses import replace

    a, b = engines
    renamed = replace(mini, name="mini-v2")
    a.reload_topology(renamed)
    assert _wait(lambda: b.topology.name == "mini-v2", 1.0)


# --- ledger migrate / audit -------------------------------------------------------------


def _westward(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "router.cli", *args], capture_output=True, text=True, cwd=ROOT
    )


def test_migrate_moves_every_reservation_and_its_history(tmp_path: Path, pg_url: str) -> None:
    path = tmp_path / "state.sqlite"
    led = SqliteLedger(path)
    led.set_capacity({("zhongwei", 0): 10, ("qingpu", 0): 4})
    led.reserve(
        [_hold("a", count=3), _hold("b", site="qingpu", count=4)],
        request=_key("r1"),
        answer=b"one",
    )
    led.reserve([_hold("c", count=2)])
    led.release("c")
    led.reserve([], request=_key("r2"), answer=b"unplaced")
    led.relocate([], [], SiteState("qingpu", {"status": "drain"}, led.capacity()))
    before = led.reservations(include_ended=True)
    led.close()

    out = _westward("ledger", "migrate", "--from", str(path), "--to", pg_url, "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {
        "reservations": 3, "history": 4, "requests": 2, "site_changes": 1, "pools": 2,
        "audit_ok": True,
    }  # fmt: skip
    pg = PostgresLedger(pg_url)
    assert pg.reservations(include_ended=True) == before
    assert pg.answer(_key("r1")) == b"one" and pg.answer(_key("r2")) == b"unplaced"
    with pytest.raises(InvalidInputError, match="request_id"):  # the body check moved too
        pg.answer(_key("r1", body="another"))
    assert pg.free() == {("zhongwei", 0): 7, ("qingpu", 0): 0}
    assert pg.site_changes() == {"qingpu": {"status": "drain"}}
    pg.close()

    again = _westward("ledger", "migrate", "--from", str(path), "--to", pg_url)
    assert again.returncode == 2
    assert "--to:" in again.stderr and "--replace" in again.stderr
    assert (
        _westward("ledger", "migrate", "--from", str(path), "--to", pg_url, "--replace").returncode
        == 0
    )

    audit = _westward("ledger", "audit", "--state", pg_url)
    assert audit.returncode == 0, audit.stderr
    assert "3 changes replayed" not in audit.stdout and "ok: no pool" in audit.stdout


def test_audit_on_postgres_finds_an_overbooked_pool(pg_url: str) -> None:
    led = PostgresLedger(pg_url)
    led.set_capacity({("zhongwei", 0): 2})
    led.reserve([_hold("a", count=2)])
    led.close()
    with psycopg.connect(pg_url) as conn:  # a forged grant beyond the count
        conn.execute(
            "INSERT INTO history (time_unix_s, event, reservation_id, site, pool_index, delta, "
            "used_after, capacity) VALUES (0, 'placed', 'x', 'zhongwei', 0, 1, 3, 2)"
        )
    out = _westward("ledger", "audit", "--state", pg_url, "--json")
    assert out.returncode == 1
    report = json.loads(out.stdout)
    assert report["overbooked"] == ["#2 placed x: zhongwei/0 at 3 of 2"]


def test_migrate_refuses_a_target_that_is_not_a_url(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="--to: must be a postgresql:// URL"):
        migrate(str(tmp_path / "a.sqlite"), str(tmp_path / "b.sqlite"))
    out = _westward("ledger", "migrate", "--from", "missing.sqlite", "--to", "postgresql://h/db")
    assert out.returncode == 2 and "--from: no SQLite state file" in out.stderr
