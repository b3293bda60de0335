"""Request bounds: every field of a RouterService request, checked against the schema.

Jobs and scenarios are checked by their own schemas when they are parsed; here they
count only (the batch size). The ranges live in router/data/requests.schema.json, so
the docs, the server and editors read the same numbers.
"""

from __future__ import annotations

import hashlib
from typing import Any

from google.protobuf.message import Message

from router.errors import FieldProblem, InvalidInputError
from router.model.schema import schema_problems
from router.state.ledger import RequestKey

_COUNTED = frozenset({"jobs", "scenarios"})


def request_fields(message: Message) -> dict[str, Any]:
    """The request's fields as plain values: scalars, counts of jobs and scenarios, and
    lists of the other repeated messages (a Route's single job is the job parser's)."""
    out: dict[str, Any] = {}
    for field in message.DESCRIPTOR.fields:
        value = getattr(message, field.name)
        repeated = field.is_repeated
        if field.message_type is None:
            if field.has_presence and not message.HasField(field.name):
                continue
            out[field.name] = list(value) if repeated else value
        elif repeated:
            out[field.name] = (
                len(value) if field.name in _COUNTED else [request_fields(m) for m in value]
            )
    return out


def check_request(message: Message) -> None:
    """Raise InvalidInputError naming every field of `message` outside its documented range."""
    problems = schema_problems(request_fields(message), "requests")
    if problems:
        raise InvalidInputError(problems)


def require(condition: bool, path: str, message: str) -> None:
    """A rule the schema cannot say (e.g. a Place needs a job): InvalidInputError if broken."""
    if not condition:
        raise InvalidInputError([FieldProblem(path, message)])


def request_key(method: str, message: Message) -> RequestKey | None:
    """The idempotency key of a request with a request_id: scoped to its method, with a
    canonical hash of the whole request (deterministic serialisation of its fields)."""
    request_id: str = getattr(message, "request_id", "")
    if not request_id:
        return None
    body = hashlib.sha256(message.SerializeToString(deterministic=True)).hexdigest()
    return RequestKey(method, request_id, body)
