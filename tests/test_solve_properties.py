"""The one problem form against brute force, on small random problems of every shape.

Shapes follow the workload families: pools whose device count differs per option
(service jobs), shared link bandwidth (deadline jobs), priorities, required items (GAP),
scarce and ample capacity. Every plan must be feasible, its bound valid, and on these
sizes the pipeline must find the lexicographic optimum.
"""

from __future__ import annotations

import itertools
import time

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from router.solve.construct import empty_pick, fill
from router.solve.mip import MipResult, solve_mip
from router.solve.pipeline import Solution, solve
from router.solve.problem import Ints, Problem, build_problem
from router.solve.relax import min_cost_lp

Spec = tuple[list[tuple[int, bool, list[tuple[int, list[tuple[int, int]]]]]], list[int]]


@st.composite
def placement_like(draw: st.DrawFn) -> Spec:
    """Items over 1-3 pools and 0-2 links; sizes per option, bandwidth on some options."""
    pools = draw(st.integers(1, 3))
    links = draw(st.integers(0, 2))
    required = draw(st.booleans()) and draw(st.booleans())  # a quarter are GAP-like
    share = draw(st.sampled_from([0.6, 0.9, 1.5]))  # scarce, tight, ample
    items = []
    demand = 0
    for _ in range(draw(st.integers(1, 5))):
        base = draw(st.integers(1, 6))
        priority = draw(st.sampled_from([1, 1, 2, 10]))
        options = []
        for pool in draw(st.lists(st.integers(0, pools - 1), max_size=pools, unique=True)):
            devices = base * draw(st.sampled_from([1, 1, 2]))  # service jobs scale by part
            uses = [(pool, devices)]
            for link in range(links):
                if draw(st.booleans()):
                    uses.append((pools + link, draw(st.integers(1, 4))))
            options.append((draw(st.integers(0, 60)), uses))
        demand += base
        value = 0 if required else priority * base * draw(st.integers(1, 3))
        items.append((value, required and bool(options), options))
    per_pool = max(1, round(demand * share / pools))
    capacity = [draw(st.integers(0, per_pool)) for _ in range(pools)]
    capacity += [draw(st.integers(0, 6)) for _ in range(links)]
    return items, capacity


def feasible_picks(problem: Problem) -> list[Ints]:
    """Every feasible assignment, in a fixed order."""
    ranges = []
    for i in range(problem.n_items):
        lo, hi = int(problem.item_ptr[i]), int(problem.item_ptr[i + 1])
        ranges.append(([] if problem.required[i] else [-1]) + list(range(lo, hi)))
    picks = (np.array(combo, dtype=np.int64) for combo in itertools.product(*ranges))
    return [pick for pick in picks if problem.feasible(pick)]


def brute_force(problem: Problem) -> tuple[int, int] | None:
    """(max value, min cost at it) over every assignment; None if infeasible."""
    best: tuple[int, int] | None = None
    for pick in feasible_picks(problem):
        key = (problem.value_of(pick), problem.cost_of(pick))
        if best is None or (key[0], -key[1]) > (best[0], -best[1]):
            best = key
    return best


def dearest_feasible(problem: Problem) -> Ints:
    """The most expensive feasible assignment (a poor start)."""
    return max(feasible_picks(problem), key=problem.cost_of)


def check(problem: Problem, solution: Solution) -> None:
    pick = np.where(solution.choice >= 0, problem.item_ptr[:-1] + solution.choice, -1)
    assert problem.feasible(pick) or solution.status in ("infeasible", "unknown")
    assert (solution.value, solution.cost) == (problem.value_of(pick), problem.cost_of(pick))
    assert solution.cost_bound <= solution.cost


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(placement_like())
def test_matches_brute_force_with_a_valid_bound(spec: Spec) -> None:
    problem = build_problem(*spec)
    solution = solve(problem, 5.0)
    expected = brute_force(problem)
    if expected is None:
        assert solution.status == "infeasible"
        return
    check(problem, solution)
    assert (solution.value, solution.cost) == expected
    assert solution.cost_bound <= expected[1]
    assert solution.value_bound >= expected[0]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(placement_like())
def test_local_search_path_keeps_plans_feasible_and_bounds_valid(spec: Spec) -> None:
    # Force the path large models take: no whole-model CP-SAT, one option per item kept.
    import router.solve.pipeline as pipeline

    saved = pipeline.CP_SAT_OPTIONS, pipeline.KEEP_PER_ITEM
    pipeline.CP_SAT_OPTIONS, pipeline.KEEP_PER_ITEM = 0, 1
    try:
        problem = build_problem(*spec)
        solution = solve(problem, 2.0)
    finally:
        pipeline.CP_SAT_OPTIONS, pipeline.KEEP_PER_ITEM = saved
    expected = brute_force(problem)
    if expected is None or solution.status in ("infeasible", "unknown"):
        return
    check(problem, solution)
    assert solution.value <= expected[0] <= solution.value_bound
    if solution.value == expected[0]:
        assert solution.cost_bound <= expected[1]


def test_device_counts_may_differ_by_option() -> None:
    # A service job needs 4 slow parts or 2 fast ones; only the fast pool has room for
    # it next to a work job that must use the slow pool.
    problem = build_problem(
        [
            (10, False, [(40, [(0, 4)]), (50, [(1, 2)])]),  # service: 4 slow or 2 fast
            (10, False, [(30, [(0, 3)])]),  # work job: slow pool only
        ],
        [4, 2],
    )
    solution = solve(problem, 2.0)
    assert solution.choice.tolist() == [1, 0]
    assert (solution.value, solution.cost, solution.status) == (20, 80, "optimal")


def test_shared_link_bandwidth_binds() -> None:
    # Two deadline jobs would both take the cheap site, but their link carries one.
    problem = build_problem(
        [
            (5, False, [(10, [(0, 1), (2, 3)]), (20, [(1, 1)])]),
            (5, False, [(10, [(0, 1), (2, 3)]), (25, [(1, 1)])]),
        ],
        [2, 2, 4],
    )
    solution = solve(problem, 2.0)
    assert (solution.value, solution.cost, solution.status) == (10, 30, "optimal")
    assert solution.cost_bound == 30


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(placement_like(), st.booleans())
def test_cost_search_by_neighbourhoods_keeps_the_optimum_and_a_valid_bound(
    spec: Spec, guided: bool
) -> None:
    # Force the branch a wide CP-SAT gap takes (neighbourhoods, guided by the LP or of
    # linked pools, then CP-SAT again) on models where the whole search is required
    # items only, as on GAP.
    import router.solve.pipeline as pipeline

    items, capacity = spec
    problem = build_problem([(0, bool(options), options) for _, _, options in items], capacity)
    expected = brute_force(problem)
    if expected is None:
        return
    hint = dearest_feasible(problem)
    saved = pipeline.WIDE_GAP, pipeline.solve_mip
    pipeline.WIDE_GAP = -1.0  # every gap counts as wide
    pipeline.solve_mip = lambda *args: MipResult(None, None)  # SCIP would win the race
    try:
        deadline = time.monotonic() + 1.0
        lp_x = min_cost_lp(problem, 0, deadline).x if guided else None
        found = pipeline._cost_search(problem, hint, problem.value_of(hint), deadline, 1, lp_x)
    finally:
        pipeline.WIDE_GAP, pipeline.solve_mip = saved
    assert found.pick is not None and problem.feasible(found.pick)
    assert problem.cost_of(found.pick) == expected[1]
    assert found.cost_bound is not None and found.cost_bound <= expected[1]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(placement_like())
def test_without_the_lp_plans_improve_on_their_start_with_valid_bounds(spec: Spec) -> None:
    # The path of models too large for the whole LP, from the greedy: repacking,
    # Lagrangian prices, a greedy priced by them, exchanges and neighbourhoods.
    import router.solve.pipeline as pipeline

    problem = build_problem(*spec)
    start = fill(problem, empty_pick(problem))
    if not (problem.feasible(start) and bool(np.all(start[problem.required] >= 0))):
        return  # the pipeline takes this path only from a whole plan
    pick, value_top, bound = pipeline._without_lp(problem, start, time.monotonic() + 0.4, 0)
    assert pick is not None and problem.feasible(pick)
    assert bool(np.all(pick[problem.required] >= 0))
    value, cost = problem.value_of(pick), problem.cost_of(pick)
    assert (value, -cost) >= (problem.value_of(start), -problem.cost_of(start))
    picks = feasible_picks(problem)
    assert value <= max(problem.value_of(p) for p in picks) <= value_top
    assert bound <= min(problem.cost_of(p) for p in picks if problem.value_of(p) >= value)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(placement_like())
def test_scip_finds_the_cheapest_plan_at_the_value_floor_with_a_valid_bound(spec: Spec) -> None:
    # SCIP's half of the exact cost search: the cheapest plan placing at least the
    # brute-force maximum value, proven.
    problem = build_problem(*spec)
    expected = brute_force(problem)
    if expected is None:
        return
    found = solve_mip(problem, expected[0], time.monotonic() + 5.0)
    assert found.pick is not None and problem.feasible(found.pick)
    assert bool(np.all(found.pick[problem.required] >= 0))
    assert (problem.value_of(found.pick), problem.cost_of(found.pick)) == expected
    assert found.cost_bound is not None and found.cost_bound <= expected[1]
    assert found.optimal
