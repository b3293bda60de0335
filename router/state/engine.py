"""The stateful core behind the service: live topology + placer + ledger + placement events.

It speaks domain types only (no protobuf). Answers to Place and Route are stored as
bytes produced by the caller's `encode`, in the same ledger transaction as the
reservations, so a retried request (same request_id) gets the identical first answer.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, fields, replace
from typing import Any

from router.errors import CapacityError, FieldProblem, InvalidInputError, NotFoundError
from router.model.jobs import Job, parse_jobs
from router.model.topology import Site, Topology
from router.place.filters import Candidate, screen
from router.place.network import Network
from router.plan import cheapest, make_context, placement_of, plan_jobs, route_job
from router.results import (
    Placement,
    PlacementEvent,
    PlaceResult,
    Plan,
    ReloadResult,
    Reservation,
    RouteResult,
    SiteUpdateResult,
    TopologyView,
    Unheld,
    Unplaced,
    WhatIfResult,
)
from router.state.ledger import Commit, Ledger, Move, PoolKey
from router.state.ledger import Reservation as Held
from router.state.make_room import Room, key_of, make_room
from router.state.shared import SharedLedger, StoredEvent
from router.state.site_changes import SiteChange, changed_site, displaced, merged, restored
from router.whatif.compare import parse_scenarios, run_whatif

COMMIT_ATTEMPTS = 5
REPLACE_ATTEMPTS = 20
"""A site update re-plans its displaced jobs this often while concurrent calls race it."""
RANKED_CACHE_SIZE = 4096
"""Job shapes whose ranked candidates Route keeps (an LRU; reset when the topology changes)."""
_UNBOUNDED = 1 << 60
"""Capacity can change between planning and committing; re-plan this many times at most."""

Listener = Callable[[PlacementEvent], None]


@dataclass(frozen=True)
class Proposal:
    """An answer ready to commit: the reservations it makes (maybe none) and its bytes."""

    request_id: str
    held: tuple[Held, ...]
    answer: bytes
    reservations: tuple[Reservation, ...]


def pool_capacities(topology: Topology) -> dict[PoolKey, int]:
    """Devices each pool can hand out: its count, or none while its site is down."""
    return {
        (site.name, i): 0 if site.status == "down" else pool.count
        for site in topology.sites.values()
        for i, pool in enumerate(site.pools)
    }


_PLACEMENT_FIELDS = tuple(f.name for f in fields(Placement))
_SHAPE_FIELDS = tuple(f.name for f in fields(Job) if f.name != "name")
"""A job's shape: everything about it but its name."""


def placement_details(placement: Placement) -> dict[str, Any]:
    """A placement as plain JSON values (how the ledger keeps it)."""
    details = {name: getattr(placement, name) for name in _PLACEMENT_FIELDS}
    details["path"] = list(placement.path)
    return details


def view(held: Held) -> Reservation:
    """The service's view of a ledger record."""
    details = dict(held.details)
    details["path"] = tuple(details.get("path", ()))
    return Reservation(
        reservation_id=held.reservation_id,
        placement=Placement(**details),
        job=dict(held.spec),
        state=held.state.value,
        request_id=held.request_id,
        created_unix_s=held.created_unix_s,
        expires_unix_s=held.expires_unix_s,
    )


class Engine:
    """Places, reserves, re-places and explains; safe to call from many threads."""

    def __init__(
        self,
        topology: Topology,
        ledger: Ledger,
        *,
        clock: Callable[[], float] = time.time,
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        self._shared = ledger if isinstance(ledger, SharedLedger) else None
        if self._shared is not None:  # replicas serve one topology: this file's, from now on
            self._shared.publish_topology(topology)
        topology = restored(topology, ledger.site_changes())
        self._live = (topology, Network(topology))
        self._ledger = ledger
        self._clock = clock
        self._new_id = new_id
        self._update_lock = threading.Lock()
        self._listeners: list[Listener] = []
        self._ranked_lock = threading.Lock()
        self._ranked_for: Topology | None = None
        self._ranked_cache: OrderedDict[tuple[Any, ...], tuple[Candidate, ...]] = OrderedDict()
        self._listeners_lock = threading.Lock()
        ledger.set_capacity(pool_capacities(topology))
        if self._shared is not None:
            self._shared.follow(self._deliver, self._adopt)

    @property
    def topology(self) -> Topology:
        """The topology as it is now (after any site updates)."""
        return self._live[0]

    # --- events -----------------------------------------------------------------------

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call `listener` with every placement event from now on; returns unsubscribe."""
        with self._listeners_lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._listeners_lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    @property
    def listener_count(self) -> int:
        """How many listeners are subscribed (watch streams open)."""
        with self._listeners_lock:
            return len(self._listeners)

    def _publish(self, events: Sequence[PlacementEvent]) -> None:
        if self._shared is None:  # a shared ledger's outbox delivers every replica's events
            self._notify(events)

    def _notify(self, events: Sequence[PlacementEvent]) -> None:
        with self._listeners_lock:
            listeners = list(self._listeners)
        for event in events:
            for listener in listeners:
                listener(event)

    def _deliver(self, stored: Sequence[StoredEvent]) -> None:
        """Events from the shared outbox (this and every other replica's), in commit order."""
        if not self.listener_count:
            return
        self._notify(
            [
                PlacementEvent(
                    s.kind,
                    view(s.reservation),
                    None
                    if s.previous is None
                    else view(replace(s.reservation, details=s.previous)).placement,
                    s.reason,
                    s.time_unix_s,
                )
                for s in stored
            ]
        )

    def _adopt(self, base: Topology) -> None:
        """Another replica changed the topology or a site: serve the same (nothing moves)."""
        with self._update_lock:
            now = restored(base, self._ledger.site_changes())
            if now != self.topology:
                self._live = (now, Network(now))

    # --- jobs -------------------------------------------------------------------------

    def parse(self, specs: Sequence[Mapping[str, Any]]) -> list[Job]:
        """Validate jobs in their jobs-file shape against the live topology."""
        return parse_jobs({"jobs": [dict(s) for s in specs]}, self.topology)

    def propose_route(
        self,
        job: Job,
        spec: Mapping[str, Any],
        *,
        request_id: str = "",
        ttl_s: float = 0.0,
        encode: Callable[[RouteResult], bytes],
    ) -> Proposal:
        """The route answer for free capacity now, not yet committed (pure CPU, no I/O).

        With ttl_s > 0 the reservation expires that many seconds from now.
        """
        _check_ttl(ttl_s)
        topology, network = self._live
        free = self._ledger.free()
        outcome: Placement | Unplaced | None = None
        for candidate in self._ranked(job, topology, network):
            if free.get((candidate.site.name, candidate.pool_index), 0) >= job.count:
                outcome = placement_of(job, candidate, topology)
                break
        if outcome is None:  # nothing has room: the placer explains why, site by site
            outcome = route_job(topology, job, free, network=network)
        if isinstance(outcome, Unplaced):
            return Proposal(request_id, (), encode(RouteResult(unplaced=outcome)), ())
        held = self._hold(outcome, spec, request_id, ttl_s)
        reservation = Reservation(
            held.reservation_id,
            outcome,
            held.spec,
            "active",
            request_id,
            held.created_unix_s,
            held.expires_unix_s,
        )
        return Proposal(request_id, (held,), encode(RouteResult(reservation)), (reservation,))

    def _ranked(self, job: Job, topology: Topology, network: Network) -> tuple[Candidate, ...]:
        """Job's candidates ignoring free capacity, cheapest first (placer.cheapest order).

        Cached per job shape (everything but the name): launchers send the same templates
        again and again, and only capacity changes between their calls. The first ranked
        candidate with room is exactly what route_job would choose.
        """
        key = tuple(getattr(job, name) for name in _SHAPE_FIELDS)
        with self._ranked_lock:
            if self._ranked_for is not topology:
                self._ranked_for, self._ranked_cache = topology, OrderedDict()
            cached = self._ranked_cache.get(key)
            if cached is not None:
                self._ranked_cache.move_to_end(key)
                return cached
        unbounded = {
            (site.name, i): _UNBOUNDED
            for site in topology.sites.values()
            for i in range(len(site.pools))
        }
        left = list(screen(job, make_context(topology, unbounded, network=network)).candidates)
        ranked = []
        while (best := cheapest(left)) is not None:
            ranked.append(best)
            left.remove(best)
        with self._ranked_lock:
            if self._ranked_for is topology:
                self._ranked_cache[key] = tuple(ranked)
                if len(self._ranked_cache) > RANKED_CACHE_SIZE:
                    self._ranked_cache.popitem(last=False)
        return tuple(ranked)

    def commit(self, proposal: Proposal) -> bytes:
        """Commit a proposal; returns the answer stored for its request (maybe an earlier one).

        Raises CapacityError when the capacity it counted on is gone (propose again).
        """
        if not proposal.held:
            return self._ledger.remember(proposal.request_id, proposal.answer)
        stored = self._ledger.reserve(
            proposal.held, request_id=proposal.request_id, answer=proposal.answer
        )
        if stored == proposal.answer:
            self._publish([self._event("placed", r) for r in proposal.reservations])
        return stored

    def commit_many(self, proposals: Sequence[Proposal]) -> list[bytes | CapacityError]:
        """Commit many proposals in one ledger transaction (group commit); one result each."""
        results = self._ledger.commit_batch(
            [Commit(p.held, p.request_id, p.answer) for p in proposals]
        )
        events = [
            self._event("placed", r)
            for p, result in zip(proposals, results, strict=True)
            if result is p.answer
            for r in p.reservations
        ]
        self._publish(events)
        return results

    def route(
        self,
        job: Job,
        spec: Mapping[str, Any],
        *,
        request_id: str = "",
        ttl_s: float = 0.0,
        encode: Callable[[RouteResult], bytes],
    ) -> bytes:
        """Reserve the cheapest feasible pool with free devices now (no solver)."""
        first = self._ledger.answer(request_id)
        if first is not None:
            return first
        self.expire_due()
        for _ in range(COMMIT_ATTEMPTS):
            try:
                return self.commit(
                    self.propose_route(job, spec, request_id=request_id, ttl_s=ttl_s, encode=encode)
                )
            except CapacityError:
                continue
        raise CapacityError(f"job {job.name}: capacity kept changing; try again")

    def place(
        self,
        jobs: Sequence[Job],
        specs: Sequence[Mapping[str, Any]],
        *,
        dry_run: bool = False,
        request_id: str = "",
        ttl_s: float = 0.0,
        time_limit_s: float,
        carbon_price_cny_per_kg: float = 0.0,
        encode: Callable[[PlaceResult], bytes],
    ) -> bytes:
        """Plan a batch with the solver on free capacity; unless dry_run, reserve it whole.

        With ttl_s > 0 every reservation made expires that many seconds from now.
        """
        _check_ttl(ttl_s)
        if not dry_run:
            first = self._ledger.answer(request_id)
            if first is not None:
                return first
        self.expire_due()
        deadline = time.monotonic() + time_limit_s
        for _ in range(COMMIT_ATTEMPTS):
            topology, network = self._live
            plan = plan_jobs(
                topology,
                jobs,
                time_limit_s=max(0.05, deadline - time.monotonic()),
                free=self._ledger.free(),
                carbon_price_cny_per_kg=carbon_price_cny_per_kg,
                network=network,
            )
            if dry_run:
                return encode(PlaceResult(plan))
            by_name = {job.name: spec for job, spec in zip(jobs, specs, strict=True)}
            held = [self._hold(p, by_name[p.job], request_id, ttl_s) for p in plan.placements]
            result = PlaceResult(plan, [view(h) for h in held])
            answer = encode(result)
            try:
                stored = self._ledger.reserve(held, request_id=request_id, answer=answer)
            except CapacityError:
                continue
            if stored == answer:
                self._publish([self._event("placed", r) for r in result.reservations])
            return stored
        raise CapacityError("capacity kept changing while the batch was planned; try again")

    def _hold(
        self, placement: Placement, spec: Mapping[str, Any], request_id: str, ttl_s: float = 0.0
    ) -> Held:
        now = self._clock()
        return Held(
            reservation_id=self._new_id(),
            job=placement.job,
            site=placement.site,
            pool_index=placement.pool_index,
            count=placement.count,
            spec=dict(spec),
            details=placement_details(placement),
            request_id=request_id,
            created_unix_s=now,
            expires_unix_s=now + ttl_s if ttl_s > 0 else None,
        )

    def _event(
        self,
        kind: str,
        reservation: Reservation,
        previous: Placement | None = None,
        reason: str = "",
    ) -> PlacementEvent:
        return PlacementEvent(kind, reservation, previous, reason, self._clock())

    # --- reservations -------------------------------------------------------------------

    def release(self, reservation_id: str) -> Reservation:
        """End a reservation (NotFoundError if unknown); a second release changes nothing."""
        before = self._ledger.get(reservation_id)
        after = view(self._ledger.release(reservation_id))
        if before.state.value == "active":
            self._publish([self._event("released", after)])
        return after

    def expire_due(self) -> list[PlacementEvent]:
        """End the reservations whose expiry has passed, publishing an `expired` event each.

        Cheap when nothing is due (one comparison): Route and Place call it before they
        look at free capacity, and the service also runs it on a timer.
        """
        now = self._clock()
        due = self._ledger.next_expiry()
        if due is None or due > now:
            return []
        events = [
            self._event("expired", view(h), None, "ttl passed") for h in self._ledger.expire(now)
        ]
        self._publish(events)
        return events

    def reservations(
        self, *, site: str | None = None, include_ended: bool = False
    ) -> list[Reservation]:
        """Reservations, oldest first."""
        return [view(h) for h in self._ledger.reservations(site=site, include_ended=include_ended)]

    def topology_view(self) -> TopologyView:
        """The live topology and its free devices."""
        return TopologyView(self.topology, dict(self._ledger.free()))

    # --- site updates -------------------------------------------------------------------

    def update_site(self, change: SiteChange, *, time_limit_s: float) -> SiteUpdateResult:
        """Apply a site change, then re-place the reservations that no longer fit.

        Fewest moves first: only displaced jobs are planned (all of a down site's; on a
        shrunk pool its largest ones until the rest fit), on the capacity that is free;
        every other reservation stays. Only for a displaced job that then fits nowhere are
        other jobs moved, a few out of one pool it could use, and only when each of them
        fits elsewhere at once (router.state.make_room). The rest are evicted and reported. A
        drain or a new price moves nothing: running jobs keep their devices and price,
        new work avoids a draining site and sees the new price.
        """
        shared = self._shared.site_lock(change.site) if self._shared else nullcontext()
        with shared, self._update_lock:  # across replicas: one change of a site at a time
            topology = self.topology
            site = changed_site(topology, change)
            kept = self._ledger.site_changes().get(site.name, {})
            self._ledger.save_site_change(site.name, merged(kept, change))
            changed = replace(topology, sites={**topology.sites, site.name: site})
            self._live = (changed, Network(changed))
            self._ledger.set_capacity(pool_capacities(changed))
            moved, evicted = self._replace(site, time_limit_s)
        self._publish(moved + evicted)
        return SiteUpdateResult(site, moved, evicted)

    def _replace(
        self, site: Site, time_limit_s: float
    ) -> tuple[list[PlacementEvent], list[PlacementEvent]]:
        for _ in range(REPLACE_ATTEMPTS):
            affected = displaced(site, self._ledger.reservations(site=site.name))
            if not affected:
                return [], []
            specs = _unique_names([h.spec for h in affected])
            topology, network = self._live
            jobs = parse_jobs({"jobs": specs}, topology)
            plan = plan_jobs(
                topology, jobs, time_limit_s=time_limit_s, free=self._ledger.free(), network=network
            )
            by_name = {spec["name"]: held for spec, held in zip(specs, affected, strict=True)}
            moves = [
                Move(
                    by_name[p.job].reservation_id,
                    p.site,
                    p.pool_index,
                    placement_details(_renamed(p, by_name[p.job].job)),
                )
                for p in plan.placements
            ]
            reasons = {by_name[u.job].reservation_id: u.reason for u in plan.unplaced}
            rooms = self._make_room(plan, jobs, affected, topology, network)
            for room in rooms:
                held = by_name[room.job.name]
                del reasons[held.reservation_id]
                placed = _renamed(placement_of(room.job, room.target, topology), held.job)
                moves.append(
                    Move(held.reservation_id, *key_of(room.target), placement_details(placed))
                )
                moves += [
                    Move(
                        e.held.reservation_id,
                        *key_of(e.to),
                        placement_details(
                            _renamed(placement_of(e.job, e.to, topology), e.held.job)
                        ),
                    )
                    for e in room.evacuations
                ]
            made_room = {
                e.held.reservation_id: (e.held, room.job.name)
                for room in rooms
                for e in room.evacuations
            }
            why = (
                f"site {site.name} {site.status}"
                if site.status == "down"
                else f"site {site.name} shrank"
            )
            notes = {m.reservation_id: why for m in moves}
            notes |= {rid: f"{why}; made room for {job}" for rid, (_, job) in made_room.items()}
            notes |= {rid: f"{why}; {reason}" for rid, reason in reasons.items()}
            try:
                now = self._ledger.relocate(moves, list(reasons), reasons=notes)
            except (CapacityError, NotFoundError):  # a Route took the room, a Release ended one
                continue
            before = {h.reservation_id: view(h).placement for h in affected}
            before |= {rid: view(h).placement for rid, (h, _) in made_room.items()}
            moved = [
                self._event("moved", view(h), before[h.reservation_id], notes[h.reservation_id])
                for h in now
                if h.state.value == "active"
            ]
            evicted = [
                self._event("evicted", view(h), None, notes[h.reservation_id])
                for h in now
                if h.state.value == "evicted"
            ]
            return moved, evicted
        raise CapacityError(f"could not re-place the jobs of site {site.name}; try again")

    def _make_room(
        self,
        plan: Plan,
        jobs: Sequence[Job],
        affected: Sequence[Held],
        topology: Topology,
        network: Network,
    ) -> list[Room]:
        """Rooms for displaced jobs the plan could not place, by moving a few other jobs."""
        if not plan.unplaced:
            return []
        left = dict(self._ledger.free())
        for p in plan.placements:
            left[(p.site, p.pool_index)] = left.get((p.site, p.pool_index), 0) - p.count
        leaving = {h.reservation_id for h in affected}
        residents: dict[PoolKey, list[tuple[Held, Job]]] = {}
        for h in self._ledger.reservations():
            if h.reservation_id in leaving:
                continue
            try:
                resident = parse_jobs({"jobs": [dict(h.spec)]}, topology)[0]
            except InvalidInputError:  # its job no longer fits this topology's names
                continue
            residents.setdefault(h.pool, []).append((h, resident))
        unplaced = {u.job for u in plan.unplaced}
        return make_room(
            [j for j in jobs if j.name in unplaced],
            residents,
            left,
            lambda j: self._ranked(j, topology, network),
        )

    # --- topology reload ---------------------------------------------------------------

    def reload_topology(self, topology: Topology) -> ReloadResult:
        """Route over a new topology from now on; every reservation is kept.

        Run-time site changes (UpdateSite) stay applied on top of the new file. Active
        reservations the new topology can no longer hold (site or pool gone, pool now of
        another type, site down, pool smaller than what it holds) are reported, not moved:
        the operator decides (UpdateSite re-places, Release frees).
        """
        with self._update_lock:
            if self._shared is not None:
                self._shared.publish_topology(topology)
            now = restored(topology, self._ledger.site_changes())
            self._live = (now, Network(now))
            self._ledger.set_capacity(pool_capacities(now))
        return ReloadResult(now.name, len(now.sites), self.unheld())

    def unheld(self) -> list[Unheld]:
        """Active reservations the live topology cannot hold, and why (oldest first)."""
        held = self._ledger.reservations()
        return [Unheld(view(h), why) for h, why in _unheld(self.topology, held)]

    # --- what-if ----------------------------------------------------------------------

    def whatif(
        self,
        specs: Sequence[Mapping[str, Any]],
        scenarios: Sequence[Mapping[str, Any]],
        *,
        time_limit_s: float,
    ) -> WhatIfResult:
        """Plan jobs (default: the active reservations' jobs) under each scenario."""
        topology, network = self._live
        if specs:
            jobs = parse_jobs({"jobs": [dict(s) for s in specs]}, topology)
        else:
            live = _unique_names([h.spec for h in self._ledger.reservations()])
            jobs = parse_jobs({"jobs": live}, topology)
        parsed = parse_scenarios(scenarios, topology, jobs)
        per_plan = time_limit_s / (1 + len(parsed))

        def planner(t: Topology, js: Sequence[Job]) -> Any:
            return plan_jobs(
                t, js, time_limit_s=per_plan, network=network if t is topology else None
            )

        return run_whatif(topology, jobs, parsed, planner)


def _check_ttl(ttl_s: float) -> None:
    if not ttl_s >= 0:
        raise InvalidInputError(
            [FieldProblem("ttl_s", f"must be >= 0 seconds (0: never expires), got {ttl_s}")]
        )


def _unheld(topology: Topology, held: Sequence[Held]) -> list[tuple[Held, str]]:
    """Active reservations a topology cannot hold, each with the reason (oldest first)."""
    out: list[tuple[Held, str]] = []
    by_pool: dict[PoolKey, list[Held]] = {}
    for h in held:
        site = topology.sites.get(h.site)
        was = str(h.details.get("accelerator", ""))
        if site is None:
            out.append((h, f"site {h.site} is not in topology {topology.name}"))
        elif not 0 <= h.pool_index < len(site.pools):
            out.append((h, f"site {h.site} has no pool {h.pool_index} any more"))
        elif was and site.pools[h.pool_index].accelerator != was:
            now = site.pools[h.pool_index].accelerator
            out.append((h, f"pool {h.pool_index} of site {h.site} is now {now}, not {was}"))
        elif site.status == "down":
            out.append((h, f"site {h.site} is down"))
        else:
            by_pool.setdefault(h.pool, []).append(h)
    for (name, index), here in by_pool.items():
        count = topology.sites[name].pools[index].count
        total = sum(h.count for h in here)
        for h in sorted(here, key=lambda h: -h.created_unix_s):  # newest over the count first
            if total <= count:
                break
            out.append((h, f"pool {index} of site {name} has {count} devices, holds {total}"))
            total -= h.count
    return sorted(out, key=lambda pair: pair[0].created_unix_s)


def _unique_names(specs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Job specs with repeated names made unique (name, name:2, ...) for one batch."""
    seen: dict[str, int] = {}
    out = []
    for spec in specs:
        entry = dict(spec)
        name = str(entry.get("name", "job"))
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            entry["name"] = f"{name}:{seen[name]}"
        out.append(entry)
    return out


def _renamed(placement: Placement, job: str) -> Placement:
    return placement if placement.job == job else replace(placement, job=job)


def solver_budget(requested_s: float, default_s: float, remaining_s: float | None) -> float:
    """The solver time limit for a call: the request's (or default), within its deadline.

    A fifth of the remaining time (at least 50 ms) is kept for screening, committing and
    answering, so the solver never runs past the caller's deadline.
    """
    limit = requested_s if requested_s > 0 else default_s
    if remaining_s is not None:
        limit = min(limit, remaining_s - max(0.05, remaining_s * 0.2))
    return max(0.0, limit)
