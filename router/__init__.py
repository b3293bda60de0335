"""westward: a latency-aware workload router for East-Data-West-Compute."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from router.errors import (
    CapacityError,
    DeadlineExceededError,
    FieldProblem,
    InvalidInputError,
    NotFoundError,
    RouterError,
    ServerError,
    ServiceUnavailableError,
)

if TYPE_CHECKING:
    from router.client import AsyncRouterClient, RouterClient

__all__ = [
    "AsyncRouterClient",
    "CapacityError",
    "DeadlineExceededError",
    "FieldProblem",
    "InvalidInputError",
    "NotFoundError",
    "RouterClient",
    "RouterError",
    "ServerError",
    "ServiceUnavailableError",
]

# The release; `westward --version` prefers the installed package's metadata.
__version__ = "0.1.0"

_LAZY = {"RouterClient", "AsyncRouterClient"}


def __getattr__(name: str) -> Any:
    """The SDK clients load gRPC only when first used (`router.RouterClient`)."""
    if name in _LAZY:
        from router import client

        return getattr(client, name)
    raise AttributeError(f"module 'router' has no attribute {name!r}")
