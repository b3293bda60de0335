"""The tenants file (`westward serve --auth F`): who may call, as what, how fast, how much.

Tokens are stored only as their sha256 (`westward auth hash-token`); a tenant may instead
be named by a subject alternative name of its mTLS client certificate. The file is
checked against router/data/tenants.schema.json and then for what a schema cannot say
(unique names, tokens and SANs; lending within nominal); errors are `file:line: path: ...`.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from router.errors import FieldProblem
from router.model.schema import schema_problems
from router.model.sourcefile import SourceFile, read_yaml
from router.state.quotas import Limit, QuotaPolicy, TenantQuota


class Role(StrEnum):
    """What a caller may do (see ALLOWED in router.service.auth)."""

    ADMIN = "admin"
    TENANT = "tenant"
    VIEWER = "viewer"


@dataclass(frozen=True)
class Tenant:
    """One caller identity from the tenants file."""

    name: str
    role: Role
    token_sha256: str = ""
    cert_san: str = ""
    rate_limit_per_s: float | None = None
    quota: TenantQuota | None = None


@dataclass(frozen=True)
class Tenants:
    """Every tenant, indexed by the credentials that name it."""

    tenants: tuple[Tenant, ...]
    _by_hash: dict[str, Tenant] = field(init=False, repr=False, compare=False)
    _by_san: dict[str, Tenant] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_hash = {t.token_sha256: t for t in self.tenants if t.token_sha256}
        by_san = {t.cert_san: t for t in self.tenants if t.cert_san}
        object.__setattr__(self, "_by_hash", by_hash)
        object.__setattr__(self, "_by_san", by_san)

    def by_token(self, token: str) -> Tenant | None:
        """The tenant whose token this is (compared by hash, in constant time per entry)."""
        digest = hash_token(token)
        found = self._by_hash.get(digest)
        if found is not None and hmac.compare_digest(found.token_sha256, digest):
            return found
        return None

    def by_cert_san(self, sans: list[str]) -> Tenant | None:
        """The tenant named by any of a client certificate's SANs."""
        return next((self._by_san[s] for s in sans if s in self._by_san), None)

    def quota_policy(self) -> QuotaPolicy:
        """The quotas of every tenant that has one."""
        return QuotaPolicy({t.name: t.quota for t in self.tenants if t.quota is not None})


def hash_token(token: str) -> str:
    """sha256 of a bearer token, as the tenants file stores it (lowercase hex)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def load_tenants(path: str | Path) -> Tenants:
    """Read and check a tenants file; InvalidInputError names file:line: path."""
    source = read_yaml(path)
    return parse_tenants(source)


def parse_tenants(source: SourceFile) -> Tenants:
    """Tenants from parsed YAML (with lines for the errors)."""
    problems = schema_problems(source.data, "tenants")
    if problems:
        raise source.locate(problems)
    entries: list[dict[str, Any]] = source.data["tenants"]
    problems = _semantic_problems(entries)
    if problems:
        raise source.locate(problems)
    return Tenants(tuple(_tenant(e) for e in entries))


def _semantic_problems(entries: list[dict[str, Any]]) -> list[FieldProblem]:
    problems: list[FieldProblem] = []
    seen: dict[tuple[str, str], int] = {}
    for i, entry in enumerate(entries):
        for key in ("name", "token_sha256", "cert_san"):
            value = entry.get(key)
            if value is None:
                continue
            first = seen.setdefault((key, value), i)
            if first != i:
                problems.append(
                    FieldProblem(f"tenants[{i}].{key}", f"must be unique; tenants[{first}] has it")
                )
        for name, limit in entry.get("quota", {}).items():
            lending = limit.get("lending_limit")
            if lending is not None and lending > limit["nominal"]:
                problems.append(
                    FieldProblem(
                        f"tenants[{i}].quota.{name}.lending_limit",
                        f"must be <= nominal ({limit['nominal']}), got {lending}",
                    )
                )
    return problems


def _tenant(entry: dict[str, Any]) -> Tenant:
    quota = None
    if "quota" in entry:
        limits = {
            name: Limit(
                nominal=int(v["nominal"]),
                borrowing_limit=v.get("borrowing_limit"),
                lending_limit=v.get("lending_limit"),
            )
            for name, v in entry["quota"].items()
        }
        quota = TenantQuota(
            tenant=entry["name"],
            limits=limits,
            cohort=entry.get("cohort", ""),
            weight=float(entry.get("weight", 1.0)),
            reclaim_within_cohort=bool(entry.get("reclaim_within_cohort", False)),
        )
    rate = entry.get("rate_limit_per_s")
    return Tenant(
        name=entry["name"],
        role=Role(entry["role"]),
        token_sha256=entry.get("token_sha256", ""),
        cert_san=entry.get("cert_san", ""),
        rate_limit_per_s=None if rate is None else float(rate),
        quota=quota,
    )
