"""`westward auth hash-token`: the sha256 a tenants file stores for a bearer token."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from router.errors import FieldProblem, InvalidInputError


def register(commands: Any) -> None:
    """Add the `auth` command group."""
    auth = commands.add_parser("auth", help="credentials for a server's tenants file")
    auth_commands = auth.add_subparsers(dest="auth_command", required=True)
    hashed = auth_commands.add_parser(
        "hash-token",
        help="read a bearer token on stdin, print its sha256 for token_sha256 (hex)",
    )
    hashed.set_defaults(handler=_cmd_hash_token)


def _cmd_hash_token(args: argparse.Namespace) -> int:
    from router.service.tenants import hash_token

    token = sys.stdin.read().strip("\r\n")
    if not token or token != token.strip():
        raise InvalidInputError(
            [FieldProblem("stdin", "expected one token (no surrounding spaces), got none")]
            if not token
            else [FieldProblem("stdin", "the token has leading or trailing spaces")]
        )
    if "\n" in token:
        raise InvalidInputError([FieldProblem("stdin", "expected one token on one line")])
    print(hash_token(token))
    return 0
