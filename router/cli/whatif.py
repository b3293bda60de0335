"""`westward whatif`: plan the baseline and each scenario with the same engine, side by side."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from router.cli.common import (
    add_server_options,
    add_time_limit_option,
    add_topology_option,
    connect,
    print_json,
    steps,
    topology_from,
    working,
    writable_output,
)
from router.errors import FieldProblem, InvalidInputError

if TYPE_CHECKING:
    from router.model.jobs import Job
    from router.model.scenario import Scenario
    from router.model.topology import Topology
    from router.results import Plan
    from router.whatif.compare import Comparison, ScenarioOutcome


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
    add_time_limit_option(whatif, per=" per plan")
    whatif.add_argument("--json", action="store_true", help="print one JSON object")
    whatif.add_argument(
        "--plot",
        metavar="F.png",
        help="write a comparison chart to F.png, a map per plan (F-map-NAME.png) and a "
        "line chart per sweep (F-sweep-NAME.png)",
    )
    add_server_options(
        whatif,
        "plan on a running `westward serve` (host:port) through its WhatIf RPC, with "
        "the server's topology",
    )
    whatif.set_defaults(handler=_cmd_whatif)


def _cmd_whatif(args: argparse.Namespace) -> int:
    from router.model.jobs import load_jobs
    from router.plan import plan_jobs
    from router.whatif.apply import runs_of
    from router.whatif.compare import compare_scenarios
    from router.whatif.report import comparison_to_dict, render_comparison

    plot = writable_output(args.plot) if args.plot else None
    if args.server:
        if args.topology:
            raise InvalidInputError(
                [FieldProblem("--topology", "not with --server: the server plans on its own")]
            )
        topology, jobs, scenarios, comparison = _on_server(args)
    else:
        topology = topology_from(args.topology)
        jobs = load_jobs(args.jobs, topology)
        scenarios = _load_scenarios(args.scenario, topology, jobs)

        def planner(t: Topology, js: Sequence[Job]) -> Plan:
            return plan_jobs(t, js, time_limit_s=args.time_limit)

        with steps(len(runs_of(scenarios)) + 1) as show:
            comparison = compare_scenarios(topology, jobs, scenarios, planner, show)
    if plot is not None:
        for path in write_pictures(comparison, topology, jobs, scenarios, plot):
            print(f"wrote {path}", file=sys.stderr)
    if args.json:
        print_json(comparison_to_dict(comparison))
    else:
        print(render_comparison(comparison))
    return 0


def _load_scenarios(
    paths: Sequence[str], topology: Topology, jobs: Sequence[Job]
) -> list[Scenario]:
    """Load every scenario; names must be unique (they name columns and pictures)."""
    from router.model.scenario import load_scenario

    scenarios = [load_scenario(path, topology, jobs) for path in paths]
    seen: dict[str, str] = {}
    problems = []
    for path, scenario in zip(paths, scenarios, strict=True):
        if scenario.name == "baseline":
            problems.append(
                FieldProblem(
                    "name", "'baseline' is the unchanged plan's name; choose another", path
                )
            )
        elif scenario.name in seen:
            problems.append(
                FieldProblem(
                    "name", f"{scenario.name!r} is also the name of {seen[scenario.name]}", path
                )
            )
        seen.setdefault(scenario.name, path)
    if problems:
        raise InvalidInputError(_located_each(problems))
    return scenarios


def _located_each(problems: list[FieldProblem]) -> list[FieldProblem]:
    return [q for p in problems for q in _located(p.file or "", [p])]


def _on_server(
    args: argparse.Namespace,
) -> tuple[Topology, list[Job], list[Scenario], Comparison]:
    """Plan through the WhatIf RPC: sweeps are expanded here, each run sent as a plain
    scenario, and the returned plans summarised exactly like local ones."""
    from router.model.jobs import load_jobs
    from router.whatif.apply import apply_scenario, rpc_scenario, runs_of
    from router.whatif.compare import assemble, summarize

    with connect(args) as client:  # grpc loads only when a server is asked for
        topology = client.get_topology().topology
        jobs = load_jobs(args.jobs, topology)
        scenarios = _load_scenarios(args.scenario, topology, jobs)
        runs = runs_of(scenarios)
        payload = []
        origin = {s.name: path for s, path in zip(scenarios, args.scenario, strict=True)}
        problems: dict[str, list[FieldProblem]] = {}
        for run in runs:
            entry, found = rpc_scenario(run.scenario, topology, jobs)
            payload.append(entry)
            if found:
                problems[origin[run.sweep_of or run.name]] = found
        if problems:
            located = [p for path, found in problems.items() for p in _located(path, found)]
            raise InvalidInputError(located)
        with working(f"planning {len(runs) + 1} plans on {args.server}"):
            limit_s = args.time_limit * (len(runs) + 1)
            answer = client.what_if(payload, jobs=jobs, time_limit_s=limit_s)
    baseline = summarize("baseline", answer.baseline, None, topology)
    outcomes = [
        summarize(
            run.name,
            result.plan,
            answer.baseline,
            apply_scenario(run.scenario, topology, jobs)[0],
            run.value,
        )
        for run, result in zip(runs, answer.results, strict=True)
    ]
    return topology, jobs, scenarios, assemble(baseline, runs, outcomes, scenarios)


def _located(path: str, problems: list[FieldProblem]) -> list[FieldProblem]:
    from router.model.sourcefile import read_yaml

    return read_yaml(path).locate(problems).problems


def write_pictures(
    comparison: Comparison,
    topology: Topology,
    jobs: Sequence[Job],
    scenarios: Sequence[Any],
    out: Path,
) -> list[Path]:
    """The comparison chart at `out`, a map per plain plan and a chart per sweep beside it."""
    from router.report import (
        pictures as render,  # matplotlib loads only when pictures are asked for
    )
    from router.whatif.apply import apply_scenario

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
        title = _map_title(outcome, shown)
        render.draw_map(shown, path, outcome.plan, title, outcome.moves, outcome.lost_jobs)
        written.append(path)
    for sweep in comparison.sweeps:
        path = Path(f"{stem}-sweep-{sweep.name}.png")
        render.draw_sweep(sweep, comparison.baseline, path)
        written.append(path)
    return written


def _map_title(outcome: ScenarioOutcome, topology: Topology) -> str:
    return (
        f"{outcome.name} on {topology.name}\n{outcome.placed}/{outcome.jobs} jobs placed, "
        f"{100 * outcome.west_share:.0f}% of device-hours west, "
        f"{outcome.total_cost_cny / 1e6:.2f} M CNY (saves {outcome.savings_cny / 1e6:.2f} M "
        f"against staying east)"
    )
