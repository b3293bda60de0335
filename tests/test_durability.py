"""Reservations under load, under SIGKILL and under a site failure, checked from the file.

A real `westward serve` process (or an in-process server for the failover) on loopback;
client threads record every acknowledged answer; afterwards the state file must hold each
of them, its history must show no pool ever over its count, and every batch is whole.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from router.client import RouterClient
from router.model.topology import Topology
from router.results import PlacementEvent
from router.service.background import BackgroundServer
from router.state.sqlite import SqliteLedger
from tests.conftest import MINI
from tests.load import (
    Driver,
    Record,
    ServeProcess,
    check_live,
    check_state_file,
    client,
    free_port,
)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[ServeProcess]:
    process = ServeProcess(tmp_path / "state.sqlite", MINI, free_port(), tmp_path / "serve.log")
    yield process.start()
    if process.process is not None and process.process.poll() is None:
        process.kill()


def _join(drivers: list[Driver]) -> None:
    for d in drivers:
        d.join(60)
        assert not d.is_alive(), "a client hung"
        assert d.error is None, repr(d.error)


def test_sixteen_clients_never_overbook_and_every_ack_is_in_the_file(
    served: ServeProcess,
) -> None:
    record, stop = Record(), threading.Event()
    address = f"127.0.0.1:{served.port}"
    drivers = [Driver(address, record, stop, seed, max_ops=40) for seed in range(16)]
    for d in drivers:
        d.start()
    _join(drivers)
    assert (record.ops, record.failures) == (16 * 40, 0), "every call gets an answer"
    assert record.full > 0, "the pools never ran full: no contention was tested"
    with client(address) as c:
        check_live(c, record)
    assert served.stop() == 0
    checked = check_state_file(served.state, record)
    assert checked["acknowledged"] > 100 and checked["history"] > checked["acknowledged"]


def test_sigkill_mid_load_loses_nothing_acknowledged_and_grants_nothing_twice(
    served: ServeProcess,
) -> None:
    record, stop = Record(), threading.Event()
    address = f"127.0.0.1:{served.port}"
    drivers = [Driver(address, record, stop, seed, max_ops=100_000) for seed in range(8)]
    for d in drivers:
        d.start()
    rng = random.Random(7)
    acked_before_kills = []
    try:
        for _ in range(3):
            time.sleep(rng.uniform(0.4, 1.0))
            served.kill()
            acked = record.acked()
            acked_before_kills.append(len(acked))
            check_state_file(served.state, record)  # the dead server's file, as it is
            served.start()
            with client(address) as c:
                listed = {r.reservation_id for r in c.list_reservations(include_ended=True)}
            assert set(acked) <= listed, "an acknowledged reservation did not survive SIGKILL"
        time.sleep(0.3)
    finally:
        stop.set()
        _join(drivers)
    assert all(n > 0 for n in acked_before_kills), acked_before_kills
    with client(address) as c:
        check_live(c, record)  # also retries every call that never got its answer
        check_live(c, record)
    assert not record.unknown
    assert served.stop() == 0
    checked = check_state_file(served.state, record)
    assert checked["acknowledged"] >= acked_before_kills[-1]


def test_western_site_down_under_load_moves_or_reports_every_job(
    mini: Topology, tmp_path: Path
) -> None:
    state = tmp_path / "state.sqlite"
    ledger = SqliteLedger(state)
    record, stop = Record(), threading.Event()
    events: list[PlacementEvent] = []
    with BackgroundServer(topology=mini, ledger=ledger, default_time_limit_s=2.0) as bg:
        address = f"127.0.0.1:{bg.port}"
        watcher = RouterClient(address)
        stream = watcher.watch_placements(timeout_s=60)
        watching = threading.Thread(target=lambda: events.extend(stream), daemon=True)
        watching.start()
        with client(address) as c:  # inference jobs that may also run on H20, which the
            # training load never uses: cheapest on zhongwei's A800, with room at qingpu's H20.
            # A service of 1 A800 takes ceil(312 / 148) = 3 H20 (DESIGN.md section 1): two fit
            # in qingpu's 8 H20.
            anchors = [
                c.route(
                    {
                        "name": f"anchor-{i}", "kind": "inference", "origin": "shanghai",
                        "max_latency_ms": 50, "hours": 2,
                        "accelerators": {"count": 1, "types": ["A800", "H20"]},
                    }
                ).reservation
                for i in range(2)
            ]  # fmt: skip
        assert all(a is not None and a.placement.site == "zhongwei" for a in anchors)
        drivers = [
            Driver(address, record, stop, seed, max_ops=100_000, release_share=0.2)
            for seed in range(6)
        ]
        for d in drivers:
            d.start()
        try:
            time.sleep(0.8)
            with client(address) as c:
                result = c.update_site("zhongwei", status="down", timeout_s=30)
                time.sleep(0.4)
        finally:
            stop.set()
            _join(drivers)
        with client(address) as c:
            left_behind = c.list_reservations(site="zhongwei")
            check_live(c, record)
        moved = {e.reservation.reservation_id: e for e in result.moved}
        evicted = {e.reservation.reservation_id: e for e in result.evicted}
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            seen = {(e.type, e.reservation.reservation_id) for e in list(events)}
            wanted = {("moved", rid) for rid in moved} | {("evicted", rid) for rid in evicted}
            if wanted <= seen:
                break
            time.sleep(0.05)
        watcher.close()  # ends the stream
        watching.join(10)
    ledger.close()

    assert left_behind == [], "a reservation stayed on a down site"
    for anchor in anchors:  # room was there for them: moved, not evicted
        assert anchor is not None
        now = moved[anchor.reservation_id].reservation.placement
        # qingpu's A800 (1 device) if the load left room there, else its H20 (3 devices)
        assert (now.site, now.accelerator, now.count) in {
            ("qingpu", "A800", 1),
            ("qingpu", "H20", 3),
        }
    assert wanted <= seen, "the watch stream missed a move or an eviction"
    for e in result.moved:
        assert e.previous is not None and e.previous.site == "zhongwei"
        assert e.reservation.placement.site != "zhongwei"
    for e in result.evicted:
        assert "zhongwei down" in e.reason and "sites fit" in e.reason
    on_zhongwei = {rid for rid, (_, site, _, _) in record.acked().items() if site == "zhongwei"}
    on_zhongwei |= {a.reservation_id for a in anchors if a is not None}
    assert set(moved) | set(evicted) <= on_zhongwei
    gone = record.released | record.maybe_released
    assert on_zhongwei - gone <= set(moved) | set(evicted), "a job disappeared silently"
    check_state_file(state, record, moved=set(moved))
