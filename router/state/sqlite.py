"""The embedded single-node ledger: one SQLite file (WAL, synchronous=FULL).

An acknowledged reservation survives kill -9. Capacity is checked inside the committing
transaction (BEGIN IMMEDIATE), so concurrent callers, even in other processes sharing the
file, can never overbook a pool; a pool_use table keeps that check O(1). `commit_batch`
groups many independent commits into one transaction (one fsync).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from router.errors import (
    CapacityError,
    DeadlineExceededError,
    InvalidInputError,
    NotFoundError,
    QuotaExceededError,
    RouterError,
    ServiceUnavailableError,
)
from router.place.filters import PoolKey
from router.state.ledger import (
    Commit,
    HeldReservation,
    Ledger,
    Move,
    RequestKey,
    ReservationState,
    SiteState,
)
from router.state.quotas import QuotaPolicy
from router.state.records import checked_counts, free_counts, relocated_ids
from router.state.sqlite_quotas import held_by_tenant, quota_refusal
from router.state.sqlite_rows import (
    COLUMNS,
    INSERT,
    dump,
    first_answer,
    listing,
    record_of,
    row_of,
    stored_request_id,
)
from router.state.sqlite_schema import migrate


class SqliteLedger(Ledger):
    """The embedded single-node ledger: one SQLite file in WAL mode, synchronous=FULL.

    One connection guarded by a lock serves all threads of the process; other processes
    may share the file (BEGIN IMMEDIATE serialises writers). Free counts are cached in
    memory and refreshed from the file whenever a commit finds them stale.
    """

    def __init__(self, path: str | Path, *, busy_timeout_ms: int = 5000) -> None:
        self._path = str(path)
        self._lock = threading.Lock()  # the connection
        self._cache_lock = threading.Lock()  # the free-count cache; never held during I/O
        self._db = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        self._capacity: dict[PoolKey, int] = {}
        self._used: dict[PoolKey, int] = {}
        self._free: dict[PoolKey, int] | None = None  # snapshot; None: rebuild on next read
        self._next_expiry: float | None = None
        self._quotas: QuotaPolicy | None = None
        with self._lock:
            migrate(self._db)
            with self._transaction():  # devices in use per pool, recounted from the rows
                self._db.execute("DELETE FROM pool_use")
                self._db.execute(
                    "INSERT INTO pool_use (site, pool_index, used) "
                    "SELECT site, pool_index, SUM(count) FROM reservations WHERE state = ? "
                    "GROUP BY site, pool_index",
                    (ReservationState.ACTIVE.value,),
                )
            self._refresh()

    # --- capacity -------------------------------------------------------------------

    def set_capacity(self, capacity: Mapping[PoolKey, int]) -> None:
        """Replace the device count of every pool (pools not listed have none)."""
        checked_counts(capacity)
        with self._lock:
            with self._transaction():
                self._write_capacity(capacity)
            self._refresh()

    def capacity(self) -> dict[PoolKey, int]:
        """Device count of every pool."""
        with self._cache_lock:
            return dict(self._capacity)

    def free(self) -> Mapping[PoolKey, int]:
        """Devices not held by active reservations, per pool (never negative).

        A snapshot rebuilt after each change, so the hot path (Route) reads it for free;
        callers must not mutate it.
        """
        with self._cache_lock:
            if self._free is None:
                self._free = free_counts(self._capacity, self._used)
            return self._free

    # --- idempotency ----------------------------------------------------------------

    def answer(self, request: RequestKey | None) -> bytes | None:
        """The first answer stored for the request, if any (InvalidInputError if the same
        method and request_id came with another body)."""
        if request is None or not request.request_id:
            return None
        with self._lock:
            return self._stored_answer(request)

    # --- reservations ---------------------------------------------------------------

    def commit_batch(self, commits: Sequence[Commit]) -> list[bytes | RouterError]:
        """Several independent commits in one transaction and one fsync (group commit).

        Each commit succeeds or fails alone (a savepoint each), exactly as `reserve` would
        one after the other; the result per commit is its stored answer or its error.
        """
        now = time.time()
        results: list[bytes | RouterError] = []
        added: list[HeldReservation] = []
        with self._lock:
            with self._transaction():
                for commit in commits:
                    self._db.execute("SAVEPOINT one")
                    try:
                        results.append(self._apply(commit, now))
                    except (CapacityError, DeadlineExceededError, InvalidInputError) as exc:
                        self._db.execute("ROLLBACK TO one")
                        results.append(exc)
                    else:
                        if results[-1] is commit.answer:
                            added += commit.reservations
                    self._db.execute("RELEASE one")
            if any(isinstance(r, RouterError) for r in results) or any(
                c.evictions for c in commits
            ):
                self._refresh()
            else:
                with self._cache_lock:
                    for r in added:
                        self._used[r.pool] = self._used.get(r.pool, 0) + r.count
                        if r.expires_unix_s is not None:
                            self._next_expiry = min(
                                r.expires_unix_s, self._next_expiry or r.expires_unix_s
                            )
                    self._free = None
        return results

    def _apply(self, commit: Commit, now: float) -> bytes:
        """One commit inside the open transaction; raises to undo it (back to its savepoint)."""
        request = commit.request if commit.request and commit.request.request_id else None
        if request is not None:
            inserted = self._db.execute(
                "INSERT OR IGNORE INTO requests (request_id, body_hash, answer, created_unix_s) "
                "VALUES (?, ?, ?, ?)",
                (stored_request_id(request), request.body_hash, commit.answer, now),
            ).rowcount
            if not inserted:  # the same request committed before: its first answer stands
                first = self._stored_answer(request)
                assert first is not None
                return first
        for evicted in commit.evictions:
            rid = evicted.reservation_id
            held = self._get(rid)
            if held.state is not ReservationState.ACTIVE:
                raise CapacityError(f"reservation {rid} to evict is no longer active")
            self._end(rid, ReservationState.EVICTED)
            self._use(held.pool, -held.count, "evicted", rid)
        why = quota_refusal(self._db, self._quotas, commit.reservations)
        if why is not None:
            raise QuotaExceededError(why)
        if commit.reservations:
            request_id = request.request_id if request is not None else ""
            self._db.executemany(
                INSERT,
                [row_of(r, request_id, now) for r in commit.reservations],
            )
            for r in commit.reservations:
                self._use(r.pool, r.count, "placed", r.reservation_id)
            self._check_capacity({r.pool for r in commit.reservations})
        if commit.wanted is not None and not commit.wanted():
            raise DeadlineExceededError("the caller's deadline passed before the commit")
        return commit.answer

    def set_quotas(self, policy: QuotaPolicy | None) -> None:
        """Check every commit against these tenant quotas from now on (None: no quotas)."""
        self._quotas = policy

    def usage(self, tenants: Iterable[str]) -> dict[tuple[str, str], int]:
        """Devices the tenants' active reservations hold per (tenant, accelerator type)."""
        with self._lock:
            return held_by_tenant(self._db, tenants)

    def release(self, reservation_id: str) -> HeldReservation:
        """End a reservation; releasing an ended one returns it unchanged."""
        with self._lock:
            with self._transaction():
                current = self._get(reservation_id)
                if current.state is not ReservationState.ACTIVE:
                    return current
                self._end(reservation_id, ReservationState.RELEASED)
                self._use(current.pool, -current.count, "released", reservation_id)
                ended = self._get(reservation_id)
            with self._cache_lock:
                self._used[current.pool] = self._used.get(current.pool, 0) - current.count
                self._free = None
            return ended

    def relocate(
        self,
        moves: Sequence[Move],
        evictions: Sequence[str],
        site_state: SiteState | None = None,
    ) -> list[HeldReservation]:
        """Atomically move and evict active reservations; returns them as they are now.

        Capacity is checked on every destination pool, and with `site_state` (kept and
        applied in the same transaction) on the changed site's pools too. Without it, a
        pool that stays overbooked after the change is the caller's to resolve.
        """
        ids = relocated_ids(moves, evictions)
        checked = {(m.site, m.pool_index) for m in moves}
        with self._lock:
            try:
                with self._transaction():
                    if site_state is not None:
                        self._write_site_state(site_state)
                        checked |= {k for k in site_state.capacity if k[0] == site_state.site}
                    before = {rid: self._get(rid) for rid in ids}
                    for rid, held in before.items():
                        if held.state is not ReservationState.ACTIVE:
                            raise NotFoundError(f"reservation {rid} is not active")
                        kind = "evicted" if rid in evictions else "moved"
                        self._use(held.pool, -held.count, kind, rid)
                    for move in moves:
                        rid = move.reservation_id
                        count = before[rid].count if move.count is None else move.count
                        self._use((move.site, move.pool_index), count, "moved", rid)
                        self._db.execute(
                            "UPDATE reservations SET site = ?, pool_index = ?, count = ?, "
                            "details = ? WHERE reservation_id = ?",
                            (move.site, move.pool_index, count, dump(move.details), rid),
                        )
                    for rid in evictions:
                        self._end(rid, ReservationState.EVICTED)
                    self._check_capacity(checked)
                    result = [self._get(rid) for rid in ids]
            finally:
                self._refresh()
        return result

    def _write_site_state(self, state: SiteState) -> None:
        """Keep a site's change and set every pool's capacity (inside the transaction)."""
        self._db.execute(
            "INSERT INTO site_changes (site, change) VALUES (?, ?) "
            "ON CONFLICT (site) DO UPDATE SET change = excluded.change",
            (state.site, dump(state.change)),
        )
        self._write_capacity(state.capacity)

    def expire(self, now_unix_s: float) -> list[HeldReservation]:
        """End the active reservations whose expiry is due; returns them (state expired).

        Abandoned reservations give their devices back this way: a client that never
        releases loses its hold at `expires_unix_s`.
        """
        with self._lock:
            with self._transaction():
                rows = self._db.execute(
                    f"SELECT {COLUMNS}, seq FROM reservations WHERE state = ? "
                    "AND expires_unix_s IS NOT NULL AND expires_unix_s <= ? ORDER BY seq",
                    (ReservationState.ACTIVE.value, now_unix_s),
                ).fetchall()
                due = [record_of(row) for row in rows]
                for r in due:
                    self._end(r.reservation_id, ReservationState.EXPIRED)
                    self._use(r.pool, -r.count, "expired", r.reservation_id)
                ended = [self._get(r.reservation_id) for r in due]
            self._refresh()
        return ended

    def next_expiry(self) -> float | None:
        """The earliest expiry among active reservations, if any (cheap: no I/O)."""
        with self._cache_lock:
            return self._next_expiry

    def get(self, reservation_id: str) -> HeldReservation:
        """One reservation by id (NotFoundError if unknown)."""
        with self._lock:
            return self._get(reservation_id)

    def reservations(
        self,
        *,
        site: str | None = None,
        include_ended: bool = False,
        after_seq: int = 0,
        limit: int | None = None,
        tenant: str | None = None,
    ) -> list[HeldReservation]:
        """Reservations in ledger order (oldest first), optionally of one site or tenant,
        including ended ones, after a seq and at most `limit` of them."""
        sql, args = listing(
            f"{COLUMNS}, seq",
            site=site,
            include_ended=include_ended,
            after_seq=after_seq,
            limit=limit,
            tenant=tenant,
        )
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [record_of(row) for row in rows]

    def forget_answers(self, before_unix_s: float) -> int:
        """Drop stored request answers older than a time; returns how many went.

        A retry after that gets a fresh answer, so keep them longer than any client retries.
        """
        with self._lock, self._transaction():
            gone = self._db.execute(
                "DELETE FROM requests WHERE created_unix_s < ?", (before_unix_s,)
            ).rowcount
        return int(gone)

    def site_changes(self) -> dict[str, dict[str, Any]]:
        """Every site's kept run-time changes."""
        with self._lock:
            rows = self._db.execute("SELECT site, change FROM site_changes").fetchall()
        return {site: json.loads(change) for site, change in rows}

    def close(self) -> None:
        """Close the database file."""
        with self._lock:
            self._db.close()

    # --- internals (caller holds the lock) ---------------------------------------------

    def _write_capacity(self, capacity: Mapping[PoolKey, int]) -> None:
        self._db.execute("DELETE FROM pools")
        self._db.executemany(
            "INSERT INTO pools (site, pool_index, capacity) VALUES (?, ?, ?)",
            [(site, index, int(count)) for (site, index), count in capacity.items()],
        )

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)

    def _stored_answer(self, request: RequestKey) -> bytes | None:
        row = self._db.execute(
            "SELECT answer, body_hash FROM requests WHERE request_id = ?",
            (stored_request_id(request),),
        ).fetchone()
        return first_answer(None if row is None else (bytes(row[0]), str(row[1])), request)

    def _get(self, reservation_id: str) -> HeldReservation:
        row = self._db.execute(
            f"SELECT {COLUMNS}, seq FROM reservations WHERE reservation_id = ?", (reservation_id,)
        ).fetchone()
        if row is None:
            raise NotFoundError(f"no reservation {reservation_id!r}")
        return record_of(row)

    def _end(self, reservation_id: str, state: ReservationState) -> None:
        self._db.execute(
            "UPDATE reservations SET state = ?, ended_unix_s = ? WHERE reservation_id = ?",
            (state.value, time.time(), reservation_id),
        )

    def _use(self, pool: PoolKey, delta: int, event: str, reservation_id: str) -> None:
        """Add `delta` devices to a pool's count in use and log it (inside the transaction).

        The history row records the count in use and the capacity right after the change;
        rows of a rolled-back change vanish with it, so history holds committed facts only.
        """
        self._db.execute(
            "INSERT INTO pool_use (site, pool_index, used) VALUES (?, ?, ?) "
            "ON CONFLICT (site, pool_index) DO UPDATE SET used = used + excluded.used",
            (pool[0], pool[1], delta),
        )
        self._db.execute(
            "INSERT INTO history (time_unix_s, event, reservation_id, site, pool_index, delta, "
            "used_after, capacity) SELECT ?, ?, ?, ?, ?, ?, "
            "(SELECT used FROM pool_use WHERE site = ? AND pool_index = ?), "
            "COALESCE((SELECT capacity FROM pools WHERE site = ? AND pool_index = ?), 0)",
            (time.time(), event, reservation_id, *pool, delta, *pool, *pool),
        )

    def _check_capacity(self, pools: Iterable[PoolKey]) -> None:
        """Raise CapacityError if any of the pools is overbooked (inside the transaction)."""
        for site, index in sorted(pools):
            capacity, used = self._db.execute(
                "SELECT"
                " COALESCE((SELECT capacity FROM pools WHERE site = ?1 AND pool_index = ?2), 0),"
                " COALESCE((SELECT used FROM pool_use WHERE site = ?1 AND pool_index = ?2), 0)",
                (site, index),
            ).fetchone()
            if used > capacity:
                raise CapacityError(
                    f"pool {index} of site {site} would hold {used} devices, it has {capacity}"
                )

    def _refresh(self) -> None:
        """Reload capacities and usage from the file (other processes may have written)."""
        capacity = {
            (site, index): int(cap)
            for site, index, cap in self._db.execute("SELECT site, pool_index, capacity FROM pools")
        }
        used = {
            (site, index): int(used)
            for site, index, used in self._db.execute("SELECT site, pool_index, used FROM pool_use")
        }
        row = self._db.execute(
            "SELECT MIN(expires_unix_s) FROM reservations WHERE state = ?",
            (ReservationState.ACTIVE.value,),
        ).fetchone()
        with self._cache_lock:
            self._capacity, self._used, self._free = capacity, used, None
            self._next_expiry = None if row is None or row[0] is None else float(row[0])


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK when the block raises."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:  # another process held the lock too long
            raise ServiceUnavailableError(f"the ledger is busy ({exc}); try again") from None

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        failure = exc if isinstance(exc, sqlite3.Error) else None
        if exc_type is None:
            try:
                self._db.execute("COMMIT")
                return
            except sqlite3.Error as commit_failure:
                failure = commit_failure
        with contextlib.suppress(sqlite3.Error):  # SQLite may have rolled back already
            self._db.execute("ROLLBACK")
        if failure is not None:  # disk full, locked, I/O: retryable, and nothing was written
            raise ServiceUnavailableError(
                f"the ledger could not write ({failure}); nothing changed, try again"
            ) from None
