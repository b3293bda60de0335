"""`westward bench route`: Route latency and rate over real gRPC, next to a bare echo RPC.

One server process (this one) runs the router service, with an extra no-op Echo method
on the same grpc.aio server. A separate load process runs `concurrency` callers on one
channel that send pre-serialised requests as fast as answers come back, first Echo,
then Route. Every Route is a real placement plus a durable SQLite commit: the topology's
pool counts are scaled up so the run never exhausts capacity (unplaced answers are
counted and reported). Numbers on a shared 2-core machine are noisy.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import random
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import grpc
import grpc.aio

from router.model.topology import Topology, default_topology
from router.report.stats import percentile
from router.report.tables import format_table
from router.service import convert
from router.service.background import BackgroundServer
from router.service.convert import pb
from router.state.sqlite import SqliteLedger

ECHO_METHOD = "/westward.bench.v1.Bench/Echo"
ROUTE_METHOD = "/router.v1.RouterService/Route"
CAPACITY_SCALE = 1000


@dataclass(frozen=True)
class LoadResult:
    """Latency percentiles and throughput of one method under load."""

    method: str
    requests: int
    seconds: float
    rate_per_s: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    errors: int
    server_cpu_us_per_request: float


@dataclass(frozen=True)
class RouteBench:
    """Route next to Echo, measured the same way on the same server."""

    concurrency: int
    templates: int
    route: LoadResult
    echo: LoadResult
    rate_ratio: float
    unplaced: int
    paced: list[LoadResult]


class _Echo(grpc.GenericRpcHandler):
    """The bare baseline: returns the request bytes, no (de)serialisation."""

    def service(self, details: Any) -> Any:
        if details.method != ECHO_METHOD:
            return None

        async def echo(request: bytes, context: Any) -> bytes:
            return request

        return grpc.unary_unary_rpc_method_handler(echo)


def bench_topology(scale: int = CAPACITY_SCALE) -> Topology:
    """The default topology with every pool `scale` times larger (the run never fills it)."""
    topology = default_topology()
    sites = {
        name: replace(site, pools=tuple(replace(p, count=p.count * scale) for p in site.pools))
        for name, site in topology.sites.items()
    }
    return replace(topology, sites=sites)


def route_requests(topology: Topology, n: int, seed: int = 0, templates: int = 200) -> list[bytes]:
    """`n` valid Route requests, serialised, each with its own name and request_id.

    Jobs come from `templates` distinct shapes (origin, budget, types, count, hours), as
    launchers submit them; `templates=0` makes every job a new shape (no cache hits).
    """
    rng = random.Random(seed)
    regions = sorted(topology.regions)
    inference = sorted(a.name for a in topology.accelerators.values() if "fp16" in a.tflops)

    def shape() -> dict[str, Any]:
        return {
            "kind": "inference",
            "origin": rng.choice(regions),
            "max_latency_ms": rng.choice([20, 40, 80, 150]),
            "accelerators": {
                "count": rng.choice([1, 1, 2, 4]),
                "types": rng.sample(inference, k=min(3, len(inference))),
            },
            "hours": rng.choice([0.5, 1, 4]),
        }

    shapes = [shape() for _ in range(templates)]
    out = []
    for i in range(n):
        entry = {"name": f"bench-{i}", **(rng.choice(shapes) if shapes else shape())}
        request = pb.RouteRequest(job=convert.job_message(entry), request_id=uuid.uuid4().hex)
        out.append(request.SerializeToString())
    return out


def _load(
    target: str,
    method: str,
    payloads: list[bytes],
    concurrency: int,
    warmup_s: float,
    rate_per_s: float = 0.0,
) -> tuple[list[float], float, int, int]:
    """In the load process: latencies (s), wall seconds, errors, unplaced answers."""
    return asyncio.run(_drive(target, method, payloads, concurrency, warmup_s, rate_per_s))


async def _drive(
    target: str,
    method: str,
    payloads: list[bytes],
    concurrency: int,
    warmup_s: float,
    rate_per_s: float,
) -> tuple[list[float], float, int, int]:
    """Closed loop (each caller sends as soon as it has its answer) or, with rate_per_s,
    paced: request i is due at i / rate_per_s and its latency counts from then."""
    async with grpc.aio.insecure_channel(target) as channel:
        call: Any = channel.unary_unary(method)
        latencies: list[float] = []
        errors = 0
        unplaced = 0
        next_index = 0
        measuring = False
        begin = time.perf_counter()

        async def caller() -> None:
            nonlocal next_index, errors, unplaced
            while next_index < len(payloads):
                payload = payloads[next_index]
                started = time.perf_counter()
                if rate_per_s > 0:
                    due = begin + next_index / rate_per_s
                    next_index += 1
                    if due > started:
                        await asyncio.sleep(due - started)
                    started = due
                else:
                    next_index += 1
                try:
                    answer = await call(payload, timeout=10)
                except grpc.aio.AioRpcError:
                    errors += 1
                    continue
                if measuring:
                    latencies.append(time.perf_counter() - started)
                    if method == ROUTE_METHOD and bytes(answer[:1]) == b"\x12":
                        unplaced += 1

        # Warm up (connections, caches, SQLite pages), then measure the rest.
        warm = [asyncio.create_task(caller()) for _ in range(concurrency)]
        await asyncio.sleep(warmup_s)
        measuring = True
        started = time.perf_counter()
        await asyncio.gather(*warm)
        return latencies, time.perf_counter() - started, errors, unplaced


def _summary(
    method: str, latencies: list[float], seconds: float, errors: int, cpu_s: float, sent: int
) -> LoadResult:
    ordered = sorted(latencies)
    ms = [x * 1000 for x in ordered]
    return LoadResult(
        method=method,
        requests=len(ms),
        seconds=round(seconds, 3),
        rate_per_s=round(len(ms) / seconds, 1) if seconds > 0 else 0.0,
        p50_ms=round(percentile(ms, 50) or 0.0, 3),
        p99_ms=round(percentile(ms, 99) or 0.0, 3),
        max_ms=round(ms[-1], 3) if ms else 0.0,
        errors=errors,
        server_cpu_us_per_request=round(cpu_s / sent * 1e6, 1) if sent else 0.0,
    )


def run_route_bench(
    *,
    requests: int = 20_000,
    concurrency: int = 32,
    warmup_s: float = 1.0,
    seed: int = 0,
    templates: int = 200,
    paced_rate_per_s: float = 500.0,
    paced_seconds: float = 4.0,
) -> RouteBench:
    """Start a server, drive Echo then Route with `concurrency` callers, report both.

    Closed loop measures the rate each sustains; a second, paced run at
    `paced_rate_per_s` (0: skip) measures latency when the server is not saturated.
    """
    topology = bench_topology()
    payloads = route_requests(topology, requests, seed, templates)
    paced_n = int(paced_rate_per_s * (paced_seconds + warmup_s))
    paced_payloads = route_requests(topology, paced_n, seed + 1, templates) if paced_n else []
    paced: list[LoadResult] = []
    with tempfile.TemporaryDirectory(prefix="westward-bench-") as tmp:
        ledger = SqliteLedger(Path(tmp) / "state.sqlite")
        bg = BackgroundServer(topology=topology, ledger=ledger, extra_handlers=[_Echo()])
        with bg, ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            target = f"127.0.0.1:{bg.port}"
            pool.submit(time.sleep, 0).result()  # the load process is up before timing

            def run(method: str, sent: list[bytes], rate: float = 0.0) -> tuple[Any, float]:
                # This process only serves while the load runs: its CPU time is the server's.
                cpu = time.process_time()
                out = pool.submit(_load, target, method, sent, concurrency, warmup_s, rate).result()
                return out, time.process_time() - cpu

            (echo_lat, echo_s, echo_err, _), echo_cpu = run(ECHO_METHOD, payloads)
            (route_lat, route_s, route_err, unplaced), route_cpu = run(ROUTE_METHOD, payloads)
            for name, method in (("Echo", ECHO_METHOD), ("Route", ROUTE_METHOD)):
                if not paced_payloads:
                    break
                (lat, secs, errs, _), cpu = run(method, paced_payloads, paced_rate_per_s)
                label = f"{name}@{paced_rate_per_s:g}/s"
                paced.append(_summary(label, lat, secs, errs, cpu, len(paced_payloads)))
        ledger.close()
    echo = _summary("Echo", echo_lat, echo_s, echo_err, echo_cpu, len(payloads))
    route = _summary("Route", route_lat, route_s, route_err, route_cpu, len(payloads))
    ratio = route.rate_per_s / echo.rate_per_s if echo.rate_per_s else 0.0
    return RouteBench(concurrency, templates, route, echo, round(ratio, 3), unplaced, paced)


def bench_to_dict(bench: RouteBench) -> dict[str, Any]:
    """JSON form of a route benchmark."""
    return asdict(bench)


def render_bench(bench: RouteBench) -> str:
    """A small table: method, requests, rate, p50, p99, max, errors, server CPU per request."""
    headers = ["METHOD", "REQUESTS", "RATE/S", "P50_MS", "P99_MS", "MAX_MS", "ERRORS", "CPU_US/REQ"]
    rows = [
        [
            r.method,
            str(r.requests),
            f"{r.rate_per_s:.0f}",
            f"{r.p50_ms:.2f}",
            f"{r.p99_ms:.2f}",
            f"{r.max_ms:.2f}",
            str(r.errors),
            f"{r.server_cpu_us_per_request:.0f}",
        ]
        for r in (bench.echo, bench.route, *bench.paced)
    ]
    lines = [format_table(headers, rows, right=[False] + [True] * 7)]
    lines.append(
        f"{bench.concurrency} concurrent callers (closed loop, then paced at a fixed rate); "
        f"Route rate = {100 * bench.rate_ratio:.0f}% "
        f"of Echo; {bench.unplaced} Route answers unplaced; "
        + (f"jobs from {bench.templates} shapes" if bench.templates else "every job a new shape")
    )
    return "\n".join(lines)
