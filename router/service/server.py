"""The gRPC server around the servicer: health, reflection, pools and limits, shutdown.

`create_server(address, ...)` returns `(server, port)`; tests and benchmarks use port 0
(router.service.background runs one on its own thread; router.service.process is
`westward serve`). Shutdown is graceful: health turns NOT_SERVING first, watch streams
are told to finish, in-flight calls complete.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import reflection

from router.errors import (
    RouterError,
)
from router.model.topology import Topology
from router.service.auth import AuthInterceptor
from router.service.gate import (
    DEFAULT_UNARY_BUDGET,
    DEFAULT_WATCHERS,
    DEFAULT_WATCHERS_PER_PEER,
    SERVICE,
    Gate,
)
from router.service.metrics import CallObserver, Metrics
from router.service.servicer import DEFAULT_TIME_LIMIT_S, RouterServicer
from router.service.tenants import Tenants
from router.state.engine import Engine
from router.state.ledger import Ledger

DEFAULT_GRACE_S = 10.0
DEFAULT_EXPIRY_SWEEP_S = 1.0


class ListenError(RouterError):
    """The server could not bind its address."""


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
        metrics: Metrics | None = None,
    ) -> None:
        self.expiry_sweep_s = expiry_sweep_s
        self.metrics = metrics
        self.grpc_server = server
        self.servicer = servicer
        self.health = health
        self.engine = engine
        self._executors = executors

    async def start(self) -> None:
        """Start serving and report SERVING."""
        await self.grpc_server.start()
        self.servicer.start_expiry(self.expiry_sweep_s)
        for name in ("", SERVICE.full_name):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)

    async def stop(self, grace_s: float = DEFAULT_GRACE_S) -> None:
        """Graceful stop: NOT_SERVING first, end watch streams, let in-flight calls finish."""
        await self.health.enter_graceful_shutdown()
        self.servicer.end_watches()
        await self.grpc_server.stop(grace_s)
        await self.servicer.close()
        if self.metrics is not None:
            self.metrics.close()
        for executor in self._executors:  # a solve still running is abandoned, not awaited:
            executor.shutdown(wait=False, cancel_futures=True)  # its commit is refused


def create_server(
    address: str,
    *,
    topology: Topology,
    ledger: Ledger,
    default_time_limit_s: float = DEFAULT_TIME_LIMIT_S,
    topology_source: Callable[[], Topology] | None = None,
    expiry_sweep_s: float = DEFAULT_EXPIRY_SWEEP_S,
    max_concurrent_rpcs: int = DEFAULT_UNARY_BUDGET,
    max_watchers: int = DEFAULT_WATCHERS,
    max_watchers_per_peer: int = DEFAULT_WATCHERS_PER_PEER,
    fast_workers: int = 4,
    slow_workers: int = 2,
    extra_handlers: Sequence[grpc.GenericRpcHandler] = (),
    credentials: grpc.ServerCredentials | None = None,
    tenants: Tenants | None = None,
    metrics: bool = False,
) -> tuple[RouterServer, int]:
    """Build the server on `address` ("127.0.0.1:0" picks a free port); call on a running loop.

    Returns the server (not yet started) and the bound port. `topology_source` loads the
    topology again for ReloadTopology / SIGHUP (None: reload is unavailable); reservations
    whose ttl passed are ended every `expiry_sweep_s` (0: only lazily, in Route / Place).
    `max_concurrent_rpcs` bounds RouterService unary calls in flight; watch streams have
    their own caps (router.service.gate); Health is never refused. Every call is logged
    (router.service.metrics); with `metrics`, the server also keeps Prometheus metrics.
    With `credentials` the port speaks TLS only (router.service.tls); with `tenants` every
    call is authenticated, authorized and rate-limited first (router.service.auth).
    """
    engine = Engine(topology, ledger)
    if tenants is not None:
        engine.set_quotas(tenants.quota_policy())
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
    gate = Gate(max_concurrent_rpcs, max_watchers, max_watchers_per_peer)
    observed = Metrics(engine) if metrics else None
    server = grpc.aio.server(
        handlers=[*extra_handlers, gate.handler(servicer)],
        interceptors=[CallObserver(observed), *([AuthInterceptor(tenants)] if tenants else [])],
    )
    health = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    reflection.enable_server_reflection(
        (
            SERVICE.full_name,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        ),
        server,
    )
    try:
        if credentials is None:
            port = server.add_insecure_port(address)
        else:
            port = server.add_secure_port(address, credentials)
    except RuntimeError:
        port = 0
    if port == 0:
        for executor in (fast, slow, commits):
            executor.shutdown(wait=False)
        if observed is not None:
            observed.close()
        raise ListenError(f"cannot listen on {address!r}: in use, or not a host:port")
    executors = (fast, slow, commits)
    router = RouterServer(server, servicer, health, executors, engine, expiry_sweep_s, observed)
    return router, port
