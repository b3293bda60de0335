"""The PostgreSQL ledger's statements inside a transaction: lock pools in order, check
counts, claim request_ids, write use, history and the outbox."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from psycopg.types.json import Jsonb

from router.errors import CapacityError, NotFoundError
from router.place.filters import PoolKey
from router.state.ledger import Commit, Move, RequestKey, ReservationState, SiteState
from router.state.ledger import HeldReservation as Held
from router.state.pg_rows import Conn, Event, payload_of, select
from router.state.pg_schema import EVENTS_CHANNEL, OUTBOX_LOCK, TOPOLOGY_CHANNEL
from router.state.sqlite_rows import stored_request_id


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


def request_key(request: RequestKey | None) -> str:
    """Where a request's answer is stored ("" for a request without an id)."""
    return stored_request_id(request) if request and request.request_id else ""


def fitting(
    pools: Mapping[PoolKey, PoolCount], commits: Sequence[Commit], keys: Sequence[str]
) -> tuple[list[int], dict[int, str]]:
    """Which commits fit the locked counts, taken in turn (indexes), and why the rest do not.

    A request repeated in the batch is tried again only if its first commit did not fit.
    """
    trial = {key: PoolCount(p.capacity, p.used) for key, p in pools.items()}
    fits: list[int] = []
    over: dict[int, str] = {}
    taken: set[str] = set()
    for i, (commit, key) in enumerate(zip(commits, keys, strict=True)):
        if key in taken:
            continue
        why = overbooking(trial, commit)
        if why:
            over[i] = why
            continue
        for r in commit.reservations:
            trial[r.pool].used += r.count
        fits.append(i)
        if key:
            taken.add(key)
    return fits, over


def claim(conn: Conn, claims: Sequence[tuple[str, Commit]], now: float) -> set[str]:
    """Store each commit's answer and body hash under its key; the keys stored (the others
    were taken). Sorted, so two transactions claiming the same keys wait in one order."""
    if not claims:
        return set()
    ordered = sorted(claims, key=lambda pair: pair[0])
    rows = conn.execute(
        "INSERT INTO requests (request_id, body_hash, answer, created_unix_s) "
        "SELECT id, body, answer, %s FROM unnest(%s::text[], %s::text[], %s::bytea[]) "
        "AS t(id, body, answer) ON CONFLICT (request_id) DO NOTHING RETURNING request_id",
        (
            now,
            [key for key, _ in ordered],
            [c.request.body_hash if c.request else "" for _, c in ordered],
            [c.answer for _, c in ordered],
        ),
    ).fetchall()
    return {str(row[0]) for row in rows}


def stored_answers(conn: Conn, keys: Iterable[str]) -> dict[str, tuple[bytes, str]]:
    """Stored (answer, body hash) by request key."""
    wanted = sorted(key for key in keys if key)
    if not wanted:
        return {}
    rows = conn.execute(
        "SELECT request_id, answer, body_hash FROM requests WHERE request_id = ANY(%s)",
        (wanted,),
    ).fetchall()
    return {str(key): (bytes(answer), str(body)) for key, answer, body in rows}


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
            [(now, Jsonb(payload_of(e))) for e in events],
        )
    conn.execute(f"NOTIFY {EVENTS_CHANNEL}")


def bump_topology(conn: Conn) -> None:
    conn.execute("UPDATE topology SET version = version + 1 WHERE id = 1")
    conn.execute(f"NOTIFY {TOPOLOGY_CHANNEL}")


def write_capacity(conn: Conn, capacity: Mapping[PoolKey, int]) -> None:
    """Set every pool's device count (pools not listed have none), all rows locked in order."""
    keys = sorted(capacity)
    conn.execute("SELECT 1 FROM pools ORDER BY site, pool_index FOR UPDATE")
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO pools (site, pool_index, capacity) VALUES (%s, %s, %s) "
            "ON CONFLICT (site, pool_index) DO UPDATE "
            "SET capacity = excluded.capacity, listed = true",
            [(site, index, int(capacity[site, index])) for site, index in keys],
        )
    # a pool gone from the topology keeps its row while reservations hold it
    conn.execute(
        "UPDATE pools SET capacity = 0, listed = false WHERE (site, pool_index) "
        "NOT IN (SELECT * FROM unnest(%s::text[], %s::integer[]))",
        ([k[0] for k in keys], [k[1] for k in keys]),
    )
    conn.execute("DELETE FROM pools WHERE NOT listed AND used = 0")
    conn.execute(f"NOTIFY {EVENTS_CHANNEL}")  # replicas refresh their free counts


def write_site_state(conn: Conn, state: SiteState) -> None:
    """Keep a site's change, set every pool's count, and tell every replica (new version)."""
    write_capacity(conn, state.capacity)
    conn.execute(
        "INSERT INTO site_changes (site, change) VALUES (%s, %s) "
        "ON CONFLICT (site) DO UPDATE SET change = excluded.change",
        (state.site, Jsonb(dict(state.change))),
    )
    bump_topology(conn)


def move_and_evict(
    conn: Conn,
    moves: Sequence[Move],
    evictions: Sequence[str],
    site_state: SiteState | None,
    why: Mapping[str, str],
) -> list[Held]:
    """Move and evict active reservations inside the caller's transaction; returns them.

    With `site_state`, the site's change and every pool's count are written first and the
    site's own pools are checked too. CapacityError if a checked pool would be over its
    count, NotFoundError if a reservation has ended.
    """
    ids = [m.reservation_id for m in moves] + list(evictions)
    now = time.time()
    before = {h.reservation_id: h for h in select(conn, ids, for_update=True)}
    for rid in ids:
        if rid not in before or before[rid].state is not ReservationState.ACTIVE:
            raise NotFoundError(f"reservation {rid} is not active")
    own: set[PoolKey] = set()
    if site_state is not None:
        write_site_state(conn, site_state)
        own = {k for k in site_state.capacity if k[0] == site_state.site}
    targets = {(m.site, m.pool_index) for m in moves}
    pools = lock_pools(conn, targets | own | {h.pool for h in before.values()})
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
    for key in sorted(own):
        if pools[key].used > pools[key].capacity:
            raise CapacityError(over_message(key, 0, pools[key]))
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
