"""What the router answers, shared by the planner, the server core and the SDK: plans
(placements, unplaced jobs with reasons, totals, their JSON form), and what only a
service has: reservations, events and site updates. A plan from the service renders
exactly like a local one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from router.model.topology import Site, Topology

EVENT_TYPES = ("placed", "moved", "released", "evicted", "expired")
RESERVATION_STATES = ("active", "released", "evicted", "expired")


@dataclass(frozen=True, slots=True)
class Placement:
    """One job on one pool of one site, with the figures that justify it."""

    job: str
    site: str
    hub: str
    zone: str
    pool_index: int
    accelerator: str
    count: int
    latency_ms: float
    path: tuple[str, ...]
    run_hours: float
    compute_cny: float
    transfer_cny: float
    carbon_kg: float
    cost_cny: float


@dataclass(frozen=True, slots=True)
class Unplaced:
    """A job that could not be placed, and why (`reasons` counts sites per reason)."""

    job: str
    reason: str
    reasons: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Plan:
    """The outcome of planning a batch of jobs, compared with staying east."""

    placements: list[Placement]
    unplaced: list[Unplaced]
    total_cost_cny: float
    baseline_cost_cny: float
    savings_cny: float
    unlocked_jobs: int
    lower_bound_cny: float
    solver_status: str
    solver_seconds: float
    baseline_jobs: int
    """Jobs the baseline places: a cheaper baseline that places fewer jobs is not cheaper."""
    baseline_shared_cost_cny: float
    """The baseline's cost of the jobs both it and the plan place (what savings compare to)."""
    baseline: list[Placement] = field(default_factory=list)

    @property
    def shared_jobs(self) -> int:
        """Jobs both the plan and the baseline place."""
        return len(self.placements) - self.unlocked_jobs

    @property
    def savings_share(self) -> float:
        """Savings as a share of the baseline's cost on the jobs both place (0 when none)."""
        return (
            self.savings_cny / self.baseline_shared_cost_cny
            if self.baseline_shared_cost_cny
            else 0.0
        )


_PLACEMENT_FIELDS = tuple(f.name for f in fields(Placement))


def placement_to_dict(placement: Placement) -> dict[str, Any]:
    """A placement as plain JSON values (field by field: asdict deep-copies every value,
    0.3 s for 10,000 placements)."""
    row = {name: getattr(placement, name) for name in _PLACEMENT_FIELDS}
    row["path"] = list(placement.path)
    return row


def plan_to_dict(plan: Plan) -> dict[str, Any]:
    """The JSON object of `westward plan --json` (DESIGN.md section 4)."""
    return {
        "placements": [placement_to_dict(p) for p in plan.placements],
        "unplaced": [
            {"job": u.job, "reason": u.reason, "reasons": dict(u.reasons)} for u in plan.unplaced
        ],
        "total_cost_cny": round(plan.total_cost_cny, 2),
        "baseline_cost_cny": round(plan.baseline_cost_cny, 2),
        "baseline_jobs": plan.baseline_jobs,
        "baseline_shared_cost_cny": round(plan.baseline_shared_cost_cny, 2),
        "savings_cny": round(plan.savings_cny, 2),
        "unlocked_jobs": plan.unlocked_jobs,
        "lower_bound_cny": round(plan.lower_bound_cny, 2),
        "solver": {"status": plan.solver_status, "seconds": round(plan.solver_seconds, 3)},
    }


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
    tenant: str = ""
    """Who holds it ("" on a server without --auth)."""


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

    def held(self) -> dict[tuple[str, int], int]:
        """Devices reservations hold per (site, pool index): what the pool can hand out
        (nothing while its site is down) minus what is free."""
        from router.state.records import pool_capacities  # records imports this module

        usable = pool_capacities(self.topology)
        return {key: max(0, count - self.free.get(key, 0)) for key, count in usable.items()}


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
