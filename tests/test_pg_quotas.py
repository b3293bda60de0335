"""Tenant quotas on PostgreSQL: the commit-time check under tenant row locks, reclaim in
the committing transaction, and three `westward serve` replicas whose history proves no
tenant was ever over its quota (real PostgreSQL: tests/pg.py)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from router.cli.main import main
from router.errors import CapacityError, QuotaExceededError
from router.state.ledger import Commit
from router.state.ledger import HeldReservation as Reservation
from router.state.pg_quotas import quota_changes
from router.state.postgres import PostgresLedger
from router.state.quotas import audit
from tests.conftest import MINI
from tests.load import ServeProcess, free_port
from tests.test_quota_concurrency import QUOTAS, TENANTS, TENANTS_FILE, _caller

RUN_S = 6.0


def _hold(rid: str, tenant: str, count: int = 1, **kw: Any) -> Reservation:
    details = {"accelerator": "A800", "cost_cny": 1.0}
    spec = {"name": rid}
    return Reservation(rid, rid, "zhongwei", 0, count, spec, details, tenant=tenant, **kw)


@pytest.fixture
def two(pg_url: str) -> Iterator[tuple[PostgresLedger, PostgresLedger]]:
    """Two replicas' ledgers on one database, both checking the same quotas."""
    one, other = PostgresLedger(pg_url), PostgresLedger(pg_url)
    one.set_capacity({("zhongwei", 0): 100})
    for ledger in (one, other):
        ledger.set_quotas(TENANTS.quota_policy())
    yield one, other
    one.close()
    other.close()


def test_replicas_racing_for_one_quota_never_exceed_it(
    two: tuple[PostgresLedger, PostgresLedger],
) -> None:
    granted: list[str] = []
    refused: list[str] = []

    def take(ledger: PostgresLedger, n: int) -> None:
        for i in range(6):
            rid = f"{n}-{i}"
            try:
                ledger.reserve([_hold(rid, "solo")])
                granted.append(rid)
            except QuotaExceededError as exc:
                refused.append(str(exc))

    threads = [threading.Thread(target=take, args=(two[n % 2], n)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(granted) == QUOTAS["solo"].limits["A800"].nominal == 4
    assert len(refused) == 32 and refused[0].startswith("quota: solo holds 4 of 4 A800")
    assert two[1].usage(["solo"]) == {("solo", "A800"): 4}


def test_a_commit_evicts_borrowers_in_its_transaction_or_not_at_all(
    two: tuple[PostgresLedger, PostgresLedger],
) -> None:
    one, other = two
    borrowed = [_hold(f"a{i}", "a", 4) for i in range(3)]  # a holds 12: 4 borrowed from b
    one.reserve(borrowed)
    one.reserve([_hold("b0", "b", 4)])
    with pytest.raises(QuotaExceededError, match="quota: b holds 4 of 8"):
        other.reserve([_hold("b1", "b", 4)])  # b lends 4 of its 8: a drew them
    reclaim = Commit((_hold("b1", "b", 4),), evictions=(borrowed[-1],), evict_reason="reclaim")
    assert other.commit_batch([reclaim]) == [b""]
    assert one.get("a2").state.value == "evicted"
    assert other.usage(["a", "b"]) == {("a", "A800"): 8, ("b", "A800"): 8}
    again = Commit((_hold("b2", "b", 1),), evictions=(borrowed[-1],))
    (result,) = one.commit_batch([again])  # already evicted: nothing changes
    assert isinstance(result, CapacityError) and "no longer active" in str(result)
    assert one.usage(["b"]) == {("b", "A800"): 8}


def test_three_replicas_keep_every_tenant_within_its_quota(pg_url: str, tmp_path: Path) -> None:
    tenants = tmp_path / "tenants.yaml"
    tenants.write_text(TENANTS_FILE.replace("SOLO", "4"))
    replicas = [
        ServeProcess(
            pg_url, MINI, free_port(), tmp_path / f"serve-{n}.log", args=["--auth", str(tenants)]
        )
        for n in "abc"
    ]
    stop = threading.Event()
    tally: list[str] = []
    try:
        for replica in replicas:
            replica.start()
        callers = [
            threading.Thread(
                target=_caller,
                args=(replicas[i % 3].port, tenant, i, stop, tally),
                daemon=True,
            )
            for i, tenant in enumerate(["a", "b", "solo"] * 4)
        ]
        for caller in callers:
            caller.start()
        time.sleep(RUN_S)
        stop.set()
        for caller in callers:
            caller.join(30)
            assert not caller.is_alive(), "a caller hung"
    finally:
        for replica in replicas:
            if replica.process is not None and replica.process.poll() is None:
                replica.stop()
    assert tally.count("placed") > 100 and tally.count("quota") > 20  # the limits were hit
    with psycopg.connect(pg_url) as conn:
        changes = quota_changes(conn)
    print(f"{tally.count('placed')} placed, {tally.count('quota')} refused by quota")
    assert len(changes) > 100
    assert audit(TENANTS.quota_policy(), changes) == []
    argv = ["ledger", "audit", "--state", pg_url, "--tenants", str(tenants)]
    assert main(argv) == 0
    tenants.write_text(TENANTS_FILE.replace("SOLO", "1"))  # a smaller quota was exceeded
    assert main(argv) == 1
