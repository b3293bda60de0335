"""Retry a plan-then-commit until the capacity it counted on is still there at commit."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from router.errors import CapacityError, RouterError

T = TypeVar("T")


def until_committed(
    attempt: Callable[[], T],
    *,
    attempts: int,
    give_up: str,
    retry_on: tuple[type[RouterError], ...] = (CapacityError,),
) -> T:
    """Run `attempt` again while it fails with `retry_on` (concurrent calls took the room).

    After `attempts` tries, CapacityError(give_up): the caller may try again later.
    """
    for _ in range(attempts):
        try:
            return attempt()
        except retry_on:
            continue
    raise CapacityError(give_up)
