"""Tenant quotas on the SQLite ledger: devices held per tenant, and the commit-time check."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence

from router.state.ledger import HeldReservation
from router.state.quotas import QuotaPolicy, check

_ACCELERATOR = "COALESCE(json_extract({}.details, '$.accelerator'), '')"
TENANT_USE = f"""
CREATE TABLE IF NOT EXISTS tenant_use (
    tenant TEXT NOT NULL,
    accelerator TEXT NOT NULL,
    used INTEGER NOT NULL,
    PRIMARY KEY (tenant, accelerator)
);
CREATE TRIGGER IF NOT EXISTS tenant_use_placed AFTER INSERT ON reservations
WHEN NEW.state = 'active' AND NEW.tenant != '' BEGIN
    INSERT INTO tenant_use VALUES (NEW.tenant, {_ACCELERATOR.format("NEW")}, NEW.count)
    ON CONFLICT (tenant, accelerator) DO UPDATE SET used = used + excluded.used;
END;
CREATE TRIGGER IF NOT EXISTS tenant_use_ended AFTER UPDATE OF state ON reservations
WHEN OLD.state = 'active' AND NEW.state != 'active' AND OLD.tenant != '' BEGIN
    UPDATE tenant_use SET used = used - OLD.count
    WHERE tenant = OLD.tenant AND accelerator = {_ACCELERATOR.format("OLD")};
END;
CREATE TRIGGER IF NOT EXISTS tenant_use_moved AFTER UPDATE OF details ON reservations
WHEN OLD.state = 'active' AND NEW.state = 'active' AND OLD.tenant != '' BEGIN
    UPDATE tenant_use SET used = used - OLD.count
    WHERE tenant = OLD.tenant AND accelerator = {_ACCELERATOR.format("OLD")};
    INSERT INTO tenant_use VALUES (NEW.tenant, {_ACCELERATOR.format("NEW")}, NEW.count)
    ON CONFLICT (tenant, accelerator) DO UPDATE SET used = used + excluded.used;
END;
BEGIN IMMEDIATE;
DELETE FROM tenant_use;
INSERT INTO tenant_use SELECT tenant, {_ACCELERATOR.format("reservations")}, SUM(count)
    FROM reservations WHERE state = 'active' AND tenant != '' GROUP BY 1, 2;
COMMIT;
"""
"""Devices held per (tenant, accelerator type), kept by triggers in the same transaction
as every reservation change, and recounted from the rows whenever a ledger opens the file."""
_HELD = (
    "SELECT tenant, accelerator, used FROM tenant_use "
    "WHERE tenant IN (SELECT value FROM json_each(?))"
)


def held_by_tenant(db: sqlite3.Connection, tenants: Iterable[str]) -> dict[tuple[str, str], int]:
    """Devices held by the tenants' active reservations per (tenant, accelerator type)."""
    rows = db.execute(_HELD, (json.dumps(sorted(tenants)),))
    return {(tenant, kind): int(n) for tenant, kind, n in rows if n}


def quota_refusal(
    db: sqlite3.Connection, policy: QuotaPolicy | None, adding: Sequence[HeldReservation]
) -> str | None:
    """Why these new reservations would take a tenant past its quota (inside the
    committing transaction, so concurrent commits see each other); None: they fit."""
    involved = policy.sharing(r.tenant for r in adding) if policy is not None else set()
    if policy is None or not involved:
        return None  # nobody here has a quota: nothing to read
    adds = [(r.tenant, r.accelerator, r.count) for r in adding]
    return check(policy, held_by_tenant(db, involved), adds)


def quota_changes(db: sqlite3.Connection) -> list[tuple[str, str, int]]:
    """Every change to tenants' holdings in commit order, (tenant, accelerator, devices),
    from the history (router.state.quotas.audit replays them)."""
    rows = db.execute(
        "SELECT r.tenant, COALESCE(json_extract(r.details, '$.accelerator'), ''), h.delta "
        "FROM history h JOIN reservations r USING (reservation_id) "
        "WHERE r.tenant != '' ORDER BY h.seq"
    )
    return [(tenant, kind, int(delta)) for tenant, kind, delta in rows]
