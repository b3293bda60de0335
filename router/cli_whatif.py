"""`westward whatif`: plan the baseline and each scenario with the same engine, side by side."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from router.cli_common import (
    add_topology_option,
    print_json,
    progress,
    topology_from,
    writable_output,
)
from router.jobs import Job, load_jobs
from router.placer import plan_jobs
from router.plan import Plan
from router.scenario import load_scenario
from router.topology import Topology
from router.whatif import Comparison, apply_scenario, compare_scenarios, runs_of
from router.whatif_report import comparison_to_dict, render_comparison


def register(commands: Any) -> None:
    """Add the `whatif` subcommand to the top-level parser."""
    whatif = commands.add_parser(
        "whatif",
        help="plan scenarios (site down, prices up, demand doubles, ...) beside the baseline",
        description="Plan the baseline topology and each scenario with the same engine and "
        "compare them: cost, savings against staying east, share of work placed west, "
        "unplaced jobs, latency, moved jobs, cost by hub and provider, and sweeps.",
    )
    whatif.add_argument("--jobs", required=True, metavar="F", help="jobs YAML file")
    whatif.add_argument(
        "--scenario",
        required=True,
        action="append",
        metavar="F",
        help="scenario YAML file (repeat for several)",
    )
    add_topology_option(whatif)
    whatif.add_argument(
        "--time-limit",
        type=_positive_float,
        default=10.0,
        metavar="S",
        help="solver time limit per plan in seconds (default 10)",
    )
    whatif.add_argument("--json", action="store_true", help="print one JSON object")
    whatif.add_argument(
        "--plot",
        metavar="F.png",
        help="write a comparison chart to F.png, a map per plan (F-map-NAME.png) and a "
        "line chart per sweep (F-sweep-NAME.png)",
    )
    whatif.set_defaults(handler=_cmd_whatif)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text}")
    return value


def _cmd_whatif(args: argparse.Namespace) -> int:
    plot = writable_output(args.plot) if args.plot else None
    topology = topology_from(args.topology)
    jobs = load_jobs(args.jobs, topology)
    scenarios = [load_scenario(path, topology, jobs) for path in args.scenario]
    runs = runs_of(scenarios)
    show = progress if len(runs) > 1 else None

    def planner(t: Topology, js: Sequence[Job]) -> Plan:
        return plan_jobs(t, js, time_limit_s=args.time_limit)

    comparison = compare_scenarios(topology, jobs, scenarios, planner, show)
    if plot is not None:
        for path in write_pictures(comparison, topology, jobs, scenarios, plot):
            print(f"wrote {path}", file=sys.stderr)
    if args.json:
        print_json(comparison_to_dict(comparison))
    else:
        print(render_comparison(comparison))
    return 0


def write_pictures(
    comparison: Comparison,
    topology: Topology,
    jobs: Sequence[Job],
    scenarios: Sequence[Any],
    out: Path,
) -> list[Path]:
    """The comparison chart at `out`, a map per plain plan and a chart per sweep beside it."""
    from router import render  # matplotlib loads only when pictures are asked for

    written = [out]
    render.draw_comparison(comparison, out, {h.name: h.zone for h in topology.hubs.values()})
    stem = out.with_suffix("")
    maps = [(comparison.baseline, topology)]
    by_name = {s.name: s for s in scenarios}
    for outcome in comparison.results:
        changed, _ = apply_scenario(by_name[outcome.name], topology, jobs)
        maps.append((outcome, changed))
    for outcome, shown in maps:
        path = Path(f"{stem}-map-{outcome.name}.png")
        render.draw_map(shown, path, outcome.plan, title=_map_title(outcome, shown))
        written.append(path)
    for sweep in comparison.sweeps:
        path = Path(f"{stem}-sweep-{sweep.name}.png")
        render.draw_sweep(sweep, comparison.baseline, path)
        written.append(path)
    return written


def _map_title(outcome: Any, topology: Topology) -> str:
    return (
        f"{outcome.name} on {topology.name}\n{outcome.placed}/{outcome.jobs} jobs placed, "
        f"{100 * outcome.west_share:.0f}% of device-hours west, "
        f"{outcome.total_cost_cny / 1e6:.2f} M CNY (saves {outcome.savings_cny / 1e6:.2f} M "
        f"against staying east)"
    )
