"""Tenant quotas on the SQLite ledger: devices held per tenant, and the commit-time check."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from router.state.ledger import HeldReservation
from router.state.quotas import QuotaPolicy, check

_HELD = (
    "SELECT tenant, json_extract(details, '$.accelerator'), SUM(count) "
    "FROM reservations WHERE state = 'active' AND tenant != '' GROUP BY 1, 2"
)


def held_by_tenant(db: sqlite3.Connection) -> dict[tuple[str, str], int]:
    """Devices held by active reservations per (tenant, accelerator type)."""
    return {(tenant, str(kind)): int(n) for tenant, kind, n in db.execute(_HELD)}


def quota_refusal(
    db: sqlite3.Connection, policy: QuotaPolicy | None, adding: Sequence[HeldReservation]
) -> str | None:
    """Why these new reservations would take a tenant past its quota (inside the
    committing transaction, so concurrent commits see each other); None: they fit."""
    if policy is None or not adding:
        return None
    return check(policy, held_by_tenant(db), [(r.tenant, r.accelerator, r.count) for r in adding])
