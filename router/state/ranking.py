"""Route's cache: a job shape's candidates ranked best first, ignoring free capacity."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import fields
from functools import lru_cache
from typing import Any

from router.model.jobs import Job
from router.model.topology import Topology
from router.place.filters import Candidate, screen
from router.place.network import Network
from router.place.offers import ranked
from router.plan import make_context

RANKED_CACHE_SIZE = 4096
"""Job shapes whose ranked candidates Route keeps (an LRU; reset when the topology changes)."""
_UNBOUNDED = 1 << 60
_SHAPE_FIELDS = tuple(f.name for f in fields(Job) if f.name != "name")
"""A job's shape: everything about it but its name (the first field)."""


def rank(job: Job, topology: Topology, network: Network) -> tuple[Candidate, ...]:
    """Job's candidates ignoring free capacity, best first by its preference (offers.ranked)."""
    unbounded = {
        (site.name, i): _UNBOUNDED
        for site in topology.sites.values()
        for i in range(len(site.pools))
    }
    screening = screen(job, make_context(topology, unbounded, network=network))
    return tuple(ranked(job, screening.candidates))


class RankedCandidates:
    """`rank` cached per job shape for the current topology.

    Launchers send the same templates again and again, and only capacity changes between
    their calls; the first ranked candidate with room is exactly what route_job chooses.
    """

    def __init__(self, size: int = RANKED_CACHE_SIZE) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._for: Topology | None = None
        self._cached: Callable[[tuple[Any, ...]], tuple[Candidate, ...]] | None = None

    def __call__(self, job: Job, topology: Topology, network: Network) -> tuple[Candidate, ...]:
        """The ranked candidates of `job` (cached when `topology` is the current one)."""
        with self._lock:
            if self._for is not topology or self._cached is None:
                self._for = topology

                def by_shape(shape: tuple[Any, ...]) -> tuple[Candidate, ...]:
                    return rank(Job("shape", *shape), topology, network)

                self._cached = lru_cache(self._size)(by_shape)
            cached = self._cached
        return cached(tuple(getattr(job, name) for name in _SHAPE_FIELDS))
