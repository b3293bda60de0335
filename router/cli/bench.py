"""`westward bench ...`: measure the planner on synthetic national workloads and GAP files."""

from __future__ import annotations

import argparse
import resource
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from router.cli import service as cli_service
from router.cli.common import (
    add_time_limit_option,
    positive_float,
    positive_int,
    print_json,
    topology_from,
    working,
)
from router.report.words import plural

DEFAULT_LOAD = 0.8
SYNTHETIC_TIME_LIMIT_S = 60.0


@dataclass(frozen=True)
class SyntheticResult:
    """One synthetic benchmark run: size, time, memory and plan quality."""

    jobs: int
    sites: int
    seed: int
    seconds: float
    solver_seconds: float
    peak_memory_mb: float
    placed: int
    total_cost_cny: float
    lower_bound_cny: float
    gap_pct: float
    baseline_cost_cny: float
    savings_cny: float
    unlocked_jobs: int
    status: str


def register(commands: Any) -> None:
    """Add the `bench` subcommands to the top-level parser."""
    bench = commands.add_parser("bench", help="benchmark the planner")
    bench_commands = bench.add_subparsers(dest="bench_command", required=True)
    synthetic = bench_commands.add_parser(
        "synthetic", help="plan a generated job mix; report time, memory and gap to the bound"
    )
    synthetic.add_argument(
        "--jobs", type=positive_int, required=True, metavar="N", help="jobs to generate"
    )
    synthetic.add_argument(
        "--sites",
        type=positive_int,
        metavar="M",
        help="generate a national topology with M sites (default: the --topology file)",
    )
    synthetic.add_argument("--topology", metavar="F", help="default: the embedded china-edwc")
    synthetic.add_argument(
        "--load",
        type=positive_float,
        default=DEFAULT_LOAD,
        metavar="L",
        help="with --sites: devices asked / devices installed (default 0.8)",
    )
    synthetic.add_argument(
        "--seed", type=int, default=0, metavar="S",
        help="random seed: the same seed makes the same jobs and sites (default 0)",
    )  # fmt: skip
    add_time_limit_option(synthetic, default=SYNTHETIC_TIME_LIMIT_S)
    synthetic.add_argument("--json", action="store_true", help="print one JSON object")
    synthetic.set_defaults(handler=_cmd_synthetic)
    gap = bench_commands.add_parser(
        "gap", help="solve OR-Library GAP files; compare with published optima"
    )
    gap.add_argument(
        "files", nargs="+", metavar="FILE",
        help="OR-Library GAP files (one instance, or a count line then several)",
    )  # fmt: skip
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


def run_synthetic(
    jobs: int,
    sites: int | None,
    seed: int,
    time_limit_s: float,
    topology_path: str | None = None,
    load: float = DEFAULT_LOAD,
) -> SyntheticResult:
    """Generate a workload of the given size, plan it, and measure the plan.

    A generated topology is sized so that the batch asks for `load` of its devices
    (a national network is not a few times smaller than one batch); a given topology
    is used as it is.
    """
    from router.bench.synthetic import synthetic_jobs, synthetic_topology, with_load
    from router.plan import plan_jobs

    base = topology_from(topology_path)
    topology = synthetic_topology(base, sites, seed) if sites else base
    batch = synthetic_jobs(topology, jobs, seed)
    if sites:
        topology = with_load(topology, batch, load)
    start = time.perf_counter()
    plan = plan_jobs(topology, batch, time_limit_s=time_limit_s)
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    cost = plan.total_cost_cny
    gap = 100 * (cost - plan.lower_bound_cny) / cost if cost > 0 else 0.0
    return SyntheticResult(
        jobs=jobs,
        sites=len(topology.sites),
        seed=seed,
        seconds=round(seconds, 3),
        solver_seconds=round(plan.solver_seconds, 3),
        peak_memory_mb=round(peak_mb, 1),
        placed=len(plan.placements),
        total_cost_cny=round(cost, 2),
        lower_bound_cny=round(plan.lower_bound_cny, 2),
        gap_pct=round(max(0.0, gap), 4),
        baseline_cost_cny=round(plan.baseline_cost_cny, 2),
        savings_cny=round(plan.savings_cny, 2),
        unlocked_jobs=plan.unlocked_jobs,
        status=plan.solver_status,
    )


def _cmd_synthetic(args: argparse.Namespace) -> int:
    from router.report.tables import format_table

    with working(
        f"generating and planning {plural(args.jobs, 'job')} "
        f"(solver time limit {args.time_limit:g} s)"
    ):
        result = run_synthetic(
            args.jobs, args.sites, args.seed, args.time_limit, args.topology, args.load
        )
    if args.json:
        print_json(asdict(result))
        return 0
    rows = [[k, v] for k, v in asdict(result).items()]
    print(format_table(["MEASURE", "VALUE"], rows))
    return 0


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
