"""The PostgreSQL ledger's statements inside a transaction: lock pools in order, check
counts, claim request_ids, write use, history and the outbox."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from psycopg.types.json import Jsonb

from router.errors import CapacityError, NotFoundError
from router.state.ledger import Commit, Move, PoolKey, ReservationState
from router.state.ledger import Reservation as Held
from router.state.pg_rows import Conn, Event, record_of, select, select_for_update
from router.state.pg_schema import EVENTS_CHANNEL, OUTBOX_LOCK, TOPOLOGY_CHANNEL


@dataclass
class PoolCount:
    """A locked pool row: its capacity and the devices in use."""

    capacity: int
    used: int


def lock_pools(conn: Conn, keys: Iterable[PoolKey]) -> dict[PoolKey, PoolCount]:
    """Lock exactly these pools' rows, in (site, pool_index) order; their counts now."""
    ordered = sorted(set(keys))
    if not ordered:
        return {}
    rows = conn.execute(
        "SELECT p.site, p.pool_index, p.capacity, p.used FROM pools p "
        "JOIN unnest(%s::text[], %s::integer[]) AS k(site, pool_index) USING (site, pool_index) "
        "ORDER BY p.site, p.pool_index FOR UPDATE OF p",
        ([k[0] for k in ordered], [k[1] for k in ordered]),
    ).fetchall()
    return {(str(s), int(i)): PoolCount(int(c), int(u)) for s, i, c, u in rows}


def overbooking(pools: Mapping[PoolKey, PoolCount], commit: Commit) -> str:
    """Why the commit would overbook a pool (empty when it fits the locked counts)."""
    need: Counter[PoolKey] = Counter()
    for r in commit.reservations:
        need[r.pool] += r.count
    for key in sorted(need):
        pool = pools.get(key)
        if pool is None or pool.used + need[key] > pool.capacity:
            return over_message(key, need[key], pool)
    return ""


def over_message(key: PoolKey, adding: int, pool: PoolCount | None) -> str:
    used = adding + (0 if pool is None else pool.used)
    capacity = 0 if pool is None else pool.capacity
    return f"pool {key[1]} of site {key[0]} would hold {used} devices, it has {capacity}"


def fitting(
    pools: Mapping[PoolKey, PoolCount], commits: Sequence[Commit]
) -> tuple[list[int], dict[int, str]]:
    """Which commits fit the locked counts, taken in turn (indexes), and why the rest do not.

    A request_id repeated in the batch is tried again only if its first commit did not fit.
    """
    trial = {key: PoolCount(p.capacity, p.used) for key, p in pools.items()}
    fits: list[int] = []
    over: dict[int, str] = {}
    taken: set[str] = set()
    for i, commit in enumerate(commits):
        if commit.request_id in taken:
            continue
        why = overbooking(trial, commit)
        if why:
            over[i] = why
            continue
        for r in commit.reservations:
            trial[r.pool].used += r.count
        fits.append(i)
        if commit.request_id:
            taken.add(commit.request_id)
    return fits, over


def claim(conn: Conn, commits: Sequence[Commit], now: float) -> set[str]:
    """Store each commit's answer under its request_id; the ids stored (others were taken).

    Sorted, so two transactions claiming the same ids wait for each other in one order.
    """
    if not commits:
        return set()
    ordered = sorted(commits, key=lambda c: c.request_id)
    rows = conn.execute(
        "INSERT INTO requests (request_id, answer, created_unix_s) "
        "SELECT id, answer, %s FROM unnest(%s::text[], %s::bytea[]) AS t(id, answer) "
        "ON CONFLICT (request_id) DO NOTHING RETURNING request_id",
        (now, [c.request_id for c in ordered], [c.answer for c in ordered]),
    ).fetchall()
    return {str(row[0]) for row in rows}


def stored_answers(conn: Conn, request_ids: Iterable[str]) -> dict[str, bytes]:
    wanted = sorted(rid for rid in request_ids if rid)
    if not wanted:
        return {}
    rows = conn.execute(
        "SELECT request_id, answer FROM requests WHERE request_id = ANY(%s)", (wanted,)
    ).fetchall()
    return {str(rid): bytes(answer) for rid, answer in rows}


def stored_answer(conn: Conn, request_id: str) -> bytes | None:
    return stored_answers(conn, [request_id]).get(request_id)


def history_row(
    now: float, event: str, held: Held, key: PoolKey, delta: int, pool: PoolCount
) -> tuple[object, ...]:
    return (now, event, held.reservation_id, key[0], key[1], delta, pool.used, pool.capacity)


def write_use(
    conn: Conn, pools: Mapping[PoolKey, PoolCount], history: Sequence[tuple[object, ...]]
) -> None:
    """Write the locked pools' new counts and the history rows that led to them."""
    with conn.cursor() as cur:
        cur.executemany(
            "UPDATE pools SET used = %s WHERE site = %s AND pool_index = %s",
            [(pool.used, key[0], key[1]) for key, pool in sorted(pools.items())],
        )
        cur.executemany(
            "INSERT INTO history (time_unix_s, event, reservation_id, site, pool_index, "
            "delta, used_after, capacity) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            history,
        )


def outbox(conn: Conn, now: float, events: Sequence[Event]) -> None:
    """Append events to the outbox, numbered in commit order, and wake the followers.

    The advisory lock is held from here to COMMIT, so a row with a higher seq is never
    visible before one with a lower seq: readers can follow `seq > last` without gaps.
    """
    if not events:
        return
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (OUTBOX_LOCK,))
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO events (time_unix_s, payload) VALUES (%s, %s)",
            [
                (
                    now,
                    Jsonb(
                        {
                            "kind": e.kind,
                            "reservation": record_of(e.reservation),
                            "previous": None if e.previous is None else dict(e.previous),
                            "reason": e.reason,
                        }
                    ),
                )
                for e in events
            ],
        )
    conn.execute(f"NOTIFY {EVENTS_CHANNEL}")


def bump_topology(conn: Conn) -> None:
    conn.execute("UPDATE topology SET version = version + 1 WHERE id = 1")
    conn.execute(f"NOTIFY {TOPOLOGY_CHANNEL}")


def move_and_evict(
    conn: Conn, moves: Sequence[Move], evictions: Sequence[str], why: Mapping[str, str]
) -> list[Held]:
    """Move and evict active reservations inside the caller's transaction; returns them.

    CapacityError if a destination would be overbooked, NotFoundError if one has ended.
    """
    ids = [m.reservation_id for m in moves] + list(evictions)
    now = time.time()
    before = {h.reservation_id: h for h in select_for_update(conn, ids)}
    for rid in ids:
        if rid not in before or before[rid].state is not ReservationState.ACTIVE:
            raise NotFoundError(f"reservation {rid} is not active")
    targets = {(m.site, m.pool_index) for m in moves}
    pools = lock_pools(conn, targets | {h.pool for h in before.values()})
    history: list[tuple[object, ...]] = []
    for rid in ids:
        held = before[rid]
        pool = pools[held.pool]
        pool.used -= held.count
        kind = "evicted" if rid in evictions else "moved"
        history.append(history_row(now, kind, held, held.pool, -held.count, pool))
    for m in moves:
        held = before[m.reservation_id]
        target = pools.get((m.site, m.pool_index))
        if target is None or target.used + held.count > target.capacity:
            raise CapacityError(over_message((m.site, m.pool_index), held.count, target))
        target.used += held.count
        history.append(history_row(now, "moved", held, (m.site, m.pool_index), held.count, target))
        conn.execute(
            "UPDATE reservations SET site = %s, pool_index = %s, details = %s "
            "WHERE reservation_id = %s",
            (m.site, m.pool_index, Jsonb(dict(m.details)), m.reservation_id),
        )
    if evictions:
        conn.execute(
            "UPDATE reservations SET state = 'evicted', ended_unix_s = %s "
            "WHERE reservation_id = ANY(%s)",
            (now, list(evictions)),
        )
    write_use(conn, pools, history)
    after = {h.reservation_id: h for h in select(conn, ids)}
    outbox(
        conn,
        now,
        [
            Event(
                "evicted" if rid in evictions else "moved",
                after[rid],
                None if rid in evictions else before[rid].details,
                why.get(rid, ""),
            )
            for rid in ids
        ],
    )
    return [after[rid] for rid in ids]


def end_reservations(
    conn: Conn, held: Sequence[Held], state: ReservationState, reason: str
) -> tuple[list[Held], dict[PoolKey, PoolCount]]:
    """End active reservations inside the caller's transaction (rows already locked)."""
    now = time.time()
    pools = lock_pools(conn, {h.pool for h in held})
    history = []
    for h in held:
        pool = pools[h.pool]
        pool.used -= h.count
        history.append(history_row(now, state.value, h, h.pool, -h.count, pool))
    ids = [h.reservation_id for h in held]
    conn.execute(
        "UPDATE reservations SET state = %s, ended_unix_s = %s WHERE reservation_id = ANY(%s)",
        (state.value, now, ids),
    )
    write_use(conn, pools, history)
    ended = select(conn, ids)
    outbox(conn, now, [Event(state.value, h, None, reason) for h in ended])
    return ended, pools
