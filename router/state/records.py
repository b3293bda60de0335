"""Ledger records <-> service results: what the ledger keeps for a placement, and back."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import fields, replace
from typing import Any

from router.errors import FieldProblem, InvalidInputError
from router.model.topology import Topology
from router.place.filters import PoolKey
from router.results import Placement, Reservation
from router.state.ledger import HeldReservation, Move

_PLACEMENT_FIELDS = tuple(f.name for f in fields(Placement))


def pool_capacities(topology: Topology) -> dict[PoolKey, int]:
    """Devices each pool can hand out: its count, or none while its site is down."""
    return {
        (site.name, i): 0 if site.status == "down" else pool.count
        for site in topology.sites.values()
        for i, pool in enumerate(site.pools)
    }


def checked_counts(capacity: Mapping[PoolKey, int]) -> Mapping[PoolKey, int]:
    """Pool counts for `Ledger.set_capacity`, or InvalidInputError naming each negative one."""
    bad = [
        FieldProblem(f"{site}.pools[{index}].count", f"must be >= 0, got {count}")
        for (site, index), count in capacity.items()
        if count < 0
    ]
    if bad:
        raise InvalidInputError(bad)
    return capacity


def relocated_ids(moves: Sequence[Move], evictions: Sequence[str]) -> list[str]:
    """The reservations a `Ledger.relocate` touches, moves first; InvalidInputError when one
    would be moved or evicted twice (the rule of both ledgers)."""
    ids = [m.reservation_id for m in moves] + list(evictions)
    if len(set(ids)) != len(ids):
        raise InvalidInputError(
            [FieldProblem("moves", "a reservation can be moved or evicted only once")]
        )
    return ids


def free_counts(capacity: Mapping[PoolKey, int], used: Mapping[PoolKey, int]) -> dict[PoolKey, int]:
    """Devices not held, per pool (never negative: a shrunk pool may hold more than it has)."""
    return {key: max(0, count - used.get(key, 0)) for key, count in capacity.items()}


def placement_details(placement: Placement) -> dict[str, Any]:
    """A placement as plain JSON values (how the ledger keeps it)."""
    details = {name: getattr(placement, name) for name in _PLACEMENT_FIELDS}
    details["path"] = list(placement.path)
    return details


def view(held: HeldReservation) -> Reservation:
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
        tenant=held.tenant,
    )


def renamed(placement: Placement, job: str) -> Placement:
    """The placement under the job's own name (batches may have renamed it)."""
    return placement if placement.job == job else replace(placement, job=job)


def unique_names(specs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
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
