"""Quota admission for the engine: which candidate a governed tenant may take, or why not.

The engine proposes; the ledger re-checks the same arithmetic (router.state.quotas) inside
its committing transaction, so a proposal that raced another commit is refused there and
proposed again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from router.model.jobs import Job
from router.place.filters import Candidate
from router.results import Placement, Unplaced
from router.state.ledger import HeldReservation, Ledger
from router.state.quotas import (
    BatchQuotas,
    Holding,
    QuotaPolicy,
    Usage,
    next_frees,
    reclaim,
    refusal,
)


@dataclass(frozen=True)
class Admitted:
    """The placement chosen for a governed tenant, and what reclaim evicts for it."""

    placement: Placement
    evictions: tuple[HeldReservation, ...] = ()
    reason: str = ""
    """The evictions' reason: the reclaiming tenant and the refusal they cleared."""


def choose(
    job: Job,
    roomy: Iterator[Candidate],
    quotas: QuotaPolicy | None,
    ledger: Ledger,
    place: Callable[[Candidate], Placement],
) -> tuple[Placement | Unplaced | None, Admitted | None]:
    """The route for a job among candidates with room (cheapest first): the first one for
    a tenant without quota; for a governed tenant, what `admit` allows (None: no room)."""
    if quotas is None or job.tenant not in quotas.tenants:
        first = next(roomy, None)
        return (None if first is None else place(first)), None
    usage = ledger.usage(quotas.sharing([job.tenant]))
    chosen = admit(quotas, job, roomy, usage, ledger, place)
    if isinstance(chosen, Admitted):
        return chosen.placement, chosen
    return chosen, None


def batch_quotas(
    quotas: QuotaPolicy | None, ledger: Ledger, jobs: Sequence[Job]
) -> BatchQuotas | None:
    """The quotas of a batch's tenants as solver constraints (None: no job has a quota)."""
    if quotas is None or not any(job.tenant in quotas.tenants for job in jobs):
        return None
    return BatchQuotas(quotas, ledger.usage(quotas.sharing(job.tenant for job in jobs)))


def holding(held: HeldReservation) -> Holding:
    """A ledger record as quotas see it."""
    return Holding(
        held.reservation_id,
        held.tenant,
        held.accelerator,
        held.count,
        held.created_unix_s,
        held.expires_unix_s,
    )


def admit(
    policy: QuotaPolicy,
    job: Job,
    candidates: Iterable[Candidate],
    usage: Usage,
    ledger: Ledger,
    place: Callable[[Candidate], Placement],
) -> Admitted | Unplaced | None:
    """The cheapest candidate (each with room) the tenant's quota allows; else the cheapest
    reclaim can make room for; else Unplaced with the quota's reason. None when no
    candidate was offered at all. Each accelerator type is judged once."""
    offered: list[Candidate] = []
    refused: dict[str, str] = {}  # accelerator type -> why not
    for candidate in candidates:
        kind = candidate.accelerator.name
        if kind not in refused:
            why = refusal(policy, usage, job.tenant, kind, candidate.cost.devices)
            if why is None:
                return Admitted(place(candidate))
            refused[kind] = why
        offered.append(candidate)
    if not offered:
        return None
    first_refusal = refused[offered[0].accelerator.name]
    held = ledger.reservations()
    holdings = [holding(h) for h in held]
    by_id = {h.reservation_id: h for h in held}
    free = ledger.free()
    for candidate in offered:
        need = candidate.cost.devices
        taken = reclaim(policy, holdings, job.tenant, candidate.accelerator.name, need)
        if taken:
            pool = (candidate.site.name, candidate.pool_index)
            freed = sum(h.devices for h in taken if by_id[h.reservation_id].pool == pool)
            if free.get(pool, 0) + freed >= need:
                evicted = tuple(by_id[h.reservation_id] for h in taken)
                why = f"reclaimed by {job.tenant} within its nominal quota ({first_refusal})"
                return Admitted(place(candidate), evicted, why)
    ends = next_frees(policy, holdings, job.tenant, offered[0].accelerator.name)
    if ends is not None:
        first_refusal += "; next frees at " + time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime(ends))
    return Unplaced(job.name, first_refusal, {"quota": 1})
