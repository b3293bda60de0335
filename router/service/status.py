"""RouterError <-> gRPC status, both ways, with google.rpc rich error details.

Server: bad input becomes INVALID_ARGUMENT carrying a google.rpc.BadRequest whose field
violations are the InvalidInputError problems. Client: any grpc.RpcError becomes the
matching RouterError, with those problems attached again.
"""

from __future__ import annotations

from collections.abc import Iterable

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

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

DETAILS_KEY = "grpc-status-details-bin"


def status_of(error: RouterError) -> status_pb2.Status:
    """The google.rpc.Status a server answers for a RouterError."""
    if isinstance(error, InvalidInputError):
        bad = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field=p.path, description=p.message)
                for p in error.problems
            ]
        )
        detail = any_pb2.Any()
        detail.Pack(bad)
        summary = "; ".join(str(p) for p in error.problems[:3])
        more = len(error.problems) - 3
        if more > 0:
            summary += f"; and {more} more"
        return status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message=summary, details=[detail])
    codes = {
        NotFoundError: code_pb2.NOT_FOUND,
        CapacityError: code_pb2.ABORTED,
        DeadlineExceededError: code_pb2.DEADLINE_EXCEEDED,
        ServiceUnavailableError: code_pb2.UNAVAILABLE,
    }
    code = next((c for cls, c in codes.items() if isinstance(error, cls)), code_pb2.INTERNAL)
    return status_pb2.Status(code=code, message=str(error))


def grpc_code(status: status_pb2.Status) -> grpc.StatusCode:
    """The grpc.StatusCode for a google.rpc.Status code number."""
    return next(c for c in grpc.StatusCode if c.value[0] == status.code)


def trailing_details(
    metadata: Iterable[tuple[str, str | bytes]] | None,
) -> status_pb2.Status | None:
    """The rich status a server attached to its trailing metadata, if any."""
    for key, value in metadata or ():
        if key == DETAILS_KEY and isinstance(value, bytes):
            return status_pb2.Status.FromString(value)
    return None


def field_problems(status: status_pb2.Status | None) -> list[FieldProblem]:
    """The BadRequest field violations of a status, as FieldProblems."""
    problems: list[FieldProblem] = []
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            problems += [FieldProblem(v.field, v.description) for v in bad.field_violations]
    return problems


def error_from(
    code: grpc.StatusCode,
    message: str,
    metadata: Iterable[tuple[str, str | bytes]] | None,
) -> RouterError:
    """The RouterError for a failed call (code, details text and trailing metadata)."""
    if code is grpc.StatusCode.INVALID_ARGUMENT:
        problems = field_problems(trailing_details(metadata))
        return InvalidInputError(problems or [FieldProblem("", message or "invalid request")])
    if code is grpc.StatusCode.NOT_FOUND:
        return NotFoundError(message)
    if code is grpc.StatusCode.ABORTED:
        return CapacityError(message)
    if code is grpc.StatusCode.RESOURCE_EXHAUSTED:  # the server is at its concurrency bound
        return ServiceUnavailableError(message or "server busy")
    if code is grpc.StatusCode.DEADLINE_EXCEEDED:
        return DeadlineExceededError(message or "deadline exceeded")
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED):
        return ServiceUnavailableError(message or "service unavailable")
    return ServerError(f"{code.name}: {message}")
