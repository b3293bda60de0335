"""Enum names <-> proto enum numbers, and deterministic serialisation."""

from __future__ import annotations

from typing import Any

from google.protobuf.message import Message

from router.errors import FieldProblem, InvalidInputError

KIND_PREFIX = "JOB_KIND_"
ZONE_PREFIX = "ZONE_"
PRECISION_PREFIX = "PRECISION_"
PREFER_PREFIX = "PREFERENCE_"
STATUS_PREFIX = "STATUS_"
STATE_PREFIX = "RESERVATION_STATE_"
EVENT_PREFIX = "EVENT_TYPE_"


def enum_name(enum: Any, prefix: str, value: int) -> str:
    """`JOB_KIND_TRAINING` -> "training"; UNSPECIFIED -> ""; unknown numbers -> "unknown(7)"."""
    try:
        name: str = enum.Name(value)
    except ValueError:
        return f"unknown({value})"
    return "" if name.endswith("_UNSPECIFIED") else name.removeprefix(prefix).lower()


def enum_value(enum: Any, prefix: str, name: str, path: str) -> int:
    """ "training" -> JOB_KIND_TRAINING; "" -> UNSPECIFIED; others are a field problem."""
    if not name:
        return 0
    try:
        value: int = enum.Value(prefix + str(name).upper())
    except ValueError:
        allowed = [
            n.removeprefix(prefix).lower()
            for n in enum.DESCRIPTOR.values_by_name
            if not n.endswith("UNSPECIFIED")
        ]
        raise InvalidInputError(
            [FieldProblem(path, f"must be one of: {', '.join(allowed)}, got {name!r}")]
        ) from None
    return value


def serialize(message: Message) -> bytes:
    """Deterministic bytes of a message (what the ledger stores as a request's answer)."""
    return message.SerializeToString(deterministic=True)
