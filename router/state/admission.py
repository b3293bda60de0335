"""Quota admission for the engine: which candidate a governed tenant may take, or why not.

The engine proposes; the ledger re-checks the same arithmetic (router.state.quotas) inside
its committing transaction, so a proposal that raced another commit is refused there and
proposed again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from router.model.jobs import Job
from router.place.filters import PoolKey
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
    roomy: Iterator[Placement],
    quotas: QuotaPolicy | None,
    tenant: str,
    ledger: Ledger,
    free: Mapping[PoolKey, int],
) -> tuple[Placement | Unplaced | None, Admitted | None]:
    """The route for a job among placements with room (cheapest first): the first one for
    a tenant without quota; for a governed tenant, what `admit` allows (None: no room)."""
    if quotas is None or tenant not in quotas.tenants:
        return next(roomy, None), None
    usage = ledger.usage(quotas.sharing([tenant]))
    chosen = admit(quotas, tenant, roomy, usage, ledger.reservations, free)
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
    tenant: str,
    placements: Iterable[Placement],
    usage: Usage,
    active: Callable[[], Sequence[HeldReservation]],
    free: Mapping[PoolKey, int],
) -> Admitted | Unplaced | None:
    """The cheapest of `placements` (cheapest first, each with room) the tenant's quota
    allows; else the cheapest reclaim can make room for; else Unplaced with the quota's
    reason. None when no placement was offered at all."""
    offered = list(placements)
    if not offered:
        return None
    first_refusal = ""
    for placement in offered:
        why = refusal(policy, usage, tenant, placement.accelerator, placement.count)
        if why is None:
            return Admitted(placement)
        first_refusal = first_refusal or why
    held = list(active())
    holdings = [holding(h) for h in held]
    by_id = {h.reservation_id: h for h in held}
    for placement in offered:
        taken = reclaim(policy, holdings, tenant, placement.accelerator, placement.count)
        if taken:
            freed = sum(
                h.devices for h in taken if by_id[h.reservation_id].pool == _pool(placement)
            )
            if free.get(_pool(placement), 0) + freed >= placement.count:
                evicted = tuple(by_id[h.reservation_id] for h in taken)
                why = f"reclaimed by {tenant} within its nominal quota ({first_refusal})"
                return Admitted(placement, evicted, why)
    accelerator = offered[0].accelerator
    ends = next_frees(policy, holdings, tenant, accelerator)
    if ends is not None:
        first_refusal += "; next frees at " + time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime(ends))
    return Unplaced(offered[0].job, first_refusal, {"quota": 1})


def _pool(placement: Placement) -> PoolKey:
    return (placement.site, placement.pool_index)
