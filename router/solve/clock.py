"""Deadlines as time.monotonic() readings, split between the stages of a search, and the
one way a search is called off early: once its caller has gone, `now()` reads infinity,
so every stage finds its deadline passed and returns the best it has."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

POLL_S = 0.05
"""How often a running CP-SAT search asks whether its caller is still there."""

_called_off: ContextVar[Callable[[], bool] | None] = ContextVar("called_off", default=None)


def now() -> float:
    """time.monotonic(), or infinity once the current search has been called off."""
    called_off = _called_off.get()
    return math.inf if called_off is not None and called_off() else time.monotonic()


def share(deadline: float, fraction: float) -> float:
    """The deadline for a stage given `fraction` of the time left before `deadline`."""
    start = time.monotonic()
    return start + max(0.0, deadline - start) * fraction


@contextmanager
def cancellable(called_off: Callable[[], bool] | None) -> Iterator[None]:
    """Searches run inside see `called_off()` (True: stop now) through `now()`."""
    if called_off is None:  # an inner search keeps its caller's hook
        yield
        return
    token = _called_off.set(called_off)
    try:
        yield
    finally:
        _called_off.reset(token)


@contextmanager
def also_stopped_by(event: threading.Event) -> Iterator[None]:
    """Searches inside also stop once `event` is set: one of two racing searches has
    proved its answer, so the other's is no longer needed."""
    outer = _called_off.get()
    token = _called_off.set(lambda: event.is_set() or (outer is not None and outer()))
    try:
        yield
    finally:
        _called_off.reset(token)


@contextmanager
def stoppable(stop: Callable[[], Any]) -> Iterator[None]:
    """A solve that `stop()` ends (CP-SAT's stop_search, an LP's or SCIP's interrupt)
    stops within POLL_S of its search being called off."""
    called_off = _called_off.get()
    if called_off is None:
        yield
        return
    done = threading.Event()

    def watch() -> None:
        while not done.wait(POLL_S):
            if called_off():
                stop()
                return

    watcher = threading.Thread(target=watch, name="solve-stop", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join()
