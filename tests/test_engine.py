"""Engine: the cached Route ranking chooses exactly what the placer's route_job chooses."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from router.errors import InvalidInputError
from router.model.jobs import parse_jobs
from router.model.topology import Topology, default_topology
from router.place.filters import PoolKey
from router.plan import route_job
from router.results import Placement, RouteResult, Unplaced
from router.state.engine import Engine

TOPOLOGY = default_topology()
POOLS = [(s.name, i) for s in TOPOLOGY.sites.values() for i in range(len(s.pools))]


class FixedFree:
    """Just enough of a ledger for propose_route: a free count per pool, set by the test."""

    def __init__(self) -> None:
        self.counts: dict[PoolKey, int] = {}

    def set_capacity(self, capacity: Mapping[PoolKey, int]) -> None:
        self.counts = dict(capacity)

    def free(self) -> dict[PoolKey, int]:
        return dict(self.counts)

    def site_changes(self) -> dict[str, dict[str, Any]]:
        return {}


def _outcome(engine: Engine, entry: dict[str, Any], topology: Topology) -> Placement | Unplaced:
    job = parse_jobs({"jobs": [entry]}, topology)[0]
    seen: list[RouteResult] = []

    def keep(result: RouteResult) -> bytes:
        seen.append(result)
        return b"x"

    engine.propose_route(job, entry, encode=keep)
    result = seen[0]
    if result.reservation is not None:
        return result.reservation.placement
    assert result.unplaced is not None
    return result.unplaced


JOBS = st.fixed_dictionaries(
    {
        "name": st.sampled_from(["a", "b"]),
        "kind": st.sampled_from(["training", "inference", "batch", "realtime"]),
        "origin": st.sampled_from(sorted(TOPOLOGY.regions)),
        "max_latency_ms": st.sampled_from([3, 8, 15, 30, 60, 200]),
        "accelerators": st.fixed_dictionaries(
            {
                "count": st.sampled_from([1, 8, 64, 512, 4096]),
                "types": st.lists(
                    st.sampled_from(sorted(TOPOLOGY.accelerators)),
                    min_size=1,
                    max_size=3,
                    unique=True,
                ),
            }
        ),
        "hours": st.sampled_from([1, 24]),
        "data_gb": st.sampled_from([0, 5000]),
    }
)


@settings(max_examples=150, deadline=None)
@given(
    entries=st.lists(JOBS, min_size=1, max_size=4),
    free=st.lists(st.integers(0, 5000), min_size=len(POOLS), max_size=len(POOLS)),
)
def test_cached_ranking_routes_like_the_placer(
    entries: list[dict[str, Any]], free: list[int]
) -> None:
    ledger = FixedFree()
    engine = Engine(TOPOLOGY, ledger)  # type: ignore[arg-type]
    ledger.counts = dict(zip(POOLS, free, strict=True))
    for entry in entries + entries:  # second round hits the cache
        try:
            job = parse_jobs({"jobs": [entry]}, TOPOLOGY)[0]
        except InvalidInputError:
            continue  # e.g. a reference type without the job's precision
        assert _outcome(engine, entry, TOPOLOGY) == route_job(TOPOLOGY, job, ledger.free())
