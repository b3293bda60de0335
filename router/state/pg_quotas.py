"""Tenant quotas on the PostgreSQL ledger: tenant row locks, holdings, and their history.

A commit that adds devices for governed tenants first locks the `tenants` rows of every
tenant whose holdings its check reads (the tenants and their cohort peers), in name
order, before any pool: two commits that could together put a tenant or a cohort over
its quota take turns on every replica, and none deadlock. Holdings are then summed from
the active reservations (always exact: nothing to drift), and router.state.quotas judges.
"""

from __future__ import annotations

from collections.abc import Iterable

from router.state.pg_rows import Conn
from router.state.quotas import QuotaPolicy

_ACCELERATOR = "COALESCE(r.details->>'accelerator', '')"


def register_tenants(conn: Conn, policy: QuotaPolicy) -> None:
    """Give each governed tenant its lock row (once; every replica may do it)."""
    conn.execute(
        "INSERT INTO tenants (name) SELECT unnest(%s::text[]) ON CONFLICT DO NOTHING",
        (sorted(policy.tenants),),
    )


def lock_tenants(conn: Conn, names: Iterable[str]) -> None:
    """Lock exactly these tenants' rows, in name order, until the transaction ends."""
    ordered = sorted(set(names))
    if ordered:
        conn.execute(
            "SELECT name FROM tenants WHERE name = ANY(%s) ORDER BY name FOR UPDATE",
            (ordered,),
        )


def held_by_tenant(conn: Conn, tenants: Iterable[str]) -> dict[tuple[str, str], int]:
    """Devices held by the tenants' active reservations per (tenant, accelerator type)."""
    wanted = sorted(set(tenants))
    if not wanted:
        return {}
    rows = conn.execute(
        f"SELECT r.tenant, {_ACCELERATOR}, sum(r.count) FROM reservations r "
        "WHERE r.state = 'active' AND r.tenant = ANY(%s) GROUP BY 1, 2",
        (wanted,),
    ).fetchall()
    return {(str(t), str(kind)): int(n) for t, kind, n in rows if n}


def quota_changes(conn: Conn) -> list[tuple[str, str, int]]:
    """Every change to tenants' holdings in history order, (tenant, accelerator, devices)
    (router.state.quotas.audit replays them). History rows of a cohort are written under
    its tenant locks, so their order is the commit order that matters."""
    rows = conn.execute(
        f"SELECT r.tenant, {_ACCELERATOR}, h.delta FROM history h "
        "JOIN reservations r USING (reservation_id) WHERE r.tenant != '' ORDER BY h.seq"
    ).fetchall()
    return [(str(t), str(kind), int(delta)) for t, kind, delta in rows]
