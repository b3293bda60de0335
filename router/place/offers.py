"""The market view of one job: every feasible offer, best first by the job's preference,
and (on request) every rejected (site, pool) with its reason.

Route buys the first offer with room; `westward offers` and the ListOffers RPC show them all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from router.model.jobs import Job
from router.place.costs import effective_price
from router.place.explain import reason_text
from router.place.filters import Candidate, Context, candidate_at, pool_verdicts


@dataclass(frozen=True, slots=True)
class Offer:
    """A pool that can run the job: what it takes there and what it costs."""

    site: str
    hub: str
    zone: str
    provider: str
    pool_index: int
    accelerator: str
    devices: int
    run_hours: float
    latency_ms: float
    cost_cny: float
    cny_per_pflop_hour: float
    free_devices: int


@dataclass(frozen=True, slots=True)
class Rejected:
    """A pool that cannot run the job, and why."""

    site: str
    pool_index: int
    reason: str


@dataclass(frozen=True, slots=True)
class JobOffers:
    """One job's offers, best first, and the pools that were rejected."""

    job: str
    offers: tuple[Offer, ...]
    rejected: tuple[Rejected, ...]


def preference_key(job: Job, candidate: Candidate) -> tuple[float, float, str, int]:
    """How offers rank for `job`: by cost then latency (prefer: cheapest, the default), or
    by latency then cost (lowest_latency); then by name, so the order is deterministic."""
    cost, latency = candidate.cost.cost_cny, candidate.path.latency_ms
    first, second = (latency, cost) if job.prefer == "lowest_latency" else (cost, latency)
    return (first, second, candidate.site.name, candidate.pool_index)


def ranked(job: Job, candidates: Sequence[Candidate]) -> list[Candidate]:
    """Candidates best first, by the job's preference."""
    return sorted(candidates, key=lambda c: preference_key(job, c))


def best_offer(job: Job, candidates: Sequence[Candidate]) -> Candidate | None:
    """The first candidate by the job's preference (what Route buys)."""
    return min(candidates, key=lambda c: preference_key(job, c), default=None)


def job_offers(job: Job, ctx: Context, include_rejected: bool = False) -> JobOffers:
    """Every feasible offer for `job` against the context's free devices, best first."""
    candidates: list[Candidate] = []
    rejected: list[Rejected] = []
    for site, index, reason in pool_verdicts(job, ctx):
        if reason is None:
            candidates.append(candidate_at(job, site.name, index, ctx))
        elif include_rejected:
            rejected.append(Rejected(site.name, index, reason_text(job, reason)))
    offers = tuple(_offer(job, c, ctx) for c in ranked(job, candidates))
    return JobOffers(job.name, offers, tuple(rejected))


def _offer(job: Job, candidate: Candidate, ctx: Context) -> Offer:
    site = candidate.site
    price = effective_price(candidate.pool.price_cny_per_hour, candidate.accelerator, job.precision)
    assert price is not None  # the precision filter passed
    return Offer(
        site=site.name,
        hub=site.hub,
        zone=ctx.topology.zone_of(site),
        provider=site.provider,
        pool_index=candidate.pool_index,
        accelerator=candidate.accelerator.name,
        devices=candidate.cost.devices,
        run_hours=candidate.cost.run_hours,
        latency_ms=candidate.path.latency_ms,
        cost_cny=candidate.cost.cost_cny,
        cny_per_pflop_hour=price,
        free_devices=ctx.free_of(site, candidate.pool_index),
    )
