"""Placement event fan-out: listeners (watch streams) hear every placed/moved/... event."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from router.results import PlacementEvent

Listener = Callable[[PlacementEvent], None]


class EventHub:
    """Subscribe listeners; publish events to all of them (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call `listener` with every event from now on; returns unsubscribe."""
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    @property
    def listener_count(self) -> int:
        """How many listeners are subscribed."""
        with self._lock:
            return len(self._listeners)

    def publish(self, events: Sequence[PlacementEvent]) -> None:
        """Hand each event to every listener, in order."""
        with self._lock:
            listeners = list(self._listeners)
        for event in events:
            for listener in listeners:
                listener(event)
