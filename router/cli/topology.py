"""`westward topology ...`: validate, show, render and author topology files."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from router.cli.common import at_least, print_json, topology_from, writable_output
from router.errors import FieldProblem, InvalidInputError
from router.model.authoring import DEFAULT_FIXED_MS, DEFAULT_ROUTE_FACTOR
from router.report.words import plural

if TYPE_CHECKING:
    from router.model.topology import Topology


def register(commands: Any) -> None:
    """Add the `topology` subcommands to the top-level parser."""
    topology = commands.add_parser("topology", help="validate, inspect and author topology files")
    topology_commands = topology.add_subparsers(dest="topology_command", required=True)
    validate = topology_commands.add_parser("validate", help="check a topology file")
    validate.add_argument("file", metavar="F", help="topology YAML file")
    validate.set_defaults(handler=_cmd_topology_validate)
    show = topology_commands.add_parser(
        "show", help="hubs, sites, pools, prices and the latency matrix from regions to sites"
    )
    show.add_argument("file", nargs="?", metavar="F", help="default: the embedded topology")
    show.add_argument("--json", action="store_true", help="print one JSON object")
    show.set_defaults(handler=_cmd_topology_show)
    render = topology_commands.add_parser(
        "render", help="draw the topology (sites by zone, pools, links by latency) as PNG"
    )
    render.add_argument("file", nargs="?", metavar="F", help="default: the embedded topology")
    render.add_argument("--out", required=True, metavar="F.png", help="PNG file to write")
    render.add_argument("--jobs", metavar="F", help="also plan these jobs and draw their flows")
    render.add_argument(
        "--capacity",
        metavar="F.png",
        help="with --jobs, also write the capacity panel: used and free devices per site "
        "and type, unplaced demand by type and region",
    )
    render.add_argument(
        "--time-limit", type=float, default=10.0, metavar="S", help=argparse.SUPPRESS
    )
    render.set_defaults(handler=_cmd_topology_render)
    prices = topology_commands.add_parser(
        "prices",
        help="the price index: every pool's effective price and the east-west spread",
        description="Every pool's raw price (CNY per device-hour) and effective price: CNY "
        "per effective PFLOP-hour at a precision (price / TFLOPS x 1000), the one number that "
        "compares offers across chips and providers. The spread compares the median "
        "effective prices of eastern and western pools, per type and over all types.",
    )
    prices.add_argument("file", nargs="?", metavar="F", help="default: the embedded topology")
    prices.add_argument(
        "--precision",
        choices=("fp64", "fp32", "fp16", "int8"),
        default="fp16",
        help="the precision whose TFLOPS price the computation (default fp16)",
    )
    prices.add_argument(
        "--json", action="store_true", help="print one JSON object (pools and spreads)"
    )
    prices.add_argument("--plot", metavar="F.png", help="also draw the index as a bar chart")
    prices.set_defaults(handler=_cmd_topology_prices)
    init = topology_commands.add_parser("init", help="print a commented starter topology")
    init.add_argument("--out", metavar="F", help="write it to F (refuses to overwrite)")
    init.set_defaults(handler=_cmd_topology_init)
    fill = topology_commands.add_parser(
        "fill-latencies",
        help="estimate missing link latencies from coordinates (marked [E])",
        description="Give every link without latency_ms an estimate: 0.005 ms/km x "
        "great-circle km x route factor + fixed ms. Comments and layout are kept; each "
        "estimate gets a `# [E]` comment.",
    )
    fill.add_argument("file", metavar="F", help="topology YAML file with links lacking latency_ms")
    fill.add_argument("--out", metavar="F2", help="write here (default: print to stdout)")
    fill.add_argument(
        "--route-factor",
        type=at_least(1.0),
        default=DEFAULT_ROUTE_FACTOR,
        metavar="X",
        help=f"fibre route length over great-circle distance (default {DEFAULT_ROUTE_FACTOR})",
    )
    fill.add_argument(
        "--fixed-ms",
        type=at_least(0.0),
        default=DEFAULT_FIXED_MS,
        metavar="MS",
        help=f"added per link for equipment (default {DEFAULT_FIXED_MS})",
    )
    fill.set_defaults(handler=_cmd_topology_fill)


def _cmd_topology_validate(args: argparse.Namespace) -> int:
    from router.model.topology import load_topology

    topology = load_topology(args.file)
    pools = sum(len(s.pools) for s in topology.sites.values())
    counts = (
        plural(len(topology.hubs), "hub"),
        plural(len(topology.regions), "region"),
        plural(len(topology.sites), "site"),
        plural(pools, "pool"),
        plural(len(topology.links), "link"),
    )
    print(f"{args.file}: ok: {', '.join(counts)}")
    return 0


def _cmd_topology_show(args: argparse.Namespace) -> int:
    from router.place.costs import effective_price
    from router.report.tables import format_table

    topology = topology_from(args.file)
    if args.json:
        print_json(topology_to_dict(topology))
        return 0
    rows = [
        [
            site.name,
            site.hub,
            topology.zone_of(site),
            site.provider,
            site.status,
            pool.accelerator,
            pool.count,
            pool.price_cny_per_hour,
            _money(
                effective_price(
                    pool.price_cny_per_hour, topology.accelerators[pool.accelerator], "fp16"
                )
            ),
        ]
        for site in topology.sites.values()
        for pool in site.pools
    ]
    headers = ["SITE", "HUB", "ZONE", "PROVIDER", "STATUS", "ACCEL", "COUNT", "CNY/H"]
    headers.append("CNY/PFLOP-H fp16")
    print(f"topology {topology.name}")
    print()
    print(format_table(["HUB", "ZONE", "SITES", "DEVICES"], _hub_rows(topology)))
    print()
    print(format_table(headers, rows, right=[False] * 6 + [True] * 3))
    print()
    print(
        "One-way latency (ms) from regions to sites, minimum-latency path over links that are up:"
    )
    print(_matrix_table(topology))
    return 0


def _hub_rows(topology: Topology) -> list[list[object]]:
    rows: list[list[object]] = []
    for hub in topology.hubs.values():
        sites = [s for s in topology.sites.values() if s.hub == hub.name]
        devices = sum(p.count for s in sites for p in s.pools)
        rows.append([hub.name, hub.zone, len(sites), devices])
    return rows


def _matrix_table(topology: Topology) -> str:
    from router.model.authoring import latency_matrix
    from router.report.tables import format_table

    matrix = latency_matrix(topology)
    sites = list(topology.sites)
    rows = [
        [region, *("-" if matrix[region][s] is None else matrix[region][s] for s in sites)]
        for region in topology.regions
    ]
    return format_table(["REGION", *sites], rows)


def _cmd_topology_render(args: argparse.Namespace) -> int:
    from router.model.jobs import load_jobs
    from router.plan import plan_jobs

    # matplotlib loads only when pictures are asked for
    from router.report.capacity import draw_capacity
    from router.report.pictures import draw_map

    if args.capacity and not args.jobs:
        raise InvalidInputError(
            [FieldProblem("--capacity", "needs --jobs F (the panel shows a plan's use of devices)")]
        )
    out = writable_output(args.out)
    capacity_out = writable_output(args.capacity) if args.capacity else None
    topology = topology_from(args.file)
    plan = None
    if args.jobs:
        jobs = load_jobs(args.jobs, topology)
        plan = plan_jobs(topology, jobs, time_limit_s=args.time_limit)
    draw_map(topology, out, plan)
    print(f"wrote {args.out}", file=sys.stderr)
    if capacity_out is not None and plan is not None:
        draw_capacity(topology, plan, jobs, capacity_out)
        print(f"wrote {args.capacity}", file=sys.stderr)
    return 0


def _cmd_topology_prices(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from router.report.prices import price_index
    from router.report.tables import format_table

    out = writable_output(args.plot) if args.plot else None
    index = price_index(topology_from(args.file), args.precision)
    if out is not None:
        from router.report.price_chart import draw_prices

        draw_prices(index, out)
        print(f"wrote {args.plot}", file=sys.stderr)
    if args.json:
        print_json(
            {
                "precision": index.precision,
                "pools": [asdict(p) for p in index.pools],
                "spread": [asdict(s) for s in index.spreads],
            }
        )
        return 0
    effective = f"CNY/PFLOP-H {index.precision}"
    headers = ["SITE", "POOL", "PROVIDER", "HUB", "ZONE", "ACCEL", "CNY/H", effective]
    rows = [
        [
            p.site,
            p.pool_index,
            p.provider,
            p.hub,
            p.zone,
            p.accelerator,
            f"{p.price_cny_per_hour:.2f}",
            _money(p.cny_per_pflop_hour),
        ]
        for p in index.pools
    ]
    right = [False, True, False, False, False, False, True, True]
    print(format_table(headers, rows, right=right))
    print()
    spread_rows = [
        [
            s.accelerator,
            _money(s.east_cny_per_pflop_hour),
            _money(s.west_cny_per_pflop_hour),
            "-" if s.west_discount_pct is None else f"{s.west_discount_pct:.1f}%",
        ]
        for s in index.spreads
    ]
    spread_headers = ["ACCEL", "EAST MEDIAN", "WEST MEDIAN", "WEST CHEAPER BY"]
    print(f"East-west spread (median CNY per {index.precision} PFLOP-hour):")
    print(format_table(spread_headers, spread_rows, right=[False, True, True, True]))
    return 0


def _money(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def _cmd_topology_init(args: argparse.Namespace) -> int:
    from router.model.authoring import starter_text

    text = starter_text()
    if not args.out:
        sys.stdout.write(text)
        return 0
    out = writable_output(args.out)
    if out.exists():
        raise InvalidInputError(
            [
                FieldProblem(
                    "", "already exists; choose another --out (init never overwrites)", str(out)
                )
            ]
        )
    out.write_text(text, encoding="utf-8")
    print(f"wrote {out}: edit it, then `westward topology validate {out}`", file=sys.stderr)
    return 0


def _cmd_topology_fill(args: argparse.Namespace) -> int:
    from router.model.authoring import fill_latencies
    from router.model.sourcefile import read_yaml

    source = read_yaml(args.file)
    text = Path(args.file).read_text(encoding="utf-8")
    filled, estimates = fill_latencies(source, text, args.route_factor, args.fixed_ms)
    if args.out:
        writable_output(args.out).write_text(filled, encoding="utf-8")
    else:
        sys.stdout.write(filled)

    where = f" into {args.out}" if args.out else ""
    estimated = plural(len(estimates), "link latency", "link latencies")
    print(
        f"{args.file}: estimated {estimated}{where} (marked [E])",
        file=sys.stderr,
    )
    return 0


def topology_to_dict(topology: Topology) -> dict[str, Any]:
    """The topology in its file's shape, plus each site's zone and the latency matrix from
    regions to sites (`latency_ms_from_regions`)."""
    from router.model.authoring import latency_matrix
    from router.model.topology_data import topology_data

    data = topology_data(topology)
    for site, row in zip(topology.sites.values(), data["sites"], strict=True):
        row["zone"] = topology.zone_of(site)
    data["latency_ms_from_regions"] = latency_matrix(topology)
    return data
