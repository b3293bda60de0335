"""`westward auth hash-token`: the sha256 a tenants file stores for a bearer token."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from router.errors import FieldProblem, InvalidInputError

if TYPE_CHECKING:
    from router.model.jobs import Job
    from router.state.quotas import BatchQuotas


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


def plan_quotas(tenants_path: str, jobs_path: str, jobs: Sequence[Job]) -> BatchQuotas:
    """`plan --tenants F`: the tenants' quotas as plan constraints (nothing held yet).

    Every job's `tenant` must be in the file; jobs without one are not limited.
    """
    from router.service.tenants import load_tenants
    from router.state.quotas import BatchQuotas

    tenants = load_tenants(tenants_path)
    known = {t.name for t in tenants.tenants}
    unknown = [
        FieldProblem(f"jobs[{i}].tenant", f"{job.tenant!r} is not a tenant of {tenants_path}")
        for i, job in enumerate(jobs)
        if job.tenant and job.tenant not in known
    ]
    if unknown:
        raise InvalidInputError([FieldProblem(p.path, p.message, jobs_path) for p in unknown])
    return BatchQuotas(tenants.quota_policy(), {})
