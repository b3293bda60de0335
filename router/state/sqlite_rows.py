"""SQLite rows <-> ledger records: the reservations table's columns and JSON fields."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from router.state.ledger import HeldReservation, RequestKey, ReservationState

COLUMNS = (
    "reservation_id, job, site, pool_index, count, spec, details, state, request_id, "
    "created_unix_s, ended_unix_s, expires_unix_s"
)


def dump(value: Mapping[str, Any]) -> str:
    """JSON with sorted keys and no spaces (stable bytes for equal values)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def row_of(r: HeldReservation, request_id: str, now: float) -> tuple[object, ...]:
    """The values of COLUMNS for a new active reservation."""
    return (
        r.reservation_id,
        r.job,
        r.site,
        r.pool_index,
        r.count,
        dump(r.spec),
        dump(r.details),
        ReservationState.ACTIVE.value,
        request_id or r.request_id,
        now,
        None,
        r.expires_unix_s,
    )


def record_of(row: tuple[Any, ...]) -> HeldReservation:
    """A reservation from a row of COLUMNS followed by seq."""
    (
        rid,
        job,
        site,
        index,
        count,
        spec,
        details,
        state,
        request_id,
        created,
        ended,
        expires,
        seq,
    ) = row
    return HeldReservation(
        reservation_id=rid,
        job=job,
        site=site,
        pool_index=int(index),
        count=int(count),
        spec=json.loads(spec),
        details=json.loads(details),
        state=ReservationState(state),
        request_id=request_id,
        created_unix_s=float(created),
        ended_unix_s=None if ended is None else float(ended),
        expires_unix_s=None if expires is None else float(expires),
        seq=int(seq),
    )


def stored_request_id(request: RequestKey) -> str:
    """Where a request's answer is stored: request ids are scoped to their method."""
    return f"{request.method}/{request.request_id}"
