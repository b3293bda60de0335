"""The stateful core behind the service: live topology + placer + ledger + placement events.

It speaks domain types only (no protobuf). Answers to Place and Route are stored as
bytes produced by the caller's `encode`, in the same ledger transaction as the
reservations, so a retried request (same request_id) gets the identical first answer.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from router.errors import (
    CapacityError,
    DeadlineExceededError,
    NotFoundError,
    RouterError,
)
from router.model.jobs import Job, parse_jobs
from router.model.topology import Topology
from router.place.filters import Candidate
from router.place.network import Network
from router.place.offers import JobOffers, job_offers
from router.plan import make_context, placement_of, plan_jobs, route_job
from router.results import (
    Placement,
    PlacementEvent,
    PlaceResult,
    ReloadResult,
    Reservation,
    RouteResult,
    SiteUpdateResult,
    TopologyView,
    Unheld,
    Unplaced,
    WhatIfResult,
)
from router.state.admission import batch_quotas, choose
from router.state.events import Listener
from router.state.ledger import Commit, HeldReservation, Ledger, RequestKey, SiteState
from router.state.quotas import QuotaPolicy
from router.state.ranking import RankedCandidates
from router.state.records import placement_details, pool_capacities, unique_names, view
from router.state.retry import until_committed
from router.state.shared import Replicas
from router.state.site_changes import SiteChange, changed_site, merged, restored
from router.state.site_update import plan_replacement
from router.state.unheld import unheld
from router.whatif.apply import check_growth
from router.whatif.compare import parse_scenarios, run_whatif

COMMIT_ATTEMPTS = 5
"""Capacity can change between planning and committing; re-plan this many times at most."""
MAX_BATCH_JOBS = 100_000
"""The most jobs one batch (a Place, or a what-if after demand scaling) may hold."""
REPLACE_ATTEMPTS = 5
"""Optimistic re-plans of a site update racing other calls (then one with commits held)."""


@dataclass(frozen=True)
class Proposal:
    """An answer ready to commit: the reservations it makes (maybe none) and its bytes."""

    request: RequestKey | None
    held: tuple[HeldReservation, ...]
    answer: bytes
    reservations: tuple[Reservation, ...]
    wanted: Callable[[], bool] | None = None
    """Asked inside the committing transaction: False (the caller gave up) reserves nothing."""
    evictions: tuple[HeldReservation, ...] = ()
    """Borrowed reservations a quota reclaim ends in the same transaction."""
    evict_reason: str = ""


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
        self._replicas = Replicas(ledger)  # no-ops unless the ledger is shared
        self._replicas.publish_topology(topology)
        topology = restored(topology, ledger.site_changes())
        self._live = (topology, Network(topology))
        self._ledger = ledger
        self._clock = clock
        self._new_id = new_id
        self._update_lock = threading.Lock()
        self._commit_gate = threading.Lock()  # held by commits; a starved site update takes it
        self._events = self._replicas.events()
        self._ranked = RankedCandidates()
        self._quotas: QuotaPolicy | None = None
        ledger.set_capacity(pool_capacities(topology))
        self._replicas.follow(self._events, self._adopt)

    def set_quotas(self, policy: QuotaPolicy | None) -> None:
        """Hold tenants to these quotas from now on, here and in the ledger's commits."""
        self._quotas = policy
        self._ledger.set_quotas(policy)

    @property
    def topology(self) -> Topology:
        """The topology as it is now (after any site updates)."""
        return self._live[0]

    # --- events -----------------------------------------------------------------------

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call `listener` with every placement event from now on; returns unsubscribe."""
        return self._events.subscribe(listener)

    @property
    def listener_count(self) -> int:
        """How many listeners are subscribed (watch streams open)."""
        return self._events.listener_count

    def _adopt(self, base: Topology) -> None:
        """Another replica changed the topology or a site: serve the same (nothing moves)."""
        with self._update_lock:
            now = restored(base, self._ledger.site_changes())
            if now != self.topology:
                self._live = (now, Network(now))

    def _event(
        self,
        kind: str,
        reservation: Reservation,
        previous: Placement | None = None,
        reason: str = "",
    ) -> PlacementEvent:
        return PlacementEvent(kind, reservation, previous, reason, self._clock())

    # --- jobs -------------------------------------------------------------------------

    def parse(self, specs: Sequence[Mapping[str, Any]]) -> list[Job]:
        """Validate jobs in their jobs-file shape against the live topology."""
        return parse_jobs({"jobs": [dict(s) for s in specs]}, self.topology)

    def ranked(self, job: Job) -> tuple[Candidate, ...]:
        """Job's candidates on the live topology ignoring free capacity, cheapest first."""
        topology, network = self._live
        return self._ranked(job, topology, network)

    def propose_route(
        self,
        job: Job,
        spec: Mapping[str, Any],
        *,
        request: RequestKey | None = None,
        ttl_s: float = 0.0,
        encode: Callable[[RouteResult], bytes],
        wanted: Callable[[], bool] | None = None,
    ) -> Proposal:
        """The route answer for free capacity now, not yet committed (pure CPU, no I/O).

        With ttl_s > 0 the reservation expires that many seconds from now.
        """
        topology, network = self._live
        free = self._ledger.free()
        roomy = (
            candidate
            for candidate in self._ranked(job, topology, network)
            if free.get((candidate.site.name, candidate.pool_index), 0) >= candidate.cost.devices
        )
        place = partial(placement_of, job, topology=topology)
        outcome, admitted = choose(job, roomy, self._quotas, self._ledger, place)
        if outcome is None:  # nothing has room: the placer explains why, site by site
            outcome = route_job(topology, job, free, network=network)
        if isinstance(outcome, Unplaced):
            answer = encode(RouteResult(unplaced=outcome))
            return Proposal(request, (), answer, (), wanted)
        held = self._hold(outcome, spec, request, ttl_s)
        reservation = view(held)
        answer = encode(RouteResult(reservation))
        evicted, why = (admitted.evictions, admitted.reason) if admitted else ((), "")
        return Proposal(request, (held,), answer, (reservation,), wanted, evicted, why)

    def commit(self, proposal: Proposal) -> bytes:
        """Commit a proposal; returns the answer stored for its request (maybe an earlier one).

        Raises CapacityError when the capacity it counted on is gone (propose again).
        """
        result = self.commit_many([proposal])[0]
        if isinstance(result, RouterError):
            raise result
        return result

    def commit_many(self, proposals: Sequence[Proposal]) -> list[bytes | RouterError]:
        """Commit many proposals in one ledger transaction (group commit); one result each."""
        with self._commit_gate:
            results = self._ledger.commit_batch(
                [
                    Commit(p.held, p.request, p.answer, p.wanted, p.evictions, p.evict_reason)
                    for p in proposals
                ]
            )
        committed = [p for p, r in zip(proposals, results, strict=True) if r is p.answer]
        self._events.publish(
            [
                self._event("evicted", replace(view(h), state="evicted"), None, p.evict_reason)
                for p in committed
                for h in p.evictions
            ]
            + [self._event("placed", r) for p in committed for r in p.reservations]
        )
        return results

    def route(
        self,
        job: Job,
        spec: Mapping[str, Any],
        *,
        request: RequestKey | None = None,
        ttl_s: float = 0.0,
        encode: Callable[[RouteResult], bytes],
        wanted: Callable[[], bool] | None = None,
    ) -> bytes:
        """Reserve the cheapest feasible pool with free devices now (no solver)."""
        first = self._ledger.answer(request)
        if first is not None:
            return first
        self.expire_due()
        return until_committed(
            lambda: self.commit(
                self.propose_route(
                    job, spec, request=request, ttl_s=ttl_s, encode=encode, wanted=wanted
                )
            ),
            attempts=COMMIT_ATTEMPTS,
            give_up=f"job {job.name}: capacity kept changing; try again",
        )

    def place(
        self,
        jobs: Sequence[Job],
        specs: Sequence[Mapping[str, Any]],
        *,
        dry_run: bool = False,
        request: RequestKey | None = None,
        ttl_s: float = 0.0,
        time_limit_s: float,
        carbon_price_cny_per_kg: float = 0.0,
        encode: Callable[[PlaceResult], bytes],
        wanted: Callable[[], bool] | None = None,
    ) -> bytes:
        """Plan a batch with the solver on free capacity and quotas; unless dry_run, reserve
        it whole. With ttl_s > 0 every reservation made expires that many seconds from now;
        the reservations are committed only while `wanted()` (the caller's deadline) holds.
        """
        if not dry_run:
            first = self._ledger.answer(request)
            if first is not None:
                return first
        self.expire_due()
        deadline = time.monotonic() + time_limit_s
        by_name = {job.name: spec for job, spec in zip(jobs, specs, strict=True)}

        def attempt() -> bytes:
            topology, network = self._live
            quotas = batch_quotas(self._quotas, self._ledger, jobs)
            plan = plan_jobs(
                topology,
                jobs,
                time_limit_s=max(0.05, deadline - time.monotonic()),
                free=self._ledger.free(),
                carbon_price_cny_per_kg=carbon_price_cny_per_kg,
                network=network,
                quotas=quotas,
                called_off=None if wanted is None else lambda: not wanted(),
            )
            if dry_run:
                return encode(PlaceResult(plan))
            held = tuple(self._hold(p, by_name[p.job], request, ttl_s) for p in plan.placements)
            result = PlaceResult(plan, [view(h) for h in held])
            answer = encode(result)
            return self.commit(Proposal(request, held, answer, tuple(result.reservations), wanted))

        return until_committed(
            attempt,
            attempts=COMMIT_ATTEMPTS,
            give_up="capacity kept changing while the batch was planned; try again",
        )

    def _hold(
        self,
        placement: Placement,
        spec: Mapping[str, Any],
        request: RequestKey | None,
        ttl_s: float = 0.0,
    ) -> HeldReservation:
        now = self._clock()
        return HeldReservation(
            reservation_id=self._new_id(),
            job=placement.job,
            site=placement.site,
            pool_index=placement.pool_index,
            count=placement.count,
            spec=dict(spec),
            details=placement_details(placement),
            request_id=request.request_id if request is not None else "",
            created_unix_s=now,
            expires_unix_s=now + ttl_s if ttl_s > 0 else None,
            tenant=str(spec.get("tenant", "")),
        )

    # --- reservations -------------------------------------------------------------------

    def release(self, reservation_id: str, *, owner: str | None = None) -> Reservation:
        """End a reservation (NotFoundError if unknown, or not `owner`'s); idempotent."""
        before = self._ledger.get(reservation_id)
        if owner is not None and before.tenant != owner:
            raise NotFoundError(f"no reservation {reservation_id!r}")
        after = view(self._ledger.release(reservation_id))
        if before.state.value == "active":
            self._events.publish([self._event("released", after)])
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
        self._events.publish(events)
        return events

    def reservations(
        self, *, site: str | None = None, include_ended: bool = False
    ) -> list[Reservation]:
        """Reservations, oldest first."""
        return [view(h) for h in self._ledger.reservations(site=site, include_ended=include_ended)]

    def reservation_page(
        self,
        *,
        site: str | None,
        include_ended: bool,
        after_seq: int,
        size: int,
        owner: str | None = None,
    ) -> tuple[list[Reservation], int | None]:
        """Up to `size` reservations after a seq, oldest first (with `owner`, only that
        tenant's), and the seq to continue after (None on the last page)."""
        held = self._ledger.reservations(
            site=site,
            include_ended=include_ended,
            after_seq=after_seq,
            limit=size + 1,
            tenant=owner,
        )
        more = len(held) > size  # the one extra tells whether another page follows
        page = held[:size]
        return [view(h) for h in page], page[-1].seq if more else None

    def offers(self, job: Job, *, include_rejected: bool = False) -> JobOffers:
        """The job's offers on the live topology against the ledger's free devices."""
        topology, network = self._live
        ctx = make_context(topology, self._ledger.free(), network=network)
        return job_offers(job, ctx, include_rejected)

    def topology_view(self) -> TopologyView:
        """The live topology and its free devices."""
        return TopologyView(self.topology, dict(self._ledger.free()))

    # --- site updates -------------------------------------------------------------------

    def update_site(self, change: SiteChange, *, time_limit_s: float) -> SiteUpdateResult:
        """Apply a site change and re-place the reservations it displaces, atomically.

        Every move and eviction is decided first (router.state.site_update), then committed
        in one ledger transaction together with the new site state; when the ledger cannot
        commit it (storage, or capacity taken meanwhile too often), nothing changes. A drain
        or a new price moves nothing: running jobs keep their devices and price.
        """
        with self._replicas.site_lock(change.site), self._update_lock:
            topology = self.topology
            site = changed_site(topology, change)
            changed = replace(topology, sites={**topology.sites, site.name: site})
            network = Network(changed)
            state = SiteState(
                site.name,
                merged(self._ledger.site_changes().get(site.name, {}), change),
                pool_capacities(changed),
            )

            def attempt() -> tuple[Any, list[HeldReservation]]:
                decision = plan_replacement(
                    site,
                    changed,
                    network,
                    self._ledger.reservations(),
                    state.capacity,
                    lambda job: self._ranked(job, changed, network),
                    time_limit_s=time_limit_s,
                )
                return decision, self._replicas.relocate(self._ledger, decision, state, site)

            racing = (CapacityError, NotFoundError)  # a Route took room, a Release ended one
            give_up = f"could not re-place the jobs of site {site.name}; nothing changed"
            try:
                decision, now = until_committed(
                    attempt, attempts=REPLACE_ATTEMPTS, give_up=give_up, retry_on=racing
                )
            except CapacityError:
                # Busy routing starved it: decide once more with this process's commits held.
                with self._commit_gate:
                    decision, now = until_committed(
                        attempt, attempts=REPLACE_ATTEMPTS, give_up=give_up, retry_on=racing
                    )
            self._live = (changed, network)
        notes = decision.reasons(site)
        moved = [
            self._event(
                "moved", view(h), decision.before[h.reservation_id], notes[h.reservation_id]
            )
            for h in now
            if h.state.value == "active"
        ]
        evicted = [
            self._event("evicted", view(h), None, notes[h.reservation_id])
            for h in now
            if h.state.value == "evicted"
        ]
        self._events.publish(moved + evicted)
        return SiteUpdateResult(site, moved, evicted)

    # --- topology reload ---------------------------------------------------------------

    def reload_topology(self, topology: Topology) -> ReloadResult:
        """Route over a new topology from now on; every reservation is kept.

        Run-time site changes (UpdateSite) stay applied on top of the new file. Active
        reservations the new topology can no longer hold (site or pool gone, pool now of
        another type, site down, pool smaller than what it holds) are reported, not moved:
        the operator decides (UpdateSite re-places, Release frees).
        """
        with self._update_lock:
            self._replicas.publish_topology(topology)
            now = restored(topology, self._ledger.site_changes())
            self._live = (now, Network(now))
            self._ledger.set_capacity(pool_capacities(now))
        return ReloadResult(now.name, len(now.sites), self.unheld())

    def unheld(self) -> list[Unheld]:
        """Active reservations the live topology cannot hold, and why (oldest first)."""
        held = self._ledger.reservations()
        return [Unheld(view(h), why) for h, why in unheld(self.topology, held)]

    # --- what-if ----------------------------------------------------------------------

    def whatif(
        self,
        specs: Sequence[Mapping[str, Any]],
        scenarios: Sequence[Mapping[str, Any]],
        *,
        time_limit_s: float,
        wanted: Callable[[], bool] = lambda: True,
    ) -> WhatIfResult:
        """Plan jobs (default: the active reservations' jobs) under each scenario.

        All the plans share `time_limit_s`; before each one, a caller who left (`wanted`
        says no) or a spent budget stops the work instead of planning on for nobody.
        """
        topology, network = self._live
        deadline = time.monotonic() + time_limit_s
        if specs:
            jobs = parse_jobs({"jobs": [dict(s) for s in specs]}, topology)
        else:
            live = unique_names([h.spec for h in self._ledger.reservations()])
            jobs = parse_jobs({"jobs": live}, topology)
        parsed = parse_scenarios(scenarios, topology, jobs)
        check_growth(jobs, parsed, MAX_BATCH_JOBS)
        per_plan = time_limit_s / (1 + len(parsed))

        def planner(t: Topology, js: Sequence[Job]) -> Any:
            left = deadline - time.monotonic()
            if left <= 0 or not wanted():
                raise DeadlineExceededError("what-if: the time limit or the caller ran out")
            return plan_jobs(
                t, js, time_limit_s=min(per_plan, left), network=network if t is topology else None
            )

        return run_whatif(topology, jobs, parsed, planner)
