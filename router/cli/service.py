"""`westward serve` and `westward plan --server`: the CLI side of the gRPC service."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from router.cli.common import non_negative_float, positive_int
from router.errors import FieldProblem, InvalidInputError

if TYPE_CHECKING:
    from router.client import RouterClient
    from router.results import Plan

DEFAULT_LISTEN = "127.0.0.1:50051"
DEFAULT_STATE = "westward-state.sqlite"


def register(commands: Any) -> None:
    """Add the `serve` subcommand."""
    serve = commands.add_parser("serve", help="run the gRPC router service")
    serve.add_argument(
        "--topology", metavar="F", help="topology YAML (default: the embedded china-edwc)"
    )
    serve.add_argument(
        "--listen", default=DEFAULT_LISTEN, metavar="ADDR",
        help=f"host:port to listen on; port 0 picks a free one (default {DEFAULT_LISTEN})",
    )  # fmt: skip
    serve.add_argument(
        "--state", default=DEFAULT_STATE, metavar="F|URL",
        help=f"SQLite file holding reservations (default ./{DEFAULT_STATE}), or a "
        "postgresql://USER@HOST:PORT/DB URL shared by several replicas",
    )  # fmt: skip
    serve.add_argument(
        "--grace", type=non_negative_float, default=10.0, metavar="S",
        help="seconds in-flight calls get to finish on SIGTERM/SIGINT (default 10)",
    )  # fmt: skip
    serve.add_argument(
        "--metrics-listen", metavar="ADDR",
        help="also serve Prometheus metrics at http://ADDR/metrics (host:port; default: off)",
    )  # fmt: skip
    add_access_options(serve)
    serve.set_defaults(handler=_cmd_serve)


def add_access_options(serve: argparse.ArgumentParser) -> None:
    """`--auth`, `--tls-cert`, `--tls-key`, `--client-ca` and `--insecure` (docs/security.md)."""
    serve.add_argument("--auth", metavar="F", help="tenants file: tokens, roles, quotas")
    serve.add_argument("--tls-cert", metavar="F", help="server certificate chain (PEM)")
    serve.add_argument("--tls-key", metavar="F", help="server private key (PEM)")
    serve.add_argument(
        "--client-ca", metavar="F", help="CA (PEM) client certificates must chain to (mTLS)"
    )
    serve.add_argument(
        "--insecure", action="store_true",
        help="allow a non-loopback --listen without TLS and --auth",
    )  # fmt: skip


def _cmd_serve(args: argparse.Namespace) -> int:
    from pathlib import Path

    from router.service.process import serve
    from router.service.tls import TlsFiles

    if (args.tls_cert is None) != (args.tls_key is None):
        raise InvalidInputError([FieldProblem("--tls-cert", "needs --tls-key, and the other way")])
    if args.client_ca is not None and args.tls_cert is None:
        raise InvalidInputError([FieldProblem("--client-ca", "needs --tls-cert and --tls-key")])
    tls = None
    if args.tls_cert is not None:
        ca = Path(args.client_ca) if args.client_ca else None
        tls = TlsFiles(Path(args.tls_cert), Path(args.tls_key), ca)
    return serve(
        topology_path=args.topology,
        listen=args.listen,
        state_path=args.state,
        grace_s=args.grace,
        auth_path=args.auth,
        tls=tls,
        insecure=args.insecure,
        metrics_listen=args.metrics_listen,
    )


def register_bench_route(bench_commands: Any) -> None:
    """Add `bench route`: Route over gRPC next to a bare echo RPC (router.bench.rpc)."""
    route = bench_commands.add_parser(
        "route", help="Route latency (p50/p99) and rate over gRPC, next to a bare echo RPC"
    )
    route.add_argument(
        "--requests", type=positive_int, default=20_000, metavar="N",
        help="Route calls in the closed-loop run (default 20000)",
    )  # fmt: skip
    route.add_argument(
        "--concurrency", type=positive_int, default=32, metavar="C",
        help="callers sending at once (default 32)",
    )  # fmt: skip
    route.add_argument(
        "--templates", type=int, default=200, metavar="T",
        help="distinct job shapes the requests are drawn from; 0: every job new (default 200)",
    )  # fmt: skip
    route.add_argument(
        "--paced-rate", type=non_negative_float, default=500.0, metavar="R",
        help="requests/s of the paced latency run (0: skip; default 500)",
    )  # fmt: skip
    route.add_argument(
        "--seed", type=int, default=0, metavar="S", help="random seed of the jobs (default 0)"
    )
    route.add_argument("--json", action="store_true", help="print one JSON object")
    route.set_defaults(handler=_cmd_bench_route)


def _cmd_bench_route(args: argparse.Namespace) -> int:
    from router.bench.rpc import bench_to_dict, render_bench, run_route_bench
    from router.cli.common import print_json, working

    if args.requests < args.concurrency:
        raise InvalidInputError([FieldProblem("--requests", "must be at least --concurrency")])
    if args.templates < 0:
        raise InvalidInputError([FieldProblem("--templates", "must be a whole number >= 0")])
    with working(f"routing {args.requests:,} jobs with {args.concurrency} callers"):
        bench = run_route_bench(
            requests=args.requests,
            concurrency=args.concurrency,
            templates=args.templates,
            seed=args.seed,
            paced_rate_per_s=args.paced_rate,
        )
    if args.json:
        print_json(bench_to_dict(bench))
    else:
        print(render_bench(bench))
    return 0


def remote_plan(
    client: RouterClient, jobs_path: str, *, time_limit_s: float, carbon_price_cny_per_kg: float
) -> Plan:
    """Plan a jobs file on a westward server (nothing is reserved); problems name file:line."""
    from router.model.sourcefile import read_yaml

    source = read_yaml(jobs_path)
    data = source.data
    entries = data.get("jobs") if isinstance(data, Mapping) else None
    if not isinstance(entries, list):
        raise source.locate([FieldProblem("jobs", "is required (a list of jobs)")])
    try:
        return client.plan(
            entries,
            time_limit_s=time_limit_s,
            carbon_price_cny_per_kg=carbon_price_cny_per_kg,
            timeout_s=time_limit_s + 30.0,
        )
    except InvalidInputError as exc:
        raise source.locate(exc.problems) from None
