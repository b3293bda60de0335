"""Quotas under contention: two servers on one SQLite file, many callers; the history
proves no tenant was ever over its quota (the check is inside the committing transaction)."""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from pathlib import Path

from router.cli.main import main
from router.client import RouterClient
from router.model.topology import Topology
from router.service.background import BackgroundServer
from router.service.tenants import Role, Tenant, Tenants, hash_token
from router.state.quotas import Limit, TenantQuota, audit
from router.state.sqlite import SqliteLedger
from router.state.sqlite_quotas import quota_changes
from tests.test_service import job

QUOTAS = {
    "a": TenantQuota("a", {"A800": Limit(8, borrowing_limit=8)}, cohort="c"),
    "b": TenantQuota(
        "b", {"A800": Limit(8, lending_limit=4)}, cohort="c", reclaim_within_cohort=True
    ),
    "solo": TenantQuota("solo", {"A800": Limit(4)}),
}
TENANTS = Tenants(
    tuple(
        Tenant(name, Role.TENANT, token_sha256=hash_token(name), quota=quota)
        for name, quota in QUOTAS.items()
    )
)
RUN_S = 3.0
TENANTS_FILE = f"""\
tenants:
  - {{name: a, role: tenant, token_sha256: {hash_token("a")}, cohort: c,
     quota: {{A800: {{nominal: 8, borrowing_limit: 8}}}}}}
  - {{name: b, role: tenant, token_sha256: {hash_token("b")}, cohort: c,
     reclaim_within_cohort: true, quota: {{A800: {{nominal: 8, lending_limit: 4}}}}}}
  - {{name: solo, role: tenant, token_sha256: {hash_token("solo")},
     quota: {{A800: {{nominal: SOLO}}}}}}
"""


def _caller(port: int, tenant: str, seed: int, stop: threading.Event, tally: list[str]) -> None:
    rng = random.Random(seed)
    held: list[str] = []
    with RouterClient(f"127.0.0.1:{port}", token=tenant) as client:
        n = 0
        while not stop.is_set():
            n += 1
            if held and rng.random() < 0.35:
                client.release(held.pop(rng.randrange(len(held))))
                continue
            result = client.route(job(f"{tenant}-{seed}-{n}", rng.randint(1, 4)))
            if result.reservation is not None:
                held.append(result.reservation.reservation_id)
                tally.append("placed")
            elif result.unplaced is not None and result.unplaced.reason.startswith("quota:"):
                tally.append("quota")


def test_no_tenant_is_ever_over_its_quota_with_two_servers_on_one_file(
    mini: Topology, tmp_path: Path
) -> None:
    state = tmp_path / "state.sqlite"
    ledgers = [SqliteLedger(state), SqliteLedger(state)]
    servers = [
        BackgroundServer(topology=mini, ledger=ledger, tenants=TENANTS).start()
        for ledger in ledgers
    ]
    stop = threading.Event()
    tally: list[str] = []
    callers = [
        threading.Thread(
            target=_caller, args=(servers[i % 2].port, tenant, i, stop, tally), daemon=True
        )
        for i, tenant in enumerate(["a", "b", "solo"] * 4)
    ]
    try:
        for caller in callers:
            caller.start()
        time.sleep(RUN_S)
        stop.set()
        for caller in callers:
            caller.join(30)
    finally:
        for server in servers:
            server.stop()
        for ledger in ledgers:
            ledger.close()
    assert tally.count("placed") > 50 and tally.count("quota") > 10  # the limits were hit
    db = sqlite3.connect(state)
    changes = quota_changes(db)
    kept = dict(((t, a), n) for t, a, n in db.execute("SELECT * FROM tenant_use") if n)
    recounted = db.execute(
        "SELECT tenant, json_extract(details, '$.accelerator'), SUM(count) FROM reservations "
        "WHERE state = 'active' AND tenant != '' GROUP BY 1, 2"
    ).fetchall()
    db.close()
    assert kept == {(t, a): n for t, a, n in recounted}  # the triggers kept count
    assert len(changes) > 50
    assert audit(TENANTS.quota_policy(), changes) == []
    _ledger_audit_agrees(state, tmp_path)


def _ledger_audit_agrees(state: Path, tmp_path: Path) -> None:
    """`westward ledger audit --tenants F` says the same, and catches a smaller quota."""
    tenants = tmp_path / "tenants.yaml"
    tenants.write_text(TENANTS_FILE.replace("SOLO", "4"))
    argv = ["ledger", "audit", "--state", str(state), "--tenants", str(tenants)]
    assert main(argv) == 0
    tenants.write_text(TENANTS_FILE.replace("SOLO", "1"))
    assert main(argv) == 1


def test_the_audit_finds_a_tenant_over_its_quota() -> None:
    policy = TENANTS.quota_policy()
    changes = [("solo", "A800", 3), ("solo", "A800", 1), ("solo", "A800", -2), ("solo", "A800", 3)]
    assert audit(policy, changes) == ["solo holds 5 A800, more than 4"]
    drawn = [("a", "A800", 12), ("b", "A800", 5)]  # a borrowed all b lends; b took 1 more
    assert audit(policy, drawn) == ["cohort c drew 13 A800 of a pool of 12"]
