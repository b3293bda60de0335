"""A search whose caller has gone stops early: the solver, the planner and a Place."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from router.bench.families import FAMILIES
from router.bench.synthetic import family_workload
from router.model.jobs import parse_jobs
from router.model.topology import default_topology
from router.plan import plan_jobs
from router.solve.clock import also_stopped_by
from router.solve.cpsat import solve_cpsat
from router.solve.gapfile import gap_problem, load_gap
from router.solve.mip import solve_mip
from router.state.engine import Engine
from router.state.sqlite import SqliteLedger
from tests.test_gap import GAP_DIR

LIMIT_S = 30.0  # what the search would take if nobody called it off


def _batch(jobs: int = 1500) -> tuple[object, list[dict[str, object]]]:
    return family_workload(default_topology(), FAMILIES["tight"], jobs, 24, seed=3)


def test_plan_stops_soon_after_its_caller_goes_and_returns_a_valid_plan() -> None:
    topology, rows = _batch()
    jobs = parse_jobs({"jobs": rows}, topology)  # type: ignore[arg-type]
    start = time.monotonic()
    plan = plan_jobs(
        topology,  # type: ignore[arg-type]
        jobs,
        time_limit_s=LIMIT_S,
        called_off=lambda: time.monotonic() > start + 1.0,
    )
    elapsed = time.monotonic() - start
    assert elapsed < 8.0, f"took {elapsed:.1f} s of a {LIMIT_S:.0f} s limit after being called off"
    used: dict[tuple[str, int], int] = {}
    for p in plan.placements:
        used[p.site, p.pool_index] = used.get((p.site, p.pool_index), 0) + p.count
    for (site, index), devices in used.items():
        assert devices <= topology.sites[site].pools[index].count  # type: ignore[attr-defined]
    assert plan.placements, "the best plan found so far is returned"


def test_place_whose_caller_left_reserves_nothing_and_frees_its_thread(tmp_path: Path) -> None:
    topology, rows = _batch(800)
    ledger = SqliteLedger(tmp_path / "state.sqlite")
    engine = Engine(topology, ledger)  # type: ignore[arg-type]
    jobs = engine.parse(rows)
    start = time.monotonic()
    try:
        engine.place(
            jobs,
            rows,
            time_limit_s=LIMIT_S,
            encode=lambda result: b"answer",
            wanted=lambda: time.monotonic() < start + 1.0,
        )
    except Exception as exc:  # the commit refuses a caller that left: that is the point
        assert "caller" in str(exc).lower() or "deadline" in str(exc).lower(), exc
    elapsed = time.monotonic() - start
    assert elapsed < 8.0, f"the solve went on for {elapsed:.1f} s after its caller left"
    assert ledger.reservations() == [], "nothing is reserved for a caller that left"
    ledger.close()


def test_the_search_that_loses_the_cost_race_stops_when_the_other_proves() -> None:
    # chu1997 d20100: neither CP-SAT nor SCIP proves it in 30 s. Once the race is
    # decided (the event), both stop within a poll, with a plan and a valid bound.
    problem = gap_problem(load_gap(GAP_DIR / "chu1997" / "d20100")[0])
    for search in (
        lambda deadline: solve_cpsat(problem, deadline, workers=1).pick,
        lambda deadline: solve_mip(problem, 0, deadline).pick,
    ):
        proved = threading.Event()
        threading.Timer(1.0, proved.set).start()
        start = time.monotonic()
        with also_stopped_by(proved):
            pick = search(start + LIMIT_S)
        elapsed = time.monotonic() - start
        assert elapsed < 3.0, f"ran {elapsed:.1f} s after the race was decided at 1 s"
        assert pick is not None and problem.feasible(pick)
