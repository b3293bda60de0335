"""Requests the SDK sends, built from domain values or jobs-file mappings (both clients)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from router.model.jobs import Job
from router.service.convert.jobs import job_message
from router.service.convert.topology import update_request
from router.service.convert.whatif import scenario_message
from router.state.site_changes import PoolChange, SiteChange
from router.v1 import router_pb2 as pb

JobLike = Job | Mapping[str, Any]
"""A domain Job, or a job in its jobs-file shape (a mapping as in examples/jobs/*.yaml)."""


def _jobs(jobs: Sequence[JobLike]) -> list[pb.Job]:
    return [job_message(j, f"jobs[{i}]") for i, j in enumerate(jobs)]


def place_request(
    jobs: Sequence[JobLike],
    *,
    dry_run: bool,
    request_id: str | None,
    time_limit_s: float,
    carbon_price_cny_per_kg: float,
    ttl_s: float = 0.0,
) -> pb.PlaceRequest:
    """A Place request; a request_id is made up when none is given (safe retries)."""
    return pb.PlaceRequest(
        jobs=_jobs(jobs),
        dry_run=dry_run,
        request_id="" if dry_run and request_id is None else (request_id or uuid.uuid4().hex),
        time_limit_s=time_limit_s,
        carbon_price_cny_per_kg=carbon_price_cny_per_kg,
        ttl_s=ttl_s,
    )


def route_request(job: JobLike, request_id: str | None, ttl_s: float = 0.0) -> pb.RouteRequest:
    """A Route request with a request_id (made up when none is given)."""
    return pb.RouteRequest(
        job=job_message(job), request_id=request_id or uuid.uuid4().hex, ttl_s=ttl_s
    )


def site_update_request(
    site: str,
    status: str | None,
    pools: Sequence[PoolChange],
    electricity_cny_per_kwh: float | None,
) -> pb.UpdateSiteRequest:
    """An UpdateSite request."""
    return update_request(SiteChange(site, status, tuple(pools), electricity_cny_per_kwh))


def whatif_request(
    scenarios: Sequence[Mapping[str, Any]], jobs: Sequence[JobLike], time_limit_s: float
) -> pb.WhatIfRequest:
    """A WhatIf request."""
    return pb.WhatIfRequest(
        jobs=_jobs(jobs),
        scenarios=[scenario_message(s, f"scenarios[{i}]") for i, s in enumerate(scenarios)],
        time_limit_s=time_limit_s,
    )
