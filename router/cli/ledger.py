"""`westward ledger audit`: prove from a state file that no pool was ever overbooked."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from router.cli.common import print_json

EXIT_PROBLEMS = 1


def register(commands: Any) -> None:
    """Add the `ledger` command group."""
    ledger = commands.add_parser("ledger", help="inspect a service's reservation ledger")
    ledger_commands = ledger.add_subparsers(dest="ledger_command", required=True)
    check = ledger_commands.add_parser(
        "audit",
        help="replay a state file's history: no pool ever over its count, use matches rows",
    )
    check.add_argument("--state", required=True, metavar="F", help="the SQLite state file")
    check.add_argument("--json", action="store_true", help="print one JSON object")
    check.set_defaults(handler=_cmd_audit)


def _cmd_audit(args: argparse.Namespace) -> int:
    from router.state.audit import audit

    result = audit(args.state)
    if args.json:
        print_json(dataclasses.asdict(result))
    else:
        print(f"{result.changes} changes replayed, {result.active} active reservations")
        for line in result.overbooked:
            print(f"overbooked: {line}")
        for line in result.mismatched:
            print(f"mismatch: {line}")
        if not (result.overbooked or result.mismatched):
            print("ok: no pool was ever over its count; use matches the reservations")
    return EXIT_PROBLEMS if result.overbooked or result.mismatched else 0
