"""`westward topology ...`: validate, show and (later) render and author topology files."""

from __future__ import annotations

import argparse
from typing import Any

from router.cli_common import print_json, topology_from
from router.tables import format_table
from router.topology import Topology, load_topology


def register(commands: Any) -> None:
    """Add the `topology` subcommands to the top-level parser."""
    topology = commands.add_parser("topology", help="validate, inspect and author topology files")
    topology_commands = topology.add_subparsers(dest="topology_command", required=True)
    validate = topology_commands.add_parser("validate", help="check a topology file")
    validate.add_argument("file", metavar="F")
    validate.set_defaults(handler=_cmd_topology_validate)
    show = topology_commands.add_parser("show", help="hubs, sites, pools and prices")
    show.add_argument("file", nargs="?", metavar="F", help="default: the embedded topology")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=_cmd_topology_show)


def _cmd_topology_validate(args: argparse.Namespace) -> int:
    topology = load_topology(args.file)
    pools = sum(len(s.pools) for s in topology.sites.values())
    print(
        f"{args.file}: ok: {len(topology.hubs)} hubs, {len(topology.regions)} regions, "
        f"{len(topology.sites)} sites, {pools} pools, {len(topology.links)} links"
    )
    return 0


def _cmd_topology_show(args: argparse.Namespace) -> int:
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
        ]
        for site in topology.sites.values()
        for pool in site.pools
    ]
    headers = ["SITE", "HUB", "ZONE", "PROVIDER", "STATUS", "ACCEL", "COUNT", "CNY/H"]
    print(f"topology {topology.name}")
    print(format_table(headers, rows))
    return 0


def topology_to_dict(topology: Topology) -> dict[str, Any]:
    """A topology in the shape of its YAML file."""
    return {
        "name": topology.name,
        "hubs": [
            {"name": h.name, "title": h.title, "zone": h.zone} for h in topology.hubs.values()
        ],
        "regions": [
            {"name": r.name, "hub": r.hub, "lat": r.lat, "lon": r.lon}
            for r in topology.regions.values()
        ],
        "sites": [
            {
                "name": s.name,
                "hub": s.hub,
                "zone": topology.zone_of(s),
                "provider": s.provider,
                "status": s.status,
                "pue": s.pue,
                "pools": [
                    {
                        "accelerator": p.accelerator,
                        "count": p.count,
                        "price_cny_per_hour": p.price_cny_per_hour,
                    }
                    for p in s.pools
                ],
            }
            for s in topology.sites.values()
        ],
        "links": [
            {
                "a": ln.a,
                "b": ln.b,
                "latency_ms": ln.latency_ms,
                "bandwidth_gbps": ln.bandwidth_gbps,
                "price_cny_per_gb": ln.price_cny_per_gb,
                "status": ln.status,
            }
            for ln in topology.links
        ],
    }
