"""Typed results of the router service, shared by the server core and the SDK.

Plans reuse the planner's own dataclasses (router.plan), so a plan from the service
renders exactly like a local one; the types here add what only a service has:
reservations, events and site updates.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from router.plan import Placement, Plan, Unplaced
from router.topology import Site, Topology

EVENT_TYPES = ("placed", "moved", "released", "evicted", "expired")
RESERVATION_STATES = ("active", "released", "evicted", "expired")


@dataclass(frozen=True)
class Reservation:
    """A placed job holding its devices; `job` is the job in its jobs-file shape."""

    reservation_id: str
    placement: Placement
    job: Mapping[str, Any]
    state: str = "active"
    request_id: str = ""
    created_unix_s: float = 0.0
    expires_unix_s: float | None = None
    """When the reservation ends by itself (None: held until released)."""


@dataclass(frozen=True)
class PlaceResult:
    """A planned batch and the reservations made for it (none for a dry run)."""

    plan: Plan
    reservations: list[Reservation] = field(default_factory=list)


@dataclass(frozen=True)
class RouteResult:
    """One routed job: a reservation, or why it fits nowhere now."""

    reservation: Reservation | None = None
    unplaced: Unplaced | None = None

    @property
    def placed(self) -> bool:
        """Whether the job got a reservation."""
        return self.reservation is not None


@dataclass(frozen=True)
class PlacementEvent:
    """A change to the reservations: placed, moved, released or evicted."""

    type: str
    reservation: Reservation
    previous: Placement | None = None
    reason: str = ""
    time_unix_s: float = 0.0


@dataclass(frozen=True)
class SiteUpdateResult:
    """The site after an update, and what happened to the jobs it could no longer hold."""

    site: Site
    moved: list[PlacementEvent] = field(default_factory=list)
    evicted: list[PlacementEvent] = field(default_factory=list)


@dataclass(frozen=True)
class Unheld:
    """A kept reservation that the topology can no longer hold, and why."""

    reservation: Reservation
    reason: str


@dataclass(frozen=True)
class ReloadResult:
    """A topology reload: the new topology's name and size, and what it cannot hold."""

    topology: str
    sites: int
    unheld: list[Unheld] = field(default_factory=list)


@dataclass(frozen=True)
class TopologyView:
    """The topology a server routes over and its free devices per (site, pool index)."""

    topology: Topology
    free: dict[tuple[str, int], int]


@dataclass(frozen=True)
class JobMove:
    """A job placed in both the baseline and a scenario, at different sites."""

    job: str
    from_site: str
    to_site: str


@dataclass(frozen=True)
class ScenarioResult:
    """One scenario's plan and how it differs from the baseline."""

    name: str
    plan: Plan
    cost_delta_cny: float
    placed_delta: int
    moves: list[JobMove] = field(default_factory=list)
    lost_jobs: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class WhatIfResult:
    """The unchanged baseline plan and one result per scenario."""

    baseline: Plan
    results: list[ScenarioResult] = field(default_factory=list)
