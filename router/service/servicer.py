"""The RouterService RPCs: a thin servicer (validate -> engine -> convert).

Route, the online fast path, validates and chooses on the event loop and hands only its
commit to the single ledger thread, which groups concurrent commits into one transaction.
Other blocking work runs on bounded pools, one for quick calls and one for solver calls,
so a long Place never delays a Route.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from functools import lru_cache, partial
from typing import Any, TypeVar

import grpc

from router.errors import (
    CapacityError,
    DeadlineExceededError,
    InvalidInputError,
    NotFoundError,
    RouterError,
)
from router.model.jobs import Job
from router.model.schema import load_schema
from router.model.topology import Topology
from router.results import PlacementEvent, ReloadResult, RouteResult
from router.service import convert, pages
from router.service.auth import caller_owner, caller_tenant, owned, owned_spec, scoped
from router.service.committer import GroupCommitter
from router.service.convert import pb, pb_grpc
from router.service.requests import request_key, require
from router.service.status import status_of
from router.state.engine import Engine

DEFAULT_TIME_LIMIT_S = 10.0
CONTENDED_PLAN_S = 0.5
"""Solver seconds of a Place's last try, run on the ledger thread (it holds up commits)."""
ANSWER_MARGIN_S = 0.05
ANSWER_SHARE = 0.1
"""A commit needs this much of the call's time left (the larger: seconds, or a share of
the time the call had when it arrived) to send its answer, or it is undone. The caller's
clock started before its request was sent, and the commit's fsync and the answer follow
the check: 50 ms alone let a 3,000-job Place with a 2 s deadline commit and then reach
its caller late, about once in six runs of the trust tests."""
WATCH_QUEUE_EVENTS = 10_000
PARSED_JOBS_KEPT = 4096
_NAME_SCHEMA = load_schema("jobs")["properties"]["jobs"]["items"]["properties"]["name"]
JOB_NAME = re.compile(_NAME_SCHEMA["pattern"])
JOB_NAME_MAX = int(_NAME_SCHEMA["maxLength"])
T = TypeVar("T")
Context = grpc.aio.ServicerContext[Any, Any]

log = logging.getLogger("westward.service")


class RouterServicer(pb_grpc.RouterServiceServicer):
    """Each RPC: check the request, run the engine off the event loop, convert the answer."""

    def __init__(
        self,
        engine: Engine,
        *,
        fast: ThreadPoolExecutor,
        slow: ThreadPoolExecutor,
        ledger: ThreadPoolExecutor,
        default_time_limit_s: float = DEFAULT_TIME_LIMIT_S,
        topology_source: Callable[[], Topology] | None = None,
    ) -> None:
        self._engine = engine
        self._fast = fast
        self._slow = slow
        self._ledger_thread = ledger
        self._topology_source = topology_source
        self._sweeper: asyncio.Task[None] | None = None
        self._committer = GroupCommitter(engine, ledger)
        self._default_time_limit_s = default_time_limit_s
        self._watchers: set[asyncio.Queue[PlacementEvent | None]] = set()
        self._parsed_for: Topology | None = None
        self._parsed: Callable[[bytes], tuple[Job, dict[str, Any]]] | None = None

    # --- plumbing ---------------------------------------------------------------------

    async def _call(
        self,
        context: grpc.aio.ServicerContext[Any, Any],
        executor: ThreadPoolExecutor,
        method: str,
        work: Callable[[], T],
    ) -> T:
        """Run `work` on a pool; RouterErrors become rich gRPC statuses, anything else INTERNAL."""
        started = time.perf_counter()
        try:
            result = await asyncio.get_running_loop().run_in_executor(executor, work)
        except RouterError as exc:
            await self._abort(context, method, exc)
            raise AssertionError("abort returned") from exc  # pragma: no cover
        except Exception:
            log.exception("rpc crashed", extra={"rpc": method})
            await context.abort(grpc.StatusCode.INTERNAL, "internal error; see the server log")
            raise AssertionError("abort returned") from None  # pragma: no cover
        if log.isEnabledFor(logging.DEBUG):
            ms = round((time.perf_counter() - started) * 1000, 3)
            log.debug("rpc done", extra={"rpc": method, "ms": ms})
        return result

    async def _abort(
        self, context: grpc.aio.ServicerContext[Any, Any], method: str, exc: RouterError
    ) -> None:
        """End the call with the rich status for `exc` (raises, as context.abort does)."""
        status = status_of(exc)
        log.info("rpc failed", extra={"rpc": method, "code": status.code.name, "error": str(exc)})
        await context.abort_with_status(status)

    def _budget(self, context: Context, requested_s: float) -> Callable[[], float]:
        """Solver seconds left for this call, evaluated when the work actually starts."""
        remaining = context.time_remaining()
        deadline = None if remaining is None else time.monotonic() + remaining

        def budget() -> float:
            left = None if deadline is None else deadline - time.monotonic()
            limit = solver_budget(requested_s, self._default_time_limit_s, left)
            if limit < 0.05:
                raise DeadlineExceededError("the call's deadline leaves no time to plan")
            return limit

        return budget

    @staticmethod
    def _wanted(context: Context) -> Callable[[], bool]:
        """Whether the caller still waits: its deadline (less the answer's margin) has not
        passed, and it has not gone (cancelled, or cut off by a server stop). Asked inside
        the committing transaction."""
        remaining = context.time_remaining()
        deadline = None
        if remaining is not None:
            deadline = time.monotonic() + remaining - max(ANSWER_MARGIN_S, ANSWER_SHARE * remaining)
        gone = threading.Event()

        def went(_: object) -> None:
            gone.set()

        context.add_done_callback(went)  # type: ignore[arg-type]  # stubs want a class
        return lambda: not gone.is_set() and (deadline is None or time.monotonic() < deadline)

    # --- RPCs -------------------------------------------------------------------------

    async def Place(
        self, request: pb.PlaceRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.PlaceResponse:
        """Plan a batch; reserve it unless dry_run."""
        budget = self._budget(context, request.time_limit_s)
        tenant = caller_tenant()

        wanted = self._wanted(context)
        key = scoped(request_key("Place", request), tenant)

        def work() -> pb.PlaceResponse:
            require(len(request.jobs) > 0, "jobs", "must list at least one job to place")
            specs = [owned_spec(convert.job_entry(j), tenant) for j in request.jobs]
            jobs = self._engine.parse(specs)

            def place(time_limit_s: float) -> bytes:
                return self._engine.place(
                    jobs,
                    specs,
                    dry_run=request.dry_run,
                    request=key,
                    ttl_s=request.ttl_s,
                    time_limit_s=time_limit_s,
                    carbon_price_cny_per_kg=request.carbon_price_cny_per_kg,
                    encode=lambda r: convert.serialize(convert.place_response(r)),
                    wanted=wanted,
                )

            try:
                data = place(budget())
            except CapacityError:  # Routes kept taking the room: plan and commit on the
                # ledger thread, where no other commit of this process can slip in between
                last = min(budget(), CONTENDED_PLAN_S)
                data = self._ledger_thread.submit(place, last).result()
            return pb.PlaceResponse.FromString(data)

        return await self._call(context, self._slow, "Place", work)

    async def Route(
        self, request: pb.RouteRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.RouteResponse:
        """Reserve the cheapest feasible pool for one job now, without the solver.

        The fast path: validation and candidate choice run right here on the event loop
        (a fraction of a millisecond of pure CPU, no GIL hand-offs); only the SQLite
        commit goes to the single ledger thread. A commit that finds its capacity gone
        is proposed again on fresh counts.
        """
        tenant = caller_tenant()
        try:
            require(request.HasField("job"), "job", "is required")
            job, spec = owned(*self._route_job(request.job), tenant)
            built: list[pb.RouteResponse] = []

            def encode(result: RouteResult) -> bytes:
                built.append(convert.route_response(result, request.job))
                return convert.serialize(built[-1])

            key = scoped(request_key("Route", request), tenant)
            wanted = self._wanted(context)
            proposal = self._engine.propose_route(
                job, spec, request=key, ttl_s=request.ttl_s, encode=encode, wanted=wanted
            )
            try:
                data = await self._committer.commit(proposal)
                return built[0] if data == proposal.answer else pb.RouteResponse.FromString(data)
            except CapacityError:  # contended: choose and commit again on the ledger thread,
                built.clear()  # where no other commit of this process slips in between
            data = await asyncio.get_running_loop().run_in_executor(
                self._ledger_thread,
                partial(
                    self._engine.route,
                    job,
                    spec,
                    request=key,
                    ttl_s=request.ttl_s,
                    encode=encode,
                    wanted=wanted,
                ),
            )
            return pb.RouteResponse.FromString(data)
        except RouterError as exc:
            await self._abort(context, "Route", exc)
            raise AssertionError("abort returned") from exc  # pragma: no cover

    def _route_job(self, message: pb.Job) -> tuple[Job, dict[str, Any]]:
        """A Route request's job, validated, and its jobs-file spec.

        Launchers send the same job shapes again and again under new names, so the
        parsed job is kept per shape (every field but the name) and per topology; a new
        name is checked against the jobs schema's name pattern, and anything that fails
        goes through the full parse for its error.
        """
        shape = pb.Job()
        shape.CopyFrom(message)
        shape.name = ""
        if len(message.name) <= JOB_NAME_MAX and JOB_NAME.fullmatch(message.name):
            try:
                job, spec = self._parsed_shape(shape.SerializeToString(deterministic=True))
                return replace(job, name=message.name), {**spec, "name": message.name}
            except InvalidInputError:
                pass  # the full parse below says what is wrong, under the job's own name
        spec = convert.job_entry(message)
        try:
            job = self._engine.parse([spec])[0]
        except InvalidInputError as exc:
            raise convert.rebase(exc, "jobs[0]", "job") from None
        return job, spec

    def _parsed_shape(self, shape: bytes) -> tuple[Job, dict[str, Any]]:
        """A job shape parsed under a stand-in name, cached per shape and topology."""
        topology = self._engine.topology
        if self._parsed_for is not topology or self._parsed is None:

            def parse(key: bytes) -> tuple[Job, dict[str, Any]]:
                message = pb.Job.FromString(key)
                message.name = "shape"
                spec = convert.job_entry(message)
                return self._engine.parse([spec])[0], spec

            self._parsed_for, self._parsed = topology, lru_cache(PARSED_JOBS_KEPT)(parse)
        return self._parsed(shape)

    async def ListOffers(
        self, request: pb.ListOffersRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ListOffersResponse:
        """One job's offers, best first, a page at a time (reserves nothing)."""
        try:  # parsed here on the loop, as Route does, with its cache of job shapes
            require(request.HasField("job"), "job", "is required")
            job, _ = self._route_job(request.job)
        except RouterError as exc:
            await self._abort(context, "ListOffers", exc)
            raise AssertionError("abort returned") from exc  # pragma: no cover

        def work() -> pb.ListOffersResponse:
            found = self._engine.offers(job, include_rejected=request.include_rejected)
            return convert.offers_page(found, request.page_size, request.page_token)

        return await self._call(context, self._fast, "ListOffers", work)

    async def Release(
        self, request: pb.ReleaseRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ReleaseResponse:
        """End a reservation (another tenant's is NOT_FOUND)."""
        owner = caller_owner()

        def work() -> pb.ReleaseResponse:
            released = self._engine.release(request.reservation_id, owner=owner)
            return pb.ReleaseResponse(reservation=convert.reservation_message(released))

        return await self._call(context, self._fast, "Release", work)

    async def ListReservations(
        self, request: pb.ListReservationsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ListReservationsResponse:
        """One page of reservations, oldest first (AIP-158); a tenant sees only its own."""
        owner = caller_owner()

        def work() -> pb.ListReservationsResponse:
            found, last = self._engine.reservation_page(
                site=request.site or None,
                include_ended=request.include_ended,
                after_seq=pages.after(request),
                size=request.page_size or pages.DEFAULT_PAGE_SIZE,
                owner=owner,
            )
            return pb.ListReservationsResponse(
                reservations=[convert.reservation_message(r) for r in found],
                next_page_token="" if last is None else pages.token(request, last),
            )

        return await self._call(context, self._fast, "ListReservations", work)

    async def GetTopology(
        self, request: pb.GetTopologyRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.GetTopologyResponse:
        """The live topology with free devices."""

        def work() -> pb.GetTopologyResponse:
            view = self._engine.topology_view()
            return pb.GetTopologyResponse(topology=convert.topology_message(view))

        return await self._call(context, self._fast, "GetTopology", work)

    async def UpdateSite(
        self, request: pb.UpdateSiteRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.UpdateSiteResponse:
        """Change a site and re-place the reservations that no longer fit."""
        budget = self._budget(context, 0.0)

        def work() -> pb.UpdateSiteResponse:
            change = convert.site_change(request)
            result = self._engine.update_site(change, time_limit_s=budget())
            log.info(
                "site updated",
                extra={
                    "site": change.site,
                    "status": result.site.status,
                    "moved": len(result.moved),
                    "evicted": len(result.evicted),
                },
            )
            return convert.update_response(result, self._engine.topology_view().free)

        return await self._call(context, self._slow, "UpdateSite", work)

    async def WhatIf(
        self, request: pb.WhatIfRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.WhatIfResponse:
        """Plan jobs under scenarios and diff them against the baseline."""
        budget = self._budget(context, request.time_limit_s)
        wanted = self._wanted(context)

        def work() -> pb.WhatIfResponse:
            result = self._engine.whatif(
                [convert.job_entry(j) for j in request.jobs],
                convert.scenario_entries(request.scenarios),
                time_limit_s=budget(),
                wanted=wanted,
            )
            return convert.whatif_response(result)

        return await self._call(context, self._slow, "WhatIf", work)

    async def WatchPlacements(
        self, request: pb.WatchPlacementsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[pb.WatchPlacementsResponse]:
        """Stream placement events from now on until the caller or the server ends it."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[PlacementEvent | None] = asyncio.Queue(WATCH_QUEUE_EVENTS)
        overflowed = threading.Event()

        def offer(event: PlacementEvent) -> None:
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                overflowed.set()

        def listener(event: PlacementEvent) -> None:
            loop.call_soon_threadsafe(offer, event)

        self._watchers.add(queue)
        unsubscribe = self._engine.subscribe(listener)
        # Headers now, not with the first event: a caller that waits for them (the SDK
        # does) knows every event committed from then on reaches it.
        await context.send_initial_metadata(())
        site = request.site
        owner = caller_owner()
        try:
            while True:
                event = await queue.get()
                if overflowed.is_set():
                    await context.abort(
                        grpc.StatusCode.RESOURCE_EXHAUSTED, "watcher fell too far behind"
                    )
                if event is None:
                    return
                places = {event.reservation.placement.site}
                if event.previous is not None:
                    places.add(event.previous.site)
                if site and site not in places:
                    continue
                if owner is not None and event.reservation.tenant != owner:
                    continue
                yield pb.WatchPlacementsResponse(event=convert.event_message(event))
        finally:
            unsubscribe()
            self._watchers.discard(queue)

    async def ReloadTopology(
        self, request: pb.ReloadTopologyRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ReloadTopologyResponse:
        """Re-read the server's topology file; keep reservations, report the unheld."""

        def work() -> pb.ReloadTopologyResponse:
            return convert.reload_response(self.reload_topology())

        return await self._call(context, self._slow, "ReloadTopology", work)

    def reload_topology(self) -> ReloadResult:
        """Load the topology again from its source and switch to it (blocking; logs it)."""
        if self._topology_source is None:
            raise NotFoundError("this server has no topology file to reload")
        result = self._engine.reload_topology(self._topology_source())
        log.info(
            "topology reloaded",
            extra={
                "topology": result.topology,
                "sites": result.sites,
                "unheld": [
                    {"reservation_id": u.reservation.reservation_id, "reason": u.reason}
                    for u in result.unheld
                ],
            },
        )
        return result

    def start_expiry(self, period_s: float) -> None:
        """Every period_s, end the reservations whose ttl passed (on the ledger thread)."""
        if period_s > 0 and self._sweeper is None:
            self._sweeper = asyncio.create_task(self._sweep(period_s))

    async def _sweep(self, period_s: float) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(period_s)
            try:
                expired = await loop.run_in_executor(self._ledger_thread, self._engine.expire_due)
            except Exception:
                log.exception("expiry sweep failed")
                continue
            if expired:
                log.info("reservations expired", extra={"count": len(expired)})

    async def close(self) -> None:
        """Stop the expiry sweep and the group committer (after the server stopped)."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        await self._committer.close()

    def end_watches(self) -> None:
        """Tell every open WatchPlacements stream to finish (call on the server's loop)."""
        for queue in list(self._watchers):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(None)


def solver_budget(requested_s: float, default_s: float, remaining_s: float | None) -> float:
    """The solver time limit for a call: the request's (or default), within its deadline.

    A fifth of the remaining time (at least 50 ms) is kept for screening, committing and
    answering, so the solver never runs past the caller's deadline.
    """
    limit = requested_s if requested_s > 0 else default_s
    if remaining_s is not None:
        limit = min(limit, remaining_s - max(0.05, remaining_s * 0.2))
    return max(0.0, limit)
