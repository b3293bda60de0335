"""Reservations: who holds which devices. Durable, and never hands out more than a pool has.

`Ledger` is the interface the service uses; `SqliteLedger` is the single-node default
(WAL, synchronous=FULL: an acknowledged reservation survives kill -9). Capacity is
checked inside the committing transaction (BEGIN IMMEDIATE), so concurrent callers, even
in other processes sharing the file, can never overbook a pool; a pool_use table keeps
that check O(1). A request_id table makes retried requests return their first answer
instead of reserving twice. `commit_batch` groups many independent commits into one
transaction (one fsync). Run-time site changes are kept here too, so they outlive restarts.
Every change to a pool's devices in use is appended to `history` with the count in use
and the capacity after it, so "no pool was ever over its count" can be checked from the
file afterwards (`audit`). Reservations may carry an expiry; `expire` ends the due ones.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from router.errors import (
    CapacityError,
    FieldProblem,
    InvalidInputError,
    NotFoundError,
    ServiceUnavailableError,
)

PoolKey = tuple[str, int]
"""A pool: (site name, index of the pool in the site's pool list)."""


class ReservationState(StrEnum):
    """Whether a reservation still holds its devices."""

    ACTIVE = "active"
    RELEASED = "released"
    EVICTED = "evicted"
    EXPIRED = "expired"


@dataclass(frozen=True)
class Reservation:
    """Devices held for one job: where, how many, and enough to re-place it later.

    `spec` is the job in its jobs-file shape (parse_jobs input), `details` the placement
    figures (latency, cost, ...) as plain JSON values.
    """

    reservation_id: str
    job: str
    site: str
    pool_index: int
    count: int
    spec: Mapping[str, Any] = field(default_factory=dict)
    details: Mapping[str, Any] = field(default_factory=dict)
    state: ReservationState = ReservationState.ACTIVE
    request_id: str = ""
    created_unix_s: float = 0.0
    ended_unix_s: float | None = None
    expires_unix_s: float | None = None

    @property
    def pool(self) -> PoolKey:
        """The pool this reservation draws from."""
        return (self.site, self.pool_index)


@dataclass(frozen=True)
class Move:
    """Re-place an active reservation in another pool; its id stays the same."""

    reservation_id: str
    site: str
    pool_index: int
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Commit:
    """One request's reservations (maybe none) and the answer to keep for its request_id."""

    reservations: tuple[Reservation, ...]
    request_id: str = ""
    answer: bytes = b""


class Ledger(Protocol):
    """Durable reservations with a capacity check at commit time."""

    def set_capacity(self, capacity: Mapping[PoolKey, int]) -> None:
        """Replace the device count of every pool (pools not listed have none)."""
        ...

    def capacity(self) -> dict[PoolKey, int]:
        """Device count of every pool."""
        ...

    def free(self) -> Mapping[PoolKey, int]:
        """Devices not held by active reservations, per pool (never negative; read-only)."""
        ...

    def answer(self, request_id: str) -> bytes | None:
        """The first answer stored for request_id, if any."""
        ...

    def remember(self, request_id: str, answer: bytes) -> bytes:
        """Store an answer that reserved nothing; returns the first answer for request_id."""
        ...

    def reserve(
        self, reservations: Sequence[Reservation], *, request_id: str = "", answer: bytes = b""
    ) -> bytes:
        """Commit every reservation or none; store `answer` under request_id.

        Returns the answer now stored for request_id: `answer` itself, or the first
        answer when the same request already committed (then nothing new is reserved).
        Raises CapacityError when a pool would be overbooked.
        """
        ...

    def commit_batch(self, commits: Sequence[Commit]) -> list[bytes | CapacityError]:
        """Many independent commits, one transaction: an answer or CapacityError each."""
        ...

    def release(self, reservation_id: str) -> Reservation:
        """End a reservation; releasing an ended one returns it unchanged."""
        ...

    def relocate(
        self,
        moves: Sequence[Move],
        evictions: Sequence[str],
        *,
        reasons: Mapping[str, str] | None = None,
    ) -> list[Reservation]:
        """Atomically move and evict active reservations; returns them as they are now.

        `reasons` (by reservation id) go with the events where the ledger keeps them.
        """
        ...

    def get(self, reservation_id: str) -> Reservation:
        """One reservation by id (NotFoundError if unknown)."""
        ...

    def reservations(
        self, *, site: str | None = None, include_ended: bool = False
    ) -> list[Reservation]:
        """Reservations, oldest first, optionally of one site and including ended ones."""
        ...

    def forget_answers(self, before_unix_s: float) -> int:
        """Drop stored request answers older than a time; returns how many went."""
        ...

    def save_site_change(self, site: str, change: Mapping[str, Any]) -> None:
        """Keep the changes made to a site at run time (they outlive restarts)."""
        ...

    def site_changes(self) -> dict[str, dict[str, Any]]:
        """Every site's kept run-time changes."""
        ...

    def expire(self, now_unix_s: float) -> list[Reservation]:
        """End the active reservations whose expiry is due; returns them (state expired)."""
        ...

    def next_expiry(self) -> float | None:
        """The earliest expiry among active reservations, if any (cheap: no I/O)."""
        ...

    def close(self) -> None:
        """Release the underlying storage."""
        ...


_SCHEMA = """
CREATE TABLE IF NOT EXISTS pools (
    site TEXT NOT NULL,
    pool_index INTEGER NOT NULL,
    capacity INTEGER NOT NULL CHECK (capacity >= 0),
    PRIMARY KEY (site, pool_index)
);
CREATE TABLE IF NOT EXISTS reservations (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    reservation_id TEXT NOT NULL UNIQUE,
    job TEXT NOT NULL,
    site TEXT NOT NULL,
    pool_index INTEGER NOT NULL,
    count INTEGER NOT NULL CHECK (count > 0),
    spec TEXT NOT NULL,
    details TEXT NOT NULL,
    state TEXT NOT NULL,
    request_id TEXT NOT NULL,
    created_unix_s REAL NOT NULL,
    ended_unix_s REAL,
    expires_unix_s REAL
);
CREATE INDEX IF NOT EXISTS reservations_active ON reservations (state, site, pool_index);
CREATE TABLE IF NOT EXISTS history (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    time_unix_s REAL NOT NULL,
    event TEXT NOT NULL,
    reservation_id TEXT NOT NULL,
    site TEXT NOT NULL,
    pool_index INTEGER NOT NULL,
    delta INTEGER NOT NULL,
    used_after INTEGER NOT NULL,
    capacity INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS pool_use (
    site TEXT NOT NULL,
    pool_index INTEGER NOT NULL,
    used INTEGER NOT NULL,
    PRIMARY KEY (site, pool_index)
);
CREATE TABLE IF NOT EXISTS site_changes (
    site TEXT PRIMARY KEY,
    change TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS requests (
    request_id TEXT PRIMARY KEY,
    answer BLOB NOT NULL,
    created_unix_s REAL NOT NULL
);
"""

_COLUMNS = (
    "reservation_id, job, site, pool_index, count, spec, details, state, request_id, "
    "created_unix_s, ended_unix_s, expires_unix_s"
)


class SqliteLedger:
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
        with self._lock:
            _migrate(self._db)
            self._db.executescript(_SCHEMA)
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
        bad = [
            FieldProblem(f"{site}.pools[{index}].count", f"must be >= 0, got {count}")
            for (site, index), count in capacity.items()
            if count < 0
        ]
        if bad:
            raise InvalidInputError(bad)
        with self._lock, self._transaction():
            self._db.execute("DELETE FROM pools")
            self._db.executemany(
                "INSERT INTO pools (site, pool_index, capacity) VALUES (?, ?, ?)",
                [(site, index, int(count)) for (site, index), count in capacity.items()],
            )
        with self._lock:
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
                self._free = {
                    key: max(0, count - self._used.get(key, 0))
                    for key, count in self._capacity.items()
                }
            return self._free

    # --- idempotency ----------------------------------------------------------------

    def answer(self, request_id: str) -> bytes | None:
        """The first answer stored for request_id, if any."""
        if not request_id:
            return None
        with self._lock:
            return self._stored_answer(request_id)

    def remember(self, request_id: str, answer: bytes) -> bytes:
        """Store an answer that reserved nothing; returns the first answer for request_id."""
        if not request_id:
            return answer
        result = self.commit_batch([Commit((), request_id, answer)])[0]
        assert isinstance(result, bytes)  # reserving nothing cannot overbook
        return result

    # --- reservations ---------------------------------------------------------------

    def reserve(
        self, reservations: Sequence[Reservation], *, request_id: str = "", answer: bytes = b""
    ) -> bytes:
        """Commit every reservation or none; store `answer` under request_id.

        Returns the answer now stored for request_id: `answer` itself, or the first
        answer when the same request already committed (then nothing new is reserved).
        Raises CapacityError when a pool would be overbooked.
        """
        result = self.commit_batch([Commit(tuple(reservations), request_id, answer)])[0]
        if isinstance(result, CapacityError):
            raise result
        return result

    def commit_batch(self, commits: Sequence[Commit]) -> list[bytes | CapacityError]:
        """Several independent commits in one transaction and one fsync (group commit).

        Each commit succeeds or fails alone (a savepoint each), exactly as `reserve` would
        one after the other; the result per commit is its stored answer or CapacityError.
        """
        now = time.time()
        results: list[bytes | CapacityError] = []
        added: list[Reservation] = []
        with self._lock:
            with self._transaction():
                for commit in commits:
                    self._db.execute("SAVEPOINT one")
                    try:
                        results.append(self._apply(commit, now))
                    except CapacityError as exc:
                        self._db.execute("ROLLBACK TO one")
                        results.append(exc)
                    else:
                        if results[-1] is commit.answer:
                            added += commit.reservations
                    self._db.execute("RELEASE one")
            if any(isinstance(r, CapacityError) for r in results):
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
        """One commit inside the open transaction; raises CapacityError to undo it."""
        if commit.request_id:
            inserted = self._db.execute(
                "INSERT OR IGNORE INTO requests (request_id, answer, created_unix_s) "
                "VALUES (?, ?, ?)",
                (commit.request_id, commit.answer, now),
            ).rowcount
            if not inserted:  # the same request committed before: its first answer stands
                first = self._stored_answer(commit.request_id)
                assert first is not None
                return first
        if commit.reservations:
            self._db.executemany(
                f"INSERT INTO reservations ({_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [_row(r, commit.request_id, now) for r in commit.reservations],
            )
            for r in commit.reservations:
                self._use(r.pool, r.count, "placed", r.reservation_id)
            self._check_capacity({r.pool for r in commit.reservations})
        return commit.answer

    def release(self, reservation_id: str) -> Reservation:
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
        *,
        reasons: Mapping[str, str] | None = None,
    ) -> list[Reservation]:
        """Atomically move and evict active reservations; returns them as they are now.

        `reasons` are not kept (the engine publishes events itself). Capacity is checked
        on every destination pool; a pool that stays overbooked after the change (its
        devices shrank) is the caller's to resolve.
        """
        ids = [m.reservation_id for m in moves] + list(evictions)
        if len(set(ids)) != len(ids):
            raise ValueError("a reservation can be moved or evicted only once per change")
        with self._lock:
            try:
                with self._transaction():
                    before = {rid: self._get(rid) for rid in ids}
                    for rid, held in before.items():
                        if held.state is not ReservationState.ACTIVE:
                            raise NotFoundError(f"reservation {rid} is not active")
                        kind = "evicted" if rid in evictions else "moved"
                        self._use(held.pool, -held.count, kind, rid)
                    for move in moves:
                        rid = move.reservation_id
                        self._use((move.site, move.pool_index), before[rid].count, "moved", rid)
                        self._db.execute(
                            "UPDATE reservations SET site = ?, pool_index = ?, details = ? "
                            "WHERE reservation_id = ?",
                            (move.site, move.pool_index, _dump(move.details), move.reservation_id),
                        )
                    for rid in evictions:
                        self._end(rid, ReservationState.EVICTED)
                    self._check_capacity({(m.site, m.pool_index) for m in moves})
                    result = [self._get(rid) for rid in ids]
            finally:
                self._refresh()
        return result

    def expire(self, now_unix_s: float) -> list[Reservation]:
        """End the active reservations whose expiry is due; returns them (state expired).

        Abandoned reservations give their devices back this way: a client that never
        releases loses its hold at `expires_unix_s`.
        """
        with self._lock:
            with self._transaction():
                rows = self._db.execute(
                    f"SELECT {_COLUMNS} FROM reservations WHERE state = ? "
                    "AND expires_unix_s IS NOT NULL AND expires_unix_s <= ? ORDER BY seq",
                    (ReservationState.ACTIVE.value, now_unix_s),
                ).fetchall()
                due = [_reservation(row) for row in rows]
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

    def get(self, reservation_id: str) -> Reservation:
        """One reservation by id (NotFoundError if unknown)."""
        with self._lock:
            return self._get(reservation_id)

    def reservations(
        self, *, site: str | None = None, include_ended: bool = False
    ) -> list[Reservation]:
        """Reservations, oldest first, optionally of one site and including ended ones."""
        where: list[str] = []
        args: list[object] = []
        if not include_ended:
            where.append("state = ?")
            args.append(ReservationState.ACTIVE.value)
        if site is not None:
            where.append("site = ?")
            args.append(site)
        sql = f"SELECT {_COLUMNS} FROM reservations"
        if where:
            sql += " WHERE " + " AND ".join(where)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY seq", args).fetchall()
        return [_reservation(row) for row in rows]

    def forget_answers(self, before_unix_s: float) -> int:
        """Drop stored request answers older than a time; returns how many went.

        A retry after that gets a fresh answer, so keep them longer than any client retries.
        """
        with self._lock, self._transaction():
            gone = self._db.execute(
                "DELETE FROM requests WHERE created_unix_s < ?", (before_unix_s,)
            ).rowcount
        return int(gone)

    def save_site_change(self, site: str, change: Mapping[str, Any]) -> None:
        """Keep the changes made to a site at run time (they outlive restarts)."""
        with self._lock, self._transaction():
            self._db.execute(
                "INSERT INTO site_changes (site, change) VALUES (?, ?) "
                "ON CONFLICT (site) DO UPDATE SET change = excluded.change",
                (site, _dump(change)),
            )

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

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)

    def _stored_answer(self, request_id: str) -> bytes | None:
        row = self._db.execute(
            "SELECT answer FROM requests WHERE request_id = ?", (request_id,)
        ).fetchone()
        return None if row is None else bytes(row[0])

    def _get(self, reservation_id: str) -> Reservation:
        row = self._db.execute(
            f"SELECT {_COLUMNS} FROM reservations WHERE reservation_id = ?", (reservation_id,)
        ).fetchone()
        if row is None:
            raise NotFoundError(f"no reservation {reservation_id!r}")
        return _reservation(row)

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
        self._db.execute("ROLLBACK" if exc_type is not None else "COMMIT")


def _dump(value: Mapping[str, Any]) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _row(r: Reservation, request_id: str, now: float) -> tuple[object, ...]:
    return (
        r.reservation_id,
        r.job,
        r.site,
        r.pool_index,
        r.count,
        _dump(r.spec),
        _dump(r.details),
        ReservationState.ACTIVE.value,
        request_id or r.request_id,
        now,
        None,
        r.expires_unix_s,
    )


def _reservation(row: tuple[Any, ...]) -> Reservation:
    (rid, job, site, index, count, spec, details, state, request_id, created, ended, expires) = row
    return Reservation(
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
    )


def _migrate(db: sqlite3.Connection) -> None:
    """Bring a state file written by an older version up to this schema (adds columns)."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(reservations)")}
    if columns and "expires_unix_s" not in columns:
        db.execute("ALTER TABLE reservations ADD COLUMN expires_unix_s REAL")


@dataclass(frozen=True)
class Audit:
    """What a state file proves about its own history (see `audit`)."""

    changes: int
    """History rows replayed."""
    overbooked: list[str]
    """Changes that added devices to a pool and left it over the capacity it had then."""
    mismatched: list[str]
    """Pools whose replayed use differs from the recorded one, or from the live rows."""
    active: int
    """Active reservations now."""


def audit(path: str | Path) -> Audit:
    """Replay a state file's history independently of the ledger's own bookkeeping.

    Every grant (a change adding devices to a pool) must leave the pool at or under the
    capacity it had at that moment; the running sum of deltas must match what each row
    recorded; and the final sums must equal the devices held by active reservations.
    It only reads (its own connection, so it is safe while a server runs, and after a
    crash it sees exactly what a restarted server would: SQLite replays the WAL).
    """
    if not Path(path).is_file():
        raise NotFoundError(f"no state file {path}")
    db = sqlite3.connect(str(path))
    try:
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
                mismatched.append(
                    f"#{seq} {site}/{index}: replayed {running[key]}, row {used_after}"
                )
            if int(delta) > 0 and running[key] > int(capacity):
                overbooked.append(
                    f"#{seq} {event} {rid}: {site}/{index} at {running[key]} of {capacity}"
                )
        held = {
            (str(site), int(index)): int(total)
            for site, index, total in db.execute(
                "SELECT site, pool_index, SUM(count) FROM reservations WHERE state = ? "
                "GROUP BY site, pool_index",
                (ReservationState.ACTIVE.value,),
            )
        }
        for key in sorted(set(held) | {k for k, v in running.items() if v}):
            if held.get(key, 0) != running.get(key, 0):
                mismatched.append(
                    f"{key[0]}/{key[1]}: history sums to {running.get(key, 0)}, "
                    f"active reservations hold {held.get(key, 0)}"
                )
        (active,) = db.execute(
            "SELECT COUNT(*) FROM reservations WHERE state = ?", (ReservationState.ACTIVE.value,)
        ).fetchone()
    finally:
        db.close()
    return Audit(len(rows), overbooked, mismatched, int(active))
