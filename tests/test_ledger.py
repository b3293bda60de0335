"""The Ledger protocol, on SQLite and on PostgreSQL: durable, atomic, idempotent, and never
overbooks, even across processes (the PostgreSQL-only cases: tests/test_postgres.py)."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from router.errors import (
    CapacityError,
    DeadlineExceededError,
    InvalidInputError,
    NotFoundError,
    ServiceUnavailableError,
)
from router.state.ledger import Commit, Ledger, Move, RequestKey, ReservationState
from router.state.ledger import HeldReservation as Reservation
from router.state.postgres import PostgresLedger
from router.state.sqlite import SqliteLedger
from router.state.sqlite_schema import SCHEMA, SCHEMA_VERSION


def _hold(rid: str, site: str = "zhongwei", pool: int = 0, count: int = 4) -> Reservation:
    return Reservation(
        reservation_id=rid,
        job=f"job-{rid}",
        site=site,
        pool_index=pool,
        count=count,
        spec={"name": f"job-{rid}", "origin": "shanghai"},
        details={"cost_cny": 12.5},
    )


@pytest.fixture(params=["sqlite", "postgres"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Ledger]:
    led: Ledger
    if request.param == "sqlite":
        led = SqliteLedger(tmp_path / "state.sqlite")
    else:
        led = PostgresLedger(request.getfixturevalue("pg_url"))
    led.set_capacity({("zhongwei", 0): 10, ("zhongwei", 1): 3, ("guian", 0): 8})
    yield led
    led.close()


def test_reserve_takes_devices_and_release_returns_them(ledger: Ledger) -> None:
    ledger.reserve([_hold("a", count=4), _hold("b", site="guian", count=8)])
    assert ledger.free() == {("zhongwei", 0): 6, ("zhongwei", 1): 3, ("guian", 0): 0}
    released = ledger.release("a")
    assert released.state is ReservationState.RELEASED
    assert released.ended_unix_s is not None
    assert ledger.free()[("zhongwei", 0)] == 10
    again = ledger.release("a")
    assert again == released, "releasing twice changes nothing"


def test_overbooking_batch_is_refused_whole(ledger: Ledger) -> None:
    ledger.reserve([_hold("a", count=8)])
    with pytest.raises(CapacityError, match="pool 0 of site zhongwei"):
        ledger.reserve([_hold("b", site="guian", count=2), _hold("c", count=3)])
    assert [r.reservation_id for r in ledger.reservations()] == ["a"]
    assert ledger.free()[("guian", 0)] == 8


def test_unknown_pool_has_no_capacity(ledger: Ledger) -> None:
    with pytest.raises(CapacityError):
        ledger.reserve([_hold("a", site="nowhere", count=1)])


def _key(request_id: str, body: str = "body", method: str = "Place") -> RequestKey:
    return RequestKey(method, request_id, body)


def test_same_request_id_returns_first_answer_and_reserves_once(ledger: Ledger) -> None:
    first = ledger.reserve([_hold("a", count=2)], request=_key("req-1"), answer=b"first")
    second = ledger.reserve([_hold("b", count=2)], request=_key("req-1"), answer=b"second")
    assert (first, second) == (b"first", b"first")
    assert ledger.answer(_key("req-1")) == b"first"
    assert [r.reservation_id for r in ledger.reservations()] == ["a"]
    assert ledger.get("a").request_id == "req-1"
    assert ledger.reserve([], request=_key("req-2"), answer=b"unplaced") == b"unplaced"
    assert ledger.reserve([], request=_key("req-2"), answer=b"other") == b"unplaced"
    assert ledger.answer(_key("missing")) is None


def test_request_ids_are_scoped_to_their_method_and_body(ledger: Ledger) -> None:
    ledger.reserve([_hold("a", count=2)], request=_key("r"), answer=b"place")
    assert ledger.reserve([], request=_key("r", method="Route"), answer=b"route") == b"route"
    with pytest.raises(InvalidInputError) as reused:
        ledger.reserve([_hold("b", count=2)], request=_key("r", body="other"), answer=b"x")
    assert [p.path for p in reused.value.problems] == ["request_id"]
    assert [r.reservation_id for r in ledger.reservations()] == ["a"]


def test_a_commit_nobody_wants_any_more_reserves_nothing(ledger: Ledger) -> None:
    late = Commit((_hold("a", count=2),), _key("late"), b"answer", wanted=lambda: False)
    (result,) = ledger.commit_batch([late])
    assert isinstance(result, DeadlineExceededError)
    assert ledger.reservations() == [] and ledger.answer(_key("late")) is None
    assert ledger.free() == {("zhongwei", 0): 10, ("zhongwei", 1): 3, ("guian", 0): 8}


def test_pages_continue_after_a_seq(ledger: Ledger) -> None:
    ledger.reserve([_hold(f"r{i}", count=1) for i in range(5)])
    first = ledger.reservations(limit=2)
    rest = ledger.reservations(after_seq=first[-1].seq, limit=10)
    assert [r.reservation_id for r in first + rest] == [f"r{i}" for i in range(5)]


def test_reservations_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    led = SqliteLedger(path)
    led.set_capacity({("zhongwei", 0): 10})
    led.reserve([_hold("a", count=7)], request=_key("r"), answer=b"ok")
    led.close()
    reopened = SqliteLedger(path)
    assert reopened.free() == {("zhongwei", 0): 3}
    kept = reopened.get("a")
    assert (kept.job, kept.count, kept.spec, kept.details) == (
        "job-a",
        7,
        {"name": "job-a", "origin": "shanghai"},
        {"cost_cny": 12.5},
    )
    assert reopened.answer(_key("r")) == b"ok"


def test_concurrent_writers_in_two_connections_never_overbook(tmp_path: Path) -> None:
    """Two ledgers on one file stand for two processes: stale caches, one true capacity."""
    path = tmp_path / "state.sqlite"
    one, two = SqliteLedger(path), SqliteLedger(path)
    one.set_capacity({("zhongwei", 0): 10})
    two.free()  # caches nothing useful yet; the transaction must decide
    wins: list[str] = []
    lock = threading.Lock()

    def worker(led: SqliteLedger, prefix: str) -> None:
        for i in range(15):
            rid = f"{prefix}{i}"
            try:
                led.reserve([_hold(rid, count=1)])
            except CapacityError:
                continue
            with lock:
                wins.append(rid)

    threads = [
        threading.Thread(target=worker, args=(led, p)) for led, p in ((one, "x"), (two, "y"))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 10
    assert sum(r.count for r in one.reservations()) == 10
    assert one.free() == two.free() == {("zhongwei", 0): 0}


def test_relocate_moves_and_evicts_atomically(ledger: Ledger) -> None:
    ledger.reserve([_hold("a", count=4), _hold("b", count=4)])
    moved, evicted = ledger.relocate([Move("a", "guian", 0, {"cost_cny": 9.0})], evictions=["b"])
    assert (moved.site, moved.pool_index, moved.details, moved.state) == (
        "guian",
        0,
        {"cost_cny": 9.0},
        ReservationState.ACTIVE,
    )
    assert evicted.state is ReservationState.EVICTED
    assert ledger.free() == {("zhongwei", 0): 10, ("zhongwei", 1): 3, ("guian", 0): 4}
    with pytest.raises(NotFoundError):
        ledger.relocate([], evictions=["b"])


def test_relocate_refuses_overbooking_destination(ledger: Ledger) -> None:
    ledger.reserve([_hold("a", count=4)])
    with pytest.raises(CapacityError):
        ledger.relocate([Move("a", "zhongwei", 1)], evictions=[])
    assert ledger.get("a").pool == ("zhongwei", 0)
    assert ledger.free()[("zhongwei", 0)] == 6


def test_list_filters_by_site_and_state(ledger: Ledger) -> None:
    ledger.reserve([_hold("a"), _hold("b", site="guian"), _hold("c")])
    ledger.release("c")
    assert [r.reservation_id for r in ledger.reservations()] == ["a", "b"]
    assert [r.reservation_id for r in ledger.reservations(site="zhongwei")] == ["a"]
    everything = ledger.reservations(include_ended=True)
    assert [r.reservation_id for r in everything] == ["a", "b", "c"]
    with pytest.raises(NotFoundError):
        ledger.get("zzz")
    with pytest.raises(NotFoundError):
        ledger.release("zzz")


def test_shrunk_capacity_shows_no_free_devices(ledger: Ledger) -> None:
    ledger.reserve([_hold("a", count=8)])
    ledger.set_capacity({("zhongwei", 0): 5})
    assert ledger.free() == {("zhongwei", 0): 0}
    assert ledger.capacity() == {("zhongwei", 0): 5}


def test_old_answers_can_be_forgotten(ledger: Ledger) -> None:
    ledger.reserve([], request=_key("old"), answer=b"first")
    assert ledger.forget_answers(before_unix_s=0.0) == 0
    assert ledger.forget_answers(before_unix_s=time.time() + 1) == 1
    assert ledger.answer(_key("old")) is None
    assert ledger.reserve([], request=_key("old"), answer=b"second") == b"second"


def test_a_writer_in_another_process_holding_the_lock_makes_calls_unavailable(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.sqlite"
    ledger = SqliteLedger(path, busy_timeout_ms=50)
    ledger.set_capacity({("zhongwei", 0): 10})
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # holds the write lock
    try:
        with pytest.raises(ServiceUnavailableError, match="ledger is busy"):
            ledger.reserve([_hold("a", count=2)])
    finally:
        other.execute("ROLLBACK")
        other.close()
    ledger.reserve([_hold("a", count=2)])
    assert ledger.free()[("zhongwei", 0)] == 8


def test_an_old_state_file_is_migrated_by_user_version(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    old = sqlite3.connect(path)  # the reservations table as written before expiries existed
    old.executescript(  # version 1: no expiries, no request body hashes, no tenants
        SCHEMA.replace(
            "    expires_unix_s REAL,\n    tenant TEXT NOT NULL DEFAULT ''\n",
            "    ended_unix_s_ REAL\n",
        )
        .replace("    body_hash TEXT NOT NULL DEFAULT '',\n", "")
        .replace(
            "CREATE INDEX IF NOT EXISTS reservations_tenant ON reservations (tenant, state);", ""
        )
    )
    old.execute(
        "INSERT INTO reservations (reservation_id, job, site, pool_index, count, spec, details,"
        " state, request_id, created_unix_s) VALUES ('a', 'a', 'zhongwei', 0, 4, '{}', '{}',"
        " 'active', '', 0)"
    )
    old.commit()
    old.close()
    ledger = SqliteLedger(path)
    assert ledger.get("a").expires_unix_s is None
    ledger.close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    with pytest.raises(InvalidInputError, match="newer westward"):
        SqliteLedger(path)
