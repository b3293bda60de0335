"""SQL rows <-> ledger records: the reservations table's columns and JSON fields, the
listing query and the stored-answer rule (SQLite's, and PostgreSQL's through
router.state.pg_rows)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from router.errors import FieldProblem, InvalidInputError
from router.state.ledger import HeldReservation, RequestKey, ReservationState

COLUMNS = (
    "reservation_id, job, site, pool_index, count, spec, details, state, request_id, "
    "created_unix_s, ended_unix_s, expires_unix_s, tenant"
)
INSERT = (  # a new reservation row
    f"INSERT INTO reservations ({COLUMNS}) VALUES ({', '.join('?' * (COLUMNS.count(',') + 1))})"
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
        r.tenant,
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
        tenant,
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
        tenant=str(tenant),
    )


def stored_request_id(request: RequestKey) -> str:
    """Where a request's answer is stored: request ids are scoped to their method."""
    return f"{request.method}/{request.request_id}"


def listing(
    selected: str,
    *,
    site: str | None,
    include_ended: bool,
    after_seq: int,
    limit: int | None,
    mark: str = "?",
    tenant: str | None = None,
) -> tuple[str, list[object]]:
    """The query listing reservations in ledger order (`mark`: the driver's placeholder)."""
    where = [f"seq > {mark}"]
    args: list[object] = [after_seq]
    if tenant is not None:
        where.append(f"tenant = {mark}")
        args.append(tenant)
    if not include_ended:
        where.append(f"state = {mark}")
        args.append(ReservationState.ACTIVE.value)
    if site is not None:
        where.append(f"site = {mark}")
        args.append(site)
    sql = f"SELECT {selected} FROM reservations WHERE {' AND '.join(where)} ORDER BY seq"
    if limit is not None:
        sql += f" LIMIT {mark}"
        args.append(limit)
    return sql, args


def first_answer(stored: tuple[bytes, str] | None, request: RequestKey) -> bytes | None:
    """The answer stored for a request (answer, body hash), if any; InvalidInputError when
    the same method and request_id came with another body."""
    if stored is None:
        return None
    answer, body_hash = stored
    if body_hash and body_hash != request.body_hash:
        raise InvalidInputError(
            [
                FieldProblem(
                    "request_id",
                    f"{request.request_id!r} was used for a different {request.method} "
                    "request; use a new request_id for a new request",
                )
            ]
        )
    return answer
