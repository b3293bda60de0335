"""`westward reservations list|release` and `westward site update`: a server's live state."""

from __future__ import annotations

import argparse
import time
from typing import TYPE_CHECKING, Any

from router.cli.common import add_server_options, connect, positive_float, print_json
from router.errors import FieldProblem, InvalidInputError
from router.report.words import plural

if TYPE_CHECKING:
    from router.results import PlacementEvent, Reservation, SiteUpdateResult, TopologyView
    from router.state.site_changes import PoolChange

SERVER_HELP = "the westward server (host:port)"
STATUSES = ("up", "drain", "down")


def register(commands: Any) -> None:
    """Add the `reservations` and `site` command groups."""
    reservations = commands.add_parser(
        "reservations", help="list or release a server's reservations"
    )
    group = reservations.add_subparsers(dest="reservations_command", required=True)
    listing = group.add_parser("list", help="the reservations a server holds, oldest first")
    add_server_options(listing, SERVER_HELP, required=True)
    listing.add_argument("--site", metavar="S", help="only reservations at site S")
    listing.add_argument(
        "--include-ended", action="store_true", help="also released, evicted and expired ones"
    )
    listing.add_argument("--json", action="store_true", help="print a JSON list")
    listing.set_defaults(handler=_cmd_list)
    release = group.add_parser("release", help="end a reservation and free its devices")
    release.add_argument("reservation_id", metavar="ID", help="the reservation's id")
    add_server_options(release, SERVER_HELP, required=True)
    release.add_argument("--json", action="store_true", help="print the released reservation")
    release.set_defaults(handler=_cmd_release)

    site = commands.add_parser("site", help="change a live site on a server")
    site_group = site.add_subparsers(dest="site_command", required=True)
    update = site_group.add_parser(
        "update",
        help="take a site up, drain or down, resize pools or reprice them",
        description="Change one site on a server. Reservations the site can no longer "
        "hold are moved elsewhere in the same transaction, or evicted when nothing fits.",
    )
    update.add_argument("site", metavar="SITE", help="the site's name")
    add_server_options(update, SERVER_HELP, required=True)
    update.add_argument(
        "--status", choices=STATUSES, help="up: takes work; drain: keeps its jobs, takes no "
        "new ones; down: its jobs move or are evicted",
    )  # fmt: skip
    update.add_argument(
        "--pool", type=pool_count, action="append", default=[], metavar="INDEX=COUNT",
        help="set pool INDEX (0-based, as `topology show` lists them) to COUNT devices; repeatable",
    )  # fmt: skip
    update.add_argument(
        "--price-factor", type=positive_float, metavar="X",
        help="multiply every pool's price per device-hour by X (1.2: 20%% dearer)",
    )  # fmt: skip
    update.add_argument("--json", action="store_true", help="print one JSON object")
    update.set_defaults(handler=_cmd_site_update)


def pool_count(text: str) -> tuple[int, int]:
    """argparse type: INDEX=COUNT, two whole numbers within what UpdateSite accepts."""
    from router.model.schema import load_schema

    bounds = load_schema("requests")["properties"]["pools"]["items"]["properties"]
    most_index, most_count = bounds["pool_index"]["maximum"], bounds["count"]["maximum"]
    index, sep, count = text.partition("=")
    numbers = sep and index.strip().isdigit() and count.strip().isdigit()
    if numbers and int(index) <= most_index and int(count) <= most_count:
        return int(index), int(count)
    raise argparse.ArgumentTypeError(
        f"must be INDEX=COUNT, whole numbers 0-{most_index:,} and 0-{most_count:,}, got {text!r}"
    )


# --- reservations ---------------------------------------------------------------------------


def _cmd_list(args: argparse.Namespace) -> int:
    with connect(args) as client:
        found = client.list_reservations(site=args.site, include_ended=args.include_ended)
        if args.site and not found:  # a misspelt site lists nothing: say so instead
            sites = set(client.get_topology().topology.sites)
            if args.site not in sites:
                from router.model.schema import unknown_reference

                raise InvalidInputError([unknown_reference("--site", "site", args.site, sites)])
    if args.json:
        print_json([reservation_to_dict(r) for r in found])
    else:
        print(render_reservations(found))
    return 0


def _cmd_release(args: argparse.Namespace) -> int:
    with connect(args) as client:
        released = client.release(args.reservation_id)
    if args.json:
        print_json(reservation_to_dict(released))
    else:
        p = released.placement
        print(
            f"released {released.reservation_id}: {p.job} frees {p.count} {p.accelerator} "
            f"at {p.site} (pool {p.pool_index})"
        )
    return 0


def reservation_to_dict(r: Reservation) -> dict[str, Any]:
    """A reservation as plain JSON values (times in ISO 8601 UTC)."""
    from router.results import placement_to_dict

    return {
        "reservation_id": r.reservation_id,
        "state": r.state,
        "request_id": r.request_id,
        "create_time": _iso(r.created_unix_s),
        "expire_time": None if r.expires_unix_s is None else _iso(r.expires_unix_s),
        "placement": placement_to_dict(r.placement),
        "job": dict(r.job),
    }


def render_reservations(found: list[Reservation]) -> str:
    """Reservations as a table, with how many devices they hold."""
    from router.report.tables import format_table

    if not found:
        return "No reservations."
    rows = [
        [
            r.reservation_id,
            r.placement.job,
            r.placement.site,
            r.placement.pool_index,
            r.placement.accelerator,
            r.placement.count,
            r.state,
            _iso(r.created_unix_s),
            "" if r.expires_unix_s is None else _iso(r.expires_unix_s),
        ]
        for r in found
    ]
    headers = ["ID", "JOB", "SITE", "POOL", "ACCEL", "DEVICES", "STATE", "CREATED", "EXPIRES"]
    right = [False, False, False, True, False, True, False, False, False]
    table = format_table(headers, rows, right=right)
    active = [r for r in found if r.state == "active"]
    held = sum(r.placement.count for r in active)
    total = f"{plural(len(active), 'active reservation')} hold {plural(held, 'device')}."
    return f"{table}\n\n{total}"


def _iso(unix_s: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(unix_s))


# --- site update ----------------------------------------------------------------------------


def _cmd_site_update(args: argparse.Namespace) -> int:
    if args.status is None and not args.pool and args.price_factor is None:
        nothing = "nothing to change: give --status, --pool or --price-factor"
        raise InvalidInputError([FieldProblem("site update", nothing)])
    with connect(args) as client:
        before = client.get_topology() if args.price_factor is not None else None
        pools = pool_changes(args.site, args.pool, args.price_factor, before)
        try:
            result = client.update_site(args.site, status=args.status, pools=pools)
        except InvalidInputError as exc:
            raise InvalidInputError([_as_option(p, pools) for p in exc.problems]) from None
        after = client.get_topology()
    if args.json:
        print_json(update_to_dict(result, after))
    else:
        print(render_update(result, after))
    return 0


def pool_changes(
    site: str,
    counts: list[tuple[int, int]],
    price_factor: float | None,
    live: TopologyView | None,
) -> list[PoolChange]:
    """One PoolChange per pool touched: new counts, and prices scaled from the live ones."""
    from router.errors import NotFoundError
    from router.state.site_changes import PoolChange

    new_count = dict(counts)
    prices: dict[int, float] = {}
    if price_factor is not None and live is not None:
        current = live.topology.sites.get(site)
        if current is None:
            raise NotFoundError(f"no site {site!r}")
        prices = {i: p.price_cny_per_hour * price_factor for i, p in enumerate(current.pools)}
    return [
        PoolChange(index, new_count.get(index), prices.get(index))
        for index in sorted({*new_count, *prices})
    ]


def _as_option(problem: FieldProblem, pools: list[PoolChange]) -> FieldProblem:
    """A server's `pools[k].field` path as the option it came from: `--price-factor` for
    a price, `--pool INDEX` for the rest."""
    head, _, field = problem.path.partition("].")
    if head.startswith("pools[") and head[6:].isdigit() and int(head[6:]) < len(pools):
        index = pools[int(head[6:])].pool_index
        if field == "price_cny_per_hour":
            return FieldProblem("--price-factor", f"pool {index}'s price {problem.message}")
        return FieldProblem(f"--pool {index}", problem.message)
    return problem


def update_to_dict(result: SiteUpdateResult, live: TopologyView) -> dict[str, Any]:
    """A site update as plain JSON values: the site's pools now, moved and evicted jobs."""
    site = result.site
    return {
        "site": site.name,
        "status": site.status,
        "pools": [
            {
                "pool_index": i,
                "accelerator": p.accelerator,
                "count": p.count,
                "free": live.free.get((site.name, i), 0),
                "price_cny_per_hour": p.price_cny_per_hour,
            }
            for i, p in enumerate(site.pools)
        ],
        "moved": [_event_to_dict(e) for e in result.moved],
        "evicted": [_event_to_dict(e) for e in result.evicted],
    }


def _event_to_dict(event: PlacementEvent) -> dict[str, Any]:
    p = event.reservation.placement
    return {
        "reservation_id": event.reservation.reservation_id,
        "job": p.job,
        "from": p.site if event.previous is None else event.previous.site,
        "to": p.site if event.type == "moved" else None,
        "reason": event.reason,
    }


def render_update(result: SiteUpdateResult, live: TopologyView) -> str:
    """The site after the update, and every job it moved or evicted."""
    from router.report.tables import format_table

    data = update_to_dict(result, live)
    rows = [
        [p["pool_index"], p["accelerator"], p["count"], p["free"], p["price_cny_per_hour"]]
        for p in data["pools"]
    ]
    out = [
        f"Site {data['site']} is {data['status']}.",
        "",
        format_table(["POOL", "ACCEL", "COUNT", "FREE", "CNY_PER_HOUR"], rows),
        "",
        f"{plural(len(result.moved), 'job')} moved, {plural(len(result.evicted), 'job')} evicted.",
    ]
    out += [f"  moved {e['job']}: {e['from']} -> {e['to']}" for e in data["moved"]]
    out += [f"  evicted {e['job']}: {e['reason']}" for e in data["evicted"]]
    return "\n".join(out)
