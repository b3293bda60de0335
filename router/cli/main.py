"""The `westward` command: plans, topology tools, what-if, benchmarks and the service."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from router.cli import auth as cli_auth
from router.cli import bench as cli_bench
from router.cli import ledger as cli_ledger
from router.cli import live as cli_live
from router.cli import offers as cli_offers
from router.cli import service as cli_service
from router.cli import topology as cli_topology
from router.cli import whatif as cli_whatif
from router.cli.common import (
    add_server_options,
    add_time_limit_option,
    add_topology_option,
    connect,
    non_negative_float,
    print_json,
    topology_from,
    working,
)
from router.errors import FieldProblem, InvalidInputError, RouterError, ServiceUnavailableError
from router.report.words import plural

if TYPE_CHECKING:
    from router.results import Plan

EXIT_BAD_INPUT = 2


def main(argv: Sequence[str] | None = None, started: float | None = None) -> int:
    """Entry point: run a subcommand; bad input exits 2 with one line per problem.
    `started`: the time.monotonic() the command's time limit counts from (default now)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.started = time.monotonic() if started is None else started
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except InvalidInputError as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except ServiceUnavailableError as exc:
        server = getattr(args, "server", None)
        where = f"--server {server}: " if server else ""
        print(f"error: {where}{exc}", file=sys.stderr)
        return 1
    except RouterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader (e.g. `| head`) went away; that is not an error of ours.
        sys.stderr.close()
        return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = argparse.ArgumentParser(
        prog="westward",
        description="Latency-aware workload router: places AI jobs on cheaper western "
        "datacenters within their latency budgets.",
    )
    parser.add_argument("--version", action=_VersionAction, help="print the version and exit")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    plan = commands.add_parser("plan", help="plan a batch of jobs and compare with staying east")
    plan.add_argument("--jobs", required=True, metavar="F", help="jobs file: YAML, .json or .jsonl")
    add_topology_option(plan)
    add_time_limit_option(plan)
    plan.add_argument(
        "--carbon-price",
        type=non_negative_float,
        default=0.0,
        metavar="CNY_PER_KG",
        help="price of emitted CO2 in CNY per kg (default 0)",
    )
    plan.add_argument("--json", action="store_true", help="print one JSON object")
    plan.add_argument(
        "--tenants",
        metavar="F",
        help="tenants file: each job's `tenant` quota limits the plan (docs/security.md)",
    )
    add_server_options(
        plan,
        "plan on a westward server (host:port) instead of locally, on the devices its "
        "reservations leave free; reserves nothing",
    )
    plan.set_defaults(handler=_cmd_plan)

    cli_offers.register(commands)
    cli_topology.register(commands)
    cli_whatif.register(commands)
    cli_bench.register(commands)
    cli_service.register(commands)
    cli_ledger.register(commands)
    cli_auth.register(commands)
    cli_live.register(commands)

    jobs = commands.add_parser("jobs", help="validate job files")
    jobs_commands = jobs.add_subparsers(dest="jobs_command", required=True)
    jobs_validate = jobs_commands.add_parser("validate", help="check a jobs file")
    jobs_validate.add_argument("file", metavar="F", help="jobs file (YAML, JSON or JSON Lines)")
    add_topology_option(jobs_validate)
    jobs_validate.set_defaults(handler=_cmd_jobs_validate)
    return parser


class _VersionAction(argparse.Action):
    """`--version`: the installed package's version, looked up only when asked for."""

    def __init__(self, option_strings: list[str], dest: str, help: str | None = None) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        print(f"westward {package_version()}")
        parser.exit()


def package_version() -> str:
    """The version from the installed package's metadata, else the one in the source."""
    from importlib import metadata

    import router

    try:
        return metadata.version("westward")
    except metadata.PackageNotFoundError:  # running from a source tree that is not installed
        return router.__version__


def _cmd_plan(args: argparse.Namespace) -> int:
    from router.model.bulk import gc_paused

    with gc_paused():  # reading, planning and writing a batch build many objects
        return _plan(args, started=args.started)  # the limit covers reading the files


def _plan(args: argparse.Namespace, started: float) -> int:
    from router.model.jobs import load_jobs
    from router.plan import plan_jobs
    from router.results import plan_to_dict

    held: int | None = None
    if args.server and args.tenants:
        raise InvalidInputError(
            [FieldProblem("--tenants", "a server uses its own --auth file; drop one")]
        )
    if args.server:
        with connect(args) as client, working(f"planning {args.jobs} on {args.server}"):
            plan = cli_service.remote_plan(
                client,
                args.jobs,
                time_limit_s=args.time_limit,
                carbon_price_cny_per_kg=args.carbon_price,
            )
            held = sum(client.get_topology().held().values())
    else:
        topology = topology_from(args.topology)
        jobs = load_jobs(args.jobs, topology)
        size = f"{plural(len(jobs), 'job')} on {plural(len(topology.sites), 'site')}"
        with working(f"planning {size} (solver time limit {args.time_limit:g} s)"):
            plan = plan_jobs(
                topology,
                jobs,
                time_limit_s=args.time_limit,
                carbon_price_cny_per_kg=args.carbon_price,
                started=started,
                quotas=cli_auth.plan_quotas(args.tenants, args.jobs, jobs)
                if args.tenants
                else None,
            )
    if args.json:
        data = plan_to_dict(plan)
        if held is not None:
            data["held_devices"] = held
        print_json(data)
    else:
        print(render_plan(plan, held_devices=held))
    return 0


def render_plan(plan: Plan, held_devices: int | None = None) -> str:
    """A plan as a table for people, with totals and the comparison with staying east;
    `held_devices`: what a server's reservations hold (the plan used only the rest)."""
    from router.report.tables import cny, format_table

    rows = [
        [
            p.job,
            p.site,
            p.hub,
            p.zone,
            p.accelerator,
            p.count,
            round(p.latency_ms, 1),
            round(p.run_hours, 1),
            cny(p.cost_cny),
        ]
        for p in plan.placements
    ]
    headers = ["JOB", "SITE", "HUB", "ZONE", "ACCEL", "COUNT", "LAT_MS", "HOURS", "COST_CNY"]
    out = [format_table(headers, rows, right=[False] * 5 + [True] * 4)]
    if plan.unplaced:
        out.append("")
        out.append(f"Unplaced ({len(plan.unplaced)}):")
        out += [f"  {u.job}: {u.reason}" for u in plan.unplaced]
    out += ["", *render_totals(plan)]
    if held_devices is not None:
        out.append(
            f"Server reservations hold {plural(held_devices, 'device')}; this plan used only "
            "the devices they leave free."
        )
    return "\n".join(out)


def render_totals(plan: Plan) -> list[str]:
    """The headline figures, each saying how many jobs it covers: the plan and the baseline
    place different numbers of jobs, so savings compare only the jobs both place."""
    from router.report.tables import cny

    jobs = len(plan.placements) + len(plan.unplaced)
    west = sum(p.count * p.run_hours for p in plan.placements if p.zone == "west")
    total = sum(p.count * p.run_hours for p in plan.placements) or 1.0
    shared_plan_cost = plan.baseline_shared_cost_cny - plan.savings_cny
    saved = "savings" if plan.savings_cny >= 0 else "extra cost"
    gap = _gap_pct(plan.total_cost_cny, plan.lower_bound_cny)

    def line(label: str, value: str, note: str = "", unit: str = "CNY") -> str:
        return f"{label:<22}{value:>14} {unit:<3}  {note}".rstrip()

    return [
        line(
            "Plan",
            cny(plan.total_cost_cny),
            f"places {len(plan.placements)} of {plural(jobs, 'job')}; "
            f"{100 * west / total:.0f}% of device-hours in the west",
        ),
        line(
            "Baseline (stay east)",
            cny(plan.baseline_cost_cny),
            f"places {plan.baseline_jobs} of {plural(jobs, 'job')} (each in its origin's hub)",
        ),
        f"On the {plural(plan.shared_jobs, 'job')} both place:",
        line("  baseline", cny(plan.baseline_shared_cost_cny)),
        line("  plan", cny(shared_plan_cost)),
        line(
            f"  {saved}",
            cny(abs(plan.savings_cny)),
            f"{100 * abs(plan.savings_share):.1f}% of the baseline's cost",
        ),
        line(
            "Unlocked jobs",
            f"{plan.unlocked_jobs:,}",
            "placed by the plan only: the baseline cannot place them",
            unit="",
        ),
        line("Lower bound", cny(plan.lower_bound_cny), f"gap {gap}"),
        line("Solver", plan.solver_status, f"{plan.solver_seconds:.2f} s", unit=""),
    ]


def _gap_pct(cost: float, bound: float) -> str:
    if cost <= 0:
        return "0.00%"
    return f"{100 * max(0.0, cost - bound) / cost:.2f}%"


def _cmd_jobs_validate(args: argparse.Namespace) -> int:
    from router.model.jobs import load_jobs

    jobs = load_jobs(args.file, topology_from(args.topology))
    print(f"{args.file}: ok: {plural(len(jobs), 'job')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
