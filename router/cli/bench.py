"""`westward bench ...`: measure the planner on workload families and GAP files.

Heavy modules (the planner, the solver) are imported only when a command runs."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from router.bench.families import FAMILIES
from router.cli import service as cli_service
from router.cli.common import (
    add_time_limit_option,
    positive_float,
    positive_int,
    print_json,
    steps,
    working,
)
from router.report.words import plural

if TYPE_CHECKING:
    from router.bench.measure import FamilyResult

DEFAULT_JOBS = 200
DEFAULT_SITES = 12
DEFAULT_TIME_LIMIT = 1.0


def register(commands: Any) -> None:
    """Add the `bench` subcommands to the top-level parser."""
    bench = commands.add_parser("bench", help="benchmark the planner")
    bench_commands = bench.add_subparsers(dest="bench_command", required=True)
    synthetic = bench_commands.add_parser(
        "synthetic",
        help="plan generated workload families; report time, memory, cost, bound and work",
        description="Families: "
        + "; ".join(f"{f.name} ({f.help})" for f in FAMILIES.values())
        + ". GAP % is the cost over the lower bound at the work placed; OVER LP % is the "
        "cost over the LP minimum for placing exactly the jobs placed; WORK % LP is the "
        "work placed as a share of the LP-maximal work.",
    )
    synthetic.add_argument(
        "--family",
        choices=[*FAMILIES, "all"],
        default="all",
        help="workload family (default: all, one row each)",
    )
    synthetic.add_argument(
        "--jobs",
        type=positive_int,
        default=DEFAULT_JOBS,
        metavar="N",
        help=f"jobs per family (default {DEFAULT_JOBS})",
    )
    synthetic.add_argument(
        "--sites",
        type=positive_int,
        default=DEFAULT_SITES,
        metavar="M",
        help=f"sites of the generated national topology (default {DEFAULT_SITES})",
    )
    synthetic.add_argument(
        "--from-files",
        action="store_true",
        help="write the topology and jobs to files and time `westward plan --json` on them "
        "in a subprocess, end to end (default: plan in process)",
    )
    synthetic.add_argument(
        "--time-limit",
        type=positive_float,
        default=DEFAULT_TIME_LIMIT,
        metavar="S",
        help=f"the plan's time limit in seconds (default {DEFAULT_TIME_LIMIT:g})",
    )
    synthetic.add_argument(
        "--seed", type=int, default=0, metavar="S", help="generator seed (default 0)"
    )
    synthetic.add_argument("--json", action="store_true", help="print a JSON list, one per family")
    synthetic.set_defaults(handler=_cmd_synthetic)
    gap = bench_commands.add_parser(
        "gap", help="solve OR-Library GAP files; compare with published optima"
    )
    gap.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="OR-Library GAP files (one instance, or a count line then several)",
    )
    add_time_limit_option(gap, per=" per instance")
    gap.add_argument(
        "--reference",
        metavar="F",
        help="reference.csv with best known values (default: ../shared/benchmarks/gap/"
        "reference.csv when it exists)",
    )
    gap.add_argument("--json", action="store_true", help="print a JSON list, one per instance")
    gap.set_defaults(handler=_cmd_gap)
    cli_service.register_bench_route(bench_commands)


def _cmd_synthetic(args: argparse.Namespace) -> int:
    from router.bench.measure import run_family
    from router.model.topology import default_topology

    names = list(FAMILIES) if args.family == "all" else [args.family]
    base = default_topology()
    results = []
    with steps(len(names)) as step:
        for name in names:
            if step is not None:
                step(f"{name}: {plural(args.jobs, 'job')} x {plural(args.sites, 'site')}")
            results.append(
                run_family(
                    base,
                    FAMILIES[name],
                    args.jobs,
                    args.sites,
                    seed=args.seed,
                    time_limit_s=args.time_limit,
                    from_files=args.from_files,
                )
            )
    if args.json:
        print_json([asdict(r) for r in results])
    else:
        print(render_bench(results))
    return 0


def render_bench(results: list[FamilyResult]) -> str:
    """One table: each family's time, memory, cost, bound, gap and work placed."""
    from router.report.tables import format_table

    header = ["FAMILY", "JOBS", "SITES", "WALL S", "USER S", "MB", "COST CNY", "BOUND CNY"]
    header += ["GAP %", "OVER LP %", "PLACED", "WORK % LP", "STATUS"]
    rows = [
        [
            r.family,
            str(r.jobs),
            str(r.sites),
            f"{r.wall_s:.2f}",
            f"{r.user_s:.2f}",
            f"{r.peak_memory_mb:.0f}",
            f"{r.total_cost_cny:,.0f}",
            f"{r.lower_bound_cny:,.0f}",
            f"{r.gap_pct:.3f}",
            "-" if r.over_placed_lp_pct is None else f"{r.over_placed_lp_pct:.3f}",
            str(r.placed),
            f"{r.work_placed_pct:.2f}" + ("" if r.lp_max_solved else "*"),
            r.status,
        ]
        for r in results
    ]
    table = format_table(header, rows)
    if all(r.lp_max_solved for r in results):
        return table
    return table + "\n* the LP did not finish: work is shown against its dual bound (a floor)"


def _cmd_gap(args: argparse.Namespace) -> int:
    from router.bench.gap import format_gap_table, gap_results_to_json, run_gap

    reference = Path(args.reference) if args.reference else _default_reference()
    files = plural(len(args.files), "GAP file")
    with working(f"solving {files}, at most {args.time_limit:g} s per instance"):
        results = run_gap(args.files, args.time_limit, reference)
    if args.json:
        print_json(gap_results_to_json(results))
    else:
        print(format_gap_table(results))
    return 0


def _default_reference() -> Path | None:
    """The shared benchmark reference beside the checkout (or the working directory)."""
    for base in (Path.cwd(), Path(__file__).resolve().parents[2]):
        candidate = base.parent / "shared" / "benchmarks" / "gap" / "reference.csv"
        if candidate.is_file():
            return candidate
    return None
