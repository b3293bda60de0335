"""What every call did, for operators: one JSON log line per call and Prometheus metrics.

`CallObserver` is a gRPC server interceptor, so every call (RouterService, Health,
reflection) is seen once, whatever answered it. It logs method, status code, duration,
request_id and tenant (when known) and, with `Metrics`, counts calls by method and code,
times them, and reads solver figures off Place answers. Devices held and free per pool
are read from the engine when Prometheus scrapes; placement events (placed, moved,
released, evicted, expired) are counted as the engine publishes them.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import grpc
import grpc.aio
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from router.errors import FieldProblem, InvalidInputError
from router.service.convert import pb

if TYPE_CHECKING:
    from router.results import PlacementEvent
    from router.state.engine import Engine

log = logging.getLogger("westward.calls")
_Req = TypeVar("_Req")
_Resp = TypeVar("_Resp")

LATENCY_BUCKETS_S = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
)  # fmt: skip
SOLVER_SECONDS_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120)
GAP_BUCKETS = (0.0, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)


@dataclass
class CallFacts:
    """What the layers inside learn about the current call (request_id, tenant)."""

    request_id: str = ""
    tenant: str = ""


_CALL: contextvars.ContextVar[CallFacts | None] = contextvars.ContextVar("call", default=None)


def note_call(*, request_id: str | None = None, tenant: str | None = None) -> None:
    """Record facts about the call being served (for its log line); no-op outside a call."""
    facts = _CALL.get()
    if facts is None:
        return
    if request_id is not None:
        facts.request_id = request_id
    if tenant is not None:
        facts.tenant = tenant


class Metrics:
    """The service's Prometheus metrics, in a registry of their own."""

    def __init__(self, engine: Engine) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.calls = Counter(
            "westward_calls",
            "Calls finished, by full method name and gRPC status code",
            ["method", "code"],
            registry=self.registry,
        )
        self.call_seconds = Histogram(
            "westward_call_seconds",
            "Time to answer a unary call, by full method name",
            ["method"],
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.events = Counter(
            "westward_placement_events",
            "Reservation changes: placed, moved, released, evicted, expired",
            ["type"],
            registry=self.registry,
        )
        self.solver_seconds = Histogram(
            "westward_solver_seconds",
            "Solver time of each Place plan",
            buckets=SOLVER_SECONDS_BUCKETS,
            registry=self.registry,
        )
        self.solver_gap = Histogram(
            "westward_solver_gap_ratio",
            "Each Place plan's gap to its lower bound: (cost - bound) / cost",
            buckets=GAP_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(DeviceCollector(engine))
        self._unsubscribe = engine.subscribe(self._count_event)

    def _count_event(self, event: PlacementEvent) -> None:
        self.events.labels(event.type).inc()

    def observe(self, method: str, code: str, seconds: float | None, answer: object) -> None:
        """Count one finished call; `seconds` None for streams (no latency sample)."""
        self.calls.labels(method, code).inc()
        if seconds is not None:
            self.call_seconds.labels(method).observe(seconds)
        if isinstance(answer, pb.PlaceResponse):
            plan = answer.plan
            self.solver_seconds.observe(plan.solver_seconds)
            if plan.total_cost_cny > 0:
                gap = max(0.0, plan.total_cost_cny - plan.lower_bound_cny) / plan.total_cost_cny
                self.solver_gap.observe(gap)

    def close(self) -> None:
        """Stop counting the engine's events."""
        self._unsubscribe()


class DeviceCollector(Collector):
    """Devices held and free per site and pool, read from the engine at each scrape."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def describe(self) -> list[Metric]:
        return [self._family()]

    def _family(self) -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "westward_devices",
            "Devices per site and pool: held by reservations, free, or down with their site",
            labels=["site", "pool", "accelerator", "state"],
        )

    def collect(self) -> Iterator[Metric]:
        view = self._engine.topology_view()
        held = view.held()
        family = self._family()
        for site in view.topology.sites.values():
            for index, pool in enumerate(site.pools):
                key = (site.name, index)
                labels = [site.name, str(index), pool.accelerator]
                down = pool.count if site.status == "down" else 0
                family.add_metric([*labels, "held"], held[key])
                family.add_metric([*labels, "free"], view.free.get(key, 0))
                family.add_metric([*labels, "down"], down)
        yield family


def serve_metrics(address: str, metrics: Metrics) -> tuple[int, Callable[[], None]]:
    """Serve /metrics over HTTP on `address` (host:port; port 0 picks one) in a thread;
    returns the port and a function that stops it."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise InvalidInputError(
            [FieldProblem("--metrics-listen", f"must be host:port (port 0-65535), got {address!r}")]
        )
    try:
        server, thread = start_http_server(
            int(port), addr=host.strip("[]") or "0.0.0.0", registry=metrics.registry
        )
    except OSError as exc:
        raise InvalidInputError(
            [FieldProblem("--metrics-listen", f"cannot listen on {address!r}: {exc.strerror}")]
        ) from None

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(5)

    return int(server.server_port), stop


# --- the interceptor -----------------------------------------------------------------------


class CallObserver(grpc.aio.ServerInterceptor):
    """Sees every call once: a JSON log line for each, and metrics when given."""

    def __init__(self, metrics: Metrics | None = None) -> None:
        self.metrics = metrics
        # Each method's handler is the same object call after call: wrap it once.
        self._wrapped: dict[str, tuple[object, Any]] = {}

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[_Req, _Resp] | None]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[_Req, _Resp] | None:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        method: str = handler_call_details.method
        seen = self._wrapped.get(method)
        if seen is not None and seen[0] is handler:
            wrapped: grpc.RpcMethodHandler[_Req, _Resp] = seen[1]
            return wrapped
        wrapped = self._wrap(method, handler)
        self._wrapped[method] = (handler, wrapped)
        return wrapped

    def _wrap(self, method: str, handler: Any) -> Any:
        wrap = {
            "unary_unary": (self._unary, grpc.unary_unary_rpc_method_handler),
            "unary_stream": (self._stream, grpc.unary_stream_rpc_method_handler),
            "stream_unary": (self._unary, grpc.stream_unary_rpc_method_handler),
            "stream_stream": (self._stream, grpc.stream_stream_rpc_method_handler),
        }
        for kind, (observed, make) in wrap.items():
            behaviour = getattr(handler, kind)
            if behaviour is not None:
                return make(
                    observed(method, behaviour),
                    request_deserializer=handler.request_deserializer,
                    response_serializer=handler.response_serializer,
                )
        return handler

    def _unary(self, method: str, behaviour: Any) -> Any:
        if not inspect.iscoroutinefunction(behaviour):
            return behaviour  # sync behaviours run in grpc's executor; none here

        async def observed(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            facts = CallFacts()
            _CALL.set(facts)
            started = time.perf_counter()
            try:
                answer = await behaviour(request, context)
            except BaseException as exc:
                self._finish(method, _failed(context, exc), facts, started, None, unary=True)
                raise
            self._finish(method, _code_name(context), facts, started, answer, unary=True)
            return answer

        return observed

    def _stream(self, method: str, behaviour: Any) -> Any:
        if not inspect.isasyncgenfunction(behaviour):
            return behaviour

        async def observed(
            request: Any, context: grpc.aio.ServicerContext[Any, Any]
        ) -> AsyncIterator[Any]:
            facts = CallFacts()
            _CALL.set(facts)
            started = time.perf_counter()
            try:
                async for answer in behaviour(request, context):
                    yield answer
            except BaseException as exc:
                self._finish(method, _failed(context, exc), facts, started, None, unary=False)
                raise
            self._finish(method, _code_name(context), facts, started, None, unary=False)

        return observed

    def _finish(
        self,
        method: str,
        code: str,
        facts: CallFacts,
        started: float,
        answer: object,
        *,
        unary: bool,
    ) -> None:
        seconds = time.perf_counter() - started
        if self.metrics is not None:
            self.metrics.observe(method, code, seconds if unary else None, answer)
        if log.isEnabledFor(logging.INFO):
            entry: dict[str, Any] = {"method": method, "code": code, "ms": round(seconds * 1e3, 3)}
            if facts.request_id:
                entry["request_id"] = facts.request_id
            if facts.tenant:
                entry["tenant"] = facts.tenant
            log.info("call", extra=entry)


def _failed(context: grpc.aio.ServicerContext[Any, Any], exc: BaseException) -> str:
    """The status of a call that raised: an abort's code, CANCELLED, or UNKNOWN (a bug)."""
    if isinstance(exc, asyncio.CancelledError):
        return "CANCELLED"
    code = _code_name(context)
    return code if code != "OK" else "UNKNOWN"


def _code_name(context: grpc.aio.ServicerContext[Any, Any]) -> str:
    """The status the call ends with: what the handler set or aborted with, else OK."""
    code = context.code()
    if isinstance(code, grpc.StatusCode):
        return code.name
    if isinstance(code, int):  # some grpcio versions hand back the raw number
        return next((c.name for c in grpc.StatusCode if c.value[0] == code), "UNKNOWN")
    return "CANCELLED" if context.cancelled() else "OK"
