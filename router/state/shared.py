"""What a ledger shared by several replicas adds to the `Ledger` protocol.

Events and the topology must reach every replica, not only the one that made the change:
a shared ledger writes placement events to an outbox in the committing transaction and
keeps the topology (with a version) in the store. The engine hands it callbacks
(`follow`) and from then on delivers events from the store instead of locally.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from typing import Any, Protocol, runtime_checkable

from router.model.topology import Topology
from router.results import PlacementEvent
from router.state.events import EventHub
from router.state.ledger import HeldReservation as Held
from router.state.ledger import Move, SiteState
from router.state.records import view


@dataclass(frozen=True)
class StoredEvent:
    """One placement event as the outbox keeps it, numbered in commit order."""

    seq: int
    kind: str
    """placed, moved, released, evicted or expired."""
    reservation: Held
    """The reservation right after the change."""
    previous: Mapping[str, Any] | None
    """For a move: the placement details it had before."""
    reason: str
    time_unix_s: float


@runtime_checkable
class SharedLedger(Protocol):
    """A ledger several replicas use at once (see router.state.postgres)."""

    def publish_topology(self, topology: Topology) -> None:
        """Make `topology` the one every replica serves (nothing changes if it already is)."""
        ...

    def stored_topology(self) -> Topology | None:
        """The topology every replica serves (run-time site changes not applied)."""
        ...

    def relocate(
        self,
        moves: Sequence[Move],
        evictions: Sequence[str],
        site_state: SiteState | None = None,
        *,
        reasons: Mapping[str, str] | None = None,
    ) -> list[Held]:
        """`Ledger.relocate`, with the reason of each move and eviction (by reservation id)
        written to the outbox with its event."""
        ...

    def site_lock(self, site: str) -> AbstractContextManager[None]:
        """Held while one replica changes a site, so concurrent changes re-place once."""
        ...

    def follow(
        self,
        on_events: Callable[[Sequence[StoredEvent]], None],
        on_topology: Callable[[Topology], None],
    ) -> None:
        """From now on, call `on_events` with every replica's events in commit order and
        `on_topology` whenever the stored topology or a site change is new."""
        ...


class FollowedHub(EventHub):
    """The engine's events on a shared ledger: the outbox carries them, written in the
    committing transaction, so `publish` sends nothing; the follower `deliver`s every
    replica's events, this one's included, in commit order."""

    def publish(self, events: Sequence[PlacementEvent]) -> None:
        """Nothing: this replica's events reach its listeners through the outbox too."""

    def deliver(self, stored: Sequence[StoredEvent]) -> None:
        """Hand events read from the outbox to every listener, in order."""
        if self.listener_count:
            super().publish([placement_event(s) for s in stored])


def placement_event(stored: StoredEvent) -> PlacementEvent:
    """An outbox event as the service streams it."""
    previous = None
    if stored.previous is not None:
        previous = view(replace(stored.reservation, details=stored.previous)).placement
    return PlacementEvent(
        stored.kind, view(stored.reservation), previous, stored.reason, stored.time_unix_s
    )
