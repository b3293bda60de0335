"""`westward serve` and `westward plan --server`: the CLI side of the gRPC service."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from router.errors import FieldProblem, InvalidInputError
from router.plan import Plan
from router.sourcefile import read_yaml

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
        "--state", default=DEFAULT_STATE, metavar="F",
        help=f"SQLite file holding reservations (default ./{DEFAULT_STATE})",
    )  # fmt: skip
    serve.add_argument(
        "--grace", type=float, default=10.0, metavar="S",
        help="seconds in-flight calls get to finish on SIGTERM/SIGINT (default 10)",
    )  # fmt: skip
    serve.set_defaults(handler=_cmd_serve)


def _cmd_serve(args: argparse.Namespace) -> int:
    from router.service import serve

    return serve(
        topology_path=args.topology, listen=args.listen, state_path=args.state, grace_s=args.grace
    )


def remote_plan(
    server: str, jobs_path: str, *, time_limit_s: float, carbon_price_cny_per_kg: float
) -> Plan:
    """Plan a jobs file on a westward server (nothing is reserved); problems name file:line."""
    from router.client import RouterClient

    source = read_yaml(jobs_path)
    data = source.data
    entries = data.get("jobs") if isinstance(data, Mapping) else None
    if not isinstance(entries, list):
        raise source.locate([FieldProblem("jobs", "is required (a list of jobs)")])
    try:
        with RouterClient(server) as client:
            return client.plan(
                entries,
                time_limit_s=time_limit_s,
                carbon_price_cny_per_kg=carbon_price_cny_per_kg,
                timeout_s=time_limit_s + 30.0,
            )
    except InvalidInputError as exc:
        raise source.locate(exc.problems) from None
