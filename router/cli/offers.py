"""`westward offers`: the market for each job, every feasible offer ranked, and why the
other pools were rejected."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from router.cli.common import add_topology_option, print_json, topology_from
from router.errors import FieldProblem, InvalidInputError

if TYPE_CHECKING:
    from router.place.offers import JobOffers


def register(commands: Any) -> None:
    """Add the `offers` command to the top-level parser."""
    offers = commands.add_parser(
        "offers",
        help="list every feasible offer for each job, best first",
        description="For each job, every pool that can run it now: the devices it takes "
        "there (service jobs scale devices, work jobs scale hours), run hours, latency, "
        "cost, effective price (CNY per PFLOP-hour at the job's precision) and free "
        "devices; ranked by the job's `prefer` (cheapest by default). Reserves nothing.",
    )
    offers.add_argument("--jobs", required=True, metavar="F", help="jobs YAML file")
    offers.add_argument("--job", metavar="NAME", help="only this job of the file")
    offers.add_argument(
        "--all", action="store_true", help="also list every rejected (site, pool) and why"
    )
    add_topology_option(offers)
    offers.add_argument("--json", action="store_true", help="print a JSON list, one per job")
    offers.add_argument(
        "--server",
        metavar="ADDR",
        help="ask a westward server (host:port): its live topology and free devices",
    )
    offers.set_defaults(handler=_cmd_offers)


def _cmd_offers(args: argparse.Namespace) -> int:
    results = _remote(args) if args.server else _local(args)
    if args.json:
        print_json(
            [
                {
                    "job": r.job,
                    "offers": [asdict(o) for o in r.offers],
                    "rejected": [asdict(x) for x in r.rejected],
                }
                for r in results
            ]
        )
    else:
        print("\n\n".join(render_offers(r) for r in results))
    return 0


def _local(args: argparse.Namespace) -> list[JobOffers]:
    from router.model.jobs import load_jobs
    from router.place.offers import job_offers
    from router.plan import make_context

    topology = topology_from(args.topology)
    jobs = load_jobs(args.jobs, topology)
    chosen = _only(args.job, [j.name for j in jobs])
    ctx = make_context(topology)
    return [job_offers(j, ctx, args.all) for j in jobs if chosen is None or j.name == chosen]


def _remote(args: argparse.Namespace) -> list[JobOffers]:
    from router.client import RouterClient
    from router.model.sourcefile import read_yaml
    from router.service.convert import rebase

    source = read_yaml(args.jobs)
    entries = source.data.get("jobs") if isinstance(source.data, Mapping) else None
    if not isinstance(entries, list):
        raise source.locate([FieldProblem("jobs", "is required (a list of jobs)")])
    names = [e.get("name", "") if isinstance(e, Mapping) else "" for e in entries]
    chosen = _only(args.job, names)
    results = []
    with RouterClient(args.server) as client:
        for i, (entry, name) in enumerate(zip(entries, names, strict=True)):
            if chosen is not None and name != chosen:
                continue
            try:
                results.append(client.list_offers(entry, include_rejected=args.all))
            except InvalidInputError as exc:
                raise source.locate(rebase(exc, "job", f"jobs[{i}]").problems) from None
    return results


def _only(name: str | None, names: list[str]) -> str | None:
    """The --job name, checked against the file's jobs."""
    if name is not None and name not in names:
        shown = ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")
        raise InvalidInputError([FieldProblem("--job", f"no job named {name!r} (jobs: {shown})")])
    return name


def render_offers(result: JobOffers) -> str:
    """One job's offers as a table, then its rejected pools, for people."""
    from router.report.tables import cny, format_table

    headers = ["SITE", "HUB", "ZONE", "PROVIDER", "POOL", "ACCEL", "DEVICES", "RUN_H"]
    headers += ["LAT_MS", "COST_CNY", "CNY/PFLOP-H", "FREE"]
    rows = [
        [
            o.site,
            o.hub,
            o.zone,
            o.provider,
            o.pool_index,
            o.accelerator,
            o.devices,
            o.run_hours,
            o.latency_ms,
            cny(o.cost_cny),
            f"{o.cny_per_pflop_hour:,.1f}",
            o.free_devices,
        ]
        for o in result.offers
    ]
    lines = [f"{result.job}: {len(result.offers)} offers"]
    if rows:
        right = [False] * 4 + [True, False] + [True] * 6
        lines.append(format_table(headers, rows, right=right))
    if result.rejected:
        lines.append(f"Rejected ({len(result.rejected)}):")
        lines += [f"  {r.site}[{r.pool_index}]: {r.reason}" for r in result.rejected]
    return "\n".join(lines)
