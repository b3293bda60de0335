"""Reservations: who holds which devices. The `Ledger` protocol and the records it keeps.

`Ledger` is the interface the engine uses; `router.state.sqlite.SqliteLedger` is the
single-node default and `router.state.postgres` the multi-replica one. Every ledger owes
its callers these obligations (the engine relies on each of them):
- durability: an acknowledged commit survives a crash (kill -9) of the process;
- capacity: checked inside the committing transaction, so concurrent callers, in any
  process, never hand out more devices than a pool has (`CapacityError` undoes a commit);
- idempotency: an answer stored under a (method, request_id) is returned instead of
  reserving again, and only for the same request body (RequestKey.body_hash; another
  body is InvalidInputError with a problem on `request_id`);
- deadlines: a Commit's `wanted` is asked inside the committing transaction, and a
  commit nobody wants any more is undone (DeadlineExceededError);
- storage trouble (full, locked, I/O) is ServiceUnavailableError with nothing written;
- quotas: with `set_quotas`, checked in the same transaction as capacity, so no tenant
  ever holds more than its quota allows (router.state.quotas);
- history: every change to a pool's devices in use is recorded with the count in use and
  the capacity after it, so "no pool was ever over its count" can be checked afterwards;
- expiry: reservations may carry an expiry; `expire` ends the due ones;
- pages: `reservations(after_seq=, limit=)` lists in one stable order and sets each
  record's `seq`, so ListReservations can continue after the last one it sent;
- run-time site changes are kept, so they outlive restarts, and are committed in the
  same transaction as the moves and evictions they cause (`relocate` with a SiteState).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from router.errors import RouterError
from router.place.filters import PoolKey
from router.state.quotas import QuotaPolicy


class ReservationState(StrEnum):
    """Whether a reservation still holds its devices."""

    ACTIVE = "active"
    RELEASED = "released"
    EVICTED = "evicted"
    EXPIRED = "expired"


@dataclass(frozen=True)
class HeldReservation:
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
    seq: int = 0
    """Its place in the ledger's order (set when read; pages continue after a seq)."""
    tenant: str = ""
    """Who holds it ("" on a server without --auth); quotas count it against them."""

    @property
    def pool(self) -> PoolKey:
        """The pool this reservation draws from."""
        return (self.site, self.pool_index)

    @property
    def accelerator(self) -> str:
        """The accelerator type it holds."""
        return str(self.details.get("accelerator", ""))


@dataclass(frozen=True)
class Move:
    """Re-place an active reservation in another pool; its id stays the same."""

    reservation_id: str
    site: str
    pool_index: int
    details: Mapping[str, Any] = field(default_factory=dict)
    # Devices on the new part (a service job's count changes with the part); None keeps it.
    count: int | None = None


@dataclass(frozen=True)
class SiteState:
    """A site's new run-time state, committed with the moves it causes (`relocate`)."""

    site: str
    change: Mapping[str, Any]
    """The site's kept run-time changes, all of them (replaces what was kept)."""
    capacity: Mapping[PoolKey, int]
    """The device count of every pool from now on (as `set_capacity`)."""


@dataclass(frozen=True)
class RequestKey:
    """An idempotency key: scoped to its method, with a canonical hash of the request body.

    The same (method, request_id) with another body_hash is the caller's mistake: the
    ledger answers InvalidInputError on `request_id` rather than the first answer.
    """

    method: str
    request_id: str
    body_hash: str


@dataclass(frozen=True)
class Commit:
    """One request's reservations (maybe none) and the answer to keep for its request.

    `wanted` is asked inside the committing transaction, after every check and just
    before the commit: False (the caller's deadline passed, or it went away) undoes the
    commit with DeadlineExceededError, so nothing is reserved for a caller who gave up.
    """

    reservations: tuple[HeldReservation, ...]
    request: RequestKey | None = None
    answer: bytes = b""
    wanted: Callable[[], bool] | None = None
    evictions: tuple[HeldReservation, ...] = ()
    """Active reservations to evict in the same transaction (quota reclaim)."""
    evict_reason: str = ""
    """Why they are evicted (kept with the events where a ledger keeps events)."""


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

    def answer(self, request: RequestKey | None) -> bytes | None:
        """The first answer stored for the request, if any (InvalidInputError if its body
        differs from the one stored under the same method and request_id)."""
        ...

    def reserve(
        self,
        reservations: Sequence[HeldReservation],
        *,
        request: RequestKey | None = None,
        answer: bytes = b"",
    ) -> bytes:
        """Commit every reservation or none; store `answer` under the request.

        Returns the answer now stored for the request: `answer` itself, or the first
        answer when the same request already committed (then nothing new is reserved).
        Raises CapacityError when a pool would be overbooked.
        """
        result = self.commit_batch([Commit(tuple(reservations), request, answer)])[0]
        if isinstance(result, RouterError):
            raise result
        return result

    def commit_batch(self, commits: Sequence[Commit]) -> list[bytes | RouterError]:
        """Many independent commits, one transaction: per commit its stored answer, or the
        error that undid it alone (CapacityError, DeadlineExceededError, InvalidInputError
        for a reused request_id).

        A commit's evictions end first; then its reservations must fit the pools and, with
        quotas set, their tenants' quotas (QuotaExceededError, a CapacityError, if not).
        """
        ...

    def set_quotas(self, policy: QuotaPolicy | None) -> None:
        """Check every commit against these tenant quotas (router.state.quotas)."""
        ...

    def usage(self, tenants: Iterable[str]) -> dict[tuple[str, str], int]:
        """Devices the tenants' active reservations hold per (tenant, accelerator type)."""
        ...

    def release(self, reservation_id: str) -> HeldReservation:
        """End a reservation; releasing an ended one returns it unchanged."""
        ...

    def relocate(
        self,
        moves: Sequence[Move],
        evictions: Sequence[str],
        site_state: SiteState | None = None,
    ) -> list[HeldReservation]:
        """Atomically move and evict active reservations; returns them as they are now.

        With `site_state`, the same transaction also keeps the site's change and sets every
        pool's capacity, and then checks the site's own pools too: a change either commits
        whole (new state, moves, evictions) or raises and changes nothing. CapacityError
        when a destination (or the changed site) would be overbooked, NotFoundError when a
        reservation is no longer active.
        """
        ...

    def get(self, reservation_id: str) -> HeldReservation:
        """One reservation by id (NotFoundError if unknown)."""
        ...

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
        including ended ones, after a seq and at most `limit` of them (ListReservations)."""
        ...

    def forget_answers(self, before_unix_s: float) -> int:
        """Drop stored request answers older than a time; returns how many went."""
        ...

    def site_changes(self) -> dict[str, dict[str, Any]]:
        """Every site's kept run-time changes."""
        ...

    def expire(self, now_unix_s: float) -> list[HeldReservation]:
        """End the active reservations whose expiry is due; returns them (state expired)."""
        ...

    def next_expiry(self) -> float | None:
        """The earliest expiry among active reservations, if any (cheap: no I/O)."""
        ...

    def close(self) -> None:
        """Release the underlying storage."""
        ...
