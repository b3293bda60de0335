"""ListOffers: one job's offers cut into pages, and pages joined back into one answer.

A page holds up to page_size entries of one list: the offers (best first), then, when
asked, the rejected pools. The page token is the offset of the next entry; each page is
computed afresh, so free devices may change between pages.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from router.errors import FieldProblem, InvalidInputError
from router.model.jobs import Job
from router.place.offers import JobOffers, Offer, Rejected
from router.service.convert.enums import ZONE_PREFIX, enum_name, enum_value
from router.service.convert.jobs import job_message
from router.v1 import router_pb2 as pb

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000  # also in requests.schema.json (page_size maximum)


def offers_page(result: JobOffers, page_size: int, page_token: str) -> pb.ListOffersResponse:
    """The page of `result` that starts at `page_token` (empty: the first)."""
    if not 0 <= page_size <= MAX_PAGE_SIZE:
        raise InvalidInputError(
            [FieldProblem("page_size", f"must be 0..{MAX_PAGE_SIZE} (0: {DEFAULT_PAGE_SIZE})")]
        )
    total = len(result.offers) + len(result.rejected)
    start = _offset(page_token, total)
    end = min(total, start + (page_size or DEFAULT_PAGE_SIZE))
    n = len(result.offers)
    return pb.ListOffersResponse(
        job=result.job,
        offers=[offer_message(o) for o in result.offers[start:end]],
        rejected=[
            pb.RejectedOffer(site=r.site, pool_index=r.pool_index, reason=r.reason)
            for r in result.rejected[max(0, start - n) : max(0, end - n)]
        ],
        next_page_token=str(end) if end < total else "",
    )


def offers_request(job: Job | Mapping[str, Any], include_rejected: bool) -> pb.ListOffersRequest:
    """The first ListOffers request for a job (set `page_token` for the next pages)."""
    return pb.ListOffersRequest(job=job_message(job), include_rejected=include_rejected)


def offers_from_pages(pages: Sequence[pb.ListOffersResponse]) -> JobOffers:
    """One job's offers from all the pages of its ListOffers answers, in order."""
    offers = tuple(offer_from(m) for page in pages for m in page.offers)
    rejected = tuple(
        Rejected(m.site, m.pool_index, m.reason) for page in pages for m in page.rejected
    )
    return JobOffers(pages[-1].job, offers, rejected)


def offer_pages(
    call: Callable[[str, Any, float | None], Any],
    job: Job | Mapping[str, Any],
    include_rejected: bool,
) -> JobOffers:
    """Ask for page after page of one job's offers through a client's
    `call(method, request, timeout_s)` (default deadlines) and join them into one answer."""
    request = offers_request(job, include_rejected)
    pages: list[pb.ListOffersResponse] = []
    while True:
        pages.append(call("ListOffers", request, None))
        if not pages[-1].next_page_token:
            return offers_from_pages(pages)
        request.page_token = pages[-1].next_page_token


def offer_message(o: Offer) -> pb.Offer:
    """An Offer as its proto message."""
    return pb.Offer(
        site=o.site,
        hub=o.hub,
        zone=pb.Zone.ValueType(enum_value(pb.Zone, ZONE_PREFIX, o.zone, "zone")),
        provider=o.provider,
        pool_index=o.pool_index,
        accelerator=o.accelerator,
        devices=o.devices,
        run_hours=o.run_hours,
        latency_ms=o.latency_ms,
        cost_cny=o.cost_cny,
        cny_per_pflop_hour=o.cny_per_pflop_hour,
        free_devices=o.free_devices,
    )


def offer_from(m: pb.Offer) -> Offer:
    """An Offer from its proto message."""
    return Offer(
        site=m.site,
        hub=m.hub,
        zone=enum_name(pb.Zone, ZONE_PREFIX, m.zone),
        provider=m.provider,
        pool_index=m.pool_index,
        accelerator=m.accelerator,
        devices=m.devices,
        run_hours=m.run_hours,
        latency_ms=m.latency_ms,
        cost_cny=m.cost_cny,
        cny_per_pflop_hour=m.cny_per_pflop_hour,
        free_devices=m.free_devices,
    )


def _offset(token: str, total: int) -> int:
    if not token:
        return 0
    if len(token) <= 10 and token.isascii() and token.isdigit() and 0 < int(token) <= total:
        return int(token)
    raise InvalidInputError(
        [FieldProblem("page_token", "is not a next_page_token from this query's pages")]
    )
