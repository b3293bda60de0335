"""Tenant quotas on the SQLite ledger: devices held per tenant, and the commit-time check."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence

from router.state.ledger import HeldReservation
from router.state.quotas import QuotaPolicy, check

_HELD = (
    "SELECT tenant, json_extract(details, '$.accelerator'), SUM(count) FROM reservations "
    "WHERE tenant IN (SELECT value FROM json_each(?)) AND state = 'active' GROUP BY 1, 2"
)


def held_by_tenant(db: sqlite3.Connection, tenants: Iterable[str]) -> dict[tuple[str, str], int]:
    """Devices held by the tenants' active reservations per (tenant, accelerator type)."""
    rows = db.execute(_HELD, (json.dumps(sorted(tenants)),))
    return {(tenant, str(kind)): int(n) for tenant, kind, n in rows}


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
