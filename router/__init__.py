"""westward: a latency-aware workload router for East-Data-West-Compute."""

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

__all__ = [
    "CapacityError",
    "DeadlineExceededError",
    "FieldProblem",
    "InvalidInputError",
    "NotFoundError",
    "RouterError",
    "ServerError",
    "ServiceUnavailableError",
]
