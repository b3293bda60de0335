"""Reservations and outbox events as the PostgreSQL ledger's rows (and back).

The reservation columns and their conversions are SQLite's (router.state.sqlite_rows):
`spec` and `details` go in as JSON text cast to jsonb and come back as text, so one
pair of functions serves both ledgers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import psycopg

from router.state.ledger import HeldReservation as Held
from router.state.ledger import ReservationState
from router.state.shared import StoredEvent
from router.state.sqlite_rows import COLUMNS, record_of

Conn = psycopg.Connection[tuple[Any, ...]]
SELECTED = COLUMNS.replace("spec, details", "spec::text, details::text") + ", seq"
"""What reads select: the columns record_of expects (JSON as text, then seq)."""
INSERT = (
    f"INSERT INTO reservations ({COLUMNS}) VALUES "
    "(%s, %s, %s, %s, %s, %s::jsonb, %s::jsonb, %s, %s, %s, %s, %s, %s)"
)
"""Takes router.state.sqlite_rows.row_of values."""


@dataclass(frozen=True)
class Event:
    """A change to publish through the outbox, written in the committing transaction."""

    kind: str
    reservation: Held
    previous: Mapping[str, Any] | None = None
    reason: str = ""


def select(conn: Conn, ids: Sequence[str], *, for_update: bool = False) -> list[Held]:
    """These reservations (those that exist), in ledger order; with `for_update` their
    rows are locked, in id order."""
    order = "reservation_id FOR UPDATE" if for_update else "seq"
    rows = conn.execute(
        f"SELECT {SELECTED} FROM reservations WHERE reservation_id = ANY(%s) ORDER BY {order}",
        (list(ids),),
    ).fetchall()
    return [record_of(row) for row in rows]


def as_stored(r: Held, request_id: str, now: float) -> Held:
    """A reservation as the row just inserted holds it."""
    return replace(
        r,
        state=ReservationState.ACTIVE,
        request_id=request_id,
        created_unix_s=now,
        ended_unix_s=None,
    )


def payload_of(event: Event) -> dict[str, Any]:
    """An event as the outbox keeps it (plain JSON values)."""
    return {
        "kind": event.kind,
        "reservation": {**asdict(event.reservation), "state": event.reservation.state.value},
        "previous": None if event.previous is None else dict(event.previous),
        "reason": event.reason,
    }


def stored_event(seq: int, time_unix_s: float, payload: Mapping[str, Any]) -> StoredEvent:
    """An outbox row as the engine receives it."""
    record = dict(payload["reservation"])
    held = Held(**{**record, "state": ReservationState(record["state"])})
    previous = payload.get("previous")
    return StoredEvent(
        seq, str(payload["kind"]), held, previous, str(payload.get("reason", "")), time_unix_s
    )
