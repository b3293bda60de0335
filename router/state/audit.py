"""`ledger audit`: replay a ledger's history, independently of the ledger's bookkeeping.

The replay reads through any DB-API connection (sqlite3 or psycopg), so the same proof
holds for a SQLite state file and for the PostgreSQL database shared by replicas
(router.state.store.audit_state chooses).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from router.errors import NotFoundError
from router.place.filters import PoolKey


@dataclass(frozen=True)
class Audit:
    """What a ledger proves about its own history (see `replay`)."""

    changes: int
    """History rows replayed."""
    overbooked: list[str]
    """Changes that added devices to a pool and left it over the capacity it had then."""
    mismatched: list[str]
    """Pools whose replayed use differs from the recorded one, or from the live rows."""
    active: int
    """Active reservations now."""


class Rows(Protocol):
    """What the replay needs of a connection (sqlite3 and psycopg both have it)."""

    def execute(self, sql: Any) -> Any: ...


def audit(path: str | Path) -> Audit:
    """Replay a SQLite state file (read-only: safe while a server runs; after a crash it
    sees exactly what a restarted server would, as SQLite replays the WAL)."""
    if not Path(path).is_file():
        raise NotFoundError(f"no state file {path}")
    db = sqlite3.connect(str(path))
    try:
        return replay(db)
    finally:
        db.close()


def replay(db: Rows) -> Audit:
    """Every grant (a change adding devices to a pool) must leave the pool at or under the
    capacity it had at that moment; the running sum of deltas must match what each row
    recorded; and the final sums must equal the devices held by active reservations."""
    running: dict[PoolKey, int] = {}
    overbooked: list[str] = []
    mismatched: list[str] = []
    rows = db.execute(
        "SELECT seq, event, reservation_id, site, pool_index, delta, used_after, capacity "
        "FROM history ORDER BY seq"
    ).fetchall()
    for seq, event, rid, site, index, delta, used_after, capacity in rows:
        key = (str(site), int(index))
        running[key] = running.get(key, 0) + int(delta)
        if running[key] != int(used_after):
            mismatched.append(f"#{seq} {site}/{index}: replayed {running[key]}, row {used_after}")
        if int(delta) > 0 and running[key] > int(capacity):
            overbooked.append(
                f"#{seq} {event} {rid}: {site}/{index} at {running[key]} of {capacity}"
            )
    held = {
        (str(site), int(index)): int(total)
        for site, index, total in db.execute(
            "SELECT site, pool_index, SUM(count) FROM reservations WHERE state = 'active' "
            "GROUP BY site, pool_index"
        ).fetchall()
    }
    for key in sorted(set(held) | {k for k, v in running.items() if v}):
        if held.get(key, 0) != running.get(key, 0):
            mismatched.append(
                f"{key[0]}/{key[1]}: history sums to {running.get(key, 0)}, "
                f"active reservations hold {held.get(key, 0)}"
            )
    (active,) = db.execute("SELECT COUNT(*) FROM reservations WHERE state = 'active'").fetchone()
    return Audit(len(rows), overbooked, mismatched, int(active))
