"""`westward ledger audit`: prove from a state file that no pool was ever overbooked."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from router.cli.common import print_json
from router.errors import FieldProblem, InvalidInputError
from router.report.words import plural

EXIT_PROBLEMS = 1


def register(commands: Any) -> None:
    """Add the `ledger` command group."""
    ledger = commands.add_parser("ledger", help="inspect a service's reservation ledger")
    ledger_commands = ledger.add_subparsers(dest="ledger_command", required=True)
    check = ledger_commands.add_parser(
        "audit",
        help="replay a state file's history: no pool ever over its count, use matches rows",
    )
    check.add_argument(
        "--state", required=True, metavar="F", help="the SQLite state file of `westward serve`"
    )
    check.add_argument("--json", action="store_true", help="print one JSON object")
    check.set_defaults(handler=_cmd_audit)


def _cmd_audit(args: argparse.Namespace) -> int:
    import sqlite3

    from router.state.audit import audit

    if not Path(args.state).is_file():
        raise InvalidInputError([FieldProblem("--state", f"no state file {args.state}")])
    try:
        result = audit(args.state)
    except sqlite3.DatabaseError as exc:
        problem = f"{args.state} is not a westward state file ({exc})"
        raise InvalidInputError([FieldProblem("--state", problem)]) from None
    if args.json:
        print_json(dataclasses.asdict(result))
    else:
        replayed = plural(result.changes, "change")
        print(f"{replayed} replayed, {plural(result.active, 'active reservation')}")
        for line in result.overbooked:
            print(f"overbooked: {line}")
        for line in result.mismatched:
            print(f"mismatch: {line}")
        if not (result.overbooked or result.mismatched):
            print("ok: no pool was ever over its count; use matches the reservations")
    return EXIT_PROBLEMS if result.overbooked or result.mismatched else 0
