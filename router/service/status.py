"""RouterError <-> gRPC status, both ways, with google.rpc rich error details (grpcio-status).

Server: bad input becomes INVALID_ARGUMENT carrying a google.rpc.BadRequest whose field
violations are the InvalidInputError problems. Client: any failed call becomes the
matching RouterError, with those problems attached again.
"""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from router.errors import (
    AuthenticationError,
    CapacityError,
    DeadlineExceededError,
    FieldProblem,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    RouterError,
    ServerError,
    ServiceUnavailableError,
)

_CODES: dict[type[RouterError], int] = {
    NotFoundError: code_pb2.NOT_FOUND,
    CapacityError: code_pb2.ABORTED,
    DeadlineExceededError: code_pb2.DEADLINE_EXCEEDED,
    ServiceUnavailableError: code_pb2.UNAVAILABLE,
}


def status_of(error: RouterError) -> grpc.Status:
    """The status (code, message and google.rpc details) a server answers for `error`."""
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
        rich = status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message=summary, details=[detail])
    else:
        code = next((c for cls, c in _CODES.items() if isinstance(error, cls)), code_pb2.INTERNAL)
        rich = status_pb2.Status(code=code, message=str(error))
    status: grpc.Status = rpc_status.to_status(rich)
    return status


def field_problems(status: status_pb2.Status | None) -> list[FieldProblem]:
    """The BadRequest field violations of a status, as FieldProblems."""
    problems: list[FieldProblem] = []
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            problems += [FieldProblem(v.field, v.description) for v in bad.field_violations]
    return problems


def error_from(call: Any) -> RouterError:
    """The RouterError for a failed call (a grpc.RpcError or grpc.aio.AioRpcError)."""
    code: grpc.StatusCode = call.code()
    message: str = call.details() or ""
    if code is grpc.StatusCode.INVALID_ARGUMENT:
        try:
            rich = rpc_status.from_call(call)
        except ValueError:  # details that contradict the status: keep the status
            rich = None
        problems = field_problems(rich)
        return InvalidInputError(problems or [FieldProblem("", message or "invalid request")])
    if code is grpc.StatusCode.UNAUTHENTICATED:
        return AuthenticationError(message or "not authenticated")
    if code is grpc.StatusCode.PERMISSION_DENIED:
        return PermissionDeniedError(message or "permission denied")
    if code is grpc.StatusCode.NOT_FOUND:
        return NotFoundError(message)
    if code is grpc.StatusCode.ABORTED:
        return CapacityError(message)
    if code is grpc.StatusCode.RESOURCE_EXHAUSTED:  # the server is at a concurrency bound
        return ServiceUnavailableError(message or "server busy")
    if code is grpc.StatusCode.DEADLINE_EXCEEDED:
        return DeadlineExceededError(message or "deadline exceeded")
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED):
        return ServiceUnavailableError(message or "service unavailable")
    return ServerError(f"{code.name}: {message}")
