"""Protobuf <-> domain: the only hand-written module that touches router.v1 messages.

Jobs cross the wire in the same shape as a jobs YAML file, so the server turns a
proto Job into that mapping and validates it with router.model.jobs.parse_jobs: files and
requests share one set of rules and one set of field paths (`jobs[3].accelerators.count`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from router.errors import FieldProblem, InvalidInputError
from router.model.jobs import Job
from router.model.topology import Accelerator, Exchange, Hub, Link, Pool, Region, Site, Topology
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
from router.state.site_changes import PoolChange, SiteChange
from router.v1 import router_pb2 as pb
from router.v1 import router_pb2_grpc as pb_grpc

__all__ = ["pb", "pb_grpc"]

_KIND = "JOB_KIND_"
_ZONE = "ZONE_"
_PRECISION = "PRECISION_"
_PREFER = "PREFERENCE_"
_STATUS = "STATUS_"
_STATE = "RESERVATION_STATE_"
_EVENT = "EVENT_TYPE_"


def _enum_name(enum: Any, prefix: str, value: int) -> str:
    """`JOB_KIND_TRAINING` -> "training"; UNSPECIFIED -> ""; unknown numbers -> "unknown(7)"."""
    try:
        name: str = enum.Name(value)
    except ValueError:
        return f"unknown({value})"
    return "" if name.endswith("_UNSPECIFIED") else name.removeprefix(prefix).lower()


def _enum_value(enum: Any, prefix: str, name: str, path: str) -> int:
    """ "training" -> JOB_KIND_TRAINING; "" -> UNSPECIFIED; others are a field problem."""
    if not name:
        return 0
    try:
        value: int = enum.Value(prefix + str(name).upper())
    except ValueError:
        allowed = [
            n.removeprefix(prefix).lower()
            for n in enum.DESCRIPTOR.values_by_name
            if not n.endswith("UNSPECIFIED")
        ]
        raise InvalidInputError(
            [FieldProblem(path, f"must be one of: {', '.join(allowed)}, got {name!r}")]
        ) from None
    return value


# --- jobs: proto <-> jobs-file mapping --------------------------------------------------


def job_entry(job: pb.Job) -> dict[str, Any]:
    """A proto Job as a jobs-file entry: set fields only, so parse_jobs names what is missing."""
    entry: dict[str, Any] = {}
    if job.name:
        entry["name"] = job.name
    if job.kind:
        entry["kind"] = _enum_name(pb.JobKind, _KIND, job.kind)
    if job.origin:
        entry["origin"] = job.origin
    entry["max_latency_ms"] = job.max_latency_ms
    if job.HasField("accelerators"):
        acc = job.accelerators
        accelerators: dict[str, Any] = {"count": acc.count}
        if acc.types:
            accelerators["types"] = list(acc.types)
        if acc.stacks:
            accelerators["stacks"] = list(acc.stacks)
        if acc.HasField("min_memory_gb"):
            accelerators["min_memory_gb"] = acc.min_memory_gb
        if acc.hours_on:
            accelerators["hours_on"] = acc.hours_on
        entry["accelerators"] = accelerators
    entry["hours"] = job.hours
    if job.data_gb:
        entry["data_gb"] = job.data_gb
    if job.HasField("deadline_hours"):
        entry["deadline_hours"] = job.deadline_hours
    if job.allowed_zones:
        entry["allowed_zones"] = [
            _enum_name(pb.Zone, _ZONE, z) or "unspecified" for z in job.allowed_zones
        ]
    if job.allowed_hubs:
        entry["allowed_hubs"] = list(job.allowed_hubs)
    if job.denied_providers:
        entry["denied_providers"] = list(job.denied_providers)
    if job.HasField("priority"):
        entry["priority"] = job.priority
    if job.precision:
        entry["precision"] = _enum_name(pb.Precision, _PRECISION, job.precision)
    if job.allowed_providers:
        entry["allowed_providers"] = list(job.allowed_providers)
    if job.prefer:
        entry["prefer"] = _enum_name(pb.Preference, _PREFER, job.prefer)
    return entry


def job_spec(job: Job) -> dict[str, Any]:
    """A domain Job back in its jobs-file shape."""
    acc: dict[str, Any] = {"count": job.count, "hours_on": job.hours_on}
    if job.types:
        acc["types"] = list(job.types)
    if job.stacks:
        acc["stacks"] = list(job.stacks)
    if job.min_memory_gb:
        acc["min_memory_gb"] = job.min_memory_gb
    entry: dict[str, Any] = {
        "name": job.name,
        "kind": job.kind,
        "origin": job.origin,
        "max_latency_ms": job.max_latency_ms,
        "accelerators": acc,
        "hours": job.hours,
        "precision": job.precision,
        "priority": job.priority,
    }
    if job.data_gb:
        entry["data_gb"] = job.data_gb
    if job.deadline_hours is not None:
        entry["deadline_hours"] = job.deadline_hours
    for key in ("allowed_zones", "allowed_hubs", "allowed_providers", "denied_providers"):
        if getattr(job, key):
            entry[key] = list(getattr(job, key))
    if job.prefer != "cheapest":
        entry["prefer"] = job.prefer
    return entry


_JOB_KEYS = {
    "name", "kind", "origin", "max_latency_ms", "accelerators", "hours", "data_gb",
    "deadline_hours", "allowed_zones", "allowed_hubs", "denied_providers", "priority",
    "precision", "allowed_providers", "prefer",
}  # fmt: skip
_ACC_KEYS = {"count", "types", "stacks", "min_memory_gb", "hours_on"}


def job_message(job: Job | Mapping[str, Any], path: str = "job") -> pb.Job:
    """A proto Job from a domain Job or a jobs-file entry; wrong shapes name their path."""
    entry = job_spec(job) if isinstance(job, Job) else job
    if not isinstance(entry, Mapping):
        raise InvalidInputError([FieldProblem(path, "must be a mapping (a jobs-file entry)")])
    problems = [FieldProblem(f"{path}.{k}", "unknown field") for k in entry if k not in _JOB_KEYS]
    acc = entry.get("accelerators", {})
    if isinstance(acc, Mapping):
        problems += [
            FieldProblem(f"{path}.accelerators.{k}", "unknown field")
            for k in acc
            if k not in _ACC_KEYS
        ]
    if problems:
        raise InvalidInputError(problems)
    msg = pb.Job()
    try:
        _fill_job(msg, entry, path)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError([FieldProblem(path, f"wrong type of value: {exc}")]) from None
    return msg


def _fill_job(msg: pb.Job, entry: Mapping[str, Any], path: str) -> None:
    for key in ("name", "origin"):
        if key in entry:
            setattr(msg, key, entry[key])
    for key in ("max_latency_ms", "hours", "data_gb", "deadline_hours"):
        if entry.get(key) is not None:
            setattr(msg, key, float(entry[key]))
    if entry.get("priority") is not None:
        msg.priority = int(entry["priority"])
    msg.kind = pb.JobKind.ValueType(
        _enum_value(pb.JobKind, _KIND, entry.get("kind", ""), f"{path}.kind")
    )
    msg.precision = pb.Precision.ValueType(
        _enum_value(pb.Precision, _PRECISION, entry.get("precision", ""), f"{path}.precision")
    )
    zones = entry.get("allowed_zones") or []
    msg.allowed_zones.extend(
        pb.Zone.ValueType(_enum_value(pb.Zone, _ZONE, z, f"{path}.allowed_zones[{k}]"))
        for k, z in enumerate(zones)
    )
    msg.allowed_hubs.extend(entry.get("allowed_hubs") or [])
    msg.denied_providers.extend(entry.get("denied_providers") or [])
    msg.allowed_providers.extend(entry.get("allowed_providers") or [])
    msg.prefer = pb.Preference.ValueType(
        _enum_value(pb.Preference, _PREFER, entry.get("prefer", ""), f"{path}.prefer")
    )
    acc = entry.get("accelerators")
    if isinstance(acc, Mapping):
        msg.accelerators.count = int(acc.get("count", 0))
        msg.accelerators.types.extend(acc.get("types") or [])
        msg.accelerators.stacks.extend(acc.get("stacks") or [])
        if acc.get("min_memory_gb") is not None:
            msg.accelerators.min_memory_gb = float(acc["min_memory_gb"])
        if acc.get("hours_on"):
            msg.accelerators.hours_on = acc["hours_on"]


def rebase(error: InvalidInputError, old: str, new: str) -> InvalidInputError:
    """The same problems with field paths under `new` instead of `old` (jobs[0] -> job)."""
    return InvalidInputError(
        [
            FieldProblem(
                new + p.path[len(old) :] if p.path.startswith(old) else p.path,
                p.message,
                p.file,
                p.line,
            )
            for p in error.problems
        ]
    )


# --- plans and reservations -------------------------------------------------------------


def placement_message(p: Placement) -> pb.Placement:
    """Proto form of a placement."""
    return pb.Placement(
        job=p.job,
        site=p.site,
        hub=p.hub,
        zone=pb.Zone.ValueType(_enum_value(pb.Zone, _ZONE, p.zone, "zone")),
        pool_index=p.pool_index,
        accelerator=p.accelerator,
        count=p.count,
        latency_ms=p.latency_ms,
        path=list(p.path),
        run_hours=p.run_hours,
        compute_cny=p.compute_cny,
        transfer_cny=p.transfer_cny,
        carbon_kg=p.carbon_kg,
        cost_cny=p.cost_cny,
    )


def placement_from(m: pb.Placement) -> Placement:
    """Domain form of a placement."""
    return Placement(
        job=m.job,
        site=m.site,
        hub=m.hub,
        zone=_enum_name(pb.Zone, _ZONE, m.zone),
        pool_index=m.pool_index,
        accelerator=m.accelerator,
        count=m.count,
        latency_ms=m.latency_ms,
        path=tuple(m.path),
        run_hours=m.run_hours,
        compute_cny=m.compute_cny,
        transfer_cny=m.transfer_cny,
        carbon_kg=m.carbon_kg,
        cost_cny=m.cost_cny,
    )


def unplaced_message(u: Unplaced) -> pb.Unplaced:
    """Proto form of an unplaced job."""
    return pb.Unplaced(job=u.job, reason=u.reason, reasons=dict(u.reasons))


def unplaced_from(m: pb.Unplaced) -> Unplaced:
    """Domain form of an unplaced job."""
    return Unplaced(m.job, m.reason, dict(m.reasons))


def plan_message(plan: Plan) -> pb.Plan:
    """Proto form of a plan (the baseline placements stay server-side)."""
    return pb.Plan(
        placements=[placement_message(p) for p in plan.placements],
        unplaced=[unplaced_message(u) for u in plan.unplaced],
        total_cost_cny=plan.total_cost_cny,
        baseline_cost_cny=plan.baseline_cost_cny,
        savings_cny=plan.savings_cny,
        unlocked_jobs=plan.unlocked_jobs,
        lower_bound_cny=plan.lower_bound_cny,
        solver_status=plan.solver_status,
        solver_seconds=plan.solver_seconds,
    )


def plan_from(m: pb.Plan) -> Plan:
    """Domain form of a plan."""
    return Plan(
        placements=[placement_from(p) for p in m.placements],
        unplaced=[unplaced_from(u) for u in m.unplaced],
        total_cost_cny=m.total_cost_cny,
        baseline_cost_cny=m.baseline_cost_cny,
        savings_cny=m.savings_cny,
        unlocked_jobs=m.unlocked_jobs,
        lower_bound_cny=m.lower_bound_cny,
        solver_status=m.solver_status,
        solver_seconds=m.solver_seconds,
    )


def _timestamp(unix_s: float) -> Timestamp:
    stamp = Timestamp()
    stamp.FromNanoseconds(int(unix_s * 1e9))
    return stamp


def reservation_message(r: Reservation, job: pb.Job | None = None) -> pb.Reservation:
    """Proto form of a reservation (`job`: its job as a message already, if at hand)."""
    msg = pb.Reservation(
        reservation_id=r.reservation_id,
        placement=placement_message(r.placement),
        job=job if job is not None else job_message(r.job),
        state=pb.ReservationState.ValueType(
            _enum_value(pb.ReservationState, _STATE, r.state, "state")
        ),
        create_time=_timestamp(r.created_unix_s),
        request_id=r.request_id,
    )
    if r.expires_unix_s is not None:
        msg.expire_time.CopyFrom(_timestamp(r.expires_unix_s))
    return msg


def reservation_from(m: pb.Reservation) -> Reservation:
    """Domain form of a reservation."""
    return Reservation(
        reservation_id=m.reservation_id,
        placement=placement_from(m.placement),
        job=job_entry(m.job),
        state=_enum_name(pb.ReservationState, _STATE, m.state),
        request_id=m.request_id,
        created_unix_s=m.create_time.ToNanoseconds() / 1e9,
        expires_unix_s=(m.expire_time.ToNanoseconds() / 1e9 if m.HasField("expire_time") else None),
    )


def event_message(e: PlacementEvent) -> pb.PlacementEvent:
    """Proto form of a placement event."""
    msg = pb.PlacementEvent(
        type=pb.EventType.ValueType(_enum_value(pb.EventType, _EVENT, e.type, "type")),
        reservation=reservation_message(e.reservation),
        reason=e.reason,
        event_time=_timestamp(e.time_unix_s),
    )
    if e.previous is not None:
        msg.previous.CopyFrom(placement_message(e.previous))
    return msg


def event_from(m: pb.PlacementEvent) -> PlacementEvent:
    """Domain form of a placement event."""
    return PlacementEvent(
        type=_enum_name(pb.EventType, _EVENT, m.type),
        reservation=reservation_from(m.reservation),
        previous=placement_from(m.previous) if m.HasField("previous") else None,
        reason=m.reason,
        time_unix_s=m.event_time.ToNanoseconds() / 1e9,
    )


def place_response(result: PlaceResult) -> pb.PlaceResponse:
    """Proto form of a Place answer."""
    return pb.PlaceResponse(
        plan=plan_message(result.plan),
        reservations=[reservation_message(r) for r in result.reservations],
    )


def place_result(m: pb.PlaceResponse) -> PlaceResult:
    """Domain form of a Place answer."""
    return PlaceResult(plan_from(m.plan), [reservation_from(r) for r in m.reservations])


def route_response(result: RouteResult, job: pb.Job | None = None) -> pb.RouteResponse:
    """Proto form of a Route answer (`job`: the request's job message, reused as is)."""
    if result.reservation is not None:
        return pb.RouteResponse(reservation=reservation_message(result.reservation, job))
    assert result.unplaced is not None
    return pb.RouteResponse(unplaced=unplaced_message(result.unplaced))


def route_result(m: pb.RouteResponse) -> RouteResult:
    """Domain form of a Route answer."""
    if m.HasField("reservation"):
        return RouteResult(reservation=reservation_from(m.reservation))
    return RouteResult(unplaced=unplaced_from(m.unplaced))


# --- topology and site updates ----------------------------------------------------------


def site_message(site: Site, free: Mapping[tuple[str, int], int]) -> pb.Site:
    """Proto form of a site, with each pool's free devices."""
    return pb.Site(
        name=site.name,
        hub=site.hub,
        provider=site.provider,
        status=pb.Status.ValueType(_enum_value(pb.Status, _STATUS, site.status, "status")),
        pue=site.pue,
        electricity_cny_per_kwh=site.electricity_cny_per_kwh,
        carbon_g_per_kwh=site.carbon_g_per_kwh,
        lat=site.lat,
        lon=site.lon,
        pools=[
            pb.Pool(
                pool_index=i,
                accelerator=p.accelerator,
                count=p.count,
                price_cny_per_hour=p.price_cny_per_hour,
                free_count=free.get((site.name, i), 0),
            )
            for i, p in enumerate(site.pools)
        ],
    )


def site_from(m: pb.Site) -> Site:
    """Domain form of a site."""
    return Site(
        name=m.name,
        hub=m.hub,
        provider=m.provider,
        lat=m.lat,
        lon=m.lon,
        status=_enum_name(pb.Status, _STATUS, m.status),
        pue=m.pue,
        electricity_cny_per_kwh=m.electricity_cny_per_kwh,
        carbon_g_per_kwh=m.carbon_g_per_kwh,
        pools=tuple(Pool(p.accelerator, p.count, p.price_cny_per_hour) for p in m.pools),
    )


def topology_message(view: TopologyView) -> pb.Topology:
    """Proto form of the live topology and its free devices."""
    t = view.topology
    return pb.Topology(
        name=t.name,
        accelerators=[
            pb.Accelerator(
                name=a.name,
                vendor=a.vendor,
                stack=a.stack,
                memory_gb=a.memory_gb,
                tdp_kw=a.tdp_kw,
                training=a.training,
                tflops=dict(a.tflops),
            )
            for a in t.accelerators.values()
        ],
        hubs=[
            pb.Hub(
                name=h.name,
                title=h.title,
                zone=pb.Zone.ValueType(_enum_value(pb.Zone, _ZONE, h.zone, "zone")),
            )
            for h in t.hubs.values()
        ],
        regions=[
            pb.Region(name=r.name, hub=r.hub, lat=r.lat, lon=r.lon) for r in t.regions.values()
        ],
        exchanges=list(t.exchanges),
        sites=[site_message(s, view.free) for s in t.sites.values()],
        links=[
            pb.Link(
                a=ln.a,
                b=ln.b,
                latency_ms=ln.latency_ms,
                bandwidth_gbps=ln.bandwidth_gbps,
                price_cny_per_gb=ln.price_cny_per_gb,
                status=pb.Status.ValueType(_enum_value(pb.Status, _STATUS, ln.status, "status")),
            )
            for ln in t.links
        ],
    )


def topology_from(m: pb.Topology) -> TopologyView:
    """Domain form of a topology (exchanges come back without coordinates)."""
    sites = {s.name: site_from(s) for s in m.sites}
    topology = Topology(
        name=m.name,
        accelerators={
            a.name: Accelerator(
                a.name, a.vendor, a.stack, a.memory_gb, a.tdp_kw, a.training, dict(a.tflops)
            )
            for a in m.accelerators
        },
        hubs={h.name: Hub(h.name, h.title, _enum_name(pb.Zone, _ZONE, h.zone)) for h in m.hubs},
        regions={r.name: Region(r.name, r.hub, r.lat, r.lon) for r in m.regions},
        exchanges={x: Exchange(x, "", 0.0, 0.0) for x in m.exchanges},
        sites=sites,
        links=tuple(
            Link(
                ln.a,
                ln.b,
                ln.latency_ms,
                ln.bandwidth_gbps,
                ln.price_cny_per_gb,
                _enum_name(pb.Status, _STATUS, ln.status),
            )
            for ln in m.links
        ),
    )
    free = {(s.name, p.pool_index): p.free_count for s in m.sites for p in s.pools}
    return TopologyView(topology, free)


def site_change(m: pb.UpdateSiteRequest) -> SiteChange:
    """The domain change an UpdateSite request asks for."""
    if not m.site:
        raise InvalidInputError([FieldProblem("site", "is required (a site name)")])
    status = _enum_name(pb.Status, _STATUS, m.status)
    if status.startswith("unknown"):
        raise InvalidInputError(
            [FieldProblem("status", f"must be up, drain or down, got {m.status}")]
        )
    return SiteChange(
        site=m.site,
        status=status or None,
        pools=tuple(
            PoolChange(
                p.pool_index,
                p.count if p.HasField("count") else None,
                p.price_cny_per_hour if p.HasField("price_cny_per_hour") else None,
            )
            for p in m.pools
        ),
        electricity_cny_per_kwh=(
            m.electricity_cny_per_kwh if m.HasField("electricity_cny_per_kwh") else None
        ),
    )


def update_request(change: SiteChange) -> pb.UpdateSiteRequest:
    """Proto form of a site change."""
    msg = pb.UpdateSiteRequest(
        site=change.site,
        status=pb.Status.ValueType(_enum_value(pb.Status, _STATUS, change.status or "", "status")),
    )
    for pc in change.pools:
        pool = msg.pools.add(pool_index=pc.pool_index)
        if pc.count is not None:
            pool.count = pc.count
        if pc.price_cny_per_hour is not None:
            pool.price_cny_per_hour = pc.price_cny_per_hour
    if change.electricity_cny_per_kwh is not None:
        msg.electricity_cny_per_kwh = change.electricity_cny_per_kwh
    return msg


def update_response(
    result: SiteUpdateResult, free: Mapping[tuple[str, int], int]
) -> pb.UpdateSiteResponse:
    """Proto form of an UpdateSite answer."""
    return pb.UpdateSiteResponse(
        site=site_message(result.site, free),
        moved=[event_message(e) for e in result.moved],
        evicted=[event_message(e) for e in result.evicted],
    )


def update_result(m: pb.UpdateSiteResponse) -> SiteUpdateResult:
    """Domain form of an UpdateSite answer."""
    return SiteUpdateResult(
        site_from(m.site),
        [event_from(e) for e in m.moved],
        [event_from(e) for e in m.evicted],
    )


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
                entry["status"] = _enum_name(pb.Status, _STATUS, c.status)
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
                _enum_value(pb.Status, _STATUS, raw["status"], f"{at}.status")
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


def serialize(message: Message) -> bytes:
    """Deterministic bytes of a message (what the ledger stores as a request's answer)."""
    return message.SerializeToString(deterministic=True)


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
