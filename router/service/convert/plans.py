"""Plans, reservations, events and the Place / Route answers."""

from __future__ import annotations

from google.protobuf.timestamp_pb2 import Timestamp

from router.results import (
    Placement,
    PlacementEvent,
    PlaceResult,
    Plan,
    Reservation,
    RouteResult,
    Unplaced,
)
from router.service.convert.enums import (
    EVENT_PREFIX,
    STATE_PREFIX,
    ZONE_PREFIX,
    enum_name,
    enum_value,
)
from router.service.convert.jobs import job_entry, job_message
from router.v1 import router_pb2 as pb

# --- plans and reservations -------------------------------------------------------------


def placement_message(p: Placement) -> pb.Placement:
    """Proto form of a placement."""
    return pb.Placement(
        job=p.job,
        site=p.site,
        hub=p.hub,
        zone=pb.Zone.ValueType(enum_value(pb.Zone, ZONE_PREFIX, p.zone, "zone")),
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
        zone=enum_name(pb.Zone, ZONE_PREFIX, m.zone),
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
        baseline_jobs=plan.baseline_jobs,
        baseline_shared_cost_cny=plan.baseline_shared_cost_cny,
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
        baseline_jobs=m.baseline_jobs,
        baseline_shared_cost_cny=m.baseline_shared_cost_cny,
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
            enum_value(pb.ReservationState, STATE_PREFIX, r.state, "state")
        ),
        create_time=_timestamp(r.created_unix_s),
        request_id=r.request_id,
        tenant=r.tenant,
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
        state=enum_name(pb.ReservationState, STATE_PREFIX, m.state),
        request_id=m.request_id,
        created_unix_s=m.create_time.ToNanoseconds() / 1e9,
        expires_unix_s=(m.expire_time.ToNanoseconds() / 1e9 if m.HasField("expire_time") else None),
        tenant=m.tenant,
    )


def event_message(e: PlacementEvent) -> pb.PlacementEvent:
    """Proto form of a placement event."""
    msg = pb.PlacementEvent(
        type=pb.EventType.ValueType(enum_value(pb.EventType, EVENT_PREFIX, e.type, "type")),
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
        type=enum_name(pb.EventType, EVENT_PREFIX, m.type),
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
