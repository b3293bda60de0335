"""westward: a latency-aware workload router for East-Data-West-Compute.

Everything users touch is here. Importing `router` loads only the exception tree; the
rest (networkx, OR-Tools, gRPC) loads on first use of a name that needs it.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from router.errors import (
    AuthenticationError,
    CapacityError,
    DeadlineExceededError,
    FieldProblem,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    RouterError,
    ServerError,
    ServiceUnavailableError,
)

if TYPE_CHECKING:
    from router.client import AsyncRouterClient, RouterClient
    from router.model.jobs import Job, load_jobs
    from router.model.scenario import Scenario, load_scenario
    from router.model.topology import Topology, default_topology, load_topology
    from router.place.offers import JobOffers, Offer
    from router.plan import plan_jobs
    from router.results import (
        JobMove,
        Placement,
        PlacementEvent,
        PlaceResult,
        Plan,
        ReloadResult,
        Reservation,
        RouteResult,
        ScenarioResult,
        SiteUpdateResult,
        TopologyView,
        Unheld,
        Unplaced,
        WhatIfResult,
    )
    from router.service.credentials import ClientTls

# Public name -> the module that defines it, imported on first use.
_LAZY = {
    "AsyncRouterClient": "router.client",
    "RouterClient": "router.client",
    "ClientTls": "router.service.credentials",
    "JobOffers": "router.place.offers",
    "Offer": "router.place.offers",
    "Job": "router.model.jobs",
    "load_jobs": "router.model.jobs",
    "Scenario": "router.model.scenario",
    "load_scenario": "router.model.scenario",
    "Topology": "router.model.topology",
    "default_topology": "router.model.topology",
    "load_topology": "router.model.topology",
    "plan_jobs": "router.plan",
    **{
        name: "router.results"
        for name in (
            "JobMove",
            "PlaceResult",
            "Placement",
            "PlacementEvent",
            "Plan",
            "ReloadResult",
            "Reservation",
            "RouteResult",
            "ScenarioResult",
            "SiteUpdateResult",
            "TopologyView",
            "Unheld",
            "Unplaced",
            "WhatIfResult",
        )
    },
}

__all__ = [
    "AsyncRouterClient",
    "AuthenticationError",
    "CapacityError",
    "ClientTls",
    "DeadlineExceededError",
    "FieldProblem",
    "InvalidInputError",
    "Job",
    "JobMove",
    "JobOffers",
    "NotFoundError",
    "Offer",
    "PermissionDeniedError",
    "PlaceResult",
    "Placement",
    "PlacementEvent",
    "Plan",
    "ReloadResult",
    "Reservation",
    "RouteResult",
    "RouterClient",
    "RouterError",
    "Scenario",
    "ScenarioResult",
    "ServerError",
    "ServiceUnavailableError",
    "SiteUpdateResult",
    "Topology",
    "TopologyView",
    "Unheld",
    "Unplaced",
    "WhatIfResult",
    "default_topology",
    "load_jobs",
    "load_scenario",
    "load_topology",
    "plan_jobs",
]

# The release; `westward --version` prefers the installed package's metadata.
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    """Load a public name's module on first use (`router.plan_jobs`, `router.RouterClient`)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'router' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
