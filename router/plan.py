"""What a plan says: placements, unplaced jobs with reasons, totals, and its JSON form."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


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
    baseline: list[Placement] = field(default_factory=list)


def plan_to_dict(plan: Plan) -> dict[str, Any]:
    """The JSON object of `westward plan --json` (DESIGN.md section 4)."""
    placements = []
    for p in plan.placements:
        row = asdict(p)
        row["path"] = list(p.path)
        placements.append(row)
    return {
        "placements": placements,
        "unplaced": [
            {"job": u.job, "reason": u.reason, "reasons": dict(u.reasons)} for u in plan.unplaced
        ],
        "total_cost_cny": round(plan.total_cost_cny, 2),
        "baseline_cost_cny": round(plan.baseline_cost_cny, 2),
        "savings_cny": round(plan.savings_cny, 2),
        "unlocked_jobs": plan.unlocked_jobs,
        "lower_bound_cny": round(plan.lower_bound_cny, 2),
        "solver": {"status": plan.solver_status, "seconds": round(plan.solver_seconds, 3)},
    }
