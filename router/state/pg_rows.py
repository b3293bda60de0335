"""Reservations and outbox events as the PostgreSQL ledger's rows (and back)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from router.state.ledger import HeldReservation as Held
from router.state.ledger import ReservationState
from router.state.shared import StoredEvent

Conn = psycopg.Connection[tuple[Any, ...]]
COLUMNS = (
    "reservation_id, job, site, pool_index, count, spec, details, state, request_id, "
    "created_unix_s, ended_unix_s, expires_unix_s"
)
SELECTED = COLUMNS + ", seq"
"""What reads select: the inserted columns and the ledger's order."""
ACTIVE = ReservationState.ACTIVE.value


@dataclass(frozen=True)
class Event:
    """A change to publish through the outbox, written in the committing transaction."""

    kind: str
    reservation: Held
    previous: Mapping[str, Any] | None = None
    reason: str = ""


def select(conn: Conn, ids: Sequence[str]) -> list[Held]:
    rows = conn.execute(
        f"SELECT {SELECTED} FROM reservations WHERE reservation_id = ANY(%s) ORDER BY seq",
        (list(ids),),
    ).fetchall()
    return [held_of(row) for row in rows]


def select_for_update(conn: Conn, ids: Sequence[str]) -> list[Held]:
    rows = conn.execute(
        f"SELECT {SELECTED} FROM reservations WHERE reservation_id = ANY(%s) "
        "ORDER BY reservation_id FOR UPDATE",
        (list(ids),),
    ).fetchall()
    return [held_of(row) for row in rows]


def reservation_row(r: Held, request_id: str, now: float) -> tuple[object, ...]:
    return (
        r.reservation_id,
        r.job,
        r.site,
        r.pool_index,
        r.count,
        Jsonb(dict(r.spec)),
        Jsonb(dict(r.details)),
        ACTIVE,
        request_id,
        now,
        None,
        r.expires_unix_s,
    )


def as_stored(r: Held, request_id: str, now: float) -> Held:
    """A reservation as the row just inserted holds it."""
    return replace(
        r,
        state=ReservationState.ACTIVE,
        request_id=request_id,
        created_unix_s=now,
        ended_unix_s=None,
    )


def held_of(row: Sequence[Any]) -> Held:
    """A reservation from its row: the columns of SELECTED (COLUMNS, then maybe seq)."""
    rid, job, site, index, count, spec, details, state, request_id, created, ended, expires = row[
        :12
    ]
    return Held(
        reservation_id=str(rid),
        job=str(job),
        site=str(site),
        pool_index=int(index),
        count=int(count),
        spec=dict(spec),
        details=dict(details),
        state=ReservationState(state),
        request_id=str(request_id),
        created_unix_s=float(created),
        ended_unix_s=None if ended is None else float(ended),
        expires_unix_s=None if expires is None else float(expires),
        seq=int(row[12]) if len(row) > 12 else 0,  # 0 until the row is read back
    )


def record_of(h: Held) -> dict[str, Any]:
    """A reservation as plain JSON values (an outbox payload)."""
    return {**asdict(h), "state": h.state.value}


def stored_event(seq: int, time_unix_s: float, payload: Mapping[str, Any]) -> StoredEvent:
    """An outbox row as the engine receives it."""
    record = payload["reservation"]
    held = held_of([record[name.strip()] for name in SELECTED.split(",")])
    previous = payload.get("previous")
    return StoredEvent(
        seq, str(payload["kind"]), held, previous, str(payload.get("reason", "")), time_unix_s
    )
