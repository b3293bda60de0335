"""`westward ledger`: audit a ledger (SQLite file or PostgreSQL) and move one to PostgreSQL."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from router.cli.common import print_json
from router.report.words import plural

EXIT_PROBLEMS = 1


def register(commands: Any) -> None:
    """Add the `ledger` command group."""
    ledger = commands.add_parser("ledger", help="inspect a service's reservation ledger")
    ledger_commands = ledger.add_subparsers(dest="ledger_command", required=True)
    check = ledger_commands.add_parser(
        "audit",
        help="replay a ledger's history: no pool ever over its count, use matches rows",
    )
    check.add_argument(
        "--state", required=True, metavar="F|URL",
        help="the SQLite state file, or the postgresql:// URL of a shared ledger",
    )  # fmt: skip
    check.add_argument(
        "--tenants", metavar="F", help="also prove no tenant was ever over its quota in F"
    )
    check.add_argument("--json", action="store_true", help="print one JSON object")
    check.set_defaults(handler=_cmd_audit)
    move = ledger_commands.add_parser(
        "migrate",
        help="copy a SQLite ledger into PostgreSQL: reservations, history, answers, site changes",
    )
    move.add_argument("--from", dest="source", required=True, metavar="F", help="SQLite file")
    move.add_argument("--to", dest="target", required=True, metavar="URL", help="postgresql:// URL")
    move.add_argument(
        "--replace", action="store_true",
        help="empty a target that already holds a ledger (default: refuse it)",
    )  # fmt: skip
    move.add_argument("--json", action="store_true", help="print one JSON object")
    move.set_defaults(handler=_cmd_migrate)


def _cmd_audit(args: argparse.Namespace) -> int:
    from router.state.store import audit_state

    result = audit_state(args.state)
    over_quota = _quota_audit(args.state, args.tenants) if args.tenants else []
    if args.json:
        print_json({**dataclasses.asdict(result), "over_quota": over_quota})
    else:
        replayed = plural(result.changes, "change")
        print(f"{replayed} replayed, {plural(result.active, 'active reservation')}")
        for line in result.overbooked:
            print(f"overbooked: {line}")
        for line in result.mismatched:
            print(f"mismatch: {line}")
        for line in over_quota:
            print(f"over quota: {line}")
        if not (result.overbooked or result.mismatched):
            print("ok: no pool was ever over its count; use matches the reservations")
        if args.tenants and not over_quota:
            print("ok: no tenant was ever over its quota")
    return EXIT_PROBLEMS if result.overbooked or result.mismatched or over_quota else 0


def _quota_audit(state: str, tenants_path: str) -> list[str]:
    """Every moment the history shows a tenant over its quota in the tenants file."""
    import sqlite3

    from router.errors import FieldProblem, InvalidInputError
    from router.state.pg_schema import is_postgres_url

    if is_postgres_url(state):
        why = "quotas are audited on SQLite state files (PostgreSQL keeps none yet)"
        raise InvalidInputError([FieldProblem("--tenants", why)])
    from router.service.tenants import load_tenants
    from router.state.quotas import audit
    from router.state.sqlite_quotas import quota_changes

    policy = load_tenants(tenants_path).quota_policy()
    db = sqlite3.connect(f"file:{state}?mode=ro", uri=True)
    try:
        return audit(policy, quota_changes(db))
    finally:
        db.close()


def _cmd_migrate(args: argparse.Namespace) -> int:
    from router.state.store import audit_state, migrate

    moved = migrate(args.source, args.target, replace=args.replace)
    check = audit_state(args.target)
    clean = not (check.overbooked or check.mismatched)
    if args.json:
        print_json({**dataclasses.asdict(moved), "audit_ok": clean})
    else:
        print(
            f"copied {moved.reservations} reservations, {moved.history} history rows, "
            f"{moved.requests} stored answers, {moved.site_changes} site changes, "
            f"{moved.pools} pools"
        )
        print("audit of the target: " + ("ok" if clean else "PROBLEMS (run ledger audit)"))
    return 0 if clean else EXIT_PROBLEMS
