"""Re-placement after a site change: which reservations move where, and which are evicted.

Fewest moves first: only displaced jobs are planned (all of a down site's; on a shrunk
pool its largest ones until the rest fit), on the capacity that is free under the new
site state; every other reservation stays. Only for a displaced job that then fits
nowhere are other jobs moved, a few out of one pool it could use, and only when each of
them fits elsewhere at once (router.state.evacuation). The rest are evicted, with reasons.
Pure: reads the reservations and capacities it is given, returns the decision.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from router.errors import InvalidInputError
from router.model.jobs import Job, parse_jobs
from router.model.topology import Site, Topology
from router.place.filters import Candidate, PoolKey
from router.place.network import Network
from router.plan import placement_of, plan_jobs
from router.results import Placement, Plan
from router.state.evacuation import Room, evacuate_for
from router.state.ledger import HeldReservation, Move
from router.state.records import placement_details, renamed, unique_names, view
from router.state.site_changes import displaced

Ranked = Callable[[Job], Sequence[Candidate]]
Planner = Callable[..., Plan]


@dataclass(frozen=True)
class Replacement:
    """The decision for one site change: moves, evictions (with reasons) and why."""

    moves: list[Move] = field(default_factory=list)
    evictions: dict[str, str] = field(default_factory=dict)
    """reservation_id -> why it fits nowhere."""
    before: dict[str, Placement] = field(default_factory=dict)
    """reservation_id -> where each moved reservation was."""
    made_room_for: dict[str, str] = field(default_factory=dict)
    """reservation_id of a job moved to make room -> the displaced job it made room for."""

    def reasons(self, site: Site) -> dict[str, str]:
        """Why each moved or evicted reservation left (by id), after `site` changed."""
        why = (
            f"site {site.name} {site.status}"
            if site.status == "down"
            else f"site {site.name} shrank"
        )
        notes = {m.reservation_id: why for m in self.moves}
        notes |= {rid: f"{why}; made room for {job}" for rid, job in self.made_room_for.items()}
        notes |= {rid: f"{why}; {reason}" for rid, reason in self.evictions.items()}
        return notes


def plan_replacement(
    site: Site,
    topology: Topology,
    network: Network,
    active: Sequence[HeldReservation],
    capacity: Mapping[PoolKey, int],
    ranked: Ranked,
    *,
    time_limit_s: float,
    planner: Planner = plan_jobs,
) -> Replacement:
    """Where the reservations `site` can no longer hold go, under the new `capacity`."""
    affected = displaced(site, [h for h in active if h.site == site.name])
    if not affected:
        return Replacement()
    used: dict[PoolKey, int] = {}
    for h in active:
        used[h.pool] = used.get(h.pool, 0) + h.count
    free = {key: max(0, count - used.get(key, 0)) for key, count in capacity.items()}
    specs = unique_names([h.spec for h in affected])
    by_name = {spec["name"]: held for spec, held in zip(specs, affected, strict=True)}
    jobs, broken = _parse_each(specs, topology)
    plan = planner(topology, jobs, time_limit_s=time_limit_s, free=free, network=network)
    moves = [
        _move(by_name[p.job].reservation_id, renamed(p, by_name[p.job].job))
        for p in plan.placements
    ]
    evictions = {by_name[u.job].reservation_id: u.reason for u in plan.unplaced}
    evictions |= {by_name[name].reservation_id: why for name, why in broken.items()}
    rooms = _rooms(plan, jobs, affected, active, free, topology, ranked)
    made_room_for: dict[str, str] = {}
    before = {h.reservation_id: view(h).placement for h in affected}
    for room in rooms:
        held = by_name[room.job.name]
        del evictions[held.reservation_id]
        placed = renamed(placement_of(room.job, room.target, topology), held.job)
        moves.append(_move(held.reservation_id, placed))
        for e in room.evacuations:
            there = renamed(placement_of(e.job, e.to, topology), e.held.job)
            moves.append(_move(e.held.reservation_id, there))
            made_room_for[e.held.reservation_id] = room.job.name
            before[e.held.reservation_id] = view(e.held).placement
    return Replacement(moves, evictions, before, made_room_for)


def _move(reservation_id: str, placement: Placement) -> Move:
    """Move a reservation to `placement`: its pool, its devices there (a service job's
    count changes with the part), its details."""
    return Move(
        reservation_id,
        placement.site,
        placement.pool_index,
        placement_details(placement),
        placement.count,
    )


def _parse_each(
    specs: Sequence[Mapping[str, Any]], topology: Topology
) -> tuple[list[Job], dict[str, str]]:
    """The jobs that still validate, and why each of the others does not (by name)."""
    try:
        return parse_jobs({"jobs": list(specs)}, topology), {}
    except InvalidInputError:
        pass
    jobs: list[Job] = []
    broken: dict[str, str] = {}
    for spec in specs:
        try:
            jobs += parse_jobs({"jobs": [spec]}, topology)
        except InvalidInputError as exc:
            broken[spec["name"]] = f"its job no longer validates: {exc.problems[0]}"
    return jobs, broken


def _rooms(
    plan: Plan,
    jobs: Sequence[Job],
    affected: Sequence[HeldReservation],
    active: Sequence[HeldReservation],
    free: Mapping[PoolKey, int],
    topology: Topology,
    ranked: Ranked,
) -> list[Room]:
    """Rooms for displaced jobs the plan could not place, by moving a few other jobs."""
    if not plan.unplaced:
        return []
    left = dict(free)
    for p in plan.placements:
        left[(p.site, p.pool_index)] = left.get((p.site, p.pool_index), 0) - p.count
    leaving = {h.reservation_id for h in affected}
    residents: dict[PoolKey, list[tuple[HeldReservation, Job]]] = {}
    for h in active:
        if h.reservation_id in leaving:
            continue
        try:
            resident = parse_jobs({"jobs": [dict(h.spec)]}, topology)[0]
        except InvalidInputError:  # its job no longer fits this topology's names
            continue
        residents.setdefault(h.pool, []).append((h, resident))
    unplaced = {u.job for u in plan.unplaced}
    return evacuate_for([j for j in jobs if j.name in unplaced], residents, left, ranked)
