"""The Python SDK: `RouterClient` (blocking) and `AsyncRouterClient` (asyncio).

    with RouterClient("127.0.0.1:50051") as client:
        result = client.route({"name": "chat", "kind": "inference", ...})

Results are dataclasses (router.results), never raw protobuf. Every call
has a default deadline. UNAVAILABLE is retried by the channel's service config; that is
safe because every unary call is idempotent: the SDK gives each Place and Route a
request_id (retries get the first answer), Release and UpdateSite set absolute state.
Failures raise the router exception tree (InvalidInputError carries the server's field
violations as FieldProblems). `token=` sends a bearer token, `tls=` speaks TLS (True, or
ClientTls for a private CA and mTLS); a rate limit's RetryInfo is waited out and retried.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, Self

import grpc
import grpc.aio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from router.place.offers import JobOffers
from router.results import (
    PlacementEvent,
    PlaceResult,
    Plan,
    ReloadResult,
    Reservation,
    RouteResult,
    SiteUpdateResult,
    TopologyView,
    WhatIfResult,
)
from router.service import convert
from router.service import credentials as creds
from router.service.convert import pb, pb_grpc
from router.service.convert.requests import (
    JobLike,
    place_request,
    route_request,
    site_update_request,
    whatif_request,
)
from router.service.status import error_from
from router.state.site_changes import PoolChange

SERVICE = "router.v1.RouterService"
DEFAULT_TIMEOUTS_S: Mapping[str, float] = {
    "Place": 60.0,
    "Route": 5.0,
    "Release": 5.0,
    "ListReservations": 10.0,
    "ListOffers": 10.0,
    "GetTopology": 10.0,
    "UpdateSite": 60.0,
    "WhatIf": 120.0,
    "ReloadTopology": 60.0,
    "Check": 5.0,
}
RETRIED = tuple(method for method in DEFAULT_TIMEOUTS_S if method != "Check")
"""Every RouterService unary call (all idempotent)."""


def service_config(max_attempts: int = 4) -> str:
    """Channel service config: retry UNAVAILABLE with backoff on the idempotent calls."""
    return json.dumps(
        {
            "methodConfig": [
                {
                    "name": [{"service": SERVICE, "method": m} for m in RETRIED],
                    "retryPolicy": {
                        "maxAttempts": max_attempts,
                        "initialBackoff": "0.1s",
                        "maxBackoff": "2s",
                        "backoffMultiplier": 2,
                        "retryableStatusCodes": ["UNAVAILABLE"],
                    },
                }
            ]
        }
    )


def channel_options(extra: Sequence[tuple[str, Any]] = ()) -> list[tuple[str, Any]]:
    """Options every SDK channel uses: retries on, the service config above."""
    return [("grpc.enable_retries", 1), ("grpc.service_config", service_config()), *extra]


def _health_name(status: int) -> str:
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(status)).lower()


# --- blocking client ------------------------------------------------------------------------


class RouterClient:
    """Blocking client for router.v1.RouterService; use as a context manager."""

    def __init__(
        self,
        target: str,
        *,
        token: str | None = None,
        tls: bool | creds.ClientTls = False,
        credentials: grpc.ChannelCredentials | None = None,
        timeouts_s: Mapping[str, float] | None = None,
        options: Sequence[tuple[str, Any]] = (),
    ) -> None:
        credentials = credentials or creds.channel_credentials(tls)
        self._channel = creds.open_channel(grpc, target, credentials, channel_options(options))
        self._metadata = creds.bearer(token)
        self._stub = pb_grpc.RouterServiceStub(self._channel)
        self._health = health_pb2_grpc.HealthStub(self._channel)
        self._timeouts = {**DEFAULT_TIMEOUTS_S, **(timeouts_s or {})}

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the channel (open watch streams end)."""
        self._channel.close()

    def _call(self, method: str, request: Any, timeout_s: float | None) -> Any:
        timeout = timeout_s if timeout_s is not None else self._timeouts[method]
        try:
            return creds.retrying(getattr(self._stub, method), request, timeout, self._metadata)
        except grpc.RpcError as exc:
            raise error_from(exc) from None

    def place(
        self,
        jobs: Sequence[JobLike],
        *,
        dry_run: bool = False,
        request_id: str | None = None,
        time_limit_s: float = 0.0,
        carbon_price_cny_per_kg: float = 0.0,
        ttl_s: float = 0.0,
        timeout_s: float | None = None,
    ) -> PlaceResult:
        """Plan a batch together; unless dry_run, reserve every placed job atomically.

        With ttl_s > 0 the reservations expire that many seconds after they are made.
        """
        request = place_request(
            jobs,
            dry_run=dry_run,
            request_id=request_id,
            time_limit_s=time_limit_s,
            carbon_price_cny_per_kg=carbon_price_cny_per_kg,
            ttl_s=ttl_s,
        )
        return convert.place_result(self._call("Place", request, timeout_s))

    def plan(self, jobs: Sequence[JobLike], **options: Any) -> Plan:
        """Plan without reserving (Place with dry_run)."""
        return self.place(jobs, dry_run=True, **options).plan

    def route(
        self,
        job: JobLike,
        *,
        request_id: str | None = None,
        ttl_s: float = 0.0,
        timeout_s: float | None = None,
    ) -> RouteResult:
        """Reserve the cheapest feasible pool for one job now, or learn why none fits.

        With ttl_s > 0 the reservation expires that many seconds after it is made.
        """
        request = route_request(job, request_id, ttl_s)
        return convert.route_result(self._call("Route", request, timeout_s))

    def list_offers(self, job: JobLike, *, include_rejected: bool = False) -> JobOffers:
        """Every offer for one job, best first, all pages (reserves nothing)."""
        return convert.offer_pages(self._call, job, include_rejected)

    def release(self, reservation_id: str, *, timeout_s: float | None = None) -> Reservation:
        """End a reservation (NotFoundError if unknown)."""
        request = pb.ReleaseRequest(reservation_id=reservation_id)
        return convert.reservation_from(self._call("Release", request, timeout_s).reservation)

    def list_reservations(
        self,
        *,
        site: str | None = None,
        include_ended: bool = False,
        page_size: int = 0,
        timeout_s: float | None = None,
    ) -> list[Reservation]:
        """Reservations, oldest first: every page, fetched one after another."""
        request = pb.ListReservationsRequest(
            site=site or "", include_ended=include_ended, page_size=page_size
        )
        found: list[Reservation] = []
        while True:
            answer = self._call("ListReservations", request, timeout_s)
            found += [convert.reservation_from(r) for r in answer.reservations]
            if not answer.next_page_token:
                return found
            request.page_token = answer.next_page_token

    def get_topology(self, *, timeout_s: float | None = None) -> TopologyView:
        """The topology the server routes over, with free devices per pool."""
        answer = self._call("GetTopology", pb.GetTopologyRequest(), timeout_s)
        return convert.topology_from(answer.topology)

    def update_site(
        self,
        site: str,
        *,
        status: str | None = None,
        pools: Sequence[PoolChange] = (),
        electricity_cny_per_kwh: float | None = None,
        timeout_s: float | None = None,
    ) -> SiteUpdateResult:
        """Change a site; the server re-places reservations that no longer fit."""
        request = site_update_request(site, status, pools, electricity_cny_per_kwh)
        return convert.update_result(self._call("UpdateSite", request, timeout_s))

    def what_if(
        self,
        scenarios: Sequence[Mapping[str, Any]],
        *,
        jobs: Sequence[JobLike] = (),
        time_limit_s: float = 0.0,
        timeout_s: float | None = None,
    ) -> WhatIfResult:
        """Plan jobs (default: the live reservations') under scenarios; reserves nothing."""
        request = whatif_request(scenarios, jobs, time_limit_s)
        return convert.whatif_result(self._call("WhatIf", request, timeout_s))

    def reload_topology(self, *, timeout_s: float | None = None) -> ReloadResult:
        """Make the server re-read its topology file; reports reservations it cannot hold."""
        answer = self._call("ReloadTopology", pb.ReloadTopologyRequest(), timeout_s)
        return convert.reload_result(answer)

    def watch_placements(
        self, *, site: str | None = None, timeout_s: float | None = None
    ) -> Iterator[PlacementEvent]:
        """Placement events from now on (every event committed after this returns);
        closing the iterator cancels the stream."""
        call = self._stub.WatchPlacements(
            pb.WatchPlacementsRequest(site=site or ""), timeout=timeout_s, metadata=self._metadata
        )
        call.initial_metadata()  # the server sends it once it listens (or the call ended)
        return _events(call)

    def health(self, service: str = "", *, timeout_s: float | None = None) -> str:
        """grpc.health.v1 status: "serving", "not_serving", ... (service "" = the server)."""
        try:
            answer = self._health.Check(
                health_pb2.HealthCheckRequest(service=service),
                timeout=timeout_s or self._timeouts["Check"],
            )
        except grpc.RpcError as exc:
            raise error_from(exc) from None
        return _health_name(answer.status)


def _events(call: Any) -> Iterator[PlacementEvent]:
    try:
        for message in call:
            yield convert.event_from(message.event)
    except grpc.RpcError as exc:
        if exc.code() is grpc.StatusCode.CANCELLED:
            return
        raise error_from(exc) from None
    finally:
        call.cancel()


# --- asyncio client -------------------------------------------------------------------------


class AsyncRouterClient:
    """asyncio client for router.v1.RouterService; use with `async with`."""

    def __init__(
        self,
        target: str,
        *,
        token: str | None = None,
        tls: bool | creds.ClientTls = False,
        credentials: grpc.ChannelCredentials | None = None,
        timeouts_s: Mapping[str, float] | None = None,
        options: Sequence[tuple[str, Any]] = (),
    ) -> None:
        credentials = credentials or creds.channel_credentials(tls)
        self._channel = creds.open_channel(grpc.aio, target, credentials, channel_options(options))
        self._metadata = creds.bearer(token)
        self._stub = pb_grpc.RouterServiceStub(self._channel)
        self._health = health_pb2_grpc.HealthStub(self._channel)
        self._timeouts = {**DEFAULT_TIMEOUTS_S, **(timeouts_s or {})}

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the channel."""
        await self._channel.close()

    async def _call(self, method: str, request: Any, timeout_s: float | None) -> Any:
        timeout = timeout_s if timeout_s is not None else self._timeouts[method]
        try:
            stub = getattr(self._stub, method)
            return await creds.retrying_async(stub, request, timeout, self._metadata)
        except grpc.aio.AioRpcError as exc:
            raise error_from(exc) from None

    async def place(
        self,
        jobs: Sequence[JobLike],
        *,
        dry_run: bool = False,
        request_id: str | None = None,
        time_limit_s: float = 0.0,
        carbon_price_cny_per_kg: float = 0.0,
        ttl_s: float = 0.0,
        timeout_s: float | None = None,
    ) -> PlaceResult:
        """Plan a batch together; unless dry_run, reserve every placed job atomically.

        With ttl_s > 0 the reservations expire that many seconds after they are made.
        """
        request = place_request(
            jobs,
            dry_run=dry_run,
            request_id=request_id,
            time_limit_s=time_limit_s,
            carbon_price_cny_per_kg=carbon_price_cny_per_kg,
            ttl_s=ttl_s,
        )
        return convert.place_result(await self._call("Place", request, timeout_s))

    async def route(
        self,
        job: JobLike,
        *,
        request_id: str | None = None,
        ttl_s: float = 0.0,
        timeout_s: float | None = None,
    ) -> RouteResult:
        """Reserve the cheapest feasible pool for one job now, or learn why none fits.

        With ttl_s > 0 the reservation expires that many seconds after it is made.
        """
        answer = await self._call("Route", route_request(job, request_id, ttl_s), timeout_s)
        return convert.route_result(answer)

    async def list_offers(self, job: JobLike, *, include_rejected: bool = False) -> JobOffers:
        """Every offer for one job, best first, all pages (reserves nothing)."""
        request = convert.offers_request(job, include_rejected)
        pages: list[pb.ListOffersResponse] = []
        while True:
            pages.append(await self._call("ListOffers", request, None))
            if not pages[-1].next_page_token:
                return convert.offers_from_pages(pages)
            request.page_token = pages[-1].next_page_token

    async def release(self, reservation_id: str, *, timeout_s: float | None = None) -> Reservation:
        """End a reservation (NotFoundError if unknown)."""
        request = pb.ReleaseRequest(reservation_id=reservation_id)
        answer = await self._call("Release", request, timeout_s)
        return convert.reservation_from(answer.reservation)

    async def list_reservations(
        self,
        *,
        site: str | None = None,
        include_ended: bool = False,
        page_size: int = 0,
        timeout_s: float | None = None,
    ) -> list[Reservation]:
        """Reservations, oldest first: every page, fetched one after another."""
        request = pb.ListReservationsRequest(
            site=site or "", include_ended=include_ended, page_size=page_size
        )
        found: list[Reservation] = []
        while True:
            answer = await self._call("ListReservations", request, timeout_s)
            found += [convert.reservation_from(r) for r in answer.reservations]
            if not answer.next_page_token:
                return found
            request.page_token = answer.next_page_token

    async def get_topology(self, *, timeout_s: float | None = None) -> TopologyView:
        """The topology the server routes over, with free devices per pool."""
        answer = await self._call("GetTopology", pb.GetTopologyRequest(), timeout_s)
        return convert.topology_from(answer.topology)

    async def update_site(
        self,
        site: str,
        *,
        status: str | None = None,
        pools: Sequence[PoolChange] = (),
        electricity_cny_per_kwh: float | None = None,
        timeout_s: float | None = None,
    ) -> SiteUpdateResult:
        """Change a site; the server re-places reservations that no longer fit."""
        request = site_update_request(site, status, pools, electricity_cny_per_kwh)
        return convert.update_result(await self._call("UpdateSite", request, timeout_s))

    async def what_if(
        self,
        scenarios: Sequence[Mapping[str, Any]],
        *,
        jobs: Sequence[JobLike] = (),
        time_limit_s: float = 0.0,
        timeout_s: float | None = None,
    ) -> WhatIfResult:
        """Plan jobs (default: the live reservations') under scenarios; reserves nothing."""
        request = whatif_request(scenarios, jobs, time_limit_s)
        return convert.whatif_result(await self._call("WhatIf", request, timeout_s))

    async def reload_topology(self, *, timeout_s: float | None = None) -> ReloadResult:
        """Make the server re-read its topology file; reports reservations it cannot hold."""
        answer = await self._call("ReloadTopology", pb.ReloadTopologyRequest(), timeout_s)
        return convert.reload_result(answer)

    async def watch_placements(
        self, *, site: str | None = None, timeout_s: float | None = None
    ) -> AsyncIterator[PlacementEvent]:
        """Placement events from now on; leaving the loop cancels the stream."""
        call = self._stub.WatchPlacements(
            pb.WatchPlacementsRequest(site=site or ""), timeout=timeout_s, metadata=self._metadata
        )
        try:
            async for message in call:
                yield convert.event_from(message.event)
        except grpc.aio.AioRpcError as exc:
            if exc.code() is not grpc.StatusCode.CANCELLED:
                raise error_from(exc) from None
        finally:
            call.cancel()

    async def health(self, service: str = "", *, timeout_s: float | None = None) -> str:
        """grpc.health.v1 status: "serving", "not_serving", ... (service "" = the server)."""
        try:
            answer = await self._health.Check(
                health_pb2.HealthCheckRequest(service=service),
                timeout=timeout_s or self._timeouts["Check"],
            )
        except grpc.aio.AioRpcError as exc:
            raise error_from(exc) from None
        return _health_name(answer.status)
