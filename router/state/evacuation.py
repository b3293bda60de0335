"""Evacuation: room for displaced jobs that fit nowhere, by moving a few other jobs out.

Used by site updates after the displaced jobs were planned on free capacity. For each
job still unplaced (in the order given), candidate pools are tried cheapest first; in a
pool, its largest other jobs are moved out one by one, each to the cheapest pool where it
fits right away, until the displaced job fits. So a move of an unaffected job happens
only when it lets a displaced job stay placed, and the fewest such moves are tried first
(largest first). One level deep: a job moved out never forces a third job to move.
Pure: reads its inputs, returns the moves.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from router.model.jobs import Job
from router.place.filters import Candidate, PoolKey
from router.state.ledger import HeldReservation

Ranked = Callable[[Job], Sequence[Candidate]]
"""A job's candidates ignoring free capacity, cheapest first."""


@dataclass(frozen=True)
class Evacuation:
    """One job moved out of a pool to make room: the reservation, its job, where it goes."""

    held: HeldReservation
    job: Job
    to: Candidate


@dataclass(frozen=True)
class Room:
    """A displaced job placed in `target` after the evacuations make room for it."""

    job: Job
    target: Candidate
    evacuations: tuple[Evacuation, ...]


def key_of(candidate: Candidate) -> PoolKey:
    """The pool a candidate draws from."""
    return (candidate.site.name, candidate.pool_index)


def evacuate_for(
    unplaced: Sequence[Job],
    residents: Mapping[PoolKey, Sequence[tuple[HeldReservation, Job]]],
    free: Mapping[PoolKey, int],
    ranked: Ranked,
) -> list[Room]:
    """Rooms for as many unplaced jobs as one level of evacuations allows."""
    left = dict(free)
    moved: set[str] = set()
    rooms: list[Room] = []
    for job in unplaced:
        for target in ranked(job):
            key = key_of(target)
            here = [(h, j) for h, j in residents.get(key, ()) if h.reservation_id not in moved]
            need = target.cost.devices
            found = _evacuate(need - left.get(key, 0), key, here, left, ranked)
            if found is None:
                continue
            evacuations, left = found
            left[key] = left.get(key, 0) - need
            moved |= {e.held.reservation_id for e in evacuations}
            rooms.append(Room(job, target, evacuations))
            break
    return rooms


def _evacuate(
    need: int,
    key: PoolKey,
    here: Sequence[tuple[HeldReservation, Job]],
    left: Mapping[PoolKey, int],
    ranked: Ranked,
) -> tuple[tuple[Evacuation, ...], dict[PoolKey, int]] | None:
    """Largest first, move jobs out of `key` until `need` devices are free there."""
    trial = dict(left)
    out: list[Evacuation] = []
    for held, job in sorted(here, key=lambda pair: (-pair[0].count, pair[0].created_unix_s)):
        if need <= 0:
            break
        # A service job may need a different number of devices on the part it moves to.
        to = next(
            (
                c
                for c in ranked(job)
                if key_of(c) != key and trial.get(key_of(c), 0) >= c.cost.devices
            ),
            None,
        )
        if to is None:
            continue
        trial[key_of(to)] -= to.cost.devices
        trial[key] = trial.get(key, 0) + held.count
        need -= held.count
        out.append(Evacuation(held, job, to))
    return (tuple(out), trial) if need <= 0 else None
