"""What a ledger shared by several replicas adds to the `Ledger` protocol.

Events and the topology must reach every replica, not only the one that made the change:
a shared ledger writes placement events to an outbox in the committing transaction and
keeps the topology (with a version) in the store. The engine hands it callbacks
(`follow`) and from then on delivers events from the store instead of locally.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from typing import Any, Protocol, runtime_checkable

from router.model.topology import Site, Topology
from router.results import PlacementEvent
from router.state.events import EventHub
from router.state.ledger import HeldReservation as Held
from router.state.ledger import Ledger, Move, SiteState
from router.state.records import view
from router.state.site_update import Replacement


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


class Replicas:
    """What the engine does differently when its ledger is shared by replicas: nothing
    when it is not (each method is then a no-op or the plain ledger call)."""

    def __init__(self, ledger: Ledger) -> None:
        self.shared = ledger if isinstance(ledger, SharedLedger) else None

    def publish_topology(self, topology: Topology) -> None:
        """Replicas serve one topology: this one, from now on."""
        if self.shared is not None:
            self.shared.publish_topology(topology)

    def events(self) -> EventHub:
        """The engine's event hub: fed by the outbox when the ledger is shared."""
        return EventHub() if self.shared is None else FollowedHub()

    def follow(self, hub: EventHub, on_topology: Callable[[Topology], None]) -> None:
        """Start streaming every replica's events into `hub` and topology changes."""
        if self.shared is not None:
            assert isinstance(hub, FollowedHub)
            self.shared.follow(hub.deliver, on_topology)

    def site_lock(self, site: str) -> AbstractContextManager[None]:
        """Held while this replica changes a site (one change of a site at a time)."""
        return nullcontext() if self.shared is None else self.shared.site_lock(site)

    def relocate(
        self, ledger: Ledger, decision: Replacement, state: SiteState, site: Site
    ) -> list[Held]:
        """Commit a site change's moves and evictions (with their reasons, when shared)."""
        moves, evictions = decision.moves, list(decision.evictions)
        if self.shared is None:
            return ledger.relocate(moves, evictions, state)
        return self.shared.relocate(moves, evictions, state, reasons=decision.reasons(site))
