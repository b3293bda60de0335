"""The multi-replica ledger: the `Ledger` protocol on PostgreSQL (psycopg 3, a connection pool).

Every write is one READ COMMITTED transaction that first locks exactly the pool rows it
touches, in (site, pool_index) order (`SELECT ... FOR UPDATE`): commits on different
pools run in parallel, two on the same pool take turns, and none deadlock. The capacity
check then runs on the locked counts, so no number of replicas can overbook a pool.
Request answers are keyed by request_id (a primary key: a retry on another replica finds
the first answer), and reservations, history and the events outbox are written in the
same transaction. The outbox is numbered in commit order (an advisory lock around its
insert), so every replica streams every replica's events in the same order
(router.state.pg_follow). Free counts are cached and refreshed after each commit and
whenever another replica's events arrive; a stale cache costs a CapacityError retry,
never an overbooking.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

from psycopg.types.json import Jsonb

from router.errors import (
    CapacityError,
    DeadlineExceededError,
    InvalidInputError,
    NotFoundError,
    RouterError,
)
from router.model.topology import Topology, parse_topology
from router.place.filters import PoolKey
from router.state.ledger import Commit, Ledger, Move, RequestKey, ReservationState, SiteState
from router.state.ledger import HeldReservation as Held
from router.state.pg_follow import EventRow, Follower
from router.state.pg_quotas import held_by_tenant, lock_tenants, register_tenants
from router.state.pg_rows import (
    INSERT,
    SELECTED,
    Conn,
    Event,
    as_stored,
    select,
    stored_event,
)
from router.state.pg_schema import migrate, open_pool, run
from router.state.pg_topology import topology_document
from router.state.pg_writes import (
    PoolCount,
    bump_topology,
    claim,
    end_reservations,
    fitting,
    history_row,
    lock_pools,
    move_and_evict,
    outbox,
    request_key,
    stored_answers,
    write_capacity,
    write_use,
)
from router.state.quotas import QuotaPolicy
from router.state.records import checked_counts, free_counts, relocated_ids
from router.state.shared import StoredEvent
from router.state.sqlite_rows import first_answer, listing, record_of, row_of

EXPIRE_BATCH = 500


class PostgresLedger(Ledger):
    """Reservations in PostgreSQL, shared by any number of `westward serve` replicas."""

    def __init__(self, url: str, *, max_connections: int = 8) -> None:
        self._url = url
        self._pool = open_pool(url, max_size=max_connections)
        self.schema_version = migrate(self._pool)
        self._cache_lock = threading.Lock()
        self._capacity: dict[PoolKey, int] = {}
        self._used: dict[PoolKey, int] = {}
        self._free: dict[PoolKey, int] | None = None
        self._next_expiry: float | None = None
        self._follower: Follower | None = None
        self._parsed: tuple[str, Topology] | None = None
        self._quotas: QuotaPolicy | None = None
        self.refresh()

    # --- quotas (checked under tenant row locks: router.state.pg_quotas) --------------

    def set_quotas(self, policy: QuotaPolicy | None) -> None:
        """Check every commit against these tenant quotas from now on (None: no quotas)."""
        if policy is not None and policy.tenants:
            run(self._pool, lambda conn: register_tenants(conn, policy))
        self._quotas = policy

    def usage(self, tenants: Iterable[str]) -> dict[tuple[str, str], int]:
        """Devices the tenants' active reservations hold per (tenant, accelerator type)."""
        return run(self._pool, lambda conn: held_by_tenant(conn, tenants))

    # --- capacity -------------------------------------------------------------------

    def set_capacity(self, capacity: Mapping[PoolKey, int]) -> None:
        """Replace the device count of every pool (pools not listed have none)."""
        checked_counts(capacity)

        def work(conn: Conn) -> None:
            with conn.transaction():
                write_capacity(conn, capacity)

        run(self._pool, work)
        self.refresh()

    def capacity(self) -> dict[PoolKey, int]:
        """Device count of every pool."""
        with self._cache_lock:
            return dict(self._capacity)

    def free(self) -> Mapping[PoolKey, int]:
        """Devices not held by active reservations, per pool (a cached snapshot; read-only)."""
        with self._cache_lock:
            if self._free is None:
                self._free = free_counts(self._capacity, self._used)
            return self._free

    def refresh(self) -> None:
        """Reload the cached counts and the next expiry (other replicas commit too)."""

        def work(conn: Conn) -> tuple[list[tuple[Any, ...]], float | None]:
            pools = conn.execute(
                "SELECT site, pool_index, capacity, used, listed FROM pools"
            ).fetchall()
            row = conn.execute(
                "SELECT min(expires_unix_s) FROM reservations WHERE state = 'active'"
            ).fetchone()
            return pools, None if row is None or row[0] is None else float(row[0])

        pools, next_expiry = run(self._pool, work)
        with self._cache_lock:
            self._capacity = {(s, i): int(c) for s, i, c, _, listed in pools if listed}
            self._used = {(s, i): int(u) for s, i, _, u, _ in pools}
            self._free = None
            self._next_expiry = next_expiry

    # --- idempotency ----------------------------------------------------------------

    def answer(self, request: RequestKey | None) -> bytes | None:
        """The first answer stored for the request, if any (InvalidInputError if the same
        method and request_id came with another body)."""
        key = request_key(request)
        if request is None or not key:
            return None
        stored = run(self._pool, lambda conn: stored_answers(conn, [key]))
        return first_answer(stored.get(key), request)

    # --- reservations ---------------------------------------------------------------

    def commit_batch(self, commits: Sequence[Commit]) -> list[bytes | RouterError]:
        """Many independent commits in one transaction (group commit); one result each.

        The pools of all of them are locked first, in order, and each commit is checked
        on the locked counts in turn; the requests of those that fit are claimed in one
        statement (a request another replica answered first keeps its first answer; the
        same id with another body is InvalidInputError); each caller's `wanted` is asked
        last; the writes go out in one pipeline: three round trips for the whole batch.
        """
        now = time.time()
        keys = [request_key(c.request) for c in commits]

        def work(conn: Conn) -> tuple[list[bytes | RouterError], dict[PoolKey, PoolCount]]:
            with conn.transaction():
                quotas = self._lock_quotas(conn, commits)
                evicting = {
                    h.reservation_id: h
                    for h in select(
                        conn,
                        [e.reservation_id for c in commits for e in c.evictions],
                        for_update=True,
                    )
                }
                touched = {r.pool for c in commits for r in c.reservations}
                pools = lock_pools(conn, touched | {h.pool for h in evicting.values()})
                fits, over = fitting(pools, commits, keys, evicting, quotas)
                claimed = claim(conn, [(keys[i], commits[i]) for i in fits if keys[i]], now)
                won = [i for i in fits if not keys[i] or keys[i] in claimed]
                late = {i for i in won if not _still_wanted(commits[i])}
                if late:  # the caller gave up: reserve nothing and keep no answer for it
                    conn.execute(
                        "DELETE FROM requests WHERE request_id = ANY(%s)",
                        ([keys[i] for i in late if keys[i]],),
                    )
                done = set(won) - late
                stored = stored_answers(conn, {k for i, k in enumerate(keys) if i not in done})
                results: list[bytes | RouterError] = []
                placed: list[tuple[Held, str]] = []
                history: list[tuple[object, ...]] = []
                evicted: list[Event] = []
                for i, commit in enumerate(commits):
                    if i in late:
                        results.append(DeadlineExceededError(LATE))
                        continue
                    if i not in done:
                        try:
                            first = (
                                first_answer(stored.get(keys[i]), commit.request)
                                if commit.request
                                else None
                            )
                        except InvalidInputError as exc:
                            results.append(exc)
                            continue
                        why = over.get(i, CapacityError("the pool filled up within the commit"))
                        results.append(first if first is not None else why)
                        continue
                    for e in commit.evictions:
                        gone = replace(evicting[e.reservation_id], state=ReservationState.EVICTED)
                        gone = replace(gone, ended_unix_s=now)
                        pools[gone.pool].used -= gone.count
                        history.append(
                            history_row(
                                now, "evicted", gone, gone.pool, -gone.count, pools[gone.pool]
                            )
                        )
                        evicted.append(Event("evicted", gone, None, commit.evict_reason))
                    request_id = commit.request.request_id if commit.request else ""
                    for r in commit.reservations:
                        pool = pools[r.pool]
                        pool.used += r.count
                        placed.append((r, request_id or r.request_id))
                        history.append(history_row(now, "placed", r, r.pool, r.count, pool))
                    results.append(commit.answer)
                if placed or evicted:
                    with conn.pipeline(), conn.cursor() as cur:
                        if evicted:
                            cur.execute(
                                "UPDATE reservations SET state = 'evicted', ended_unix_s = %s "
                                "WHERE reservation_id = ANY(%s)",
                                (now, [e.reservation.reservation_id for e in evicted]),
                            )
                        cur.executemany(INSERT, [row_of(r, rid, now) for r, rid in placed])
                        write_use(conn, pools, history)
                        events = [Event("placed", as_stored(r, rid, now)) for r, rid in placed]
                        outbox(conn, now, evicted + events)
            return results, pools

        results, pools = run(self._pool, work)
        self._remember_use(pools)
        return results

    def release(self, reservation_id: str) -> Held:
        """End a reservation; releasing an ended one returns it unchanged."""
        return self._end_one(reservation_id, ReservationState.RELEASED)

    def relocate(
        self,
        moves: Sequence[Move],
        evictions: Sequence[str],
        site_state: SiteState | None = None,
        *,
        reasons: Mapping[str, str] | None = None,
    ) -> list[Held]:
        """Atomically move and evict active reservations; returns them as they are now.

        With `site_state` the site's change and every pool's count commit in the same
        transaction (and every replica learns it: a new topology version). Capacity is
        checked on every destination and on the changed site's pools; `reasons` (by
        reservation id) go with the events into the outbox.
        """
        relocated_ids(moves, evictions)  # each reservation once
        why = dict(reasons or {})

        def work(conn: Conn) -> list[Held]:
            with conn.transaction():
                return move_and_evict(conn, moves, evictions, site_state, why)

        try:
            result = run(self._pool, work)
        finally:
            self.refresh()
        return result

    def expire(self, now_unix_s: float) -> list[Held]:
        """End due reservations; replicas sweeping at once split the work (SKIP LOCKED)."""

        def work(conn: Conn) -> list[Held]:
            with conn.transaction():
                rows = conn.execute(
                    f"SELECT {SELECTED} FROM reservations WHERE state = 'active' "
                    "AND expires_unix_s <= %s ORDER BY seq "
                    "FOR UPDATE SKIP LOCKED LIMIT %s",
                    (now_unix_s, EXPIRE_BATCH),
                ).fetchall()
                due = [record_of(row) for row in rows]
                if not due:
                    return []
                return end_reservations(conn, due, ReservationState.EXPIRED, "ttl passed")[0]

        ended = run(self._pool, work)
        self.refresh()
        return ended

    def next_expiry(self) -> float | None:
        """The earliest expiry among active reservations, if any (cached: no I/O)."""
        with self._cache_lock:
            return self._next_expiry

    def get(self, reservation_id: str) -> Held:
        """One reservation by id (NotFoundError if unknown)."""
        found = run(self._pool, lambda conn: select(conn, [reservation_id]))
        if not found:
            raise NotFoundError(f"no reservation {reservation_id!r}")
        return found[0]

    def reservations(
        self,
        *,
        site: str | None = None,
        include_ended: bool = False,
        after_seq: int = 0,
        limit: int | None = None,
        tenant: str | None = None,
    ) -> list[Held]:
        """Reservations in ledger order (oldest first), optionally of one site or tenant,
        including ended ones, after a seq and at most `limit` of them."""
        sql, args = listing(
            SELECTED,
            site=site,
            include_ended=include_ended,
            after_seq=after_seq,
            limit=limit,
            mark="%s",
            tenant=tenant,
        )
        return [record_of(row) for row in self._fetch(sql, args)]

    def forget_answers(self, before_unix_s: float) -> int:
        """Drop stored request answers older than a time; returns how many went."""

        def work(conn: Conn) -> int:
            cur = conn.execute("DELETE FROM requests WHERE created_unix_s < %s", (before_unix_s,))
            return int(cur.rowcount)

        return run(self._pool, work)

    # --- topology and site changes (shared by every replica) ----------------------------

    def site_changes(self) -> dict[str, dict[str, Any]]:
        """Every site's kept run-time changes."""
        rows = self._fetch("SELECT site, change FROM site_changes")
        return {str(site): dict(change) for site, change in rows}

    def publish_topology(self, topology: Topology) -> None:
        """Make `topology` the one every replica serves (no new version if it already is)."""
        document = topology_document(topology)

        def work(conn: Conn) -> None:
            with conn.transaction():
                row = conn.execute(
                    "SELECT document FROM topology WHERE id = 1 FOR UPDATE"
                ).fetchone()
                if row is not None and row[0] == document:
                    return
                conn.execute("UPDATE topology SET document = %s WHERE id = 1", (Jsonb(document),))
                bump_topology(conn)

        run(self._pool, work)

    def stored_topology(self) -> Topology | None:
        """The topology every replica serves, without run-time site changes."""
        rows = self._fetch("SELECT document FROM topology WHERE id = 1 AND document IS NOT NULL")
        if not rows:
            return None
        text = json.dumps(rows[0][0], sort_keys=True)
        if self._parsed is None or self._parsed[0] != text:
            self._parsed = (text, parse_topology(rows[0][0]))
        return self._parsed[1]

    @contextlib.contextmanager
    def site_lock(self, site: str) -> Iterator[None]:
        """A cluster-wide lock per site (a session advisory lock; it dies with its session)."""
        with self._pool.connection() as conn:
            conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (site,))
            try:
                yield
            finally:
                conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (site,))

    def follow(
        self,
        on_events: Callable[[Sequence[StoredEvent]], None],
        on_topology: Callable[[Topology], None],
    ) -> None:
        """Stream every replica's events and topology changes to the callbacks (a thread)."""

        def topology_changed() -> None:
            stored = self.stored_topology()
            if stored is not None:
                on_topology(stored)

        def rows(batch: Sequence[EventRow]) -> None:
            self.refresh()
            if batch:
                on_events([stored_event(*row) for row in batch])

        self._follower = Follower(self._url, self._pool, rows, topology_changed)
        self._follower.start()

    def close(self) -> None:
        """Stop following and close the connections."""
        if self._follower is not None:
            self._follower.stop()
        self._pool.close()

    # --- internals ----------------------------------------------------------------------

    def _fetch(self, sql: str, args: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        """Rows of one read-only query (outside any transaction of ours)."""

        def work(conn: Conn) -> list[tuple[Any, ...]]:
            return conn.execute(sql.encode(), args).fetchall()

        return run(self._pool, work)

    def _end_one(self, reservation_id: str, state: ReservationState) -> Held:
        def work(conn: Conn) -> tuple[Held, dict[PoolKey, PoolCount]]:
            with conn.transaction():
                found = select(conn, [reservation_id], for_update=True)
                if not found:
                    raise NotFoundError(f"no reservation {reservation_id!r}")
                if found[0].state is not ReservationState.ACTIVE:
                    return found[0], {}
                ended, pools = end_reservations(conn, found, state, "")
                return ended[0], pools

        ended, pools = run(self._pool, work)
        self._remember_use(pools)
        return ended

    def _lock_quotas(
        self, conn: Conn, commits: Sequence[Commit]
    ) -> tuple[QuotaPolicy, dict[tuple[str, str], int]] | None:
        """Lock the rows of every tenant whose holdings these commits' quota checks read
        (the governed tenants and their cohort peers); the policy and those holdings."""
        policy = self._quotas
        adding = (r.tenant for c in commits for r in c.reservations)
        involved = policy.sharing(adding) if policy is not None else set()
        if policy is None or not involved:
            return None
        lock_tenants(conn, involved)
        return policy, held_by_tenant(conn, involved)

    def _remember_use(self, pools: Mapping[PoolKey, PoolCount]) -> None:
        """Take the counts a transaction saw under its locks into the cache."""
        if not pools:
            return
        with self._cache_lock:
            for key, pool in pools.items():
                self._used[key] = pool.used
            self._free = None


LATE = "the caller's deadline passed before the commit"


def _still_wanted(commit: Commit) -> bool:
    """The caller's deadline, asked inside the transaction just before the commit."""
    return commit.wanted is None or commit.wanted()
