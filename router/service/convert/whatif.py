"""What-if scenarios and results, and topology reloads."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

from router.results import (
    JobMove,
    ReloadResult,
    ScenarioResult,
    Unheld,
    WhatIfResult,
)
from router.service.convert.enums import (
    STATUS_PREFIX,
    enum_name,
    enum_value,
)
from router.service.convert.plans import (
    plan_from,
    plan_message,
    reservation_from,
    reservation_message,
)
from router.v1 import router_pb2 as pb

# --- what-if ------------------------------------------------------------------------------

_SETTERS = ("price_factor", "count_factor", "latency_ms", "demand_factor")


def scenario_entries(scenarios: Sequence[pb.Scenario]) -> list[dict[str, Any]]:
    """Proto scenarios as the mappings router.whatif.compare parses (scenario-file shape)."""
    out = []
    for s in scenarios:
        changes = []
        for c in s.changes:
            entry: dict[str, Any] = {}
            which = c.WhichOneof("select")
            if which == "link":
                entry["link"] = {"a": c.link.a, "b": c.link.b}
            elif which == "pool":
                entry["pool"] = {"site": c.pool.site, "accelerator": c.pool.accelerator}
            elif which is not None:
                entry[which] = getattr(c, which)
            if c.status:
                entry["status"] = enum_name(pb.Status, STATUS_PREFIX, c.status)
            for key in _SETTERS:
                if c.HasField(key):  # type: ignore[arg-type]
                    entry[key] = getattr(c, key)
            changes.append(entry)
        out.append({"name": s.name, "changes": changes})
    return out


def scenario_message(entry: Mapping[str, Any], path: str = "scenario") -> pb.Scenario:
    """Proto form of a scenario mapping (`{"name", "changes": [...]}`)."""
    msg = pb.Scenario(name=str(entry.get("name", "")))
    for k, raw in enumerate(entry.get("changes", [])):
        at = f"{path}.changes[{k}]"
        change = msg.changes.add()
        if "link" in raw:
            change.link.a, change.link.b = str(raw["link"]["a"]), str(raw["link"]["b"])
        elif "pool" in raw:
            change.pool.site = str(raw["pool"]["site"])
            change.pool.accelerator = str(raw["pool"].get("accelerator", ""))
        else:
            for key in ("site", "hub", "job"):
                if key in raw:
                    setattr(change, key, str(raw[key]))
                    break
        if raw.get("status"):
            change.status = pb.Status.ValueType(
                enum_value(pb.Status, STATUS_PREFIX, raw["status"], f"{at}.status")
            )
        for key in _SETTERS:
            if raw.get(key) is not None:
                setattr(change, key, float(raw[key]))
    return msg


def whatif_response(result: WhatIfResult) -> pb.WhatIfResponse:
    """Proto form of a WhatIf answer."""
    return pb.WhatIfResponse(
        baseline=plan_message(result.baseline),
        results=[
            pb.ScenarioResult(
                name=r.name,
                plan=plan_message(r.plan),
                cost_delta_cny=r.cost_delta_cny,
                placed_delta=r.placed_delta,
                moves=[pb.JobMove(**asdict(m)) for m in r.moves],
                lost_jobs=list(r.lost_jobs),
            )
            for r in result.results
        ],
    )


def whatif_result(m: pb.WhatIfResponse) -> WhatIfResult:
    """Domain form of a WhatIf answer."""
    return WhatIfResult(
        plan_from(m.baseline),
        [
            ScenarioResult(
                name=r.name,
                plan=plan_from(r.plan),
                cost_delta_cny=r.cost_delta_cny,
                placed_delta=r.placed_delta,
                moves=[JobMove(x.job, x.from_site, x.to_site) for x in r.moves],
                lost_jobs=list(r.lost_jobs),
            )
            for r in m.results
        ],
    )


def reload_response(result: ReloadResult) -> pb.ReloadTopologyResponse:
    """Proto form of a topology reload's result."""
    return pb.ReloadTopologyResponse(
        topology_name=result.topology,
        sites=result.sites,
        unheld=[
            pb.UnheldReservation(reservation=reservation_message(u.reservation), reason=u.reason)
            for u in result.unheld
        ],
    )


def reload_result(m: pb.ReloadTopologyResponse) -> ReloadResult:
    """Domain form of a topology reload's result."""
    return ReloadResult(
        m.topology_name,
        m.sites,
        [Unheld(reservation_from(u.reservation), u.reason) for u in m.unheld],
    )
