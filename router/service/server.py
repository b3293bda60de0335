"""The gRPC service: a thin servicer (validate -> engine -> convert) on a grpc.aio server.

`create_server(address, ...)` returns `(server, port)`; tests and benchmarks use port 0
(router.service.background runs one on its own thread; router.service.process is `westward serve`).
Route, the online fast path, validates and chooses on the event loop and hands only its
commit to the single ledger thread, which groups concurrent commits into one transaction.
Other blocking work runs on bounded pools, one for quick calls and one for solver calls,
so a long Place never delays a Route. Shutdown is graceful: health turns NOT_SERVING
first, watch streams are told to finish, in-flight calls complete.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from functools import partial
from typing import Any, TypeVar

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import reflection

from router.errors import (
    CapacityError,
    DeadlineExceededError,
    FieldProblem,
    InvalidInputError,
    NotFoundError,
    RouterError,
)
from router.model.jobs import Job
from router.model.schema import load_schema
from router.model.topology import Topology
from router.results import PlacementEvent, ReloadResult, RouteResult
from router.service import convert
from router.service.convert import pb, pb_grpc
from router.service.offers import offers_page
from router.service.status import DETAILS_KEY, grpc_code, status_of
from router.state.engine import COMMIT_ATTEMPTS, Engine, Proposal, solver_budget
from router.state.ledger import Ledger

SERVICE_NAME = "router.v1.RouterService"
DEFAULT_TIME_LIMIT_S = 10.0
DEFAULT_GRACE_S = 10.0
DEFAULT_EXPIRY_SWEEP_S = 1.0
CONTENDED_PLAN_S = 0.5
"""Solver seconds of a Place's last try, run on the ledger thread (it holds up commits)."""
WATCH_QUEUE_EVENTS = 10_000
PARSED_JOBS_KEPT = 4096
JOB_NAME = re.compile(
    load_schema("jobs")["properties"]["jobs"]["items"]["properties"]["name"]["pattern"]
)
T = TypeVar("T")

log = logging.getLogger("westward.service")


class ListenError(OSError):
    """The server could not bind its address."""


class GroupCommitter:
    """Route commits, batched: while one ledger transaction is being written (and fsynced),
    the next batch fills up, so a burst of N Routes costs a few fsyncs instead of N."""

    def __init__(self, engine: Engine, executor: ThreadPoolExecutor, max_batch: int = 256) -> None:
        self._engine = engine
        self._executor = executor
        self._max_batch = max_batch
        self._queue: asyncio.Queue[tuple[Proposal, asyncio.Future[bytes]]] | None = None
        self._task: asyncio.Task[None] | None = None

    async def commit(self, proposal: Proposal) -> bytes:
        """The stored answer for `proposal`; raises CapacityError like Engine.commit."""
        if self._queue is None:
            self._queue = asyncio.Queue()
            self._task = asyncio.create_task(self._run(self._queue))
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((proposal, future))
        return await future

    async def _run(self, queue: asyncio.Queue[tuple[Proposal, asyncio.Future[bytes]]]) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await queue.get()]
            while len(batch) < self._max_batch and not queue.empty():
                batch.append(queue.get_nowait())
            proposals = [p for p, _ in batch]
            try:
                results = await loop.run_in_executor(
                    self._executor, self._engine.commit_many, proposals
                )
            except Exception as exc:  # the ledger failed: every caller in the batch learns it
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():
                    continue
                if isinstance(result, CapacityError):
                    future.set_exception(result)
                else:
                    future.set_result(result)

    async def close(self) -> None:
        """Stop batching (pending callers are cancelled)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


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
        self._parsed: OrderedDict[bytes, tuple[Job, dict[str, Any]]] = OrderedDict()

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
        log.info(
            "rpc failed",
            extra={"rpc": method, "code": grpc_code(status).name, "error": status.message},
        )
        await context.abort(
            grpc_code(status),
            status.message,
            trailing_metadata=((DETAILS_KEY, status.SerializeToString()),),
        )

    def _budget(
        self, context: grpc.aio.ServicerContext[Any, Any], requested_s: float
    ) -> Callable[[], float]:
        """Solver seconds left for this call, evaluated when the work actually starts."""
        remaining = context.time_remaining()
        deadline = None if remaining is None else time.monotonic() + remaining

        def budget() -> float:
            if requested_s < 0:
                raise InvalidInputError(
                    [FieldProblem("time_limit_s", f"must be >= 0, got {requested_s}")]
                )
            left = None if deadline is None else deadline - time.monotonic()
            limit = solver_budget(requested_s, self._default_time_limit_s, left)
            if limit < 0.05:
                raise DeadlineExceededError("the call's deadline leaves no time to plan")
            return limit

        return budget

    # --- RPCs -------------------------------------------------------------------------

    async def Place(
        self, request: pb.PlaceRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.PlaceResponse:
        """Plan a batch; reserve it unless dry_run."""
        budget = self._budget(context, request.time_limit_s)

        def work() -> pb.PlaceResponse:
            if request.carbon_price_cny_per_kg < 0:
                raise InvalidInputError([FieldProblem("carbon_price_cny_per_kg", "must be >= 0")])
            specs = [convert.job_entry(j) for j in request.jobs]
            jobs = self._engine.parse(specs)

            def place(time_limit_s: float) -> bytes:
                return self._engine.place(
                    jobs,
                    specs,
                    dry_run=request.dry_run,
                    request_id=request.request_id,
                    ttl_s=request.ttl_s,
                    time_limit_s=time_limit_s,
                    carbon_price_cny_per_kg=request.carbon_price_cny_per_kg,
                    encode=lambda r: convert.serialize(convert.place_response(r)),
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
        try:
            if not request.HasField("job"):
                raise InvalidInputError([FieldProblem("job", "is required")])
            job, spec = self._route_job(request.job)
            built: list[pb.RouteResponse] = []

            def encode(result: RouteResult) -> bytes:
                built.append(convert.route_response(result, request.job))
                return convert.serialize(built[-1])

            for _ in range(COMMIT_ATTEMPTS):
                built.clear()
                proposal = self._engine.propose_route(
                    job, spec, request_id=request.request_id, ttl_s=request.ttl_s, encode=encode
                )
                try:
                    data = await self._committer.commit(proposal)
                except CapacityError:
                    continue
                return built[0] if data == proposal.answer else pb.RouteResponse.FromString(data)
            # Still contended: choose and commit on the ledger thread itself, where no other
            # commit of this process slips in between (a reservation, or unplaced).
            data = await asyncio.get_running_loop().run_in_executor(
                self._ledger_thread,
                partial(
                    self._engine.route,
                    job,
                    spec,
                    request_id=request.request_id,
                    ttl_s=request.ttl_s,
                    encode=encode,
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
        topology = self._engine.topology
        shape = pb.Job()
        shape.CopyFrom(message)
        shape.name = ""
        key = shape.SerializeToString(deterministic=True)
        if self._parsed_for is not topology:
            self._parsed_for, self._parsed = topology, OrderedDict()
        hit = self._parsed.get(key)
        if hit is not None and JOB_NAME.fullmatch(message.name):
            job, spec = hit
            return replace(job, name=message.name), {**spec, "name": message.name}
        spec = convert.job_entry(message)
        try:
            job = self._engine.parse([spec])[0]
        except InvalidInputError as exc:
            raise convert.rebase(exc, "jobs[0]", "job") from None
        self._parsed[key] = (job, spec)
        if len(self._parsed) > PARSED_JOBS_KEPT:
            self._parsed.popitem(last=False)
        return job, spec

    async def ListOffers(
        self, request: pb.ListOffersRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ListOffersResponse:
        """One job's offers, best first, a page at a time (reserves nothing)."""
        try:  # parsed here on the loop, where Route keeps its cache of parsed jobs
            if not request.HasField("job"):
                raise InvalidInputError([FieldProblem("job", "is required")])
            job, _ = self._route_job(request.job)
        except RouterError as exc:
            await self._abort(context, "ListOffers", exc)
            raise AssertionError("abort returned") from exc  # pragma: no cover

        def work() -> pb.ListOffersResponse:
            found = self._engine.offers(job, include_rejected=request.include_rejected)
            return offers_page(found, request.page_size, request.page_token)

        return await self._call(context, self._fast, "ListOffers", work)

    async def Release(
        self, request: pb.ReleaseRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ReleaseResponse:
        """End a reservation."""

        def work() -> pb.ReleaseResponse:
            if not request.reservation_id:
                raise InvalidInputError([FieldProblem("reservation_id", "is required")])
            released = self._engine.release(request.reservation_id)
            return pb.ReleaseResponse(reservation=convert.reservation_message(released))

        return await self._call(context, self._fast, "Release", work)

    async def ListReservations(
        self, request: pb.ListReservationsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ListReservationsResponse:
        """Reservations, oldest first."""

        def work() -> pb.ListReservationsResponse:
            found = self._engine.reservations(
                site=request.site or None, include_ended=request.include_ended
            )
            return pb.ListReservationsResponse(
                reservations=[convert.reservation_message(r) for r in found]
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

        def work() -> pb.WhatIfResponse:
            result = self._engine.whatif(
                [convert.job_entry(j) for j in request.jobs],
                convert.scenario_entries(request.scenarios),
                time_limit_s=budget(),
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
        site = request.site
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


class RouterServer:
    """A started-or-startable router server: gRPC server, health, pools and engine."""

    def __init__(
        self,
        server: grpc.aio.Server,
        servicer: RouterServicer,
        health: health_aio.HealthServicer,
        executors: tuple[ThreadPoolExecutor, ...],
        engine: Engine,
        expiry_sweep_s: float = DEFAULT_EXPIRY_SWEEP_S,
    ) -> None:
        self.expiry_sweep_s = expiry_sweep_s
        self.grpc_server = server
        self.servicer = servicer
        self.health = health
        self.engine = engine
        self._executors = executors

    async def start(self) -> None:
        """Start serving and report SERVING."""
        await self.grpc_server.start()
        self.servicer.start_expiry(self.expiry_sweep_s)
        for name in ("", SERVICE_NAME):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)

    async def stop(self, grace_s: float = DEFAULT_GRACE_S) -> None:
        """Graceful stop: NOT_SERVING first, end watch streams, let in-flight calls finish."""
        await self.health.enter_graceful_shutdown()
        self.servicer.end_watches()
        await self.grpc_server.stop(grace_s)
        await self.servicer.close()
        for executor in self._executors:
            executor.shutdown(wait=True)


def create_server(
    address: str,
    *,
    topology: Topology,
    ledger: Ledger,
    default_time_limit_s: float = DEFAULT_TIME_LIMIT_S,
    topology_source: Callable[[], Topology] | None = None,
    expiry_sweep_s: float = DEFAULT_EXPIRY_SWEEP_S,
    max_concurrent_rpcs: int = 512,
    fast_workers: int = 4,
    slow_workers: int = 2,
    extra_handlers: Sequence[grpc.GenericRpcHandler] = (),
) -> tuple[RouterServer, int]:
    """Build the server on `address` ("127.0.0.1:0" picks a free port); call on a running loop.

    Returns the server (not yet started) and the bound port. `topology_source` loads the
    topology again for ReloadTopology / SIGHUP (None: reload is unavailable); reservations
    whose ttl passed are ended every `expiry_sweep_s` (0: only lazily, in Route / Place).
    """
    engine = Engine(topology, ledger)
    fast = ThreadPoolExecutor(fast_workers, thread_name_prefix="westward-fast")
    slow = ThreadPoolExecutor(slow_workers, thread_name_prefix="westward-slow")
    commits = ThreadPoolExecutor(1, thread_name_prefix="westward-ledger")
    servicer = RouterServicer(
        engine,
        fast=fast,
        slow=slow,
        ledger=commits,
        default_time_limit_s=default_time_limit_s,
        topology_source=topology_source,
    )
    server = grpc.aio.server(
        handlers=list(extra_handlers), maximum_concurrent_rpcs=max_concurrent_rpcs
    )
    pb_grpc.add_RouterServiceServicer_to_server(servicer, server)
    health = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    reflection.enable_server_reflection(
        (
            pb.DESCRIPTOR.services_by_name["RouterService"].full_name,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        ),
        server,
    )
    try:
        port = server.add_insecure_port(address)
    except RuntimeError:
        port = 0
    if port == 0:
        for executor in (fast, slow, commits):
            executor.shutdown(wait=False)
        raise ListenError(f"cannot listen on {address!r}: in use, or not a host:port")
    executors = (fast, slow, commits)
    return RouterServer(server, servicer, health, executors, engine, expiry_sweep_s), port
