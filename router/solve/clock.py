"""Deadlines as time.monotonic() readings, split between the stages of a search."""

from __future__ import annotations

import time


def share(deadline: float, fraction: float) -> float:
    """The deadline for a stage given `fraction` of the time left before `deadline`."""
    now = time.monotonic()
    return now + max(0.0, deadline - now) * fraction
